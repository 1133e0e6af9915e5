"""Question analysis: what kind of answer a question wants, under which measure, in which language.

From the question (and, for a follow-up, the conversation) it returns an `Analysis`:

- `kind`: number, range (several figures), fromto, rank, name, yesno, definition, or an open kind
  (list, plan, achievement, problem, summary) answered with several cited points;
- `measures`: what a figure must measure (per_capita, growth, share, target, actual, rank, total);
- `language`: "en" for questions in English, whose key terms are translated with the glossary in
  `qa/data/glossary.toml` so that BM25 finds the Chinese words (the embedder is multilingual);
- `named_set`: a quoted name with a count (“六个新高地” → 新高地, 6) that a definition must list;
- `search_text`: what retrieval should look for (the follow-up merged with the earlier question).

All cue words are data (`qa/data/lexicon.toml`); nothing here knows a document. Years are left to
the retriever, which resolves 去年/今年 against each document's own years.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from .lexicon import lexicon, load_data

CN_COUNT = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
QUOTED = re.compile(r"[“\"「『]([^”\"」』]{1,20})[”\"」』]")
LATIN = re.compile(r"[A-Za-z]")
RELATIVE_OR_YEAR = re.compile(r"(?:19|20)\d{2}\s*年|去年|今年|明年")


@dataclass(frozen=True)
class Analysis:
    question: str
    kind: str
    measures: frozenset[str] = field(default_factory=frozenset)
    language: str = "zh"
    search_text: str = ""
    named_set: str = ""
    count: int | None = None
    followup: bool = False
    translation: str = ""  # an English question's glossary terms in Chinese

    @property
    def reading(self) -> str:
        """The question as the models read it: its own words, and an English one's translation."""
        return f"{self.question} {self.translation}".strip()

    @property
    def open(self) -> bool:
        return self.kind in lexicon()["forms"]["open_kinds"]

    def terms(self, terms: tuple[str, ...]) -> tuple[str, ...]:
        """The query terms that count for evidence: an English question's own words do not (its
        glossary translation does), so that coverage is measured on the documents' language."""
        if self.language != "en":
            return terms
        return tuple(t for t in terms if not re.fullmatch(r"[a-z'\-]+", t))

    @property
    def wants_figure(self) -> bool:
        """A figure is asked for by the kind, or by a measure (增长, 占比, 人均…) in a plain fact question."""
        measured = self.kind == "fact" and self.measures & {"growth", "share", "per_capita", "total"}
        return self.kind in ("number", "range", "fromto", "rank") or bool(measured)


def _has(question: str, cue: str) -> bool:
    if any(ch in cue for ch in ".*^(?"):
        return re.search(cue, question) is not None
    return cue in question


def _word_pattern(english: str) -> re.Pattern:
    """An entry as whole words (a plural allowed): “port” is not found in “report”."""
    before = r"(?<![a-z0-9])" if english[:1].isalnum() else ""
    after = r"(?:s|es)?(?![a-z0-9])" if english[-1:].isalnum() else ""
    return re.compile(before + re.escape(english) + after)


@lru_cache(maxsize=1)
def _glossary() -> tuple[tuple[re.Pattern, str], ...]:
    """English → Chinese terms, longest first so that phrases win over their words."""
    terms = load_data("glossary.toml")["terms"]
    return tuple((_word_pattern(k), v) for k, v in sorted(terms.items(), key=lambda kv: -len(kv[0])))


def translate_terms(question: str) -> str:
    """The Chinese terms of the glossary entries an English question contains, in order."""
    text = question.lower()
    found: list[tuple[int, str]] = []
    for pattern, chinese in _glossary():
        match = pattern.search(text)
        if match:
            found.append((match.start(), chinese))
            text = text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]
    for year in re.finditer(r"\b((?:19|20)\d\d)\b", question):
        found.append((year.start(), f"{year.group(1)}年"))
    return " ".join(c for _, c in sorted(found))


def detect_kind(question: str) -> str:
    """The first kind of `[kinds]` in the lexicon whose cue the question holds; "fact" otherwise."""
    lowered = question.lower()
    for kind, cues in lexicon()["kinds"].items():
        if any(_has(lowered, cue) for cue in cues):
            return kind
    return "name" if "什么" in question else "fact"


def detect_measures(question: str) -> frozenset[str]:
    lowered = question.lower()
    return frozenset(name for name, cues in lexicon()["asks"].items() if any(c in lowered for c in cues))


def named_set(question: str) -> tuple[str, int | None]:
    """A quoted set name and its count: “六个新高地” → ("新高地", 6); “五新” → ("五新", 5)."""
    for found in QUOTED.finditer(question):
        name = found.group(1)
        if re.fullmatch(r"[一二三四五六七八九十百]+", name):
            continue  # “十四五” names a period, not a set
        before = re.search(r"([两二三四五六七八九十])个$", question[: found.start()])
        if before:  # 三个“一号工程”
            return name, CN_COUNT[before.group(1)]
        m = re.match(r"^([两二三四五六七八九十])(个?)(.+)$", name)
        if m and (m.group(2) or len(name) <= 3):  # 六个新高地, 五新; not 五水共治
            return (m.group(3) if m.group(2) else name), CN_COUNT[m.group(1)]
        return name, None
    return "", None


def is_followup(question: str, history: Sequence[dict] | None) -> bool:
    """A short question that leans on the previous turn (那今年呢？, 空气优良天数比率呢？)."""
    if not history:
        return False
    starts = tuple(lexicon()["forms"]["followup_starts"])
    return question.startswith(starts) or question.rstrip("？?。 ").endswith("呢") or len(question) <= 8


def analyze(question: str, history: Sequence[dict] | None = None) -> Analysis:
    """Kind, measures, language and search text of a question in its conversation."""
    english = len(LATIN.findall(question)) > len(question) / 2
    translated = translate_terms(question) if english else ""
    basis = f"{question} {translated}" if translated else question
    kind = detect_kind(basis)
    followup = is_followup(question, history)
    search = basis
    if followup:
        previous = next((m.get("content", "") for m in reversed(history or []) if m.get("role") == "user" and m.get("content")), "")
        # The new years win; the earlier question brings the topic.
        search = f"{basis} {RELATIVE_OR_YEAR.sub('', previous)}"
        if kind == "fact":
            kind = detect_kind(previous)
    name, count = named_set(question)
    asks_figure = re.search(r"多少|几[个项家名条]?(?!方面)|第几", question)
    if name and count and (kind in ("list", "fact", "name") or (kind == "range" and not asks_figure)):
        kind = "definition"
    return Analysis(
        question=question, kind=kind, measures=detect_measures(search), language="en" if english else "zh",
        search_text=search, named_set=name, count=count, followup=followup, translation=translated,
    )
