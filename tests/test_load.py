"""A bounded load test on loopback: 200 mixed requests from 8 concurrent clients, no server errors.

Valid questions, searches, document look-ups and OpenAI calls are mixed with hostile requests
(broken JSON, wrong content type, huge bodies, unknown fields, invalid UTF-8, control characters,
over-long questions and histories, unknown routes). Every response must be below 500, errors must be
JSON, and the server's memory must not grow without bound.
"""

from __future__ import annotations

import collections
import gc
import json
import threading

import httpx
import psutil
import pytest

from qa.builder import build_engine
from qa.server import create_app
from serving import extractive_settings, running

DOC = "huzhou-2024-government-work-report"
GDP = "2023年湖州市地区生产总值是多少？"
REQUESTS = 200
CLIENTS = 8

pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

JSON = {"content-type": "application/json"}
MIX = [
    ("ask", lambda c: c.post("/api/ask", json={"question": GDP})),
    ("ask-follow-up", lambda c: c.post("/api/ask", json={"question": "那2024年的目标呢？", "history": [{"role": "user", "content": GDP}, {"role": "assistant", "content": "4015亿元[4]"}]})),
    ("ask-stream", lambda c: c.post("/api/ask", json={"question": "2023年湖州农村居民人均可支配收入是多少？", "stream": True})),
    ("refusal", lambda c: c.post("/api/ask", json={"question": "火星上有多少人口？"})),
    ("search", lambda c: c.get("/api/search", params={"q": "研发投入强度", "k": 3})),
    ("paragraph", lambda c: c.get(f"/api/documents/{DOC}/paragraphs/4")),
    ("documents", lambda c: c.get("/api/documents")),
    ("openai", lambda c: c.post("/v1/chat/completions", json={"model": "qa", "messages": [{"role": "user", "content": GDP}]})),
    ("bad-json", lambda c: c.post("/api/ask", content=b'{"question": ', headers=JSON)),
    ("wrong-type", lambda c: c.post("/api/ask", content=b"question=1", headers={"content-type": "text/plain"})),
    ("huge-body", lambda c: c.post("/api/ask", content=b"x" * 300_000, headers=JSON)),
    ("unknown-field", lambda c: c.post("/api/ask", json={"question": GDP, "admin": True})),
    ("invalid-utf8", lambda c: c.post("/api/ask", content=b'{"question": "\xc3\x28"}', headers=JSON)),
    ("surrogate", lambda c: c.post("/v1/chat/completions", content=b'{"messages": [{"role": "user", "content": "\\udc00"}]}', headers=JSON)),
    ("control-chars", lambda c: c.post("/api/ask", json={"question": "\x00\x1b\x7f"})),
    ("too-long", lambda c: c.post("/api/ask", json={"question": "问" * 5000})),
    ("long-history", lambda c: c.post("/api/ask", json={"question": GDP, "history": [{"role": "user", "content": "问" * 300}] * 30})),
    ("wrong-types", lambda c: c.post("/api/ask", json={"question": {"$ne": 1}, "history": "all"})),
    ("bad-k", lambda c: c.get("/api/search", params={"q": "x", "k": 10**9})),
    ("bad-paragraph", lambda c: c.get(f"/api/documents/{DOC}/paragraphs/99999999999999999999")),
    ("traversal", lambda c: c.get("/api/documents/..%2F..%2Fetc%2Fpasswd")),
    ("no-route", lambda c: c.delete("/api/ask")),
]


def test_mixed_load_has_no_server_errors_and_bounded_memory(real_index, capsys):
    settings = extractive_settings(*real_index)
    engine = build_engine(settings)
    process = psutil.Process()
    with running(create_app(settings, engine)) as url:
        with httpx.Client(base_url=url, timeout=60) as warm:  # warm caches before measuring
            for _, send in MIX:
                send(warm)
        gc.collect()
        rss_before = process.memory_info().rss
        statuses: collections.Counter = collections.Counter()
        by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        failures: list[str] = []
        lock = threading.Lock()
        counter = iter(range(REQUESTS))

        def client_loop() -> None:
            with httpx.Client(base_url=url, timeout=60) as c:
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    kind, send = MIX[i % len(MIX)]
                    try:
                        r = send(c)
                        status = r.status_code
                        if status >= 400 and not r.headers.get("content-type", "").startswith("application/json"):
                            failures.append(f"{kind}: {status} not JSON")
                        if status == 200 and kind == "ask-stream" and "event: answer" not in r.text:
                            failures.append(f"{kind}: no answer event")
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                        failures.append(f"{kind}: {exc!r}")
                    with lock:
                        statuses[status] += 1
                        by_kind[kind][status] += 1

        threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        gc.collect()
        grown_mb = (process.memory_info().rss - rss_before) / 2**20
        health = httpx.get(f"{url}/api/health", timeout=10)

    summary = {"requests": sum(statuses.values()), "clients": CLIENTS, "statuses": dict(sorted(statuses.items(), key=str)), "rss_growth_mb": round(grown_mb, 1),
               "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())}}
    with capsys.disabled():
        print("\nload test:", json.dumps(summary, ensure_ascii=False))
    assert summary["requests"] == REQUESTS
    assert not failures, failures[:5]
    assert all(isinstance(s, int) and s < 500 for s in statuses), statuses
    assert health.status_code == 200
    assert grown_mb < 150, f"RSS grew by {grown_mb:.0f} MB"
