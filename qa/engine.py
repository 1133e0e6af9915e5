"""The answer pipeline: question (and conversation) → verified, cited Answer.

Ties the parts together; holds the loaded index, embedder and generator so that nothing is loaded
per request.
"""

from __future__ import annotations

import logging

from .corpus import load_corpus
from .embedders import make_embedder
from .index import load_index
from .retrieval import Retriever
from .settings import Settings

log = logging.getLogger(__name__)


def load_retriever(settings: Settings) -> Retriever:
    """Load documents, embedder and index, checking that they belong together."""
    docs = load_corpus(settings.seeds_dir)
    embedder = make_embedder(settings.embedder, threads=settings.threads)
    index = load_index(settings.index_dir, docs, embedder.id)
    log.info("loaded index %s (%d sentence chunks, %d documents)", index.path, len(index.chunks), len(docs))
    retriever = Retriever(index, embedder, rrf_k=settings.rrf_k)
    retriever.warm_up()
    return retriever
