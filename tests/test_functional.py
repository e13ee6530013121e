"""Values moved through the simulated PEs equal the golden model, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from accel.config import AccelConfig
from accel.pe_semantics import wrap
from sim.functional import MAC, MAX, FunctionalRun, array_gemm
from sim.runner import simulate
from workloads.forward import forward
from workloads.layers import Activation, Add, Concat, Conv, ConvTranspose, Flatten, GlobalAvgPool, Linear, Pool
from workloads.network import Network
from workloads.zoo import get_network

DATAFLOWS = ("ws", "os", "is")
ARRAYS = ((1, 1), (2, 3), (4, 4), (3, 2))


def _naive_masked_max(a, mask, valid, floor):
    m, k = a.shape
    out = np.full((m, mask.shape[1]), floor, dtype=np.int64)
    for i in range(m):
        for j in range(mask.shape[1]):
            for kk in range(k):
                if mask[kk, j] and valid[i, kk]:
                    out[i, j] = max(out[i, j], a[i, kk])
    return out


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("rows, cols", ARRAYS)
def test_array_gemm_mac_and_max(dataflow, rows, cols):
    rng = np.random.default_rng(rows * 10 + cols)
    cfg = AccelConfig(rows=rows, cols=cols, dataflow=dataflow)
    for m, k, n in ((1, 1, 1), (7, 5, 6), (9, 13, 4)):
        a = rng.integers(-128, 128, (m, k))
        b = rng.integers(-128, 128, (k, n))
        assert np.array_equal(array_gemm(a, b, np.ones((m, k), bool), cfg, MAC), a @ b)
        mask = rng.integers(0, 2, (k, n))
        valid = rng.random((m, k)) < 0.8
        floor = -(2**31)
        assert np.array_equal(array_gemm(a, mask, valid, cfg, MAX), _naive_masked_max(a, mask, valid, floor))


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_extreme_values_long_reduction(dataflow):
    # -128 * -128 = 16384 accumulated 1000 times = 16,384,000: fits int32, exercises the full range.
    cfg = AccelConfig(rows=4, cols=3, dataflow=dataflow)
    a = np.full((5, 1000), -128)
    b = np.full((1000, 4), -128)
    out = array_gemm(a, b, np.ones(a.shape, bool), cfg, MAC)
    assert np.all(out == 16_384_000)


def _wrapped(value: int, bits: int) -> int:
    """``value`` in signed ``bits``-bit two's complement, in Python's unbounded integers."""
    half = 1 << (bits - 1)
    return (value + half) % (1 << bits) - half


def test_wrap_matches_twos_complement_up_to_64_bits():
    rng = np.random.default_rng(7)
    edges = [0, 1, -1, 127, 128, -129, 2**31, -(2**31) - 1, 2**62, -(2**62) - 1, 2**63 - 1, -(2**63)]
    values = np.concatenate([rng.integers(-(2**63), 2**63 - 1, 500, dtype=np.int64), np.array(edges, np.int64)])
    for bits in (2, 8, 16, 32, 33, 62, 63, 64):
        assert wrap(values, bits).tolist() == [_wrapped(int(v), bits) for v in values], bits


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("bits", [63, 64])
def test_wide_accumulators_wrap_like_the_hardware(dataflow, bits):
    """Sums past int64 wrap modulo 2**64 in the PEs, so they reduce exactly to 63 or 64 bits."""
    cfg = AccelConfig(rows=3, cols=2, dataflow=dataflow, acc_bits=bits)
    rng = np.random.default_rng(bits)
    a = rng.integers(2**40, 2**41, (4, 7))
    b = rng.integers(-(2**41), 2**41, (7, 3))
    exact = [[sum(int(a[i, k]) * int(b[k, j]) for k in range(7)) for j in range(3)] for i in range(4)]
    out = wrap(array_gemm(a, b, np.ones(a.shape, bool), cfg, MAC), bits)
    assert out.tolist() == [[_wrapped(v, bits) for v in row] for row in exact]


@pytest.mark.parametrize("bits", [63, 64])
def test_lenet5_with_wide_accumulators_matches_golden(bits):
    network = get_network("lenet5")
    cfg = AccelConfig(rows=4, cols=4, acc_bits=bits)
    report = simulate(network, cfg, mode="functional")
    run = FunctionalRun(network, cfg)
    golden = forward(network, run.params, run.input)
    for layer in report.layers:
        assert np.array_equal(layer.outputs, golden[layer.name]), layer.name


def _single(layer, shape) -> Network:
    return Network("one", shape, [layer])


LAYERS = [
    (Conv(name="c", in_channels=3, out_channels=5, kernel_size=3, stride=2, padding=1), (1, 3, 9, 8)),
    (Conv(name="c", in_channels=2, out_channels=4, kernel_size=(2, 3), padding=((0, 1), (2, 1)), dilation=(2, 1)), (2, 2, 7, 6)),
    (Conv(name="c", in_channels=2, out_channels=3, kernel_size=3, padding=2, padding_mode="reflect"), (1, 2, 5, 6)),
    (Conv(name="c", in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode="replicate", stride=3), (1, 2, 7, 7)),
    (Conv(name="c", in_channels=2, out_channels=2, kernel_size=3, padding=(1, 2), padding_mode="circular"), (1, 2, 5, 5)),
    (Conv(name="c", in_channels=4, out_channels=4, kernel_size=3, padding="same", groups=4), (1, 4, 6, 6)),
    (Conv(name="c", in_channels=4, out_channels=6, kernel_size=1, groups=2, bias=False), (1, 4, 5, 3)),
    (Conv(name="c", in_channels=3, out_channels=2, kernel_size=3, flip_kernel=True, padding="same", stride=2), (1, 3, 7, 6)),
    (Conv(name="c", in_channels=2, out_channels=3, kernel_size=(5,), stride=2, padding=(3,), dilation=(2,)), (2, 2, 17)),
    (Conv(name="c", in_channels=2, out_channels=2, kernel_size=(2, 3, 2), padding=1), (1, 2, 3, 4, 4)),
    (ConvTranspose(name="c", in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1, output_padding=1), (1, 3, 4, 3)),
    (ConvTranspose(name="c", in_channels=4, out_channels=2, kernel_size=2, stride=2, groups=2), (1, 4, 3, 3)),
    (Pool(name="p", mode="max", kernel_size=3, stride=2, padding=1), (1, 3, 7, 6)),
    (Pool(name="p", mode="max", kernel_size=2, ceil_mode=True, dilation=1), (1, 2, 5, 5)),
    (Pool(name="p", mode="avg", kernel_size=3, stride=2, padding=1, ceil_mode=True), (1, 3, 6, 7)),
    (Pool(name="p", mode="avg", kernel_size=3, stride=2, padding=1, count_include_pad=False), (1, 3, 6, 7)),
    (GlobalAvgPool(name="g"), (2, 3, 4, 5)),
]


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("layer, shape", LAYERS, ids=lambda v: getattr(v, "kind", None) and repr(v)[:60])
def test_layer_matches_golden(layer, shape, dataflow):
    network = _single(layer, shape)
    cfg = AccelConfig(rows=3, cols=4, dataflow=dataflow)
    report = simulate(network, cfg, mode="functional")
    run = FunctionalRun(network, cfg)
    golden = forward(network, run.params, run.input)
    assert np.array_equal(report.layers[0].outputs, golden[layer.name])
    assert report.layers[0].outputs.dtype == np.int8


def test_fc_and_dag():
    network = Network(
        "dag",
        (2, 4, 6, 6),
        [
            Conv(name="a", in_channels=4, out_channels=4, kernel_size=3, padding=1),
            Activation(name="ra"),
            Conv(name="b", in_channels=4, out_channels=4, kernel_size=1, inputs=("input",)),
            Add(name="sum", inputs=("ra", "b")),
            Concat(name="cat", inputs=("sum", "a")),
            Flatten(name="flat"),
            Linear(name="fc", in_features=8 * 36, out_features=10),
        ],
    )
    for dataflow in DATAFLOWS:
        cfg = AccelConfig(rows=4, cols=2, dataflow=dataflow)
        report = simulate(network, cfg, mode="functional")
        run = FunctionalRun(network, cfg)
        golden = forward(network, run.params, run.input)
        for layer in report.layers:
            assert np.array_equal(layer.outputs, golden[layer.name]), layer.name


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("rows, cols", [(4, 4), (5, 3)])
def test_lenet5_end_to_end(dataflow, rows, cols):
    network = get_network("lenet5")
    cfg = AccelConfig(rows=rows, cols=cols, dataflow=dataflow)
    report = simulate(network, cfg, mode="functional")
    run = FunctionalRun(network, cfg)
    golden = forward(network, run.params, run.input)
    logits = report.layers[-1].outputs
    assert logits.shape == (1, 10) and logits.dtype == np.int8
    assert np.array_equal(logits, golden["fc3"])
    # The functional mode times the run with the cycle engine: same numbers as cycle mode.
    assert report.total == simulate(network, cfg, mode="cycle").total


@pytest.mark.slow
def test_mobilenet_and_resnet_end_to_end():
    for name in ("mobilenet_v1", "resnet18"):
        network = get_network(name)
        cfg = AccelConfig(rows=8, cols=8, dataflow="os")
        report = simulate(network, cfg, mode="functional")
        run = FunctionalRun(network, cfg)
        golden = forward(network, run.params, run.input)
        assert np.array_equal(report.layers[-1].outputs, golden[network.nodes[-1].name])
