"""Unit types of figures (qa/answer/units.py) and the unit-type check (qa/answer/checks.py)."""

from __future__ import annotations

import pytest

from qa.answer.checks import unit_type_problem
from qa.answer.units import answer_type, figure_types


@pytest.mark.parametrize(
    "text, kind",
    [
        ("达到33757.93亿元", "money"), ("人均41580元", "money"), ("实际使用外资12.3亿美元", "money"),
        ("增长33.6%", "percent"), ("下降0.5个百分点", "percent"), ("新增就业65万人", "people"),
        ("旅客吞吐量5000万人次", "people"), ("运营里程580公里", "length"), ("造林120万亩", "area"),
        ("粮食产量838.6亿斤", "weight"), ("开通线路14条", "count"), ("新能源汽车129.6万辆", "count"),
        ("交易规模增长5.4倍", "times"), ("装机容量3000万千瓦", "energy"), ("居全国第3", "rank"),
        ("到2030年", "year"), ("城乡居民收入比2.93", "other"),
    ],
)
def test_each_figure_gets_the_type_its_unit_says(text, kind):
    assert figure_types(text)[0].type == kind


def test_a_duration_in_years_is_no_year():
    assert figure_types("连续3年")[0].type == "other"


def test_the_answer_type_of_a_gold_string():
    assert answer_type("33757.93亿元") == "money"
    assert answer_type("西部第一") == "rank"
    assert answer_type("迎客松") == ""


SURE = 0.8


@pytest.mark.parametrize(
    "asked, span",
    [
        ("money", "地区生产总值增长33.6%"),  # 经济总量 asked, a growth rate given
        ("money", "与228个国家和地区保持贸易往来"),  # a trade total asked, a count of countries given
        ("length", "开通运营线路14条"),  # kilometres asked, lines given
        ("people", "受理案件9.3件"),  # births asked, cases given
        ("percent", "消费券发放4亿元"),  # a rate asked, an amount given
    ],
)
def test_a_figure_of_another_unit_type_is_a_near_miss(asked, span):
    probs = {asked: 0.95, "other": 0.05}
    assert unit_type_problem(probs, span, SURE)


def test_a_figure_of_the_asked_type_passes_and_an_unsure_model_does_not_judge():
    assert unit_type_problem({"money": 0.95}, "达到4015亿元，增长5.8%", SURE) == ""
    assert unit_type_problem({"money": 0.5, "percent": 0.5}, "增长5.8%", SURE) == ""
    assert unit_type_problem({"rank": 0.9}, "位居全国第2", SURE) == ""
    assert unit_type_problem({"rank": 0.9}, "总量全国领先", SURE)


def test_a_from_to_answer_needs_two_different_figures():
    from qa.answer.checks import fromto_problem

    assert fromto_problem("fromto", "城乡居民收入比从2.93缩小到了2.93")
    assert fromto_problem("fromto", "城乡居民收入比从2.93缩小到2.56") == ""
    assert fromto_problem("number", "2.93") == ""


def test_a_bare_gold_figure_takes_the_unit_its_source_writes():
    from qa.answer.units import type_in_source

    assert type_in_source("33757.93", ["全市地区生产总值达到33757.93亿元，增长5%"]) == "money"
    assert type_in_source("西部第一|第一", ["铁路路网密度居西部第一"]) == "rank"
    assert type_in_source("2.93", ["城乡居民收入比缩小到2.93"]) == "other"


def test_the_unit_a_question_names_after_its_question_word():
    from qa.answer.units import asked_type

    assert asked_type("去年为多少名困难群众发放了临时救助资金？") == "people"  # not money: 资金 is the topic
    assert asked_type("去年GDP达到了多少亿元？") == "money"
    assert asked_type("运营里程有多少公里？") == "length"
    assert asked_type("经济总量有多大？") == "" and asked_type("在全省排第几？") == ""
    assert figure_types("组织40余个经贸团")[0].type == "count"
    assert asked_type("落实了多少支持高质量发展的财政资金？") == ""  # 支持 is a word, not the counter 支
    assert asked_type("有多少支队伍参赛？") == "count"
    assert asked_type("增速比面上快多少个百分点？") == "percent"  # 个百分点, not the counter 个


def test_a_key_word_with_one_character_inside_it_still_names_the_measure():
    from qa.answer.checks import names, topic_problem

    assert names("全年粮食总产量达到800亿斤", "粮食产量") and not names("粮食播种面积稳定", "粮食产量")
    probs = {"weight": 0.95}
    assert topic_problem(probs, "全年粮食总产量达到800亿斤", ["粮食产量"], 0.8) == ""
    assert topic_problem(probs, "全年生猪出栏量达到80万吨", ["粮食产量"], 0.8) != ""
