"""The whole-system cycle contract: the AXI top takes exactly the cycles ``sim run`` reports, DRAM included.

Each network runs on the generated AXI top (cocotb + Icarus) against the DRAM model at the
config's bandwidth and latency: every layer's output is bit-exact against the golden int8 model,
every layer's cycles (its program segments' fetch and run, traced) equal the simulator's cycles
for that layer, and the CYCLES register equals the simulator's total. Settings: a full-rate
16-byte bus with no latency, a starved channel (2 B/cycle, 50 cycles), a 32-byte bus with
latency, and fractional bandwidths; LeNet-5 at 16 B/cycle is in ``tests/test_system_run.py``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from accel.config import AccelConfig
from accel.lowering import lower_network
from accel.system_timing import layer_segments
from accel.tiling import schedule, tile_grid
from rtl.host.system_run import run_network
from sim.runner import simulate
from tests.test_program import random_conv
from workloads.layers import Activation, Conv, Flatten, GlobalAvgPool, Linear, Pool
from workloads.network import Network
from workloads.zoo import get_network

pytestmark = [
    pytest.mark.rtl,
    pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed"),
]

def layer_suite() -> Network:
    """Independent layers on one odd-sized input: every padding mode, strides 1-3, dilations 1-3,
    asymmetric padding, rectangular and 1x1 kernels, groups and depthwise, pools with padding, FC."""
    x = ("input",)
    conv = dict(in_channels=5, inputs=x)
    return Network("suite", (2, 5, 11, 9), [
        Conv(name="zeros_s2_d2", out_channels=7, kernel_size=(3, 2), stride=2, dilation=2,
             padding=((2, 1), (0, 1)), **conv),
        Conv(name="reflect_s3", out_channels=3, kernel_size=(2, 3), stride=(3, 1), padding=((1, 0), (2, 1)),
             padding_mode="reflect", **conv),
        Conv(name="replicate_d3", out_channels=4, kernel_size=3, dilation=(3, 1), padding=(3, 1),
             padding_mode="replicate", **conv),
        Conv(name="circular_s1", out_channels=5, kernel_size=(3, 3), padding=((1, 2), (2, 1)),
             padding_mode="circular", **conv),
        Conv(name="pointwise_s2", out_channels=6, kernel_size=1, stride=2, **conv), Activation(name="relu"),
        Conv(name="depthwise", out_channels=5, kernel_size=3, padding=1, groups=5, **conv),
        Conv(name="grouped", in_channels=5, out_channels=10, kernel_size=(1, 3), groups=5, inputs=x),
        Conv(name="depthwise_1x1", out_channels=5, kernel_size=1, groups=5, **conv),  # packed block-diagonally
        Pool(name="maxpool", mode="max", kernel_size=3, stride=2, padding=1, inputs=x),
        Pool(name="maxpool_2x1", mode="max", kernel_size=(2, 1), stride=(2, 1), ceil_mode=True, inputs=x),
        Pool(name="avgpool", mode="avg", kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), inputs=x),
        GlobalAvgPool(name="gap", inputs=x),
        Flatten(name="flat", inputs=x), Linear(name="fc", in_features=495, out_features=9),
    ])  # fmt: skip


#: Buffers large enough that circular and reflect padding run in whole images on the AXI system.
SUITE_4X4 = AccelConfig(rows=4, cols=4, ifmap_kib=8, filter_kib=2, ofmap_kib=8)
SUITE_3X2 = AccelConfig(rows=3, cols=2, ifmap_kib=8, filter_kib=1, ofmap_kib=8)
#: Small buffers: a layer takes many tiles.
SMALL_4X4 = AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=2, ofmap_kib=4)
SMALL_3X2 = AccelConfig(rows=3, cols=2, ifmap_kib=2, filter_kib=1, ofmap_kib=4)
LENET = AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=4, ofmap_kib=4)


def assert_cycle_exact(network: Network, config: AccelConfig, tmp_path) -> None:
    """Run ``network`` on the AXI top: bit-exact, and every layer's cycles those of ``sim run``."""
    run = run_network(network, config, tmp_path, trace=True)
    assert run.exact, run.error or [layer for layer in run.layers if layer.mismatches]
    report = simulate(network, config)
    assert {layer.name: layer.cycles for layer in run.layers} == {layer.name: layer.cycles for layer in report.layers}
    assert run.cycles == report.total["cycles"]


@pytest.mark.parametrize(
    "config",
    [SUITE_4X4.replace(dram_bandwidth=16.0, dram_latency=0), SUITE_4X4.replace(dram_bandwidth=2.0, dram_latency=50),
     SUITE_3X2.replace(dram_bandwidth=32.0, dram_latency=10)],
    ids=["4x4-16B-0", "4x4-2B-50", "3x2-32B-10"],
)  # fmt: skip
def test_layer_kinds_take_the_simulated_cycles(config, tmp_path):
    assert_cycle_exact(layer_suite(), config, tmp_path)


@pytest.mark.parametrize(
    "index, config",
    [(2, SMALL_4X4.replace(dram_bandwidth=2.5, dram_latency=13)), (7, SMALL_3X2.replace(dram_bandwidth=16.0)),
     (13, SMALL_4X4.replace(dram_bandwidth=0.75, dram_latency=3))],
)  # fmt: skip
def test_random_layers_take_the_simulated_cycles(index, config, tmp_path):
    assert_cycle_exact(random_conv(np.random.default_rng(1000 + index), index), config, tmp_path)


@pytest.mark.parametrize("bandwidth, latency", [(2.0, 50), (32.0, 10)])
def test_lenet5_takes_the_simulated_cycles(bandwidth, latency, tmp_path):
    assert_cycle_exact(get_network("lenet5"), LENET.replace(dram_bandwidth=bandwidth, dram_latency=latency), tmp_path)


def test_a_layer_of_several_program_segments_takes_the_simulated_cycles(tmp_path):
    """128 tiles of a long fully connected layer take four program segments, three of them ending
    in a tile that writes nothing back."""
    network = Network("long_fc", (1, 4096), [Linear(name="fc", in_features=4096, out_features=12)])
    config = SMALL_4X4.replace(filter_kib=1, dram_bandwidth=16.0, dram_latency=5)
    sched = schedule(lower_network(network)[0][1], config)
    assert len(layer_segments(sched.commands, sched.rows, 16.0, 5, 16)) == 4
    assert_cycle_exact(network, config, tmp_path)


def test_row_segments_take_the_simulated_cycles(tmp_path):
    """Output rows longer than an accumulator bank holds run in segments that share their input
    rows (here one-row bands sharing the plane's three: fewer segments than 3-row bands, the same
    bytes): padding of every mode at both row ends, a stride larger than the kernel, dilation,
    depthwise and pooling, bit-exact and in the simulated cycles."""
    x = ("input",)
    conv = dict(in_channels=4, inputs=x)
    network = Network("segments", (1, 4, 3, 75), [
        Conv(name="zeros", out_channels=6, kernel_size=3, padding=((1, 1), (2, 1)), **conv),
        Conv(name="reflect", out_channels=3, kernel_size=3, padding=1, padding_mode="reflect", **conv),
        Conv(name="circular_s2", out_channels=4, kernel_size=(2, 1), stride=(1, 2), padding=(0, 1),
             padding_mode="circular", **conv),
        Conv(name="replicate_d2", out_channels=5, kernel_size=3, dilation=(1, 2), padding=(1, 2),
             padding_mode="replicate", **conv),
        Conv(name="depthwise", out_channels=4, kernel_size=3, padding=1, groups=4, **conv),
        Pool(name="maxpool", mode="max", kernel_size=(1, 3), stride=1, padding=(0, 1), inputs=x),
    ])  # fmt: skip
    config = AccelConfig(rows=4, cols=4, ifmap_kib=8, filter_kib=2, ofmap_kib=1, dram_bandwidth=4.0, dram_latency=7)
    for _, op in lower_network(network):
        widths = {cols for *_, cols in tile_grid(op, config).m_tile_ranges()}
        assert max(widths) < op.out_row_len, op.name  # every layer runs in segments
    first = tile_grid(lower_network(network)[0][1], config)
    assert first.shared and {rows for *_, rows, _, _ in first.m_tile_ranges()} == {1}
    assert_cycle_exact(network, config, tmp_path)


def test_k_tiles_read_their_channels_from_a_resident_ifmap_tile(tmp_path):
    """K split by the filter bank while every channel of the input fits the ifmap bank: the input
    is fetched once and each K tile reads its channels from it (also with a stride, dilation and
    a rectangular kernel)."""
    x = ("input",)
    network = Network("resident", (1, 24, 6, 10), [
        Conv(name="resident", in_channels=24, out_channels=8, kernel_size=3, padding=1, inputs=x),
        Conv(name="strided", in_channels=24, out_channels=6, kernel_size=(3, 2), stride=2, padding=(1, 0),
             dilation=(1, 2), inputs=x),
    ])  # fmt: skip
    config = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=1, ofmap_kib=1, dram_bandwidth=4.0, dram_latency=7)
    grids = [tile_grid(op, config) for _, op in lower_network(network)]
    assert [grid.resident for grid in grids] == [True, True]
    assert all(len(set(grid.ki.tolist())) > 1 for grid in grids)  # K is split in both
    assert_cycle_exact(network, config, tmp_path)


def test_column_windows_and_split_channels_take_the_simulated_cycles(tmp_path):
    """Input rows too long for the ifmap bank and a channel's weights too many for the filter
    bank: row segments fetch only their column windows (zero padding at both row ends, a
    stride larger than the kernel, dilation, depthwise and pooling), and an 11x11 kernel's taps
    are split into pieces of whole R-tap blocks; bit-exact and in the simulated cycles."""
    x = ("input",)
    network = Network("windows", (1, 3, 11, 180), [
        Conv(name="split_taps", in_channels=3, out_channels=8, kernel_size=11, stride=4, padding=2, inputs=x),
        Conv(name="zeros", in_channels=3, out_channels=6, kernel_size=3, padding=(1, 2), inputs=x),
        Conv(name="stride_3_kernel_2", in_channels=3, out_channels=5, kernel_size=(1, 2), stride=(1, 3), inputs=x),
        Conv(name="dilated", in_channels=3, out_channels=4, kernel_size=3, dilation=(1, 3), padding=(1, 3), inputs=x),
        Conv(name="depthwise", in_channels=3, out_channels=3, kernel_size=3, padding=1, groups=3, inputs=x),
        Pool(name="maxpool", mode="max", kernel_size=3, stride=2, padding=1, inputs=x),
    ])  # fmt: skip
    config = AccelConfig(rows=4, cols=8, ifmap_kib=1, filter_kib=1, ofmap_kib=1, dram_bandwidth=4.0, dram_latency=7)
    for _, op in lower_network(network):
        grid = tile_grid(op, config)
        assert np.all(grid.in_cols[1] - grid.in_cols[0] < op.in_row_len), op.name  # every tile in a window
    split = tile_grid(lower_network(network)[0][1], config)
    assert sorted(set(split.kt.tolist())) == [25, 32] and set(split.tap0.tolist()) == {0, 32, 64, 96}
    assert_cycle_exact(network, config, tmp_path)


def test_output_rows_going_on_mid_word_take_the_simulated_cycles(tmp_path):
    """Segments of three output pixels in N tiles of 20 channels (20-byte staging pitch) on a
    32-byte bus at full rate: each output row's store starts mid-word in the staging word the row
    before it ended in, and its first beat spans two words. The writer takes that word as read,
    so no beat needs two reads: bit-exact and in the simulated cycles."""
    network = Network("rows", (1, 8, 12, 24), [
        Conv(name="conv", in_channels=8, out_channels=40, kernel_size=3, padding=1),
    ])  # fmt: skip
    config = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=4, ofmap_kib=1, dram_bandwidth=32.0, dram_latency=3)
    grid = tile_grid(lower_network(network)[0][1], config)
    assert set(grid.nt.tolist()) == {20} and {r[5] for r in grid.m_tile_ranges()} == {3}
    assert_cycle_exact(network, config, tmp_path)


def test_single_buffered_tiles_take_the_simulated_cycles(tmp_path):
    """With buffering 'whole', tiles that take both banks of the ifmap or filter memory (every
    fetch from bank 0, waiting for the tiles reading the previous one) beside double-buffered
    layers: bit-exact and in the simulated cycles."""
    x = ("input",)
    network = Network("single", (1, 16, 12, 12), [
        Conv(name="both", in_channels=16, out_channels=24, kernel_size=3, padding=1, inputs=x),
        Conv(name="double", in_channels=16, out_channels=40, kernel_size=1, inputs=x),
        Conv(name="ifmap", in_channels=16, out_channels=12, kernel_size=3, stride=2, padding=1, inputs=x),
    ])  # fmt: skip
    config = AccelConfig(rows=4, cols=4, ifmap_kib=1, filter_kib=2, ofmap_kib=4, buffering="whole",
                         dram_bandwidth=4.0, dram_latency=7)  # fmt: skip
    grids = [tile_grid(op, config) for _, op in lower_network(network)]
    single = [(grid.single_ifmap, grid.single_filter) for grid in grids]
    assert single == [(True, True), (False, False), (True, False)]
    assert_cycle_exact(network, config, tmp_path)


@pytest.mark.parametrize(
    "config, single",
    [(AccelConfig(rows=4, cols=4, ifmap_kib=8, filter_kib=2, ofmap_kib=1, dram_bandwidth=4.0, dram_latency=7),
      (False, False)),
     (AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=1, ofmap_kib=1, buffering="whole", dram_bandwidth=4.0,
                  dram_latency=7), (True, True))],
    ids=["double", "whole"],
)  # fmt: skip
def test_bands_sharing_their_plane_take_the_simulated_cycles(config, single, tmp_path):
    """Outputs too many for the accumulators while the whole input fits the ifmap memory: the
    bands of the plane read it from one fetch (zero and reflect padding, a stride, pooling),
    double- and single-buffered; bit-exact and in the simulated cycles."""
    x = ("input",)
    network = Network("shared", (1, 16, 12, 12), [
        Conv(name="zeros", in_channels=16, out_channels=32, kernel_size=3, padding=1, inputs=x),
        Conv(name="stride_2", in_channels=16, out_channels=24, kernel_size=3, stride=2, padding=1, inputs=x),
        Conv(name="reflect", in_channels=16, out_channels=16, kernel_size=3, padding=1, padding_mode="reflect",
             inputs=x),
        Pool(name="maxpool", mode="max", kernel_size=3, stride=2, padding=1, inputs=x),
    ])  # fmt: skip
    for _, op in lower_network(network):
        grid = tile_grid(op, config)
        assert grid.shared and len(set(grid.mi.tolist())) > 1, op.name  # several bands, one input
    grid = tile_grid(lower_network(network)[0][1], config)
    assert (grid.single_ifmap, grid.single_filter) == single
    assert_cycle_exact(network, config, tmp_path)
