"""The document store of a running server: add or remove documents, then serve the new index.

`LiveStore(service)` is what the upload door (`POST /api/documents`, `DELETE /api/documents/{id}`)
and the chat's upload area call. A write goes through `qa.store` (all or nothing, only new
sentences embedded, the index switched atomically on disk); then the texts and the index are
loaded again together, under the store's shared lock, into a new `Engine` that shares the old
one's embedder and generator, and the service is pointed at it in one assignment. A question
that has started keeps the engine it started with, so an ask during an add is answered from the
old index or the new one, never from a mix.

Writes of one server are serialised (the second waits up to `wait_s`, then `busy`); writers in
other processes (`qa add`) are kept apart by the store's lock. The last document cannot be
removed (an engine needs one); add another first.

Left out: reloading when another process changed the store (restart the server, or add through it).
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from .formats import IngestError
from .store import AddResult, Upload, add_documents, remove_documents

log = logging.getLogger(__name__)

EMPTY_LIBRARY = "还没有文档。请在“文档与引用查询”页的“添加文档”上传第一份文档（.txt、.md、.docx、.pdf 或 .html），上传后即可提问。"
WAIT_S = 60.0  # how long a write waits for another write of this server
_LOCKS: dict[Path, threading.Lock] = {}  # store folder → its writers' lock in this process
_LOCKS_LOCK = threading.Lock()


@dataclass(frozen=True)
class RemoveResult:
    removed: tuple[str, ...]
    seconds: float


class LiveStore:
    """Adds and removes documents of a served store, and swaps the served engine after each write.

    Args:
        service: the `EngineService` whose engine is replaced after a write.
        wait_s: how long a write waits for another one before failing with `busy`.
    """

    def __init__(self, service, wait_s: float = WAIT_S) -> None:
        self.service = service
        self.wait_s = wait_s

    @contextmanager
    def _writing(self, seeds_dir: Path) -> Iterator[None]:
        """One write at a time per store in this process (the API and the chat each have a LiveStore)."""
        with _LOCKS_LOCK:
            lock = _LOCKS.setdefault(Path(seeds_dir).resolve(), threading.Lock())
        if not lock.acquire(timeout=self.wait_s):
            raise IngestError("another upload or removal is in progress; try again when it is done", "busy")
        try:
            yield
        finally:
            lock.release()

    def add(self, uploads: Sequence[Upload], replace: bool = False) -> AddResult:
        """Store and index `uploads` (see `qa.store.add_documents`), then serve the new index.

        Raises:
            IngestError: a file was refused; nothing changed.
            NotReady: the engine has not loaded yet.
        """
        engine = self.service.engine
        settings = engine.settings
        with self._writing(settings.seeds_dir):
            result = add_documents(uploads, settings.seeds_dir, settings.index_dir, engine.retriever.embedder, replace=replace, approximate_from=settings.approximate_min_sentences)
            if result.added:
                self._reload()
        return result

    def remove(self, doc_ids: Sequence[str]) -> RemoveResult:
        """Remove documents and their chunks, then serve the new index.

        Raises:
            IngestError: `not_found` for an unknown id, `last_document` when none would be left.
        """
        started = time.perf_counter()
        engine = self.service.engine
        settings = engine.settings
        with self._writing(settings.seeds_dir):
            if not set(self.service.engine.retriever.index.docs) - set(doc_ids):
                raise IngestError("that would remove every document; add another one first", "last_document")
            remove_documents(list(doc_ids), settings.seeds_dir, settings.index_dir, engine.retriever.embedder, approximate_from=settings.approximate_min_sentences)
            self._reload()
        return RemoveResult(tuple(doc_ids), time.perf_counter() - started)

    def _reload(self) -> None:
        from .builder import reload_engine

        started = time.perf_counter()
        engine = reload_engine(self.service.engine)
        self.service.replace_engine(engine)
        log.info("serving %d document(s) from %s (reloaded in %.1fs)", len(engine.retriever.index.docs), engine.retriever.index.path, time.perf_counter() - started)
