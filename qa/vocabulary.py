"""Tolerant reading of a question's words: a word the documents never write, read as the one
close word they do.

People type by sound: 湖洲 for 湖州, 经营主题 for 经营主体, 以就换新 for 以旧换新. A run of Chinese
characters of the question (2 to `max_window` long) that occurs nowhere in the loaded documents is
compared with the documents' own text: every spelling that differs from it in one character, whose
character sounds the same (pypinyin readings, toneless; up to `max_pinyin_edits` letters apart by
rapidfuzz's Levenshtein distance) and that the documents do write, is a candidate. Exactly one
closest candidate: the question is read with it, and the answer says so (`Correction.note`,
“（按“湖州”理解）”). Two or more equally close, none, a figure (a numeral character on either side)
or a run the documents already write: the question stays as typed, so a place the documents do not
name at all is still refused. The thresholds are `[vocabulary]` of qa/data/tuning.toml.

The documents' vocabulary is their text itself (a set of its character bigrams filters spellings
before the text is searched), built once per loaded corpus.

Left out: corrections of two characters or more, insertions and deletions, words in Latin letters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from .text import QUESTION_WORDS

NUMERAL_CHARS = frozenset("〇○零一二三四五六七八九十百千万亿两")
CJK_WORD = re.compile(r"[\u4e00-\u9fff]+")
FUNCTION_CHARS = frozenset(w for w in QUESTION_WORDS if len(w) == 1)  # 是 有 的 要…: glued on by jieba, never the typo
NOTE = "（按“{word}”理解）"


@dataclass(frozen=True)
class Correction:
    """A word of the question (`written`) read as the documents' `read`, at `start` of the question."""

    written: str
    read: str
    start: int

    @property
    def note(self) -> str:
        return NOTE.format(word=self.read)


@lru_cache(maxsize=20000)
def readings(char: str) -> tuple[str, ...]:
    """The toneless pinyin readings of one character (all of them, for a character read two ways),
    straight from pypinyin's character table."""
    from pypinyin.pinyin_dict import pinyin_dict

    found = pinyin_dict.get(ord(char), "")
    toneless = ("".join(c for c in unicodedata.normalize("NFD", r) if not unicodedata.combining(c)) for r in found.split(",") if r)
    return tuple(dict.fromkeys(toneless))


@lru_cache(maxsize=20000)
def sound(word: str) -> str:
    """How `word` is read, toneless, syllables apart (pypinyin reads a word, not characters: 增长 is zeng zhang)."""
    from pypinyin import lazy_pinyin

    return " ".join(lazy_pinyin(word))


def settings() -> dict:
    from .lexicon import tuning

    return {"max_window": 5, "max_pinyin_edits": 0, "known_word_freq": 100, **tuning().get("vocabulary", {})}


class Vocabulary:
    """The words of a loaded corpus, for reading a question's misspelt words as theirs.

    Args:
        text: every paragraph of the corpus, normalised (`qa.normalize.normalize_text`).
        words: the corpus's jieba tokens (its BM25 tokens).
        max_window: longest run of characters compared as one word.
        max_pinyin_edits: how far (letters) a replaced character's reading may be from the typed one's.
        known_word_freq: a one-word window this frequent in jieba's dictionary is meant as written.
    """

    def __init__(self, text: str, words: Iterable[str], max_window: int = 5, max_pinyin_edits: int = 0, known_word_freq: int = 100) -> None:
        self.text = text
        self.known_word_freq = known_word_freq
        self.words = {w for w in words if len(w) >= 2}
        self.max_window = max_window
        self.max_pinyin_edits = max_pinyin_edits
        self.bigrams = {text[i : i + 2] for i in range(len(text) - 1)}
        self.by_sound: dict[str, set[str]] = {}
        for char in {c for c in text if "\u4e00" <= c <= "\u9fff" and c not in NUMERAL_CHARS}:
            for reading in readings(char):
                self.by_sound.setdefault(reading, set()).add(char)
        self._near: dict[str, tuple[tuple[str, int], ...]] = {}
        self._alikes: dict[str, dict[str, int]] = {}

    @classmethod
    def from_settings(cls, text: str, words: Iterable[str]) -> "Vocabulary":
        conf = settings()
        return cls(text, words, int(conf["max_window"]), int(conf["max_pinyin_edits"]), int(conf["known_word_freq"]))

    def written(self, word: str) -> bool:
        """Whether the documents write `word` (its bigrams first: most misses end there)."""
        return all(word[i : i + 2] in self.bigrams for i in range(len(word) - 1)) and word in self.text

    def _near_readings(self, reading: str) -> tuple[tuple[str, int], ...]:
        """The corpus's readings within `max_pinyin_edits` letters of `reading`, with their distance."""
        if self.max_pinyin_edits <= 0:
            return ((reading, 0),) if reading in self.by_sound else ()
        if reading not in self._near:
            from rapidfuzz.distance import Levenshtein

            self._near[reading] = tuple(
                (other, d) for other in self.by_sound if (d := Levenshtein.distance(reading, other, score_cutoff=self.max_pinyin_edits)) <= self.max_pinyin_edits
            )
        return self._near[reading]

    def sound_alikes(self, char: str) -> dict[str, int]:
        """Characters of the corpus that sound like `char`, each with its pinyin distance."""
        if char in self._alikes:
            return self._alikes[char]
        out = self._alikes[char] = {}
        for reading in readings(char):
            for other, distance in self._near_readings(reading):
                for c in self.by_sound[other]:
                    if c != char and distance < out.get(c, 99):
                        out[c] = distance
        return out

    def _candidates(self, tokens: tuple[str, ...]) -> dict[str, int]:
        """Spellings of the words `tokens` with one character replaced by a sound-alike, each with
        its distance in pinyin letters (rapidfuzz) from the written words read as a whole (pypinyin
        reads a word, not characters: 增长 is zeng zhang).

        A character jieba left alone among longer words (的, 和, 有) is not replaced: only one of a
        run of such characters (以就换新, jieba's sign that it could not read them); and a single
        word the dictionary knows at least as well as the replacement (出生 for 出省) stays."""
        from rapidfuzz.distance import Levenshtein

        word = "".join(tokens)
        written = sound(word)
        alone = len(tokens) >= 3 and all(len(t) == 1 for t in tokens)
        found: dict[str, int] = {}
        at = 0
        for token in tokens:
            if len(token) == 1 and not alone:
                at += 1
                continue
            for k, char in enumerate(token, start=at):
                if char in NUMERAL_CHARS:
                    continue
                for other in self.sound_alikes(char):
                    spelling = word[:k] + other + word[k + 1 :]
                    if not self.written(spelling):
                        continue
                    distance = Levenshtein.distance(written, sound(spelling))
                    if distance <= self.max_pinyin_edits and distance < found.get(spelling, 99):
                        if len(tokens) == 1 and not _rarer(token, spelling):
                            continue
                        found[spelling] = distance
            at += len(token)
        return found

    def word(self, spelling: str) -> bool:
        """Whether `spelling` is made of the documents' words: it occurs in their text and jieba cuts
        it into words of two characters or more that their own tokens hold (期建 in 时期建设 is no word)."""
        from .text import _jieba

        return self.written(spelling) and all(len(t) >= 2 and t in self.words for t in _jieba().lcut(spelling))

    def correct(self, question: str) -> tuple[str, tuple[Correction, ...]]:
        """The question with each unambiguous misspelling replaced, and the corrections made.

        The words compared are runs of the question's jieba words (one to `max_window` characters in
        all, Chinese characters only), shorter ones first; one that overlaps a correction already
        made, or holds a numeral, is left alone."""
        from .text import _jieba

        tokens, at = [], 0
        for token in _jieba().lcut(question):
            tokens.append((at, token))
            at += len(token)
        corrections: list[Correction] = []
        taken: set[int] = set()
        windows = []
        for i in range(len(tokens)):
            for j in range(i + 1, len(tokens) + 1):
                start, word = tokens[i][0], "".join(t for _, t in tokens[i:j])
                if len(word) > self.max_window or not CJK_WORD.fullmatch(word):
                    break
                if len(word) >= 2:
                    windows.append((len(word), start, word, tuple(t for _, t in tokens[i:j])))
        for size, start, word, parts in sorted(windows):
            span = range(start, start + size)
            if taken.intersection(span) or NUMERAL_CHARS.intersection(word) or word[0] in FUNCTION_CHARS or word[-1] in FUNCTION_CHARS:
                continue
            if self.written(word) or (len(parts) == 1 and (_jieba().dt.FREQ.get(word) or 0) >= self.known_word_freq):
                continue  # in the documents, or a common word the writer meant (名次, not their 名词)
            found = {w: d for w, d in self._candidates(parts).items() if self.word(w)}
            if not found:
                continue
            best = min(found.values())
            closest = [w for w, d in found.items() if d == best]
            if len(closest) == 1:
                corrections.append(Correction(word, closest[0], start))
                taken.update(span)
        for c in corrections:
            question = question[: c.start] + c.read + question[c.start + len(c.read) :]
        return question, tuple(_named(question, c) for c in sorted(corrections, key=lambda c: c.start))


def _rarer(written: str, read: str) -> bool:
    """Whether jieba's dictionary knows `written` less well than `read` (a word it does not know at all is rarer)."""
    from .text import _jieba

    freq = _jieba().dt.FREQ
    return (freq.get(written) or 0) < (freq.get(read) or 0) or not freq.get(written)


def _named(question: str, correction: Correction) -> Correction:
    """The correction with `read` widened to the whole words (jieba) of the read question it touches,
    so that the note names a word (经营主体), not a fragment of one (营主体)."""
    from .text import _jieba

    start, end, at, words = correction.start, correction.start + len(correction.read), 0, []
    for token in _jieba().lcut(question):
        if at < end and at + len(token) > start:
            words.append(token)
        at += len(token)
    read = "".join(words) or correction.read
    return Correction(correction.written, read, correction.start)
