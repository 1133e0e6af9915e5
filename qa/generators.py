"""Generators: one small streaming interface, a local transformers model and an OpenAI-compatible server.

`Generator.stream(messages)` yields text deltas of a greedy (deterministic) reply to OpenAI-style chat
messages. `LocalGenerator` runs a causal LM on the CPU with its own greedy loop over the KV cache:
on Qwen2/Llama-style models through the lean decoder of `qa.fastlm` (int8 weights loaded from one
safetensors file, prompt-lookup drafts verified several tokens per call), on others through
transformers' forward (int8 model pickled once). It can reuse the KV cache of a shared chat prefix
(system prompt + worked example) across requests, and constrain the numbers it writes to a given
set (`NumberConstraint`). `OpenAIGenerator` streams from any OpenAI-compatible `/chat/completions`
endpoint (vLLM, llama.cpp server, Ollama). `make_generator(settings)` picks one.

Left out: sampling (always greedy), batching, stop strings, tool calls; the number constraint on
remote servers (an OpenAI server cannot take a per-token mask, so `allowed_numbers` is ignored there:
check numbers after generation instead). Nothing loads on import; torch and transformers are imported
where used.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
import re
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Protocol, Sequence

from .fastlm import KVCache, LeanDecoder, save_int8, saved_key

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


# --------------------------------------------------------------------------- number constraint

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # ASCII only: `\d` would match ５ and ٥ too
_DIGIT_OR_DOT = re.compile(r"[0-9.]")
_DIGIT = re.compile(r"[0-9]")


def normalize_numbers(values: Iterable[str]) -> frozenset[str]:
    """The numbers written in `values` ("4,015亿元" → "4015", "-5.8%" → "5.8")."""
    found: set[str] = set()
    for value in values:
        found.update(_NUMBER.findall(str(value).replace(",", "")))
    return frozenset(found)


def pending_number(text: str) -> str:
    """The number run at the end of `text` that may still grow ("增长5." → "5.", "共12" → "12", "。" → "").

    A trailing "." after an integer is part of the run: it may start the decimals.
    """
    last = None
    for last in _NUMBER.finditer(text, max(0, len(text) - 64)):
        pass
    if last is None:
        return ""
    number, end = last.group(), last.end()
    if end == len(text):
        return number
    if end == len(text) - 1 and text[-1] == "." and "." not in number:
        return number + "."
    return ""


def number_token_allowed(pending: str, token_text: str, allowed: frozenset[str], prefixes: frozenset[str]) -> bool:
    """May a token with text `token_text` follow a text whose trailing number run is `pending`?

    Every number the token completes must be in `allowed`; the run left open at the end must be a
    prefix of an allowed number (an open "X." is also fine when X is allowed: the dot may end a
    sentence, and a digit after it would then be checked as "X.d").
    """
    text = pending + token_text
    for match in _NUMBER.finditer(text):
        number, end = match.group(), match.end()
        if end == len(text):
            if number not in prefixes:
                return False
        elif end == len(text) - 1 and text[-1] == "." and "." not in number:
            if number + "." not in prefixes and number not in allowed:
                return False
        elif number not in allowed:
            return False
    return True


@dataclass
class DigitVocab:
    """What the number constraint needs to know of a vocabulary, computed once per tokenizer.

    Only tokens with an ASCII digit, and the token "." alone, can break the constraint differently
    from a plain word: any other token without digits (".com", ").") ends an open number run exactly
    as a space does, since the number pattern needs a digit after a dot.
    """

    vocab_size: int
    texts: dict[int, str]  # id → text, for the digit tokens and the "." tokens
    _ids: Any = field(default=None, repr=False)  # the keys of `texts` as a sorted tensor, on first use

    @classmethod
    def of(cls, token_texts: Sequence[str]) -> "DigitVocab":
        texts = {i: t for i, t in enumerate(token_texts) if t == "." or _DIGIT.search(t)}
        return cls(len(token_texts), texts)

    @property
    def digit_ids(self) -> list[int]:
        return [i for i, t in self.texts.items() if t != "."]

    @property
    def dot_ids(self) -> list[int]:
        return [i for i, t in self.texts.items() if t == "."]

    def id_tensor(self):
        import torch

        if self._ids is None:
            self._ids = torch.tensor(sorted(self.texts), dtype=torch.long)
        return self._ids


class NumberConstraint:
    """Decides which tokens may come next so that every number written is one of `allowed`.

    Args:
        token_texts: the decoded text of every token id (index = id), or its `DigitVocab` (computed
            once per tokenizer: scanning a 150k vocabulary costs ~50 ms per request).
        allowed: strings holding the allowed numbers (normalized with `normalize_numbers`).

    Only tokens that contain an ASCII digit, and ".", are checked one by one; every other token is
    allowed exactly when the open number run (if any) is already a complete allowed number. Masks are
    cached per open run, so a reply costs a handful of checks, not one per vocabulary entry per step.
    """

    def __init__(self, token_texts: "Sequence[str] | DigitVocab", allowed: Iterable[str]):
        vocab = token_texts if isinstance(token_texts, DigitVocab) else DigitVocab.of(token_texts)
        self.vocab = vocab
        self.allowed = normalize_numbers(allowed)
        self.prefixes = frozenset(a[:i] for a in self.allowed for i in range(1, len(a) + 1))
        self.vocab_size = vocab.vocab_size
        self._texts = vocab.texts
        self._digit_ids = vocab.digit_ids
        self._dot_ids = vocab.dot_ids
        self._decisions: dict[str, tuple[bool, frozenset[int]]] = {}
        self._masks: dict[str, Any] = {}

    def _decide(self, pending: str) -> tuple[bool, frozenset[int]]:
        """(are tokens without digits or dots allowed, the digit/dot token ids that break the rule)."""
        if pending not in self._decisions:
            closes_ok = pending == "" or number_token_allowed(pending, " ", self.allowed, self.prefixes)
            # With no open run, a dot cannot touch a number: only digit tokens need checking.
            checked = self._digit_ids if pending == "" else self._digit_ids + self._dot_ids
            blocked = frozenset(
                i for i in checked if not number_token_allowed(pending, self._texts[i], self.allowed, self.prefixes)
            )
            self._decisions[pending] = (closes_ok, blocked)
        return self._decisions[pending]

    def is_allowed(self, text: str, token_id: int) -> bool:
        """May `token_id` follow `text`?"""
        closes_ok, blocked = self._decide(pending_number(text))
        if token_id in blocked:
            return False
        return True if token_id in self._texts else closes_ok

    def allowed_ids(self, text: str) -> list[int]:
        """The token ids that may follow `text` (for tests and small vocabularies)."""
        return [i for i in range(self.vocab_size) if self.is_allowed(text, i)]

    def mask(self, text: str):
        """A bool tensor over the vocabulary: True where the token may follow `text` (cached per open run)."""
        import torch

        pending = pending_number(text)
        if pending not in self._masks:
            closes_ok, blocked = self._decide(pending)
            mask = torch.full((self.vocab_size,), closes_ok, dtype=torch.bool)
            if self._texts:
                mask[self.vocab.id_tensor()] = True
            if blocked:
                mask[torch.tensor(sorted(blocked), dtype=torch.long)] = False
            self._masks[pending] = mask
        return self._masks[pending]


# --------------------------------------------------------------------------- local model


def quantize_linear_int8(model):
    """Dynamic int8 quantization of every nn.Linear (weights int8, activations quantized per call).

    `torch.ao.quantization.quantize_dynamic` is deprecated (its warning says "removed in 2.10") but is
    still present and fastest on CPU in torch 2.13; its warnings are silenced here. Quantizes in
    place (no float32 copy is kept: peak memory stays at one float32 model).
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


INT8_CACHE_FORMAT = 2  # bump when what `load_int8_model` saves changes


def _int8_key(model_dir: Path) -> dict[str, Any]:
    """What an int8 cache file must match: the source weights, torch, transformers and the engine."""
    import torch
    import transformers

    model_dir = Path(model_dir).resolve()
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    return {
        "format": INT8_CACHE_FORMAT,
        "model_dir": str(model_dir),
        "weights": [[w.name, w.stat().st_size, w.stat().st_mtime_ns] for w in weights],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "engine": torch.backends.quantized.engine,
    }


def int8_cache_path(model_dir: Path, cache_dir: Path) -> Path:
    """Where the int8 copy of `model_dir` is cached: `<cache_dir>/models/<name>-<hash>.int8.pt`."""
    model_dir = Path(model_dir).resolve()
    tag = hashlib.sha256(str(model_dir).encode("utf-8")).hexdigest()[:8]
    return Path(cache_dir) / "models" / f"{model_dir.name}-{tag}.int8.pt"


def load_int8_model(model_dir: Path, cache_file: Path | None):
    """The model of `model_dir` with int8 linear layers, from `cache_file` when it is current.

    Quantizing costs 8–18 s on two cores (observers in Python, then fbgemm packing); loading the
    quantized module saved by `torch.save` (memory-mapped) costs ~3.5 s (unpickling and re-packing)
    and gives bit-identical outputs. The file is a pickle that this function wrote itself, next to a JSON key
    (`<file>.json`: source weights' sizes and mtimes, torch and transformers versions); a stale,
    foreign or unreadable file is rebuilt. `cache_file=None`: quantize, cache nothing.
    """
    import torch
    from transformers import AutoModelForCausalLM

    key = _int8_key(model_dir)
    if cache_file is not None:
        cache_file = Path(cache_file)
        key_file = cache_file.with_name(cache_file.name + ".json")
        try:
            if json.loads(key_file.read_text(encoding="utf-8")) == key:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # mmap: the storages are read lazily (0.6 s faster, 500 MB less peak memory).
                    model = torch.load(cache_file, weights_only=False, map_location="cpu", mmap=True)
                model.eval()
                return model
        except Exception:  # noqa: BLE001 - missing, stale or damaged: rebuild below
            pass
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    model = quantize_linear_int8(model)
    if cache_file is not None:
        from .int8layers import split_rows

        model.lm_head = split_rows(model.lm_head)  # unpickles faster (see qa.int8layers)
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{cache_file.name}.", dir=cache_file.parent)
            os.close(fd)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.save(model, tmp)
                os.replace(tmp, cache_file)
            finally:
                Path(tmp).unlink(missing_ok=True)
            key_file.write_text(json.dumps(key, indent=2), encoding="utf-8")  # written last: marks it complete
        except OSError as exc:
            warnings.warn(f"could not cache the int8 model in {cache_file}: {exc}", RuntimeWarning, stacklevel=2)
    return model


def lean_cache_path(int8_cache: str | Path) -> Path:
    """The lean decoder's int8 file next to the (transformers) int8 cache file: `<name>.lean-int8.safetensors`."""
    int8_cache = Path(int8_cache)
    stem = int8_cache.name[: -len(".int8.pt")] if int8_cache.name.endswith(".int8.pt") else int8_cache.name
    return int8_cache.with_name(stem + ".lean-int8.safetensors")


def load_lean_int8(model_dir: Path, cache_file: Path | None, threads: int = 2) -> LeanDecoder:
    """The int8 lean decoder of `model_dir`, from `cache_file` when it is current, else built and cached.

    Building: load the float32 model with transformers, quantize (as `load_int8_model`), save with
    `qa.fastlm.save_int8` (~15 s, once). Loading: ~1.5 s on two cores, against ~3.5 s for unpickling
    a quantized transformers model, and no transformers model code is imported.
    """
    key = _int8_key(model_dir)
    if cache_file is not None and saved_key(cache_file) == key:
        try:
            return LeanDecoder.load(cache_file, workers=threads)
        except Exception as exc:  # noqa: BLE001 - damaged: rebuilt below
            warnings.warn(f"rebuilding {cache_file}: {exc}", RuntimeWarning, stacklevel=2)
    model = load_int8_model(model_dir, None)
    if cache_file is None:
        return LeanDecoder.from_model(model)
    try:
        save_int8(model, cache_file, key)
    except OSError as exc:
        warnings.warn(f"could not cache the int8 model in {cache_file}: {exc}", RuntimeWarning, stacklevel=2)
        return LeanDecoder.from_model(model)
    del model
    return LeanDecoder.load(cache_file, workers=threads)


def prepare_int8(model_dir: Path, cache_dir: Path, *, lean: bool = True) -> Path:
    """Quantize `model_dir` once into the cache the generator loads (the lean file when the
    architecture allows it, else a pickled transformers model); returns the file."""
    int8_cache = int8_cache_path(model_dir, cache_dir)
    if lean and _lean_supported(_read_json(Path(model_dir) / "config.json")):
        load_lean_int8(Path(model_dir), lean_cache_path(int8_cache))
        return lean_cache_path(int8_cache)
    load_int8_model(Path(model_dir), int8_cache)
    return int8_cache


def _lean_supported(config: dict[str, Any]) -> bool:
    """Does a model's config.json describe an architecture `LeanDecoder` implements?"""
    return LeanDecoder.supports_config(SimpleNamespace(**config))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def set_threads(threads: int) -> None:
    """Intra-op threads = `threads`; inter-op threads = 1 (a greedy loop has no parallel branches).

    The inter-op count can only be set before torch's first parallel work; later calls keep it.
    """
    import torch

    torch.set_num_threads(max(1, int(threads)))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


class LocalGenerator:
    """A transformers causal LM on the CPU, greedy, streamed token by token.

    Args:
        model_dir: a directory `from_pretrained` can load (see `qa.models.prepare_model`).
        threads: torch intra-op threads (process-wide setting; inter-op threads are set to 1).
        quantize: "int8" (dynamic quantization of linear layers) or "none" (float32).
        name: shown in answers and logs; defaults to the directory name.
        int8_cache: file for the quantized model (see `load_int8_model`; the lean decoder's file is
            `lean_cache_path(int8_cache)`); None: quantize at every start.
        prefix_cache: keep the KV cache of the messages before the last user turn (system prompt,
            worked example) and reuse it when a later prompt starts with the same messages. Off by
            default: with int8 the activations are quantized with one scale per forward call, so a
            prompt pre-filled in two parts gives (slightly) different replies; on the dev questions
            it cut the answer p50 from 0.57 to 0.46 s and kept accuracy, but more drafts failed the
            engine's check (model-written answers 97% → 89%). In float32 it is exact up to rounding.
        lean: run Qwen2/Llama-style models on `qa.fastlm.LeanDecoder` (False: transformers' forward).
        draft_tokens: prompt-lookup draft tokens verified per call by the lean decoder (0: none).

    `last_stats` holds the timings of the latest call: prompt_tokens, cached_tokens (taken from the
    prefix cache), new_tokens, prefill_s, ttft_s, decode_s, prefill_tokens_per_s,
    decode_tokens_per_s, total_s, forward_calls (prompt_calls of them for the prompt), drafted_tokens,
    accepted_tokens.
    """

    PREFIX_SLOTS = 4  # distinct prefixes kept (a few prompt templates at most)

    def __init__(
        self,
        model_dir: str | Path,
        threads: int = 2,
        quantize: str = "int8",
        name: str | None = None,
        *,
        int8_cache: str | Path | None = None,
        prefix_cache: bool = False,
        lean: bool = True,
        draft_tokens: int = 4,
    ):
        import torch

        if quantize not in {"int8", "none"}:
            raise ValueError(f"quantize must be 'int8' or 'none', not {quantize!r}")
        started = time.perf_counter()
        set_threads(threads)
        self.model_dir = Path(model_dir)
        self.name = name or f"local:{self.model_dir.name}"
        self.quantize = quantize
        config = _read_json(self.model_dir / "config.json")
        use_lean = lean and _lean_supported(config)
        # The tokenizer (~1 s) loads in a second thread while the weights load: both spend most of
        # their time in native code, so on two cores they overlap.
        tokenizer: dict[str, Any] = {}

        def load_tokenizer() -> None:
            try:
                from transformers import AutoTokenizer

                tokenizer["value"] = AutoTokenizer.from_pretrained(self.model_dir)
            except Exception as exc:  # noqa: BLE001 - re-raised below in the caller's thread
                tokenizer["error"] = exc

        loader = threading.Thread(target=load_tokenizer, name="qa-tokenizer", daemon=True)
        loader.start()
        model = lean_decoder = None
        try:
            if quantize == "int8" and use_lean:
                # No transformers model at all: int8 matrices straight from a safetensors file.
                lean_decoder = load_lean_int8(self.model_dir, lean_cache_path(int8_cache) if int8_cache is not None else None, threads)
            elif quantize == "int8":
                model = load_int8_model(self.model_dir, Path(int8_cache) if int8_cache is not None else None)
            else:
                from transformers import AutoModelForCausalLM

                model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32)
                model.eval()
                lean_decoder = LeanDecoder.from_model(model) if use_lean and LeanDecoder.supports(model) else None
        finally:
            loader.join()
        if "error" in tokenizer:
            raise tokenizer["error"]
        self.tokenizer = tokenizer["value"]
        self.model = model  # None when the lean decoder runs from its own file
        self.lean = lean_decoder
        self.config = config
        self.prefix_cache = prefix_cache
        self.draft_tokens = max(0, int(draft_tokens)) if self.lean is not None else 0
        self._lean_cache: KVCache | None = None
        self._lean_ids: list[int] = []  # the tokens whose keys/values `_lean_cache` holds
        self._prefixes: OrderedDict[str, tuple[int, Any]] = OrderedDict()  # rendered prefix → (tokens, KV cache)
        self._head_ids: OrderedDict[str, list[int]] = OrderedDict()  # rendered prefix → its tokens
        if model is not None:
            # transformers 5.2x renamed the forward argument `past_key_values` to `cache`.
            params = inspect.signature(model.forward).parameters
            self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self.eos_ids = self._stop_ids()
        self._token_texts: list[str] | None = None
        self._digit_vocab: DigitVocab | None = None
        self.digit_vocab()  # for the number constraint; at load, not in the first request
        self.load_seconds = time.perf_counter() - started
        self.last_stats: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- helpers

    def _stop_ids(self) -> set[int]:
        ids: set[int] = set()
        if self.model is not None:
            eos = getattr(self.model.generation_config, "eos_token_id", None)
        else:
            eos = _read_json(self.model_dir / "generation_config.json").get("eos_token_id", self.config.get("eos_token_id"))
        ids.update(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid >= 0:
                ids.add(tid)
        return ids

    def prompt_text(self, messages: list[dict[str, str]]) -> tuple[str, str]:
        """(prompt rendered with the chat template, assistant prefix already in it).

        A final assistant message is a prefix the reply continues.
        """
        prefix = ""
        if messages and messages[-1].get("role") == "assistant":
            prefix = messages[-1].get("content") or ""
            messages = messages[:-1]
        if not getattr(self.tokenizer, "chat_template", None):
            raise GeneratorError(f"{self.model_dir} has no chat template: use an instruct/chat model")
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return text + prefix, prefix

    def _encode(self, text: str):
        return self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]

    def _forward(self, input_ids, cache, logits_to_keep: int = 0):
        return self.model(input_ids=input_ids, use_cache=True, logits_to_keep=logits_to_keep, **{self._cache_arg: cache})

    def _new_cache(self):
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def _shared_prefix(self, messages: list[dict[str, str]], prompt: str, input_ids):
        """(KV cache to continue, tokens it holds): a copy of the cached prefix when `prompt` starts
        with the rendered messages before the last user turn, else an empty cache and 0."""
        head_text = self._head_text(messages, prompt) if self.prefix_cache else None
        if head_text is None:
            return self._new_cache(), 0
        entry = self._prefixes.get(head_text)
        if entry is None:
            head_ids = self._encode(head_text)
            n = int(head_ids.shape[1])
            # The prefix must tokenize the same alone as inside the prompt (it ends at a special token).
            if n == 0 or n >= input_ids.shape[1] or not bool((input_ids[0, :n] == head_ids[0]).all()):
                return self._new_cache(), 0
            cache = self._new_cache()
            self._forward(head_ids, cache, logits_to_keep=1)
            entry = (n, cache)
            self._prefixes[head_text] = entry
            while len(self._prefixes) > self.PREFIX_SLOTS:
                self._prefixes.popitem(last=False)
        else:
            self._prefixes.move_to_end(head_text)
            n = entry[0]
            if n >= input_ids.shape[1]:
                return self._new_cache(), 0
        return copy.deepcopy(entry[1]), n

    def prime(self, messages: list[dict[str, str]]) -> None:
        """Compute the KV cache of the shared prefix of `messages` now (e.g. at start-up), so that the
        first request does not pay for it. `messages` ends with a user turn (its text is not kept)."""
        import torch

        with self._lock, torch.inference_mode():
            prompt, _ = self.prompt_text(messages)
            if self.lean is None:
                self._shared_prefix(messages, prompt, self._encode(prompt))
                return
            ids = self._encode(prompt)[0].tolist()
            self._lean_head(ids, self._head_length(messages, prompt, ids))

    def token_texts(self) -> list[str]:
        """The decoded text of every token id, padded to the model's vocabulary size (cached)."""
        if self._token_texts is None:
            vocab = max(int(self.config.get("vocab_size") or 0), len(self.tokenizer))
            n = min(len(self.tokenizer), vocab)
            backend = getattr(self.tokenizer, "backend_tokenizer", None)
            if backend is not None:  # the Rust tokenizer directly: 0.3 s instead of 1.2 s (same texts)
                texts = backend.decode_batch([[i] for i in range(n)], skip_special_tokens=False)
            else:
                texts = self.tokenizer.batch_decode([[i] for i in range(n)], clean_up_tokenization_spaces=False)
            self._token_texts = list(texts) + [""] * (vocab - n)
        return self._token_texts

    def digit_vocab(self) -> DigitVocab:
        """The number constraint's view of the vocabulary (cached)."""
        if self._digit_vocab is None:
            self._digit_vocab = DigitVocab.of(self.token_texts())
        return self._digit_vocab

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- the interface

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int = 64,
        allowed_numbers: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Yield the greedy reply as text deltas; never splits a multi-byte character.

        Args:
            messages: OpenAI-style chat messages; a final assistant message is continued.
            max_new_tokens: stop after this many tokens.
            allowed_numbers: when given, every number the reply writes (ASCII digits, at most one
                decimal point) must be one of these; None: no constraint.
        """
        with self._lock:
            started = time.perf_counter()
            prompt, prefix = self.prompt_text(messages)
            input_ids = self._encode(prompt)
            constraint = NumberConstraint(self.digit_vocab(), allowed_numbers) if allowed_numbers is not None else None
            stats: dict[str, Any] = {
                "prompt_tokens": int(input_ids.shape[1]), "new_tokens": 0, "constrained": constraint is not None,
                "cached_tokens": 0, "drafted_tokens": 0, "accepted_tokens": 0, "forward_calls": 0, "prompt_calls": 0,
            }
            self.last_stats = stats
            reply = _Reply(self.tokenizer, prefix, constraint, stats, started)
            if self.lean is not None:
                ids = input_ids[0].tolist()
                head = self._head_length(messages, prompt, ids) if self.prefix_cache else 0
                steps = self._steps_lean(ids, head, reply, max_new_tokens)
            else:
                steps = self._steps_transformers(messages, prompt, input_ids, reply, max_new_tokens)
            for delta in steps:
                if delta:
                    yield delta
            tail = reply.tail()
            if tail:
                yield tail
            reply.finish()

    def _steps_transformers(self, messages, prompt: str, input_ids, reply: "_Reply", max_new_tokens: int) -> Iterator[str]:
        """The greedy loop on transformers' forward, one token per call (any causal LM)."""
        import torch

        stats = reply.stats
        with torch.inference_mode():
            cache, cached = self._shared_prefix(messages, prompt, input_ids)
            stats["cached_tokens"] = cached
            logits = self._forward(input_ids[:, cached:], cache, logits_to_keep=1).logits[0, -1]
            stats["prompt_calls"] += 1
            stats["forward_calls"] += 1
            reply.prefilled()
            while len(reply.ids) < max_new_tokens:
                next_id = reply.pick(logits)
                if next_id in self.eos_ids:
                    break
                yield reply.add(next_id)
                if len(reply.ids) >= max_new_tokens:
                    break
                logits = self._forward(torch.tensor([[next_id]]), cache, logits_to_keep=1).logits[0, -1]
                stats["forward_calls"] += 1

    def _head_text(self, messages: list[dict[str, str]], prompt: str) -> str | None:
        """The messages before the last user turn (system prompt, worked example) rendered, when
        `prompt` starts with them; None when there are none or it does not."""
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
        head = messages[:last_user]
        if not head:
            return None
        head_text = self.tokenizer.apply_chat_template(head, add_generation_prompt=False, tokenize=False)
        return head_text if prompt.startswith(head_text) else None

    def _head_length(self, messages: list[dict[str, str]], prompt: str, ids: list[int]) -> int:
        """How many leading tokens of `ids` are `_head_text` (0: none, or tokenized differently)."""
        head_text = self._head_text(messages, prompt)
        if head_text is None:
            return 0
        head_ids = self._head_ids.get(head_text)
        if head_ids is None:
            head_ids = self._encode(head_text)[0].tolist()
            self._head_ids[head_text] = head_ids
            while len(self._head_ids) > self.PREFIX_SLOTS:
                self._head_ids.popitem(last=False)
        n = len(head_ids)
        return n if 0 < n < len(ids) and ids[:n] == head_ids else 0

    def _lean_head(self, ids: list[int], head: int, capacity: int = 1024) -> tuple[KVCache, bool]:
        """(the lean KV cache, holding exactly `ids[:head]`; was it kept from before).

        The head is computed in a call of its own when the cache does not already hold it.
        """
        assert self.lean is not None
        cache = self._lean_cache
        if cache is None:
            cache = self._lean_cache = self.lean.new_cache(max(capacity, 1024))
        if head > 0 and len(self._lean_ids) >= head and self._lean_ids[:head] == ids[:head]:
            cache.length = head
            self._lean_ids = ids[:head]
            return cache, True
        self._lean_ids = []
        cache.length = 0
        if head > 0:
            self.lean.forward(ids[:head], cache, last_only=True)
            self._lean_ids = ids[:head]
        return cache, False

    def _steps_lean(self, ids: list[int], head: int, reply: "_Reply", max_new_tokens: int) -> Iterator[str]:
        """The greedy loop on the lean decoder, with prompt-lookup drafts verified in one call.

        After each token, up to `draft_tokens` tokens that followed the latest occurrence of the
        reply's last few tokens in the prompt (answers copy the evidence) are run together with it;
        each draft token is kept while it is exactly what greedy decoding (with the number
        constraint) picks at its place, so far fewer calls give the same choices.

        `head` > 0 (with `prefix_cache`): the first `head` tokens (system prompt, worked example) are
        computed in a call of their own and kept in the KV cache for the next prompt that starts
        with them. They are always computed alone, so a reply depends only on its prompt, never on
        what was asked before (int8 quantizes activations per call).
        """
        import torch

        lean, stats = self.lean, reply.stats
        assert lean is not None
        with torch.inference_mode():
            cache, kept = self._lean_head(ids, head, len(ids) + max_new_tokens + self.draft_tokens + 1)
            self._lean_ids = []  # until the cache is consistent again (an interrupted reply leaves it unknown)
            if kept:
                stats["cached_tokens"] = head
            elif head > 0:
                stats["prompt_calls"] += 1
            logits = lean.forward(ids[cache.length:], cache, last_only=True)[-1]
            stats["prompt_calls"] += 1
            stats["forward_calls"] += stats["prompt_calls"]
            reply.prefilled()
            history = list(ids)
            while len(reply.ids) < max_new_tokens:
                next_id = reply.pick(logits)
                if next_id in self.eos_ids:
                    break
                yield reply.add(next_id)
                history.append(next_id)
                if len(reply.ids) >= max_new_tokens:
                    break
                drafts = propose_drafts(history, min(self.draft_tokens, max_new_tokens - len(reply.ids)))
                rows = lean.forward([next_id] + drafts, cache)
                stats["forward_calls"] += 1
                stats["drafted_tokens"] += len(drafts)
                accepted = 0
                while accepted < len(drafts):
                    choice = reply.pick(rows[accepted])
                    if choice != drafts[accepted] or choice in self.eos_ids:
                        break
                    yield reply.add(choice)
                    history.append(choice)
                    accepted += 1
                stats["accepted_tokens"] += accepted
                cache.length -= len(drafts) - accepted  # forget the rejected drafts
                logits = rows[accepted]
        # The cache now holds the keys/values of history[:cache.length] (the last pick is not in it).
        self._lean_ids = history[: cache.length]

    def _choose_lean(self, prompt_ids: list[int], candidates: list[str]) -> list[float]:
        assert self.lean is not None
        tokenized = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in candidates]
        return _lean_scores(self.lean, prompt_ids, tokenized)

    def generate(self, messages: list[dict[str, str]], **kwargs) -> str:
        """The whole reply as one string."""
        return "".join(self.stream(messages, **kwargs))

    def choose(self, messages: list[dict[str, str]], prefix: str, candidates: list[str]) -> list[float]:
        """Total log-likelihood of each candidate continuing the assistant reply after `prefix`.

        E.g. prefix "地区生产总值为" and candidates ["4015", "5.8"]: pick the best-scored whole number.
        The prompt is run once; each candidate reuses a copy of its KV cache.
        """
        import torch

        with self._lock, torch.inference_mode():
            prompt, _ = self.prompt_text(list(messages) + [{"role": "assistant", "content": prefix}])
            if self.lean is not None:
                return self._choose_lean(self._encode(prompt)[0].tolist(), candidates)
            cache = self._new_cache()
            first = torch.log_softmax(self._forward(self._encode(prompt), cache, logits_to_keep=1).logits[0, -1].float(), -1)
            scores = []
            for candidate in candidates:
                ids = self.tokenizer(candidate, add_special_tokens=False)["input_ids"]
                if not ids:
                    scores.append(0.0)
                    continue
                total = float(first[ids[0]])
                if len(ids) > 1:
                    out = self._forward(torch.tensor([ids[:-1]]), copy.deepcopy(cache))
                    logprobs = torch.log_softmax(out.logits[0].float(), -1)
                    total += float(sum(logprobs[j, ids[j + 1]] for j in range(len(ids) - 1)))
                scores.append(total)
            return scores


class _Reply:
    """The reply being generated: token ids, their text, what has been yielded, and the timings."""

    def __init__(self, tokenizer, prefix: str, constraint: NumberConstraint | None, stats: dict[str, Any], started: float):
        self.tokenizer = tokenizer
        self.prefix = prefix
        self.constraint = constraint
        self.stats = stats
        self.started = started
        self.ids: list[int] = []
        self.decoded = ""  # text of `ids`; an incomplete character shows as U+FFFD
        self.emitted = ""  # what has been yielded: `decoded` up to its last complete character
        self.first_token_at: float | None = None

    def prefilled(self) -> None:
        self.stats["prefill_s"] = time.perf_counter() - self.started

    def pick(self, logits) -> int:
        """The greedy choice among the tokens the number constraint allows after the text so far."""
        import torch

        if self.constraint is not None:
            mask = self.constraint.mask(self.prefix + self.decoded)
            if mask.shape[0] != logits.shape[0]:
                mask = _fit(mask, logits.shape[0])
            logits = logits.masked_fill(~mask, float("-inf"))
        return int(torch.argmax(logits))

    def add(self, token_id: int) -> str:
        """Append a token; the new complete characters ("" while a character is incomplete)."""
        self.ids.append(token_id)
        self.stats["new_tokens"] = len(self.ids)
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            self.stats["ttft_s"] = self.first_token_at - self.started
        self.decoded = self.tokenizer.decode(self.ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if not self.decoded.endswith("\ufffd") and len(self.decoded) > len(self.emitted):
            delta, self.emitted = self.decoded[len(self.emitted):], self.decoded
            return delta
        return ""

    def tail(self) -> str:
        """A character left incomplete at the token limit, without the replacement mark."""
        if len(self.decoded) > len(self.emitted):
            return self.decoded[len(self.emitted):].replace("\ufffd", "")
        return ""

    def finish(self) -> None:
        stats, ended = self.stats, time.perf_counter()
        decode_s = ended - self.first_token_at if self.first_token_at else 0.0
        prefill_s = stats.get("prefill_s", 0.0)
        stats.update(
            decode_s=decode_s,
            total_s=ended - self.started,
            prefill_tokens_per_s=(stats["prompt_tokens"] - stats["cached_tokens"]) / prefill_s if prefill_s else 0.0,
            decode_tokens_per_s=(len(self.ids) - 1) / decode_s if decode_s and len(self.ids) > 1 else 0.0,
        )


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading items `a` and `b` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def propose_drafts(history: Sequence[int], k: int, max_ngram: int = 3) -> list[int]:
    """Up to `k` tokens that followed the latest earlier occurrence of `history`'s last n tokens
    (n = `max_ngram` down to 1): prompt-lookup drafting, free and right whenever the reply copies."""
    if k <= 0:
        return []
    size = len(history)
    for n in range(min(max_ngram, size - 1), 0, -1):
        tail = list(history[size - n:])
        first = tail[0]
        for start in range(size - n - 1, -1, -1):
            if history[start] == first and list(history[start:start + n]) == tail:
                follow = list(history[start + n:start + n + k])
                if follow:
                    return follow
    return []


def _lean_scores(lean: LeanDecoder, prompt_ids: list[int], candidates: list[list[int]]) -> list[float]:
    """Total log-likelihood of each token list continuing `prompt_ids` (the prompt is run once)."""
    import torch

    cache = lean.new_cache(len(prompt_ids) + max((len(c) for c in candidates), default=0) + 1)
    first = torch.log_softmax(lean.forward(prompt_ids, cache, last_only=True)[-1].float(), -1)
    base = cache.length
    scores = []
    for ids in candidates:
        if not ids:
            scores.append(0.0)
            continue
        total = float(first[ids[0]])
        if len(ids) > 1:
            cache.length = base
            logprobs = torch.log_softmax(lean.forward(ids[:-1], cache).float(), -1)
            total += float(sum(logprobs[j, ids[j + 1]] for j in range(len(ids) - 1)))
        scores.append(total)
    return scores


def _fit(mask, size: int):
    import torch

    if mask.shape[0] > size:
        return mask[:size]
    return torch.cat([mask, torch.zeros(size - mask.shape[0], dtype=torch.bool)])


# --------------------------------------------------------------------------- OpenAI-compatible server


class OpenAIGenerator:
    """Streams from an OpenAI-compatible `/chat/completions` endpoint (vLLM, llama.cpp server, Ollama).

    Greedy via `temperature: 0`. `allowed_numbers` is ignored: a remote server takes no per-token
    mask, so the caller must verify numbers after generation.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 60):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.name = f"openai:{model}"
        self.last_stats: dict[str, Any] = {}

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int = 64,
        allowed_numbers: Sequence[str] | None = None,
    ) -> Iterator[str]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "temperature": 0,
            "max_tokens": max_new_tokens,
        }
        started = time.perf_counter()
        stats: dict[str, Any] = {"chunks": 0}
        self.last_stats = stats
        try:
            with httpx.Client(timeout=self.timeout) as client, client.stream("POST", url, json=payload, headers=headers) as response:
                if response.status_code != 200:
                    body = response.read().decode("utf-8", "replace")[:500]
                    raise GeneratorError(
                        f"{url} answered HTTP {response.status_code}: {body!r}; check openai_base_url, "
                        f"openai_model ({self.model!r}) and openai_api_key"
                    )
                for line in response.iter_lines():
                    line = line.strip()
                    if not line or line.startswith(":") or not line.startswith("data:"):
                        continue  # blank separators, SSE comments, event:/id: fields
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise GeneratorError(f"{url} sent a stream line that is not JSON: {data[:200]!r}; is it an OpenAI-compatible server?") from None
                    if isinstance(event, dict) and event.get("error"):
                        raise GeneratorError(f"{url} reported an error mid-stream: {event['error']}")
                    try:
                        choices = event.get("choices") or []
                        content = (choices[0].get("delta") or {}).get("content") if choices else None
                    except (AttributeError, IndexError, TypeError):
                        raise GeneratorError(f"{url} sent an unexpected chunk: {data[:200]!r}") from None
                    if content:
                        if "ttft_s" not in stats:
                            stats["ttft_s"] = time.perf_counter() - started
                        stats["chunks"] += 1
                        yield content
        except httpx.ConnectError as exc:
            raise GeneratorError(f"could not connect to {url}: {exc}; is the server running? check openai_base_url") from exc
        except httpx.TimeoutException as exc:
            raise GeneratorError(f"{url} did not answer within {self.timeout} s ({type(exc).__name__}); raise request_timeout_s or check the server") from exc
        except httpx.HTTPError as exc:
            raise GeneratorError(f"request to {url} failed: {type(exc).__name__}: {exc}") from exc
        stats["total_s"] = time.perf_counter() - started


# --------------------------------------------------------------------------- choice


def make_generator(settings: "Settings", *, progress: bool = True) -> Generator | None:
    """The generator named by `settings.generator`; None for "extractive" (no language model).

    "local" prepares the model files first (`qa.models.prepare_model`; converts once, then cached).
    """
    kind = settings.generator
    if kind == "extractive":
        return None
    if kind == "openai":
        return OpenAIGenerator(
            settings.openai_base_url, settings.openai_model, settings.openai_api_key, timeout=settings.request_timeout_s
        )
    if kind == "local":
        from qa.models import prepare_model

        model_dir = prepare_model(settings.model, settings.cache_dir, progress=progress)
        return LocalGenerator(
            model_dir,
            threads=settings.threads,
            quantize=settings.quantize,
            name=f"local:{settings.model}",
            int8_cache=int8_cache_path(model_dir, settings.cache_dir),
            prefix_cache=settings.prefix_cache,
            draft_tokens=settings.draft_tokens,
        )
    raise ValueError(f"unknown generator {kind!r}; choose 'local', 'openai' or 'extractive'")
