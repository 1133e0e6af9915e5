"""Fake parts for fast tests. Not a test module: test modules import it."""

from __future__ import annotations


class QueuedGenerator:
    """Replies with queued texts (an Exception is raised instead), `chunk` characters at a time;
    records what it was asked."""

    name = "fake"

    def __init__(self, *replies: str | Exception, chunk: int = 1) -> None:
        self.replies = list(replies)
        self.chunk = chunk
        self.calls: list[dict] = []

    def stream(self, messages, *, max_new_tokens=64, allowed_numbers=None):
        self.calls.append({"messages": messages, "allowed_numbers": allowed_numbers, "max_new_tokens": max_new_tokens})
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        for i in range(0, len(reply), self.chunk):
            yield reply[i : i + self.chunk]
