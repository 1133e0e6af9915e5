"""Named sets (“六个新高地”, “五新”, 金融“五篇大文章”, 三个“一号工程”): the points that spell one out.

Reports spell a set out in one of five ways, tried from the most explicit:

1. a glossary entry: a paragraph that is the name and a colon, its definition the next paragraph
   (`10.金融“五篇大文章”：` / `指科技金融、绿色金融……`), or one sentence `“X”：指……` / `“X”是指……`;
2. sub-headings that carry the set's name (`（一）打造……新高地`);
3. the name followed by one clause per member, separated by `；` (`抓好“五新”，加快引育新主体……；
   着力拓展新市场……；…`), as many as the set counts;
4. a sentence that lists short items right after or before the name (`“五新”：新主体、新市场…`);
5. members scattered over the report, each a quoted name of the same pattern with a word inside
   (`“一号发展工程”`, `“一号改革工程”`, `“一号开放工程”` for 三个“一号工程”), when there are as
   many as the set counts.
"""

from __future__ import annotations

import re

from .analysis import Analysis
from .retrieval import CorpusStats

SENTENCE = re.compile(r"(?<=[。；！？])")
GLOSS_HEAD = re.compile(r"^\s*(?:\d+[.．、]|[（(][一二三四五六七八九十\d]+[）)])?\s*(.{1,30}?)[：:]\s*$")
DEFINES = re.compile(r"^[：:]?\s*(?:是指|指的是|指|即|是)")
QUOTED = re.compile(r"“([^”]{2,16})”")
MEMBER_DELIMITERS = re.compile(r"[，。；、：,;:]")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if s.strip()]


def _points(doc: str, found: list[tuple[int, str]], form: str = "set"):
    from .points import Point, Points

    return Points(tuple(Point(doc, number, text) for number, text in found), len(found), form=form)


def named_set_points(stats: CorpusStats, docs: list[str], analysis: Analysis, limit: int):
    """The points that spell out the set the question names, from the first of `docs` (best
    retrieved first) that spells it out in the most explicit way, or None when none does."""
    from .points import cut

    name = analysis.named_set
    if not name:
        return None
    for finder in (_glossary, _sub_headings, _member_clauses, _listed, _scattered_members):
        for doc in docs:
            found = finder(stats.docs[doc].paragraphs, name, analysis.count)
            if found:
                long = finder in (_glossary, _listed)
                return _points(doc, [(n, cut(t, 2 * limit if long else limit)) for n, t in found])
    return None


def _glossary(paragraphs, name: str, count: int | None) -> list[tuple[int, str]]:
    for i, p in enumerate(paragraphs):
        m = GLOSS_HEAD.match(p.text)
        if m and name in m.group(1) and i + 1 < len(paragraphs) and DEFINES.match(paragraphs[i + 1].text):
            return [(paragraphs[i + 1].number, paragraphs[i + 1].text)]
        for sentence in _sentences(p.text):
            at = sentence.find(name)
            rest = sentence[at + len(name) :].lstrip("”’\"") if at >= 0 else ""
            if at >= 0 and DEFINES.match(rest) and len(rest) > 6:
                return [(p.number, sentence)]
    return []


def _sub_headings(paragraphs, name: str, count: int | None) -> list[tuple[int, str]]:
    key = name[-3:] if len(name) > 3 else name
    subs = [p for p in paragraphs if p.subsection and p.text.startswith(p.subsection) and key in p.subsection]
    return [(p.number, p.subsection) for p in subs] if len(subs) >= 2 else []


def _listed(paragraphs, name: str, count: int | None) -> list[tuple[int, str]]:
    best: tuple[int, int, str] | None = None
    for p in paragraphs:
        for sentence in _sentences(p.text):
            at = sentence.find(name)
            if at < 0:
                continue
            items, text = _enumeration(sentence, at, len(name))
            if items >= 2 and (not count or items == count) and (best is None or items > best[0]):
                best = (items, p.number, text)
    return [(best[1], best[2])] if best is not None else []


def _enumeration(sentence: str, at: int, length: int) -> tuple[int, str]:
    """How many short items, separated by 、, one clause lists right after (or right before) a set's
    name, and the text that holds the name and its list (“五新”发展，即新主体、新市场… / 做好A、B、C
    等“三篇文章”)."""
    def items(clause: str) -> int:
        parts = [x.strip("“”\"：:（）()即等 ") for x in clause.split("、")]
        return len(parts) if len(parts) >= 2 and all(1 <= len(x) <= 10 for x in parts) else 0

    after = sentence[at : at + length + 80]
    before = sentence[max(0, at - 80) : at + length]
    n_after = max((items(c) for c in re.split(r"[，,；。]", after[length:])[:2]), default=0)
    n_before = items(re.split(r"[。，,；]", before[:-length])[-1])
    return (n_after, after) if n_after >= n_before else (n_before, before)


def _member_clauses(paragraphs, name: str, count: int | None) -> list[tuple[int, str]]:
    if not count or count < 2:
        return []
    for p in paragraphs:
        parts = [s for s in SENTENCE.split(p.text) if s.strip()]
        for i, part in enumerate(parts):
            if name not in part:
                continue
            members = parts[i : i + count]
            if len(members) == count and all(m.endswith("；") for m in members[:-1]):
                first = members[0][members[0].find(name) :].split("，", 1)[-1]
                return [(p.number, text.strip().rstrip("；。")) for text in [first, *members[1:]]]
    return []


def _scattered_members(paragraphs, name: str, count: int | None) -> list[tuple[int, str]]:
    """Quoted names that hold the set's name with a few characters inside (一号|发展|工程)."""
    if not count or count < 2 or len(name) < 3:
        return []
    head, tail = name[: len(name) // 2], name[len(name) // 2 :]
    pattern = re.compile(f"^{re.escape(head)}.{{1,3}}{re.escape(tail)}$")
    found: dict[str, tuple[int, str]] = {}
    for p in paragraphs:
        for m in QUOTED.finditer(p.text):
            member = m.group(1)
            if member in found or not pattern.match(member):
                continue
            start = max((d.end() for d in MEMBER_DELIMITERS.finditer(p.text, 0, m.start())), default=0)
            found[member] = (p.number, p.text[start : m.end()])
    return list(found.values()) if len(found) == count else []
