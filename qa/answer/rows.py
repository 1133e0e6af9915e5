"""The fact row of one document in an answer across documents, chosen like a single answer.

A row is asked of one document (`qa.cross.row_question`). The candidates of its retrieved
paragraphs are scored by the answer core's ranker (`decide.score_candidates`), and the
answerability model says whether the best one answers, against the rows' own threshold (fitted by
`scripts/fit_cross.py`: a document a comparison names is likelier to hold the answer than a
question's retrieved paragraphs). The row is then the best-ranked candidate that states

- a figure of the unit asked: the condition's unit (万人, %), else the unit the question names
  (多少人), else the unit model's when it is sure;
- of the measure asked: the figure's clause, or the clause before it, names the question's rarest
  key word (`checks.topic_problem`'s rule, applied to each figure rather than to the span: 研发投入
  强度 is not 研发投入); when no candidate does, one that names another key word, else another
  of its topic words (the key words of “经济总量” may be a synonym's, 地区, where the report
  writes 全省生产总值);
- of the year asked: a candidate in a section about another year than the question's is skipped;
- about the place asked (`refusal.places_not_in`).

None passes: the row reads 未提及. A row is never a figure of another measure just because it
ranked first. Left out: open rows (`qa.cross` takes the points of the topic's section).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..analysis import Analysis
from ..evidence import key_terms, measure_words, split_clauses
from ..lexicon import lexicon
from ..numbers import FIGURE, ascii_digits
from ..refusal import places_not_in
from ..retrieval import CorpusStats, Hit, Query
from ..text import with_equivalents
from .candidates import Candidate
from .conditions import Condition, Value, parse_values
from .decide import score_candidates
from .features import NAMES
from .models import AnswerModels, answer_signals
from .units import asked_type, figure_types

YEAR_BEFORE = re.compile(r"((?:19|20)\d\d)年(?:底|末)?的?$")
DEPTH = 12  # candidates tried, best first, for one that states the asked measure


@dataclass(frozen=True)
class RowChoice:
    """A row's answer: the candidate, its figure and that figure's clause, the answerability."""

    candidate: Candidate
    figure: Value
    clause: int  # index of the figure's clause in `split_clauses(candidate.text)`
    confidence: float


CHECKED_MEASURES = ("growth", "share", "per_capita")  # a row's figure must be written with a word of each one asked


def choose_row(models: AnswerModels, stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis,
               threshold: float, condition: Condition | None = None) -> RowChoice | None:
    """The row's candidate and figure (see the module docstring), or None: not stated."""
    scored = score_candidates(models, stats, query, hits, analysis)
    if not len(scored.candidates):
        return None
    signals = answer_signals(scored.scores, scored.rows, NAMES)
    confidence = float(models.answerability.predict(np.asarray([signals]))[0])
    if confidence < threshold:
        return None
    unit = asked_unit(models, analysis, scored.context.unit_probs)
    known = {t: w for t, w in scored.context.terms.items() if t in stats.idf and not FIGURE.search(t)}
    order = list(np.argsort(-scored.scores, kind="stable"))[:DEPTH]
    keys = key_terms(known)
    measures = tuple(tuple(lexicon()["measures"][m]) for m in CHECKED_MEASURES if m in analysis.measures)
    rarest = [k for k in keys if known[k] >= max(known[k] for k in keys) - 1e-9]
    for words in (rarest, keys, topic_words(known)):  # the rarest key word, another key word, a topic word
        for i in order:
            c = scored.candidates[i]
            found = stated_figure(c.text, unit, words, condition, query.years, measures) if _year_fits(stats, c, query) else None
            if found is None:
                continue
            p = stats.docs[c.doc].paragraph(c.paragraph)
            if not places_not_in(stats, analysis, [f"{p.section} {p.subsection} {p.text}"]):
                return RowChoice(c, found[0], found[1], confidence)
    return None


def topic_words(terms: dict[str, float]) -> list[str]:
    """The question's words that name a topic: two characters or more, not a measure word or an
    everyday synonym (`evidence.key_terms` without its share of the rarest word)."""
    generic = measure_words() | set(lexicon()["synonyms"])
    return [t for t in terms if t not in generic and len(t) >= 2]


def asked_unit(models: AnswerModels, analysis: Analysis, probs: dict[str, float]) -> str:
    """The unit type a row's figure must have: the question's own (多少人), else the unit model's
    when it is sure; "" when neither says."""
    named = asked_type(analysis.question)
    if named:
        return named
    if not probs:
        return ""
    kind, p = max(probs.items(), key=lambda kv: kv[1])
    return kind if p >= models.unit_check and kind not in ("other", "none") else ""


def stated_figure(text: str, unit: str, keys: list[str], condition: Condition | None = None,
                  years: tuple[int, ...] = (), measures: tuple[tuple[str, ...], ...] = ()) -> tuple[Value, int] | None:
    """The first figure of `text` of the asked unit (the condition's, else the type `unit`) whose
    clause, or the clause before it, names one of `keys`, and that no other year
    than `years` is written right before (“从2020年的3.68万亿元增长到2025年的4.93万亿元”), and
    whose context names each asked measure (`measures`: one word of each, 增长… for a growth); with
    its clause's index."""
    clauses = split_clauses(text)
    for i, clause in enumerate(clauses):
        context = with_equivalents("".join(clauses[max(0, i - 1) : i + 1])).lower()
        if keys and not any(k in context for k in keys):
            continue
        if any(not any(w in context for w in words) for words in measures):
            continue  # 比率降至13% is no growth target, though it names 地区生产总值
        for value in parse_values(clause):
            if _fits(value, unit, condition) and not _other_year_before(clause, value, years):
                return value, i
    return None


def _other_year_before(clause: str, value: Value, years: tuple[int, ...]) -> bool:
    """Is the figure written right after a year other than the ones asked (“2020年的3.68万亿元”)?"""
    at = ascii_digits(clause).replace("％", "%").replace(",", "").find(value.text)
    year = YEAR_BEFORE.search(ascii_digits(clause)[: max(at, 0)])
    return bool(years and year and int(year.group(1)) not in years)


def _fits(value: Value, unit: str, condition: Condition | None) -> bool:
    """Is `value` of the asked unit? Never a year or a rank."""
    found = figure_types(value.text)
    kind = found[0].type if found else "other"
    if kind in ("year", "rank"):
        return False
    if condition is not None and condition.unit and condition.op != "range":
        return value.unit == condition.unit
    return not unit or kind == unit


def _year_fits(stats: CorpusStats, c: Candidate, query: Query) -> bool:
    """A candidate in a section about another year than the one asked does not answer."""
    year = stats.docs[c.doc].paragraph(c.paragraph).year
    return not query.years or year is None or year in query.years
