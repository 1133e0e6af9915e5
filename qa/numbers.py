"""Figures in text: the one pattern that finds them and the one normalisation that compares them.

The generator's number constraint, the grounding check, the evidence selector, the claim checks and
`qa eval` must agree on what a figure is, or a reply the constraint let through is rejected by the
check (or the other way round). So they all use `FIGURE`, which finds runs of decimal digits in any
script (ASCII `47455`, full-width `４７４５５`, …) with at most one decimal point (`.` or full-width
`．`; in `1.2.3` the figures are `1.2` and `3`, and `.5` is `5`: a figure the check cannot see is a
figure the constraint did not check), and compare figures by `figure_value` (ASCII digits): `４７４５５` is `47455`.

`ascii_digits` rewrites every digit and full-width point as ASCII without changing the text's
length, so positions found in one are positions in the other.

Left out: Chinese numerals (三十六, 两千), signs, units and magnitudes (亿, 万, %): a figure is its
digits only. Thousands separators are dropped by `figures` (`4,015` → `4015`), not by the pattern.
"""

from __future__ import annotations

import re
import unicodedata

FIGURE = re.compile(r"(?<!\d)\d+(?:[.．]\d+)?")  # `\d`: every script's decimal digits
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")
_NOT_ASCII = re.compile(r"(?![0-9])\d|．")


def _ascii(match: re.Match) -> str:
    char = match.group(0)
    return "." if char == "．" else str(unicodedata.digit(char))


def ascii_digits(text: str) -> str:
    """`text` with every decimal digit as ASCII and `．` as `.` (same length: positions carry over)."""
    return text if text.isascii() else _NOT_ASCII.sub(_ascii, text)


def figure_value(figure: str) -> str:
    """The figure as ASCII digits (`４７４５５` → `47455`, `5．8` → `5.8`), as written otherwise (`5.80` stays)."""
    return ascii_digits(figure).replace(",", "")


def figures(text: str) -> list[str]:
    """The values of the figures in `text`, in order (`达到4,015亿元，增长５.８%` → `["4015", "5.8"]`)."""
    return [figure_value(m) for m in FIGURE.findall(THOUSANDS.sub("", text))]
