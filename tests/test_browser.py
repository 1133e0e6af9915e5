"""The web chat in a real browser: Debian's chromium driven by playwright, against the real server.

Needs `/usr/bin/chromium` (installed by `scripts/setup.sh --test`) and the `playwright` package;
playwright never downloads a browser here. Set UPDATE_SCREENSHOT=1 to refresh docs/screenshot.png
(the README's picture of the chat with an open question's cited points and one point's paragraph open).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from qa.settings import project_root
from serving import extractive_settings, serving

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
GDP = "2023年湖州市地区生产总值是多少？"
OPEN = "今年湖州准备怎样推动文化和旅游深度融合？"  # an open question: its answer is a list of cited points
DOC = "huzhou-2024-government-work-report"
TIMEOUT_MS = 20_000

# Gradio's queue uses pandas options that pandas 3 deprecates; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

if os.environ.get("CI") and not Path(CHROMIUM).exists():
    pytest.fail(f"{CHROMIUM} is missing in CI: scripts/setup.sh --test must install it", pytrace=False)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: run scripts/setup.sh --test as root (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def base(real_index):
    settings = extractive_settings(*real_index)
    with serving(settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, base):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((base, "data:", "blob:")) else None)
    yield page
    context.close()
    assert outside == [], f"the page made requests off the server: {outside}"


def ask(page, question: str, answers_before: int = 0):
    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-send").click()
    answers = page.locator("#qa-chatbot .qa-answer, #qa-chatbot .qa-error")
    answers.nth(answers_before).wait_for()
    return answers.nth(answers_before)


def test_ask_then_open_a_citation_beside_the_chat(page, base):
    page.goto(base + "/")
    answer = ask(page, GDP)
    assert "4015亿元" in answer.inner_text()
    sources = page.locator("#qa-chatbot .qa-sources")
    assert "2024年湖州市政府工作报告" in sources.inner_text() and "第4段" in sources.inner_text()

    answer.locator("a.qa-cite", has_text="[4]").click()
    panel = page.locator("#qa-panel .qa-paragraph")
    panel.wait_for()
    text = panel.inner_text()
    assert "2024年湖州市政府工作报告" in text and "第4段" in text and "一、2023年工作回顾" in text
    assert "城乡居民收入倍差进一步缩小至1.57" in text  # the whole paragraph, not just the quote
    assert panel.locator("mark").inner_text() == "地区生产总值再上新台阶，达到4015亿元，增长5.8%；"
    assert page.url.rstrip("/") == base and page.locator("#qa-chatbot .qa-answer").count() == 1  # still in the chat


def test_open_question_points_are_a_list_each_citation_opens_its_paragraph(page, base, tmp_path):
    page.goto(base + "/")
    answer = ask(page, OPEN)
    assert answer.locator("p").first.inner_text().startswith("根据文档，相关要点共")
    points = answer.locator("ol.qa-points > li")
    assert points.count() >= 3
    panel = page.locator("#qa-panel .qa-paragraph")
    for i in range(points.count()):
        point = points.nth(i)
        cite = point.locator("a.qa-cite")
        assert cite.count() == 1 and point.inner_text().endswith(cite.inner_text())  # its citation ends it
        number = int(cite.inner_text().strip("[]"))
        cite.click()
        claim = point.inner_text()[: -len(cite.inner_text())]
        sync_api.expect(panel.locator("mark")).to_have_text(claim)  # the point, highlighted in its paragraph
        assert panel.get_attribute("data-p") == str(number) and f"第{number}段" in panel.inner_text()
    assert page.url.rstrip("/") == base

    points.first.locator("a.qa-cite").click()  # for the picture: the first point open, the question in view
    sync_api.expect(panel.locator("mark")).to_have_text(points.first.inner_text()[: -len(points.first.locator("a.qa-cite").inner_text())])
    page.evaluate("() => document.querySelectorAll('#qa-chatbot *').forEach(el => { if (el.scrollHeight > el.clientHeight + 8) el.scrollTop = 0; })")
    page.screenshot(path=str(tmp_path / "screenshot.png"))
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copy2(tmp_path / "screenshot.png", project_root() / "docs" / "screenshot.png")


def test_follow_up_example_and_clear(page, base):
    page.goto(base + "/")
    page.locator(".qa-example", has_text=GDP[:10]).first.click()
    first = page.locator("#qa-chatbot .qa-answer").nth(0)
    first.wait_for()
    assert "[4]" in first.inner_text()
    second = ask(page, "那2024年的目标呢？", answers_before=1)
    assert "6%" in second.inner_text() and "[21]" in second.inner_text()

    refused = ask(page, "火星上有多少人居住？", answers_before=2)
    assert "没有相关信息" in refused.inner_text()
    assert page.locator("#qa-chatbot .qa-sources").count() == 2  # none under the refusal

    page.locator("#qa-clear").click()
    page.wait_for_function("() => document.querySelectorAll('#qa-chatbot .qa-answer').length === 0")


def test_errors_are_readable(page, base):
    page.goto(base + "/")
    error = ask(page, "问" * 600)
    assert "问题太长（600字），最多500字" in error.inner_text()
    assert "Traceback" not in page.content()


def test_document_view_deep_link_jump_and_search(page, base):
    page.goto(f"{base}/?doc={DOC}&p=21")
    selected = page.locator("#qa-docs-tab .qa-doc-para.qa-selected")
    selected.wait_for()
    assert selected.get_attribute("id") == "qa-para-21" and "预期目标" in selected.inner_text()
    assert page.locator("#qa-docs-tab .qa-doc-num").count() == 65

    page.locator("#qa-doc-number input").fill("7")
    page.locator("#qa-doc-jump").click()
    page.wait_for_selector("#qa-docs-tab #qa-para-7.qa-selected")

    page.locator("#qa-doc-keyword textarea").fill("研发投入强度")
    page.locator("#qa-doc-find").click()
    result = page.locator("#qa-doc-results a.qa-cite").first
    result.wait_for()
    number = int(re.search(r"\d+", result.inner_text()).group())
    result.click()
    page.wait_for_selector(f"#qa-docs-tab #qa-para-{number}.qa-selected")
    assert page.locator("#qa-doc-number input").input_value() == str(number)
