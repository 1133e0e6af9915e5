"""The web chat's helpers as plain functions, and Gradio's own API through `gradio_client`."""

from __future__ import annotations

import html
import re

import pytest

from qa.corpus import load_corpus
from qa.engine import Answer, Citation
from qa.errors import EmptyQuestion, QuestionTooLong
from qa.service import NotReady
from qa.settings import project_root
from qa.ui import create_ui
from qa.ui_handlers import error_message, ui_examples
from qa.ui_render import (
    cite_href,
    parse_target,
    render_answer,
    render_document,
    render_draft,
    render_paragraph,
    render_search_results,
)
from serving import extractive_settings, serving

DOC = "huzhou-2024-government-work-report"
TITLE = "2024年湖州市政府工作报告"
QUOTE = "地区生产总值再上新台阶，达到4015亿元，增长5.8%；"
GDP = "2023年湖州市地区生产总值是多少？"

# Gradio's queue uses pandas options that pandas 3 deprecates; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def doc():
    return {d.id: d for d in load_corpus(project_root() / "seeds")}[DOC]


def cited(text: str = "地区生产总值再上新台阶，达到4015亿元，增长5.8%[4]") -> Answer:
    return Answer(text=text, citations=(Citation(DOC, TITLE, 4, QUOTE),), refused=False)


def links(markup: str) -> list[tuple[str, str]]:
    return [(html.unescape(href), label) for href, label in re.findall(r'<a class="qa-cite" href="([^"]+)"[^>]*>([^<]+)</a>', markup)]


# -- helpers ---------------------------------------------------------------------------------


def test_citation_links_round_trip():
    href = cite_href(DOC, 4, QUOTE)
    assert href.startswith("?doc=") and "&p=4&" in href
    assert parse_target(href) == (DOC, 4, QUOTE)
    assert parse_target("http://127.0.0.1:7860/?doc=x&p=12#top") == ("x", 12, "")
    assert parse_target("?doc=x") is None and parse_target("?p=3") is None and parse_target("") is None
    assert parse_target("?doc=x&p=abc") is None


def test_answer_citations_become_links_then_sources():
    markup = render_answer(cited())
    answer_part, sources = markup.split('<div class="qa-sources">')
    assert links(answer_part) == [(cite_href(DOC, 4, QUOTE), "[4]")]
    assert "4015亿元" in answer_part and "[4]" not in re.sub(r"<a [^>]+>\[4\]</a>", "", answer_part)
    assert "来源" in sources and TITLE in sources and "第4段" in sources and html.escape(QUOTE) in sources
    assert links(sources) == [(cite_href(DOC, 4, QUOTE), "[4]")]


def test_refused_answer_has_no_sources():
    markup = render_answer(Answer(text="文档中没有相关信息。", citations=(), refused=True))
    assert "文档中没有相关信息" in markup and "qa-sources" not in markup and "qa-cite" not in markup


def test_multi_document_labels_and_unknown_numbers():
    answer = Answer(text="甲[a:2]；乙[b:2]；丙[9]", citations=(Citation("a", "A", 2, "甲"), Citation("b", "B", 2, "乙")), refused=False)
    answer_part = render_answer(answer).split('<div class="qa-sources">')[0]
    assert [(parse_target(h)[:2], label) for h, label in links(answer_part)] == [(("a", 2), "[2]"), (("b", 2), "[2]")]
    assert "丙[9]" in answer_part  # a number with no citation stays text


OPEN = (
    "根据文档，相关要点共7条，以下列出2条：\n"
    "1. 招引培育亿元以上文化产业项目30个[43]\n"
    "2. 发展演艺经济、赛事经济、夜间经济[b:43]"
)
PARAGRAPH_43 = "推进文旅深度融合。实施文化产业攻坚提升工程，招引培育亿元以上文化产业项目30个。发展演艺经济、赛事经济、夜间经济。"


def test_points_become_a_list_with_a_citation_each():
    answer = Answer(OPEN, (Citation(DOC, TITLE, 43, PARAGRAPH_43), Citation("b", "B", 43, PARAGRAPH_43)), refused=False)
    body = render_answer(answer).split('<div class="qa-sources">')[0]
    assert body.startswith('<div class="qa-answer"><p>根据文档，相关要点共7条，以下列出2条：</p><ol class="qa-points"><li>')
    items = re.findall(r"<li>(.*?)</li>", body)
    assert len(items) == 2 and items[0].startswith("招引培育亿元以上文化产业项目30个<a ")
    # each point's link quotes the point itself, so the panel highlights it in the paragraph
    assert [(parse_target(h), label) for h, label in links(items[0])] == [((DOC, 43, "招引培育亿元以上文化产业项目30个"), "[43]")]
    assert [(parse_target(h), label) for h, label in links(items[1])] == [(("b", 43, "发展演艺经济、赛事经济、夜间经济"), "[43]")]
    assert "1. " not in body and "\n" not in body


def test_a_point_not_in_its_quote_links_the_quote():
    answer = Answer("要点：\n1. 模型的话[43]", (Citation(DOC, TITLE, 43, PARAGRAPH_43),), refused=False)
    assert parse_target(links(render_answer(answer))[0][0]) == (DOC, 43, PARAGRAPH_43)


def test_summary_parts_with_lead_points_nest():
    text = "文档共有2个部分：\n1. 一、回顾[3]\n  - 甲[4]\n  - 乙[5]\n2. 二、安排[19]"
    body = render_answer(Answer(text, tuple(Citation(DOC, TITLE, n, "x") for n in (3, 4, 5, 19)), refused=False))
    assert '<ol class="qa-points"><li>一、回顾<a' in body and '<ul class="qa-subpoints"><li>甲<a' in body
    assert re.search(r"\[5\]</a></li></ul></li><li>二、安排<a", body)


def test_a_fact_answer_starting_with_a_figure_is_no_list():
    assert "<ol" not in render_answer(Answer("5.8%的增长[4]\n其中：3.2%[4]", (Citation(DOC, TITLE, 4, QUOTE),), refused=False))


def test_a_streaming_draft_shows_the_points_as_they_come():
    assert render_draft("根据文档：").startswith('<div class="qa-draft">根据文档：<span class="qa-cursor">')
    draft = render_draft("根据文档：\n1. 甲[43]\n2. 乙")
    assert '<ol class="qa-points"><li>甲[43]</li><li>乙<span class="qa-cursor">▍</span></li></ol>' in draft
    assert "qa-cite" not in draft  # not verified yet: no links


def test_the_chat_streams_points_then_links_them():
    """ChatHandlers.respond with a service that streams an open answer: a growing list, then links."""
    from qa.engine import Event
    from qa.settings import Settings
    from qa.ui_handlers import ChatHandlers

    answer = Answer(OPEN, (Citation(DOC, TITLE, 43, PARAGRAPH_43), Citation("b", "B", 43, PARAGRAPH_43)), refused=False)

    class Stream(list):
        closed = False

        def close(self):
            self.closed = True

    class Service:
        settings = Settings()

        def stream(self, question, history, docs=None):
            self.last = Stream([Event(delta=OPEN[:40]), Event(delta=OPEN[40:]), Event(answer=answer)])
            return self.last

        def documents(self):
            return []  # one document or none: citations stay [n]

    service = Service()
    shown = []
    for _, messages, turns in ChatHandlers(service).respond("今年怎样推动文旅融合？", [], []):
        shown.append(messages[-1]["content"])  # the handler updates one list in place: copy each step
    assert "正在检索" in shown[0]
    assert shown[1].count("<li>") == 1 and shown[2].count("<li>") == 2 and "qa-cursor" in shown[2]
    assert shown[3].count('<a class="qa-cite"') == 2 + 2 and "qa-cursor" not in shown[3]
    assert turns[-1] == {"role": "assistant", "content": OPEN} and service.last.closed


def test_text_is_escaped():
    markup = render_answer(cited('<script>alert(1)</script>"&[4]'))
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert "<script>" not in render_draft("<script>x")


def test_paragraph_panel_shows_everything_and_highlights_the_quote(doc):
    markup = render_paragraph(doc, 4, QUOTE)
    assert TITLE in markup and "第4段" in markup and "一、2023年工作回顾" in markup
    assert f"<mark>{QUOTE}</mark>" in markup
    assert re.sub(r"<[^>]+>", "", markup).count("一般公共预算收入410.5亿元") == 1  # the full text
    assert "<mark>" in render_paragraph(doc, 4, QUOTE.rstrip("；") + "。")  # found without its final mark
    assert "<mark>" not in render_paragraph(doc, 4, "不在这段里")
    with pytest.raises(KeyError):
        render_paragraph(doc, 66)


def test_document_view_numbers_every_paragraph(doc):
    markup = render_document(doc, selected=21)
    numbers = [int(n) for n in re.findall(r'<span class="qa-doc-num">(\d+)</span>', markup)]
    assert numbers == list(range(1, 66))
    assert markup.count("qa-selected") == 1 and 'id="qa-para-21"' in markup
    assert re.search(r'qa-doc-para qa-selected" id="qa-para-21"', markup)


def test_search_results_link_into_the_document(doc):
    from qa.retrieval import Hit, SentenceHit

    hit = Hit(DOC, 4, 0.5, doc.paragraph(4).text, "一、2023年工作回顾", 2023, 0.5, 0.5, (SentenceHit(0, 0, QUOTE, 0.9),))
    markup = render_search_results("生产总值", [hit], {DOC: TITLE})
    assert parse_target(links(markup)[0][0]) == (DOC, 4, QUOTE) and "<mark>" in markup
    assert "没有找到" in render_search_results("火星", [], {DOC: TITLE})


def test_errors_read_as_chinese_sentences():
    assert error_message(EmptyQuestion()) == "请输入问题。"
    assert error_message(QuestionTooLong(600, 500)) == "问题太长（600字），最多500字。"
    assert "正在加载" in error_message(NotReady("loading"))
    assert "加载失败" in error_message(NotReady("boom", failed=True))
    message = error_message(ZeroDivisionError("division by zero"))
    assert "division" not in message and "Traceback" not in message


def test_create_ui_names_its_api_endpoints():
    demo = create_ui(lambda: None)  # nothing is loaded to build the page
    named = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert named == {"ask", "search", "paragraph"}


def test_example_questions_are_data():
    data = ui_examples()
    assert data["version"] == 1 and len(data["questions"]) >= 2 and all(isinstance(q, str) and q for q in data["questions"])
    demo = create_ui(lambda: None)
    labels = [b.value for b in demo.blocks.values() if "qa-example" in (getattr(b, "elem_classes", None) or [])]
    assert labels == data["questions"]


# -- Gradio's API through gradio_client ---------------------------------------------------------


@pytest.fixture(scope="module")
def gradio_client(real_index):
    from gradio_client import Client

    settings = extractive_settings(*real_index)
    with serving(settings) as base:
        yield Client(base + "/", verbose=False)


def test_gradio_client_ask(gradio_client):
    info = gradio_client.view_api(print_info=False, return_format="dict")
    assert {"/ask", "/search", "/paragraph"} <= set(info["named_endpoints"])
    body = gradio_client.predict(GDP, [], api_name="/ask")
    assert "4015亿元" in body["answer"] and body["refused"] is False
    assert [(c["doc"], c["paragraph"], c["quote"]) for c in body["citations"]] == [(DOC, 4, QUOTE)]
    history = [{"role": "user", "content": GDP}, {"role": "assistant", "content": body["answer"]}]
    follow = gradio_client.predict(question="那2024年的目标呢？", history=history, api_name="/ask")
    assert [c["paragraph"] for c in follow["citations"]] == [21]


def test_gradio_client_search_and_paragraph(gradio_client, doc):
    hits = gradio_client.predict("地区生产总值 4015亿元", 3, api_name="/search")
    assert len(hits) == 3 and hits[0]["paragraph"] == 4
    p = gradio_client.predict(DOC, 4, api_name="/paragraph")
    assert p == {"doc": DOC, "title": TITLE, "paragraph": 4, "section": "一、2023年工作回顾", "text": doc.paragraph(4).text}


def test_gradio_client_errors_are_messages(gradio_client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="empty"):
        gradio_client.predict("  ", [], api_name="/ask")
    with pytest.raises(AppError, match="paragraphs 1–65"):
        gradio_client.predict(DOC, 99, api_name="/paragraph")
