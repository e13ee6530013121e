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
from functools import cached_property

import numpy as np
from numba.extending import register_jitable

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
class Axis:
    """A sliding-window axis: ``out`` output positions over ``size`` input positions.

    Output position ``o`` reads input positions ``o * stride - pad`` up to ``span`` further
    (``span`` = dilated kernel extent) of an input with ``insert - 1`` zeros inserted between
    elements (transposed conv); padding and inserted zeros are generated, never fetched.
    """

    out: int
    size: int
    stride: int = 1
    span: int = 1
    pad: int = 0
    insert: int = 1

    def touched(self, lo: int, hi: int) -> int:
        """Input positions loaded for outputs ``lo .. hi-1`` (:func:`axis_touched`)."""
        return axis_touched(self.size, self.stride, self.span, self.pad, self.insert, lo, hi)

    def first_touched(self, lo: int) -> int:
        """The first input position :meth:`touched` loads for outputs from ``lo`` on."""
        return axis_first_touched(self.stride, self.pad, self.insert, lo)

    def needed(self, lo, hi):
        """Real input positions some window of outputs ``lo .. hi-1`` reads (the compulsory ones)."""
        if self.stride >= self.span and self.insert == 1:
            starts = np.arange(self.out + 1) * self.stride - self.pad
            per_output = np.clip(starts[:-1] + self.span, 0, self.size) - np.clip(starts[:-1], 0, self.size)
            read = np.concatenate([[0], np.cumsum(per_output)])
            return read[np.asarray(hi)] - read[np.asarray(lo)]
        return self.touched(lo, hi)

    def most_touched(self, band: int) -> int:
        """Upper bound of :meth:`touched` over any run of ``band`` outputs (sizes the buffer)."""
        return axis_most_touched(self.size, self.stride, self.span, self.insert, band)


@register_jitable
def axis_touched(size, stride, span, pad, insert, lo, hi):
    """Input positions of an :class:`Axis` loaded for outputs ``lo .. hi-1``: the contiguous
    range from the first to the last real position their windows read.

    A stride larger than the window skips positions between windows; they are loaded too
    (``docs/microarchitecture.md``: one run of rows per tile). :meth:`Axis.needed` skips them.
    """
    first = max(lo * stride - pad, 0)
    last = min((hi - 1) * stride - pad + span, (size - 1) * insert + 1)
    if last <= first:
        return 0
    return max((last - 1) // insert - (first + insert - 1) // insert + 1, 0)


@register_jitable
def axis_first_touched(stride, pad, insert, lo):
    """The first input position :func:`axis_touched` loads for outputs from ``lo`` on."""
    return -(-max(lo * stride - pad, 0) // insert)


@register_jitable
def axis_most_touched(size, stride, span, insert, band):
    """Upper bound of :func:`axis_touched` over any run of ``band`` outputs."""
    return min(size, -(-((band - 1) * stride + span) // insert))


FLAT = Axis(out=1, size=1)  # an axis with no sliding window


@dataclass(frozen=True)
class ArrayOp:
    """A layer as grouped GEMMs on the PE array, plus the input geometry tiling needs.

    Output pixels are ``M = batch * depth.out * rows.out * cols.out``. The ifmap of a group
    is ``channels`` planes; an output row band reads ``rows.touched(...)`` input rows of
    ``cols.size`` elements (a row segment: ``cols.touched(...)`` of them) from
    ``depth.touched(...)`` input depth slices (3-D only). ``zero_padding``: the padding reads
    zeros (or is skipped, max pooling); else it repeats input values (reflect, replicate,
    circular padding), which a tile must then hold.
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
    batch: int
    depth: Axis
    rows: Axis
    cols: Axis
    zero_padding: bool
    has_weights: bool
    bias: bool
    useful_macs: int  # arithmetic the layer needs (excludes injected zeros)

    @property
    def out_row_len(self) -> int:
        """Output pixels per output row."""
        return self.cols.out

    @property
    def in_row_len(self) -> int:
        """Input pixels per input row."""
        return self.cols.size

    @property
    def planes(self) -> int:
        """Independent output planes (batch x output depth); row bands never cross them."""
        return self.batch * self.depth.out

    @cached_property
    def image_rows(self) -> int:
        """Input rows (times depth slices) a tile of whole images loads, per channel and image."""
        return self.depth.touched(0, self.depth.out) * self.rows.touched(0, self.rows.out)

    @cached_property
    def needed_rows(self) -> int:
        """Input rows (times depth slices) that one whole image's windows read, per channel."""
        return int(self.depth.needed(0, self.depth.out)) * int(self.rows.needed(0, self.rows.out))

    @cached_property
    def needed_cols(self) -> int:
        """Input columns of a row that some window reads (a stride larger than the kernel skips some)."""
        return int(self.cols.needed(0, self.cols.out))


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
        return _window_op(node, "conv", layer.groups, bias=layer.bias)
    if isinstance(layer, ConvTranspose):
        return _window_op(node, "conv_transpose", layer.groups, bias=layer.bias)
    if isinstance(layer, Pool):
        op = _window_op(node, f"{layer.mode}pool", ins[1], bias=False)
        return replace(op, pe_mode="max" if layer.mode == "max" else "mac", has_weights=False,
                       useful_macs=math.prod(out) * math.prod(layer.kernel_size))  # fmt: skip
    if isinstance(layer, (Linear, GlobalAvgPool)):
        # Batch rows of a matrix: the "rows" axis is the batch, one feature vector per row.
        linear = isinstance(layer, Linear)
        features = layer.in_features if linear else math.prod(ins[2:])
        return ArrayOp(
            name=node.name, kind=layer.kind, pe_mode="mac", groups=1 if linear else ins[1], m=ins[0],
            k=features, n=layer.out_features if linear else 1, channels=features if linear else 1,
            window=1 if linear else features, batch=1, depth=FLAT, rows=Axis(out=ins[0], size=ins[0]),
            cols=FLAT if linear else Axis(out=1, size=features, span=features), zero_padding=True,
            has_weights=linear, bias=linear and layer.bias,
            useful_macs=node.macs if linear else math.prod(ins),
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


def window_geometry(node: Node) -> tuple | None:
    """``(kernel, stride, dilation, pads, insert)`` per spatial dim of a sliding-window layer
    (conv, transposed conv, pooling), else None: ``pads`` as (low, high) pairs, ``insert - 1``
    zeros between input elements."""
    layer, ins = node.layer, node.in_shapes[0]
    if isinstance(layer, ConvTranspose):
        # Zero insertion turns it into a stride-1 conv over the zero-inserted input padded by
        # d*(k-1) - p (plus output_padding on the high side).
        pads = [(d * (k - 1) - p, 0) for k, d, p in zip(layer.kernel_size, layer.dilation, layer.padding)]
        return layer.kernel_size, (1,) * layer.ndim, layer.dilation, pads, layer.stride
    if isinstance(layer, (Conv, Pool)):
        return layer.kernel_size, layer.stride, layer.dilation, layer.pads(ins[2:]), (1,) * len(layer.kernel_size)
    return None


def _window_op(node, kind, groups, bias) -> ArrayOp:
    """A sliding-window layer (conv, transposed conv, pooling) of a bound node."""
    ins, out = node.in_shapes[0], node.out_shape
    kernel, stride, dilation, pads, insert = window_geometry(node)
    axes = [
        Axis(out=o, size=n, stride=s, span=d * (k - 1) + 1, pad=lo, insert=z)
        for o, n, k, s, d, (lo, _), z in zip(out[2:], ins[2:], kernel, stride, dilation, pads, insert)
    ]
    # The last spatial dim is the row; the one before it advances row bands; a 3-D layer's
    # depth slices are separate planes, each reading the slices its window spans.
    depth = axes[0] if len(axes) == 3 else FLAT
    rows = axes[-2] if len(axes) >= 2 else FLAT
    zero_padding = getattr(node.layer, "padding_mode", "zeros") == "zeros"
    cin = ins[1] // groups
    window = math.prod(kernel)
    return ArrayOp(
        name=node.name, kind=kind, pe_mode="mac", groups=groups, m=math.prod(out[:1] + out[2:]), k=cin * window,
        n=out[1] // groups, channels=cin, window=window, batch=out[0], depth=depth, rows=rows, cols=axes[-1],
        zero_padding=zero_padding, has_weights=True, bias=bias, useful_macs=node.macs,
    )  # fmt: skip
