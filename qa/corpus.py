"""Documents and their numbered paragraphs.

Paragraph *n* of a document is its *n*-th non-empty line, headings included, so anyone can check a
citation by counting lines. Each paragraph knows the section it sits under: top-level headings such
as `一、2023年工作回顾` and sub-headings such as `（一）聚力稳进提质…`, which in these reports often
open a paragraph (the first sentence is the heading). A section's year is read from its heading, or
failing that from the years its paragraphs mention, so that `2023年`, `去年` and `今年` can be matched
to the part of the report that covers them. Nothing here knows about any particular report.

Documents are UTF-8 text, one paragraph per line; `qa add` (`qa.store`) converts Word, PDF,
Markdown and HTML files into that form and records where they came from in `catalog.json`, with the
page of each paragraph of a PDF, which `load_corpus` attaches to the paragraphs; a catalog entry
may also list `aliases`, other names questions use for the document (`qa.routing`), and the
catalog's `groups` name region groups of several documents (`qa.regions`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from .regions import read_groups

TOP_HEADING = re.compile(r"^[一二三四五六七八九十]+、")
SUB_HEADING = re.compile(r"^[（(][一二三四五六七八九十]+[）)]")
YEAR = re.compile(r"((?:19|20)\d{2})年")
REVIEW_HEADING = re.compile(r"过去一年|上一年|去年|一年来|工作回顾")
CATALOG_NAME = "catalog.json"
MAX_DOCUMENT_BYTES = 20_000_000


class CorpusError(Exception):
    """A seed folder or file that cannot be read as a corpus; the message says what to do."""


@dataclass(frozen=True)
class Paragraph:
    """One non-empty line of a document."""

    doc: str
    number: int
    text: str
    section: str = ""  # top-level heading, e.g. "一、2023年工作回顾" ("" before the first one)
    subsection: str = ""  # e.g. "（一）聚力稳进提质，经济运行回升向好。" ("" if none)
    year: int | None = None  # the year the section is about, if one can be inferred
    page: int | None = None  # the page it starts on, for a document added from a PDF

    @property
    def is_heading(self) -> bool:
        return bool(TOP_HEADING.match(self.text)) and len(self.text) <= 40


@dataclass(frozen=True)
class Document:
    """A source document with a stable id (its file name without extension) and a title."""

    id: str
    title: str
    path: Path
    sha256: str
    paragraphs: tuple[Paragraph, ...] = field(repr=False)
    aliases: tuple[str, ...] = ()  # other names a question may use for it (catalog "aliases")
    groups: tuple = field(default=(), repr=False)  # the folder's region groups (catalog "groups", `qa.regions`)

    def paragraph(self, number: int) -> Paragraph:
        """Paragraph by its 1-based number; KeyError if out of range."""
        if not 1 <= number <= len(self.paragraphs):
            raise KeyError(f"{self.id} has paragraphs 1–{len(self.paragraphs)}, not {number}")
        return self.paragraphs[number - 1]

    @property
    def years(self) -> tuple[int, ...]:
        """Years that sections of this document are about, ascending."""
        return tuple(sorted({p.year for p in self.paragraphs if p.year is not None}))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_lines(text: str) -> list[str]:
    """Non-empty lines, stripped (full-width spaces included)."""
    return [line.strip().strip("\u3000").strip() for line in text.splitlines() if line.strip().strip("\u3000")]


def _sub_heading_of(line: str) -> str:
    """The `（一）…。` heading that opens a line, or the whole line if it is only a heading."""
    match = SUB_HEADING.match(line)
    if not match:
        return ""
    end = line.find("。")
    return line if end == -1 else line[: end + 1]


def _section_years(lines: list[str]) -> dict[str, int | None]:
    """Year of each top-level section: from its heading, else the year its text names most often,
    else, for a review section (过去一年的工作), the year before the next section's.

    Years named in a section's own text often refer to the past or to targets (2035年), so the
    heading wins; the fallback needs a clear majority to avoid guessing.
    """
    texts: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if TOP_HEADING.match(line) and len(line) <= 40:
            current = line
        texts.setdefault(current, []).append(line)
    years: dict[str, int | None] = {}
    for heading, body in texts.items():
        in_heading = YEAR.findall(heading)
        if in_heading:
            years[heading] = int(in_heading[0])
            continue
        counts = Counter(int(y) for line in body for y in YEAR.findall(line))
        if heading and counts:
            (year, n), *rest = counts.most_common(2) + [(None, 0)]
            years[heading] = year if n >= 3 and n >= 2 * rest[0][1] else None
        else:
            years[heading] = None
    # "一、过去一年的工作" names no year: it reviews the year before the plan that follows it.
    headings = list(texts)
    for i, heading in enumerate(headings):
        if years[heading] is None and REVIEW_HEADING.search(heading):
            later = next((years[h] for h in headings[i + 1 :] if years[h] is not None), None)
            years[heading] = later - 1 if later is not None else None
    return years


def parse_paragraphs(doc_id: str, text: str) -> tuple[Paragraph, ...]:
    """Number the non-empty lines of `text` and attach section context to each."""
    lines = split_lines(text)
    years = _section_years(lines)
    paragraphs = []
    section = subsection = ""
    for number, line in enumerate(lines, start=1):
        if TOP_HEADING.match(line) and len(line) <= 40:
            section, subsection = line, ""
        elif SUB_HEADING.match(line):
            subsection = _sub_heading_of(line)
        paragraphs.append(
            Paragraph(doc=doc_id, number=number, text=line, section=section, subsection=subsection, year=years.get(section))
        )
    return tuple(paragraphs)


def read_catalog(seeds_dir: Path) -> dict[str, dict]:
    """`catalog.json` of a seeds folder: file name → {"title", "source", …}; {} if there is none."""
    path = seeds_dir / CATALOG_NAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: not valid JSON ({exc}); fix it or delete it to use file names as titles") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected an object mapping file names to {{\"title\": ...}}")
    return data


def read_document(path: Path, title: str | None = None) -> Document:
    """Read one UTF-8 text file as a Document.

    Raises:
        CorpusError: the file is not UTF-8 text, is empty, or is too large.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CorpusError(f"{path}: {len(data)} bytes is over the {MAX_DOCUMENT_BYTES}-byte limit for one document")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: not UTF-8 text (byte {exc.start}); convert it, e.g. `iconv -f GBK -t UTF-8 in.txt > out.txt`"
        ) from None
    if "\x00" in text:
        raise CorpusError(f"{path}: contains NUL bytes; is it a binary file?")
    doc_id = path.stem
    paragraphs = parse_paragraphs(doc_id, text)
    if not paragraphs:
        raise CorpusError(f"{path}: has no text")
    return Document(id=doc_id, title=title or doc_id, path=path, sha256=sha256_bytes(data), paragraphs=paragraphs)


def load_corpus(seeds_dir: Path) -> list[Document]:
    """Every `*.txt` file in `seeds_dir`, sorted by name; titles from an optional `catalog.json`.

    Raises:
        CorpusError: the folder is missing or holds no `.txt` files, or a file is unreadable.
    """
    seeds_dir = Path(seeds_dir)
    if not seeds_dir.is_dir():
        raise CorpusError(f"seeds folder {seeds_dir} does not exist; set QA_SEEDS_DIR or pass --seeds")
    files = sorted(p for p in seeds_dir.glob("*.txt") if p.is_file())
    if not files:
        raise CorpusError(f"seeds folder {seeds_dir} holds no .txt files; add UTF-8 text documents, one per file")
    catalog = read_catalog(seeds_dir)
    groups = read_groups(catalog)
    docs = []
    for path in files:
        entry = catalog.get(path.name, {})
        entry = entry if isinstance(entry, dict) else {}
        doc = _with_pages(read_document(path, title=entry.get("title")), entry.get("pages"))
        docs.append(replace(doc, aliases=aliases_of(entry), groups=groups))
    return docs


def aliases_of(entry: dict) -> tuple[str, ...]:
    """The catalog entry's "aliases" (a list of short names, e.g. a province's one-character
    abbreviation); anything that is not a list of non-empty strings is ignored."""
    aliases = entry.get("aliases")
    if not isinstance(aliases, list):
        return ()
    return tuple(dict.fromkeys(a.strip() for a in aliases if isinstance(a, str) and a.strip()))


def _with_pages(doc: Document, pages: object) -> Document:
    """The document with each paragraph's page from the catalog, when it lists one per paragraph."""
    if not isinstance(pages, list) or len(pages) != len(doc.paragraphs) or not all(isinstance(n, int) for n in pages):
        return doc
    paragraphs = tuple(replace(p, page=n) for p, n in zip(doc.paragraphs, pages))
    return replace(doc, paragraphs=paragraphs)


def corpus_fingerprint(docs: list[Document]) -> dict[str, str]:
    """Document id → sha256 of its bytes; what the index manifest records to detect staleness."""
    return {d.id: d.sha256 for d in docs}
