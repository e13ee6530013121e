"""Absurd parameters are refused up front, and every count the models form fits int64.

Configuration fields, layer fields, input shapes, batch sizes and SCALE-Sim columns have upper
bounds named in one-line errors; a layer whose cycles could pass 2**62 is refused naming the
DRAM parameter to change; a starved channel that stays inside the bound gives the analytic
model's cycles exactly; Ctrl-C between layers reaches the caller.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.analytic import CYCLE_LIMIT, cycle_bound_terms, layer_timing, schedule_traffic
from accel.config import MAX_ARRAY_SIDE, MAX_BUFFER_KIB, MAX_LATENCY, MIN_BANDWIDTH, AccelConfig, ConfigError
from accel.dse import evaluate
from accel.lowering import lower_network
from accel.tiling import TileSchedule, schedule
from sim.cli import main
from sim.engine import run_layer
from sim.runner import check_cycle_range, simulate
from workloads.errors import UserError, WorkloadError
from workloads.layers import DIM_LIMIT, ELEMENT_LIMIT, OPS_LIMIT, Conv, ConvTranspose, Linear, Pool, Upsample
from workloads.network import Network
from workloads.zoo import get_network

# -- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, limit, unit",
    [("rows", MAX_ARRAY_SIDE, ""), ("cols", MAX_ARRAY_SIDE, ""), ("ifmap_kib", MAX_BUFFER_KIB, " KiB"),
     ("filter_kib", MAX_BUFFER_KIB, " KiB"), ("ofmap_kib", MAX_BUFFER_KIB, " KiB"),
     ("dram_latency", MAX_LATENCY, " cycles")],
)  # fmt: skip
def test_config_upper_bounds_are_inclusive_and_named(field, limit, unit):
    assert getattr(AccelConfig(**{field: limit}), field) == limit
    power = f"2**{limit.bit_length() - 1}"
    message = rf"^{field} must be between \d and {re.escape(power)}{unit}, not {limit + 1}$"
    with pytest.raises(ConfigError, match=message):
        AccelConfig(**{field: limit + 1})


def test_a_starved_channel_stays_valid_down_to_the_bound():
    assert AccelConfig(dram_bandwidth=1e-9).dram_bandwidth == 1e-9
    assert AccelConfig(dram_bandwidth=MIN_BANDWIDTH).dram_bandwidth == MIN_BANDWIDTH
    for bandwidth in (MIN_BANDWIDTH / 2, 1e-300, 5e-324):
        message = rf"^dram_bandwidth must be at least 2\*\*-31 bytes/cycle, not {bandwidth!r}$"
        with pytest.raises(ConfigError, match=message):
            AccelConfig(dram_bandwidth=bandwidth)


# -- layers, shapes and batches ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda v: Conv(name="c", in_channels=1, out_channels=1, kernel_size=1, stride=v), "stride"),
        (lambda v: Conv(name="c", in_channels=1, out_channels=1, kernel_size=1, padding=v), "padding"),
        (lambda v: Conv(name="c", in_channels=1, out_channels=v, kernel_size=1), "out_channels"),
        (lambda v: Conv(name="c", in_channels=1, out_channels=1, kernel_size=(1, v)), "kernel_size"),
        (lambda v: ConvTranspose(name="t", in_channels=1, out_channels=1, kernel_size=1, padding=v), "padding"),
        (lambda v: Pool(name="p", mode="max", kernel_size=2, dilation=v), "dilation"),
        (lambda v: Linear(name="fc", in_features=v, out_features=1), "in_features"),
        (lambda v: Upsample(name="u", scale_factor=v), "scale_factor"),
    ],
)
def test_layer_size_fields_are_bounded(make, field):
    make(DIM_LIMIT)
    with pytest.raises(WorkloadError, match=rf"{field} must be at most 2\*\*24 \(16,777,216\), not {DIM_LIMIT + 1}$"):
        make(DIM_LIMIT + 1)


def test_input_dimensions_and_elements_are_bounded():
    fc = [Linear(name="fc", in_features=DIM_LIMIT, out_features=1)]
    Network("ok", (1, DIM_LIMIT), fc)
    with pytest.raises(WorkloadError, match=r"C and spatial sizes must be at most 2\*\*24"):
        Network("wide", (1, DIM_LIMIT + 1), fc)
    with pytest.raises(WorkloadError, match=r"holds more than 2\*\*40 elements; use a smaller batch"):
        Network("big", (ELEMENT_LIMIT // DIM_LIMIT + 1, DIM_LIMIT), fc)


def test_outputs_padded_inputs_and_operations_are_bounded():
    up = Upsample(name="u", scale_factor=2**12)
    with pytest.raises(WorkloadError, match=r"'u' \(upsample\): output .* holds more than 2\*\*40 elements"):
        Network("n", (1, 1, 2**10, 2**10), [up])
    wide_pad = Conv(name="c", in_channels=1, out_channels=1, kernel_size=1, stride=DIM_LIMIT, padding=DIM_LIMIT)
    with pytest.raises(WorkloadError, match=r"'c' \(conv\): padding .* makes the padded input .* 2\*\*40 elements"):
        Network("n", (2**6, 1, 1, 1), [wide_pad])
    fc = Linear(name="fc", in_features=2**20, out_features=2**20)
    Network("n", (OPS_LIMIT // 2**41, 2**20), [fc])  # 2**55 MACs: 2**56 operations, the limit
    with pytest.raises(WorkloadError, match=r"'fc' \(linear\): operations \(.*\) exceed 2\*\*56"):
        Network("n", (OPS_LIMIT // 2**41 + 1, 2**20), [fc])


@pytest.mark.parametrize("name", ["lenet5", "alexnet"])
def test_the_largest_batch_is_accepted_and_one_more_is_refused(name):
    network = get_network(name)
    largest = network.max_batch
    assert network.with_batch(largest).input_shape[0] == largest
    with pytest.raises(WorkloadError, match=rf"^batch must be at most {largest:,} for network '{name}'"):
        network.with_batch(largest + 1)


# -- cycles ----------------------------------------------------------------------------------------------


def schedule_of(arrays) -> TileSchedule:
    """A TileSchedule around timing arrays, transfers in bytes moved as whole 16-byte beats (the
    fields the engines do not read are empty)."""
    load, load_after, compute, writeback, wait_writeback = arrays
    return TileSchedule(load, np.zeros_like(load), load_after, compute, writeback, wait_writeback,
                        load_beats=-(-load // 16), writeback_beats=-(-writeback // 16),
                        commands=np.ones_like(load), rows=4, sram={}, folds=0,
                        mapped_cycles=0, pe_ops=0, tile_shape={}, loop_order="mn")  # fmt: skip


@st.composite
def tile_arrays(draw):
    count = draw(st.integers(1, 10))
    load = [draw(st.sampled_from([0, 1, 9, 333])) for _ in range(count)]
    load_after = [-1] + [draw(st.integers(-1, j - 1)) for j in range(1, count)]
    compute = [draw(st.integers(1, 200)) for _ in range(count)]
    writeback = [draw(st.sampled_from([0, 4, 500])) for _ in range(count)]
    wait_writeback = [-1] + [draw(st.integers(-1, j - 1)) for j in range(1, count)]
    return tuple(np.array(a, dtype=np.int64) for a in (load, load_after, compute, writeback, wait_writeback))


def bound_of(sched, bandwidth: float, latency: int) -> float:
    """The engines' upper bound on a schedule's cycles."""
    beats, transfers = schedule_traffic(sched)
    terms = cycle_bound_terms(beats, transfers, int(sched.compute.sum()), bandwidth, latency, sched.count, sched.rows)
    return sum(terms.values())


@settings(max_examples=200, deadline=None, derandomize=True)
@given(tile_arrays(), st.sampled_from([0.07, 0.3, 1.0, 3.5, 16.0, math.inf]), st.sampled_from([0, 1, 7, 100]))
def test_the_cycle_bound_bounds_every_run(arrays, bandwidth, latency):
    sched = schedule_of(arrays)
    assert run_layer(sched, bandwidth, latency).cycles <= bound_of(sched, bandwidth, latency)


@pytest.mark.parametrize("bandwidth", [1e-9, 0.3, 16.0, math.inf])
def test_the_cycle_bound_bounds_real_layers(bandwidth):
    config = AccelConfig(rows=4, cols=8, ifmap_kib=8, filter_kib=8, ofmap_kib=8)
    for _, op in lower_network(get_network("alexnet")):
        if op is not None:
            sched = schedule(op, config)
            bound = bound_of(sched, bandwidth, 100)
            assert layer_timing(sched, bandwidth, 100).cycles <= bound < CYCLE_LIMIT


def test_a_starved_channel_gives_the_analytic_cycles():
    network, config = get_network("lenet5"), AccelConfig(rows=2, cols=2, dram_bandwidth=1e-9)
    cycle, analytic = simulate(network, config), simulate(network, config, mode="analytic")
    assert [r.cycles for r in cycle.layers] == [r.cycles for r in analytic.layers]
    assert cycle.total["cycles"] == analytic.total["cycles"] > 10**13


@pytest.mark.parametrize(
    "tiles, size, message",
    [(4, 2**30, "it moves 4,294,967,296 bytes at dram_bandwidth 4.65661e-10 bytes/cycle; raise dram_bandwidth"),
     (2**22, 1, "it makes 4,194,304 transfers of dram_latency 1,099,511,627,776 cycles; lower dram_latency"),
     (1, 2**62, "it computes for 4.61e+18 cycles; use a larger array or a smaller batch")],
)  # fmt: skip
def test_the_refusal_names_the_largest_part_of_the_bound(tiles, size, message):
    """A layer's cycles are bounded by its bytes over the bandwidth, its transfers' latency and its compute."""
    ones = np.ones(tiles, dtype=np.int64)
    big_transfers = "bytes" in message
    sched = schedule_of((size * ones if big_transfers else ones, -ones, ones if big_transfers else size * ones,
                         0 * ones, -ones))  # fmt: skip
    if big_transfers:
        config = AccelConfig(dram_bandwidth=MIN_BANDWIDTH, dram_latency=0)
    else:
        config = AccelConfig(dram_latency=MAX_LATENCY)
    with pytest.raises(UserError, match=rf"^layer 'x' could take more than 2\*\*62 cycles: {re.escape(message)}$"):
        check_cycle_range("x", sched, config)
    check_cycle_range("x", schedule_of((ones[:1], -ones[:1], ones[:1], 0 * ones[:1], -ones[:1])), AccelConfig())


@pytest.mark.parametrize("mode", ["cycle", "analytic", "dse"])
def test_a_real_layer_past_the_bound_is_refused_before_it_runs(mode):
    """A 2 GiB weight matrix over a 2**-31 bytes/cycle channel: 2**62 cycles of transfer alone."""
    network = Network("big_fc", (1, 2**15), [Linear(name="fc", in_features=2**15, out_features=2**16)])
    config = AccelConfig(dram_bandwidth=MIN_BANDWIDTH)
    expected = "layer 'fc' could take more than 2**62 cycles: it moves "
    if mode == "dse":
        row = evaluate(network, config)
        assert row["error"].startswith(expected) and row["error"].endswith("raise dram_bandwidth"), row["error"]
    else:
        with pytest.raises(UserError, match=re.escape(expected) + r"[\d,]+ bytes .* raise dram_bandwidth$"):
            simulate(network, config, mode=mode)


def test_ctrl_c_between_layers_reaches_the_caller():
    def interrupt(name: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(get_network("lenet5"), AccelConfig(), progress=interrupt)


# -- the command line ----------------------------------------------------------------------------------


def sim_run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *args])
    out, err = capsys.readouterr()
    return (exit_info.value.code or 0), out, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--latency", "99999999999999999999"], "dram_latency must be between 0 and 2**40 cycles"),
        (["--batch", "100000000000"], "batch must be at most 233,739,716 for network 'lenet5'"),
        (["--rows", "100000"], "rows must be between 1 and 2**16"),
        (["--ifmap-kib", "99999999999999"], "ifmap_kib must be between 1 and 2**20 KiB"),
        (["--bandwidth", "1e-300"], "dram_bandwidth must be at least 2**-31 bytes/cycle"),
    ],
)
def test_absurd_flags_are_one_error_line(capsys, args, message):
    status, out, err = sim_run(capsys, "lenet5", *args)
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in out + err


def test_an_absurd_topology_column_is_one_error_line(capsys, tmp_path):
    path = tmp_path / "net.csv"
    path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\nconv1, 224, 224, 3, 3, 3, 64, 12345678901234567890123,\n")  # fmt: skip
    status, _, err = sim_run(capsys, str(path))
    assert status == 2
    assert err.splitlines() == [f"error: {path}:2: column 8 (Strides): must be an integer from 1 to 2**24 "
                                f"(16,777,216), not '12345678901234567890123'"]  # fmt: skip


@pytest.mark.parametrize("bits", ["63", "64"])
def test_wide_accumulators_run_functional_mode_bit_exact(capsys, bits):
    status, out, err = sim_run(capsys, "lenet5", "--acc-bits", bits, "--mode", "functional")
    assert status == 0, err
    assert "outputs: bit-exact vs the golden model" in out + err
