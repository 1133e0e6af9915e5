"""Train the learned answer core from the fit data and write `qa/data/answer_model.json`.

    .venv/bin/python scripts/train_answer.py                 # all training files → the shipped model
    .venv/bin/python scripts/train_answer.py --sample 3 --out /tmp/m.json   # 3 reports (CI's quick run)

Fits on `../shared/eval/fit/*.jsonl` (not its cross set), `tests/data/train/*.jsonl` (questions
written on the fit reports), the older provincial sets and the seed's sets. Never on `check/`.
Each report is loaded alone, as `qa eval` is measured. Prints leave-one-report-out figures.
"""

from __future__ import annotations

import argparse
import logging
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.answer.fitting import fit_all  # noqa: E402
from qa.answer.training import data_hash, examples, open_examples, report_engine, training_items  # noqa: E402
from qa.builder import build_embedder  # noqa: E402
from qa.settings import load_settings  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
SEED = "huzhou-2024-government-work-report"


def training_files() -> list[Path]:
    """The files the shipped model is fitted on (see the module docstring)."""
    fit = sorted(p for p in (SHARED / "fit").glob("*.jsonl") if p.name != "cross.jsonl")
    older = [SHARED / n for n in ("provincial-jiangsu.jsonl", "provincial-guangdong.jsonl", "dev.jsonl", "dev-kinds.jsonl")]
    return fit + sorted((ROOT / "tests" / "data" / "train").glob("*.jsonl")) + [p for p in older if p.exists()]


def source_of(doc: str) -> Path:
    own = ROOT / "examples" / "provincial-2026" / f"{doc}.txt"
    return own if own.exists() else ROOT / "seeds" / f"{doc}.txt"


def _cached(path: Path, by_doc: dict) -> tuple[list, list, set]:
    """The examples kept in `path`, less those of questions no longer in the training files."""
    kept = pickle.loads(path.read_bytes())
    found, found_open = kept[0], kept[1]
    current = {(item.source, item.id) for items in by_doc.values() for item in items}
    found = [e for e in found if (e.item.source, e.item.id) in current]
    found_open = [e for e in found_open if (e.item.source, e.item.id) in current]
    seen = set(kept[2]) & current if len(kept) > 2 else {(e.item.source, e.item.id) for e in [*found, *found_open]}
    return found, found_open, seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "qa" / "data" / "answer_model.json")
    parser.add_argument("--sample", type=int, default=0, help="only this many reports (a quick run)")
    parser.add_argument("--examples", type=Path, help="keep the retrieved examples in this pickle and reuse them when it exists (only new questions are retrieved)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    files = training_files()
    settings = load_settings().replace(generator="extractive", answer_core="rules")  # the engine only retrieves here
    embedder = build_embedder(settings)
    by_doc = training_items(files, SEED)
    docs = sorted(by_doc)[: args.sample] if args.sample else sorted(by_doc)
    found, found_open, seen = [], [], set()
    if args.examples and args.examples.exists():  # reuse what was retrieved; retrieve only new questions
        found, found_open, seen = _cached(args.examples, by_doc)
    for doc in docs:
        todo = [item for item in by_doc[doc] if (item.source, item.id) not in seen]
        if not todo:
            continue
        engine = report_engine(source_of(doc), settings, embedder, None, ROOT / ".cache" / "report-index")
        found += examples(engine, todo, doc)
        found_open += open_examples(engine, todo, doc)
        seen |= {(item.source, item.id) for item in todo}
        print(f"{doc}: {len(found)} fact and {len(found_open)} open questions so far ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if args.examples:
        args.examples.write_bytes(pickle.dumps((found, found_open, seen)))
    models = fit_all(found, data_hash(files) if not args.sample else f"sample:{args.sample}", open_examples=found_open)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    models.save(args.out)
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
