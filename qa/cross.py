"""Questions across documents: one verified, cited row per document.

- a comparison of the documents a question names (“A和B……分别”);
- a selection (“哪些省份……5%左右”): the documents whose cited figure states the asked value in
  the same form. The rule, checked in code (`satisfies`): a row matches when its clause holds the
  asked figure with the same unit and qualifier — “5%左右” matches “5%左右”, not “5%—5.5%”,
  “5%以上” or “5.5%左右”; a question that asks no figure keeps every document that states one;
- a table over all documents (“各省……”), as a Markdown table.

Each document's row comes from the same machinery as a single-document answer, retrieval scoped
to that document: the clauses that answer a fact question, or the best paragraph's first points for
an open one. A document that does not state it is “未提及”, never guessed. Rows are extractive (no
model call) and each is checked like a point: its figures must be in the paragraph it cites, under
the same measure and range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterator

from .analysis import Analysis, analyze
from .claims import claim_problems
from .evidence import select_evidence
from .grounding import numbers_in
from .lexicon import lexicon
from .points import select_points
from .retrieval import Retriever
from .routing import document_names, short_name

NOT_STATED = "未提及"
ASKED_VALUE = re.compile(r"(\d+(?:\.\d+)?)\s*([%％‰]|个百分点)?\s*(左右|以上|以内|以下|上下)?")
ROW_CHARS = 60


@dataclass(frozen=True)
class Row:
    """One document's answer: the value as written, and the paragraph it cites (None: not stated)."""

    doc: str
    title: str
    name: str  # short name for display (江苏)
    value: str
    paragraph: int | None = None

    def to_json(self) -> dict:
        citation = {"doc": self.doc, "paragraph": self.paragraph} if self.paragraph is not None else None
        return {"doc": self.doc, "title": self.title, "value": self.value, "citation": citation}


def cross_mode(question: str, named: list[str], n_docs: int) -> str:
    """"compare", "select", "table", or "" for a single-document question."""
    if len(named) >= 2:
        return "compare"
    if named or n_docs < 2:
        return ""
    lowered = question.lower()
    for mode in ("select", "table"):
        if any(cue in lowered for cue in lexicon()["cross"][mode]):
            return mode
    return ""


def _per_document_question(question: str, doc: str, docs: dict) -> str:
    """The question without the other documents' names and without 分别/各 (asked of one document)."""
    text = question
    for other, d in docs.items():
        if other != doc:
            for name in sorted(document_names(other, d), key=len, reverse=True):
                text = text.replace(name, "")
    for cue in sorted((c for cues in lexicon()["cross"].values() for c in cues), key=len, reverse=True):
        text = text.replace(cue, "")
    text = re.sub(r"分别|各自|各有|各(?=[打增达是为])", lambda m: "有" if m.group(0) == "各有" else "", text)
    text = re.sub(r"[两二三四五六七八九十]+(?:个)?(?:省份|省|市|地区|地|区)", "", text)  # 三省, 两地: the group, not a place
    text = re.sub(r"(?:定在|定为|达到|超过)?\s*\d+(?:\.\d+)?\s*[%％]?\s*(?:左右|以上|以内|以下)?(?=[？?。，]|$)", "", text)  # the asked value
    text = re.sub(r"[和、与及]+(?=[^\u4e00-\u9fff]|今年|去年|明年|\d|的|在|[和、与及])", "", text)
    return re.sub(r"^[和、与及把将，,\s]+", "", text)


def document_row(retriever: Retriever, doc: str, question: str, top_k: int) -> Row:
    """The row of one document: a fact's clauses or an open question's first points, checked."""
    docs = retriever.index.docs
    title = docs[doc].title
    own = _per_document_question(question, doc, docs)
    analysis: Analysis = analyze(own)
    if analysis.kind in ("range", "fromto"):
        analysis = replace(analysis, kind="number")
    query = retriever.prepare(analysis.search_text, doc=doc)
    hits = retriever.search_query(query, k=top_k, sentences_per_hit=1000, docs=[doc])
    stats = retriever.stats_for([doc])
    value, paragraph = "", None
    if analysis.open or analysis.kind == "definition":
        found = select_points(stats, query, hits, analysis)
        first = [p for p in found.points if found.points and p.paragraph == found.points[0].paragraph][:2]
        if not found.why_refused and first:
            value, paragraph = "；".join(p.text for p in first), first[0].paragraph
    else:
        selection = select_evidence(stats, query, hits, analysis)
        if selection.answerable:
            e, span = selection.spans[0]
            value, paragraph = span, e.paragraph
    if paragraph is None or _row_problems(retriever, doc, paragraph, value):
        return Row(doc, title, short_name(doc, title), NOT_STATED)
    if len(value) > 2 * ROW_CHARS:
        value = value[: 2 * ROW_CHARS].rsplit("，", 1)[0]
    return Row(doc, title, short_name(doc, title), value, paragraph)


def _row_problems(retriever: Retriever, doc: str, paragraph: int, value: str) -> list[str]:
    source = retriever.index.docs[doc].paragraph(paragraph).text
    missing = [n for n in numbers_in(value) if n not in numbers_in(source)]
    return [f"number {n} is not in the cited paragraph" for n in missing] + claim_problems(value, source)


def asked_value(question: str) -> tuple[str, str, str] | None:
    """The figure a selection asks about, with its unit and qualifier (“5%左右” → ("5", "%", "左右"))."""
    for m in ASKED_VALUE.finditer(question):
        if re.fullmatch(r"(19|20)\d\d", m.group(1)) and question[m.end() : m.end() + 1] == "年":
            continue  # a year
        return m.group(1), (m.group(2) or "").replace("％", "%"), m.group(3) or ""
    return None


def satisfies(row: Row, wanted: tuple[str, str, str] | None) -> bool:
    """Does a row state the asked value in the same form (see the module docstring)?"""
    if row.paragraph is None:
        return False
    if wanted is None:
        return True
    figure, unit, qualifier = wanted
    for m in ASKED_VALUE.finditer(row.value.replace("％", "%")):
        in_range = re.match(r"\s*[—–\-~～至到]\s*\d", row.value[m.end() :])
        before_range = re.search(r"\d\s*[%％]?\s*[—–\-~～至到]\s*$", row.value[: m.start()])
        if m.group(1) == figure and (m.group(2) or "") == unit and (m.group(3) or "") == qualifier and not in_range and not before_range:
            return True
    return False


def cross_rows(retriever: Retriever, mode: str, question: str, named: list[str], scope: tuple[str, ...], top_k: int) -> Iterator[Row]:
    """One row per document in question (the named ones, or every document in scope), in order."""
    targets = named if mode == "compare" else [d for d in retriever.index.docs if not scope or d in scope]
    for doc in targets:
        yield document_row(retriever, doc, question, top_k)
