"""Selections with conditions, region groups and rows chosen like answers, end to end on made-up
reports (fast: fake embedder; the shipped answer models choose each row)."""

from __future__ import annotations

import json

import pytest
from cross_reports import write_reports

from qa.corpus import load_corpus
from qa.regions import RegionGroup, group_in_question, members_in, read_groups

GROUPS = {
    "东部沿海": {"aliases": ["沿海四省"], "members": ["江苏", "浙江", "山东", "福建"]},  # 福建 is not in the library
}
OTHER_MEASURE = "\n".join(
    [
        "2026年海州省政府工作报告",
        "——2026年1月20日在海州省第十四届人民代表大会第五次会议上",
        "各位代表：",
        "现在，我代表海州省人民政府向大会报告工作，请予审议。",
        "一、2025年工作回顾",
        "过去一年，全省经济运行稳中有进，城镇新增就业40万人。",
        "二、2026年目标任务",
        "今年经济社会发展的主要预期目标是：城镇调查失业率5.5%左右；居民消费价格涨幅2%左右；社会物流总费用与地区生产总值的比率降至13%左右。",
        "大力发展新质生产力，培育壮大人工智能、低空经济等新兴产业。",
    ]
) + "\n"


@pytest.fixture
def engine(tmp_path, patch_fake_embedder):
    from serving import extractive_settings

    from qa.builder import build_engine
    from qa.index import build_index

    seeds = write_reports(tmp_path / "reports")
    (seeds / "haizhou-2026-government-work-report.txt").write_text(OTHER_MEASURE, encoding="utf-8")
    catalog = json.loads((seeds / "catalog.json").read_text(encoding="utf-8"))
    catalog["haizhou-2026-government-work-report.txt"] = {"title": "2026年海州省政府工作报告"}
    catalog["groups"] = GROUPS
    (seeds / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    build_index(load_corpus(seeds), patch_fake_embedder, tmp_path / "index", progress=False)
    return build_engine(extractive_settings(seeds, tmp_path / "index"))


def kept(answer) -> set[str]:
    return {line.split("：")[0][2:] for line in answer.text.splitlines() if line.startswith("- ")}


# -- selections with conditions ----------------------------------------------------------------------

# targets: 广东 4.5%—5%, 河南 5.5%左右, 江苏 5%左右, 山东 5%以上, 四川 5.5%左右; 浙江 and 海州 give none
@pytest.mark.parametrize(
    "question, names",
    [
        ("哪些省份今年的地区生产总值增长目标高于5%？", {"河南", "四川"}),  # 5%以上 counts as 5%
        ("哪些省份今年的地区生产总值增长目标低于5.5%？", {"广东", "江苏", "山东"}),
        ("哪些省份今年的地区生产总值增长目标不低于5%？", {"河南", "江苏", "山东", "四川"}),
        ("哪些省份今年的地区生产总值增长目标在5%和5.5%之间（含这两个数）？", {"河南", "江苏", "山东", "四川"}),
        ("哪些省份今年的地区生产总值增长目标定在5%以上？", {"山东"}),  # as written: not 5%左右
        ("哪些省份今年的地区生产总值增长目标给的是一个区间？", {"广东"}),
    ],
)
def test_a_selection_keeps_the_reports_whose_figure_meets_its_condition(engine, question, names):
    answer = engine.answer(question)
    assert answer.kind == "select" and kept(answer) == names
    assert answer.text.splitlines()[-1] == "另有2份报告中未提及这一数字。"  # 浙江 and 海州 state no growth target


def test_a_selection_shows_how_a_qualified_figure_was_counted(engine):
    answer = engine.answer("哪些省份今年的地区生产总值增长目标高于5%？")
    assert "（按‘5.5%左右’计为5.5%）[" in answer.text
    rows = {r.name: r for r in answer.rows}
    assert rows["河南"].to_json()["figure"] == {"text": "5.5%左右", "low": 5.5, "high": 5.5, "unit": "%", "qualifier": "左右"}
    assert rows["广东"].figure.qualifier == "区间" and rows["浙江"].figure is None


# -- a row is never a figure of another measure ----------------------------------------------------------


def test_a_row_whose_best_clause_is_of_another_measure_reads_not_stated(engine):
    answer = engine.answer("海州和江苏今年的地区生产总值增长目标分别是多少？")
    rows = {r.name: r for r in answer.rows}
    assert rows["江苏"].value == "地区生产总值增长5%左右"
    assert rows["海州"].value == "未提及" and rows["海州"].paragraph is None  # not 失业率5.5%左右, not the 13%左右 ratio


# -- region groups ---------------------------------------------------------------------------------------------


def test_groups_come_from_the_catalog_and_reach_every_document(engine):
    docs = engine.retriever.index.docs
    assert all({g.name for g in d.groups} == set(GROUPS) for d in docs.values())
    assert read_groups({"groups": {"甲": {"members": "乙"}, "丙": {"members": ["丁", " "]}}}) == (RegionGroup("丙", ("丁",)),)
    assert read_groups({}) == ()


def test_a_group_names_its_scope_only_as_a_subject():
    group = RegionGroup("京津冀", ("北京", "天津", "河北"))
    assert group_in_question("京津冀三地今年的增长目标分别是多少？", (group,)) == group
    assert group_in_question("京津冀今年的增长目标分别是多少？", (group,)) == group
    assert group_in_question("北京和天津在推进京津冀协同发展上各有什么安排？", (group,)) is None  # a topic


def test_a_group_question_asks_every_member_in_the_library_and_names_the_missing_ones(engine):
    docs = engine.retriever.index.docs
    present, missing = members_in(read_groups({"groups": GROUPS})[0], docs)
    assert [docs[d].title[5:7] for d in present] == ["江苏", "浙江", "山东"] and missing == ["福建"]
    answer = engine.answer("东部沿海今年的地区生产总值增长目标分别是多少？")
    assert answer.kind == "compare" and [r.name for r in answer.rows] == ["江苏", "浙江", "山东"]
    rows = {r.name: r.value for r in answer.rows}
    assert rows == {"江苏": "地区生产总值增长5%左右", "浙江": "未提及", "山东": "地区生产总值增长5%以上"}
    assert answer.text.splitlines()[-1] == "东部沿海的成员中，福建的报告不在文档库中。"


def test_a_selection_within_a_group_asks_only_its_members(engine):
    answer = engine.answer("沿海四省中哪些省份今年的地区生产总值增长目标不低于5%？")
    assert answer.kind == "select" and kept(answer) == {"江苏", "山东"}
    assert {r.name for r in answer.rows} == {"江苏", "浙江", "山东"} and "福建" in answer.text


def test_every_group_of_the_example_catalog_names_places_with_reports_or_says_which_are_missing():
    from pathlib import Path

    folder = Path(__file__).parents[1] / "examples/provincial-2026"
    groups = read_groups(json.loads((folder / "catalog.json").read_text(encoding="utf-8")))
    names = {"东北三省", "京津冀", "长三角", "成渝", "中部六省", "西部十二省区市", "西北五省区"}
    assert names <= {g.name for g in groups}
    docs = {d.id: d for d in load_corpus(folder)}
    for group in groups:
        present, missing = members_in(group, docs)
        assert len(present) + len(missing) == len(group.members), group.name
    assert members_in(next(g for g in groups if g.name == "长三角"), docs)[1] == ["浙江"]
