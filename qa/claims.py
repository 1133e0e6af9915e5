"""Claim-level checks: a figure must keep its measure, its range and its qualifier.

The figure check of `grounding` asks whether a number is in the cited paragraph; this module asks
whether it is stated *as the source states it*:

- `measure_problems`: a measure word (人均, 增长, 占比, 目标, 第…) that stands before a figure in the
  answer must also stand before that figure in the source clause. “人均GDP是4015亿元” fails when the
  source says “地区生产总值达到4015亿元”.
- `range_problems`: a figure that is one end of a range in the source (5%—5.5%) or carries a
  qualifier there (6%左右, 5%以内) must be given whole in the answer.

Both take plain text (an answer part and the text it cites), so the engine, the point checks and
`qa eval` use the same rule. The word lists are data (`qa/data/lexicon.toml`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .lexicon import lexicon
from .numbers import FIGURE, figure_value  # one figure: digits of any script, an optional decimal part

CLAUSE_END = re.compile(r"[，。；：！？,;:!?、（）()\n]")
WINDOW = 14  # characters before a figure that can name its measure, within its clause


@lru_cache(maxsize=1)
def _measure_words() -> dict[str, tuple[str, ...]]:
    return {name: tuple(words) for name, words in lexicon()["measures"].items()}


def _before(text: str, start: int, depth: int = 0) -> str:
    """The words before position `start` in its clause (at most WINDOW characters), after the
    previous figure; in a list (“分别达到76088元和47455元”) the words before the list's first figure."""
    window = text[max(0, start - WINDOW) : start]
    cut = max((m.end() for m in CLAUSE_END.finditer(window)), default=0)
    window = window[cut:]
    figures = list(FIGURE.finditer(window))
    if not figures:
        return window
    tail = window[figures[-1].end() :]
    if depth < 4 and re.fullmatch(r"[%‰％]?[万亿千百]*[\u4e00-\u9fff]?[和与及、]", tail):
        return _before(text, start - len(window) + figures[-1].start(), depth + 1) + tail
    return tail


def measures_before(text: str, start: int) -> set[str]:
    """The measures (per_capita, growth, …) named right before the figure at `start`."""
    window = _before(text, start)
    return {
        name
        for name, words in _measure_words().items()
        if any((w in window) if len(w) > 1 else window.endswith(w) for w in words)
    }


def _occurrences(text: str, figure: str) -> list[int]:
    """Where `figure` stands in `text`, compared as ASCII digits (４７４５５ is 47455)."""
    value = figure_value(figure)
    return [m.start() for m in FIGURE.finditer(text) if figure_value(m.group(0)) == value]


STRICT = ("per_capita", "share", "rank")  # measures an answer may never add


def measure_problems(answer: str, source: str) -> list[str]:
    """Figures of `answer` stated under a measure that no occurrence of the figure in `source` has.

    Only measures that change what a figure means are enforced (人均, 占比/比重, 第/排名);
    growth and target words are paraphrased too freely by writers to be required, but a growth
    word on a figure the source gives with no growth word at all (a total) is also a problem.
    """
    problems = []
    for match in FIGURE.finditer(answer):
        figure = match.group(0)
        places = _occurrences(source, figure)
        if not places:
            continue  # a missing figure is grounding's business
        said = measures_before(answer, match.start())
        sources = [measures_before(source, p) for p in places]
        for measure in said:
            if measure in STRICT and not any(measure in s for s in sources):
                problems.append(f"{figure} is given as {measure} but the source does not say so")
            if measure == "growth" and not any(s & {"growth", "share", "target"} for s in sources) and _is_total(source, places):
                problems.append(f"{figure} is a total in the source, given as growth")
    return problems


def _is_total(source: str, places: list[int]) -> bool:
    """Is the figure, wherever the source has it, an amount with a magnitude unit (亿元, 万人…) and not a percent?"""
    for p in places:
        tail = source[p : p + 12]
        if re.match(r"\d+(?:\.\d+)?\s*[%‰％]|\d+(?:\.\d+)?\s*个百分点", tail):
            return False
    return True


@lru_cache(maxsize=1)
def _range_pattern() -> re.Pattern:
    joiners = "".join(re.escape(j) for j in lexicon()["range_joiners"])
    return re.compile(rf"(\d+(?:\.\d+)?)\s*([%‰％]?)\s*[{joiners}]\s*(\d+(?:\.\d+)?)\s*([%‰％]?)")


def ranges_in(text: str) -> list[tuple[str, str]]:
    """(low, high) figure pairs written as a range (5%—5.5%, 3至5), years aside."""
    out = []
    for m in _range_pattern().finditer(text):
        low, high = m.group(1), m.group(3)
        if re.fullmatch(r"(19|20)\d\d", low) and re.fullmatch(r"(19|20)\d\d", high):
            continue  # 2024—2026年 is a period, not a range of values
        out.append((low, high))
    return out


def qualifier_after(text: str, start: int, figure: str) -> str:
    """The qualifier (左右, 以上…) written right after the figure at `start`, with its unit between ("" if none)."""
    tail = text[start + len(figure) : start + len(figure) + 6]
    for q in lexicon()["qualifiers"]:
        m = re.match(rf"\s*(?:[%‰％]|个百分点|[万亿千百]*[元户个家名人项所条座件次倍斤亩吨米岁天公里辆套张床])?{q}", tail)
        if m:
            return q
    return ""


def _form(text: str, start: int, figure: str, ranges: list[tuple[str, str, int, int]]) -> tuple[tuple[str, str] | None, str]:
    """How a figure occurrence is written: the range it is an end of (or None), and its qualifier."""
    in_range = next(((lo, hi) for lo, hi, a, b in ranges if a <= start < b), None)
    return in_range, qualifier_after(text, start, figure)


def _spans(text: str) -> list[tuple[str, str, int, int]]:
    return [(lo, hi, m.start(), m.end()) for (lo, hi), m in zip(ranges_in(text), _range_matches(text))]


def _range_matches(text: str) -> list[re.Match]:
    return [m for m in _range_pattern().finditer(text) if not (re.fullmatch(r"(19|20)\d\d", m.group(1)) and re.fullmatch(r"(19|20)\d\d", m.group(3)))]


def range_problems(answer: str, source: str) -> list[str]:
    """A figure given alone that the source gives only as a range end, or only with a qualifier.

    Each occurrence of the figure in the source has a form (a range end or not, a qualifier or
    not); the answer's figure must match the form of at least one of them.
    """
    problems = []
    source_spans, answer_spans = _spans(source), _spans(answer)
    for match in FIGURE.finditer(answer):
        figure = match.group(0)
        places = _occurrences(source, figure)
        if not places:
            continue
        said = _form(answer, match.start(), figure, answer_spans)
        forms = [_form(source, p, figure, source_spans) for p in places]
        if not any(_compatible(said, form) for form in forms):
            rng, qual = forms[0]
            whole = f"{rng[0]}—{rng[1]}" if rng else f"{figure}{qual}"
            problems.append(f"{figure} is written '{whole}' in the source")
    return list(dict.fromkeys(problems))


def _compatible(said: tuple[tuple[str, str] | None, str], source: tuple[tuple[str, str] | None, str]) -> bool:
    (s_range, s_qual), (o_range, o_qual) = said, source
    if o_range is not None and s_range != o_range:
        return False
    return not o_qual or s_qual == o_qual


def claim_problems(answer: str, source: str) -> list[str]:
    """Measure and range problems of one answer part against the text it cites."""
    return measure_problems(answer, source) + range_problems(answer, source)
