"""One rule for figures: the constraint, the grounding check, the selector and the claims agree (issue 14)."""

from __future__ import annotations

import pytest

from qa import claims, evidence, grounding
from qa.constraint import NumberConstraint, normalize_numbers, pending_number
from qa.numbers import FIGURE, ascii_digits, figure_value, figures
from qa.text import clean_question, clean_text

EVIDENCE = {("report", 4): "城镇、农村居民人均可支配收入分别达到74400元和47455元，增长5.8%。"}


def test_every_stage_uses_the_one_pattern():
    assert grounding.FIGURE is FIGURE and evidence.FIGURE is FIGURE and claims.FIGURE is FIGURE


@pytest.mark.parametrize(
    "text, values",
    [
        ("达到4,015亿元，增长5.8%", ["4015", "5.8"]),
        ("达到４０１５亿元，增长５．８%", ["4015", "5.8"]),  # full-width digits and point
        ("混写４7455元", ["47455"]),
        ("阿拉伯数字٤٥", ["45"]),
        ("版本1.2.3，约.5", ["1.2", "3", "5"]),  # at most one decimal point; a digit after a point is still a figure
        ("没有数字", []),
    ],
)
def test_figures_and_their_values(text, values):
    assert figures(text) == values
    assert grounding.numbers_in(text) == values
    assert sorted(normalize_numbers([text])) == sorted(set(values))


def test_ascii_digits_keeps_positions():
    text = "增长５．８%，共４７４５５元"
    assert ascii_digits(text) == "增长5.8%，共47455元" and len(ascii_digits(text)) == len(text)
    assert [figure_value(m.group()) for m in FIGURE.finditer(text)] == ["5.8", "47455"]
    assert ascii_digits("plain 12") == "plain 12"


@pytest.mark.parametrize("answer, ok", [("农村居民收入达到４７４５５元[4]", True), ("农村居民收入达到２７４５５元[4]", False)])
def test_full_width_digits_constraint_and_check_agree(answer, ok):
    """What the constraint lets the model write in full-width digits, the check accepts; and the reverse."""
    vocab = ["达到", "元", "[4]", *"0123456789", *"０１２３４５６７８９", "．"]
    constraint = NumberConstraint(vocab, [EVIDENCE[("report", 4)]])
    text = answer.split("达到")[0] + "达到"
    written = True
    for char in answer[len(text) :].split("元")[0]:
        written &= constraint.is_allowed(text, vocab.index(char))
        text += char
    assert written == ok
    assert grounding.check_answer(answer, EVIDENCE, default_doc="report").ok == ok


def test_constraint_reads_full_width_runs():
    assert pending_number("增长５．") == "5." and pending_number("共４７４") == "474"
    vocab = ["５", "5", "６", "。"]
    allowed = {vocab[i] for i in NumberConstraint(vocab, ["47455"]).allowed_ids("共４７４")}
    assert allowed == {"５", "5"}


def test_one_text_cleaner():
    assert clean_text("a\x00b\x1b[31mc\ud800\x85d\te\nf") == "abcd\te\nf"
    assert clean_question("  \x07问题\x1b[0m  ") == "问题"
