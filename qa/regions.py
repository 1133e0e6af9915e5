"""Region groups: names a question may use for several documents at once (东北三省, 京津冀, 长三角).

Groups are data, never code: the `groups` object of a seeds folder's `catalog.json` maps a group's
name to its members, place names as questions and titles write them, and other names for it:

    "groups": {"东北三省": {"aliases": ["东三省"], "members": ["辽宁", "吉林", "黑龙江"]}, …}

`load_corpus` gives every document the folder's groups (`Document.groups`). A question names a group
as its scope (`group_in_question`) when the group's name stands as the subject, followed by a count
of places (三省, 三地), a time (今年, 2026年) or a particle (的, 各, 分别, 在): “东北三省今年的增长目标”
is about the three reports, “推进京津冀协同发展” is a topic. `members_in` splits a group into the
documents of the library that are its members, in the group's order, and the members the library
lacks (named in the answer, never guessed).

Left out: overlapping groups in one question (the longest name wins) and nested groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

SCOPE_FOLLOWERS = re.compile(
    r"^(?:$|[？?。，,、]|[两二三四五六七八九十\d]+\s*(?:个)?(?:省区市|省份|省区|省市|省|地|市|区)|各|的|分别|今年|去年|明年|前年|(?:19|20)\d\d|在|中|里|有|哪)"
)


@dataclass(frozen=True)
class RegionGroup:
    """A named group of places: its name, other names, and its members as written."""

    name: str
    members: tuple[str, ...]
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def read_groups(catalog: Mapping) -> tuple[RegionGroup, ...]:
    """The catalog's `groups` (see the module docstring); malformed entries are ignored."""
    raw = catalog.get("groups")
    if not isinstance(raw, dict):
        return ()
    out = []
    for name, entry in raw.items():
        if not isinstance(name, str) or not name.strip() or not isinstance(entry, dict):
            continue
        members = _strings(entry.get("members"))
        if members:
            out.append(RegionGroup(name.strip(), members, _strings(entry.get("aliases"))))
    return tuple(out)


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value if isinstance(v, str) and v.strip()))


def scope_names(question: str, groups: tuple[RegionGroup, ...], docs: Mapping | None = None) -> list[tuple[str, RegionGroup]]:
    """(name, group) of each group name the question uses as a subject (see the module docstring),
    or followed by the name of one of its members (“长三角沪苏皖三地”: the group the members are of)."""
    found = []
    for group in groups:
        words = _member_words(group, docs) if docs else group.members
        for name in group.names:
            start = question.find(name)
            while start >= 0:
                rest = question[start + len(name) :]
                if SCOPE_FOLLOWERS.match(rest) or rest.startswith(words):
                    found.append((name, group))
                    break
                start = question.find(name, start + 1)
    return found


def _member_words(group: RegionGroup, docs: Mapping) -> tuple[str, ...]:
    """The members' names and the names and aliases of their documents."""
    from .routing import document_names

    words = list(group.members)
    for doc_id, doc in docs.items():
        names = document_names(doc_id, doc)
        if any(m in names for m in group.members):
            words += [*names, *getattr(doc, "aliases", ())]
    return tuple(dict.fromkeys(words))


def group_in_question(question: str, groups: tuple[RegionGroup, ...]) -> RegionGroup | None:
    """The group a question takes as its scope (the longest name that stands as a subject), or None."""
    found = scope_names(question, groups)
    return max(found, key=lambda f: len(f[0]))[1] if found else None


def members_in(group: RegionGroup, docs: Mapping) -> tuple[list[str], list[str]]:
    """(ids of the library's documents that are members, in the group's order; members it lacks)."""
    from .routing import document_names

    present, missing = [], []
    for member in group.members:
        ids = [d for d, doc in docs.items() if member in document_names(d, doc)]
        if ids:
            present += [d for d in ids if d not in present]
        else:
            missing.append(member)
    return present, missing


def library_groups(docs: Mapping) -> tuple[RegionGroup, ...]:
    """The region groups of a library: those its documents carry (the same for a whole folder)."""
    seen: dict[str, RegionGroup] = {}
    for doc in docs.values():
        for group in getattr(doc, "groups", ()):
            seen.setdefault(group.name, group)
    return tuple(seen.values())
