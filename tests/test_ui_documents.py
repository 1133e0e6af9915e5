"""The chat's document helpers as plain functions: citation labels with short names, upload messages."""

from __future__ import annotations

from types import SimpleNamespace

from qa.engine import Answer, Citation
from qa.formats import IngestError
from qa.store import AddResult, StoredDocument
from qa.ui_documents import citation_labels, render_added, render_refused
from qa.ui_render import render_answer

JS = "jiangsu-2026-government-work-report"
GD = "guangdong-2026-government-work-report"


def doc(doc_id: str, title: str) -> SimpleNamespace:
    return SimpleNamespace(id=doc_id, title=title, paragraphs=90)


def test_several_documents_label_citations_with_short_names():
    labels = citation_labels([doc(JS, "2026年江苏省政府工作报告"), doc(GD, "2026年广东省政府工作报告")])
    assert labels == {JS: "江苏", GD: "广东"}
    assert citation_labels([doc(JS, "2026年江苏省政府工作报告")]) is None  # one document: [n] as before
    answer = Answer("江苏增长5%左右[12]，广东增长4.5%[8]", (Citation(JS, "2026年江苏省政府工作报告", 12, "增长5%左右"), Citation(GD, "2026年广东省政府工作报告", 8, "增长4.5%")), refused=False)
    shown = render_answer(answer, labels)
    assert ">[江苏 第12段]</a>" in shown and ">[广东 第8段]</a>" in shown and ">[12]<" not in shown
    assert ">[12]</a>" in render_answer(answer)


def test_upload_messages_are_readable():
    added = AddResult([StoredDocument("江苏", "2026年江苏省政府工作报告", 93, "docx")], [("copy.txt", "huzhou")], seconds=8.1)
    shown = render_added(added)
    assert "已添加1个文档，用时8.1秒" in shown and "《2026年江苏省政府工作报告》：93段" in shown and "copy.txt 已在文档库中" in shown
    refused = render_refused(IngestError("secret.pdf is encrypted; save a copy without a password", "encrypted"))
    assert "未添加任何文档：文件有密码保护" in refused and "secret.pdf" in refused
    assert "<script>" not in render_refused(IngestError("<script>x</script>.txt: bad", "malformed"))
