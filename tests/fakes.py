"""Fake parts for fast tests. Not a test module: test modules import it."""

from __future__ import annotations


class QueuedGenerator:
    """Replies with queued texts (an Exception is raised instead), `chunk` characters at a time;
    records what it was asked."""

    name = "fake"

    def __init__(self, *replies: str | Exception, chunk: int = 1) -> None:
        self.replies = list(replies)
        self.chunk = chunk
        self.calls: list[dict] = []

    def stream(self, messages, *, max_new_tokens=64, allowed_numbers=None):
        self.calls.append({"messages": messages, "allowed_numbers": allowed_numbers, "max_new_tokens": max_new_tokens})
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        for i in range(0, len(reply), self.chunk):
            yield reply[i : i + self.chunk]


def one_report(text: str, doc_id: str = "r"):
    """A made-up report from `text` (one paragraph a line) and corpus statistics over it alone."""
    from qa.corpus import Document, parse_paragraphs
    from qa.retrieval import CorpusStats
    from qa.text import content_terms

    doc = Document(doc_id, "报告", None, "x", parse_paragraphs(doc_id, text))
    stats = CorpusStats({t: 1.0 for p in doc.paragraphs for t in content_terms(p.text)}, text.lower(), {doc_id: doc})
    return doc, stats


def paragraph_hit(doc, n: int, score: float = 1.0, meaning: float = 0.9):
    """A retrieval hit on paragraph `n` of `doc`, each of its sentences scored `meaning`."""
    from qa.retrieval import Hit, SentenceHit

    p = doc.paragraph(n)
    sentences = tuple(SentenceHit(i, 0, s, meaning) for i, s in enumerate(p.text.split("。")) if s)
    return Hit(doc.id, n, score, p.text, p.section, p.year, 0.9, 1.0, sentences)


def folder_engine(folder, embedder, index_dir):
    """An extractive Engine over the documents of `folder`, indexed into `index_dir` by `embedder`."""
    from qa.corpus import load_corpus
    from qa.engine import Engine
    from qa.index import build_index, load_index
    from qa.retrieval import Retriever
    from qa.settings import Settings

    docs = load_corpus(folder)
    build_index(docs, embedder, index_dir, progress=False)
    return Engine(Retriever(load_index(index_dir, docs, embedder.id), embedder), None, Settings())
