"""Verification of a model-written fact answer against the evidence it was given.

One place for every check, so that nothing the model writes reaches a user unchecked:

- citations name paragraphs of the evidence; figures and quoted or Latin names are in them
  (`grounding.check_answer`);
- every figure keeps the measure, range and qualifier its source gives it (`claims`);
- the answer agrees with the selector's clauses (their figures, each with its unit, one per asked
  year, all of a “分别” list) and adds no words that neither the question nor the evidence has;
- it is not a refusal, not empty and not too long.

Returns the answer with its citations, or the list of problems (the engine then answers with the
selector's clauses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .claims import claim_problems
from .evidence import Selection
from .grounding import agrees_with_span, check_answer, clean_generation, drop_echoed_years, novel_terms, parse_citations

MAX_FACT_ANSWER_CHARS = 150
ECHO = re.compile(r"(?:多少|第几|几[个项家名条所]?|什么|哪[个些里]?|吗|呢)[？?]?$")


@dataclass(frozen=True)
class Verdict:
    text: str  # the answer with its citation marks
    problems: tuple[str, ...]


def verify_fact_answer(generated: str, selection: Selection, evidence: dict, question: str, composer, refusal: str) -> Verdict:
    """Check a generated answer; the model is not asked to cite, so its answer is attributed to the
    paragraphs of the clauses it saw. Marks it writes anyway must name those paragraphs."""
    docs = composer.docs
    generated = clean_generation(generated)
    parsed = parse_citations(generated)
    if not parsed.refs:
        generated = parsed.text + "".join(f"[{e.doc}:{e.paragraph}]" for e, _ in selection.spans)
    generated = drop_echoed_years(generated, question, "".join(evidence.values()))
    default_doc = next(iter(evidence))[0] if not composer.multi_doc else None
    check = check_answer(generated, evidence, default_doc=default_doc, question=question)
    problems = list(check.problems)
    text = check.text.strip().strip("。").strip()
    spans = [s for _, s in selection.spans]
    if not text:
        problems.append("empty answer")
    if refusal.rstrip("。") in text or "没有相关信息" in text:
        problems.append("model refused although the evidence is strong")
    if ECHO.search(text):
        problems.append("repeats the question instead of answering it")
    if len(text) > MAX_FACT_ANSWER_CHARS:
        problems.append("answer too long")
    if not agrees_with_span(text, spans, question):
        problems.append("does not agree with the selected evidence")
    sections = [docs[e.doc].paragraph(e.paragraph).section for e, _ in selection.spans]
    novel = novel_terms(text, [question, *spans, *sections])
    if novel:
        problems.append(f"words in neither the question nor the evidence: {', '.join(novel)}")
    problems += claim_problems(text, "\n".join(spans))
    marks = "".join(f"[{composer.label(c.doc, c.paragraph)}]" for c in check.cited)
    return Verdict(f"{text}{marks}", tuple(problems))
