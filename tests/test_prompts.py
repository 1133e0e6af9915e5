"""Prompt templates are files rendered strictly."""

from __future__ import annotations

import pytest

from qa.prompts import PromptError, Template, load_template


def test_shipped_templates_render():
    assert load_template("refusal").render() == "文档中没有相关信息。"
    text = load_template("answer").render(evidence="（一、2023年工作回顾）达到4015亿元", question="是多少？")
    assert "达到4015亿元" in text and "是多少？" in text


def test_missing_and_unused_variables_are_errors():
    template = Template("t", "资料：{evidence}\n问题：{question}")
    with pytest.raises(PromptError, match="missing.*question"):
        template.render(evidence="x")
    with pytest.raises(PromptError, match="unused.*extra"):
        template.render(evidence="x", question="y", extra="z")


def test_values_with_braces_are_inserted_verbatim():
    assert Template("t", "{evidence}").render(evidence="{question} {0}") == "{question} {0}"


def test_missing_template_file(tmp_path):
    with pytest.raises(PromptError, match="cannot be read"):
        load_template("system", tmp_path)
