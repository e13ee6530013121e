"""Hand-worked cycle counts on 1x1, 2x2 and 3x4 arrays for every dataflow (accel/timing.py is the spec).

The rules, from the docstrings of accel/timing.py and accel/dataflow.py, for a GEMM
``out[M, N] = A[M, K] @ B[K, N]`` on an R x C array:

* the dataflow puts one GEMM dim on the rows, one on the columns and streams the third:
  WS rows=K cols=N stream T=M; OS rows=M cols=N stream T=K; IS rows=K cols=M stream T=N;
* folds = ceil(rows_dim / R) * ceil(cols_dim / C);
* a new fold starts every max(T, R) cycles;
* the last fold takes T + R + C cycles (WS, IS) or T + 2R + C - 1 cycles (OS) to finish;
* so one tile takes (folds - 1) * max(T, R) + latency(T): the layer's ``compute_cycles`` are
  the sum over its tiles;
* a layer's ``cycles`` add the AXI system's program fetch and fixed delays
  (accel/system_timing.py) and the DRAM channel, worked out by hand at the end.

Convolutions are GEMMs with M = N*Ho*Wo, K = Cin/groups * kh * kw, N = Cout/groups (per group).
"""

from __future__ import annotations

import pytest

from accel.config import AccelConfig
from accel.timing import fold_interval, pipeline_latency, tile_cycles
from sim.runner import simulate
from workloads.layers import Conv, Linear, Pool
from workloads.network import Network

INF = float("inf")


def ideal(rows: int, cols: int, dataflow: str, **kw) -> AccelConfig:
    return AccelConfig(rows=rows, cols=cols, dataflow=dataflow, dram_bandwidth=INF, dram_latency=0, **kw)


def gemm(m: int, k: int, n: int) -> Network:
    """A single FC layer: batch M, K inputs, N outputs (no bias)."""
    return Network("gemm", (m, k), [Linear(name="fc", in_features=k, out_features=n, bias=False)])


def only_layer(network: Network, config: AccelConfig, mode: str = "analytic"):
    (layer,) = simulate(network, config, mode=mode).layers
    return layer


# -- the formulas themselves ---------------------------------------------------------------------


def test_formula_building_blocks():
    assert fold_interval(rows=4, cols=9, stream=3) == 4  # a fold cannot start before R rows are loaded
    assert fold_interval(rows=4, cols=9, stream=7) == 7  # ... nor before the previous one streamed
    assert pipeline_latency("ws", rows=3, cols=4, stream=5) == 5 + 3 + 4
    assert pipeline_latency("is", rows=3, cols=4, stream=5) == 5 + 3 + 4
    assert pipeline_latency("os", rows=3, cols=4, stream=5) == 5 + 2 * 3 + 4 - 1
    assert tile_cycles("ws", 3, 4, stream=5, folds=0) == 0
    assert tile_cycles("ws", 3, 4, stream=5, folds=1) == 12
    assert tile_cycles("os", 3, 4, stream=2, folds=3) == 2 * 3 + (2 + 6 + 4 - 1)


# -- GEMM 1x5 @ 5x3 (M=1, K=5, N=3) -----------------------------------------------------------------
#
# WS (T = M = 1): 1x1: folds 5*3 = 15, 14*max(1,1) + (1+1+1)     = 17
#                 2x2: folds 3*2 = 6,   5*max(1,2) + (1+2+2)     = 15
#                 3x4: folds 2*1 = 2,   1*max(1,3) + (1+3+4)     = 11
# OS (T = K = 5): 1x1: folds 1*3 = 3,   2*5 + (5+2+1-1)          = 17
#                 2x2: folds 1*2 = 2,   1*5 + (5+4+2-1)          = 15
#                 3x4: folds 1*1 = 1,   0   + (5+6+4-1)          = 14
# IS (T = N = 3): 1x1: folds 5*1 = 5,   4*3 + (3+1+1)            = 17
#                 2x2: folds 3*1 = 3,   2*3 + (3+2+2)            = 13
#                 3x4: folds 2*1 = 2,   1*3 + (3+3+4)            = 13
GEMM_1x5x3 = [
    ("ws", 1, 1, 15, 17), ("ws", 2, 2, 6, 15), ("ws", 3, 4, 2, 11),
    ("os", 1, 1, 3, 17), ("os", 2, 2, 2, 15), ("os", 3, 4, 1, 14),
    ("is", 1, 1, 5, 17), ("is", 2, 2, 3, 13), ("is", 3, 4, 2, 13),
]  # fmt: skip

# -- GEMM 4x3 @ 3x2 (M=4, K=3, N=2) -----------------------------------------------------------------
#
# WS (T = 4): 1x1: folds 3*2 = 6,  5*4 + (4+1+1)  = 26
#             2x2: folds 2*1 = 2,  1*4 + (4+2+2)  = 12
#             3x4: folds 1*1 = 1,        4+3+4    = 11
# OS (T = 3): 1x1: folds 4*2 = 8,  7*3 + (3+2+1-1) = 26
#             2x2: folds 2*1 = 2,  1*3 + (3+4+2-1) = 11
#             3x4: folds 2*1 = 2,  1*3 + (3+6+4-1) = 15   (M=4 needs two 3-row blocks)
# IS (T = 2): 1x1: folds 3*4 = 12, 11*2 + (2+1+1) = 26
#             2x2: folds 2*2 = 4,  3*2 + (2+2+2)  = 12
#             3x4: folds 1*1 = 1,        2+3+4    = 9
GEMM_4x3x2 = [
    ("ws", 1, 1, 6, 26), ("ws", 2, 2, 2, 12), ("ws", 3, 4, 1, 11),
    ("os", 1, 1, 8, 26), ("os", 2, 2, 2, 11), ("os", 3, 4, 2, 15),
    ("is", 1, 1, 12, 26), ("is", 2, 2, 4, 12), ("is", 3, 4, 1, 9),
]  # fmt: skip


@pytest.mark.parametrize("dataflow, rows, cols, folds, cycles", GEMM_1x5x3)
def test_gemm_1x5x3(dataflow, rows, cols, folds, cycles):
    layer = only_layer(gemm(1, 5, 3), ideal(rows, cols, dataflow))
    assert layer.gemm == {"groups": 1, "m": 1, "k": 5, "n": 3, "packed": 1}
    assert (layer.tiles, layer.folds, layer.compute_cycles) == (1, folds, cycles)


@pytest.mark.parametrize("dataflow, rows, cols, folds, cycles", GEMM_4x3x2)
def test_gemm_4x3x2(dataflow, rows, cols, folds, cycles):
    layer = only_layer(gemm(4, 3, 2), ideal(rows, cols, dataflow))
    assert (layer.tiles, layer.folds, layer.compute_cycles) == (1, folds, cycles)


# -- Convolutions ---------------------------------------------------------------------------------
#
# Conv 1->1 channels, 3x3 kernel, 4x4 input, no padding: output 2x2, so M=4, K=9, N=1.
# WS (T=M=4, rows K=9, cols N=1): 1x1: folds 9,      8*4 + (4+1+1)   = 38
#                                 2x2: folds 5*1=5,  4*4 + (4+2+2)   = 24
#                                 3x4: folds 3*1=3,  2*4 + (4+3+4)   = 19
# OS (T=K=9, rows M=4, cols N=1): 1x1: folds 4,      3*9 + (9+2+1-1) = 38
#                                 2x2: folds 2*1=2,  1*9 + (9+4+2-1) = 23
#                                 3x4: folds 2*1=2,  1*9 + (9+6+4-1) = 27
# IS (T=N=1, rows K=9, cols M=4): 1x1: folds 9*4=36, 35*1 + (1+1+1)  = 38
#                                 2x2: folds 5*2=10, 9*2 + (1+2+2)   = 23  (interval max(1, R=2))
#                                 3x4: folds 3*1=3,  2*3 + (1+3+4)   = 14
CONV_3x3 = [
    ("ws", 1, 1, 9, 38), ("ws", 2, 2, 5, 24), ("ws", 3, 4, 3, 19),
    ("os", 1, 1, 4, 38), ("os", 2, 2, 2, 23), ("os", 3, 4, 2, 27),
    ("is", 1, 1, 36, 38), ("is", 2, 2, 10, 23), ("is", 3, 4, 3, 14),
]  # fmt: skip


@pytest.mark.parametrize("dataflow, rows, cols, folds, cycles", CONV_3x3)
def test_conv_3x3_on_4x4(dataflow, rows, cols, folds, cycles):
    net = Network("conv", (1, 1, 4, 4), [Conv(name="c", in_channels=1, out_channels=1, kernel_size=3, bias=False)])
    layer = only_layer(net, ideal(rows, cols, dataflow))
    assert layer.gemm == {"groups": 1, "m": 4, "k": 9, "n": 1, "packed": 1}
    assert (layer.folds, layer.compute_cycles) == (folds, cycles)


# Conv 2->3 channels, 3x3 kernel, stride 2, padding 1, on a 5x5 input: output floor((5+2-3)/2)+1 = 3,
# so M = 3*3 = 9, K = 2*9 = 18, N = 3.
# WS on 3x4 (T=9):  folds ceil(18/3)*ceil(3/4) = 6,  5*max(9,3) + (9+3+4)     = 61
# OS on 3x4 (T=18): folds ceil(9/3)*ceil(3/4)  = 3,  2*18 + (18+6+4-1)        = 63
# IS on 3x4 (T=3):  folds ceil(18/3)*ceil(9/4) = 18, 17*max(3,3) + (3+3+4)    = 61
@pytest.mark.parametrize("dataflow, folds, cycles", [("ws", 6, 61), ("os", 3, 63), ("is", 18, 61)])
def test_strided_padded_conv_on_3x4(dataflow, folds, cycles):
    conv = Conv(name="c", in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1)
    layer = only_layer(Network("conv", (1, 2, 5, 5), [conv]), ideal(3, 4, dataflow))
    assert layer.gemm["m"] == 9 and layer.gemm["k"] == 18 and layer.gemm["n"] == 3
    assert (layer.folds, layer.compute_cycles) == (folds, cycles)


# Batch 2 of a 1x1 conv 3->2 on 2x3: M = 2*2*3 = 12, K = 3, N = 2.
# WS on 2x2 (T=12): folds ceil(3/2)*ceil(2/2) = 2,  1*12 + (12+2+2) = 28
def test_batched_pointwise_conv_ws_2x2():
    conv = Conv(name="pw", in_channels=3, out_channels=2, kernel_size=1, bias=False)
    layer = only_layer(Network("pw", (2, 3, 2, 3), [conv]), ideal(2, 2, "ws"))
    assert (layer.gemm["m"], layer.gemm["k"], layer.gemm["n"]) == (12, 3, 2)
    assert (layer.folds, layer.compute_cycles) == (2, 28)


# Depthwise 1x1 conv over 4 channels of 2x2 (groups = 4, per group M=4, K=1, N=1) on a 3x4 WS array:
# 3 groups fit block-diagonally (K rows 3*1 <= 3, N cols 3*1 <= 4), so the groups run as two tiles,
# a packed GEMM M=4, K=3, N=3 and the leftover group M=4, K=1, N=1. Each is one fold:
# 4 + 3 + 4 = 11 cycles, 22 in all.
def test_depthwise_groups_are_packed_on_ws():
    conv = Conv(name="dw", in_channels=4, out_channels=4, kernel_size=1, groups=4, bias=False)
    layer = only_layer(Network("dw", (1, 4, 2, 2), [conv]), ideal(3, 4, "ws"))
    assert layer.gemm == {"groups": 4, "m": 4, "k": 1, "n": 1, "packed": 3}
    assert (layer.tiles, layer.folds, layer.compute_cycles) == (2, 2, 22)


# Max pooling 2x2 / 2 on one 4x4 channel runs on the PEs as a GEMM with M=4, K=4, N=1.
# WS on 2x2 (T=4): folds ceil(4/2)*1 = 2, 1*4 + (4+2+2) = 12.
def test_max_pool_on_ws_2x2():
    pool = Pool(name="mp", mode="max", kernel_size=2)
    layer = only_layer(Network("mp", (1, 1, 4, 4), [pool]), ideal(2, 2, "ws"))
    assert (layer.gemm["m"], layer.gemm["k"], layer.gemm["n"]) == (4, 4, 1)
    assert (layer.folds, layer.compute_cycles) == (2, 12)
    assert layer.macs == 0 and layer.pe_ops == 16  # 4 outputs x 4 compares, reported as PE work


# -- The system around the tiles: program fetch, fixed delays, the DRAM channel ----------------------
#
# accel/system_timing.py, for a bus of W = 16 bytes. GEMM 1x5 @ 5x3 on 2x2 WS (15 compute cycles,
# above) is one tile with four DMA commands (its input, weight image, addend image and results), so
# its program is one segment of 53 + 8*2 + 8*4 = 101 record words. On an ideal channel (infinite
# bandwidth, zero latency) nothing moves for a cycle:
#   prologue: header requested at 3, segment at 3 + 9 = 12, the run at 12 + 4 = 16;
#   from the run: the fetch is requested at 7 + 32/16 = 9 and usable at 9 + 5 = 14; the descriptor
#   is loaded at 3 + ceil(4 * (53 + 16) / 16) - 1 = 20, so the tile starts at 20 + 6 = 26 and its
#   compute ends at 26 + 15 + 5 = 46; the writeback is requested at 50 and done at 50 + 3 = 53.
#   cycles = 16 + 53 = 69.
def test_one_tile_on_an_ideal_channel():
    layer = only_layer(gemm(1, 5, 3), ideal(2, 2, "ws"))
    assert (layer.cycles, layer.compute_cycles, layer.stall_cycles) == (69, 15, 54)


# Two tiles: GEMM M=1, K=1024, N=1 with a 2 KiB filter buffer (two banks of 1024 bytes, holding a
# tile's weight image and its 4-byte addend image) holds at most 512 int8 weights per tile (1024 + 4
# bytes do not fit), so K splits into two tiles of K=512. WS on 2x1 (T=1): each tile has
# ceil(512/2)*1 = 256 folds, 255*max(1,2) + (1+2+1) = 514 cycles. Tile 0 moves its input and
# weights (2 commands), tile 1 also its addends and its result (4): 85 + 101 = 186 record words.
# Ideal channel: both fetches usable at 14; tile 0 runs 26..26+514+5 = 545; tile 1 starts 6 later
# (its descriptor was loaded at 26 + 21), ends at 551 + 519 = 1070; its writeback is done at
# 1070 + 4 + 3 = 1077: 16 + 1077 = 1093.
def test_tiles_run_back_to_back_with_an_ideal_channel():
    layer = only_layer(gemm(1, 1024, 1), ideal(2, 1, "ws", filter_kib=2))
    assert (layer.tiles, layer.folds, layer.cycles, layer.compute_cycles) == (2, 512, 1093, 1028)


# -- Finite DRAM bandwidth and latency --------------------------------------------------------------
#
# The one tile above: it fetches 5 ifmap bytes, its weight image (ceil(5/2) = 3 blocks of 2 rows of
# 2 lanes, 2 output blocks: 24 bytes) and its addend image (2 output blocks of 2 int32 lanes: 16
# bytes), computes, then writes its 3 int8 outputs back (accel/dram_layout.py). The channel moves
# whole 16-byte beats (accel/dram_channel.py): the fetch is 1 + 2 + 1 = 4 beats, the writeback 1;
# the program's header 1 beat and its segment (3 + 101 words, 416 bytes) 26. Each transfer opens
# a busy period and n beats take ceil(16 n / bw) cycles:
#   prologue = 3 + ceil(16 / bw) + L + 9 + ceil(416 / bw) + L + 4
#   fetch usable at 9 + ceil(64 / bw) + L + 5 (after the descriptor, at 26); compute ends 20 later;
#   writeback done at that + 4 + ceil(16 / bw) + L + 3
#   bw 4,   L 10: 3 + 4 + 10 + 9 + 104 + 10 + 4 = 144;  40 .. 60 .. 64 + 4 + 10 + 3 = 81;  225
#   bw 3.5, L 7:  3 + 5 + 7 + 9 + 119 + 7 + 4 = 154;    40 .. 60 .. 64 + 5 + 7 + 3 = 79;   233
#   bw 0.5, L 0:  3 + 32 + 0 + 9 + 832 + 0 + 4 = 880;   142 .. 162 .. 166 + 32 + 3 = 201;  1081
# A bias changes nothing: the addend image is fetched either way (it holds the biases): 225 again.
@pytest.mark.parametrize("bandwidth, latency, cycles", [(4.0, 10, 225), (3.5, 7, 233), (0.5, 0, 1081)])
@pytest.mark.parametrize("mode", ["analytic", "cycle"])
def test_single_tile_with_finite_dram(bandwidth, latency, cycles, mode):
    config = AccelConfig(rows=2, cols=2, dataflow="ws", dram_bandwidth=bandwidth, dram_latency=latency)
    layer = only_layer(gemm(1, 5, 3), config, mode)
    assert (layer.cycles, layer.compute_cycles, layer.stall_cycles) == (cycles, 15, cycles - 15)
    assert layer.dram["total_bytes"] == 5 + 24 + 16 + 3


def test_bias_is_fetched_with_the_weights():
    net = Network("fc", (1, 5), [Linear(name="fc", in_features=5, out_features=3, bias=True)])
    layer = only_layer(net, AccelConfig(rows=2, cols=2, dataflow="ws", dram_bandwidth=4.0, dram_latency=10))
    assert layer.dram["filter_read_bytes"] == 24 + 16
    assert layer.cycles == 225


# The two tiles above (each fetch 512 ifmap bytes and a 512-byte weight image, 64 beats, tile 1's
# also its 4-byte addend image, one beat more; the writeback one beat), latency 20; the program's
# header 1 beat and its segment (3 + 186 words, 756 bytes) 48:
#   bw 8: prologue 3 + 2 + 20 + 9 + 96 + 20 + 4 = 154. Fetch 0 moves 9..137, usable at 162; fetch 1
#         follows in the same busy period (129 beats by 9 + 258 = 267), usable at 292, while tile 0
#         computes 162..681, so it is hidden; tile 1 runs 687..1206; its writeback is requested at
#         1210, moves in 2 cycles and is done at 1212 + 20 + 3 = 1235. 154 + 1235 = 1389.
#   bw 1: prologue 3 + 16 + 20 + 9 + 768 + 20 + 4 = 840. Fetch 0 usable at 9 + 1024 + 25 = 1058;
#         fetch 1 by 9 + 2064 = 2073, usable at 2098, after tile 0 ends (1058 + 519 = 1577): tile 1
#         runs 2098..2617; writeback done at 2621 + 16 + 23 = 2660. 840 + 2660 = 3500.
@pytest.mark.parametrize("bandwidth, cycles", [(8.0, 1389), (1.0, 3500)])
@pytest.mark.parametrize("mode", ["analytic", "cycle"])
def test_double_buffering_hides_the_next_fetch(bandwidth, cycles, mode):
    config = AccelConfig(rows=2, cols=1, dataflow="ws", filter_kib=2, dram_bandwidth=bandwidth, dram_latency=20)
    layer = only_layer(gemm(1, 1024, 1), config, mode)
    assert (layer.tiles, layer.compute_cycles, layer.cycles) == (2, 1028, cycles)
    assert layer.stall_cycles == cycles - 1028
