"""`qa bench`'s start-up figures: a fresh process to a loaded Engine, an index build, peak memory.

The cold start runs in a child process with the same settings (`settings_env`), so nothing this
process has loaded or cached counts. Left out: the answer figures (`qa.bench`).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .settings import Settings


class BenchError(RuntimeError):
    """The benchmark cannot run as asked; the message says why."""


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# --------------------------------------------------------------------------- cold start

_CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
from qa.builder import build_engine
from qa.settings import load_settings
engine = build_engine(load_settings())
print("READY " + json.dumps({"in_process_s": time.perf_counter() - started}), flush=True)
answer = engine.answer(sys.argv[1])
print("DONE " + json.dumps({"answer": answer.text, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)
"""


def settings_env(settings: Settings) -> dict[str, str]:
    """`QA_*` variables that reproduce `settings` in a child process."""
    env = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        env[f"QA_{name.upper()}"] = str(Path(value).resolve()) if isinstance(value, Path) else str(value)
    return env


def measure_cold_start(settings: Settings, question: str, *, timeout: float = 900) -> dict[str, float]:
    """Start a fresh Python process that loads the Engine and answers `question`.

    Returns:
        ready_s (process start → Engine loaded, seen from the parent), first_answer_s (→ first
        answer done), in_process_s (the Engine load alone, seen from the child), peak_rss_mb.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(settings_env(settings))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("TQDM_DISABLE", "1")
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, question], stdout=subprocess.PIPE, stderr=err, env=env, text=True, encoding="utf-8"
        )
        out: dict[str, float] = {}
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("READY "):
                    out["ready_s"] = time.perf_counter() - started
                    out["in_process_s"] = json.loads(line[6:])["in_process_s"]
                elif line.startswith("DONE "):
                    out["first_answer_s"] = time.perf_counter() - started
                    out["peak_rss_mb"] = json.loads(line[5:])["peak_rss_kb"] / 1024
            child.wait(timeout=timeout)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        if child.returncode != 0 or "first_answer_s" not in out:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-2000:]
            raise BenchError(f"the cold-start process failed (exit {child.returncode}):\n{tail}")
    return out


# --------------------------------------------------------------------------- index build


def measure_index_build(settings: Settings) -> float:
    """Seconds to chunk and embed every document into a temporary index (embedder already loaded)."""
    from .corpus import load_corpus
    from .builder import build_embedder
    from .index import build_index

    docs = load_corpus(settings.seeds_dir)
    embedder = build_embedder(settings)
    embedder.encode(["预热"], role="query")  # load the model before the clock starts
    with tempfile.TemporaryDirectory(prefix="qa-bench-index-") as tmp:
        started = time.perf_counter()
        build_index(docs, embedder, Path(tmp), progress=False, reuse=False)
        return time.perf_counter() - started


def cold_start_figures(settings: Settings, question: str, cold_cache: bool, say: Callable[[str], None]) -> tuple[dict[str, Any], dict]:
    """Cold start of a fresh process (and, when asked, into an empty model cache)."""
    say("cold start (fresh process)…")
    cold = measure_cold_start(settings, question)
    result: dict[str, Any] = {
        "cold_start_s": round(cold["ready_s"], 3),
        "cold_first_answer_s": round(cold["first_answer_s"], 3),
        "cold_peak_rss_mb": round(cold["peak_rss_mb"], 1),
    }
    if cold_cache:
        say("cold start into an empty cache (converting the model)…")
        with tempfile.TemporaryDirectory(prefix="qa-bench-cache-") as tmp:
            cold2 = measure_cold_start(settings.replace(cache_dir=Path(tmp)), question, timeout=1800)
        result["cold_start_cold_cache_s"] = round(cold2["ready_s"], 3)
    return result, cold
