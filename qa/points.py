"""Evidence for open questions: the cited points that answer a plan, list, achievement, problem,
definition or summary question.

- a summary of the whole report: its parts (top-level headings);
- a summary of a named part (最后一部分, 政府自身建设): the lead sentence of each of its paragraphs;
- a named set (“六个新高地”, “五新”): where the report spells it out (`qa/named_sets.py`);
- anything else: the sentences of the best paragraph (and of the next one when it scores nearly as
  well), ranked by the question's words and meaning, cut at clause boundaries, shown in the order
  of the document.

Each point is trimmed from its source and keeps its figures as written; `verify_points` drops a
point whose figures are not in the paragraph it cites. Model-written points (the model's rewrite
of these, line by line) are `qa/point_writer.py`'s, for the kinds of `[generation] model_open_kinds`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .analysis import Analysis
from .claims import claim_problems
from .evidence import _candidates, _covered, key_terms, shared_phrase, split_clauses, term_weights
from .refusal import names_not_in, topic_nouns
from .grounding import numbers_in
from .lexicon import tuning
from .named_sets import named_set_points
from .outline import series_points, subsection_points
from .retrieval import CorpusStats, Hit, Query

SENTENCE = re.compile(r"(?<=[。；！？])")
WHOLE_REPORT = re.compile(r"报告|整体|全文|整个|这份")
ORDINAL_PART = {"第一": 0, "第二": 1, "第三": 2, "第四": 3, "第五": 4, "最后": -1}


@dataclass(frozen=True)
class Point:
    doc: str
    paragraph: int
    text: str


@dataclass(frozen=True)
class Points:
    """An open answer's evidence: its points in document order and how many there were in all."""

    points: tuple[Point, ...]
    total: int
    why_refused: str = ""
    form: str = "paragraph"  # parts, items (an enumeration, `qa.answer.parts`), section, set, paragraph


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if s.strip()]


def cut(text: str, limit: int) -> str:
    """`text` up to `limit` characters, cut after a whole clause (never inside a figure)."""
    text = text.strip().rstrip("。；")
    if len(text) <= limit:
        return text
    out = ""
    for clause in split_clauses(text):
        if len(out) + len(clause) > limit:
            break
        out += clause
    return (out or text[:limit]).rstrip("，；：、,;:")


def _headings(stats: CorpusStats, doc: str) -> list:
    return [p for p in stats.docs[doc].paragraphs if p.is_heading]


def _whole_report(stats: CorpusStats, doc: str) -> Points:
    parts = _headings(stats, doc)
    return Points(tuple(Point(doc, p.number, p.text) for p in parts), len(parts), form="parts")


def _named_section(stats: CorpusStats, doc: str, question: str, terms: dict[str, float]):
    """The top-level section the question names (by ordinal or by its heading's words), or None."""
    parts = _headings(stats, doc)
    if not parts:
        return None
    for word, index in ORDINAL_PART.items():
        if re.search(f"{word}一?(?:个)?部分", question) and -len(parts) <= index < len(parts):
            return parts[index]
    scored = [(sum(w for t, w in terms.items() if t in p.text), p) for p in parts]
    score, best = max(scored, key=lambda x: x[0])
    total = sum(terms.values()) or 1.0
    return best if score / total >= 0.5 else None


def _section_points(stats: CorpusStats, doc: str, heading, limit: int) -> Points:
    body = [p for p in stats.docs[doc].paragraphs if p.section == heading.text and p.number != heading.number]
    points = [Point(doc, p.number, cut(_sentences(p.text)[0], limit)) for p in body if _sentences(p.text)]
    return Points(tuple(points), len(points), form="section")


def chunks(sentence: str, limit: int) -> list[str]:
    """A sentence as points: whole when short, else runs of consecutive clauses of at most `limit`."""
    sentence = sentence.strip().rstrip("。；")
    if len(sentence) <= limit:
        return [sentence]
    out, current = [], ""
    for clause in split_clauses(sentence):
        if current and len(current) + len(clause) > limit:
            out.append(current.rstrip("，；：、,;:"))
            current = ""
        current += clause
    if current:
        out.append(current.rstrip("，；：、,;:"))
    return [cut(c, limit) for c in out if len(c) >= 6]


def _heading_match(stats: CorpusStats, hit: Hit, terms: dict[str, float]) -> float:
    """Share of the question's weight in the paragraph's sub-heading or lead sentence (its topic)."""
    doc = stats.docs[hit.doc]
    p = doc.paragraph(hit.paragraph)
    lead = p.subsection if p.text.startswith(p.subsection or "\0") else _sentences(p.text)[0][:40]
    if hit.paragraph > 1:
        before = doc.paragraph(hit.paragraph - 1).text
        if len(before) <= 40 and len(_sentences(before)) == 1 and not before.startswith(p.subsection or "\0"):
            lead = f"{before} {lead}"  # 这是粤港澳大湾区建设纵深推进的五年。 heads the paragraph after it
    return _covered(terms, lead)


def best_paragraphs(stats: CorpusStats, hits: list[Hit], terms: dict[str, float], years: tuple[int, ...] = (), question: str = "") -> list[Hit]:
    """The retrieved paragraphs re-ranked for an open answer: retrieval score, its topic line, how
    much of the question its text holds (its words, and the longest phrase it repeats), and whether its section is about the year asked (a plan
    for this year, not for the next five)."""
    top = hits[0].score or 1.0
    bonus = tuning()["points"]["asked_year_bonus"]
    weight = tuning()["points"]["text_match_weight"]

    def key(h: Hit) -> float:
        text = stats.docs[h.doc].paragraph(h.paragraph).text
        year = bonus if years and h.year in years else 0.0
        phrase = shared_phrase(question.replace("的", ""), text.replace("的", ""), limit=12) / 12 if question else 0.0  # 的 is filler
        return h.score / top + _heading_match(stats, h, terms) + weight * (_covered(terms, text) + phrase) + year

    return sorted(hits, key=lambda h: -key(h))


def _paragraph_points(stats: CorpusStats, ranked_hits: list[Hit], terms: dict[str, float], analysis: Analysis) -> Points:
    conf = tuning()["points"]
    candidates: list[tuple[float, int, int, Point]] = []
    for h_rank, hit in enumerate(ranked_hits[:2]):
        if h_rank and len(candidates) >= 3:
            break  # a second paragraph only when the first has too little to say
        paragraph = stats.docs[hit.doc].paragraph(hit.paragraph)
        meaning = {s.text: s.score for s in hit.sentences}
        pieces = [c for i, sentence in enumerate(_sentences(paragraph.text)) if not (paragraph.subsection and i == 0 and len(sentence) <= 40) for c in chunks(sentence, conf["point_chars"])]
        for i, piece in enumerate(pieces):
            best_meaning = max((v for k, v in meaning.items() if piece[:12] in k or k[:12] in piece), default=0.0)
            score = _covered(terms, piece) + best_meaning - 0.2 * h_rank
            candidates.append((score, h_rank, i, Point(hit.doc, hit.paragraph, piece)))
    ranked = sorted(candidates, key=lambda c: -c[0])
    kept, used = [], 0
    for c in ranked:
        if len(kept) >= conf["max_points"] or used + len(c[3].text) > conf["max_chars"] - 30:
            continue
        if c[1] and c[0] < conf["second_paragraph_share"] * ranked[0][0]:
            continue  # from the second paragraph only what is nearly as relevant as the best point
        kept.append(c)
        used += len(c[3].text) + 4
    kept.sort(key=lambda c: (c[1], c[2]))
    return Points(tuple(c[3] for c in kept), len(candidates))


def select_points(stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis, outline: bool = True, ranked: bool = False) -> Points:
    """The points that answer an open question, or a Points with `why_refused` set. `outline`:
    may answer with the report's outline (`qa/outline.py`); a one-paragraph cross row may not.
    `ranked`: `hits` are already ranked and judged by the open ranker (`qa.answer.open_rank`), so
    neither the score floor nor the hand-weighted re-ranking applies."""
    conf = tuning()["points"]
    if not hits:
        return Points((), 0, "no evidence")
    doc = hits[0].doc
    terms = term_weights(stats, query.terms)
    generic_only = not [t for t in topic_nouns(analysis.question) if not WHOLE_REPORT.search(t)]
    if analysis.kind == "summary" and generic_only and WHOLE_REPORT.search(analysis.question):
        return _whole_report(stats, doc)
    if analysis.kind == "summary" and ("部分" in analysis.question or "方面" in analysis.question):
        heading = _named_section(stats, doc, analysis.question, terms)
        if heading is not None:
            return _section_points(stats, doc, heading, conf["point_chars"])
    if analysis.kind == "definition":
        in_scope = dict.fromkeys([*(h.doc for h in hits), *stats.docs])  # a name is literal: look in every document, retrieved first
        found = named_set_points(stats, list(in_scope), analysis, conf["point_chars"])
        if found is not None:
            return found
    if not ranked:
        candidates = _candidates(stats, query, hits, terms, analysis)
        if not candidates or candidates[0].score < conf["min_open_score"]:
            score = candidates[0].score if candidates else 0.0
            return Points((), 0, f"weak evidence for an open answer ({score:.3f} < {conf['min_open_score']})")
    ranked = hits if ranked else best_paragraphs(stats, hits, terms, query.years, analysis.question)
    keys = key_terms({t: w for t, w in terms.items() if t in stats.idf})
    outlined = subsection_points(stats, ranked, keys, conf["point_chars"], conf["max_points"]) if outline else None
    if outline and outlined is None and analysis.kind in ("summary", "list", "plan"):
        outlined = series_points(stats, ranked, conf["point_chars"], conf["max_points"])
    found = outlined or _paragraph_points(stats, ranked, terms, analysis)
    unnamed = names_not_in(analysis, [stats.docs[p.doc].paragraph(p.paragraph).text for p in found.points])
    if found.points and unnamed:  # points about “川超” do not answer a question about “苏超”
        return Points((), 0, f"the chosen paragraphs never name {', '.join(unnamed)}")
    return found


def verify_points(points: tuple[Point, ...], stats: CorpusStats) -> tuple[tuple[Point, ...], list[str]]:
    """Keep the points whose figures are in the paragraph they cite, under the same measure and range."""
    kept, problems = [], []
    for point in points:
        source = stats.docs[point.doc].paragraph(point.paragraph).text
        missing = [n for n in numbers_in(point.text) if n not in numbers_in(source)]
        issues = [f"number {n} is not in paragraph {point.paragraph}" for n in missing] + claim_problems(point.text, source)
        if issues:
            problems += issues
            continue
        kept.append(point)
    return tuple(kept), problems
