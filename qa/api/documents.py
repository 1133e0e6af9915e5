"""The document routes: the list, a whole document, and the paragraph a citation `[n]` points to.

These touch no model: they are answered at once, also while an answer is being generated.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Path

from .app import ApiContext, context
from .errors import ApiError
from .schemas import ERRORS, DocumentsResponse, DocumentText, ErrorResponse, ParagraphOut

router = APIRouter(tags=["documents"])

NOT_FOUND = {404: {"model": ErrorResponse}, 503: ERRORS[503]}


@router.get("/api/documents", response_model=DocumentsResponse, responses={503: ERRORS[503]})
def documents(api: ApiContext = Depends(context)):
    """The documents with their ids, titles and paragraph counts."""
    return {"documents": [asdict(d) for d in api.service.documents()]}


@router.get("/api/documents/{doc}", response_model=DocumentText, responses=NOT_FOUND)
def document(doc: str = Path(..., description="document id from /api/documents"), api: ApiContext = Depends(context)):
    """A whole document, paragraph by paragraph."""
    d = _document(api, doc)
    return {"id": d.id, "title": d.title, "paragraphs": [paragraph_json(d, p) for p in d.paragraphs]}


@router.get("/api/documents/{doc}/paragraphs/{n}", response_model=ParagraphOut, responses=NOT_FOUND)
def paragraph(
    doc: str = Path(..., description="document id"),
    n: int = Path(..., description="paragraph number, from 1"),
    api: ApiContext = Depends(context),
):
    """One paragraph: the text a citation `[n]` points to."""
    d = _document(api, doc)
    try:
        p = d.paragraph(n)
    except KeyError:
        raise ApiError(404, "paragraph_not_found", f"{doc} has paragraphs 1–{len(d.paragraphs)}, not {n}") from None
    return paragraph_json(d, p)


def paragraph_json(doc, p) -> dict:
    """A paragraph as the API shows it."""
    return {"doc": doc.id, "title": doc.title, "paragraph": p.number, "section": p.section, "subsection": p.subsection, "text": p.text}


def _document(api: ApiContext, doc: str):
    try:
        return api.service.document(doc)
    except KeyError:
        raise ApiError(404, "document_not_found", f"no document {doc!r}; see GET /api/documents") from None
