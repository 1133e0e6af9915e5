"""Generators: one small streaming interface, and the choice of implementation by settings.

`Generator.stream(messages, max_new_tokens=…, allowed_numbers=…)` yields text deltas of a greedy
(deterministic) reply to OpenAI-style chat messages. Two implementations: `qa.local_generator`
(a model on this machine's CPU, with the number constraint of `qa.constraint`) and
`qa.openai_generator` (any OpenAI-compatible server). `make_generator(settings)` picks one.

Left out: sampling (always greedy), batching, tool calls. Nothing loads on import: the
implementations, torch and transformers are imported when a generator is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Protocol, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from qa.settings import Settings


class GeneratorError(RuntimeError):
    """Generation failed; the message says what failed and what to check."""


class Generator(Protocol):
    """Streams a greedy reply to chat messages as text deltas."""

    name: str

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int = 64,
        allowed_numbers: Sequence[str] | None = None,
    ) -> Iterator[str]: ...


def prepare_local_model(settings: Settings, progress: bool = True) -> Path:
    """The model folder of `settings.model`, with what running it needs: the int8 file (made once;
    after `qa models` this is a check) or, with `quantize = "none"`, the float32 weights."""
    from .int8_files import prepare_int8
    from .models import prepare_model

    int8 = settings.quantize == "int8"
    model_dir = prepare_model(settings.model, settings.cache_dir, progress=progress, weights=not int8)
    if int8:
        prepare_int8(model_dir, settings.cache_dir, lean=settings.decoder == "lean")
    return model_dir


def make_generator(settings: "Settings", *, progress: bool = True) -> Generator | None:
    """The generator named by `settings.generator`; None for "extractive" (no language model).

    "local" prepares the model files first (`qa.models.prepare_model`, `qa.int8_files.prepare_int8`;
    made once, then cached): with int8, the int8 file is all it needs, not the float32 weights.
    """
    kind = settings.generator
    if kind == "extractive":
        return None
    if kind == "openai":
        from .openai_generator import OpenAIGenerator

        return OpenAIGenerator(
            settings.openai_base_url, settings.openai_model, settings.openai_api_key, timeout=settings.request_timeout_s
        )
    if kind == "local":
        from .local_generator import LocalGenerator
        from .int8_files import int8_cache_path

        model_dir = prepare_local_model(settings, progress)
        return LocalGenerator(
            model_dir,
            threads=settings.threads,
            quantize=settings.quantize,
            name=f"local:{settings.model}",
            int8_cache=int8_cache_path(model_dir, settings.cache_dir),
            draft_tokens=settings.draft_tokens,
            lean=settings.decoder == "lean",
        )
    raise ValueError(f"unknown generator {kind!r}; choose 'local', 'openai' or 'extractive'")
