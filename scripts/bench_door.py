"""Time the question door (`qa.normalize.QuestionDoor.read`: normalisation, misspelt words read as
the documents' own) over question files, each question against its report's vocabulary.

    .venv/bin/python scripts/bench_door.py ../shared/eval/fit/*.jsonl

Reads each report's index from the cache `scripts/eval_reports.py` builds (run it first); builds no
index and loads no model. Prints the door's p50 / p95 per question (ms), the vocabulary's build
time per report, and how many questions it corrected.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.corpus import load_corpus  # noqa: E402
from qa.evalsets import load_eval  # noqa: E402
from qa.index import load_index  # noqa: E402
from qa.normalize import TEXT_VERSION, QuestionDoor  # noqa: E402

CORPUS = ROOT / "examples" / "provincial-2026"


def door_for(doc: str, cache: Path) -> QuestionDoor:
    digest = hashlib.sha256((CORPUS / f"{doc}.txt").read_bytes()).hexdigest()[:12]
    folder = cache / f"{doc}-{digest}-{TEXT_VERSION}"
    docs = load_corpus(folder / "seeds")
    index = load_index(folder / "index", docs, None)
    text = "\n".join(p.text for d in index.docs.values() for p in d.paragraphs).lower()
    return QuestionDoor(SimpleNamespace(index=index, corpus_text=text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    by_doc = defaultdict(list)
    for path in args.files:
        for item in load_eval(path):
            if item.doc:
                by_doc[item.doc].append(item.question)
    times, builds, corrected = [], [], 0
    for doc, questions in sorted(by_doc.items()):
        door = door_for(doc, ROOT / ".cache" / "report-index")
        started = time.perf_counter()
        door.warm_up()  # what the server does when it loads: dictionaries, then the vocabulary
        builds.append(time.perf_counter() - started)
        for question in questions:
            started = time.perf_counter()
            reading = door.read(question)
            times.append(time.perf_counter() - started)
            corrected += bool(reading.notes)
    times.sort()
    print(f"{len(times)} questions, {len(by_doc)} reports: door p50 {statistics.median(times) * 1000:.2f} ms, "
          f"p95 {times[int(len(times) * 0.95)] * 1000:.2f} ms, max {times[-1] * 1000:.1f} ms; "
          f"warm-up (vocabulary) p50 {statistics.median(builds) * 1000:.0f} ms a report, first {builds[0] * 1000:.0f} ms; {corrected} questions corrected")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
