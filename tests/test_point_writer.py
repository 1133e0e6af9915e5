"""Model-written open answers: every rewritten point is checked against its source point, and one
that fails (or is missing) is replaced by it (fast: fake generator, fake embedder)."""

from __future__ import annotations

import pytest
from fakes import QueuedGenerator, one_report

from qa.compose import Composer
from qa.engine import Engine
from qa.settings import Settings
from qa.lexicon import tuning
from qa.point_writer import check_written, complete_lines, written_lines
from qa.points import Point, Points

TEXT = """各位代表：
一、2025年工作回顾
（一）科技创新持续发力。研发投入强度提高到3.1%，新增高新技术企业420家。
二、2026年工作安排
（一）全力办好教育事业。同时，要新建改扩建中小学15所，新增学位1.2万个，推进职业教育产教融合，建设职教城。
（二）稳定经济增长。地区生产总值增长5%—5.5%，城镇调查失业率5.5%以内。
"""
DOC, STATS = one_report(TEXT)
SCHOOLS = Point("r", 5, "同时，要新建改扩建中小学15所，新增学位1.2万个")
VOCATIONAL = Point("r", 5, "推进职业教育产教融合，建设职教城")
GROWTH = Point("r", 6, "地区生产总值增长5%—5.5%")
FOUND = Points((SCHOOLS, VOCATIONAL, GROWTH), 5)
QUESTION = "今年有哪些安排？"


def check(reply: str, found: Points = FOUND):
    return check_written(reply, found, STATS, QUESTION, 0.5)


def test_faithful_shorter_points_are_kept_with_their_own_citations():
    written = check("1. 新建改扩建中小学15所，新增学位1.2万个[5]\n2. 推进职业教育产教融合[5]\n3. 地区生产总值增长5%—5.5%[6]")
    assert written.rejected == 0 and written.kept == 3 and written.problems == ()
    assert [p.text for p in written.found.points] == ["新建改扩建中小学15所，新增学位1.2万个", "推进职业教育产教融合", "地区生产总值增长5%—5.5%"]
    assert [p.paragraph for p in written.found.points] == [5, 5, 6] and written.found.total == 5


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("新建改扩建中小学16所，新增学位1.2万个[5]", "number 16"),  # a changed figure
        ("地区生产总值增长5%[6]", "5—5.5"),  # one end of a range given alone
        ("新建改扩建中小学15所，新增学位1.2万个", "no citation"),
        ("新建改扩建中小学15所，新增学位1.2万个[6]", "not its paragraph 5"),  # another paragraph
        ("新建改扩建中小学15所，新增大学3所[5]", "number 3"),
        ("新建改扩建居州中小学15所[5]", "words not in paragraph 5"),  # a mis-copied character
        ("推进教育事业[5]", "does not say what its source"),
        ("建设建设职教城[5]", "repeats 建设"),
    ],
)
def test_a_point_that_fails_its_check_is_replaced_by_its_source(line, why):
    source = GROWTH if "地区" in line else (VOCATIONAL if "职业" in line or "职教" in line else SCHOOLS)
    found = Points((source,), 1)
    written = check(f"1. {line}", found)
    assert written.rejected == 1 and written.found.points == (source,), written.problems
    assert why in written.problems[0]


def test_missing_and_extra_lines_keep_the_number_and_order_of_points():
    written = check("好的：\n3. 地区生产总值增长5%—5.5%[6]\n4. 多写的一条[6]")
    assert [p.text for p in written.found.points] == [SCHOOLS.text, VOCATIONAL.text, "地区生产总值增长5%—5.5%"]
    assert written.rejected == 2 and all("missing" in p for p in written.problems)


def test_a_repeated_line_is_replaced():
    longer = Point("r", 5, "推进职业教育产教融合，建设职教城")
    written = check("1. 推进职业教育产教融合[5]\n2. 推进职业教育产教融合[5]", Points((VOCATIONAL, longer), 2))
    assert written.found.points[1] == longer and written.rejected == 1 and "repeats an earlier point" in written.problems[0]


def test_lines_are_read_by_their_numbers_and_generation_stops_after_the_last():
    assert written_lines("1、甲[5]\n\n2) 乙[5]\n丙[6]", 3) == {1: "甲[5]", 2: "乙[5]"}  # numbered: only those
    assert written_lines("甲[5]\n乙[5]\n丙[6]\n丁[6]", 3) == {1: "甲[5]", 2: "乙[5]", 3: "丙[6]"}
    assert not complete_lines("1. 甲[5]\n2. 乙[5]\n3. 丙", 3)
    assert complete_lines("1. 甲[5]\n2. 乙[5]\n3. 丙[6]\n", 3)


def test_the_prompt_lists_the_cited_points_and_allows_their_numbers():
    composer = Composer({"r": DOC})
    messages, allowed = composer.points_prompt(QUESTION, FOUND)
    assert "2. 推进职业教育产教融合，建设职教城[5]" in messages[-1]["content"] and QUESTION in messages[-1]["content"]
    assert {"15", "1.2", "5", "5.5", "1", "2", "3", "6"} <= set(allowed) and "16" not in allowed
    assert "不要改写数字" in messages[0]["content"]


# -- the engine: streamed lead and draft, then the verified answer


@pytest.fixture
def open_engine(fake_index, monkeypatch):
    """An engine over the seed (fake embedder) whose open answers are the model's, with the
    selected points fixed to three of paragraph 43 (the fake embedder retrieves too weakly)."""
    from qa.index import load_index
    from qa.retrieval import Retriever

    _, index_dir, docs, embedder = fake_index
    monkeypatch.setitem(tuning()["generation"], "model_open_kinds", ["list", "plan", "achievement", "problem", "summary", "definition"])

    def make(*replies, form: str = "paragraph", fixed: bool = True):
        doc = docs[0].id
        points = (
            Point(doc, 43, "实施文化产业攻坚提升工程和文旅高峰塑造行动，招引培育亿元以上文化产业项目30个"),
            Point(doc, 43, "推动旅游度假区提档升级，争创全国旅游休闲度假高质量发展试点城市"),
            Point(doc, 43, "发展演艺经济、赛事经济、夜间经济"),
        )
        if fixed:
            monkeypatch.setattr("qa.engine.select_points", lambda *a, **k: Points(points, 7, form=form))
        generator = QueuedGenerator(*replies, chunk=4)
        # the selection is fixed here, so the hand-set path (no learned open ranker, whose judgement
        # of a fake embedder's retrieval would refuse) carries it to the writer under test
        settings = Settings(answer_core="rules")
        return Engine(Retriever(load_index(index_dir, docs, embedder.id), embedder), generator, settings), generator

    return make


PLAN = "今年准备怎样推动文化和旅游深度融合？"


def test_the_engine_streams_the_lead_then_the_draft_and_answers_with_verified_points(open_engine):
    reply = "1. 招引培育亿元以上文化产业项目50个[43]\n2. 推动旅游度假区提档升级[43]\n3. 发展演艺经济、赛事经济、夜间经济"
    engine, generator = open_engine(reply)
    events = list(engine.answer_stream(PLAN))
    assert events[0].delta == "根据文档，相关要点共7条，以下列出3条：\n"
    assert "".join(e.delta for e in events[1:-1]) == reply
    answer = events[-1].answer
    assert answer.source == "generated" and answer.kind == "plan"
    assert answer.text.splitlines() == [
        "根据文档，相关要点共7条，以下列出3条：",
        "1. 实施文化产业攻坚提升工程和文旅高峰塑造行动，招引培育亿元以上文化产业项目30个[43]",  # 50: its source
        "2. 推动旅游度假区提档升级[43]",
        "3. 发展演艺经济、赛事经济、夜间经济[43]",  # no citation: its source
    ]
    assert sum(p.startswith("written point") for p in answer.problems) == 2
    assert [c.paragraph for c in answer.citations] == [43]
    assert "timings_ms" and "first_model_token_ms" in answer.timings_ms
    assert "30" in generator.calls[0]["allowed_numbers"] and "50" not in generator.calls[0]["allowed_numbers"]


def test_a_failing_or_stopped_generator_gives_the_extracted_points(open_engine):
    engine, _ = open_engine(RuntimeError("boom"))
    answer = engine.answer(PLAN)
    assert answer.source == "extractive" and len(answer.text.splitlines()) == 4 and "generator error: boom" in answer.problems
    engine, _ = open_engine("1. 推动旅游度假区提档升级[43]\n")
    answer = engine.answer(PLAN, should_stop=lambda: True)
    assert answer.source == "extractive" and "generation stopped" in answer.problems
    assert answer.text.splitlines()[2] == "2. 推动旅游度假区提档升级，争创全国旅游休闲度假高质量发展试点城市[43]"


def test_a_summary_keeps_its_structure(open_engine):
    engine, generator = open_engine(fixed=False)
    answer = engine.answer("这份报告整体上分成哪几个部分？")  # a report's parts are headings: not rewritten
    assert answer.text.startswith("文档共有3个部分：") and generator.calls == []
    engine, generator = open_engine("1. 实施文化产业攻坚提升工程[43]\n2. 争创全国旅游休闲度假高质量发展试点城市[43]\n", form="section")
    answer = engine.answer("报告最后一部分讲了哪些方面？")
    lines = answer.text.splitlines()
    assert lines[0] == "根据文档，相关要点共7条，以下列出3条：" and len(lines) == 4
    assert lines[1:] == ["1. 实施文化产业攻坚提升工程[43]", "2. 争创全国旅游休闲度假高质量发展试点城市[43]", "3. 发展演艺经济、赛事经济、夜间经济[43]"]


def test_kinds_without_model_points_stay_extractive(open_engine, monkeypatch):
    monkeypatch.setitem(tuning()["generation"], "model_open_kinds", [])
    engine, generator = open_engine()
    answer = engine.answer(PLAN)
    assert answer.source == "extractive" and generator.calls == [] and len(answer.text.splitlines()) == 4
