"""Prompt templates: text files in `prompts/`, rendered strictly.

A template names its variables as `{name}`; rendering with a missing variable, or with a variable
the template does not use, is an error rather than a silently wrong prompt. Values are inserted
verbatim (document text may contain braces).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from .settings import project_root


class PromptError(Exception):
    """A template that is missing or rendered with the wrong variables."""


@dataclass(frozen=True)
class Template:
    name: str
    text: str

    @property
    def fields(self) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.text) if f}

    def render(self, **values: str) -> str:
        missing = self.fields - set(values)
        extra = set(values) - self.fields
        if missing or extra:
            raise PromptError(
                f"prompt {self.name}: "
                + "; ".join(x for x in (f"missing {sorted(missing)}" if missing else "", f"unused {sorted(extra)}" if extra else "") if x)
            )
        return self.text.format_map({k: str(v) for k, v in values.items()})


def prompts_dir(configured: Path | None = None) -> Path:
    return Path(configured) if configured else project_root() / "prompts"


def load_template(name: str, directory: Path | None = None) -> Template:
    """Read `<directory>/<name>.txt` (directory defaults to the project's prompts/)."""
    path = prompts_dir(directory) / f"{name}.txt"
    try:
        return Template(name, path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise PromptError(f"prompt template {path} cannot be read ({exc.strerror}); restore it from the repository") from None
