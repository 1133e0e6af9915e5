"""Chinese text helpers shared by indexing, retrieval and answer checking.

Tokenising with jieba, the words a question asks with (多少, 什么…) that carry no content, relative
years (去年, 今年) resolved against the report's own years, and a handful of everyday synonyms for
terms that official reports spell out (GDP → 地区生产总值, a data file). Nothing here knows a particular report.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

QUESTION_WORDS = frozenset(
    """多少 什么 哪些 哪个 哪家 哪条 哪 几 几个 几座 几届 第几 怎么 怎样 如何 是否 有没有 有 吗 呢 吧 啊 么
    是 的 了 在 和 与 及 或 把 被 对 为 由 从 到 也 都 要 将 会 能 该 其 这 那 这个 那个 还 又 请 问 请问
    分别 多 大 有多大 达到 达 到了 取得 了多少 是多少 一下 情况 方面 主要 哪些方面 计划 年 们 我 我们 你 您 他
    市 全市 去年 今年 明年 前年 同比 共 约 目前 现在 当时 以来 期间""".split()
)
PUNCT = re.compile(r"^[\s\W_]+$", re.UNICODE)
YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
RELATIVE_YEARS = {"前年": -2, "去年": -1, "上一年": -1, "上年": -1, "今年": 0, "本年": 0, "当年": 0, "明年": 1}

@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


# Terminal escape sequences, C0 controls except tab and newline, DEL, C1 controls, and lone
# surrogates (not encodable as UTF-8): the one rule for text a caller sends (questions, history).
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` without terminal escape sequences, control characters and lone surrogates."""
    return CONTROL.sub("", text)


def clean_question(text: str) -> str:
    """A question cleaned with `clean_text`, stripped."""
    return clean_text(text).strip()


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens, lower-cased, without punctuation or whitespace."""
    return [t.lower() for t in _jieba().lcut_for_search(text) if t.strip() and not PUNCT.match(t)]


COUNTED = re.compile(r"((?:多少|几)[个家名项条所座辆台次件种位批类届])(?=[\u4e00-\u9fff])")


def content_terms(text: str) -> list[str]:
    """Tokens of a question that carry content: no question words, no bare years or punctuation.

    The counter after 多少/几 stays apart from the noun it counts (多少家|首店, not 家首店)."""
    text = COUNTED.sub(r"\1 ", text)
    return [t for t in tokenize(text) if t not in QUESTION_WORDS and not re.fullmatch(r"\d{4}年?|年", t)]


def synonyms() -> dict[str, str]:
    """Everyday words → the reports' spelling (`[synonyms]` of qa/data/lexicon.toml)."""
    from .lexicon import lexicon

    return lexicon()["synonyms"]


@lru_cache(maxsize=65_536)
def with_equivalents(text: str) -> str:
    """`text` followed by the other spelling of every synonym pair it holds (经济增长 → 地区生产总值增长),
    so that a question's words are found in a sentence that uses the other spelling. Cached: the
    answer core asks it of the same sentences for every candidate window."""
    extra = [b for a, b in synonyms().items() if a in text and b not in text]
    extra += [a for a, b in synonyms().items() if b in text and a not in text]
    return text + ("\n" + " ".join(dict.fromkeys(extra)) if extra else "")


def expand_synonyms(question: str) -> str:
    """Append the report's spelling of everyday terms the question uses (GDP → 地区生产总值)."""
    extra = [formal for casual, formal in synonyms().items() if casual in question and formal not in question]
    return question + ("（" + "，".join(dict.fromkeys(extra)) + "）" if extra else "")


def resolve_years(question: str, current_year: int | None) -> tuple[str, list[int]]:
    """Replace 去年/今年/… by absolute years and list the years the question asks about.

    `current_year` is the year the report plans for (its latest section year); without it relative
    words are left alone.
    """
    if current_year is not None:
        for word, delta in RELATIVE_YEARS.items():
            question = question.replace(word, f"{current_year + delta}年")
    question = period_years(question)
    years = [int(y) for y in YEAR.findall(question)]
    return question, list(dict.fromkeys(years))


PERIOD_END = re.compile(r"[“\"]?([十百][一二三四五六七八九]?五)[”\"]?(?:时期|期间|规划)?(末|收官之年|收官|开局之年|开局|第一年|最后一年)")


def period_years(question: str) -> str:
    """The year a planning period's end or start names (“十四五”末 → “十四五”末（2025年）), from
    `[periods]` of qa/data/lexicon.toml; a whole period names no single year and is left alone."""
    from .lexicon import lexicon

    periods = lexicon().get("periods", {})

    def year(m: re.Match) -> str:
        span = periods.get(m.group(1))
        if not span:
            return m.group(0)
        at_end = m.group(2) in ("末", "收官之年", "收官", "最后一年")
        return f"{m.group(0)}（{span[1] if at_end else span[0]}年）"

    return PERIOD_END.sub(year, question)
