"""The fused evaluation kernel of design-space exploration: tiling + closed form in one Numba call.

A sweep evaluates every layer of a network at thousands of configurations. Per layer, this
kernel runs the tiler (:mod:`accel.tile_kernel`, the same compiled code ``sim run`` tiles with)
and the closed-form recurrence (``accel.analytic._recurrence``) and keeps only the counters, for
all layers of a network in one call: no Python between layers, no arrays returned.

Layers are passed as rows of an int64 matrix (:func:`accel.tile_kernel.encode_op`); results come
back as rows of counters (the ``S_*`` columns). A layer whose smallest tile does not fit the
buffers stops the evaluation; the caller asks ``accel.tiling`` for the error message, so the
message is the one ``sim run`` prints. ``tests/test_dse_kernel.py`` holds the counters equal to
``accel.tiling.schedule`` + ``accel.analytic.layer_timing``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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


def config_scalars(config: AccelConfig) -> tuple:
    """The kernel's configuration arguments."""
    return (
        config.rows, config.cols, DATAFLOW_CODES[config.dataflow], element_bytes(config.input_bits),
        element_bytes(config.weight_bits), element_bytes(config.acc_bits), config.bank_bytes("ifmap"),
        config.bank_bytes("filter"), config.bank_bytes("ofmap"), config.buffering == "whole",
        kernel_bandwidth(config.dram_bandwidth), int(config.dram_latency),
    )  # fmt: skip


def evaluate_ops(ops: np.ndarray, config: AccelConfig) -> tuple[np.ndarray, int]:
    """Counters of every encoded layer on ``config``: ``(stats[n_ops, STAT_FIELDS], failed)``.

    ``failed`` is the index of the first layer that does not fit the buffers (its row and the
    later rows are not filled), or -1.
    """
    out = np.zeros((ops.shape[0], STAT_FIELDS), dtype=np.int64)
    failed = _evaluate(ops, *config_scalars(config), out)
    return out, int(failed)


@njit(cache=True, nogil=True)
def _evaluate(ops, rows, cols, df, ib, wb, ab, bank_if, bank_f, bank_of, whole_banks, bandwidth, latency, out):
    bus = bus_bytes(bandwidth)
    for i in range(ops.shape[0]):
        op = ops[i]
        if op[O_VECTOR]:
            chunk = vector_chunk(op, ib, bank_if, bank_of)
            if chunk < 1:
                return i
            tiles, counters = vector_tiles(op, chunk, cols, ib, bus)
        else:
            plan = plan_layer(op, df, rows, cols, ib, wb, ab, bank_if, bank_f, bank_of, whole_banks)
            if plan[P_BAND] == 0:
                return i
            tiles, _, counters = array_tiles(op, plan, df, rows, cols, ib, wb, ab, bus)
            out[i, S_PE_OPS] = op[O_PE_OPS]
        total, busy = _recurrence(tiles[T_LOAD_BEATS], tiles[T_LOAD_AFTER], tiles[T_COMPUTE], tiles[T_WRITEBACK_BEATS],
                                  tiles[T_WAIT_WRITEBACK], tiles[T_COMMANDS], bandwidth, latency, rows)  # fmt: skip
        out[i, S_CYCLES], out[i, S_COMPUTE], out[i, S_BUSY] = total, tiles[T_COMPUTE].sum(), busy
        for stat, counter in _FROM_TILER:
            out[i, stat] = counters[counter]
        out[i, S_TILES] = tiles.shape[1]
        out[i, S_BEATS] = tiles[T_LOAD_BEATS].sum() + tiles[T_WRITEBACK_BEATS].sum()
        out[i, S_COMMANDS] = tiles[T_COMMANDS].sum()
    return -1
