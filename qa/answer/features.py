"""Features of (question, candidate) pairs: what the ranker and the answerability model learn from.

Each candidate gets the retrieval signals (dense similarity of its sentence, the paragraph's rank
and its dense and BM25 parts), word and phrase overlap with the question (IDF-weighted, in the
span, in the sentence, with the section headings), agreement of the unit type the question asks
(predicted by a learned model) with the candidate's figures, year agreement, the question's kind
and measures, and the existing checks as signals (near miss, ranking scope, places, quoted names).
Nothing here decides: `models` weighs these by what the fit data says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..analysis import Analysis
from ..evidence import NAME, RANK, Selection, _covered, figure_context, followup_focus, other_ranking_scope, select_evidence, shared_phrase, term_weights
from ..evidence import features as kind_features
from ..refusal import near_miss
from ..retrieval import CorpusStats, Hit, Query
from .candidates import Candidate
from .units import UNIT_TYPES, figure_types

KINDS = ("fact", "number", "range", "fromto", "rank", "name", "yesno", "definition", "compare-years")
MEASURES = ("per_capita", "growth", "share", "target", "actual", "rank", "total", "average")


@dataclass(frozen=True)
class QuestionContext:
    """What every candidate of one question is compared with, including what the older hand-set
    selector (`qa.evidence`) would answer: its verdict is one signal among the others."""

    analysis: Analysis
    query: Query
    terms: dict[str, float]  # content term → IDF weight (follow-ups weigh their own words more)
    unit_probs: dict[str, float]  # unit type → probability the answer is of that type
    absent: int  # topic words no document in scope contains
    hits: tuple[Hit, ...]
    rules: Selection  # the hand-set selector's choice and verdict


def question_context(stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis, unit_probs: dict[str, float]) -> QuestionContext:
    terms = followup_focus(term_weights(stats, query.terms), analysis)
    rules = select_evidence(stats, query, hits, analysis)
    return QuestionContext(analysis, query, terms, unit_probs, len(rules.absent), tuple(hits), rules)


def question_features(q: QuestionContext) -> list[float]:
    a, r = q.analysis, q.rules
    why = r.why_refused
    return [
        *(float(a.kind == k) for k in KINDS),
        *(float(m in a.measures) for m in MEASURES),
        float(a.language == "en"),
        float(a.followup),
        float(len(q.query.years)),
        float(q.absent),
        float(len(q.terms)),
        *(q.unit_probs.get(t, 0.0) for t in UNIT_TYPES),
        float(bool(why)), r.strength, float(bool(r.near_miss)), float(not r.key_terms_found), float(bool(r.other_places)), float(why.startswith("weak")),
    ]


QUESTION_NAMES = (
    *(f"kind_{k}" for k in KINDS), *(f"measure_{m}" for m in MEASURES), "english", "followup", "years_asked", "absent_terms", "n_terms",
    *(f"asks_{t}" for t in UNIT_TYPES),
    "rules_refuse", "rules_strength", "rules_near_miss", "rules_keys_missing", "rules_other_places", "rules_weak",
)

CANDIDATE_NAMES = (
    "meaning", "hit_rank", "hit_dense", "hit_bm25", "hit_score_rel",
    "cover_span", "cover_sentence", "cover_context", "phrase", "figure_context", "kind_features",
    "n_figures", "has_rank", "has_name", "chars", "width", "first", "last", "whole",
    "year_match", "year_other", "year_unknown",
    "unit_match", "unit_first_match", "unit_best_type_prob", "n_unit_types",
    "near_miss", "other_rank_scope", "meaning_rel", "cover_rel", "rules_span", "rules_sentence",
)
NAMES = QUESTION_NAMES + CANDIDATE_NAMES


def candidate_features(q: QuestionContext, c: Candidate, stats: CorpusStats, best_meaning: float, best_cover: float) -> list[float]:
    a = q.analysis
    hit = q.hits[c.hit_rank]
    top = q.hits[0].score or 1.0
    paragraph = stats.docs[c.doc].paragraph(c.paragraph)
    context = " ".join(x for x in (paragraph.section, paragraph.subsection) if x)
    figures = [f for f in figure_types(c.text) if f.type != "year"]
    types = {f.type for f in figures}
    asked_years = set(q.query.years)
    year = paragraph.year
    cover_span = _covered(q.terms, c.text)
    return [
        c.meaning,
        math.log1p(c.hit_rank),
        hit.dense,
        hit.bm25,
        hit.score / top,
        cover_span,
        _covered(q.terms, c.sentence_text),
        _covered(q.terms, context + c.sentence_text),
        float(shared_phrase(a.question, c.text)),
        figure_context(q.terms, c.text),
        kind_features(c.text, a),
        float(len(figures)),
        float(bool(RANK.search(c.text))),
        float(bool(NAME.search(c.text))),
        float(len(c.text)),
        float(c.width),
        float(c.first == 0),
        float(c.first + c.width == c.clauses),
        float(c.width == c.clauses),
        float(bool(asked_years) and year in asked_years),
        float(bool(asked_years) and year is not None and year not in asked_years),
        float(year is None),
        max((q.unit_probs.get(t, 0.0) for t in types), default=0.0),
        q.unit_probs.get(figures[0].type, 0.0) if figures else 0.0,
        max(q.unit_probs.values(), default=0.0),
        float(len(types)),
        float(bool(near_miss(((None, c.text),), a))),
        float(a.kind == "rank" and other_ranking_scope(a.question, c.text)),
        c.meaning - best_meaning,
        cover_span - best_cover,
        float(any(c.paragraph == e.paragraph and (span in c.text or c.text in span) for e, span in q.rules.spans)),
        float(any(c.paragraph == e.paragraph and c.sentence == e.sentence for e, _ in q.rules.spans)),
    ]


def feature_rows(q: QuestionContext, cands: list[Candidate], stats: CorpusStats) -> list[list[float]]:
    """One row per candidate: the question's features, then the candidate's (in `NAMES` order)."""
    if not cands:
        return []
    head = question_features(q)
    best_meaning = max(c.meaning for c in cands)
    best_cover = max(_covered(q.terms, c.text) for c in cands)
    return [head + candidate_features(q, c, stats, best_meaning, best_cover) for c in cands]
