"""Generators: one small streaming interface, a local transformers model and an OpenAI-compatible server.

`Generator.stream(messages)` yields text deltas of a greedy (deterministic) reply to OpenAI-style chat
messages. `LocalGenerator` runs a causal LM on the CPU with its own greedy loop over the KV cache,
optionally re-quantizing linear layers to int8 (quantized once, then loaded from a cache file),
reuses the KV cache of a shared chat prefix (system prompt + worked example) across requests, and
can constrain the numbers it writes to a given set (`NumberConstraint`). `OpenAIGenerator` streams from any OpenAI-compatible `/chat/completions`
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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Protocol, Sequence

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


class NumberConstraint:
    """Decides which tokens may come next so that every number written is one of `allowed`.

    Args:
        token_texts: the decoded text of every token id (index = id).
        allowed: strings holding the allowed numbers (normalized with `normalize_numbers`).

    Only tokens that contain an ASCII digit or a dot are checked one by one; every other token is
    allowed exactly when the open number run (if any) is already a complete allowed number. Masks are
    cached per open run, so a reply costs a handful of checks, not one per vocabulary entry per step.
    """

    def __init__(self, token_texts: Sequence[str], allowed: Iterable[str]):
        self.allowed = normalize_numbers(allowed)
        self.prefixes = frozenset(a[:i] for a in self.allowed for i in range(1, len(a) + 1))
        self.vocab_size = len(token_texts)
        self._digit_ids = [i for i, t in enumerate(token_texts) if _DIGIT.search(t)]
        self._dot_ids = [i for i, t in enumerate(token_texts) if "." in t and not _DIGIT.search(t)]
        self._texts = {i: token_texts[i] for i in self._digit_ids + self._dot_ids}
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
                mask[torch.tensor(sorted(self._texts), dtype=torch.long)] = True
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


INT8_CACHE_FORMAT = 1  # bump when what `load_int8_model` saves changes


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
        int8_cache: file for the quantized model (see `load_int8_model`); None: quantize at every start.
        prefix_cache: keep the KV cache of the messages before the last user turn (system prompt,
            worked example) and reuse it when a later prompt starts with the same messages. Off by
            default: with int8 the activations are quantized with one scale per forward call, so a
            prompt pre-filled in two parts gives (slightly) different replies; on the dev questions
            it saved ~70% of the prompt's pre-fill and kept accuracy, but more drafts failed the
            engine's check (model-written answers 97% → 89%). In float32 it is exact up to rounding.

    `last_stats` holds the timings of the latest call: prompt_tokens, cached_tokens (taken from the
    prefix cache), new_tokens, prefill_s, ttft_s, decode_s, prefill_tokens_per_s,
    decode_tokens_per_s, total_s.
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
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if quantize not in {"int8", "none"}:
            raise ValueError(f"quantize must be 'int8' or 'none', not {quantize!r}")
        started = time.perf_counter()
        set_threads(threads)
        self.model_dir = Path(model_dir)
        self.name = name or f"local:{self.model_dir.name}"
        self.quantize = quantize
        # The tokenizer (~1 s) loads in a second thread while the weights load: both spend most of
        # their time in native code, so on two cores they overlap.
        tokenizer: dict[str, Any] = {}

        def load_tokenizer() -> None:
            try:
                tokenizer["value"] = AutoTokenizer.from_pretrained(self.model_dir)
            except Exception as exc:  # noqa: BLE001 - re-raised below in the caller's thread
                tokenizer["error"] = exc

        loader = threading.Thread(target=load_tokenizer, name="qa-tokenizer", daemon=True)
        loader.start()
        try:
            if quantize == "int8":
                model = load_int8_model(self.model_dir, Path(int8_cache) if int8_cache is not None else None)
            else:
                model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32)
                model.eval()
        finally:
            loader.join()
        if "error" in tokenizer:
            raise tokenizer["error"]
        self.tokenizer = tokenizer["value"]
        self.model = model
        self.prefix_cache = prefix_cache
        self._prefixes: OrderedDict[str, tuple[int, Any]] = OrderedDict()  # rendered prefix → (tokens, KV cache)
        # transformers 5.2x renamed the forward argument `past_key_values` to `cache`.
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self.eos_ids = self._stop_ids()
        self._token_texts: list[str] | None = None
        self.token_texts()  # for the number constraint; at load, not in the first request
        self.load_seconds = time.perf_counter() - started
        self.last_stats: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- helpers

    def _stop_ids(self) -> set[int]:
        ids: set[int] = set()
        eos = getattr(self.model.generation_config, "eos_token_id", None)
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
        if not self.prefix_cache:
            return self._new_cache(), 0
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
        head = messages[:last_user]
        if not head:
            return self._new_cache(), 0
        head_text = self.tokenizer.apply_chat_template(head, add_generation_prompt=False, tokenize=False)
        if not prompt.startswith(head_text):
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
            self._shared_prefix(messages, prompt, self._encode(prompt))

    def token_texts(self) -> list[str]:
        """The decoded text of every token id, padded to the model's vocabulary size (cached)."""
        if self._token_texts is None:
            vocab = max(int(self.model.config.vocab_size), len(self.tokenizer))
            n = min(len(self.tokenizer), vocab)
            backend = getattr(self.tokenizer, "backend_tokenizer", None)
            if backend is not None:  # the Rust tokenizer directly: 0.3 s instead of 1.2 s (same texts)
                texts = backend.decode_batch([[i] for i in range(n)], skip_special_tokens=False)
            else:
                texts = self.tokenizer.batch_decode([[i] for i in range(n)], clean_up_tokenization_spaces=False)
            self._token_texts = list(texts) + [""] * (vocab - n)
        return self._token_texts

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
        import torch

        with self._lock:
            started = time.perf_counter()
            prompt, prefix = self.prompt_text(messages)
            input_ids = self._encode(prompt)
            constraint = NumberConstraint(self.token_texts(), allowed_numbers) if allowed_numbers is not None else None
            stats: dict[str, Any] = {"prompt_tokens": int(input_ids.shape[1]), "new_tokens": 0, "constrained": constraint is not None}
            self.last_stats = stats
            generated: list[int] = []
            decoded = ""  # text of `generated`; an incomplete character shows as U+FFFD
            emitted = ""  # what has been yielded: `decoded` up to its last complete character
            first_token_at = None
            with torch.inference_mode():
                cache, cached = self._shared_prefix(messages, prompt, input_ids)
                stats["cached_tokens"] = cached
                logits = self._forward(input_ids[:, cached:], cache, logits_to_keep=1).logits[0, -1]
                stats["prefill_s"] = time.perf_counter() - started
                for _ in range(max_new_tokens):
                    if constraint is not None:
                        mask = constraint.mask(prefix + decoded)
                        if mask.shape[0] != logits.shape[0]:
                            mask = _fit(mask, logits.shape[0])
                        logits = logits.masked_fill(~mask, float("-inf"))
                    next_id = int(torch.argmax(logits))
                    if next_id in self.eos_ids:
                        break
                    generated.append(next_id)
                    stats["new_tokens"] = len(generated)
                    if first_token_at is None:
                        first_token_at = time.perf_counter()
                        stats["ttft_s"] = first_token_at - started
                    decoded = self.tokenizer.decode(generated, skip_special_tokens=True, clean_up_tokenization_spaces=False)
                    if not decoded.endswith("\ufffd") and len(decoded) > len(emitted):
                        delta, emitted = decoded[len(emitted):], decoded
                        yield delta
                    if len(generated) >= max_new_tokens:
                        break
                    logits = self._forward(torch.tensor([[next_id]]), cache, logits_to_keep=1).logits[0, -1]
            if len(decoded) > len(emitted):  # a character left incomplete at the token limit
                tail = decoded[len(emitted):].replace("\ufffd", "")
                if tail:
                    yield tail
            ended = time.perf_counter()
            decode_s = ended - first_token_at if first_token_at else 0.0
            stats.update(
                decode_s=decode_s,
                total_s=ended - started,
                prefill_tokens_per_s=(stats["prompt_tokens"] - cached) / stats["prefill_s"] if stats["prefill_s"] else 0.0,
                decode_tokens_per_s=(len(generated) - 1) / decode_s if decode_s and len(generated) > 1 else 0.0,
            )

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
            prefix_cache=bool(getattr(settings, "prefix_cache", False)),
        )
    raise ValueError(f"unknown generator {kind!r}; choose 'local', 'openai' or 'extractive'")
