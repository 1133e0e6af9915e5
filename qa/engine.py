"""The answer pipeline: question (and conversation) → verified, cited Answer.

analyse (kind, measure, language) → retrieve → for open kinds, select cited points and verify each;
for fact kinds, select the clauses that answer → refuse when they do not (or say what the documents
hold instead, for a near miss) → generate one sentence from those clauses with figures constrained
to theirs → verify the sentence → fall back to the clauses themselves. An answer that failed its
check is never returned.

The engine is given its parts (retriever, generator, settings; see `builder`) and loads nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Callable, Iterator, Sequence

from .analysis import Analysis, analyze
from .answer.decide import learned_selection
from .answer.models import AnswerModels, load_models
from .answer.open_rank import OPEN_DEPTH, OPEN_NAMES, rank_open
from .answer.definitions import DEF_NAMES, best_definition
from .answer.features import NAMES
from .answer.parts import PART_NAMES, best_part, part_points
from .compose import Composer
from .cross import cross_rows, satisfies
from .cross_plan import CrossPlan, plan_cross
from .errors import EmptyQuestion, NotText, QuestionError, QuestionTooLong  # noqa: F401 - QuestionError re-exported
from .evidence import Selection, select_evidence, term_weights
from .grounding import parse_citations
from .lexicon import tuning
from .live_store import EMPTY_LIBRARY
from .normalize import QuestionDoor
from .point_writer import check_written, complete_lines
from .named_sets import named_set_points
from .points import Point, Points, select_points, verify_points
from .retrieval import Retriever
from .routing import check_scope, named_documents, without_names
from .settings import Settings
from .text import clean_question
from .verify import verify_fact_answer

log = logging.getLogger(__name__)

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
    source: str = "extractive"  # "generated", "extractive" (the selector's clauses or points) or "refusal"
    problems: tuple[str, ...] = ()  # what the checks found in a rejected generation or dropped point
    kind: str = ""  # the kind of answer the question asked for (number, plan, compare, …)
    rows: tuple = ()  # cross-document answers: one `qa.cross.Row` per document

    def to_json(self, question: str | None = None) -> dict:
        out = {
            "answer": self.text,
            "refused": self.refused,
            "kind": self.kind,
            "citations": [asdict(c) for c in self.citations],
            "timings_ms": self.timings_ms,
        }
        if self.rows:
            out["rows"] = [r.to_json() for r in self.rows]
        return {"question": question, **out} if question is not None else out


@dataclass(frozen=True)
class Event:
    """A streaming step: a text delta while generating, then the final answer."""

    delta: str = ""
    answer: Answer | None = None


class Engine:
    """Answers questions over one loaded corpus."""

    def __init__(self, retriever: Retriever, generator=None, settings: Settings | None = None, models: AnswerModels | None = None) -> None:
        self.settings = settings or Settings()
        self.retriever = retriever
        self.generator = generator
        self.models = models if models is not None or self.settings.answer_core == "rules" else shipped_models()
        self.compose = Composer(retriever.index.docs, self.settings.prompts_dir)
        self.refusal = self.compose.refusal
        self.multi_doc = self.compose.multi_doc
        self.door = QuestionDoor(retriever)

    # -- public API -------------------------------------------------------------------------

    def answer(
        self, question: str, history: Sequence[dict] | None = None, should_stop: Callable[[], bool] | None = None, docs: Sequence[str] | None = None
    ) -> Answer:
        """The verified answer to `question` (with `history`, a follow-up in a conversation; with
        `docs`, from those documents only)."""
        final = None
        for event in self.answer_stream(question, history, should_stop, docs):
            if event.answer is not None:
                final = event.answer
        assert final is not None
        return final

    def answer_stream(
        self, question: str, history: Sequence[dict] | None = None, should_stop: Callable[[], bool] | None = None, docs: Sequence[str] | None = None
    ) -> Iterator[Event]:
        """Yield text deltas as the model writes, then one event with the verified answer.

        `should_stop` is asked between tokens; when it says True (a deadline passed, the client
        left) generation stops and the answer is the verified extractive one. Every door's question
        enters here through `self.door` (`qa.normalize`): normalised, misspellings read as the
        documents' words, the answer in the question's script and saying what it read.
        """
        reading = self.door.read(self.validate(question))
        if not self.retriever.index.docs:
            yield Event(answer=Answer(EMPTY_LIBRARY, (), True, {}, "refusal", ("no documents",)))
            return
        for event in self._answer_stream(reading.text, self.door.history(history), should_stop, docs):
            yield reading.written_back(event, self.retriever.index)

    def _answer_stream(self, question: str, history, should_stop, docs) -> Iterator[Event]:
        started = time.perf_counter()
        question = self.validate(question)
        timings: dict[str, float] = {}
        all_docs = self.retriever.index.docs
        scope = check_scope(docs, all_docs)
        analysis = analyze(question, history[-self.settings.max_history_turns :] if history else None)
        named = [d for d in named_documents(analysis.search_text, all_docs) if not scope or d in scope]
        plan = plan_cross(question, named, all_docs, scope)
        if plan is not None:
            yield from self._cross(plan, question, timings, started)
            return
        is_open = analysis.open or analysis.kind == "definition"
        query, hits, stats = self.retrieve(analysis, named, scope, k=OPEN_DEPTH if is_open and self.models is not None else None)
        part = self.whole_part(analysis, query, hits, stats)
        if part is not None:
            timings["retrieval_ms"] = timings["total_ms"] = _ms(started)
            yield Event(answer=self._finish(self.compose.points(part), None, timings, "extractive", kind=analysis.kind))
            return
        if is_open:
            yield from self._open_answer(analysis, query, hits, stats, timings, started, should_stop)
            return
        selection = self.select(stats, query, hits, analysis)
        timings["retrieval_ms"] = _ms(started)
        if not selection.answerable:
            log.info("refusing %r: %s", question[:80], selection.why_refused)
            timings["total_ms"] = _ms(started)
            yield Event(answer=self._refusal(selection, analysis, timings))
            return
        if self.generator is None or analysis.kind not in tuning()["generation"]["model_kinds"]:
            timings["total_ms"] = _ms(started)
            yield Event(answer=self._finish(self.compose.extractive(selection), selection, timings, "extractive", kind=analysis.kind))
            return
        yield from self._generate(question, selection, analysis, timings, started, should_stop)

    def retrieve(self, analysis: Analysis, named: Sequence[str], scope: tuple[str, ...], k: int | None = None):
        """Query, hits and word statistics for one analysed question, within the documents it
        names (else the scope, else all); the documents' names leave the query once routed.
        `k`: paragraphs to retrieve (default: the `top_k` setting)."""
        chosen = tuple(named) or scope
        all_docs = self.retriever.index.docs
        query = self.retriever.prepare(without_names(analysis.search_text, named, all_docs), doc=chosen[0] if len(chosen) == 1 else None)
        query = replace(query, terms=analysis.terms(query.terms))
        hits = self.retriever.search_query(query, k=k or self.settings.top_k, sentences_per_hit=1000, docs=chosen or None)
        return query, hits, self.retriever.stats_for(chosen)

    def fact_evidence(self, question: str, history: Sequence[dict] | None = None) -> Selection | None:
        """The evidence a single-document fact question gets (None for open and cross questions):
        what `scripts/fit_tuning.py` fits the refusal thresholds on, exactly as answers use it."""
        analysis = analyze(self.door.read(self.validate(question)).text, history)
        all_docs = self.retriever.index.docs
        named = named_documents(analysis.search_text, all_docs)
        if analysis.open or analysis.kind == "definition" or plan_cross(question, named, all_docs) is not None:
            return None
        query, hits, stats = self.retrieve(analysis, named, ())
        return self.select(stats, query, hits, analysis)

    def select(self, stats, query, hits, analysis: Analysis) -> Selection:
        """The answer clauses of a fact question and whether they answer: decided by the learned
        models (`qa.answer`), or by the older hand-set rules when `answer_core` is "rules"."""
        if self.models is not None:
            return learned_selection(self.models, stats, query, hits, analysis)
        return select_evidence(stats, query, hits, analysis)

    def whole_part(self, analysis: Analysis, query, hits, stats):
        """The checked items of the enumeration that answers a question about a whole part, when
        the parts model is sure enough (`qa.answer.parts`); else None."""
        if self.models is None or self.models.parts_ranker is None or not hits:
            return None
        part, p = best_part(self.models, stats, query, hits, analysis, term_weights(stats, query.terms))
        if part is None or p < self.models.parts_threshold:
            return None
        kept, problems = verify_points(part_points(part, tuning()["points"]["max_chars"]).points, stats)
        log.info("answering %r with the %d items of paragraphs %s (P=%.2f)", analysis.question[:80], len(part.items), part.items, p)
        return Points(kept, len(part.items), form="items") if kept and not problems else None

    def definition(self, analysis: Analysis, query, hits, stats):
        """The checked sentence that spells out the name a definition question asks about, when the
        definition model is sure enough (`qa.answer.definitions`); else None."""
        if analysis.kind != "definition" or self.models is None or self.models.definition_ranker is None:
            return None
        if analysis.named_set and named_set_points(stats, list(dict.fromkeys(h.doc for h in hits)), analysis, tuning()["points"]["point_chars"]):
            return None  # the report spells the named set out where a finder reads it literally: the open path answers with it
        sentence, p = best_definition(self.models, stats, query, hits, analysis, term_weights(stats, query.terms))
        if sentence is None or p < self.models.definition_threshold:
            return None
        kept, problems = verify_points((Point(sentence.doc, sentence.paragraph, sentence.text.rstrip("。")),), stats)
        return Points(kept, 1, form="set") if kept and not problems else None

    def validate(self, question: str) -> str:
        if not isinstance(question, str):
            raise NotText()
        question = clean_question(question)
        if not question:
            raise EmptyQuestion()
        if len(question) > self.settings.max_question_chars:
            raise QuestionTooLong(len(question), self.settings.max_question_chars)
        return question

    # -- steps ------------------------------------------------------------------------------

    def _refusal(self, selection: Selection, analysis: Analysis, timings: dict) -> Answer:
        """A plain refusal, or for a near miss what the documents hold instead, with its citation."""
        if selection.near_miss and not selection.absent and selection.spans:
            near = self._finish(self.compose.neighbour(selection), selection, timings, "refusal", kind=analysis.kind)
            return Answer(near.text, near.citations, True, timings, "refusal", (selection.why_refused,), analysis.kind)
        return Answer(self.refusal, (), True, timings, source="refusal", problems=(selection.why_refused,), kind=analysis.kind)

    def _generate(self, question, selection, analysis, timings, started, should_stop) -> Iterator[Event]:
        extractive = self.compose.extractive(selection)
        messages, evidence, allowed = self.compose.prompt(question, selection)
        generated, gen_started = "", time.perf_counter()
        try:
            for delta in self.generator.stream(messages, max_new_tokens=self.settings.max_new_tokens, allowed_numbers=allowed):
                if not generated:
                    timings["first_token_ms"] = _ms(started)
                generated += delta
                yield Event(delta=delta)
                if should_stop is not None and should_stop():
                    log.info("generation stopped after %d characters; answering with the evidence", len(generated))
                    timings["generation_ms"], timings["total_ms"] = _ms(gen_started), _ms(started)
                    yield Event(answer=self._finish(extractive, selection, timings, "extractive", ("generation stopped",), analysis.kind))
                    return
        except Exception as exc:  # noqa: BLE001 - a failing generator must not lose the answer
            log.warning("generation failed, answering with the evidence: %s", exc)
            timings["generation_ms"], timings["total_ms"] = _ms(gen_started), _ms(started)
            yield Event(answer=self._finish(extractive, selection, timings, "extractive", (f"generator error: {exc}",), analysis.kind))
            return
        timings["generation_ms"] = _ms(gen_started)
        verdict = verify_fact_answer(generated, selection, evidence, question, self.compose, self.refusal)
        timings["total_ms"] = _ms(started)
        if verdict.problems:
            log.info("generated answer rejected (%s): %r", "; ".join(verdict.problems), generated)
            yield Event(answer=self._finish(extractive, selection, timings, "extractive", verdict.problems, analysis.kind))
        else:
            yield Event(answer=self._finish(verdict.text, selection, timings, "generated", kind=analysis.kind))

    def _open_answer(self, analysis: Analysis, query, hits, stats, timings: dict, started: float, should_stop=None) -> Iterator[Event]:
        """Cited points for a plan, list, achievement, problem, definition or summary question:
        the checked extractive points, or (for the kinds of `model_open_kinds`) the model's
        rewrite of them, each line verified against its source point (a report's parts are headings:
        nothing to shorten)."""
        spelled = self.definition(analysis, query, hits, stats)
        if spelled is not None:
            timings["retrieval_ms"] = timings["total_ms"] = _ms(started)
            yield Event(answer=self._finish(self.compose.points(spelled), None, timings, "extractive", kind=analysis.kind))
            return
        found = None
        if self.models is not None:
            hits, p_best = rank_open(self.models, stats, query, hits, analysis, term_weights(stats, query.terms))
            if p_best < self.models.open_threshold:
                found = select_points(stats, query, hits, analysis, ranked=True)
                if found.form not in STRUCTURAL or not found.points:  # the report's parts, a named part or a named set found literally: no paragraph to judge
                    timings["retrieval_ms"] = timings["total_ms"] = _ms(started)
                    why = f"the models find no answer (P={p_best:.2f} < {self.models.open_threshold:.2f})"
                    log.info("refusing %r: %s", analysis.question[:80], why)
                    yield Event(answer=Answer(self.refusal, (), True, timings, "refusal", (why,), analysis.kind))
                    return
        if found is None:
            found = select_points(stats, query, hits, analysis, ranked=self.models is not None)
        timings["retrieval_ms"] = _ms(started)
        kept, problems = verify_points(found.points, stats)
        if found.why_refused or not kept:
            timings["total_ms"] = _ms(started)
            why = found.why_refused or "no point passed its check"
            log.info("refusing %r: %s", analysis.question[:80], why)
            yield Event(answer=Answer(self.refusal, (), True, timings, "refusal", (why, *problems), analysis.kind))
            return
        checked = type(found)(kept, found.total, form=found.form)
        if self.generator is not None and found.form != "parts" and analysis.kind in tuning()["generation"].get("model_open_kinds", []):
            yield from self._written_points(analysis, checked, stats, tuple(problems), timings, started, should_stop)
            return
        text = self.compose.points(checked)
        timings["total_ms"] = _ms(started)
        yield Event(answer=self._finish(text, None, timings, "extractive", tuple(problems), analysis.kind))

    def _written_points(self, analysis: Analysis, checked, stats, problems: tuple[str, ...], timings: dict, started: float, should_stop) -> Iterator[Event]:
        """Stream the lead line, then the model's rewrite of `checked` (one cited line per point);
        the final answer shows each line that passed `check_written`, else its source point."""
        conf = tuning()["generation"]
        messages, allowed = self.compose.points_prompt(analysis.question, checked)
        budget = min(conf["open_max_new_tokens"], sum(len(p.text) for p in checked.points) + 12 * len(checked.points))
        yield Event(delta=self.compose.points_lead_line(checked) + "\n")
        timings["first_token_ms"] = _ms(started)
        reply, gen_started, stopped = "", time.perf_counter(), False
        stream = self.generator.stream(messages, max_new_tokens=budget, allowed_numbers=allowed)
        try:
            for delta in stream:
                timings.setdefault("first_model_token_ms", _ms(started))
                reply += delta
                yield Event(delta=delta)
                stopped = should_stop is not None and should_stop()
                if stopped or complete_lines(reply, len(checked.points)):
                    break
        except Exception as exc:  # noqa: BLE001 - a failing generator must not lose the answer
            log.warning("point generation failed, answering with the extracted points: %s", exc)
            reply, problems = "", (*problems, f"generator error: {exc}")
        finally:
            getattr(stream, "close", lambda: None)()  # release the generator (and its lock) when left early
        timings["generation_ms"] = _ms(gen_started)
        if stopped:
            reply, problems = "", (*problems, "generation stopped")
        written = check_written(reply, checked, stats, analysis.question, conf["open_min_overlap"]) if reply else None
        if written is not None and written.problems:
            log.info("%d of %d written points replaced by their source: %s", written.rejected, len(checked.points), "; ".join(written.problems))
        text = self.compose.points(written.found if written is not None else checked)
        source = "generated" if written is not None and written.kept else "extractive"
        timings["total_ms"] = _ms(started)
        yield Event(answer=self._finish(text, None, timings, source, (*problems, *(written.problems if written else ())), analysis.kind))

    def _cross(self, plan: CrossPlan, question: str, timings: dict, started: float) -> Iterator[Event]:
        """One verified row per document, streamed as soon as it is known: a comparison's lead and
        lines, a table's header and rows, a selection's matching lines; then the whole answer."""
        rows, kept = [], []
        n = len(plan.targets)
        head = self.compose.cross_draft(plan.mode, None, False, n)
        if head:
            yield Event(delta=head)
        for row in cross_rows(self.retriever, plan, question, self.settings.top_k, self.models):
            rows.append(row)
            timings.setdefault("first_row_ms", _ms(started))
            matches = plan.mode != "select" or satisfies(row, plan.condition)
            if matches:
                kept.append(row)
            delta = self.compose.cross_draft(plan.mode, row, matches, n, plan.condition)
            if delta:
                yield Event(delta=delta)
        text = self.compose.cross(plan, rows, kept)
        timings["total_ms"] = _ms(started)
        answer = self._finish(text, None, timings, "extractive", kind=plan.mode)
        refused = not any(r.paragraph is not None for r in rows)
        yield Event(answer=replace(answer, refused=refused, rows=tuple(rows)))

    def _finish(self, text: str, selection: Selection | None, timings: dict, source: str, problems: tuple[str, ...] = (), kind: str = "") -> Answer:
        """Attach citations (the quoted sentence of each cited paragraph) to a verified text."""
        citations = []
        docs = self.retriever.index.docs
        for ref in parse_citations(text).refs:
            doc_id = ref.doc or next(iter(docs))
            doc = docs[doc_id]
            quote = None
            if selection is not None:
                quote = next((e.text for e, _ in selection.spans if (e.doc, e.paragraph) == (doc_id, ref.paragraph)), None)
                quote = quote or next((e.text for e in selection.evidence if (e.doc, e.paragraph) == (doc_id, ref.paragraph)), None)
            citations.append(Citation(doc=doc_id, title=doc.title, paragraph=ref.paragraph, quote=quote or doc.paragraph(ref.paragraph).text))
        return Answer(text=text, citations=tuple(citations), refused=False, timings_ms=timings, source=source, problems=problems, kind=kind)


STRUCTURAL = ("parts", "section", "set")  # open answers read off the report's structure or a literal name (`qa.points`)


@lru_cache(maxsize=1)
def shipped_models() -> AnswerModels:
    """The answer models that ship with the package (loaded once per process), refused when they
    were fitted on other features than the code computes (a stale file: retrain)."""
    models = load_models()
    stale = [name for name, have, want in (("open", models.open_features, OPEN_NAMES), ("parts", models.parts_features, PART_NAMES), ("definition", models.definition_features, DEF_NAMES)) if have and have != want]
    if models.features != NAMES or stale:
        raise ValueError(f"qa/data/answer_model.json was fitted on other features ({', '.join(stale) or 'fact'}): rerun scripts/train_answer.py")
    return models


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
