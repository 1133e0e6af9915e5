"""The chat's view of an answer across documents (`qa.cross`): its table, a bar chart, a CSV file.

- `table_html` turns the Markdown table of a table answer (`| 报告 | 内容 | 出处 |`) into an HTML
  table; `qa.ui_render` calls it for the table lines of an answer, with the same `inline` that makes
  every other `[doc:n]` a citation link, so each row's citation opens its paragraph in the panel,
  quoting the row's value (the panel highlights it).
- `chart_bars` / `render_chart`: where the stated rows are figures of one measure, a horizontal bar
  chart as inline SVG, one bar per document labelled with its short name (江苏). A row's figure is
  its leading figure (the first one that is not a year) with its unit; every stated row must have
  one, all with the same unit, else there is no chart. A range (4.5%—5%) is drawn at its upper end,
  and the caption says so. Documents that do not state the figure are left out and counted.
- `write_csv`: the rows as a CSV file (doc, title, value, the parsed figure with its bounds, unit
  and qualifier, citation `doc:paragraph`), UTF-8 with a
  BOM so that spreadsheet programs read the Chinese; `answer_message` puts it in the chat as a file.

Left out: charts of anything else (several figures per row, mixed units, signs: “下降2%” is a bar of
2); interaction (the chart is SVG shapes and text, no script, nothing fetched). The chat's HTML
sanitizer keeps SVG shapes but drops `viewBox`, so every coordinate is in pixels.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .numbers import THOUSANDS, ascii_digits

TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$")
RULE_LINE = re.compile(r"^\s*\|(?:\s*:?-{3,}:?\s*\|)+\s*$")
NUMBER = r"(\d+(?:\.\d+)?)"
UNIT = r"(%|‰|个百分点|[万亿]*(?:美元|元|千瓦时|千瓦|吨|人|亩|户|家|个))"
LEADING = re.compile(rf"{NUMBER}\s*{UNIT}?(?:\s*[—–\-~～至到]\s*{NUMBER}\s*{UNIT})?\s*(左右|以上|以内|以下|上下)?")
CSV_FIELDS = ("doc", "title", "value", "figure", "low", "high", "unit", "qualifier", "citation")
CSV_DIR = "qa-tables"  # under the system's temporary folder (where Gradio may serve files from)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a cell starting so is a formula in a spreadsheet
BAR_COLOR = "#3b82f6"
LABEL_W, BAR_W, VALUE_W, ROW_H, PAD = 64, 300, 120, 24, 6


def is_table_line(line: str) -> bool:
    return bool(TABLE_LINE.match(line))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table_html(lines: Sequence[str], inline: Callable[[str, Any], str]) -> str:
    """Markdown table lines (a header, a `|---|` rule, the rows) as an HTML table.

    Args:
        inline: the HTML of a cell's text, `inline(text, claim)`; for a cell that holds citations
            `claim` is the text of the cell before it (the value the citation stands for), else False.
    """
    rows = [_cells(line) for line in lines if not RULE_LINE.match(line)]
    has_header = len(lines) > 1 and bool(RULE_LINE.match(lines[1]))
    head, body = (rows[0], rows[1:]) if has_header else ([], rows)
    parts = ['<table class="qa-table">']
    if head:
        parts.append("<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr></thead>")
    parts.append("<tbody>")
    for cells in body:
        tds = []
        for i, cell in enumerate(cells):
            claim = cells[i - 1] if i and "[" in cell else False
            tds.append(f"<td>{inline(cell, claim)}</td>")
        parts.append("<tr>" + "".join(tds) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


@dataclass(frozen=True)
class Bar:
    """One document's bar: its figure as written (4.5%—5%) and the value drawn (5.0)."""

    name: str
    written: str
    value: float
    ranged: bool


def leading_figure(value: str) -> tuple[str, float, str, bool] | None:
    """(as written, value drawn, unit, is a range) of a row's leading figure; None without one.

    “增长4.5%—5%” → ("4.5%—5%", 5.0, "%", True), “增长5%左右” → ("5%左右", 5.0, "%", False); a
    figure followed by 年 is a year, skipped; a figure without a unit is no figure to draw.
    """
    text = THOUSANDS.sub("", ascii_digits(value).replace("％", "%"))
    for m in LEADING.finditer(text):
        if text[m.end(1) : m.end(1) + 1] == "年" and not m.group(2):
            continue
        low, unit, high, high_unit, _qualifier = m.groups()
        if high is not None and (unit or high_unit) != high_unit:
            return None
        unit = high_unit if high is not None else unit
        if not unit:
            return None
        return m.group(0).strip(), float(high if high is not None else low), unit, high is not None
    return None


def chart_bars(rows: Sequence[Any]) -> tuple[list[Bar], str] | None:
    """The bars of the stated rows and their unit, when every stated row has a leading figure in one unit."""
    bars, units = [], set()
    for row in rows:
        if row.paragraph is None:
            continue
        figure = leading_figure(row.value)
        if figure is None:
            return None
        written, value, unit, ranged = figure
        units.add(unit)
        bars.append(Bar(row.name, written, value, ranged))
    if len(bars) < 2 or len(units) != 1:
        return None
    return bars, units.pop()


def render_chart(rows: Sequence[Any]) -> str:
    """The rows as a bar chart (inline SVG) with a caption; "" when they are not figures of one measure."""
    found = chart_bars(rows)
    if found is None:
        return ""
    bars, unit = found
    top = max(b.value for b in bars) or 1.0
    height = 2 * PAD + ROW_H * len(bars)
    shapes = []
    for i, bar in enumerate(bars):
        y = PAD + i * ROW_H
        width = max(1, round(bar.value / top * BAR_W))
        tip = html.escape(f"{bar.name}：{bar.written}")
        shapes.append(
            f'<g class="qa-bar"><title>{tip}</title>'
            f'<text x="{LABEL_W - 8}" y="{y + 16}" text-anchor="end" font-size="13" fill="currentColor">{html.escape(bar.name)}</text>'
            f'<rect x="{LABEL_W}" y="{y + 4}" width="{width}" height="{ROW_H - 8}" rx="2" fill="{BAR_COLOR}"></rect>'
            f'<text x="{LABEL_W + width + 6}" y="{y + 16}" font-size="12" fill="currentColor">{html.escape(bar.written)}</text></g>'
        )
    width = LABEL_W + BAR_W + VALUE_W
    svg = f'<svg class="qa-chart-svg" width="{width}" height="{height}" role="img">{"".join(shapes)}</svg>'
    return f'<div class="qa-chart">{svg}<div class="qa-chart-caption"><small>{html.escape(chart_caption(rows, bars, unit))}</small></div></div>'


def chart_caption(rows: Sequence[Any], bars: Sequence[Bar], unit: str) -> str:
    """“各报告所写的数字（单位：%）；区间按上限画出：广东 4.5%—5%；未提及的1份报告不在图中。”"""
    parts = [f"各报告所写的数字（单位：{unit}）"]
    ranged = [f"{b.name} {b.written}" for b in bars if b.ranged]
    if ranged:
        parts.append("区间按上限画出：" + "、".join(ranged))
    missing = sum(r.paragraph is None for r in rows)
    if missing:
        parts.append(f"未提及的{missing}份报告不在图中")
    return "；".join(parts) + "。"


def shown_rows(answer: Any) -> list[Any]:
    """The rows the answer shows: a selection's kept rows (those it cites), else every row."""
    if answer.kind != "select":
        return list(answer.rows)
    return [r for r in answer.rows if r.paragraph is not None and f"[{r.doc}:{r.paragraph}]" in answer.text]


def csv_text(rows: Sequence[Any]) -> str:
    """The rows as CSV: doc, title, value as written, its parsed figure (as written, bounds in the
    base unit, unit, qualifier: `qa.answer.conditions`; empty without one), citation
    (`doc:paragraph`, empty when not stated)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in rows:
        citation = f"{r.doc}:{r.paragraph}" if r.paragraph is not None else ""
        figure = getattr(r, "figure", None)
        parsed = [figure.text, f"{figure.low:g}", f"{figure.high:g}", figure.unit, figure.qualifier] if figure is not None else [""] * 5
        writer.writerow([_cell(r.doc), _cell(r.title), _cell(r.value), *(_cell(c) for c in parsed), _cell(citation)])
    return out.getvalue()


def _cell(text: str) -> str:
    """A cell that a spreadsheet would run as a formula, quoted with a leading apostrophe."""
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv(rows: Sequence[Any], question: str = "", folder: Path | None = None) -> Path:
    """Write the rows' CSV under `folder` (default: the temporary folder) and return its path.

    The file is named after the question; the folder above it after the content, so the same
    table is one file however often it is asked.
    """
    text = csv_text(rows)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    name = re.sub(r"\W+", "_", question).strip("_")[:40] or "rows"
    path = (folder or Path(tempfile.gettempdir()) / CSV_DIR) / digest / f"{name}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8-sig")
    return path


def answer_message(answer: Any, labels: dict[str, str] | None = None, question: str = "") -> dict:
    """The chat message of a verified answer: its HTML, and for an answer across documents also its
    bar chart (compare and table) and its rows as a CSV file."""
    from .ui_render import render_answer

    if not answer.rows or answer.refused:
        return {"role": "assistant", "content": render_answer(answer, labels)}
    rows = shown_rows(answer)
    chart = render_chart(rows) if answer.kind != "select" else ""
    body = render_answer(answer, labels, after=chart)
    path = write_csv(rows, question)
    return {"role": "assistant", "content": [body, {"path": str(path), "mime_type": "text/csv"}]}
