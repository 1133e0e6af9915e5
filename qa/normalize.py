"""One spelling for questions and documents: the question door's normalisation.

`normalize_text` is what every door's question goes through (`Engine.answer_stream` reads it with
`QuestionDoor.read`; a search with `Retriever.prepare`) and what the index embeds and tokenises of a
document (`Chunk.embed_text`, `index.bm25_text`), so that a question and a document meet in one form
whatever the writer typed:

- NFKC: full-width digits and letters (２０２５, ＧＤＰ) become ASCII, compatibility forms their base;
- punctuation in the documents' (Chinese) form: ASCII `,:;?!()` after NFKC become `，：；？！（）`,
  except a comma or colon between digits (1,000; 10:30); in a question, spaces between Chinese
  characters go (`normalize_question`);
- Traditional → Simplified (OpenCC `t2s`);
- Chinese numerals that are figures, through cn2an: a year (二〇二五年 → 2025年), a percentage
  (百分之五点五 → 5.5%), a share in 成 (三成 → 30%), an amount before 万/亿 (五十万 → 50万). Counts
  and names keep their numerals (三个“一号工程”, 第二, 十四五: the documents write them so).

The text a reader sees is never normalised: paragraphs are displayed and quoted as the document
writes them, and an answer follows the script of its question (`Script.to_script`: a Traditional
question gets its answer text in Traditional, OpenCC `s2t`; citation quotes stay as written). A
document written in Traditional characters is read by the answer stages in a Simplified copy
(`reading_copy`, made when the index is loaded) and shown and quoted as written (`as_written`).

Left out: English (another door), variant characters OpenCC does not map, dialect words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache

TEXT_VERSION = "nfkc-t2s-cn2an-1"  # recorded in the index manifest: a change means re-run `qa index`

_DIGIT = {c: str(i) for i, c in enumerate("〇一二三四五六七八九")} | {"零": "0", "○": "0", "Ｏ": "0"}
_CN_DIGITS = "〇○零一二三四五六七八九"
_CN_NUMBER = "〇○零一二三四五六七八九十百千两"
YEAR_CN = re.compile(rf"([{_CN_DIGITS}]{{4}})(?=年)")
PERCENT_CN = re.compile(rf"百分之([{_CN_NUMBER}]+(?:点[{_CN_DIGITS}]+)?)")
SHARE_CN = re.compile(rf"(?<![{_CN_NUMBER}万亿])([一二三四五六七八九十])成(?![员为立果就本功绩效不])")
AMOUNT_CN = re.compile(rf"(?<![{_CN_NUMBER}])([{_CN_NUMBER}]{{2,}}|[一二三四五六七八九两])(?=[万亿])")
_ASCII_PUNCT = {"?": "？", "!": "！", ";": "；", "(": "（", ")": "）"}
PUNCT = re.compile(r"[?!;()]")
COMMA = re.compile(r"(?<!\d),|,(?!\d)")
COLON = re.compile(r"(?<!\d):|:(?!\d)")
CJK_SPACE = re.compile(r"(?<=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])")
SPACES = re.compile(r"[ \t\u3000]+")


@lru_cache(maxsize=2)
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional characters → Simplified (OpenCC t2s); Simplified text is unchanged."""
    return _converter("t2s").convert(text) if text else text


def to_traditional(text: str) -> str:
    """Simplified → Traditional (OpenCC s2t)."""
    return _converter("s2t").convert(text) if text else text


def _cn_number(numeral: str) -> str:
    import cn2an

    try:
        value = cn2an.cn2an(numeral.replace("两", "二"), "smart")
    except (ValueError, KeyError, TypeError):
        return numeral
    return str(int(value)) if float(value).is_integer() else str(value)


def _percent(m: re.Match) -> str:
    whole, _, decimals = m.group(1).partition("点")
    number = _cn_number(whole)
    if not number.isdigit():
        return m.group(0)
    return f"{number}.{''.join(_DIGIT[c] for c in decimals)}%" if decimals else f"{number}%"


def _share(m: re.Match) -> str:
    number = _cn_number(m.group(1))
    return f"{int(number) * 10}%" if number.isdigit() else m.group(0)


def numerals(text: str) -> str:
    """Chinese numerals that are figures → Arabic (years, percentages, 成, amounts before 万/亿)."""
    if not any(c in _CN_NUMBER for c in text):
        return text
    text = YEAR_CN.sub(lambda m: "".join(_DIGIT[c] for c in m.group(1)), text)
    if "百分之" in text:
        text = PERCENT_CN.sub(_percent, text)
    text = SHARE_CN.sub(_share, text)
    return AMOUNT_CN.sub(lambda m: _cn_number(m.group(1)), text)


def punctuation(text: str) -> str:
    """ASCII punctuation (after NFKC) in its Chinese form."""
    text = PUNCT.sub(lambda m: _ASCII_PUNCT[m.group()], text)
    return COLON.sub("：", COMMA.sub("，", text))


def normalize_question(text: str) -> str:
    """`normalize_text`, and spaces between Chinese characters removed (湖州 的 GDP: typed, not written)."""
    return SPACES.sub(" ", CJK_SPACE.sub("", normalize_text(text))).strip()


def normalize_text(text: str) -> str:
    """NFKC, Chinese punctuation, Simplified characters, Arabic figures: see the module docstring.
    Spacing is left as it is (the index separates a sentence's context with spaces)."""
    if not text:
        return text
    return numerals(to_simplified(punctuation(unicodedata.normalize("NFKC", text))))


@dataclass(frozen=True)
class Script:
    """Which script a question was written in, and how to write an answer back in it."""

    traditional: bool = False

    def to_script(self, text: str) -> str:
        return to_traditional(text) if self.traditional and text else text


def script_of(text: str) -> Script:
    """Traditional when OpenCC's t2s changes more characters of `text` than s2t does."""
    simplified = to_simplified(text)
    if simplified == text:
        return Script(False)
    to_simp = sum(a != b for a, b in zip(text, simplified))
    to_trad = sum(a != b for a, b in zip(text, to_traditional(text)))
    return Script(to_simp >= to_trad)


@dataclass(frozen=True)
class Reading:
    """A question as the engine reads it: normalised (and, where the documents spell a word
    otherwise, corrected) text; the script it was written in; what the answer says it read."""

    text: str
    script: Script = Script()
    notes: tuple[str, ...] = ()

    def written_back(self, event, index=None):
        """An engine event for the asker: the answer text (not its quotes) in the question's script,
        an answer (not a refusal) opened by the notes of what was read; citations of a document the
        engine read in a Simplified copy quote it as written (`index`: the engine's SearchIndex)."""
        if event.delta:
            return replace(event, delta=self.script.to_script(event.delta))
        answer = event.answer
        if answer is None:
            return event
        text = answer.text if answer.refused else "".join(self.notes) + answer.text
        citations = tuple(as_written(c, index) for c in answer.citations) if index is not None and index.written else answer.citations
        return replace(event, answer=replace(answer, text=self.script.to_script(text), citations=citations))


class QuestionDoor:
    """What every door's question goes through before the engine reads it (`Engine.answer_stream`).

    Args:
        retriever: the loaded corpus; its words (BM25 tokens) and text are the vocabulary that
            misspelt words are read against (`qa.vocabulary`), built on first use.
    """

    def __init__(self, retriever) -> None:
        self._retriever = retriever
        self._vocabulary = None

    @property
    def vocabulary(self):
        if self._vocabulary is None:
            from .vocabulary import Vocabulary

            index = self._retriever.index
            words = set(index.bm25.idf)  # every word of the documents (the BM25 index's vocabulary)
            self._vocabulary = Vocabulary.from_settings(normalize_text(self._retriever.corpus_text), words)
        return self._vocabulary

    def warm_up(self) -> None:
        """Load OpenCC's, jieba's and pypinyin's dictionaries and build the vocabulary now, so that
        the first question does not wait for them (~1 s)."""
        normalize_text("預熱")
        if self._retriever.index.paragraph_keys:
            self.vocabulary.correct("预热一下词典")  # jieba and pypinyin load on first use

    def read(self, question: str) -> Reading:
        """The question normalised, its misspellings read as the documents' words, with its script."""
        script = script_of(question)
        text = normalize_question(question)
        if self._retriever.index.paragraph_keys:
            text, corrections = self.vocabulary.correct(text)
        else:
            corrections = ()
        return Reading(text, script, tuple(dict.fromkeys(c.note for c in corrections)))

    def history(self, history):
        """Earlier turns with their text normalised (a follow-up reads them as it reads the question)."""
        if not history:
            return history
        return [dict(turn, content=normalize_question(turn["content"])) if isinstance(turn, dict) and isinstance(turn.get("content"), str) else turn for turn in history]


def reading_copy(doc):
    """A document written in Traditional characters as the answer stages read it: its title, aliases,
    headings and paragraphs in Simplified (OpenCC t2s, character for character, figures as written),
    so that a Simplified question's words are found in it. Any other document is returned as it is
    (t2s would touch a few names of a Simplified text: 昇腾). Shown and quoted: the document as written
    (`SearchIndex.as_written`)."""
    sample = "".join(p.text for p in doc.paragraphs[:50])
    if not script_of(sample).traditional:
        return doc
    paragraphs = tuple(
        replace(p, text=to_simplified(p.text), section=to_simplified(p.section), subsection=to_simplified(p.subsection)) for p in doc.paragraphs
    )
    return replace(doc, title=to_simplified(doc.title), aliases=tuple(to_simplified(a) for a in doc.aliases), paragraphs=paragraphs)


def as_written(citation, index):
    """A citation with the title and quote of the document as written (the answer stages read a
    Simplified copy of a Traditional document: the quote is cut from the same place of the original)."""
    written = (index.written or {}).get(citation.doc)
    if written is None:
        return citation
    original = written.paragraph(citation.paragraph).text
    read = index.docs[citation.doc].paragraph(citation.paragraph).text
    at = read.find(citation.quote)
    quote = original[at : at + len(citation.quote)] if at >= 0 and len(read) == len(original) else original
    return replace(citation, title=written.title, quote=quote)
