"""The local generator: a causal LM on this machine's CPU, greedy, streamed token by token.

`LocalGenerator.stream(messages, max_new_tokens=…, allowed_numbers=…)` renders the chat messages
with the model's chat template and runs its own greedy loop over the KV cache, masking tokens with
the number constraint (`qa.constraint`) so that every number written is one of the evidence's. Two
decode paths give the same greedy choices:

- the lean fast path (Qwen2/Llama-style models): `qa.fastlm.LeanDecoder` on int8 weights loaded
  from one safetensors file (`qa.int8_files.load_lean_int8`), with prompt-lookup drafts
  (`qa.fastlm.propose_drafts`) verified several tokens per call;
- transformers' own `generate()` (`qa.plain_decode`), with the constraint as a logits processor
  and `prompt_lookup_num_tokens` drafts, for any other causal LM (int8 or float32), or when asked
  for (`QA_DECODER=transformers`): the plain path, and `qa bench`'s naive baseline.

Left out: sampling, batching, stop strings; a prefix KV cache shared between requests (int8
quantizes activations per call, so a prompt computed in two parts changed replies).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from .constraint import DigitVocab, NumberConstraint
from .fastlm import propose_drafts
from .generators import GeneratorError


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
        int8_cache: file for the quantized model (see `qa.int8_files.load_int8_model`; the lean decoder's
            file is `qa.int8_files.lean_cache_path(int8_cache)`); None: quantize at every start.
        lean: run Qwen2/Llama-style models on `qa.fastlm.LeanDecoder` (False: transformers' generate()).
        draft_tokens: prompt-lookup draft tokens verified per call, on either path (0: none).

    `last_stats` holds the timings of the latest call: prompt_tokens, new_tokens, prefill_s, ttft_s,
    decode_s, prefill_tokens_per_s, decode_tokens_per_s, total_s, forward_calls (prompt_calls of
    them for the prompt), drafted_tokens, accepted_tokens.
    """

    def __init__(
        self,
        model_dir: str | Path,
        threads: int = 2,
        quantize: str = "int8",
        name: str | None = None,
        *,
        int8_cache: str | Path | None = None,
        lean: bool = True,
        draft_tokens: int = 4,
    ):
        from .int8_files import lean_supported
        from .models import read_json

        if quantize not in {"int8", "none"}:
            raise ValueError(f"quantize must be 'int8' or 'none', not {quantize!r}")
        started = time.perf_counter()
        set_threads(threads)
        self.model_dir = Path(model_dir)
        self.name = name or f"local:{self.model_dir.name}"
        self.quantize = quantize
        self.config = read_json(self.model_dir / "config.json")
        self.tokenizer, self.model, self.lean = _load(
            self.model_dir, quantize, lean and lean_supported(self.model_dir), int8_cache, threads
        )
        self.draft_tokens = max(0, int(draft_tokens))
        self._lean_cache = None  # the lean decoder's KV cache, reused (its length reset) by every reply
        self.eos_ids = self._stop_ids()
        self._token_texts: list[str] | None = None
        self._digit_vocab: DigitVocab | None = None
        self.digit_vocab()  # for the number constraint; at load, not in the first request
        self.load_seconds = time.perf_counter() - started
        self.last_stats: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- helpers

    def _stop_ids(self) -> set[int]:
        """The token ids that end a reply: the model's eos ids and the usual chat end markers."""
        from .models import read_json

        ids: set[int] = set()
        if self.model is not None:
            eos = getattr(self.model.generation_config, "eos_token_id", None)
        else:
            eos = read_json(self.model_dir / "generation_config.json").get("eos_token_id", self.config.get("eos_token_id"))
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
                "drafted_tokens": 0, "accepted_tokens": 0, "forward_calls": 0, "prompt_calls": 0,
            }
            self.last_stats = stats
            reply = _Reply(self.tokenizer, prefix, constraint, stats, started)
            if self.lean is not None:
                steps = self._steps_lean(input_ids[0].tolist(), reply, max_new_tokens)
            else:
                steps = self._steps_transformers(input_ids, reply, max_new_tokens)
            for delta in steps:
                if delta:
                    yield delta
            tail = reply.tail()
            if tail:
                yield tail
            reply.finish()

    def generate(self, messages: list[dict[str, str]], **kwargs) -> str:
        """The whole reply as one string."""
        return "".join(self.stream(messages, **kwargs))

    def _steps_transformers(self, input_ids, reply: "_Reply", max_new_tokens: int) -> Iterator[str]:
        """The plain path: transformers' generate(), greedy, constrained, streamed (any causal LM)."""
        from .plain_decode import generate_steps

        reply.stats["decoder"] = "transformers"
        return generate_steps(self.model, input_ids, reply, max_new_tokens, self.eos_ids, self.draft_tokens)

    def _steps_lean(self, ids: list[int], reply: "_Reply", max_new_tokens: int) -> Iterator[str]:
        """The greedy loop on the lean decoder, with prompt-lookup drafts verified in one call.

        After each token, up to `draft_tokens` tokens that followed the latest occurrence of the
        reply's last few tokens in the prompt (answers copy the evidence) are run together with it;
        each draft token is kept while it is exactly what greedy decoding (with the number
        constraint) picks at its place, so far fewer calls give the same choices.
        """
        import torch

        lean, stats = self.lean, reply.stats
        assert lean is not None
        with torch.inference_mode():
            if self._lean_cache is None:
                self._lean_cache = lean.new_cache(max(1024, len(ids) + max_new_tokens + self.draft_tokens + 1))
            cache = self._lean_cache
            cache.length = 0
            logits = lean.forward(ids, cache, last_only=True)[-1]
            stats["prompt_calls"] += 1
            stats["forward_calls"] += 1
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


def _load(model_dir: Path, quantize: str, use_lean: bool, int8_cache: str | Path | None, threads: int):
    """(tokenizer, transformers model or None, lean decoder or None) for `LocalGenerator`.

    The tokenizer (~1 s) loads in a second thread while the weights load: both spend most of their
    time in native code, so on two cores they overlap.
    """
    import torch

    from .fastlm import LeanDecoder
    from .int8_files import lean_cache_path, load_int8_model, load_lean_int8

    tokenizer: dict[str, Any] = {}

    def load_tokenizer() -> None:
        try:
            from transformers import AutoTokenizer

            tokenizer["value"] = AutoTokenizer.from_pretrained(model_dir)
        except Exception as exc:  # noqa: BLE001 - re-raised below in the caller's thread
            tokenizer["error"] = exc

    loader = threading.Thread(target=load_tokenizer, name="qa-tokenizer", daemon=True)
    loader.start()
    model = lean = None
    try:
        if quantize == "int8" and use_lean:
            # No transformers model at all: int8 matrices straight from a safetensors file.
            lean = load_lean_int8(model_dir, lean_cache_path(int8_cache) if int8_cache is not None else None, threads)
        elif quantize == "int8":
            model = load_int8_model(model_dir, Path(int8_cache) if int8_cache is not None else None)
        else:
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
            lean = LeanDecoder.from_model(model) if use_lean and LeanDecoder.supports(model) else None
    finally:
        loader.join()
    if "error" in tokenizer:
        raise tokenizer["error"]
    return tokenizer["value"], model, lean


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
        """Mark the end of the prompt's computation."""
        self.stats["prefill_s"] = time.perf_counter() - self.started

    def pick(self, logits) -> int:
        """The greedy choice among the tokens the number constraint allows after the text so far."""
        import torch

        if self.constraint is not None:
            mask = self.constraint.mask(self.prefix + self.decoded)
            if mask.shape[0] != logits.shape[0]:
                mask = _fit(mask, int(logits.shape[0]))
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
        """Fill in the timings of the finished reply."""
        stats, ended = self.stats, time.perf_counter()
        decode_s = ended - self.first_token_at if self.first_token_at else 0.0
        prefill_s = stats.get("prefill_s", 0.0)
        stats.update(
            decode_s=decode_s,
            total_s=ended - self.started,
            prefill_tokens_per_s=stats["prompt_tokens"] / prefill_s if prefill_s else 0.0,
            decode_tokens_per_s=(len(self.ids) - 1) / decode_s if decode_s and len(self.ids) > 1 else 0.0,
        )


def _fit(mask, size: int):
    """`mask` cut or padded (with False) to `size` entries: a tokenizer and its model may count the
    vocabulary differently."""
    import torch

    if mask.shape[0] > size:
        return mask[:size]
    return torch.cat([mask, torch.zeros(size - mask.shape[0], dtype=torch.bool)])
