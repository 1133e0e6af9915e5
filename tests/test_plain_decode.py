"""The plain path (transformers' generate() with the number constraint and prompt-lookup drafts)
against the lean decoder: the same greedy replies on a tiny random Qwen2 (no files needed)."""

from __future__ import annotations

import re
import time

import pytest

torch = pytest.importorskip("torch")

from qa.constraint import NumberConstraint  # noqa: E402
from qa.int8layers import quantize_linear_int8  # noqa: E402
from qa.local_generator import LocalGenerator, _Reply  # noqa: E402
from test_fastlm import PROMPT, CharTokenizer, lean_generator, new_stats, run_steps, tiny_model  # noqa: E402


def plain_generator(model, *, draft_tokens: int) -> LocalGenerator:
    gen = LocalGenerator.__new__(LocalGenerator)
    gen.model, gen.lean = model, None
    gen.tokenizer = CharTokenizer()
    gen.eos_ids = {0}
    gen.draft_tokens = draft_tokens
    return gen


def run_plain(gen: LocalGenerator, ids: list[int], max_new_tokens: int = 24, constraint=None) -> list[int]:
    reply = _Reply(gen.tokenizer, "", constraint, new_stats(ids), time.perf_counter())
    for _ in gen._steps_transformers(torch.tensor([ids]), reply, max_new_tokens):
        pass
    return reply.ids


PROMPTS = [PROMPT, PROMPT + [40, 41], [5, 17, 42, 8, 8, 63, 1, 90, 33, 12], [3, 14, 15, 92, 65, 35, 89, 79, 3, 14, 15]]


@pytest.mark.parametrize("seed", [3, 7])
@pytest.mark.parametrize("drafts", [0, 4])
def test_same_greedy_reply_as_the_lean_decoder_float32(seed, drafts):
    model = tiny_model(seed)
    for ids in PROMPTS:
        assert run_plain(plain_generator(model, draft_tokens=drafts), ids) == run_steps(lean_generator(model, draft_tokens=drafts), ids)[0]


def test_same_greedy_reply_as_the_lean_decoder_int8_without_drafts():
    """int8 without drafts: identical logits on both paths (the same kernels, one token per call),
    so identical replies. With drafts each path verifies its own draft tokens in one call, and int8
    quantizes a call's activations together, so replies may then differ slightly (README, Speed)."""
    model = quantize_linear_int8(tiny_model(5))
    for ids in PROMPTS:
        assert run_plain(plain_generator(model, draft_tokens=0), ids) == run_steps(lean_generator(model, draft_tokens=0), ids)[0]


def test_the_constraint_holds_on_the_plain_path():
    model = tiny_model(4)
    texts = [chr(0x4E00 + i) for i in range(97)]
    texts[20:30] = [str(d) for d in range(10)]  # ids 20..29 write the digits 0..9
    for drafts in (0, 4):
        gen = plain_generator(model, draft_tokens=drafts)
        gen.tokenizer.decode = lambda ids, **_: "".join(texts[i] for i in ids)
        constraint = NumberConstraint(texts, ["12"])
        ids = run_plain(gen, [21, 22, 21, 22, 21, 22, 23, 24, 21], constraint=constraint)
        lean = lean_generator(model, draft_tokens=drafts)
        lean.tokenizer.decode = gen.tokenizer.decode
        assert ids == run_steps(lean, [21, 22, 21, 22, 21, 22, 23, 24, 21], constraint=NumberConstraint(texts, ["12"]))[0]
        written = "".join(texts[i] for i in ids)
        for match in re.finditer(r"[0-9]+", written):
            assert match.group() == "12" or (match.end() == len(written) and "12".startswith(match.group())), written


def test_a_consumer_that_stops_reading_stops_generate():
    gen = plain_generator(tiny_model(6), draft_tokens=0)
    reply = _Reply(gen.tokenizer, "", None, new_stats(PROMPT), time.perf_counter())
    steps = gen._steps_transformers(torch.tensor([PROMPT]), reply, 200)
    next(steps)
    started = time.perf_counter()
    steps.close()  # joins the generate thread: it must stop at its next step, not run 200 tokens
    assert time.perf_counter() - started < 5 and len(reply.ids) < 200
