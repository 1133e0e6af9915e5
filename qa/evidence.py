"""Evidence for fact questions: from retrieved paragraphs to the clauses that answer, and whether they do.

Every sentence (or clause window) of the top paragraphs is scored by meaning (embedding similarity
to the question), by the question's content words it contains (weighted by rarity), by whether its
section is about the year asked, and by whether it has what the question's kind asks for (a figure,
a rank, the measure asked: 人均, 增长, 占比). The best one is trimmed to the clauses around its best
clause, keeping whole ranges and qualifiers (5%—5.5%, 6%左右). The same scores decide refusal, and
a *near miss* (the documents give the total when the per-capita value is asked) is answered with
what they do hold, marked as a refusal.

Left out: any model call; this is cheap, deterministic and is the floor generation must beat.
Open questions (several points) are `points`' business.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .analysis import Analysis
from .lexicon import lexicon, measure_words, tuning
from .numbers import FIGURE
from .refusal import _own_names, absent_terms, names_not_in, near_miss, places_not_in
from .retrieval import CorpusStats, Hit, Query
from .text import with_equivalents

CLAUSE_SPLIT = re.compile(r"(?<=[，；：,;:])")
RANK = re.compile(r"第[一二三四五六七八九十\d]+|首位|首个|前[一二三四五六七八九十\d]+|[一二三四五六七八九十\d]+连冠|位居|位列|居全")
NAME = re.compile(r"[“《「][^”》」]{2,30}[”》」]")
MEASURE_MARKS = {"per_capita": ("人均",), "growth": ("增长", "增速", "下降", "提高", "提升", "减少", "降低"), "share": ("占比", "比重", "占", "%", "率")}


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
    """What the selector found: ranked evidence, the answer clauses, and why it would refuse."""

    query: Query
    analysis: Analysis
    evidence: tuple[Evidence, ...]
    spans: tuple[tuple[Evidence, str], ...]  # per asked year (or one): evidence and its answering clauses
    absent: tuple[str, ...]  # topic words that occur nowhere in the documents
    key_terms_found: bool = True
    near_miss: str = ""
    other_places: tuple[str, ...] = ()  # places and quoted names the question names that the chosen sentences do not
    decision: str | None = None  # a learned verdict (`qa.answer.decide`): "" answers, else why not; None: the rules below
    confidence: float = 0.0  # the answerability model's probability that the spans answer
    answer_figures: tuple[str, ...] = ()  # the spans' figures that measure what is asked (`qa.answer.checks`); () when unknown

    @property
    def best(self) -> Evidence | None:
        return self.evidence[0] if self.evidence else None

    @property
    def strength(self) -> float:
        return self.best.score if self.best else 0.0

    @property
    def answerable(self) -> bool:
        return not self.why_refused

    @property
    def why_refused(self) -> str:
        """Why the evidence does not answer ("" when it does); logged with each refusal."""
        if self.decision is not None:
            return self.decision
        if not self.spans:
            return "no evidence"
        limits = tuning()["refusal"]
        if self.absent and self.strength < limits["min_score_with_absent"]:
            return f"the documents never mention {', '.join(self.absent)} ({self.strength:.3f} < {limits['min_score_with_absent']})"
        if self.strength < limits["min_evidence_score"]:
            return f"weak evidence ({self.strength:.3f} < {limits['min_evidence_score']})"
        if self.other_places:
            return f"the chosen sentences are not about {', '.join(self.other_places)}"
        if not self.key_terms_found and self.best is not None and self.best.overlap < tuning()["refusal"]["key_word_overlap"]:
            return "the chosen sentences lack the question's key words"
        if self.analysis.wants_figure and not all(FIGURE.search(span) or RANK.search(span) for _, span in self.spans):
            return "the question asks for a figure and the evidence gives none"
        if self.near_miss:
            return f"near miss: the documents do not give {self.near_miss}"
        return ""


def term_weights(stats: CorpusStats, terms: tuple[str, ...]) -> dict[str, float]:
    """IDF of each content term in the paragraph collection; unseen terms weigh the most."""
    top = max(stats.idf.values(), default=1.0)
    own = _own_names(stats)
    weights = {}
    for term in dict.fromkeys(terms):
        if term in own:
            continue  # the document's own name: retrieval is scoped to it, its sentences need not repeat it
        if len(term) == 1:
            continue  # a lone character (所, 个) is a unit or a particle, not what the question is about
        weights[term] = stats.idf.get(term, top)
    return weights


def followup_focus(terms: dict[str, float], analysis: Analysis) -> dict[str, float]:
    """A follow-up's own words weigh more than the earlier turn's: “那去年引进了多少家首店？” after a
    question about 单项冠军企业 is about 首店; the earlier turn only fills in what it leaves out."""
    if not analysis.followup:
        return terms
    factor = tuning()["evidence"]["followup_own_weight"]
    own = with_equivalents(analysis.question)
    generic = measure_words()  # 那今年的目标呢: no topic of its own
    return {t: w * factor if t in own and t not in generic else w for t, w in terms.items()}


def _covered(terms: dict[str, float], text: str) -> float:
    """Share of the question's term weight found in `text` (either spelling of a synonym counts)."""
    total = sum(terms.values())
    if not total:
        return 0.0
    text = with_equivalents(text)
    return sum(w for t, w in terms.items() if t in text) / total


def split_clauses(sentence: str) -> list[str]:
    """Clauses at ，；： and, between items that both hold figures, at 、 (`项目36个、人才2473名`)."""
    out: list[str] = []
    for clause in (c for c in CLAUSE_SPLIT.split(sentence) if c):
        items = re.split(r"(?<=、)", clause)
        current = items[0]
        for item in items[1:]:
            if FIGURE.search(current) and FIGURE.search(item):
                out.append(current)
                current = item
            else:
                current += item
        out.append(current)
    return out


def features(text: str, analysis: Analysis) -> float:
    """How much of what the question's kind and measures ask for `text` has (0 to 1)."""
    wanted, have = 0, 0
    if analysis.wants_figure or analysis.kind in ("fact", "yesno"):
        wanted += 1
        have += bool(FIGURE.search(text))
    if analysis.kind == "rank":
        wanted += 1
        have += bool(RANK.search(text)) and not other_ranking_scope(analysis.question, text)
    if analysis.kind == "name":
        wanted += 1
        have += bool(NAME.search(text))
    for measure, marks in MEASURE_MARKS.items():
        if measure in analysis.measures:
            wanted += 1
            have += any(m in text for m in marks)
    score = have / wanted if wanted else 0.0
    if "average" not in analysis.measures and any(m in text for m in lexicon()["asks"]["average"]):
        score -= 0.5  # a yearly average over a period answers no question about one year
    return score


def other_ranking_scope(question: str, text: str) -> bool:
    """A rank among something else than asked: the question asks its place 在全省, `text` ranks 全国."""
    scopes = lexicon()["forms"]["rank_scopes"]
    asked = {s for s in scopes if s in question}
    stated = {s for s in scopes if s in text}
    return bool(asked and stated and not asked & stated)


PHRASE_WEIGHT = 0.05  # per character of the longest run of the question's words a clause repeats


def shared_phrase(question: str, text: str, limit: int = 8) -> int:
    """Length of the longest run of characters the question and `text` share (创新指数), at most `limit`."""
    from difflib import SequenceMatcher

    match = SequenceMatcher(None, question, text, autojunk=False).find_longest_match(0, len(question), 0, len(text))
    return min(match.size, limit) if match.size >= 2 else 0


def figure_context(terms: dict[str, float], text: str, width: int = 10) -> float:
    """How much of the question names what a figure of `text` measures: the share of its weight in
    the words right before the best figure (生产总值增长|5%, 经济增长|5%)."""
    best = 0.0
    for m in FIGURE.finditer(text):
        best = max(best, _covered(terms, text[max(0, m.start() - width) : m.start()]))
    return best


def _units(clauses: list[str], continuation: tuple[str, ...]) -> list[str]:
    """Clauses joined with the ones that continue them (贷款余额突破2800亿元、|增长19.9%): a figure
    and the words that say what it measures are scored together."""
    units: list[str] = []
    for clause in clauses:
        if units and clause.startswith(continuation):
            units[-1] += clause
        else:
            units.append(clause)
    return units


def trim_span(sentence: str, terms: dict[str, float], analysis: Analysis) -> str:
    """The clauses of `sentence` around the one that answers, at most `span_max_chars` long.

    Start at the clause with the most question weight and the kind's features; take the previous
    clause when this one continues it (增长…, 分别…), then following clauses while the span lacks
    a figure the question wants, or they bring question words, or they continue it. Ranges and
    qualifiers never straddle a clause boundary, so they stay whole.
    """
    limit = tuning()["evidence"]["span_max_chars"]
    continuation = tuple(lexicon()["continuation"])
    clauses = _units(split_clauses(sentence), continuation)
    if len(clauses) == 1:
        return sentence.rstrip("，；：。、,;:")
    scores = [
        _covered(terms, c) + 0.5 * features(c, analysis) + PHRASE_WEIGHT * shared_phrase(analysis.question, c)
        + (figure_context(terms, c) if analysis.wants_figure else 0.0)
        for c in clauses
    ]
    candidates = range(len(clauses))
    answering = RANK if analysis.kind == "rank" and any(RANK.search(c) for c in clauses) else FIGURE
    if analysis.wants_figure and any(answering.search(c) for c in clauses):
        candidates = [i for i in candidates if answering.search(clauses[i])]  # the clause that answers holds a figure (a rank, an ordinal)
    best = max(candidates, key=lambda i: scores[i])
    start = end = best

    def span() -> str:
        return "".join(clauses[start : end + 1])

    while end + 1 < len(clauses):
        nxt = clauses[end + 1]
        if len(span()) + len(nxt) > limit:
            break
        covered = {t for t in terms if t in span()}
        new_terms = any(t in nxt and t not in covered for t in terms)
        needs_figure = analysis.wants_figure and not answering.search(span())
        listing = ("分别" in span() or analysis.kind == "range") and FIGURE.match(nxt.lstrip())
        if not (needs_figure or listing or nxt.startswith(continuation) or new_terms):
            break
        end += 1
    return span().rstrip("，；：。、,;:")


def _candidates(stats: CorpusStats, query: Query, hits: list[Hit], terms: dict[str, float], analysis: Analysis) -> list[Evidence]:
    weights = tuning()["evidence"]
    asked = set(query.years)
    out: list[tuple[float, Evidence]] = []
    for rank, hit in enumerate(hits):
        paragraph = stats.docs[hit.doc].paragraph(hit.paragraph)
        context = " ".join(x for x in (paragraph.section, paragraph.subsection) if x)
        year_penalty = weights["year_mismatch_penalty"] if asked and paragraph.year is not None and paragraph.year not in asked else 0.0
        seen: dict[tuple[int, str], float] = {}
        for sent in hit.sentences:  # retrieve with enough sentences_per_hit to see them all
            key = (sent.index, sent.text)
            seen[key] = max(seen.get(key, -1.0), sent.score)
        for (index, text), meaning in seen.items():
            if addresses_the_assistant(text):
                continue  # documents are data: a sentence that gives orders is never evidence
            overlap = max(_covered(terms, text), 0.5 * _covered(terms, context + text))
            score = (
                weights["meaning_weight"] * meaning + weights["overlap_weight"] * overlap
                - weights["rank_weight"] * math.log1p(rank) - year_penalty + weights["feature_weight"] * features(text, analysis)
            )
            bonus = weights["feature_weight"] * figure_context(terms, text) if analysis.wants_figure else 0.0
            out.append((score + bonus, Evidence(hit.doc, hit.paragraph, index, text, paragraph.section, meaning, overlap, score)))
    # Ranked with how well the words before a figure name what is asked; `score` (what refusal is
    # fitted on) leaves that out, so the thresholds keep their meaning.
    out.sort(key=lambda pair: -pair[0])
    return [e for _, e in out]


def select_evidence(stats: CorpusStats, query: Query, hits: list[Hit], analysis: Analysis) -> Selection:
    """Score every sentence of the retrieved paragraphs and pick the answer clauses."""
    terms = followup_focus(term_weights(stats, query.terms), analysis)
    candidates = _candidates(stats, query, hits, terms, analysis)
    chosen = _per_year_best(stats, query, candidates)
    spans = tuple((e, trim_span(e.text, terms, analysis)) for e in chosen)
    if len(spans) == 1 and near_miss(spans, analysis) == "总量":
        spans = _amount_instead(candidates, terms, analysis) or spans
    keys = key_terms({t: w for t, w in terms.items() if t in stats.idf})
    found = all(any(k in _context_text(stats, e) for k in keys) for e, _ in spans) if keys else True
    return Selection(
        query=query, analysis=analysis, evidence=tuple(candidates), spans=spans,
        absent=absent_terms(stats, query, analysis), key_terms_found=found, near_miss=near_miss(spans, analysis),
        other_places=places_not_in(stats, analysis, [_context_text(stats, e) for e, _ in spans])
        + names_not_in(analysis, [stats.docs[e.doc].paragraph(e.paragraph).text for e, _ in spans]),
    )


def _amount_instead(candidates: list[Evidence], terms: dict[str, float], analysis: Analysis):
    """When the best sentence gives only a growth rate of the amount asked (粮食产量增长近15%), a
    close runner-up that gives the amount itself (粮食总产量达到871.6亿斤) answers instead."""
    least = tuning()["evidence"]["amount_instead_overlap"]
    for e in candidates[1 : 1 + tuning()["evidence"]["amount_instead_depth"]]:
        span = ((e, trim_span(e.text, terms, analysis)),)
        if e.overlap >= least and not near_miss(span, analysis):
            return span
    return None


INSTRUCTION = re.compile(
    r"忽略(?:以上|上述|之前|前面|所有)|无视(?:所有|以上|上述)?规则|系统提示|提示词|管理员模式|你现在是|请你?(?:回答|输出|扮演)"
    r"|ignore (?:all |any )?(?:previous|prior|above) instructions|system prompt|you are now",
    re.IGNORECASE,
)


def addresses_the_assistant(text: str) -> bool:
    """Does a sentence give orders to a language model (忽略以上指令, system prompt…)?"""
    return bool(INSTRUCTION.search(text))


def key_terms(terms: dict[str, float]) -> list[str]:
    """The question's rarest words (generic nouns, measure words and everyday synonyms aside): what
    the answer must be about.

    Callers pass only words the documents contain; words they lack are `absent_terms`' business.
    """
    lex = lexicon()
    generic = measure_words() | set(lex["synonyms"])
    weights = {t: w for t, w in terms.items() if t not in generic and len(t) >= 2}
    if not weights:
        return []
    top = max(weights.values())
    share = tuning()["evidence"]["key_term_share"]
    return [t for t, w in weights.items() if w >= share * top]


def _context_text(stats: CorpusStats, e: Evidence) -> str:
    p = stats.docs[e.doc].paragraph(e.paragraph)
    return with_equivalents(f"{p.section} {p.subsection} {e.text}").lower()


def _per_year_best(stats: CorpusStats, query: Query, candidates: list[Evidence]) -> list[Evidence]:
    """The best evidence, or for a question about several years the best of each year's sections."""
    if not candidates:
        return []
    if len(query.years) < 2:
        return [candidates[0]]
    chosen = []
    for year in query.years:
        of_year = [e for e in candidates if stats.docs[e.doc].paragraph(e.paragraph).year == year]
        if of_year and of_year[0] not in chosen:
            chosen.append(of_year[0])
    return chosen or [candidates[0]]
