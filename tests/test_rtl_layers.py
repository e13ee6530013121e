"""Whole layers and LeNet-5 on the generated layer accelerator (cocotb + Icarus), via the host driver.

Every layer is tiled as the simulator tiles it, run descriptor by descriptor on the RTL, and
checked bit-exactly against the golden int8 model (requantization, fused ReLU and average
divide included); every layer's measured cycles (the CYCLES register, cross-checked by the bench's
own count) equal the simulator's compute cycles (the AXI system's whole-layer cycles, DRAM
included, are held in tests/test_system_cycles.py).
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from accel.config import AccelConfig
from rtl.verify import verify_on_rtl
from sim.runner import simulate
from tests.test_program import random_conv
from workloads.layers import Activation, Conv, Flatten, GlobalAvgPool, Linear, Pool
from workloads.network import Network
from workloads.zoo import get_network

pytestmark = [
    pytest.mark.rtl,
    pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed"),
]

#: A square and a non-square array; small buffers so that layers are split into several tiles.
CONFIGS = {
    "4x4": AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=2, ofmap_kib=4),
    "3x2": AccelConfig(rows=3, cols=2, ifmap_kib=2, filter_kib=1, ofmap_kib=4),
}


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


def assert_exact_and_timed(network: Network, config: AccelConfig, tmp_path) -> list:
    checks = verify_on_rtl(network, config, build_dir=tmp_path)
    assert all(c.mismatches == 0 for c in checks), [c for c in checks if c.mismatches]
    report = simulate(network, config.replace(dram_bandwidth=math.inf, dram_latency=0), mode="analytic")
    simulated = {layer.name: layer.compute_cycles for layer in report.layers}
    assert {c.name: c.measured for c in checks} == {c.name: simulated[c.name] for c in checks}
    return checks


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("index", [2, 7, 13])  # replicate, circular, reflect; strides and dilations 1-3
def test_random_conv_layers(index, config, tmp_path):
    network = random_conv(np.random.default_rng(1000 + index), index)
    (checked,) = assert_exact_and_timed(network, config, tmp_path)
    assert checked.elements > 0


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.slow
def test_layer_kinds_are_bit_exact_and_cycle_exact(config, tmp_path):
    checks = assert_exact_and_timed(layer_suite(), config, tmp_path)
    assert len(checks) == 13 and max(c.tiles for c in checks) > 1


@pytest.mark.slow
def test_lenet5_end_to_end(tmp_path):
    config = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)
    checks = assert_exact_and_timed(get_network("lenet5"), config, tmp_path)
    # `sim run lenet5 --rows 4 --cols 4 --ifmap-kib 4 --filter-kib 16 --ofmap-kib 16` reports 43,715
    # compute cycles; fc1 (48,000 weights, 8 KiB banks) runs as 8 tiles.
    assert sum(c.measured for c in checks) == 43_715
    assert {c.name: c.tiles for c in checks}["fc1"] == 8
