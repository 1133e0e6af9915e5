"""Okapi BM25 over jieba-tokenised paragraphs, on `bm25s`'s inverted index, saved with the index.

`bm25s` precomputes every (term, paragraph) score at build time into a sparse column-per-term
matrix; a query adds up the columns of its terms, so a search costs the postings of its terms, not
a pass over every paragraph. A column lists its paragraphs in ascending order, so a search within
some documents (contiguous runs of rows) reads only the part of each column that falls in them
(`scores_within`: a binary search per term and run), with the same sums as a search over all. The index is written into the build folder (`bm25/`) and loaded from
it, never rebuilt at load.

Scores equal the textbook form this project used before bm25s: Lucene's idf
`log(1 + (n - df + 0.5) / (df + 0.5))` times `tf·(k1 + 1) / (tf + k1·(1 - b + b·len/avg))`
(bm25s's "lucene" method leaves out the constant `k1 + 1`; it is multiplied back so that scores
keep their scale); a term repeated in a question counts once.

`IdfTable` gives the idf of each term, within every paragraph or within a subset of rows (the
documents a question is scoped to), read off the same matrix: the paragraphs' tokens are not kept.

Left out: BM25L/BM25+ variants, stemming and stop words (jieba's tokens are used as they are).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

BM25_K1 = 1.5
BM25_B = 0.75
FOLDER = "bm25"  # inside a build folder
MAX_RUNS = 64  # runs of consecutive rows up to which `scores_within` searches each column for each run


def lucene_idf(df: np.ndarray, n: int) -> np.ndarray:
    return np.log1p((n - df + 0.5) / (df + 0.5))


class IdfTable(Mapping):
    """term → idf among some paragraphs; a term that none of them holds is not in the table."""

    def __init__(self, vocab: Mapping[str, int], term_ids: np.ndarray, idf: np.ndarray) -> None:
        self._vocab = vocab  # term → id (shared with the index)
        self._ids = term_ids  # sorted ids of the terms present
        self._idf = idf
        self._values: list[float] | None = None

    def _position(self, term: object) -> int:
        tid = self._vocab.get(term) if isinstance(term, str) else None
        if tid is None:
            return -1
        pos = int(np.searchsorted(self._ids, tid))
        return pos if pos < len(self._ids) and self._ids[pos] == tid else -1

    def __getitem__(self, term: str) -> float:
        pos = self._position(term)
        if pos < 0:
            raise KeyError(term)
        return float(self._idf[pos])

    def __contains__(self, term: object) -> bool:
        return self._position(term) >= 0

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        wanted = set(self._ids.tolist())
        return (t for t, i in self._vocab.items() if i in wanted)

    def values(self):  # noqa: D102 - Mapping's, without a lookup per term
        if self._values is None:
            self._values = self._idf.tolist()
        return self._values


class BM25:
    """Okapi BM25 over pre-tokenised paragraphs (one row each), backed by `bm25s`."""

    def __init__(self, docs: list[list[str]] | None = None, k1: float = BM25_K1, b: float = BM25_B, *, _index=None) -> None:
        self.k1, self.b = k1, b
        if _index is not None:
            self._index = _index
        elif docs:
            import bm25s

            logging.getLogger("bm25s").setLevel(max(logging.INFO, logging.getLogger("bm25s").getEffectiveLevel()))  # not a debug line per build
            self._index = bm25s.BM25(k1=k1, b=b, method="lucene")
            # term ids in sorted term order: bm25s numbers terms in set order, which changes with
            # Python's string hashing from process to process, and a query's sum follows the ids
            vocab = {t: i for i, t in enumerate(sorted({t for d in docs for t in d}))}
            self._index.index(([[vocab[t] for t in d] for d in docs], vocab), show_progress=False)
        else:
            self._index = None
        self.n = int(self._index.scores["num_docs"]) if self._index is not None else 0
        if docs and _index is None and not _sorted_columns(self._index.scores["indices"], self._index.scores["indptr"]):
            raise ValueError("bm25s wrote a column whose rows are not ascending; scores_within relies on them")
        self.idf = self._idf_where(None)

    @property
    def vocab(self) -> dict[str, int]:
        return self._index.vocab_dict if self._index is not None else {}

    def save(self, folder: Path) -> list[Path]:
        """Write the index into `folder` (created); returns the files written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self._index is None:
            (folder / "empty.json").write_text(json.dumps({"k1": self.k1, "b": self.b}), encoding="utf-8")
        else:
            self._index.save(str(folder), show_progress=False)
        return sorted(p for p in folder.iterdir() if p.is_file())

    @classmethod
    def load(cls, folder: Path) -> "BM25":
        """Load what `save` wrote (arrays memory-mapped, nothing recomputed)."""
        folder = Path(folder)
        if (folder / "empty.json").is_file():
            params = json.loads((folder / "empty.json").read_text(encoding="utf-8"))
            return cls(None, params["k1"], params["b"])
        import bm25s

        index = bm25s.BM25.load(str(folder), mmap=True)
        return cls(None, index.k1, index.b, _index=index)

    def _term_ids(self, query: list[str]) -> list[int]:
        vocab = self._index.vocab_dict if self._index is not None else {}
        return sorted({vocab[t] for t in query if t and t in vocab})

    def scores(self, query: list[str]) -> np.ndarray:
        """Score of every paragraph for the query's tokens (each distinct token once)."""
        if self._index is None:
            return np.zeros(0, dtype=np.float32)
        ids = self._term_ids(query)
        if not ids:
            return np.zeros(self.n, dtype=np.float32)
        return self._index.get_scores_from_ids(ids) * np.float32(self.k1 + 1)

    def scores_within(self, query: list[str], rows: np.ndarray) -> np.ndarray:
        """`scores(query)[rows]` for ascending `rows`, reading only the postings that fall in them.

        The same float32 sums in the same order as `scores` (terms in id order, each added once),
        so the values are identical. Past `MAX_RUNS` runs of consecutive rows, it is `scores(query)[rows]`.
        """
        rows = np.asarray(rows, dtype=np.int64)
        runs = _runs(rows)
        if self._index is None or len(runs) > MAX_RUNS:
            return self.scores(query)[rows] if self._index is not None else np.zeros(len(rows), dtype=np.float32)
        out = np.zeros(len(rows), dtype=np.float32)
        data, indices, indptr = (self._index.scores[k] for k in ("data", "indices", "indptr"))
        for term in self._term_ids(query):
            column = indices[indptr[term] : indptr[term + 1]]
            values = data[indptr[term] : indptr[term + 1]]
            for first, end, at in runs:
                a, b = np.searchsorted(column, (first, end))
                if b > a:
                    out[column[a:b] - first + at] += values[a:b]
        return out * np.float32(self.k1 + 1)

    def document_frequencies(self, rows: np.ndarray | None = None) -> np.ndarray:
        """How many paragraphs hold each term id: all, or those where the boolean `rows` is true."""
        if self._index is None:
            return np.zeros(0, dtype=np.int64)
        indptr = np.asarray(self._index.scores["indptr"], dtype=np.int64)
        if rows is None:
            return np.diff(indptr)
        held = np.concatenate(([0], np.cumsum(rows[self._index.scores["indices"]], dtype=np.int64)))
        return held[indptr[1:]] - held[indptr[:-1]]

    def _idf_where(self, rows: np.ndarray | None) -> IdfTable:
        df = self.document_frequencies(rows)
        present = np.flatnonzero(df > 0)
        n = self.n if rows is None else int(rows.sum())
        return IdfTable(self.vocab, present, lucene_idf(df[present].astype(np.float64), n))

    def idf_within(self, rows: np.ndarray) -> IdfTable:
        """The idf of every term among the paragraphs where the boolean `rows` is true (their own n)."""
        return self._idf_where(np.asarray(rows, dtype=bool))


def _runs(rows: np.ndarray) -> list[tuple[int, int, int]]:
    """Ascending rows as (first, end, position of first in `rows`) of each run of consecutive rows."""
    if not len(rows):
        return []
    starts = np.concatenate(([0], np.flatnonzero(np.diff(rows) != 1) + 1))
    ends = np.concatenate((starts[1:], [len(rows)]))
    return [(int(rows[a]), int(rows[b - 1]) + 1, int(a)) for a, b in zip(starts, ends)]


def _sorted_columns(indices: np.ndarray, indptr: np.ndarray) -> bool:
    """Are the rows of every column ascending?"""
    if len(indices) < 2:
        return True
    falls = np.flatnonzero(np.diff(indices) <= 0) + 1  # where a row is not above the one before it
    return bool(np.isin(falls, indptr).all())  # only where a new column starts
