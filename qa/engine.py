"""The answer pipeline: question (and conversation) → verified, cited Answer.

retrieve → select evidence (extractive span, strength) → refuse if weak → generate from compact
evidence with figures constrained to the evidence's → check citations, figures and names against
the cited paragraphs and against the selector's span → repair by falling back to the span itself.
An answer that failed its check is never returned.

Holds the loaded index, embedder and generator, so that nothing is loaded per request.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Sequence

from .evidence import Selection, select_evidence
from .grounding import agrees_with_span, check_answer, clean_generation, drop_echoed_years, novel_terms, numbers_in, parse_citations
from .prompts import load_template
from .retrieval import Retriever
from .settings import Settings
from .text import clean_question

log = logging.getLogger(__name__)

FOLLOW_UP_START = ("那", "那么", "还有", "它", "其", "此外", "另外", "同时", "而", "呢")
MAX_HISTORY_TURNS = 20


class QuestionError(ValueError):
    """A question the engine will not process (empty, too long); the message says why."""


@dataclass(frozen=True)
class Citation:
    doc: str
    title: str
    paragraph: int
    quote: str


@dataclass(frozen=True)
class Answer:
    text: str
    citations: tuple[Citation, ...]
    refused: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    source: str = "extractive"  # "generated", "extractive" (selector's span) or "refusal"
    problems: tuple[str, ...] = ()  # what the check found in a rejected generation

    def to_json(self, question: str | None = None) -> dict:
        out = {
            "answer": self.text,
            "refused": self.refused,
            "citations": [asdict(c) for c in self.citations],
            "timings_ms": self.timings_ms,
        }
        return {"question": question, **out} if question is not None else out


@dataclass(frozen=True)
class Event:
    """A streaming step: a text delta while generating, then the final answer."""

    delta: str = ""
    answer: Answer | None = None


def rewrite_with_history(question: str, history: Sequence[dict] | None, retriever: Retriever) -> str:
    """Make a follow-up question self-contained for retrieval.

    “那2024年的目标呢？” after “2023年地区生产总值是多少？” becomes the follow-up followed by the
    earlier question without its years, so the new year wins and the topic is kept. A question
    that names its own topic is left alone.
    """
    if not history:
        return question
    previous = next((m.get("content", "") for m in reversed(history) if m.get("role") == "user" and m.get("content")), "")
    if not previous:
        return question
    query = retriever.prepare(question)
    topical = [t for t in query.terms if t not in {"目标", "情况", "增长", "多少"}]
    if not question.startswith(FOLLOW_UP_START) and len(topical) >= 2:
        return question
    earlier = retriever.prepare(previous).text
    earlier = re.sub(r"(?:19|20)\d{2}\s*年", "", earlier)
    return f"{question} {earlier}"


class Engine:
    """Answers questions over one loaded corpus."""

    def __init__(self, retriever: Retriever, generator=None, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.retriever = retriever
        self.generator = generator
        self.system = load_template("system", self.settings.prompts_dir)
        self.user = load_template("answer", self.settings.prompts_dir)
        self.line = load_template("evidence_line", self.settings.prompts_dir)
        # One worked example (a made-up city) shows the answer's shape: a short sentence, figures as written.
        self.example = [
            {"role": "user", "content": load_template("example_question", self.settings.prompts_dir).render()},
            {"role": "assistant", "content": load_template("example_answer", self.settings.prompts_dir).render()},
        ]
        self.refusal = load_template("refusal", self.settings.prompts_dir).render()
        self.multi_doc = len(retriever.index.docs) > 1

    # -- public API -------------------------------------------------------------------------

    def answer(self, question: str, history: Sequence[dict] | None = None, should_stop: Callable[[], bool] | None = None) -> Answer:
        """The verified answer to `question` (with `history`, a follow-up in a conversation)."""
        final = None
        for event in self.answer_stream(question, history, should_stop):
            if event.answer is not None:
                final = event.answer
        assert final is not None
        return final

    def answer_stream(self, question: str, history: Sequence[dict] | None = None, should_stop: Callable[[], bool] | None = None) -> Iterator[Event]:
        """Yield text deltas as the model writes, then one event with the verified answer.

        `should_stop` is asked between tokens; when it says True (a deadline passed, the client
        left) generation stops and the answer is the verified extractive one.
        """
        started = time.perf_counter()
        question = self.validate(question)
        timings: dict[str, float] = {}
        query_text = rewrite_with_history(question, history[-MAX_HISTORY_TURNS:] if history else None, self.retriever)
        query = self.retriever.prepare(query_text)
        hits = self.retriever.search_query(query, k=self.settings.top_k, sentences_per_hit=1000)
        selection = select_evidence(self.retriever, query, hits)
        timings["retrieval_ms"] = _ms(started)
        if not selection.answerable:
            log.info("refusing %r: %s", question[:80], selection.why_refused)
            timings["total_ms"] = _ms(started)
            yield Event(answer=Answer(self.refusal, (), True, timings, source="refusal"))
            return

        extractive = self._extractive(selection)
        if self.generator is None:
            timings["total_ms"] = _ms(started)
            yield Event(answer=self._finish(extractive, selection, timings, "extractive"))
            return

        messages, evidence, allowed = self._prompt(question, selection)
        generated = ""
        gen_started = time.perf_counter()
        first = None
        try:
            for delta in self.generator.stream(messages, max_new_tokens=self.settings.max_new_tokens, allowed_numbers=allowed):
                if first is None:
                    first = time.perf_counter()
                    timings["first_token_ms"] = _ms(started)
                generated += delta
                yield Event(delta=delta)
                if should_stop is not None and should_stop():
                    log.info("generation stopped after %d characters; answering with the evidence", len(generated))
                    timings["generation_ms"] = _ms(gen_started)
                    timings["total_ms"] = _ms(started)
                    yield Event(answer=self._finish(extractive, selection, timings, "extractive", ("generation stopped",)))
                    return
        except Exception as exc:  # noqa: BLE001 - a failing generator must not lose the answer
            log.warning("generation failed, answering with the evidence: %s", exc)
            timings["generation_ms"] = _ms(gen_started)
            timings["total_ms"] = _ms(started)
            yield Event(answer=self._finish(extractive, selection, timings, "extractive", (f"generator error: {exc}",)))
            return
        timings["generation_ms"] = _ms(gen_started)
        text, problems = self._verify(generated, selection, evidence, question)
        timings["total_ms"] = _ms(started)
        if problems:
            log.info("generated answer rejected (%s): %r", "; ".join(problems), generated)
            yield Event(answer=self._finish(extractive, selection, timings, "extractive", tuple(problems)))
        else:
            yield Event(answer=self._finish(text, selection, timings, "generated"))

    def validate(self, question: str) -> str:
        if not isinstance(question, str):
            raise QuestionError("the question must be text")
        question = clean_question(question)
        if not question:
            raise QuestionError("the question is empty")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(f"the question has {len(question)} characters; the limit is {self.settings.max_question_chars}")
        return question

    # -- steps ------------------------------------------------------------------------------

    def _label(self, doc: str, paragraph: int) -> str:
        return f"{doc}:{paragraph}" if self.multi_doc else str(paragraph)

    def _extractive(self, selection: Selection) -> str:
        """The selector's clauses, each followed by its citation."""
        return "；".join(f"{span}[{self._label(e.doc, e.paragraph)}]" for e, span in selection.spans)

    def _prompt(self, question: str, selection: Selection) -> tuple[list[dict], dict[tuple[str, int], str], list[str]]:
        """Compact evidence: only the selector's clauses, with their section, so that the figures the
        model can copy are the ones that answer (a neighbouring figure is the model's favourite error)."""
        lines, evidence, allowed = [], {}, list(numbers_in(question))
        for e, span in selection.spans:
            p = self.retriever.index.docs[e.doc].paragraph(e.paragraph)
            section = p.section or self.retriever.index.docs[e.doc].title
            lines.append(self.line.render(section=section, text=span))
            evidence[(e.doc, e.paragraph)] = p.text
            allowed.extend(numbers_in(span))
        messages = [
            {"role": "system", "content": self.system.render()},
            *self.example,
            {"role": "user", "content": self.user.render(evidence="\n".join(lines), question=question)},
        ]
        return messages, evidence, list(dict.fromkeys(allowed))

    def _verify(self, generated: str, selection: Selection, evidence: dict, question: str) -> tuple[str, list[str]]:
        """Check a generated answer; returns it with its citations, or the problems found.

        The model is not asked to cite: it saw only the selector's clauses, so its answer is
        attributed to their paragraphs. Marks it writes anyway must name those paragraphs.
        """
        generated = clean_generation(generated)
        parsed = parse_citations(generated)
        if not parsed.refs:
            generated = parsed.text + "".join(f"[{e.doc}:{e.paragraph}]" for e, _ in selection.spans)
        generated = drop_echoed_years(generated, question, "".join(evidence.values()))
        default_doc = next(iter(evidence))[0] if not self.multi_doc else None
        check = check_answer(generated, evidence, default_doc=default_doc, question=question)
        problems = list(check.problems)
        text = check.text.strip().strip("。").strip()
        spans = [s for _, s in selection.spans]
        if not text:
            problems.append("empty answer")
        if self.refusal.rstrip("。") in text or "没有相关信息" in text:
            problems.append("model refused although the evidence is strong")
        if len(text) > 150:
            problems.append("answer too long")
        if not agrees_with_span(text, spans, question):
            problems.append("does not agree with the selected evidence")
        novel = novel_terms(text, [question, *spans, *(self.retriever.index.docs[e.doc].paragraph(e.paragraph).section for e, _ in selection.spans)])
        if novel:
            problems.append(f"words in neither the question nor the evidence: {', '.join(novel)}")
        marks = "".join(f"[{self._label(c.doc, c.paragraph)}]" for c in check.cited)
        return f"{text}{marks}", problems

    def _finish(self, text: str, selection: Selection, timings: dict, source: str, problems: tuple[str, ...] = ()) -> Answer:
        """Attach citations (the quoted sentence of each cited paragraph) to a verified text."""
        refs = parse_citations(text).refs
        citations = []
        for ref in refs:
            doc_id = ref.doc or next(iter(self.retriever.index.docs))
            doc = self.retriever.index.docs[doc_id]
            quote = next((e.text for e, _ in selection.spans if (e.doc, e.paragraph) == (doc_id, ref.paragraph)), None)
            if quote is None:
                quote = next((e.text for e in selection.evidence if (e.doc, e.paragraph) == (doc_id, ref.paragraph)), doc.paragraph(ref.paragraph).text)
            citations.append(Citation(doc=doc_id, title=doc.title, paragraph=ref.paragraph, quote=quote))
        return Answer(text=text, citations=tuple(citations), refused=False, timings_ms=timings, source=source, problems=problems)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
