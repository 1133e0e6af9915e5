"""Checks on a model-written fact answer (qa/verify.py) and on the evidence it rests on, with made-up text."""

from __future__ import annotations

from types import SimpleNamespace

from qa.verify import misattributed


def selection(*sentences: tuple[str, str]):
    return SimpleNamespace(spans=[(SimpleNamespace(text=sentence), span) for sentence, span in sentences])


EVIDENCE = selection(
    ("营收增长6.8%，新增制造业单项冠军企业52家。", "新增制造业单项冠军企业52家"),
    ("引进首店1809家，网络消费增长。", "引进首店1809家"),
)


def test_a_figure_stated_of_what_its_sentence_does_not_speak_of_is_caught():
    problems = misattributed("去年引进了52家首店", EVIDENCE, "那去年引进了多少家首店？", ["", ""])
    assert problems and "首店" in problems[0] and "52" in problems[0]


def test_the_figure_of_the_asked_thing_passes():
    assert misattributed("去年引进了1809家首店", EVIDENCE, "那去年引进了多少家首店？", ["", ""]) == []


def test_a_growth_only_best_sentence_gives_way_to_a_runner_up_with_the_amount():
    from qa.analysis import analyze
    from qa.evidence import Evidence, _amount_instead

    analysis = analyze("去年的粮食产量是多少？")
    growth = Evidence("r", 17, 0, "这五年，粮食产量增长近15%。", "", 0.9, 1.0, 1.5)
    amount = Evidence("r", 13, 0, "粮食总产量达到871.6亿斤，稳居全国第4位。", "", 0.9, 0.61, 1.3)
    unrelated = Evidence("r", 2, 0, "新增就业35万人。", "", 0.9, 0.1, 1.0)
    terms = {"粮食": 1.0, "产量": 1.0}
    assert _amount_instead([growth, amount], terms, analysis)[0][0] is amount
    assert _amount_instead([growth, unrelated], terms, analysis) is None


def test_a_quoted_name_the_cited_paragraph_never_writes_is_not_answered_from_it():
    from qa.analysis import analyze
    from qa.refusal import names_not_in

    analysis = analyze("“苏超”联赛去年现场一共来了多少观众？")
    assert names_not_in(analysis, ["举办国际赛事50余场，“川超”联赛观众超1亿人次。"]) == ("“苏超”",)
    assert names_not_in(analysis, ["“苏超”破圈成为顶流，现场观众243万人次。"]) == ()
    assert names_not_in(analyze("“十四五”时期城镇化率有多高？"), ["城镇化率达到70%。"]) == ()


def test_relative_years_of_many_documents_follow_the_year_most_of_them_plan_for():
    from qa.retrieval import plan_year

    assert plan_year(SimpleNamespace(title="2026年某省政府工作报告", years=[2025, 2026, 2030])) == 2026
    assert plan_year(SimpleNamespace(title="政府工作报告", years=[2023, 2024])) == 2024
    assert plan_year(SimpleNamespace(title="通知", years=[])) is None
