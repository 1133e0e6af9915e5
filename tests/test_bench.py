"""qa.bench: the pure helpers, and `qa bench --quick --json` end to end (slow: real models).

The benchmark's figures are not checked against targets here (timings depend on the machine and
its load); the smoke test only checks that the command runs and produces every figure.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from qa.bench import REQUIRED_KEYS, Run, Sample, percentile, quick_subset
from qa.bench_startup import settings_env
from qa.evaluation import load_eval
from qa.settings import Settings, project_root

ROOT = project_root()


def test_percentile_interpolates_like_numpy():
    assert percentile([], 50) == 0.0
    assert percentile([3.0], 95) == 3.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([4, 1, 3, 2], 0) == 1 and percentile([4, 1, 3, 2], 100) == 4
    assert math.isclose(percentile(list(range(1, 21)), 95), 19.05)


def test_quick_subset_has_answerable_and_unanswerable():
    items = load_eval(ROOT / "tests" / "data" / "dev.jsonl")
    subset = quick_subset(items)
    assert len(subset) == 4
    assert [i.answerable for i in subset] == [True, True, True, False]


def test_run_summary_counts_only_generated_answers_for_ttft_and_decode():
    run = Run(
        "x",
        samples=[
            Sample("a", retrieval_ms=10, answer_s=1.0, ttft_s=0.5, new_tokens=11, decode_s=0.5, forward_calls=4, drafted=8, accepted=6, correct=True),
            Sample("b", retrieval_ms=20, answer_s=0.1, correct=False),  # a refusal: no tokens
        ],
    )
    s = run.summary()
    assert s["ttft_p50_s"] == 0.5 and s["generated"] == 1
    assert s["decode_tokens_per_s"] == 20.0  # 10 tokens after the first in 0.5 s
    assert s["retrieval_p50_ms"] == 15.0 and s["accuracy"] == 0.5
    assert s["tokens_per_decode_call"] == 2.5 and s["draft_acceptance"] == 0.75


def test_settings_env_round_trips_through_qa_variables(tmp_path):
    from qa.settings import load_settings

    settings = Settings(seeds_dir=tmp_path / "s", threads=3, quantize="none")
    loaded = load_settings(environ=settings_env(settings))
    assert loaded.seeds_dir == (tmp_path / "s").resolve()
    assert loaded.threads == 3 and loaded.quantize == "none" and loaded.model == settings.model


@pytest.mark.slow
def test_qa_bench_quick_json_reports_every_figure(real_index):
    seeds, index_dir = real_index
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(
        QA_SEEDS_DIR=str(seeds),
        QA_INDEX_DIR=str(index_dir),
        QA_CACHE_DIR=str(ROOT / ".cache"),
        TQDM_DISABLE="1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "qa", "bench", "--quick", "--json", str(ROOT / "tests" / "data" / "dev.jsonl")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in REQUIRED_KEYS:
        assert isinstance(result[key], (int, float)) and not isinstance(result[key], bool), key
        assert result[key] >= 0, key
    assert result["cold_start_s"] > 0 and result["ttft_p50_s"] > 0 and result["decode_tokens_per_s"] > 0
    assert result["naive"]["questions"] == 2 and result["questions"] == 4
    assert set(result["targets"]) and result["ratios"]["answer_p50"] == result["speedup_vs_naive"]


def test_kinds_are_timed_per_group():
    from qa.bench_kinds import format_kinds, measure_kinds
    from qa.engine import Answer, Citation, Event
    from qa.evalsets import EvalItem

    class Doc:
        paragraphs = (object(),) * 5

        def paragraph(self, n):
            return type("P", (), {"text": "增长5%"})()

    class FakeEngine:
        retriever = type("R", (), {"index": type("I", (), {"docs": {"d": Doc()}})()})()

        def answer_stream(self, question, history=None):
            yield Event(delta="增长")
            yield Event(answer=Answer("增长5%[3]", (Citation("d", "t", 3, "增长5%"),), False))

    items = [
        EvalItem("a", "q", (3,), ("5%",), True, kind="number"),
        EvalItem("b", "q", (3,), (), True, kind="plan", any_of=("增长",), min_hits=1),
        EvalItem("c", "q", (), (), False, kind="unanswerable"),
    ]
    by_group = measure_kinds(FakeEngine(), items)
    assert set(by_group) == {"fact", "open", "unanswerable"}
    assert by_group["fact"]["right"] == 1.0 and by_group["unanswerable"]["right"] == 0.0
    assert len(format_kinds(by_group)) == 4
