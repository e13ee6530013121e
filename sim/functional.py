"""Functional simulation: operand values move through the PE registers, cycle by cycle.

Each layer that runs on the array is turned into grouped GEMMs by the address generator
(:mod:`accel.addressing`), packed and folded exactly as the timing model folds it
(:mod:`accel.dataflow`), and every fold is stepped cycle by cycle through a register-level model
of the R x C array: operands enter skewed at the array edge, move one PE per cycle, partial sums
(WS/IS) move down a column and leave at the bottom, or accumulators (OS) stay and are read when
the fold is done. The output path then adds the bias and requantizes (conv/FC), or divides
(average pooling). The results must equal the golden model bit for bit (docs/correctness.md).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from accel.addressing import PAD, gather_columns, window_index
from accel.config import AccelConfig
from accel.lowering import ArrayOp
from accel.pe_semantics import MAC, MAX, wrap
from accel.tiling import plan_packing
from workloads import golden
from workloads.forward import calibrate, layer_forward, network_params, random_input
from workloads.layers import Conv, ConvTranspose, GlobalAvgPool, Linear, Pool
from workloads.network import INPUT, Network, Node



@njit(cache=True)
def _stationary_fold(stream, stream_valid, stat, stat_valid, value_is_stream, mode, floor):
    """One fold with a stationary block ``stat`` (r x c) and ``stream`` rows (T x r) entering
    from the left; returns the (T x c) column results leaving the bottom of the array.

    Row ``i`` receives ``stream[m, i]`` at cycle ``m + i`` (input skew); the operand moves right
    one PE per cycle, the partial sum moves down one PE per cycle, so column ``j`` emits row
    ``m``'s result at cycle ``m + r - 1 + j``. MAC mode adds ``stream * stat``. MAX mode keeps
    the largest ifmap value (the stream for WS, the stationary block for IS) whose other operand
    (the tap mask) is non-zero and which is real data (``*_valid``: not injected padding).
    """
    t_len, r = stream.shape
    c = stat.shape[1]
    a_reg = np.zeros((r, c), dtype=np.int64)
    v_reg = np.zeros((r, c), dtype=np.bool_)
    p_reg = np.full((r, c), floor, dtype=np.int64)
    a_new = np.zeros((r, c), dtype=np.int64)
    v_new = np.zeros((r, c), dtype=np.bool_)
    p_new = np.full((r, c), floor, dtype=np.int64)
    out = np.full((t_len, c), floor, dtype=np.int64)
    for t in range(t_len + r + c - 1):
        for i in range(r):
            m = t - i
            for j in range(c):
                if j == 0:
                    if 0 <= m < t_len:
                        a_in, v_in = stream[m, i], stream_valid[m, i]
                    else:
                        a_in, v_in = 0, False
                else:
                    a_in, v_in = a_reg[i, j - 1], v_reg[i, j - 1]
                p_in = p_reg[i - 1, j] if i > 0 else (0 if mode == MAC else floor)
                w = stat[i, j]
                if mode == MAC:
                    p_new[i, j] = p_in + a_in * w
                else:
                    value, mask = (a_in, w) if value_is_stream else (w, a_in)
                    take = v_in and stat_valid[i, j] and mask != 0 and value > p_in
                    p_new[i, j] = value if take else p_in
                a_new[i, j] = a_in
                v_new[i, j] = v_in
        a_reg, a_new = a_new, a_reg
        v_reg, v_new = v_new, v_reg
        p_reg, p_new = p_new, p_reg
        for j in range(c):
            m = t - (r - 1) - j
            if 0 <= m < t_len:
                out[m, j] = p_reg[r - 1, j]
    return out


@njit(cache=True)
def _output_fold(a, b, valid, mode, floor):
    """One output-stationary fold: ``a`` (r x T) enters from the left, ``b`` (T x c) from the
    top, both skewed; PE (i, j) meets ``a[i, k]`` and ``b[k, j]`` at cycle ``k + i + j`` and
    accumulates in place. Returns the r x c accumulators once the last operands have met."""
    r, t_len = a.shape
    c = b.shape[1]
    a_reg = np.zeros((r, c), dtype=np.int64)
    v_reg = np.zeros((r, c), dtype=np.bool_)
    b_reg = np.zeros((r, c), dtype=np.int64)
    a_new = np.zeros((r, c), dtype=np.int64)
    v_new = np.zeros((r, c), dtype=np.bool_)
    b_new = np.zeros((r, c), dtype=np.int64)
    acc = np.full((r, c), floor, dtype=np.int64)
    if mode == MAC:
        acc[:, :] = 0
    for t in range(t_len + r + c - 2):
        for i in range(r):
            for j in range(c):
                if j == 0:
                    k = t - i
                    if 0 <= k < t_len:
                        a_in, v_in = a[i, k], valid[i, k]
                    else:
                        a_in, v_in = 0, False
                else:
                    a_in, v_in = a_reg[i, j - 1], v_reg[i, j - 1]
                if i == 0:
                    k = t - j
                    b_in = b[k, j] if 0 <= k < t_len else 0
                else:
                    b_in = b_reg[i - 1, j]
                if mode == MAC:
                    acc[i, j] += a_in * b_in
                elif v_in and b_in != 0 and a_in > acc[i, j]:
                    acc[i, j] = a_in
                a_new[i, j] = a_in
                v_new[i, j] = v_in
                b_new[i, j] = b_in
        a_reg, a_new = a_new, a_reg
        v_reg, v_new = v_new, v_reg
        b_reg, b_new = b_new, b_reg
    return acc


@njit(cache=True)
def _merge(total, part, mode):
    """Combine a fold's partial results into the accumulator buffer (sum, or max for MAX)."""
    if mode == MAC:
        total += part
    else:
        np.maximum(total, part, total)


@njit(cache=True, parallel=True)
def _ws_gemm(a, valid, b, R, C, mode, floor):
    """WS: folds of R x C weights (K rows, N cols); all M rows of A stream through each."""
    m, k = a.shape
    n = b.shape[1]
    out = np.full((m, n), 0 if mode == MAC else floor, dtype=np.int64)
    for nb in prange((n + C - 1) // C):
        n0, n1 = nb * C, min(n, nb * C + C)
        for k0 in range(0, k, R):
            k1 = min(k, k0 + R)
            stat = np.ascontiguousarray(b[k0:k1, n0:n1])
            part = _stationary_fold(a[:, k0:k1], valid[:, k0:k1], stat, np.ones(stat.shape, np.bool_), True, mode,
                                    floor)  # fmt: skip
            _merge(out[:, n0:n1], part, mode)
    return out


@njit(cache=True, parallel=True)
def _is_gemm(a, valid, b, R, C, mode, floor):
    """IS: folds of R x C inputs (K rows, M cols); all N weight vectors stream through each."""
    m, k = a.shape
    n = b.shape[1]
    out = np.full((m, n), 0 if mode == MAC else floor, dtype=np.int64)
    for mb in prange((m + C - 1) // C):
        m0, m1 = mb * C, min(m, mb * C + C)
        for k0 in range(0, k, R):
            k1 = min(k, k0 + R)
            stream = np.ascontiguousarray(b[k0:k1, :].T)
            part = _stationary_fold(stream, np.ones(stream.shape, np.bool_), np.ascontiguousarray(a[m0:m1, k0:k1].T),
                                    np.ascontiguousarray(valid[m0:m1, k0:k1].T), False, mode, floor)  # fmt: skip
            _merge(out[m0:m1, :], np.ascontiguousarray(part.T), mode)
    return out


@njit(cache=True, parallel=True)
def _os_gemm(a, valid, b, R, C, mode, floor):
    """OS: folds of R x C outputs (M rows, N cols); the whole K streams through each."""
    m, k = a.shape
    n = b.shape[1]
    out = np.empty((m, n), dtype=np.int64)
    for mb in prange((m + R - 1) // R):
        m0, m1 = mb * R, min(m, mb * R + R)
        rows_a = np.ascontiguousarray(a[m0:m1, :])
        rows_v = np.ascontiguousarray(valid[m0:m1, :])
        for n0 in range(0, n, C):
            n1 = min(n, n0 + C)
            out[m0:m1, n0:n1] = _output_fold(rows_a, np.ascontiguousarray(b[:, n0:n1]), rows_v, mode, floor)
    return out


_GEMMS = {"ws": _ws_gemm, "is": _is_gemm, "os": _os_gemm}


def array_gemm(a: np.ndarray, b: np.ndarray, valid: np.ndarray, cfg: AccelConfig, mode: int) -> np.ndarray:
    """``a @ b`` (MAC) or the masked max (MAX) computed fold by fold on the simulated array.

    ``a`` (M x K) and ``b`` (K x N) are int64; folds follow the dataflow's rows/cols/stream
    mapping; partial results of folds along K are combined in the accumulator buffer.
    """
    floor = -(2 ** (cfg.acc_bits - 1))
    a, b = np.ascontiguousarray(a, dtype=np.int64), np.ascontiguousarray(b, dtype=np.int64)
    valid = np.ascontiguousarray(valid, dtype=np.bool_)
    return _GEMMS[cfg.dataflow](a, valid, b, cfg.rows, cfg.cols, mode, floor)


def _group_gemms(node: Node, x: np.ndarray, weight: np.ndarray | None):
    """Per group: the im2col matrix A (M x K), its validity (real data) and B (K x N).

    Returns (A, valid, B, taps_counted) with leading group axes, plus for pooling the number
    of window positions each output counts (for the average's divisor).
    """
    layer = node.layer
    n = x.shape[0]
    if isinstance(layer, Linear):
        a = x.astype(np.int64)[None]
        return a, np.ones(a.shape, bool), weight.astype(np.int64).T[None], None
    if isinstance(layer, GlobalAvgPool):
        a = x.reshape(n, x.shape[1], -1).transpose(1, 0, 2).astype(np.int64)
        return a, np.ones(a.shape, bool), np.ones((x.shape[1], a.shape[2], 1), np.int64), None
    in_size, out_size = x.shape[2:], node.out_shape[2:]
    if isinstance(layer, ConvTranspose):
        spans = [d * (k - 1) for k, d in zip(layer.kernel_size, layer.dilation)]
        pads = [(s - p, s - p + op) for s, p, op in zip(spans, layer.padding, layer.output_padding)]
        index = window_index(in_size, out_size, layer.kernel_size, (1,) * layer.ndim, layer.dilation, pads,
                             insert=layer.stride)  # fmt: skip
        g = layer.groups
        w = weight.reshape(g, weight.shape[0] // g, *weight.shape[1:])  # (g, cin_g, cout_g, k...)
        w = np.flip(w, axis=tuple(range(3, w.ndim))).swapaxes(1, 2)  # (g, cout_g, cin_g, k...)
        groups = g
    elif isinstance(layer, Conv):
        pads = layer.pads(in_size)
        index = window_index(in_size, out_size, layer.kernel_size, layer.stride, layer.dilation, pads,
                             layer.padding_mode)  # fmt: skip
        w = np.flip(weight, axis=tuple(range(2, weight.ndim))) if layer.flip_kernel else weight
        groups = layer.groups
        w = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])
    else:  # Pool: one group per channel, unit weights
        pads = list(layer.pads(in_size))
        index = window_index(in_size, out_size, layer.kernel_size, layer.stride, layer.dilation, pads)
        groups, w = x.shape[1], None
    cols = gather_columns(x, index, 0).astype(np.int64)  # (N, C, P, T)
    cin = x.shape[1] // groups
    p, taps = index.shape
    a = cols.reshape(n, groups, cin, p, taps).transpose(1, 0, 3, 2, 4).reshape(groups, n * p, cin * taps)
    valid = np.broadcast_to((index >= 0)[None, :, None, :], (n, p, cin, taps)).reshape(n * p, cin * taps)
    valid = np.broadcast_to(valid, a.shape)
    if w is None:
        b = np.ones((groups, taps, 1), np.int64)
        counted = (index >= 0) | ((index == PAD) & layer.count_include_pad)
        return a, valid, b, np.tile(counted.sum(axis=1), n)
    b = w.reshape(groups, w.shape[1], -1).transpose(0, 2, 1).astype(np.int64)
    return a, valid, b, None


def _packed_gemm(a, valid, b, cfg: AccelConfig, mode: int, pack: int) -> np.ndarray:
    """Run the groups ``pack`` at a time, block-diagonally, as the timing model does."""
    groups, m, k = a.shape
    n = b.shape[2]
    out = np.empty((m, groups * n), dtype=np.int64)
    for g0 in range(0, groups, pack):
        gs = range(g0, min(groups, g0 + pack))
        a_p = np.concatenate([a[g] for g in gs], axis=1)
        v_p = np.concatenate([valid[g] for g in gs], axis=1)
        b_p = np.zeros((k * len(gs), n * len(gs)), dtype=np.int64)
        for i, g in enumerate(gs):
            b_p[i * k : (i + 1) * k, i * n : (i + 1) * n] = b[g]
        out[:, g0 * n : (g0 + len(gs)) * n] = array_gemm(a_p, b_p, v_p, cfg, mode)
    return out


class FunctionalRun:
    """Values of a network run on the simulated array, layer by layer (int8 semantics).

    Weights are :func:`workloads.forward.network_params` (int8, seed ``seed``: an imported model's
    own weights quantized, else deterministic random ones) calibrated on the deterministic random
    input; layers off the array (elementwise, layout) use the golden functions, which is what the
    output path and vector unit compute.
    """

    def __init__(self, network: Network, config: AccelConfig, seed: int = 0):
        self.network = network
        self.config = config
        self.params = network_params(network, "int8", seed)
        self.input = random_input(network, "int8", seed + 1)
        calibrate(network, self.params, self.input)
        self.values: dict[str, np.ndarray] = {INPUT: self.input}

    def run(self, node: Node, op) -> np.ndarray:
        """Compute ``node``'s output from its inputs' simulated values and keep it."""
        args = [self.values[name] for name in node.inputs]
        if isinstance(op, ArrayOp):
            out = self._array_layer(node, op, args[0])
        else:
            out = layer_forward(node, args, self.params)
        self.values[node.name] = out
        return out

    def _array_layer(self, node: Node, op: ArrayOp, x: np.ndarray) -> np.ndarray:
        cfg = self.config
        p = self.params.layers.get(node.name)
        a, valid, b, counted = _group_gemms(node, x, p.weight if p else None)
        mode = MAX if op.pe_mode == "max" else MAC
        pack = plan_packing(op, cfg)
        acc = wrap(_packed_gemm(a, valid, b, cfg, mode, pack), cfg.acc_bits)  # (N*P, C_out)
        n, channels, spatial = node.out_shape[0], node.out_shape[1], node.out_shape[2:]
        acc = acc.reshape(n, math.prod(spatial), channels).transpose(0, 2, 1).reshape(node.out_shape)
        if p is not None:  # output path: bias, requantize to int8
            if p.bias is not None:
                acc = wrap(acc + p.bias.astype(np.int64).reshape((1, -1) + (1,) * len(spatial)), cfg.acc_bits)
            return golden.requantize(acc, p.scale, p.shift)
        if mode == MAX:
            return acc.astype(np.int8)
        divisor = counted if isinstance(node.layer, Pool) else np.array([a.shape[2]])
        per_pixel = np.broadcast_to(divisor.reshape(n, 1, *spatial) if isinstance(node.layer, Pool) else divisor,
                                    acc.shape)  # fmt: skip
        return (acc // per_pixel).astype(np.int8)

