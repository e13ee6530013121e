"""A lower bound on a layer's DRAM traffic for the SRAM capacities of a configuration.

No schedule of a layer on the machine moves fewer bytes than :func:`lower_bound_bytes`: the
larger of the compulsory bytes (each tensor once) and a Hong-Kung style bound
(``docs/microarchitecture.md``, "A lower bound on DRAM traffic"). The second counts the layer's
*real* multiply-accumulates (those whose input is not padding) and how many of them a stretch of
the run that moves ``X`` bytes can do: its operands are the ones on chip when it begins (the
ifmap and filter banks and the array's registers) or read in it, its outputs the ones live when
it begins or first touched in it, each of which is either written in it or still live when it
ends (an output occupies an ofmap-bank accumulator from its first MAC until it is written), and
by the Loomis-Whitney inequality its MACs are at most the square root of the product of the
outputs, weights and (output, kernel tap) pairs it touches. An input element is read through at
most ``rho`` such pairs (the kernel taps that can land on one input position), so the pairs are
at most ``rho`` times the inputs.
"""

from __future__ import annotations

import math

import numpy as np

from accel.config import AccelConfig
from accel.lowering import ArrayOp, Op, window_geometry
from accel.tiling import compulsory_bytes, element_bytes
from workloads.layers import Linear
from workloads.network import Node


def axis_pairs(out: int, size: int, taps: int, stride: int, dilation: int, pad: int, insert: int) -> tuple[int, int]:
    """Along one sliding-window axis: the (output, tap) pairs that read a real input position,
    and the most pairs that read any one position (``insert - 1`` zeros between inputs)."""
    q = np.arange(out)[:, None] * stride - pad + np.arange(taps)[None, :] * dilation
    real = (q >= 0) & (q <= (size - 1) * insert) & (q % insert == 0)
    if not real.any():
        return 0, 0
    return int(real.sum()), int(np.bincount(q[real] // insert, minlength=size).max())


def real_macs(node: Node, op: ArrayOp) -> tuple[int, int]:
    """A layer's MACs that read a real input, and ``rho``: the most of its (output pixel, kernel
    tap) pairs that read one input element. ``(0, 0)`` for layers without weights."""
    if isinstance(node.layer, Linear):
        return op.m * op.k * op.n, 1
    geometry = window_geometry(node)
    if geometry is None or not op.has_weights:
        return 0, 0
    kernel, stride, dilation, pads, insert = geometry
    ins, out = node.in_shapes[0], node.out_shape
    pairs, rho = 1, 1
    for o, n, k, s, d, (lo, _), z in zip(out[2:], ins[2:], kernel, stride, dilation, pads, insert):
        axis, most = axis_pairs(o, n, k, s, d, lo, z)
        pairs, rho = pairs * axis, rho * most
    return out[0] * pairs * op.channels * op.groups * op.n, rho


def operand_product(weights: float, inputs: float, reads: float) -> float:
    """The largest ``w * x`` with ``w <= weights + r``, ``x <= inputs + s`` and ``r + s <= reads``
    (elements): the most weights times inputs a stretch that reads ``reads`` elements can use."""
    low, high = sorted((weights, inputs))
    if high - low >= reads:
        return high * (low + reads)
    return ((weights + inputs + reads) / 2) ** 2


def hong_kung_bytes(macs: int, rho: int, weights: float, inputs: float, live: float, read_bytes: int,
                    write_bytes: int) -> int:  # fmt: skip
    """The largest ``X * (ceil(macs / most(X)) - 1)`` over stretches of ``X`` bytes, where
    ``most(X) = sqrt((2 * live + X / write_bytes) * rho * operand_product(weights, inputs,
    X / read_bytes))`` is the most MACs a stretch can do: ``weights`` and ``inputs`` elements on
    chip when it starts, at most ``live`` outputs live at once, operands of ``read_bytes`` and
    outputs of ``write_bytes`` bytes."""
    if macs == 0:
        return 0
    best = 0
    for j in range(4 * 64):
        x = 2.0 ** (j / 4)
        most = math.sqrt((2 * live + x / write_bytes) * rho * operand_product(weights, inputs, x / read_bytes))
        phases = math.ceil(macs / most)
        if phases <= 1:
            break
        best = max(best, int(x) * (phases - 1))
    return best


def lower_bound_bytes(node: Node, op: Op, cfg: AccelConfig) -> int:
    """The fewest DRAM bytes any schedule of the layer moves with ``cfg``'s SRAM capacities."""
    compulsory = sum(compulsory_bytes(op, cfg).values())
    if not isinstance(op, ArrayOp):
        return compulsory
    macs, rho = real_macs(node, op)
    ib, wb = element_bytes(cfg.input_bits), element_bytes(cfg.weight_bits)
    # The array's registers hold at most a stationary and a streaming operand per PE.
    registers = cfg.rows * cfg.cols
    weights, inputs = cfg.filter_kib * 1024 / wb + registers, cfg.ifmap_kib * 1024 / ib + registers
    live = cfg.ofmap_kib * 1024 / element_bytes(cfg.acc_bits)
    return max(compulsory, hong_kung_bytes(macs, rho, weights, inputs, live, min(ib, wb), ib))
