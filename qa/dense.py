"""The sentence vectors' FAISS index: exact or IVF, searched over every sentence or within a scope.

The dense index is exact (`IndexFlatIP`) below `approximate_from` sentences (the setting
`QA_APPROXIMATE_MIN_SENTENCES`, default `APPROXIMATE_MIN_VECTORS`) and IVF from there on
(`scripts/bench_corpus.py` measured where exact search gets slow, and IVF kept its recall at 500k
sentences where HNSW did not: see the README's scaling section). `DenseSearch` wraps it: an
unscoped search of an exact index scores every sentence, of an IVF index the
`APPROXIMATE_CANDIDATES` nearest; a search within some documents scores every sentence of those
documents, exactly, on both.

Left out: HNSW and product quantization (the vectors of one machine's corpus fit in memory uncompressed).
"""

from __future__ import annotations

import numpy as np

APPROXIMATE_MIN_VECTORS = 100_000  # sentences (~190 reports); below, exact search (measured: scripts/bench_corpus.py)
APPROXIMATE_CANDIDATES = 256  # nearest sentences an approximate search returns
IVF_LISTS_PER_SQRT = 4  # nlist = 4·√n
IVF_PROBE_SHARE = 32  # nprobe = nlist / 32 (at least 8)
IVF_TRAIN_PER_LIST = 40  # k-means sample: 40 vectors a list
WITHIN_BY_COPY = 200_000  # an IVF search within up to this many sentences copies their vectors into an exact index


def dense_index(vectors: np.ndarray, dim: int, approximate_from: int | None = None):
    """Exact inner-product search below `approximate_from` vectors (None: `APPROXIMATE_MIN_VECTORS`),
    IVF (inner product) from there on.

    The IVF lists are trained on a fixed sample (the same vectors give the same index), and the
    index keeps a direct map so that a refresh can reuse its vectors.
    """
    import faiss

    n = len(vectors)
    if n < (APPROXIMATE_MIN_VECTORS if approximate_from is None else approximate_from):
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index
    nlist = max(1, min(int(IVF_LISTS_PER_SQRT * np.sqrt(n)), n // 39))  # k-means wants ~39 points a list
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(n, min(n, IVF_TRAIN_PER_LIST * nlist), replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    index.nprobe = min(nlist, max(8, nlist // IVF_PROBE_SHARE))
    index.make_direct_map()
    return index


class DenseSearch:
    """The sentence vectors' FAISS index, searched over every sentence or within chosen ones.

    `search(x, k)` answers as FAISS does, but an approximate (IVF) index gives at most `cap`
    neighbours (retrieval asks an exact index for every sentence's score; IVF cannot give that,
    and the sentences it leaves out count as unrelated). `search_within(x, ids)` scores the
    sentences `ids` (sorted) and no others, exactly on every index type: an IVF index copies their
    vectors (up to `WITHIN_BY_COPY`) into an exact index and searches that, or probes all its
    lists with an ID selector (which reads every list's ids: 5,000 lists at 3,000 reports); an
    exact index filters by the selector.
    """

    def __init__(self, index, cap: int = APPROXIMATE_CANDIDATES) -> None:
        self.index, self.cap = index, cap
        self.ntotal, self.d = index.ntotal, index.d
        self.approximate = hasattr(index, "nprobe")

    def search(self, x: np.ndarray, k: int):
        """(scores, ids) of the k nearest (min(k, cap) for IVF: fewer columns than asked for)."""
        return self.index.search(x, min(k, self.cap, self.ntotal) if self.approximate else min(k, self.ntotal))

    def search_within(self, x: np.ndarray, ids: np.ndarray):
        """(scores, ids) of every sentence of `ids` (sorted int64), best first, for one query."""
        import faiss

        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((1, 0), dtype=np.float32), np.zeros((1, 0), dtype=np.int64)
        if self.approximate and len(ids) <= WITHIN_BY_COPY:  # the scope's own vectors, scored exactly
            scope = faiss.IndexFlatIP(self.d)
            scope.add(self.index.reconstruct_batch(ids))
            scores, local = scope.search(x, len(ids))
            return scores, np.where(local >= 0, ids[np.maximum(local, 0)], -1)
        contiguous = ids[-1] - ids[0] + 1 == len(ids)
        selector = faiss.IDSelectorRange(int(ids[0]), int(ids[-1]) + 1) if contiguous else faiss.IDSelectorBatch(ids)
        if self.approximate:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nlist)
        else:
            params = faiss.SearchParameters(sel=selector)
        scores, found = self.index.search(x, len(ids), params=params)
        return scores, found

    def reconstruct_n(self, start: int, count: int) -> np.ndarray:
        return self.index.reconstruct_n(start, count)

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray:
        return self.index.reconstruct_batch(np.ascontiguousarray(ids, dtype=np.int64))
