"""Answers across documents in the chat (`qa.ui_table`), without a server.

A table answer's Markdown table becomes an HTML table whose citations are links naming their
document (“[江苏 第35段]”) and quoting the row's value; figures of one measure become a bar chart
(a range at its upper end, said in the caption); the rows become a CSV file in the chat.
"""

from __future__ import annotations

import csv
import io

import pytest

from qa.cross import NOT_STATED, Row
from qa.engine import Answer, Citation
from qa.ui_render import render_answer, render_draft
from qa.ui_table import (
    answer_message,
    chart_bars,
    csv_text,
    leading_figure,
    render_chart,
    shown_rows,
    write_csv,
)

DOCS = {"jiangsu-2026": ("江苏", "地区生产总值按增长5%安排", 35), "guangdong-2026": ("广东", "地区生产总值增长4.5%—5%", 56), "tianjin-2026": ("天津", NOT_STATED, None)}
LABELS = {doc: name for doc, (name, _, _) in DOCS.items()}


def rows() -> tuple[Row, ...]:
    return tuple(Row(doc, f"2026年{name}政府工作报告", name, value, p) for doc, (name, value, p) in DOCS.items())


def table_answer(kind: str = "table") -> Answer:
    lines = ["共查阅3份报告，2份有相关内容：", "| 报告 | 内容 | 出处 |", "|---|---|---|"]
    lines += [f"| {r.name} | {r.value} | {f'[{r.doc}:{r.paragraph}]' if r.paragraph else ''} |" for r in rows()]
    citations = tuple(Citation(r.doc, r.title, r.paragraph, f"今年的主要预期目标是：{r.value}；居民收入增长与经济增长同步。") for r in rows() if r.paragraph)
    return Answer("\n".join(lines), citations, False, {}, "extractive", kind=kind, rows=rows())


def test_a_table_answer_is_an_html_table_with_citation_links_naming_documents():
    html = render_answer(table_answer(), LABELS)
    assert html.count("<table") == 1 and "<th>报告</th><th>内容</th><th>出处</th>" in html
    assert html.count("<tr>") == 4 and "<td>天津</td><td>未提及</td><td></td>" in html
    assert ">[江苏 第35段]</a>" in html and ">[广东 第56段]</a>" in html
    assert "doc=jiangsu-2026&amp;p=35&amp;q=%E5%9C%B0" in html  # the link quotes the row's value: the panel highlights it
    assert "<details><summary" in html and "来源（2段）" in html  # the sources are folded: each row cites in place
    assert "|" not in html.split("<table", 1)[1].split("</table>")[0]


def test_a_table_streaming_in_is_a_table_without_links():
    draft = render_draft(table_answer().text)
    assert "<table" in draft and "[jiangsu-2026:35]" in draft and "qa-cite" not in draft and draft.count("qa-cursor") == 1


def test_text_around_a_table_stays_paragraphs_and_points():
    answer = Answer("前言\n| a | b |\n|---|---|\n| 1 | 2 |\n后记", (), False, {}, "extractive")
    html = render_answer(answer)
    assert html.startswith('<div class="qa-answer"><p>前言</p><table') and html.endswith("</table><p>后记</p></div>")


@pytest.mark.parametrize(
    "value, figure",
    [
        ("地区生产总值增长4.5%—5%", ("4.5%—5%", 5.0, "%", True)),
        ("地区生产总值增长4.5-5%", ("4.5-5%", 5.0, "%", True)),
        ("地区生产总值增长5%-5.5%，力争更好", ("5%-5.5%", 5.5, "%", True)),
        ("地区生产总值增长5.1％", ("5.1%", 5.1, "%", False)),
        ("2026年地区生产总值增长5%左右", ("5%左右", 5.0, "%", False)),
        ("地区生产总值增长5.5%、达到10.3万亿元", ("5.5%", 5.5, "%", False)),
        ("城镇新增就业１２０万人", ("120万人", 120.0, "万人", False)),
        ("地区生产总值达到4,015亿元", ("4015亿元", 4015.0, "亿元", False)),
        ("研发投入强度3.42", None),
        ("粮食产量保持稳定", None),
        ("增长5%—5.5个百分点", None),
    ],
)
def test_leading_figure(value, figure):
    assert leading_figure(value) == figure


def test_a_chart_of_one_measure_ranges_at_their_upper_end():
    bars, unit = chart_bars(rows())
    assert unit == "%" and [(b.name, b.value, b.ranged) for b in bars] == [("江苏", 5.0, False), ("广东", 5.0, True)]
    chart = render_chart(rows())
    assert chart.count('<g class="qa-bar">') == 2 and ">江苏</text>" in chart and ">4.5%—5%</text>" in chart
    assert "单位：%" in chart and "区间按上限画出：广东 4.5%—5%" in chart and "未提及的1份报告不在图中" in chart


def test_no_chart_for_mixed_units_one_figure_or_no_figures():
    mixed = (*rows()[:1], Row("x", "X", "西藏", "城镇新增就业4万人", 3))
    assert chart_bars(mixed) is None and render_chart(mixed) == ""
    assert chart_bars(rows()[:1]) is None
    assert chart_bars((*rows(), Row("y", "Y", "云南", "推进高水平对外开放", 4))) is None
    hostile = (Row("a", "A", "<b>甲</b>", "增长5%", 1), Row("b", "B", "乙", "增长6%", 2))
    assert "<b>" not in render_chart(hostile) and "&lt;b&gt;甲" in render_chart(hostile)


def test_csv_holds_the_rows_and_is_written_once(tmp_path):
    text = csv_text(rows())
    saved = list(csv.DictReader(io.StringIO(text)))
    assert list(saved[0]) == ["doc", "title", "value", "figure", "low", "high", "unit", "qualifier", "citation"]
    assert [(r["doc"], r["value"], r["citation"]) for r in saved] == [
        ("jiangsu-2026", "地区生产总值按增长5%安排", "jiangsu-2026:35"),
        ("guangdong-2026", "地区生产总值增长4.5%—5%", "guangdong-2026:56"),
        ("tianjin-2026", "未提及", ""),
    ]
    path = write_csv(rows(), "各省/2026年的目标？", tmp_path)
    assert path.name == "各省_2026年的目标.csv" and path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert write_csv(rows(), "各省/2026年的目标？", tmp_path) == path
    formula = csv_text([Row("d", "T", "n", "=HYPERLINK(\"x\")", 1)])
    assert "'=HYPERLINK" in formula


def test_csv_carries_the_parsed_figure_and_its_qualifier():
    from qa.answer.conditions import parse_value

    row = Row("d", "T", "n", "城镇新增就业110万人以上", 3, parse_value("110万人以上"))
    saved = list(csv.DictReader(io.StringIO(csv_text([row, Row("e", "E", "m", "未提及")]))))
    assert (saved[0]["figure"], saved[0]["low"], saved[0]["unit"], saved[0]["qualifier"]) == ("110万人以上", "1.1e+06", "人", "以上")
    assert saved[1]["figure"] == saved[1]["qualifier"] == ""


def test_the_chat_message_of_a_table_has_its_chart_and_its_csv():
    message = answer_message(table_answer(), LABELS, "各省2026年的目标")
    html, file = message["content"]
    assert "<table" in html and "qa-chart" in html and html.index("qa-chart") < html.index("qa-sources")
    assert file["path"].endswith("各省2026年的目标.csv") and file["mime_type"] == "text/csv"
    with open(file["path"], encoding="utf-8-sig") as f:
        assert f.read() == csv_text(rows())


def test_a_selection_shows_and_saves_only_its_kept_rows_without_a_chart():
    answer = Answer("3份报告中，1份符合：\n- 江苏：地区生产总值按增长5%安排[jiangsu-2026:35]", table_answer().citations[:1], False, {}, "extractive", kind="select", rows=rows())
    assert [r.doc for r in shown_rows(answer)] == ["jiangsu-2026"]
    html, file = answer_message(answer, LABELS)["content"]
    assert "qa-chart" not in html
    with open(file["path"], encoding="utf-8-sig") as f:
        assert len(f.read().splitlines()) == 2


def test_a_comparison_is_a_list_whose_citations_quote_each_row_value_and_has_a_chart():
    text = "2份报告的相关内容如下：\n- 江苏：地区生产总值按增长5%安排[jiangsu-2026:35]\n- 广东：地区生产总值增长4.5%—5%[guangdong-2026:56]"
    answer = Answer(text, table_answer().citations, False, {}, "extractive", kind="compare", rows=rows()[:2])
    html, _ = answer_message(answer, LABELS)["content"]
    assert html.count("<li>江苏：") == 1 and ">[广东 第56段]</a>" in html and "qa-chart" in html
    assert "p=35&amp;q=%E5%9C%B0%E5%8C%BA" in html  # quotes 地区生产总值按增长5%安排, not the whole sentence


def test_an_answer_without_rows_is_one_html_message():
    answer = Answer("2023年地区生产总值4015亿元[4]。", (Citation("d", "T", 4, "地区生产总值4015亿元"),), False, {}, "extractive")
    assert answer_message(answer) == {"role": "assistant", "content": render_answer(answer)}
