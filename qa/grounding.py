"""Citations and faithfulness: parse what the model cited and check what it wrote against it.

A small model copies figures badly (47455 → 27455) and cites loosely, so nothing it writes is
trusted until checked here:

- `parse_citations` reads `[4]`, `[4,5]`, `[4、5]`, `【4】`, `［4］`, `[第4段]`, `[doc:4]`; marks
  that name no number (`[段落编号]`) are reported as malformed.
- `numbers_in` / `names_in` extract figures and quoted or Latin names.
- `check_answer` lists every problem: a citation of a paragraph that was not in the evidence, a
  figure or name that none of the cited paragraphs contains, an answer with no citation at all.

The engine repairs or replaces an answer with problems; it never returns one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from .numbers import FIGURE, figure_value, figures

CITATION = re.compile(r"[\[【［]([^\[\]【】［］]{0,160})[\]】］]")
REF = re.compile(r"(?:(?P<doc>[^\s:：,，、;；]+)\s*[:：]\s*)?第?\s*(?P<num>\d{1,5})\s*段?")
QUOTED = re.compile(r"[“\"《「]([^”\"》」]{1,30})[”\"》」]")
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9&\-]{1,}")


@dataclass(frozen=True)
class CitationRef:
    """One cited paragraph; `doc` is None when the mark gave only a number."""

    doc: str | None
    paragraph: int


@dataclass(frozen=True)
class ParsedCitations:
    refs: tuple[CitationRef, ...]
    malformed: tuple[str, ...]  # marks that looked like citations but named no paragraph
    text: str  # the answer with every citation mark removed


def parse_citations(text: str) -> ParsedCitations:
    """All citation marks in `text`, in order, de-duplicated."""
    refs: list[CitationRef] = []
    malformed: list[str] = []
    for match in CITATION.finditer(text):
        inner = match.group(1).strip()
        found = False
        for part in re.split(r"[,，、;；\s]+(?=\S)", inner) if inner else []:
            ref = REF.fullmatch(part.strip())
            if ref:
                refs.append(CitationRef(ref.group("doc"), int(ref.group("num"))))
                found = True
        if not found:
            malformed.append(match.group(0))
    stripped = CITATION.sub("", text)
    return ParsedCitations(tuple(dict.fromkeys(refs)), tuple(malformed), re.sub(r"[ \t]+", " ", stripped).strip())


def numbers_in(text: str) -> list[str]:
    """Figures written with digits, normalised (`4,015` → `4015`, `４７` → `47`, `5.80` kept as written)."""
    return figures(text)


def names_in(text: str) -> list[str]:
    """Names the checker can recognise: quoted terms (“大禹鼎”, 《…》) and Latin words (EBK)."""
    return [m.strip() for m in QUOTED.findall(text)] + LATIN.findall(text)


@dataclass(frozen=True)
class Check:
    """Outcome of checking one answer."""

    ok: bool
    problems: tuple[str, ...]
    cited: tuple[CitationRef, ...]  # the valid citations, resolved to a document id
    text: str  # the answer without citation marks


def check_answer(
    answer: str,
    evidence: Mapping[tuple[str, int], str],
    default_doc: str | None = None,
    require_citation: bool = True,
    question: str = "",
) -> Check:
    """Check an answer against the paragraphs it may cite.

    Args:
        answer: the model's answer with inline citation marks.
        evidence: (doc id, paragraph number) → paragraph text, for every paragraph shown as evidence.
        default_doc: document for marks that give only a number (one-document corpora).
        require_citation: an answer without any valid citation is a problem.
        question: names the answer repeats from the question need no support (GDP in "GDP是多少").
    """
    parsed = parse_citations(answer)
    problems = [f"malformed citation {m}" for m in parsed.malformed]
    docs_in_evidence = {doc for doc, _ in evidence}
    cited: list[CitationRef] = []
    for ref in parsed.refs:
        doc = ref.doc if ref.doc in docs_in_evidence else None
        if doc is None and ref.doc is None:
            candidates = [d for d, n in evidence if n == ref.paragraph]
            doc = default_doc if (default_doc, ref.paragraph) in evidence else (candidates[0] if len(candidates) == 1 else None)
        if doc is None or (doc, ref.paragraph) not in evidence:
            problems.append(f"cites paragraph {ref.paragraph} that was not in the evidence")
            continue
        cited.append(CitationRef(doc, ref.paragraph))
    if require_citation and not cited:
        problems.append("no valid citation")
    support = "\n".join(evidence[(c.doc, c.paragraph)] for c in cited) if cited else ""
    support_numbers = set(numbers_in(support))
    for number in numbers_in(parsed.text):
        if number not in support_numbers:
            problems.append(f"number {number} is not in the cited paragraphs")
    for name in names_in(parsed.text):
        if name.lower() not in support.lower() and name.lower() not in question.lower():
            problems.append(f"name {name} is not in the cited paragraphs")
    return Check(ok=not problems, problems=tuple(problems), cited=tuple(dict.fromkeys(cited)), text=parsed.text)


UNIT = re.compile(r"\s*([%‰％]|[万亿千百]*[元户个家名人项所条座件次倍斤亩吨米岁年天]|[万亿千百]+)")


def _unit_after(text: str, number: str) -> str:
    """The unit written right after the first occurrence of `number` in `text` ("" if none)."""
    for match in FIGURE.finditer(text):
        if figure_value(match.group(0)) == number:
            unit = UNIT.match(text, match.end())
            return unit.group(1) if unit else ""
    return ""


def agrees_with_span(answer_text: str, spans: Iterable[str], question: str) -> bool:
    """Does a generated answer say what the selector's clauses say?

    With figures in the clauses: the answer gives at least one figure and only figures of the clauses
    (figures repeated from the question, such as its year, aside); for "分别" lists, all of them.
    Without: the answer shares with the clauses some two-character word that the question lacks
    (the name or fact that answers it).
    """
    spans = list(spans)
    span_numbers = {n for s in spans for n in numbers_in(s)}
    answer_numbers = set(numbers_in(answer_text)) - (set(numbers_in(question)) - span_numbers)
    if span_numbers:
        if any("分别" in s for s in spans) and not span_numbers <= answer_numbers:
            return False  # "A、B分别达到x和y": picking one figure is where the model goes wrong
        if any(numbers_in(s) and not answer_numbers & set(numbers_in(s)) for s in spans):
            return False  # a question about two years needs a figure from each
        if any(_unit_after(answer_text, n) != _unit_after("".join(spans), n) for n in answer_numbers):
            return False  # 10.4% written as 10.4
        return bool(answer_numbers) and answer_numbers <= span_numbers
    if answer_numbers:
        return False
    joined = "".join(spans)
    bigrams = {joined[i : i + 2] for i in range(len(joined) - 1)}
    return any(b in answer_text and b not in question for b in bigrams if not re.search(r"[，。；：、\s]", b))


def clean_generation(text: str) -> str:
    """First line of a model's reply, without code fences, answer labels or brackets around non-citations."""
    text = text.strip().strip("`").strip()
    text = text.splitlines()[0].strip() if text else ""
    text = re.sub(r"^(?:回答|答案|答)[:：]\s*", "", text)

    def unbracket(match: re.Match) -> str:
        inner = match.group(1)
        parts = [p for p in re.split(r"[,，、;；\s]+", inner.strip()) if p]
        return match.group(0) if parts and all(REF.fullmatch(p) for p in parts) else inner

    return CITATION.sub(unbracket, text)


def novel_terms(answer_text: str, sources: Iterable[str]) -> list[str]:
    """Words of two or more characters in the answer that no source contains: invented content.

    A word counts as present when it, or at least half of its character pairs, occurs in a source.
    """
    from .text import tokenize

    from .lexicon import lexicon

    connectives = set(lexicon()["connectives"])
    joined = "".join(sources).lower()
    novel = []
    for token in tokenize(answer_text):
        if len(token) < 2 or token in connectives or token in joined or re.fullmatch(r"[\d.%]+", token):
            continue
        # jieba sometimes cuts across words (谷聚引 from 西塞科学谷聚引): judge by character pairs
        pairs = [token[i : i + 2] for i in range(len(token) - 1)]
        if sum(p in joined for p in pairs) * 2 >= len(pairs) and len(pairs) > 1:
            continue
        novel.append(token)
    return list(dict.fromkeys(novel))


def drop_echoed_years(answer: str, question: str, support: str) -> str:
    """Remove a year the answer repeats from the question when the cited text does not state it.

    "2024年地区生产总值增长6%左右" cites a paragraph that sits under the heading "二、2024年工作安排"
    but never writes 2024 itself; the year is the question's, and an answer must hold no figure
    that its paragraphs lack.
    """
    for year in re.findall(r"((?:19|20)\d{2})\s*年", question):
        if year not in numbers_in(support):
            answer = re.sub(rf"{year}\s*年(?:的)?", "", answer)
    return answer.strip("，,")
