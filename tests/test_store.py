"""The document store: `qa add`, `qa documents`, `qa remove` with the fake embedder; incremental
index updates; ids; and hostile files, each refused with a clear error and nothing changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import SEED_ID, SEED_NAME, SEEDS
from documents import seed_lines, write_docx, write_pdf, zip_bomb_docx
from qa.cli import main
from qa.corpus import load_corpus
from qa.formats import IngestError
from qa.index import load_index
from qa.store import Upload, add_documents, check_file_name, document_id, list_documents, remove_documents


def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file under the folders (the store's lock file aside), by path."""
    return {
        str(p): p.read_bytes()
        for folder in folders if folder.exists()
        for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def store(fake_index):
    """(seeds dir, index dir, embedder): the seed, indexed with the fake embedder."""
    seeds, index_dir, _, embedder = fake_index
    return seeds, index_dir, embedder


def small_report(title: str, place: str) -> list[str]:
    return [title, "各位代表：", "一、2025年工作回顾", f"{place}地区生产总值达到1234亿元，增长6.1%。", f"{place}粮食产量达到56万吨。"]


def test_add_stores_text_and_catalog_and_embeds_only_new_sentences(store, tmp_path):
    seeds, index_dir, embedder = store
    embedder.encoded.clear()
    path = write_docx(small_report("2026年测试市政府工作报告", "测试市"), tmp_path / "测试市 报告(2026).docx")
    result = add_documents([Upload(path.name, path.read_bytes())], seeds, index_dir, embedder)
    [doc] = result.added
    assert doc.id == "测试市-报告-2026" and doc.format == "docx" and doc.paragraphs == 5
    assert doc.title == "2026年测试市政府工作报告"  # the document's own title
    assert (seeds / f"{doc.id}.txt").read_text(encoding="utf-8").splitlines() == small_report("2026年测试市政府工作报告", "测试市")
    entry = json.loads((seeds / "catalog.json").read_text(encoding="utf-8"))[f"{doc.id}.txt"]
    assert entry["source_file"] == path.name and entry["format"] == "docx" and len(entry["sha256"]) == 64 and entry["added_at"]
    assert json.loads((seeds / "catalog.json").read_text(encoding="utf-8"))[SEED_NAME]["title"] == "2024年湖州市政府工作报告"
    assert embedder.encoded and all("测试市" in t or "各位代表" in t or "工作回顾" in t or "2026" in t for t in embedder.encoded)
    assert result.embedded == len(embedder.encoded)
    index = load_index(index_dir, load_corpus(seeds), embedder.id)  # current, not stale
    assert {c.doc for c in index.chunks} == {SEED_ID, doc.id}


def test_remove_drops_the_documents_chunks_without_embedding(store, tmp_path):
    seeds, index_dir, embedder = store
    path = tmp_path / "extra.txt"
    path.write_text("\n".join(small_report("另一份报告", "某市")), encoding="utf-8")
    add_documents([Upload(path.name, path.read_bytes())], seeds, index_dir, embedder)
    embedder.encoded.clear()
    remove_documents(["extra"], seeds, index_dir, embedder)
    assert not embedder.encoded
    assert not (seeds / "extra.txt").exists()
    assert "extra.txt" not in json.loads((seeds / "catalog.json").read_text(encoding="utf-8"))
    assert {c.doc for c in load_index(index_dir, load_corpus(seeds), embedder.id).chunks} == {SEED_ID}


def test_removing_the_last_document_removes_the_index(store):
    seeds, index_dir, embedder = store
    assert remove_documents([SEED_ID], seeds, index_dir, embedder) is None
    assert list_documents(seeds) == []
    assert not (index_dir / "CURRENT").exists()


def test_pdf_pages_reach_the_paragraphs(store, tmp_path):
    seeds, index_dir, embedder = store
    path = write_pdf(seed_lines(), tmp_path / "seed.pdf")
    result = add_documents([Upload("湖州报告.pdf", path.read_bytes(), title="湖州PDF")], seeds, index_dir, embedder)
    [doc] = [d for d in load_corpus(seeds) if d.id == result.added[0].id]
    original = next(d for d in load_corpus(SEEDS) if d.id == SEED_ID)
    assert [p.text for p in doc.paragraphs] == [p.text for p in original.paragraphs]
    assert [(p.section, p.year) for p in doc.paragraphs] == [(p.section, p.year) for p in original.paragraphs]
    assert doc.paragraphs[0].page == 1 and doc.paragraphs[-1].page > 5 and doc.title == "湖州PDF"


def test_same_bytes_are_skipped_same_name_gets_a_new_id_replace_replaces(store, tmp_path):
    seeds, index_dir, embedder = store
    again = add_documents([Upload("copy.txt", (SEEDS / SEED_NAME).read_bytes())], seeds, index_dir, embedder)
    assert again.added == [] and again.skipped == [("copy.txt", SEED_ID)]
    first = add_documents([Upload("r.txt", "第一版\n内容甲。\n".encode())], seeds, index_dir, embedder)
    second = add_documents([Upload("r.txt", "第二版\n内容乙。\n".encode())], seeds, index_dir, embedder)
    assert [first.added[0].id, second.added[0].id] == ["r", "r-2"]
    replaced = add_documents([Upload("r.txt", "第三版\n内容丙。\n".encode())], seeds, index_dir, embedder, replace=True)
    assert replaced.added[0].id == "r"
    assert (seeds / "r.txt").read_text(encoding="utf-8") == "第三版\n内容丙。\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("report.txt", "report"), ("2024年 报告(终稿).docx", "2024年-报告-终稿"), ("..x..y.pdf", "x-y"), ("a.b.c.md", "a-b-c"),
     ("—.txt", "document"), ("Ｒｅｐｏｒｔ.txt", "report")],
)
def test_ids_are_safe_names(name, expected):
    assert document_id(name) == expected


@pytest.mark.parametrize("name", ["../../x.txt", "a/b.txt", "..\\x.txt", "C:x.txt", "..", "", "x\x00.txt"])
def test_names_with_paths_are_refused(name):
    with pytest.raises(IngestError) as info:
        check_file_name(name)
    assert info.value.code == "bad_name"


def hostile_files(tmp_path: Path) -> dict[str, tuple[str, bytes]]:
    """name → (file name, bytes) of every kind of file that must be refused."""
    bomb = zip_bomb_docx(tmp_path / "bomb.docx", unpacked_bytes=30_000_000)
    encrypted = write_pdf(["机密文件", "内容。"], tmp_path / "secret.pdf", user_password="secret")
    return {
        "oversized": ("big.txt", "各位代表：\n".encode() * 200_000),  # 2.6 MB; the limit is lowered below
        "zip bomb": ("bomb.docx", bomb.read_bytes()),
        "docx not a zip": ("fake.docx", b"PK\x03\x04 this is not a zip"),
        "malformed pdf": ("broken.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40),
        "pdf not a pdf": ("picture.pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
        "encrypted pdf": ("secret.pdf", encrypted.read_bytes()),
        "path traversal": ("../../x.txt", "各位代表：\n".encode()),
        "empty": ("empty.txt", b""),
        "blank": ("blank.md", b"\n\n   \n"),
        "unsupported": ("virus.exe", b"MZ\x90\x00"),
        "binary as text": ("data.txt", b"\x00\x01\x02" * 100),
    }


EXPECTED_CODES = {
    "oversized": "too_large", "zip bomb": "zip_bomb", "docx not a zip": "malformed", "malformed pdf": "malformed",
    "pdf not a pdf": "malformed", "encrypted pdf": "encrypted", "path traversal": "bad_name", "empty": "empty",
    "blank": "no_text", "unsupported": "unsupported_type", "binary as text": "malformed",
}


@pytest.fixture
def low_limits(monkeypatch):
    """Limits low enough that small test files cross them."""
    import qa.formats

    monkeypatch.setattr(qa.formats, "MAX_FILE_BYTES", 1_000_000)
    monkeypatch.setattr(qa.formats, "MAX_UNPACKED_BYTES", 20_000_000)


@pytest.mark.parametrize("kind", list(EXPECTED_CODES))
def test_hostile_files_are_refused_and_change_nothing(store, tmp_path, low_limits, kind):
    seeds, index_dir, embedder = store
    name, data = hostile_files(tmp_path)[kind]
    before = snapshot(seeds, index_dir)
    good = Upload("good.txt", "一份好的文件。\n".encode())
    with pytest.raises(IngestError) as info:
        add_documents([good, Upload(name, data)], seeds, index_dir, embedder)  # the good file is not added either
    assert info.value.code == EXPECTED_CODES[kind], str(info.value)
    assert len(str(info.value)) > 20
    assert snapshot(seeds, index_dir) == before
    assert not (tmp_path / "x.txt").exists() and not (seeds.parent / "x.txt").exists()


def test_a_failed_index_update_puts_the_store_back(store, monkeypatch):
    seeds, index_dir, embedder = store
    before = snapshot(seeds, index_dir)

    def broken(texts, role):
        raise RuntimeError("embedder crashed")

    monkeypatch.setattr(embedder, "encode", broken)
    with pytest.raises(RuntimeError):
        add_documents([Upload("new.txt", "新的文件，内容不同。\n".encode())], seeds, index_dir, embedder)
    assert snapshot(seeds, index_dir) == before
    with pytest.raises(IngestError) as info:
        remove_documents(["no-such-doc"], seeds, index_dir, embedder)
    assert info.value.code == "not_found"
    with pytest.raises(IngestError):
        remove_documents(["../seeds/x"], seeds, index_dir, embedder)
    assert snapshot(seeds, index_dir) == before


# -- the command line


def cli(*args: object) -> int:
    return main([str(a) for a in args])


def test_cli_add_documents_remove(tmp_path, patch_fake_embedder, capsys):
    seeds, index_dir = tmp_path / "store", tmp_path / "index"
    report = write_docx(seed_lines(), tmp_path / "huzhou.docx")
    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy2(SEEDS / SEED_NAME, examples / SEED_NAME)
    shutil.copy2(SEEDS / "catalog.json", examples / "catalog.json")
    assert cli("add", report, examples / SEED_NAME, "--seeds", seeds, "--index", index_dir) == 0
    out = capsys.readouterr().out
    assert "added huzhou" in out and f"added {SEED_ID}  2024年湖州市政府工作报告" in out  # title from the catalog beside it
    assert cli("documents", "--json", "--seeds", seeds, "--index", index_dir) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["id"], d["paragraphs"], d["format"]) for d in listed] == [(SEED_ID, 65, "txt"), ("huzhou", 65, "docx")]
    assert cli("search", "地区生产总值", "--seeds", seeds, "--index", index_dir) == 0
    capsys.readouterr()
    assert cli("remove", "huzhou", "--seeds", seeds, "--index", index_dir) == 0
    assert "removed huzhou" in capsys.readouterr().out
    assert [d.id for d in list_documents(seeds)] == [SEED_ID]


def test_cli_refuses_a_hostile_file_with_one_line(tmp_path, patch_fake_embedder, capsys):
    seeds, index_dir = tmp_path / "store", tmp_path / "index"
    bad = tmp_path / "report.pdf"
    bad.write_bytes(b"%PDF-1.4\nnot really")
    assert cli("add", bad, "--seeds", seeds, "--index", index_dir) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("qa: error: report.pdf: not a readable PDF") and "\n" not in err
    assert not index_dir.exists() and not any(seeds.glob("*.txt"))
    assert cli("add", tmp_path / "missing.txt", "--seeds", seeds) == 1
    assert "no such file" in capsys.readouterr().err
    assert cli("add", bad, bad, "--title", "T", "--seeds", seeds) == 1
    assert "--title" in capsys.readouterr().err


@pytest.mark.slow
def test_qa_add_with_the_real_embedder_then_search(tmp_path, capsys):
    seeds, index_dir = tmp_path / "store", tmp_path / "index"
    report = write_docx(seed_lines(), tmp_path / "湖州.docx")
    assert cli("add", report, "--seeds", seeds, "--index", index_dir) == 0
    capsys.readouterr()
    assert cli("search", "--json", "-k", "3", "2023年湖州市地区生产总值是多少？", "--seeds", seeds, "--index", index_dir) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["doc"] == "湖州" and 4 in [h["paragraph"] for h in hits]


def test_a_reader_holding_the_lock_shared_keeps_writers_out(store):
    from qa.store import store_lock

    seeds, index_dir, embedder = store
    with store_lock(seeds, shared=True), store_lock(seeds, shared=True):  # readers share it
        with pytest.raises(IngestError) as info:
            with store_lock(seeds, timeout_s=0.2):
                pass
    assert info.value.code == "busy"
    with store_lock(seeds, timeout_s=0.2):  # free again
        pass
