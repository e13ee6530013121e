"""The fused evaluation kernel of design-space exploration: tiling + closed form in one Numba call.

``accel/tiling.py`` builds a :class:`~accel.tiling.TileSchedule` with NumPy and
``accel/analytic.py`` runs the closed-form recurrence over it. That path costs about 1.5 ms per
layer, mostly NumPy call overhead on small arrays; a sweep evaluates every layer of a network at
thousands of configurations. This kernel computes the same tile plan, the same tile arrays and
the same counters with plain loops compiled by Numba, then calls the *same* recurrence
(``accel.analytic._recurrence``), for all layers of a network in one call.

It is a second implementation of the tiling rules, so it carries a contract like contract 5:
for every layer and configuration it returns exactly what ``schedule`` + ``layer_timing`` return
(``tests/test_dse_kernel.py`` checks it on every zoo network over a grid of configurations, and
on random layers). A change to the tiling rules must be made in both places; that test fails
until it is.

Layers are passed as rows of an int64 matrix (:func:`encode_ops`); results come back as rows of
counters (the ``S_*`` columns). A layer whose smallest tile does not fit the buffers stops the
evaluation; the caller asks ``accel.tiling`` for the error message, so the message is the one
``sim run`` prints.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from accel.analytic import _recurrence, kernel_bandwidth
from accel.config import AccelConfig
from accel.lowering import ArrayOp, Op, VectorOp
from accel.tiling import ACC_BIAS_BYTES, element_bytes

# Columns of an encoded layer.
(O_VECTOR, O_GROUPS, O_M, O_K, O_N, O_CHANNELS, O_WINDOW, O_OUT_ROWS, O_OUT_ROW_LEN, O_IN_ROWS, O_IN_ROW_LEN,
 O_ROW_STRIDE, O_ROW_SPAN, O_HAS_WEIGHTS, O_BIAS, O_PE_OPS, O_MAX_MODE, O_IN_ELEMS, O_OUT_ELEMS, O_PASSES,
 O_MACS) = range(21)  # fmt: skip
OP_FIELDS = 21

# Columns of a layer's result.
(S_CYCLES, S_COMPUTE, S_BUSY, S_IFMAP_READS, S_FILTER_READS, S_OFMAP_READS, S_OFMAP_WRITES, S_LOAD_IFMAP,
 S_LOAD_FILTER, S_WRITEBACK, S_PE_OPS, S_FOLDS, S_MAPPED, S_TILES) = range(14)  # fmt: skip
STAT_FIELDS = 14
STAT_NAMES = ("cycles", "compute_cycles", "dram_busy_cycles", "ifmap_reads", "filter_reads", "ofmap_reads",
              "ofmap_writes", "ifmap_read_bytes", "filter_read_bytes", "ofmap_write_bytes", "pe_ops", "folds",
              "mapped_cycles", "tiles")  # fmt: skip

DATAFLOW_CODES = {"ws": 0, "os": 1, "is": 2}


def encode_op(op: Op, macs: int) -> np.ndarray:
    """One lowered layer as a row of :data:`OP_FIELDS` int64 values."""
    row = np.zeros(OP_FIELDS, dtype=np.int64)
    row[O_MACS] = macs
    if isinstance(op, VectorOp):
        row[O_VECTOR] = 1
        row[O_IN_ELEMS], row[O_OUT_ELEMS], row[O_PASSES] = (
            op.in_elems,
            op.out_elems,
            op.passes,
        )
        return row
    assert isinstance(op, ArrayOp)
    row[[O_GROUPS, O_M, O_K, O_N, O_CHANNELS, O_WINDOW, O_OUT_ROWS, O_OUT_ROW_LEN, O_IN_ROWS, O_IN_ROW_LEN,
         O_ROW_STRIDE, O_ROW_SPAN, O_HAS_WEIGHTS, O_BIAS, O_PE_OPS, O_MAX_MODE]] = [
        op.groups, op.m, op.k, op.n, op.channels, op.window, op.out_rows, op.out_row_len, op.in_rows,
        op.in_row_len, op.row_stride, op.row_span, int(op.has_weights), int(op.bias), op.useful_macs,
        int(op.pe_mode == "max"),
    ]  # fmt: skip
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
# Kernels (plain arrays and scalars only)
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _cdiv(a, b):
    return -(-a // b)


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
def _plan(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, pack):
    """accel.tiling._plan: (band, channels, n_tile, order 0='mn' 1='nm'); band 0 when nothing fits."""
    n_total = op[O_N] * pack
    channels = op[O_CHANNELS]
    window = op[O_WINDOW]
    if df == 0 or df == 1:
        step_n = cols
    else:
        step_n = 1
    step_n = min(step_n, n_total)
    best_band = 0
    best_ct = 0
    best_nt = 0
    best_order = 0
    best_traffic = 0
    best_vol = 0
    nt = n_total
    while True:
        ct = channels if pack == 1 else channels * pack
        while True:
            kt_real = ct * window if pack == 1 else op[O_K]
            filt = 0
            if op[O_HAS_WEIGHTS]:
                filt = kt_real * nt * wb + (nt * ACC_BIAS_BYTES if op[O_BIAS] else 0)
            row_bytes = ct * op[O_IN_ROW_LEN] * ib
            rows_fit = bank_if // row_bytes
            if rows_fit >= op[O_IN_ROWS]:
                by_ifmap = op[O_OUT_ROWS]
            elif rows_fit < op[O_ROW_SPAN]:
                by_ifmap = 0
            else:
                by_ifmap = (rows_fit - op[O_ROW_SPAN]) // op[O_ROW_STRIDE] + 1
            by_ofmap = bank_of // (op[O_OUT_ROW_LEN] * nt * ab)
            band = min(op[O_OUT_ROWS], by_ifmap, by_ofmap)
            if band >= 1 and filt <= bank_f:
                # accel.tiling._best_order
                tm = _cdiv(op[O_OUT_ROWS], band)
                tn = _cdiv(n_total, nt)
                tk = _cdiv(channels * pack, ct) if pack == 1 else 1
                band_rows = min(
                    op[O_IN_ROWS], (band - 1) * op[O_ROW_STRIDE] + op[O_ROW_SPAN]
                )
                ifmap_all = tm * band_rows * op[O_IN_ROW_LEN] * channels * pack * ib
                filter_all = filt * tn * tk
                if tk > 1:
                    mn = ifmap_all * tn + filter_all * tm
                    nm = mn
                else:
                    mn = ifmap_all + filter_all * (tm if tn > 1 else 1)
                    nm = filter_all + ifmap_all * (tn if tm > 1 else 1)
                if mn <= nm:
                    order, traffic = 0, mn
                else:
                    order, traffic = 1, nm
                vol = band * ct * nt
                if (
                    best_band == 0
                    or traffic < best_traffic
                    or (traffic == best_traffic and vol > best_vol)
                ):
                    best_band, best_ct, best_nt, best_order, best_traffic, best_vol = (
                        band,
                        ct,
                        nt,
                        order,
                        traffic,
                        vol,
                    )
            # next channel candidate (accel.tiling._candidates(channels, 1); packed: one option)
            if pack != 1 or ct <= 1:
                break
            ct = max(1, _cdiv(ct, 2))
        if nt <= step_n:
            break
        nt = max(step_n, _cdiv(nt, 2))
    return best_band, best_ct, best_nt, best_order


@njit(cache=True)
def _array_layer(
    op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, bandwidth, latency, out
):
    """accel.tiling.schedule_array_op + accel.analytic.layer_timing; False if it does not fit."""
    groups = op[O_GROUPS]
    pack = _pack(df, groups, op[O_K], op[O_N], rows, cols)
    band, csplit, nsplit, order = _plan(
        op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, pack
    )
    if band == 0:
        return False
    out_rows = op[O_OUT_ROWS]
    n_bands = _cdiv(out_rows, band)
    n_packs = _cdiv(groups, pack)
    count = 0
    for p in range(n_packs):
        g = pack if p < n_packs - 1 else groups - pack * (n_packs - 1)
        n_tot = op[O_N] * g
        nn = _cdiv(n_tot, min(nsplit, n_tot))
        nk = _cdiv(op[O_CHANNELS] * g, csplit) if pack == 1 else 1
        count += n_bands * nn * nk

    load = np.zeros(count, dtype=np.int64)
    load_after = np.full(count, -1, dtype=np.int64)
    compute = np.zeros(count, dtype=np.int64)
    writeback = np.zeros(count, dtype=np.int64)
    wait_writeback = np.full(count, -1, dtype=np.int64)
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
    out_row_len = op[O_OUT_ROW_LEN]
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
            c_tot = op[O_CHANNELS] * g
            c_size = csplit
            nk = _cdiv(c_tot, c_size)
        else:
            c_tot = op[O_CHANNELS] * g
            c_size = c_tot
            nk = 1
        outer = n_bands if order == 0 else nn
        inner = nn if order == 0 else n_bands
        for o in range(outer):
            for i in range(inner):
                mi = o if order == 0 else i
                ni = i if order == 0 else o
                b = band if mi < n_bands - 1 else out_rows - band * (n_bands - 1)
                nt = n_size if ni < nn - 1 else n_tot - n_size * (nn - 1)
                for ki in range(nk):
                    ct = c_size if ki < nk - 1 else c_tot - c_size * (nk - 1)
                    last_k = ki == nk - 1
                    mt = b * out_row_len
                    kt = ct * window
                    kt_real = op[O_K] if g > 1 else kt
                    # Operand fetches: only when the operand tile changes.
                    new_if = j == 0 or p != prev_g or mi != prev_m or ki != prev_k
                    new_f = (
                        j == 0 or p != prev_g or ni != prev_n or ki != prev_k
                    ) and has_w
                    guard = -1
                    if new_if:
                        band_rows = min(
                            op[O_IN_ROWS], (b - 1) * op[O_ROW_STRIDE] + op[O_ROW_SPAN]
                        )
                        nbytes = ct * band_rows * op[O_IN_ROW_LEN] * ib
                        load[j] += nbytes
                        load_if_total += nbytes
                        if last_if >= 0:
                            guard = max(guard, last_if - 1)
                        last_if = j
                    if new_f:
                        nbytes = kt_real * nt * wb
                        if ki == 0 and op[O_BIAS]:
                            nbytes += nt * ACC_BIAS_BYTES
                        load[j] += nbytes
                        load_f_total += nbytes
                        if last_f >= 0:
                            guard = max(guard, last_f - 1)
                        last_f = j
                    load_after[j] = guard
                    # Compute cycles and SRAM accesses (accel.dataflow).
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
                    of_reads += (
                        a_of - (mt * nt if ki == 0 else 0) + (mt * nt if last_k else 0)
                    )
                    # Writeback after the last K tile; accumulator banks alternate.
                    if n_ends >= 2:
                        wait_writeback[j] = ends[n_ends - 2]
                    if last_k:
                        writeback[j] = mt * nt * ib
                        wb_total += writeback[j]
                        ends[n_ends] = j
                        n_ends += 1
                    prev_g, prev_m, prev_n, prev_k = p, mi, ni, ki
                    j += 1
    total, busy = _recurrence(
        load, load_after, compute, writeback, wait_writeback, bandwidth, latency
    )
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
    return True


@njit(cache=True)
def _vector_layer(op, cols, ib, bank_if, bank_of, bandwidth, latency, out):
    """accel.tiling.schedule_vector_op + accel.analytic.layer_timing; False if it does not fit."""
    in_elems = op[O_IN_ELEMS]
    out_elems = op[O_OUT_ELEMS]
    ratio = max(1, _cdiv(in_elems, out_elems))
    chunk = min(bank_if // (ratio * ib), bank_of // ib)
    if chunk < 1:
        return False
    count = _cdiv(out_elems, chunk)
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
        load[j] = ins * ib
        if j >= 1:
            load_after[j] = j - 2
        if j >= 2:
            wait_writeback[j] = j - 2
        compute[j] = op[O_PASSES] * _cdiv(outs, cols)
        writeback[j] = outs * ib
    total, busy = _recurrence(
        load, load_after, compute, writeback, wait_writeback, bandwidth, latency
    )
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
    return True


@njit(cache=True, nogil=True)
def _evaluate(
    ops, rows, cols, df, ib, wb, ab, bank_if, bank_f, bank_of, bandwidth, latency, out
):
    for i in range(ops.shape[0]):
        op = ops[i]
        if op[O_VECTOR]:
            ok = _vector_layer(
                op, cols, ib, bank_if, bank_of, bandwidth, latency, out[i]
            )
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
