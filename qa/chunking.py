"""Sentence chunks: the unit that is embedded and quoted.

Paragraphs of a work report mix many topics, so each sentence is embedded on its own and a
paragraph is scored by its best sentences. A sentence alone loses its context ("增长5.8%" of what,
in which year?), so the text that is embedded carries the section heading and the paragraph's lead
phrase; the text that is quoted is the bare sentence.

Left out: semantic or token-count chunking; sentences are the natural unit of these documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .corpus import Document, Paragraph
from .normalize import normalize_text

SENTENCE_END = re.compile(r"(?<=[。！？；!?])")
CLAUSE_END = re.compile(r"(?<=[，,：:])")
MIN_SENTENCE_CHARS = 8
LEAD_MAX_CHARS = 30
WINDOW_CHARS = 60


@dataclass(frozen=True)
class Chunk:
    """One sentence of a paragraph, with the context used to embed it."""

    doc: str
    paragraph: int
    index: int  # position of the sentence within its paragraph
    part: int  # position of this window of clauses within a long sentence (0 for short ones)
    text: str  # the sentence, or a window of its clauses, as it appears in the document
    context: str  # section heading, paragraph lead and sentence lead, prepended when embedding

    @property
    def embed_text(self) -> str:
        """Context and sentence in the question door's spelling (`qa.normalize`): a Traditional
        document is found by a Simplified question and the other way round."""
        return normalize_text(f"{self.context}：{self.text}" if self.context else self.text)


def split_sentences(text: str) -> list[str]:
    """Split after 。！？； and merge fragments too short to stand alone into their neighbour."""
    parts = [p.strip() for p in SENTENCE_END.split(text) if p.strip()]
    merged: list[str] = []
    for part in parts:
        if merged and len(merged[-1]) < MIN_SENTENCE_CHARS:
            merged[-1] += part
        else:
            merged.append(part)
    if len(merged) > 1 and len(merged[-1]) < MIN_SENTENCE_CHARS:
        tail = merged.pop()
        merged[-1] += tail
    return merged


def clause_windows(sentence: str, limit: int = WINDOW_CHARS) -> list[str]:
    """A long sentence cut at commas into consecutive windows of about `limit` characters.

    List-like sentences ("地区生产总值增长6%左右，…，城镇调查失业率控制在5%以内") dilute one
    embedding over many topics; windows keep each topic findable.
    """
    if len(sentence) <= limit * 1.5:
        return [sentence]
    windows: list[str] = []
    for clause in (c for c in CLAUSE_END.split(sentence) if c):
        if windows and len(windows[-1]) + len(clause) <= limit:
            windows[-1] += clause
        else:
            windows.append(clause)
    return windows


def sentence_lead(sentence: str) -> str:
    """The words before a colon that introduce a list (`主要预期目标为`), if short."""
    head, sep, _ = sentence.partition("：")
    return head if sep and len(head) <= 40 else ""


def paragraph_lead(paragraph: Paragraph) -> str:
    """A short first sentence that names the paragraph's topic (e.g. `集成供给更加精准的政策。`)."""
    if paragraph.subsection and paragraph.text.startswith(paragraph.subsection):
        return paragraph.subsection.rstrip("。")
    first = split_sentences(paragraph.text)[0] if paragraph.text else ""
    return first.rstrip("。") if len(first) <= LEAD_MAX_CHARS else ""


def paragraph_context(paragraph: Paragraph) -> str:
    """Section heading plus paragraph lead, the words a sentence alone lacks."""
    parts = [paragraph.section] if paragraph.section and paragraph.section != paragraph.text else []
    lead = paragraph_lead(paragraph)
    if lead and lead != paragraph.text.rstrip("。"):
        parts.append(lead)
    return " ".join(parts)


def chunk_paragraph(paragraph: Paragraph) -> list[Chunk]:
    """Sentences of a paragraph, long ones as windows of clauses, each with its context."""
    context = paragraph_context(paragraph)
    chunks = []
    for i, sentence in enumerate(split_sentences(paragraph.text)):
        windows = clause_windows(sentence)
        lead = sentence_lead(sentence) if len(windows) > 1 else ""
        for part, window in enumerate(windows):
            ctx = " ".join(x for x in (context, lead if part else "") if x)
            chunks.append(Chunk(paragraph.doc, paragraph.number, i, part, window, ctx))
    return chunks


def chunk_documents(docs: list[Document]) -> list[Chunk]:
    """Every sentence of every paragraph, in document order."""
    return [chunk for doc in docs for p in doc.paragraphs for chunk in chunk_paragraph(p)]
