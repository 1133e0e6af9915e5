"""The HTTP API: JSON endpoints under /api, an OpenAI-compatible chat endpoint under /v1.

`create_api(engine_or_loader, settings)` builds the FastAPI app; it does not start a server (see
`qa.server`). Every error is JSON, `{"error": {"code", "message"}}`, with a fitting status: 400 bad
JSON or invalid UTF-8, 401 missing or wrong API key (when `api_keys` is set), 404 unknown
document/paragraph/route, 413 body, question or history too long, 415 a body that is not JSON,
422 invalid request (unknown fields included), 429 queue full, 503 while the engine loads, 504
past `request_timeout_s`. Model calls go through the service's bounded single worker, so concurrent
requests queue without blocking `/api/health`. CORS is off unless `cors_origins` names origins.

The OpenAI endpoint streams only verified text: an OpenAI client appends every delta it receives
and cannot take one back, so the answer is sent once it has passed the engine's checks (the
`/api/ask` stream, whose clients replace the draft with the final event, sends the draft tokens).

Left out: per-client rate limiting (the queue bound is global) and user accounts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any, AsyncIterator, Callable, Iterator, Literal, Sequence

from fastapi import FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .engine import Answer, Engine, QuestionError
from .service import AnswerStream, Busy, Cancelled, EngineService, HistoryError, NotReady, as_service, check_history
from .settings import Settings, split_list

log = logging.getLogger(__name__)

MAX_BODY_BYTES = Settings.max_body_bytes
TIMEOUT_GRACE_S = 5.0  # beyond request_timeout_s (at most as much again): time to check and return the extractive answer
MAX_SEARCH_K = 50
OPENAI_MODEL_ID = "qa"


# -- errors ---------------------------------------------------------------------------------


class ApiError(Exception):
    """An error with an HTTP status and a stable code, rendered as JSON."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_body(code: str, message: str, openai: bool = False) -> dict:
    error = {"code": code, "message": message}
    if openai:  # the shape OpenAI clients parse: message, type, param, code
        error.update(type="invalid_request_error" if code != "internal_error" else "server_error", param=None)
    return {"error": error}


def _error(request: Request | None, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    openai = request is not None and request.url.path.startswith("/v1/")
    return JSONResponse(error_body(code, message, openai), status_code=status, headers=headers)


def not_ready_error(exc: NotReady) -> ApiError:
    return ApiError(503, "load_failed" if exc.failed else "not_ready", str(exc), {"Retry-After": "5"})


def question_error(question: str, settings: Settings, exc: QuestionError) -> ApiError:
    if isinstance(exc, HistoryError):
        return ApiError(413, "history_too_long", str(exc)) if "the limit is" in str(exc) else ApiError(422, "invalid_history", str(exc))
    if isinstance(question, str) and len(question.strip()) > settings.max_question_chars:
        return ApiError(413, "question_too_long", str(exc))
    return ApiError(422, "invalid_question", str(exc))


def key_matches(given: str, keys: Sequence[str]) -> bool:
    """Whether `given` is one of `keys`, in time independent of where they differ (and of their lengths)."""
    digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    found = False
    for key in keys:
        found |= hmac.compare_digest(digest, hashlib.sha256(key.encode("utf-8")).digest())
    return found


def _guarded(scope) -> bool:
    return scope["type"] == "http" and scope["path"].startswith(("/api/", "/v1/"))


class ApiKeys:
    """ASGI middleware: /api and /v1 require `Authorization: Bearer <key>` with one of `keys` (401 otherwise)."""

    def __init__(self, app, keys: Sequence[str]) -> None:
        self.app, self.keys = app, tuple(keys)

    async def __call__(self, scope, receive, send):
        if not self.keys or not _guarded(scope):
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and key_matches(token.strip(), self.keys):
            return await self.app(scope, receive, send)
        message = "an API key is required: Authorization: Bearer <key>" if not header else "the API key is not valid"
        response = JSONResponse(error_body("unauthorized", message, scope["path"].startswith("/v1/")), status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await response(scope, receive, send)


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class RequestGuard:
    """ASGI middleware for /api and /v1 request bodies: at most `max_bytes` (413, declared or streamed),
    JSON only (415), valid UTF-8 (400) and no lone surrogates (400), checked before any endpoint runs."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if not _guarded(scope) or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        openai = scope["path"].startswith("/v1/")

        async def reject(status: int, code: str, message: str):
            return await JSONResponse(error_body(code, message, openai), status_code=status)(scope, receive, send)

        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await reject(413, "body_too_large", f"the request body is larger than {self.max_bytes} bytes")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await reject(413, "body_too_large", f"the request body is larger than {self.max_bytes} bytes")
        body = b"".join(chunks)
        if body:
            media = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
            if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
                return await reject(415, "unsupported_media_type", f"the body must be JSON (Content-Type: application/json), not {media[:60] or 'unlabelled'}")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                return await reject(400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})")
            if _SURROGATE.search(text) and _has_lone_surrogate(text):
                return await reject(400, "invalid_text", "the body contains a lone surrogate (\\ud800–\\udfff), which is not text")
        return await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _has_lone_surrogate(text: str) -> bool:
    """Whether the JSON `text` decodes to a string with a lone surrogate (False if it is not JSON)."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _replay(messages: list[dict], then=None):
    async def receive():
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


# -- request and response models --------------------------------------------------------------


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="the question, in Chinese", examples=["2023年湖州市地区生产总值是多少？"])
    history: list[Message] = Field(default_factory=list, description="earlier turns of the conversation, oldest first (at most max_history_turns, 20, and max_history_chars, 4000, in all)")
    stream: bool = Field(False, description="server-sent events: `delta` events with draft text, then one `answer` event")


class CitationOut(BaseModel):
    doc: str
    title: str
    paragraph: int
    quote: str = Field(description="the sentence of the paragraph that supports the answer")


class AskResponse(BaseModel):
    answer: str = Field(description="the verified answer; [n] cites paragraph n")
    refused: bool = Field(description="true when the documents do not answer the question")
    citations: list[CitationOut]
    timings_ms: dict[str, float]


class SearchResult(BaseModel):
    rank: int
    doc: str
    title: str
    paragraph: int
    section: str
    score: float
    text: str
    sentences: list[str] = Field(description="the paragraph's sentences closest to the query, best first")


class SearchResponse(BaseModel):
    query: str
    k: int
    results: list[SearchResult]


class DocumentOut(BaseModel):
    id: str
    title: str
    paragraphs: int


class DocumentsResponse(BaseModel):
    documents: list[DocumentOut]


class ParagraphOut(BaseModel):
    doc: str
    title: str
    paragraph: int
    section: str
    subsection: str = ""
    text: str


class DocumentText(BaseModel):
    id: str
    title: str
    paragraphs: list[ParagraphOut]


class HealthResponse(BaseModel):
    status: Literal["ready"]
    version: str
    documents: list[DocumentOut]
    models: dict[str, str]
    index: str
    loaded_in_s: float | None


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """OpenAI chat completions request; sampling options are accepted and ignored.

    Unlike /api, unknown fields are allowed: OpenAI clients send options this server ignores.
    """

    model_config = ConfigDict(extra="allow")
    model: str = OPENAI_MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


ERRORS = {
    400: {"model": ErrorResponse, "description": "malformed JSON or invalid UTF-8"},
    401: {"model": ErrorResponse, "description": "missing or wrong API key (only when the server has API keys)"},
    413: {"model": ErrorResponse, "description": "body, question or history too long"},
    415: {"model": ErrorResponse, "description": "the body is not JSON"},
    422: {"model": ErrorResponse, "description": "invalid request"},
    429: {"model": ErrorResponse, "description": "the queue is full; retry after Retry-After seconds"},
    503: {"model": ErrorResponse, "description": "the engine is still loading"},
    504: {"model": ErrorResponse, "description": "no answer within request_timeout_s"},
}


# -- conversions ------------------------------------------------------------------------------


def answer_json(answer: Answer) -> dict:
    """The /api/ask response body (the same as `qa ask --json` without the question)."""
    return answer.to_json()


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.get("text", "") for part in content if part.get("type") in ("text", "input_text"))


def openai_conversation(messages: list[ChatMessage]) -> tuple[str, list[dict]]:
    """(question, history) from OpenAI messages: the last user message asks; system messages are ignored."""
    turns = [(m.role, _text(m.content)) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise ApiError(400, "no_question", "the last message must be a user message with the question")
    history = [{"role": role, "content": strip_sources(text) if role == "assistant" else text} for role, text in turns[:-1]]
    return turns[-1][1], history


SOURCES_HEADING = "\n\n来源："


def with_sources(answer: Answer) -> str:
    """The answer text followed by its sources, for chat clients that show only `content`."""
    if not answer.citations:
        return answer.text
    lines = [f"[{c.paragraph}] {c.title}，第{c.paragraph}段：“{c.quote}”" for c in answer.citations]
    return answer.text + SOURCES_HEADING + "\n" + "\n".join(lines)


def strip_sources(text: str) -> str:
    return text.split(SOURCES_HEADING, 1)[0]


# -- the app ----------------------------------------------------------------------------------


def create_api(engine_or_loader: Engine | EngineService | Callable[[], Engine], settings: Settings | None = None) -> FastAPI:
    """The FastAPI app with the /api and /v1 routes; loading starts when the app starts.

    Args:
        engine_or_loader: a loaded Engine, an EngineService, or a function that loads an Engine
            (called in a background thread at start-up).
        settings: limits (max_question_chars); defaults to the engine's settings.
    """
    service = as_service(engine_or_loader, settings)

    def current_settings() -> Settings:
        return settings if settings is not None else service.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        yield

    app = FastAPI(
        title="qa: grounded document question answering",
        version=__version__,
        description=(
            "Answers questions from Chinese documents; every answer cites the paragraphs it comes from "
            "(`[4]` is paragraph 4). Errors are `{\"error\": {\"code\", \"message\"}}`."
        ),
        lifespan=lifespan,
    )
    app.state.service = service
    limits = current_settings()
    # Starlette runs the last added outermost: CORS, then the key check, then the body checks.
    app.add_middleware(RequestGuard, max_bytes=limits.max_body_bytes)
    app.add_middleware(ApiKeys, keys=split_list(limits.api_keys))
    origins = split_list(limits.cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"], allow_credentials=False, max_age=600,
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady):
        err = not_ready_error(exc)
        return _error(request, err.status, err.code, err.message, err.headers)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy):
        return _error(request, 429, "busy", str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(Cancelled)
    async def cancelled(request: Request, exc: Cancelled):
        return _error(request, 504, "timeout", str(exc))

    @app.exception_handler(QuestionError)
    async def bad_question(request: Request, exc: QuestionError):
        err = question_error("", current_settings(), exc)
        return _error(request, err.status, err.code, err.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(request, 400, "bad_json", "the request body is not valid JSON")
        parts = []
        for e in errors[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else e.get("msg", "invalid"))
        return _error(request, 422, "invalid_request", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return _error(request, exc.status_code, codes.get(exc.status_code, "http_error"), message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return _error(request, 500, "internal_error", "internal error; the server log has the details")

    def wait_limit() -> float:
        timeout = current_settings().request_timeout_s
        return timeout + min(TIMEOUT_GRACE_S, timeout)

    async def finish(future, stop=None) -> Any:
        """Wait for a worker future without blocking the event loop; 504 (and give up) past the limit."""
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), wait_limit())
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            future.cancel()  # skipped if the worker has not reached it
            if stop is not None:
                stop.set()  # stops generating at the next token
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise ApiError(504, "timeout", f"no answer within {wait_limit():.0f} s; try again later") from None

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        """Run a model call on the engine worker without blocking the event loop."""
        return await finish(service.submit(fn, *args))

    async def answer_within_limit(question: str, history: list[dict]) -> Answer:
        future, stop = service.submit_answer(question, history)
        return await finish(future, stop)

    def conversation(history: Sequence[Any]) -> list[dict]:
        try:
            return check_history(history, current_settings())
        except HistoryError as exc:
            raise question_error("", current_settings(), exc) from None

    def validated(question: str) -> str:
        try:
            return service.engine.validate(question)
        except QuestionError as exc:
            raise question_error(question, current_settings(), exc) from None

    # -- /api ---------------------------------------------------------------------------

    @app.get("/api/health", response_model=HealthResponse, responses={503: ERRORS[503]}, tags=["status"])
    def health():
        """200 with the loaded documents and models once ready; 503 while loading or after a failed load."""
        try:
            info = service.describe()
        except NotReady as exc:
            err = not_ready_error(exc)
            body = {"status": "failed" if exc.failed else "loading", **error_body(err.code, err.message)}
            return JSONResponse(body, status_code=503, headers=err.headers)
        return {"status": "ready", "version": __version__, "loaded_in_s": service.loaded_in_s, **info}

    @app.post(
        "/api/ask",
        response_model=AskResponse,
        responses={**ERRORS, 200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "JSON, or server-sent events when streaming"}},
        tags=["answers"],
    )
    async def ask(body: AskRequest, request: Request):
        """Answer a question from the documents, citing paragraphs.

        With `"stream": true` (or `Accept: text/event-stream`) the reply is server-sent events:
        `event: delta` with `{"delta": str}` while the model writes a draft, then one
        `event: answer` with the verified answer (the same object as the JSON reply); a failure
        after the stream began is `event: error` with `{"error": {...}}`.
        """
        question = validated(body.question)
        history = conversation(body.history)
        if body.stream or "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(_sse_async(service.stream(question, history)), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return answer_json(await answer_within_limit(question, history))

    @app.get("/api/search", response_model=SearchResponse, responses=ERRORS, tags=["documents"])
    async def search(
        q: str = Query(..., description="query, e.g. 地区生产总值"),
        k: int = Query(5, ge=1, le=MAX_SEARCH_K, description="number of paragraphs"),
    ):
        """Rank paragraphs for a query (the retrieval step of /api/ask, without an answer)."""
        query = validated(q)
        engine = service.engine
        hits = await run(engine.retriever.search, query, k)
        docs = engine.retriever.index.docs
        results = [
            SearchResult(
                rank=i, doc=h.doc, title=docs[h.doc].title, paragraph=h.paragraph, section=h.section,
                score=round(float(h.score), 6), text=h.text, sentences=[s.text for s in h.sentences],
            )
            for i, h in enumerate(hits, start=1)
        ]
        return SearchResponse(query=query, k=k, results=results)

    @app.get("/api/documents", response_model=DocumentsResponse, responses={503: ERRORS[503]}, tags=["documents"])
    def documents():
        """The documents with their ids, titles and paragraph counts."""
        return {"documents": [asdict(d) for d in service.documents()]}

    @app.get("/api/documents/{doc}", response_model=DocumentText, responses={404: {"model": ErrorResponse}, 503: ERRORS[503]}, tags=["documents"])
    def document(doc: str = Path(..., description="document id from /api/documents")):
        """A whole document, paragraph by paragraph."""
        d = _document(doc)
        return {"id": d.id, "title": d.title, "paragraphs": [_paragraph_json(d, p) for p in d.paragraphs]}

    @app.get(
        "/api/documents/{doc}/paragraphs/{n}",
        response_model=ParagraphOut,
        responses={404: {"model": ErrorResponse}, 503: ERRORS[503]},
        tags=["documents"],
    )
    def paragraph(doc: str = Path(..., description="document id"), n: int = Path(..., description="paragraph number, from 1")):
        """One paragraph: the text a citation `[n]` points to."""
        d = _document(doc)
        try:
            p = d.paragraph(n)
        except KeyError:
            raise ApiError(404, "paragraph_not_found", f"{doc} has paragraphs 1–{len(d.paragraphs)}, not {n}") from None
        return _paragraph_json(d, p)

    def _document(doc: str):
        try:
            return service.document(doc)
        except KeyError:
            raise ApiError(404, "document_not_found", f"no document {doc!r}; see GET /api/documents") from None

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def api_not_found(rest: str, request: Request):
        _no_route(app, request)

    # -- /v1 (OpenAI) ---------------------------------------------------------------------

    @app.get("/v1/models", tags=["openai"])
    def models():
        """The one model this server offers, in OpenAI's list format."""
        return {"object": "list", "data": [{"id": OPENAI_MODEL_ID, "object": "model", "created": 0, "owned_by": "qa"}]}

    @app.post("/v1/chat/completions", tags=["openai"], responses=ERRORS)
    async def chat_completions(body: ChatCompletionRequest):
        """OpenAI-compatible chat: the last user message is the question, earlier turns the history.

        The message `content` is the verified answer followed by its sources; `citations` (on the
        message, and on the last chunk when streaming) carries them as data. Streaming sends the
        verified answer in chunks once it is checked (never unverified drafts).
        """
        question, history = openai_conversation(body.messages)
        question = validated(question)
        history = conversation(history)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if body.stream:
            future, stop = service.submit_answer(question, history)
            return StreamingResponse(
                _openai_chunks(future, stop, completion_id, created, body.model, wait_limit()),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        answer = await answer_within_limit(question, history)
        citations = [asdict(c) for c in answer.citations]
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": with_sources(answer), "citations": citations, "refused": answer.refused},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "citations": citations,
            "answer": answer.text,
        }

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def v1_not_found(rest: str, request: Request):
        _no_route(app, request)

    return app


def _no_route(app: FastAPI, request: Request) -> None:
    """405 when the path exists with other methods, else 404."""
    path = request.url.path
    allowed = sorted(
        {m for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema and r.path_regex.match(path) for m in (r.methods or ())}
    )
    if allowed:
        raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {path}; use {', '.join(allowed)}", {"Allow": ", ".join(allowed)})
    raise ApiError(404, "not_found", f"no such endpoint: {request.method} {path}")


def _paragraph_json(doc, p) -> dict:
    return {"doc": doc.id, "title": doc.title, "paragraph": p.number, "section": p.section, "subsection": p.subsection, "text": p.text}


def _sse_event(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _sse_async(events: AnswerStream) -> AsyncIterator[str]:
    """`_sse` driven from the event loop; when the client leaves (the task is cancelled) the
    stream is closed, so the worker stops generating at its next token."""
    chunks = _sse(events)
    try:
        while True:
            chunk = await run_in_threadpool(next, chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        events.close()


def _sse(events: Iterator) -> Iterator[str]:
    """Engine events → server-sent events (runs in Starlette's thread pool)."""
    try:
        for event in events:
            if event.delta:
                yield _sse_event("delta", {"delta": event.delta})
            if event.answer is not None:
                yield _sse_event("answer", answer_json(event.answer))
    except QuestionError as exc:
        yield _sse_event("error", error_body("invalid_question", str(exc)))
    except NotReady as exc:
        yield _sse_event("error", error_body("not_ready", str(exc)))
    except Cancelled as exc:
        yield _sse_event("error", error_body("timeout", str(exc)))
    except Exception:  # noqa: BLE001 - the stream has begun; report in-band
        log.exception("streaming an answer failed")
        yield _sse_event("error", error_body("internal_error", "internal error; the server log has the details"))
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


async def _openai_chunks(future, stop, completion_id: str, created: int, model: str, wait_s: float, piece: int = 8) -> AsyncIterator[str]:
    """OpenAI `chat.completion.chunk` events for a verified answer, then `[DONE]`.

    A client that leaves, or an answer later than `wait_s`, gives the request up (the worker
    skips it or stops generating)."""

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    try:
        yield chunk({"role": "assistant", "content": ""})
        try:
            answer: Answer = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), wait_s)
        except asyncio.TimeoutError:
            yield f"data: {json.dumps(error_body('timeout', f'no answer within {wait_s:.0f} s', openai=True))}\n\n"
            yield "data: [DONE]\n\n"
            return
        except Exception as exc:  # noqa: BLE001 - the stream has begun; report in-band
            log.exception("answering failed")
            yield f"data: {json.dumps(error_body('internal_error', f'internal error: {type(exc).__name__}', openai=True))}\n\n"
            yield "data: [DONE]\n\n"
            return
        text = with_sources(answer)
        for start in range(0, len(text), piece):
            yield chunk({"content": text[start:start + piece]})
        citations = [asdict(c) for c in answer.citations]
        yield chunk({}, "stop", citations=citations, refused=answer.refused, answer=answer.text)
        yield "data: [DONE]\n\n"
    finally:
        future.cancel()
        stop.set()
