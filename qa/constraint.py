"""The number constraint: which tokens may come next so that every number a reply writes is allowed.

A reply that copies figures from the evidence must not invent one (the small model mis-copies
47455 as 27455). `NumberConstraint` masks the tokens that would complete a number not in the
allowed set, or open one that is not a prefix of an allowed number; greedy decoding then picks
the best remaining token. A number is what the grounding check calls a figure (`qa.numbers.FIGURE`,
digits of any script, `４７４５５` being `47455`), so the constraint and the check never disagree;
thousands separators are ignored.

Left out: units and signs (only the digits are constrained), and anything to do with models: torch
is imported only to build masks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .numbers import FIGURE, ascii_digits, figures

_DIGIT = re.compile(r"\d")  # a token that can write a digit, in any script
DOTS = (".", "．")


def normalize_numbers(values: Iterable[str]) -> frozenset[str]:
    """The numbers written in `values`, as ASCII ("4,015亿元" → "4015", "-5.8%" → "5.8", "４７" → "47")."""
    return frozenset(f for value in values for f in figures(str(value)))


def pending_number(text: str) -> str:
    """The number run at the end of `text` that may still grow ("增长5." → "5.", "共12" → "12", "。" → "").

    A trailing "." after an integer is part of the run: it may start the decimals. The run is
    returned in ASCII digits ("增长５" → "5").
    """
    text = ascii_digits(text[-80:])
    last = None
    for last in FIGURE.finditer(text, max(0, len(text) - 64)):
        pass
    if last is None:
        return ""
    number, end = last.group(), last.end()
    if end == len(text):
        return number
    if end == len(text) - 1 and text[-1] == "." and "." not in number:
        return number + "."
    return ""


def number_token_allowed(pending: str, token_text: str, allowed: frozenset[str], prefixes: frozenset[str]) -> bool:
    """May a token with text `token_text` follow a text whose trailing number run is `pending`?

    Every number the token completes must be in `allowed`; the run left open at the end must be a
    prefix of an allowed number (an open "X." is also fine when X is allowed: the dot may end a
    sentence, and a digit after it would then be checked as "X.d").
    """
    text = ascii_digits(pending + token_text)
    for match in FIGURE.finditer(text):
        number, end = match.group(), match.end()
        if end == len(text):
            if number not in prefixes:
                return False
        elif end == len(text) - 1 and text[-1] == "." and "." not in number:
            if number + "." not in prefixes and number not in allowed:
                return False
        elif number not in allowed:
            return False
    return True


@dataclass
class DigitVocab:
    """What the number constraint needs to know of a vocabulary, computed once per tokenizer.

    Only tokens with a digit, and the token "." (or "．") alone, can break the constraint differently
    from a plain word: any other token without digits (".com", ").") ends an open number run exactly
    as a space does, since the number pattern needs a digit after a dot.
    """

    vocab_size: int
    texts: dict[int, str]  # id → text, for the digit tokens and the "." tokens
    _ids: Any = field(default=None, repr=False)  # the keys of `texts` as a sorted tensor, on first use

    @classmethod
    def of(cls, token_texts: Sequence[str]) -> "DigitVocab":
        texts = {i: t for i, t in enumerate(token_texts) if t in DOTS or _DIGIT.search(t)}
        return cls(len(token_texts), texts)

    @property
    def digit_ids(self) -> list[int]:
        return [i for i, t in self.texts.items() if t not in DOTS]

    @property
    def dot_ids(self) -> list[int]:
        return [i for i, t in self.texts.items() if t in DOTS]

    def id_tensor(self):
        import torch

        if self._ids is None:
            self._ids = torch.tensor(sorted(self.texts), dtype=torch.long)
        return self._ids


class NumberConstraint:
    """Decides which tokens may come next so that every number written is one of `allowed`.

    Args:
        token_texts: the decoded text of every token id (index = id), or its `DigitVocab` (computed
            once per tokenizer: scanning a 150k vocabulary costs ~50 ms per request).
        allowed: strings holding the allowed numbers (normalized with `normalize_numbers`).

    Only tokens that contain a digit, and ".", are checked one by one; every other token is
    allowed exactly when the open number run (if any) is already a complete allowed number. Masks are
    cached per open run, so a reply costs a handful of checks, not one per vocabulary entry per step.
    """

    def __init__(self, token_texts: "Sequence[str] | DigitVocab", allowed: Iterable[str]):
        vocab = token_texts if isinstance(token_texts, DigitVocab) else DigitVocab.of(token_texts)
        self.vocab = vocab
        self.allowed = normalize_numbers(allowed)
        self.prefixes = frozenset(a[:i] for a in self.allowed for i in range(1, len(a) + 1))
        self.vocab_size = vocab.vocab_size
        self._texts = vocab.texts
        self._digit_ids = vocab.digit_ids
        self._dot_ids = vocab.dot_ids
        self._decisions: dict[str, tuple[bool, frozenset[int]]] = {}
        self._masks: dict[str, Any] = {}

    def _decide(self, pending: str) -> tuple[bool, frozenset[int]]:
        """(are tokens without digits or dots allowed, the digit/dot token ids that break the rule)."""
        if pending not in self._decisions:
            closes_ok = pending == "" or number_token_allowed(pending, " ", self.allowed, self.prefixes)
            # With no open run, a dot cannot touch a number: only digit tokens need checking.
            checked = self._digit_ids if pending == "" else self._digit_ids + self._dot_ids
            blocked = frozenset(
                i for i in checked if not number_token_allowed(pending, self._texts[i], self.allowed, self.prefixes)
            )
            self._decisions[pending] = (closes_ok, blocked)
        return self._decisions[pending]

    def is_allowed(self, text: str, token_id: int) -> bool:
        """May `token_id` follow `text`?"""
        closes_ok, blocked = self._decide(pending_number(text))
        if token_id in blocked:
            return False
        return True if token_id in self._texts else closes_ok

    def allowed_ids(self, text: str) -> list[int]:
        """The token ids that may follow `text` (for tests and small vocabularies)."""
        return [i for i in range(self.vocab_size) if self.is_allowed(text, i)]

    def mask(self, text: str):
        """A bool tensor over the vocabulary: True where the token may follow `text` (cached per open run)."""
        import torch

        pending = pending_number(text)
        if pending not in self._masks:
            closes_ok, blocked = self._decide(pending)
            mask = torch.full((self.vocab_size,), closes_ok, dtype=torch.bool)
            if self._texts:
                mask[self.vocab.id_tensor()] = True
            if blocked:
                mask[torch.tensor(sorted(blocked), dtype=torch.long)] = False
            self._masks[pending] = mask
        return self._masks[pending]
