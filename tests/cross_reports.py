"""Six short made-up provincial reports for the tests of cross-document answers in the chat.

Not a test module: `test_ui_table.py` and `test_browser_table.py` import it. Each report has a
title block, a review of last year (with last year's figures, which a table of this year's targets
must not take) and this year's targets; one states a range (广东, 4.5%—5%), one states no growth
target at all (浙江: “未提及”). `TARGETS` is what each report's target sentence says.
"""

from __future__ import annotations

import json
from pathlib import Path

QUESTION = "各省2026年的地区生产总值增长目标"
# id → (place, this year's growth target as written, or None; last year's growth)
REPORTS = {
    "guangdong-2026-government-work-report": ("广东", "4.5%—5%", "3.9%"),
    "henan-2026-government-work-report": ("河南", "5.5%左右", "5.6%"),
    "jiangsu-2026-government-work-report": ("江苏", "5%左右", "5.3%"),
    "shandong-2026-government-work-report": ("山东", "5%以上", "5.5%"),
    "sichuan-2026-government-work-report": ("四川", "5.5%左右", "5.7%"),
    "zhejiang-2026-government-work-report": ("浙江", None, "5.5%"),
}
TARGET_PARAGRAPH = 8  # the paragraph of each report that states this year's targets


def report_text(place: str, target: str | None, last: str) -> str:
    """One report: title, title block, review, plans; paragraph 8 holds this year's targets."""
    targets = (
        f"今年经济社会发展的主要预期目标是：地区生产总值增长{target}；一般公共预算收入增长2%；城镇新增就业60万人；居民消费价格涨幅2%左右。"
        if target
        else "今年我们将坚持稳中求进工作总基调，统筹发展和安全，扎实做好各项工作，确保“十五五”开好局。"
    )
    return "\n".join(
        [
            f"2026年{place}省政府工作报告",
            f"——2026年1月20日在{place}省第十四届人民代表大会第五次会议上",
            "各位代表：",
            f"现在，我代表{place}省人民政府向大会报告工作，请予审议。",
            "一、2025年工作回顾",
            f"过去一年，全省经济运行稳中有进，地区生产总值增长{last}，规模以上工业增加值增长6%，居民人均可支配收入增长5%。",
            "二、2026年目标任务",
            targets,
            "大力发展新质生产力，培育壮大人工智能、低空经济等新兴产业，建设一批先进制造业集群。",
            "持续扩大内需，深入实施提振消费专项行动，推动重大项目建设，稳定有效投资。",
        ]
    ) + "\n"


def write_reports(folder: Path) -> Path:
    """Write the six reports and their catalog into `folder` (created); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog = {}
    for doc, (place, target, last) in REPORTS.items():
        (folder / f"{doc}.txt").write_text(report_text(place, target, last), encoding="utf-8")
        catalog[f"{doc}.txt"] = {"title": f"2026年{place}省政府工作报告", "source": "made up for the tests"}
    (folder / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    return folder
