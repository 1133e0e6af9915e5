"""Fit the answerability threshold of fact rows across documents, and write `qa/data/cross.toml`.

    .venv/bin/python scripts/fit_cross.py --index .cache/cross30/index \\
        ../shared/eval/fit/cross.jsonl ../shared/eval/cross-provincial.jsonl

Every cross question of the files is planned as the engine plans it (`qa.cross_plan`); each of its
gold documents is asked its row's question and the row is chosen as the engine chooses it
(`qa.answer.rows.choose_row`, threshold 0). A row is right when it cites a gold paragraph of its document or holds one of the question's
answer strings. The threshold kept maximises right rows minus wrong rows accepted (a wrong figure
with a citation is worse than 未提及, which the row shows below the threshold); ties go to the
higher threshold. Only the fit files: never the check split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.analysis import analyze  # noqa: E402
from qa.builder import build_engine  # noqa: E402
from qa.answer.rows import choose_row  # noqa: E402
from qa.cross import row_question  # noqa: E402
from qa.cross_plan import plan_cross  # noqa: E402
from qa.evaluation import includes  # noqa: E402
from qa.routing import named_documents  # noqa: E402
from qa.settings import load_settings  # noqa: E402

OUT = ROOT / "qa" / "data" / "cross.toml"


def row_samples(engine, items: list[dict]) -> list[tuple[float, bool, str]]:
    """(P of the best clauses, is it right, id) of every fact row of a gold document."""
    docs = engine.retriever.index.docs
    out = []
    for item in items:
        question = item["question"]
        plan = plan_cross(question, named_documents(analyze(question).search_text, docs), docs)
        if plan is None:
            continue
        answers = [a for a in item.get("any_of", []) + item.get("must_include", []) if any(ch.isdigit() for ch in a)]
        for gold in item.get("gold", []):
            if gold["doc"] not in plan.targets:
                continue
            analysis, query, stats = row_question(engine.retriever, gold["doc"], question, plan)
            if analysis.open or analysis.kind == "definition":
                continue
            hits = engine.retriever.search_query(query, k=engine.settings.top_k, sentences_per_hit=1000, docs=[gold["doc"]])
            choice = choose_row(engine.models, stats, query, hits, analysis, 0.0, plan.condition)
            name = f"{item['id']}:{gold['doc'].split('-')[0]}"
            if choice is None:
                print(f"no row whatever the threshold: {name}", file=sys.stderr)
                continue  # no candidate states the asked figure
            c = choice.candidate
            right = c.paragraph in gold["paragraphs"] or any(includes(c.text, a) for a in answers)
            out.append((choice.confidence, right, name))
    return out


def best_threshold(samples: list[tuple[float, bool, str]]) -> tuple[float, int]:
    """The threshold (and its score) maximising right minus wrong rows accepted."""
    candidates = sorted({p for p, _, _ in samples} | {0.0, 1.0})
    best = (1.0, 0)
    for t in candidates:
        score = sum(1 if right else -1 for p, right, _ in samples if p >= t)
        if score > best[1] or (score == best[1] and t > best[0]):
            best = (t, score)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--seeds", type=Path, default=ROOT / "examples" / "provincial-2026")
    parser.add_argument("--index", type=Path, required=True, help="an index of the 30 reports")
    parser.add_argument("--dry-run", action="store_true", help="print, do not write qa/data/cross.toml")
    args = parser.parse_args(argv)
    if any("check" in p.parts for p in args.files):
        parser.error("fit on the fit split only")
    engine = build_engine(load_settings().replace(seeds_dir=args.seeds, index_dir=args.index, generator="extractive"))
    items = [json.loads(line) for path in args.files for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    samples = row_samples(engine, items)
    threshold, score = best_threshold(samples)
    accepted = [(p, r) for p, r, _ in samples if p >= threshold]
    for p, right, name in sorted(samples):
        print(f"{p:.3f} {'right' if right else 'WRONG'} {name}")
    summary = (f"{len(samples)} rows ({sum(r for _, r, _ in samples)} right); threshold {threshold:.3f} accepts "
               f"{sum(r for _, r in accepted)} right, {sum(not r for _, r in accepted)} wrong")
    print(summary)
    if not args.dry_run:
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in args.files)).hexdigest()
        OUT.write_text(
            "# Rows of answers across documents (qa/cross.py). Refit with scripts/fit_cross.py.\n"
            f"# Fitted on {', '.join(p.name for p in args.files)} (sha256 {digest[:16]}), {time.strftime('%Y-%m-%d')}: {summary}.\n"
            f"[rows]\nthreshold = {threshold:.4f}\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
