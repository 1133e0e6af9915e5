"""Values as reports write them, and the conditions a selection across reports applies to them.

A figure in a report is rarely a bare number: a target is “5%左右”, “5%以上”, “控制在5.5%以内” or a
range “4.5%—5%”. `parse_values` reads each figure of a clause into a `Value`: its bounds in the
base unit (万亿元 and 亿元 compare as 元), its unit, its qualifier (左右, 以上, 以内…, or 区间 for a
range) and the text as written.

A selection (“哪些省份……高于5.5%”) asks a `Condition` (`parse_condition`): above, below, at least,
at most, between (with or without its ends), equal as written (“定在5%左右”: 5%左右 is not 5%以上,
not 5%, not a range; “含正好3%” also admits the bare figure), or given as a range. How a value
compares is defined once, in `compared`: a qualified figure counts as the figure it qualifies
(“5%左右” counts as 5%, and so do 5%以上 and 5%以内: the report names no other number), a range as
its whole interval (above X only when its lower end is). `holds` applies a condition; `counted_as`
says in words how a value was counted (“按‘5%左右’计为5%”), for the answer to show.

Left out: which figure of a report answers the question (the answer core chooses the clause, and
`qa.cross` the figure of the asked unit type in it); Chinese numerals (the question door
normalises them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..numbers import ascii_digits

MAGNITUDES = {"万亿": 1e12, "亿": 1e8, "千万": 1e7, "百万": 1e6, "万": 1e4, "千": 1e3, "百": 1e2}
QUALIFIERS = ("左右", "以上", "以内", "以下", "上下", "多", "余")
RANGE = "区间"
_NUM = r"\d+(?:\.\d+)?"
_MAG = r"(?:万亿|千万|百万|亿|万|千|百)?"
_UNITS = "个百分点|%|‰|美元|元|人次|人|名|公斤|千克|斤|吨|平方公里|公顷|亩|公里|千米|千瓦时|千瓦|个|家|项|倍|辆|台|套|座|条|所|户|件"
_UNIT = f"(?:{_UNITS})?"
_QUAL = "(?:" + "|".join(QUALIFIERS) + ")"
_DASH = r"\s*(?:[—–\-~～]+|至|到)\s*"
VALUE = re.compile(
    rf"(?<![\d.])(?P<a>{_NUM})(?P<amag>{_MAG})(?P<aunit>{_UNIT})(?:{_DASH}(?P<b>{_NUM})(?P<bmag>{_MAG}))?"
    rf"(?P<unit>{_UNIT})(?P<qual>{_QUAL})?"
)
_UNIT_END = re.compile(_UNITS)


@dataclass(frozen=True)
class Value:
    """A figure as a report writes it: bounds in the base unit, unit, qualifier, text."""

    text: str  # as written: "5%左右", "4.5%—5%", "120万人"
    low: float
    high: float
    unit: str  # the unit word without its magnitude: "%", "元", "人", "" when none
    qualifier: str = ""  # one of QUALIFIERS, RANGE for a range, "" for a bare figure

    @property
    def is_range(self) -> bool:
        return self.qualifier == RANGE


@dataclass(frozen=True)
class Condition:
    """What a selection asks of a value: `op` with its figure(s) in the base unit."""

    op: str  # above, below, at_least, at_most, between, equal, range
    low: float = 0.0
    high: float = 0.0
    unit: str = ""
    qualifiers: tuple[str, ...] = ("",)  # for `equal`: the qualifiers that count as written (“含正好3%”: 左右 and "")
    inclusive: bool = False  # for `between`: its ends count
    text: str = ""  # the asked figure as written
    at: int = -1  # where the condition starts in the question (what is asked stands before it)


def _unit_of(raw: str) -> str:
    m = _UNIT_END.search(raw or "")
    return m.group(0) if m else ""


def _scaled(figure: str, magnitude: str) -> float:
    return float(figure) * MAGNITUDES.get(magnitude, 1.0)


def parse_values(text: str) -> list[Value]:
    """Each figure of `text` as a `Value`, in order (a year before 年 is no value)."""
    return [v for v, _ in _located(text)]


def _located(text: str) -> list[tuple[Value, int]]:
    """The values of `text` with where each starts."""
    text = ascii_digits(text).replace("％", "%").replace(",", "")
    out = []
    for m in VALUE.finditer(text):
        if not m.group("unit") and not m.group("amag") and text[m.end() : m.end() + 1] == "年":
            continue  # a year (2026年, 2025—2026年) or a duration (3年)
        unit = _unit_of(m.group("unit")) or _unit_of(m.group("aunit"))
        low = _scaled(m.group("a"), m.group("amag") or ("" if m.group("aunit") else m.group("bmag") or ""))
        if m.group("b") is not None:
            high = _scaled(m.group("b"), m.group("bmag"))
            out.append((Value(m.group(0), min(low, high), max(low, high), unit, RANGE), m.start()))
        else:
            out.append((Value(m.group(0), low, low, unit, m.group("qual") or ""), m.start()))
    return out


def parse_value(text: str) -> Value | None:
    """The first value of `text`, None when it has none."""
    found = parse_values(text)
    return found[0] if found else None


# -- conditions -------------------------------------------------------------------------------

_ABOVE = ("高于", "超过", "超出", "大于", "多于", "突破", "above", "more than", "over")
_BELOW = ("低于", "少于", "小于", "不到", "不足", "below", "less than", "under")
_AT_LEAST = ("不低于", "不少于", "不小于", "至少", "at least")
_AT_MOST = ("不高于", "不超过", "不多于", "不大于", "至多", "最多", "at most")
_THAN = re.compile(r"比\s*$")
_AFTER_THAN = re.compile(r"^\s*(?:还|更|要)?\s*(高|低|多|少|大|小)")
_BETWEEN = re.compile(rf"(?:在|介于)?\s*(?P<a>{_NUM}{_MAG}{_UNIT})\s*(?:和|与|到|至|—|-|～|~)\s*(?P<b>{_NUM}{_MAG}{_UNIT})\s*之间")
_RANGE_CUES = ("区间", "范围", "a range")
_INCLUDES = re.compile(rf"含(?:正好|恰好)?\s*(?P<v>{_NUM}{_MAG}{_UNIT})")
_EXCLUSIVE = ("不含", "不包括", "不包含")


def parse_condition(question: str) -> Condition | None:
    """The condition a selection asks, None when it asks no figure (every stated value is kept)."""
    q = ascii_digits(question).replace("％", "%")
    cue = next((c for c in _RANGE_CUES if c in q), "")
    if cue:
        figure = _located(q)
        starts = [q.find(cue)] + [at for _, at in figure[:1]] + [i for i in (q.find("“"), q.find('"')) if i >= 0]
        ranged = next((v for v, _ in figure if v.is_range), None)
        if ranged is not None:  # “以‘4.5%—5%’这样一个区间”: that range, as written
            return Condition("equal", ranged.low, ranged.high, ranged.unit, qualifiers=(RANGE,), text=ranged.text, at=min(starts))
        return Condition("range", text=RANGE, at=min(starts))
    between = _BETWEEN.search(q)
    if between:
        a, b = parse_value(between.group("a")), parse_value(between.group("b"))
        if a and b:
            rest = q[between.end() :]
            inclusive = not any(cue in rest for cue in _EXCLUSIVE) and ("含" in rest or "包括" in rest)
            low, high = min(a.low, b.low), max(a.high, b.high)
            return Condition("between", low, high, a.unit or b.unit, inclusive=inclusive, text=f"{a.text}—{b.text}", at=between.start())
    included = _INCLUDES.search(q)
    plain = q[: included.start()] if included else q
    asked = _asked(plain)
    if asked is None:
        return None
    value, start = asked
    op, at = _comparison(plain[:start], plain[start + len(value.text) :])
    if op:
        return Condition(op, value.low, value.high, value.unit, text=value.text, at=at)
    qualifiers = (value.qualifier,)
    if included:
        extra = parse_value(included.group("v"))
        if extra is not None and extra.low == value.low:
            qualifiers += (extra.qualifier,)
    return Condition("equal", value.low, value.high, value.unit, qualifiers=tuple(dict.fromkeys(qualifiers)), text=value.text, at=start)


def _asked(question: str) -> tuple[Value, int] | None:
    """The first value of the question that is no year, and where it starts."""
    found = _located(question)
    return found[0] if found else None


def _comparison(before: str, after: str) -> tuple[str, int]:
    """(above / below / at_least / at_most, where its words start) from the words around the asked
    figure; ("", -1) for none."""
    near_at = max(0, len(before) - 6)
    near = before[near_at:]
    for words, op, tails in ((_AT_LEAST, "at_least", ("及以上", "或以上")), (_AT_MOST, "at_most", ("及以下", "或以下"))):
        found = [near.find(w) for w in words if w in near]
        if found:
            return op, near_at + min(found)
        if after.startswith(tails):
            return op, len(before)
    than = _THAN.search(before)
    if than and _AFTER_THAN.match(after):
        return ("above" if _AFTER_THAN.match(after).group(1) in "高多大" else "below"), than.start()
    for words, op in ((_ABOVE, "above"), (_BELOW, "below")):
        found = [near.find(w) for w in words if w in near]
        if found:
            return op, near_at + min(found)
    return "", -1


# -- comparing ----------------------------------------------------------------------------------


def compared(value: Value) -> tuple[float, float]:
    """The interval a value counts as: its figure for a bare or qualified one (5%左右, 5%以上 and
    5%以内 count as 5%: the report names no other number), its whole interval for a range."""
    return value.low, value.high


def counted_as(value: Value) -> str:
    """How a qualified value was counted, in words (“按‘5%左右’计为5%”); "" for a bare figure."""
    if not value.qualifier:
        return ""
    if value.is_range:
        return f"按‘{value.text}’计为整个区间"
    bare = value.text[: value.text.rfind(value.qualifier)] if value.text.endswith(value.qualifier) else value.text
    return f"按‘{value.text}’计为{bare}"


def _same_unit(condition: Condition, value: Value) -> bool:
    return not condition.unit or not value.unit or condition.unit == value.unit


def holds(condition: Condition, value: Value) -> bool:
    """Does `value` satisfy `condition`, comparing as `compared` says?"""
    if condition.op == "range":
        return value.is_range
    if not _same_unit(condition, value):
        return False
    low, high = compared(value)
    if condition.op == "equal":
        return value.qualifier in condition.qualifiers and _close(low, condition.low) and _close(high, condition.high)
    if condition.op == "above":
        return low > condition.low and not _close(low, condition.low)
    if condition.op == "below":
        return high < condition.high and not _close(high, condition.high)
    if condition.op == "at_least":
        return low > condition.low or _close(low, condition.low)
    if condition.op == "at_most":
        return high < condition.high or _close(high, condition.high)
    if condition.op == "between":
        if condition.inclusive:
            return (low > condition.low or _close(low, condition.low)) and (high < condition.high or _close(high, condition.high))
        return low > condition.low and high < condition.high and not _close(low, condition.low) and not _close(high, condition.high)
    return False


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
