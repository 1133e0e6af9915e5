"""The dense index switches from exact search to IVF at `APPROXIMATE_MIN_VECTORS` sentences; both checked
against a brute-force numpy top-k, and retrieval works over either."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.index import CappedSearch, build_index, dense_index, load_index
from qa.retrieval import Retriever


def brute_force(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]


def unit(rng: np.random.Generator, n: int, dim: int, centers: np.ndarray | None = None) -> np.ndarray:
    """Unit vectors in clusters around `centers` (as sentence embeddings are), or anywhere."""
    x = rng.normal(size=(n, dim)).astype(np.float32)
    if centers is not None:
        x = centers[rng.integers(len(centers), size=n)] + 0.15 * x
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_below_the_threshold_ivf_from_it_both_find_the_brute_force_top_k(monkeypatch):
    import qa.index

    rng = np.random.default_rng(0)
    centers = unit(rng, 60, 48)
    vectors, queries = unit(rng, 3000, 48, centers), unit(rng, 40, 48, centers)
    expected = brute_force(vectors, queries, 10)
    monkeypatch.setattr(qa.index, "APPROXIMATE_MIN_VECTORS", 5000)
    flat = dense_index(vectors, 48)
    assert type(flat).__name__ == "IndexFlatIP"
    assert (flat.search(queries, 10)[1] == expected).all()
    monkeypatch.setattr(qa.index, "APPROXIMATE_MIN_VECTORS", 2000)
    ivf = dense_index(vectors, 48)
    assert type(ivf).__name__ == "IndexIVFFlat"
    capped = CappedSearch(ivf, cap=64)
    found = capped.search(queries, len(vectors))[1]  # retrieval asks for every sentence: gets the 64 nearest
    assert found.shape == (40, 64)
    recall = np.mean([len(set(f[:10]) & set(e)) / 10 for f, e in zip(found, expected)])
    assert recall >= 0.95
    assert np.allclose(capped.reconstruct_n(0, 3000), vectors)  # a refresh reuses its vectors


def test_an_index_over_the_threshold_is_ivf_and_retrieval_still_finds_the_answer(fake_index, monkeypatch):
    import qa.index

    seeds, index_dir, docs, embedder = fake_index
    exact = Retriever(load_index(index_dir, docs, embedder.id), embedder)
    monkeypatch.setattr(qa.index, "APPROXIMATE_MIN_VECTORS", 100)
    monkeypatch.setattr(qa.index, "APPROXIMATE_CANDIDATES", 200)
    build = build_index(docs, embedder, index_dir, progress=False, reuse=True)
    assert json.loads((build / "manifest.json").read_text(encoding="utf-8"))["dense"] == "ivf"
    index = load_index(index_dir, docs, embedder.id)
    assert isinstance(index.vectors_index, CappedSearch)
    approximate = Retriever(index, embedder)
    for question in ("2023年地区生产总值是多少？", "研发投入强度", "农村居民人均可支配收入"):
        assert [h.paragraph for h in approximate.search(question, k=3)][:1] == [h.paragraph for h in exact.search(question, k=3)][:1]


@pytest.mark.parametrize("n", [99, 100])
def test_the_manifest_says_which(fake_index, monkeypatch, n):
    import qa.index

    seeds, index_dir, docs, embedder = fake_index
    chunks = json.loads((qa.index.current_build(index_dir) / "manifest.json").read_text(encoding="utf-8"))["chunks"]
    monkeypatch.setattr(qa.index, "APPROXIMATE_MIN_VECTORS", chunks + 1 if n == 99 else chunks)
    build = build_index(docs, embedder, index_dir, progress=False, reuse=True)
    assert json.loads((build / "manifest.json").read_text(encoding="utf-8"))["dense"] == ("flat" if n == 99 else "ivf")
