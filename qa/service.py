"""The loaded engine as a shared service for the web server: loading, readiness, one engine worker.

The engine (index, embedder, local model) is loaded once, in a background thread, so that the
server answers `/api/health` (503) while it loads. Every call that runs a model — answering and
searching — goes through a single worker thread: the local model is CPU-bound and not thread-safe,
so concurrent requests queue in arrival order while document look-ups and health checks, which
touch no model, are answered at once.

The queue is bounded (`max_queue` waiting behind the running call; one more raises `Busy`, which
the API turns into 429), every answer has a deadline (`request_timeout_s`: generation stops and
the verified extractive answer is returned), and a stream whose consumer leaves stops generating
at the next token. Conversations are checked against `max_history_turns` / `max_history_chars`.

Left out: interrupting a model between two tokens (a prefill or one token runs to its end) and more
than one engine per process.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .engine import Answer, Engine, Event
from .errors import HistoryError, HistoryTooLong, MalformedHistory, QuestionError  # noqa: F401 - HistoryError re-exported
from .retrieval import Hit, Retriever
from .routing import check_scope
from .settings import Settings
from .text import clean_text

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """The engine is still loading, or failed to load; the message says which."""

    def __init__(self, message: str, failed: bool = False) -> None:
        super().__init__(message)
        self.failed = failed


class Busy(RuntimeError):
    """The engine's queue is full; try again later (`retry_after` seconds is a fair guess)."""

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Cancelled(RuntimeError):
    """The request was given up (deadline passed or client left) before the worker reached it."""


def check_history(history: Sequence[Any] | None, settings: Settings) -> list[dict]:
    """The conversation as clean `{"role", "content"}` turns, or HistoryError over the limits.

    Raises:
        HistoryError: a malformed turn, more than `max_history_turns` turns, or more than
            `max_history_chars` characters in all.
    """
    turns = []
    for m in history or ():
        role = m.get("role") if isinstance(m, dict) else getattr(m, "role", None)
        content = m.get("content") if isinstance(m, dict) else getattr(m, "content", None)
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise MalformedHistory()
        turns.append({"role": role, "content": clean_text(content)})
    if len(turns) > settings.max_history_turns:
        raise HistoryTooLong(len(turns), settings.max_history_turns, "turns")
    chars = sum(len(t["content"]) for t in turns)
    if chars > settings.max_history_chars:
        raise HistoryTooLong(chars, settings.max_history_chars, "characters")
    return turns


def search_documents(retriever: Retriever, question: str, k: int, docs: Sequence[str] | None = None, sentences_per_hit: int = 3) -> list[Hit]:
    """The k best paragraphs for `question`, within `docs` when given (去年/今年 read against the one
    document's years when the scope is one document).

    Raises:
        UnknownDocument: a scope naming a document the index does not hold.
    """
    scope = check_scope(docs, retriever.index.docs)
    if not retriever.index.docs:
        return []  # an empty library
    query = retriever.prepare(question, doc=scope[0] if len(scope) == 1 else None)
    return retriever.search_query(query, k=k, sentences_per_hit=sentences_per_hit, docs=scope or None)


def trim_history(history: Sequence[dict], settings: Settings) -> list[dict]:
    """The most recent turns that fit the limits (for the chat, which keeps its own history)."""
    kept: list[dict] = []
    chars = 0
    for turn in reversed(list(history)[-settings.max_history_turns:]):
        chars += len(turn.get("content", ""))
        if chars > settings.max_history_chars:
            break
        kept.append(turn)
    return kept[::-1]


class AnswerStream:
    """The engine's events for one question, produced on the worker; iterate it, `close()` to stop.

    `close()` may be called from any thread (also while another thread waits in `next()`): the
    worker stops at its next token and the waiting `next()` ends.
    """

    def __init__(self) -> None:
        self._events: queue.Queue = queue.Queue()
        self._stop = threading.Event()

    def stopped(self) -> bool:
        return self._stop.is_set()

    def put(self, item: Any) -> None:
        self._events.put(item)

    def __iter__(self) -> "AnswerStream":
        return self

    def __next__(self) -> Event:
        while True:
            try:
                item = self._events.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    raise StopIteration from None
                continue
            if item is _DONE:
                self._stop.set()
                raise StopIteration
            if isinstance(item, BaseException):
                self._stop.set()
                raise item
            return item

    def close(self) -> None:
        self._stop.set()


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

    def __init__(self, engine_or_loader: Engine | Callable[[], Engine], settings: Settings | None = None) -> None:
        self._settings = settings
        self._pending = 0  # model calls waiting or running
        self._pending_lock = threading.Lock()
        self._engine: Engine | None = None
        self._loader: Callable[[], Engine] | None = None
        self._error: str | None = None
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

    def replace_engine(self, engine: Engine) -> None:
        """Serve `engine` from now on (the store changed). One assignment: a call that already
        took the old engine finishes with it; the next one gets the new."""
        self._engine = engine

    @property
    def settings(self) -> Settings:
        """The limits: the settings given, else the loaded engine's, else the defaults."""
        if self._settings is not None:
            return self._settings
        return self._engine.settings if self._engine is not None else Settings()

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

    def _admit(self) -> None:
        """Count one more model call, or raise Busy when `max_queue` are already waiting."""
        limit = self.settings.max_queue + 1  # the running call and those waiting behind it
        with self._pending_lock:
            if self._pending >= limit:
                raise Busy(f"the engine is busy ({self._pending} requests running or waiting); try again shortly")
            self._pending += 1

    def _release(self, *_: Any) -> None:
        with self._pending_lock:
            self._pending -= 1

    @property
    def pending(self) -> int:
        """Model calls waiting or running."""
        return self._pending

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run `fn(*args)` on the engine worker.

        Raises:
            NotReady: not loaded yet. Busy: the queue is full.
        """
        self.engine  # noqa: B018 - raise NotReady now rather than in the worker
        self._admit()
        try:
            future = self._worker.submit(fn, *args)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._release)
        return future

    def submit_answer(
        self, question: str, history: Sequence[dict] | None = None, docs: Sequence[str] | None = None
    ) -> tuple[Future, threading.Event]:
        """Answer on the worker within `request_timeout_s` from now; set the event to give up.

        A request given up before the worker reaches it is skipped (its future fails with
        Cancelled); one that is generating stops at the next token with the extractive answer.
        QuestionError, NotReady, Busy: raised before anything is queued.
        """
        engine = self.engine
        question = self.validate(question)
        scope = check_scope(docs, engine.retriever.index.docs) or None
        stop = threading.Event()
        deadline = time.monotonic() + self.settings.request_timeout_s

        def should_stop() -> bool:
            return stop.is_set() or time.monotonic() > deadline

        def work() -> Answer:
            if stop.is_set():
                raise Cancelled("the request was given up before it started")
            return engine.answer(question, history, should_stop=should_stop, docs=scope)

        return self.submit(work), stop

    def answer(self, question: str, history: Sequence[dict] | None = None, docs: Sequence[str] | None = None) -> Answer:
        """The verified answer (waits for the worker)."""
        future, _ = self.submit_answer(question, history, docs)
        return future.result()

    def validate(self, question: Any) -> str:
        """The cleaned question, or a typed `qa.errors.QuestionError` (not ready: NotReady)."""
        return self.engine.validate(question)

    def search(self, query: str, k: int, docs: Sequence[str] | None = None) -> list[Hit]:
        """Ranked paragraphs (waits for the worker); an unknown document in `docs` raises UnknownDocument first."""
        retriever = self.engine.retriever
        check_scope(docs, retriever.index.docs)
        return self.submit(search_documents, retriever, query, k, docs).result()

    def stream(self, question: str, history: Sequence[dict] | None = None, docs: Sequence[str] | None = None) -> AnswerStream:
        """The engine's events, produced on the worker; validation errors raise before the first event.

        Closing the stream (from any thread) stops generation at its next token; the answer has
        the same deadline as `answer()`.

        Raises:
            QuestionError, NotReady, Busy: before anything is queued.
        """
        engine = self.engine
        question = self.validate(question)
        scope = check_scope(docs, engine.retriever.index.docs) or None
        stream = AnswerStream()
        deadline = time.monotonic() + self.settings.request_timeout_s

        def should_stop() -> bool:
            return stream.stopped() or time.monotonic() > deadline

        def produce() -> None:
            try:
                if stream.stopped():
                    return
                for event in engine.answer_stream(question, history, should_stop=should_stop, docs=scope):
                    stream.put(event)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                stream.put(exc)
            finally:
                stream.put(_DONE)

        self.submit(produce)
        return stream

    # -- data, no model ---------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        index = self.engine.retriever.index
        return [DocumentInfo(d, index.as_written(d).title, len(index.docs[d].paragraphs)) for d in index.docs]

    def document(self, doc_id: str):
        """The Document as it is written (a Traditional one in Traditional); KeyError if unknown."""
        index = self.engine.retriever.index
        if doc_id not in index.docs:
            raise KeyError(f"no document {doc_id!r}; known: {', '.join(index.docs)}")
        return index.as_written(doc_id)

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


def as_service(engine_or_service: Any, settings: Settings | None = None) -> EngineService:
    """An EngineService for an Engine, a loader, or an EngineService (returned as is)."""
    return engine_or_service if isinstance(engine_or_service, EngineService) else EngineService(engine_or_service, settings)
