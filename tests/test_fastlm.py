"""The lean decoder against transformers' own forward, on a tiny random Qwen2 model (no files needed),
the int8 file it loads from, and the generator's draft-and-verify loop on top of it."""

from __future__ import annotations

import re
import time

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from qa.fastlm import LeanDecoder  # noqa: E402
from qa.constraint import NumberConstraint  # noqa: E402
from qa.int8layers import quantize_linear_int8  # noqa: E402
from qa.fastlm import propose_drafts  # noqa: E402
from qa.local_generator import LocalGenerator, _Reply  # noqa: E402


def tiny_model(seed: int = 0, **overrides):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False, **overrides,
    )
    model = Qwen2ForCausalLM(config)
    model.eval()
    return model


def reference_logits(model, ids: list[int]):
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0]


def test_lean_logits_match_transformers_float32():
    model = tiny_model()
    lean = LeanDecoder.from_model(model)
    ids = [5, 17, 42, 8, 8, 63, 1, 90, 33, 12]
    expected = reference_logits(model, ids)
    with torch.inference_mode():
        cache = lean.new_cache(4)  # too small on purpose: the cache grows
        got = torch.cat([lean.forward(ids[:6], cache), lean.forward(ids[6:7], cache), lean.forward(ids[7:], cache)])
    assert cache.length == len(ids)
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()


def test_lean_logits_are_identical_to_transformers_int8():
    model = quantize_linear_int8(tiny_model(1))
    lean = LeanDecoder.from_model(model)
    ids = [3, 14, 15, 92, 65, 35, 89, 79]
    with torch.inference_mode():
        got = lean.forward(ids, lean.new_cache(16))
    assert torch.equal(got, reference_logits(model, ids))


def test_truncating_the_cache_forgets_rejected_tokens():
    model = tiny_model(2)
    lean = LeanDecoder.from_model(model)
    with torch.inference_mode():
        cache = lean.new_cache(32)
        lean.forward([1, 2, 3], cache)
        lean.forward([50, 51, 52], cache)  # a draft that is then rejected
        cache.length = 3
        got = lean.forward([4, 5], cache)
    assert torch.allclose(got, reference_logits(model, [1, 2, 3, 4, 5])[3:], atol=1e-4)


def test_supports_only_what_it_implements():
    assert LeanDecoder.supports(tiny_model())
    assert not LeanDecoder.supports(tiny_model(rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}))
    assert not LeanDecoder.supports(object())
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50))
    assert not LeanDecoder.supports(gpt2)
    with pytest.raises(ValueError):
        LeanDecoder.from_model(gpt2)


def test_propose_drafts_copies_what_followed_the_latest_match():
    history = [7, 1, 2, 3, 4, 9, 1, 2, 5, 6, 1, 2]
    assert propose_drafts(history, 3) == [5, 6, 1]  # "1 2" last seen before "5 6"
    assert propose_drafts([1, 2, 3, 4, 2, 3], 2) == [4, 2]
    assert propose_drafts([1, 2, 3], 4) == []  # nothing repeats
    assert propose_drafts([1, 2, 1], 0) == []
    assert propose_drafts([], 3) == []


class CharTokenizer:
    """Token id i is the character chr(0x4e00 + i): enough for `_Reply` (decode only)."""

    def decode(self, ids, **_):
        return "".join(chr(0x4E00 + i) for i in ids)


def lean_generator(model, *, draft_tokens: int) -> LocalGenerator:
    """A LocalGenerator around an in-memory model (no files): only what `_steps_lean` uses."""
    gen = LocalGenerator.__new__(LocalGenerator)
    gen.lean = LeanDecoder.from_model(model)
    gen.tokenizer = CharTokenizer()
    gen.eos_ids = {0}
    gen.draft_tokens = draft_tokens
    gen._lean_cache = None
    return gen


def new_stats(ids: list[int]) -> dict:
    return {"prompt_tokens": len(ids), "new_tokens": 0, "drafted_tokens": 0, "accepted_tokens": 0, "forward_calls": 0, "prompt_calls": 0}


def run_steps(gen: LocalGenerator, ids: list[int], max_new_tokens: int = 24, constraint=None) -> tuple[list[int], dict]:
    stats = new_stats(ids)
    reply = _Reply(gen.tokenizer, "", constraint, stats, time.perf_counter())
    for _ in gen._steps_lean(ids, reply, max_new_tokens):
        pass
    return reply.ids, stats


# A prompt that repeats itself, so that lookup drafts exist and the tiny model's loops get accepted.
PROMPT = [11, 12, 13, 14, 15, 16, 11, 12, 13, 14, 15, 16, 11, 12, 13]


def test_drafts_change_nothing_but_the_number_of_calls():
    model = tiny_model(3)
    plain, plain_stats = run_steps(lean_generator(model, draft_tokens=0), PROMPT)
    drafted, stats = run_steps(lean_generator(model, draft_tokens=4), PROMPT)
    assert drafted == plain
    # One call for the prompt, then one after each token (but after a last token at the limit) …
    assert plain_stats["forward_calls"] - len(plain) in {0, 1}
    # … while every accepted draft token is a call saved.
    assert stats["drafted_tokens"] > 0
    assert stats["forward_calls"] - (len(drafted) - stats["accepted_tokens"]) in {0, 1}


def test_drafts_respect_the_number_constraint():
    model = tiny_model(4)
    texts = [chr(0x4E00 + i) for i in range(97)]
    texts[20:30] = [str(d) for d in range(10)]  # ids 20..29 write the digits 0..9
    gen = lean_generator(model, draft_tokens=4)
    gen.tokenizer.decode = lambda ids, **_: "".join(texts[i] for i in ids)
    constraint = NumberConstraint(texts, ["12"])
    ids, _ = run_steps(gen, [21, 22, 21, 22, 21, 22, 23, 24, 21], constraint=constraint)
    written = "".join(texts[i] for i in ids)
    for match in re.finditer(r"[0-9]+", written):
        if match.end() == len(written):
            assert "12".startswith(match.group()), written  # may still grow into 12
        else:
            assert match.group() == "12", written


def test_replies_do_not_depend_on_earlier_ones():
    model = quantize_linear_int8(tiny_model(5))  # int8: where computing in parts would change numbers
    gen = lean_generator(model, draft_tokens=2)
    first, _ = run_steps(gen, PROMPT + [40, 41])
    run_steps(gen, PROMPT + [30, 31, 32])
    assert run_steps(gen, PROMPT + [40, 41])[0] == first  # the KV cache buffer is reused, nothing else
    assert run_steps(lean_generator(model, draft_tokens=2), PROMPT + [40, 41])[0] == first


def test_an_interrupted_reply_does_not_change_the_next_one():
    model = tiny_model(6)
    gen = lean_generator(model, draft_tokens=2)
    steps = gen._steps_lean(PROMPT, _Reply(gen.tokenizer, "", None, new_stats(PROMPT), time.perf_counter()), 20)
    next(steps)
    steps.close()  # the client went away mid-reply
    fresh, _ = run_steps(lean_generator(model, draft_tokens=2), PROMPT)
    assert run_steps(gen, PROMPT)[0] == fresh


def test_saved_int8_file_loads_a_decoder_with_identical_logits(tmp_path):
    from qa.int8_files import read_lean_int8, save_lean_int8, saved_key

    model = quantize_linear_int8(tiny_model(7))
    path = tmp_path / "m.lean-int8.safetensors"
    save_lean_int8(model, path, {"source": "tiny"})
    assert saved_key(path) == {"source": "tiny"}
    loaded = read_lean_int8(path)
    ids = [4, 8, 15, 16, 23, 42]
    with torch.inference_mode():
        assert torch.equal(loaded.forward(ids, loaded.new_cache(8)), reference_logits(model, ids))
    with pytest.raises(ValueError):
        save_lean_int8(tiny_model(7), tmp_path / "float.safetensors", {})  # float32 layers: not an int8 model
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    assert saved_key(tmp_path / "junk.safetensors") is None and saved_key(tmp_path / "missing") is None
