"""Open answers: point selection, per-point verification and summary structure (fast, no models)."""

from __future__ import annotations

from fakes import one_report, paragraph_hit

from qa.analysis import analyze
from qa.compose import Composer
from qa.points import Point, Points, chunks, select_points, verify_points
from qa.retrieval import Hit, Query
from qa.text import content_terms

TEXT = """各位代表：
一、2025年工作回顾
（一）科技创新持续发力。研发投入强度提高到3.1%，新增高新技术企业420家。
同时，我们也清醒地看到，发展中还存在不少困难和问题：产业结构偏重；科技平台能级不高；城乡发展不够均衡。
二、2026年工作安排
（一）深入推进实力新城建设。实施产业链提升行动，新培育专精特新企业120家。
（二）全力办好教育事业。新建改扩建中小学15所，新增学位1.2万个，推进职业教育产教融合，建设职教城，实施乡村教师支持计划。
（三）深入推进活力新城建设。深化营商环境改革，推行“一件事”集成办理。
三、加强政府自身建设
全面提升政治能力。坚持把政治建设摆在首位。
深入推进依法行政。深化法治政府建设。
"""
DOC, STATS = one_report(TEXT)


def hit(n: int, score: float = 1.0) -> Hit:
    return paragraph_hit(DOC, n, score, meaning=0.9)


def ask(question: str, hits: list[Hit]) -> Points:
    analysis = analyze(question)
    query = Query(question, question, (), tuple(content_terms(question)))
    return select_points(STATS, query, hits, analysis)


def test_a_plan_question_gets_the_points_of_its_paragraph_in_document_order():
    found = ask("今年在教育方面有哪些具体安排？", [hit(7), hit(6, 0.5)])
    assert found.points and all(p.paragraph == 7 for p in found.points)
    joined = "".join(p.text for p in found.points)
    assert "中小学15所" in joined and "乡村教师" in joined
    assert "全力办好教育事业" not in joined  # the sub-heading is a title, not a point


def test_a_summary_of_the_whole_report_lists_its_parts():
    found = ask("总结一下这份报告", [hit(3)])
    assert found.form == "parts"
    assert [p.paragraph for p in found.points] == [2, 5, 9]


def test_a_summary_of_a_named_part_gives_each_paragraph_lead():
    found = ask("概括一下最后一部分的内容", [hit(10)])
    assert found.form == "section"
    assert [p.text for p in found.points] == ["全面提升政治能力", "深入推进依法行政"]


def test_a_named_set_is_spelled_out_by_the_sub_headings_that_carry_its_name():
    found = ask("报告里的“两个新城”具体指什么？", [hit(6)])
    assert found.form == "set" and [p.paragraph for p in found.points] == [6, 8]


def test_long_sentences_become_several_points_cut_at_clause_boundaries():
    pieces = chunks("新建改扩建中小学15所，新增学位1.2万个，推进职业教育产教融合，建设职教城，实施乡村教师支持计划", 20)
    assert len(pieces) > 1 and all(len(p) <= 20 for p in pieces)
    assert "1.2万个" in "".join(pieces)


def test_a_point_with_a_changed_figure_is_dropped_and_a_true_one_kept():
    good = Point("r", 7, "新建改扩建中小学15所")
    changed = Point("r", 7, "新建改扩建中小学16所")
    ranged = Point("r", 3, "研发投入强度提高到3.1%")
    kept, problems = verify_points((good, changed, ranged), STATS)
    assert kept == (good, ranged) and any("16" in p for p in problems)


def test_every_point_line_ends_with_its_own_citation():
    composer = Composer({"r": DOC})
    text = composer.points(Points((Point("r", 7, "新建改扩建中小学15所"), Point("r", 3, "研发投入强度提高到3.1%")), 5))
    lead, *lines = text.splitlines()
    assert "5" in lead and "2" in lead
    assert lines == ["1. 新建改扩建中小学15所[7]", "2. 研发投入强度提高到3.1%[3]"]


def test_a_named_set_spelled_out_in_a_sentence_is_found_with_its_list():
    text = "各位代表：\n二、工作安排\n（一）扩大开放。推动外贸“三新”发展，即新主体、新市场、新业态。稳住外资。\n（二）其他。做好科技金融、绿色金融、普惠金融“三篇文章”。"
    doc, stats = one_report(text, "s")
    for question, paragraph, members in (
        ("外贸“三新”具体指什么？", 3, ("新主体", "新市场", "新业态")),
        ("“三篇文章”指的是什么？", 4, ("科技金融", "绿色金融", "普惠金融")),
    ):
        analysis = analyze(question)
        query = Query(question, question, (), tuple(content_terms(question)))
        p = doc.paragraph(paragraph)
        hit = Hit("s", paragraph, 1.0, p.text, p.section, p.year, 0.9, 1.0, ())
        found = select_points(stats, query, [hit], analysis)
        assert found.form == "set" and found.points[0].paragraph == paragraph
        assert all(m in found.points[0].text for m in members), found.points[0].text


def test_an_open_question_about_a_quoted_name_its_paragraphs_never_write_is_refused():
    found = ask("今年在“智慧教育”方面有哪些具体安排？", [hit(7)])
    assert not found.points and "智慧教育" in found.why_refused
    assert ask("今年在教育方面有哪些具体安排？", [hit(7)]).points
