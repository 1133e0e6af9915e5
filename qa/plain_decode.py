"""The plain decode path: transformers' own `generate()`, greedy, with the number constraint.

`generate_steps(model, input_ids, reply, …)` runs `model.generate(do_sample=False,
logits_processor=[NumberConstraintProcessor], prompt_lookup_num_tokens=…, streamer=…)` in a
thread and yields the reply's text deltas as tokens arrive, so any causal LM transformers can load
runs behind the same `Generator` interface as the lean decoder (`qa.fastlm`), with the same greedy
choices on the same weights. It is the honest baseline: what a careful user of transformers would
write. A consumer that stops reading stops the generation at its next step.

Left out: sampling, beams, batching. Imported only when used (it imports torch and transformers).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterator

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer


class NumberConstraintProcessor(LogitsProcessor):
    """Masks the tokens that would write a number the constraint does not allow (`qa.constraint`)."""

    def __init__(self, reply: Any, prompt_length: int) -> None:
        self.reply = reply  # a `qa.local_generator._Reply`: tokenizer, prefix and constraint
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        reply = self.reply
        text = reply.tokenizer.decode(input_ids[0, self.prompt_length :].tolist(), skip_special_tokens=True, clean_up_tokenization_spaces=False)
        mask = reply.constraint.mask(reply.prefix + text)
        size = scores.shape[-1]
        if mask.shape[0] != size:  # a tokenizer and its model may count the vocabulary differently
            mask = mask[:size] if mask.shape[0] > size else torch.cat([mask, torch.zeros(size - mask.shape[0], dtype=torch.bool)])
        return scores.masked_fill(~mask, float("-inf"))


class _StopWhenClosed(StoppingCriteria):
    def __init__(self, closed: threading.Event) -> None:
        self.closed = closed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.closed.is_set(), dtype=torch.bool)


class _TokenQueue(BaseStreamer):
    """generate()'s new token ids, one by one, into a queue (the prompt, put first, is skipped)."""

    def __init__(self) -> None:
        self.tokens: queue.Queue = queue.Queue()
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.tokens.put(token)

    def end(self) -> None:
        self.tokens.put(None)


def generate_steps(model: Any, input_ids: torch.LongTensor, reply: Any, max_new_tokens: int, eos_ids: set[int], draft_tokens: int = 0) -> Iterator[str]:
    """Yield the reply's text deltas from `model.generate(...)`, greedy, constrained, streamed.

    Args:
        draft_tokens: `prompt_lookup_num_tokens` (tokens copied ahead from the prompt and checked in
            one call; greedy choices unchanged); 0: one token per call.
    """
    closed = threading.Event()
    streamer = _TokenQueue()
    processors = LogitsProcessorList([NumberConstraintProcessor(reply, int(input_ids.shape[1]))] if reply.constraint is not None else [])
    kwargs = dict(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        temperature=None,
        top_p=None,
        top_k=None,
        logits_processor=processors,
        stopping_criteria=StoppingCriteriaList([_StopWhenClosed(closed)]),
        streamer=streamer,
        eos_token_id=sorted(eos_ids),
        pad_token_id=min(eos_ids) if eos_ids else None,
        prompt_lookup_num_tokens=draft_tokens or None,
    )
    failed: list[BaseException] = []

    def run() -> None:
        try:
            with torch.inference_mode():
                model.generate(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread
            failed.append(exc)
        finally:
            streamer.end()

    worker = threading.Thread(target=run, name="qa-generate", daemon=True)
    worker.start()
    try:
        while len(reply.ids) < max_new_tokens:
            token = streamer.tokens.get()
            if token is None or token in eos_ids:
                break
            if not reply.ids:
                reply.prefilled()
            yield reply.add(token)
    finally:
        closed.set()
        worker.join()
    if failed:
        raise failed[0]
