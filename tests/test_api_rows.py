"""Answers across documents over HTTP (fast: the fake embedder, six made-up reports).

`/api/ask` carries the rows as data, a row that states nothing with `"citation": null`, and its
OpenAPI schema documents them; `/v1/chat/completions` keeps the Markdown table in `content`.
"""

from __future__ import annotations

import pytest
from cross_reports import QUESTION, REPORTS, TARGET_PARAGRAPH, write_reports

from qa.cross import NOT_STATED


@pytest.fixture
def api(tmp_path, patch_fake_embedder):
    from fastapi.testclient import TestClient
    from serving import extractive_settings

    from qa.builder import build_engine
    from qa.corpus import load_corpus
    from qa.index import build_index
    from qa.server import create_app

    seeds = write_reports(tmp_path / "reports")
    build_index(load_corpus(seeds), patch_fake_embedder, tmp_path / "index", progress=False)
    settings = extractive_settings(seeds, tmp_path / "index")
    with TestClient(create_app(settings, build_engine(settings))) as client:
        yield client


def test_the_api_returns_the_rows_and_its_schema_documents_them(api):
    body = api.post("/api/ask", json={"question": QUESTION}).json()
    assert body["kind"] == "table" and len(body["rows"]) == len(REPORTS)
    guangdong = next(iter(REPORTS))
    assert body["rows"][0] == {"doc": guangdong, "title": "2026年广东省政府工作报告", "value": "地区生产总值增长4.5%—5%", "citation": {"doc": guangdong, "paragraph": TARGET_PARAGRAPH}}
    assert body["rows"][-1]["value"] == NOT_STATED and body["rows"][-1]["citation"] is None

    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    assert "rows" in schemas["AskResponse"]["properties"]
    row = schemas["RowOut"]["properties"]
    assert set(row) == {"doc", "title", "value", "citation"}
    assert set(schemas["RowCitation"]["properties"]) == {"doc", "paragraph"} and "null" in str(row["citation"])
    assert "compare, select or table" in schemas["AskResponse"]["properties"]["rows"]["description"]


def test_openai_chat_keeps_the_markdown_table_in_content(api):
    reply = api.post("/v1/chat/completions", json={"model": "qa", "messages": [{"role": "user", "content": QUESTION}]}).json()
    content = reply["choices"][0]["message"]["content"]
    assert "| 报告 | 内容 | 出处 |\n|---|---|---|\n" in content
    assert f"| 四川 | 地区生产总值增长5.5%左右 | [{list(REPORTS)[4]}:{TARGET_PARAGRAPH}] |" in content
    assert "| 浙江 | 未提及 |  |" in content
