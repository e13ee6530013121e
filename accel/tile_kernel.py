"""The tiler: one compiled kernel that splits a lowered layer into tiles, in loop order.

Everything that decides or describes tiles lives here, once: the tile sizes that fit the
double-buffered banks, the loop order, which operand tiles are fetched, each tile's bytes, bus
beats, DMA commands, compute cycles and bank guards, and the SRAM access counts. The simulator
(:func:`accel.tiling.schedule`), the hardware compiler (:func:`accel.tiling.tile_grid`) and the
design-space exploration (:mod:`accel.dse_kernel`) all read its arrays, so they cannot disagree.

A tile is the unit the controller runs from start to done with its operands on chip: a band of
``b`` output rows (``M_t = b * row_len`` pixels), a block of whole images, or a band cut into
*row segments* of ``w`` consecutive outputs per row (a 2-D tile: the segments of a band share
its whole input rows, fetched once, or each fetch only their *column window*, the input columns
they read); ``c`` input channels of a group, or a *piece* of one channel's window of taps
(whole ``R``-tap blocks) when one channel's weights overflow the filter bank (``K_t``), read
from an ifmap tile of those channels or, when K is split, possibly of every channel
(*resident*: fetched once per M tile), and ``N_t`` output channels, for one pack of groups.
The loop nest is ``pack > outer > inner > k`` with K innermost, so partial sums stay in the
accumulator buffer until the last K tile of an output tile, which is then written back once.
``outer``/``inner`` is M-then-N or N-then-M, whichever moves fewer bytes from DRAM. An operand
tile is fetched only when it differs from the one already on chip. Each operand buffer has two
banks: a tile that fetches an operand fills the bank its previous fetch did not use, so it may
only start once the last tile reading that bank has finished. With buffering 'whole' a layer's
ifmap or filter tiles may take both banks when that moves fewer bytes (single-buffered: each
fetch of that operand waits for the tile before it).

A layer enters as a row of int64 fields (:func:`encode_op`); results are int64 arrays whose rows
are named by the ``P_*`` (plan), ``T_*`` (per tile), ``M_*`` (per M tile) and ``C_*`` (layer
counters) constants. Kernels are compiled with Numba; :func:`accel.jit.choose` runs them
interpreted for small work early in a process (the helpers are ``register_jitable``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit
from numba.extending import register_jitable

from accel.dataflow import OS, WS, _cdiv, pack_groups, tile_work
from accel.dram_channel import transfer_beats
from accel.dram_layout import (addend_image_bytes, image_beats, input_load_beats, input_load_commands,
                                output_block_beats, output_store_commands, weight_image_bytes)  # fmt: skip
from accel.lowering import ArrayOp, Axis, Op, VectorOp, axis_first_touched, axis_most_touched, axis_touched
from accel.system_timing import COMMAND_WORDS, WORD_BYTES
from accel.timing import tile_cycles

ACC_BIAS_BYTES = 4  # a bias is stored at accumulator precision (int32)


def element_bytes(bits: int) -> int:
    """Bytes one element of ``bits`` bits takes in memory."""
    return -(-bits // 8)


# ---------------------------------------------------------------------------------------------
# Layer encoding
# ---------------------------------------------------------------------------------------------

# Columns of an encoded layer. An Axis takes AXIS_FIELDS columns from O_DEPTH / O_ROWS.
(O_VECTOR, O_GROUPS, O_M, O_K, O_N, O_CHANNELS, O_WINDOW, O_BATCH) = range(8)
O_DEPTH = 8
O_ROWS = 14
(O_OUT_ROW_LEN, O_IN_ROW_LEN, O_HAS_WEIGHTS, O_BIAS, O_PE_OPS, O_MAX_MODE, O_IN_ELEMS, O_OUT_ELEMS, O_PASSES,
 O_MACS) = range(20, 30)  # fmt: skip
O_COLS = 30
O_ZERO_PAD = 36
OP_FIELDS = 37
AXIS_FIELDS = 6
A_OUT, A_SIZE, A_STRIDE, A_SPAN, A_PAD, A_INSERT = range(AXIS_FIELDS)

# The fields the encoding knows. A new field of the lowered form may change what tiling does
# with a layer; encode_op fails until it (and this list) are updated to match.
_ARRAY_FIELDS = {"name", "kind", "pe_mode", "groups", "m", "k", "n", "channels", "window", "batch", "depth", "rows",
                 "cols", "zero_padding", "has_weights", "bias", "useful_macs"}  # fmt: skip
_AXIS_FIELDS = ("out", "size", "stride", "span", "pad", "insert")
_VECTOR_FIELDS = {"name", "kind", "in_elems", "out_elems", "passes"}


def _check_fields(kind: type, known) -> None:
    names = {f.name for f in dataclasses.fields(kind)}
    if names != set(known):
        extra = sorted(names ^ set(known))
        raise RuntimeError(
            f"accel.tile_kernel does not encode accel.lowering.{kind.__name__} (fields {', '.join(extra)}); "
            "encode the new fields in accel/tile_kernel.py and use them in its kernels"
        )


def encode_op(op: Op, macs: int = 0) -> np.ndarray:
    """One lowered layer as a row of :data:`OP_FIELDS` int64 values (``macs``: the layer's MACs)."""
    row = np.zeros(OP_FIELDS, dtype=np.int64)
    row[O_MACS] = macs
    if isinstance(op, VectorOp):
        _check_fields(VectorOp, _VECTOR_FIELDS)
        row[O_VECTOR] = 1
        row[[O_IN_ELEMS, O_OUT_ELEMS, O_PASSES]] = [op.in_elems, op.out_elems, op.passes]
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
    row[O_ZERO_PAD] = int(op.zero_padding)
    for base, axis in ((O_DEPTH, op.depth), (O_ROWS, op.rows), (O_COLS, op.cols)):
        row[base : base + AXIS_FIELDS] = [getattr(axis, name) for name in _AXIS_FIELDS]
    return row


# ---------------------------------------------------------------------------------------------
# Result layout
# ---------------------------------------------------------------------------------------------

# The plan: packed groups, band (output rows per M tile; 0: nothing fits), whole images per M
# tile (0: bands), input channels per K tile, output channels per N tile, loop order (ORDER_*),
# the bytes per bank the smallest tile of the unpacked layer needs (for the error message), the
# outputs per row segment (the whole row, or less: 2-D tiles), and whether the ifmap tile holds
# every channel while K tiles take slices of it (1: the ifmap is fetched once per M tile), whether
# each row segment fetches its own column window (1) or shares its band's whole rows (0), the
# taps of a channel's window per K tile (the whole window, or whole R-tap blocks of it), which
# operands are single-buffered (SINGLE_* bits: their largest tile takes both banks of the buffer),
# and whether the bands of an output plane share its whole input (1: fetched once per plane).
(P_PACK, P_BAND, P_IMAGES, P_CHANNELS, P_N_TILE, P_ORDER, P_NEED_IFMAP, P_NEED_FILTER, P_NEED_OFMAP,
 P_SEGMENT, P_RESIDENT, P_WINDOWED, P_TAPS, P_SINGLE, P_SHARED) = range(15)  # fmt: skip
PLAN_FIELDS = 15
SINGLE_IFMAP, SINGLE_FILTER = 1, 2
ORDER_MN, ORDER_NM = 0, 1
ORDER_NAMES = ("mn", "nm")

# Per tile (columns in execution order). Grid: first group and groups of the tile's pack, M tile
# index, first output channel and channels within the pack's GEMM, first input channel and
# channels of a group (a packed GEMM takes all of them), K and N tile index, "completes its
# outputs". Schedule: bytes fetched (0 when resident), the tile whose compute must end before
# the fetch (-1: none), compute cycles, bytes written back, the tile whose writeback frees the
# accumulator bank (-1: none), bus beats of fetch and writeback, DMA commands; the first tap of
# the channels' windows the tile takes, and its K (taps of every channel it takes).
(T_GROUP0, T_GCOUNT, T_MI, T_N0, T_NT, T_C0, T_CT, T_KI, T_NI, T_LAST_K, T_LOAD_IFMAP, T_LOAD_FILTER, T_LOAD_AFTER,
 T_COMPUTE, T_WRITEBACK, T_WAIT_WRITEBACK, T_LOAD_BEATS, T_WRITEBACK_BEATS, T_COMMANDS, T_TAP0,
 T_KT) = range(21)  # fmt: skip
TILE_FIELDS = 21

# Per M tile: first image (or output plane, for bands: image * output depth + slice), images,
# first output row, output rows, first output column, output columns; output pixels, input rows
# read per channel, image, the input depth slices and rows it reads [Z0, Z1) x [R0, R1), first
# output pixel in DRAM, the index of its input (equal for the segments of one band that share
# its whole rows), and the input columns [C0, C1) it loads of each row (all of them, or a window).
(M_PLANE, M_IMAGES, M_Y0, M_ROWS, M_X0, M_COLS, M_PIXELS, M_TOUCHED, M_IMAGE, M_Z0, M_Z1, M_R0, M_R1,
 M_OUT_FIRST, M_INPUT, M_C0, M_C1) = range(17)  # fmt: skip
M_FIELDS = 17

# Layer counters: SRAM element accesses, folds, cycles the PEs hold mapped work, DRAM bytes.
(C_IFMAP_READS, C_FILTER_READS, C_FILTER_WRITES, C_OFMAP_READS, C_OFMAP_WRITES, C_FOLDS, C_MAPPED, C_LOAD_IFMAP,
 C_LOAD_FILTER, C_WRITEBACK) = range(10)  # fmt: skip
COUNTER_FIELDS = 10


# ---------------------------------------------------------------------------------------------
# Choosing tile sizes
# ---------------------------------------------------------------------------------------------


@register_jitable
def _touched(op, axis, lo, hi):
    """accel.lowering.Axis.touched of the axis at column ``axis``."""
    return axis_touched(op[axis + A_SIZE], op[axis + A_STRIDE], op[axis + A_SPAN], op[axis + A_PAD],
                        op[axis + A_INSERT], lo, hi)  # fmt: skip


@register_jitable
def _first_touched(op, axis, lo):
    return axis_first_touched(op[axis + A_STRIDE], op[axis + A_PAD], op[axis + A_INSERT], lo)


@register_jitable
def _most_touched(op, axis, band):
    return axis_most_touched(op[axis + A_SIZE], op[axis + A_STRIDE], op[axis + A_SPAN], op[axis + A_INSERT], band)


@register_jitable
def _band_inputs(op, axis, band):
    """Input positions along ``axis`` that its runs of ``band`` outputs fetch in all: the first
    and the last run as they are clipped by the padding, the ones between as the second."""
    out = op[axis + A_OUT]
    bands = _cdiv(out, band)
    if bands == 1:
        return _touched(op, axis, 0, out)
    inputs = _touched(op, axis, 0, band) + _touched(op, axis, (bands - 1) * band, out)
    return inputs + (bands - 2) * _touched(op, axis, band, 2 * band)


@register_jitable
def _best_order(op, shape, pack, ib, filt, addends):
    """Estimated DRAM bytes of both loop orders of the tile ``shape`` (as :func:`_consider` takes
    it): ``(order, bytes)`` of the cheaper one.

    Row segments either share their band's whole input rows (consecutive segments fetch them
    again only when K is split, the K tiles between them replacing the rows) or each fetch their
    own column window; ``shared`` bands share their output plane's whole input instead. An
    ifmap tile that is ``resident`` (every channel on chip) is fetched once per input tile, M
    outermost. ``taps`` below the window: K tiles split each channel's window. ``filt``: bytes of
    a filter tile, ``addends`` of them fetched once per output tile (not per K tile)."""
    band, segment, windowed, images, ct, taps, nt, resident, shared = shape
    segments = _cdiv(op[O_OUT_ROW_LEN], segment)
    if images > 0:
        tm = inputs = _cdiv(op[O_BATCH], images)
        ifmap_all = (
            op[O_BATCH] * _touched(op, O_DEPTH, 0, op[O_DEPTH + A_OUT]) * _touched(op, O_ROWS, 0, op[O_ROWS + A_OUT])
        )
    else:
        planes = op[O_BATCH] * op[O_DEPTH + A_OUT]
        bands = _cdiv(op[O_ROWS + A_OUT], band)
        tm = planes * bands * segments
        inputs = planes * (1 if shared else bands) * (segments if windowed else 1)
        rows_in = _touched(op, O_ROWS, 0, op[O_ROWS + A_OUT]) if shared else _band_inputs(op, O_ROWS, band)
        ifmap_all = planes * _most_touched(op, O_DEPTH, 1) * rows_in
    ifmap_all *= (_band_inputs(op, O_COLS, segment) if windowed else op[O_IN_ROW_LEN]) * ib * op[O_CHANNELS] * pack
    tn = _cdiv(op[O_N] * pack, nt)
    tk = _cdiv(op[O_CHANNELS] * pack, ct) * _cdiv(op[O_WINDOW], taps) if pack == 1 else 1
    filter_all = ((filt - addends) * tk + addends) * tn
    if resident:
        return ORDER_MN, ifmap_all + filter_all * tm
    if tk > 1:
        mn = ifmap_all * (1 if windowed else segments) * tn + filter_all * tm
        nm = mn
    else:
        mn = ifmap_all + filter_all * (tm if tn > 1 else 1)
        nm = filter_all + ifmap_all * (tn if inputs > 1 else 1)
    if mn <= nm:
        return ORDER_MN, mn
    return ORDER_NM, nm


@register_jitable
def _outputs_fitting(op, axis, inputs):
    """Outputs along ``axis`` whose input positions fit ``inputs`` of them (< 1: none)."""
    if inputs >= op[axis + A_SIZE]:
        return op[axis + A_OUT]
    return (inputs * op[axis + A_INSERT] - op[axis + A_SPAN]) // op[axis + A_STRIDE] + 1


@register_jitable
def _estimate(op, shape, pack, ib, held, addends, cols):
    """``(order, bytes)`` of a candidate tile: :func:`_best_order`'s estimate, plus the program's
    32 bytes for every writeback command beyond one per output tile."""
    band, segment, nt = shape[0], shape[1], shape[6]
    order, traffic = _best_order(op, shape, pack, ib, held, addends)
    stores = output_store_commands(band, segment, op[O_OUT_ROW_LEN], op[O_N] * op[O_GROUPS], nt, cols)
    if stores > 1:
        segments = _cdiv(op[O_OUT_ROW_LEN], segment)
        output_tiles = op[O_BATCH] * op[O_DEPTH + A_OUT] * _cdiv(op[O_ROWS + A_OUT], band) * segments
        output_tiles *= _cdiv(op[O_N] * pack, nt) * _cdiv(op[O_GROUPS], pack)
        traffic += output_tiles * (stores - 1) * COMMAND_WORDS * WORD_BYTES
    return order, traffic


@register_jitable
def _consider(op, plan, best, shape, pack, ib, held, addends, cols, bank_if, bank_f):
    """Keep the tile ``shape`` (band, segment, windowed, images, channels, taps, N, resident,
    shared) in ``plan`` if it is better than the plan's (``best``: its bytes, operands whose tile
    exceeds one bank, segments per row, volume): the fewest bytes, then the fewest operands that
    need both banks of their buffer (``bank_if``, ``bank_f``: one bank's bytes; a single-buffered
    fetch waits for the compute before it), then whole rows (fewer tiles, fewer commands), then
    the largest tile."""
    band, segment, windowed, images, ct, taps, nt, resident, shared = shape
    order, traffic = _estimate(op, shape, pack, ib, held, addends, cols)
    if plan[P_BAND] != 0 and traffic > best[0]:
        return
    ifmap_double, filter_double = int(_ifmap_tile_bytes(op, shape, ib) > bank_if), int(held > bank_f)
    doubles = ifmap_double + filter_double
    segments = _cdiv(op[O_OUT_ROW_LEN], segment)
    kt = ct * taps
    if images > 0:
        volume = images * op[O_DEPTH + A_OUT] * op[O_ROWS + A_OUT] * op[O_OUT_ROW_LEN] * kt * nt
    else:
        volume = band * segment * kt * nt
    if plan[P_BAND] == 0 or traffic != best[0]:
        better = True
    elif doubles != best[1]:
        better = doubles < best[1]
    else:
        better = segments < best[2] or (segments == best[2] and volume > best[3])
    if better:
        plan[P_BAND], plan[P_IMAGES], plan[P_CHANNELS], plan[P_N_TILE] = band, images, ct, nt
        plan[P_ORDER], plan[P_SEGMENT], plan[P_RESIDENT] = order, segment, resident
        plan[P_WINDOWED], plan[P_TAPS], plan[P_SHARED] = windowed, taps, shared
        plan[P_SINGLE] = SINGLE_IFMAP * ifmap_double + SINGLE_FILTER * filter_double
        best[0], best[1], best[2], best[3] = traffic, doubles, segments, volume


@register_jitable
def _ifmap_tile_bytes(op, shape, ib):
    """Bytes of the largest ifmap tile of the tile ``shape`` (as :func:`_consider` takes it)."""
    band, segment, windowed, images, ct, _, _, resident, shared = shape
    channels = op[O_CHANNELS] if resident else ct
    plane_rows = _touched(op, O_ROWS, 0, op[O_ROWS + A_OUT])
    if images > 0:
        return channels * images * _touched(op, O_DEPTH, 0, op[O_DEPTH + A_OUT]) * plane_rows * op[O_IN_ROW_LEN] * ib
    cols = min(op[O_IN_ROW_LEN], _most_touched(op, O_COLS, segment)) if windowed else op[O_IN_ROW_LEN]
    rows = plane_rows if shared else _most_touched(op, O_ROWS, band)
    return channels * _most_touched(op, O_DEPTH, 1) * rows * cols * ib


@register_jitable
def _plan_packed(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, pack, plan, spans):
    """Fill ``plan`` with the tile sizes that move the fewest DRAM bytes (then the largest tile)
    for ``pack`` packed groups; ``plan[P_BAND]`` is 0 when no tile fits. Ifmap and filter tiles
    may take ``spans`` (1 or 2) banks of ``bank_if`` / ``bank_f`` bytes; of tiles that move
    equal bytes, those that fit one bank are preferred.

    Candidate sizes of N and of the channels are all of it, then halvings (N down to the array
    dim it maps to, channels down to 1, then a channel's taps down to ``R``: whole ``R``-tap
    blocks); packed groups share the K dim, so only a single, unpacked group splits its K, and
    then its ifmap tile may hold every channel (resident) or only the K tile's; fewer channels
    are not tried once the tile's weights and a whole image of its channels fit. For each, bands
    of whole rows as tall as the banks allow (whole images per tile when one fits), then bands
    twice, four times ... as tall, up to what the ifmap bank holds, in row segments whose
    accumulators fit (2-D tiles) that share their band's whole rows, or bands that share their
    output plane's whole input when it fits; then (zero padding only)
    bands taller than whole rows fit, in segments that each fetch the column window they read.
    The estimate is :func:`_best_order`'s, plus the program's bytes for writeback commands
    beyond one per tile.

    Weight-stationary banks are organised as the layer accelerator's memories: the filter bank
    holds the tile's weight and addend images (:mod:`accel.dram_layout`: whole ``R x C`` weight
    blocks, zero-padded, and a row of ``C`` int32 addends per output block), and accumulator
    words are ``C`` channels wide. Other dataflows count the bytes of real data.
    """
    room_if, room_f = spans * bank_if, spans * bank_f  # what an ifmap / filter tile may take
    n_total = op[O_N] * pack
    channels = op[O_CHANNELS]
    window = op[O_WINDOW]
    step_n = min(cols if df != 2 else 1, n_total)  # the array dim N maps to (IS: none)
    r_out, row_len = op[O_ROWS + A_OUT], op[O_OUT_ROW_LEN]
    depth_slices = _most_touched(op, O_DEPTH, 1)
    window_rows = _most_touched(op, O_ROWS, 1)
    plane_rows = _touched(op, O_ROWS, 0, r_out)
    image_rows = _touched(op, O_DEPTH, 0, op[O_DEPTH + A_OUT]) * plane_rows
    # Column windows: a segment's window holds at least one window's columns.
    windows = op[O_ZERO_PAD] != 0 and row_len > 1
    least_cols = min(op[O_IN_ROW_LEN], _most_touched(op, O_COLS, 1)) if windows else op[O_IN_ROW_LEN]
    plan[P_PACK] = pack
    plan[P_BAND] = 0
    plan[P_NEED_IFMAP] = plan[P_NEED_FILTER] = plan[P_NEED_OFMAP] = -1
    best = np.zeros(4, dtype=np.int64)  # the plan's estimated bytes, two-bank operands, segments per row, volume
    nt = n_total
    while True:
        ct = channels if pack == 1 else channels * pack
        taps = window
        while True:
            kt = ct * taps
            kt_real = kt if pack == 1 else op[O_K]
            held = addends = 0
            if op[O_HAS_WEIGHTS]:
                addends = nt * ACC_BIAS_BYTES if op[O_BIAS] else 0
                held = kt_real * nt * wb + addends
            lanes = nt
            if df == WS:
                lanes = _cdiv(nt, cols) * cols
                addends = addend_image_bytes(nt, cols)
                held = weight_image_bytes(kt, nt, rows, cols, wb) + addends
            pixel_bytes = ct * depth_slices * ib  # of one input column of a row
            k_split = pack == 1 and (ct < channels or taps < window)
            out_row_bytes = row_len * lanes * ab
            for field, need in ((P_NEED_IFMAP, pixel_bytes * least_cols * window_rows), (P_NEED_FILTER, held),
                                (P_NEED_OFMAP, lanes * ab)):  # fmt: skip
                if plan[field] < 0 or need < plan[field]:
                    plan[field] = need
            # The ifmap tile takes the K tile's channels, or every channel when K is split and
            # they fit: then the K tiles slice it and it is fetched once per M tile.
            for resident in range(2 if pack == 1 and ct < channels else 1):
                held_channels = channels if resident else ct  # of the ifmap tile
                column_bytes = held_channels * depth_slices * ib
                by_rows = _outputs_fitting(op, O_ROWS, room_if // (column_bytes * op[O_IN_ROW_LEN]))
                by_windows = _outputs_fitting(op, O_ROWS, room_if // (column_bytes * least_cols))
                # Bands may share their output plane's whole input when it fits (and K is not
                # split, or the ifmap tile holds every channel).
                plane_fits = column_bytes * plane_rows * op[O_IN_ROW_LEN] <= room_if
                # Bands of whole rows as tall as both banks allow; then taller bands of row segments
                # (2-D output tiles: the accumulators hold band x segment pixels), which fetch fewer
                # overlapping rows, up to the rows the ifmap bank holds; then bands taller than
                # whole rows fit, in segments that each fetch their column window.
                for windowed in range(2 if windows else 1):
                    limit = min(r_out, by_windows if windowed else by_rows)
                    band = max(1, min(limit, bank_of // out_row_bytes))
                    if windowed:
                        band = max(band, by_rows + 1)
                    while band <= limit and held <= room_f:
                        segment = min(row_len, bank_of // (band * lanes * ab))
                        if windowed:  # the widest segment whose window fits with the band's rows
                            band_bytes = column_bytes * _most_touched(op, O_ROWS, band)
                            segment = min(segment, _outputs_fitting(op, O_COLS, room_if // band_bytes))
                        if segment < 1:
                            break
                        if not windowed or segment < row_len:  # (a window of whole rows is the band's rows)
                            images = 0
                            if band == r_out and segment == row_len:  # whole images per tile when one fits
                                image_in = max(1, held_channels * image_rows * op[O_IN_ROW_LEN] * ib)  # 0: all padding
                                image_out = op[O_DEPTH + A_OUT] * r_out * out_row_bytes
                                images = min(op[O_BATCH], room_if // image_in, bank_of // image_out)
                            shape = (band, segment, windowed, images, ct, taps, nt, resident, 0)
                            _consider(op, plan, best, shape, pack, ib, held, addends, cols, bank_if, bank_f)
                            if band < r_out and not windowed and plane_fits and (resident or not k_split):
                                shape = (band, segment, windowed, images, ct, taps, nt, resident, 1)
                                _consider(op, plan, best, shape, pack, ib, held, addends, cols, bank_if, bank_f)
                        if band == limit:
                            break
                        band = min(limit, 2 * band)
            # Fewer channels per K tile move no fewer bytes once the filter bank holds the tile and
            # the ifmap bank a whole image of its channels (of a single image and plane).
            whole = op[O_BATCH] * op[O_DEPTH + A_OUT] == 1 and room_if >= pixel_bytes * image_rows * op[O_IN_ROW_LEN]
            if pack != 1 or (held <= room_f and whole):
                break
            if ct > 1:
                ct = _cdiv(ct, 2)
            elif taps > rows and held > room_f:  # K tiles of whole R-tap blocks of one channel's window
                taps = _cdiv(_cdiv(taps, rows), 2) * rows
            else:
                break
        if nt <= step_n:
            break
        nt = max(step_n, _cdiv(nt, 2))
    return best[0]


@register_jitable
def plan_layer(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, tile_banks):
    """The tile plan of an encoded array layer (``P_*`` fields; ``P_BAND`` 0: nothing fits).

    Groups are packed as the dataflow allows (:func:`accel.dataflow.pack_groups`), halving the
    packing until a tile fits; when none does, the needs reported are the unpacked layer's. With
    ``tile_banks`` 2 (:attr:`accel.config.AccelConfig.tile_banks`: buffering 'whole'), when tiles
    that may take both banks of the ifmap and filter buffers move fewer bytes, the plan is
    theirs, single-buffered (``P_SINGLE``) for each operand whose largest tile needs both banks.
    """
    plan = np.zeros(PLAN_FIELDS, dtype=np.int64)
    pack = pack_groups(df, op[O_GROUPS], op[O_K], op[O_N], rows, cols)
    while True:
        traffic = _plan_packed(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, pack, plan, 1)
        if plan[P_BAND] > 0:
            break
        if pack == 1:
            return plan
        pack //= 2
    if tile_banks == 1:
        return plan
    whole = np.zeros(PLAN_FIELDS, dtype=np.int64)
    if _plan_packed(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, pack, whole, tile_banks) >= traffic:
        return plan
    return whole


# ---------------------------------------------------------------------------------------------
# Building the tiles
# ---------------------------------------------------------------------------------------------


@register_jitable
def _m_tile_count(op, plan):
    if plan[P_IMAGES] > 0:
        return _cdiv(op[O_BATCH], plan[P_IMAGES])
    segments = _cdiv(op[O_OUT_ROW_LEN], plan[P_SEGMENT])
    return op[O_BATCH] * op[O_DEPTH + A_OUT] * _cdiv(op[O_ROWS + A_OUT], plan[P_BAND]) * segments


@register_jitable
def _pack_shape(op, plan, p):
    """Pack ``p``: ``(groups, output channels, N tile size, N tiles, input channels, K tile size
    in channels, K tiles)``; the K tiles of a channel split its window (:func:`_pieces`)."""
    groups, pack = op[O_GROUPS], plan[P_PACK]
    packs = _cdiv(groups, pack)
    g = pack if p < packs - 1 else groups - pack * (packs - 1)
    n_total = op[O_N] * g
    n_size = min(plan[P_N_TILE], n_total)
    if pack == 1:
        c_total, c_size = op[O_CHANNELS], plan[P_CHANNELS]
    else:
        c_total = c_size = op[O_CHANNELS] * g
    return g, n_total, n_size, _cdiv(n_total, n_size), c_total, c_size, _cdiv(c_total, c_size) * _pieces(op, plan)


@register_jitable
def _pieces(op, plan):
    """K tiles per channel: its window of taps in pieces of ``P_TAPS`` (1: whole channels)."""
    return _cdiv(op[O_WINDOW], plan[P_TAPS])


@register_jitable
def tile_count(op, plan):
    """Number of tiles of an encoded array layer with ``plan``."""
    count = 0
    for p in range(_cdiv(op[O_GROUPS], plan[P_PACK])):
        _, _, _, nn, _, _, nk = _pack_shape(op, plan, p)
        count += nn * nk
    return count * _m_tile_count(op, plan)


@register_jitable
def _m_tiles(op, plan):
    """The M tiles (``M_*`` rows): blocks of whole images, or bands of output rows inside one
    output plane (image, depth slice), or the segments of each output row, in that order;
    padding is never fetched. Segments share their band's whole input rows, or (windowed) each
    load the columns they read; ``P_SHARED`` bands share their plane's whole input rows."""
    batch, d_out, r_out, row_len = op[O_BATCH], op[O_DEPTH + A_OUT], op[O_ROWS + A_OUT], op[O_OUT_ROW_LEN]
    plane = r_out * row_len
    images, band = plan[P_IMAGES], plan[P_BAND]
    count = _m_tile_count(op, plan)
    m = np.zeros((M_FIELDS, count), dtype=np.int64)
    if images > 0:
        z0 = _first_touched(op, O_DEPTH, 0)
        z1 = z0 + _touched(op, O_DEPTH, 0, d_out)
        r0 = _first_touched(op, O_ROWS, 0)
        r1 = r0 + _touched(op, O_ROWS, 0, r_out)
        for t in range(count):
            block = images if t < count - 1 else batch - images * (count - 1)
            m[M_PLANE, t], m[M_IMAGES, t], m[M_Y0, t], m[M_ROWS, t] = t * images, block, 0, r_out
            m[M_X0, t], m[M_COLS, t], m[M_INPUT, t] = 0, row_len, t
            m[M_C0, t], m[M_C1, t] = 0, op[O_IN_ROW_LEN]
            m[M_PIXELS, t], m[M_TOUCHED, t] = block * d_out * plane, block * (z1 - z0) * (r1 - r0)
            m[M_IMAGE, t], m[M_Z0, t], m[M_Z1, t], m[M_R0, t], m[M_R1, t] = t * images, z0, z1, r0, r1
            m[M_OUT_FIRST, t] = t * images * d_out * plane
        return m
    bands = _cdiv(r_out, band)
    segment, windowed, shared = plan[P_SEGMENT], plan[P_WINDOWED], plan[P_SHARED]
    segments = _cdiv(row_len, segment)
    t = inputs = 0
    for n in range(batch):
        for d in range(d_out):
            z0 = _first_touched(op, O_DEPTH, d)
            z1 = z0 + _touched(op, O_DEPTH, d, d + 1)
            for b in range(bands):
                y0 = b * band
                size = band if b < bands - 1 else r_out - band * (bands - 1)
                r0 = _first_touched(op, O_ROWS, 0 if shared else y0)  # the rows the input tile holds
                r1 = r0 + (_touched(op, O_ROWS, 0, r_out) if shared else _touched(op, O_ROWS, y0, y0 + size))
                for s in range(segments):
                    x0 = s * segment
                    cols = segment if s < segments - 1 else last_chunk(row_len, segment, segments)
                    m[M_PLANE, t], m[M_IMAGES, t], m[M_Y0, t], m[M_ROWS, t] = n * d_out + d, 1, y0, size
                    m[M_X0, t], m[M_COLS, t], m[M_INPUT, t] = x0, cols, inputs
                    m[M_PIXELS, t], m[M_TOUCHED, t] = size * cols, (z1 - z0) * (r1 - r0)
                    m[M_IMAGE, t], m[M_Z0, t], m[M_Z1, t], m[M_R0, t], m[M_R1, t] = n, z0, z1, r0, r1
                    m[M_OUT_FIRST, t] = ((n * d_out + d) * r_out + y0) * row_len + x0
                    m[M_C0, t], m[M_C1, t] = 0, op[O_IN_ROW_LEN]
                    if windowed:  # each segment loads its own window
                        m[M_C0, t] = _first_touched(op, O_COLS, x0)
                        m[M_C1, t] = m[M_C0, t] + _touched(op, O_COLS, x0, x0 + cols)
                        inputs += 1
                    t += 1
                if not windowed and not shared:  # the band's segments share its rows
                    inputs += 1
            if shared:  # the plane's bands share its rows
                inputs += 1
    return m


@register_jitable
def bank_guard(fetches, single=False):
    """For each fetching tile, the last tile that reads the bank it overwrites (-1: none).

    Fetches alternate banks; fetch ``j3`` reuses the bank of fetch ``j1`` two fetches back,
    read by tiles ``j1 .. j2 - 1`` where ``j2`` is the fetch in between. A ``single``-buffered
    operand's fetch ``j`` overwrites the previous one, read by tiles up to ``j - 1``.
    """
    guard = np.full(len(fetches), -1, dtype=np.int64)
    previous = -1
    for j in range(len(fetches)):
        if fetches[j]:
            if previous >= 0:
                guard[j] = j - 1 if single else previous - 1
            previous = j
    return guard


@register_jitable
def accumulator_guard(last_k):
    """For each tile, the tile whose writeback frees its accumulator bank (-1: none).

    Output tiles alternate accumulator banks, so output tile ``o`` waits for the writeback of
    output tile ``o - 2``, issued after that tile's last K tile.
    """
    wait = np.full(len(last_k), -1, dtype=np.int64)
    ends = np.zeros(len(last_k), dtype=np.int64)
    done = 0
    for j in range(len(last_k)):
        if done >= 2:
            wait[j] = ends[done - 2]
        if last_k[j]:
            ends[done] = j
            done += 1
    return wait


@njit(cache=True)
def array_tiles(op, plan, df, rows, cols, ib, wb, ab, bus):
    """The tiles of an encoded array layer with a fitting ``plan`` (:func:`plan_layer`).

    Returns ``(tiles[TILE_FIELDS, count], m_tiles[M_FIELDS, m_count], counters[COUNTER_FIELDS])``.
    """
    m = _m_tiles(op, plan)
    count = tile_count(op, plan)
    t = np.zeros((TILE_FIELDS, count), dtype=np.int64)
    c = np.zeros(COUNTER_FIELDS, dtype=np.int64)
    new_if = np.zeros(count, dtype=np.bool_)
    new_f = np.zeros(count, dtype=np.bool_)
    groups, pack, window = op[O_GROUPS], plan[P_PACK], op[O_WINDOW]
    has_w = op[O_HAS_WEIGHTS] != 0
    resident = plan[P_RESIDENT] != 0
    in_pixel, out_pixel = op[O_CHANNELS] * groups * ib, op[O_N] * groups * ib
    m_count = m.shape[1]
    j = 0
    pieces, taps = _pieces(op, plan), plan[P_TAPS]
    for p in range(_cdiv(groups, pack)):
        g, _, n_size, nn, c_total, c_size, nk = _pack_shape(op, plan, p)
        nc = nk // pieces
        outer, inner = (m_count, nn) if plan[P_ORDER] == ORDER_MN else (nn, m_count)
        for o in range(outer):
            for i in range(inner):
                mi, ni = (o, i) if plan[P_ORDER] == ORDER_MN else (i, o)
                nt = n_size if ni < nn - 1 else last_chunk(op[O_N] * g, n_size, nn)
                mt = m[M_PIXELS, mi]
                for ki in range(nk):
                    kc, tap0 = ki, 0  # the channel tile, and the first tap of its window
                    if pieces > 1:
                        kc, tap0 = ki // pieces, ki % pieces * taps
                    ct = c_size if kc < nc - 1 else last_chunk(c_total, c_size, nc)
                    last_k = ki == nk - 1
                    kt = ct * min(taps, window - tap0)
                    t[T_GROUP0, j], t[T_GCOUNT, j], t[T_MI, j], t[T_N0, j], t[T_NT, j] = p * pack, g, mi, ni * n_size, nt
                    t[T_C0, j] = kc * c_size if pack == 1 else 0
                    t[T_CT, j] = ct if g == 1 else op[O_CHANNELS]
                    t[T_KI, j], t[T_NI, j], t[T_LAST_K, j], t[T_TAP0, j], t[T_KT, j] = ki, ni, last_k, tap0, kt
                    # Operand fetches: only when the operand tile changes.
                    first = j == 0 or t[T_GROUP0, j] != t[T_GROUP0, j - 1]
                    new_if[j] = first or m[M_INPUT, mi] != m[M_INPUT, t[T_MI, j - 1]]
                    new_if[j] = new_if[j] or (t[T_C0, j] != t[T_C0, j - 1] and not resident)
                    new_f[j] = (first or ni != t[T_NI, j - 1] or ki != t[T_KI, j - 1]) and (has_w or df == WS)
                    if new_if[j]:
                        c_first = p * pack * op[O_CHANNELS] + (0 if resident else t[T_C0, j])
                        c_load = c_total if resident else ct
                        t[T_LOAD_IFMAP, j] = c_load * m[M_TOUCHED, mi] * (m[M_C1, mi] - m[M_C0, mi]) * ib
                        t[T_LOAD_BEATS, j] += input_load_beats(
                            op[O_DEPTH + A_SIZE], op[O_ROWS + A_SIZE], op[O_IN_ROW_LEN], in_pixel, m[M_IMAGE, mi],
                            m[M_IMAGES, mi], m[M_Z0, mi], m[M_Z1, mi], m[M_R0, mi], m[M_R1, mi], m[M_C0, mi],
                            m[M_C1, mi], c_first * ib, c_load * ib, bus)  # fmt: skip
                        t[T_COMMANDS, j] += input_load_commands(
                            op[O_DEPTH + A_SIZE], op[O_ROWS + A_SIZE], op[O_IN_ROW_LEN], m[M_IMAGES, mi], m[M_Z0, mi],
                            m[M_Z1, mi], m[M_R0, mi], m[M_R1, mi], m[M_C0, mi], m[M_C1, mi], c_load * ib,
                            in_pixel)  # fmt: skip
                    if new_f[j]:
                        if df == WS:  # accel.dram_layout: weight and addend images (pooling's unit weights too)
                            weights = weight_image_bytes(kt, nt, rows, cols, wb)
                            addends = addend_image_bytes(nt, cols) if last_k else 0
                        else:
                            weights = (op[O_K] if g > 1 else kt) * nt * wb  # stored per output channel
                            addends = nt * ACC_BIAS_BYTES if ki == 0 and op[O_BIAS] else 0
                        t[T_LOAD_FILTER, j] = weights + addends
                        t[T_LOAD_BEATS, j] += image_beats(weights, bus) + image_beats(addends, bus)
                        t[T_COMMANDS, j] += int(weights > 0) + int(addends > 0)
                        c[C_FILTER_WRITES] += weights // wb + addends // ACC_BIAS_BYTES
                    folds, stream, a_if, a_f, a_of = tile_work(df, rows, cols, mt, kt, nt)
                    t[T_COMPUTE, j] = tile_cycles("os" if df == OS else "ws", rows, cols, stream, folds)
                    c[C_FOLDS] += folds
                    c[C_MAPPED] += folds * stream
                    c[C_IFMAP_READS] += a_if
                    c[C_FILTER_READS] += a_f // g if has_w else 0  # the zero blocks of a pack are generated
                    c[C_OFMAP_WRITES] += a_of
                    # Every partial-sum write but the first of an output reads the old value; the
                    # final values are read once more to be written back.
                    c[C_OFMAP_READS] += a_of - (mt * nt if ki == 0 else 0) + (mt * nt if last_k else 0)
                    if last_k:  # the results, once
                        t[T_WRITEBACK, j] = mt * nt * ib
                        # Whole rows are consecutive pixels in DRAM: one row of them all.
                        rows_out, width, row_len = 1, mt, mt
                        if m[M_COLS, mi] < op[O_OUT_ROW_LEN]:
                            rows_out, width, row_len = m[M_ROWS, mi], m[M_COLS, mi], op[O_OUT_ROW_LEN]
                        t[T_WRITEBACK_BEATS, j] = output_block_beats(
                            m[M_OUT_FIRST, mi], rows_out, width, row_len, out_pixel,
                            (p * pack * op[O_N] + ni * n_size) * ib, nt * ib, cols * ib, bus)  # fmt: skip
                        t[T_COMMANDS, j] += output_store_commands(rows_out, width, row_len, out_pixel, nt * ib, cols * ib)
                    j += 1
    single = plan[P_SINGLE]
    t[T_LOAD_AFTER] = np.maximum(bank_guard(new_if, single & SINGLE_IFMAP), bank_guard(new_f, single & SINGLE_FILTER))
    t[T_WAIT_WRITEBACK] = accumulator_guard(t[T_LAST_K])
    c[C_LOAD_IFMAP], c[C_LOAD_FILTER], c[C_WRITEBACK] = t[T_LOAD_IFMAP].sum(), t[T_LOAD_FILTER].sum(), t[T_WRITEBACK].sum()
    return t, m, c


@register_jitable
def last_chunk(total, size, count):
    """Size of the last of ``count`` chunks of ``size`` covering ``total``."""
    return total - size * (count - 1)


@register_jitable
def vector_chunk(op, ib, bank_if, bank_of):
    """Output elements per chunk of an encoded vector pass (0: not even one fits)."""
    ratio = max(1, _cdiv(op[O_IN_ELEMS], op[O_OUT_ELEMS]))  # input elements per output element
    return min(bank_if // (ratio * ib), bank_of // ib)


@njit(cache=True)
def vector_tiles(op, chunk, cols, ib, bus):
    """A vector pass in chunks of ``chunk`` outputs that fit the ifmap (input) and ofmap (output)
    banks: ``(tiles[TILE_FIELDS, count], counters[COUNTER_FIELDS])``, the grid rows zero."""
    in_elems, out_elems = op[O_IN_ELEMS], op[O_OUT_ELEMS]
    ratio = max(1, _cdiv(in_elems, out_elems))
    count = _cdiv(out_elems, chunk)
    t = np.zeros((TILE_FIELDS, count), dtype=np.int64)
    c = np.zeros(COUNTER_FIELDS, dtype=np.int64)
    for j in range(count):
        outs = chunk if j < count - 1 else last_chunk(out_elems, chunk, count)
        ins = min(outs * ratio, in_elems)
        t[T_LOAD_IFMAP, j], t[T_WRITEBACK, j], t[T_LAST_K, j] = ins * ib, outs * ib, 1
        t[T_COMPUTE, j] = op[O_PASSES] * _cdiv(outs, cols)
        t[T_LOAD_BEATS, j] = transfer_beats(ins * ib, bus)
        t[T_WRITEBACK_BEATS, j] = transfer_beats(outs * ib, bus)
        t[T_COMMANDS, j] = 2  # a load and a store
        c[C_IFMAP_READS] += ins * op[O_PASSES]
    t[T_LOAD_AFTER] = bank_guard(t[T_LAST_K])
    t[T_WAIT_WRITEBACK] = accumulator_guard(t[T_LAST_K])
    c[C_OFMAP_WRITES] = c[C_OFMAP_READS] = out_elems
    c[C_LOAD_IFMAP], c[C_WRITEBACK] = t[T_LOAD_IFMAP].sum(), out_elems * ib
    return t, c
