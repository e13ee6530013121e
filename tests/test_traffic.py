"""Traffic invariants and the report: DRAM vs compulsory, stalls, MappingError, SRAM counts, JSON."""

from __future__ import annotations

import json
import math
import re

import pytest

from accel.config import AccelConfig
from accel.system_timing import DRAIN, PRIME, WRITEBACK_DONE, WRITEBACK_REQUEST, descriptor_cycles
from accel.dram_layout import addend_image_bytes, weight_image_bytes
from accel.lowering import ArrayOp, lower_network
from accel.tiling import MappingError, compulsory_bytes, tile_grid
from sim.report import DRAM_FIELDS, SRAM_FIELDS
from sim.runner import simulate
from workloads.layers import Conv, ConvTranspose, Linear, Pool
from workloads.network import Network
from workloads.zoo import get_network

ZOO = ["lenet5", "alexnet", "vgg16", "resnet18", "mobilenet_v1", "m5"]
TIGHT = AccelConfig(rows=8, cols=16, dataflow="os", ifmap_kib=64, filter_kib=32, ofmap_kib=64, dram_bandwidth=8.0)
HUGE_KIB = 1 << 18  # 256 MiB per buffer: every zoo layer (VGG16's fc6 has 103 MB of weights) is one tile


def per_operand(network: Network, config: AccelConfig) -> list[tuple[str, dict, dict]]:
    """(layer, DRAM bytes moved per operand, compulsory bytes per operand) for every costed layer."""
    report = simulate(network, config, mode="analytic")
    ops = [op for _, op in lower_network(network) if op is not None]
    assert len(ops) == len(report.layers)
    rows = []
    for layer, op in zip(report.layers, ops):
        moved = {
            "ifmap": layer.dram["ifmap_read_bytes"],
            "filter": layer.dram["filter_read_bytes"],
            "ofmap": layer.dram["ofmap_write_bytes"],
        }
        need = compulsory_bytes(op, config)
        assert layer.dram["compulsory_bytes"] == sum(need.values())
        assert layer.dram["total_bytes"] == sum(moved.values())
        rows.append((layer.name, moved, need))
    return rows


# -- DRAM traffic vs compulsory --------------------------------------------------------------------


@pytest.mark.parametrize("config", [AccelConfig(), TIGHT], ids=["default", "tight"])
@pytest.mark.parametrize("name", ZOO)
def test_dram_traffic_at_least_compulsory(name, config):
    for layer, moved, need in per_operand(get_network(name), config):
        assert moved["ifmap"] >= need["ifmap"], (layer, moved, need)
        assert moved["filter"] >= need["filter"], (layer, moved, need)
        assert moved["ofmap"] == need["ofmap"], (layer, moved, need)  # every output is written exactly once


# Every input row is read by some window in these layers, so the whole ifmap must come from DRAM
# even when everything fits on chip (the windows of image 2 / depth slice 2 start again at row 0).
NEEDS_EVERY_ROW = [
    pytest.param(Network("b2", (2, 1, 5, 5), [Conv(name="c", in_channels=1, out_channels=2, kernel_size=3)]),
                 id="conv3x3-batch2"),
    pytest.param(Network("d3", (1, 2, 5, 5, 5), [Conv(name="c", in_channels=2, out_channels=3, kernel_size=(3, 3, 3))]),
                 id="conv3d-3x3x3"),
    pytest.param(Network("p3", (1, 1, 4, 4, 4), [Pool(name="p", mode="max", kernel_size=(2, 2, 2))]),
                 id="maxpool3d-2x2x2"),
]  # fmt: skip


@pytest.mark.parametrize("network", NEEDS_EVERY_ROW)
def test_whole_ifmap_is_fetched_when_every_row_is_read(network):
    for layer, moved, need in per_operand(network, AccelConfig()):
        assert moved["ifmap"] == need["ifmap"], (layer, moved, need)


@pytest.mark.parametrize("dataflow", ["os", "is"])
@pytest.mark.parametrize("name", ["lenet5", "alexnet", "vgg16", "mobilenet_v1"])
def test_dram_traffic_equals_compulsory_when_everything_fits(name, dataflow):
    # (resnet18 and m5 are left out: resnet18's 1x1 stride-2 shortcuts skip input rows and
    # columns, and m5's pooling windows end before its input rows do; a whole-row tile loads
    # those anyway; see test_dram_traffic_at_least_compulsory.)
    config = AccelConfig(ifmap_kib=HUGE_KIB, filter_kib=HUGE_KIB, ofmap_kib=HUGE_KIB, dataflow=dataflow)
    for layer, moved, need in per_operand(get_network(name), config):
        assert moved == need, (layer, moved, need)


@pytest.mark.parametrize("name", ["lenet5", "vgg16", "mobilenet_v1"])
def test_weight_stationary_fetches_each_weight_image_once_when_everything_fits(name):
    """WS moves the layer accelerator's weight images (accel/dram_layout.py): each pack of groups'
    R x C blocks, zeros included, and its row of addends per output block, once; activations
    move exactly as compulsory."""
    config = AccelConfig(rows=8, cols=8, ifmap_kib=HUGE_KIB, filter_kib=HUGE_KIB, ofmap_kib=HUGE_KIB)
    ops = {node.name: op for node, op in lower_network(get_network(name)) if op is not None}
    for layer, moved, need in per_operand(get_network(name), config):
        op = ops[layer]
        assert (moved["ifmap"], moved["ofmap"]) == (need["ifmap"], need["ofmap"]), layer
        if isinstance(op, ArrayOp):
            grid = tile_grid(op, config)
            assert len(grid.mi) == -(-op.groups // grid.pack)  # one tile per pack
            images = [weight_image_bytes(op.channels * int(g) * op.window, op.n * int(g), 8, 8, 1)
                      + addend_image_bytes(op.n * int(g), 8) for g in grid.gcount]  # fmt: skip
            assert moved["filter"] == sum(images), layer


def test_small_buffers_refetch_operands():
    conv = Conv(name="c", in_channels=64, out_channels=64, kernel_size=3, padding=1)
    net = Network("c", (1, 64, 28, 28), [conv])
    ((_, moved, need),) = per_operand(net, AccelConfig(rows=16, cols=16, ifmap_kib=4, filter_kib=4, ofmap_kib=4))
    assert sum(moved.values()) > 10 * sum(need.values())


# -- stalls ------------------------------------------------------------------------------------------

CONV_64 = Network("c", (1, 64, 28, 28), [Conv(name="c", in_channels=64, out_channels=64, kernel_size=3, padding=1)])


def only_layer(network, config, mode="cycle"):
    (layer,) = simulate(network, config, mode=mode).layers
    return layer


def test_starved_channel_stalls_and_bandwidth_or_buffers_relieve_it():
    base = AccelConfig(rows=16, cols=16, ifmap_kib=4, filter_kib=4, ofmap_kib=4, dram_bandwidth=1.0, dram_latency=50)
    starved = only_layer(CONV_64, base)
    assert starved.stall_cycles > 5 * starved.compute_cycles  # 4 KiB banks re-fetch the weights per band
    assert starved.cycles == starved.compute_cycles + starved.stall_cycles

    wide = only_layer(CONV_64, base.replace(dram_bandwidth=64.0))
    assert wide.compute_cycles == starved.compute_cycles
    # What remains: the system's fixed delays (9 cycles a tile), the program's fetch, the first fetch
    # and the last writeback of each program segment.
    assert wide.stall_cycles < starved.stall_cycles / 50

    big = only_layer(CONV_64, base.replace(ifmap_kib=64, filter_kib=64, ofmap_kib=64))
    assert big.dram["total_bytes"] < starved.dram["total_bytes"] / 5
    assert big.stall_cycles < starved.stall_cycles / 10


def test_an_ideal_channel_leaves_only_the_fixed_delays():
    """Infinite bandwidth, no latency: a layer's stalls are the system's fixed delays alone
    (accel/system_timing.py): 16 cycles of program fetch, the first descriptor (81 - 1 + 6 on a
    32x32 array), 11 cycles a tile (5 to stage its results, 6 to settle on the next descriptor
    and start) and the last writeback's 7; every LeNet-5 layer is one segment of compute-bound
    tiles."""
    config = AccelConfig(dram_bandwidth=math.inf, dram_latency=0)
    assert (config.rows, descriptor_cycles(config.rows, 16)) == (32, 3 + -(-(53 + 8 * 32) * 4 // 16))
    for layer in simulate(get_network("lenet5"), config).layers:
        per_tile = DRAIN + PRIME
        fixed = 16 + descriptor_cycles(32, 16) - 1 + PRIME + per_tile * layer.tiles - PRIME + WRITEBACK_REQUEST + WRITEBACK_DONE
        assert layer.stall_cycles == fixed and layer.cycles == layer.compute_cycles + fixed, layer.name
        assert (layer.dram_stall_cycles, layer.overhead_cycles) == (0, fixed), layer.name


@pytest.mark.parametrize("mode", ["analytic", "cycle"])
def test_stall_splits_into_what_an_ideal_dram_saves_and_the_fixed_delays(mode):
    """``dram_stall_cycles`` is the difference to the same network on an ideal DRAM (whose
    stalls are ``overhead_cycles`` alone), layer by layer and in total."""
    network = get_network("alexnet")
    report = simulate(network, TIGHT, mode=mode)
    ideal = simulate(network, TIGHT.replace(dram_bandwidth=math.inf, dram_latency=0), mode=mode)
    for layer, free in zip(report.layers, ideal.layers):
        assert layer.dram_stall_cycles == layer.cycles - free.cycles >= 0, layer.name
        assert layer.overhead_cycles == free.stall_cycles == free.overhead_cycles, layer.name
        assert layer.stall_cycles == layer.dram_stall_cycles + layer.overhead_cycles
    assert report.total["dram_stall_cycles"] == report.total["cycles"] - ideal.total["cycles"] > 0
    assert report.total["overhead_cycles"] == ideal.total["stall_cycles"] > 0


# -- MappingError ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "net, buffer, kib",
    [("vgg16", "filter", 3), ("m5", "filter", 3)],
)
def test_too_small_buffer_names_buffer_and_size_and_that_size_maps(net, buffer, kib):
    network = get_network(net)
    first = network.nodes[0]  # the first conv is the layer that does not fit
    with pytest.raises(MappingError) as err:
        simulate(network, AccelConfig(**{f"{buffer}_kib": 1}))
    message = str(err.value)
    assert re.fullmatch(
        rf"layer '{first.name}': the {buffer} buffer is too small: the smallest tile needs [\d,]+ bytes per bank; "
        rf"set {buffer}_kib >= {kib}",
        message,
    ), message
    alone = Network(net, network.input_shape, [first.layer])
    assert only_layer(alone, AccelConfig(**{f"{buffer}_kib": kib}), mode="analytic").cycles > 0
    with pytest.raises(MappingError):
        only_layer(alone, AccelConfig(**{f"{buffer}_kib": kib - 1}), mode="analytic")


@pytest.mark.parametrize("net", ["vgg16", "m5"])
def test_the_smallest_accumulator_buffer_maps_every_layer_in_row_segments(net):
    """One output row no longer needs to fit: with 512 B accumulator banks every layer runs, and
    still writes each output once."""
    network, config = get_network(net), AccelConfig(ofmap_kib=1)
    report = simulate(network, config, mode="analytic")
    assert report.total["cycles"] > 0
    assert report.total["dram"]["ofmap_write_bytes"] == sum(
        compulsory_bytes(op, config)["ofmap"] for _, op in lower_network(network) if op is not None
    )


# -- SRAM accesses of hand-worked tiles ------------------------------------------------------------
#
# One tile, elements (not bytes). The stationary operand is read once; a streaming input is read
# once per block of the array dim it is not indexed by; partial sums are written once per block of
# K rows (WS, IS) or once in all (OS). ofmap_reads = writes - M*N (first writes read nothing)
# + M*N (final values read for the writeback). *_writes of the input buffers = words fetched.
#
# GEMM M=4, K=3, N=2 on 2x2:
#   WS (K rows, N cols): filter 3*2 = 6; ifmap 4*3 * ceil(2/2) = 12; ofmap 4*2 * ceil(3/2) = 16
#   OS (M rows, N cols): ofmap 8;        ifmap 12 * ceil(2/2) = 12;  filter 6 * ceil(4/2) = 12
#   IS (K rows, M cols): ifmap 12;       filter 6 * ceil(4/2) = 12;  ofmap 8 * ceil(3/2) = 16
# GEMM M=5, K=7, N=6 on 3x4:
#   WS: filter 42; ifmap 35 * ceil(6/4) = 70;  ofmap 30 * ceil(7/3) = 90
#   OS: ofmap 30;  ifmap 35 * ceil(6/4) = 70;  filter 42 * ceil(5/3) = 84
#   IS: ifmap 35;  filter 42 * ceil(5/4) = 84; ofmap 30 * ceil(7/3) = 90
SRAM_CASES = [
    ((4, 3, 2), (2, 2), "ws", 12, 6, 16, 16),
    ((4, 3, 2), (2, 2), "os", 12, 12, 8, 8),
    ((4, 3, 2), (2, 2), "is", 12, 12, 16, 16),
    ((5, 7, 6), (3, 4), "ws", 70, 42, 90, 90),
    ((5, 7, 6), (3, 4), "os", 70, 84, 30, 30),
    ((5, 7, 6), (3, 4), "is", 35, 84, 90, 90),
]


@pytest.mark.parametrize("mkn, array, dataflow, ifmap_r, filter_r, ofmap_w, ofmap_r", SRAM_CASES)
def test_sram_accesses_of_one_tile(mkn, array, dataflow, ifmap_r, filter_r, ofmap_w, ofmap_r):
    m, k, n = mkn
    net = Network("g", (m, k), [Linear(name="fc", in_features=k, out_features=n, bias=False)])
    layer = only_layer(net, AccelConfig(rows=array[0], cols=array[1], dataflow=dataflow), mode="analytic")
    # WS writes the weight image (K padded to R rows, N to C lanes) and a row of addends per block.
    rows, cols = array
    blocks = -(-k // rows) * rows * -(-n // cols) * cols + -(-n // cols) * cols
    assert layer.sram == {
        "ifmap_reads": ifmap_r, "ifmap_writes": m * k, "filter_reads": filter_r,
        "filter_writes": blocks if dataflow == "ws" else k * n, "ofmap_reads": ofmap_r, "ofmap_writes": ofmap_w,
    }  # fmt: skip


# -- utilization -------------------------------------------------------------------------------------


ODD_LAYERS = Network(
    "odd",
    (2, 3, 9, 7),
    [
        Conv(name="c", in_channels=3, out_channels=6, kernel_size=(3, 2), stride=2, padding=((1, 0), (2, 1))),
        Pool(name="p", mode="avg", kernel_size=3, stride=2, padding=1, ceil_mode=True),
        ConvTranspose(name="t", in_channels=6, out_channels=4, kernel_size=3, stride=2, output_padding=1, groups=2),
        Conv(name="dw", in_channels=4, out_channels=4, kernel_size=3, padding="same", groups=4),
    ],
)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("name", ["odd", *ZOO])
def test_utilization_and_mapping_efficiency_at_most_one(name, dataflow):
    network = ODD_LAYERS if name == "odd" else get_network(name)
    report = simulate(network, AccelConfig(rows=8, cols=8, dataflow=dataflow), mode="analytic")
    for layer in report.layers:
        assert 0 <= layer.utilization <= layer.mapping_efficiency <= 1, layer.name
        if layer.folds:  # a layer on the array does useful work
            assert layer.utilization > 0, layer.name
    assert 0 < report.total["utilization"] <= 1


# -- the report as JSON ------------------------------------------------------------------------------


def test_json_report_structure_and_totals():
    network = get_network("resnet18")
    report = simulate(network, AccelConfig(rows=16, cols=16), mode="analytic")
    data = json.loads(json.dumps(report.to_dict()))
    assert {"network", "config", "layers", "total"} <= set(data)
    assert data["network"] == "resnet18" and data["config"] == AccelConfig(rows=16, cols=16).to_dict()
    for row in data["layers"]:
        keys = {"name", "type", "macs", "cycles", "compute_cycles", "stall_cycles", "dram_stall_cycles",
                "overhead_cycles", "utilization", "sram", "dram"}
        assert keys <= set(row)
        assert set(row["sram"]) == set(SRAM_FIELDS)
        assert set(DRAM_FIELDS) <= set(row["dram"])
        assert row["cycles"] == row["compute_cycles"] + row["stall_cycles"]
    total = data["total"]
    assert total["cycles"] == sum(row["cycles"] for row in data["layers"])
    assert total["macs"] == network.macs
    for key in ("stall_cycles", "dram_stall_cycles", "overhead_cycles"):
        assert total[key] == sum(row[key] for row in data["layers"])
    for key in SRAM_FIELDS:
        assert total["sram"][key] == sum(row["sram"][key] for row in data["layers"])
    for key in DRAM_FIELDS:
        assert total["dram"][key] == sum(row["dram"][key] for row in data["layers"])
    assert total["latency_ms"] == pytest.approx(total["cycles"] / (400.0 * 1e3))
    # Layers fused into the previous layer's output path (ReLU, BatchNorm) or pure layout changes
    # (Flatten) have no row; every other layer has exactly one, in execution order.
    names = [row["name"] for row in data["layers"]]
    assert names == [n.name for n, op in lower_network(network) if op is not None]
