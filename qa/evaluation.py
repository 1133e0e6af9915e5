"""Evaluation on question files in the format of `tests/data/dev.jsonl`.

Each line: `{"id", "question", "paragraphs": [gold paragraph numbers], "must_include": [strings,
"a|b" = either], "answerable": bool, "doc"?: document id}`. Retrieval is scored by recall at 1/3/5
(a gold paragraph among the top k) and MRR, over answerable questions; answers by the rules in
`score_answer`.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .retrieval import Retriever

CITATION_MARK = re.compile(r"\[[^\[\]]*\]")
MAX_ANSWER_CHARS = 150


class EvalFileError(Exception):
    """A question file that cannot be read; the message names the line."""


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    paragraphs: tuple[int, ...]
    must_include: tuple[str, ...]
    answerable: bool
    doc: str | None = None


def load_eval(path: Path) -> list[EvalItem]:
    """Read a JSONL question file; blank lines are skipped."""
    items = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"cannot read {path}: {exc}") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            items.append(
                EvalItem(
                    id=str(d.get("id", n)),
                    question=d["question"],
                    paragraphs=tuple(int(p) for p in d.get("paragraphs", [])),
                    must_include=tuple(d.get("must_include", [])),
                    answerable=bool(d.get("answerable", bool(d.get("paragraphs")))),
                    doc=d.get("doc"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalFileError(f"{path}:{n}: not a question record ({exc})") from None
    return items


def retrieval_metrics(ranked: Iterable[tuple[EvalItem, list[int]]], ks: tuple[int, ...] = (1, 3, 5)) -> dict[str, Any]:
    """Recall@k and MRR from (item, ranked paragraph numbers) pairs of answerable items."""
    pairs = [(item, ps) for item, ps in ranked if item.answerable and item.paragraphs]
    n = len(pairs)
    out: dict[str, Any] = {"questions": n}
    for k in ks:
        out[f"R@{k}"] = round(sum(bool(set(item.paragraphs) & set(ps[:k])) for item, ps in pairs) / n, 4) if n else 0.0
    rr = []
    for item, ps in pairs:
        rank = next((i + 1 for i, p in enumerate(ps) if p in item.paragraphs), None)
        rr.append(1 / rank if rank else 0.0)
    out["MRR"] = round(statistics.fmean(rr), 4) if rr else 0.0
    out["misses_at_1"] = [item.id for item, ps in pairs if not ps or ps[0] not in item.paragraphs]
    return out


def evaluate_retrieval(retriever: Retriever, items: list[EvalItem], k: int = 10) -> dict[str, Any]:
    """Run every answerable question through the retriever and score the rankings."""
    ranked = []
    for item in items:
        if not item.answerable:
            continue
        hits = retriever.search(item.question, k=k)
        ranked.append((item, [h.paragraph for h in hits if item.doc is None or h.doc == item.doc]))
    return retrieval_metrics(ranked)


def format_retrieval_table(metrics: dict[str, Any]) -> str:
    keys = [k for k in metrics if k.startswith("R@")] + ["MRR"]
    head = " | ".join(f"{k:>6}" for k in keys)
    row = " | ".join(f"{metrics[k]:>6.3f}" for k in keys)
    lines = [f"questions: {metrics['questions']}", head, row]
    if metrics.get("misses_at_1"):
        lines.append("not first: " + ", ".join(metrics["misses_at_1"]))
    return "\n".join(lines)


def strip_citations(text: str) -> str:
    return CITATION_MARK.sub("", text).strip()


def includes(text: str, wanted: str) -> bool:
    """`a|b` means either alternative; matching ignores spaces."""
    compact = text.replace(" ", "")
    return any(alt.replace(" ", "") in compact for alt in wanted.split("|"))
