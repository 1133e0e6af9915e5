"""Routing questions to documents by the names in their own metadata, and cross-report rows (fast)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qa.compose import Composer
from qa.corpus import Document, parse_paragraphs
from qa.answer.conditions import parse_condition, parse_value
from qa.cross import NOT_STATED, Row, cross_mode, satisfies
from qa.cross_plan import CrossPlan, per_document_question
from qa.errors import UnknownDocument
from qa.routing import check_scope, choose_scope, named_documents, names_of, short_name


@dataclass
class Doc:
    title: str


DOCS = {
    "jiangsu-2026-government-work-report": Doc("2026年江苏省政府工作报告"),
    "guangxi-2026-government-work-report": Doc("2026年广西壮族自治区政府工作报告"),
    "xinjiang-2026-government-work-report": Doc("2026年新疆维吾尔自治区政府工作报告"),
    "qingshan-2026-work-report": Doc("2026年青山市政府工作报告"),
}


def test_names_come_from_the_title_and_the_id():
    assert names_of("jiangsu-2026-government-work-report", "2026年江苏省政府工作报告") == ("江苏省", "江苏", "jiangsu")
    assert names_of("guangxi-2026-government-work-report", "2026年广西壮族自治区政府工作报告")[1] == "广西"
    assert names_of("xinjiang-2026-government-work-report", "2026年新疆维吾尔自治区政府工作报告")[1] == "新疆"
    assert short_name("qingshan-2026-work-report", "2026年青山市政府工作报告") == "青山"


def test_a_question_is_routed_to_the_documents_it_names_in_order():
    assert named_documents("广西和江苏今年的目标分别是多少？", DOCS) == ["guangxi-2026-government-work-report", "jiangsu-2026-government-work-report"]
    assert named_documents("What was Jiangsu's GDP growth rate?", DOCS) == ["jiangsu-2026-government-work-report"]
    assert named_documents("今年的地区生产总值增长目标是多少？", DOCS) == []


def test_scope_limits_routing_and_unknown_documents_are_an_error():
    scope = check_scope(["qingshan-2026-work-report"], DOCS)
    assert choose_scope("江苏的目标是多少？", scope, DOCS) == scope  # a name outside the scope does not widen it
    assert choose_scope("江苏的目标是多少？", (), DOCS) == ("jiangsu-2026-government-work-report",)
    with pytest.raises(UnknownDocument) as err:
        check_scope(["nowhere"], DOCS)
    assert err.value.ids == ["nowhere"]


def test_cross_modes():
    assert cross_mode("江苏和广西的目标分别是多少？", ["a", "b"], 4) == "compare"
    assert cross_mode("哪些省份把增长目标定在5%左右？", [], 4) == "select"
    assert cross_mode("各省2026年的地区生产总值增长目标", [], 4) == "table"
    assert cross_mode("各省2026年的地区生产总值增长目标", [], 1) == ""
    assert cross_mode("江苏的目标是多少？", ["a"], 4) == ""


def test_each_document_is_asked_without_the_others_names():
    own = per_document_question("江苏和广西今年的增长目标分别是多少？", "jiangsu-2026-government-work-report", DOCS)
    assert "广西" not in own and "江苏" in own and "分别" not in own


def test_selection_rule_same_figure_unit_and_qualifier():
    wanted = parse_condition("哪些省份把2026年增长目标定在5%左右？")
    assert (wanted.op, wanted.low, wanted.unit, wanted.qualifiers) == ("equal", 5.0, "%", ("左右",))
    row = lambda v: Row("d", "t", "n", v, 3, parse_value(v))  # noqa: E731
    assert satisfies(row("地区生产总值增长5%左右"), wanted)
    for other in ("增长5%—5.5%", "增长4.5%—5%", "增长5%以上", "增长5.5%左右", "增长5%"):
        assert not satisfies(row(other), wanted), other
    assert not satisfies(Row("d", "t", "n", NOT_STATED), wanted)


def test_rows_render_as_lines_and_as_a_table_with_citations():
    doc = Document("a", "2026年甲省政府工作报告", None, "x", parse_paragraphs("a", "一\n二\n三"))
    other = Document("b", "2026年乙省政府工作报告", None, "y", parse_paragraphs("b", "一"))
    composer = Composer({"a": doc, "b": other})
    rows = [Row("a", doc.title, "甲", "增长5%左右", 3), Row("b", other.title, "乙", NOT_STATED)]
    assert composer.row_line(rows[0]) == "- 甲：增长5%左右[a:3]"
    assert composer.row_line(rows[1]) == "- 乙：未提及"
    table = composer.cross(CrossPlan("table", ("a", "b")), rows, rows).splitlines()
    assert table[1] == "| 报告 | 内容 | 出处 |" and table[3] == "| 甲 | 增长5%左右 | [a:3] |" and table[4] == "| 乙 | 未提及 |  |"
    assert rows[0].to_json() == {"doc": "a", "title": doc.title, "value": "增长5%左右", "citation": {"doc": "a", "paragraph": 3}, "figure": None}
