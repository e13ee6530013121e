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
from accel.tiling import MappingError, schedule, tile_grid
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
    """Compare every layer of ``network`` on ``config``; return how many tiled."""
    tiled = 0
    for node, op in lower_network(network):
        if op is None:
            continue
        where = f"{network.name}/{node.name} on {config}"
        got, want = _outcome(schedule, op, config), _outcome(tiling_reference.schedule, op, config)
        if isinstance(want, str):
            assert got == want, where
            continue
        assert not isinstance(got, str), f"{where}: {got}"
        for name in SCHEDULE_ARRAYS:
            assert np.array_equal(getattr(got, name), getattr(want, name)), f"{where}: {name}"
        for name in SCHEDULE_VALUES:
            assert getattr(got, name) == getattr(want, name), f"{where}: {name}"
        if isinstance(op, ArrayOp):
            grid, ref = tile_grid(op, config), tiling_reference.tile_grid(op, config)
            assert grid.pack == ref.pack, where
            for name in GRID_ARRAYS:
                assert np.array_equal(getattr(grid, name), getattr(ref, name)), f"{where}: {name}"
            assert grid.m_tile_ranges() == tiling_reference.m_tile_ranges(op, ref.plan), where
        tiled += 1
    return tiled


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
