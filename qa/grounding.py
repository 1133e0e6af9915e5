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

CITATION = re.compile(r"[\[【［]([^\[\]【】［］]{0,40})[\]】］]")
REF = re.compile(r"(?:(?P<doc>[^\s:：,，、;；]+)\s*[:：]\s*)?第?\s*(?P<num>\d{1,5})\s*段?")
NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d])")
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
    """Figures written with digits, normalised (`4,015` → `4015`, `5.80` kept as written)."""
    return NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3})", "", text))


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
) -> Check:
    """Check an answer against the paragraphs it may cite.

    Args:
        answer: the model's answer with inline citation marks.
        evidence: (doc id, paragraph number) → paragraph text, for every paragraph shown as evidence.
        default_doc: document for marks that give only a number (one-document corpora).
        require_citation: an answer without any valid citation is a problem.
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
        if name not in support and name.lower() not in support.lower():
            problems.append(f"name {name} is not in the cited paragraphs")
    return Check(ok=not problems, problems=tuple(problems), cited=tuple(dict.fromkeys(cited)), text=parsed.text)


def agrees_with_span(answer_text: str, spans: Iterable[str], question: str) -> bool:
    """Does a generated answer say what the selector's clauses say?

    With figures in the clauses: the answer gives at least one figure and only figures of the clauses
    (figures repeated from the question, such as its year, aside).
    Without: the answer shares with the clauses some two-character word that the question lacks
    (the name or fact that answers it).
    """
    spans = list(spans)
    span_numbers = {n for s in spans for n in numbers_in(s)}
    answer_numbers = set(numbers_in(answer_text)) - (set(numbers_in(question)) - span_numbers)
    if span_numbers:
        return bool(answer_numbers) and answer_numbers <= span_numbers
    if answer_numbers:
        return False
    joined = "".join(spans)
    bigrams = {joined[i : i + 2] for i in range(len(joined) - 1)}
    return any(b in answer_text and b not in question for b in bigrams if not re.search(r"[，。；：、\s]", b))
