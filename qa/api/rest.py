"""The REST routes: /api/health, /api/ask (JSON or server-sent events) and /api/search.

Left out: the documents (`qa.api.documents`) and the OpenAI door (`qa.api.openai`).
"""

from __future__ import annotations

import logging
from typing import AsyncIterator, Iterator

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from .. import __version__
from ..engine import Answer
from ..errors import QuestionError
from ..routing import check_scope
from ..service import AnswerStream, Busy, Cancelled, NotReady, search_documents
from .app import ApiContext, context
from .errors import AUTHORIZED, api_error, error_body
from .schemas import ERRORS, MAX_SEARCH_K, AskRequest, AskResponse, HealthResponse, SearchResponse, SearchResult
from .sse import sse, sse_response

log = logging.getLogger(__name__)

router = APIRouter()


def answer_json(answer: Answer) -> dict:
    """The /api/ask response body (the same as `qa ask --json` without the question)."""
    return answer.to_json()


@router.get("/api/health", response_model=HealthResponse, responses={503: ERRORS[503]}, tags=["status"])
def health(request: Request, api: ApiContext = Depends(context)):
    """200 once ready, 503 while loading or after a failed load.

    Open to anyone (a load balancer's probe needs no key); the details (version, documents,
    models, index, the load error) only with a valid key when the server has API keys.
    """
    detailed = getattr(request.state, AUTHORIZED, True)
    service = api.service
    try:
        info = service.describe()
    except NotReady as exc:
        err = api_error(exc)
        status = "failed" if exc.failed else "loading"
        body = {"status": status, **error_body(err.code, err.message)} if detailed else {"status": status}
        return JSONResponse(body, status_code=503, headers=err.headers)
    if not detailed:
        return JSONResponse({"status": "ready"})
    return {"status": "ready", "version": __version__, "loaded_in_s": service.loaded_in_s, **info}


@router.post(
    "/api/ask",
    response_model=AskResponse,
    response_model_exclude_unset=True,  # `rows` only for a question across documents; a row's null citation stays
    responses={**ERRORS, 200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "JSON, or server-sent events when streaming"}},
    tags=["answers"],
)
async def ask(body: AskRequest, request: Request, api: ApiContext = Depends(context)):
    """Answer a question from the documents, citing paragraphs.

    With `"stream": true` (or `Accept: text/event-stream`) the reply is server-sent events:
    `event: delta` with `{"delta": str}` while the model writes a draft, then one
    `event: answer` with the verified answer (the same object as the JSON reply); a failure
    after the stream began is `event: error` with `{"error": {...}}`.
    """
    question = api.question(body.question)
    history = api.conversation(body.history)
    if body.stream or "text/event-stream" in request.headers.get("accept", ""):
        return sse_response(_answer_events(api.service.stream(question, history, body.docs)))
    return answer_json(await api.answer(question, history, body.docs))


@router.get("/api/search", response_model=SearchResponse, responses=ERRORS, tags=["documents"])
async def search(
    q: str = Query(..., description="query, e.g. 地区生产总值"),
    k: int = Query(5, ge=1, le=MAX_SEARCH_K, description="number of paragraphs"),
    docs: list[str] | None = Query(None, description="search these documents only (repeat `docs=`, or `docs=a,b`); an unknown id is 404"),
    api: ApiContext = Depends(context),
):
    """Rank paragraphs for a query (the retrieval step of /api/ask, without an answer)."""
    query = api.question(q)
    engine = api.service.engine
    scope = check_scope([d.strip() for item in docs or () for d in item.split(",") if d.strip()], engine.retriever.index.docs)
    hits = await api.run(search_documents, engine.retriever, query, k, scope)
    known = engine.retriever.index.docs
    results = [
        SearchResult(
            rank=i, doc=h.doc, title=known[h.doc].title, paragraph=h.paragraph, section=h.section,
            score=round(float(h.score), 6), text=h.text, sentences=[s.text for s in h.sentences],
        )
        for i, h in enumerate(hits, start=1)
    ]
    return SearchResponse(query=query, k=k, results=results)


async def _answer_events(events: AnswerStream) -> AsyncIterator[str]:
    """`_encode` driven from the event loop; when the client leaves (the task is cancelled) the
    stream is closed, so the worker stops generating at its next token."""
    chunks = _encode(events)
    try:
        while True:
            chunk = await run_in_threadpool(next, chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        events.close()


def _encode(events: Iterator) -> Iterator[str]:
    """Engine events → server-sent events (runs in Starlette's thread pool); errors in-band."""
    try:
        for event in events:
            if event.delta:
                yield sse({"delta": event.delta}, "delta")
            if event.answer is not None:
                yield sse(answer_json(event.answer), "answer")
    except (QuestionError, NotReady, Busy, Cancelled) as exc:
        err = api_error(exc)
        yield sse(error_body(err.code, err.message), "error")
    except Exception as exc:  # noqa: BLE001 - the stream has begun; report in-band
        log.exception("streaming an answer failed")
        err = api_error(exc)
        yield sse(error_body(err.code, err.message), "error")
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
