"""Features of the open ranker (qa/answer/open_rank.py) on a made-up report."""

from __future__ import annotations

from fakes import one_report, paragraph_hit

from qa.analysis import analyze
from qa.answer.open_rank import OPEN_NAMES, asked_count, open_features
from qa.retrieval import Query

REPORT = """2026年青山市政府工作报告
一、2025年工作回顾
重点抓了三个方面工作：
（一）稳住经济大盘。地区生产总值增长5.6%。
（二）扩大有效投资。完成投资1200亿元。
（三）保障改善民生。新增就业8万人。
二、2026年主要任务
（一）大力提振消费。开展以旧换新。"""


def test_the_count_a_question_asks_for():
    assert asked_count("去年主要抓了哪三个方面工作？") == 3
    assert asked_count("今年的重点工作分成哪6个方面？") == 6
    assert asked_count("今年要做什么？") is None


def test_a_sub_heading_among_as_many_siblings_as_asked_is_marked():
    doc, stats = one_report(REPORT)
    hits = [paragraph_hit(doc, 4), paragraph_hit(doc, 8)]
    question = "去年主要抓了哪三个方面工作？"
    query = Query(question, question, (2025,), ("抓", "方面", "工作"))
    rows = open_features(stats, query, hits, analyze(question), {"方面": 1.0, "工作": 1.0})
    col = {n: i for i, n in enumerate(OPEN_NAMES)}
    assert rows.shape == (2, len(OPEN_NAMES))
    assert rows[0, col["is_subheading"]] == 1 and rows[0, col["siblings"]] == 3 and rows[0, col["count_match"]] == 1
    assert rows[1, col["count_match"]] == 0
