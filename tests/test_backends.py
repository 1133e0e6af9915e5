"""Every vector backend behind `qa.backends.VectorSearch` against brute force, and retrieval over
each: FAISS (exact, and IVF for scoped searches) and Qdrant in local mode (in memory and on disk)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qa.index import DenseSearch, dense_index, load_index
from qa.retrieval import Retriever

qdrant_client = pytest.importorskip("qdrant_client")

from qa.backends import QdrantVectors  # noqa: E402


def unit(rng, n, dim):
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    return unit(rng, 3000, 32), unit(rng, 5, 32)


def backends(vectors, tmp_path):
    yield "faiss-exact", DenseSearch(dense_index(vectors, vectors.shape[1], approximate_from=10**9))
    yield "qdrant-memory", QdrantVectors.from_vectors(vectors)
    yield "qdrant-folder", QdrantVectors.from_vectors(vectors, location=str(tmp_path / "qdrant"))


def test_every_backend_finds_the_brute_force_top_k(data, tmp_path):
    vectors, queries = data
    brute = queries @ vectors.T
    expected = np.argsort(-brute, axis=1, kind="stable")[:, :10]
    for name, backend in backends(vectors, tmp_path):
        scores, ids = backend.search(queries, 10)
        assert (ids == expected).mean() > 0.99, name
        np.testing.assert_allclose(scores, np.take_along_axis(brute, ids, axis=1), atol=1e-5, err_msg=name)
        np.testing.assert_allclose(backend.reconstruct_batch(np.array([7, 3])), vectors[[7, 3]], atol=1e-6, err_msg=name)


def test_every_backend_scores_exactly_the_scope(data, tmp_path):
    vectors, queries = data
    scope = np.concatenate([np.arange(100, 250), np.arange(2900, 2950)])
    ivf = DenseSearch(dense_index(vectors, vectors.shape[1], approximate_from=1000))
    for name, backend in [*backends(vectors, tmp_path), ("faiss-ivf", ivf)]:
        for q in queries:
            scores, ids = backend.search_within(q[None, :], scope)
            assert sorted(ids[0].tolist()) == scope.tolist(), name
            np.testing.assert_allclose(scores[0], vectors[ids[0]] @ q, atol=1e-5, err_msg=name)
            assert (np.diff(scores[0]) <= 1e-6).all(), name


def test_retrieval_over_qdrant_gives_the_hits_of_faiss(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    index = load_index(index_dir, docs, embedder.id)
    faiss_retriever = Retriever(index, embedder)
    qdrant_retriever = Retriever(replace(index, vectors_index=QdrantVectors.from_index(index.vectors_index)), embedder)
    for question in ("2023年地区生产总值是多少？", "研发投入强度", "农村居民人均可支配收入"):
        for scope in (None, [docs[0].id]):
            want = faiss_retriever.search_query(faiss_retriever.prepare(question), k=5, docs=scope)
            got = qdrant_retriever.search_query(qdrant_retriever.prepare(question), k=5, docs=scope)
            assert [(h.paragraph, round(h.score, 6), round(h.dense, 5)) for h in got] == [(h.paragraph, round(h.score, 6), round(h.dense, 5)) for h in want]
