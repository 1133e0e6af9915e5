"""Test documents written with each format's own writer: python-docx, fpdf2 (with Debian's Noto CJK
font), and Markdown text escaped as CommonMark says; plus hostile files (a zip bomb in a .docx, an
encrypted PDF).

The seed converted to every format must read back as the same 65 paragraphs, so the writers do what
an author's tools do: headings as headings, bold runs, long lines wrapped, PDF paragraphs either
spaced apart or first-line indented with page numbers in the footer.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest

from conftest import SEED_NAME, SEEDS
from qa.corpus import TOP_HEADING, split_lines

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FONT_SC = 2  # the font collection's Simplified Chinese face
_CJK = re.compile(r"[\u4e00-\u9fff]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{4,}")
_MD_ESCAPE = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def seed_lines() -> list[str]:
    return split_lines((SEEDS / SEED_NAME).read_text(encoding="utf-8"))


def require_cjk_font() -> Path:
    """The CJK font for PDFs; skipped (failed under CI) when `fonts-noto-cjk` is not installed."""
    if not CJK_FONT.is_file():
        message = f"{CJK_FONT} is missing: apt-get install fonts-noto-cjk (scripts/setup.sh --test does)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return CJK_FONT


def write_docx(lines: list[str], path: Path, table: list[list[str]] | None = None) -> Path:
    """Line 1 as the title, `一、…` lines as headings, other lines as paragraphs with a bold run;
    an optional table after the third line."""
    import docx

    document = docx.Document()
    document.core_properties.title = lines[0]
    for n, line in enumerate(lines, start=1):
        if n == 1:
            document.add_heading(line, level=0)
        elif TOP_HEADING.match(line) and len(line) <= 40:
            document.add_heading(line, level=1)
        else:
            paragraph = document.add_paragraph()
            match = _CJK_RUN.search(line)
            if match and n % 3 == 0:
                paragraph.add_run(line[: match.start()])
                paragraph.add_run(match.group()).bold = True
                paragraph.add_run(line[match.end() :])
            else:
                paragraph.add_run(line)
        if table and n == 3:
            grid = document.add_table(rows=len(table), cols=len(table[0]))
            for r, row in enumerate(table):
                for c, text in enumerate(row):
                    grid.cell(r, c).text = text
    document.save(path)
    return path


def markdown_text(lines: list[str]) -> str:
    """The lines as Markdown: ASCII punctuation escaped, headings `#`/`##`, a bold run in some
    paragraphs, long paragraphs wrapped between two Chinese characters."""
    blocks = []
    for n, line in enumerate(lines, start=1):
        match = _CJK_RUN.search(line)
        text = _MD_ESCAPE.sub(r"\\\1", line)
        if n == 1:
            blocks.append(f"# {text}")
        elif TOP_HEADING.match(line) and len(line) <= 40:
            blocks.append(f"## {text}")
        else:
            if match and n % 3 == 0:
                text = text.replace(match.group(), f"**{match.group()}**", 1)
            cut = next((i for i in range(len(text) // 2, len(text)) if _CJK.match(text[i - 1]) and _CJK.match(text[i])), None)
            if cut and len(text) > 80:
                text = text[:cut] + "\n" + text[cut:]
            blocks.append(text)
    return "\n\n".join(blocks) + "\n"


def write_pdf(lines: list[str], path: Path, style: str = "spaced", **encryption) -> Path:
    """The lines typeset on A4 with fpdf2, wrapping between any two characters as Chinese text does.

    style "spaced": paragraphs separated by a blank gap; "indented": first lines indented by two
    full-width spaces, no gap, and the page number in the footer. `encryption` goes to
    `FPDF.set_encryption` (e.g. user_password="secret").
    """
    from fpdf import FPDF
    from fpdf.enums import WrapMode

    font = require_cjk_font()

    class Report(FPDF):
        def footer(self) -> None:
            if style == "indented":
                self.set_y(-15)
                self.cell(0, 10, f"- {self.page_no()} -", align="C")

    pdf = Report()
    pdf.add_font("cjk", fname=str(font), collection_font_number=CJK_FONT_SC)
    pdf.set_font("cjk", size=11)
    pdf.set_title(lines[0])
    pdf.add_page()
    for line in lines:
        text = "\u3000\u3000" + line if style == "indented" else line
        pdf.multi_cell(0, 7, text, wrapmode=WrapMode.CHAR, new_x="LMARGIN", new_y="NEXT")
        if style == "spaced":
            pdf.ln(4)
    if encryption:
        pdf.set_encryption(owner_password="owner", **encryption)
    pdf.output(str(path))
    return path


def zip_bomb_docx(path: Path, unpacked_bytes: int) -> Path:
    """A real .docx with one more part that unpacks to `unpacked_bytes` zeros (a few KB packed)."""
    write_docx(["标题", "正文第一段。"], path)
    chunk = b"\0" * 1_000_000
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("word/media/image1.png", "w", force_zip64=True) as member:
            for _ in range(unpacked_bytes // len(chunk)):
                member.write(chunk)
    return path
