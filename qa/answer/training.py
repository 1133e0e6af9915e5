"""Training data for the learned answer core: labelled candidates from question files.

Each question of a training file is asked of its report loaded alone (its own index, built once and
cached), exactly as the engine asks it: analysed, routed, retrieved. Its candidates are labelled
positive when they lie in a gold paragraph and hold every `must_include` group; the answer's unit
type (for the unit model) is the type of the first `must_include` figure. Open, definition and
cross questions take other paths and are left out.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..analysis import analyze
from ..corpus import CorpusError, load_corpus
from ..cross import cross_mode
from ..engine import Engine
from ..evalsets import EvalItem, load_eval
from ..evaluation import includes
from ..index import IndexUnusable, build_index, load_index
from ..retrieval import CorpusStats, Hit, Query, Retriever
from ..routing import named_documents
from .candidates import Candidate, candidates
from .open_rank import OPEN_DEPTH
from .units import type_in_source


def report_engine(source: Path, settings, embedder, generator, cache: Path) -> Engine:
    """An engine over the one report `source`, its index built once and cached by its hash."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    folder = cache / f"{source.stem}-{digest}"
    seeds, index = folder / "seeds", folder / "index"
    try:  # a cached index of another format or embedder, or a damaged one, is rebuilt
        loaded = load_index(index, load_corpus(seeds), embedder.id)
    except (IndexUnusable, CorpusError, OSError):
        shutil.rmtree(folder, ignore_errors=True)
        seeds.mkdir(parents=True)
        shutil.copy(source, seeds)
        build_index(load_corpus(seeds), embedder, index, progress=False, approximate_from=settings.approximate_min_sentences)
        loaded = load_index(index, load_corpus(seeds), embedder.id)
    retriever = Retriever(loaded, embedder, rrf_k=settings.rrf_k)
    return Engine(retriever, generator, settings.replace(seeds_dir=seeds, index_dir=index))


@dataclass
class Example:
    """One question as the engine sees it, with its candidates and their labels."""

    item: EvalItem
    group: str  # the report: cross-validation leaves one out
    analysis: object
    query: Query
    hits: list[Hit]
    stats: CorpusStats
    candidates: list[Candidate]
    labels: list[int]
    unit: str  # the answer's unit type ("" when unknown)


def read(engine: Engine, item: EvalItem):
    """The question's analysis as the engine makes it: through the question door, with its history."""
    history = engine.door.history(list(item.history)) if item.history else None
    return analyze(engine.door.read(engine.validate(item.question)).text, history)


def fact_path(engine: Engine, item: EvalItem):
    """(analysis, query, hits, stats) when the engine answers `item` on its fact path, else None."""
    analysis = read(engine, item)
    docs = engine.retriever.index.docs
    named = named_documents(analysis.search_text, docs)
    if analysis.open or analysis.kind == "definition" or cross_mode(analysis.question, named, len(docs)):
        return None
    query, hits, stats = engine.retrieve(analysis, named, ())
    return analysis, query, hits, stats


def gold_unit(item: EvalItem, stats: CorpusStats) -> str:
    """The unit type of a question's answer, read where its gold paragraph states it: "none" for an
    answer without a figure (a name), "" for a question without a gold answer."""
    if not item.answerable or not item.must_include:
        return ""
    doc = stats.docs[item.doc] if item.doc in stats.docs else next(iter(stats.docs.values()))
    sources = [doc.paragraph(n).text for n in item.paragraphs if 1 <= n <= len(doc.paragraphs)]
    return type_in_source(item.must_include[0], sources) or "none"  # a name, a phrase: no figure is asked


def label(item: EvalItem, c: Candidate, years: int = 1) -> int:
    """1 when `c` lies in a gold paragraph and holds every `must_include` group; for a question
    about several years (answered one span per year) any one group."""
    if not item.answerable or not item.must_include:
        return 0
    gold = not item.paragraphs or c.paragraph in item.paragraphs
    held = [includes(c.text, m) for m in item.must_include]
    return int(gold and (any(held) if years >= 2 else all(held)))


def examples(engine: Engine, items: Iterable[EvalItem], group: str) -> list[Example]:
    out = []
    for item in items:
        found = fact_path(engine, item)
        if found is None:
            continue
        analysis, query, hits, stats = found
        cands = candidates(hits)
        unit = gold_unit(item, stats)
        out.append(Example(item, group, analysis, query, hits, stats, cands, [label(item, c, len(query.years)) for c in cands], unit))
    return out


def training_items(files: Iterable[Path], default_doc: str) -> dict[str, list[EvalItem]]:
    """Items of single-report question files by report (items without `doc` are the seed's)."""
    by_doc: dict[str, list[EvalItem]] = {}
    for path in files:
        for item in load_eval(path):
            if item.gold or item.kind == "cross":
                continue
            by_doc.setdefault(item.doc or default_doc, []).append(item)
    return by_doc


def data_hash(files: Iterable[Path]) -> str:
    """SHA-256 over the training files' names and bytes, in name order: what the model was fitted on."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: (p.parent.name, p.name)):
        h.update(f"{path.parent.name}/{path.name}".encode())
        h.update(Path(path).read_bytes())
    return h.hexdigest()


@dataclass
class OpenExample:
    """One open question as the engine sees it, with its retrieved paragraphs and their labels."""

    item: EvalItem
    group: str
    analysis: object
    query: Query
    hits: list[Hit]
    stats: CorpusStats
    labels: list[int]  # 1 for a gold paragraph


def open_examples(engine: Engine, items: Iterable[EvalItem], group: str) -> list[OpenExample]:
    """The questions the engine answers with points (open kinds, definitions), labelled by paragraph."""
    out = []
    for item in items:
        analysis = read(engine, item)
        docs = engine.retriever.index.docs
        named = named_documents(analysis.search_text, docs)
        if not (analysis.open or analysis.kind == "definition") or cross_mode(analysis.question, named, len(docs)):
            continue
        query, hits, stats = engine.retrieve(analysis, named, (), k=OPEN_DEPTH)
        labels = [int(item.answerable and h.paragraph in item.paragraphs) for h in hits]
        out.append(OpenExample(item, group, analysis, query, hits, stats, labels))
    return out
