#!/usr/bin/env python3
"""Fit the refusal thresholds of qa/data/tuning.toml on the fit split, and show how they separate.

Usage (one `--set` per corpus: question file, seeds folder, index folder):

    .venv/bin/python scripts/fit_tuning.py \
        --set tests/data/eval/dev-kinds.jsonl seeds index \
        --set tests/data/eval/provincial-jiangsu.jsonl /tmp/js /tmp/js-index ...

For every fact question of the fit split it records the evidence score and whether the question
has a topic word no document contains; then it searches the two thresholds (refuse below
`min_evidence_score`; refuse below `min_score_with_absent` when a topic word is absent) that get
the most fit questions right, breaking ties by the widest margin, and prints them with the
questions nearest each threshold. Nothing is written: copy the values into the file and say so in
the commit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.builder import build_retriever  # noqa: E402
from qa.evalsets import load_eval, split_of  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.settings import load_settings  # noqa: E402


def features(question_file: Path, seeds: Path, index: Path, split: str) -> list[dict]:
    """Evidence score, absent topic word and near miss of every fit fact question, as the engine sees them."""
    engine = Engine(build_retriever(load_settings().replace(seeds_dir=seeds, index_dir=index)), None)
    rows = []
    for item in load_eval(question_file):
        if split_of(item) != split:
            continue
        sel = engine.fact_evidence(item.question, list(item.history) or None)
        if sel is None:
            continue
        rows.append({"id": item.id, "answerable": item.answerable, "score": sel.strength, "absent": bool(sel.absent), "near_miss": bool(sel.near_miss)})
    return rows


def right(rows: list[dict], t1: float, t2: float) -> int:
    ok = 0
    for r in rows:
        refused = r["score"] < t1 or (r["absent"] and r["score"] < t2) or r["near_miss"]
        ok += refused != r["answerable"]
    return ok


def margin(rows: list[dict], t: float) -> float:
    return min((abs(r["score"] - t) for r in rows), default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", nargs=3, action="append", metavar=("QUESTIONS", "SEEDS", "INDEX"), required=True)
    parser.add_argument("--split", default="fit", choices=("fit", "held"))
    args = parser.parse_args()
    rows = [r for q, s, i in args.set for r in features(Path(q), Path(s), Path(i), args.split)]
    grid = [round(1.0 + 0.005 * i, 3) for i in range(141)]
    best = max(
        ((t1, t2) for t1 in grid for t2 in grid if t2 >= t1),
        key=lambda t: (right(rows, *t), margin(rows, t[0]) + margin([r for r in rows if r["absent"]], t[1])),
    )
    print(json.dumps({"questions": len(rows), "right": right(rows, *best), "min_evidence_score": best[0], "min_score_with_absent": best[1]}))
    for r in sorted(rows, key=lambda r: r["score"])[:25]:
        print(f"{'answerable' if r['answerable'] else 'UNANSWERABLE':>12} {r['id']:>6} {r['score']:.3f} absent={r['absent']} near_miss={r['near_miss']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
