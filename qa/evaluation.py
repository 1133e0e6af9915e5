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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

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


def score_answer(item: EvalItem, answer, docs) -> dict[str, Any]:
    """Per-question verdicts for one Answer (see `evaluate_answers` for the rules)."""
    from .grounding import numbers_in

    text = strip_citations(answer.text)
    cited = [(c.doc, c.paragraph) for c in answer.citations]
    valid = all(doc in docs and 1 <= n <= len(docs[doc].paragraphs) for doc, n in cited)
    support = "\n".join(docs[d].paragraph(n).text for d, n in cited if d in docs and 1 <= n <= len(docs[d].paragraphs))
    unsupported = [n for n in numbers_in(text) if n not in numbers_in(support)] if not answer.refused else []
    result = {
        "id": item.id,
        "question": item.question,
        "answer": answer.text,
        "refused": answer.refused,
        "source": getattr(answer, "source", ""),
        "problems": list(getattr(answer, "problems", ())),
        "cited": [n for _, n in cited],
        "gold": list(item.paragraphs),
        "must_include": list(item.must_include),
        "answer_chars": len(text),
        "citations_valid": valid,
        "unsupported_numbers": unsupported,
        "ms": answer.timings_ms.get("total_ms"),
    }
    if item.answerable:
        result["correct"] = (
            not answer.refused
            and all(includes(text, m) for m in item.must_include)
            and bool(set(item.paragraphs) & {n for d, n in cited if item.doc in (None, d)})
            and len(text) <= MAX_ANSWER_CHARS
        )
    else:
        result["correct"] = answer.refused and not answer.citations
    return result


def evaluate_answers(engine, items: list[EvalItem], report: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Answer every question and score: accuracy (all must_include present, a gold paragraph cited,
    ≤150 characters without citation marks), answers with a figure absent from their cited
    paragraphs, citation validity, refusals of unanswerable questions, false refusals, latency."""
    from tqdm import tqdm

    rows = []
    for item in tqdm(items, desc="answering", unit="q", disable=not progress):
        started = time.perf_counter()
        answer = engine.answer(item.question)
        row = score_answer(item, answer, engine.retriever.index.docs)
        row["ms"] = round((time.perf_counter() - started) * 1000, 1)
        rows.append(row)
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        with open(report, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    answerable = [r for r, i in zip(rows, items) if i.answerable]
    unanswerable = [r for r, i in zip(rows, items) if not i.answerable]
    lengths = [r["answer_chars"] for r in answerable if not r["refused"]]
    times = sorted(r["ms"] for r in rows)
    return {
        "questions": len(rows),
        "accuracy": _ratio(sum(r["correct"] for r in answerable), len(answerable)),
        "correct": sum(r["correct"] for r in answerable),
        "answerable": len(answerable),
        "unsupported_number_answers": sum(bool(r["unsupported_numbers"]) for r in rows),
        "citations_valid": _ratio(sum(r["citations_valid"] for r in rows), len(rows)),
        "refusal_rate_unanswerable": _ratio(sum(r["refused"] for r in unanswerable), len(unanswerable)),
        "false_refusal_rate": _ratio(sum(r["refused"] for r in answerable), len(answerable)),
        "median_answer_chars": statistics.median(lengths) if lengths else 0,
        "generated_share": _ratio(sum(r["source"] == "generated" for r in answerable), len(answerable)),
        "latency_p50_ms": round(percentile(times, 50), 1),
        "latency_p95_ms": round(percentile(times, 95), 1),
        "wrong": [r["id"] for r in rows if not r["correct"]],
    }


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * pct / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def format_answer_table(m: dict[str, Any]) -> str:
    rows = [
        ("accuracy (answerable)", f"{m['accuracy']:.1%}  ({m['correct']}/{m['answerable']})"),
        ("answers with unsupported numbers", str(m["unsupported_number_answers"])),
        ("citations valid", f"{m['citations_valid']:.1%}"),
        ("unanswerable refused", f"{m['refusal_rate_unanswerable']:.1%}"),
        ("answerable refused", f"{m['false_refusal_rate']:.1%}"),
        ("median answer length (chars)", str(m["median_answer_chars"])),
        ("answers written by the model", f"{m['generated_share']:.1%}"),
        ("latency p50 / p95", f"{m['latency_p50_ms'] / 1000:.2f} s / {m['latency_p95_ms'] / 1000:.2f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if m.get("wrong"):
        lines.append("wrong: " + ", ".join(m["wrong"]))
    return "\n".join(lines)
