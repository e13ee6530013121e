"""The lower bound on DRAM traffic (accel/traffic_bound.py): its parts by hand, and no schedule
the simulator runs moves fewer bytes than it on any zoo network and buffer size."""

from __future__ import annotations

import pytest

from accel.config import AccelConfig
from accel.lowering import lower_network
from accel.traffic_bound import axis_pairs, hong_kung_bytes, operand_product, real_macs
from sim.runner import simulate
from workloads.zoo import get_network


def test_axis_pairs_count_the_taps_on_real_inputs():
    # 3 taps, stride 1, pad 1 over 4 inputs: outputs 0 and 3 have a tap in the padding.
    assert axis_pairs(4, 4, 3, 1, 1, 1, 1) == (2 + 3 + 3 + 2, 3)
    # AlexNet's conv1 along one axis: 11 taps at stride 4 read an input position at most 3 times.
    assert axis_pairs(55, 227, 11, 4, 1, 0, 1) == (55 * 11, 3)
    # Dilation 2: taps 0, 2, 4 over 5 inputs, one output.
    assert axis_pairs(1, 5, 3, 1, 2, 0, 1) == (3, 1)
    # A zero between 2 inputs (transposed conv, stride 2; positions 0 and 2 real): windows
    # -1..1, 0..2 and 1..3 read 1, 2 and 1 real positions, each position twice.
    assert axis_pairs(3, 2, 3, 1, 1, 1, 2) == (4, 2)


def test_real_macs_leave_out_the_padding():
    nodes = {node.name: (node, op) for node, op in lower_network(get_network("vgg16")) if op is not None}
    node, op = nodes["conv3_2"]  # 3x3, pad 1 over 56x56: 54 + 2 * 2 / 3 of the taps per axis
    assert real_macs(node, op) == ((56 * 3 - 2) ** 2 * 256 * 256, 9)
    assert real_macs(node, op)[0] < node.macs
    node, op = nodes["fc6"]
    assert real_macs(node, op) == (node.macs, 1)
    node, op = nodes["pool1"]
    assert real_macs(node, op) == (0, 0)  # no weights: the compulsory bytes are the bound


def test_operand_product_balances_the_reads():
    assert operand_product(10, 10, 4) == 12 * 12
    assert operand_product(100, 10, 4) == 100 * 14  # the smaller side takes every read
    assert operand_product(10, 13, 5) == 14 * 14


def test_the_bound_grows_as_the_buffers_shrink():
    macs = 10**9
    bounds = [hong_kung_bytes(macs, 9, kib * 1024, kib * 1024, kib * 256, 1, 1) for kib in (4, 16, 64, 256)]
    assert bounds == sorted(bounds, reverse=True) and bounds[0] > 4 * bounds[2] > 0
    assert hong_kung_bytes(0, 9, 1024, 1024, 256, 1, 1) == 0


@pytest.mark.parametrize(
    "net, config",
    [
        ("lenet5", AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=4, ofmap_kib=4)),
        ("alexnet", AccelConfig(rows=16, cols=16, ifmap_kib=8, filter_kib=8, ofmap_kib=8, dataflow="os")),
        ("vgg16", AccelConfig()),
        ("vgg16", AccelConfig(ifmap_kib=8, filter_kib=8, ofmap_kib=8)),
        ("resnet18", AccelConfig(rows=8, cols=8, ifmap_kib=8, filter_kib=16, ofmap_kib=8, dataflow="is")),
        ("mobilenet_v1", AccelConfig(rows=16, cols=16, ifmap_kib=16, filter_kib=8, ofmap_kib=8)),
    ],
)
def test_no_schedule_moves_fewer_bytes_than_the_bound(net, config):
    report = simulate(get_network(net), config, mode="analytic")
    for layer in report.layers:
        dram = layer.dram
        assert dram["compulsory_bytes"] <= dram["lower_bound_bytes"] <= dram["total_bytes"], layer.name
    total = report.total["dram"]
    assert total["lower_bound_bytes"] == sum(layer.dram["lower_bound_bytes"] for layer in report.layers)


def test_the_bound_bites_at_small_buffers_only():
    small = simulate(get_network("vgg16"), AccelConfig(ifmap_kib=8, filter_kib=8, ofmap_kib=8), mode="analytic")
    layers = {layer.name: layer.dram for layer in small.layers}
    assert layers["conv3_2"]["lower_bound_bytes"] == 4_054_750
    assert layers["conv3_2"]["compulsory_bytes"] == 2_196_480
    default = simulate(get_network("vgg16"), AccelConfig(), mode="analytic")
    assert all(layer.dram["lower_bound_bytes"] == layer.dram["compulsory_bytes"] for layer in default.layers)
