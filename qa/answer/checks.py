"""Checks of a chosen answer against what the question asks: unit type.

A figure of another unit type than the question asks (a percentage for “经济总量有多大”, a count
of countries for a trade total) is a true figure of another measure: the worst answer, because it
carries a citation. When the unit model is sure what type the answer has, the chosen span must
hold a figure of that type, or the answer becomes a near miss that says what the document holds.
"""

from __future__ import annotations

import re

from ..evidence import split_clauses
from ..text import with_equivalents
from .units import ORDINAL, figure_types

TYPE_NAMES = {
    "money": "金额", "percent": "百分比", "people": "人数", "length": "长度", "area": "面积", "weight": "重量",
    "count": "数量", "times": "倍数", "energy": "电量", "rank": "名次", "year": "年份", "other": "数字",
}


def unit_type_problem(probs: dict[str, float], text: str, sure: float) -> str:
    """What is missing ("以“金额”计的数字") when the asked type is sure and `text` has no figure of it."""
    if not probs:
        return ""
    asked, p = max(probs.items(), key=lambda kv: kv[1])
    if p < sure or asked in ("other", "none"):
        return ""
    if asked == "rank":
        return "" if ORDINAL.search(text) else f"以“{TYPE_NAMES[asked]}”计的答案"
    have = {f.type for f in figure_types(text)}
    if asked in have:
        return ""
    return f"以“{TYPE_NAMES[asked]}”计的数字"


def fromto_problem(kind: str, text: str) -> str:
    """A from–to question (从多少缩小到多少) needs two different figures; one figure twice is no answer."""
    if kind != "fromto":
        return ""
    values = {f.value for f in figure_types(text) if f.type != "year"}
    return "" if len(values) >= 2 else "起止两个不同的数字"


def topic_problem(probs: dict[str, float], text: str, keys: list[str], sure: float) -> str:
    """A figure of the asked type that measures something else (高速公路通车里程9000公里 for a
    metro's length): when the unit model is sure, some figure of that type must sit in a clause
    (or right after one) that names one of the question's key words."""
    if not probs or not keys:
        return ""
    asked, p = max(probs.items(), key=lambda kv: kv[1])
    if p < sure or asked in ("other", "rank", "none"):
        return ""
    clauses = split_clauses(text)
    for i, clause in enumerate(clauses):
        if any(f.type == asked for f in figure_types(clause)):
            context = with_equivalents("".join(clauses[max(0, i - 1) : i + 1])).lower()
            if any(names(context, k) for k in keys):
                return ""
    return f"“{keys[0]}”的{TYPE_NAMES[asked]}"


def answering_figures(probs: dict[str, float], text: str, keys: list[str], sure: float) -> tuple[str, ...]:
    """The figures of `text` that can answer: in a clause (or right after one) that names a key
    word, and of the asked type when the unit model is sure. A written answer may state only these
    (`qa.verify`): 234.6亿元 of 财政资金 does not answer how much 市场主体 were relieved of."""
    asked, p = max(probs.items(), key=lambda kv: kv[1]) if probs else ("other", 0.0)
    typed = p >= sure and asked not in ("other", "rank", "none")
    clauses = split_clauses(text)
    found = []
    for i, clause in enumerate(clauses):
        context = with_equivalents("".join(clauses[max(0, i - 1) : i + 1])).lower()
        if keys and not any(names(context, k) for k in keys):
            continue
        found += [f.value for f in figure_types(clause) if f.type != "year" and (not typed or f.type == asked)]
    return tuple(dict.fromkeys(found))


def names(text: str, key: str) -> bool:
    """Whether `text` names `key`, as written or with one character inside it (粮食总产量 names
    粮食产量): a qualifier the writer added does not change what is measured."""
    if key in text:
        return True
    return len(key) >= 3 and any(re.search(re.escape(key[:i]) + "." + re.escape(key[i:]), text) for i in range(2, len(key) - 1))
