"""The web chat (Gradio), in Chinese: a chat with clickable citations, and a document view.

`create_ui(engine)` builds the Blocks; `mount_ui(app, blocks)` mounts them on a FastAPI app with
this project's theme, CSS and script (Gradio 6 takes those at mount/launch time); nothing here
starts a server. The HTML of answers, paragraphs and documents is made by plain functions
(`render_answer`, `render_paragraph`, `render_document`, …) that are tested without a server.

A citation is a link `?doc=<id>&p=<n>&q=<quote>`: the page script opens it in the paragraph panel
beside the chat; without the script (or in a new tab) the same link opens the document view at that
paragraph, so every citation is also a deep link.

Gradio API endpoints, for `gradio_client`: `/ask` (question, history → the /api/ask object),
`/search` (query, k → ranked paragraphs) and `/paragraph` (doc, paragraph → one paragraph).

Left out: user accounts, saving conversations, uploading documents.
"""

from __future__ import annotations

import html
import logging
import os
import re
from typing import Any, Iterator, Sequence
from urllib.parse import parse_qs, urlencode

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry

import gradio as gr  # noqa: E402

from .engine import Answer  # noqa: E402
from .errors import EmptyQuestion, HistoryError, QuestionError, QuestionTooLong  # noqa: E402
from .api import key_matches  # noqa: E402
from .service import Busy, NotReady, as_service, check_history, trim_history  # noqa: E402

log = logging.getLogger(__name__)

EXAMPLES = (
    "2023年湖州市地区生产总值是多少？增长了多少？",
    "那2024年的目标呢？",
    "2023年湖州农村居民人均可支配收入是多少？",
    "湖州2023年城乡居民收入倍差缩小到了多少？",
)
PANEL_PLACEHOLDER = '<div class="qa-panel-empty">点击回答中的引用编号（如 <b>[4]</b>）即可在这里查看原文段落。</div>'
DOC_PLACEHOLDER = '<div class="qa-panel-empty">请选择文档。</div>'
REF = re.compile(r"\[(?:([^\[\]:\s]+):)?(\d{1,5})\]")

# -- plain helpers (no server) ------------------------------------------------------------------


def cite_href(doc: str, paragraph: int, quote: str | None = None) -> str:
    """The link of a citation: a query string that the page script and the document view both read."""
    params = {"doc": doc, "p": str(paragraph)}
    if quote:
        params["q"] = quote
    return "?" + urlencode(params)


def parse_target(target: str) -> tuple[str, int, str] | None:
    """(doc, paragraph, quote) from a citation link or query string; None if it names no paragraph."""
    query = (target or "").split("?", 1)[-1].split("#", 1)[0]
    values = parse_qs(query)
    doc = (values.get("doc") or [""])[0]
    number = (values.get("p") or [""])[0]
    if not doc or not number.strip().isdigit():
        return None
    return doc, int(number), (values.get("q") or [""])[0]


def _cite_link(doc: str, paragraph: int, quote: str, label: str, title: str) -> str:
    href = html.escape(cite_href(doc, paragraph, quote), quote=True)
    tip = html.escape(f"{title} 第{paragraph}段", quote=True)
    return f'<a class="qa-cite" href="{href}" title="{tip}">{html.escape(label)}</a>'


def render_answer(answer: Answer) -> str:
    """An answer as HTML: each [n] a link to its paragraph, then the list of sources (none if refused)."""
    by_ref = {(c.doc, c.paragraph): c for c in answer.citations}
    by_number = {}
    for c in answer.citations:
        by_number.setdefault(c.paragraph, c)

    def link(match: re.Match) -> str:
        doc, number = match.group(1), int(match.group(2))
        c = by_ref.get((doc, number)) if doc else by_number.get(number)
        if c is None:
            return match.group(0)
        return _cite_link(c.doc, c.paragraph, c.quote, f"[{number}]", c.title)

    body = REF.sub(link, html.escape(answer.text, quote=False))
    if answer.refused or not answer.citations:
        return f'<div class="qa-answer qa-refused">{body}</div>' if answer.refused else f'<div class="qa-answer">{body}</div>'
    items = "".join(
        f'<li>{_cite_link(c.doc, c.paragraph, c.quote, f"[{c.paragraph}]", c.title)} '
        f'{html.escape(c.title)} · 第{c.paragraph}段：<span class="qa-quote">“{html.escape(c.quote)}”</span></li>'
        for c in answer.citations
    )
    return f'<div class="qa-answer">{body}</div><div class="qa-sources"><div class="qa-sources-title">来源</div><ul>{items}</ul></div>'


def render_draft(text: str) -> str:
    """Text streaming in, before the answer is verified."""
    return f'<div class="qa-draft">{html.escape(text)}<span class="qa-cursor">▍</span></div><div class="qa-checking">正在核对引用……</div>'


def _highlight(text: str, quote: str | None) -> str:
    """Escaped `text` with the quoted sentence wrapped in <mark> (if it is found)."""
    if quote:
        for candidate in (quote, quote.rstrip("；;，,。.！!？?、 ")):
            start = text.find(candidate) if candidate else -1
            if start >= 0:
                end = start + len(candidate)
                return f"{html.escape(text[:start])}<mark>{html.escape(text[start:end])}</mark>{html.escape(text[end:])}"
    return html.escape(text)


def render_paragraph(doc: Any, number: int, quote: str | None = None) -> str:
    """The paragraph panel: document title, paragraph number, section, full text, quote highlighted.

    Raises:
        KeyError: no such paragraph.
    """
    p = doc.paragraph(number)
    section = " · ".join(s for s in (p.section, p.subsection) if s)
    link = html.escape(cite_href(doc.id, number), quote=True)
    return (
        f'<div class="qa-paragraph" data-doc="{html.escape(doc.id, quote=True)}" data-p="{number}">'
        f'<div class="qa-paragraph-title">{html.escape(doc.title)}</div>'
        f'<div class="qa-paragraph-meta"><span class="qa-paragraph-number">第{number}段</span>'
        + (f'<span class="qa-paragraph-section">{html.escape(section)}</span>' if section else "")
        + f'</div><div class="qa-paragraph-text">{_highlight(p.text, quote)}</div>'
        f'<div class="qa-paragraph-link"><a href="{link}" target="_blank" rel="noopener">在文档中查看（共{len(doc.paragraphs)}段）</a></div></div>'
    )


def render_document(doc: Any, selected: int | None = None, quote: str | None = None) -> str:
    """Every paragraph of a document with its number; `selected` highlighted (and its quote)."""
    rows = []
    section = None
    for p in doc.paragraphs:
        if p.section and p.section != section and p.text != p.section:
            rows.append(f'<div class="qa-doc-section">{html.escape(p.section)}</div>')
        section = p.section
        chosen = p.number == selected
        text = _highlight(p.text, quote) if chosen else html.escape(p.text)
        rows.append(
            f'<div class="qa-doc-para{" qa-selected" if chosen else ""}" id="qa-para-{p.number}">'
            f'<span class="qa-doc-num">{p.number}</span><span class="qa-doc-text">{text}</span></div>'
        )
    return f'<div class="qa-doc" data-doc="{html.escape(doc.id, quote=True)}"><div class="qa-doc-title">{html.escape(doc.title)}（共{len(doc.paragraphs)}段）</div>{"".join(rows)}</div>'


def render_search_results(query: str, hits: Sequence[Any], docs: dict) -> str:
    """Ranked paragraphs for a keyword search; each opens in the document view."""
    if not hits:
        return f'<div class="qa-panel-empty">没有找到与“{html.escape(query)}”相关的段落。</div>'
    items = []
    for h in hits:
        title = docs[h.doc].title if h.doc in docs else h.doc
        best = h.sentences[0].text if h.sentences else h.text[:120]
        href = html.escape(cite_href(h.doc, h.paragraph, best), quote=True)
        items.append(
            f'<li><a class="qa-cite" href="{href}">第{h.paragraph}段</a> <span class="qa-search-title">{html.escape(title)}</span>'
            f'<div class="qa-search-text">{_highlight(h.text, best)}</div></li>'
        )
    return f'<div class="qa-search"><div class="qa-sources-title">“{html.escape(query)}”的检索结果</div><ol>{"".join(items)}</ol></div>'


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


def render_error(message: str) -> str:
    return f'<div class="qa-error">⚠️ {html.escape(message)}</div>'


# -- the app --------------------------------------------------------------------------------

CSS = """
.qa-answer { line-height: 1.7; }
.qa-refused { color: var(--body-text-color-subdued); }
a.qa-cite { font-weight: 600; text-decoration: none; color: var(--color-accent); cursor: pointer; padding: 0 1px; }
a.qa-cite:hover { text-decoration: underline; }
.qa-sources { margin-top: .6em; padding-top: .4em; border-top: 1px solid var(--border-color-primary); font-size: .9em; }
.qa-sources-title { font-weight: 600; color: var(--body-text-color-subdued); margin-bottom: .2em; }
.qa-sources ul, .qa-search ol { margin: 0; padding-left: 1.2em; }
.qa-quote { color: var(--body-text-color); opacity: .75; }
.qa-draft { white-space: pre-wrap; }
.qa-checking { font-size: .85em; color: var(--body-text-color-subdued); margin-top: .3em; }
.qa-cursor { animation: qa-blink 1s steps(1) infinite; }
@keyframes qa-blink { 50% { opacity: 0; } }
.qa-error { color: var(--error-text-color); }
.qa-panel-empty { color: var(--body-text-color-subdued); padding: 2.2em .5em 1em; }
.qa-paragraph { padding: 1.8em .2em .4em; }
.qa-paragraph-title { font-size: 1.1em; font-weight: 700; }
.qa-paragraph-meta { margin: .3em 0 .6em; display: flex; gap: .6em; flex-wrap: wrap; font-size: .9em; color: var(--body-text-color-subdued); }
.qa-paragraph-number { font-weight: 700; color: var(--color-accent); }
.qa-paragraph-text { line-height: 1.8; max-height: 60vh; overflow-y: auto; }
.qa-paragraph-link { margin-top: .6em; font-size: .85em; }
mark { background: #fde68a; color: inherit; padding: 0 2px; border-radius: 2px; }
.qa-doc { position: relative; max-height: 70vh; overflow-y: auto; padding-right: .5em; }
.qa-doc-title { font-weight: 700; font-size: 1.1em; margin-bottom: .5em; }
.qa-doc-section { font-weight: 700; margin: 1em 0 .3em; }
.qa-doc-para { display: flex; gap: .7em; padding: .35em .3em; border-radius: 4px; line-height: 1.7; }
.qa-doc-para.qa-selected { background: var(--color-accent-soft); outline: 2px solid var(--color-accent); }
.qa-doc-num { flex: 0 0 2.2em; text-align: right; font-weight: 700; color: var(--color-accent); }
.qa-search li { margin-bottom: .6em; }
.qa-examples-label p { margin: .2em 0 0; font-size: .9em; color: var(--body-text-color-subdued); }
.qa-search-title { color: var(--body-text-color-subdued); font-size: .9em; }
.qa-search-text { font-size: .9em; line-height: 1.6; }
"""

# Opens citation links in place: the chat's links in the paragraph panel, the document view's in
# the document view. The hidden button's event reads the link from window.__qaTarget (see `js=`).
HEAD = """
<script>
(() => {
  const open = (a, ev) => {
    let url;
    try { url = new URL(a.getAttribute('href') || '', window.location.href); } catch (e) { return; }
    if (url.origin !== window.location.origin || !url.searchParams.get('doc') || !url.searchParams.get('p')) return;
    ev.preventDefault();
    ev.stopPropagation();
    window.__qaTarget = url.search;
    const id = a.closest('#qa-docs-tab') ? 'qa-doc-go' : 'qa-cite-go';
    const el = document.getElementById(id);
    const button = el && (el.tagName === 'BUTTON' ? el : el.querySelector('button'));
    if (button) button.click();
  };
  document.addEventListener('click', (ev) => {
    const a = ev.target && ev.target.closest ? ev.target.closest('a') : null;
    if (a) open(a, ev);
  }, true);
})();
</script>
"""

SCROLL_TO_SELECTED = """
() => { setTimeout(() => {
  const box = document.querySelector('#qa-docs-tab .qa-doc');
  const el = box && box.querySelector('.qa-selected');
  if (el) box.scrollTop = Math.max(0, el.offsetTop - box.clientHeight / 3);
}, 100); }
"""


def theme() -> gr.themes.Base:
    """Gradio's default look with local fonts (no requests to font servers)."""
    return gr.themes.Default(
        primary_hue="blue",
        font=["PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", "ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "Consolas", "monospace"],
    )


def create_ui(engine: Any, examples: Sequence[str] = EXAMPLES) -> gr.Blocks:
    """The chat and document view as Gradio Blocks.

    Args:
        engine: an Engine, an EngineService, or a function that loads an Engine.
        examples: questions offered as buttons under the chat.
    """
    service = as_service(engine)

    with gr.Blocks(title="文档问答", analytics_enabled=False) as demo:
        gr.Markdown("## 文档问答\n根据文档回答问题，每个回答都标注来源段落；点击 **[编号]** 查看原文。")
        with gr.Tabs(elem_id="qa-tabs") as tabs:
            with gr.Tab("问答", id="chat", elem_id="qa-chat-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="对话",
                            elem_id="qa-chatbot",
                            height=480,
                            latex_delimiters=[],
                            feedback_options=None,
                            buttons=["copy"],
                            placeholder="问一个关于文档的问题，例如：2023年湖州市地区生产总值是多少？",
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                placeholder="输入问题，按回车发送", show_label=False, scale=5, elem_id="qa-question", max_lines=4, autofocus=True,
                            )
                            send = gr.Button("发送", variant="primary", scale=1, min_width=80, elem_id="qa-send")
                            clear = gr.Button("清空对话", variant="secondary", scale=1, min_width=80, elem_id="qa-clear")
                        gr.Markdown("示例问题：", elem_classes=["qa-examples-label"])
                        with gr.Row():
                            example_buttons = [gr.Button(text, size="sm", elem_classes=["qa-example"]) for text in examples]
                    with gr.Column(scale=2):
                        panel = gr.HTML(PANEL_PLACEHOLDER, label="原文段落", show_label=True, elem_id="qa-panel", container=True)
                history = gr.State([])
                cite_target = gr.Textbox(visible="hidden", elem_id="qa-cite-target")
                cite_go = gr.Button("open", visible="hidden", elem_id="qa-cite-go")
            with gr.Tab("文档与引用查询", id="docs", elem_id="qa-docs-tab"):
                with gr.Row():
                    doc_choice = gr.Dropdown(label="文档", choices=[], elem_id="qa-doc-choice", scale=3)
                    number = gr.Number(label="段落号", precision=0, minimum=1, elem_id="qa-doc-number", scale=1)
                    jump = gr.Button("跳转", elem_id="qa-doc-jump", scale=1)
                with gr.Row():
                    keyword = gr.Textbox(label="按关键词检索", placeholder="例如：地区生产总值", elem_id="qa-doc-keyword", scale=4)
                    find = gr.Button("检索", elem_id="qa-doc-find", scale=1)
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        doc_view = gr.HTML(DOC_PLACEHOLDER, elem_id="qa-doc-view")
                    with gr.Column(scale=2):
                        results = gr.HTML("", elem_id="qa-doc-results")
                doc_target = gr.Textbox(visible="hidden", elem_id="qa-doc-target")
                doc_go = gr.Button("go", visible="hidden", elem_id="qa-doc-go")

        # -- chat ---------------------------------------------------------------------------

        def respond(text: str, messages: list, turns: list) -> Iterator[tuple]:
            text = (text or "").strip()
            messages = list(messages or [])
            if not text:
                gr.Warning("请输入问题。")
                yield gr.update(), messages, turns
                return
            messages += [{"role": "user", "content": text}, {"role": "assistant", "content": '<div class="qa-checking">正在检索文档……</div>'}]
            yield "", messages, turns
            draft = ""
            stream = None
            try:
                stream = service.stream(text, trim_history(turns, service.settings))
                for event in stream:
                    if event.delta:
                        draft += event.delta
                        messages[-1] = {"role": "assistant", "content": render_draft(draft)}
                        yield "", messages, turns
                    if event.answer is not None:
                        messages[-1] = {"role": "assistant", "content": render_answer(event.answer)}
                        turns = [*turns, {"role": "user", "content": text}, {"role": "assistant", "content": event.answer.text}]
                        yield "", messages, turns
            except Exception as exc:  # noqa: BLE001 - shown as a message, logged with the details
                if not isinstance(exc, (QuestionError, NotReady, Busy)):
                    log.exception("chat failed for %r", text[:200])
                messages[-1] = {"role": "assistant", "content": render_error(error_message(exc))}
                yield "", messages, turns
            finally:
                if stream is not None:  # the user left or pressed stop: stop generating
                    stream.close()

        chat_io = dict(inputs=[question, chatbot, history], outputs=[question, chatbot, history], api_visibility="private")
        question.submit(respond, **chat_io)
        send.click(respond, **chat_io)
        for button, text in zip(example_buttons, examples):
            button.click(lambda t=text: t, outputs=[question], api_visibility="private", queue=False).then(respond, **chat_io)
        clear.click(lambda: ([], [], PANEL_PLACEHOLDER, ""), outputs=[chatbot, history, panel, question], api_visibility="private", queue=False)
        chatbot.clear(lambda: ([], PANEL_PLACEHOLDER), outputs=[history, panel], api_visibility="private", queue=False)

        def open_citation(target: str) -> str:
            parsed = parse_target(target)
            if parsed is None:
                return PANEL_PLACEHOLDER
            doc, number, quote = parsed
            try:
                return render_paragraph(service.document(doc), number, quote)
            except KeyError:
                return render_error(f"没有找到文档 {doc} 的第{number}段。")
            except Exception as exc:  # noqa: BLE001
                return render_error(error_message(exc))

        cite_go.click(open_citation, inputs=[cite_target], outputs=[panel], js="(x) => window.__qaTarget || x", api_visibility="private", queue=False)

        # -- document view ------------------------------------------------------------------

        def show(doc_id: str | None, selected: int | None = None, quote: str | None = None) -> tuple[str, Any]:
            if not doc_id:
                return DOC_PLACEHOLDER, gr.update()
            try:
                doc = service.document(doc_id)
            except KeyError:
                gr.Warning(f"没有文档 {doc_id}。")
                return DOC_PLACEHOLDER, gr.update()
            except Exception as exc:  # noqa: BLE001
                return render_error(error_message(exc)), gr.update()
            if selected is not None and not 1 <= selected <= len(doc.paragraphs):
                gr.Warning(f"{doc.title} 共{len(doc.paragraphs)}段，没有第{selected}段。")
                selected = None
            return render_document(doc, selected, quote), (selected if selected is not None else gr.update())

        def on_load(request: gr.Request) -> tuple:
            try:
                docs = service.documents()
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
                view, _ = show(first)
                return gr.update(choices=choices, value=first), view, gr.update(), gr.Tabs()
            doc, selected, quote = parsed
            view, num = show(doc, selected, quote)
            return gr.update(choices=choices, value=doc), view, num, gr.Tabs(selected="docs")

        demo.load(on_load, outputs=[doc_choice, doc_view, number, tabs], api_visibility="private").then(None, js=SCROLL_TO_SELECTED)

        doc_choice.input(lambda d: show(d)[0], inputs=[doc_choice], outputs=[doc_view], api_visibility="private")

        def jump_to(doc_id: str | None, n: float | None) -> tuple:
            if n is None:
                gr.Warning("请输入段落号。")
                return gr.update(), gr.update()
            return show(doc_id, int(n))

        jump_io = dict(inputs=[doc_choice, number], outputs=[doc_view, number], api_visibility="private")
        jump.click(jump_to, **jump_io).then(None, js=SCROLL_TO_SELECTED)
        number.submit(jump_to, **jump_io).then(None, js=SCROLL_TO_SELECTED)

        def keyword_search(query: str) -> str:
            query = (query or "").strip()
            if not query:
                gr.Warning("请输入关键词。")
                return ""
            try:
                return render_search_results(query, service.search(query, 8), service.engine.retriever.index.docs)
            except Exception as exc:  # noqa: BLE001
                if not isinstance(exc, (QuestionError, NotReady, Busy)):
                    log.exception("search failed for %r", query[:200])
                return render_error(error_message(exc))

        find.click(keyword_search, inputs=[keyword], outputs=[results], api_visibility="private")
        keyword.submit(keyword_search, inputs=[keyword], outputs=[results], api_visibility="private")

        def go_to(target: str) -> tuple:
            parsed = parse_target(target)
            if parsed is None:
                return gr.update(), gr.update(), gr.update()
            doc, selected, quote = parsed
            view, num = show(doc, selected, quote)
            return gr.update(value=doc), view, num

        doc_go.click(go_to, inputs=[doc_target], outputs=[doc_choice, doc_view, number], js="(x) => window.__qaTarget || x", api_visibility="private").then(
            None, js=SCROLL_TO_SELECTED
        )

        # -- API endpoints for gradio_client ------------------------------------------------

        def ask(question: str, history: list[dict] | None = None) -> dict:
            """Answer a question from the documents; returns {answer, refused, citations, timings_ms}."""
            try:
                return service.answer(question, check_history(history, service.settings)).to_json()
            except Exception as exc:  # noqa: BLE001
                raise _gradio_error(exc) from None

        def search(query: str, k: int = 5) -> list[dict]:
            """Rank paragraphs for a query; returns [{doc, title, paragraph, section, score, text}]."""
            try:
                query = service.validate(query)
                if not 1 <= int(k) <= 50:
                    raise gr.Error("k must be between 1 and 50")
                docs = service.engine.retriever.index.docs
                return [
                    {"doc": h.doc, "title": docs[h.doc].title, "paragraph": h.paragraph, "section": h.section, "score": round(float(h.score), 6), "text": h.text}
                    for h in service.search(query, int(k))
                ]
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001
                raise _gradio_error(exc) from None

        def paragraph(doc: str, paragraph: int) -> dict:
            """One paragraph: {doc, title, paragraph, section, text}."""
            try:
                d = service.document(doc)
                p = d.paragraph(int(paragraph))
            except KeyError as exc:
                raise gr.Error(str(exc).strip("'\"")) from None
            except Exception as exc:  # noqa: BLE001
                raise _gradio_error(exc) from None
            return {"doc": d.id, "title": d.title, "paragraph": p.number, "section": p.section, "text": p.text}

        # gr.api derives each endpoint's types from the annotations.
        gr.api(ask, api_name="ask")
        gr.api(search, api_name="search")
        gr.api(paragraph, api_name="paragraph")

    demo.qa_service = service  # type: ignore[attr-defined]
    return demo


def _gradio_error(exc: BaseException) -> gr.Error:
    if not isinstance(exc, (QuestionError, NotReady, Busy)):
        log.exception("gradio API call failed")
        return gr.Error("internal error; the server log has the details")
    return gr.Error(str(exc))


def mount_ui(app, blocks: gr.Blocks, path: str = "/", api_keys: Sequence[str] = ()):
    """Mount the Blocks on a FastAPI app with this module's theme, CSS and script; no share links.

    With `api_keys`, the chat asks for a login: any user name, one of the keys as the password
    (`gradio_client.Client(url, auth=("user", key))`).
    """
    blocks.queue(default_concurrency_limit=4, max_size=32)
    keys = tuple(api_keys)
    return gr.mount_gradio_app(
        app,
        blocks,
        path=path,
        footer_links=["api"],
        run_history=False,
        ssr_mode=False,
        mcp_server=False,
        show_error=True,
        theme=theme(),
        css=CSS,
        head=HEAD,
        auth=(lambda _user, password: key_matches(password or "", keys)) if keys else None,
        auth_message="请输入 API 密钥作为密码（用户名任意）。" if keys else None,
    )
