"""The answer core's word lists and fitted values, read from data files shipped in the package.

`qa/data/lexicon.toml` holds measure words, question cues, ranges and translations; `qa/data/
tuning.toml` the thresholds fitted on the fit split. They are read once, when first asked for,
with importlib.resources (so a plain `pip install .` finds them), never on import.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=None)
def load_data(name: str) -> dict[str, Any]:
    """A TOML file of `qa/data/` as a dict (cached: the files do not change while running)."""
    return tomllib.loads(resources.files("qa").joinpath("data", name).read_text(encoding="utf-8"))


def lexicon() -> dict[str, Any]:
    return load_data("lexicon.toml")


def tuning() -> dict[str, Any]:
    return load_data("tuning.toml")


def measure_words() -> frozenset[str]:
    """Generic nouns and the words that ask for a measure (目标, 增长, 情况…): no topic of their own."""
    lex = lexicon()
    return frozenset(lex["generic_nouns"]) | {c for cues in lex["asks"].values() for c in cues}
