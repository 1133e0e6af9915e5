"""A lean decoder for Qwen2/Llama-style models on the CPU: the same int8 kernels, less around them.

Measured on two cores with the 0.5B model: transformers' forward takes ~37 ms per token, of which
~20 ms is int8 matrix work and the rest Python, cache objects and mask building; this module's
forward takes ~29 ms, with bit-identical logits. It runs the computation with plain tensor ops:

- the layers' own kernels called directly (int8 dynamic-quantized or float32 weights, shared, not
  copied), so the logits are those of transformers for the same inputs;
- a pre-allocated KV cache (`KVCache`): appending is a slice copy, truncating (rejected draft tokens)
  or rewinding to a shared prompt prefix is setting a length;
- rotary tables computed once; grouped-query attention through one `scaled_dot_product_attention`;
- `forward` returns the logits of every input position, so a run of draft tokens is verified in one
  call (M rows cost little more than one: the weights are read once).

`LeanDecoder.from_tensors` builds the decoder from an int8 model's plain tensors (read by
`qa.int8_files.load_lean_int8` from one safetensors file) without transformers' model code: ~1.5 s
instead of ~3.5 s for unpickling a quantized transformers model (fbgemm re-packing, in two threads
here, is most of it). The int8 kernels come from `qa.int8layers`, the one module that uses torch's
private quantized API. `LeanDecoder.supports(model)` says whether a model has the shape this code implements (Qwen2 /
Llama: RMSNorm, SwiGLU, default RoPE, full attention); anything else keeps the transformers path.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

SUPPORTED_TYPES = {"qwen2", "llama"}
LM_HEAD_SLICES = 16  # the output layer is packed as this many row slices (faster to pack)
LINEARS = ("q", "k", "v", "out", "gate", "up", "down")  # a layer's matrices, as `_Layer` names them


def concat_rows(fns: list[Callable]) -> Callable:
    """One matrix kept as row slices: the slices' outputs side by side."""
    import torch

    return lambda x: torch.cat([f(x) for f in fns], dim=-1)


def linear_fn(module) -> Callable:
    """The module's matrix product as a bare call: the int8 kernel on its packed weights (no re-packing:
    packing 500 MB of weights costs seconds) or `F.linear` on the float weights."""
    import torch.nn.functional as F

    from .int8layers import int8_call, packed_params

    pieces = getattr(module, "pieces", None)
    if pieces is not None:  # qa.int8layers.RowChunkedLinear: row slices of one matrix
        return concat_rows([linear_fn(piece) for piece in pieces])
    packed = packed_params(module)
    if packed is not None:
        return int8_call(*packed)
    weight = module.weight.detach()
    bias = module.bias.detach() if module.bias is not None else None

    def run_float(x):
        return F.linear(x, weight, bias)

    return run_float


def layer_linears(layer) -> dict[str, Any]:
    """A transformers decoder layer's seven matrices by the names in `LINEARS`."""
    attn, mlp = layer.self_attn, layer.mlp
    modules = (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj)
    return dict(zip(LINEARS, modules))


@dataclass
class KVCache:
    """Keys and values of every layer for up to `capacity` positions; `length` of them are valid."""

    keys: list[Any]
    values: list[Any]
    capacity: int
    length: int = 0


@dataclass
class _Layer:
    input_norm: Any
    q: Callable
    k: Callable
    v: Callable
    out: Callable
    post_norm: Any
    gate: Callable
    up: Callable
    down: Callable


@dataclass(frozen=True)
class LeanShape:
    """The sizes the lean forward needs, read from a transformers config (or a saved file)."""

    layers: int
    heads: int
    kv_heads: int
    hidden: int
    head_dim: int
    eps: float
    vocab_size: int
    rope_theta: float

    @classmethod
    def of(cls, cfg) -> "LeanShape":
        heads = int(cfg.num_attention_heads)
        hidden = int(cfg.hidden_size)
        return cls(
            layers=int(cfg.num_hidden_layers),
            heads=heads,
            kv_heads=int(getattr(cfg, "num_key_value_heads", None) or heads),
            hidden=hidden,
            head_dim=int(getattr(cfg, "head_dim", None) or hidden // heads),
            eps=float(cfg.rms_norm_eps),
            vocab_size=int(cfg.vocab_size),
            rope_theta=float(_rope_theta(cfg)),
        )


class LeanDecoder:
    """Runs a Qwen2/Llama-style causal LM (float32 or int8 dynamic-quantized) token-efficiently.

    Build it with `from_model` (a loaded transformers model; weights shared, not copied) or
    `from_tensors` (int8 matrices read from a file by `qa.int8_files.load_lean_int8`: no transformers
    model is built at all, which is what makes a cold start fast).
    """

    def __init__(self, shape: LeanShape, embed, final_norm, layers: list[_Layer], lm_head: Callable):
        import torch

        self.shape = shape
        self.heads, self.kv_heads, self.head_dim = shape.heads, shape.kv_heads, shape.head_dim
        self.hidden, self.eps, self.vocab_size = shape.hidden, shape.eps, shape.vocab_size
        self.embed = embed
        self.final_norm = final_norm
        self.layers = layers
        self.lm_head = lm_head
        self._inv_freq = 1.0 / (shape.rope_theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.int64).float() / self.head_dim))
        self._cos = self._sin = torch.empty(0, self.head_dim)
        self._q = self.heads * self.head_dim
        self.scale = 1.0 / math.sqrt(self.head_dim)

    @classmethod
    def from_model(cls, model) -> "LeanDecoder":
        """The decoder over a loaded transformers model's own layers (float32 or int8)."""
        if not cls.supports(model):
            raise ValueError(f"LeanDecoder does not implement {type(model).__name__}")
        inner = model.model
        layers = [
            _Layer(
                input_norm=layer.input_layernorm.weight.detach(),
                post_norm=layer.post_attention_layernorm.weight.detach(),
                **{part: linear_fn(module) for part, module in layer_linears(layer).items()},
            )
            for layer in inner.layers
        ]
        return cls(LeanShape.of(model.config), inner.embed_tokens.weight.detach(), inner.norm.weight.detach(), layers, linear_fn(model.lm_head))

    @classmethod
    def from_tensors(cls, shape: LeanShape, tensors: dict[str, Any], *, workers: int = 2) -> "LeanDecoder":
        """A decoder from plain tensors: per matrix `<name>.int8`, `<name>.qparams` (scale, zero point)
        and optional `<name>.bias`; `embed`, `norm` and each layer's `input_norm` / `post_norm`
        (the layout `qa.int8_files.save_lean_int8` writes).

        The int8 matrices are packed for fbgemm in `workers` threads (packing releases the GIL);
        the output layer is packed as row slices (fbgemm packs small matrices faster).
        """
        from concurrent.futures import ThreadPoolExecutor

        from .int8layers import int8_call, pack_int8

        def pack(name: str, rows: slice | None = None):
            ints, qparams = tensors[f"{name}.int8"], tensors[f"{name}.qparams"]
            bias = tensors.get(f"{name}.bias")
            if rows is not None:
                ints = ints[rows].contiguous()
                bias = bias[rows].contiguous() if bias is not None else None
            return pack_int8(ints, float(qparams[0]), int(qparams[1]), bias)

        names = [f"layers.{i}.{part}" for i in range(shape.layers) for part in LINEARS]
        vocab = tensors["lm_head.int8"].shape[0]
        step = -(-vocab // LM_HEAD_SLICES)
        head_rows = [slice(lo, min(lo + step, vocab)) for lo in range(0, vocab, step)]
        with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="qa-pack") as pool:
            warnings.simplefilter("ignore", UserWarning)  # "quantized tensor creation is deprecated"
            head = list(pool.map(lambda rows: pack("lm_head", rows), head_rows))
            packed = dict(zip(names, pool.map(pack, names)))
        layers = [
            _Layer(
                input_norm=tensors[f"layers.{i}.input_norm"],
                post_norm=tensors[f"layers.{i}.post_norm"],
                **{part: int8_call(packed[f"layers.{i}.{part}"]) for part in LINEARS},
            )
            for i in range(shape.layers)
        ]
        return cls(shape, tensors["embed"], tensors["norm"], layers, concat_rows([int8_call(p) for p in head]))

    @staticmethod
    def supports(model) -> bool:
        """Is `model` a Qwen2/Llama-style decoder with the parts this class implements?"""
        cfg = getattr(model, "config", None)
        if not LeanDecoder.supports_config(cfg):
            return False
        inner = getattr(model, "model", None)
        return inner is not None and hasattr(inner, "layers") and hasattr(model, "lm_head")

    @staticmethod
    def supports_config(cfg) -> bool:
        """Does a config (a transformers config or its config.json as a namespace) describe a model
        this class implements?"""
        if cfg is None or getattr(cfg, "model_type", None) not in SUPPORTED_TYPES:
            return False
        rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
        if (rope.get("rope_type") or rope.get("type") or "default") != "default":
            return False
        if getattr(cfg, "use_sliding_window", False) or getattr(cfg, "hidden_act", "silu") != "silu":
            return False
        if getattr(cfg, "mlp_bias", False):
            return False
        return _rope_theta(cfg) is not None

    def new_cache(self, capacity: int) -> KVCache:
        import torch

        shape = (1, self.kv_heads, capacity, self.head_dim)
        return KVCache(
            keys=[torch.zeros(shape) for _ in self.layers],
            values=[torch.zeros(shape) for _ in self.layers],
            capacity=capacity,
        )

    def grow(self, cache: KVCache, capacity: int) -> None:
        """Make room for `capacity` positions, keeping the valid ones."""
        import torch

        if capacity <= cache.capacity:
            return
        for store in (cache.keys, cache.values):
            for i, old in enumerate(store):
                new = torch.zeros((1, self.kv_heads, capacity, self.head_dim))
                new[:, :, : cache.length] = old[:, :, : cache.length]
                store[i] = new
        cache.capacity = capacity

    def _rope(self, start: int, count: int):
        import torch

        end = start + count
        if self._cos.shape[0] < end:
            size = max(end, 2 * self._cos.shape[0], 1024)
            t = torch.arange(size, dtype=torch.float32)
            freqs = torch.outer(t, self._inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            self._cos, self._sin = emb.cos(), emb.sin()
        return self._cos[start:end], self._sin[start:end]

    def _norm(self, x, weight):
        import torch

        variance = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(variance + self.eps))

    def forward(self, ids: list[int], cache: KVCache, *, last_only: bool = False):
        """Logits [len(ids), vocab] (or [1, vocab] with `last_only`) for `ids` appended at `cache.length`."""
        import torch
        import torch.nn.functional as F

        n = len(ids)
        start = cache.length
        if start + n > cache.capacity:
            self.grow(cache, max(start + n, 2 * cache.capacity))
        end = start + n
        cos, sin = self._rope(start, n)
        cos, sin = cos[None, None], sin[None, None]
        half = self.head_dim // 2
        x = F.embedding(torch.tensor(ids, dtype=torch.long), self.embed)  # [n, hidden]
        if n > 1:
            # Position i sees cached positions and itself: a boolean mask [n, end].
            mask = torch.ones(n, end, dtype=torch.bool).tril(diagonal=start)[None, None]
        else:
            mask = None
        q_size = self._q
        for li, layer in enumerate(self.layers):
            h = self._norm(x, layer.input_norm)
            q = layer.q(h).view(n, self.heads, self.head_dim).transpose(0, 1)[None]
            k = layer.k(h).view(n, self.kv_heads, self.head_dim).transpose(0, 1)[None]
            v = layer.v(h).view(n, self.kv_heads, self.head_dim).transpose(0, 1)[None]
            q = q * cos + torch.cat((-q[..., half:], q[..., :half]), dim=-1) * sin
            k = k * cos + torch.cat((-k[..., half:], k[..., :half]), dim=-1) * sin
            keys, values = cache.keys[li], cache.values[li]
            keys[:, :, start:end] = k
            values[:, :, start:end] = v
            attn = F.scaled_dot_product_attention(
                q, keys[:, :, :end], values[:, :, :end], attn_mask=mask, scale=self.scale,
                enable_gqa=self.kv_heads != self.heads,
            )
            x = x + layer.out(attn[0].transpose(0, 1).reshape(n, q_size))
            h = self._norm(x, layer.post_norm)
            x = x + layer.down(F.silu(layer.gate(h)) * layer.up(h))
        cache.length = end
        if last_only:
            x = x[-1:]
        return self.lm_head(self._norm(x, self.final_norm))


def _rope_theta(cfg) -> float | None:
    params = getattr(cfg, "rope_parameters", None) or {}
    theta = params.get("rope_theta") if isinstance(params, dict) else None
    return theta if theta is not None else getattr(cfg, "rope_theta", None)


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
