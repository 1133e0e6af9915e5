"""The loaded engine as a shared service for the web server: loading, readiness, one engine worker.

The engine (index, embedder, local model) is loaded once, in a background thread, so that the
server answers `/api/health` (503) while it loads. Every call that runs a model — answering and
searching — goes through a single worker thread: the local model is CPU-bound and not thread-safe,
so concurrent requests queue in arrival order while document look-ups and health checks, which
touch no model, are answered at once.

Left out: cancelling a request that is already running (it finishes, bounded by `max_new_tokens`,
and its output is dropped) and more than one engine per process.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from .engine import Answer, Engine, Event
from .retrieval import Hit

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """The engine is still loading, or failed to load; the message says which."""

    def __init__(self, message: str, failed: bool = False) -> None:
        super().__init__(message)
        self.failed = failed


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    title: str
    paragraphs: int


_DONE = object()


class EngineService:
    """An `Engine`, or a function that loads one, behind a readiness flag and a single worker.

    Args:
        engine_or_loader: a loaded `Engine`, or a callable returning one (called by `start()`).
    """

    def __init__(self, engine_or_loader: Engine | Callable[[], Engine]) -> None:
        self._engine: Engine | None = None
        self._loader: Callable[[], Engine] | None = None
        self._error: str | None = None
        self._ready = threading.Event()
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-engine")
        self.loaded_in_s: float | None = None
        if callable(engine_or_loader) and not hasattr(engine_or_loader, "answer_stream"):
            self._loader = engine_or_loader
        else:
            self._set_engine(engine_or_loader, 0.0)

    # -- loading ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start loading in a background thread (once; does nothing when already loaded)."""
        with self._started:
            if self._loader is None or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._load, name="qa-load", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        started = time.perf_counter()
        log.info("loading the engine")
        try:
            engine = self._loader()  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - reported by /api/health and every request
            log.exception("the engine failed to load")
            self._error = f"{type(exc).__name__}: {exc}"
            return
        self._set_engine(engine, time.perf_counter() - started)

    def _set_engine(self, engine: Engine, seconds: float) -> None:
        self._engine = engine
        self.loaded_in_s = round(seconds, 2)
        info = self.describe()
        log.info(
            "ready in %.1fs: %d document(s) (%s) from %s; index %s; embedder %s; generator %s",
            seconds,
            len(info["documents"]),
            ", ".join(d["title"] for d in info["documents"]),
            info["seeds_dir"],
            info["index"],
            info["models"]["embedder"],
            info["models"]["generator"] + (f" ({info['models']['generator_path']})" if "generator_path" in info["models"] else ""),
        )
        self._ready.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until loaded (True) or until `timeout` seconds pass or loading failed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.is_set():
            if self._error is not None:
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._ready.wait(0.1 if remaining is None else min(0.1, remaining))
        return True

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def engine(self) -> Engine:
        """The loaded engine; raises NotReady while loading or after a failed load."""
        if self._engine is None:
            if self._error is not None:
                raise NotReady(f"the engine failed to load: {self._error}", failed=True)
            raise NotReady("the engine is still loading; try again in a few seconds")
        return self._engine

    def describe(self) -> dict[str, Any]:
        """What is loaded: documents, models, index folder (for /api/health and the start-up log)."""
        engine = self.engine
        generator = engine.generator
        generator_name = getattr(generator, "name", type(generator).__name__) if generator is not None else "extractive"
        model_dir = getattr(generator, "model_dir", None)
        return {
            "documents": [d.__dict__ for d in self.documents()],
            "models": {
                "embedder": getattr(engine.retriever.embedder, "id", type(engine.retriever.embedder).__name__),
                "generator": generator_name,
                **({"generator_path": str(model_dir)} if model_dir is not None else {}),
            },
            "index": str(engine.retriever.index.path),
            "seeds_dir": str(engine.settings.seeds_dir),
        }

    # -- model calls, one at a time ---------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run `fn(*args)` on the engine worker; the future fails with NotReady if not loaded."""
        self.engine  # noqa: B018 - raise NotReady now rather than in the worker
        return self._worker.submit(fn, *args)

    def answer(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        """The verified answer (waits for the worker)."""
        engine = self.engine
        return self.submit(engine.answer, question, history).result()

    def search(self, query: str, k: int) -> list[Hit]:
        engine = self.engine
        return self.submit(engine.retriever.search, query, k).result()

    def stream(self, question: str, history: Sequence[dict] | None = None) -> Iterator[Event]:
        """The engine's events, produced on the worker; validation errors raise before the first event.

        Closing the iterator early tells the worker to stop at its next event.
        """
        engine = self.engine
        question = engine.validate(question)
        events: queue.Queue = queue.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for event in engine.answer_stream(question, history):
                    events.put(event)
                    if stop.is_set():
                        break
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                events.put(exc)
            finally:
                events.put(_DONE)

        self._worker.submit(produce)
        try:
            while True:
                item = events.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    # -- data, no model ---------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(d.id, d.title, len(d.paragraphs)) for d in self.engine.retriever.index.docs.values()]

    def document(self, doc_id: str):
        """The Document; KeyError if unknown."""
        docs = self.engine.retriever.index.docs
        if doc_id not in docs:
            raise KeyError(f"no document {doc_id!r}; known: {', '.join(docs)}")
        return docs[doc_id]

    def paragraph(self, doc_id: str, number: int):
        """The Paragraph; KeyError if the document or the number is unknown."""
        return self.document(doc_id).paragraph(number)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


def as_service(engine_or_service: Any) -> EngineService:
    """An EngineService for an Engine, a loader, or an EngineService (returned as is)."""
    return engine_or_service if isinstance(engine_or_service, EngineService) else EngineService(engine_or_service)
