"""The HTTP API: JSON endpoints under /api, an OpenAI-compatible chat endpoint under /v1.

`create_api(engine_or_loader, settings)` builds the FastAPI app; it does not start a server (see
`qa.server`). Every error is JSON, `{"error": {"code", "message"}}`, with a fitting status: 400 bad
JSON, 404 unknown document/paragraph/route, 413 body or question too long, 422 invalid request,
503 while the engine loads. Model calls go through the service's single worker, so concurrent
requests queue without blocking `/api/health`.

The OpenAI endpoint streams only verified text: an OpenAI client appends every delta it receives
and cannot take one back, so the answer is sent once it has passed the engine's checks (the
`/api/ask` stream, whose clients replace the draft with the final event, sends the draft tokens).

Left out: authentication, rate limiting, CORS (add a middleware when serving other origins).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any, Callable, Iterator, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .engine import Answer, Engine, QuestionError
from .service import EngineService, NotReady, as_service
from .settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
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
    if isinstance(question, str) and len(question.strip()) > settings.max_question_chars:
        return ApiError(413, "question_too_long", str(exc))
    return ApiError(422, "invalid_question", str(exc))


class BodySizeLimit:
    """ASGI middleware: 413 for /api and /v1 request bodies over `max_bytes` (declared or streamed)."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(("/api/", "/v1/")):
            return await self.app(scope, receive, send)
        too_large = JSONResponse(error_body("body_too_large", f"the request body is larger than {self.max_bytes} bytes", scope["path"].startswith("/v1/")), status_code=413)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await too_large(scope, receive, send)
        if declared is not None:
            return await self.app(scope, receive, send)
        # No declared length (chunked): read up to the limit, then replay.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await too_large(scope, receive, send)
        body = b"".join(chunks)
        return await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


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
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    question: str = Field(description="the question, in Chinese", examples=["2023年湖州市地区生产总值是多少？"])
    history: list[Message] = Field(default_factory=list, description="earlier turns of the conversation, oldest first")
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
    """OpenAI chat completions request; sampling options are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = OPENAI_MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


ERRORS = {
    400: {"model": ErrorResponse, "description": "malformed JSON"},
    413: {"model": ErrorResponse, "description": "body or question too long"},
    422: {"model": ErrorResponse, "description": "invalid request"},
    503: {"model": ErrorResponse, "description": "the engine is still loading"},
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
    service = as_service(engine_or_loader)

    def current_settings() -> Settings:
        if settings is not None:
            return settings
        try:
            return service.engine.settings
        except NotReady:
            return Settings()

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
    app.add_middleware(BodySizeLimit)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady):
        err = not_ready_error(exc)
        return _error(request, err.status, err.code, err.message, err.headers)

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

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        """Run a model call on the engine worker without blocking the event loop."""
        return await asyncio.wrap_future(service.submit(fn, *args))

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
        history = [m.model_dump() for m in body.history]
        if body.stream or "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(_sse(service.stream(question, history)), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        answer = await run(service.engine.answer, question, history)
        return answer_json(answer)

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
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if body.stream:
            future = service.submit(service.engine.answer, question, history)
            return StreamingResponse(
                _openai_chunks(future, completion_id, created, body.model),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        answer = await run(service.engine.answer, question, history)
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
    except Exception:  # noqa: BLE001 - the stream has begun; report in-band
        log.exception("streaming an answer failed")
        yield _sse_event("error", error_body("internal_error", "internal error; the server log has the details"))
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _openai_chunks(future, completion_id: str, created: int, model: str, piece: int = 8) -> Iterator[str]:
    """OpenAI `chat.completion.chunk` events for a verified answer, then `[DONE]`."""

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        answer: Answer = future.result()
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
