"""Sentence chunks: splitting, clause windows for long sentences, and the context they carry."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from qa.chunking import (
    MIN_SENTENCE_CHARS,
    WINDOW_CHARS,
    Chunk,
    chunk_documents,
    chunk_paragraph,
    clause_windows,
    split_sentences,
)
from qa.corpus import Paragraph, load_corpus


def test_split_sentences_after_chinese_stops():
    text = "全市地区生产总值增长5.8%。财政收入完成预算目标！是否继续加强监管？推进改革开放不停步；"
    assert split_sentences(text) == ["全市地区生产总值增长5.8%。", "财政收入完成预算目标！", "是否继续加强监管？", "推进改革开放不停步；"]


def test_split_sentences_exact():
    assert split_sentences("第一句话说得很长很长。第二句话也说得很长。") == ["第一句话说得很长很长。", "第二句话也说得很长。"]
    # short fragments merge into the previous or next sentence
    assert split_sentences("好。这是一句足够长的句子。") == ["好。这是一句足够长的句子。"]
    assert split_sentences("没有句号的一段文字") == ["没有句号的一段文字"]
    assert split_sentences("") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("这是一句足够长的句子。好。", ["这是一句足够长的句子。好。"]),
        ("第一句话说得很长很长。第二句话也说得很长。好。", ["第一句话说得很长很长。", "第二句话也说得很长。好。"]),
    ],
)
def test_trailing_short_fragment_merges_into_previous_sentence(text, expected):
    assert split_sentences(text) == expected


@given(st.text(alphabet="甲乙丙丁。，；！？", max_size=200))
def test_split_sentences_keeps_every_character(text):
    parts = split_sentences(text)
    assert "".join(parts) == text
    assert all(parts)
    if len(parts) > 1:
        assert all(len(p) >= MIN_SENTENCE_CHARS for p in parts)


def test_short_sentence_is_one_window():
    sentence = "地区生产总值增长6%左右，一般公共预算收入增长与经济增长基本同步。"
    assert clause_windows(sentence) == [sentence]


def test_long_sentence_is_cut_at_commas_into_windows():
    clauses = [f"第{i}项指标增长百分之{i}左右，" for i in range(1, 21)]
    sentence = "".join(clauses).rstrip("，") + "。"
    windows = clause_windows(sentence)
    assert len(windows) > 1
    assert "".join(windows) == sentence
    assert all(len(w) <= WINDOW_CHARS for w in windows)
    assert all(w.endswith("，") for w in windows[:-1])


def test_long_list_sentence_windows_carry_its_lead():
    lead = "主要预期目标为"
    body = "，".join(f"指标{i}增长{i}%左右" for i in range(1, 16))
    p = Paragraph(doc="d", number=7, text=f"{lead}：{body}。", section="二、2024年工作安排", year=2024)
    chunks = chunk_paragraph(p)
    assert len(chunks) > 1
    assert [c.part for c in chunks] == list(range(len(chunks)))
    assert {c.index for c in chunks} == {0}
    assert chunks[0].context == "二、2024年工作安排"
    assert all(c.context == f"二、2024年工作安排 {lead}" for c in chunks[1:])
    assert "".join(c.text for c in chunks) == p.text


def test_context_carries_section_heading_and_lead(tmp_seeds):
    (doc,) = load_corpus(tmp_seeds)
    p4 = chunk_paragraph(doc.paragraph(4))
    assert all(c.context.startswith("一、2023年工作回顾") for c in p4)
    assert p4[0].embed_text == f"一、2023年工作回顾：{p4[0].text}"
    assert p4[0].text.startswith("过去的2023年")
    # a paragraph that opens with a sub-heading carries it (without its full stop)
    p5 = chunk_paragraph(doc.paragraph(5))
    assert all("聚力稳进提质，经济运行回升向好" in c.context for c in p5)
    # a short first sentence names the paragraph's topic
    p24 = chunk_paragraph(doc.paragraph(24))
    assert all(c.context == "二、2024年工作安排 集成供给更加精准的政策" for c in p24)
    # a heading is not its own context
    (heading,) = chunk_paragraph(doc.paragraph(3))
    assert heading.context == "" and heading.embed_text == "一、2023年工作回顾"


def test_chunks_cover_every_paragraph_in_order(tmp_seeds):
    docs = load_corpus(tmp_seeds)
    chunks = chunk_documents(docs)
    assert all(isinstance(c, Chunk) for c in chunks)
    assert sorted({c.paragraph for c in chunks}) == list(range(1, 66))
    assert [c.paragraph for c in chunks] == sorted(c.paragraph for c in chunks)
    for number in range(1, 66):
        text = "".join(c.text for c in chunks if c.paragraph == number)
        assert text == docs[0].paragraph(number).text
