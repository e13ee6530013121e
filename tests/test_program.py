"""The layer program (rtl/host/program.py) run on the NumPy model of the AXI system against the golden int8 model.

Every array layer kind, tiled exactly as the simulator tiles it: the network is compiled into
descriptors, laid out in its DRAM image (``rtl.host.dram_image.build_image``) and run by the system
model (``rtl.host.system_model.run_model``): every layer's output bit-exact against
``workloads.forward``, and every layer's descriptors taking the compute cycles ``sim run`` reports
(the AXI system's whole-layer cycles, DRAM included, are held in tests/test_system_cycles.py).
Also: the tap generator's lane table, the average divide, and what the compiler rejects.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from accel.config import AccelConfig
from accel.timing import tile_cycles
from rtl.host.dram_image import build_image
from rtl.host.emulator import block_taps, output_path
from rtl.host.program import (LayerPlan, ProgramError, check_tile, compile_network, divide_constants, lane_table, layer_view,
                         tap_registers)  # fmt: skip
from rtl.host.program_image import decode_program
from rtl.host.system_model import run_model
from rtl.host.verify import one_layer, prepare, select
from sim.runner import simulate
from workloads.errors import WorkloadError
from workloads.layers import Activation, Add, Conv, ConvTranspose, Flatten, GlobalAvgPool, Linear, Pool
from workloads.network import INPUT, Network
from workloads.zoo import get_network

#: A square and a non-square array with buffers small enough that layers are tiled.
CONFIGS = {
    "4x4": AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=2, ofmap_kib=4),
    "3x2": AccelConfig(rows=3, cols=2, ifmap_kib=2, filter_kib=1, ofmap_kib=4),
}
UNLIMITED = {"dram_bandwidth": math.inf, "dram_latency": 0}


def run(network: Network, config: AccelConfig, layer: str | None = None) -> list[LayerPlan]:
    """Compile ``network`` (or only its array layer ``layer``, fused activations included, on its
    golden input) with calibrated parameters, build its DRAM image and run it on the system model.

    Asserts every layer bit-exact against the golden outputs of the whole network, and the
    descriptors' compute cycles (as compiled and as decoded from DRAM) those of ``sim run`` with
    unlimited DRAM; returns the plans of the layers run, in order.
    """
    params, x, gold, program = prepare(network, config)
    if layer is not None:
        network, x = one_layer(network, select(program, layer).layers[layer], {**gold, INPUT: x})
        program = compile_network(network, config, params)
    image = build_image(program, params, x)
    result = run_model(image, gold)
    assert result.error is None and [out.name for out in result.layers] == list(program.layers), result
    assert all(out.mismatches == 0 and out.elements > 0 for out in result.layers), result.layers
    report = simulate(network, config.replace(**UNLIMITED), mode="analytic")
    simulated = {out.name: out.compute_cycles for out in report.layers}
    compiled = {name: plan.cycles for name, plan in program.layers.items()}
    assert compiled == {name: simulated[name] for name in compiled}
    assert sum(compiled.values()) == report.total["compute_cycles"]
    start = image.program_address - image.base
    decoded: list[int] = []
    for segment in decode_program(bytes(image.data[start : start + image.program_bytes]), config.rows):
        decoded += [0] if segment.first_of_layer else []
        decoded[-1] += sum(tile_cycles("ws", config.rows, config.cols, tile.regs["T"],
                                       tile.regs["INNER"] * tile.regs["OUTER"]) for tile in segment.tiles)  # fmt: skip
    assert decoded == list(compiled.values())
    return list(program.layers.values())


def random_conv(rng: np.random.Generator, index: int) -> Network:
    """A random valid 1-D/2-D conv: stride 1-3, dilation 1-3, any padding mode, asymmetric pads."""
    while True:
        ndim = 2 if index % 5 else 1
        mode = ("zeros", "reflect", "replicate", "circular")[index % 4]
        groups = int(rng.choice([1, 1, 2, 3]))
        depthwise = index % 7 == 3
        cin = groups * int(rng.integers(1, 4))
        cout = cin if depthwise else groups * int(rng.integers(1, 4))
        groups = cin if depthwise else groups
        kernel = tuple(int(k) for k in rng.integers(1, 5, ndim))
        stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
        dilation = tuple(int(d) for d in rng.integers(1, 4, ndim))
        size = tuple(int(n) for n in rng.integers(4, 12, ndim))
        pads = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (ndim, 2)))
        try:
            conv = Conv(name="conv", in_channels=cin, out_channels=cout, kernel_size=kernel, stride=stride,
                        padding=pads, padding_mode=mode, dilation=dilation, groups=groups)  # fmt: skip
            return Network(f"conv{index}", (int(rng.integers(1, 3)), cin, *size), [conv])
        except WorkloadError:
            continue


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("index", range(24))
def test_random_conv_layers(index, config):
    rng = np.random.default_rng(1000 + index)
    run(random_conv(rng, index), config)


POOLS = [
    Pool(name="pool", mode="max", kernel_size=3, stride=2, padding=1),
    Pool(name="pool", mode="max", kernel_size=(2, 3), stride=(1, 2), padding=((1, 0), (0, 1)), dilation=2),
    Pool(name="pool", mode="avg", kernel_size=3, stride=2, padding=1),  # padding counted (PyTorch default)
    Pool(name="pool", mode="avg", kernel_size=(3, 2), stride=1),
    Pool(name="pool", mode="max", kernel_size=3, stride=2, ceil_mode=True),
]


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("pool", POOLS, ids=range(len(POOLS)))
def test_pooling(pool, config):
    run(Network("pool", (2, 5, 9, 8), [pool]), config)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_fc_and_global_pool_with_fused_relu(config):
    net = Network("head", (3, 7, 5, 4), [
        Conv(name="conv", in_channels=7, out_channels=9, kernel_size=1), Activation(name="relu"),
        GlobalAvgPool(name="gap"), Flatten(name="flat"), Linear(name="fc", in_features=9, out_features=11),
        Activation(name="relu6", function="relu6"), Linear(name="out", in_features=11, out_features=5),
    ])  # fmt: skip
    assert [plan.name for plan in run(net, config)] == ["conv", "gap", "fc", "out"]


def test_lenet5_end_to_end_is_exact_and_matches_sim_run():
    config = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)
    plans = run(get_network("lenet5"), config)
    assert sum(plan.cycles for plan in plans) == 42_795  # `sim run lenet5` with these flags: compute cycles
    assert max(len(plan.tiles) for plan in plans if plan.kind == "linear") > 1  # fc1's weights need 8 tiles


def test_a_batch_runs_as_whole_images_or_bands():
    config = AccelConfig(rows=4, cols=4, ifmap_kib=8, filter_kib=16, ofmap_kib=32)
    plans = run(get_network("lenet5").with_batch(3), config)
    assert {plan.name: len(plan.tiles) for plan in plans}["fc3"] == 1  # the 3 feature vectors stream as T = 3


@pytest.mark.parametrize("name", ["mobilenet_v1", "m5", "alexnet"])
def test_zoo_networks_are_exact_and_on_time(name):
    """Depthwise/pointwise stacks, a 1-D network and large strided kernels, thousands of tiles each."""
    config = AccelConfig(rows=8, cols=8, ifmap_kib=64, filter_kib=64, ofmap_kib=64)
    assert sum(len(plan.tiles) for plan in run(get_network(name), config)) > 100


def test_one_layer_of_a_network_runs_on_its_golden_input():
    config = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)
    (plan,) = run(get_network("lenet5"), config, "conv2")  # conv2 and its fused relu2, bit-exact and on time
    whole = compile_network(get_network("lenet5"), config).layers["conv2"]
    assert (plan.name, plan.fused, plan.cycles, len(plan.tiles)) == ("conv2", ["relu2"], whole.cycles, len(whole.tiles))
    with pytest.raises(ProgramError, match="'relu1' is not an accelerator layer of lenet5"):
        run(get_network("lenet5"), config, "relu1")


@pytest.mark.parametrize("layout", ["pixels", "planes"])
@pytest.mark.parametrize("seed", range(8))
def test_stepped_taps_equal_the_direct_formula(seed, layout):
    """The lane table stepped block by block (the tap generator's rule) gives the taps of every K
    index of random tiles, the lanes past K of the last partial block included."""
    rng = np.random.default_rng(seed)
    partial = 0
    for _ in range(50):
        (kh, kw), (dil_y, dil_x) = rng.integers(1, 6, 2), rng.integers(1, 4, 2)
        channels, rows, in_w, in_h = (int(v) for v in (rng.integers(1, 41), rng.integers(2, 9), *rng.integers(1, 30, 2)))
        pixel, plane = (channels, 1) if layout == "pixels" else (1, in_h * in_w)
        regs = tap_registers((int(kh), int(kw)), (int(dil_y), int(dil_x)), channels, rows, in_w * pixel, pixel, plane)
        k_total = channels * kh * kw
        inner = -(-k_total // rows)
        taps = block_taps(lane_table(regs, rows), {**regs, "INNER": inner})
        k = np.arange(inner * rows)
        c, ky, kx = k // (kh * kw), k // kw % kh, k % kw
        expected = {
            "kx": kx, "ky": ky, "c": c, "dx": kx * dil_x, "dy": ky * dil_y, "dxp": kx * dil_x * pixel,
            "dyw": ky * dil_y * in_w * pixel, "plane": c * plane, "valid": k < k_total,
        }  # fmt: skip
        for name, values in expected.items():
            assert np.array_equal(taps[name], values), (name, regs)
        partial += k_total % rows != 0
    assert partial > 10  # most tiles end with lanes past K


@pytest.mark.parametrize("seed", range(4))
def test_a_lane_table_from_the_middle_of_a_channel_steps_through_its_piece(seed):
    """A K tile that is a piece of one channel's window (whole R-tap blocks from tap ``first``):
    its lane table starts at that tap, and stepping gives the piece's taps; past the window
    (the last piece) the lanes are not valid."""
    rng = np.random.default_rng(seed)
    for _ in range(30):
        (kh, kw), (dil_y, dil_x) = rng.integers(2, 12, 2), rng.integers(1, 3, 2)
        rows, in_w = int(rng.integers(2, 9)), int(rng.integers(12, 40))
        window = int(kh * kw)
        first = rows * int(rng.integers(0, -(-window // rows)))
        kt = min(rows * int(rng.integers(1, 4)), window - first)
        regs = tap_registers((int(kh), int(kw)), (int(dil_y), int(dil_x)), 1, rows, in_w, 1, 1)
        inner = -(-kt // rows)
        taps = block_taps(lane_table(regs, rows, first), {**regs, "INNER": inner})
        k = first + np.arange(inner * rows)
        ky, kx = k // kw % kh, k % kw
        assert np.array_equal(taps["dx"], kx * dil_x) and np.array_equal(taps["dyw"], ky * dil_y * in_w)
        assert np.array_equal(taps["valid"], k < window)


@pytest.mark.parametrize("divisor, window", [(1, 1), (3, 3), (4, 4), (9, 9), (49, 49), (6, 9)])
def test_average_divide_is_exact_over_every_window_sum(divisor, window):
    offset, mult, shift = divide_constants(divisor, window, 8)
    sums = np.arange(-128 * window, 127 * window + 1)
    regs = {"OUT_MULT": mult, "OUT_SHIFT": shift, "OUT_ROUND": 0, "OUT_SUB": offset // divisor,
            "OUT_MIN": -(2**40), "OUT_MAX": 2**40}  # fmt: skip
    assert mult < 2**24
    assert np.array_equal(output_path(regs, sums, offset), np.floor_divide(sums, divisor))


@pytest.mark.parametrize(
    "layer, message",
    [
        (Conv(name="c3", in_channels=2, out_channels=2, kernel_size=(1, 1, 1)), "3-D windows are not supported"),
        (ConvTranspose(name="t", in_channels=2, out_channels=2, kernel_size=2, stride=2), "conv_transpose does not run"),
        (Activation(name="act"), "'act': activation runs on the vector unit"),
        (Pool(name="p", mode="avg", kernel_size=3, padding=1, count_include_pad=False), "divisor varies"),
    ],
)
def test_unsupported_layers_are_rejected_naming_the_layer(layer, message):
    shape = (1, 2, 4, 4, 4) if layer.name == "c3" else (1, 2, 6, 6)
    with pytest.raises(ProgramError, match=message):
        compile_network(Network("n", shape, [layer]), CONFIGS["4x4"])


def test_vector_layers_are_rejected():
    net = Network("n", (1, 2, 4, 4), [Conv(name="a", in_channels=2, out_channels=2, kernel_size=1),
                                      Add(name="add", inputs=("a", "input"))])  # fmt: skip
    with pytest.raises(ProgramError, match="'add': add runs on the vector unit"):
        compile_network(net, CONFIGS["4x4"])


def _lenet_conv1():
    config = CONFIGS["4x4"]
    program = compile_network(get_network("lenet5"), config)
    plan = program.layers["conv1"]
    return config, plan, plan.tiles[0]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"kernel": (40, 5)}, "kernel rows 40 .* larger than the padded input of 32 rows"),
        ({"pads": ((2, 2), (0, 0))}, "kernel columns 5 .* larger than the padded input of 28 columns"),
        # 2 KiB ifmap: 1,024 elements, 10-bit offsets; the padding makes the dilated kernel fit.
        ({"dilation": (1, 256), "pads": ((2, 2), (600, 600))}, "kernel columns offsets reach 1024 .* beyond the 1023 the tap generator holds; raise ifmap_kib"),
    ],
)
def test_bad_descriptors_are_rejected_before_running(change, message):
    from dataclasses import replace

    from rtl.accelerator_geometry import AcceleratorGeometry

    config, plan, tile = _lenet_conv1()
    with pytest.raises(ProgramError, match=message):
        check_tile("conv1", replace(plan.view, **change), tile, AcceleratorGeometry.from_config(config))


@pytest.mark.parametrize("register, value, message", [("T", 0, "T is 0"), ("OUTER", 10**6, "accumulator words")])
def test_descriptor_registers_are_checked(register, value, message):
    from dataclasses import replace

    from rtl.accelerator_geometry import AcceleratorGeometry

    config, plan, tile = _lenet_conv1()
    bad = replace(tile, regs={**tile.regs, register: value})
    with pytest.raises(ProgramError, match=message):
        check_tile("conv1", plan.view, bad, AcceleratorGeometry.from_config(config))


def test_layer_view_of_fc_is_a_column_of_features():
    net = Network("fc", (3, 10), [Linear(name="fc", in_features=10, out_features=4)])
    view = layer_view(next(iter(net)))
    assert (view.in_h, view.in_w, view.cin, view.nper, view.groups) == (3, 1, 10, 4, 1)


@pytest.mark.slow
def test_an_onnx_model_compiles_and_runs_exactly(tmp_path):
    pytest.importorskip("onnx")
    import subprocess
    import sys

    import onnx

    from tests.test_onnx_import import Graph, batchnorm, conv, gemm
    from workloads.sources import load_network

    g = Graph((1, 3, 12, 12))
    x = g.op("Relu", batchnorm(g, conv(g, "x", 3, 6, 3, pads=[1, 1, 1, 1]), 6))
    x = g.op("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2])
    x = gemm(g, g.op("Flatten", x), 6 * 6 * 6, 10)
    path = tmp_path / "small.onnx"
    onnx.save(g.model(x), path)
    network = load_network(str(path))
    assert [plan.kind for plan in run(network, CONFIGS["3x2"])] == ["conv", "pool", "linear"]
    out = tmp_path / "gen"
    result = subprocess.run([sys.executable, "-m", "sim", "gen", str(path), "-o", str(out), "--rows", "3", "--cols", "2"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    from rtl.host.generated_dir import load_generated

    assert [layer.plan.kind for layer in load_generated(out).image.layers] == ["conv", "pool", "linear"]


def test_a_band_of_padding_only_reads_nothing():
    # A band per output row (1 KiB ofmap): the first reads input row -2 only, the last row 8 only,
    # both pure padding: empty ifmap images.
    conv = Conv(name="conv", in_channels=6, out_channels=3, kernel_size=(1, 1), stride=(2, 1),
                padding=((2, 2), (2, 0)), dilation=(1, 2))  # fmt: skip
    config = AccelConfig(rows=5, cols=8, ifmap_kib=2, filter_kib=3, ofmap_kib=1)
    (plan,) = run(Network("pad", (1, 6, 8, 11), [conv]), config)
    assert [tile.out_rows for tile in plan.tiles if tile.in_rows[0] == tile.in_rows[1]] == [(0, 1), (5, 1)]


def test_wide_layers_fit_the_bias_memory_with_large_buffers():
    net = Network("wide", (1, 60), [Linear(name="fc", in_features=60, out_features=600)])
    run(net, AccelConfig(rows=4, cols=2, ifmap_kib=1024, filter_kib=1024, ofmap_kib=1024))


def test_layer_programs_are_int8():
    with pytest.raises(ProgramError, match="set input_bits = 8, weight_bits = 8 and acc_bits = 32"):
        compile_network(get_network("lenet5"), CONFIGS["4x4"].replace(input_bits=4))

