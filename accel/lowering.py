"""Lowering: how each layer of a network appears to the accelerator.

Layers that do arithmetic over windows or features (conv, transposed conv, FC, pooling) become an
:class:`ArrayOp`: ``groups`` independent GEMMs ``out[M, N] = A[M, K] @ B[K, N]`` with im2col done
on the fly by the address generator (``M`` output pixels, ``K`` window elements times input
channels of a group, ``N`` output channels of a group). Pooling is a grouped GEMM with one group
per channel, ``K`` = window and ``N`` = 1, run on the PEs in MAX (max pooling) or MAC mode with
unit weights (average pooling; the divide happens in the output path).

Elementwise layers that need a pass over memory (Add, LRN, Upsample, a standalone activation) run
on the C-lane output vector unit: a :class:`VectorOp`. ReLU/BatchNorm directly after an array layer
are fused into its output path (BatchNorm folded into the weights), and Flatten/Concat are only a
change of address layout: these cost nothing and lower to ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from workloads.layers import (
    Activation,
    Add,
    BatchNorm,
    Concat,
    Conv,
    ConvTranspose,
    Flatten,
    GlobalAvgPool,
    Linear,
    LocalResponseNorm,
    Pool,
    Upsample,
)
from workloads.network import Network, Node


@dataclass(frozen=True)
class ArrayOp:
    """A layer as grouped GEMMs on the PE array, plus what tiling needs to size buffers.

    The ifmap of a group is seen as ``channels`` planes of ``in_rows x in_row_len`` elements.
    Output pixels are ``M = out_rows * out_row_len``; a band of ``b`` output rows reads
    ``min(in_rows, (b - 1) * row_stride + row_span)`` input rows of every channel it uses.
    """

    name: str
    kind: str
    pe_mode: str  # 'mac' or 'max'
    groups: int
    m: int
    k: int
    n: int
    channels: int  # input channels per group; K = channels * window
    window: int
    out_rows: int
    out_row_len: int
    in_rows: int
    in_row_len: int
    row_stride: int
    row_span: int
    has_weights: bool
    bias: bool
    useful_macs: int  # arithmetic the layer needs (excludes injected zeros)

    def ifmap_rows(self, band: int) -> int:
        """Input rows a band of ``band`` output rows reads."""
        return min(self.in_rows, (band - 1) * self.row_stride + self.row_span)


@dataclass(frozen=True)
class VectorOp:
    """An elementwise pass on the C-lane vector unit: reads ``in_elems``, writes ``out_elems``."""

    name: str
    kind: str
    in_elems: int
    out_elems: int
    passes: int  # sweeps over the output per element (LRN needs `size` reads per output)


Op = ArrayOp | VectorOp


def lower_network(network: Network) -> list[tuple[Node, Op | None]]:
    """Lower every layer; fused/layout-only layers map to ``None``."""
    lowered: list[tuple[Node, Op | None]] = []
    fusable, previous = False, None
    for node in network:
        op = lower_node(node, fused=fusable and node.inputs == (previous,))
        lowered.append((node, op))
        previous = node.name
        if isinstance(node.layer, (Activation, BatchNorm)) and op is None:
            continue  # still directly behind a compute layer: keep fusing
        fusable = op is not None
    return lowered


def lower_node(node: Node, fused: bool = False) -> Op | None:
    """Lower one bound layer. ``fused``: the previous layer's output path can absorb it."""
    layer = node.layer
    out = node.out_shape
    ins = node.in_shapes[0]
    if isinstance(layer, Conv):
        return _conv_op(node, layer.groups, layer.in_channels, layer.kernel_size, layer.stride, layer.dilation, ins, out,
                        bias=layer.bias)  # fmt: skip
    if isinstance(layer, ConvTranspose):
        # Zero insertion turns the input into a stride-1 conv over an upsampled, padded input;
        # the inserted zeros are generated, never fetched.
        up = tuple((n - 1) * s + 1 for n, s in zip(ins[2:], layer.stride))
        op = _conv_op(node, layer.groups, layer.in_channels, layer.kernel_size, (1,) * layer.ndim, layer.dilation,
                      ins[:2] + up, out, bias=layer.bias)  # fmt: skip
        return replace(op, in_rows=math.prod(ins[:1] + ins[2:-1]), in_row_len=ins[-1], useful_macs=node.macs)
    if isinstance(layer, Linear):
        return ArrayOp(
            name=node.name, kind="linear", pe_mode="mac", groups=1, m=ins[0], k=layer.in_features,
            n=layer.out_features, channels=layer.in_features, window=1, out_rows=ins[0], out_row_len=1,
            in_rows=ins[0], in_row_len=1, row_stride=1, row_span=1, has_weights=True, bias=layer.bias,
            useful_macs=node.macs,
        )  # fmt: skip
    if isinstance(layer, Pool):
        op = _conv_op(node, ins[1], ins[1], layer.kernel_size, layer.stride, layer.dilation, ins, out, bias=False)
        return replace(op, kind=f"{layer.mode}pool", pe_mode="max" if layer.mode == "max" else "mac",
                        has_weights=False, useful_macs=math.prod(out) * math.prod(layer.kernel_size))  # fmt: skip
    if isinstance(layer, GlobalAvgPool):
        spatial = math.prod(ins[2:])
        return ArrayOp(
            name=node.name, kind="global_avgpool", pe_mode="mac", groups=ins[1], m=ins[0], k=spatial, n=1,
            channels=1, window=spatial, out_rows=ins[0], out_row_len=1, in_rows=ins[0], in_row_len=spatial,
            row_stride=1, row_span=1, has_weights=False, bias=False, useful_macs=math.prod(ins),
        )  # fmt: skip
    if isinstance(layer, (Flatten, Concat)):
        return None
    if isinstance(layer, (Activation, BatchNorm)) and fused:
        return None
    elems = math.prod(out)
    if isinstance(layer, Add):
        return VectorOp(node.name, "add", sum(math.prod(s) for s in node.in_shapes), elems, 1)
    if isinstance(layer, LocalResponseNorm):
        return VectorOp(node.name, "lrn", math.prod(ins), elems, layer.size)
    if isinstance(layer, (Activation, BatchNorm, Upsample)):
        return VectorOp(node.name, layer.kind, math.prod(ins), elems, 1)
    raise TypeError(f"no lowering for layer type {type(layer).__name__}")


def _conv_op(node, groups, in_channels, kernel, stride, dilation, ins, out, bias) -> ArrayOp:
    """Window layer over input ``ins`` producing ``out`` (shapes with batch and channels)."""
    cin = in_channels // groups
    window = math.prod(kernel)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    # Rows are all spatial dims but the last; a band of output rows advances along the
    # second-to-last dim (H in 2-D, the batch in 1-D, H inside each depth slice in 3-D).
    ndim = len(kernel)
    out_rows = out[0] * math.prod(out[2:-1])
    in_rows = ins[0] * math.prod(ins[2:-1])
    row_stride = stride[-2] if ndim >= 2 else 1
    row_span = (spans[-2] if ndim >= 2 else 1) * (spans[0] if ndim == 3 else 1)
    return ArrayOp(
        name=node.name, kind="conv", pe_mode="mac", groups=groups, m=math.prod(out[:1] + out[2:]),
        k=cin * window, n=out[1] // groups, channels=cin, window=window, out_rows=out_rows,
        out_row_len=out[-1], in_rows=in_rows, in_row_len=ins[-1], row_stride=row_stride, row_span=row_span,
        has_weights=True, bias=bias, useful_macs=node.macs,
    )  # fmt: skip

