"""The HTTP API app: JSON endpoints under /api, an OpenAI-compatible chat endpoint under /v1.

`create_api(engine_or_loader, settings)` builds the FastAPI app from the routers (`rest`,
`documents`, `openai`), the error handlers and guards (`errors`); it does not start a server (see
`qa.server`). Routes reach the engine through `ApiContext` (`app.state.api`): model calls go
through the service's bounded single worker, so concurrent requests queue without blocking
`/api/health`. CORS is off unless `cors_origins` names origins.

Left out: user accounts; anything the routers do not list.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, Callable, Sequence

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from .. import __version__
from ..engine import Answer, Engine
from ..live_store import LiveStore
from ..service import EngineService, as_service, check_history
from ..settings import Settings, split_list
from .errors import ApiError, ApiKeys, RequestGuard, add_error_handlers

TIMEOUT_GRACE_S = 5.0  # beyond request_timeout_s (at most as much again): time to check and return the extractive answer


class ApiContext:
    """What the routes share: the service, the limits, and waiting for the worker without blocking."""

    def __init__(self, service: EngineService, settings: Settings | None) -> None:
        self.service = service
        self._settings = settings
        self.store = LiveStore(service)

    @property
    def settings(self) -> Settings:
        return self._settings if self._settings is not None else self.service.settings

    def wait_limit(self) -> float:
        timeout = self.settings.request_timeout_s
        return timeout + min(TIMEOUT_GRACE_S, timeout)

    async def finish(self, future, stop=None) -> Any:
        """Wait for a worker future without blocking the event loop; 504 (and give up) past the limit."""
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.wait_limit())
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            future.cancel()  # skipped if the worker has not reached it
            if stop is not None:
                stop.set()  # stops generating at the next token
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise ApiError(504, "timeout", f"no answer within {self.wait_limit():.0f} s; try again later") from None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a model call on the engine worker without blocking the event loop."""
        return await self.finish(self.service.submit(fn, *args))

    async def answer(self, question: str, history: list[dict], docs: Sequence[str] | None = None) -> Answer:
        future, stop = self.service.submit_answer(question, history, docs)
        return await self.finish(future, stop)

    def question(self, question: Any) -> str:
        """The cleaned question; a typed `QuestionError` (413 / 422) otherwise."""
        return self.service.validate(question)

    def conversation(self, history: Sequence[Any]) -> list[dict]:
        """The checked history; a typed `HistoryError` (413 / 422) otherwise."""
        return check_history(history, self.settings)


def context(request: Request) -> ApiContext:
    """The app's ApiContext (a FastAPI dependency)."""
    return request.app.state.api


def create_api(engine_or_loader: Engine | EngineService | Callable[[], Engine], settings: Settings | None = None) -> FastAPI:
    """The FastAPI app with the /api and /v1 routes; loading starts when the app starts.

    Args:
        engine_or_loader: a loaded Engine, an EngineService, or a function that loads an Engine
            (called in a background thread at start-up).
        settings: limits (max_question_chars); defaults to the engine's settings.
    """
    from . import documents, openai, rest, uploads

    service = as_service(engine_or_loader, settings)

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
    app.state.api = ApiContext(service, settings)
    limits = app.state.api.settings
    # Starlette runs the last added outermost: CORS, then the key check, then the body checks.
    app.add_middleware(RequestGuard, max_bytes=limits.max_body_bytes, skip=(uploads.UPLOAD_PATH,))
    app.add_middleware(uploads.DocumentWrites, keys=split_list(limits.api_keys), host=limits.host)
    app.add_middleware(ApiKeys, keys=split_list(limits.api_keys))
    origins = split_list(limits.cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"], allow_credentials=False, max_age=600,
        )
    add_error_handlers(app)
    routers = (rest.router, documents.router, uploads.router, openai.router)
    for router in routers:
        app.include_router(router)
    app.state.routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]  # for 405 vs 404
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app.add_api_route("/api/{rest:path}", no_route, methods=methods, include_in_schema=False)
    app.add_api_route("/v1/{rest:path}", no_route, methods=methods, include_in_schema=False)
    return app


def no_route(rest: str, request: Request) -> None:
    """405 when the path exists with other methods, else 404 (registered after every real route)."""
    path = request.url.path
    allowed = sorted(
        {m for r in request.app.state.routes if r.include_in_schema and r.path_regex.match(path) for m in (r.methods or ())}
    )
    if allowed:
        raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {path}; use {', '.join(allowed)}", {"Allow": ", ".join(allowed)})
    raise ApiError(404, "not_found", f"no such endpoint: {request.method} {path}")
