"""Open answers from the report's own outline, when the retrieved paragraphs sit inside one.

- a sub-heading about the question's topic (`（九）推动海洋经济高质量发展……` over four paragraphs,
  each opening with its own lead phrase): one point per paragraph under it, its lead first;
- an ordinal series (`一是聚焦经济建设这一中心工作。` … `五是……`), each item a short paragraph or
  sentence followed by its body: one point per item.

Both are used only when the evidence points into them (the best paragraphs lie under the heading
or inside the series), so a question about one paragraph still gets that paragraph's points.
"""

from __future__ import annotations

import re

from .retrieval import CorpusStats, Hit

SERIES_ITEM = re.compile(r"^([一二三四五六七八九十])是")
ORDINALS = "一二三四五六七八九十"
SENTENCE = re.compile(r"(?<=[。；！？])")


def _lead(text: str, limit: int) -> str:
    from .points import cut

    return cut(text, limit)


def subsection_points(stats: CorpusStats, ranked: list[Hit], keys: list[str], limit: int, most: int):
    """Points of the sub-heading that holds the question's key words and most of the best paragraphs."""
    from .points import Point, Points

    if not ranked or not keys:
        return None
    doc = stats.docs[ranked[0].doc]
    heading = doc.paragraph(ranked[0].paragraph).subsection
    if not heading or not all(k in heading for k in keys):
        return None
    if sum(doc.paragraph(h.paragraph).subsection == heading for h in ranked[:3] if h.doc == doc.id) < 2:
        return None
    body = [p for p in doc.paragraphs if p.subsection == heading and not p.text.startswith(heading[:8])]
    if len(body) < 2:
        return None
    points = [Point(doc.id, p.number, _lead(p.text, limit)) for p in body[:most]]
    return Points(tuple(points), len(body), form="section")


def series_points(stats: CorpusStats, ranked: list[Hit], limit: int, most: int):
    """Points of the 一是…二是… series that the best paragraph opens, closes or lies inside."""
    from .points import Point, Points

    for hit in ranked[:2]:
        doc = stats.docs[hit.doc]
        items = _series_around(doc.paragraphs, hit.paragraph)
        if len(items) >= 3:
            points = [Point(doc.id, p.number, _lead(p.text, limit)) for p in items[:most]]
            return Points(tuple(points), len(items), form="set")
    return None


def _series_around(paragraphs, number: int) -> list:
    """The paragraphs that open the items of an ordinal series within reach of paragraph `number`."""
    by_number = {p.number: p for p in paragraphs}
    first = next((n for n in range(number, max(0, number - 3), -1) if n in by_number and SERIES_ITEM.match(by_number[n].text)), None)
    start = first if first is not None else number + 1
    if start not in by_number or not SERIES_ITEM.match(by_number[start].text):
        return []
    # walk back to 一是, then forward through 二是, 三是… (each item may have body paragraphs)
    while True:
        ordinal = ORDINALS.index(SERIES_ITEM.match(by_number[start].text).group(1))
        if ordinal == 0:
            break
        previous = next((n for n in range(start - 1, max(0, start - 4), -1) if n in by_number and SERIES_ITEM.match(by_number[n].text)), None)
        if previous is None or ORDINALS.index(SERIES_ITEM.match(by_number[previous].text).group(1)) != ordinal - 1:
            return []
        start = previous
    items, n, expected = [], start, 0
    while n in by_number and n - (items[-1].number if items else n) <= 3:
        m = SERIES_ITEM.match(by_number[n].text)
        if m and ORDINALS.index(m.group(1)) == expected:
            items.append(by_number[n])
            expected += 1
        n += 1
    if not items or not (items[0].number <= number <= items[-1].number + 3 or number == items[0].number - 1):
        return []
    return items
