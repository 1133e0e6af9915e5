"""Unit types of figures: what kind of quantity a figure in a text is (money, people, percent…).

`figure_types(text)` reads the unit written right after each figure (亿元 → money, 万人 → people,
% → percent, 公里 → length…). The type a *question* asks for is not read by rules: it is predicted
by a small model learned from the fit questions' gold answers (`qa/answer/models.py`), so that
“经济总量有多大” learns to want money without a word list saying so.

Left out: Chinese-numeral figures (三成): the question door normalises them first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..numbers import FIGURE

UNIT_TYPES = ("money", "percent", "people", "length", "area", "weight", "count", "times", "energy", "rank", "year", "other")

# Unit words after a figure (a magnitude 万/亿/千 may come first). Longest first within each type.
_UNITS: tuple[tuple[str, str], ...] = (
    ("money", r"(?:亿|万|千)?(?:美元|欧元|元)"),
    ("percent", r"[%％‰]|个百分点|成"),
    ("people", r"(?:亿|万|千)?(?:人次|人|名|位)"),
    ("area", r"(?:万|千)?(?:平方公里|平方千米|平方米|亩|公顷)"),
    ("length", r"(?:万|千)?(?:公里|千米|米)"),
    ("weight", r"(?:亿|万|千)?(?:吨|斤|公斤|千克)"),
    ("energy", r"(?:亿|万|千)?(?:千瓦时|千瓦|瓦|度)"),
    ("times", r"倍"),
    ("year", r"年"),
    ("count", r"(?:亿|万|千)?(?:个|家|项|座|条|所|辆|台|套|艘|部|张|批|户|件|处|栋|只|头|架|列|场|次|宗|款|棵|株|种|支|轮|份|间|床)"),
)
_UNIT_RE = re.compile("(?:余|多)?(?:" + "|".join(f"(?P<{t}>{p})" for t, p in _UNITS) + ")")  # 40余个: about 40, still a count
ORDINAL = re.compile(r"第\s*[一二三四五六七八九十\d]+|首位|首个|前\s*[一二三四五六七八九十\d]+")


@dataclass(frozen=True)
class Figure:
    """A figure of a text with its unit type, as written (`4015亿元` → money)."""

    value: str
    unit: str  # the unit word as written ("亿元"), "" when none
    type: str  # one of UNIT_TYPES
    start: int
    end: int  # after the unit


def figure_types(text: str) -> list[Figure]:
    """Each figure of `text` with the unit type written after it (a bare figure is "other")."""
    out = []
    for m in FIGURE.finditer(text):
        if text[max(0, m.start() - 1) : m.start()] == "第":
            out.append(Figure(m.group(0), "", "rank", m.start(), m.end()))
            continue
        unit = _UNIT_RE.match(text, m.end())
        if unit and unit.lastgroup:
            kind = unit.lastgroup
            if kind == "year" and not re.fullmatch(r"(?:19|20)\d\d", m.group(0)):
                kind = "other"  # 3年 is a duration, not a year; counted with bare figures
            out.append(Figure(m.group(0), unit.group(0), kind, m.start(), unit.end()))
        else:
            out.append(Figure(m.group(0), "", "other", m.start(), m.end()))
    return out


def type_in_source(answer: str, sources: list[str]) -> str:
    """The unit type of a gold answer as its source writes it: `33757.93` is money where the
    paragraph says 33757.93亿元. Each `a|b` alternative is tried; "" when none is found."""
    for alt in answer.split("|"):
        alt = alt.strip()
        if ORDINAL.search(alt):
            return "rank"
        for source in sources:
            at = source.find(alt)
            if at < 0 or not FIGURE.search(alt):
                continue
            found = [f for f in figure_types(source[at:]) if f.type != "year" or not alt.endswith("年")]
            if found:
                return found[0].type
    return answer_type(answer.split("|")[0])


def answer_type(text: str) -> str:
    """The unit type of the first figure of a gold answer (`must_include` string), for training:
    a rank when it is an ordinal, "" when it holds no figure."""
    if ORDINAL.search(text):
        return "rank"
    found = [f for f in figure_types(text) if f.type != "year"]
    return found[0].type if found else ""


ASKED = re.compile(r"(?<!第)(?:多少|几)\s*((?:亿|万|千|百)?(?:[^\s，。？?、]{1,4}))")


def asked_type(question: str) -> str:
    """The unit type a question names after 多少/几 (多少名 → people, 多少亿元 → money), "" when it
    names none: the question's own words, which the unit check takes over the model's guess."""
    for m in ASKED.finditer(question):
        found = figure_types("1" + m.group(1))
        if found and found[0].type not in ("other", "year") and not _starts_a_word(question[m.start(1) :], found[0].unit):
            return found[0].type
    return ""


def _starts_a_word(text: str, unit: str) -> bool:
    """Whether `unit` is only the first character(s) of a longer word (多少支持: 支持, not 支)."""
    from ..text import _jieba

    word = next(iter(_jieba().cut(text[:8])), "")
    return len(word) > len(unit) and word.startswith(unit)
