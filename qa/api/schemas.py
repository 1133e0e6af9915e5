"""The HTTP API's request and response bodies (pydantic), and the error responses each route documents.

These models are the OpenAPI schema at /openapi.json. /api requests reject unknown fields; OpenAI
requests allow them (clients send options this server ignores).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OPENAI_MODEL_ID = "qa"
MAX_SEARCH_K = 50


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="the question, in Chinese", examples=["2023年湖州市地区生产总值是多少？"])
    history: list[Message] = Field(default_factory=list, description="earlier turns of the conversation, oldest first (at most max_history_turns, 20, and max_history_chars, 4000, in all)")
    stream: bool = Field(False, description="server-sent events: `delta` events with draft text, then one `answer` event")
    docs: list[str] | None = Field(None, description="answer from these documents only (ids from /api/documents; default: all); an unknown id is 404", examples=[["huzhou-2024-government-work-report"]])


class CitationOut(BaseModel):
    doc: str
    title: str
    paragraph: int
    quote: str = Field(description="the sentence of the paragraph that supports the answer")


class RowCitation(BaseModel):
    doc: str
    paragraph: int


class RowOut(BaseModel):
    doc: str
    title: str
    value: str = Field(description="what this document states, as written (the figure or the first points), or 未提及 when it does not state it")
    citation: RowCitation | None = Field(description="the paragraph the value comes from; null when the document does not state it")


class AskResponse(BaseModel):
    answer: str = Field(description="the verified answer; [n] cites paragraph n")
    refused: bool = Field(description="true when the documents do not answer the question")
    kind: str = Field("", description="the kind of answer the question asked for (number, plan, …; across documents compare, select or table)")
    citations: list[CitationOut]
    rows: list[RowOut] | None = Field(
        None,
        description="only for a question across documents (kind compare, select or table): one row per document asked about, "
        "in the order of the answer; a selection lists every document it checked, the answer text only those that match",
    )
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


class AddedDocument(BaseModel):
    id: str
    title: str
    paragraphs: int
    format: str = Field(description="txt, md, docx, pdf or html")
    source_file: str | None = Field(None, description="the uploaded file's name")


class SkippedFile(BaseModel):
    file: str
    id: str = Field(description="the document that already holds the same bytes")


class AddResponse(BaseModel):
    documents: list[AddedDocument] = Field(description="the documents added, in the order of the files")
    skipped: list[SkippedFile] = Field(description="files already in the store")
    embedded: int = Field(description="sentences embedded (unchanged ones are reused)")
    seconds: float = Field(description="time taken, reading to serving the new index")


class RemoveResponse(BaseModel):
    removed: list[str]
    seconds: float


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
    """`status` for anyone; the details only with an API key when the server has keys."""

    status: Literal["ready", "loading", "failed"]
    version: str | None = None
    documents: list[DocumentOut] | None = None
    models: dict[str, str] | None = None
    index: str | None = None
    loaded_in_s: float | None = None


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
    docs: list[str] | None = Field(None, description="not OpenAI's: answer from these documents only (ids from /api/documents); an unknown id is 404")


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
