"""The fused evaluation kernel of design-space exploration: tiling + closed form in one Numba call.

``accel/tiling.py`` builds a :class:`~accel.tiling.TileSchedule` with NumPy and
``accel/analytic.py`` runs the closed-form recurrence over it. That path costs a few ms per
layer, mostly NumPy call overhead on small arrays; a sweep evaluates every layer of a network at
thousands of configurations. This kernel computes the same tile plan, the same tile arrays and
the same counters with plain loops compiled by Numba, then calls the *same* recurrence
(``accel.analytic._recurrence``), for all layers of a network in one call.

It is a second implementation of the tiling rules, so it must agree with the first exactly:
for every layer and configuration it returns exactly what ``schedule`` + ``layer_timing`` return
(``tests/test_dse_kernel.py`` checks it on every zoo network over a grid of configurations, and
on random layers). A change to the tiling rules must be made in both places; that test fails
until it is.

Layers are passed as rows of an int64 matrix (:func:`encode_op`); results come back as rows of
counters (the ``S_*`` columns). A layer whose smallest tile does not fit the buffers stops the
evaluation; the caller asks ``accel.tiling`` for the error message, so the message is the one
``sim run`` prints. :func:`encode_op` refuses a layer with fields it does not know, so a
change to the lowered form cannot be skipped silently.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit

from accel.analytic import _recurrence, kernel_bandwidth
from accel.config import AccelConfig
from accel.dram_channel import bus_bytes
from accel.dram_layout import (addend_image_bytes, image_beats, input_load_beats, input_load_commands, output_store_beats,
                                weight_image_bytes)  # fmt: skip
from accel.lowering import ArrayOp, Axis, Op, VectorOp
from accel.tiling import ACC_BIAS_BYTES, element_bytes

# Columns of an encoded layer. An Axis takes AXIS_FIELDS columns from O_DEPTH / O_ROWS.
(O_VECTOR, O_GROUPS, O_M, O_K, O_N, O_CHANNELS, O_WINDOW, O_BATCH) = range(8)
O_DEPTH = 8
O_ROWS = 14
(O_OUT_ROW_LEN, O_IN_ROW_LEN, O_HAS_WEIGHTS, O_BIAS, O_PE_OPS, O_MAX_MODE, O_IN_ELEMS, O_OUT_ELEMS, O_PASSES,
 O_MACS) = range(20, 30)  # fmt: skip
OP_FIELDS = 30
AXIS_FIELDS = 6
A_OUT, A_SIZE, A_STRIDE, A_SPAN, A_PAD, A_INSERT = range(AXIS_FIELDS)

# Columns of a layer's result.
(S_CYCLES, S_COMPUTE, S_BUSY, S_IFMAP_READS, S_FILTER_READS, S_OFMAP_READS, S_OFMAP_WRITES, S_LOAD_IFMAP,
 S_LOAD_FILTER, S_WRITEBACK, S_PE_OPS, S_FOLDS, S_MAPPED, S_TILES, S_BEATS) = range(15)  # fmt: skip
STAT_FIELDS = 15
STAT_NAMES = ("cycles", "compute_cycles", "dram_busy_cycles", "ifmap_reads", "filter_reads", "ofmap_reads",
              "ofmap_writes", "ifmap_read_bytes", "filter_read_bytes", "ofmap_write_bytes", "pe_ops", "folds",
              "mapped_cycles", "tiles", "dram_beats")  # fmt: skip

DATAFLOW_CODES = {"ws": 0, "os": 1, "is": 2}

# The fields the encoding knows. A new field of the lowered form changes what tiling may do with
# a layer; encode_op fails until the kernel (and this list) are updated to match.
_ARRAY_FIELDS = {"name", "kind", "pe_mode", "groups", "m", "k", "n", "channels", "window", "batch", "depth", "rows",
                 "out_row_len", "in_row_len", "has_weights", "bias", "useful_macs"}  # fmt: skip
_AXIS_FIELDS = ("out", "size", "stride", "span", "pad", "insert")
_VECTOR_FIELDS = {"name", "kind", "in_elems", "out_elems", "passes"}


def _check_fields(kind: type, known) -> None:
    names = {f.name for f in dataclasses.fields(kind)}
    if names != set(known):
        extra = sorted(names ^ set(known))
        raise RuntimeError(
            f"accel.dse_kernel does not match accel.lowering.{kind.__name__} (fields {', '.join(extra)}); "
            "mirror the lowering/tiling change in accel/dse_kernel.py (tests/test_dse_kernel.py checks it)"
        )


def encode_op(op: Op, macs: int) -> np.ndarray:
    """One lowered layer as a row of :data:`OP_FIELDS` int64 values."""
    row = np.zeros(OP_FIELDS, dtype=np.int64)
    row[O_MACS] = macs
    if isinstance(op, VectorOp):
        _check_fields(VectorOp, _VECTOR_FIELDS)
        row[O_VECTOR] = 1
        row[O_IN_ELEMS], row[O_OUT_ELEMS], row[O_PASSES] = (
            op.in_elems,
            op.out_elems,
            op.passes,
        )
        return row
    if not isinstance(op, ArrayOp):
        raise TypeError(f"cannot encode {type(op).__name__}")
    _check_fields(ArrayOp, _ARRAY_FIELDS)
    _check_fields(Axis, _AXIS_FIELDS)
    row[[O_GROUPS, O_M, O_K, O_N, O_CHANNELS, O_WINDOW, O_BATCH, O_OUT_ROW_LEN, O_IN_ROW_LEN, O_HAS_WEIGHTS, O_BIAS,
         O_PE_OPS, O_MAX_MODE]] = [
        op.groups, op.m, op.k, op.n, op.channels, op.window, op.batch, op.out_row_len, op.in_row_len,
        int(op.has_weights), int(op.bias), op.useful_macs, int(op.pe_mode == "max"),
    ]  # fmt: skip
    for base, axis in ((O_DEPTH, op.depth), (O_ROWS, op.rows)):
        row[base : base + AXIS_FIELDS] = [getattr(axis, name) for name in _AXIS_FIELDS]
    return row


def config_scalars(config: AccelConfig) -> tuple:
    """The kernel's configuration arguments."""
    return (
        config.rows, config.cols, DATAFLOW_CODES[config.dataflow], element_bytes(config.input_bits),
        element_bytes(config.weight_bits), element_bytes(config.acc_bits), config.bank_bytes("ifmap"),
        config.bank_bytes("filter"), config.bank_bytes("ofmap"), kernel_bandwidth(config.dram_bandwidth),
        int(config.dram_latency),
    )  # fmt: skip


def evaluate_ops(ops: np.ndarray, config: AccelConfig) -> tuple[np.ndarray, int]:
    """Counters of every encoded layer on ``config``: ``(stats[n_ops, STAT_FIELDS], failed)``.

    ``failed`` is the index of the first layer that does not fit the buffers (its row and the
    later rows are not filled), or -1.
    """
    out = np.zeros((ops.shape[0], STAT_FIELDS), dtype=np.int64)
    failed = _evaluate(ops, *config_scalars(config), out)
    return out, int(failed)


# ---------------------------------------------------------------------------------------------
# Kernels (plain arrays and scalars only). Each mirrors the function of accel/ it names.
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _cdiv(a, b):
    return -(-a // b)


@njit(cache=True)
def _touched(op, axis, lo, hi):
    """accel.lowering.Axis.touched for outputs lo .. hi-1 of the axis at column ``axis``."""
    stride = op[axis + A_STRIDE]
    pad = op[axis + A_PAD]
    insert = op[axis + A_INSERT]
    first = max(lo * stride - pad, 0)
    last = min((hi - 1) * stride - pad + op[axis + A_SPAN], (op[axis + A_SIZE] - 1) * insert + 1)
    if last <= first:
        return 0
    return max((last - 1) // insert - (first + insert - 1) // insert + 1, 0)


@njit(cache=True)
def _first_touched(op, axis, lo):
    """accel.lowering.Axis.first_touched."""
    return _cdiv(max(lo * op[axis + A_STRIDE] - op[axis + A_PAD], 0), op[axis + A_INSERT])


@njit(cache=True)
def _most_touched(op, axis, band):
    """accel.lowering.Axis.most_touched."""
    return min(
        op[axis + A_SIZE],
        _cdiv((band - 1) * op[axis + A_STRIDE] + op[axis + A_SPAN], op[axis + A_INSERT]),
    )


@njit(cache=True)
def _tile_cycles(df, rows, cols, stream, folds):
    """accel.timing.tile_cycles."""
    if folds <= 0:
        return 0
    if df == 1:
        latency = stream + 2 * rows + cols - 1
    else:
        latency = stream + rows + cols
    return (folds - 1) * max(stream, rows) + latency


@njit(cache=True)
def _pack(df, groups, k, n, rows, cols):
    """accel.dataflow.Dataflow.pack."""
    if groups == 1:
        return 1
    limit = groups
    if df == 0:  # rows K, cols N
        limit = min(limit, rows // k)
        limit = min(limit, cols // n)
    elif df == 1:  # rows M, cols N
        limit = min(limit, cols // n)
    else:  # rows K, cols M
        limit = min(limit, rows // k)
    return max(1, limit)


@njit(cache=True)
def _best_order(op, band, images, ct, nt, pack, ib, filt):
    """accel.tiling._best_order: (order 0='mn' 1='nm', traffic)."""
    if images > 0:
        tm = _cdiv(op[O_BATCH], images)
        ifmap_all = (
            op[O_BATCH] * _touched(op, O_DEPTH, 0, op[O_DEPTH + A_OUT]) * _touched(op, O_ROWS, 0, op[O_ROWS + A_OUT])
        )
    else:
        tm = op[O_BATCH] * op[O_DEPTH + A_OUT] * _cdiv(op[O_ROWS + A_OUT], band)
        ifmap_all = tm * _most_touched(op, O_DEPTH, 1) * _most_touched(op, O_ROWS, band)
    ifmap_all *= op[O_IN_ROW_LEN] * ib * op[O_CHANNELS] * pack
    tn = _cdiv(op[O_N] * pack, nt)
    tk = _cdiv(op[O_CHANNELS] * pack, ct) if pack == 1 else 1
    filter_all = filt * tn * tk
    if tk > 1:
        mn = ifmap_all * tn + filter_all * tm
        nm = mn
    else:
        mn = ifmap_all + filter_all * (tm if tn > 1 else 1)
        nm = filter_all + ifmap_all * (tn if tm > 1 else 1)
    if mn <= nm:
        return 0, mn
    return 1, nm


@njit(cache=True)
def _plan(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, pack):
    """accel.tiling._plan: (band, images, channels, n_tile, order); band 0 when nothing fits."""
    n_total = op[O_N] * pack
    channels = op[O_CHANNELS]
    window = op[O_WINDOW]
    step_n = cols if df == 0 or df == 1 else 1  # the array dim N maps to (IS: none)
    step_n = min(step_n, n_total)
    r_out = op[O_ROWS + A_OUT]
    r_size = op[O_ROWS + A_SIZE]
    depth_slices = _most_touched(op, O_DEPTH, 1)
    image_rows = _touched(op, O_DEPTH, 0, op[O_DEPTH + A_OUT]) * _touched(op, O_ROWS, 0, op[O_ROWS + A_OUT])
    best_band, best_images, best_ct, best_nt, best_order = 0, 0, 0, 0, 0
    best_traffic, best_volume = 0, 0
    nt = n_total
    while True:
        ct = channels if pack == 1 else channels * pack
        while True:
            kt_real = ct * window if pack == 1 else op[O_K]
            filt = 0
            if op[O_HAS_WEIGHTS]:
                filt = kt_real * nt * wb + (nt * ACC_BIAS_BYTES if op[O_BIAS] else 0)
            # accel.tiling._bank_words: WS banks hold whole R x C weight blocks and C-lane accumulator words.
            held, lanes = filt, nt
            if df == 0:
                lanes = _cdiv(nt, cols) * cols
                held = weight_image_bytes(ct * window, nt, rows, cols, wb) + addend_image_bytes(nt, cols)
            row_bytes = ct * depth_slices * op[O_IN_ROW_LEN] * ib
            out_row_bytes = op[O_OUT_ROW_LEN] * lanes * ab
            rows_fit = bank_if // row_bytes
            if rows_fit >= r_size:
                by_ifmap = r_out
            elif rows_fit * op[O_ROWS + A_INSERT] < op[O_ROWS + A_SPAN]:
                by_ifmap = 0
            else:
                by_ifmap = (rows_fit * op[O_ROWS + A_INSERT] - op[O_ROWS + A_SPAN]) // op[O_ROWS + A_STRIDE] + 1
            band = min(r_out, by_ifmap, bank_of // out_row_bytes)
            if band >= 1 and held <= bank_f:
                images = 0
                if band == r_out:
                    image_in = max(1, ct * image_rows * op[O_IN_ROW_LEN] * ib)
                    image_out = op[O_DEPTH + A_OUT] * r_out * out_row_bytes
                    images = min(op[O_BATCH], bank_if // image_in, bank_of // image_out)
                order, traffic = _best_order(op, band, images, ct, nt, pack, ib, filt)
                if images > 0:
                    volume = images * op[O_DEPTH + A_OUT] * r_out * ct * nt
                else:
                    volume = band * ct * nt
                if best_band == 0 or traffic < best_traffic or (traffic == best_traffic and volume > best_volume):
                    best_band, best_images, best_ct, best_nt, best_order = (
                        band,
                        images,
                        ct,
                        nt,
                        order,
                    )
                    best_traffic, best_volume = traffic, volume
            # next channel candidate (accel.tiling._candidates(channels, 1); packed: one option)
            if pack != 1 or ct <= 1:
                break
            ct = max(1, _cdiv(ct, 2))
        if nt <= step_n:
            break
        nt = max(step_n, _cdiv(nt, 2))
    return best_band, best_images, best_ct, best_nt, best_order


@njit(cache=True)
def _array_layer(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, bandwidth, latency, out):
    """accel.tiling.schedule_array_op + accel.analytic.layer_timing; False if it does not fit."""
    groups = op[O_GROUPS]
    # accel.tiling.plan_packing: halve the packing until a tile fits.
    pack = _pack(df, groups, op[O_K], op[O_N], rows, cols)
    while True:
        band, images, csplit, nsplit, order = _plan(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, pack)
        if band > 0:
            break
        if pack == 1:
            return False
        pack //= 2

    # accel.tiling._m_tiles and m_tile_ranges: output pixels and input rows read per channel of
    # each M tile, and where its pixels sit (accel.tiling._transfer_beats).
    batch = op[O_BATCH]
    d_out = op[O_DEPTH + A_OUT]
    r_out = op[O_ROWS + A_OUT]
    out_row_len = op[O_OUT_ROW_LEN]
    plane = r_out * out_row_len
    if images > 0:
        m_tiles = _cdiv(batch, images)
    else:
        n_bands = _cdiv(r_out, band)
        m_tiles = batch * d_out * n_bands
    m_pixels = np.empty(m_tiles, dtype=np.int64)
    m_touched = np.empty(m_tiles, dtype=np.int64)
    m_image = np.empty(m_tiles, dtype=np.int64)
    m_images = np.ones(m_tiles, dtype=np.int64)
    m_z0 = np.empty(m_tiles, dtype=np.int64)
    m_z1 = np.empty(m_tiles, dtype=np.int64)
    m_r0 = np.empty(m_tiles, dtype=np.int64)
    m_r1 = np.empty(m_tiles, dtype=np.int64)
    m_out_first = np.empty(m_tiles, dtype=np.int64)
    if images > 0:
        z0 = _first_touched(op, O_DEPTH, 0)
        z1 = z0 + _touched(op, O_DEPTH, 0, d_out)
        r0 = _first_touched(op, O_ROWS, 0)
        r1 = r0 + _touched(op, O_ROWS, 0, r_out)
        for t in range(m_tiles):
            imgs = images if t < m_tiles - 1 else batch - images * (m_tiles - 1)
            m_pixels[t] = imgs * d_out * plane
            m_touched[t] = imgs * (z1 - z0) * (r1 - r0)
            m_image[t] = t * images
            m_images[t] = imgs
            m_z0[t], m_z1[t], m_r0[t], m_r1[t] = z0, z1, r0, r1
            m_out_first[t] = t * images * d_out * plane
    else:
        t = 0
        for n in range(batch):
            for d in range(d_out):
                z0 = _first_touched(op, O_DEPTH, d)
                z1 = z0 + _touched(op, O_DEPTH, d, d + 1)
                for bi in range(n_bands):
                    y0 = bi * band
                    size = band if bi < n_bands - 1 else r_out - band * (n_bands - 1)
                    r0 = _first_touched(op, O_ROWS, y0)
                    r1 = r0 + _touched(op, O_ROWS, y0, y0 + size)
                    m_pixels[t] = size * out_row_len
                    m_touched[t] = (z1 - z0) * (r1 - r0)
                    m_image[t] = n
                    m_z0[t], m_z1[t], m_r0[t], m_r1[t] = z0, z1, r0, r1
                    m_out_first[t] = ((n * d_out + d) * r_out + y0) * out_row_len
                    t += 1
    bus = bus_bytes(bandwidth)
    in_pixel = op[O_CHANNELS] * groups * ib
    out_pixel = op[O_N] * groups * ib

    n_packs = _cdiv(groups, pack)
    count = 0
    for p in range(n_packs):
        g = pack if p < n_packs - 1 else groups - pack * (n_packs - 1)
        n_tot = op[O_N] * g
        nn = _cdiv(n_tot, min(nsplit, n_tot))
        nk = _cdiv(op[O_CHANNELS], csplit) if pack == 1 else 1
        count += m_tiles * nn * nk

    load = np.zeros(count, dtype=np.int64)
    load_after = np.full(count, -1, dtype=np.int64)
    compute = np.zeros(count, dtype=np.int64)
    writeback = np.zeros(count, dtype=np.int64)
    wait_writeback = np.full(count, -1, dtype=np.int64)
    commands = np.zeros(count, dtype=np.int64)  # DMA commands of each tile (accel.tiling)
    ends = np.zeros(count, dtype=np.int64)
    n_ends = 0
    last_if = -1  # index of the last ifmap / filter fetch
    last_f = -1
    prev_g = -1
    prev_m = -1
    prev_n = -1
    prev_k = -1
    has_w = op[O_HAS_WEIGHTS] != 0
    window = op[O_WINDOW]
    if_reads = 0
    f_reads = 0
    of_reads = 0
    of_writes = 0
    load_if_total = 0
    load_f_total = 0
    wb_total = 0
    folds_total = 0
    mapped = 0
    j = 0
    for p in range(n_packs):
        g = pack if p < n_packs - 1 else groups - pack * (n_packs - 1)
        n_tot = op[O_N] * g
        n_size = min(nsplit, n_tot)
        nn = _cdiv(n_tot, n_size)
        if pack == 1:
            c_tot = op[O_CHANNELS]
            c_size = csplit
            nk = _cdiv(c_tot, c_size)
        else:
            c_tot = op[O_CHANNELS] * g
            c_size = c_tot
            nk = 1
        outer = m_tiles if order == 0 else nn
        inner = nn if order == 0 else m_tiles
        for o in range(outer):
            for i in range(inner):
                mi = o if order == 0 else i
                ni = i if order == 0 else o
                nt = n_size if ni < nn - 1 else n_tot - n_size * (nn - 1)
                mt = m_pixels[mi]
                for ki in range(nk):
                    ct = c_size if ki < nk - 1 else c_tot - c_size * (nk - 1)
                    last_k = ki == nk - 1
                    kt = ct * window
                    kt_real = op[O_K] if g > 1 else kt
                    # Operand fetches: only when the operand tile changes (accel.tiling._changed).
                    new_if = j == 0 or p != prev_g or mi != prev_m or ki != prev_k
                    new_f = (j == 0 or p != prev_g or ni != prev_n or ki != prev_k) and (has_w or df == 0)
                    guard = -1  # accel.tiling.bank_guard
                    if new_if:
                        nbytes = ct * m_touched[mi] * op[O_IN_ROW_LEN] * ib
                        c_first = p * pack * op[O_CHANNELS] + (ki * c_size if g == 1 and pack == 1 else 0)
                        load_if_total += nbytes
                        load[j] += input_load_beats(op[O_DEPTH + A_SIZE], op[O_ROWS + A_SIZE], op[O_IN_ROW_LEN],
                                                    in_pixel, m_image[mi], m_images[mi], m_z0[mi], m_z1[mi],
                                                    m_r0[mi], m_r1[mi], c_first * ib, ct * ib, bus)  # fmt: skip
                        commands[j] += input_load_commands(op[O_DEPTH + A_SIZE], op[O_ROWS + A_SIZE], m_images[mi],
                                                           m_z0[mi], m_z1[mi], m_r0[mi], m_r1[mi], ct * ib,
                                                           in_pixel)  # fmt: skip
                        if last_if >= 0:
                            guard = max(guard, last_if - 1)
                        last_if = j
                    if new_f:
                        if df == 0:  # accel.dram_layout: weight and addend images
                            weights = weight_image_bytes(kt, nt, rows, cols, wb)
                            addends = addend_image_bytes(nt, cols) if last_k else 0
                        else:
                            weights = kt_real * nt * wb
                            addends = nt * ACC_BIAS_BYTES if ki == 0 and op[O_BIAS] else 0
                        load[j] += image_beats(weights, bus) + image_beats(addends, bus)
                        commands[j] += int(weights > 0) + int(addends > 0)
                        load_f_total += weights + addends
                        if last_f >= 0:
                            guard = max(guard, last_f - 1)
                        last_f = j
                    load_after[j] = guard
                    # Compute cycles and SRAM accesses (accel.dataflow.Dataflow).
                    if df == 0:  # ws: rows K, cols N, stream M
                        tile_folds = _cdiv(kt, rows) * _cdiv(nt, cols)
                        stream = mt
                        a_if = mt * kt * _cdiv(nt, cols)
                        a_f = kt * nt
                        a_of = mt * nt * _cdiv(kt, rows)
                    elif df == 1:  # os: rows M, cols N, stream K
                        tile_folds = _cdiv(mt, rows) * _cdiv(nt, cols)
                        stream = kt
                        a_if = mt * kt * _cdiv(nt, cols)
                        a_f = kt * nt * _cdiv(mt, rows)
                        a_of = mt * nt
                    else:  # is: rows K, cols M, stream N
                        tile_folds = _cdiv(kt, rows) * _cdiv(mt, cols)
                        stream = nt
                        a_if = mt * kt
                        a_f = kt * nt * _cdiv(mt, cols)
                        a_of = mt * nt * _cdiv(kt, rows)
                    compute[j] = _tile_cycles(df, rows, cols, stream, tile_folds)
                    folds_total += tile_folds
                    mapped += tile_folds * stream
                    if_reads += a_if
                    if has_w:
                        f_reads += a_f // g
                    of_writes += a_of
                    of_reads += a_of - (mt * nt if ki == 0 else 0) + (mt * nt if last_k else 0)
                    # Writeback after the last K tile; accumulator banks alternate
                    # (accel.tiling.accumulator_guard).
                    if n_ends >= 2:
                        wait_writeback[j] = ends[n_ends - 2]
                    if last_k:
                        commands[j] += 1
                        n_first = p * pack * op[O_N] + ni * n_size
                        writeback[j] = output_store_beats(m_out_first[mi], mt, out_pixel, n_first * ib, nt * ib,
                                                          cols * ib, bus)  # fmt: skip
                        wb_total += mt * nt * ib
                        ends[n_ends] = j
                        n_ends += 1
                    prev_g, prev_m, prev_n, prev_k = p, mi, ni, ki
                    j += 1
    total, busy = _recurrence(load, load_after, compute, writeback, wait_writeback, commands, bandwidth, latency, rows)
    out[S_CYCLES] = total
    out[S_COMPUTE] = compute.sum()
    out[S_BUSY] = busy
    out[S_IFMAP_READS] = if_reads
    out[S_FILTER_READS] = f_reads
    out[S_OFMAP_READS] = of_reads
    out[S_OFMAP_WRITES] = of_writes
    out[S_LOAD_IFMAP] = load_if_total
    out[S_LOAD_FILTER] = load_f_total
    out[S_WRITEBACK] = wb_total
    out[S_PE_OPS] = op[O_PE_OPS]
    out[S_FOLDS] = folds_total
    out[S_MAPPED] = mapped
    out[S_TILES] = count
    out[S_BEATS] = load.sum() + writeback.sum()
    return True


@njit(cache=True)
def _vector_layer(op, rows, cols, ib, bank_if, bank_of, bandwidth, latency, out):
    """accel.tiling.schedule_vector_op + accel.analytic.layer_timing; False if it does not fit."""
    in_elems = op[O_IN_ELEMS]
    out_elems = op[O_OUT_ELEMS]
    ratio = max(1, _cdiv(in_elems, out_elems))
    chunk = min(bank_if // (ratio * ib), bank_of // ib)
    if chunk < 1:
        return False
    count = _cdiv(out_elems, chunk)
    bus = bus_bytes(bandwidth)
    load = np.zeros(count, dtype=np.int64)
    load_after = np.full(count, -1, dtype=np.int64)
    compute = np.zeros(count, dtype=np.int64)
    writeback = np.zeros(count, dtype=np.int64)
    wait_writeback = np.full(count, -1, dtype=np.int64)
    ins_total = 0
    for j in range(count):
        outs = chunk if j < count - 1 else out_elems - chunk * (count - 1)
        ins = min(outs * ratio, in_elems)
        ins_total += ins
        load[j] = _cdiv(ins * ib, bus)
        if j >= 1:
            load_after[j] = j - 2
        if j >= 2:
            wait_writeback[j] = j - 2
        compute[j] = op[O_PASSES] * _cdiv(outs, cols)
        writeback[j] = _cdiv(outs * ib, bus)
    commands = np.full(count, 2, dtype=np.int64)  # a load and a store per chunk
    total, busy = _recurrence(load, load_after, compute, writeback, wait_writeback, commands, bandwidth, latency, rows)
    out[S_CYCLES] = total
    out[S_COMPUTE] = compute.sum()
    out[S_BUSY] = busy
    out[S_IFMAP_READS] = ins_total * op[O_PASSES]
    out[S_FILTER_READS] = 0
    out[S_OFMAP_READS] = out_elems
    out[S_OFMAP_WRITES] = out_elems
    out[S_LOAD_IFMAP] = ins_total * ib
    out[S_LOAD_FILTER] = 0
    out[S_WRITEBACK] = out_elems * ib
    out[S_PE_OPS] = 0
    out[S_FOLDS] = 0
    out[S_MAPPED] = 0
    out[S_TILES] = count
    out[S_BEATS] = load.sum() + writeback.sum()
    return True


@njit(cache=True, nogil=True)
def _evaluate(ops, rows, cols, df, ib, wb, ab, bank_if, bank_f, bank_of, bandwidth, latency, out):
    for i in range(ops.shape[0]):
        op = ops[i]
        if op[O_VECTOR]:
            ok = _vector_layer(op, rows, cols, ib, bank_if, bank_of, bandwidth, latency, out[i])
        else:
            ok = _array_layer(
                op,
                df,
                rows,
                cols,
                ib,
                wb,
                ab,
                bank_if,
                bank_f,
                bank_of,
                bandwidth,
                latency,
                out[i],
            )
        if not ok:
            return i
    return -1
