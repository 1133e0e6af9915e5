"""Question analysis: kinds, measures, English, follow-ups, named sets (fast, no models)."""

from __future__ import annotations

import pytest

from qa.analysis import analyze, translate_terms


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("全市工业增加值去年增长了多少？", "number"),
        ("城镇和农村居民收入分别增长了多少？", "range"),
        ("研发投入强度从多少提高到了多少？", "fromto"),
        ("该市的营商环境在全省排名如何？", "rank"),
        ("今年要争取实现几连冠？", "rank"),
        ("去年推行了什么河湖管理制度？", "name"),
        ("市长是谁？", "name"),
        ("今年能建成地铁一号线吗？", "yesno"),
        ("“三个一号工程”具体指什么？", "definition"),
        ("今年在教育方面有哪些具体安排？", "plan"),
        ("去年在科技创新上取得了哪些成绩？", "achievement"),
        ("报告认为还存在哪些困难和不足？", "problem"),
        ("总结一下这份报告", "summary"),
        ("今年要重点发展哪些未来产业？", "list"),
        ("为多少名困难群众发放了救助资金？", "number"),  # 困难 here is not a problem question
    ],
)
def test_kinds(question, kind):
    assert analyze(question).kind == kind


def test_open_kinds_are_open_and_fact_kinds_are_not():
    assert analyze("今年在教育方面有哪些具体安排？").open
    assert not analyze("全市工业增加值去年增长了多少？").open


@pytest.mark.parametrize(
    ("question", "measures"),
    [
        ("人均地区生产总值是多少？", {"per_capita"}),
        ("地区生产总值增长多少？", {"growth"}),
        ("普惠托位占比要达到多少？", {"share", "target"}),
        ("今年的预期目标是多少？", {"target"}),
        ("创新能力排名第几？", {"rank"}),
    ],
)
def test_measures(question, measures):
    assert measures <= analyze(question).measures


def test_english_questions_get_chinese_terms_and_years():
    a = analyze("What was the GDP growth rate in 2025?")
    assert a.language == "en" and a.kind == "number"
    assert "地区生产总值" in a.search_text and "增长" in a.search_text and "2025年" in a.search_text
    assert "城镇新增就业" in translate_terms("How many new urban jobs will be created?")
    assert a.terms(("what", "地区生产总值", "growth")) == ("地区生产总值",)


def test_glossary_entries_are_whole_words_and_what_the_models_read():
    assert "港口" not in translate_terms("What does the report say about support for exports?")  # port ⊄ report
    assert "高速公路" in translate_terms("How long are the expressways now?")  # a plural is the word
    english = analyze("How many kilometres of rural roads were built?")
    assert "多少公里" in english.reading and analyze("去年新建了多少公里农村公路？").reading == "去年新建了多少公里农村公路？"


def test_follow_up_takes_the_topic_but_not_the_years_of_the_earlier_question():
    history = [{"role": "user", "content": "2023年建成了多少个未来社区？"}, {"role": "assistant", "content": "35个[10]"}]
    a = analyze("那今年呢？", history)
    assert a.followup and "未来社区" in a.search_text and "2023" not in a.search_text
    assert a.kind == "number"
    assert not analyze("今年要建成哪条高铁？", history).followup


def test_named_sets_have_a_count_but_periods_and_slogans_do_not():
    a = analyze("报告提到的“六个新高地”是哪六个？")
    assert (a.kind, a.named_set, a.count) == ("definition", "新高地", 6)
    assert analyze("“十四五”时期城镇化率有多高？").named_set == ""
    assert analyze("“五水共治”取得了什么荣誉？").kind != "definition"


def test_the_counter_after_how_many_stays_apart_from_the_noun_it_counts():
    from qa.text import content_terms

    assert "首店" in content_terms("那去年引进了多少家首店？")
    assert "家首店" not in content_terms("那去年引进了多少家首店？")


def test_the_end_of_a_planning_period_names_its_last_year_and_a_whole_period_none():
    from qa.text import resolve_years

    assert resolve_years("研发投入强度，“十四五”末达到多少，今年的目标又是多少？", 2026)[1] == [2025, 2026]
    assert resolve_years("“十五五”开局之年要做什么？", None)[1] == [2026]
    assert resolve_years("“十四五”时期城镇化率有多高？", 2026)[1] == []
