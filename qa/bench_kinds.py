"""Speed per group of answer kinds (fact, open, unanswerable, cross) for `qa bench --kinds FILE`.

Open answers (several cited points) and cross-document rows take other paths than fact answers, so
their latency is reported on its own: the first event (the first streamed text, or the answer when
nothing streams) and the whole answer, p50 and p95, with the share right by the `qa eval` rules.
"""

from __future__ import annotations

import time
from typing import Any

from .evaluation import percentile, score_answer
from .evalsets import EvalItem


def measure_kinds(engine, items: list[EvalItem]) -> dict[str, dict[str, Any]]:
    """Answer every item (with its history) and summarise the timings per group."""
    docs = engine.retriever.index.docs
    samples: dict[str, list[tuple[float, float, bool]]] = {}
    for item in items:
        started = time.perf_counter()
        first, answer = None, None
        for event in engine.answer_stream(item.question, list(item.history) or None):
            if first is None:
                first = time.perf_counter()
            if event.answer is not None:
                answer = event.answer
        ended = time.perf_counter()
        right = bool(score_answer(item, answer, docs)["correct"])
        samples.setdefault(item.group, []).append((first - started, ended - started, right))
    out = {}
    for group, rows in samples.items():
        firsts, totals = [r[0] for r in rows], [r[1] for r in rows]
        out[group] = {
            "questions": len(rows),
            "first_event_p50_s": round(percentile(firsts, 50), 3),
            "answer_p50_s": round(percentile(totals, 50), 3),
            "answer_p95_s": round(percentile(totals, 95), 3),
            "right": round(sum(r[2] for r in rows) / len(rows), 3),
        }
    return out


def format_kinds(by_group: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"{'by kind':<16}{'n':>4}{'first p50':>11}{'answer p50':>12}{'p95':>8}{'right':>7}"]
    for group, s in by_group.items():
        lines.append(
            f"{group:<16}{s['questions']:>4}{s['first_event_p50_s']:>10.2f}s{s['answer_p50_s']:>11.2f}s{s['answer_p95_s']:>7.2f}s{s['right']:>7.0%}"
        )
    return lines
