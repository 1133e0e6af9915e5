"""Citation parsing and the faithfulness check: fast, no models."""

from __future__ import annotations

from hypothesis import given, strategies as st

from qa.grounding import CitationRef, agrees_with_span, check_answer, names_in, numbers_in, parse_citations

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
    span = ["城镇、农村居民人均可支配收入分别达到74400元和47455元"]
    assert agrees_with_span("农村居民人均可支配收入为47455元", span, "农村居民收入是多少？")
    assert not agrees_with_span("农村居民人均可支配收入为4015元", span, "农村居民收入是多少？")
    assert not agrees_with_span("收入有所增长", span, "农村居民收入是多少？")
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
