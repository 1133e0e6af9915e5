"""Question files for evaluation, and the split they are fitted and reported on.

One JSON object a line (the format of `tests/data/eval/*.jsonl`):

- `id`, `question`, `kind` (fact, range, rank, name, yesno, definition, english, followup, list,
  plan, achievement, problem, summary, compare-years, unanswerable, cross);
- `must_include`: every entry must be in the answer, `a|b` = either;
- `any_of` + `min_hits`: at least `min_hits` of these points must be in the answer;
- `paragraphs`: gold paragraphs (one of them must be cited); `gold`: per document, for
  cross-report questions (`[{"doc", "paragraphs"}]`);
- `history`: earlier turns (`[{"role", "content"}]`); `doc`: the document the question is about;
- `answerable`: false for questions the documents do not answer (default: has gold paragraphs);
- `must_not_include`: strings a right answer never contains;
- `variant`: how the question is written (`traditional`, `typo`, `near-miss`), reported apart.

The split: every item of a file whose name starts with `dev.` (the original fact set) and every item
whose id ends in an odd number is in the *fit* part, on which word lists, weights and thresholds are
tuned; items whose id ends in an even number are *held out* and only reported on. The rule is in
`split_of` and recorded with the fitted values in `qa/data/tuning.toml`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

FACT_KINDS = ("fact", "range", "rank", "name", "yesno", "definition", "english", "followup")
OPEN_KINDS = ("list", "plan", "achievement", "problem", "summary", "compare-years")
LONG_KINDS = frozenset(("definition", *OPEN_KINDS, "cross"))  # answers may run to 400 characters


class EvalFileError(Exception):
    """A question file that cannot be read; the message names the line."""


@dataclass(frozen=True)
class Gold:
    """Gold paragraphs of one document (cross-report questions)."""

    doc: str
    paragraphs: tuple[int, ...]


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    paragraphs: tuple[int, ...]
    must_include: tuple[str, ...]
    answerable: bool
    doc: str | None = None
    kind: str = "fact"
    any_of: tuple[str, ...] = ()
    min_hits: int = 0
    history: tuple[dict, ...] = ()
    gold: tuple[Gold, ...] = ()
    must_not_include: tuple[str, ...] = ()
    source: str = ""  # the file it came from (its name)
    variant: str = ""  # traditional, typo, near-miss (how the question is written), or ""

    @property
    def group(self) -> str:
        """fact, open, unanswerable or cross: the groups the issues set targets for."""
        if not self.answerable:
            return "unanswerable"
        if self.kind in OPEN_KINDS:
            return "open"
        if self.kind == "cross" or self.gold:
            return "cross"
        return "fact"

    @property
    def max_chars(self) -> int:
        return 400 if self.kind in LONG_KINDS or self.any_of else 150


def split_of(item: EvalItem) -> str:
    """"fit" or "held": see the module docstring."""
    if item.source.startswith("dev."):
        return "fit"
    digits = re.search(r"(\d+)\D*$", item.id)
    return "fit" if digits and int(digits.group(1)) % 2 == 1 else "held"


def _item(d: dict, n: int, source: str) -> EvalItem:
    gold = tuple(Gold(str(g["doc"]), tuple(int(p) for p in g.get("paragraphs", []))) for g in d.get("gold", []) or [])
    paragraphs = tuple(int(p) for p in d.get("paragraphs", []) or [])
    history = tuple(dict(role=str(m["role"]), content=str(m["content"])) for m in d.get("history", []) or [])
    return EvalItem(
        id=str(d.get("id", n)),
        question=str(d["question"]),
        paragraphs=paragraphs,
        must_include=tuple(str(s) for s in d.get("must_include", []) or []),
        answerable=bool(d.get("answerable", bool(paragraphs or gold))),
        doc=d.get("doc"),
        kind=str(d.get("kind") or ("fact" if d.get("answerable", True) else "unanswerable")),
        any_of=tuple(str(s) for s in d.get("any_of", []) or []),
        min_hits=int(d.get("min_hits", 0) or 0),
        history=history,
        gold=gold,
        must_not_include=tuple(str(s) for s in d.get("must_not_include", []) or []),
        source=source,
        variant=str(d.get("variant", "") or ""),
    )


def load_eval(path: Path) -> list[EvalItem]:
    """Read a JSONL question file; blank lines are skipped.

    Raises:
        EvalFileError: the file cannot be read, or a line is not a question record.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"cannot read {path}: {exc}") from None
    items = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise TypeError("not an object")
            items.append(_item(d, n, path.name))
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalFileError(f"{path}:{n}: not a question record ({exc})") from None
    return items
