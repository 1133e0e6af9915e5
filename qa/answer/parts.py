"""Whole-part answers: the items of one of the report's enumerations, each cited by its lead phrase.

A question about a whole part (“今年的重点工作分哪几个方面？”, “去年主要抓了哪几方面工作？”, “这五年的
成就可以概括成哪几点？”, “报告分成哪几个部分？”) is answered with the items of one enumeration of the
report: its parts (一、二、…), the sub-headings of one part (（一）（二）…), an ordinal series (一是、
二是…) or a run of dashed lines (——…). Which enumeration, and
whether the question wants one at all, is decided by a model fitted on labelled questions
(`qa.answer.fitting.fit_parts`) over the features of `part_features`: how the enumeration's
introduction and items hold the question's words, the count asked against the count of items,
the year of its section, and where the retrieved paragraphs lie. The patterns only say what an
enumeration looks like, never which one answers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cn2an
import numpy as np

from ..analysis import Analysis
from ..corpus import Document
from ..evidence import _covered, shared_phrase
from ..outline import SENTENCE
from ..points import Point, Points, cut
from ..retrieval import CorpusStats, Hit, Query
from .features import KINDS
from .open_rank import OPEN_KINDS, asked_count

MARKS = {
    "top": re.compile(r"^([一二三四五六七八九十]{1,3})、"),
    "sub": re.compile(r"^[（(]([一二三四五六七八九十]{1,3})[）)]"),
    "series": re.compile(r"^([一二三四五六七八九十]{1,3})是"),
    "dash": re.compile(r"^[—－-]{2}"),
}
ANNOUNCES = re.compile(r"[：:]\s*$|以下|如下|[几两二三四五六七八九十\d]+(?:个|大|项)?方面")  # the text before an enumeration says one follows
SERIES_GAP = 6  # an ordinal series item follows the previous one within this many paragraphs
DASH_GAP = 2
INTRO_CHARS = 80  # the end of the paragraph before an enumeration that introduces it

PART_KINDS = tuple(dict.fromkeys((*OPEN_KINDS, *KINDS)))
PART_NAMES = (
    *(f"kind_{k}" for k in PART_KINDS), *(f"style_{s}" for s in MARKS), "n_items", "has_count", "count_eq", "count_diff",
    "intro_count_eq", "cover_intro", "cover_heads", "phrase_intro", "year_match", "year_other", "year_unknown",
    "hits_items", "hits_inside", "best_hit", "first_rank", "position", "section_index", "wants_part", "name_in_items", "announced",
)


@dataclass(frozen=True)
class Part:
    """One enumeration of a document: the paragraphs that open its items, in order."""

    doc: str
    style: str  # sub, series, dash
    items: tuple[int, ...]
    heads: tuple[str, ...]  # each item's lead phrase, without its ordinal mark
    intro: str  # the section heading and the end of the paragraph before the first item
    end: int  # the last paragraph of the last item's body (the part's extent)
    year: int | None
    section_index: float  # 0 for the first top-level section, 1 for the last


def _ordinal(mark: str) -> int:
    return int(cn2an.cn2an(mark, "smart"))


def _head(text: str, style: str, limit: int) -> str:
    """An item's lead phrase: its first sentence without the ordinal mark."""
    rest = MARKS[style].sub("", text, count=1).lstrip("，, ")
    first = next((s for s in SENTENCE.split(rest) if s.strip()), rest)
    return cut(first, limit)


def _runs(doc: Document, style: str) -> list[list[int]]:
    """Paragraph numbers of each run of items of one style (ordinals 1, 2, 3… or consecutive dashes)."""
    runs: list[list[int]] = []
    last_ordinal, last_number, last_section = 0, -99, None
    for p in doc.paragraphs:
        m = MARKS[style].match(p.text)
        if not m or (style == "top" and not p.is_heading):
            continue
        if style == "dash":
            ordinal = last_ordinal + 1 if p.number - last_number <= DASH_GAP else 1
        else:
            ordinal = _ordinal(m.group(1))
        gap = p.number - last_number
        close = {"top": True, "sub": p.section == last_section, "series": gap <= SERIES_GAP, "dash": gap <= DASH_GAP}[style]
        if ordinal == last_ordinal + 1 and runs and close:
            runs[-1].append(p.number)
        elif ordinal == 1:
            runs.append([p.number])
        else:
            last_ordinal = -99  # a break in the numbering: no run continues through it
            continue
        last_ordinal, last_number, last_section = ordinal, p.number, p.section
    return [r for r in runs if len(r) >= 2]


def _extent(doc: Document, style: str, items: list[int]) -> int:
    """The last paragraph of the last item: up to the next item-like paragraph or the section's end."""
    if style == "top":
        return len(doc.paragraphs)
    last = doc.paragraph(items[-1])
    n = items[-1]
    while n < len(doc.paragraphs):
        nxt = doc.paragraph(n + 1)
        if nxt.section != last.section or nxt.is_heading or any(m.match(nxt.text) for m in MARKS.values()):
            break
        if style != "sub" and n - items[-1] >= SERIES_GAP:
            break
        n += 1
    return n


_CACHE: dict[tuple[str, str, int], tuple[Part, ...]] = {}
CACHE_SIZE = 256  # documents whose enumerations are kept


def _document_parts(doc: Document, limit: int) -> tuple[Part, ...]:
    sections = list(dict.fromkeys(p.section for p in doc.paragraphs))
    parts = []
    for style in MARKS:
        for items in _runs(doc, style):
            first = doc.paragraph(items[0])
            before = doc.paragraph(items[0] - 1).text if items[0] > 1 else ""
            intro = doc.paragraphs[0].text if style == "top" else f"{first.section} {before[-INTRO_CHARS:]}"
            heads = tuple(_head(doc.paragraph(n).text, style, limit) for n in items)
            index = sections.index(first.section) / max(len(sections) - 1, 1)
            parts.append(Part(doc.id, style, tuple(items), heads, intro, _extent(doc, style, items), first.year, index))
    return tuple(sorted(parts, key=lambda p: p.items[0]))


def document_parts(doc: Document, limit: int = 70) -> tuple[Part, ...]:
    """Every enumeration of `doc` with at least two items (cached per document and version)."""
    key = (doc.id, doc.sha256, limit)
    if key not in _CACHE:
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _document_parts(doc, limit)
    return _CACHE[key]


def candidate_parts(stats: CorpusStats, hits: list[Hit], limit: int = 70) -> list[Part]:
    """The enumerations of the documents the retrieved paragraphs come from (the best two)."""
    docs = list(dict.fromkeys(h.doc for h in hits))[:2]
    return [part for d in docs for part in document_parts(stats.docs[d], limit)]


def part_features(parts: list[Part], stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis, terms: dict[str, float], wants: float) -> np.ndarray:
    """One row per part, in `PART_NAMES` order; `wants`: the question model's probability that the
    question asks for a whole part."""
    if not parts:
        return np.zeros((0, len(PART_NAMES)))
    count = asked_count(analysis.question)
    asked = set(query.years)
    top = (hits[0].score if hits else 1.0) or 1.0
    question = analysis.question.replace("的", "")
    name = analysis.named_set
    rows = []
    for part in parts:
        n = len(part.items)
        mine = [(rank, h) for rank, h in enumerate(hits) if h.doc == part.doc]
        on_items = [(rank, h) for rank, h in mine if h.paragraph in part.items]
        inside = [h for _, h in mine if part.items[0] - 1 <= h.paragraph <= part.end]
        length = len(stats.docs[part.doc].paragraphs)
        rows.append([
            *(float(analysis.kind == k) for k in PART_KINDS), *(float(part.style == s) for s in MARKS),
            float(n), float(count is not None), float(count == n), abs((count or n) - n) / max(n, 1),
            float(asked_count(part.intro) == n), _covered(terms, part.intro), _covered(terms, " ".join(part.heads)),
            shared_phrase(question, part.intro.replace("的", ""), limit=12) / 12,
            float(bool(asked) and part.year in asked), float(bool(asked) and part.year is not None and part.year not in asked), float(part.year is None),
            len(on_items) / n, len(inside) / max(len(hits), 1), max((h.score / top for _, h in on_items), default=0.0),
            math.log1p(min((rank for rank, _ in on_items), default=len(hits))), part.items[0] / max(length, 1), part.section_index, wants,
            sum(name in head for head in part.heads) / n if name else 0.0, float(ANNOUNCES.search(part.intro[-30:]) is not None),
        ])
    return np.asarray(rows, dtype=np.float64)


def best_part(models, stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis, terms: dict[str, float]) -> tuple[Part | None, float]:
    """The enumeration the parts model thinks answers the question, and its probability."""
    parts = candidate_parts(stats, hits)
    if not parts or models.parts_ranker is None:
        return None, 0.0
    wants = models.parts_question.probs(analysis.reading).get("part", 0.0)
    scores = models.parts_ranker.predict(part_features(parts, stats, query, hits, analysis, terms, wants))
    best = int(np.argmax(scores))
    return parts[best], float(scores[best])


def part_points(part: Part, max_chars: int) -> Points:
    """The part's items as cited points, as many as fit in `max_chars`."""
    points, used = [], 0
    for number, head in zip(part.items, part.heads):
        if used + len(head) + 4 > max_chars:
            break
        points.append(Point(part.doc, number, head))
        used += len(head) + 4
    return Points(tuple(points), len(part.items), form="items")


def part_label(part: Part, gold: set[int]) -> int:
    """1 when the part's items are mostly the gold paragraphs (Jaccard ≥ 0.5, two at least): a
    question about one paragraph is not answered by the enumeration it belongs to."""
    items = set(part.items)
    return int(len(items & gold) >= 2 and len(items & gold) / len(items | gold) >= 0.5)
