"""Composing answers: the extractive text, the model's prompt, open answers as cited points, refusals.

Every text this module makes carries its citations as `[n]` (one document) or `[doc:n]` (several),
one after each claim; the chat turns them into links. Prompts are files in `prompts/`.
"""

from __future__ import annotations

from .evidence import Selection
from .grounding import numbers_in
from .points import Points
from .prompts import load_template


class Composer:
    """Renders answers and prompts; holds the loaded templates and how citations are labelled."""

    def __init__(self, docs: dict, prompts_dir=None) -> None:
        self.docs = docs
        self.multi_doc = len(docs) > 1
        self.system = load_template("system", prompts_dir)
        self.user = load_template("answer", prompts_dir)
        self.line = load_template("evidence_line", prompts_dir)
        self.example = [
            {"role": "user", "content": load_template("example_question", prompts_dir).render()},
            {"role": "assistant", "content": load_template("example_answer", prompts_dir).render()},
        ]
        self.refusal = load_template("refusal", prompts_dir).render()
        self.near_miss = load_template("near_miss", prompts_dir)
        self.points_lead = load_template("points_lead", prompts_dir)
        self.parts_lead = load_template("parts_lead", prompts_dir)
        self.items_lead = load_template("items_lead", prompts_dir)
        self.points_system = load_template("points_system", prompts_dir)
        self.points_user = load_template("points", prompts_dir)
        self.points_example = [
            {"role": "user", "content": load_template("points_example_question", prompts_dir).render()},
            {"role": "assistant", "content": load_template("points_example_answer", prompts_dir).render()},
        ]
        self.cross_lead = load_template("cross_lead", prompts_dir)
        self.select_lead = load_template("select_lead", prompts_dir)
        self.compare_lead = load_template("compare_lead", prompts_dir)
        self.group_missing = load_template("group_missing", prompts_dir)
        self.no_figure = load_template("no_figure", prompts_dir)

    def label(self, doc: str, paragraph: int) -> str:
        return f"{doc}:{paragraph}" if self.multi_doc else str(paragraph)

    def extractive(self, selection: Selection) -> str:
        """The selector's clauses, each followed by its citation."""
        return "；".join(f"{span}[{self.label(e.doc, e.paragraph)}]" for e, span in selection.spans)

    def neighbour(self, selection: Selection) -> str:
        """“The documents do not give X; what they hold is …[n]” for a near miss."""
        return self.near_miss.render(missing=selection.near_miss, held=self.extractive(selection))

    def prompt(self, question: str, selection: Selection) -> tuple[list[dict], dict[tuple[str, int], str], list[str]]:
        """Compact evidence: only the selector's clauses, with their section, so that the figures the
        model can copy are the ones that answer (a neighbouring figure is the model's favourite error)."""
        lines, evidence, allowed = [], {}, list(numbers_in(question))
        for e, span in selection.spans:
            p = self.docs[e.doc].paragraph(e.paragraph)
            lines.append(self.line.render(section=p.section or self.docs[e.doc].title, text=span))
            evidence[(e.doc, e.paragraph)] = p.text
            allowed.extend(numbers_in(span))
        messages = [
            {"role": "system", "content": self.system.render()},
            *self.example,
            {"role": "user", "content": self.user.render(evidence="\n".join(lines), question=question)},
        ]
        return messages, evidence, list(dict.fromkeys(allowed))

    def points_lead_line(self, found: Points) -> str:
        """“根据文档，相关要点共N条…” (or a report's parts): the line above the points."""
        shown = len(found.points)
        total = max(found.total, shown)
        if found.form == "parts":
            return self.parts_lead.render(total=total)
        if found.form == "items" and shown == total:  # an enumeration of the report, whole (`qa.answer.parts`)
            return self.items_lead.render(total=total)
        return self.points_lead.render(shown=shown, total=total)

    def point_lines(self, found: Points) -> list[str]:
        """One numbered point a line, each ending with its citation."""
        return [f"{i}. {p.text}[{self.label(p.doc, p.paragraph)}]" for i, p in enumerate(found.points, start=1)]

    def points(self, found: Points) -> str:
        """A lead sentence, then one numbered point a line, each ending with its citation."""
        return "\n".join([self.points_lead_line(found), *self.point_lines(found)])

    def points_prompt(self, question: str, found: Points) -> tuple[list[dict], list[str]]:
        """Messages asking the model to rewrite the checked points shorter, one cited line each,
        and the numbers it may write (the points' figures, the question's, their numbers and citations)."""
        allowed = [*numbers_in(question), *(n for p in found.points for n in numbers_in(p.text))]
        allowed += [str(i) for i in range(1, len(found.points) + 1)] + [str(p.paragraph) for p in found.points]  # numbering, citations
        user = self.points_user.render(question=question, count=len(found.points), points="\n".join(self.point_lines(found)))
        messages = [{"role": "system", "content": self.points_system.render()}, *self.points_example, {"role": "user", "content": user}]
        return messages, list(dict.fromkeys(allowed))

    # -- across documents ---------------------------------------------------------------------

    def row_line(self, row, condition=None) -> str:
        """“- 江苏：地区生产总值增长5%左右[jiangsu-…:35]”, or “- 江苏：未提及”; an open row cites each
        of its points' paragraphs; a selection's row says how a qualified figure was counted."""
        if row.paragraph is None:
            return f"- {row.name}：{row.value}"
        if len({p for _, p in row.parts}) > 1:
            lead = row.value[: row.value.find(row.parts[0][0])] if row.value.find(row.parts[0][0]) > 0 else ""
            body = "；".join(f"{t}[{self.label(row.doc, p)}]" for t, p in row.parts)
            return f"- {row.name}：{lead}{body}"
        return f"- {row.name}：{row.value}{self._counted(row, condition)}[{self.label(row.doc, row.paragraph)}]"

    @staticmethod
    def _counted(row, condition) -> str:
        """“（按‘5.7%左右’计为5.7%）” when a selection compared a qualified figure."""
        from .answer.conditions import counted_as

        if condition is None or condition.op in ("equal", "range") or row.figure is None:
            return ""
        note = counted_as(row.figure)
        return f"（{note}）" if note else ""

    TABLE_HEADER = "| 报告 | 内容 | 出处 |\n|---|---|---|"

    def table_row(self, row) -> str:
        """“| name | the value as written | [doc:n] |”: one document's row of the table."""
        marks = dict.fromkeys(p for _, p in row.parts) if row.parts else ([row.paragraph] if row.paragraph is not None else [])
        mark = "".join(f"[{self.label(row.doc, p)}]" for p in marks)
        return f"| {row.name} | {row.value.replace('|', '｜')} | {mark} |"

    def table(self, rows) -> str:
        """A Markdown table: document, the value as written, its citation."""
        return "\n".join([self.TABLE_HEADER, *(self.table_row(row) for row in rows)])

    def cross_draft(self, mode: str, row, kept: bool, n: int, condition=None) -> str:
        """What a cross answer streams before it is complete, ahead of `row` (None: before the first
        row): the table's header or the comparison's lead, then one line per row as it is found
        (a selection only the rows that match). The final text (`cross`) replaces the draft."""
        if row is None:
            if mode == "table":
                return self.TABLE_HEADER + "\n"
            return self.compare_lead.render(n=n) + "\n" if mode == "compare" else ""
        if mode == "table":
            return self.table_row(row) + "\n"
        return self.row_line(row, condition) + "\n" if kept else ""

    def cross(self, plan, rows, kept) -> str:
        """The whole cross-document answer: a lead sentence, one line (or table row) per document;
        a selection says how many reports gave no figure; a group names its members not loaded."""
        if plan.mode == "table":
            lines = [self.cross_lead.render(n=len(rows), stated=sum(r.paragraph is not None for r in rows)), self.table(rows)]
        elif plan.mode == "select":
            lines = [self.select_lead.render(k=len(kept), n=len(rows)), *(self.row_line(r, plan.condition) for r in kept)]
            unstated = sum(r.paragraph is None or (plan.condition is not None and r.figure is None) for r in rows)
            if unstated:
                lines.append(self.no_figure.render(m=unstated))
        else:
            lines = [self.compare_lead.render(n=len(rows)), *(self.row_line(r) for r in rows)]
        if plan.missing:
            lines.append(self.group_missing.render(group=plan.group, missing="、".join(plan.missing)))
        return "\n".join(lines)
