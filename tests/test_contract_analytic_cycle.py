"""The analytic closed form equals the cycle-level engine exactly, for every layer and config.

Every field of every LayerReport (cycles, compute, stalls, DRAM, SRAM, utilization, ...) must be
identical between ``mode='analytic'`` and ``mode='cycle'``. Hypothesis draws random layers of every
type the lowering knows and random accelerator configs (non-square arrays, tiny buffers, starved
or ideal DRAM channels, long latencies); the zoo is checked at a few fixed configs.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accel.config import BUFFERINGS, AccelConfig
from accel.tiling import MappingError
from sim.runner import simulate
from workloads.errors import WorkloadError
from workloads.layers import (
    Activation,
    Add,
    Conv,
    ConvTranspose,
    GlobalAvgPool,
    Linear,
    LocalResponseNorm,
    Pool,
    Upsample,
)
from workloads.network import Network
from workloads.zoo import get_network

INF = float("inf")
BUFFERS = ("ifmap", "filter", "ofmap")


# -- random layers ------------------------------------------------------------------------------


@st.composite
def conv_networks(draw):
    ndim = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4 if ndim < 3 else 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    # Input at least one dilated window wide so some padding choice always gives an output.
    limit = 9 if ndim < 3 else 5
    spatial = tuple(d * (k - 1) + 1 + draw(st.integers(0, limit)) for k, d in zip(kernel, dilation))
    if draw(st.booleans()):  # depthwise (multiplier 1 or 2)
        groups = draw(st.integers(1, 6))
        cin, cout = groups, groups * draw(st.integers(1, 2))
    else:
        groups = draw(st.integers(1, 3))
        cin, cout = groups * draw(st.integers(1, 5)), groups * draw(st.integers(1, 6))
    padding = draw(
        st.one_of(
            st.integers(0, 2),
            st.just("same"),
            st.just("valid"),
            st.tuples(*[st.tuples(st.integers(0, 2), st.integers(0, 2)) for _ in range(ndim)]),
        )
    )
    layer = Conv(
        name="conv", in_channels=cin, out_channels=cout, kernel_size=kernel, stride=stride, padding=padding,
        padding_mode=draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])), dilation=dilation,
        groups=groups, bias=draw(st.booleans()),
    )  # fmt: skip
    return draw(st.integers(1, 3)), (cin, *spatial), [layer]


@st.composite
def conv_transpose_networks(draw):
    ndim = draw(st.integers(1, 2))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    groups = draw(st.integers(1, 2))
    layer = ConvTranspose(
        name="deconv", in_channels=groups * draw(st.integers(1, 4)), out_channels=groups * draw(st.integers(1, 4)),
        kernel_size=kernel, stride=stride, padding=tuple(draw(st.integers(0, 1)) for _ in range(ndim)),
        output_padding=tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)),
        dilation=dilation, groups=groups, bias=draw(st.booleans()),
    )  # fmt: skip
    spatial = tuple(draw(st.integers(1, 7)) for _ in range(ndim))
    return draw(st.integers(1, 3)), (layer.in_channels, *spatial), [layer]


@st.composite
def pool_networks(draw):
    ndim = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["max", "avg"]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim)) if mode == "max" else (1,) * ndim
    spatial = tuple(d * (k - 1) + 1 + draw(st.integers(0, 8 if ndim < 3 else 4)) for k, d in zip(kernel, dilation))
    layer = Pool(
        name="pool", mode=mode, kernel_size=kernel, stride=tuple(draw(st.integers(1, 3)) for _ in range(ndim)),
        padding=tuple(draw(st.integers(0, k // 2)) for k in kernel), dilation=dilation,
        ceil_mode=draw(st.booleans()),
    )  # fmt: skip
    return draw(st.integers(1, 3)), (draw(st.integers(1, 6)), *spatial), [layer]


@st.composite
def other_networks(draw):
    batch = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["fc", "gap", "add", "lrn", "relu", "upsample"]))
    if kind == "fc":
        features = draw(st.integers(1, 70))
        layer = Linear(name="fc", in_features=features, out_features=draw(st.integers(1, 40)), bias=draw(st.booleans()))
        return batch, (features,), [layer]
    shape = (draw(st.integers(1, 8)), *(draw(st.integers(1, 9)) for _ in range(draw(st.integers(1, 2)))))
    layer = {
        "gap": lambda: GlobalAvgPool(name="gap"),
        "add": lambda: Add(name="add", inputs=("input", "input")),
        "lrn": lambda: LocalResponseNorm(name="lrn", size=draw(st.integers(1, 5))),
        "relu": lambda: Activation(name="relu"),
        "upsample": lambda: Upsample(name="up", scale_factor=2),
    }[kind]()
    return batch, shape, [layer]


@st.composite
def wide_conv_networks(draw):
    """Channel-heavy 2-D convs and FCs that tiny buffers split into many tiles."""
    batch = draw(st.integers(1, 2))
    if draw(st.booleans()):
        features = draw(st.integers(64, 1500))
        return batch, (features,), [Linear(name="fc", in_features=features, out_features=draw(st.integers(8, 300)))]
    k, groups = draw(st.integers(1, 3)), draw(st.sampled_from([1, 2]))
    layer = Conv(
        name="conv", in_channels=groups * draw(st.integers(4, 32)), out_channels=groups * draw(st.integers(4, 48)),
        kernel_size=k, stride=draw(st.integers(1, 2)), padding=k // 2, groups=groups,
    )  # fmt: skip
    return batch, (layer.in_channels, draw(st.integers(k, 20)), draw(st.integers(k, 20))), [layer]


layers = st.one_of(conv_networks(), conv_transpose_networks(), pool_networks(), other_networks(), wide_conv_networks())


kib = st.one_of(st.integers(1, 4), st.integers(1, 64))  # tiny buffers often, so layers split into tiles


@st.composite
def configs(draw):
    bandwidth = draw(
        st.one_of(
            st.just(INF),
            st.integers(1, 64).map(float),
            st.floats(0.5, 64.0, allow_nan=False).map(lambda b: round(b, 3)),
        )
    )
    return AccelConfig(
        rows=draw(st.integers(1, 16)), cols=draw(st.integers(1, 16)),
        dataflow=draw(st.sampled_from(["ws", "os", "is"])),
        ifmap_kib=draw(kib), filter_kib=draw(kib), ofmap_kib=draw(kib), buffering=draw(st.sampled_from(BUFFERINGS)),
        dram_bandwidth=bandwidth, dram_latency=draw(st.integers(0, 200)),
    )  # fmt: skip


# -- the contract -------------------------------------------------------------------------------


def assert_modes_agree(network: Network, config: AccelConfig) -> None:
    analytic = simulate(network, config, mode="analytic")
    cycle = simulate(network, config, mode="cycle")
    assert len(analytic.layers) == len(cycle.layers) > 0
    for a, c in zip(analytic.layers, cycle.layers):
        assert a.to_dict() == c.to_dict(), f"layer {a.name} differs on {config}"
    assert analytic.total == cycle.total


@settings(max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers, config=configs())
@pytest.mark.slow
def test_analytic_equals_cycle_on_random_layers(layer, config):
    batch, shape, layer_list = layer
    try:
        network = Network("random", (batch, *shape), layer_list)
    except WorkloadError:
        assume(False)  # e.g. reflect padding wider than the input
    try:
        assert_modes_agree(network, config)
    except MappingError as err:
        # Only tiny buffers may refuse a layer, and the message must say which buffer to enlarge.
        assert any(f"{b}_kib" in str(err) for b in BUFFERS), str(err)
        assume(False)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(layer=layers, config=configs())
def test_analytic_equals_cycle_with_roomy_buffers(layer, config):
    """Same contract where every layer maps: buffers large enough, everything else random."""
    batch, shape, layer_list = layer
    try:
        network = Network("random", (batch, *shape), layer_list)
    except WorkloadError:
        assume(False)
    assert_modes_agree(network, config.replace(ifmap_kib=256, filter_kib=256, ofmap_kib=256))


ZOO_CONFIGS = [
    pytest.param(AccelConfig(), id="default-32x32-ws"),
    pytest.param(AccelConfig(buffering="whole"), id="default-32x32-ws-whole"),
    pytest.param(
        AccelConfig(rows=8, cols=16, dataflow="os", ifmap_kib=64, filter_kib=48, ofmap_kib=64, dram_bandwidth=4.5,
                    dram_latency=37),
        id="8x16-os-starved",
    ),  # fmt: skip
    pytest.param(
        AccelConfig(rows=12, cols=6, dataflow="is", ifmap_kib=128, filter_kib=64, ofmap_kib=64, dram_bandwidth=INF,
                    dram_latency=0),
        id="12x6-is-ideal",
    ),  # fmt: skip
]


@pytest.mark.parametrize("config", ZOO_CONFIGS)
@pytest.mark.parametrize("name", ["lenet5", "alexnet", "vgg16", "resnet18", "mobilenet_v1", "m5"])
def test_analytic_equals_cycle_on_zoo(name, config):
    assert_modes_agree(get_network(name), config)


def test_random_configs_include_starved_and_ideal_channels():
    """The strategy really reaches the corners the contract is about."""
    seen = set()

    @settings(max_examples=200, derandomize=True, database=None)
    @given(configs())
    def collect(cfg):
        seen.add("inf" if math.isinf(cfg.dram_bandwidth) else "fractional" if cfg.dram_bandwidth % 1 else "integer")
        seen.add("1-row" if cfg.rows == 1 else "rows")
        seen.add("non-square" if cfg.rows != cfg.cols else "square")

    collect()
    assert {"inf", "fractional", "integer", "1-row", "non-square"} <= seen
