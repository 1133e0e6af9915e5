"""Hybrid retrieval: dense sentence search and BM25 over paragraphs, fused by reciprocal rank.

1. The question's relative years (去年/今年) are made absolute using the years the report's sections
   are about, and everyday terms get the report's spelling (GDP → 地区生产总值).
2. Dense: the question is embedded and every sentence chunk scored by inner product (exact FAISS;
   an IVF index gives its nearest candidates); a question scoped to some documents scores exactly
   their sentences, on any index type. A paragraph scores by its best sentence, plus a little for
   its second best.
3. BM25 over jieba tokens of each paragraph with its section headings (`qa.bm25`, an inverted index).
4. Reciprocal rank fusion of the two rankings, over the paragraphs in scope. If the question names
   years, paragraphs of a section about another year are moved down; a question naming several
   years keeps all of them. Up to `EXACT_FUSION_ROWS` paragraphs in scope every paragraph is ranked
   in both lists (as a full sort would); beyond, the `FUSION_CANDIDATES` best of each list are, and
   the others count as ranked just after them, so a search does not sort every paragraph.

Left out: cross-encoder re-ranking (no Chinese one ships offline); learned fusion weights.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Collection

import numpy as np

from .bm25 import BM25, BM25_B, BM25_K1, IdfTable  # noqa: F401 - BM25 and its constants are part of this module's interface
from .embedders import Embedder
from .index import SearchIndex
from .normalize import normalize_question, normalize_text
from .text import content_terms, expand_synonyms, resolve_years, tokenize

DENSE_SECOND_WEIGHT = 0.2
DENSE_WEIGHT = 1.0
BM25_WEIGHT = 1.0
OTHER_YEAR_FACTOR = 0.35
EXACT_FUSION_ROWS = 50_000  # paragraphs in scope up to which every paragraph is ranked in both lists
FUSION_CANDIDATES = 2_000  # beyond: the best of each list are ranked, the rest count as ranked just after them
SCOPED_STATS_CACHE = 32  # word statistics of the most recent scopes kept

log = logging.getLogger(__name__)


def plan_year(doc) -> int | None:
    """The year a document plans for: the year in its title (2026年…政府工作报告), or in its first
    line when it has no title of its own (a file added without one is titled by its name), else the
    latest year its sections are about (which may be a far-off 2030 of a five-year plan)."""
    paragraphs = getattr(doc, "paragraphs", ())
    first = paragraphs[0].text if paragraphs else ""
    for heading in (doc.title or "", first if len(first) <= 40 else ""):
        m = re.search(r"((?:19|20)\d\d)年", heading)
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

    idf: IdfTable  # BM25 idf of each paragraph token (a read-only mapping)
    text: str  # every paragraph, lower-cased, one a line
    docs: dict  # document id → Document


@dataclass(frozen=True)
class Query:
    """A question prepared for retrieval."""

    original: str
    text: str  # years resolved, synonyms expanded
    years: tuple[int, ...]
    terms: tuple[str, ...]


class Retriever:
    """Searches one loaded index; cheap to call, holds no per-request state."""

    def __init__(self, index: SearchIndex, embedder: Embedder, rrf_k: int = 60) -> None:
        if index.embedder_id != embedder.id:
            raise ValueError(f"index built with {index.embedder_id}, embedder is {embedder.id}")
        self.index = index
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.bm25 = index.bm25
        recorded = (index.manifest.get("embedder", {}).get("engines") or {}).get("query")
        engine = getattr(embedder, "query_engine", None)
        if recorded and engine and recorded != engine:
            log.warning("the index's queries were meant for %s; this embedder runs %s (run `qa index --rebuild` if answers change)", recorded, engine)
        keys = index.paragraph_keys
        self.chunk_rows, self.doc_rows, self.paragraph_years = _layout(index)
        if len(self.chunk_rows) and np.any(np.diff(self.chunk_rows) < 0):
            raise ValueError(f"index in {index.path} lists sentences out of paragraph order; run `qa index --rebuild`")
        # sentences of paragraph row r: chunk ids row_chunks[r]..row_chunks[r + 1]
        self.row_chunks = np.searchsorted(self.chunk_rows, np.arange(len(keys) + 1))
        self.current_year = {doc_id: plan_year(d) for doc_id, d in index.docs.items()}
        known = Counter(y for y in self.current_year.values() if y is not None)
        # several documents: the year most of them plan for (a far-off 2030 section of one is no "今年")
        self._default_year = max(known, key=lambda y: (known[y], y)) if known else None
        self._scoped_stats: OrderedDict[tuple[str, ...], CorpusStats] = OrderedDict()

    @cached_property
    def corpus_text(self) -> str:
        """Every paragraph, lower-cased, one a line (built on first use, not at load)."""
        return normalize_text("\n".join(p.text for d in self.index.docs.values() for p in d.paragraphs)).lower()

    @cached_property
    def stats(self) -> CorpusStats:
        return CorpusStats(self.bm25.idf, self.corpus_text, self.index.docs)

    def stats_for(self, docs: Collection[str] | None) -> CorpusStats:
        """The statistics of the documents a question is scoped to (all when None): how rare a word
        is, and whether it occurs at all, are judged within them, not across every report loaded.
        The last `SCOPED_STATS_CACHE` scopes are kept."""
        key = tuple(sorted(docs or ()))
        if not key or len(key) == len(self.index.docs):
            return self.stats
        if key in self._scoped_stats:
            self._scoped_stats.move_to_end(key)
            return self._scoped_stats[key]
        rows = np.zeros(len(self.index.paragraph_keys), dtype=bool)
        rows[self.scope_rows(key)] = True
        text = normalize_text("\n".join(p.text for d in key for p in self.index.docs[d].paragraphs)).lower()
        stats = CorpusStats(self.bm25.idf_within(rows), text, {d: self.index.docs[d] for d in key})
        self._scoped_stats[key] = stats
        while len(self._scoped_stats) > SCOPED_STATS_CACHE:
            self._scoped_stats.popitem(last=False)
        return stats

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

    def scope_rows(self, docs: Collection[str] | None) -> np.ndarray | None:
        """Paragraph rows of `docs`, ascending (None: every document)."""
        if not docs:
            return None
        spans = sorted(self.doc_rows[d] for d in set(docs) if d in self.doc_rows)
        return np.concatenate([np.arange(a, b) for a, b in spans]) if spans else np.zeros(0, dtype=np.int64)

    def scope_mask(self, docs: Collection[str] | None) -> np.ndarray | None:
        """Paragraph rows that belong to `docs` (None: every document)."""
        rows = self.scope_rows(docs)
        if rows is None:
            return None
        mask = np.zeros(len(self.index.paragraph_keys), dtype=bool)
        mask[rows] = True
        return mask

    def dense_hits(self, query: Query, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, similarities) of the question to the sentences searched: every sentence of
        an exact index, an IVF index's nearest, or every sentence of the paragraph `rows`."""
        vector = self.embedder.encode([query.text], role="query")
        dense = self.index.vectors_index
        if rows is None:
            scores, ids = dense.search(vector, dense.ntotal)
        else:
            ids = np.concatenate([np.arange(self.row_chunks[a], self.row_chunks[b]) for a, b in _runs(rows)]) if len(rows) else np.zeros(0, dtype=np.int64)
            scores, ids = dense.search_within(vector, ids)
        valid = ids[0] >= 0
        return ids[0][valid].astype(np.int64), scores[0][valid].astype(np.float32)

    def dense_scores(self, query: Query) -> np.ndarray:
        """Similarity of the question to every sentence chunk (-1 for those an IVF search leaves out)."""
        ids, scores = self.dense_hits(query)
        out = np.full(self.index.vectors_index.ntotal, -1.0, dtype=np.float32)
        out[ids] = scores
        return out

    def search(self, question: str, k: int = 5, sentences_per_hit: int = 3) -> list[Hit]:
        """The k best paragraphs for a question, best first."""
        query = self.prepare(question)
        return self.search_query(query, k=k, sentences_per_hit=sentences_per_hit)

    def paragraph_dense(self, chunk_ids: np.ndarray, chunk_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the paragraphs of the scored chunks: a paragraph's best sentence plus a
        little of its second best."""
        chunk_rows = self.chunk_rows[chunk_ids]
        order = np.lexsort((-chunk_scores, chunk_rows))
        rows, scores = chunk_rows[order], chunk_scores[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        best_rows, best = rows[first], scores[first]
        second_pos = np.flatnonzero(first) + 1
        second_pos = second_pos[second_pos < len(rows)]
        second_pos = second_pos[rows[second_pos] == rows[second_pos - 1]]
        second = np.zeros(len(best_rows), dtype=np.float32)
        second[np.searchsorted(best_rows, rows[second_pos])] = np.maximum(scores[second_pos], 0)
        return best_rows, best + DENSE_SECOND_WEIGHT * second

    def search_query(self, query: Query, k: int = 5, sentences_per_hit: int = 3, docs: Collection[str] | None = None) -> list[Hit]:
        """The k best paragraphs for a prepared query, within `docs` when given."""
        scope = self.scope_rows(docs)  # None: every paragraph
        rows = np.arange(len(self.index.paragraph_keys)) if scope is None else scope
        chunk_ids, chunk_scores = self.dense_hits(query, scope)
        par_rows, par_dense = self.paragraph_dense(chunk_ids, chunk_scores)
        dense = np.full(len(rows), -1.0, dtype=np.float32)  # paragraphs no sentence of which was scored: unrelated
        dense[np.searchsorted(rows, par_rows)] = par_dense
        tokens = tokenize(query.text)
        sparse = self.bm25.scores(tokens) if scope is None else self.bm25.scores_within(tokens, scope)

        fused, cand = self._fuse(dense, sparse)
        if query.years:
            years = self.paragraph_years[rows[cand]]
            fused *= np.where(np.isin(years, list(query.years)) | (years < 0), 1.0, OTHER_YEAR_FACTOR)
        best = cand[np.argsort(-fused, kind="stable")[:k]]  # cand ascending: ties go to the earlier paragraph
        top = rows[best]
        fused_of = dict(zip(cand.tolist(), fused.tolist()))

        scored = dict(zip(chunk_ids.tolist(), chunk_scores.tolist()))
        hits = []
        for local, row in zip(best.tolist(), top.tolist()):
            doc_id, number = self.index.paragraph_keys[row]
            p = self.index.docs[doc_id].paragraph(number)
            sents = self._sentences(row, scored)
            sents = sorted(sents, key=lambda x: -x.score)[:sentences_per_hit]
            hits.append(
                Hit(
                    doc=doc_id,
                    paragraph=number,
                    score=float(fused_of[local]),
                    text=p.text,
                    section=p.section,
                    year=p.year,
                    dense=float(dense[local]),
                    bm25=float(sparse[local]),
                    sentences=tuple(sents),
                )
            )
        return hits

    def _sentences(self, row: int, scored: dict[int, float]) -> list[SentenceHit]:
        """The sentences of paragraph `row` with their similarity (-1 where the search left one out)."""
        out = []
        for i in range(int(self.row_chunks[row]), int(self.row_chunks[row + 1])):
            chunk = self.index.chunks[i]
            out.append(SentenceHit(chunk.index, chunk.part, chunk.text, float(scored.get(i, -1.0))))
        return out

    def _fuse(self, dense: np.ndarray, sparse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reciprocal rank fusion of two score lists over the same paragraphs: (fused scores, the
        positions they belong to, ascending)."""
        n = len(dense)
        keep = n if n <= EXACT_FUSION_ROWS else FUSION_CANDIDATES
        ranked = [_best(scores, keep) for scores in (dense, sparse)]
        cand = np.unique(np.concatenate(ranked))
        fused = np.zeros(len(cand), dtype=np.float64)
        for weight, order in zip((DENSE_WEIGHT, BM25_WEIGHT), ranked):
            ranks = np.full(len(cand), keep + 1, dtype=np.int64)  # not among the best: just after them
            ranks[np.searchsorted(cand, order)] = np.arange(1, len(order) + 1)
            fused += weight / (self.rrf_k + ranks)
        return fused, cand


def _layout(index: SearchIndex) -> tuple[np.ndarray, dict[str, tuple[int, int]], np.ndarray]:
    """The paragraph row of every sentence, the rows of every document (first, end), and the year
    of every row's section (-1: none). Read off the build's arrays (`qa.index_files.ChunkTable`)
    where it has them: a Python pass over 300k paragraphs took ~1 s of a load at 3,000 reports."""
    keys, chunks = index.paragraph_keys, index.chunks
    if isinstance(getattr(chunks, "row_doc", None), np.ndarray):
        names, row_doc, numbers, chunk_rows = chunks.doc_ids, chunks.row_doc, chunks.row_paragraph, np.asarray(chunks.row)
    else:  # a plain list of chunks (an empty library)
        names = list(dict.fromkeys(d for d, _ in keys))
        code = {d: i for i, d in enumerate(names)}
        row_doc = np.array([code[d] for d, _ in keys], dtype=np.int64)
        numbers = np.array([n for _, n in keys], dtype=np.int64)
        row_of = {key: i for i, key in enumerate(keys)}
        chunk_rows = np.array([row_of[(c.doc, c.paragraph)] for c in chunks], dtype=np.int64)
    starts = np.flatnonzero(np.diff(row_doc) != 0) + 1 if len(row_doc) else np.zeros(0, dtype=np.int64)
    doc_rows: dict[str, tuple[int, int]] = {}
    years = np.full(len(keys), -1, dtype=np.int64)
    for a, b in zip([0, *starts.tolist()], [*starts.tolist(), len(keys)]):
        if b <= a:
            continue
        doc = names[int(row_doc[a])]
        doc_rows[doc] = (doc_rows.get(doc, (a, b))[0], b)
        of_doc = np.array([-1 if p.year is None else p.year for p in index.docs[doc].paragraphs], dtype=np.int64)
        years[a:b] = of_doc[np.asarray(numbers[a:b], dtype=np.int64) - 1]
    return chunk_rows, doc_rows, years


def _best(scores: np.ndarray, keep: int) -> np.ndarray:
    """Positions of the `keep` highest scores, best first, ties in position order (as a stable sort)."""
    if keep >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, keep - 1)[:keep]
    return part[np.lexsort((part, -scores[part]))]


def _runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """Ascending rows as half-open runs of consecutive rows: [3, 4, 5, 9] → [(3, 6), (9, 10)]."""
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [len(rows)]))
    return [(int(rows[a]), int(rows[b - 1]) + 1) for a, b in zip(starts, ends)]
