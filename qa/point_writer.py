"""Model-written open answers: the local model rewrites the checked points shorter, and each
rewritten point is verified against the point it came from before it is shown.

The engine selects and checks extractive points (`qa.points`), asks the model for one cited line
per point (`Composer.points_prompt`), then `check_written` keeps a model line only when

- it cites the paragraph of its own source point (the line of the same number), and no other;
- every figure is in its source point, under the same measure, range and qualifier (`claims`),
  and every quoted or Latin name is in the cited paragraph (or the question);
- it adds no words that neither the paragraph, its section nor the question has (`novel_terms`);
- it still says what its source says (most of its character pairs are the source's), is not
  longer than the source, does not stutter (一系列一系列) and is not a repeat of an earlier line.

A line that fails, or a point the model left out, is replaced by its source point: the answer keeps
the lead line, the number of points and their order, and never shows an unverified line.
Left out: merging or splitting points, and citations of another selected paragraph (the model
rewrites; it does not regroup).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .claims import claim_problems
from .grounding import names_in, novel_terms, numbers_in, parse_citations
from .points import Point, Points
from .retrieval import CorpusStats

NUMBERED = re.compile(r"^\s*(?:[-*•]\s*)?(\d{1,2})\s*[.、．)）:：]\s*")
CJK = re.compile(r"[\u4e00-\u9fff]")
REPEAT = re.compile(r"([\u4e00-\u9fff]{2,})\1")  # 一系列一系列: a small model's stutter
MIN_CHARS = 4  # a rewritten point shorter than this says nothing
LONGER_BY = 6  # a rewrite may exceed its source by a few characters (a restored subject), no more


@dataclass(frozen=True)
class Written:
    """The points to show (verified model lines, or their sources) and what the checks found."""

    found: Points
    problems: tuple[str, ...]
    rejected: int  # model lines that failed a check, or points the model left out
    kept: int  # model lines shown


def written_lines(text: str, count: int) -> dict[int, str]:
    """The model's reply as {point number: line}: its numbered lines by their number (a preamble
    such as 好的： is ignored), or, when no line is numbered, its lines in turn; lines beyond
    `count` and repeats of a number are ignored."""
    lines = [line.strip().strip("`").strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    numbered = [(int(m.group(1)), line[m.end() :]) for line in lines if (m := NUMBERED.match(line))]
    out: dict[int, str] = {}
    for number, line in numbered or list(enumerate(lines, start=1)):
        if 1 <= number <= count and number not in out:
            out[number] = line
    return out


def complete_lines(text: str, count: int) -> bool:
    """Does the reply so far hold all `count` points (its line numbered `count` ended by a newline,
    or `count` + 2 whole lines, whatever they are)? Generation stops there."""
    whole = [line for line in text.split("\n")[:-1] if line.strip()]
    return len(whole) >= count + 2 or any((m := NUMBERED.match(line)) and int(m.group(1)) >= count for line in whole)


def _pairs(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(len(text) - 1) if CJK.match(text[i]) and CJK.match(text[i + 1])]


def point_problems(line: str, source: Point, stats: CorpusStats, question: str, min_overlap: float) -> list[str]:
    """Why a model line may not stand for `source` (empty: it may)."""
    parsed = parse_citations(line)
    paragraph = stats.docs[source.doc].paragraph(source.paragraph)
    if not parsed.refs:
        return ["no citation"]
    foreign = [r for r in parsed.refs if r.paragraph != source.paragraph or r.doc not in (None, source.doc)]
    if foreign or parsed.malformed:
        return [f"cites {', '.join(str(r.paragraph) for r in foreign) or 'a malformed mark'}, not its paragraph {source.paragraph}"]
    text = parsed.text.strip().rstrip("。；;，,").strip()
    if len(text) < MIN_CHARS:
        return ["empty"]
    problems = []
    if len(text) > len(source.text) + LONGER_BY:
        problems.append("longer than its source")
    held = set(numbers_in(source.text))
    problems += [f"number {n} is not in its source point" for n in numbers_in(text) if n not in held]
    problems += [f"name {n} is not in paragraph {source.paragraph}" for n in names_in(text) if n.lower() not in f"{paragraph.text}{question}".lower()]
    problems += claim_problems(text, source.text)
    novel = novel_terms(text, [question, paragraph.text, paragraph.section or ""])
    if novel:
        problems.append(f"words not in paragraph {source.paragraph}: {', '.join(novel)}")
    stutter = REPEAT.search(text)
    if stutter and stutter.group(0) not in source.text:
        problems.append(f"repeats {stutter.group(1)}")
    pairs = _pairs(text)
    if pairs and sum(p in source.text for p in pairs) < min_overlap * len(pairs):
        problems.append("does not say what its source point says")
    return list(dict.fromkeys(problems))


def check_written(reply: str, found: Points, stats: CorpusStats, question: str, min_overlap: float) -> Written:
    """Each point of `found` as the model rewrote it when that line passes `point_problems`,
    else as it was; the lead, count and order of the points are unchanged."""
    lines = written_lines(reply, len(found.points))
    shown, problems, rejected, seen = [], [], 0, set()
    for number, source in enumerate(found.points, start=1):
        line = lines.get(number)
        issues = ["missing"] if line is None else point_problems(line, source, stats, question, min_overlap)
        text = parse_citations(line).text.strip().rstrip("。；;，,").strip() if line is not None else ""
        if not issues and text in seen:
            issues = ["repeats an earlier point"]
        if issues:
            rejected += 1
            problems.append(f"written point {number} replaced by its source: {'; '.join(issues)}")
            shown.append(source)
            continue
        seen.add(text)
        shown.append(Point(source.doc, source.paragraph, text))
    kept = len(found.points) - rejected
    return Written(Points(tuple(shown), found.total, found.why_refused, found.form), tuple(problems), rejected, kept)
