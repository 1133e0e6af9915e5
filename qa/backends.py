"""The seam between retrieval and where vectors and keywords are searched: two small protocols.

`Retriever` asks a `VectorSearch` for sentence similarities (everything, or within the sentences
of a scope) and a `KeywordSearch` for every paragraph's BM25 score. The embedded defaults are
`qa.dense.DenseSearch` (FAISS, in this process) and `qa.bm25.BM25` (bm25s); `QdrantVectors` is the
first adapter to an external engine: Qdrant, in local mode (`QdrantClient(":memory:")` or a
folder, tested here) or a server (`QdrantClient(url=...)`, the same calls), for a corpus past one
machine's memory. Sentence ids are the chunk numbers of the index build, stored as point ids.

Left out: a keyword adapter (OpenSearch/Elasticsearch with a Chinese analyzer would sit behind
`KeywordSearch`; README, scaling), writing builds to an external engine from `qa index` (the
adapter is filled from a built index with `QdrantVectors.from_index`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class VectorSearch(Protocol):
    """Inner-product search over the sentence vectors of one index build."""

    ntotal: int
    d: int
    approximate: bool  # True: `search` may leave sentences out

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each of shape (len(x), ≤k), best first; ids -1 where fewer were found."""
        ...

    def search_within(self, x: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of every one of the sentences `ids` (sorted) for one query, best first."""
        ...

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray: ...


class KeywordSearch(Protocol):
    """BM25 over the paragraphs of one index build (row numbers as in `SearchIndex.paragraph_keys`)."""

    n: int

    def scores(self, query: list[str]) -> np.ndarray:
        """The score of every paragraph row for the query's tokens."""
        ...

    def scores_within(self, query: list[str], rows: np.ndarray) -> np.ndarray:
        """`scores(query)[rows]` (ascending rows: the paragraphs of a scope), without scoring the others."""
        ...


class QdrantVectors:
    """`VectorSearch` on a Qdrant collection (needs `pip install qdrant-client`, extra `qdrant`).

    Scores are Qdrant's dot product (the vectors are normalised). A scoped search filters on the
    point ids, so Qdrant scores exactly the scope's sentences.
    """

    approximate = False

    def __init__(self, client, collection: str, dim: int, count: int, cap: int | None = None) -> None:
        self.client, self.collection = client, collection
        self.d, self.ntotal, self.cap = dim, count, cap

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, location: str = ":memory:", collection: str = "sentences", batch: int = 1024) -> "QdrantVectors":
        """A new collection holding `vectors` (ids 0..n-1), in local mode at `location` (":memory:" or a folder)."""
        try:
            from qdrant_client import QdrantClient, models
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(f"the Qdrant adapter needs `pip install qdrant-client` ({exc})") from None
        client = QdrantClient(location=location) if location == ":memory:" else QdrantClient(path=location)
        dim = int(vectors.shape[1])
        if client.collection_exists(collection):
            client.delete_collection(collection)
        client.create_collection(collection, vectors_config=models.VectorParams(size=dim, distance=models.Distance.DOT))
        for start in range(0, len(vectors), batch):
            block = vectors[start : start + batch]
            client.upsert(collection, points=models.Batch(ids=list(range(start, start + len(block))), vectors=block.tolist()), wait=True)
        return cls(client, collection, dim, len(vectors))

    @classmethod
    def from_index(cls, dense, location: str = ":memory:") -> "QdrantVectors":
        """The vectors of a loaded index (`SearchIndex.vectors_index`) copied into Qdrant."""
        return cls.from_vectors(dense.reconstruct_n(0, dense.ntotal), location)

    def _query(self, vector: np.ndarray, limit: int, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        from qdrant_client import models

        flt = None if ids is None else models.Filter(must=[models.HasIdCondition(has_id=[int(i) for i in ids])])
        points = self.client.query_points(self.collection, query=vector.tolist(), limit=max(1, limit), query_filter=flt).points
        return np.array([p.score for p in points], dtype=np.float32), np.array([p.id for p in points], dtype=np.int64)

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.ntotal, self.cap or self.ntotal)
        scores = np.full((len(x), k), -1.0, dtype=np.float32)
        ids = np.full((len(x), k), -1, dtype=np.int64)
        for row, vector in enumerate(np.asarray(x, dtype=np.float32)):
            s, i = self._query(vector, k)
            scores[row, : len(s)], ids[row, : len(i)] = s, i
        return scores, ids

    def search_within(self, x: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(ids):
            return np.zeros((1, 0), dtype=np.float32), np.zeros((1, 0), dtype=np.int64)
        s, i = self._query(np.asarray(x, dtype=np.float32)[0], len(ids), ids)
        return s[None, :], i[None, :]

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray:
        points = self.client.retrieve(self.collection, ids=[int(i) for i in ids], with_vectors=True)
        by_id = {p.id: p.vector for p in points}
        return np.array([by_id[int(i)] for i in ids], dtype=np.float32)

    def reconstruct_n(self, start: int, count: int) -> np.ndarray:
        return self.reconstruct_batch(np.arange(start, start + count))
