"""The chat's HTML, made by plain functions: answers with citation links, paragraphs, documents.

Every function takes values (an `Answer`, a `Document`, hits) and returns escaped HTML; none needs
Gradio or a server, so they are tested as they are. A citation is a link `?doc=<id>&p=<n>&q=<quote>`:
the page script (`qa.ui.HEAD`) opens it in the paragraph panel beside the chat; without the script
(or in a new tab) the same link opens the document view at that paragraph.

Left out: Markdown in general. An answer is plain text with `[n]` marks; only its numbered lines
(`1. …[n]`, the points of an open question) and indented `- ` lines under them become lists, and
the `| … |` lines of a table answer across documents a table (`qa.ui_table`).
"""

from __future__ import annotations

import html
import re
from typing import Any, Sequence
from urllib.parse import parse_qs, urlencode

from .engine import Answer
from .ui_table import is_table_line, table_html

PANEL_PLACEHOLDER = '<div class="qa-panel-empty">点击回答中的引用编号（如 <b>[4]</b>）即可在这里查看原文段落。</div>'
DOC_PLACEHOLDER = '<div class="qa-panel-empty">请选择文档。</div>'
REF = re.compile(r"\[(?:([^\[\]:\s]+):)?(\d{1,5})\]")


def cite_href(doc: str, paragraph: int, quote: str | None = None) -> str:
    """The link of a citation: a query string that the page script and the document view both read."""
    params = {"doc": doc, "p": str(paragraph)}
    if quote:
        params["q"] = quote
    return "?" + urlencode(params)


def parse_target(target: str) -> tuple[str, int, str] | None:
    """(doc, paragraph, quote) from a citation link or query string; None if it names no paragraph."""
    query = (target or "").split("?", 1)[-1].split("#", 1)[0]
    values = parse_qs(query)
    doc = (values.get("doc") or [""])[0]
    number = (values.get("p") or [""])[0]
    if not doc or not number.strip().isdigit():
        return None
    return doc, int(number), (values.get("q") or [""])[0]


def _cite_link(doc: str, paragraph: int, quote: str, label: str, title: str) -> str:
    href = html.escape(cite_href(doc, paragraph, quote), quote=True)
    tip = html.escape(f"{title} 第{paragraph}段", quote=True)
    return f'<a class="qa-cite" href="{href}" title="{tip}">{html.escape(label)}</a>'


NUMBERED = re.compile(r"^\s*(\d{1,3})(?:[.)）]\s+|、\s*)(.+)$")  # "1. 第一点…[34]": a point of an open answer
BULLET = re.compile(r"^(\s*)[-•·]\s+(.+)$")  # "- …": a lead point under a part of a summary
QUOTE_CHARS = 120  # the sources list shows this much of a quote (the panel shows it whole)
TRAILING_REFS = re.compile(r"(?:\[[^\[\]]*\d\])+\s*$")


def _blocks(text: str, inline, tail: str = "") -> str:
    """Escaped `text` as HTML: numbered lines an <ol>, "- " lines a <ul> (inside the point above
    them when indented), `| … |` lines a <table>, other lines paragraphs; a single line stays bare.
    `inline(line, point)` makes the HTML of one line's text; `tail` (a cursor) goes after the last line's."""
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) <= 1:
        return inline(text.strip(), False) + tail
    html_parts: list[str] = []
    items: list[list[str]] = []  # the open <ol>: each item's HTML parts (its own <ul> appended)
    start = 1
    table: list[str] = []  # the lines of the open table

    def close() -> None:
        if items:
            first = f' start="{start}"' if start != 1 else ""
            html_parts.append(f'<ol class="qa-points"{first}>' + "".join(f"<li>{''.join(i)}</li>" for i in items) + "</ol>")
            items.clear()

    for index, line in enumerate(lines):
        end = tail if index == len(lines) - 1 else ""
        numbered, bullet = NUMBERED.match(line), BULLET.match(line)
        if is_table_line(line):
            close()
            table.append(line)
            if index == len(lines) - 1 or not is_table_line(lines[index + 1]):
                html_parts.append(table_html(table, inline) + end)
                table = []
        elif numbered:
            if not items:
                start = int(numbered.group(1))
            items.append([inline(numbered.group(2), True) + end])
        elif bullet and items and bullet.group(1):
            sub = f"<li>{inline(bullet.group(2), True)}{end}</li>"
            last = items[-1]
            if last[-1].endswith("</ul>"):
                last[-1] = last[-1][: -len("</ul>")] + sub + "</ul>"
            else:
                last.append(f'<ul class="qa-subpoints">{sub}</ul>')
        else:
            close()
            content = inline(bullet.group(2), True) if bullet else inline(line.strip(), False)
            html_parts.append(f"<ul class=\"qa-subpoints\"><li>{content}{end}</li></ul>" if bullet else f"<p>{content}{end}</p>")
    close()
    return "".join(html_parts)


def render_answer(answer: Answer, labels: dict[str, str] | None = None, after: str = "") -> str:
    """An answer as HTML: each [n] a link to its paragraph, then the list of sources (none if refused).

    `labels` (document id → short name, given when several documents are loaded) makes a
    citation's label name its document: “[江苏 第12段]” instead of “[12]”.

    An answer of points (a lead line, then `1. …[n]` lines) becomes a list; a point's citation
    link quotes the point itself when the cited sentence contains it, so the panel highlights it.
    `after` (HTML: a chart of the rows) goes after the answer's text, before its sources.
    """
    by_ref = {(c.doc, c.paragraph): c for c in answer.citations}
    by_number = {}
    for c in answer.citations:
        by_number.setdefault(c.paragraph, c)

    def inline(line: str, point: bool | str) -> str:  # point: a point's line, or the claim its citations quote
        claim = point if isinstance(point, str) else TRAILING_REFS.sub("", line).strip().rstrip("；;，,。.")

        def link(match: re.Match) -> str:
            doc, number = match.group(1), int(match.group(2))
            c = by_ref.get((doc, number)) if doc else by_number.get(number)
            if c is None:
                return html.escape(match.group(0), quote=False)
            # the point itself, or a row's value after its document's name (“江苏：增长5%”)
            quote = next((q for q in (claim, claim.split("：", 1)[-1]) if point and q and q in c.quote), c.quote)
            return _cite_link(c.doc, c.paragraph, quote, _label(c, labels), c.title)

        out, last = [], 0
        for match in REF.finditer(line):
            out += [html.escape(line[last : match.start()], quote=False), link(match)]
            last = match.end()
        return "".join(out) + html.escape(line[last:], quote=False)

    body = _blocks(answer.text, inline) + after
    if answer.refused or not answer.citations:
        return f'<div class="qa-answer qa-refused">{body}</div>' if answer.refused else f'<div class="qa-answer">{body}</div>'
    items = "".join(
        f'<li>{_cite_link(c.doc, c.paragraph, c.quote, _label(c, labels), c.title)} '
        f'{html.escape(c.title)} · 第{c.paragraph}段：<span class="qa-quote">“{html.escape(_shorten(c.quote))}”</span></li>'
        for c in answer.citations
    )
    sources = f'<div class="qa-sources-title">来源</div><ul>{items}</ul>'
    if answer.rows:  # an answer across documents cites each row in place: its sources folded
        sources = f'<details><summary class="qa-sources-title">来源（{len(answer.citations)}段）</summary><ul>{items}</ul></details>'
    return f'<div class="qa-answer">{body}</div><div class="qa-sources">{sources}</div>'


def _label(c, labels: dict[str, str] | None) -> str:
    """A citation's link text: [12], or [江苏 第12段] when documents have labels."""
    name = labels.get(c.doc) if labels else None
    return f"[{name} 第{c.paragraph}段]" if name else f"[{c.paragraph}]"


def _shorten(quote: str, limit: int = QUOTE_CHARS) -> str:
    """A quote as the sources list shows it: a whole cited paragraph is cut after `limit` characters."""
    return quote if len(quote) <= limit else quote[:limit].rstrip() + "…"


def render_draft(text: str) -> str:
    """Text streaming in, before the answer is verified: points already a list, citations not yet links."""
    body = _blocks(text, lambda line, _point: html.escape(line, quote=False), tail='<span class="qa-cursor">▍</span>')
    return f'<div class="qa-draft">{body}</div><div class="qa-checking">正在核对引用……</div>'


def render_error(message: str) -> str:
    return f'<div class="qa-error">⚠️ {html.escape(message)}</div>'


def _highlight(text: str, quote: str | None) -> str:
    """Escaped `text` with the quoted sentence wrapped in <mark> (if it is found)."""
    if quote:
        for candidate in (quote, quote.rstrip("；;，,。.！!？?、 ")):
            start = text.find(candidate) if candidate else -1
            if start >= 0:
                end = start + len(candidate)
                return f"{html.escape(text[:start])}<mark>{html.escape(text[start:end])}</mark>{html.escape(text[end:])}"
    return html.escape(text)


def render_paragraph(doc: Any, number: int, quote: str | None = None) -> str:
    """The paragraph panel: document title, paragraph number, section, full text, quote highlighted.

    Raises:
        KeyError: no such paragraph.
    """
    p = doc.paragraph(number)
    section = " · ".join(s for s in (p.section, p.subsection) if s)
    link = html.escape(cite_href(doc.id, number), quote=True)
    return (
        f'<div class="qa-paragraph" data-doc="{html.escape(doc.id, quote=True)}" data-p="{number}">'
        f'<div class="qa-paragraph-title">{html.escape(doc.title)}</div>'
        f'<div class="qa-paragraph-meta"><span class="qa-paragraph-number">第{number}段</span>'
        + (f'<span class="qa-paragraph-section">{html.escape(section)}</span>' if section else "")
        + f'</div><div class="qa-paragraph-text">{_highlight(p.text, quote)}</div>'
        f'<div class="qa-paragraph-link"><a href="{link}" target="_blank" rel="noopener">在文档中查看（共{len(doc.paragraphs)}段）</a></div></div>'
    )


def render_document(doc: Any, selected: int | None = None, quote: str | None = None) -> str:
    """Every paragraph of a document with its number; `selected` highlighted (and its quote)."""
    rows = []
    section = None
    for p in doc.paragraphs:
        if p.section and p.section != section and p.text != p.section:
            rows.append(f'<div class="qa-doc-section">{html.escape(p.section)}</div>')
        section = p.section
        chosen = p.number == selected
        text = _highlight(p.text, quote) if chosen else html.escape(p.text)
        rows.append(
            f'<div class="qa-doc-para{" qa-selected" if chosen else ""}" id="qa-para-{p.number}">'
            f'<span class="qa-doc-num">{p.number}</span><span class="qa-doc-text">{text}</span></div>'
        )
    return f'<div class="qa-doc" data-doc="{html.escape(doc.id, quote=True)}"><div class="qa-doc-title">{html.escape(doc.title)}（共{len(doc.paragraphs)}段）</div>{"".join(rows)}</div>'


def render_search_results(query: str, hits: Sequence[Any], titles: dict[str, str]) -> str:
    """Ranked paragraphs for a keyword search; each opens in the document view.

    Args:
        titles: document id → title.
    """
    if not hits:
        return f'<div class="qa-panel-empty">没有找到与“{html.escape(query)}”相关的段落。</div>'
    items = []
    for h in hits:
        title = titles.get(h.doc, h.doc)
        best = h.sentences[0].text if h.sentences else h.text[:120]
        href = html.escape(cite_href(h.doc, h.paragraph, best), quote=True)
        items.append(
            f'<li><a class="qa-cite" href="{href}">第{h.paragraph}段</a> <span class="qa-search-title">{html.escape(title)}</span>'
            f'<div class="qa-search-text">{_highlight(h.text, best)}</div></li>'
        )
    return f'<div class="qa-search"><div class="qa-sources-title">“{html.escape(query)}”的检索结果</div><ol>{"".join(items)}</ol></div>'
