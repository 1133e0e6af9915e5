"""The HTTP API's errors: JSON bodies, the status of each error type, handlers and the two guards.

Every error is `{"error": {"code", "message"}}` (on /v1 also OpenAI's `type` and `param`). The
status comes from the exception's type (`api_error`), never from its message: `QuestionTooLong`
is 413, `UnknownDocument` (a scope naming no such document) 404, any other `QuestionError` 422, `NotReady` 503, `Busy` 429, `Cancelled` 504.

`ApiKeys` (401 without a valid `Authorization: Bearer <key>` when keys are set; `/api/health`
passes, answering with its status only) and `RequestGuard` (413 body too large, 415 not JSON, 400
invalid UTF-8 or a lone surrogate) are ASGI middleware: they run before any endpoint.

Left out: per-client rate limiting (the queue bound is global).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import HistoryError, HistoryTooLong, QuestionError, QuestionTooLong, UnknownDocument
from ..service import Busy, Cancelled, NotReady

log = logging.getLogger(__name__)

HEALTH_PATH = "/api/health"
AUTHORIZED = "qa_authorized"  # request.state flag set by ApiKeys for the health check


class ApiError(Exception):
    """An error with an HTTP status and a stable code, rendered as JSON."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_body(code: str, message: str, openai: bool = False) -> dict:
    """The JSON body of an error; `openai`: the shape OpenAI clients parse (message, type, param, code)."""
    error = {"code": code, "message": message}
    if openai:
        error.update(type="invalid_request_error" if code != "internal_error" else "server_error", param=None)
    return {"error": error}


def api_error(exc: Exception) -> ApiError:
    """The status, code and message of an exception raised by the engine or the service."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, UnknownDocument):
        return ApiError(404, "document_not_found", f"{exc}; see GET /api/documents")
    if isinstance(exc, QuestionTooLong):
        return ApiError(413, "question_too_long", str(exc))
    if isinstance(exc, HistoryTooLong):
        return ApiError(413, "history_too_long", str(exc))
    if isinstance(exc, QuestionError):
        return ApiError(422, "invalid_history" if isinstance(exc, HistoryError) else "invalid_question", str(exc))
    if isinstance(exc, NotReady):
        return ApiError(503, "load_failed" if exc.failed else "not_ready", str(exc), {"Retry-After": "5"})
    if isinstance(exc, Busy):
        return ApiError(429, "busy", str(exc), {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, Cancelled):
        return ApiError(504, "timeout", str(exc))
    return ApiError(500, "internal_error", "internal error; the server log has the details")


def error_response(request: Request | None, err: ApiError) -> JSONResponse:
    openai = request is not None and request.url.path.startswith("/v1/")
    return JSONResponse(error_body(err.code, err.message, openai), status_code=err.status, headers=err.headers)


def add_error_handlers(app: FastAPI) -> None:
    """JSON errors for the typed exceptions, invalid requests, unknown routes and anything unexpected."""

    async def typed(request: Request, exc: Exception):
        return error_response(request, api_error(exc))

    for kind in (ApiError, QuestionError, NotReady, Busy, Cancelled):
        app.add_exception_handler(kind, typed)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(request, ApiError(400, "bad_json", "the request body is not valid JSON"))
        parts = []
        for e in errors[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else e.get("msg", "invalid"))
        return error_response(request, ApiError(422, "invalid_request", "; ".join(parts)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        err = ApiError(exc.status_code, codes.get(exc.status_code, "http_error"), message, getattr(exc, "headers", None))
        return error_response(request, err)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return error_response(request, api_error(exc))


# -- guards ----------------------------------------------------------------------------------


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
    """ASGI middleware: /api and /v1 require `Authorization: Bearer <key>` with one of `keys` (401 otherwise).

    `/api/health` is open to load balancers' probes: it passes with `request.state.qa_authorized`
    telling the endpoint whether to add the details (documents, models) to the status.
    """

    def __init__(self, app, keys: Sequence[str]) -> None:
        self.app, self.keys = app, tuple(keys)

    async def __call__(self, scope, receive, send):
        if not _guarded(scope):
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        authorized = not self.keys or (scheme.lower() == "bearer" and key_matches(token.strip(), self.keys))
        if scope["path"] == HEALTH_PATH:
            scope.setdefault("state", {})[AUTHORIZED] = authorized
            return await self.app(scope, receive, send)
        if authorized:
            return await self.app(scope, receive, send)
        message = "an API key is required: Authorization: Bearer <key>" if not header else "the API key is not valid"
        body = error_body("unauthorized", message, scope["path"].startswith("/v1/"))
        return await JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class RequestGuard:
    """ASGI middleware for /api and /v1 request bodies: at most `max_bytes` (413, declared or streamed),
    JSON only (415), valid UTF-8 (400) and no lone surrogates (400), checked before any endpoint runs."""

    def __init__(self, app, max_bytes: int, skip: Sequence[str] = ()) -> None:
        self.app, self.max_bytes, self.skip = app, max_bytes, tuple(skip)  # skip: paths another guard checks (uploads)

    async def __call__(self, scope, receive, send):
        if not _guarded(scope) or scope["method"] not in ("POST", "PUT", "PATCH") or scope["path"].rstrip("/") in self.skip:
            return await self.app(scope, receive, send)
        openai = scope["path"].startswith("/v1/")

        async def reject(status: int, code: str, message: str):
            return await JSONResponse(error_body(code, message, openai), status_code=status)(scope, receive, send)

        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        too_large = f"the request body is larger than {self.max_bytes} bytes"
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await reject(413, "body_too_large", too_large)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await reject(413, "body_too_large", too_large)
        body = b"".join(chunks)
        problem = _body_problem(body, headers.get(b"content-type", b"").decode("latin-1")) if body else None
        if problem is not None:
            return await reject(*problem)
        return await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _body_problem(body: bytes, content_type: str) -> tuple[int, str, str] | None:
    """(status, code, message) when a request body is not JSON, not UTF-8 or holds a lone surrogate."""
    media = content_type.split(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        return 415, "unsupported_media_type", f"the body must be JSON (Content-Type: application/json), not {media[:60] or 'unlabelled'}"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})"
    if _SURROGATE.search(text) and _has_lone_surrogate(text):
        return 400, "invalid_text", "the body contains a lone surrogate (\\ud800–\\udfff), which is not text"
    return None


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
