"""Evidence selection: from retrieved paragraphs to the clause that answers, and how sure we are.

Retrieval finds paragraphs; an answer needs the few words inside them that answer. Every sentence
(or clause window) of the top paragraphs is scored by meaning (its embedding similarity to the
question), by the question's content words it contains (weighted by rarity), and by whether its
section is about the year the question asks. The best one is trimmed to the clauses that carry the
question's words and the figure asked for. The same scores give the evidence strength used to
refuse when the documents do not hold the answer.

Left out: any model call; this is cheap, deterministic and is the floor generation must beat.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .retrieval import Hit, Query, Retriever
from .text import SYNONYMS, precise_terms, tokenize

NUMBER = re.compile(r"\d+(?:\.\d+)?")
CLAUSE_SPLIT = re.compile(r"(?<=[，；：,;:])")
SPAN_MAX_CHARS = 70
CONTINUATION = ("增长", "达到", "达", "占", "分别", "同比", "比", "较", "居", "位列", "排名", "提高", "下降", "减少", "增加", "突破", "超过", "实现", "完成")
MEANING_WEIGHT = 1.0
OVERLAP_WEIGHT = 1.0
RANK_WEIGHT = 0.05
YEAR_MISMATCH_PENALTY = 0.3
MIN_EVIDENCE_SCORE = 1.30  # calibrated on dev: answerable ≥ 1.37, unanswerable ≤ 1.27
# Words that say what kind of answer is wanted, not what it is about; their absence proves nothing.
ASKING_WORDS = frozenset(
    "荣誉 比例 比重 占比 增速 增幅 增长率 实际 名字 名称 总量 目标 情况 成绩 成效 措施 内容 数量 数字 水平 规模 进展 结果 具体 现任 预期 预计 怎么样 如何".split()
)
NUMERAL = re.compile(r"[0-9０-９一二三四五六七八九十百千万亿两]")
KEY_TERM_SHARE = 0.8  # a question's key words weigh at least this share of its rarest word


@dataclass(frozen=True)
class Evidence:
    """One candidate sentence (or clause window) with its scores."""

    doc: str
    paragraph: int
    sentence: int
    text: str
    section: str
    meaning: float  # embedding similarity to the question
    overlap: float  # share of the question's content weight found in the sentence and its context
    score: float


@dataclass(frozen=True)
class Selection:
    """What the selector found: ranked evidence, the answer span from the best one, and strength."""

    query: Query
    hits: tuple[Hit, ...]
    evidence: tuple[Evidence, ...]
    spans: tuple[tuple[Evidence, str], ...]  # per asked year (or one): evidence and its answering clauses
    coverage: float  # share of the question's content weight found in the best paragraph
    absent: tuple[str, ...]  # question words that occur nowhere in the documents
    key_terms_found: bool = True  # every chosen sentence holds one of the question's rarest words
    wants_figure: bool = False

    @property
    def best(self) -> Evidence | None:
        return self.evidence[0] if self.evidence else None

    @property
    def strength(self) -> float:
        return self.best.score if self.best else 0.0

    @property
    def answerable(self) -> bool:
        """Strong evidence, no topic word the documents never mention, the question's key word in
        every chosen sentence, and a figure when the question asks for one."""
        return not self.why_refused

    @property
    def why_refused(self) -> str:
        """Why the evidence does not answer ("" when it does); logged with each refusal."""
        if not self.spans:
            return "no evidence"
        if self.absent:
            return f"the documents never mention {', '.join(self.absent)}"
        if self.strength < MIN_EVIDENCE_SCORE:
            return f"weak evidence ({self.strength:.3f} < {MIN_EVIDENCE_SCORE})"
        if not self.key_terms_found:
            return "the chosen sentences lack the question's key words"
        if self.wants_figure and not all(NUMERAL.search(span) for _, span in self.spans):
            return "the question asks for a figure and the evidence gives none"
        return ""


def term_weights(retriever: Retriever, terms: tuple[str, ...]) -> dict[str, float]:
    """IDF of each content term in the paragraph collection; unseen terms weigh the most."""
    top = max(retriever.bm25.idf.values(), default=1.0)
    weights = {}
    for term in dict.fromkeys(terms):
        if len(term) == 1 and term not in retriever.bm25.idf:
            continue
        weights[term] = retriever.bm25.idf.get(term, top)
    return weights


def _covered(terms: dict[str, float], text: str) -> float:
    total = sum(terms.values())
    if not total:
        return 0.0
    return sum(w for t, w in terms.items() if t in text) / total


def _numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def split_clauses(sentence: str) -> list[str]:
    """Clauses at ，；： and, between items that both hold figures, at 、 (`项目36个、人才2473名`)."""
    out: list[str] = []
    for clause in (c for c in CLAUSE_SPLIT.split(sentence) if c):
        items = re.split(r"(?<=、)", clause)
        current = items[0]
        for item in items[1:]:
            if _numbers(current) and _numbers(item):
                out.append(current)
                current = item
            else:
                current += item
        out.append(current)
    return out


QUANTITY_QUESTION = re.compile(r"多少|多大|几|比例|比重|[^\w]?率|增长|增速|百分|规模|总额|总量|数量|金额|标准|目标|排名|第几")


def asks_for_figure(question: str) -> bool:
    """Does the question want a quantity (多少, 几, 增长…) rather than a name or a fact?"""
    return bool(QUANTITY_QUESTION.search(question))


def trim_span(sentence: str, terms: dict[str, float], limit: int = SPAN_MAX_CHARS, wants_figure: bool = True) -> str:
    """The clauses of `sentence` that hold the question's words, extended to include a figure.

    Start at the clause with the most question weight; take following clauses while the span has
    no figure yet (for questions that want one), or the next clause continues it (增长…, 占…), or it brings question words the
    span lacks; take the previous clause if the span starts with a continuation word. A figure
    next door that answers nothing asked stays out, so it cannot be mistaken for the answer.
    Stops at `limit` characters.
    """
    clauses = split_clauses(sentence)
    if len(clauses) == 1:
        return sentence.rstrip("，；：。、,;:")
    scores = [_covered(terms, c) for c in clauses]
    best = max(range(len(clauses)), key=lambda i: (scores[i], bool(_numbers(clauses[i]))))
    start = end = best
    if clauses[start].startswith(CONTINUATION) and start > 0:
        start -= 1

    def span() -> str:
        return "".join(clauses[start : end + 1])

    while end + 1 < len(clauses):
        nxt = clauses[end + 1]
        if len(span()) + len(nxt) > limit:
            break
        covered = {t for t in terms if t in span()}
        new_terms = any(t in nxt and t not in covered and not any(t in c for c in covered) for t in terms)
        if not ((wants_figure and not _numbers(span())) or nxt.startswith(CONTINUATION) or new_terms):
            break
        end += 1
    return span().rstrip("，；：。、,;:")


def select_evidence(retriever: Retriever, query: Query, hits: list[Hit]) -> Selection:
    """Score every sentence of the retrieved paragraphs and pick the answer span."""
    terms = term_weights(retriever, query.terms)
    asked = set(query.years)
    candidates: list[Evidence] = []
    for rank, hit in enumerate(hits):
        doc = retriever.index.docs[hit.doc]
        paragraph = doc.paragraph(hit.paragraph)
        context = " ".join(x for x in (paragraph.section, paragraph.subsection) if x)
        year_penalty = YEAR_MISMATCH_PENALTY if asked and paragraph.year is not None and paragraph.year not in asked else 0.0
        seen: dict[tuple[int, str], float] = {}
        for sent in hit.sentences:  # retrieve with enough sentences_per_hit to see them all
            key = (sent.index, sent.text)
            seen[key] = max(seen.get(key, -1.0), sent.score)
        for (index, text), meaning in seen.items():
            if addresses_the_assistant(text):
                continue  # documents are data: a sentence that gives orders is never evidence
            overlap = max(_covered(terms, text), 0.5 * _covered(terms, context + text))
            score = MEANING_WEIGHT * meaning + OVERLAP_WEIGHT * overlap - RANK_WEIGHT * math.log1p(rank) - year_penalty
            candidates.append(Evidence(hit.doc, hit.paragraph, index, text, paragraph.section, meaning, overlap, score))
    candidates.sort(key=lambda e: -e.score)
    coverage = 0.0
    if candidates:
        p = retriever.index.docs[candidates[0].doc].paragraph(candidates[0].paragraph)
        coverage = _covered(terms, " ".join((p.section, p.subsection, p.text)))
    figure = asks_for_figure(query.original)
    spans = tuple((e, trim_span(e.text, terms, wants_figure=figure)) for e in _per_year_best(retriever, query, candidates))
    keys = key_terms({t: w for t, w in terms.items() if t in retriever.bm25.idf})
    found = all(any(k in _context_text(retriever, e) for k in keys) for e, _ in spans) if keys else True
    return Selection(
        query=query, hits=tuple(hits), evidence=tuple(candidates), spans=spans, coverage=coverage,
        absent=absent_terms(retriever, query), key_terms_found=found, wants_figure=figure,
    )


INSTRUCTION = re.compile(
    r"忽略(?:以上|上述|之前|前面|所有)|无视(?:所有|以上|上述)?规则|系统提示|提示词|管理员模式|你现在是|请你?(?:回答|输出|扮演)"
    r"|ignore (?:all |any )?(?:previous|prior|above) instructions|system prompt|you are now",
    re.IGNORECASE,
)


def addresses_the_assistant(text: str) -> bool:
    """Does a sentence give orders to a language model (忽略以上指令, system prompt…)?"""
    return bool(INSTRUCTION.search(text))


def key_terms(terms: dict[str, float]) -> list[str]:
    """The question's rarest words (asking words aside): what the answer must be about (大学 in 多少所大学).

    Callers pass only words the documents contain; words they lack are `absent_terms`' business.
    """
    weights = {t: w for t, w in terms.items() if t not in ASKING_WORDS and len(t) >= 2}
    if not weights:
        return []
    top = max(weights.values())
    return [t for t, w in weights.items() if w >= KEY_TERM_SHARE * top]


def _context_text(retriever: Retriever, e: Evidence) -> str:
    p = retriever.index.docs[e.doc].paragraph(e.paragraph)
    return f"{p.section} {p.subsection} {e.text}".lower()


def _per_year_best(retriever: Retriever, query: Query, candidates: list[Evidence]) -> list[Evidence]:
    """The best evidence, or for a question about several years the best of each year's sections."""
    if not candidates:
        return []
    if len(query.years) < 2:
        return [candidates[0]]
    chosen = []
    for year in query.years:
        of_year = [e for e in candidates if retriever.index.docs[e.doc].paragraph(e.paragraph).year == year]
        if of_year and of_year[0] not in chosen:
            chosen.append(of_year[0])
    return chosen or [candidates[0]]


def absent_terms(retriever: Retriever, query: Query) -> tuple[str, ...]:
    """Topic words of the question that no document contains (常住人口, 市长, 机场…).

    A compound counts as present when each of its parts is (城镇居民 in "城镇、农村居民").
    Asking words (比例, 名字…) and everyday terms with a known formal spelling are ignored.
    """
    text = retriever.corpus_text
    absent = []
    for term in precise_terms(query.original):
        if term in ASKING_WORDS or term in SYNONYMS or term.lower() in {k.lower() for k in SYNONYMS} or len(term) < 2:
            continue
        if term.lower() in text:
            continue
        parts = [t for t in tokenize(term) if len(t) >= 2 and t != term.lower()]
        if parts and all(t in text for t in parts):
            continue
        absent.append(term)
    return tuple(absent)
