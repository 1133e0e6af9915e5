"""Int8 layer helpers that need torch at import (imported only where a model is quantized or loaded).

`RowChunkedLinear` holds a dynamic-quantized Linear split by output rows: fbgemm packs the 0.5B
model's 136M-entry output layer at ~150 MB/s, but 16 slices of it 2.5× faster, so loading the
cached int8 model is ~0.5 s quicker. The outputs are identical: the slices keep the int8 values and
the one weight scale, and share the input's quantization.
"""

from __future__ import annotations

import warnings

import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear


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
