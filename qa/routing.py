"""Which documents a question is about: the places and titles it names, or the scope it was given.

A document's names come from its own metadata, never from a list in code: its title without the
year and the words for a report (“2026年江苏省政府工作报告” → 江苏省, 江苏), and the first word of
its id (jiangsu), so that English questions route too; and the `aliases` its catalog entry lists.
A question that names one document is answered from it alone; one that names several is a
comparison (`qa.cross`).

A one-character alias (a province's abbreviation) is ambiguous alone (it is also part of city
names), so it names its document only inside a run of two or more such aliases that stands as
words of its own (three abbreviations written together, not one character inside a longer word
such as 新 in 新青年), and only when the question names none of the run's documents in full: in
“A和B……<run of A, B and C>协同发展” the run is the topic, and the question is about A and B.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Mapping

REPORT_WORDS = re.compile(r"(?:(?:19|20)\d{2}年)|(?:人民)?政府工作报告.*$|工作报告.*$")
ADMIN_SUFFIX = re.compile(r"(?:自治区|特别行政区|自治州|省|市|州|县|区)$")


def _bare(place: str) -> str:
    """A place without its administrative suffix; an autonomous region also without the name of its
    people (广西壮族自治区 → 广西, 新疆维吾尔自治区 → 新疆): place names are two or three characters."""
    bare = ADMIN_SUFFIX.sub("", place)
    if bare != place and place.endswith("自治区"):
        bare = re.sub(r"[\u4e00-\u9fff]族$", "", bare)
        bare = bare[:2] if len(bare) > 3 else bare
    return bare


def names_of(doc_id: str, title: str) -> tuple[str, ...]:
    """The names a question may use for a document: its place with and without the
    administrative suffix, and the first word of its id; none shorter than two characters."""
    place = REPORT_WORDS.sub("", title).strip(" -—·")
    names = [place, _bare(place)]
    first = re.split(r"[-_\s]", doc_id)[0]
    if first.isascii() and first.isalpha():
        names.append(first.lower())
    return tuple(dict.fromkeys(n for n in names if len(n) >= 2))


_NAMES: dict[tuple, tuple[str, ...]] = {}


def document_names(doc_id: str, doc) -> tuple[str, ...]:
    """Every name of a document: `names_of` its title; the places named in its title block (the
    short lines before the speech, “——在广东省第十四届人民代表大会……”); and, when neither gives
    a place, the place its text names most. A folder without a catalog still routes."""
    aliases = tuple(getattr(doc, "aliases", ()))
    key = (doc_id, getattr(doc, "sha256", doc.title), aliases)
    if key not in _NAMES:
        names = list(names_of(doc_id, doc.title)) + list(aliases)
        paragraphs = getattr(doc, "paragraphs", ())
        block = [p.text for p in paragraphs[:4] if len(p.text) <= 60]
        places = [w for line in block for w in _places(line)]
        if not places and not any(not n.isascii() for n in names) and paragraphs:
            counts = Counter(w for p in paragraphs for w in _places(p.text))
            places = [counts.most_common(1)[0][0]] if counts else []
        for place in places:
            names += [place, _bare(place)]
        _NAMES[key] = tuple(dict.fromkeys(n for n in names if len(n) >= 2))
    return _NAMES[key]


def _places(text: str) -> list[str]:
    """Place names in a text (jieba's ns tag), two characters or more."""
    import jieba.posseg

    from .lexicon import lexicon

    generic = set(lexicon()["generic_nouns"])
    return [w.word for w in jieba.posseg.lcut(text) if w.flag == "ns" and len(w.word) >= 2 and w.word not in generic]


def named_documents(question: str, docs: Mapping) -> list[str]:
    """Ids of the documents the question names, in the order it names them: by their names, and
    by the runs of one-character aliases that route (`alias_runs`)."""
    found = _named_in_full(question, docs)
    named = {doc_id for _, doc_id in found}
    for start, run in alias_runs(question, docs, named):
        found += [(start + i, doc_id) for i, doc_id in enumerate(run) if doc_id not in named]
    return list(dict.fromkeys(doc_id for _, doc_id in sorted(found)))


def _named_in_full(question: str, docs: Mapping) -> list[tuple[int, str]]:
    lowered = question.lower()
    found: list[tuple[int, str]] = []
    for doc_id, doc in docs.items():
        positions = [lowered.find(n.lower()) for n in document_names(doc_id, doc)]
        positions = [p for p in positions if p >= 0]
        if positions:
            found.append((min(positions), doc_id))
    return found


def alias_runs(question: str, docs: Mapping, named: set[str] | None = None) -> list[tuple[int, tuple[str, ...]]]:
    """(start, the document of each character) of each run of one-character aliases that names
    documents: two or more characters of at least two documents, made of whole words (jieba's), none
    of whose documents the question names in full (`named`; None: found here). A character that is
    the alias of two documents is no alias."""
    owners: dict[str, list[str]] = {}
    for doc_id, doc in docs.items():
        for alias in getattr(doc, "aliases", ()):
            if len(alias) == 1:
                owners.setdefault(alias, []).append(doc_id)
    alias_of = {ch: ids[0] for ch, ids in owners.items() if len(ids) == 1}
    if len(alias_of) < 2 or sum(ch in alias_of for ch in question) < 2:
        return []
    import jieba

    if named is None:
        named = {doc_id for _, doc_id in _named_in_full(question, docs)}
    runs: list[tuple[int, str]] = []
    for word, start, end in jieba.tokenize(question):
        if all(ch in alias_of for ch in word):
            if runs and runs[-1][0] + len(runs[-1][1]) == start:
                runs[-1] = (runs[-1][0], runs[-1][1] + word)
            else:
                runs.append((start, word))
    out = []
    for start, run in runs:
        ids = tuple(alias_of[ch] for ch in run)
        if len(set(ids)) >= 2 and not set(ids) & named:
            out.append((start, ids))
    return out


def without_names(text: str, doc_ids: Iterable[str], docs: Mapping) -> str:
    """`text` without the names of these documents, and without the alias runs that route to any
    of them: once a question is routed to its document, the name only pulls retrieval towards
    paragraphs that happen to repeat it."""
    wanted = set(doc_ids)
    for start, run in reversed(alias_runs(text, docs)):
        if wanted & set(run):
            text = text[:start] + text[start + len(run) :]
    for doc_id in doc_ids:
        for name in sorted(document_names(doc_id, docs[doc_id]), key=len, reverse=True):
            text = re.sub(re.escape(name), "", text, flags=re.IGNORECASE)
    return text


def short_name(doc_id: str, title: str) -> str:
    """A short label for citations in the chat (江苏), falling back to the title."""
    names = [n for n in names_of(doc_id, title) if not n.isascii()]
    return names[-1] if names else title


def check_scope(scope: Iterable[str] | None, docs: Mapping) -> tuple[str, ...]:
    """The requested scope as document ids (empty: all); unknown ids raise `UnknownDocument`."""
    from .errors import UnknownDocument

    if not scope:
        return ()
    ids = tuple(dict.fromkeys(scope))
    unknown = [d for d in ids if d not in docs]
    if unknown:
        raise UnknownDocument(unknown)
    return ids


def choose_scope(question_text: str, scope: tuple[str, ...], docs: Mapping) -> tuple[str, ...]:
    """The documents to answer from: the documents the question names within the given scope,
    else the given scope (empty: all). A question that names no document searches them all."""
    named = [d for d in named_documents(question_text, docs) if not scope or d in scope]
    return tuple(named) or scope
