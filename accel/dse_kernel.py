"""The evaluation kernels of design-space exploration: tiling, then the closed form, each one Numba call.

A sweep evaluates every layer of a network at thousands of configurations. For all layers of a
network in one call, :func:`_tile_layers` runs the tiler (:mod:`accel.tile_kernel`, the same
compiled code ``sim run`` tiles with) and :func:`_time_layers` the closed-form recurrence
(``accel.analytic._recurrence``), keeping only the counters: no Python between layers. The tiles
of the last configuration are kept, so a point that differs from it only in the DRAM channel's
timing (not its bus width) runs the recurrence alone.

Layers are passed as rows of an int64 matrix (:func:`accel.tile_kernel.encode_op`); results come
back as rows of counters (the ``S_*`` columns). A layer whose smallest tile does not fit the
buffers stops the evaluation; the caller asks ``accel.tiling`` for the error message, so the
message is the one ``sim run`` prints. ``tests/test_dse_kernel.py`` holds the counters equal to
``accel.tiling.schedule`` + ``accel.analytic.layer_timing``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import List

from accel.analytic import _recurrence, kernel_bandwidth
from accel.config import AccelConfig
from accel.dataflow import DATAFLOW_CODES
from accel.dram_channel import bus_bytes
from accel.tile_kernel import (C_FILTER_READS, C_FOLDS, C_IFMAP_READS, C_LOAD_FILTER, C_LOAD_IFMAP, C_MAPPED,
                               C_OFMAP_READS, C_OFMAP_WRITES, C_WRITEBACK, O_PE_OPS, O_VECTOR, P_BAND, T_COMMANDS,
                               T_COMPUTE, T_LOAD_AFTER, T_LOAD_BEATS, T_WAIT_WRITEBACK, T_WRITEBACK_BEATS, array_tiles,
                               element_bytes, plan_layer, vector_chunk, vector_tiles)  # fmt: skip

# Columns of a layer's result.
(S_CYCLES, S_COMPUTE, S_BUSY, S_IFMAP_READS, S_FILTER_READS, S_OFMAP_READS, S_OFMAP_WRITES, S_LOAD_IFMAP,
 S_LOAD_FILTER, S_WRITEBACK, S_PE_OPS, S_FOLDS, S_MAPPED, S_TILES, S_BEATS, S_COMMANDS) = range(16)  # fmt: skip
STAT_FIELDS = 16
STAT_NAMES = ("cycles", "compute_cycles", "dram_busy_cycles", "ifmap_reads", "filter_reads", "ofmap_reads",
              "ofmap_writes", "ifmap_read_bytes", "filter_read_bytes", "ofmap_write_bytes", "pe_ops", "folds",
              "mapped_cycles", "tiles", "dram_beats", "dma_commands")  # fmt: skip
# The counters that come straight from the tiler's (C_* columns).
_FROM_TILER = ((S_IFMAP_READS, C_IFMAP_READS), (S_FILTER_READS, C_FILTER_READS), (S_OFMAP_READS, C_OFMAP_READS),
               (S_OFMAP_WRITES, C_OFMAP_WRITES), (S_LOAD_IFMAP, C_LOAD_IFMAP), (S_LOAD_FILTER, C_LOAD_FILTER),
               (S_WRITEBACK, C_WRITEBACK), (S_FOLDS, C_FOLDS), (S_MAPPED, C_MAPPED))  # fmt: skip


def mapping_scalars(config: AccelConfig) -> tuple:
    """The tiler's configuration arguments: everything but the DRAM channel's timing."""
    return (
        config.rows, config.cols, DATAFLOW_CODES[config.dataflow], element_bytes(config.input_bits),
        element_bytes(config.weight_bits), element_bytes(config.acc_bits), config.bank_bytes("ifmap"),
        config.bank_bytes("filter"), config.bank_bytes("ofmap"), config.tile_banks,
    )  # fmt: skip


#: The tiles of the last configuration evaluated, one ``(ops, key, tiles)`` entry (replaced and
#: read whole, so threads sharing it never mix two entries): a sweep's neighbouring points often
#: differ only in the DRAM channel's bandwidth or latency, which leave the tiles (and their
#: beats, on the same bus width) as they are; only the timing is evaluated again.
_last_tiles: list = [None]


def evaluate_ops(ops: np.ndarray, config: AccelConfig) -> tuple[np.ndarray, int]:
    """Counters of every encoded layer on ``config``: ``(stats[n_ops, STAT_FIELDS], failed)``.

    ``failed`` is the index of the first layer that does not fit the buffers (its row and the
    later rows are not filled), or -1.
    """
    bandwidth = kernel_bandwidth(config.dram_bandwidth)
    key = (*mapping_scalars(config), bus_bytes(bandwidth))
    last = _last_tiles[0]
    if last is not None and last[0] is ops and last[1] == key:
        tiles_of, counters_of, failed = last[2]
    else:
        tiles_of, counters_of, failed = tiled = _tile_layers(ops, *key)
        _last_tiles[0] = (ops, key, tiled)
    out = np.zeros((ops.shape[0], STAT_FIELDS), dtype=np.int64)
    _time_layers(ops, tiles_of, counters_of, bandwidth, int(config.dram_latency), config.rows, out)
    return out, int(failed)


@njit(cache=True, nogil=True)
def _tile_layers(ops, rows, cols, df, ib, wb, ab, bank_if, bank_f, bank_of, tile_banks, bus):
    """Every layer's tiles and counters (typed lists, in layer order) up to the first layer that
    does not fit the buffers, and that layer's index (-1: none)."""
    tiles_of = List.empty_list(types.int64[:, ::1])
    counters_of = List.empty_list(types.int64[::1])
    for i in range(ops.shape[0]):
        op = ops[i]
        if op[O_VECTOR]:
            chunk = vector_chunk(op, ib, bank_if, bank_of)
            if chunk < 1:
                return tiles_of, counters_of, i
            tiles, counters = vector_tiles(op, chunk, cols, ib, bus)
        else:
            plan = plan_layer(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, tile_banks)
            if plan[P_BAND] == 0:
                return tiles_of, counters_of, i
            tiles, _, counters = array_tiles(op, plan, df, rows, cols, ib, wb, ab, bus)
        tiles_of.append(tiles)
        counters_of.append(counters)
    return tiles_of, counters_of, -1


@njit(cache=True, nogil=True)
def _time_layers(ops, tiles_of, counters_of, bandwidth, latency, rows, out):
    """Fill ``out`` (``S_*`` columns) for the tiled layers: the closed-form timing and the counters."""
    for i in range(len(tiles_of)):
        op, tiles, counters = ops[i], tiles_of[i], counters_of[i]
        if not op[O_VECTOR]:
            out[i, S_PE_OPS] = op[O_PE_OPS]
        total, busy = _recurrence(tiles[T_LOAD_BEATS], tiles[T_LOAD_AFTER], tiles[T_COMPUTE], tiles[T_WRITEBACK_BEATS],
                                  tiles[T_WAIT_WRITEBACK], tiles[T_COMMANDS], bandwidth, latency, rows)  # fmt: skip
        out[i, S_CYCLES], out[i, S_COMPUTE], out[i, S_BUSY] = total, tiles[T_COMPUTE].sum(), busy
        for stat, counter in _FROM_TILER:
            out[i, stat] = counters[counter]
        out[i, S_TILES] = tiles.shape[1]
        out[i, S_BEATS] = tiles[T_LOAD_BEATS].sum() + tiles[T_WRITEBACK_BEATS].sum()
        out[i, S_COMMANDS] = tiles[T_COMMANDS].sum()
