"""What the chat does when it is used: one method per event, bound to one `EngineService`.

`ChatHandlers(service)` holds the handlers that `qa.ui.create_ui` wires to the page: asking
(streamed), opening a citation, the document view (load, choose, jump, search, deep links) and the
three named API endpoints for `gradio_client` (`ask`, `search`, `paragraph`). They are methods of
one object, rather than closures inside the layout, so that each can be read and tested on its own
and Gradio still sees their annotated signatures (it reads `gr.Request` and the API types from them).
`error_message` words every error of a request as a short Chinese sentence, chosen by its type.

Left out: the HTML (`qa.ui_render`) and the layout, CSS and page script (`qa.ui`).
"""

from __future__ import annotations

import logging
from typing import Any, Iterator
from urllib.parse import urlencode

import gradio as gr

from .errors import EmptyQuestion, HistoryError, QuestionError, QuestionTooLong
from .lexicon import load_data
from .service import Busy, EngineService, NotReady, check_history, trim_history
from .ui_documents import citation_labels
from .ui_render import (
    DOC_PLACEHOLDER,
    PANEL_PLACEHOLDER,
    parse_target,
    render_document,
    render_draft,
    render_error,
    render_paragraph,
    render_search_results,
)
from .ui_table import answer_message

log = logging.getLogger(__name__)

SEARCHING = '<div class="qa-checking">正在检索文档……</div>'
EXPECTED = (QuestionError, NotReady, Busy)  # a caller's or the server's state, not a bug: not logged


def ui_examples() -> dict[str, Any]:
    """`qa/data/ui_examples.toml`: the example questions under the chat and the input's placeholder."""
    return load_data("ui_examples.toml")


def error_message(exc: BaseException) -> str:
    """A short Chinese message for the user; never a traceback."""
    if isinstance(exc, NotReady):
        return "系统加载失败，请查看服务器日志。" if exc.failed else "系统正在加载文档和模型，请稍候几秒再试。"
    if isinstance(exc, Busy):
        return "服务器繁忙，请稍后再试。"
    if isinstance(exc, HistoryError):
        return "对话太长，请清空对话后再问。"
    if isinstance(exc, EmptyQuestion):
        return "请输入问题。"
    if isinstance(exc, QuestionTooLong):
        return f"问题太长（{exc.length}字），最多{exc.limit}字。"
    if isinstance(exc, QuestionError):
        return f"问题无效：{exc}"
    return "出错了，请稍后再试。（详情见服务器日志）"


def gradio_error(exc: BaseException) -> gr.Error:
    """The error an API endpoint raises: the message of an expected error, else a generic one (logged)."""
    if not isinstance(exc, EXPECTED):
        log.exception("gradio API call failed")
        return gr.Error("internal error; the server log has the details")
    return gr.Error(str(exc))


class ChatHandlers:
    """The chat's event handlers and API endpoints, all answering from `service`."""

    def __init__(self, service: EngineService) -> None:
        self.service = service

    # -- chat -------------------------------------------------------------------------------

    def respond(self, text: str, messages: list, turns: list, docs: list[str] | None = None) -> Iterator[tuple]:
        """Ask `text`: yields (question box, chat messages, conversation) as the answer streams in.

        The draft is shown as it is written, then replaced by the verified answer; leaving the
        page (or stop) closes the stream, which stops generation. `docs`: the chooser's scope (none: all).
        """
        text = (text or "").strip()
        messages = list(messages or [])
        if not text:
            gr.Warning("请输入问题。")
            yield gr.update(), messages, turns
            return
        messages += [{"role": "user", "content": text}, {"role": "assistant", "content": SEARCHING}]
        yield "", messages, turns
        draft = ""
        stream = None
        try:
            stream = self.service.stream(text, trim_history(turns, self.service.settings), docs or None)
            labels = citation_labels(self.service.documents())
            for event in stream:
                if event.delta:
                    draft += event.delta
                    messages[-1] = {"role": "assistant", "content": render_draft(draft)}
                    yield "", messages, turns
                if event.answer is not None:
                    messages[-1] = answer_message(event.answer, labels, text)
                    turns = [*turns, {"role": "user", "content": text}, {"role": "assistant", "content": event.answer.text}]
                    yield "", messages, turns
        except Exception as exc:  # noqa: BLE001 - shown as a message, logged with the details
            if not isinstance(exc, EXPECTED):
                log.exception("chat failed for %r", text[:200])
            messages[-1] = {"role": "assistant", "content": render_error(error_message(exc))}
            yield "", messages, turns
        finally:
            if stream is not None:  # the user left or pressed stop: stop generating
                stream.close()

    def open_citation(self, target: str) -> str:
        """The paragraph panel for a citation link."""
        parsed = parse_target(target)
        if parsed is None:
            return PANEL_PLACEHOLDER
        doc, number, quote = parsed
        try:
            return render_paragraph(self.service.document(doc), number, quote)
        except KeyError:
            return render_error(f"没有找到文档 {doc} 的第{number}段。")
        except Exception as exc:  # noqa: BLE001
            return render_error(error_message(exc))

    # -- document view ----------------------------------------------------------------------

    def show(self, doc_id: str | None, selected: int | None = None, quote: str | None = None) -> tuple[str, Any]:
        """(document view, paragraph number box) for a document, with one paragraph selected."""
        if not doc_id:
            return DOC_PLACEHOLDER, gr.update()
        try:
            doc = self.service.document(doc_id)
        except KeyError:
            gr.Warning(f"没有文档 {doc_id}。")
            return DOC_PLACEHOLDER, gr.update()
        except Exception as exc:  # noqa: BLE001
            return render_error(error_message(exc)), gr.update()
        if selected is not None and not 1 <= selected <= len(doc.paragraphs):
            gr.Warning(f"{doc.title} 共{len(doc.paragraphs)}段，没有第{selected}段。")
            selected = None
        return render_document(doc, selected, quote), (selected if selected is not None else gr.update())

    def choose_document(self, doc_id: str | None) -> str:
        return self.show(doc_id)[0]

    def on_load(self, request: gr.Request) -> tuple:
        """(document choice, view, number, tabs) for a fresh page; `?doc=&p=` opens the document view there."""
        try:
            docs = self.service.documents()
        except NotReady as exc:
            gr.Warning(error_message(exc))
            return gr.update(), gr.update(), gr.update(), gr.update()
        choices = [(f"{d.title}（{d.paragraphs}段）", d.id) for d in docs]
        params = dict(request.query_params) if request is not None else {}
        parsed = parse_target("?" + urlencode(params))
        if parsed is None and params.get("doc"):
            parsed = (params["doc"], None, "")
        if parsed is None:
            first = docs[0].id if docs else None
            view, _ = self.show(first)
            return gr.update(choices=choices, value=first), view, gr.update(), gr.Tabs()
        doc, selected, quote = parsed
        view, num = self.show(doc, selected, quote)
        return gr.update(choices=choices, value=doc), view, num, gr.Tabs(selected="docs")

    def jump_to(self, doc_id: str | None, n: float | None) -> tuple:
        if n is None:
            gr.Warning("请输入段落号。")
            return gr.update(), gr.update()
        return self.show(doc_id, int(n))

    def keyword_search(self, query: str) -> str:
        query = (query or "").strip()
        if not query:
            gr.Warning("请输入关键词。")
            return ""
        try:
            titles = {d.id: d.title for d in self.service.documents()}
            return render_search_results(query, self.service.search(query, 8), titles)
        except Exception as exc:  # noqa: BLE001
            if not isinstance(exc, EXPECTED):
                log.exception("search failed for %r", query[:200])
            return render_error(error_message(exc))

    def go_to(self, target: str) -> tuple:
        """(document choice, view, number) for a link clicked inside the document view."""
        parsed = parse_target(target)
        if parsed is None:
            return gr.update(), gr.update(), gr.update()
        doc, selected, quote = parsed
        view, num = self.show(doc, selected, quote)
        return gr.update(value=doc), view, num

    # -- API endpoints for gradio_client (gr.api reads their types from the annotations) ------

    def ask(self, question: str, history: list[dict] | None = None, docs: list[str] | None = None) -> dict:
        """Answer a question from the documents (`docs`: only these); returns {answer, refused, citations, timings_ms}."""
        try:
            return self.service.answer(question, check_history(history, self.service.settings), docs or None).to_json()
        except Exception as exc:  # noqa: BLE001
            raise gradio_error(exc) from None

    def search(self, query: str, k: int = 5) -> list[dict]:
        """Rank paragraphs for a query; returns [{doc, title, paragraph, section, score, text}]."""
        try:
            query = self.service.validate(query)
            if not 1 <= int(k) <= 50:
                raise gr.Error("k must be between 1 and 50")
            titles = {d.id: d.title for d in self.service.documents()}
            return [
                {"doc": h.doc, "title": titles[h.doc], "paragraph": h.paragraph, "section": h.section, "score": round(float(h.score), 6), "text": h.text}
                for h in self.service.search(query, int(k))
            ]
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001
            raise gradio_error(exc) from None

    def paragraph(self, doc: str, paragraph: int) -> dict:
        """One paragraph: {doc, title, paragraph, section, text}."""
        try:
            d = self.service.document(doc)
            p = d.paragraph(int(paragraph))
        except KeyError as exc:
            raise gr.Error(str(exc).strip("'\"")) from None
        except Exception as exc:  # noqa: BLE001
            raise gradio_error(exc) from None
        return {"doc": d.id, "title": d.title, "paragraph": p.number, "section": p.section, "text": p.text}
