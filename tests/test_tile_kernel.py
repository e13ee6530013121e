"""Contract: the compiled tiler (accel.tile_kernel, behind accel.tiling) equals the NumPy reference.

``tests/tiling_reference.py`` states the tiling rules with NumPy arrays and the dataflow table;
the kernel states them once, in compiled loops, for the simulator, the hardware compiler and the
DSE. On every zoo network over a grid of configurations, and on random layers, both give the
same tiles (every schedule and grid array), the same counters, and the same MappingError.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from accel.config import AccelConfig
from accel.lowering import ArrayOp, lower_network
from accel.tiling import MappingError, compulsory_bytes, schedule, tile_grid
from tests import tiling_reference
from tests.test_dse_kernel import CONFIGS, random_config, random_layers
from workloads.network import Network
from workloads.zoo import ZOO

SCHEDULE_ARRAYS = ("load_ifmap", "load_filter", "load_after", "compute", "writeback", "wait_writeback", "load_beats",
                   "writeback_beats", "commands")  # fmt: skip
SCHEDULE_VALUES = ("rows", "sram", "folds", "mapped_cycles", "pe_ops", "tile_shape", "loop_order")
GRID_ARRAYS = ("group0", "gcount", "mi", "n0", "nt", "c0", "ct", "ki", "ni", "last_k")


def _outcome(function, op, config):
    try:
        return function(op, config)
    except MappingError as error:
        return str(error)


def check(network: Network, config: AccelConfig) -> int:
    """Compare every layer of ``network`` on ``config``; return how many tiled.

    The reference has no row segments: where it finds no tile, the kernel either raises the
    same error or tiles the layer with segments (checked by :func:`check_segments`).
    """
    tiled = 0
    for node, op in lower_network(network):
        if op is None:
            continue
        where = f"{network.name}/{node.name} on {config}"
        got, want = _outcome(schedule, op, config), _outcome(tiling_reference.schedule, op, config)
        if isinstance(want, str) and (isinstance(got, str) or not isinstance(op, ArrayOp)):
            assert got == want, where
            continue
        if isinstance(want, str):
            check_segments(op, config, got)
            continue
        assert not isinstance(got, str), f"{where}: {got}"
        grid = tile_grid(op, config) if isinstance(op, ArrayOp) else None
        split = grid is not None and bool(np.any(grid.kt < grid.ct * op.window))
        beyond = grid is not None and (grid.resident or split or grid.shared or grid.single_ifmap or grid.single_filter)
        if beyond or (grid is not None and any(w < op.out_row_len for *_, w in grid.m_tile_ranges())):
            # 2-D tiles, windows, split channels, a resident or shared ifmap or single-buffered
            # tiles, where they are estimated to move fewer bytes
            check_segments(op, config, got)
            moved = [int(sched.load_ifmap.sum() + sched.load_filter.sum()) for sched in (got, want)]
            assert moved[0] <= moved[1], where
            continue
        for name in SCHEDULE_ARRAYS:
            assert np.array_equal(getattr(got, name), getattr(want, name)), f"{where}: {name}"
        for name in SCHEDULE_VALUES:
            assert getattr(got, name) == getattr(want, name), f"{where}: {name}"
        if isinstance(op, ArrayOp):
            grid, ref = tile_grid(op, config), tiling_reference.tile_grid(op, config)
            assert grid.pack == ref.pack, where
            for name in GRID_ARRAYS:
                assert np.array_equal(getattr(grid, name), getattr(ref, name)), f"{where}: {name}"
            ranges = grid.m_tile_ranges()
            assert [r[:4] for r in ranges] == tiling_reference.m_tile_ranges(op, ref.plan), where
            assert all(r[4:] == (0, op.out_row_len) for r in ranges), where
        tiled += 1
    return tiled


def check_segments(op: ArrayOp, config: AccelConfig, sched) -> None:
    """A layer tiled with row segments, column windows or pieces of a channel's window: each
    output pixel of every plane once, in bands of segments that fit the accumulator bank, each
    band's whole input rows fetched once per K tile or each segment's window (the columns it
    reads) once (a plane's whole input once, when its bands share it), every ifmap and filter
    fetch within its bank (both banks when single-buffered), and the K tiles of every output
    tile covering its K once, in whole ``R``-tap blocks of a channel when they split one."""
    grid = tile_grid(op, config)
    ranges = grid.m_tile_ranges()
    lanes = -(-int(grid.nt.max()) // config.cols) * config.cols if config.dataflow == "ws" else int(grid.nt.max())
    acc_bytes = -(-config.acc_bits // 8)
    if all(images == 1 for _, images, *_ in ranges):  # bands, or segments of them
        assert max(rows * cols for *_, rows, _, cols in ranges) * lanes * acc_bytes <= config.bank_bytes("ofmap")
        covered = {}
        for plane, _, y0, rows, x0, cols in ranges:
            for y in range(y0, y0 + rows):
                covered.setdefault((plane, y), []).append((x0, cols))
        assert len(covered) == op.planes * op.rows.out
        for pieces in covered.values():
            assert sum(cols for _, cols in pieces) == op.out_row_len
            assert [x0 for x0, _ in pieces] == list(np.cumsum([0] + [cols for _, cols in pieces[:-1]]))
    else:
        assert all(width == op.out_row_len for *_, width in ranges)
    windowed = any((c0, c1) != (0, op.in_row_len) for c0, c1 in grid.in_cols.T.tolist())
    for (*_, x0, cols), (c0, c1) in zip(ranges, grid.in_cols.T.tolist()):
        if windowed:
            assert op.zero_padding
            assert (c0, c1 - c0) == (op.cols.first_touched(x0), op.cols.touched(x0, x0 + cols))
    banks_if, banks_f = 1 + grid.single_ifmap, 1 + grid.single_filter
    assert sched.load_ifmap.max() <= banks_if * config.bank_bytes("ifmap")
    assert sched.load_filter.max() <= banks_f * config.bank_bytes("filter")
    fetches = np.flatnonzero(sched.load_ifmap)
    key = 1 if grid.shared else 3  # an input tile is a plane's, or a band's (image, first row)

    def input_of(r):
        return (*r[:key], *(r[4:] if windowed else ()))

    inputs_of = [(*input_of(ranges[int(grid.mi[j])]), int(grid.c0[j]), int(grid.group0[j])) for j in fetches]
    inputs = {input_of(r) for r in ranges}
    for single, loads in ((grid.single_ifmap, sched.load_ifmap), (grid.single_filter, sched.load_filter)):
        if single:  # a fetch into both banks waits for the tile before it
            later = np.flatnonzero(loads)[1:]
            assert np.array_equal(sched.load_after[later], later - 1)
    if grid.resident or (len(set(grid.c0.tolist())) == 1 and grid.pack == 1 and len(set(grid.ni.tolist())) == 1):
        assert len(inputs_of) == len(inputs) * len(set(grid.group0.tolist())), "each input is fetched once"
    if grid.resident:  # every channel of the band at once
        assert set(sched.load_ifmap[fetches] % op.channels) == {0} and len(set(grid.ki.tolist())) > 1
    ends = np.flatnonzero(grid.last_k)
    for first, last in zip(np.concatenate([[0], ends[:-1] + 1]), ends):
        k_of_tile = op.k * int(grid.gcount[first]) if grid.gcount[first] > 1 else op.k
        assert int(grid.kt[first : last + 1].sum()) == k_of_tile
    split = grid.kt < grid.ct * op.window
    assert np.all(grid.ct[split] == 1) and np.all(grid.tap0 % config.rows == 0)
    assert np.all((grid.kt[split] % config.rows == 0) | (grid.tap0[split] + grid.kt[split] == op.window))


@pytest.mark.parametrize("name", list(ZOO))
def test_kernel_equals_reference_on_zoo_networks(name):
    network = ZOO[name]()
    assert sum(check(network, config) for config in CONFIGS) > 0


def test_kernel_equals_reference_on_random_layers():
    rng = random.Random(5)
    assert sum(check(net, random_config(rng)) for net in random_layers(seed=23, count=150)) > 80


def test_encoding_refuses_a_lowered_form_it_does_not_know():
    import dataclasses

    from accel.tile_kernel import _ARRAY_FIELDS, _check_fields

    @dataclasses.dataclass(frozen=True)
    class ArrayOp:  # the lowered form with one more field than the kernel knows
        groups: int
        halo: int

    with pytest.raises(RuntimeError, match="encode the new fields in accel/tile_kernel.py"):
        _check_fields(ArrayOp, _ARRAY_FIELDS)


def test_whole_buffer_plans_take_both_banks_only_for_the_operand_that_saves_bytes():
    """Of tiles that move equal bytes, the mapper takes those that fit one bank: a single-buffered
    fetch waits for the compute before it. VGG16's conv4_1 (its 200 KB input fetched once, shared
    by the bands) and conv4_2 (bands of every channel, up to 258 KB) need both ifmap banks; their
    filter tiles would move the same bytes in 64 output channels (148 KB, both banks) as in 32
    (74 KB), so the filter stays double-buffered and its fetches overlap the compute."""
    config = AccelConfig(buffering="whole")
    ops = {node.name: op for node, op in lower_network(ZOO["vgg16"]()) if op is not None}
    bank = config.bank_bytes("ifmap")
    for name in ("conv4_1", "conv4_2"):
        grid, sched = tile_grid(ops[name], config), schedule(ops[name], config)
        assert (grid.single_ifmap, grid.single_filter, sched.single_buffered) == (True, False, "ifmap"), name
        assert bank < int(sched.load_ifmap.max()) <= 2 * bank, name
        assert int(sched.load_filter.max()) <= config.bank_bytes("filter"), name
        alone = np.flatnonzero((sched.load_filter > 0) & (sched.load_ifmap == 0))  # the guard is the tile's
        assert len(alone) > 0 and np.all(sched.load_after[alone] < alone - 1), name  # two tiles back
    sched = schedule(ops["conv4_1"], config)
    moved = int(sched.load_ifmap.sum() + sched.load_filter.sum() + sched.writeback.sum())
    assert moved == sum(compulsory_bytes(ops["conv4_1"], config).values())
