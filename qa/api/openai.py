"""The OpenAI-compatible door: POST /v1/chat/completions and GET /v1/models.

The last user message is the question, earlier user/assistant messages the conversation; system
prompts and sampling options are ignored. The message `content` is the answer with its `[n]`
citations followed by a `来源：` list; `citations` carries them as data. Streaming sends only
verified text: an OpenAI client appends every delta it receives and cannot take one back, so the
chunks start once the answer has passed the engine's checks.

Left out: token counts (`usage` is zeros), tools, several choices.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import asdict
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends

from ..engine import Answer
from .app import ApiContext, context
from .errors import ApiError, error_body
from .schemas import ERRORS, OPENAI_MODEL_ID, ChatCompletionRequest, ChatMessage
from .sse import sse, sse_response

log = logging.getLogger(__name__)

router = APIRouter(tags=["openai"])

SOURCES_HEADING = "\n\n来源："


@router.get("/v1/models")
def models():
    """The one model this server offers, in OpenAI's list format."""
    return {"object": "list", "data": [{"id": OPENAI_MODEL_ID, "object": "model", "created": 0, "owned_by": "qa"}]}


@router.post("/v1/chat/completions", responses=ERRORS)
async def chat_completions(body: ChatCompletionRequest, api: ApiContext = Depends(context)):
    """OpenAI-compatible chat: the last user message is the question, earlier turns the history.

    The message `content` is the verified answer followed by its sources; `citations` (on the
    message, and on the last chunk when streaming) carries them as data. Streaming sends the
    verified answer in chunks once it is checked (never unverified drafts).
    """
    question, history = openai_conversation(body.messages)
    question = api.question(question)
    history = api.conversation(history)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if body.stream:
        future, stop = api.service.submit_answer(question, history, body.docs)
        return sse_response(_chunks(future, stop, completion_id, created, body.model, api.wait_limit()))
    answer = await api.answer(question, history, body.docs)
    citations = [asdict(c) for c in answer.citations]
    message = {"role": "assistant", "content": with_sources(answer), "citations": citations, "refused": answer.refused}
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body.model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": citations,
        "answer": answer.text,
    }


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


def with_sources(answer: Answer) -> str:
    """The answer text followed by its sources, for chat clients that show only `content`."""
    if not answer.citations:
        return answer.text
    lines = [f"[{_label(answer.text, c)}] {c.title}，第{c.paragraph}段：“{c.quote}”" for c in answer.citations]
    return answer.text + SOURCES_HEADING + "\n" + "\n".join(lines)


def _label(text: str, citation) -> str:
    """The citation's mark as the text writes it: `doc:n` when the answer names documents (an
    answer across documents, or any answer over a corpus of several), else `n`."""
    named = f"{citation.doc}:{citation.paragraph}"
    return named if f"[{named}]" in text else str(citation.paragraph)


def strip_sources(text: str) -> str:
    """An earlier reply without the sources `with_sources` added."""
    return text.split(SOURCES_HEADING, 1)[0]


async def _chunks(future, stop, completion_id: str, created: int, model: str, wait_s: float, piece: int = 8) -> AsyncIterator[str]:
    """OpenAI `chat.completion.chunk` events for a verified answer, then `[DONE]`.

    A client that leaves, or an answer later than `wait_s`, gives the request up (the worker
    skips it or stops generating)."""

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return sse(body)

    try:
        yield chunk({"role": "assistant", "content": ""})
        try:
            answer: Answer = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), wait_s)
        except asyncio.TimeoutError:
            yield sse(error_body("timeout", f"no answer within {wait_s:.0f} s", openai=True))
            yield sse("[DONE]")
            return
        except Exception as exc:  # noqa: BLE001 - the stream has begun; report in-band
            log.exception("answering failed")
            yield sse(error_body("internal_error", f"internal error: {type(exc).__name__}", openai=True))
            yield sse("[DONE]")
            return
        text = with_sources(answer)
        for start in range(0, len(text), piece):
            yield chunk({"content": text[start:start + piece]})
        citations = [asdict(c) for c in answer.citations]
        yield chunk({}, "stop", citations=citations, refused=answer.refused, answer=answer.text)
        yield sse("[DONE]")
    finally:
        future.cancel()
        stop.set()
