"""The learned fact path: candidates → features → ranker → answerability → a `Selection`.

`learned_selection` scores every candidate of the retrieved paragraphs with the ranker, keeps the
best (one per asked year for a question about several years), and asks the answerability model
whether it answers. It returns the same `Selection` the composer and the generator's checks take,
with the learned verdict in `decision`: the thresholds and rules of `evidence` no longer decide.

Two checks of the claim against the question stay, because a wrong figure with a citation is the
worst answer: the chosen span must hold a figure of the unit type the question asks (when the unit
model is sure), and must give the measure asked (`refusal.near_miss`). Either makes the answer a
near miss that says what the document holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis import Analysis
from ..evidence import Evidence, Selection, key_terms
from ..numbers import FIGURE
from ..refusal import names_not_in, near_miss, places_not_in
from ..retrieval import CorpusStats, Hit, Query
from .candidates import Candidate, candidates
from .checks import answering_figures, fromto_problem, topic_problem, unit_type_problem
from .features import NAMES, QuestionContext, feature_rows, question_context
from .models import AnswerModels, answer_signals
from .units import asked_type


@dataclass(frozen=True)
class Scored:
    """The candidates of one question with their feature rows and ranker scores."""

    context: QuestionContext
    candidates: list[Candidate]
    rows: np.ndarray
    scores: np.ndarray


def score_candidates(models: AnswerModels, stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis) -> Scored:
    """Every candidate of `hits`, scored by the ranker."""
    context = question_context(stats, query, hits, analysis, models.units.probs(analysis.search_text or analysis.question))
    cands = candidates(hits)
    rows = np.asarray(feature_rows(context, cands, stats), dtype=np.float64).reshape(len(cands), len(NAMES))
    return Scored(context, cands, rows, models.rank(rows))


def _evidence(c: Candidate, stats: CorpusStats, score: float) -> Evidence:
    section = stats.docs[c.doc].paragraph(c.paragraph).section
    return Evidence(c.doc, c.paragraph, c.sentence, c.sentence_text, section, c.meaning, 0.0, score)


def _chosen(scored: Scored, stats: CorpusStats) -> list[int]:
    """The best candidate, or for a question about several years the best of each year's sections."""
    order = list(np.argsort(-scored.scores, kind="stable"))
    if not order:
        return []
    years = scored.context.query.years
    if len(years) < 2:
        return [order[0]]
    chosen = []
    for year in years:
        of_year = [i for i in order if stats.docs[scored.candidates[i].doc].paragraph(scored.candidates[i].paragraph).year == year]
        if of_year and of_year[0] not in chosen:
            chosen.append(of_year[0])
    return chosen or [order[0]]


def learned_selection(models: AnswerModels, stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis) -> Selection:
    """The answer clauses of a fact question and whether they answer it, decided by the models."""
    scored = score_candidates(models, stats, query, hits, analysis)
    chosen = _chosen(scored, stats)
    order = np.argsort(-scored.scores, kind="stable")
    evidence = tuple(_evidence(scored.candidates[i], stats, float(scored.scores[i])) for i in order[:20])
    spans = tuple((_evidence(scored.candidates[i], stats, float(scored.scores[i])), scored.candidates[i].text) for i in chosen)
    signals = answer_signals(scored.scores, scored.rows, NAMES)
    p_answer = float(models.answerability.predict(np.asarray([signals]))[0]) if len(scored.candidates) else 0.0
    missing = near_miss(spans, analysis) if spans else ""
    said = "".join(s for _, s in spans)
    keys = [k for k in key_terms({t: w for t, w in scored.context.terms.items() if t in stats.idf}) if not FIGURE.search(k)]  # a figure names no topic
    named = asked_type(analysis.reading)
    probs, sure = ({named: 1.0} if named else scored.context.unit_probs), models.unit_check
    unit = (unit_type_problem(probs, said, sure) or topic_problem(probs, said, keys, sure) or fromto_problem(analysis.kind, said)) if spans else ""
    paragraphs = [stats.docs[e.doc].paragraph(e.paragraph) for e, _ in spans]
    other_places = places_not_in(stats, analysis, [f"{p.section} {p.subsection} {p.text}" for p in paragraphs]) + names_not_in(analysis, [p.text for p in paragraphs])
    if not spans:
        decision = "no evidence"
    elif p_answer < models.threshold:
        decision = f"the models find no answer (P={p_answer:.2f} < {models.threshold:.2f})"
    elif other_places:
        decision = f"the chosen sentences are not about {', '.join(other_places)}"
    elif unit or missing:
        decision = f"near miss: the documents do not give {unit or missing}"
    else:
        decision = ""
    near = (unit or missing) if p_answer >= models.threshold else ""
    rules = scored.context.rules
    if decision and not near and rules.near_miss and rules.why_refused.startswith("near miss"):
        spans, near = rules.spans, rules.near_miss  # the hand-set check found the neighbouring measure: show what the documents hold
    return Selection(
        query=query, analysis=analysis, evidence=evidence, spans=spans, absent=(), near_miss=near,
        other_places=other_places, decision=decision, confidence=p_answer,
        answer_figures=answering_figures(probs, said, keys, sure) if spans and not decision else (),
    )
