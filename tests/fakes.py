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
