"""Tiling: a lowered layer's tiles as the simulator and the hardware compiler see them.

The rules (tile sizes, loop order, fetches, guards, bytes, beats, cycles) are the compiled
kernel's (:mod:`accel.tile_kernel`); this module wraps its arrays: :func:`schedule` for the
simulator's timing and :func:`tile_grid` for where each tile sits (the hardware compiler), and
turns a layer whose smallest tile does not fit into a :class:`MappingError` naming the buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel.config import AccelConfig, ConfigError
from accel.dataflow import DATAFLOW_CODES
from accel.dram_channel import bus_bytes, kernel_bandwidth
from accel.jit import choose
from accel.lowering import ArrayOp, VectorOp
from accel.tile_kernel import (ACC_BIAS_BYTES, C_FILTER_READS, C_FILTER_WRITES, C_FOLDS, C_IFMAP_READS, C_MAPPED,
                               C_OFMAP_READS, C_OFMAP_WRITES, M_C0, M_C1, M_COLS, M_IMAGES, M_PIXELS, M_PLANE, M_ROWS,
                               M_X0, M_Y0, ORDER_NAMES, P_BAND, P_NEED_FILTER, P_NEED_IFMAP, P_NEED_OFMAP, P_ORDER,
                               P_PACK, P_RESIDENT, P_SHARED, P_SINGLE, SINGLE_FILTER, SINGLE_IFMAP, T_C0, T_COMMANDS,
                               T_COMPUTE, T_CT, T_GCOUNT, T_GROUP0, T_KI, T_KT, T_LAST_K, T_LOAD_AFTER, T_LOAD_BEATS,
                               T_LOAD_FILTER, T_LOAD_IFMAP, T_MI, T_N0, T_NI, T_NT, T_TAP0, T_WAIT_WRITEBACK,
                               T_WRITEBACK, T_WRITEBACK_BEATS, array_tiles, element_bytes, encode_op, plan_layer,
                               tile_count, vector_chunk, vector_tiles)  # fmt: skip


class MappingError(ConfigError):
    """A layer whose smallest tile does not fit the on-chip buffers."""


@dataclass(frozen=True)
class TileSchedule:
    """The tiles of one layer in execution order, as plain arrays (one entry per tile).

    ``load_ifmap`` / ``load_filter``: bytes fetched from DRAM before the tile (0 when resident);
    ``load_after``: index of the tile whose compute must end before this tile's fetch may start
    (-1: none); ``compute``: cycles from start to done; ``writeback``: bytes written to DRAM after
    the tile (0 unless it finishes an output tile); ``wait_writeback``: index of the tile whose
    writeback must be done before this tile computes (-1: none; the accumulator bank it reuses);
    ``load_beats`` / ``writeback_beats``: bus beats of the fetch and the writeback, from the
    tensors' DRAM layout (:mod:`accel.dram_layout`) on the bus of the configured bandwidth;
    ``commands``: DMA commands of the tile's fetch and writeback (its program record's size,
    :mod:`accel.system_timing`); ``rows``: the array's rows (its lane table's size).
    """

    load_ifmap: np.ndarray
    load_filter: np.ndarray
    load_after: np.ndarray
    compute: np.ndarray
    writeback: np.ndarray
    wait_writeback: np.ndarray
    load_beats: np.ndarray
    writeback_beats: np.ndarray
    commands: np.ndarray
    rows: int
    sram: dict[str, int]  # element accesses: ifmap_reads, filter_reads, filter_writes, ofmap_reads, ofmap_writes
    folds: int
    mapped_cycles: int  # sum over folds of their streaming length T: cycles the PEs hold mapped work
    pe_ops: int  # operations the PEs perform that the layer needs (utilization numerator)
    tile_shape: dict[str, int]
    loop_order: str
    single_buffered: str = ""  # operands whose tiles take both banks: '', 'ifmap', 'filter', 'ifmap+filter'

    @property
    def count(self) -> int:
        return len(self.compute)


@dataclass(frozen=True)
class TileGrid:
    """Where every tile of a layer sits, in execution order (one array entry per tile).

    ``group0`` / ``gcount``: first group and groups of the tile's pack; ``mi``: M tile index
    (see :meth:`m_tile_ranges`); ``n0`` / ``nt``: first output channel and output channels within
    the pack's GEMM; ``c0`` / ``ct``: first input channel and channels of a group (a packed GEMM
    takes all of them); ``tap0`` / ``kt``: the first tap of each channel's window the tile
    takes (0, or a piece of one channel's window: whole ``R``-tap blocks) and its K (taps of
    all its channels); ``ki`` / ``ni``: K and N tile index; ``last_k``: the tile completes its
    outputs. ``m_tiles``: per M tile, ``(first image, images, first output row, output rows,
    first output column, output columns)``; ``in_cols``: per M tile, the input columns
    ``[first, end)`` it loads of each row (all of them, or a row segment's column window).
    ``resident``: the ifmap tile holds every channel and the K tiles read their channels from it
    (an unpacked layer whose K is split). ``single_ifmap`` / ``single_filter``: that operand's
    tiles take both banks of its buffer (buffering 'whole'), so each fetch of it waits for the
    tiles reading the previous one. ``shared``: the bands of an output plane share its whole input,
    fetched once.
    """

    pack: int
    resident: bool
    single_ifmap: bool
    single_filter: bool
    shared: bool
    group0: np.ndarray
    gcount: np.ndarray
    mi: np.ndarray
    n0: np.ndarray
    nt: np.ndarray
    c0: np.ndarray
    ct: np.ndarray
    tap0: np.ndarray
    kt: np.ndarray
    ki: np.ndarray
    ni: np.ndarray
    last_k: np.ndarray
    m_tiles: np.ndarray  # (6, M tiles): first image, images, first output row, rows, first column, columns
    in_cols: np.ndarray  # (2, M tiles): first input column loaded, end

    def m_tile_ranges(self) -> list[tuple[int, int, int, int, int, int]]:
        """Per M tile: ``(first image, images, first output row, output rows, first output column,
        output columns)``.

        Whole-image tiles span all output rows of ``images`` images; a band tile is one image
        (output plane) and ``output rows`` rows of it; a segment is part of one output row. 3-D
        layers count output planes as images.
        """
        return [tuple(int(v) for v in column) for column in self.m_tiles.T]


def _kernel_config(cfg: AccelConfig) -> tuple:
    """``(dataflow code, rows, cols, input, weight, accumulator bytes)`` of ``cfg``."""
    return (DATAFLOW_CODES[cfg.dataflow], cfg.rows, cfg.cols, element_bytes(cfg.input_bits),
            element_bytes(cfg.weight_bits), element_bytes(cfg.acc_bits))  # fmt: skip


def _plan(op: ArrayOp, cfg: AccelConfig) -> tuple[np.ndarray, np.ndarray]:
    """The encoded layer and its tile plan (:func:`accel.tile_kernel.plan_layer`), or MappingError."""
    row = encode_op(op)
    banks = {key: cfg.bank_bytes(key) for key in ("ifmap", "filter", "ofmap")}
    plan = plan_layer(row, *_kernel_config(cfg), *banks.values(), cfg.tile_banks)
    if plan[P_BAND] == 0:
        needs = {"ifmap": plan[P_NEED_IFMAP], "filter": plan[P_NEED_FILTER], "ofmap": plan[P_NEED_OFMAP]}
        for key, need in needs.items():
            if need > banks[key]:
                raise MappingError(
                    f"layer {op.name!r}: the {key} buffer is too small: the smallest tile needs "
                    f"{int(need):,} bytes per bank; set {key}_kib >= {-(-2 * int(need) // 1024)}"
                )
        raise MappingError(f"layer {op.name!r} does not fit the buffers with any tile; enlarge them")
    return row, plan


def _array_tiles(op: ArrayOp, cfg: AccelConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(plan, tiles, m_tiles, counters)`` of an array layer (:func:`accel.tile_kernel.array_tiles`)."""
    row, plan = _plan(op, cfg)
    kernel = choose(array_tiles, int(tile_count(row, plan)))
    df, rows, cols, ib, wb, ab = _kernel_config(cfg)
    return (plan, *kernel(row, plan, df, rows, cols, ib, wb, ab, bus_bytes(kernel_bandwidth(cfg.dram_bandwidth))))


def plan_packing(op: ArrayOp, cfg: AccelConfig) -> int:
    """Groups packed per GEMM: the largest packing whose tiles fit the buffers (or MappingError)."""
    return int(_plan(op, cfg)[1][P_PACK])


def tile_grid(op: ArrayOp, cfg: AccelConfig) -> TileGrid:
    """The tiles of ``op`` in loop order: pack > outer > inner > k."""
    plan, tiles, m_tiles, _ = _array_tiles(op, cfg)
    rows = {"group0": T_GROUP0, "gcount": T_GCOUNT, "mi": T_MI, "n0": T_N0, "nt": T_NT, "c0": T_C0, "ct": T_CT,
            "tap0": T_TAP0, "kt": T_KT, "ki": T_KI, "ni": T_NI}  # fmt: skip
    single = int(plan[P_SINGLE])
    return TileGrid(pack=int(plan[P_PACK]), resident=bool(plan[P_RESIDENT]), single_ifmap=bool(single & SINGLE_IFMAP),
                    single_filter=bool(single & SINGLE_FILTER), shared=bool(plan[P_SHARED]),
                    last_k=tiles[T_LAST_K].astype(bool),
                    m_tiles=m_tiles[[M_PLANE, M_IMAGES, M_Y0, M_ROWS, M_X0, M_COLS]], in_cols=m_tiles[[M_C0, M_C1]],
                    **{name: tiles[index] for name, index in rows.items()})  # fmt: skip


def _schedule(tiles: np.ndarray, counters: np.ndarray, cfg: AccelConfig, **summary) -> TileSchedule:
    sram = {"ifmap_reads": C_IFMAP_READS, "filter_reads": C_FILTER_READS, "filter_writes": C_FILTER_WRITES,
            "ofmap_reads": C_OFMAP_READS, "ofmap_writes": C_OFMAP_WRITES}  # fmt: skip
    return TileSchedule(
        load_ifmap=tiles[T_LOAD_IFMAP], load_filter=tiles[T_LOAD_FILTER], load_after=tiles[T_LOAD_AFTER],
        compute=tiles[T_COMPUTE], writeback=tiles[T_WRITEBACK], wait_writeback=tiles[T_WAIT_WRITEBACK],
        load_beats=tiles[T_LOAD_BEATS], writeback_beats=tiles[T_WRITEBACK_BEATS], commands=tiles[T_COMMANDS],
        rows=cfg.rows, sram={key: int(counters[index]) for key, index in sram.items()}, **summary,
    )  # fmt: skip


def schedule_array_op(op: ArrayOp, cfg: AccelConfig) -> TileSchedule:
    """Tile ``op`` for ``cfg`` and return its schedule."""
    plan, tiles, m_tiles, counters = _array_tiles(op, cfg)
    shape = {"m": int(m_tiles[M_PIXELS, tiles[T_MI, 0]]), "k": int(tiles[T_KT, 0]), "n": int(tiles[T_NT, 0]),
             "groups_packed": int(plan[P_PACK])}  # fmt: skip
    operands = (("ifmap", SINGLE_IFMAP), ("filter", SINGLE_FILTER))
    single = "+".join(name for name, bit in operands if plan[P_SINGLE] & bit)
    return _schedule(tiles, counters, cfg, folds=int(counters[C_FOLDS]), mapped_cycles=int(counters[C_MAPPED]),
                     pe_ops=op.useful_macs, tile_shape=shape, loop_order=ORDER_NAMES[plan[P_ORDER]],
                     single_buffered=single)  # fmt: skip


def schedule_vector_op(op: VectorOp, cfg: AccelConfig) -> TileSchedule:
    """Split a vector pass into chunks that fit the ifmap bank (input) and ofmap bank (output)."""
    row = encode_op(op)
    ib = element_bytes(cfg.input_bits)
    chunk = vector_chunk(row, ib, cfg.bank_bytes("ifmap"), cfg.bank_bytes("ofmap"))
    if chunk < 1:
        raise MappingError(f"layer {op.name!r}: buffers too small for one vector element; enlarge ifmap_kib")
    tiles, counters = choose(vector_tiles, -(-op.out_elems // chunk))(
        row, chunk, cfg.cols, ib, bus_bytes(kernel_bandwidth(cfg.dram_bandwidth))
    )
    shape = {"m": int(min(chunk, op.out_elems)), "k": 0, "n": 0, "groups_packed": 1}
    return _schedule(tiles, counters, cfg, folds=0, mapped_cycles=0, pe_ops=0, tile_shape=shape, loop_order="-")


def schedule(op: ArrayOp | VectorOp, cfg: AccelConfig) -> TileSchedule:
    """Tile schedule of a lowered layer."""
    if isinstance(op, ArrayOp):
        return schedule_array_op(op, cfg)
    return schedule_vector_op(op, cfg)


def compulsory_bytes(op: ArrayOp | VectorOp, cfg: AccelConfig) -> dict[str, int]:
    """DRAM bytes if each tensor moved exactly once: ifmap, filter (+bias), ofmap.

    The ifmap counts the input rows and columns some window reads (a stride larger than the kernel
    skips some).
    """
    ib, wb = element_bytes(cfg.input_bits), element_bytes(cfg.weight_bits)
    if isinstance(op, VectorOp):
        return {"ifmap": op.in_elems * ib, "filter": 0, "ofmap": op.out_elems * ib}
    filt = 0
    if op.has_weights:
        filt = op.groups * op.k * op.n * wb + (op.groups * op.n * ACC_BIAS_BYTES if op.bias else 0)
    return {
        "ifmap": op.groups * op.channels * op.batch * op.needed_rows * op.needed_cols * ib,
        "filter": filt,
        "ofmap": op.groups * op.m * op.n * ib,
    }
