"""The event-driven engine equals the cycle-stepping reference exactly, and its cost follows tiles.

Random tile schedules (hypothesis; arrays of a few to 256 rows, so that a layer's program takes
several segments) and the real schedules of LeNet-5 and AlexNet layers on several accelerators,
each at fractional, integral and ideal bandwidths and several latencies: the (total cycles,
channel-busy cycles) pair must be identical, and equal to the closed form's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import config as numba_config

from accel.analytic import _recurrence, kernel_bandwidth, schedule_arrays
from accel.config import AccelConfig
from accel.lowering import lower_network
from accel.tiling import schedule
from sim.engine import _run_events, run_layer
from tests.engine_reference import step_cycles
from workloads.zoo import get_network

BANDWIDTHS = (0.3, 1.0, 2.5, 16.0, math.inf)
LATENCIES = (0, 1, 100)


def both(arrays: tuple, bandwidth: float, latency: int, rows: int = 4) -> tuple[tuple, tuple]:
    """(total, busy) of the event-driven engine and of the stepping reference; the closed form
    (``accel.analytic``) gives the same pair."""
    bw = kernel_bandwidth(bandwidth)
    events = tuple(int(v) for v in _run_events(*arrays, bw, latency, rows))
    stepped = step_cycles(*arrays, bw, latency, rows)
    assert tuple(int(v) for v in _recurrence(*arrays, bw, latency, rows)) == events
    return events, tuple(int(v) for v in stepped)


@st.composite
def tile_schedules(draw):
    """Arrays shaped like a TileSchedule (transfers in beats): guards always name earlier tiles, as the tiler's do."""
    count = draw(st.integers(1, 12))
    load = [draw(st.sampled_from([0, 1, 7, 64, 1000])) for _ in range(count)]
    load[0] = draw(st.integers(0, 500))
    load_after = [-1] + [draw(st.integers(-1, j - 1)) for j in range(1, count)]
    compute = [draw(st.integers(1, 300)) for _ in range(count)]
    writeback = [draw(st.sampled_from([0, 0, 5, 256, 900])) for _ in range(count)]
    wait_writeback = [-1] + [draw(st.integers(-1, j - 1)) for j in range(1, count)]
    commands = [draw(st.integers(0, 4)) for _ in range(count)]
    arrays = (load, load_after, compute, writeback, wait_writeback, commands)
    return tuple(np.array(a, dtype=np.int64) for a in arrays)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(tile_schedules(), st.sampled_from(BANDWIDTHS + (0.07, 7.0)), st.sampled_from(LATENCIES + (13,)),
       st.sampled_from([1, 4, 64, 256]))  # fmt: skip
def test_random_schedules_match_the_stepping_reference(arrays, bandwidth, latency, rows):
    events, stepped = both(arrays, bandwidth, latency, rows)
    assert events == stepped


@pytest.mark.parametrize("seed", range(20))
def test_long_random_schedules_match_the_stepping_reference(seed):
    """Longer schedules than hypothesis draws: guards reach back a few tiles, as the tiler's do."""
    rng = np.random.default_rng(seed)
    count = int(rng.integers(20, 80))
    back = np.arange(count) - rng.integers(1, 4, count)
    load = rng.choice([0, 16, 300, 2048], count)
    load_after = np.where((back >= 0) & (rng.random(count) < 0.7), back, -1)
    compute = rng.integers(1, 400, count)
    writeback = rng.choice([0, 0, 64, 1500], count)
    wait_writeback = np.where((back >= 0) & (rng.random(count) < 0.5), back, -1)
    commands = rng.integers(0, 4, count)
    arrays = tuple(a.astype(np.int64) for a in (load, load_after, compute, writeback, wait_writeback, commands))
    for bandwidth in BANDWIDTHS:
        for latency in LATENCIES:
            events, stepped = both(arrays, bandwidth, latency, rows=32)
            assert events == stepped, (bandwidth, latency)


STEPPED_CYCLES = 20_000 if numba_config.DISABLE_JIT else 2_000_000
"""Compute cycles of the longest layer the reference steps through (far fewer in pure Python)."""

CONFIGS = [
    AccelConfig(rows=8, cols=8, ifmap_kib=8, filter_kib=8, ofmap_kib=8),
    AccelConfig(rows=4, cols=16, dataflow="os", ifmap_kib=16, filter_kib=4, ofmap_kib=8),
    AccelConfig(rows=16, cols=4, dataflow="is"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.rows}x{c.cols}{c.dataflow}")
@pytest.mark.parametrize("net", ["lenet5", "alexnet"])
def test_zoo_layer_schedules_match_the_stepping_reference(net, config):
    for node, op in lower_network(get_network(net)):
        if op is None:
            continue
        sched = schedule(op, config)
        if int(sched.compute.sum()) > STEPPED_CYCLES:  # the reference steps every cycle: keep it quick
            continue
        for bandwidth in BANDWIDTHS:
            for latency in LATENCIES:
                events, stepped = both(schedule_arrays(sched), bandwidth, latency, sched.rows)
                assert events == stepped, (node.name, bandwidth, latency)


def test_a_starved_channel_costs_no_more_engine_work():
    """--bandwidth 1e-9 runs ~1e19 cycles: only an event-driven engine finishes, within int64."""
    op = next(op for _, op in lower_network(get_network("lenet5")) if op is not None)
    sched = schedule(op, AccelConfig(rows=2, cols=2))
    timing = run_layer(sched, 1e-9, 100)
    assert timing.cycles > 10**12
    assert timing.dram_busy_cycles <= timing.cycles


def test_a_deadlocked_schedule_is_an_error_not_a_hang():
    arrays = tuple(np.array(a, dtype=np.int64) for a in ([8, 8], [-1, -1], [3, 3], [0, 0], [-1, 1], [1, 1]))
    with pytest.raises(RuntimeError, match="deadlocks"):
        _run_events(*arrays, 1.0, 0, 4)
