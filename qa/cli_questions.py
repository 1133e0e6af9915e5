"""The `qa search` and `qa ask` commands: questions from arguments or stdin, optionally scoped.

`--docs ID[,ID]` keeps a question to those documents (`qa documents` lists the ids). With `-`, each
line of stdin is a question, or a JSON object `{"question", "history", "docs"}` (a line starting
with `{`), so that other programs can replay conversations: `history` is the earlier turns
(`[{"role": "user"|"assistant", "content"}]`, oldest first) and `docs` a scope for that line
(it takes the place of `--docs`); other fields are ignored, so `qa ask --json` output can be fed
back. A bad line (not JSON, no question, too long, an unknown document) is reported, one line,
and the others are answered; the exit status is then 1.

Left out: reading questions from files other than stdin.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from .settings import Settings
from .text import clean_question


class UserError(Exception):
    """A problem the user can fix; printed as one line (`qa.cli.main` catches it)."""


@dataclass(frozen=True)
class Request:
    """One question to search or answer: its text, the conversation before it, its scope."""

    question: str
    history: tuple[dict, ...] = ()
    docs: tuple[str, ...] = ()


@dataclass(frozen=True)
class BadLine:
    """A line of stdin that is not a request; `question` is what it held, for the report."""

    question: str
    error: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The questions, --json and --docs (for `search` and `ask`)."""
    parser.add_argument("questions", nargs="+", metavar="QUESTION", help="one or more questions, or - to read one per line from stdin (a line may be a JSON object {\"question\", \"history\", \"docs\"})")
    parser.add_argument("--json", action="store_true", help="print one JSON object per question, one per line")
    parser.add_argument("--docs", metavar="ID[,ID]", default="", help="answer from these documents only (ids as `qa documents` lists them; default: all)")


def parse_docs(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """A scope from `a,b`, `["a", "b"]` or nothing (empty: every document)."""
    items = value.split(",") if isinstance(value, str) else (value or ())
    if not all(isinstance(item, str) for item in items):
        raise ValueError("docs must be document ids (strings)")
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))


def parse_line(line: str, docs: tuple[str, ...] = ()) -> Request | BadLine | None:
    """One stdin line as a request (None for a blank line); a JSON object when it starts with `{`."""
    text = clean_question(line)
    if not text.startswith("{"):
        return Request(text, docs=docs) if text else None
    try:
        record = json.loads(line)
    except ValueError as exc:
        return BadLine(text[:200], f"a line starting with {{ must be a JSON object: {exc}")
    if not isinstance(record, dict) or not isinstance(record.get("question"), str):
        return BadLine(text[:200], 'a JSON line needs "question" (a string)')
    question = clean_question(record["question"])
    history = record.get("history") or []
    if not isinstance(history, list) or not all(isinstance(turn, dict) for turn in history):
        return BadLine(question[:200], '"history" must be a list of {"role", "content"} turns')
    try:
        scope = parse_docs(record["docs"]) if record.get("docs") else docs
    except ValueError as exc:
        return BadLine(question[:200], str(exc))
    return Request(question, tuple(history), scope)


def read_requests(values: Sequence[str], docs: tuple[str, ...] = (), stdin: Iterable[str] | None = None) -> Iterator[Request | BadLine]:
    """Requests from arguments, or one per line of stdin when the only argument is `-`.

    Control characters and terminal escapes are removed; blank lines on stdin are skipped; an
    empty question argument is an error.
    """
    if list(values) == ["-"]:
        for line in stdin if stdin is not None else sys.stdin:
            request = parse_line(line, docs)
            if request is not None:
                yield request
        return
    for value in values:
        if value == "-":
            raise UserError("'-' (read stdin) must be the only question argument")
        if not clean_question(value):
            raise UserError("empty question; ask something, e.g. qa search \"2023年地区生产总值是多少？\"")
        yield Request(clean_question(value), docs=docs)


def _report(bad: BadLine, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"question": bad.question[:200], "error": bad.error}, ensure_ascii=False), flush=True)
    else:
        print(f"qa: error: {bad.error}", file=sys.stderr)


def _hit_json(h) -> dict[str, Any]:
    return {"doc": h.doc, "paragraph": h.paragraph, "score": round(h.score, 6), "text": h.text, "section": h.section, "sentences": [s.text for s in h.sentences]}


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from .builder import build_retriever
    from .errors import UnknownDocument
    from .service import search_documents

    requests = list(read_requests(args.questions, parse_docs(args.docs)))
    k = args.k if args.k is not None else settings.top_k
    if k < 1:
        raise UserError("-k must be at least 1")
    too_long = [r.question for r in requests if isinstance(r, Request) and len(r.question) > settings.max_question_chars]
    if too_long:
        raise UserError(f"a question has {len(too_long[0])} characters; the limit is {settings.max_question_chars} (QA_MAX_QUESTION_CHARS)")
    retriever = build_retriever(settings)
    failed = 0
    for request in requests:
        started = time.perf_counter()
        try:
            if isinstance(request, BadLine):
                raise UserError(request.error)
            hits = search_documents(retriever, request.question, k, request.docs)
        except (UserError, UnknownDocument) as exc:
            failed += 1
            _report(BadLine(request.question, str(exc)), args.json)
            continue
        elapsed = time.perf_counter() - started
        if args.json:
            scope = {"docs": list(request.docs)} if request.docs else {}
            out = {"question": request.question, **scope, "hits": [_hit_json(h) for h in hits], "search_ms": round(elapsed * 1000, 1)}
            print(json.dumps(out, ensure_ascii=False), flush=True)
            continue
        print(f"? {request.question}   ({elapsed * 1000:.0f} ms)")
        for rank, h in enumerate(hits, start=1):
            title = retriever.index.docs[h.doc].title
            best = h.sentences[0].text if h.sentences else h.text[:80]
            print(f"  {rank}. {title} 第{h.paragraph}段  score={h.score:.4f}\n     {best}")
        print()
    return 1 if failed else 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from .builder import build_engine
    from .errors import QuestionError
    from .service import check_history

    engine = build_engine(settings)
    failed = 0
    for request in read_requests(args.questions, parse_docs(args.docs)):
        try:
            if isinstance(request, BadLine):
                raise UserError(request.error)
            engine.validate(request.question)
            history = check_history(request.history, settings)
            if args.json:  # the answer is computed inside the try: an unknown document is this line's error
                answer = engine.answer(request.question, history, docs=request.docs or None)
        except (UserError, QuestionError) as exc:  # one bad line of a batch loses nothing else
            failed += 1
            _report(BadLine(request.question, str(exc)), args.json)
            continue
        if args.json:
            scope = {"docs": list(request.docs)} if request.docs else {}
            print(json.dumps({**answer.to_json(request.question), **scope}, ensure_ascii=False), flush=True)
            continue
        failed += _print_answer(engine, request, history)
    return 1 if failed else 0


def _print_answer(engine, request: Request, history: list[dict]) -> int:
    """Stream one answer to the terminal (the model's words as they come, then the checked answer); 1 if its scope names an unknown document."""
    from .errors import QuestionError

    print(f"? {request.question}")
    answer = None
    live = sys.stdout.isatty()
    try:
        for event in engine.answer_stream(request.question, history, docs=request.docs or None):
            if event.delta and live:
                print(event.delta, end="", flush=True)
            if event.answer is not None:
                answer = event.answer
    except QuestionError as exc:
        print(f"qa: error: {exc}", file=sys.stderr)
        return 1
    if live:
        print("\r\033[K", end="")
    assert answer is not None
    print(answer.text)
    for c in answer.citations:
        print(f"  [{c.paragraph}] {c.title} 第{c.paragraph}段：{c.quote}")
    print()
    return 0
