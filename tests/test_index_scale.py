"""The dense index switches from exact search to IVF at `APPROXIMATE_MIN_VECTORS` sentences; both checked
against a brute-force numpy top-k, and retrieval works over either."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.index import DenseSearch, build_index, dense_index, load_index
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
    import qa.dense

    rng = np.random.default_rng(0)
    centers = unit(rng, 60, 48)
    vectors, queries = unit(rng, 3000, 48, centers), unit(rng, 40, 48, centers)
    expected = brute_force(vectors, queries, 10)
    monkeypatch.setattr(qa.dense, "APPROXIMATE_MIN_VECTORS", 5000)
    flat = dense_index(vectors, 48)
    assert type(flat).__name__ == "IndexFlatIP"
    assert (flat.search(queries, 10)[1] == expected).all()
    monkeypatch.setattr(qa.dense, "APPROXIMATE_MIN_VECTORS", 2000)
    ivf = dense_index(vectors, 48)
    assert type(ivf).__name__ == "IndexIVFFlat"
    capped = DenseSearch(ivf, cap=64)
    found = capped.search(queries, len(vectors))[1]  # retrieval asks for every sentence: gets the 64 nearest
    assert found.shape == (40, 64)
    recall = np.mean([len(set(f[:10]) & set(e)) / 10 for f, e in zip(found, expected)])
    assert recall >= 0.95
    assert np.allclose(capped.reconstruct_n(0, 3000), vectors)  # a refresh reuses its vectors


def test_an_index_over_the_threshold_is_ivf_and_retrieval_still_finds_the_answer(fake_index, monkeypatch):
    import qa.dense

    seeds, index_dir, docs, embedder = fake_index
    exact = Retriever(load_index(index_dir, docs, embedder.id), embedder)
    monkeypatch.setattr(qa.dense, "APPROXIMATE_MIN_VECTORS", 100)
    monkeypatch.setattr(qa.dense, "APPROXIMATE_CANDIDATES", 200)
    build = build_index(docs, embedder, index_dir, progress=False, reuse=True)
    assert json.loads((build / "manifest.json").read_text(encoding="utf-8"))["dense"] == "ivf"
    index = load_index(index_dir, docs, embedder.id)
    assert isinstance(index.vectors_index, DenseSearch)
    approximate = Retriever(index, embedder)
    for question in ("2023年地区生产总值是多少？", "研发投入强度", "农村居民人均可支配收入"):
        assert [h.paragraph for h in approximate.search(question, k=3)][:1] == [h.paragraph for h in exact.search(question, k=3)][:1]


@pytest.mark.parametrize("n", [99, 100])
def test_the_manifest_says_which(fake_index, monkeypatch, n):
    import qa.dense
    import qa.index

    seeds, index_dir, docs, embedder = fake_index
    chunks = json.loads((qa.index.current_build(index_dir) / "manifest.json").read_text(encoding="utf-8"))["chunks"]
    monkeypatch.setattr(qa.dense, "APPROXIMATE_MIN_VECTORS", chunks + 1 if n == 99 else chunks)
    build = build_index(docs, embedder, index_dir, progress=False, reuse=True)
    assert json.loads((build / "manifest.json").read_text(encoding="utf-8"))["dense"] == ("flat" if n == 99 else "ivf")


@pytest.mark.parametrize("how", ["copied", "selector"])
@pytest.mark.parametrize("within", ["one range", "two ranges", "scattered"])
def test_scoped_ivf_search_equals_scoped_exact_search(within, how, monkeypatch):
    """A search within some sentences scores exactly them on IVF, as on the exact index: their
    vectors copied into an exact index, or (past WITHIN_BY_COPY) FAISS's ID selector with every IVF
    list probed."""
    import qa.dense
    from qa.index import DenseSearch

    if how == "selector":
        monkeypatch.setattr(qa.dense, "WITHIN_BY_COPY", 0)

    rng = np.random.default_rng(1)
    centers = unit(rng, 60, 48)
    vectors, queries = unit(rng, 6000, 48, centers), unit(rng, 10, 48, centers)
    exact = DenseSearch(dense_index(vectors, 48, approximate_from=10**9))
    ivf = DenseSearch(dense_index(vectors, 48, approximate_from=1000))
    assert not exact.approximate and ivf.approximate and ivf.index.nprobe < ivf.index.nlist
    ids = {
        "one range": np.arange(2000, 2600),
        "two ranges": np.concatenate([np.arange(100, 400), np.arange(5000, 5300)]),
        "scattered": np.sort(rng.choice(6000, 500, replace=False)),
    }[within]
    for q in queries:
        e_scores, e_ids = exact.search_within(q[None, :], ids)
        i_scores, i_ids = ivf.search_within(q[None, :], ids)
        assert sorted(e_ids[0].tolist()) == sorted(i_ids[0].tolist()) == ids.tolist()  # every sentence in scope, none outside
        assert (e_ids == i_ids).mean() > 0.99  # same order (near-ties may swap)
        np.testing.assert_allclose(i_scores, e_scores, atol=1e-5)
        np.testing.assert_allclose(e_scores[0], (vectors[e_ids[0]] @ q), atol=1e-5)
        if how == "copied":  # the same FAISS inner products over the same vectors: identical
            np.testing.assert_array_equal(i_scores, e_scores)
            np.testing.assert_array_equal(i_ids, e_ids)
    assert len(ivf.search(queries[:1], 6000)[1][0]) == ivf.cap


def test_scoped_retrieval_is_the_same_on_ivf_and_exact(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    exact = Retriever(load_index(index_dir, docs, embedder.id), embedder)
    build_index(docs, embedder, index_dir, progress=False, reuse=True, approximate_from=100)
    approximate = Retriever(load_index(index_dir, docs, embedder.id), embedder)
    assert approximate.index.vectors_index.approximate
    doc = docs[0].id
    for question in ("2023年地区生产总值是多少？", "研发投入强度", "农村居民人均可支配收入"):
        a = approximate.search_query(approximate.prepare(question), k=5, docs=[doc])
        e = exact.search_query(exact.prepare(question), k=5, docs=[doc])
        assert [(h.paragraph, round(h.score, 6)) for h in a] == [(h.paragraph, round(h.score, 6)) for h in e]
        assert [[round(s.score, 5) for s in h.sentences] for h in a] == [[round(s.score, 5) for s in h.sentences] for h in e]
