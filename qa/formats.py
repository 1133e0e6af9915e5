"""Read a file of a supported format into paragraphs, with each field's own library.

`extract(name, data)` turns the bytes of one file into plain-text paragraphs (one line each in the
store, so paragraph *n* stays the *n*-th non-empty line) and, for PDFs, the page each paragraph
starts on:

- `.txt`: one paragraph per non-empty line (UTF-8, or GB18030 as Chinese Windows saves it);
- `.md`: markdown-it-py; headings, paragraphs, list items, table rows and code lines, markup removed;
- `.docx`: python-docx; paragraphs and headings in body order, a table as one paragraph per row
  (cells joined with " | "); the zip is checked for its unpacked size before it is parsed;
- `.pdf`: PDFium (pypdfium2); lines with their positions, re-joined into paragraphs where a line is
  indented, follows a wider gap, or the line before ended short of the margin; page numbers in the
  margin are dropped;
- `.html`: trafilatura; the main text, navigation and boilerplate dropped.

Every failure is an `IngestError` whose `code` says what kind (the HTTP door maps it to a status)
and whose message says what to do. Left out: scanned PDFs (no OCR), `.doc`/`.wps`/`.pdf` forms,
text in Word text boxes, headers, footers and footnotes, and HTML inside Markdown.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from .corpus import MAX_DOCUMENT_BYTES, split_lines

FORMATS = {".txt": "txt", ".md": "md", ".markdown": "md", ".docx": "docx", ".pdf": "pdf", ".html": "html", ".htm": "html"}
MAX_FILE_BYTES = 50_000_000  # an original file (a PDF with images is larger than its text)
MAX_UNPACKED_BYTES = 200_000_000  # all members of a .docx zip, as declared in its directory
MAX_ZIP_MEMBERS = 10_000
MAX_PDF_PAGES = 3_000
_INVISIBLE = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u2060\ufeff\ufffe]")
_SPACES = re.compile(r"[ \t\n\r\f\v\u00a0]+")  # a full-width space inside a line (省长\u3000王某) is kept
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]*-[\s:|-]*\|?$")


class IngestError(Exception):
    """A file that cannot be added; `code` names the kind of problem, the message what to do.

    Codes: `too_large`, `unsupported_type`, `bad_name`, `empty`, `no_text`, `malformed`,
    `encrypted`, `zip_bomb` (the file), `not_found` (no such file or document), `busy` (another
    writer holds the store).
    """

    def __init__(self, message: str, code: str = "malformed") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Extracted:
    """The paragraphs read from one file, its format, and a title if the file names one."""

    format: str
    paragraphs: tuple[str, ...]
    pages: tuple[int, ...] | None = None  # PDF: the page each paragraph starts on (1-based)
    title: str | None = None


def file_format(name: str) -> str:
    """The format of a file name by its extension; IngestError `unsupported_type` otherwise."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in FORMATS:
        hint = " (save it as .docx first)" if suffix in (".doc", ".wps", ".rtf") else ""
        known = ", ".join(sorted(FORMATS))
        raise IngestError(f"{name}: {suffix or 'no extension'} is not a supported type{hint}; use one of {known}", "unsupported_type")
    return FORMATS[suffix]


def clean_paragraph(text: str) -> str:
    """One paragraph on one line: invisible characters removed, runs of spaces and line breaks made
    one space, the ends stripped; nothing else changes, so quotes match the source."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


def join_lines(lines: list[str]) -> str:
    """Lines of one paragraph joined as typeset: no space between Chinese characters, one between
    two Latin letters (an English word wrapped at a space)."""
    out = ""
    for line in (clean_paragraph(x) for x in lines):
        if not line:
            continue
        if out and _ASCII_LETTER.match(out[-1]) and _ASCII_LETTER.match(line[0]):
            out += " "
        out += line
    return out


def _paragraphs(texts: list[str]) -> list[str]:
    return [p for p in (clean_paragraph(t) for t in texts) if p]


def read_txt_text(data: bytes) -> str:
    """The text of a UTF-8 (with or without BOM) or GB18030 file; IngestError if it is neither."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise IngestError("not UTF-8 or GB18030 text; convert it, e.g. `iconv -f BIG5 -t UTF-8`", "malformed")
    if "\x00" in text:
        raise IngestError("contains NUL bytes: a binary file, not text", "malformed")
    return text


def read_txt(data: bytes) -> list[str]:
    """One paragraph per non-empty line."""
    return _paragraphs(split_lines(read_txt_text(data)))


def read_md(data: bytes) -> list[str]:
    """Headings, paragraphs, list items, table rows (cells joined by " | ") and code lines."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(read_txt_text(data))
    out: list[str] = []
    row: list[str] | None = None
    for token in tokens:
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            out.append(" | ".join(c for c in row if c))
            row = None
        elif token.type == "inline":
            pieces: list[str] = [""]
            for child in token.children or []:
                if child.type in ("text", "code_inline"):
                    pieces[-1] += child.content
                elif child.type in ("softbreak", "hardbreak"):
                    pieces.append("")
            (row if row is not None else out).append(join_lines(pieces))
        elif token.type in ("fence", "code_block"):
            out.extend(token.content.splitlines())
    return _paragraphs(out)


def check_zip(data: bytes, what: str = "Word document") -> None:
    """Refuse a zip that is not one, or that would unpack to more than MAX_UNPACKED_BYTES."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise IngestError(f"not a valid {what} (bad zip: {exc}); open and save it again in Word or WPS", "malformed") from None
    unpacked = sum(i.file_size for i in infos)
    if len(infos) > MAX_ZIP_MEMBERS or unpacked > MAX_UNPACKED_BYTES:
        raise IngestError(
            f"{what} would unpack to {unpacked:,} bytes in {len(infos):,} parts, over the limit of "
            f"{MAX_UNPACKED_BYTES:,} bytes (a zip bomb?); save a smaller copy",
            "zip_bomb",
        )


def read_docx(data: bytes) -> tuple[list[str], str | None]:
    """Body paragraphs and headings in order; each table row one paragraph. Returns (paragraphs, title)."""
    check_zip(data)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        out: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                out.extend(_table_rows(block))
            else:
                out.append(join_lines(block.text.replace("\t", " ").split("\n")))
        title = document.core_properties.title
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds for a damaged file
        raise IngestError(f"not a readable Word document ({type(exc).__name__}: {exc}); open and save it again", "malformed") from None
    return _paragraphs(out), clean_paragraph(title or "") or None


def _table_rows(table) -> list[str]:
    """One line per row: its cells' text joined by " | ", a merged cell once."""
    rows = []
    for row in table.rows:
        seen, cells = set(), []
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(join_lines([p.text for p in cell.paragraphs]))
        rows.append(" | ".join(c for c in cells if c))
    return rows


def read_html(data: bytes) -> tuple[list[str], str | None]:
    """The main text of a web page, one paragraph per block; table rows as "a | b". Returns (paragraphs, title)."""
    import trafilatura

    try:
        text = trafilatura.extract(data, output_format="txt", include_tables=True, include_comments=False, favor_recall=True)
        meta = trafilatura.extract_metadata(data)
    except Exception as exc:  # noqa: BLE001 - lxml and trafilatura raise many kinds on garbage
        raise IngestError(f"not a readable web page ({type(exc).__name__}: {exc})", "malformed") from None
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if _TABLE_RULE.match(line) and "-" in line:
            continue
        if line.startswith("|") and line.endswith("|"):
            line = " | ".join(c.strip() for c in line.strip("|").split("|") if c.strip())
        out.append(line)
    return _paragraphs(out), (clean_paragraph(meta.title) if meta and meta.title else None)


def extract(name: str, data: bytes) -> Extracted:
    """Paragraphs of the file `name` (its extension picks the reader) with content `data`.

    Raises:
        IngestError: unsupported type, empty, too large, malformed, encrypted, or no text in it.
    """
    fmt = file_format(name)
    if not data:
        raise IngestError(f"{name} is empty; nothing to add", "empty")
    if len(data) > MAX_FILE_BYTES:
        raise IngestError(f"{name}: {len(data):,} bytes is over the {MAX_FILE_BYTES:,}-byte limit for one file; split it", "too_large")
    pages = title = None
    if fmt == "txt":
        paragraphs = read_txt(data)
    elif fmt == "md":
        paragraphs = read_md(data)
    elif fmt == "docx":
        paragraphs, title = read_docx(data)
    elif fmt == "html":
        paragraphs, title = read_html(data)
    else:
        from .pdf import read_pdf

        paragraphs, pages, title = read_pdf(data)
    if not paragraphs:
        hint = " (a scanned PDF needs OCR first)" if fmt == "pdf" else ""
        raise IngestError(f"{name} holds no text{hint}", "no_text")
    size = sum(len(p.encode("utf-8")) + 1 for p in paragraphs)
    if size > MAX_DOCUMENT_BYTES:
        raise IngestError(f"{name}: its text is {size:,} bytes, over the {MAX_DOCUMENT_BYTES:,}-byte limit for one document; split it", "too_large")
    return Extracted(format=fmt, paragraphs=tuple(paragraphs), pages=tuple(pages) if pages else None, title=title)
