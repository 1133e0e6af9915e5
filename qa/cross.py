"""Questions across documents: one verified, cited row per document.

What is asked, of which documents, under which condition, is `qa.cross_plan`'s. Each document's row
is answered like a single question routed to it alone (`document_row`), scoped to that document:

- a fact row by the answer core (`Engine.select`: the learned ranker, answerability and checks of
  `qa.answer`, or the older rules): the chosen clauses must answer, with a figure of the unit asked
  and of the measure asked, or the row reads “未提及”; a clause of another measure never becomes a
  row. The row's figure (`Row.figure`) is parsed (`qa.answer.conditions`): its point or range and
  qualifier, which a selection's condition is applied to (`satisfies`) and the CSV carries;
- an open row by the open ranker (which also says 未提及) and the points of the section that holds
  the topic: two to four points of the retrieved paragraphs under the sub-heading that names it,
  the ones that hold the most of the question, each cited.

Rows are yielded one at a time, so that answers stream row by row (`Engine._cross`). Rows are
extractive (no model call) and each is checked like a point: its figures must be in the paragraph
it cites, under the same measure and range.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterator

from .analysis import Analysis, analyze
from .answer.conditions import Condition, Value, holds, parse_values
from .claims import claim_problems
from .cross_plan import CrossPlan, cross_mode, per_document_question  # noqa: F401 - cross_mode re-exported
from .evidence import _covered, select_evidence, split_clauses, term_weights
from .grounding import numbers_in
from .points import cut, select_points, verify_points
from .retrieval import Retriever
from .routing import short_name, without_names

NOT_STATED = "未提及"
ROW_CHARS = 60
OPEN_HITS = 3  # an open row searches this many times top_k paragraphs, to find its topic's sub-heading
OPEN_POINTS = 4  # at most this many points in an open row (two when the section has only two)
OPEN_ROW_CHARS = 170  # an open row's points fit in this many characters, beyond the first two
POINT_CHARS = 60  # one point of an open row, cut at a clause boundary
MIN_SHOWN = 12  # a fact row shows at least this many characters around its figure
LEAD_CHARS = 20  # a paragraph's opening sentence at most this long is its lead phrase (`lead_phrase`)
TOPIC_SHARE = 0.5  # of the question's weight a sub-heading must hold to be its topic (`topic_section_hits`)


@dataclass(frozen=True)
class Row:
    """One document's answer: the value as written, the paragraph it cites (None: not stated), the
    parsed figure of a fact row, and an open row's points with their paragraphs."""

    doc: str
    title: str
    name: str  # short name for display (江苏)
    value: str
    paragraph: int | None = None
    figure: Value | None = None
    parts: tuple[tuple[str, int], ...] = ()  # an open row's points: (text, paragraph), in document order

    def to_json(self) -> dict:
        citation = {"doc": self.doc, "paragraph": self.paragraph} if self.paragraph is not None else None
        out = {"doc": self.doc, "title": self.title, "value": self.value, "citation": citation, "figure": figure_json(self.figure)}
        if self.parts:
            out["points"] = [{"text": t, "paragraph": p} for t, p in self.parts]
        return out


def figure_json(figure: Value | None) -> dict | None:
    """A parsed figure as data: as written, bounds (in the base unit), unit and qualifier."""
    if figure is None:
        return None
    return {"text": figure.text, "low": figure.low, "high": figure.high, "unit": figure.unit, "qualifier": figure.qualifier}


def row_question(retriever: Retriever, doc: str, question: str, plan: CrossPlan | None = None):
    """(analysis, query, stats) of the question one document is asked, as a question routed to it
    alone would be (`Engine.retrieve`): without its own name, against its own years (去年 is the
    year before the one it plans for); a selection's condition asks for a figure."""
    docs = retriever.index.docs
    own = without_names(per_document_question(question, doc, docs, plan), [doc], docs)
    analysis: Analysis = analyze(own)
    if analysis.kind in ("range", "fromto") or (plan is not None and plan.condition is not None and analysis.open):
        analysis = replace(analysis, kind="number", open=False)
    query = retriever.prepare(analysis.search_text, doc=doc)
    query = replace(query, terms=analysis.terms(query.terms))
    return analysis, query, retriever.stats_for([doc])


@lru_cache(maxsize=1)
def row_threshold() -> float:
    """The answerability threshold of a fact row, fitted by `scripts/fit_cross.py`."""
    return float(_cross_tuning()["rows"]["threshold"])


def _cross_tuning() -> dict:
    import tomllib
    from importlib import resources

    return tomllib.loads(resources.files("qa.data").joinpath("cross.toml").read_text(encoding="utf-8"))


def document_row(retriever: Retriever, doc: str, question: str, top_k: int, models=None, plan: CrossPlan | None = None) -> Row:
    """The row of one document: a fact's clause or an open question's points, checked.
    `models`: the answer core's (None: the older rules choose)."""
    title = retriever.index.docs[doc].title
    analysis, query, stats = row_question(retriever, doc, question, plan)
    condition = plan.condition if plan is not None else None
    if analysis.open or analysis.kind == "definition":
        row = _open_row(retriever, doc, stats, query, analysis, top_k, models)
    elif models is not None:
        row = _fact_row(retriever, doc, stats, query, analysis, top_k, models, condition)
    else:
        row = _rules_row(retriever, doc, stats, query, analysis, top_k, condition)
    if row is None or _row_problems(retriever, doc, row):
        return Row(doc, title, short_name(doc, title), NOT_STATED)
    return replace(row, title=title, name=short_name(doc, title))


def _fact_row(retriever, doc, stats, query, analysis, top_k, models, condition: Condition | None) -> Row | None:
    """The answer core's row (`qa.answer.rows.choose_row`): the clause of the asked figure."""
    from .answer.rows import choose_row

    hits = retriever.search_query(query, k=top_k, sentences_per_hit=1000, docs=[doc])
    choice = choose_row(models, stats, query, hits, analysis, row_threshold(), condition)
    if choice is None:
        return None
    shown = _shown(split_clauses(choice.candidate.text), choice.clause, term_weights(stats, query.terms))
    return Row(doc, "", "", shown, choice.candidate.paragraph, choice.figure)


def _rules_row(retriever, doc, stats, query, analysis, top_k, condition: Condition | None) -> Row | None:
    """The older selector's row (`answer_core = "rules"`): its clauses, and their asked figure."""
    hits = retriever.search_query(query, k=top_k, sentences_per_hit=1000, docs=[doc])
    selection = select_evidence(stats, query, hits, analysis)
    if not selection.answerable or not selection.spans:
        return None
    e, span = selection.spans[0]
    figures = [(v, i) for i, clause in enumerate(split_clauses(span)) for v in parse_values(clause)]
    figures = [(v, i) for v, i in figures if condition is None or not condition.unit or v.unit == condition.unit]
    if not figures:
        return None if analysis.wants_figure or condition is not None else Row(doc, "", "", cut(span, 2 * ROW_CHARS), e.paragraph)
    figure, at = figures[0]
    return Row(doc, "", "", _shown(split_clauses(span), at, term_weights(stats, query.terms)), e.paragraph, figure)


def _shown(clauses: list[str], at: int, terms: dict[str, float]) -> str:
    """What a row shows: the clause of its figure, after the clauses before it while that one is
    short or names none of the question's words (“……达到5.67万亿元、增长5.4%”)."""
    start = at
    while start > 0 and (len("".join(clauses[start : at + 1])) < MIN_SHOWN or not _covered(terms, "".join(clauses[start : at + 1]))):
        start -= 1
    return cut("".join(clauses[start : at + 1]), 2 * ROW_CHARS).rstrip("，；：、,;:")


def _open_row(retriever, doc, stats, query, analysis, top_k, models) -> Row | None:
    """Two to four cited points of the section that holds the topic, or None (not stated)."""
    hits = retriever.search_query(query, k=OPEN_HITS * top_k, sentences_per_hit=1000, docs=[doc])
    terms = term_weights(stats, query.terms)
    if models is not None:
        from .answer.open_rank import rank_open

        hits, p_best = rank_open(models, stats, query, hits, analysis, terms)
        if p_best < models.open_threshold:
            return None
    hits = topic_section_hits(stats, query, hits)[:top_k]
    found = select_points(stats, query, hits, analysis, outline=False, ranked=models is not None)
    if found.why_refused or not found.points:
        return None
    kept, _ = verify_points(found.points, stats)
    chosen = best_points(list(kept), stats, query, n=OPEN_POINTS, budget=OPEN_ROW_CHARS)
    if not chosen:
        return None
    parts = tuple((p.text, p.paragraph) for p in chosen)
    value = "；".join(t for t, _ in parts)
    lead = lead_phrase(stats.docs[doc].paragraph(chosen[0].paragraph))
    if lead and lead not in value:
        value = f"{lead}：{value}"
    return Row(doc, "", "", value, chosen[0].paragraph, parts=parts)


def lead_phrase(paragraph) -> str:
    """The short sentence a plan's paragraph opens with (“打造……圈。”): what the
    paragraph is about, which points leave out as a heading; "" when it has none."""
    first = re.split(r"(?<=[。；！？])", paragraph.text, maxsplit=1)[0].strip()
    if not first.endswith("。") or len(first) > LEAD_CHARS or (paragraph.subsection and paragraph.text.startswith(paragraph.subsection)):
        return ""
    return first.rstrip("。") if not numbers_in(first) else ""


def best_points(points: list, stats, query, n: int = 2, budget: int | None = None) -> list:
    """Up to `n` points that hold the most of the question's weight (the earlier on a tie), each
    cut to `POINT_CHARS`, while they fit in `budget` characters (the first two always do), in
    document order: a row is short, and a section's opening points need not be the ones about
    the topic asked."""
    terms = term_weights(stats, query.terms)
    ranked = sorted(range(len(points)), key=lambda i: (-_covered(terms, points[i].text), i))[:n]
    chosen, used = [], 0
    for i in ranked:
        text = cut(points[i].text, POINT_CHARS)
        if budget is not None and len(chosen) >= 2 and used + len(text) > budget:
            break
        chosen.append((i, replace(points[i], text=text)))
        used += len(text)
    return [p for _, p in sorted(chosen, key=lambda c: (c[1].paragraph, c[0]))]


def topic_section_hits(stats, query, hits: list) -> list:
    """For an open question, the hits under the sub-heading that names its topic, when one does.

    Reports group a plan under a sub-heading (“（一）……推动区域协同发展走深走实”) whose paragraphs
    rarely repeat it; a paragraph elsewhere that does (a general line naming the topic among ten
    others) should not win. The sub-heading of the retrieved paragraphs holding the largest share
    of the question's weight, at least `TOPIC_SHARE`, keeps only its paragraphs; else all hits stay."""
    terms = term_weights(stats, query.terms)
    if not hits or not terms:
        return hits
    headings = {h.paragraph: stats.docs[h.doc].paragraph(h.paragraph).subsection for h in hits}
    scored = {head: _covered(terms, head) for head in set(headings.values()) if head}
    if not scored:
        return hits
    best = max(scored, key=lambda head: scored[head])
    if scored[best] < TOPIC_SHARE:
        return hits
    return [h for h in hits if headings[h.paragraph] == best]


def _row_problems(retriever: Retriever, doc: str, row: Row) -> list[str]:
    """A row's figures must be in the paragraphs it cites, under the same measure and range."""
    problems = []
    for text, paragraph in row.parts or ((row.value, row.paragraph),):
        source = retriever.index.docs[doc].paragraph(paragraph).text
        problems += [f"number {n} is not in the cited paragraph" for n in numbers_in(text) if n not in numbers_in(source)]
        problems += claim_problems(text, source)
    return problems


def satisfies(row: Row, condition: Condition | None) -> bool:
    """Does a row meet the selection's condition? A row with no figure never does; with no
    condition, every row that states something does."""
    if row.paragraph is None:
        return False
    if condition is None:
        return True
    return row.figure is not None and holds(condition, row.figure)


def cross_rows(retriever: Retriever, plan: CrossPlan, question: str, top_k: int, models=None) -> Iterator[Row]:
    """One row per document the plan asks, in order (`models`: the answer core's; None: the rules).
    Every document is asked much the same question: its embedding is computed once."""
    retriever = copy.copy(retriever)
    retriever.embedder = QueryCache(retriever.embedder)
    for doc in plan.targets:
        yield document_row(retriever, doc, question, top_k, models, plan)


class QueryCache:
    """An embedder that encodes each query text once (passages as the embedder does)."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.vectors: dict[str, object] = {}

    def encode(self, texts, role):
        if role != "query" or len(texts) != 1:
            return self.embedder.encode(texts, role)
        if texts[0] not in self.vectors:
            self.vectors[texts[0]] = self.embedder.encode(texts, role)
        return self.vectors[texts[0]]

    def __getattr__(self, name: str):
        return getattr(self.embedder, name)
