"""Typed errors for what a caller asked wrong: each carries the facts, each door words it.

The engine and the service raise these; the HTTP API (`qa.api.errors`) maps each type to a status
code and an English message, the chat (`qa.ui_handlers`) to a Chinese one. Nobody reads the
message text to decide anything: `QuestionTooLong(length=600, limit=500)` is 413 on the API and
“问题太长（600字），最多500字。” in the chat because of its type and fields.

Left out: errors of the server itself (loading, queue full, timeouts: `qa.service`) and of the
model files (`qa.sources.ModelError`).
"""

from __future__ import annotations


class QuestionError(ValueError):
    """A question or conversation the engine will not process; subclasses say why."""


class NotText(QuestionError):
    """The question is not a string."""

    def __init__(self) -> None:
        super().__init__("the question must be text")


class EmptyQuestion(QuestionError):
    """Nothing is left of the question once blanks and control characters are removed."""

    def __init__(self) -> None:
        super().__init__("the question is empty")


class QuestionTooLong(QuestionError):
    """The question has `length` characters, over the configured `limit`."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"the question has {length} characters; the limit is {limit}")
        self.length, self.limit = length, limit


class HistoryError(QuestionError):
    """A conversation the engine will not take; subclasses say why."""


class MalformedHistory(HistoryError):
    """A history item that is not `{"role": "user"|"assistant", "content": str}`."""

    def __init__(self) -> None:
        super().__init__('history items must be {"role": "user"|"assistant", "content": str}')


class HistoryTooLong(HistoryError):
    """The history has `count` `unit` ("turns" or "characters"), over the configured `limit`."""

    def __init__(self, count: int, limit: int, unit: str) -> None:
        super().__init__(f"the history has {count} {unit}; the limit is {limit}")
        self.count, self.limit, self.unit = count, limit, unit


class UnknownDocument(QuestionError):
    """A scope that names documents the corpus does not hold (`ids`)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(f"unknown document(s): {', '.join(ids)}")
        self.ids = list(ids)
