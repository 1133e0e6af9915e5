"""Signals for refusing: what a question asks that the documents do not hold.

- `absent_terms`: topic words (nouns, names, idioms by jieba's tags) that no document in scope contains;
- `places_not_in`: places the question names that the chosen sentences do not (a province's figure is
  not its city's);
- `near_miss`: the measure or unit asked that the chosen clauses do not give (人均, an amount given
  only as its growth rate, 多少辆) — answered with what the documents hold, marked as refused.

Word lists are data (`qa/data/lexicon.toml`); `evidence.Selection.why_refused` combines the signals
with the fitted thresholds of `qa/data/tuning.toml`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .analysis import Analysis
from .lexicon import lexicon
from .numbers import FIGURE
from .retrieval import CorpusStats, Query
from .text import synonyms, tokenize

ASKED_UNIT = re.compile(r"(?<!第)(?:多少|几)\s*([万亿千百]*)\s*([斤辆枚吨套张床所家座条人户名个项])")
QUESTION_WORD = re.compile(r"哪|几|什么|多少|怎")
RATE_WORDS = re.compile(r"率|比例|比重|百分|%|％|增|涨|降|提高|多快")


def _is_change(text: str, m: re.Match) -> bool:
    """Is the figure a rate of change (增长15%, 下降2个百分点), not a level (提高到13260元, 缩小至1.57)?"""
    return bool(re.match(r"\s*(?:[%％‰]|个百分点)", text[m.end() : m.end() + 5])) and not re.search(r"[到至为]\s*$", text[max(0, m.start() - 3) : m.start()])


def near_miss(spans: tuple[tuple[object, str], ...], analysis: Analysis) -> str:
    """The measure or unit asked that the chosen clauses do not give ("" when they do)."""
    if not spans or not analysis.wants_figure:
        return ""
    text = "".join(s for _, s in spans)
    if "per_capita" in analysis.measures and "人均" not in text:
        return "人均值"
    if "total" in analysis.measures and "growth" not in analysis.measures and "share" not in analysis.measures:
        amounts = [m for m in FIGURE.finditer(text) if not re.match(r"\s*(?:[%‰％]|个百分点)", text[m.end() : m.end() + 4])]
        if not amounts:
            return "总量"
    if not analysis.measures & {"growth", "share", "target"} and not RATE_WORDS.search(analysis.search_text or analysis.question):
        # (a target is often a rate: 目标 of 地区生产总值 is 增长6%左右)
        from .claims import measures_before

        figures = list(FIGURE.finditer(text))
        if figures and all(_is_change(text, m) and "growth" in measures_before(text, m.start()) for m in figures):
            return "总量"  # an amount is asked; the clauses give only by how much it grew
    unit = ASKED_UNIT.search(analysis.question)
    if unit and not re.search(rf"\d[\d.]*\s*[万亿千百]*{unit.group(2)}", text):
        return f"以“{unit.group(2)}”计的数字"
    return ""


def _own_names(stats: CorpusStats) -> set[str]:
    """The documents' own names (江苏, 江苏省…): a question names its document, the sentence need not."""
    from .routing import document_names

    key = tuple((doc_id, getattr(doc, "sha256", doc.title)) for doc_id, doc in stats.docs.items())
    if key not in _OWN:
        _OWN[key] = {n.lower() for doc_id, doc in stats.docs.items() for n in document_names(doc_id, doc)}
    return _OWN[key]


_OWN: dict[tuple, set[str]] = {}  # by the documents' ids and hashes: a reloaded corpus gets its own entry


def places_not_in(stats: CorpusStats, analysis: Analysis, texts: list[str]) -> tuple[str, ...]:
    """Places the question names (jieba's ns), other than the documents' own names, that none of
    `texts` mentions: a figure of the province is not the figure of a city in it."""
    from .routing import document_names

    if analysis.language != "zh":
        return ()
    own = {n for doc_id, doc in stats.docs.items() for n in document_names(doc_id, doc)}
    generic = set(lexicon()["generic_nouns"])
    places = [w.word for w in _posseg().lcut(analysis.question) if w.flag == "ns" and len(w.word) >= 2]
    missing = []
    for place in places:
        bare = re.sub(r"[省市县区]$", "", place) if len(place) > 2 else place
        if place in own or bare in own or place in generic or any(bare in t for t in texts):
            continue
        if place != bare and any(f"全{place[-1]}" in t for t in texts):
            continue  # 浙江省 is the 全省 of a city's report (a 市 is not the 全省 of a province's)
        missing.append(place)
    return tuple(missing)


QUOTED_NAME = re.compile(r"[“「『]([^”」』]{2,20})[”」』]")


def names_not_in(analysis: Analysis, paragraphs: list[str]) -> tuple[str, ...]:
    """Quoted names in the question (“苏超”) that the paragraphs of the chosen sentences never
    write: a figure of “川超” is not one of “苏超”. Periods (“十四五”) name no thing."""
    names = [n for n in QUOTED_NAME.findall(analysis.question) if not re.fullmatch(r"[一二三四五六七八九十百]+", n)]
    return tuple(f"“{n}”" for n in names if not any(n in p for p in paragraphs))


@lru_cache(maxsize=1)
def _posseg():
    import jieba.posseg

    return jieba.posseg


def topic_nouns(question: str) -> list[str]:
    """The question's topic words: nouns, names and idioms (jieba's tags), generic nouns aside."""
    keep = set(lexicon()["topic_pos"])
    generic = set(lexicon()["generic_nouns"])
    asking = {c for table in ("asks", "kinds") for cues in lexicon()[table].values() for c in cues}
    words = [w.word for w in _posseg().lcut(question) if w.flag in keep and len(w.word) >= 2]
    return [w for w in words if w not in generic and w not in asking and not QUESTION_WORD.search(w) and not re.fullmatch(r"[\d.]+", w)]


def absent_terms(stats: CorpusStats, query: Query, analysis: Analysis) -> tuple[str, ...]:
    """Topic words of the question that no document contains (消费券, 最低工资, another city…).

    A compound counts as present when each of its parts is (城镇居民 in "城镇、农村居民"), generic
    nouns aside (考核成绩 when 考核 is there). Yes/no
    questions may propose what the documents do not say, and English questions are judged by
    their translation, so neither is checked here.
    """
    if analysis.kind == "yesno" or analysis.language != "zh":
        return ()
    everyday = {k.lower() for k in synonyms()}
    generic = set(lexicon()["generic_nouns"])  # 考核成绩 is there when 考核 is: 成绩 adds no topic
    absent = []
    for term in topic_nouns(analysis.question):
        low = term.lower()
        if low in everyday or low in stats.text:
            continue
        parts = [t for t in tokenize(term) if len(t) >= 2 and t != low and t not in generic]
        if parts and all(t in stats.text for t in parts):
            continue
        absent.append(term)
    return tuple(absent)
