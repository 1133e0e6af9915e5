"""Definitions: the sentence that spells out the name a question asks about (“三地一区”指什么？).

Candidates are the sentences (one, or two in a row) of the retrieved paragraphs and of every
paragraph that writes the name. A model fitted on labelled definition questions
(`qa.answer.fitting.fit_definitions`) scores each by where the name stands in it and what follows
it (指/是/即, a colon), how many items it lists against the count asked (三地一区 → 3; 、 and ；
lists, quoted members), whether the hand-written finders of `qa.named_sets` chose it, and how it
was retrieved. An answer is the best sentence when the model is sure enough; otherwise the open
path answers as before. A whole enumeration (sub-headings that spell a set out) is `qa.answer.parts`'.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..analysis import CN_COUNT, Analysis
from ..evidence import _covered, shared_phrase
from ..named_sets import DEFINES, named_set_points
from ..numbers import FIGURE
from ..retrieval import CorpusStats, Hit, Query
from .open_rank import OPEN_DEPTH

SENTENCE_END = re.compile(r"(?<=[。！？])")
QUOTED = re.compile(r"[“「]([^”」]{1,20})[”」]")
MAX_CHARS = 220  # a candidate: one or two sentences, at most this long

DEF_NAMES = (
    "has_name", "name_pos", "defines_after", "colon_after", "n_dun", "n_semicolon", "n_quoted", "has_count", "count_dun",
    "count_semicolon", "count_quoted", "rule_found", "cover", "phrase", "hit", "hit_rank", "fused_rel", "chars", "two_sentences",
    "figures_per_100", "subheading",
)


@dataclass(frozen=True)
class Sentence:
    doc: str
    paragraph: int
    text: str


def asked_name(analysis: Analysis) -> str:
    """The name a definition question asks about: its quoted set, else its first quoted or Latin term."""
    if analysis.named_set:
        return analysis.named_set
    quoted = QUOTED.search(analysis.question)
    latin = re.search(r"[A-Za-z][A-Za-z0-9]{1,}", analysis.question)
    return quoted.group(1) if quoted else latin.group(0) if latin else ""


def _count(analysis: Analysis, name: str) -> int | None:
    if analysis.count:
        return analysis.count
    return CN_COUNT.get(name[:1]) if name else None


def definition_sentences(stats: CorpusStats, hits: list[Hit], name: str) -> list[Sentence]:
    """One- and two-sentence windows of the retrieved paragraphs and of those that write `name`."""
    docs = list(dict.fromkeys(h.doc for h in hits))[:2]
    numbers = {(h.doc, h.paragraph) for h in hits[:OPEN_DEPTH]}
    if name:
        numbers |= {(d, p.number) for d in docs for p in stats.docs[d].paragraphs if name in p.text}
    out = []
    for doc, number in sorted(numbers):
        text = stats.docs[doc].paragraph(number).text
        sentences = [s for s in SENTENCE_END.split(text) if s.strip()]
        for i, s in enumerate(sentences):
            out.append(Sentence(doc, number, s[:MAX_CHARS]))
            if i + 1 < len(sentences) and len(s) + len(sentences[i + 1]) <= MAX_CHARS:
                out.append(Sentence(doc, number, s + sentences[i + 1]))
    return out


def _lists(text: str) -> tuple[int, int, int]:
    """The longest 、 list of short items, the ；-clauses, and the quoted terms of `text`."""
    dun = max((len(c.split("、")) for c in re.split(r"[，。；：,;:]", text) if "、" in c), default=0)
    return dun, text.count("；") + 1 if "；" in text else 0, len(QUOTED.findall(text))


def definition_features(sentences: list[Sentence], stats: CorpusStats, hits: list[Hit], analysis: Analysis, terms: dict[str, float], name: str) -> np.ndarray:
    """One row per candidate sentence, in `DEF_NAMES` order."""
    if not sentences:
        return np.zeros((0, len(DEF_NAMES)))
    count = _count(analysis, name)
    rank = {(h.doc, h.paragraph): i for i, h in enumerate(hits)}
    top = (hits[0].score if hits else 1.0) or 1.0
    score = {(h.doc, h.paragraph): h.score / top for h in hits}
    found = named_set_points(stats, list(dict.fromkeys(h.doc for h in hits)), analysis, 70) if analysis.named_set else None
    chosen = [(p.doc, p.paragraph, p.text[:20]) for p in found.points] if found is not None else []
    question = analysis.question.replace("的", "")
    rows = []
    for s in sentences:
        at = s.text.find(name) if name else -1
        after = s.text[at + len(name) :].lstrip("”’\"」") if at >= 0 else ""
        dun, semi, quoted = _lists(s.text)
        key = (s.doc, s.paragraph)
        p = stats.docs[s.doc].paragraph(s.paragraph)
        rows.append([
            float(at >= 0), at / max(len(s.text), 1) if at >= 0 else 1.0, float(bool(DEFINES.match(after))), float(after[:1] in "：:"),
            float(dun), float(semi), float(quoted), float(count is not None),
            float(count is not None and dun == count), float(count is not None and semi == count), float(count is not None and quoted - (at >= 0) == count),
            float(any(d == s.doc and n == s.paragraph and t in s.text for d, n, t in chosen)),
            _covered(terms, s.text), shared_phrase(question, s.text.replace("的", ""), limit=12) / 12,
            float(key in rank), math.log1p(rank.get(key, len(hits))), score.get(key, 0.0), float(len(s.text)),
            float(len(SENTENCE_END.split(s.text.rstrip("。！？"))) > 1), 100.0 * len(FIGURE.findall(s.text)) / max(len(s.text), 1),
            float(p.text.startswith(p.subsection) and bool(p.subsection)),
        ])
    return np.asarray(rows, dtype=np.float64)


def best_definition(models, stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis, terms: dict[str, float]) -> tuple[Sentence | None, float]:
    """The sentence the definition model thinks spells the name out, and its probability."""
    if models.definition_ranker is None or not hits:
        return None, 0.0
    name = asked_name(analysis)
    sentences = definition_sentences(stats, hits, name)
    if not sentences:
        return None, 0.0
    scores = models.definition_ranker.predict(definition_features(sentences, stats, hits, analysis, terms, name))
    best = int(np.argmax(scores))
    return sentences[best], float(scores[best])
