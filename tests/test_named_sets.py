"""Where a report spells out a named set: a glossary entry, one clause per member, members
scattered over the report (qa/named_sets.py), on made-up text."""

from __future__ import annotations

from fakes import one_report

from qa.analysis import analyze
from qa.named_sets import named_set_points

TEXT = """各位代表：
一、工作回顾
（一）产业。深入实施数字经济“一号发展工程”，产业增加值增长9%。以两个“一号工程”为总牵引，推动发展。
（二）开放。抓好外贸“三新”，加快培育新主体，支持企业出海；着力开拓新市场，办好博览会；积极发展新业态，推动跨境电商扩容。
（三）改革。扎实推进营商环境优化“一号改革工程”，打造最优环境。做好金融“四篇文章”，培育金融主体。
二、名词解释
1.金融“四篇文章”：
指科技金融、绿色金融、普惠金融、养老金融。"""
DOC, STATS = one_report(TEXT)


def points(question: str):
    found = named_set_points(STATS, ["r"], analyze(question), 70)
    assert found is not None, question
    return found.points


def test_a_glossary_entry_is_the_definition_not_the_place_that_uses_the_name():
    (point,) = points("报告里的金融“四篇文章”指的是什么？")
    assert point.paragraph == 8 and "养老金融" in point.text


def test_one_clause_per_member_after_the_name():
    found = points("外贸“三新”具体指哪三个方面？")
    assert [p.text.split("，")[0] for p in found] == ["加快培育新主体", "着力开拓新市场", "积极发展新业态"]
    assert {p.paragraph for p in found} == {4}


def test_members_scattered_over_the_report_are_gathered_when_as_many_as_the_set_counts():
    found = points("两个“一号工程”分别是什么？")
    assert [p.paragraph for p in found] == [3, 5]
    assert "数字经济" in found[0].text and "营商环境" in found[1].text


def test_a_set_counted_outside_its_quotes_is_a_definition_question():
    a = analyze("省里部署的三个“一号工程”分别是什么？")
    assert (a.kind, a.named_set, a.count) == ("definition", "一号工程", 3)
    assert analyze("三个“一号工程”分别投入多少资金？").kind != "definition"
