"""Which paragraph answers an open question (plan, list, achievement, summary, definition…).

The retrieved paragraphs are re-ranked by a learned model over their retrieval scores, how much of
the question their text, sub-heading and lead sentence hold, the year of their section, and where
they sit in the outline (a sub-heading, an item of a 一是…二是… series, the paragraph after a
list's introduction). The points are then taken from the best paragraph by `qa.points`, whose
outline rules say how a paragraph becomes points, not which paragraph.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..analysis import CN_COUNT, Analysis
from ..evidence import _covered, shared_phrase
from ..corpus import SUB_HEADING as SUBHEADING
from ..numbers import FIGURE
from ..outline import SENTENCE
from ..outline import SERIES_ITEM as SERIES
from ..retrieval import CorpusStats, Hit, Query

OPEN_DEPTH = 12  # paragraphs retrieved for an open question: the open ranker re-ranks them
OPEN_KINDS = ("list", "plan", "achievement", "problem", "summary", "compare-years", "definition", "fact", "name")
COUNT = re.compile(r"([两二三四五六七八九十]|\d+)(?:个|大|项|条)?(?:方面|部分|任务|重点|领域|举措|工作)")

OPEN_NAMES = (
    *(f"kind_{k}" for k in OPEN_KINDS), "hit_rank", "fused_rel", "dense", "bm25_rel", "best_sentence",
    "cover_text", "cover_heading", "cover_lead", "cover_section", "phrase", "year_match", "year_other", "year_unknown",
    "is_subheading", "is_series", "after_intro", "n_sentences", "chars", "figures_per_100", "siblings", "count_match", "quoted_in_text",
)


def _siblings(stats: CorpusStats, hit: Hit) -> int:
    """How many sub-headings (or series items) share this paragraph's section: the parts it belongs to."""
    doc = stats.docs[hit.doc]
    p = doc.paragraph(hit.paragraph)
    return sum(1 for q in doc.paragraphs if q.section == p.section and (SUBHEADING.match(q.text) or SERIES.match(q.text)))


def asked_count(question: str) -> int | None:
    m = COUNT.search(question)
    if not m:
        return None
    word = m.group(1)
    return int(word) if word.isdigit() else CN_COUNT.get(word)


def open_features(stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis, terms: dict[str, float]) -> np.ndarray:
    """One row per retrieved paragraph, in `OPEN_NAMES` order."""
    if not hits:
        return np.zeros((0, len(OPEN_NAMES)))
    top = hits[0].score or 1.0
    top_bm25 = max((h.bm25 for h in hits), default=1.0) or 1.0
    asked = set(query.years)
    count = asked_count(analysis.question)
    quoted = re.findall(r"[“「]([^”」]{2,20})[”」]", analysis.question)
    rows = []
    for rank, h in enumerate(hits):
        doc = stats.docs[h.doc]
        p = doc.paragraph(h.paragraph)
        sentences = [s for s in SENTENCE.split(p.text) if s.strip()]
        lead = sentences[0][:40] if sentences else ""
        before = doc.paragraph(h.paragraph - 1).text if h.paragraph > 1 else ""
        siblings = _siblings(stats, h)
        rows.append([
            *(float(analysis.kind == k) for k in OPEN_KINDS),
            math.log1p(rank), h.score / top, h.dense, h.bm25 / top_bm25, max((s.score for s in h.sentences), default=0.0),
            _covered(terms, p.text), _covered(terms, p.subsection or ""), _covered(terms, lead), _covered(terms, p.section or ""),
            shared_phrase(analysis.question.replace("的", ""), p.text.replace("的", ""), limit=12) / 12,
            float(bool(asked) and p.year in asked), float(bool(asked) and p.year is not None and p.year not in asked), float(p.year is None),
            float(bool(SUBHEADING.match(p.text))), float(bool(SERIES.match(p.text))), float(before.rstrip().endswith(("：", ":"))),
            float(len(sentences)), float(len(p.text)), 100.0 * len(FIGURE.findall(p.text)) / max(len(p.text), 1),
            float(siblings), float(count is not None and count == siblings), float(any(q in p.text for q in quoted)),
        ])
    return np.asarray(rows, dtype=np.float64)


def rank_open(models, stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis, terms: dict[str, float]) -> tuple[list[Hit], float]:
    """`hits` best first by the open ranker, and the probability that the best one answers."""
    if not hits:
        return [], 0.0
    scores = models.open_ranker.predict(open_features(stats, query, hits, analysis, terms))
    order = np.argsort(-scores, kind="stable")
    return [hits[i] for i in order], float(scores[order[0]])
