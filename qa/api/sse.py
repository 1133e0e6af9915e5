"""Server-sent events: the one encoder both streaming endpoints use.

`sse(data, event)` is one event: an optional `event:` line and one `data:` line (JSON, or a literal
such as OpenAI's `[DONE]`), then a blank line. `sse_response` wraps an async iterator of events in
a response that proxies do not buffer.

Left out: `id:` and `retry:` fields, and multi-line data (JSON is written on one line).
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from fastapi.responses import StreamingResponse

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(data: Any, event: str | None = None) -> str:
    """One event; `data` is JSON-encoded unless it is a string."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def sse_response(events: AsyncIterator[str]) -> StreamingResponse:
    """A `text/event-stream` response of already encoded events."""
    return StreamingResponse(events, media_type="text/event-stream", headers=HEADERS)
