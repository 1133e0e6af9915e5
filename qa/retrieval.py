"""Hybrid retrieval: dense sentence search and BM25 over paragraphs, fused by reciprocal rank.

1. The question's relative years (去年/今年) are made absolute using the years the report's sections
   are about, and everyday terms get the report's spelling (GDP → 地区生产总值).
2. Dense: the question is embedded and every sentence chunk scored by inner product (exact FAISS);
   a paragraph scores by its best sentence, plus a little for its second best.
3. BM25 over jieba tokens of each paragraph with its section headings.
4. Reciprocal rank fusion of the two rankings. If the question names years, paragraphs of a section
   about another year are moved down; a question naming several years keeps all of them.

Left out: cross-encoder re-ranking (no Chinese one ships offline); learned fusion weights.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Collection

import numpy as np

from .embedders import Embedder
from .index import SearchIndex
from .normalize import normalize_question, normalize_text
from .text import content_terms, expand_synonyms, resolve_years, tokenize

DENSE_SECOND_WEIGHT = 0.2
DENSE_WEIGHT = 1.0
BM25_WEIGHT = 1.0
OTHER_YEAR_FACTOR = 0.35
BM25_K1 = 1.5
BM25_B = 0.75


def plan_year(doc) -> int | None:
    """The year a document plans for: the year in its title (2026年…政府工作报告), else the latest
    year its sections are about."""
    m = re.search(r"((?:19|20)\d\d)年", doc.title or "")
    if m:
        return int(m.group(1))
    return max(doc.years) if doc.years else None


@dataclass(frozen=True)
class SentenceHit:
    """A sentence of a retrieved paragraph with its similarity to the question."""

    index: int
    part: int
    text: str
    score: float


@dataclass(frozen=True)
class Hit:
    """A retrieved paragraph: fused score, its dense and BM25 parts, and its best sentences."""

    doc: str
    paragraph: int
    score: float
    text: str
    section: str
    year: int | None
    dense: float
    bm25: float
    sentences: tuple[SentenceHit, ...] = field(default=())


@dataclass(frozen=True)
class CorpusStats:
    """What the answer stages need to know about the loaded documents, without the index's internals."""

    idf: dict[str, float]  # BM25 idf of each paragraph token
    text: str  # every paragraph, lower-cased, one a line
    docs: dict  # document id → Document


@dataclass(frozen=True)
class Query:
    """A question prepared for retrieval."""

    original: str
    text: str  # years resolved, synonyms expanded
    years: tuple[int, ...]
    terms: tuple[str, ...]


class BM25:
    """Okapi BM25 over pre-tokenised paragraphs."""

    def __init__(self, docs: list[list[str]], k1: float = BM25_K1, b: float = BM25_B) -> None:
        self.k1, self.b = k1, b
        self.tf = [Counter(d) for d in docs]
        self.len = np.array([len(d) for d in docs], dtype=np.float32)
        self.avg = float(self.len.mean()) if len(docs) else 0.0
        df = Counter(t for d in docs for t in set(d))
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: list[str]) -> np.ndarray:
        out = np.zeros(len(self.tf), dtype=np.float32)
        norm = self.k1 * (1 - self.b + self.b * self.len / max(self.avg, 1e-9))
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            tf = np.array([c.get(term, 0) for c in self.tf], dtype=np.float32)
            out += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


class Retriever:
    """Searches one loaded index; cheap to call, holds no per-request state."""

    def __init__(self, index: SearchIndex, embedder: Embedder, rrf_k: int = 60) -> None:
        if index.embedder_id != embedder.id:
            raise ValueError(f"index built with {index.embedder_id}, embedder is {embedder.id}")
        self.index = index
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.bm25 = BM25(index.paragraph_tokens)
        self.row_of = {key: i for i, key in enumerate(index.paragraph_keys)}
        self.chunk_rows = np.array([self.row_of[(c.doc, c.paragraph)] for c in index.chunks], dtype=np.int64)
        years = [index.docs[d].paragraph(n).year for d, n in index.paragraph_keys]
        self.paragraph_years = np.array([-1 if y is None else y for y in years], dtype=np.int64)
        self.current_year = {doc_id: plan_year(d) for doc_id, d in index.docs.items()}
        known = Counter(y for y in self.current_year.values() if y is not None)
        # several documents: the year most of them plan for (a far-off 2030 section of one is no "今年")
        self._default_year = max(known, key=lambda y: (known[y], y)) if known else None
        self.corpus_text = normalize_text("\n".join(p.text for d in index.docs.values() for p in d.paragraphs)).lower()
        self.stats = CorpusStats(self.bm25.idf, self.corpus_text, index.docs)
        self._scoped_stats: dict[tuple[str, ...], CorpusStats] = {}

    def stats_for(self, docs: Collection[str] | None) -> CorpusStats:
        """The statistics of the documents a question is scoped to (all when None): how rare a word
        is, and whether it occurs at all, are judged within them, not across every report loaded."""
        key = tuple(sorted(docs or ()))
        if not key or len(key) == len(self.index.docs):
            return self.stats
        if key not in self._scoped_stats:
            wanted = set(key)
            rows = [i for i, (doc, _) in enumerate(self.index.paragraph_keys) if doc in wanted]
            idf = BM25([self.index.paragraph_tokens[i] for i in rows]).idf
            text = normalize_text("\n".join(p.text for d in key for p in self.index.docs[d].paragraphs)).lower()
            self._scoped_stats[key] = CorpusStats(idf, text, {d: self.index.docs[d] for d in key})
        return self._scoped_stats[key]

    def warm_up(self) -> None:
        """Load jieba's dictionary and run the embedder once, so the first request is not slow."""
        self.search("预热", k=1)

    def prepare(self, question: str, doc: str | None = None) -> Query:
        """Resolve relative years (against `doc`'s years, or the latest of all) and expand synonyms,
        in the index's spelling (`qa.normalize`: a search is read as the engine's door reads a question)."""
        current = self.current_year.get(doc) if doc else self._default_year
        text, years = resolve_years(normalize_question(question), current)
        text = expand_synonyms(text)
        return Query(original=question, text=text, years=tuple(years), terms=tuple(content_terms(text)))

    def dense_scores(self, query: Query) -> np.ndarray:
        """Similarity of the question to every sentence chunk (exact search, all chunks)."""
        vector = self.embedder.encode([query.text], role="query")
        n = self.index.vectors_index.ntotal
        scores, ids = self.index.vectors_index.search(vector, n)
        out = np.full(n, -1.0, dtype=np.float32)
        valid = ids[0] >= 0
        out[ids[0][valid]] = scores[0][valid]
        return out

    def search(self, question: str, k: int = 5, sentences_per_hit: int = 3) -> list[Hit]:
        """The k best paragraphs for a question, best first."""
        query = self.prepare(question)
        return self.search_query(query, k=k, sentences_per_hit=sentences_per_hit)

    def scope_mask(self, docs: Collection[str] | None) -> np.ndarray | None:
        """Paragraph rows that belong to `docs` (None: every document)."""
        if not docs:
            return None
        wanted = set(docs)
        return np.array([doc in wanted for doc, _ in self.index.paragraph_keys], dtype=bool)

    def paragraph_dense(self, chunk_scores: np.ndarray) -> np.ndarray:
        """A paragraph's dense score: its best sentence plus a little of its second best."""
        n_par = len(self.index.paragraph_keys)
        order = np.lexsort((-chunk_scores, self.chunk_rows))
        rows, scores = self.chunk_rows[order], chunk_scores[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        best = np.full(n_par, -1.0, dtype=np.float32)
        best[rows[first]] = scores[first]
        second_pos = np.flatnonzero(first) + 1
        second_pos = second_pos[(second_pos < len(rows))]
        second_pos = second_pos[rows[second_pos] == rows[second_pos - 1]]
        second = np.full(n_par, -1.0, dtype=np.float32)
        second[rows[second_pos]] = scores[second_pos]
        return best + DENSE_SECOND_WEIGHT * np.maximum(second, 0)

    def search_query(self, query: Query, k: int = 5, sentences_per_hit: int = 3, docs: Collection[str] | None = None) -> list[Hit]:
        """The k best paragraphs for a prepared query, within `docs` when given."""
        n_par = len(self.index.paragraph_keys)
        chunk_scores = self.dense_scores(query)
        dense = self.paragraph_dense(chunk_scores)
        sparse = self.bm25.scores(tokenize(query.text))
        mask = self.scope_mask(docs)
        if mask is not None:
            dense, sparse = np.where(mask, dense, -np.inf), np.where(mask, sparse, -np.inf)

        fused = np.zeros(n_par, dtype=np.float64)
        for weight, scores in ((DENSE_WEIGHT, dense), (BM25_WEIGHT, sparse)):
            order = np.argsort(-scores, kind="stable")
            ranks = np.empty(n_par, dtype=np.int64)
            ranks[order] = np.arange(1, n_par + 1)
            fused += weight / (self.rrf_k + ranks)
        if query.years:
            fused *= np.where(np.isin(self.paragraph_years, list(query.years)) | (self.paragraph_years < 0), 1.0, OTHER_YEAR_FACTOR)
        if mask is not None:
            fused = np.where(mask, fused, -np.inf)

        top = np.argsort(-fused, kind="stable")[:k]
        top = top[np.isfinite(fused[top])]
        by_row: dict[int, list[SentenceHit]] = {}
        for i in np.flatnonzero(np.isin(self.chunk_rows, top)).tolist():
            chunk = self.index.chunks[i]
            by_row.setdefault(int(self.chunk_rows[i]), []).append(SentenceHit(chunk.index, chunk.part, chunk.text, float(chunk_scores[i])))
        hits = []
        for row in top:
            doc_id, number = self.index.paragraph_keys[row]
            p = self.index.docs[doc_id].paragraph(number)
            sents = sorted(by_row.get(int(row), []), key=lambda x: -x.score)[:sentences_per_hit]
            hits.append(
                Hit(
                    doc=doc_id,
                    paragraph=number,
                    score=float(fused[row]),
                    text=p.text,
                    section=p.section,
                    year=p.year,
                    dense=float(dense[row]),
                    bm25=float(sparse[row]),
                    sentences=tuple(sents),
                )
            )
        return hits
