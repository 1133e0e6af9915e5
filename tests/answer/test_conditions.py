"""Values as reports write them and the conditions of a selection (qa/answer/conditions.py)."""

from __future__ import annotations

import pytest

from qa.answer.conditions import RANGE, counted_as, holds, parse_condition, parse_value, parse_values

# -- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, low, high, unit, qualifier",
    [
        ("地区生产总值增长5%左右", 5, 5, "%", "左右"),
        ("城镇调查失业率控制在5.5%以内", 5.5, 5.5, "%", "以内"),
        ("规上工业增加值增长6%以上", 6, 6, "%", "以上"),
        ("城镇新增就业110万人以上", 1.1e6, 1.1e6, "人", "以上"),
        ("地区生产总值增长4.5%—5%", 4.5, 5, "%", RANGE),
        ("地区生产总值增长4.5-5%", 4.5, 5, "%", RANGE),
        ("增长5%至5.5%", 5, 5.5, "%", RANGE),
        ("生产总值33757.93亿元", 3.375793e12, 3.375793e12, "元", ""),
        ("经济总量4.93万亿元", 4.93e12, 4.93e12, "元", ""),
        ("失业率5.3％", 5.3, 5.3, "%", ""),  # a full-width percent sign
        ("粮食产量838.6亿斤", 8.386e10, 8.386e10, "斤", ""),
    ],
)
def test_a_value_has_its_bounds_unit_and_qualifier(text, low, high, unit, qualifier):
    value = parse_value(text)
    assert (value.low, value.high) == pytest.approx((low, high)) and (value.unit, value.qualifier) == (unit, qualifier)


def test_years_and_durations_are_no_values():
    assert [v.text for v in parse_values("2026年增长5%，连续3年、2025—2026年")] == ["5%"]
    assert [v.text for v in parse_values("从14.7%降至13%左右")] == ["14.7%", "13%左右"]  # 降至 is no range


# -- conditions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, op, low, high, unit",
    [
        ("今年哪些省份把城镇调查失业率目标定得高于5.5%？", "above", 5.5, 5.5, "%"),
        ("今年城镇新增就业目标超过100万人的有哪些省份？", "above", 1e6, 1e6, "人"),
        ("去年经济增速低于4.5%的有哪几个省份？", "below", 4.5, 4.5, "%"),
        ("哪些省份今年的失业率目标定得比5.5%更低？", "below", 5.5, 5.5, "%"),
        ("哪些省份今年的失业率目标比5%高？", "above", 5, 5, "%"),
        ("哪些省份2026年的增长目标不低于5%？", "at_least", 5, 5, "%"),
        ("哪些省份的增长目标是5%及以上？", "at_least", 5, 5, "%"),
        ("哪些省份的失业率目标不超过5.5%？", "at_most", 5.5, 5.5, "%"),
        ("去年经济增速在5%和5.3%之间（不含这两个数）的是哪些省份？", "between", 5, 5.3, "%"),
        ("去年经济总量超过6万亿元的省份有哪些？", "above", 6e12, 6e12, "元"),
    ],
)
def test_a_condition_is_read_from_the_question(question, op, low, high, unit):
    condition = parse_condition(question)
    assert (condition.op, condition.unit) == (op, unit)
    assert (condition.low, condition.high) == pytest.approx((low, high))
    assert 0 < condition.at < len(question)  # what is asked stands before the condition


def test_equal_as_written_keeps_the_qualifier_and_a_question_may_admit_the_bare_figure():
    plain = parse_condition("哪些省份把2026年地区生产总值增长目标定在5%左右？")
    assert (plain.op, plain.low, plain.qualifiers) == ("equal", 5, ("左右",))  # the year is no figure asked
    both = parse_condition("今年一般公共预算收入增长目标定为3%左右（含正好3%）的有哪些省份？")
    assert both.op == "equal" and set(both.qualifiers) == {"左右", ""}


def test_a_range_asked_with_or_without_its_figures():
    assert parse_condition("哪些省份今年的GDP增长目标给的是一个区间？").op == "range"
    quoted = parse_condition("今年哪些省份的GDP增长目标是以“4.5%—5%”这样一个区间提出的？")
    assert (quoted.op, quoted.low, quoted.high, quoted.qualifiers) == ("equal", 4.5, 5, (RANGE,))


def test_a_question_without_a_figure_has_no_condition():
    assert parse_condition("哪些省份提出了建设人工智能高地？") is None


# -- comparing: every condition against every qualifier --------------------------------------------

VALUES = {name: parse_value(name) for name in ("5%左右", "5%以上", "5%以内", "5%", "5.5%左右", "4.5%—5%", "5%—5.5%", "6%左右")}


@pytest.mark.parametrize(
    "question, kept",
    [
        ("哪些省份的目标高于5%？", {"5.5%左右", "6%左右"}),  # 5%以上 counts as 5%: not above it
        ("哪些省份的目标低于5.5%？", {"5%左右", "5%以上", "5%以内", "5%", "4.5%—5%"}),  # 5%—5.5% is not wholly below
        ("哪些省份的目标不低于5%？", {"5%左右", "5%以上", "5%以内", "5%", "5.5%左右", "5%—5.5%", "6%左右"}),
        ("哪些省份的目标不超过5%？", {"5%左右", "5%以上", "5%以内", "5%", "4.5%—5%"}),
        ("哪些省份的目标在5%和5.5%之间（含这两个数）？", {"5%左右", "5%以上", "5%以内", "5%", "5.5%左右", "5%—5.5%"}),
        ("哪些省份的目标在5%和6%之间（不含这两个数）？", {"5.5%左右"}),
        ("哪些省份的目标定在5%左右？", {"5%左右"}),
        ("哪些省份的目标定在5%以上？", {"5%以上"}),
        ("哪些省份的目标是5%？", {"5%"}),
        ("哪些省份的目标是一个区间？", {"4.5%—5%", "5%—5.5%"}),
        ("哪些省份的目标是以“4.5%—5%”这样一个区间提出的？", {"4.5%—5%"}),
    ],
)
def test_each_condition_against_each_qualifier(question, kept):
    condition = parse_condition(question)
    assert {name for name, value in VALUES.items() if holds(condition, value)} == kept


def test_units_must_agree_and_magnitudes_compare():
    above = parse_condition("哪些省份城镇新增就业超过100万人？")
    assert holds(above, parse_value("110万人以上")) and not holds(above, parse_value("60万人"))
    assert not holds(above, parse_value("120万亿元"))  # another unit
    money = parse_condition("哪些省份经济总量超过6万亿元？")
    assert holds(money, parse_value("62661亿元")) and not holds(money, parse_value("33757.93亿元"))


def test_how_a_qualifier_was_counted_is_said_in_words():
    assert counted_as(parse_value("5%左右")) == "按‘5%左右’计为5%"
    assert counted_as(parse_value("110万人以上")) == "按‘110万人以上’计为110万人"
    assert counted_as(parse_value("4.5%—5%")) == "按‘4.5%—5%’计为整个区间"
    assert counted_as(parse_value("5%")) == ""
