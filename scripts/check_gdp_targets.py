#!/usr/bin/env python3
"""Check the engine's "各省GDP增长目标" table against each report's own target sentence.

For every report of the corpus it reads, independently of the engine, the sentence that states the
year's main expected targets (主要预期目标…) and takes the growth target written there for the
regional product (地区生产总值/生产总值/经济 增长 X); then it asks the engine the table question and
compares each row with it: the row must cite that report and state the same figure expression (5%左右,
4.5%—5%, 5%以上, 按增长5%安排), or say 未提及 where the report states none.

    QA_SEEDS_DIR=examples/provincial-2026 QA_INDEX_DIR=/tmp/idx-all QA_GENERATOR=extractive \\
        .venv/bin/python scripts/check_gdp_targets.py
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.builder import build_engine  # noqa: E402
from qa.settings import load_settings  # noqa: E402

QUESTION = "各省2026年的地区生产总值增长目标"
TARGETS = re.compile(r"(?:主要预期目标|预期目标|主要目标)[是为：:\s]*[^。]*?(?:地区生产总值|生产总值|经济)(?:按)?增长\s*([\d.]+\s*[%％]?(?:\s*[—–\-~～至到]\s*[\d.]+\s*[%％]?)?(?:左右|以上|以内)?)")


def stated_target(doc) -> str | None:
    """The GDP growth target of a report's target sentence, as written (None: not found)."""
    text = "".join(p.text for p in doc.paragraphs)
    match = TARGETS.search(text)
    return re.sub(r"\s+", "", match.group(1)).replace("％", "%") if match else None


def main() -> int:
    engine = build_engine(load_settings())
    started = time.perf_counter()
    answer = engine.answer(QUESTION)
    seconds = time.perf_counter() - started
    rows = {row.doc: row for row in answer.rows}
    agree = 0
    for doc_id, doc in engine.retriever.index.docs.items():
        truth = stated_target(doc)
        row = rows.get(doc_id)
        value = (row.value if row else "—").replace("％", "%")
        ok = row is not None and (truth is None and row.paragraph is None or truth is not None and truth in value.replace(" ", ""))
        agree += ok
        print(f"{'OK ' if ok else 'XX '} {doc_id[:28]:<28} report: {truth or '未找到':<12} row: {value[:40]}")
    print(f"{agree}/{len(engine.retriever.index.docs)} rows agree with the reports' target sentences; answered in {seconds:.1f} s")
    return 0 if agree == len(engine.retriever.index.docs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
