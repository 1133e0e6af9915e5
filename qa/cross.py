"""Questions across documents: one verified, cited row per document.

- a comparison of the documents a question names (“A和B……分别”);
- a selection (“哪些省份……5%左右”): the documents whose cited figure states the asked value in
  the same form. The rule, checked in code (`satisfies`): a row matches when its clause holds the
  asked figure with the same unit and qualifier — “5%左右” matches “5%左右”, not “5%—5.5%”,
  “5%以上” or “5.5%左右”; a question that asks no figure keeps every document that states one;
- a table over all documents (“各省……”), as a Markdown table.

Each document's row comes from the same machinery as a single-document answer, retrieval scoped
to that document and the question asked as if routed to it alone (without its name, the others'
names or the group): the clauses that answer a fact question, or for an open one the first points
of the best paragraph under the sub-heading that names the topic, after that paragraph's lead phrase.
Rows are yielded one at a time, so that answers stream row by row (`Engine._cross`). A document that does not state it is “未提及”, never guessed. Rows are extractive (no
model call) and each is checked like a point: its figures must be in the paragraph it cites, under
the same measure and range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterator

from .analysis import Analysis, analyze
from .claims import claim_problems
from .evidence import _covered, select_evidence, term_weights
from .grounding import numbers_in
from .lexicon import lexicon
from .points import select_points
from .retrieval import Retriever
from .routing import document_names, short_name, without_names

NOT_STATED = "未提及"
ASKED_VALUE = re.compile(r"(\d+(?:\.\d+)?)\s*([%％‰]|个百分点)?\s*(左右|以上|以内|以下|上下)?")
ROW_CHARS = 60
OPEN_HITS = 3  # an open row searches this many times top_k paragraphs, to find its topic's sub-heading
LEAD_CHARS = 20  # a paragraph's opening sentence at most this long is its lead phrase (`lead_phrase`)
TOPIC_SHARE = 0.5  # of the question's weight a sub-heading must hold to be its topic (`topic_section_hits`)


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
    """The row of one document: a fact's clauses or an open question's first points, checked.

    The document is asked as a question routed to it alone would be (`Engine.retrieve`): without
    its own name, against its own years (去年 is the year before the one it plans for)."""
    docs = retriever.index.docs
    title = docs[doc].title
    own = without_names(_per_document_question(question, doc, docs), [doc], docs)
    analysis: Analysis = analyze(own)
    if analysis.kind in ("range", "fromto"):
        analysis = replace(analysis, kind="number")
    query = retriever.prepare(analysis.search_text, doc=doc)
    query = replace(query, terms=analysis.terms(query.terms))
    stats = retriever.stats_for([doc])
    value, paragraph = "", None
    if analysis.open or analysis.kind == "definition":
        hits = retriever.search_query(query, k=OPEN_HITS * top_k, sentences_per_hit=1000, docs=[doc])
        hits = topic_section_hits(stats, query, hits)[:top_k]
        found = select_points(stats, query, hits, analysis, outline=False)
        first = best_points([p for p in found.points if p.paragraph == found.points[0].paragraph], stats, query) if found.points else []
        if not found.why_refused and first:
            value, paragraph = "；".join(p.text for p in first), first[0].paragraph
            lead = lead_phrase(docs[doc].paragraph(paragraph))
            if lead and lead not in value:
                value = f"{lead}：{value}"
    else:
        hits = retriever.search_query(query, k=top_k, sentences_per_hit=1000, docs=[doc])
        selection = select_evidence(stats, query, hits, analysis)
        if selection.answerable:
            e, span = selection.spans[0]
            value, paragraph = span, e.paragraph
    if paragraph is None or _row_problems(retriever, doc, paragraph, value):
        return Row(doc, title, short_name(doc, title), NOT_STATED)
    if len(value) > 2 * ROW_CHARS:
        value = value[: 2 * ROW_CHARS].rsplit("，", 1)[0]
    return Row(doc, title, short_name(doc, title), value, paragraph)


def lead_phrase(paragraph) -> str:
    """The short sentence a plan's paragraph opens with (“打造……圈。”): what the
    paragraph is about, which points leave out as a heading; "" when it has none."""
    first = re.split(r"(?<=[。；！？])", paragraph.text, maxsplit=1)[0].strip()
    if not first.endswith("。") or len(first) > LEAD_CHARS or (paragraph.subsection and paragraph.text.startswith(paragraph.subsection)):
        return ""
    return first.rstrip("。") if not numbers_in(first) else ""


def best_points(points: list, stats, query, n: int = 2) -> list:
    """The `n` points of one paragraph that hold the most of the question's weight (the earlier on
    a tie), in document order: a row is short, and a paragraph's opening points need not be the
    ones about the topic asked."""
    terms = term_weights(stats, query.terms)
    ranked = sorted(range(len(points)), key=lambda i: (-_covered(terms, points[i].text), i))[:n]
    return [points[i] for i in sorted(ranked)]


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
