"""Paragraphs of a PDF, with the page each starts on, read through PDFium (pypdfium2).

PDFium (the PDF engine of Chrome) gives every character with its box and inserts line breaks. A
PDF has no paragraphs, only lines, so they are re-joined here the way a reader would: a line starts
a new paragraph when it is indented, when a wider gap than the usual line pitch precedes it, or when
the line before ended well short of the right margin (a paragraph's last line, a heading). A
paragraph that runs onto the next page stays one paragraph and keeps its first page. A line that
is only a page number (`- 3 -`, `第3页`, `3/12`) at the top or bottom of a page is dropped.

PDFium was chosen over pdfminer (pdfplumber) and pypdf because it reads CJK fonts that both of
those mis-decode (an embedded CFF font with its own CMap, as fpdf2 and some office suites write).
Left out: scanned pages (no text layer, no OCR), multi-column layouts (read line by line across),
tables as rows, and running headers other than page numbers.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from . import formats
from .formats import IngestError, clean_paragraph, join_lines

_PAGE_NUMBER = re.compile(r"^[-—–－\s第]*\d{1,4}[\s页]*[-—–－\s]*$|^\d{1,4}\s*/\s*\d{1,4}$")
INDENT_EMS = 1.0  # a line starting this many character heights right of the margin is indented
SHORT_EMS = 1.5  # a line ending this many character heights left of the margin ends its paragraph
GAP_RATIO = 1.3  # a pitch this much wider than the usual one separates paragraphs


@dataclass
class Line:
    """One text line of a page with its box in PDF points (y grows upwards)."""

    page: int
    text: str
    left: float
    right: float
    bottom: float
    top: float

    @property
    def height(self) -> float:
        return self.top - self.bottom


def _page_lines(page_number: int, textpage) -> list[Line]:
    """The lines PDFium found on one page, each with the union of its characters' loose boxes."""
    import pypdfium2.raw as raw

    lines: list[Line] = []
    chars: list[str] = []
    box: list[float] | None = None

    def flush() -> None:
        nonlocal chars, box
        text = clean_paragraph("".join(chars))
        if text and box is not None:
            lines.append(Line(page_number, text, *box))
        chars, box = [], None

    for i in range(textpage.count_chars()):
        code = raw.FPDFText_GetUnicode(textpage.raw, i)
        if code in (10, 13):
            flush()
            continue
        ch = chr(code) if code else ""
        chars.append(ch)
        if ch.strip():
            left, bottom, right, top = textpage.get_charbox(i, loose=True)
            box = [left, right, bottom, top] if box is None else [min(box[0], left), max(box[1], right), min(box[2], bottom), max(box[3], top)]
    flush()
    return _drop_page_numbers(lines)


def _drop_page_numbers(lines: list[Line]) -> list[Line]:
    """Remove a lone page number from the first and last line of a page."""
    while lines and _PAGE_NUMBER.match(lines[-1].text):
        lines.pop()
    while lines and _PAGE_NUMBER.match(lines[0].text):
        lines.pop(0)
    return lines


def join_paragraphs(lines: list[Line]) -> tuple[list[str], list[int]]:
    """Re-join lines into paragraphs; returns their texts and the page each starts on."""
    if not lines:
        return [], []
    em = statistics.median(line.height for line in lines) or 10.0
    pitches = [a.bottom - b.bottom for a, b in zip(lines, lines[1:]) if a.page == b.page and a.bottom > b.bottom]
    pitch = statistics.median(pitches) if pitches else em * 1.5
    margins = {}
    for line in lines:
        left, right = margins.get(line.page, (line.left, line.right))
        margins[line.page] = (min(left, line.left), max(right, line.right))
    texts: list[list[str]] = []
    pages: list[int] = []
    prev: Line | None = None
    for line in lines:
        left, _ = margins[line.page]
        starts = (
            prev is None
            or line.left > left + INDENT_EMS * em
            or prev.right < margins[prev.page][1] - SHORT_EMS * em
            or (prev.page == line.page and prev.bottom - line.bottom > GAP_RATIO * pitch)
        )
        if starts:
            texts.append([])
            pages.append(line.page)
        texts[-1].append(line.text)
        prev = line
    return [join_lines(t) for t in texts], pages


def read_pdf(data: bytes) -> tuple[list[str], list[int], str | None]:
    """(paragraphs, page of each, title from the metadata) of a PDF.

    Raises:
        IngestError: `encrypted` (needs a password), `malformed` (not a readable PDF), `too_large`
            (over MAX_PDF_PAGES pages).
    """
    import pypdfium2 as pdfium

    if not data.lstrip()[:5] == b"%PDF-":
        raise IngestError("not a PDF file (it does not start with %PDF-)", "malformed")
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == 4:
            raise IngestError("the PDF is encrypted with a password; save an unprotected copy (e.g. `qpdf --decrypt`) and add that", "encrypted") from None
        raise IngestError(f"not a readable PDF ({exc}); save it again from its application", "malformed") from None
    try:
        if len(document) > formats.MAX_PDF_PAGES:
            raise IngestError(f"the PDF has {len(document):,} pages, over the limit of {formats.MAX_PDF_PAGES:,}; split it", "too_large")
        lines: list[Line] = []
        for number in range(len(document)):
            page = document[number]
            textpage = page.get_textpage()
            lines.extend(_page_lines(number + 1, textpage))
            textpage.close()
            page.close()
        title = clean_paragraph(document.get_metadata_dict().get("Title", "")) or None
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - PDFium reports damage in several ways
        raise IngestError(f"not a readable PDF ({type(exc).__name__}: {exc}); save it again from its application", "malformed") from None
    finally:
        document.close()
    paragraphs, pages = join_paragraphs(lines)
    return paragraphs, pages, title
