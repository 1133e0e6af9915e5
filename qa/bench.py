"""`qa bench`: how fast the default answer path is, next to a naive one, in the same run.

Measures, on a question file like `tests/data/dev.jsonl`:

- cold start: a fresh `python` process from start to a loaded Engine (`cold_start_s`) and to its
  first answer (`cold_first_answer_s`), with the model cache as it is; with `cold_cache=True` also
  into an empty cache directory (`cold_start_cold_cache_s`: assembling, converting, quantizing);
- index build time (every chunk embedded again, into a temporary folder);
- for the default configuration (the Engine as configured: int8, the lean decoder with prompt-lookup
  drafts, compact evidence, the number constraint):
  retrieval latency, time to first token, decode tokens/s, end-to-end answer latency (p50/p95),
  accuracy with `qa eval`'s rules, and the process's peak resident memory at that point;
- for the naive configuration, on the same questions: float32, transformers' own generate() one token
  per call, the top 3 whole paragraphs as context, no evidence selection and no
  number constraint; then the ratios.

Times are wall-clock on whatever else the machine is doing: run it on an idle machine, several times,
and compare medians. One warm-up answer per configuration is not counted (it fills the caches, as a
server's first request would). Left out: GPU timings, concurrency (see
`scripts/bench_concurrency.py`), remote generators (the naive side needs the local model).
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .bench_startup import BenchError, cold_start_figures, measure_index_build, peak_rss_mb
from .bench_kinds import format_kinds, measure_kinds
from .evaluation import EvalItem, load_eval, percentile, score_answer
from .settings import Settings

# The keys `--json` always holds (numbers); tests check them.
REQUIRED_KEYS = (
    "cold_start_s",
    "index_build_s",
    "retrieval_p50_ms",
    "retrieval_p95_ms",
    "ttft_p50_s",
    "ttft_p95_s",
    "decode_tokens_per_s",
    "answer_p50_s",
    "answer_p95_s",
    "peak_rss_mb",
    "speedup_vs_naive",
)

# The targets on two cores: (key, comparison, bound).
TARGETS = (
    ("ttft_p50_s", "<=", 0.6),
    ("answer_p50_s", "<=", 1.5),
    ("answer_p95_s", "<=", 3.0),
    ("retrieval_p50_ms", "<=", 30.0),
    ("cold_start_s", "<=", 8.0),
    ("decode_tokens_per_s", ">=", 40.0),
    ("peak_rss_mb", "<=", 3072.0),
    ("speedup_vs_naive", ">=", 4.0),
)

NAIVE_PARAGRAPHS = 3


@dataclass
class Sample:
    """One answered question."""

    id: str
    retrieval_ms: float
    answer_s: float
    ttft_s: float | None = None  # None: nothing generated (refusal, extractive answer)
    new_tokens: int = 0
    decode_s: float = 0.0
    forward_calls: int = 0  # model calls after the prompt's (decode steps)
    drafted: int = 0
    accepted: int = 0
    correct: bool | None = None
    text: str = ""


@dataclass
class Run:
    """The samples of one configuration."""

    name: str
    load_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        answers = [s.answer_s for s in self.samples]
        ttfts = [s.ttft_s for s in self.samples if s.ttft_s is not None]
        retrieval = [s.retrieval_ms for s in self.samples]
        tokens = sum(max(s.new_tokens - 1, 0) for s in self.samples)
        decode_s = sum(s.decode_s for s in self.samples if s.new_tokens > 1)
        scored = [s.correct for s in self.samples if s.correct is not None]
        steps = sum(s.forward_calls for s in self.samples)
        drafted = sum(s.drafted for s in self.samples)
        return {
            "questions": len(self.samples),
            "load_s": round(self.load_s, 3),
            "retrieval_p50_ms": round(percentile(retrieval, 50), 2),
            "retrieval_p95_ms": round(percentile(retrieval, 95), 2),
            "ttft_p50_s": round(percentile(ttfts, 50), 3),
            "ttft_p95_s": round(percentile(ttfts, 95), 3),
            "decode_tokens_per_s": round(tokens / decode_s, 2) if decode_s else 0.0,
            "answer_p50_s": round(percentile(answers, 50), 3),
            "answer_p95_s": round(percentile(answers, 95), 3),
            "answer_total_s": round(sum(answers), 3),
            "generated": len(ttfts),
            # Tokens written per decode call, and the share of prompt-lookup draft tokens kept.
            "tokens_per_decode_call": round(tokens / steps, 2) if steps else 1.0,
            "draft_acceptance": round(sum(s.accepted for s in self.samples) / drafted, 3) if drafted else 0.0,
            **({"accuracy": round(sum(scored) / len(scored), 4)} if scored else {}),
        }


def quick_subset(items: list[EvalItem], answerable: int = 3, unanswerable: int = 1) -> list[EvalItem]:
    """A few answerable questions and an unanswerable one, in file order."""
    a = [i for i in items if i.answerable][:answerable]
    u = [i for i in items if not i.answerable][:unanswerable]
    return a + u


# --------------------------------------------------------------------------- the two configurations


def run_default(engine, items: list[EvalItem], progress: Callable[[str], None] | None = None) -> Run:
    """Answer every question with the Engine as configured, timing each step."""
    run = Run("default")
    docs = engine.retriever.index.docs
    for item in items:
        started = time.perf_counter()
        first = None
        answer = None
        for event in engine.answer_stream(item.question):
            if event.delta and first is None:
                first = time.perf_counter()
            if event.answer is not None:
                answer = event.answer
        ended = time.perf_counter()
        assert answer is not None
        sample = Sample(
            id=item.id,
            retrieval_ms=float(answer.timings_ms.get("retrieval_ms", 0.0)),
            answer_s=ended - started,
            ttft_s=(first - started) if first is not None else None,
            correct=bool(score_answer(item, answer, docs)["correct"]),
            text=answer.text,
        )
        if first is not None:
            stats = getattr(engine.generator, "last_stats", {}) or {}
            sample.new_tokens = int(stats.get("new_tokens", 0))
            sample.decode_s = float(stats.get("decode_s", 0.0))
            sample.forward_calls = max(int(stats.get("forward_calls", 0)) - int(stats.get("prompt_calls", 1)), 0)
            sample.drafted = int(stats.get("drafted_tokens", 0))
            sample.accepted = int(stats.get("accepted_tokens", 0))
        run.samples.append(sample)
        if progress:
            progress(f"default {item.id}: {sample.answer_s:.2f} s {answer.text[:40]!r}")
    return run


def naive_messages(engine, question: str, hits) -> list[dict[str, str]]:
    """System prompt + the whole top paragraphs as evidence + the question; no worked example."""
    evidence = "\n".join(f"[{h.paragraph}] {h.text}" for h in hits)
    return [
        {"role": "system", "content": engine.compose.system.render()},
        {"role": "user", "content": engine.compose.user.render(evidence=evidence, question=question)},
    ]


def run_naive(engine, generator, items: list[EvalItem], max_new_tokens: int, progress: Callable[[str], None] | None = None) -> Run:
    """Retrieve the top paragraphs, paste them whole, generate unconstrained: the naive baseline."""
    run = Run("naive")
    for item in items:
        started = time.perf_counter()
        hits = engine.retriever.search(item.question, k=NAIVE_PARAGRAPHS)
        retrieval_ms = (time.perf_counter() - started) * 1000
        first = None
        text = ""
        for delta in generator.stream(naive_messages(engine, item.question, hits), max_new_tokens=max_new_tokens):
            if first is None:
                first = time.perf_counter()
            text += delta
        ended = time.perf_counter()
        stats = generator.last_stats or {}
        run.samples.append(
            Sample(
                id=item.id,
                retrieval_ms=retrieval_ms,
                answer_s=ended - started,
                ttft_s=(first - started) if first is not None else None,
                new_tokens=int(stats.get("new_tokens", 0)),
                decode_s=float(stats.get("decode_s", 0.0)),
                text=text,
            )
        )
        if progress:
            progress(f"naive {item.id}: {ended - started:.2f} s {text[:40]!r}")
    return run


# --------------------------------------------------------------------------- the whole benchmark


def run_bench(
    settings: Settings,
    questions_file: Path,
    *,
    quick: bool = False,
    limit: int | None = None,
    naive_limit: int | None = None,
    cold_cache: bool = False,
    kinds_file: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run everything; returns the flat figures of the default path plus `naive`, `ratios`, `targets`.

    Args:
        settings: the configuration to measure (generator must be "local").
        questions_file: JSONL questions (`tests/data/dev.jsonl` format).
        quick: 3 answerable + 1 unanswerable question, naive side on 2 of them (a smoke test).
        limit: at most this many questions (both sides).
        naive_limit: at most this many questions on the naive side (its p50 then covers fewer).
        cold_cache: also time a cold start into an empty cache directory (converts the model: minutes).
        kinds_file: also time the questions of this file per group of kinds (open answers apart).
    """
    from .builder import build_engine
    from .generators import prepare_local_model

    if settings.generator != "local":
        raise BenchError(f"qa bench compares local models; the generator is {settings.generator!r} (use --generator local)")
    say = progress or (lambda _msg: None)
    items = load_eval(questions_file)
    if quick:
        items = quick_subset(items)
        naive_limit = 2 if naive_limit is None else naive_limit
    if limit is not None:
        items = items[:limit]
    if not items:
        raise BenchError(f"{questions_file} holds no questions")
    naive_items = items[:naive_limit] if naive_limit is not None else items
    started = time.perf_counter()
    model_dir = prepare_local_model(settings, progress=False)  # a warm model cache, as promised

    result, cold = cold_start_figures(settings, items[0].question, cold_cache, say)

    say("index build…")
    result["index_build_s"] = round(measure_index_build(settings), 3)

    say("default configuration…")
    loaded = time.perf_counter()
    engine = build_engine(settings)
    load_s = time.perf_counter() - loaded
    engine.answer(items[0].question)  # warm-up: jieba, caches
    default = run_default(engine, items, say)
    # The generator alone, to compare with the naive one; the Engine loads it and the index at once.
    default.load_s = float(getattr(engine.generator, "load_seconds", load_s))
    result["engine_load_s"] = round(load_s, 3)
    if kinds_file is not None:
        say("answer kinds…")
        result["by_group"] = measure_kinds(engine, load_eval(kinds_file))
    result["peak_rss_mb"] = round(max(peak_rss_mb(), cold["peak_rss_mb"]), 1)

    say("naive configuration (float32, whole paragraphs)…")
    naive = measure_naive(engine, model_dir, settings, naive_items, warm_up=not quick, progress=say)
    fast, slow = default.summary(), naive.summary()
    same, ratios = compare(default, naive)
    result.update({k: v for k, v in fast.items() if k not in ("questions",)})
    result["questions"] = len(items)
    result["speedup_vs_naive"] = ratios["answer_p50"]
    result["naive"] = {**slow, "paragraphs": NAIVE_PARAGRAPHS}
    result["same_questions_answer_total_s"] = same["answer_total_s"]
    result["ratios"] = ratios
    result["targets"] = {key: _meets(result.get(key), op, bound) for key, op, bound in TARGETS}
    result["config"] = bench_config(settings, quick)
    result["bench_s"] = round(time.perf_counter() - started, 1)
    return result


def measure_naive(engine, model_dir, settings: Settings, items: list[EvalItem], *, warm_up: bool, progress=None) -> Run:
    """The naive side: a float32 model on transformers' generate() (`qa.plain_decode`), one token per call, no drafts.

    Frees the engine's own model first (two models at once would not fit the memory target).
    """
    from .local_generator import LocalGenerator
    from .models import drop_weights, has_weights, restore_weights

    engine.generator = None
    gc.collect()
    had_weights = has_weights(model_dir)
    if not had_weights:
        if progress:
            progress("converting the float32 weights for the naive side (dropped again afterwards)…")
        restore_weights(model_dir)
    loaded = time.perf_counter()
    generator = LocalGenerator(model_dir, threads=settings.threads, quantize="none", lean=False, draft_tokens=0, name="naive")
    load_s = time.perf_counter() - loaded
    if warm_up:
        run_naive(engine, generator, items[:1], settings.max_new_tokens)
    naive = run_naive(engine, generator, items, settings.max_new_tokens, progress)
    naive.load_s = load_s
    del generator
    gc.collect()
    if not had_weights:
        drop_weights(model_dir)  # keep on disk only what runs
    return naive


def compare(default: Run, naive: Run) -> tuple[dict[str, Any], dict[str, float]]:
    """(the default side's summary on the naive side's questions, the ratios naive / default)."""
    fast, slow = default.summary(), naive.summary()
    # Same questions on both sides for the ratios (the naive side may cover fewer).
    same = Run("default-same", samples=[s for s in default.samples if s.id in {n.id for n in naive.samples}]).summary()
    return same, {
        "answer_p50": _ratio(slow["answer_p50_s"], same["answer_p50_s"]),
        "answer_total": _ratio(slow["answer_total_s"], same["answer_total_s"]),
        "ttft_p50": _ratio(slow["ttft_p50_s"], same["ttft_p50_s"]),
        "decode_tokens_per_s": _ratio(fast["decode_tokens_per_s"], slow["decode_tokens_per_s"]),
        "load": _ratio(naive.load_s, default.load_s),
    }


def bench_config(settings: Settings, quick: bool) -> dict[str, Any]:
    """What was measured, and on what: the model settings, the machine's cores and its load."""
    return {
        "model": settings.model,
        "quantize": settings.quantize,
        "threads": settings.threads,
        "max_new_tokens": settings.max_new_tokens,
        "quick": quick,
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else 0.0


def _meets(value: Any, op: str, bound: float) -> bool | None:
    if not isinstance(value, (int, float)):
        return None
    return value <= bound if op == "<=" else value >= bound


def format_bench(r: dict[str, Any]) -> str:
    """A readable table: default vs naive, ratios, and the targets met."""
    n = r["naive"]
    rows = [
        ("cold start (fresh process → ready)", f"{r['cold_start_s']:.2f} s", "", ""),
        ("cold start → first answer", f"{r['cold_first_answer_s']:.2f} s", "", ""),
    ]
    if "cold_start_cold_cache_s" in r:
        rows.append(("cold start, empty model cache", f"{r['cold_start_cold_cache_s']:.1f} s", "", ""))
    rows += [
        ("index build", f"{r['index_build_s']:.2f} s", "", ""),
        ("engine load (model ∥ index, in process)", f"{r['engine_load_s']:.2f} s", "", ""),
        ("model load (in process)", f"{r['load_s']:.2f} s", f"{n['load_s']:.2f} s", f"{r['ratios']['load']}×"),
        ("retrieval p50 / p95", f"{r['retrieval_p50_ms']:.1f} / {r['retrieval_p95_ms']:.1f} ms", f"{n['retrieval_p50_ms']:.1f} / {n['retrieval_p95_ms']:.1f} ms", ""),
        ("first token p50 / p95", f"{r['ttft_p50_s']:.2f} / {r['ttft_p95_s']:.2f} s", f"{n['ttft_p50_s']:.2f} / {n['ttft_p95_s']:.2f} s", f"{r['ratios']['ttft_p50']}×"),
        ("decode", f"{r['decode_tokens_per_s']:.1f} tok/s", f"{n['decode_tokens_per_s']:.1f} tok/s", f"{r['ratios']['decode_tokens_per_s']}×"),
        ("tokens per decode call (drafts kept)", f"{r['tokens_per_decode_call']:.2f} ({r['draft_acceptance']:.0%})", f"{n['tokens_per_decode_call']:.2f}", ""),
        ("answer p50 / p95", f"{r['answer_p50_s']:.2f} / {r['answer_p95_s']:.2f} s", f"{n['answer_p50_s']:.2f} / {n['answer_p95_s']:.2f} s", f"{r['speedup_vs_naive']}×"),
        (f"all {n['questions']} naive questions", f"{r['same_questions_answer_total_s']:.1f} s", f"{n['answer_total_s']:.1f} s", f"{r['ratios']['answer_total']}×"),
        ("peak resident memory", f"{r['peak_rss_mb']:.0f} MiB", "", ""),
    ]
    if "accuracy" in r:
        rows.append(("accuracy (qa eval rules)", f"{r['accuracy']:.1%}", "", ""))
    width = max(len(a) for a, *_ in rows)
    c = r["config"]
    lines = [
        f"questions: {r['questions']} (naive: {n['questions']}); {c['model']}, {c['quantize']}, {c['threads']} threads, "
        f"load average {c['load_average']}",
        f"{'':<{width}}  {'default':>22}  {'naive':>22}  ratio",
    ]
    lines += [f"{a:<{width}}  {b:>22}  {d:>22}  {e}" for a, b, d, e in rows]
    met = [k for k, ok in r["targets"].items() if ok]
    missed = [k for k, ok in r["targets"].items() if ok is False]
    lines.append(f"targets met: {', '.join(met) or 'none'}")
    if missed:
        lines.append(f"targets missed: {', '.join(missed)}")
    if r.get("by_group"):
        lines += format_kinds(r["by_group"])
    return "\n".join(lines)
