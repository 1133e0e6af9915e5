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
from .grounding import agrees_with_span, check_answer, clean_generation, drop_echoed_years, novel_terms, numbers_in, parse_citations
from .lexicon import measure_words
from .text import with_equivalents

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
    problems += misattributed(text, selection, question, sections)
    if selection.answer_figures:  # the learned core's checks: only figures of the asked measure and type
        wanted = {n for f in selection.answer_figures for n in numbers_in(f)}
        problems += [f"{n} is not a figure of what is asked" for n in numbers_in(text) if n not in wanted and n not in numbers_in(question)]
    marks = "".join(f"[{composer.label(c.doc, c.paragraph)}]" for c in check.cited)
    return Verdict(f"{text}{marks}", tuple(problems))


def misattributed(text: str, selection: Selection, question: str, sections: list[str]) -> list[str]:
    """Figures stated of something their sentence does not speak of: in “引进了52家首店”, 首店 (a
    word of the question) must be in the sentence that holds 52 (not the one about 单项冠军企业)."""
    import jieba.posseg as posseg  # jieba loads its dictionary on first use, not on import

    generic = measure_words()  # the claim checks judge measures
    problems = []
    sentences = [with_equivalents(f"{e.text} {section}") for (e, _), section in zip(selection.spans, sections)]
    for clause in re.split(r"[，,；;。]", text):
        figures = numbers_in(clause)
        if not figures:
            continue
        nouns = {w.word for w in posseg.cut(clause) if w.flag.startswith("n") and w.flag not in ("ns", "nr") and len(w.word) >= 2}
        nouns = {n for n in nouns if n in question and n not in generic}
        holding = [s for s in sentences if any(f in numbers_in(s) for f in figures)]
        missing = sorted(n for n in nouns if holding and not any(n in s for s in holding))
        if missing:
            problems.append(f"{'、'.join(missing)} is not in the sentence that gives {figures[0]}")
    return problems
