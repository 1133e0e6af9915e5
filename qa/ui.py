"""The web chat (Gradio), in Chinese: the page's layout, look and script, and mounting it.

`create_ui(engine)` lays out the Blocks (a chat with a paragraph panel beside it, and a document
view) and wires each event to a method of `qa.ui_handlers.ChatHandlers`; the HTML comes from the
plain functions of `qa.ui_render`. `mount_ui(app, blocks)` mounts the Blocks on a FastAPI app with
this project's theme, CSS and script (Gradio 6 takes those at mount/launch time); nothing here
starts a server. The example questions are data: `qa/data/ui_examples.toml`.

A citation is a link `?doc=<id>&p=<n>&q=<quote>`: the page script opens it in the paragraph panel
beside the chat; without the script (or in a new tab) the same link opens the document view at that
paragraph, so every citation is also a deep link.

Gradio API endpoints, for `gradio_client`: `/ask` (question, history → the /api/ask object),
`/search` (query, k → ranked paragraphs) and `/paragraph` (doc, paragraph → one paragraph).

The documents tab also adds documents (`qa.ui_documents`), and a chooser above the chat keeps
questions to some of them.

Left out: user accounts, saving conversations, removing documents from the page.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any, Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry

import gradio as gr  # noqa: E402

from .api import key_matches  # noqa: E402
from .live_store import EMPTY_LIBRARY  # noqa: E402
from .service import as_service  # noqa: E402
from .ui_documents import DocumentHandlers, scope_chooser, upload_area, wire_uploads, writes_allowed  # noqa: E402
from .ui_handlers import ChatHandlers, ui_examples  # noqa: E402
from .ui_render import DOC_PLACEHOLDER, PANEL_PLACEHOLDER  # noqa: E402

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
.qa-answer p, .qa-draft p { margin: 0 0 .3em; }
ol.qa-points { margin: .2em 0 0; padding-left: 1.8em; list-style: decimal; }
ol.qa-points > li { margin: .25em 0; padding-left: .2em; }
ul.qa-subpoints { margin: .1em 0 .2em; padding-left: 1.2em; list-style: disc; }
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

READ_TARGET = "(x) => window.__qaTarget || x"  # the link the page script clicked

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


def create_ui(engine: Any, examples: Sequence[str] | None = None) -> gr.Blocks:
    """The chat and document view as Gradio Blocks.

    Args:
        engine: an Engine, an EngineService, or a function that loads an Engine.
        examples: questions offered as buttons under the chat (default: `qa/data/ui_examples.toml`).
    """
    service = as_service(engine)
    handlers = ChatHandlers(service)
    documents = DocumentHandlers(service)
    data = ui_examples()
    examples = tuple(data["questions"] if examples is None else examples)
    with gr.Blocks(title="文档问答", analytics_enabled=False) as demo:
        gr.Markdown("## 文档问答\n根据文档回答问题，每个回答都标注来源段落；点击 **[编号]** 查看原文。")
        notice = gr.Markdown(f"**{EMPTY_LIBRARY}**", visible=False, elem_id="qa-empty-library")
        with gr.Tabs(elem_id="qa-tabs") as tabs:
            with gr.Tab("问答", id="chat", elem_id="qa-chat-tab"):
                scope = scope_chooser()
                chat = _chat_tab(examples, data["placeholder"])
                chat.scope = scope
            with gr.Tab("文档与引用查询", id="docs", elem_id="qa-docs-tab"):
                docs = _docs_tab()
                uploads = upload_area(writes_allowed(service.settings))
        _wire_chat(handlers, chat, examples)
        _wire_docs(handlers, docs, tabs, demo)
        demo.load(documents.scope_choices, outputs=[scope], api_visibility="private")
        demo.load(documents.library_notice, outputs=[notice], api_visibility="private")
        wire_uploads(documents, uploads, scope, docs.choice, docs.view, handlers.choose_document, notice)
        # gr.api derives each endpoint's types from the annotations.
        gr.api(handlers.ask, api_name="ask")
        gr.api(handlers.search, api_name="search")
        gr.api(handlers.paragraph, api_name="paragraph")
    return demo


def _chat_tab(examples: Sequence[str], placeholder: str) -> SimpleNamespace:
    """The chat, its input row, the example buttons and the paragraph panel beside it."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(
                label="对话",
                elem_id="qa-chatbot",
                height=480,
                latex_delimiters=[],
                feedback_options=None,
                buttons=["copy"],
                placeholder=placeholder,
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
    return SimpleNamespace(
        chatbot=chatbot,
        question=question,
        send=send,
        clear=clear,
        example_buttons=example_buttons,
        panel=panel,
        history=gr.State([]),
        cite_target=gr.Textbox(visible="hidden", elem_id="qa-cite-target"),
        cite_go=gr.Button("open", visible="hidden", elem_id="qa-cite-go"),
    )


def _docs_tab() -> SimpleNamespace:
    """The document view: choice, jump to a number, keyword search, the document and the results."""
    with gr.Row():
        choice = gr.Dropdown(label="文档", choices=[], elem_id="qa-doc-choice", scale=3)
        number = gr.Number(label="段落号", precision=0, minimum=1, elem_id="qa-doc-number", scale=1)
        jump = gr.Button("跳转", elem_id="qa-doc-jump", scale=1)
    with gr.Row():
        keyword = gr.Textbox(label="按关键词检索", placeholder="例如：地区生产总值", elem_id="qa-doc-keyword", scale=4)
        find = gr.Button("检索", elem_id="qa-doc-find", scale=1)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            view = gr.HTML(DOC_PLACEHOLDER, elem_id="qa-doc-view")
        with gr.Column(scale=2):
            results = gr.HTML("", elem_id="qa-doc-results")
    return SimpleNamespace(
        choice=choice,
        number=number,
        jump=jump,
        keyword=keyword,
        find=find,
        view=view,
        results=results,
        target=gr.Textbox(visible="hidden", elem_id="qa-doc-target"),
        go=gr.Button("go", visible="hidden", elem_id="qa-doc-go"),
    )


def _wire_chat(handlers: ChatHandlers, chat: SimpleNamespace, examples: Sequence[str]) -> None:
    private = dict(api_visibility="private")
    chat_io = dict(inputs=[chat.question, chat.chatbot, chat.history, chat.scope], outputs=[chat.question, chat.chatbot, chat.history], **private)
    chat.question.submit(handlers.respond, **chat_io)
    chat.send.click(handlers.respond, **chat_io)
    for button, text in zip(chat.example_buttons, examples):
        button.click(lambda t=text: t, outputs=[chat.question], queue=False, **private).then(handlers.respond, **chat_io)
    chat.clear.click(lambda: ([], [], PANEL_PLACEHOLDER, ""), outputs=[chat.chatbot, chat.history, chat.panel, chat.question], queue=False, **private)
    chat.chatbot.clear(lambda: ([], PANEL_PLACEHOLDER), outputs=[chat.history, chat.panel], queue=False, **private)
    chat.cite_go.click(handlers.open_citation, inputs=[chat.cite_target], outputs=[chat.panel], js=READ_TARGET, queue=False, **private)


def _wire_docs(handlers: ChatHandlers, docs: SimpleNamespace, tabs: gr.Tabs, demo: gr.Blocks) -> None:
    private = dict(api_visibility="private")
    demo.load(handlers.on_load, outputs=[docs.choice, docs.view, docs.number, tabs], **private).then(None, js=SCROLL_TO_SELECTED)
    docs.choice.input(handlers.choose_document, inputs=[docs.choice], outputs=[docs.view], **private)
    jump_io = dict(inputs=[docs.choice, docs.number], outputs=[docs.view, docs.number], **private)
    docs.jump.click(handlers.jump_to, **jump_io).then(None, js=SCROLL_TO_SELECTED)
    docs.number.submit(handlers.jump_to, **jump_io).then(None, js=SCROLL_TO_SELECTED)
    docs.find.click(handlers.keyword_search, inputs=[docs.keyword], outputs=[docs.results], **private)
    docs.keyword.submit(handlers.keyword_search, inputs=[docs.keyword], outputs=[docs.results], **private)
    go_io = dict(inputs=[docs.target], outputs=[docs.choice, docs.view, docs.number], js=READ_TARGET, **private)
    docs.go.click(handlers.go_to, **go_io).then(None, js=SCROLL_TO_SELECTED)


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
