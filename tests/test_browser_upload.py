"""Adding a document in the browser: upload a .docx in the documents tab, then ask about it, with and
without the chooser; its citations name it (“测试 第4段”) and open in the panel; its deep link works.

Debian's chromium through playwright (as `test_browser.py`), against the real server over a private,
writable copy of the session index (extractive engine).
"""

from __future__ import annotations

import shutil
from urllib.parse import parse_qs

import pytest

from documents import seed_lines, write_docx
from test_browser import ARGS, CHROMIUM, TIMEOUT_MS, ask, sync_api

pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

NEW_ID = "测试市-报告"


@pytest.fixture(scope="module")
def base(real_index, tmp_path_factory):
    from serving import extractive_settings, serving

    work = tmp_path_factory.mktemp("browser-upload")
    for name, source in zip(("seeds", "index"), real_index):
        shutil.copytree(source, work / name)
    settings = extractive_settings(work / "seeds", work / "index")
    with serving(settings) as url:
        yield url


@pytest.fixture(scope="module")
def page(base):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS * 3)  # an upload embeds the new sentences (seconds on a busy machine)
        yield page
        browser.close()


def test_upload_a_docx_then_ask_it(page, base, tmp_path):
    report = write_docx([line.replace("湖州", "测试") for line in seed_lines()], tmp_path / "测试市 报告.docx")
    page.goto(base + "/", wait_until="load")
    page.get_by_role("tab", name="文档与引用查询").click()
    page.locator("#qa-upload").get_by_text("添加文档").first.click()
    page.locator("#qa-upload-files input[type=file]").set_input_files(str(report))
    sync_api.expect(page.locator("#qa-upload-files")).to_contain_text("测试市 报告")  # the list shows stem and extension apart
    page.locator("#qa-upload-title textarea").fill("2024年测试市政府工作报告")
    page.locator("#qa-upload-add").click()
    result = page.locator("#qa-upload-result")
    sync_api.expect(result).to_contain_text("已添加1个文档", timeout=180_000)
    assert "65段" in result.inner_text() and NEW_ID in result.inner_text()
    sync_api.expect(page.locator("#qa-docs-tab .qa-doc")).to_have_attribute("data-doc", NEW_ID, timeout=TIMEOUT_MS)  # the new document is shown

    page.get_by_role("tab", name="问答").click()
    answer = ask(page, "2023年测试市地区生产总值是多少？")  # the question names it: answered from it
    assert "4015亿元" in answer.inner_text()
    cite = answer.locator("a.qa-cite").first
    assert cite.inner_text().endswith("第4段]") and cite.inner_text() != "[4]"  # names its document
    cite.click()
    panel = page.locator("#qa-panel .qa-paragraph")
    sync_api.expect(panel).to_have_attribute("data-doc", NEW_ID, timeout=TIMEOUT_MS)

    page.locator("#qa-scope input").click()  # scope the chat to the new report, then ask without naming it
    page.get_by_role("option", name="测试市", exact=False).first.click()
    page.keyboard.press("Escape")
    answer = ask(page, "2023年地区生产总值是多少？", answers_before=1)
    assert "4015亿元" in answer.inner_text()
    assert {parse_qs(a.get_attribute("href")[1:])["doc"][0] for a in answer.locator("a.qa-cite").all()} == {NEW_ID}


def test_deep_link_to_the_uploaded_document(page, base):
    page.goto(f"{base}/?doc={NEW_ID}&p=4", wait_until="load")
    selected = page.locator("#qa-docs-tab .qa-doc-para.qa-selected")
    selected.wait_for()
    assert selected.get_attribute("id") == "qa-para-4" and "4015亿元" in selected.inner_text()
