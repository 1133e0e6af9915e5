"""Checks on a model-written fact answer (qa/verify.py), with made-up evidence."""

from __future__ import annotations

from types import SimpleNamespace

from qa.verify import misattributed


def selection(*sentences: tuple[str, str]):
    return SimpleNamespace(spans=[(SimpleNamespace(text=sentence), span) for sentence, span in sentences])


EVIDENCE = selection(
    ("营收增长6.8%，新增制造业单项冠军企业52家。", "新增制造业单项冠军企业52家"),
    ("引进首店1809家，网络消费增长。", "引进首店1809家"),
)


def test_a_figure_stated_of_what_its_sentence_does_not_speak_of_is_caught():
    problems = misattributed("去年引进了52家首店", EVIDENCE, "那去年引进了多少家首店？", ["", ""])
    assert problems and "首店" in problems[0] and "52" in problems[0]


def test_the_figure_of_the_asked_thing_passes():
    assert misattributed("去年引进了1809家首店", EVIDENCE, "那去年引进了多少家首店？", ["", ""]) == []
