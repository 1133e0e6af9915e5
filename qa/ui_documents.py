"""The chat's documents: the upload area of the documents tab, the chooser that scopes the chat, and
the short names that label citations when more than one document is loaded.

`upload_area()` and `scope_chooser()` add their components to the Blocks being built;
`DocumentHandlers(service)` holds their events. An upload goes through `qa.live_store` (as
`POST /api/documents` does): all or nothing, then the chat answers from the new index at once. A
refused file is a readable Chinese message with the reason; nothing changes then. Uploads follow
the rule of the API: with API keys the page asks for one at login; without keys it takes them only
when the server listens on loopback, else the upload area says why it is closed.

Left out: removing documents from the page (`DELETE /api/documents/{id}` or `qa remove`).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import gradio as gr

from .formats import FORMATS, IngestError
from .live_store import LiveStore
from .routing import short_name
from .service import EngineService, NotReady
from .settings import split_list
from .store import Upload

log = logging.getLogger(__name__)

UPLOAD_TYPES = sorted(FORMATS)
REASONS = {  # IngestError code → what the user reads
    "too_large": "文件太大",
    "unsupported_type": "不支持这种文件类型（支持 .txt .md .docx .pdf .html）",
    "bad_name": "文件名无效",
    "empty": "文件是空的",
    "no_text": "文件中没有可读的文字（扫描件需先做文字识别）",
    "malformed": "文件已损坏或格式不对",
    "encrypted": "文件有密码保护",
    "zip_bomb": "文件解压后过大",
    "busy": "正在添加其他文档，请稍后再试",
    "not_found": "没有找到文件",
}


def citation_labels(documents: Sequence[Any]) -> dict[str, str] | None:
    """Document id → short name (江苏) when several documents are loaded; None for one (labels stay [n])."""
    if len(documents) < 2:
        return None
    return {d.id: short_name(d.id, d.title) for d in documents}


def render_added(result) -> str:
    """What an upload did, as HTML."""
    items = [f"<li>《{html.escape(d.title)}》：{d.paragraphs}段（{html.escape(d.format)}，编号 {html.escape(d.id)}）</li>" for d in result.added]
    items += [f"<li>{html.escape(name)} 已在文档库中（{html.escape(doc_id)}），未重复添加</li>" for name, doc_id in result.skipped]
    head = f"已添加{len(result.added)}个文档，用时{result.seconds:.1f}秒。" if result.added else "没有新文档。"
    return f'<div class="qa-upload-result"><div>✅ {head}</div><ul>{"".join(items)}</ul></div>'


def render_refused(exc: IngestError) -> str:
    """A refused upload: the reason in Chinese, the detail as the store said it; nothing was added."""
    reason = REASONS.get(exc.code, "无法读取文件")
    return f'<div class="qa-error">⚠️ 未添加任何文档：{html.escape(reason)}。<br><small>{html.escape(str(exc)[:300])}</small></div>'


def writes_allowed(settings) -> bool:
    from .api.uploads import is_loopback

    return bool(split_list(settings.api_keys)) or is_loopback(settings.host)


def upload_area(allowed: bool) -> SimpleNamespace:
    """The upload area of the documents tab (an accordion under the document view)."""
    with gr.Accordion("添加文档", open=False, elem_id="qa-upload"):
        if not allowed:
            gr.Markdown("此服务器未设置 API 密钥且不只在本机监听，不能从网页添加文档。")
        files = gr.File(
            label="拖入或点击选择文件（.txt .md .docx .pdf .html，可多选）", file_count="multiple", file_types=UPLOAD_TYPES,
            elem_id="qa-upload-files", interactive=allowed,
        )
        title = gr.Textbox(label="标题（只添加一个文件时可填；默认用文件自己的标题或文件名）", elem_id="qa-upload-title", interactive=allowed)
        add = gr.Button("添加到文档库", variant="primary", elem_id="qa-upload-add", interactive=allowed)
        result = gr.HTML("", elem_id="qa-upload-result")
    return SimpleNamespace(files=files, title=title, add=add, result=result)


def scope_chooser() -> gr.Dropdown:
    """The chat's scope: no choice is every document."""
    return gr.Dropdown(
        label="只问这些文档（不选则问全部文档）", choices=[], value=[], multiselect=True, elem_id="qa-scope", info=None,
    )


class DocumentHandlers:
    """Uploading and the choices that follow the documents loaded."""

    def __init__(self, service: EngineService) -> None:
        self.service = service
        self.store = LiveStore(service)

    def labels(self) -> dict[str, str] | None:
        try:
            return citation_labels(self.service.documents())
        except NotReady:
            return None

    def choices(self) -> list[tuple[str, str]]:
        """(label, id) of every document, for the chooser and the document view."""
        return [(f"{d.title}（{d.paragraphs}段）", d.id) for d in self.service.documents()]

    def library_notice(self) -> Any:
        """The chat's notice for a library with no documents (how to add the first), hidden otherwise."""
        try:
            empty = not self.service.documents()
        except NotReady:
            return gr.update()
        return gr.update(visible=empty)

    def scope_choices(self) -> Any:
        try:
            return gr.update(choices=self.choices())
        except NotReady:
            return gr.update()

    def upload(self, files: list | None, title: str | None, scope: list | None, progress=gr.Progress()) -> tuple:
        """Add the chosen files: (result, document choice, chat scope, file box, title box)."""
        paths = [Path(getattr(f, "name", f)) for f in files or []]
        if not paths:
            return '<div class="qa-error">⚠️ 请先选择文件。</div>', gr.update(), gr.update(), gr.update(), gr.update()
        progress(0.1, desc="正在读取文件并更新索引……")
        title = (title or "").strip() or None
        try:
            if title and len(paths) > 1:
                raise IngestError("a title names one document", "bad_name")
            uploads = [Upload(p.name, p.read_bytes(), title=title) for p in paths]
            result = self.store.add(uploads)
        except IngestError as exc:
            return render_refused(exc), gr.update(), gr.update(), gr.update(), gr.update()
        except Exception:  # noqa: BLE001 - shown as a message, logged with the details
            log.exception("upload failed")
            return '<div class="qa-error">⚠️ 添加失败，请查看服务器日志。</div>', gr.update(), gr.update(), gr.update(), gr.update()
        progress(1.0)
        choices = self.choices()
        chosen = result.added[0].id if result.added else gr.update()
        kept = [d for d in scope or [] if d in {doc_id for _, doc_id in choices}]
        return render_added(result), gr.update(choices=choices, value=chosen), gr.update(choices=choices, value=kept), None, ""


def wire_uploads(handlers: DocumentHandlers, area: SimpleNamespace, scope: gr.Dropdown, choice: gr.Dropdown, view: gr.HTML, show, notice=None) -> None:
    """Adding files updates the result, the document view (the new document shown), the chat's chooser
    and the empty library's notice."""
    private = dict(api_visibility="private")
    added = area.add.click(
        handlers.upload, inputs=[area.files, area.title, scope], outputs=[area.result, choice, scope, area.files, area.title],
        concurrency_limit=1, **private,
    ).then(show, inputs=[choice], outputs=[view], **private)
    if notice is not None:
        added.then(handlers.library_notice, outputs=[notice], **private)
