"""Scoring answers and retrieval on question files (`qa eval`, `qa eval-retrieval`).

Rules for one answer (see `qa/evalsets.py` for the file format):

- answerable, `must_include` items: not refused, every entry present, a gold paragraph cited, at
  most 150 characters without citation marks (400 for definitions and open kinds);
- `any_of` items (open kinds): not refused, at least `min_hits` points present, a gold paragraph
  cited, at most 400 characters;
- cross-report items: at least `min_hits` points, every gold document cited (for selections, those
  with `must_not_include`, at least `min_hits` of them), none of `must_not_include`;
- unanswerable: refused (a refusal may show the neighbouring fact it holds, with its citation);
- for every answer, also counted: a figure that is not in the paragraph its part of the answer
  cites (`unsupported`), and a figure stated under another measure than its source's (`wrong
  measure`, from the same claim check the engine uses).

Left out: judging fluency; the points are matched as written (in either script).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .evalsets import EvalFileError, EvalItem, load_eval, split_of  # noqa: F401 - re-exported
from .grounding import CITATION, numbers_in, parse_citations
from .retrieval import Retriever


LIST_NUMBER = re.compile(r"(?m)^\s*\d+\.\s")
OPEN_LEAD = re.compile(r"共有?\d+(?:条|个部分|个方面)|列出\d+条|共查阅\d+份报告|\d+份报告(?:中|的)|\d+份(?:有|符合)")


def percentile(values: Sequence[float], pct: float) -> float:
    """numpy's linear-interpolated percentile; 0.0 for no values."""
    return float(np.percentile(values, pct)) if len(values) else 0.0


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
        if not item.answerable or not item.paragraphs:
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
    return CITATION.sub("", text).strip()


def includes(text: str, wanted: str) -> bool:
    """`a|b` means either alternative; matching ignores spaces and the script (an answer to a
    Traditional question is written in Traditional: 75.7萬 holds 75.7万)."""
    from .normalize import to_simplified

    compact = to_simplified(text.replace(" ", ""))
    return any(to_simplified(alt.replace(" ", "")) in compact for alt in wanted.split("|"))


def segments(text: str) -> list[tuple[str, list[tuple[str | None, int]]]]:
    """The answer cut after each run of citation marks: (text of the part, its references)."""
    out: list[tuple[str, list[tuple[str | None, int]]]] = []
    pos = 0
    matches = list(CITATION.finditer(text))
    i = 0
    while i < len(matches):
        j = i
        while j + 1 < len(matches) and matches[j + 1].start() == matches[j].end():
            j += 1
        refs = parse_citations(text[matches[i].start() : matches[j].end()]).refs
        out.append((text[pos : matches[i].start()], [(r.doc, r.paragraph) for r in refs]))
        pos = matches[j].end()
        i = j + 1
    if text[pos:].strip():
        out.append((text[pos:], []))
    return out


def _paragraph_text(docs, doc: str | None, n: int) -> str | None:
    if doc in docs and 1 <= n <= len(docs[doc].paragraphs):
        return docs[doc].paragraph(n).text
    return None


def figure_problems(answer, docs) -> tuple[list[str], list[str]]:
    """Figures not in the paragraph their part of the answer cites, and figures under another measure.

    A part without its own citation (a lead sentence) is checked against every cited paragraph.
    """
    from .claims import measure_problems

    cited = [(c.doc, c.paragraph) for c in answer.citations]
    default = cited[0][0] if cited else None
    every = "\n".join(t for d, n in cited if (t := _paragraph_text(docs, d, n)))
    unsupported, wrong_measure = [], []
    for part, refs in segments(answer.text):
        part = LIST_NUMBER.sub("", part)
        part = OPEN_LEAD.sub("", part)  # the lead of an open or cross answer counts points or reports: the engine's count, not a document figure
        support = "\n".join(t for d, n in refs if (t := _paragraph_text(docs, d or default, n))) if refs else every
        have = set(numbers_in(support))
        unsupported += [n for n in numbers_in(part) if n not in have]
        if support:
            wrong_measure += measure_problems(part, support)
    return unsupported, wrong_measure


def _verdict(item: EvalItem, answer, text: str, cited: list[tuple[str, int]]) -> bool:
    if not item.answerable:
        return bool(answer.refused)
    if answer.refused or len(text) > item.max_chars:
        return False
    if any(includes(text, s) for s in item.must_not_include):
        return False
    if not all(includes(text, m) for m in item.must_include):
        return False
    if item.any_of and sum(includes(text, p) for p in item.any_of) < item.min_hits:
        return False
    if item.gold:
        cited_docs = {d for d, n in cited for g in item.gold if g.doc == d and (not g.paragraphs or n in g.paragraphs)}
        needed = min(item.min_hits, len(item.gold)) if item.must_not_include else len(item.gold)
        return len(cited_docs) >= needed
    return bool(set(item.paragraphs) & {n for d, n in cited if item.doc in (None, d)})


def score_answer(item: EvalItem, answer, docs) -> dict[str, Any]:
    """Per-question verdicts for one Answer (the rules are in the module docstring)."""
    text = strip_citations(answer.text)
    cited = [(c.doc, c.paragraph) for c in answer.citations]
    valid = all(_paragraph_text(docs, d, n) is not None for d, n in cited)
    unsupported, wrong_measure = figure_problems(answer, docs) if not answer.refused or cited else ([], [])
    return {
        "id": item.id,
        "set": item.source,
        "kind": item.kind,
        "variant": item.variant or "plain",
        "doc": item.doc or "",
        "group": item.group,
        "split": split_of(item),
        "question": item.question,
        "answer": answer.text,
        "refused": answer.refused,
        "source": getattr(answer, "source", ""),
        "problems": list(getattr(answer, "problems", ())),
        "cited": [f"{d}:{n}" for d, n in cited],
        "gold": list(item.paragraphs) or [f"{g.doc}:{g.paragraphs}" for g in item.gold],
        "must_include": list(item.must_include) or list(item.any_of),
        "answer_chars": len(text),
        "citations_valid": valid,
        "unsupported_numbers": unsupported,
        "wrong_measure": wrong_measure,
        "correct": _verdict(item, answer, text, cited),
        "ms": answer.timings_ms.get("total_ms"),
    }


def evaluate_answers(engine, items: list[EvalItem], report: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Answer every question (with its history and document scope) and score it; returns the
    summary of `summarize` with the per-question rows under "rows"."""
    from tqdm import tqdm

    rows = []
    for item in tqdm(items, desc="answering", unit="q", disable=not progress):
        started = time.perf_counter()
        answer = engine.answer(item.question, list(item.history) or None)
        row = score_answer(item, answer, engine.retriever.index.docs)
        row["ms"] = round((time.perf_counter() - started) * 1000, 1)
        rows.append(row)
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        with open(report, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {**summarize(rows), "rows": rows}


def summarize(rows: list[dict]) -> dict[str, Any]:
    """Accuracy, refusals, figure problems and latency over rows (all together)."""
    answerable = [r for r in rows if r["group"] != "unanswerable"]
    unanswerable = [r for r in rows if r["group"] == "unanswerable"]
    lengths = [r["answer_chars"] for r in answerable if not r["refused"]]
    times = [r["ms"] for r in rows if r["ms"] is not None]
    return {
        "questions": len(rows),
        "accuracy": _ratio(sum(r["correct"] for r in answerable), len(answerable)),
        "correct": sum(r["correct"] for r in answerable),
        "answerable": len(answerable),
        "unsupported_number_answers": sum(bool(r["unsupported_numbers"]) for r in rows),
        "wrong_measure_answers": sum(bool(r["wrong_measure"]) for r in rows),
        "citations_valid": _ratio(sum(r["citations_valid"] for r in rows), len(rows)),
        "refusal_rate_unanswerable": _ratio(sum(r["refused"] for r in unanswerable), len(unanswerable)),
        "unanswerable": len(unanswerable),
        "false_refusal_rate": _ratio(sum(r["refused"] for r in answerable), len(answerable)),
        "median_answer_chars": statistics.median(lengths) if lengths else 0,
        "generated_share": _ratio(sum(r["source"] == "generated" for r in answerable), len(answerable)),
        "latency_p50_ms": round(percentile(times, 50), 1),
        "latency_p95_ms": round(percentile(times, 95), 1),
        "wrong": [r["id"] for r in rows if not r["correct"]],
    }


def breakdown(rows: list[dict], key: str) -> dict[str, dict[str, Any]]:
    """`summarize` per value of `key` (set, kind, group or split), in first-seen order."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row[key]), []).append(row)
    return {name: summarize(rs) for name, rs in groups.items()}


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def format_answer_table(m: dict[str, Any]) -> str:
    """The overall figures, then one line per group and per kind."""
    rows = [
        ("accuracy (answerable)", f"{m['accuracy']:.1%}  ({m['correct']}/{m['answerable']})"),
        ("answers with a figure not in the cited paragraph", str(m["unsupported_number_answers"])),
        ("answers with a figure under another measure", str(m["wrong_measure_answers"])),
        ("citations valid", f"{m['citations_valid']:.1%}"),
        ("unanswerable refused", f"{m['refusal_rate_unanswerable']:.1%}  (of {m['unanswerable']})"),
        ("answerable refused", f"{m['false_refusal_rate']:.1%}"),
        ("median answer length (chars)", str(m["median_answer_chars"])),
        ("answers written by the model", f"{m['generated_share']:.1%}"),
        ("latency p50 / p95", f"{m['latency_p50_ms'] / 1000:.2f} s / {m['latency_p95_ms'] / 1000:.2f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if "rows" in m:
        lines += ["", format_kind_table(m["rows"])]
    if m.get("wrong"):
        lines.append("wrong: " + ", ".join(m["wrong"]))
    return "\n".join(lines)


def format_kind_table(rows: list[dict]) -> str:
    """One line per group and kind: n, right, refused, figure problems, p50."""
    head = f"{'':<16}{'n':>4}{'right':>8}{'refused':>9}{'no fig':>8}{'measure':>9}{'p50 s':>8}"
    lines = [head]
    for key in ("group", "kind"):
        for name, s in breakdown(rows, key).items():
            n = s["questions"]
            refused = s["refusal_rate_unanswerable"] if name == "unanswerable" else s["false_refusal_rate"]
            right = s["refusal_rate_unanswerable"] if name == "unanswerable" else s["accuracy"]
            lines.append(
                f"{name:<16}{n:>4}{right:>8.0%}{refused:>9.0%}{s['unsupported_number_answers']:>8}"
                f"{s['wrong_measure_answers']:>9}{s['latency_p50_ms'] / 1000:>8.2f}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()
