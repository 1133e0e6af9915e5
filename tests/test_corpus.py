"""Documents, paragraph numbering, sections and their years, and corpus errors."""

from __future__ import annotations

import json

import pytest

from qa.corpus import CorpusError, corpus_fingerprint, load_corpus, parse_paragraphs, read_document, split_lines

from conftest import SEED_ID, SEED_NAME

OTHER_CITY = """各位代表：
现在，我代表市人民政府，向大会报告工作。
一、2022年工作回顾
过去的2022年，全市地区生产总值达到1234亿元，增长4.1%。
（一）稳住经济大盘，发展质量持续提升。规上工业增加值增长6.0%。全年新增市场主体2万户。
（二）推进城市更新，城市面貌焕然一新。完成老旧小区改造50个。
二、2023年工作安排
2023年全市经济社会发展的主要预期目标为：地区生产总值增长6.5%左右。
（一）坚持项目为王。全年实施重大项目300个，完成投资800亿元。
三、加强政府自身建设
全面提升政府执行力。
"""


@pytest.fixture
def seed_doc(tmp_seeds):
    (doc,) = load_corpus(tmp_seeds)
    return doc


def test_seed_has_65_numbered_paragraphs(seed_doc):
    assert seed_doc.id == SEED_ID
    assert len(seed_doc.paragraphs) == 65
    assert [p.number for p in seed_doc.paragraphs] == list(range(1, 66))
    assert seed_doc.paragraph(3).text == "一、2023年工作回顾"
    assert seed_doc.paragraph(4).text.startswith("过去的2023年")


def test_paragraph_numbers_count_non_empty_lines(seed_doc, tmp_seeds):
    raw = (tmp_seeds / SEED_NAME).read_text(encoding="utf-8")
    non_empty = [line.strip() for line in raw.splitlines() if line.strip()]
    assert [p.text for p in seed_doc.paragraphs] == non_empty


def test_paragraph_out_of_range_is_key_error(seed_doc):
    with pytest.raises(KeyError):
        seed_doc.paragraph(0)
    with pytest.raises(KeyError):
        seed_doc.paragraph(66)


def test_sections_and_subsections(seed_doc):
    p = seed_doc.paragraph
    assert p(1).section == "" and p(1).year is None
    assert p(3).is_heading and p(3).section == "一、2023年工作回顾"
    assert p(4).section == "一、2023年工作回顾" and p(4).subsection == ""
    assert p(5).subsection == "（一）聚力稳进提质，经济运行回升向好。"
    assert p(6).subsection.startswith("（二）")
    # a sub-section carries over to the paragraphs below it
    assert p(15).subsection.startswith("（十）")
    assert p(19).section == "二、2024年工作安排" and p(19).subsection == ""
    assert p(22).subsection == p(22).text  # a heading-only line
    assert p(23).subsection == p(22).text
    assert p(58).section == "三、进一步加强政府自身建设"
    assert not p(4).is_heading


def test_section_years_come_from_headings(seed_doc):
    assert {p.year for p in seed_doc.paragraphs[2:18]} == {2023}
    assert {p.year for p in seed_doc.paragraphs[18:57]} == {2024}
    assert {p.year for p in seed_doc.paragraphs[57:]} == {None}
    assert seed_doc.years == (2023, 2024)


def test_catalog_gives_titles(seed_doc, tmp_seeds):
    assert seed_doc.title == "2024年湖州市政府工作报告"
    (tmp_seeds / "catalog.json").unlink()
    (doc,) = load_corpus(tmp_seeds)
    assert doc.title == SEED_ID


def test_catalog_entry_without_title_falls_back_to_file_name(tmp_seeds):
    (tmp_seeds / "catalog.json").write_text(json.dumps({SEED_NAME: {"source": "x"}}), encoding="utf-8")
    (doc,) = load_corpus(tmp_seeds)
    assert doc.title == SEED_ID


def test_another_document_with_other_years(tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "city-2023.txt").write_text(OTHER_CITY, encoding="utf-8")
    (doc,) = load_corpus(folder)
    assert "湖州" not in OTHER_CITY
    assert doc.id == "city-2023" and doc.title == "city-2023"
    assert len(doc.paragraphs) == 11
    assert doc.paragraph(3).text == "一、2022年工作回顾"
    assert doc.paragraph(4).year == 2022
    assert doc.paragraph(5).subsection == "（一）稳住经济大盘，发展质量持续提升。"
    assert doc.paragraph(8).year == 2023 and doc.paragraph(8).section == "二、2023年工作安排"
    assert doc.paragraph(11).year is None
    assert doc.years == (2022, 2023)


def test_two_documents_sorted_by_name(tmp_seeds):
    (tmp_seeds / "a-city.txt").write_text(OTHER_CITY, encoding="utf-8")
    docs = load_corpus(tmp_seeds)
    assert [d.id for d in docs] == ["a-city", SEED_ID]
    assert set(corpus_fingerprint(docs)) == {"a-city", SEED_ID}


def test_section_year_from_body_needs_a_clear_majority():
    text = "一、工作回顾\n2021年增长。2021年完成。\n2021年开工。\n二、展望\n2030年目标。2035年远景。\n"
    paragraphs = parse_paragraphs("x", text)
    assert paragraphs[0].year == 2021
    assert paragraphs[4].year is None  # no majority


def test_full_width_spaces_and_bom_are_stripped(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeff\u3000\u3000第一段。\n\u3000\u3000\n  第二段。  \n".encode("utf-8"))
    doc = read_document(path)
    assert [p.text for p in doc.paragraphs] == ["第一段。", "第二段。"]
    assert split_lines("a\n\u3000\nb") == ["a", "b"]


def test_non_utf8_file_is_refused_with_advice(tmp_seeds):
    (tmp_seeds / "gbk.txt").write_bytes("二、2024年工作安排".encode("gbk"))
    with pytest.raises(CorpusError, match=r"gbk\.txt.*not UTF-8.*iconv"):
        load_corpus(tmp_seeds)


def test_empty_file_is_refused(tmp_seeds):
    (tmp_seeds / "empty.txt").write_text(" \n\u3000\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"empty\.txt: has no text"):
        load_corpus(tmp_seeds)


def test_binary_file_is_refused(tmp_seeds):
    (tmp_seeds / "bin.txt").write_bytes(b"abc\x00def")
    with pytest.raises(CorpusError, match="NUL"):
        load_corpus(tmp_seeds)


def test_missing_folder(tmp_path):
    with pytest.raises(CorpusError, match=r"does not exist.*--seeds"):
        load_corpus(tmp_path / "nowhere")


def test_folder_without_txt_files(tmp_path):
    (tmp_path / "notes.md").write_text("# hi", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"no \.txt files"):
        load_corpus(tmp_path)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", b"\xff\xfe{}"])
def test_broken_catalog(tmp_seeds, content):
    path = tmp_seeds / "catalog.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match="catalog.json"):
        load_corpus(tmp_seeds)
