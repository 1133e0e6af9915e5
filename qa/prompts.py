"""Prompt templates: text files in `prompts/`, shipped inside the package, rendered strictly.

The checkout's top-level `prompts/` folder is installed as the package `qa.prompt_templates`
(pyproject.toml maps one to the other), so a plain `pip install .` finds the templates through
importlib.resources. A template names its variables as `{name}`; rendering with a missing
variable, or with a variable the template does not use, is an error rather than a silently wrong
prompt. Values are inserted verbatim (document text may contain braces).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from .settings import project_root

TEMPLATES_PACKAGE = "qa.prompt_templates"  # the top-level prompts/ folder, as installed


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


def prompts_dir(configured: Path | None = None) -> Path | Traversable:
    """The folder of templates: `configured`, else the one installed with the package."""
    if configured:
        return Path(configured)
    try:
        return resources.files(TEMPLATES_PACKAGE)
    except ModuleNotFoundError:  # an editable install made before prompts/ was packaged: the checkout's
        return project_root() / "prompts"


def load_template(name: str, directory: Path | None = None) -> Template:
    """Read `<directory>/<name>.txt` (directory defaults to the templates shipped with the package)."""
    path = prompts_dir(directory) / f"{name}.txt"
    try:
        return Template(name, path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise PromptError(f"prompt template {path} cannot be read ({exc.strerror}); restore it from the repository") from None
