"""Citation parsing and the faithfulness check: fast, no models."""

from __future__ import annotations

from hypothesis import given, strategies as st

from qa.grounding import (
    CitationRef,
    agrees_with_span,
    check_answer,
    clean_generation,
    drop_echoed_years,
    names_in,
    novel_terms,
    numbers_in,
    parse_citations,
)

DOC = "report"
EVIDENCE = {
    (DOC, 4): "地区生产总值再上新台阶，达到4015亿元，增长5.8%；城镇、农村居民人均可支配收入分别达到74400元和47455元。",
    (DOC, 7): "久立集团成功并购德国EBK公司。“五水共治”九夺“大禹鼎”。",
}


def refs(text: str) -> list[tuple[str | None, int]]:
    return [(r.doc, r.paragraph) for r in parse_citations(text).refs]


def test_parse_plain_and_lists():
    assert refs("达到4015亿元[4]。") == [(None, 4)]
    assert refs("见[1,2]和[3、5]") == [(None, 1), (None, 2), (None, 3), (None, 5)]
    assert refs("重复[4][4]") == [(None, 4)]


def test_parse_full_width_and_words():
    assert refs("答案【4】") == [(None, 4)]
    assert refs("答案［12］") == [(None, 12)]
    assert refs("答案[第4段]") == [(None, 4)]
    assert refs("答案[report:4]") == [("report", 4)]
    assert refs("答案[文档：9]") == [("文档", 9)]


def test_malformed_marks_are_reported_and_removed():
    parsed = parse_citations("增长5.8%[段落编号]")
    assert parsed.refs == ()
    assert parsed.malformed == ("[段落编号]",)
    assert parsed.text == "增长5.8%"


def test_numbers_and_names():
    assert numbers_in("达到4015亿元，增长5.8%，共4,015家") == ["4015", "5.8", "4015"]
    assert names_in("并购德国EBK公司，获“大禹鼎”和《报告》") == ["大禹鼎", "报告", "EBK"]


def test_check_accepts_faithful_answer():
    check = check_answer("地区生产总值4015亿元，增长5.8%[4]", EVIDENCE, default_doc=DOC)
    assert check.ok, check.problems
    assert check.cited == (CitationRef(DOC, 4),)


def test_check_catches_miscopied_digit():
    check = check_answer("农村居民人均可支配收入27455元[4]", EVIDENCE, default_doc=DOC)
    assert not check.ok
    assert any("27455" in p for p in check.problems)


def test_check_catches_number_from_uncited_paragraph():
    check = check_answer("并购了EBK公司，增长5.8%[7]", EVIDENCE, default_doc=DOC)
    assert any("5.8" in p for p in check.problems)


def test_check_rejects_unknown_paragraph_and_missing_citation():
    assert any("99" in p for p in check_answer("达到4015亿元[99]", EVIDENCE, default_doc=DOC).problems)
    assert "no valid citation" in check_answer("达到4015亿元", EVIDENCE, default_doc=DOC).problems
    assert any("malformed" in p for p in check_answer("达到4015亿元[段落编号]", EVIDENCE, default_doc=DOC).problems)


def test_check_catches_invented_name():
    check = check_answer("并购了德国ABC公司[7]", EVIDENCE, default_doc=DOC)
    assert any("ABC" in p for p in check.problems)


def test_agreement_with_selected_span():
    span = ["地区生产总值达到4015亿元，增长5.8%"]
    assert agrees_with_span("2023年地区生产总值为4015亿元", span, "2023年地区生产总值是多少？")
    assert not agrees_with_span("地区生产总值为4025亿元", span, "地区生产总值是多少？")
    assert not agrees_with_span("地区生产总值增长5.8", span, "增长多少？")  # unit lost
    assert not agrees_with_span("地区生产总值有所增长", span, "地区生产总值是多少？")
    respectively = ["城镇、农村居民人均可支配收入分别达到74400元和47455元"]
    assert not agrees_with_span("农村居民人均可支配收入为47455元", respectively, "农村居民收入是多少？")
    assert agrees_with_span("城镇、农村分别为74400元和47455元", respectively, "居民收入是多少？")
    two_years = ["研发投入强度达到3.4%", "研发投入强度达到3.5%左右"]
    assert not agrees_with_span("研发投入强度为3.4%", two_years, "两年分别是多少？")
    assert agrees_with_span("分别为3.4%和3.5%", two_years, "两年分别是多少？")
    names = ["久立集团成功并购德国EBK公司"]
    assert agrees_with_span("是久立集团", names, "哪家企业并购了德国EBK公司？")
    assert not agrees_with_span("是一家德国公司", names, "哪家企业并购了德国EBK公司？")


@given(st.text(max_size=80))
def test_parser_never_crashes_and_strips_marks(text):
    parsed = parse_citations(text)
    for ref in parsed.refs:
        assert ref.paragraph >= 0
    assert len(parsed.text) <= len(text)


@given(st.lists(st.integers(min_value=1, max_value=9999), min_size=1, max_size=4), st.sampled_from(["[{}]", "【{}】", "［{}］", "[第{}段]"]))
def test_parser_roundtrip(numbers, form):
    text = "答案" + "".join(form.format(n) for n in numbers)
    assert [r.paragraph for r in parse_citations(text).refs] == list(dict.fromkeys(numbers))


@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=0, max_value=9))
def test_any_changed_digit_is_caught(value, digit):
    """The model's typical error: one digit of an evidence figure changed."""
    original = str(value)
    changed = str(digit) + original[1:]
    evidence = {(DOC, 1): f"收入达到{original}元。"}
    check = check_answer(f"收入{changed}元[1]", evidence, default_doc=DOC)
    assert check.ok == (changed == original or changed in numbers_in(evidence[(DOC, 1)]))


def test_clean_generation():
    assert clean_generation("```\n回答：增长5.8%[4]\n多余的一行") == "增长5.8%[4]"
    assert clean_generation("达到[4015亿元][4]") == "达到4015亿元[4]"


def test_drop_echoed_years():
    assert drop_echoed_years("2024年的失业率控制在5%以内", "2024年失业率是多少？", "城镇调查失业率控制在5%以内") == "失业率控制在5%以内"
    assert drop_echoed_years("2023年达到4015亿元", "2023年是多少？", "过去的2023年，达到4015亿元") == "2023年达到4015亿元"


def test_novel_terms():
    sources = ["2023年湖州固定资产投资增长了多少？", "全市固定资产投资首次突破2000亿元，增长10.4%"]
    assert novel_terms("全市固定资产投资增长10.4%", sources) == []
    assert "全国" in novel_terms("固定资产投资增长10.4%，位居全国前列", sources)
