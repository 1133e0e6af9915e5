"""What a question across documents asks: its mode, the documents it is about, its condition,
and the question each document is asked.

- a comparison names two or more documents (“A和B……分别”), or a region group of the catalog
  (“东北三省……”, `qa.regions`), whose members the library lacks are named in the answer;
- a selection (“哪些省份……高于5.5%”) asks every document in scope (or in the group) and keeps the
  ones whose figure meets its `Condition` (`qa.answer.conditions`);
- a table (“各省……”) asks every document in scope.

Each document is asked its own question (`per_document_question`): without the other documents'
names, the group, the cross cue words (分别, 哪些省份) and, for a selection with a condition, without
the condition: the measure asked before it (“去年经济增速低于4.5%的有哪几个省份” → “去年经济增速是多少”),
so that the answer core looks for the figure, not for the condition's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from .answer.conditions import Condition, parse_condition
from .lexicon import lexicon
from .regions import group_in_question, library_groups, members_in, scope_names
from .routing import document_names

MEASURE_TAIL = re.compile(r"(?:[把将]|定得|定为|定在|设定为|确定为|设为|是以|是|为|在|达到|达|要|的|得|有|以|”|“|\s)+$")
MEASURE_HEAD = re.compile(r"^(?:[把将的和、与及，,\s])+")
MIN_MEASURE_CHARS = 2
GROUP_COUNT = re.compile(r"这?[两二三四五六七八九十\d]+(?:个[\u4e00-\u9fff]{0,4}?)?(?:省区市|省份|省区|省市|省|市|地区|地|区)")


@dataclass(frozen=True)
class CrossPlan:
    """A question across documents: mode, documents asked, the group's missing members, condition."""

    mode: str  # compare, select, table
    targets: tuple[str, ...]
    group: str = ""  # the region group the question names, "" for none
    missing: tuple[str, ...] = ()  # the group's members the library lacks
    condition: Condition | None = None  # a selection's condition (None: every stated figure is kept)


def cross_mode(question: str, named: list[str], n_docs: int) -> str:
    """"compare", "select", "table", or "" for a single-document question."""
    if len(named) >= 2:
        return "compare"
    if named or n_docs < 2:
        return ""
    return _cue_mode(question)


def _cue_mode(question: str) -> str:
    lowered = question.lower()
    for mode in ("select", "table"):
        if any(cue in lowered for cue in lexicon()["cross"][mode]):
            return mode
    return ""


def plan_cross(question: str, named: list[str], docs: Mapping, scope: tuple[str, ...] = ()) -> CrossPlan | None:
    """The plan of a question across documents, None for a single-document question."""
    in_scope = [d for d in docs if not scope or d in scope]
    group = group_in_question(question, library_groups(docs)) if len(named) < 2 else None
    if group is not None:
        present, missing = members_in(group, docs)
        targets = tuple(d for d in present if d in in_scope)
        mode = _cue_mode(question) or "compare"
        condition = parse_condition(question) if mode == "select" else None
        return CrossPlan(mode, targets, group.name, tuple(missing), condition)
    mode = cross_mode(question, named, len(in_scope))
    if not mode:
        return None
    targets = tuple(named) if mode == "compare" else tuple(in_scope)
    return CrossPlan(mode, targets, condition=parse_condition(question) if mode == "select" else None)


def per_document_question(question: str, doc: str, docs: Mapping, plan: CrossPlan | None = None) -> str:
    """The question asked of one document (see the module docstring)."""
    text = question
    if plan is not None and plan.condition is not None and plan.condition.at >= 0:
        text = _measure_question(question, plan.condition.at) or text
    for other, d in docs.items():
        if other != doc:
            for name in sorted(document_names(other, d), key=len, reverse=True):
                text = text.replace(name, "")
    for name in sorted({n for n, _ in scope_names(question, library_groups(docs), docs)}, key=len, reverse=True):
        text = text.replace(name, "")  # the group the question asks about; a group that is a topic stays
    for cue in sorted((c for cues in lexicon()["cross"].values() for c in cues), key=len, reverse=True):
        text = text.replace(cue, "")
    text = re.sub(r"分别|各自|各有|各(?=[打增达是为])", lambda m: "有" if m.group(0) == "各有" else "", text)
    text = GROUP_COUNT.sub("", text)  # 三省, 两地, 这两个经济大省: the documents asked, not a place
    text = re.sub(r"(?:定在|定为|达到|超过)?\s*\d+(?:\.\d+)?\s*[%％]?\s*(?:左右|以上|以内|以下)?(?=[？?。，]|$)", "", text)  # the asked value
    text = re.sub(r"[和、与及]+(?=[^\u4e00-\u9fff]|今年|去年|明年|\d|的|在|[和、与及])", "", text)
    return re.sub(r"^[和、与及把将，,\s]+", "", text)


def _measure_question(question: str, at: int) -> str:
    """“<the measure asked before the condition>是多少？”, "" when too little stands before it."""
    head = question[:at]
    for cue in sorted((c for cues in lexicon()["cross"].values() for c in cues), key=len, reverse=True):
        head = head.replace(cue, "")
    head = re.sub(r"(^|年|的|\s)[把将]", r"\1", MEASURE_HEAD.sub("", MEASURE_TAIL.sub("", head)))
    if len(re.findall(r"[\u4e00-\u9fffA-Za-z]", head)) < MIN_MEASURE_CHARS:
        return ""
    return f"{head}是多少？"
