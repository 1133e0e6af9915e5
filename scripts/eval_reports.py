"""Score question files with each report loaded alone, as the issues measure them.

    .venv/bin/python scripts/eval_reports.py ../shared/eval/check/*.jsonl          # extractive
    .venv/bin/python scripts/eval_reports.py --generator local ../shared/eval/fit/*.jsonl

Items are grouped by their `doc`; each report gets its own index (built once, cached under
`.cache/report-index/<doc>-<hash>`), and the engine answers its questions over that report alone.
Prints the totals, then one table per kind, per variant and per report; `--report FILE` writes
the per-question rows (JSONL). Cross-report files (items without `doc`) are skipped here: they
load all reports (`qa eval` with the whole corpus).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.builder import build_embedder, build_generator  # noqa: E402
from qa.corpus import load_corpus  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.evaluation import breakdown, evaluate_answers, summarize  # noqa: E402
from qa.evalsets import load_eval  # noqa: E402
from qa.index import build_index, load_index  # noqa: E402
from qa.normalize import TEXT_VERSION  # noqa: E402
from qa.retrieval import Retriever  # noqa: E402
from qa.settings import load_settings  # noqa: E402

CORPUS = ROOT / "examples" / "provincial-2026"


def report_engine(doc: str, settings, embedder, generator, cache: Path) -> Engine:
    """An engine over `doc` alone, its index built once and cached by the report's hash."""
    source = CORPUS / f"{doc}.txt"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    folder = cache / f"{doc}-{digest}-{TEXT_VERSION}"  # the text an index embeds is normalised by that version
    seeds, index = folder / "seeds", folder / "index"
    if not (index / "manifest.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        seeds.mkdir(parents=True)
        shutil.copy(source, seeds)
        build_index(load_corpus(seeds), embedder, index, progress=False)
    docs = load_corpus(seeds)
    retriever = Retriever(load_index(index, docs, embedder.id), embedder, rrf_k=settings.rrf_k)
    return Engine(retriever, generator, settings.replace(seeds_dir=seeds, index_dir=index))


def table(rows: list[dict], key: str) -> str:
    lines = [f"{key:<22}{'n':>5}{'right':>8}{'refused':>9}{'no fig':>8}{'measure':>9}"]
    for name, s in sorted(breakdown(rows, key).items()):
        unans = name == "unanswerable" or (key == "group" and name == "unanswerable")
        right = s["refusal_rate_unanswerable"] if unans else s["accuracy"]
        refused = s["refusal_rate_unanswerable"] if unans else s["false_refusal_rate"]
        lines.append(f"{name:<22}{s['questions']:>5}{right:>8.1%}{refused:>9.1%}{s['unsupported_number_answers']:>8}{s['wrong_measure_answers']:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--generator", default="extractive", choices=("extractive", "local"))
    parser.add_argument("--report", type=Path, help="write per-question rows here (JSONL)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings().replace(generator=args.generator)
    embedder = build_embedder(settings)
    generator = build_generator(settings)
    by_doc: dict[str, list] = defaultdict(list)
    for path in args.files:
        for item in load_eval(path):
            if item.doc:
                by_doc[item.doc].append(item)
    rows: list[dict] = []
    cache = ROOT / ".cache" / "report-index"
    for doc, items in sorted(by_doc.items()):
        engine = report_engine(doc, settings, embedder, generator, cache)
        rows += evaluate_answers(engine, items, progress=False)["rows"]
        print(f"{doc}: {summarize([r for r in rows if r['doc'] == doc])['accuracy']:.1%}", file=sys.stderr)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    total = summarize(rows)
    if args.json:
        print(json.dumps({"total": {k: v for k, v in total.items() if k != "wrong"}, **{key: breakdown(rows, key) for key in ("kind", "variant", "doc")}}, ensure_ascii=False))
        return 0
    print(f"accuracy (answerable) {total['accuracy']:.1%} ({total['correct']}/{total['answerable']}); "
          f"unanswerable refused {total['refusal_rate_unanswerable']:.1%}; answerable refused {total['false_refusal_rate']:.1%}; "
          f"figure not in citation {total['unsupported_number_answers']}; other measure {total['wrong_measure_answers']}")
    for key in ("group", "kind", "variant", "doc"):
        print("\n" + table(rows, key))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
