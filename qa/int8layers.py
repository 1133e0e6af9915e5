"""Int8 linear layers on the CPU: every use of torch's private quantized API is in this module.

The engine runs its model with fbgemm's dynamic int8 kernel (int8 weights, activations quantized
per call). torch reaches that kernel through APIs it marks as private or deprecated:
`torch.ao.quantization.quantize_dynamic`, `torch._make_per_tensor_quantized_tensor` and the raw
`torch.ops.quantized.linear_prepack` / `linear_dynamic` ops. They are tied to `torch==2.13.0`
(pinned in pyproject.toml); when torch changes them, this is the one file to fix, and
`tests/test_fastlm.py` compares the lean decoder built on them with transformers' own forward.

`RowChunkedLinear` holds a dynamic-quantized Linear split by output rows: fbgemm packs the 0.5B
model's 136M-entry output layer at ~150 MB/s, but 16 slices of it 2.5× faster, so loading a
cached int8 model is ~0.5 s quicker. The outputs are identical: the slices keep the int8 values and
the one weight scale, and share the input's quantization.

Imports torch at import: import this module only where a model is quantized or loaded.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantization of every nn.Linear, in place (peak memory stays one float32 model).

    `torch.ao.quantization.quantize_dynamic` is deprecated (its warning says "removed in 2.10") but is
    still present and fastest on CPU in torch 2.13; its warnings are silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def int8_call(params: Any, reduce_range: bool = True) -> Callable[[torch.Tensor], torch.Tensor]:
    """`x → x @ W.T + b` with fbgemm's dynamic int8 kernel on packed weights, as the dynamic quantized
    Linear module calls it (current modules, version 4, reduce the activation range)."""
    linear_dynamic = torch.ops.quantized.linear_dynamic
    return lambda x: linear_dynamic(x, params, reduce_range)


def packed_params(module: torch.nn.Module) -> tuple[Any, bool] | None:
    """(fbgemm's packed weights, reduce_range) of a dynamic int8 Linear; None for any other layer."""
    packed = getattr(module, "_packed_params", None)
    if packed is None:
        return None
    if packed.dtype != torch.qint8:
        raise ValueError(f"unsupported quantized layer {module!r}")
    return packed._packed_params, (getattr(module, "version", None) or 0) >= 4


def pack_int8(ints: torch.Tensor, scale: float, zero_point: int, bias: torch.Tensor | None) -> Any:
    """fbgemm's packed weights for int8 values with one (scale, zero point), ready for `int8_call`.

    torch warns that quantized tensor creation is deprecated; silence it around the calls (in the
    calling thread: `warnings.catch_warnings` is not thread-safe, and packing runs in threads).
    """
    qweight = torch._make_per_tensor_quantized_tensor(ints, scale, zero_point)
    return torch.ops.quantized.linear_prepack(qweight, bias)


def int8_weights(module: torch.nn.Module, name: str = "layer") -> tuple[torch.Tensor, float, int, torch.Tensor | None]:
    """(int8 values, scale, zero point, float bias or None) of a version-4 dynamic int8 Linear with a
    per-tensor scale; ValueError for anything else (`name` goes into the message)."""
    if getattr(module, "pieces", None) is not None or not hasattr(module, "_packed_params"):
        raise ValueError(f"{name}: expected an int8 dynamic-quantized Linear, got {type(module).__name__}")
    if (getattr(module, "version", None) or 0) < 4:  # `int8_call` calls the kernel as version 4 does
        raise ValueError(f"{name}: a dynamic-quantized Linear of version >= 4 expected")
    weight, bias = module.weight(), module.bias()
    if weight.qscheme() not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        raise ValueError(f"{name}: per-tensor weight scales expected, got {weight.qscheme()}")
    float_bias = bias.detach().float().contiguous() if bias is not None else None
    return weight.int_repr().contiguous(), float(weight.q_scale()), int(weight.q_zero_point()), float_bias


class RowChunkedLinear(torch.nn.Module):
    """`torch.cat([piece(x) for piece in pieces], -1)`: one matrix kept as row slices."""

    def __init__(self, pieces: list[torch.nn.Module]):
        super().__init__()
        self.pieces = torch.nn.ModuleList(pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([piece(x) for piece in self.pieces], dim=-1)


def split_rows(linear: torch.nn.Module, pieces: int = 16) -> torch.nn.Module:
    """An int8 dynamic-quantized Linear with a per-tensor scale as `pieces` row slices (same outputs);
    any other layer is returned as it is."""
    if not hasattr(linear, "_packed_params"):
        return linear
    weight, bias = linear.weight(), linear.bias()
    if weight.qscheme() not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        return linear
    ints = weight.int_repr()
    parts = []
    for rows in torch.arange(ints.shape[0]).chunk(pieces):
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        piece = DynamicLinear(ints.shape[1], hi - lo, bias_=bias is not None, dtype=torch.qint8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "quantized tensor creation is deprecated"
            qweight = torch._make_per_tensor_quantized_tensor(ints[lo:hi].contiguous(), weight.q_scale(), weight.q_zero_point())
        piece.set_weight_bias(qweight, bias[lo:hi].contiguous() if bias is not None else None)
        parts.append(piece)
    return RowChunkedLinear(parts)
