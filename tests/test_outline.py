"""Open answers from the report's outline (qa/outline.py), on made-up text: a sub-heading about the
question's topic, an ordinal series, and a short paragraph that heads the next one."""

from __future__ import annotations

from fakes import one_report, paragraph_hit

from qa.analysis import analyze
from qa.points import select_points
from qa.retrieval import Hit, Query
from qa.text import content_terms

TEXT = """各位代表：
一、过去五年工作回顾
这是港湾新区建设纵深推进的五年。
新区经济总量突破2万亿元，跨境通办事项达到198项，港湾大桥建成通车。
二、今后五年的重点任务
今后五年的主要目标是：经济总量年均增长5%左右。
一是聚焦经济建设这一中心工作。
以经济建设为中心是强市之要。
二是锚定高质量发展这一首要任务。
高质量发展是硬道理。
三是践行为人民服务这一根本宗旨。
为人民谋幸福。
三、今年重点工作
（一）推动海洋经济高质量发展，加快打造海上新城。
坚持经略海洋，全面建设海洋强市。
优化拓展海洋经济发展空间。推进海湾整体规划。
做大做强现代海洋产业。巩固提升海洋船舶、海工装备产业优势。
（二）全力办好教育事业。新建中小学15所。"""
DOC, STATS = one_report(TEXT)


def hit(n: int, score: float = 1.0) -> Hit:
    return paragraph_hit(DOC, n, score, meaning=0.95)


def ask(question: str, numbers: list[int]):
    query = Query(question, question, (), tuple(content_terms(question)))
    return select_points(STATS, query, [hit(n, 1.0 - 0.01 * i) for i, n in enumerate(numbers)], analyze(question))


def test_a_topic_with_a_sub_heading_of_its_own_gets_one_point_per_paragraph_under_it():
    found = ask("今年打算怎么做大做强海洋经济？", [16, 17, 15])
    assert [p.paragraph for p in found.points] == [15, 16, 17]
    assert found.points[2].text.startswith("做大做强现代海洋产业")


def test_a_sub_heading_without_the_question_s_key_word_does_not_take_over():
    found = ask("今年在教育方面有哪些安排？", [18, 16])
    assert {p.paragraph for p in found.points} == {18}


def test_an_ordinal_series_is_answered_item_by_item():
    found = ask("今后五年要重点把握哪几个方面？", [6, 8])
    assert [p.paragraph for p in found.points] == [7, 9, 11]
    assert found.points[0].text.startswith("一是")


def test_a_short_paragraph_heads_the_paragraph_after_it():
    found = ask("过去五年港湾新区建设有哪些进展？", [6, 4])
    assert found.points[0].paragraph == 4 and "港湾大桥" in found.points[0].text
