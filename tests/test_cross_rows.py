"""Cross-report answers: aliases route, rows stream one by one, each row is asked like a routed
question, open rows keep to the sub-heading that names their topic (fast: fake embedder, made-up reports)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from cross_reports import QUESTION, REPORTS, TARGET_PARAGRAPH, write_reports

from qa.corpus import Document, load_corpus, parse_paragraphs
from qa.cross_plan import CrossPlan
from qa.engine import Answer, Citation
from qa.retrieval import CorpusStats, Hit, Query
from qa.routing import alias_runs, named_documents, without_names


def doc(doc_id: str, title: str, aliases: tuple[str, ...] = (), text: str = "一") -> Document:
    return Document(doc_id, title, None, doc_id, parse_paragraphs(doc_id, text), aliases)


ALIASED = {
    "a": doc("a", "2026年甲都市政府工作报告", ("京",)),
    "b": doc("b", "2026年乙港市政府工作报告", ("津",)),
    "c": doc("c", "2026年丙川省政府工作报告", ("冀", "丙省")),
    "d": doc("d", "2026年丁原省政府工作报告", ("新",)),
    "e": doc("e", "2026年戊山省政府工作报告", ("青",)),
}


# -- aliases --------------------------------------------------------------------------------


def test_a_run_of_one_character_aliases_names_each_of_its_documents():
    assert named_documents("京津冀三地今年的增长目标分别是多少？", ALIASED) == ["a", "b", "c"]
    assert named_documents("今年津冀两地的增长目标分别是多少？", ALIASED) == ["b", "c"]


def test_a_lone_alias_or_one_inside_a_longer_word_names_nothing():
    assert named_documents("南京今年的增长目标是多少？", ALIASED) == []  # 京 alone
    assert named_documents("新青年就业有什么政策？", ALIASED) == []  # 新 and 青 inside words of their own
    assert named_documents("今年的增长目标是多少？", ALIASED) == []


def test_an_alias_of_two_characters_or_more_is_a_name():
    assert named_documents("丙省今年的增长目标是多少？", ALIASED) == ["c"]


def test_a_run_whose_documents_are_named_in_full_is_the_topic_not_more_documents():
    # 京津冀 is what 甲都 and 乙港 are asked about; 丙川 (冀) is not asked
    assert named_documents("甲都和乙港今年在推进京津冀协同发展上各有什么安排？", ALIASED) == ["a", "b"]
    assert alias_runs("甲都和乙港今年在推进京津冀协同发展上各有什么安排？", ALIASED) == []
    # a run none of whose documents is named in full still routes besides the full names
    assert named_documents("戊山和京津两地的增长目标分别是多少？", ALIASED) == ["e", "a", "b"]


def test_a_character_two_documents_list_is_no_alias():
    docs = {**ALIASED, "f": doc("f", "2026年己州市政府工作报告", ("京",))}
    assert named_documents("京津冀三地的目标分别是多少？", docs) == []  # a word with a doubtful character routes nowhere
    assert named_documents("津冀两地的目标分别是多少？", docs) == ["b", "c"]


def test_the_routing_run_leaves_the_question_of_each_document_but_a_topic_run_stays():
    assert without_names("京津冀三地今年的增长目标", ["a"], ALIASED) == "三地今年的增长目标"
    assert "京津冀" in without_names("甲都今年在推进京津冀协同发展上有什么安排", ["a"], ALIASED)


def test_aliases_come_from_the_catalog_and_are_optional(tmp_path):
    (tmp_path / "a.txt").write_text("2026年甲都市政府工作报告\n内容\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("2026年乙港市政府工作报告\n内容\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("报告\n内容\n", encoding="utf-8")
    catalog = {"a.txt": {"title": "2026年甲都市政府工作报告", "aliases": ["京", " ", 3]}, "b.txt": {"title": "t", "aliases": "津"}}
    (tmp_path / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    docs = {d.id: d for d in load_corpus(tmp_path)}
    assert docs["a"].aliases == ("京",) and docs["b"].aliases == () and docs["c"].aliases == ()


def test_qa_add_keeps_the_aliases_of_a_catalog_beside_the_file(tmp_path):
    from qa.store import _entry, read_upload
    from qa.formats import extract

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("2026年甲都市政府工作报告\n内容\n", encoding="utf-8")
    (folder / "catalog.json").write_text(json.dumps({"a.txt": {"title": "甲", "aliases": ["京"]}}, ensure_ascii=False), encoding="utf-8")
    upload = read_upload(folder / "a.txt")
    assert upload.aliases == ("京",)
    entry = _entry(upload, extract(upload.name, upload.data), "a", "sha")
    assert entry["aliases"] == ["京"]
    plain = replace(upload, aliases=())
    assert "aliases" not in _entry(plain, extract(plain.name, plain.data), "a", "sha")


def test_every_report_of_the_example_catalog_has_its_abbreviation():
    from pathlib import Path

    catalog = json.loads((Path(__file__).parents[1] / "examples/provincial-2026/catalog.json").read_text(encoding="utf-8"))
    catalog = {name: entry for name, entry in catalog.items() if name.endswith(".txt")}  # "groups": the region groups
    singles = [a for entry in catalog.values() for a in entry["aliases"] if len(a) == 1]
    assert all(entry.get("aliases") for entry in catalog.values())
    assert len(singles) == len(set(singles))  # one character, one report


# -- rows: streamed one by one, final text unchanged -------------------------------------------


@pytest.fixture
def engine(tmp_path, patch_fake_embedder):
    from serving import extractive_settings

    from qa.builder import build_engine
    from qa.index import build_index

    seeds = write_reports(tmp_path / "reports")
    build_index(load_corpus(seeds), patch_fake_embedder, tmp_path / "index", progress=False)
    return build_engine(extractive_settings(seeds, tmp_path / "index"))


def _stream(engine, question):
    events = list(engine.answer_stream(question))
    return [e.delta for e in events if e.delta], events[-1].answer


def test_a_table_streams_its_header_then_one_row_per_document(engine):
    deltas, answer = _stream(engine, QUESTION)
    assert answer.kind == "table"
    assert deltas[0] == "| 报告 | 内容 | 出处 |\n|---|---|---|\n"
    assert len(deltas) == 1 + len(REPORTS) and all(d.startswith("| ") and d.endswith(" |\n") for d in deltas[1:])
    table = answer.text.split("\n", 1)[1]
    assert "".join(deltas) == table + "\n"  # the same rows as the final text, which keeps its lead
    assert answer.text == engine.compose.cross(CrossPlan("table", tuple(REPORTS)), list(answer.rows), list(answer.rows))
    assert "first_row_ms" in answer.timings_ms


def test_a_selection_streams_only_its_matching_lines(engine):
    deltas, answer = _stream(engine, "哪些省份把2026年地区生产总值增长目标定在5.5%左右？")
    assert answer.kind == "select"
    assert deltas and all(d.startswith("- ") for d in deltas)
    lines = answer.text.split("\n")
    assert "".join(deltas) == "\n".join(lines[1:-1]) + "\n"  # the matching lines; the last says how many gave no figure
    assert lines[-1] == "另有1份报告中未提及这一数字。"  # 浙江 states no target
    assert {d.split("：")[0][2:] for d in deltas} == {"河南", "四川"}


def test_a_comparison_streams_its_lead_then_its_lines(engine):
    deltas, answer = _stream(engine, "广东和江苏2026年的地区生产总值增长目标分别是多少？")
    assert answer.kind == "compare"
    assert "".join(deltas) == answer.text + "\n"


def test_each_row_is_asked_without_the_document_s_name(engine, monkeypatch):
    import qa.cross

    asked = []
    real = qa.cross.analyze
    monkeypatch.setattr(qa.cross, "analyze", lambda q, *a: asked.append(q) or real(q, *a))
    engine.answer("广东和江苏2026年的地区生产总值增长目标分别是多少？")
    assert len(asked) == 2 and not any(name in q for q in asked for name in ("广东", "江苏"))
    assert all("分别" not in q for q in asked)


def test_a_row_states_the_target_of_its_own_report(engine):
    answer = engine.answer("河南和江苏2026年的地区生产总值增长目标分别是多少？")
    values = {r.name: (r.value, r.paragraph) for r in answer.rows}
    assert values == {"河南": ("地区生产总值增长5.5%左右", TARGET_PARAGRAPH), "江苏": ("地区生产总值增长5%左右", TARGET_PARAGRAPH)}


# -- open rows ------------------------------------------------------------------------------------

PLAN = "\n".join(
    [
        "2026年甲都市政府工作报告",
        "一、2026年工作安排",
        "今年要统筹推进各项工作，深入实施区域协同发展战略，持续扩大内需，着力稳就业。",
        "（一）推动区域协同发展走深走实",
        "坚持战略定位，加快建设都市圈。",
        "打造现代化都市圈。促进通勤圈一体发展，做好跨界交通接驳；推动功能圈创新发展。",
        "（二）持续扩大内需",
        "提振消费。开展促消费活动，扩大服务消费。",
    ]
)


def test_an_open_row_keeps_to_the_sub_heading_that_names_its_topic():
    from qa.cross import topic_section_hits

    d = doc("a", "2026年甲都市政府工作报告", text=PLAN)
    stats = CorpusStats({"区域": 2.0, "协同": 3.0, "发展": 1.0, "安排": 1.0, "消费": 2.0}, PLAN, {"a": d})
    hits = [Hit("a", n, 1.0 / n, d.paragraph(n).text, d.paragraph(n).section, 2026, 0.0, 0.0) for n in (3, 6, 8)]
    query = Query("区域协同发展有什么安排", "区域协同发展有什么安排", (), ("区域", "协同", "发展", "安排"))
    assert [h.paragraph for h in topic_section_hits(stats, query, hits)] == [6]
    other = Query("有什么打算", "有什么打算", (), ("打算",))  # no sub-heading names it: all hits stay
    assert topic_section_hits(stats, other, hits) == hits


def test_an_open_row_opens_with_its_paragraph_s_lead_phrase():
    from qa.cross import lead_phrase

    d = doc("a", "2026年甲都市政府工作报告", text=PLAN)
    assert lead_phrase(d.paragraph(6)) == "打造现代化都市圈"
    assert lead_phrase(d.paragraph(3)) == ""  # a long opening sentence is no lead
    assert lead_phrase(d.paragraph(4)) == ""  # the sub-heading itself


# -- OpenAI sources --------------------------------------------------------------------------------


def test_openai_sources_are_labelled_as_the_text_cites_them():
    from qa.api.openai import with_sources

    answer = Answer("- 甲：增长5%[a:3]\n- 乙：增长6%[b:4]", (Citation("a", "甲报告", 3, "q1"), Citation("b", "乙报告", 4, "q2")), False)
    sources = with_sources(answer).split("来源：\n", 1)[1].splitlines()
    assert sources == ["[a:3] 甲报告，第3段：“q1”", "[b:4] 乙报告，第4段：“q2”"]
    single = Answer("增长5%[3]", (Citation("a", "甲报告", 3, "q1"),), False)
    assert with_sources(single).endswith("[3] 甲报告，第3段：“q1”")


def test_an_open_row_shows_the_points_that_hold_the_topic_in_document_order():
    from qa.cross import best_points
    from qa.points import Point

    d = doc("a", "2026年甲都市政府工作报告", text=PLAN)
    stats = CorpusStats({"协同": 3.0, "区域": 2.0}, PLAN, {"a": d})
    points = [Point("a", 6, t) for t in ("巩固实体经济", "推动区域协同", "扩大服务消费", "深化协同创新")]
    query = Query("区域协同有什么安排", "区域协同有什么安排", (), ("区域", "协同"))
    assert [p.text for p in best_points(points, stats, query)] == ["推动区域协同", "深化协同创新"]
    assert [p.text for p in best_points(points[:1], stats, query)] == ["巩固实体经济"]
