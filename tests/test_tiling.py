"""Tiling: tile choice under double-buffered SRAM banks, the TileSchedule arrays, MappingError,
compulsory traffic and the DRAM transfer time of a request."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.analytic import kernel_bandwidth
from accel.config import AccelConfig
from accel.lowering import ArrayOp, lower_network
from accel.analytic import transfer_cycles
from accel.dse import Workload
from accel.dse_kernel import evaluate_ops
from accel.tiling import MappingError, TileSchedule, compulsory_bytes, element_bytes, schedule, tile_grid
from workloads.layers import Add, Conv, GlobalAvgPool, Linear, Pool
from workloads.network import Network
from workloads.zoo import get_network


def only_op(network: Network):
    (op,) = [op for _, op in lower_network(network) if op is not None]
    return op


def fc(m: int, k: int, n: int, bias: bool = False) -> Network:
    return Network("fc", (m, k), [Linear(name="fc", in_features=k, out_features=n, bias=bias)])


# -- the schedule arrays ---------------------------------------------------------------------------


def test_layer_that_fits_is_one_tile():
    conv = Conv(name="c", in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1)
    sched = schedule(only_op(Network("c", (1, 2, 5, 5), [conv])), AccelConfig(rows=3, cols=4))
    assert isinstance(sched, TileSchedule) and sched.count == 1
    for name in ("load_ifmap", "load_filter", "load_after", "compute", "writeback", "wait_writeback"):
        array = getattr(sched, name)
        assert array.dtype == np.int64 and array.shape == (1,), name
    # The whole ifmap (2x5x5), the weight image (K = 18 rows of 4 lanes: 3 output channels padded
    # to the 4 columns) and its addend image (4 int32 lanes), all 3x3x3 outputs, once.
    assert sched.load_ifmap.tolist() == [50] and sched.load_filter.tolist() == [18 * 4 + 4 * 4]
    assert sched.writeback.tolist() == [27]
    assert sched.load_after.tolist() == [-1] and sched.wait_writeback.tolist() == [-1]
    assert sched.tile_shape == {"m": 9, "k": 18, "n": 3, "groups_packed": 1}


def test_reduction_split_fetches_both_operands_and_writes_back_once():
    # K = 1024 int8 weights per output, 512 bytes per filter bank (filter_kib=1), which holds the
    # weight image and the 4-byte addend image: K tiles of 512 do not fit, four of 256 do (with
    # an ideal channel the tiler takes the largest tile; equal-traffic splits are slower).
    sched = schedule(only_op(fc(1, 1024, 1)), AccelConfig(rows=2, cols=1, filter_kib=1, dram_bandwidth=math.inf))
    assert sched.count == 4 and sched.tile_shape["k"] == 256
    # The last K tile also fetches the addends the output path adds.
    assert sched.load_ifmap.tolist() == [256] * 4 and sched.load_filter.tolist() == [256, 256, 256, 260]
    # Partial sums stay in the accumulator bank; only the last K tile writes the output byte.
    assert sched.writeback.tolist() == [0, 0, 0, 1]
    # Fetches alternate banks: fetch j overwrites the bank tile j-2 read.
    assert sched.load_after.tolist() == [-1, -1, 0, 1]
    assert sched.wait_writeback.tolist() == [-1, -1, -1, -1]  # a single output tile
    # 2x1 WS, T = M = 1: 128 folds per tile, 127 * max(1, 2) + (1 + 2 + 1) = 258 cycles.
    assert sched.compute.tolist() == [258] * 4 and sched.folds == 512


def test_output_split_keeps_the_ifmap_and_alternates_accumulator_banks():
    # 512 outputs, 128 int32 accumulators per ofmap bank (ofmap_kib=1): four N tiles of 128.
    sched = schedule(only_op(fc(1, 8, 512)), AccelConfig(rows=4, cols=4, ofmap_kib=1, dram_bandwidth=math.inf))
    assert sched.count == 4 and sched.tile_shape["n"] == 128
    assert sched.load_ifmap.tolist() == [8, 0, 0, 0]  # the same 8 inputs stay on chip
    assert sched.load_filter.tolist() == [8 * 128 + 128 * 4] * 4  # weights and int32 addends
    assert sched.writeback.tolist() == [128] * 4
    # Output tile o reuses the accumulator bank of output tile o-2: it waits for that writeback.
    assert sched.wait_writeback.tolist() == [-1, -1, 0, 1]


def test_loop_order_is_the_one_that_moves_fewer_bytes():
    # GEMM M=16, K=64, N=64 with banks of 512 B ifmap, 1536 B filter and 128 accumulators:
    # tiles of M=8 (8x64 inputs = 512 B), N=16 (64x16 weights + 16 int32 addends = 1088 B), 8x16
    # accumulators. That is 2 M tiles x 4 N tiles. M outer re-fetches all weights per M tile:
    # 1024 + 2*4352 = 9728 B; N outer re-fetches all inputs per N tile: 4352 + 4*1024 = 8448 B, so
    # N goes outside.
    cfg = AccelConfig(rows=4, cols=4, ifmap_kib=1, filter_kib=3, ofmap_kib=1)
    sched = schedule(only_op(fc(16, 64, 64)), cfg)
    assert sched.tile_shape == {"m": 8, "k": 64, "n": 16, "groups_packed": 1}
    assert sched.loop_order == "nm" and sched.count == 8
    assert sched.load_filter.tolist() == [1088, 0] * 4  # weights change with the outer loop only
    assert sched.load_ifmap.tolist() == [512] * 8
    assert int(sched.load_ifmap.sum() + sched.load_filter.sum()) == 8448


def test_depthwise_groups_pack_into_one_tile():
    conv = Conv(name="dw", in_channels=8, out_channels=8, kernel_size=1, groups=8, bias=False)
    sched = schedule(only_op(Network("dw", (1, 8, 3, 3), [conv])), AccelConfig(rows=8, cols=8))
    # WS: K rows 8*1 <= 8 and N cols 8*1 <= 8, so all 8 groups form one block-diagonal GEMM.
    assert sched.tile_shape["groups_packed"] == 8 and sched.count == 1
    # The weight image is the whole block-diagonal 8x8 block (zeros included), plus 8 int32 addends.
    assert sched.load_filter.tolist() == [8 * 8 + 8 * 4]
    assert sched.sram["filter_reads"] == 8  # the zero blocks are generated, not read


# -- tiles fit their banks; MappingError says what to enlarge --------------------------------------


@st.composite
def small_buffer_cases(draw):
    ndim = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    groups = draw(st.sampled_from([1, 1, 2, 4]))
    conv = Conv(
        name="c", in_channels=groups * draw(st.integers(1, 16)), out_channels=groups * draw(st.integers(1, 24)),
        kernel_size=kernel, stride=tuple(draw(st.integers(1, 2)) for _ in range(ndim)),
        padding=draw(st.integers(0, 2)), groups=groups, bias=draw(st.booleans()),
    )  # fmt: skip
    spatial = tuple(k + draw(st.integers(0, 40)) for k in kernel)
    batch = draw(st.integers(1, 2))
    network = draw(
        st.sampled_from(
            [
                lambda: Network("c", (batch, conv.in_channels, *spatial), [conv]),
                lambda: fc(batch, 16 * spatial[0], 3 * spatial[-1]),
            ]
        )
    )()
    config = AccelConfig(
        rows=draw(st.integers(1, 16)), cols=draw(st.integers(1, 16)),
        dataflow=draw(st.sampled_from(["ws", "os", "is"])),
        ifmap_kib=draw(st.integers(1, 4)), filter_kib=draw(st.integers(1, 4)), ofmap_kib=draw(st.integers(1, 4)),
        input_bits=draw(st.sampled_from([8, 16])), weight_bits=draw(st.sampled_from([4, 8])),
    )  # fmt: skip
    return network, config


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=small_buffer_cases())
def test_following_the_mapping_error_advice_maps_and_tiles_fit_their_banks(case):
    network, config = case
    op = only_op(network)
    enlarged = set()
    while True:
        try:
            sched = schedule(op, config)
            break
        except MappingError as err:
            match = re.search(r"the (ifmap|filter|ofmap) buffer is too small: .* set (\w+)_kib >= (\d+)", str(err))
            assert match and match.group(1) == match.group(2), str(err)
            buffer, kib = match.group(1), int(match.group(3))
            assert buffer not in enlarged, f"advice for {buffer} was not enough: {err}"
            assert kib > getattr(config, f"{buffer}_kib")
            enlarged.add(buffer)
            config = config.replace(**{f"{buffer}_kib": kib})
    # Every fetch fills one bank, and a tile's accumulators fit one accumulator bank.
    assert int(sched.load_ifmap.max()) <= config.bank_bytes("ifmap")
    assert int(sched.load_filter.max()) <= config.bank_bytes("filter")
    shape = sched.tile_shape
    assert shape["m"] * shape["n"] * element_bytes(config.acc_bits) <= config.bank_bytes("ofmap")
    assert int(sched.writeback.sum()) == compulsory_bytes(op, config)["ofmap"]  # each output written once


CONV_WIDE = Network("c", (1, 3, 8, 224), [Conv(name="c", in_channels=3, out_channels=64, kernel_size=(3, 200))])
CONV_11x11 = Network("c", (1, 1, 32, 32), [Conv(name="c", in_channels=1, out_channels=64, kernel_size=11)])
CONV_1D = Network("c", (1, 1, 4096), [Conv(name="c", in_channels=1, out_channels=32, kernel_size=(3,))])


@pytest.mark.parametrize(
    "network, config, buffer, need, kib",
    [
        # One window of one input channel, in a column window: 3 x 200 int8, 600 B per bank.
        (CONV_WIDE, AccelConfig(ifmap_kib=1), "ifmap", 600, 2),
        # One 32 x 32 weight block (32 of one channel's 121 taps) for 32 columns of outputs,
        # + 32 int32 biases: 32 * 32 + 128 = 1,152 B.
        (CONV_11x11, AccelConfig(filter_kib=1), "filter", 1152, 3),
        # Rows split into segments down to one output: its 256 columns of 4 B accumulators.
        (CONV_1D, AccelConfig(rows=8, cols=256, ofmap_kib=1), "ofmap", 1024, 2),
    ],
)
def test_mapping_error_names_the_buffer_and_size(network, config, buffer, need, kib):
    op = only_op(network)
    with pytest.raises(MappingError) as err:
        schedule(op, config)
    assert str(err.value) == (
        f"layer 'c': the {buffer} buffer is too small: the smallest tile needs {need:,} bytes per bank; "
        f"set {buffer}_kib >= {kib}"
    )
    assert math.ceil(2 * need / 1024) == kib
    assert schedule(op, config.replace(**{f"{buffer}_kib": kib})).count >= 1


def test_a_row_too_long_for_the_accumulators_runs_in_segments_that_share_its_input_rows():
    # 4094 outputs x 4 columns x 4 B = 65,504 B: a whole row needs 128 KiB, the bank has 512 B.
    op, config = only_op(CONV_1D), AccelConfig(cols=4, ofmap_kib=1)
    sched, grid = schedule(op, config), tile_grid(op, config)
    segments = [(x0, cols) for *_, x0, cols in grid.m_tile_ranges()]
    width = segments[0][1]
    assert segments == [(x0, min(width, 4094 - x0)) for x0 in range(0, 4094, width)]
    lanes = -(-int(grid.nt.max()) // config.cols) * config.cols
    assert width * lanes * 4 == config.bank_bytes("ofmap")  # as wide as the accumulator bank allows
    assert int(sched.writeback.sum()) == compulsory_bytes(op, config)["ofmap"]
    assert int(sched.load_ifmap.sum()) == compulsory_bytes(op, config)["ifmap"]  # the row is fetched once


# Groups packed block-diagonally (pooling channels, depthwise convs) share one ifmap tile, but
# packing is an optimisation: when the buffer cannot hold the pack, fewer groups per tile must do.
# A single channel needs 2 rows x 224 = 448 B (2x2 pool) or 3 rows x 112 = 336 B (3x3 depthwise),
# well inside a 1 KiB bank.
@pytest.mark.parametrize(
    "network, dataflow",
    [
        (Network("p", (1, 64, 224, 224), [Pool(name="p", mode="max", kernel_size=2)]), "ws"),
        (Network("dw", (1, 32, 112, 112), [Conv(name="dw", in_channels=32, out_channels=32, kernel_size=3,
                                                 padding=1, groups=32, bias=False)]), "os"),
    ],
    ids=["maxpool-ws", "depthwise-os"],
)  # fmt: skip
def test_packed_groups_shrink_to_fit_small_buffers(network, dataflow):
    sched = schedule(only_op(network), AccelConfig(dataflow=dataflow, ifmap_kib=2))
    assert int(sched.load_ifmap.max()) <= 1024


# -- compulsory traffic -----------------------------------------------------------------------------


def one(shape, layer) -> Network:
    return Network("one", shape, [layer])


@pytest.mark.parametrize(
    "network, expected",
    [
        # 2x5x5 int8 in; 3x2x3x3 int8 weights + 3 int32 biases; 3x3x3 int8 out.
        (one((1, 2, 5, 5), Conv(name="c", in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1)),
         {"ifmap": 50, "filter": 54 + 12, "ofmap": 27}),
        # Depthwise: one 1x1 weight per channel.
        (one((1, 4, 2, 2), Conv(name="c", in_channels=4, out_channels=4, kernel_size=1, groups=4, bias=False)),
         {"ifmap": 16, "filter": 4, "ofmap": 16}),
        (fc(2, 5, 3, bias=True), {"ifmap": 10, "filter": 15 + 12, "ofmap": 6}),
        (one((1, 3, 4, 4), Pool(name="p", mode="max", kernel_size=2)), {"ifmap": 48, "filter": 0, "ofmap": 12}),
        (one((2, 3, 4, 4), GlobalAvgPool(name="g")), {"ifmap": 96, "filter": 0, "ofmap": 6}),
        (one((1, 2, 3, 3), Add(name="a", inputs=("input", "input"))), {"ifmap": 36, "filter": 0, "ofmap": 18}),
    ],
)  # fmt: skip
def test_compulsory_bytes(network, expected):
    assert compulsory_bytes(only_op(network), AccelConfig()) == expected


def test_compulsory_bytes_follow_the_operand_widths():
    op = only_op(fc(2, 5, 3, bias=True))
    # int16 activations double ifmap and ofmap bytes; int4 weights still take a byte each.
    assert compulsory_bytes(op, AccelConfig(input_bits=16, weight_bits=4)) == {
        "ifmap": 20, "filter": 15 + 12, "ofmap": 12,
    }  # fmt: skip


# -- DRAM transfer time -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nbytes, bandwidth, cycles",
    [(0, 4.0, 0), (1, 4.0, 1), (8, 4.0, 2), (9, 4.0, 3), (3, 0.1, 30), (10, 2.5, 4), (7, 0.7, 10), (5, math.inf, 0)],
)
def test_transfer_cycles(nbytes, bandwidth, cycles):
    assert transfer_cycles(nbytes, bandwidth) == cycles
    assert transfer_cycles(nbytes, kernel_bandwidth(bandwidth)) == cycles  # the kernels' encoding


@settings(max_examples=300, deadline=None, derandomize=True)
@given(nbytes=st.integers(1, 10**7), bandwidth=st.floats(0.01, 4096, allow_nan=False))
def test_transfer_cycles_is_the_least_sufficient_cycle_count(nbytes, bandwidth):
    t = transfer_cycles(nbytes, bandwidth)
    assert t * bandwidth >= nbytes and (t - 1) * bandwidth < nbytes


def test_vector_ops_split_into_chunks_of_the_banks():
    # Add of two 1x4x16x16 tensors (1024 outputs, 2048 inputs) with 512 B banks: chunks of
    # min(512 // 2, 512) = 256 outputs, each reading 512 input bytes.
    net = Network("a", (1, 4, 16, 16), [Add(name="a", inputs=("input", "input"))])
    sched = schedule(only_op(net), AccelConfig(rows=4, cols=8, ifmap_kib=1, ofmap_kib=1))
    assert sched.load_ifmap.tolist() == [512] * 4 and sched.writeback.tolist() == [256] * 4
    assert sched.compute.tolist() == [256 // 8] * 4  # C = 8 lanes, one element per lane per cycle
    assert sched.load_after.tolist() == [-1, -1, 0, 1] and sched.wait_writeback.tolist() == [-1, -1, 0, 1]


def test_lowered_conv_is_a_grouped_gemm():
    conv = Conv(name="c", in_channels=6, out_channels=4, kernel_size=(3, 2), stride=(2, 1), padding=1, groups=2)
    op = only_op(Network("c", (2, 6, 7, 5), [conv]))
    # Output (2, 4, 4, 6): M = 2*4*6 = 48; K = 6/2 * 3*2 = 18; N = 4/2 = 2 per group.
    assert isinstance(op, ArrayOp) and (op.groups, op.m, op.k, op.n) == (2, 48, 18, 2)



@pytest.mark.parametrize("name", ["alexnet", "vgg11", "resnet18"])
def test_every_layer_runs_with_4_kib_per_buffer(name):
    """Edge-sized buffers: 4 KiB per SRAM (2 KiB banks) on arrays of 8 and 32 rows and columns,
    every dataflow. AlexNet's 11x11 stride-4 conv1 on 224-pixel rows needs column windows (its
    11 input rows of one channel overflow the bank) and pieces of its 121 taps."""
    workload = Workload.from_network(get_network(name))
    for rows, cols, dataflow in itertools.product((8, 32), (8, 32), ("ws", "os", "is")):
        config = AccelConfig(rows=rows, cols=cols, dataflow=dataflow, ifmap_kib=4, filter_kib=4, ofmap_kib=4)
        stats, failed = evaluate_ops(workload.ops, config)
        assert failed == -1 and stats[:, 0].min() > 0, (name, config)
