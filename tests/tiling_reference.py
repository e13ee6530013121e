"""Test reference: the tiler written with NumPy, readable and independent of the compiled kernel.

``tests/test_tile_kernel.py`` holds :mod:`accel.tile_kernel` (what the simulator, the hardware
compiler and the design-space exploration use) equal to this, tile for tile and counter for
counter. The rules are those of the kernel's docstring; this module states them with NumPy
arrays and the dataflow table (rows, cols, stream) instead of per-dataflow formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accel.config import AccelConfig
from accel.dram_channel import bus_bytes, kernel_bandwidth, transfer_beats
from accel.dram_layout import (addend_image_bytes, image_beats, input_load_beats, input_load_commands, output_store_beats,
                                weight_image_bytes)  # fmt: skip
from accel.lowering import ArrayOp, Axis, VectorOp
from accel.timing import tile_cycles
from accel.tile_kernel import ACC_BIAS_BYTES, element_bytes
from accel.tiling import MappingError, TileSchedule



OPERAND_DIMS = {"ifmap": "mk", "filter": "kn", "ofmap": "mn"}


@dataclass(frozen=True)
class Dataflow:
    """One dataflow: GEMM dims on the array ``rows``, ``cols`` and ``stream`` ('m', 'k' or 'n')."""

    name: str
    rows: str
    cols: str
    stream: str

    @property
    def stationary(self) -> str:
        return next(op for op, dims in OPERAND_DIMS.items() if set(dims) == {self.rows, self.cols})

    def pack(self, groups: int, k: int, n: int, array_rows: int, array_cols: int) -> int:
        if groups == 1:
            return 1
        limit = groups
        for dim, size in ((self.rows, array_rows), (self.cols, array_cols)):
            if dim in "kn":
                limit = min(limit, size // (k if dim == "k" else n))
        return max(1, limit)

    def folds(self, dims: dict[str, int], array_rows: int, array_cols: int) -> int:
        return math.ceil(dims[self.rows] / array_rows) * math.ceil(dims[self.cols] / array_cols)

    def cycles(self, dims: dict[str, int], array_rows: int, array_cols: int) -> int:
        return tile_cycles(self.name, array_rows, array_cols, dims[self.stream], self.folds(dims, array_rows, array_cols))

    def sram_accesses(self, dims: dict[str, int], array_rows: int, array_cols: int) -> dict[str, int]:
        extent = {self.rows: array_rows, self.cols: array_cols}
        counts = {}
        for operand, op_dims in OPERAND_DIMS.items():
            size = dims[op_dims[0]] * dims[op_dims[1]]
            if operand != self.stationary:
                other = next(d for d in extent if d not in op_dims)
                size *= math.ceil(dims[other] / extent[other])
            counts[operand] = size
        return counts


DATAFLOW_STRATEGIES = {
    "ws": Dataflow("ws", rows="k", cols="n", stream="m"),
    "os": Dataflow("os", rows="m", cols="n", stream="k"),
    "is": Dataflow("is", rows="k", cols="m", stream="n"),
}


def _touched(axis: Axis, lo, hi) -> np.ndarray:
    """``axis.touched`` of each pair of ``lo`` / ``hi`` (arrays)."""
    return np.array([axis.touched(int(a), int(b)) for a, b in np.broadcast(lo, hi)], dtype=np.int64)


def _first_touched(axis: Axis, lo) -> np.ndarray:
    return np.array([axis.first_touched(int(a)) for a in np.atleast_1d(lo)], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Choosing tile sizes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    band: int  # output rows per M tile (within one output plane)
    images: int  # whole images per M tile when one fits (band == all rows), else 0
    channels: int  # input channels per K tile (whole pack when groups are packed)
    n_tile: int
    order: str  # 'mn' (M outer) or 'nm'
    traffic: int  # estimated DRAM bytes


def _candidates(total: int, step: int) -> list[int]:
    """Tile sizes to try for a dim of ``total``: all of it, then halvings down to ``step``."""
    sizes = {total}
    size = total
    while size > step:
        size = max(step, -(-size // 2))
        sizes.add(size)
    return sorted(sizes, reverse=True)


def _plan(op: ArrayOp, df: Dataflow, cfg: AccelConfig, pack: int) -> _Plan:
    """The tile sizes that move the fewest DRAM bytes (then the largest tile), or MappingError."""
    ib, wb, ab = element_bytes(cfg.input_bits), element_bytes(cfg.weight_bits), element_bytes(cfg.acc_bits)
    bank_ifmap, bank_filter, bank_ofmap = (cfg.bank_bytes(b) for b in ("ifmap", "filter", "ofmap"))
    n_total = op.n * pack
    step_n = cfg.cols if df.cols == "n" else (cfg.rows if df.rows == "n" else 1)
    # Packed groups share the K dim: only a single, unpacked group splits its channels.
    channel_options = _candidates(op.channels, 1) if pack == 1 else [op.channels * pack]
    rows = op.rows
    # Per input channel: bytes of an input row (of every depth slice a window reads) and of an image.
    channel_row_bytes = op.depth.most_touched(1) * op.in_row_len * ib
    channel_image_bytes = op.image_rows * op.in_row_len * ib
    window_rows = rows.most_touched(1)
    image_rows_out = op.depth.out * rows.out
    best: tuple | None = None  # (traffic, -volume, band, images, channels, n_tile, order)
    least_ifmap = least_filter = least_ofmap = None  # the smallest tile's bytes per bank
    for nt in _candidates(n_total, min(step_n, n_total)):
        for ct in channel_options:
            kt_real = ct * op.window if pack == 1 else op.k
            filt = kt_real * nt * wb + (nt * ACC_BIAS_BYTES if op.bias else 0) if op.has_weights else 0
            held, lanes = _bank_words(df, cfg, op, ct * op.window, nt, filt, wb)
            row_bytes = ct * channel_row_bytes
            out_row_bytes = op.out_row_len * lanes * ab
            # Largest band whose ifmap rows and accumulators fit their banks.
            rows_fit = bank_ifmap // row_bytes
            by_ifmap = rows.out if rows_fit >= rows.size else (rows_fit * rows.insert - rows.span) // rows.stride + 1
            band = min(rows.out, by_ifmap, bank_ofmap // out_row_bytes)
            need_ifmap = row_bytes * window_rows
            if least_ifmap is None or need_ifmap < least_ifmap:
                least_ifmap = need_ifmap
            if least_filter is None or held < least_filter:
                least_filter = held
            if least_ofmap is None or out_row_bytes < least_ofmap:
                least_ofmap = out_row_bytes
            if band < 1 or held > bank_filter:
                continue
            # Whole images per tile when one fits: no bands, no depth slices fetched twice.
            image_in = max(1, ct * channel_image_bytes)  # 0 if every window is padding
            image_out = image_rows_out * out_row_bytes
            images = min(op.batch, bank_ifmap // image_in, bank_ofmap // image_out) if band == rows.out else 0
            addends = nt * ACC_BIAS_BYTES if op.bias and op.has_weights else 0
            if df.name == "ws":
                addends = addend_image_bytes(nt, cfg.cols)
            order, traffic = _best_order(op, band, images, ct, nt, pack, ib, held, addends)
            volume = (images * image_rows_out if images else band) * ct * nt
            if best is None or (traffic, -volume) < best[:2]:
                best = (traffic, -volume, band, images, ct, nt, order)
    if best is None:
        smallest_need = {"ifmap": least_ifmap, "filter": least_filter, "ofmap": least_ofmap}
        banks = {"ifmap": bank_ifmap, "filter": bank_filter, "ofmap": bank_ofmap}
        for key in ("ifmap", "filter", "ofmap"):
            if smallest_need[key] > banks[key]:
                kib = -(-2 * smallest_need[key] // 1024)
                raise MappingError(
                    f"layer {op.name!r}: the {key} buffer is too small: the smallest tile needs "
                    f"{smallest_need[key]:,} bytes per bank; set {key}_kib >= {kib}"
                )
        raise MappingError(f"layer {op.name!r} does not fit the buffers with any tile; enlarge them")
    traffic, _, band, images, ct, nt, order = best
    return _Plan(band, images, ct, nt, order, traffic)


def _bank_words(df: Dataflow, cfg: AccelConfig, op: ArrayOp, kt: int, nt: int, filt: int, wb: int) -> tuple[int, int]:
    """Filter bank bytes a tile occupies, and the accumulator lanes one output pixel takes.

    Weight-stationary banks are organised as the layer accelerator's memories: the filter bank
    holds the tile's weight and addend images (:mod:`accel.dram_layout`: whole ``R x C`` weight
    blocks, zero-padded, the zero blocks of packed groups and pooling's unit weights included,
    and a row of ``C`` int32 addends per output block), and accumulator words are ``C`` channels
    wide. Other dataflows count the bytes of real data.
    """
    if df.name != "ws":
        return filt, nt
    lanes = -(-nt // cfg.cols) * cfg.cols
    return weight_image_bytes(kt, nt, cfg.rows, cfg.cols, wb) + addend_image_bytes(nt, cfg.cols), lanes


def _best_order(op: ArrayOp, band: int, images: int, ct: int, nt: int, pack: int, ib: int,
                filt: int, addends: int) -> tuple[str, int]:  # fmt: skip
    """Estimated DRAM bytes of both loop orders: the cheaper order and its bytes (``addends`` of
    the filter tile's ``filt`` bytes are fetched once per output tile, not per K tile)."""
    if images:
        tm = -(-op.batch // images)
        ifmap_all = op.batch * op.image_rows
    else:
        tm = op.planes * -(-op.rows.out // band)
        bands = [(y0, min(y0 + band, op.rows.out)) for y0 in range(0, op.rows.out, band)]
        ifmap_all = op.planes * op.depth.most_touched(1) * sum(op.rows.touched(lo, hi) for lo, hi in bands)
    ifmap_all *= op.in_row_len * ib * op.channels * pack
    tn = -(-(op.n * pack) // nt)
    tk = -(-(op.channels * pack) // ct) if pack == 1 else 1
    filter_all = ((filt - addends) * tk + addends) * tn
    if tk > 1:
        mn = nm = ifmap_all * tn + filter_all * tm
    else:
        mn = ifmap_all + filter_all * (tm if tn > 1 else 1)
        nm = filter_all + ifmap_all * (tn if tm > 1 else 1)
    return ("mn", mn) if mn <= nm else ("nm", nm)


# ---------------------------------------------------------------------------------------------
# Building the tile list
# ---------------------------------------------------------------------------------------------


def _splits(total: int, size: int) -> np.ndarray:
    """Sizes of consecutive chunks of ``size`` covering ``total``."""
    count = -(-total // size)
    sizes = np.full(count, size, dtype=np.int64)
    sizes[-1] = total - size * (count - 1)
    return sizes


def _m_tiles(op: ArrayOp, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """Per M tile: output pixels, and input rows it reads per channel (padding is never fetched).

    M tiles are blocks of whole images, or bands of output rows inside one output plane.
    """
    if plan.images:
        counts = _splits(op.batch, plan.images)
        return counts * op.depth.out * op.rows.out * op.out_row_len, counts * op.image_rows
    bands = _splits(op.rows.out, plan.band)
    first = np.arange(len(bands)) * plan.band
    band_rows = _touched(op.rows, first, first + bands)
    depth = np.arange(op.depth.out)
    slices = _touched(op.depth, depth, depth + 1)
    touched = np.tile((slices[:, None] * band_rows[None, :]).reshape(-1), op.batch)
    return np.tile(bands, op.planes) * op.out_row_len, touched


def plan_packing(op: ArrayOp, cfg: AccelConfig) -> tuple[int, _Plan]:
    """Groups packed per GEMM and the tile plan: the largest packing whose tiles fit the buffers.

    Packing is halved until a tile fits; the error of the unpacked layer is raised if none does.
    """
    df = DATAFLOW_STRATEGIES[cfg.dataflow]
    pack = df.pack(op.groups, op.k, op.n, cfg.rows, cfg.cols)
    while True:
        try:
            return pack, _plan(op, df, cfg, pack)
        except MappingError:
            if pack == 1:
                raise
            pack //= 2


@dataclass(frozen=True)
class TileGrid:
    """Where every tile of a layer sits, in execution order (one array entry per tile).

    ``group0`` / ``gcount``: first group and groups of the tile's pack; ``mi``: M tile index
    (see :func:`m_tile_ranges`); ``n0`` / ``nt``: first output channel and output channels within
    the pack's GEMM; ``c0`` / ``ct``: first input channel and channels of a group (a packed GEMM
    takes all of them); ``ki`` / ``ni``: K and N tile index; ``last_k``: the tile completes its
    outputs.
    """

    pack: int
    plan: _Plan
    group0: np.ndarray
    gcount: np.ndarray
    mi: np.ndarray
    n0: np.ndarray
    nt: np.ndarray
    c0: np.ndarray
    ct: np.ndarray
    ki: np.ndarray
    ni: np.ndarray
    last_k: np.ndarray


def tile_grid(op: ArrayOp, cfg: AccelConfig) -> TileGrid:
    """Enumerate the tiles of ``op`` in loop order: pack > outer > inner > k."""
    return _tile_grid(op, cfg)[0]


def _tile_grid(op: ArrayOp, cfg: AccelConfig) -> tuple[TileGrid, np.ndarray, np.ndarray]:
    """:func:`tile_grid`, and its M tiles' output pixels and input rows (:func:`_m_tiles`)."""
    pack, plan = plan_packing(op, cfg)
    full, rest = divmod(op.groups, pack)  # packs of ``pack`` groups, then one of the rest
    m_pixels, m_touched = _m_tiles(op, plan)
    m_tiles = len(m_pixels)
    parts = []
    if full:  # every full pack has the same tiles: enumerate one, repeat it
        one = _pack_tiles(op, plan, pack, m_tiles, pack)
        count = len(one["mi"])
        part = {key: np.tile(value, full) for key, value in one.items()} if full > 1 else one
        part["group0"] = np.repeat(np.arange(full, dtype=np.int64) * pack, count)
        parts.append(part)
    if rest:
        part = _pack_tiles(op, plan, pack, m_tiles, rest)
        part["group0"] = np.full(len(part["mi"]), full * pack, dtype=np.int64)
        parts.append(part)
    fields = parts[0] if len(parts) == 1 else {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return TileGrid(pack=pack, plan=plan, **fields), m_pixels, m_touched


def _pack_tiles(op: ArrayOp, plan: _Plan, pack: int, m_tiles: int, g_count: int) -> dict[str, np.ndarray]:
    """The tiles of one pack of ``g_count`` groups in loop order (outer > inner > k), as the
    :class:`TileGrid` fields but ``group0``."""
    n_sizes = _splits(op.n * g_count, min(plan.n_tile, op.n * g_count))
    c_sizes = _splits(op.channels, plan.channels) if pack == 1 else np.array([op.channels])
    tn, tk = len(n_sizes), len(c_sizes)
    # Loop order m > n > k ('mn') or n > m > k ('nm'), K innermost.
    index = np.arange(m_tiles * tn * tk, dtype=np.int64)
    k_idx = index % tk
    if plan.order == "nm":
        m_idx, n_idx = index // tk % m_tiles, index // (tk * m_tiles)
    else:
        m_idx, n_idx = index // (tk * tn), index // tk % tn
    n_starts = np.cumsum(n_sizes) - n_sizes
    c_starts = np.cumsum(c_sizes) - c_sizes
    return {
        "gcount": np.full(len(index), g_count, dtype=np.int64), "mi": m_idx, "n0": n_starts[n_idx],
        "nt": n_sizes[n_idx], "c0": c_starts[k_idx], "ct": c_sizes[k_idx], "ki": k_idx, "ni": n_idx,
        "last_k": k_idx == tk - 1,
    }  # fmt: skip


def m_tile_ranges(op: ArrayOp, plan: _Plan) -> list[tuple[int, int, int, int]]:
    """Per M tile: ``(first image, images, first output row, output rows)``.

    Whole-image tiles span all output rows of ``images`` images; a band tile is one image
    (output plane) and ``output rows`` rows of it. 3-D layers count output planes as images.
    """
    return list(zip(*(column.tolist() for column in _m_tile_columns(op, plan))))


def _m_tile_columns(op: ArrayOp, plan: _Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`m_tile_ranges` as four int64 arrays, one entry per M tile."""
    if plan.images:
        counts = _splits(op.batch, plan.images)
        return np.cumsum(counts) - counts, counts, np.zeros_like(counts), np.full_like(counts, op.rows.out)
    bands = _splits(op.rows.out, plan.band)
    firsts = np.cumsum(bands) - bands
    planes = np.repeat(np.arange(op.planes, dtype=np.int64), len(bands))
    return planes, np.ones_like(planes), np.tile(firsts, op.planes), np.tile(bands, op.planes)


def schedule_array_op(op: ArrayOp, cfg: AccelConfig) -> TileSchedule:
    """Tile ``op`` for ``cfg`` and return its schedule."""
    df = DATAFLOW_STRATEGIES[cfg.dataflow]
    grid, m_pixels, m_touched = _tile_grid(op, cfg)
    pack, plan = grid.pack, grid.plan
    ib, wb = element_bytes(cfg.input_bits), element_bytes(cfg.weight_bits)
    g_of, mi, nt, ct, ni, ki, last_k, gcount = (
        grid.group0, grid.mi, grid.nt, grid.ct, grid.ni, grid.ki, grid.last_k, grid.gcount
    )
    ct = np.where(gcount > 1, op.channels * gcount, ct)  # packed: channels cover every group of the pack

    mt = m_pixels[mi]
    kt = ct * op.window
    kt_real = np.where(gcount > 1, op.k, kt)  # weights stored per output channel
    ifmap_bytes = ct * m_touched[mi] * op.in_row_len * ib
    count = len(mi)
    new_ifmap = _changed(g_of, mi, ki)
    if df.name == "ws":  # the layer accelerator's weight images (pooling's unit weights too)
        weight_bytes = weight_image_bytes(kt, nt, cfg.rows, cfg.cols, wb)
        addend_bytes = np.where(last_k, addend_image_bytes(nt, cfg.cols), 0)
        new_filter = _changed(g_of, ni, ki)
    else:
        weight_bytes = kt_real * nt * wb if op.has_weights else np.zeros(count, dtype=np.int64)
        addend_bytes = np.where((ki == 0) & op.bias, nt * ACC_BIAS_BYTES, 0)
        new_filter = _changed(g_of, ni, ki) & op.has_weights
    load_ifmap = np.where(new_ifmap, ifmap_bytes, 0)
    load_filter = np.where(new_filter, weight_bytes + addend_bytes, 0)
    load_after = np.maximum(bank_guard(new_ifmap), bank_guard(new_filter))
    writeback = np.where(last_k, mt * nt * ib, 0)
    load_beats, writeback_beats, input_commands = _transfer_beats(op, cfg, grid, plan, new_ifmap,
                                                                  np.where(new_filter, weight_bytes, 0),
                                                                  np.where(new_filter, addend_bytes, 0), last_k)  # fmt: skip

    compute = np.empty(count, dtype=np.int64)
    sram = {"ifmap_reads": 0, "filter_reads": 0, "ofmap_writes": 0, "ofmap_reads": 0}
    folds = mapped = 0
    # Tiles take only a handful of distinct shapes: evaluate the formulas once per shape.
    uniq, inverse = _unique_rows(np.stack([mt, kt, nt, gcount, ki == 0, last_k], axis=1))
    per_shape_cycles = np.empty(len(uniq), dtype=np.int64)
    hits = np.bincount(inverse, minlength=len(uniq))
    for u, (m_, k_, n_, g_, first, last) in enumerate(uniq.tolist()):
        dims = {"m": m_, "k": k_, "n": n_}
        per_shape_cycles[u] = df.cycles(dims, cfg.rows, cfg.cols)
        acc = df.sram_accesses(dims, cfg.rows, cfg.cols)
        tile_folds = df.folds(dims, cfg.rows, cfg.cols)
        folds += hits[u] * tile_folds
        mapped += hits[u] * tile_folds * dims[df.stream]
        weights_real = acc["filter"] // g_ if op.has_weights else 0  # zero blocks are generated
        sram["ifmap_reads"] += hits[u] * acc["ifmap"]
        sram["filter_reads"] += hits[u] * weights_real
        sram["ofmap_writes"] += hits[u] * acc["ofmap"]
        # Every partial-sum write but the first of an output reads the old value; the final
        # values are read once more to be written back.
        sram["ofmap_reads"] += hits[u] * (acc["ofmap"] - (m_ * n_ if first else 0) + (m_ * n_ if last else 0))
    compute[:] = per_shape_cycles[inverse]
    # Words written into the filter buffer: weights, and int32 addends.
    sram["filter_writes"] = int((np.where(new_filter, weight_bytes, 0) // wb).sum()
                                + (np.where(new_filter, addend_bytes, 0) // ACC_BIAS_BYTES).sum())  # fmt: skip

    wait_writeback = accumulator_guard(last_k)
    # DMA commands: the input's (accel.dram_layout), one each for the weight and addend images and the results.
    commands = input_commands + (new_filter & (weight_bytes > 0)) + (new_filter & (addend_bytes > 0)) + last_k
    return TileSchedule(
        load_ifmap=load_ifmap.astype(np.int64), load_filter=load_filter.astype(np.int64),
        load_after=load_after.astype(np.int64), compute=compute, writeback=writeback.astype(np.int64),
        wait_writeback=wait_writeback, load_beats=load_beats, writeback_beats=writeback_beats,
        commands=commands, rows=cfg.rows, sram={k: int(v) for k, v in sram.items()}, folds=int(folds),
        mapped_cycles=int(mapped), pe_ops=op.useful_macs,
        tile_shape={"m": int(mt[0]), "k": int(kt[0]), "n": int(nt[0]), "groups_packed": pack},
        loop_order=plan.order,
    )  # fmt: skip


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a 2-D integer array (in no particular order) and each row's index
    among them: ``np.unique(rows, axis=0, return_inverse=True)`` without its slow sort of
    structured rows, by comparing each row's bytes as one opaque value."""
    rows = np.ascontiguousarray(rows)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return rows[first], inverse.reshape(-1)


def _transfer_beats(op: ArrayOp, cfg: AccelConfig, grid: TileGrid, plan: _Plan, fetch_ifmap: np.ndarray,
                    weight_fetch: np.ndarray, addend_fetch: np.ndarray, store: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Bus beats of every tile's fetch and writeback in the DRAM layout of :mod:`accel.dram_layout`,
    and the DMA commands of its input load."""
    ib = element_bytes(cfg.input_bits)
    image, images, y0, out_rows = _m_tile_columns(op, plan)
    depth, rows = op.depth, op.rows
    d_out, plane = depth.out, rows.out * op.out_row_len
    if plan.images:  # whole images: every slice and row
        z0 = np.full_like(image, depth.first_touched(0))
        z1 = z0 + depth.touched(0, d_out)
        out_first, out_pixels = image * d_out * plane, images * d_out * plane
    else:  # a band of one output plane (image, slice)
        d = image % d_out
        z0 = _first_touched(depth, d)
        z1 = z0 + _touched(depth, d, d + 1)
        out_first, out_pixels = image * plane + y0 * op.out_row_len, out_rows * op.out_row_len
        image = image // d_out
    r0 = _first_touched(rows, y0)
    r1 = r0 + _touched(rows, y0, y0 + out_rows)
    packed = grid.gcount > 1
    c_first = grid.group0 * op.channels + np.where(packed, 0, grid.c0)
    c_count = np.where(packed, op.channels * grid.gcount, grid.ct)
    n_first = grid.group0 * op.n + grid.n0
    geometry = (depth.size, rows.size, op.in_row_len, op.channels * op.groups * ib, op.n * op.groups * ib, ib,
                cfg.cols, bus_bytes(kernel_bandwidth(cfg.dram_bandwidth)))  # fmt: skip
    tiles = (grid.mi, fetch_ifmap, c_first, c_count, weight_fetch, addend_fetch, store, n_first, grid.nt)
    m_tiles = (image, images, z0, z1, r0, r1, out_first, out_pixels)
    arrays = tuple(np.ascontiguousarray(a, dtype=np.int64) for a in tiles + m_tiles)
    return _tile_beats(*arrays, *geometry)


def _tile_beats(mi, fetch_ifmap, c_first, c_count, weight_fetch, addend_fetch, store, n_first, n_count,
                image, images, z0, z1, r0, r1, out_first, out_pixels,
                depth, rows, row_len, in_pixel, out_pixel, ib, cols, bus):  # fmt: skip
    count = mi.shape[0]
    load = np.zeros(count, dtype=np.int64)
    writeback = np.zeros(count, dtype=np.int64)
    commands = np.zeros(count, dtype=np.int64)
    for j in range(count):
        i = int(mi[j])
        beats = image_beats(int(weight_fetch[j]), bus) + image_beats(int(addend_fetch[j]), bus)
        if fetch_ifmap[j]:
            beats += input_load_beats(depth, rows, row_len, in_pixel, int(image[i]), int(images[i]), int(z0[i]),
                                      int(z1[i]), int(r0[i]), int(r1[i]), 0, row_len, int(c_first[j]) * ib,
                                      int(c_count[j]) * ib, bus)  # fmt: skip
            commands[j] = input_load_commands(depth, rows, row_len, int(images[i]), int(z0[i]), int(z1[i]),
                                              int(r0[i]), int(r1[i]), 0, row_len, int(c_count[j]) * ib,
                                              in_pixel)  # fmt: skip
        load[j] = beats
        if store[j]:
            writeback[j] = output_store_beats(int(out_first[i]), int(out_pixels[i]), out_pixel, int(n_first[j]) * ib,
                                              int(n_count[j]) * ib, cols * ib, bus)  # fmt: skip
    return load, writeback, commands


def _changed(*keys: np.ndarray) -> np.ndarray:
    """True where the operand tile identified by ``keys`` differs from the previous tile's."""
    changed = np.zeros(len(keys[0]), dtype=bool)
    changed[0] = True
    for key in keys:
        changed[1:] |= key[1:] != key[:-1]
    return changed


def bank_guard(fetches: np.ndarray) -> np.ndarray:
    """For each fetching tile, the last tile that reads the bank it overwrites (-1: none).

    Fetches alternate banks; fetch ``j3`` reuses the bank of fetch ``j1`` two fetches back,
    read by tiles ``j1 .. j2 - 1`` where ``j2`` is the fetch in between.
    """
    guard = np.full(len(fetches), -1, dtype=np.int64)
    idx = np.flatnonzero(fetches)
    guard[idx[1:]] = idx[:-1] - 1
    return guard


def accumulator_guard(last_k: np.ndarray) -> np.ndarray:
    """For each tile, the tile whose writeback frees its accumulator bank (-1: none).

    Output tiles alternate accumulator banks, so output tile ``o`` waits for the writeback of
    output tile ``o - 2``, issued after that tile's last K tile.
    """
    ends = np.flatnonzero(last_k)
    out_index = np.concatenate([[0], np.cumsum(last_k)[:-1]])
    wait = np.full(len(last_k), -1, dtype=np.int64)
    has = out_index >= 2
    wait[has] = ends[out_index[has] - 2]
    return wait


def schedule_vector_op(op: VectorOp, cfg: AccelConfig) -> TileSchedule:
    """Split a vector pass into chunks that fit the ifmap bank (input) and ofmap bank (output)."""
    ib = element_bytes(cfg.input_bits)
    ratio = max(1, -(-op.in_elems // op.out_elems))  # input elements per output element
    chunk = min(cfg.bank_bytes("ifmap") // (ratio * ib), cfg.bank_bytes("ofmap") // ib)
    if chunk < 1:
        raise MappingError(f"layer {op.name!r}: buffers too small for one vector element; enlarge ifmap_kib")
    outs = _splits(op.out_elems, chunk)
    ins = np.minimum(outs * ratio, op.in_elems)
    compute = op.passes * -(-outs // cfg.cols)
    count = len(outs)
    fetch = np.ones(count, dtype=bool)
    last = np.ones(count, dtype=bool)
    bus = bus_bytes(kernel_bandwidth(cfg.dram_bandwidth))
    return TileSchedule(
        load_ifmap=ins * ib, load_filter=np.zeros(count, dtype=np.int64), load_after=bank_guard(fetch),
        compute=compute.astype(np.int64), writeback=outs * ib, wait_writeback=accumulator_guard(last),
        load_beats=transfer_beats(ins * ib, bus), writeback_beats=transfer_beats(outs * ib, bus),
        commands=np.full(count, 2, dtype=np.int64), rows=cfg.rows, sram={"ifmap_reads": int(ins.sum()) * op.passes, "filter_reads": 0, "filter_writes": 0,
              "ofmap_writes": op.out_elems, "ofmap_reads": op.out_elems},
        folds=0, mapped_cycles=0, pe_ops=0, tile_shape={"m": int(outs[0]), "k": 0, "n": 0, "groups_packed": 1}, loop_order="-",
    )  # fmt: skip


def schedule(op: ArrayOp | VectorOp, cfg: AccelConfig) -> TileSchedule:
    """Tile schedule of a lowered layer."""
    if isinstance(op, ArrayOp):
        return schedule_array_op(op, cfg)
    return schedule_vector_op(op, cfg)
