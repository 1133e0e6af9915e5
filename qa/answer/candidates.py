"""Candidate answers of a fact question: clause windows of the retrieved paragraphs' sentences.

Every sentence of every retrieved paragraph is cut into clauses (at ，；： and between figure
items joined by 、); every run of one to `MAX_WIDTH` consecutive clauses that fits in the answer
length is a candidate, and so is the whole sentence when it is short. The ranker (`features`,
`models`) then says which candidate answers; nothing here judges.

Left out: open kinds (several points), which `qa.points` answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..evidence import addresses_the_assistant, split_clauses
from ..retrieval import Hit

MAX_WIDTH = 3
MAX_CHARS = 90  # an answer span at most this long (the eval's limit for a fact answer is 150)
END = "，；：。、,;:"


@dataclass(frozen=True)
class Candidate:
    """A run of clauses of one sentence of a retrieved paragraph."""

    doc: str
    paragraph: int
    sentence: int  # index of the sentence in the index
    text: str  # the clauses, end punctuation stripped
    sentence_text: str
    hit_rank: int  # rank of the paragraph among the retrieved ones (0 = best)
    meaning: float  # embedding similarity of the sentence to the question
    first: int  # index of the first clause in the sentence
    width: int  # clauses in the run
    clauses: int  # clauses in the sentence


def sentence_candidates(hit_rank: int, hit: Hit, index: int, sentence: str, meaning: float) -> list[Candidate]:
    """Every window of 1..MAX_WIDTH clauses of one sentence (the sentence itself when short)."""
    clauses = split_clauses(sentence)
    out: list[Candidate] = []
    seen: set[str] = set()
    for first in range(len(clauses)):
        for width in range(1, MAX_WIDTH + 1):
            if first + width > len(clauses):
                break
            text = "".join(clauses[first : first + width]).strip().rstrip(END)
            if len(text) > MAX_CHARS:
                break
            if len(text) < 2 or text in seen:
                continue
            seen.add(text)
            out.append(Candidate(hit.doc, hit.paragraph, index, text, sentence, hit_rank, meaning, first, width, len(clauses)))
    whole = sentence.strip().rstrip(END)
    if whole not in seen and len(whole) <= MAX_CHARS:
        out.append(Candidate(hit.doc, hit.paragraph, index, whole, sentence, hit_rank, meaning, 0, len(clauses), len(clauses)))
    return out


def candidates(hits: list[Hit]) -> list[Candidate]:
    """The candidates of every sentence of `hits` (retrieved with all their sentences)."""
    out: list[Candidate] = []
    for rank, hit in enumerate(hits):
        best: dict[tuple[int, str], float] = {}
        for sent in hit.sentences:
            key = (sent.index, sent.text)
            best[key] = max(best.get(key, -1.0), sent.score)
        for (index, text), meaning in best.items():
            if addresses_the_assistant(text):
                continue  # documents are data: a sentence that gives orders is never evidence
            out.extend(sentence_candidates(rank, hit, index, text, meaning))
    return out
