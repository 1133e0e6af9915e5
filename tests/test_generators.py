"""Generators: the number constraint (pure, fake vocabulary), the OpenAI client against a real
local HTTP server, make_generator, the int8 model files, and the bundled local model (slow)."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from qa.constraint import NumberConstraint, normalize_numbers, number_token_allowed, pending_number
from qa.generators import GeneratorError, make_generator
from qa.openai_generator import OpenAIGenerator
from qa.settings import Settings, project_root

NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")

# --------------------------------------------------------------------------- number constraint

VOCAB = list("0123456789") + [".", "亿元", "%", "。", "，", "12", "5.", "a1", "...", "<eos>", "年", " ", ".com", "万"]
ID = {t: i for i, t in enumerate(VOCAB)}


def allowed_texts(text: str, allowed: list[str]) -> set[str]:
    c = NumberConstraint(VOCAB, allowed)
    return {VOCAB[i] for i in c.allowed_ids(text)}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ""),
        ("增长", ""),
        ("增长5", "5"),
        ("增长5.", "5."),
        ("增长5.8", "5.8"),
        ("增长5.8。", ""),
        ("增长5.8.", ""),  # a second dot ends the number
        ("达到4015亿元", ""),
        ("1.2.3", "3"),
        ("共１２", "12"),  # full-width digits are figures too (qa.numbers), read as ASCII
    ],
)
def test_pending_number(text, expected):
    assert pending_number(text) == expected


def test_normalize_numbers():
    assert normalize_numbers(["4,015亿元", "-5.8%", "2023年", "x"]) == {"4015", "5.8", "2023"}


def test_digits_only_continue_allowed_numbers():
    allowed = ["47455", "5.8"]
    # at the start of a number only first digits of allowed numbers; "12" and "a1" would start wrong numbers
    assert allowed_texts("总量", allowed) & set("0123456789") == {"4", "5"}
    assert "12" not in allowed_texts("总量", allowed) and "a1" not in allowed_texts("总量", allowed)
    assert "5." in allowed_texts("总量", allowed)  # "5." is a prefix of 5.8
    # mid-number: only the next digit; no way to stop early
    assert allowed_texts("总量474", allowed) == {"5"}
    assert allowed_texts("总量4745", allowed) == {"5", "5."}  # "47455." closes 47455 with a full stop
    # complete: digits blocked, anything else fine (including the end of the reply)
    done = allowed_texts("总量47455", allowed)
    assert not done & set("0123456789") and {"亿元", "<eos>", "。", "."} <= done
    # "5" alone is not allowed: it must become 5.8 ("5..." would close it as 5)
    assert allowed_texts("增长5", allowed) == {"."}
    assert allowed_texts("增长5.", allowed) == {"8"}


def test_a_dot_after_a_complete_integer_may_end_a_sentence():
    assert "." in allowed_texts("共12", ["12"])
    assert allowed_texts("共12.", ["12"]) & set("0123456789") == set()
    assert "<eos>" in allowed_texts("共12.", ["12"])
    assert "..." in allowed_texts("共12", ["12"])  # "12..." closes 12


def test_empty_allowed_list_forbids_every_number():
    ok = allowed_texts("答：", [])
    assert not ok & set("0123456789") and "12" not in ok and "a1" not in ok
    assert {"亿元", "。", ".", "...", "<eos>"} <= ok


def test_number_token_allowed_multi_number_token():
    allowed, prefixes = frozenset({"1", "23"}), frozenset({"1", "2", "23"})
    assert number_token_allowed("", "1年2", allowed, prefixes)  # "1" closed and allowed, "2" open prefix
    assert not number_token_allowed("", "1年3", allowed, prefixes)
    assert not number_token_allowed("2", "年", allowed, prefixes)  # 2 is not allowed on its own


def test_mask_matches_allowed_ids():
    pytest.importorskip("torch")
    c = NumberConstraint(VOCAB, ["47455", "5.8"])
    for text in ["", "总量", "总量47", "总量47455", "增长5", "增长5."]:
        mask = c.mask(text)
        assert [i for i, ok in enumerate(mask.tolist()) if ok] == c.allowed_ids(text)


def _constrained_greedy(allowed: list[str], rng: random.Random, steps: int = 40) -> str:
    """Decode with random token preferences under the constraint, as the model loop does."""
    c = NumberConstraint(VOCAB, allowed)
    text = ""
    for _ in range(steps):
        ok = c.allowed_ids(text)
        assert ok, f"no token allowed after {text!r}"
        choice = VOCAB[rng.choice(ok)]
        if choice == "<eos>":
            break
        text += choice
    return text


@hsettings(max_examples=60, deadline=None)
@given(
    allowed=st.lists(st.from_regex(r"\A[0-9]{1,5}(\.[0-9]{1,2})?\Z"), max_size=4),
    seed=st.integers(0, 10_000),
)
def test_every_number_written_is_allowed_or_a_prefix_at_the_end(allowed, seed):
    text = _constrained_greedy(allowed, random.Random(seed))
    allowed_set = normalize_numbers(allowed)
    # the step limit may cut the last number short: it is still a prefix of an allowed one
    pending = pending_number(text)
    if pending:
        assert any(a.startswith(pending) for a in allowed_set) or pending.rstrip(".") in allowed_set
    for number in NUMBER.findall(text[: len(text) - len(pending)]):
        assert number in allowed_set, (text, allowed)


# --------------------------------------------------------------------------- OpenAI-compatible client


class _FakeOpenAI(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path.startswith("/broken/"):
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "model exploded"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if self.path.startswith("/garbage/"):
            events = ["data: {not json\n\n"]
        else:
            events = [": keep-alive\n\n", 'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n']
            for piece in ["地区生产总值", "为4015", "亿元。"]:
                chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                events.append(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n")
            events += ['data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n', "data: [DONE]\n\n",
                       'data: {"choices":[{"delta":{"content":"after done"}}]}\n\n']
        for event in events:
            self.wfile.write(event.encode("utf-8"))
            self.wfile.flush()


@pytest.fixture
def openai_server():
    _FakeOpenAI.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _FakeOpenAI.requests
    server.shutdown()
    server.server_close()


MESSAGES = [{"role": "system", "content": "只根据资料回答。"}, {"role": "user", "content": "地区生产总值是多少？"}]


def test_openai_streams_deltas_with_auth(openai_server):
    base, requests = openai_server
    gen = OpenAIGenerator(base + "/v1", "qwen", api_key="sk-test", timeout=5)
    deltas = list(gen.stream(MESSAGES, max_new_tokens=20, allowed_numbers=["4015"]))
    assert deltas == ["地区生产总值", "为4015", "亿元。"]  # stops at [DONE]
    (req,) = requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer sk-test"
    assert req["body"] == {"model": "qwen", "messages": MESSAGES, "stream": True, "temperature": 0, "max_tokens": 20}
    assert gen.name == "openai:qwen" and gen.last_stats["chunks"] == 3


def test_openai_without_key_sends_no_auth(openai_server):
    base, requests = openai_server
    assert "".join(OpenAIGenerator(base + "/v1/", "m").stream(MESSAGES)) == "地区生产总值为4015亿元。"
    assert "Authorization" not in requests[0]["headers"]


def test_openai_http_error(openai_server):
    base, _ = openai_server
    with pytest.raises(GeneratorError) as err:
        list(OpenAIGenerator(base + "/broken/v1", "m").stream(MESSAGES))
    assert "HTTP 500" in str(err.value) and "model exploded" in str(err.value) and "openai_base_url" in str(err.value)


def test_openai_bad_json(openai_server):
    base, _ = openai_server
    with pytest.raises(GeneratorError, match="not JSON"):
        list(OpenAIGenerator(base + "/garbage/v1", "m").stream(MESSAGES))


def test_openai_connection_refused():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GeneratorError) as err:
        list(OpenAIGenerator(f"http://127.0.0.1:{port}/v1", "m", timeout=2).stream(MESSAGES))
    assert "could not connect" in str(err.value) and "is the server running" in str(err.value)


def test_make_generator_choices():
    assert make_generator(Settings(generator="extractive")) is None
    gen = make_generator(Settings(generator="openai", openai_base_url="http://h:1/v1", openai_model="m", openai_api_key="k"))
    assert isinstance(gen, OpenAIGenerator) and gen.base_url == "http://h:1/v1" and gen.api_key == "k"
    with pytest.raises(ValueError, match="generator"):
        Settings(generator="magic")  # refused when the settings are made, before any generator


def test_importing_loads_no_model():
    import subprocess
    import sys

    code = (
        "import sys, qa.generators, qa.local_generator, qa.openai_generator, qa.constraint, qa.models, qa.fastlm; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project_root(), check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- the bundled model (slow)

CONTEXT = "地区生产总值达到4015亿元，增长5.8%。"


def qa_messages(context: str, question: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "你是文档问答助手。只根据资料回答，简短作答。"},
        {"role": "user", "content": f"资料：{context}\n问题：{question}"},
    ]


@pytest.fixture(scope="module")
def local_generator():
    from qa.local_generator import LocalGenerator
    from qa.int8_files import int8_cache_path, prepare_int8
    from qa.models import prepare_model

    cache_dir = project_root() / ".cache"
    model_dir = prepare_model("qwen2.5-coder-0.5b", cache_dir, progress=False, weights=False)
    prepare_int8(model_dir, cache_dir)
    return LocalGenerator(model_dir, threads=2, quantize="int8", int8_cache=int8_cache_path(model_dir, cache_dir))


@pytest.mark.slow
def test_local_answers_from_context(local_generator):
    deltas = list(local_generator.stream(qa_messages(CONTEXT, "地区生产总值是多少？"), max_new_tokens=24))
    answer = "".join(deltas)
    assert "4015" in answer
    assert "\ufffd" not in answer and all(deltas)
    stats = local_generator.last_stats
    assert stats["new_tokens"] <= 24 and stats["prompt_tokens"] > 20 and stats["ttft_s"] > 0


@pytest.mark.slow
def test_local_is_deterministic_and_respects_max_new_tokens(local_generator):
    messages = qa_messages(CONTEXT, "请详细介绍地区生产总值的情况。")
    first = local_generator.generate(messages, max_new_tokens=8)
    assert local_generator.last_stats["new_tokens"] == 8
    assert local_generator.generate(messages, max_new_tokens=8) == first


@pytest.mark.slow
def test_local_constrained_numbers_are_allowed(local_generator):
    context = "全市常住人口达到347.5万人，城镇化率为65.6%，新增就业12.8万人。"
    allowed = NUMBER.findall(context)
    answer = local_generator.generate(
        qa_messages(context, "常住人口、城镇化率和新增就业分别是多少？"), max_new_tokens=32, allowed_numbers=allowed
    )
    numbers = NUMBER.findall(answer)
    assert numbers, answer
    assert set(numbers) <= set(allowed), answer
    assert local_generator.last_stats["constrained"]


@pytest.mark.slow
def test_local_constraint_forces_a_prefix_to_an_allowed_number(local_generator):
    # The reply is forced to start a number with "2": the only allowed number starting so is 2473.
    messages = qa_messages("新开工项目2473个。", "新开工项目多少个？") + [{"role": "assistant", "content": "新开工项目2"}]
    answer = local_generator.generate(messages, max_new_tokens=6, allowed_numbers=["2473"])
    assert answer.startswith("473"), answer


# --------------------------------------------------------------------------- int8 model files


def _tiny_model_dir(tmp_path):
    """A randomly initialised two-layer Qwen2 model saved as safetensors (no tokenizer needed)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    out = tmp_path / "tiny"
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    return out


def test_int8_cache_is_written_once_and_loads_an_identical_model(tmp_path):
    import torch

    from qa.int8_files import int8_cache_path, load_int8_model

    model_dir = _tiny_model_dir(tmp_path)
    cache = int8_cache_path(model_dir, tmp_path / "cache")
    fresh = load_int8_model(model_dir, cache)
    assert cache.is_file() and cache.with_name(cache.name + ".json").is_file()
    written = cache.stat().st_mtime_ns
    cached = load_int8_model(model_dir, cache)
    assert cache.stat().st_mtime_ns == written  # loaded, not rebuilt
    assert isinstance(cached.model.layers[0].mlp.up_proj, torch.ao.nn.quantized.dynamic.Linear)
    ids = torch.tensor([[1, 5, 9, 42, 7]])
    with torch.inference_mode():
        assert torch.equal(fresh(input_ids=ids).logits, cached(input_ids=ids).logits)


def test_int8_cache_is_rebuilt_when_the_weights_change(tmp_path):
    from qa.int8_files import int8_cache_path, load_int8_model

    model_dir = _tiny_model_dir(tmp_path)
    cache = int8_cache_path(model_dir, tmp_path / "cache")
    load_int8_model(model_dir, cache)
    key = cache.with_name(cache.name + ".json")
    before = key.read_text()
    weights = next(model_dir.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    load_int8_model(model_dir, cache)
    assert key.read_text() != before
    cache.write_bytes(b"damaged")  # an unreadable cache file is rebuilt, not an error
    assert load_int8_model(model_dir, cache) is not None


def test_lean_int8_file_is_written_once_reused_and_rebuilt_when_stale(tmp_path):
    import torch

    from qa.int8_files import int8_cache_path, lean_cache_path, load_int8_model, load_lean_int8

    model_dir = _tiny_model_dir(tmp_path)
    path = lean_cache_path(int8_cache_path(model_dir, tmp_path / "cache"))
    assert path.name.endswith(".lean-int8.safetensors")
    fresh = load_lean_int8(model_dir, path)
    written = path.stat().st_mtime_ns
    cached = load_lean_int8(model_dir, path)
    assert path.stat().st_mtime_ns == written  # loaded, not rebuilt
    reference = load_int8_model(model_dir, None)  # the transformers model with the same int8 layers
    ids = [1, 5, 9, 42, 7]
    with torch.inference_mode():
        expected = reference(input_ids=torch.tensor([ids])).logits[0]
        assert torch.equal(cached.forward(ids, cached.new_cache(8)), expected)
        assert torch.equal(fresh.forward(ids, fresh.new_cache(8)), expected)
    weights = next(model_dir.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    load_lean_int8(model_dir, path)
    assert path.stat().st_mtime_ns != written  # the weights changed: rebuilt
    path.write_bytes(b"damaged")  # an unreadable file is rebuilt, not an error
    assert load_lean_int8(model_dir, path) is not None


def test_only_digit_tokens_and_a_lone_dot_need_checking_one_by_one():
    # The constraint checks digit tokens and "." individually and treats every other token like a
    # space; that must agree with checking every token's text directly.
    texts = [".", ".com", ").", "..", ".\n", "x.", "。", "5", ".5", "5.", "12", "a", "", " ", "<eos>"]
    allowed = ["47455", "5.8", "12"]
    c = NumberConstraint(texts, allowed)
    for text in ["", "总量", "总量47", "47455", "增长5", "增长5.", "5.8", "共12", "共1"]:
        pending = pending_number(text)
        for i, token in enumerate(texts):
            if token:  # (an empty token writes nothing; it is treated like a space)
                assert c.is_allowed(text, i) == number_token_allowed(pending, token, c.allowed, c.prefixes), (text, token)
