"""The document writes: `POST /api/documents` (multipart upload) and `DELETE /api/documents/{id}`.

Both change what every user is answered from, so they need an API key whenever the server has
keys (`ApiKeys` checks it first); a server without keys takes them only when it listens on a
loopback address (127.0.0.1, ::1, localhost), and answers 403 otherwise. `DocumentWrites`, an ASGI
middleware, checks this and caps an upload's body (`qa.formats.MAX_FILE_BYTES` plus room for the
form) before a byte of it is parsed. A refused file is an `IngestError`; its code picks the status
(`INGEST_STATUS`), and the store and the index are then unchanged. After a write the server serves
the new index (`qa.live_store`).

Left out: resumable or chunked uploads; adding from a URL.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Depends, File, Form, Path, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from .. import formats
from ..formats import IngestError
from ..store import Upload
from .app import ApiContext, context
from .errors import ApiError, error_body
from .schemas import ERRORS, AddResponse, ErrorResponse, RemoveResponse

router = APIRouter(tags=["documents"])

UPLOAD_PATH = "/api/documents"
FORM_OVERHEAD_BYTES = 1 << 20  # multipart boundaries, headers and the title field
MAX_UPLOAD_FILES = 100
INGEST_STATUS = {"too_large": 413, "unsupported_type": 415, "not_found": 404, "busy": 409, "last_document": 409}  # others 422
WRITE_ERRORS = {
    **{k: ERRORS[k] for k in (401, 413, 503)},
    403: {"model": ErrorResponse, "description": "no API keys are configured and the server does not listen on loopback"},
    404: {"model": ErrorResponse, "description": "no such document"},
    409: {"model": ErrorResponse, "description": "another write is in progress, or it would remove the last document"},
    415: {"model": ErrorResponse, "description": "not multipart/form-data, or a file type that cannot be read"},
    422: {"model": ErrorResponse, "description": "empty, malformed, encrypted, without text, a zip bomb, or a path in the file name"},
}


def max_upload_bytes() -> int:
    """The largest upload body: one file at the limit, plus the form around it (read at request time)."""
    return formats.MAX_FILE_BYTES + FORM_OVERHEAD_BYTES


def is_loopback(host: str) -> bool:
    """Whether the server's bind address is reachable only from this machine."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ingest_error(exc: IngestError) -> ApiError:
    return ApiError(INGEST_STATUS.get(exc.code, 422), exc.code, str(exc))


@router.post("/api/documents", status_code=201, response_model=AddResponse, responses=WRITE_ERRORS)
async def add_documents(
    files: list[UploadFile] = File(..., description="one or more .txt .md .docx .pdf .html files"),
    title: str | None = Form(None, description="title of the document (only with one file; default: the file's own title or name)"),
    replace: bool = Form(False, description="replace the document that has the same id instead of adding a copy"),
    api: ApiContext = Depends(context),
):
    """Add documents; 201 with what was added (200 when every file was already stored).

    All or nothing: a file that cannot be read is refused (4xx) and nothing changes. Only new
    sentences are embedded; questions asked meanwhile are answered from the old index.
    """
    if len(files) > MAX_UPLOAD_FILES:
        raise ApiError(413, "too_many_files", f"{len(files)} files in one request; send at most {MAX_UPLOAD_FILES}")
    if title is not None and len(files) > 1:
        raise ApiError(422, "bad_name", "a title names one document; send one file with it")
    uploads = [Upload(f.filename or "", await f.read(), title=title or None) for f in files]
    try:
        result = await run_in_threadpool(api.store.add, uploads, replace)
    except IngestError as exc:
        raise ingest_error(exc) from None
    body = {
        "documents": [
            {"id": d.id, "title": d.title, "paragraphs": d.paragraphs, "format": d.format, "source_file": d.source_file}
            for d in result.added
        ],
        "skipped": [{"file": name, "id": doc_id} for name, doc_id in result.skipped],
        "embedded": result.embedded,
        "seconds": round(result.seconds, 3),
    }
    return JSONResponse(body, status_code=201 if result.added else 200)


@router.delete("/api/documents/{doc}", response_model=RemoveResponse, responses=WRITE_ERRORS)
async def remove_document(doc: str = Path(..., description="document id from /api/documents"), api: ApiContext = Depends(context)):
    """Remove a document; its chunks leave the index."""
    try:
        result = await run_in_threadpool(api.store.remove, [doc])
    except IngestError as exc:
        raise ingest_error(exc) from None
    return {"removed": list(result.removed), "seconds": round(result.seconds, 3)}


class DocumentWrites:
    """ASGI middleware for the two writes: 403 without keys off loopback, then for an upload 415
    unless multipart and 413 over `max_upload_bytes()`, before the body reaches the form parser.

    Args:
        app: the next ASGI app.
        keys: the server's API keys (checked by `ApiKeys`; here only whether there are any).
        host: the address the server listens on.
    """

    def __init__(self, app, keys, host: str) -> None:
        self.app, self.open = app, bool(tuple(keys)) or is_loopback(host)
        self.host = host

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _is_write(scope["method"], scope["path"]):
            return await self.app(scope, receive, send)

        async def reject(status: int, code: str, message: str):
            return await JSONResponse(error_body(code, message), status_code=status)(scope, receive, send)

        if not self.open:
            return await reject(403, "writes_forbidden", f"adding or removing documents needs an API key (QA_API_KEYS) on a server listening on {self.host}")
        if scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        media = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if media != "multipart/form-data":
            return await reject(415, "unsupported_media_type", f"send the files as multipart/form-data (field `files`), not {media[:60] or 'unlabelled'}")
        limit = max_upload_bytes()
        too_large = f"the upload is larger than {limit:,} bytes; one request carries at most {formats.MAX_FILE_BYTES:,} bytes of files"
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await reject(413, "too_large", too_large)
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await reject(413, "too_large", too_large)
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)


def _is_write(method: str, path: str) -> bool:
    return (method == "POST" and path.rstrip("/") == UPLOAD_PATH) or (method == "DELETE" and path.startswith(UPLOAD_PATH + "/"))
