"""Contract: the fused DSE kernel equals accel.tiling.schedule + accel.analytic.layer_timing.

The kernel runs the same tiler and recurrence for every layer of a network in one compiled call
and keeps only counters (accel/dse_kernel.py). For every layer it must return exactly the
counters of the per-layer path, and fail (buffer too small) exactly where that path raises
MappingError.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from accel.analytic import layer_timing
from accel.config import AccelConfig
from accel.dse_kernel import STAT_NAMES, evaluate_ops
from accel.lowering import lower_network
from accel.tile_kernel import encode_op
from accel.tiling import MappingError, schedule
from workloads.layers import Conv, ConvTranspose, Pool
from workloads.network import Network
from workloads.zoo import ZOO

CONFIGS = [
    AccelConfig(
        rows=4,
        cols=16,
        dataflow="ws",
        ifmap_kib=256,
        filter_kib=256,
        ofmap_kib=128,
        dram_bandwidth=16.0,
    ),
    AccelConfig(
        rows=16,
        cols=8,
        dataflow="os",
        ifmap_kib=16,
        filter_kib=8,
        ofmap_kib=8,
        dram_bandwidth=3.0,
    ),
    AccelConfig(
        rows=32,
        cols=4,
        dataflow="is",
        ifmap_kib=64,
        filter_kib=32,
        ofmap_kib=64,
        dram_bandwidth=float("inf"),
    ),
    AccelConfig(
        rows=8,
        cols=8,
        dataflow="ws",
        ifmap_kib=32,
        filter_kib=16,
        ofmap_kib=32,
        dram_bandwidth=2.5,
    ),
    AccelConfig(
        rows=64,
        cols=64,
        dataflow="os",
        ifmap_kib=512,
        filter_kib=512,
        ofmap_kib=256,
        dram_latency=0,
    ),
    AccelConfig(
        rows=7,
        cols=5,
        dataflow="is",
        ifmap_kib=48,
        filter_kib=24,
        ofmap_kib=40,
        dram_bandwidth=7.0,
    ),
    AccelConfig(
        rows=16,
        cols=16,
        dataflow="ws",
        input_bits=16,
        weight_bits=4,
        acc_bits=24,
        ifmap_kib=128,
    ),
    AccelConfig(rows=8, cols=8, dataflow="ws", ifmap_kib=8, filter_kib=4, ofmap_kib=4, buffering="whole"),
    AccelConfig(rows=16, cols=8, dataflow="os", ifmap_kib=16, filter_kib=8, ofmap_kib=8, buffering="whole",
                dram_bandwidth=3.0),
]


def reference(op, config: AccelConfig) -> list[int] | None:
    """Counters of the NumPy path, in the kernel's column order (None: does not fit)."""
    try:
        s = schedule(op, config)
    except MappingError:
        return None
    t = layer_timing(s, config.dram_bandwidth, config.dram_latency)
    return [
        t.cycles, t.compute_cycles, t.dram_busy_cycles, s.sram["ifmap_reads"], s.sram["filter_reads"],
        s.sram["ofmap_reads"], s.sram["ofmap_writes"], int(s.load_ifmap.sum()), int(s.load_filter.sum()),
        int(s.writeback.sum()), s.pe_ops, s.folds, s.mapped_cycles, s.count,
    ]  # fmt: skip


def check(network: Network, config: AccelConfig, ops: np.ndarray | None = None) -> int:
    """Compare every layer (``ops``: the network's encoded layers, when given); return how many
    were compared."""
    lowered = [(node, op) for node, op in lower_network(network) if op is not None]
    if ops is None:
        ops = np.stack([encode_op(op, node.macs) for node, op in lowered])
    stats, failed = evaluate_ops(ops, config)
    compared = 0
    for i, (_, op) in enumerate(lowered):
        expected = reference(op, config)
        if failed >= 0 and i >= failed:
            if i == failed:
                assert expected is None, f"{op.name}: kernel says it does not fit, tiling fits it"
            return compared
        assert expected is not None, f"{op.name}: tiling raises MappingError, kernel fits it"
        got = stats[i].tolist()
        diff = {STAT_NAMES[k]: (g, e) for k, (g, e) in enumerate(zip(got, expected)) if g != e}
        assert not diff, f"{network.name}/{op.name} on {config}: kernel vs reference {diff}"
        compared += 1
    return compared


@pytest.mark.parametrize("name", list(ZOO))
def test_kernel_equals_reference_on_zoo_networks(name):
    network = ZOO[name]()
    compared = sum(check(network, config) for config in CONFIGS)
    assert compared > 0


def test_points_that_differ_in_dram_timing_reuse_the_tiles_and_stay_exact():
    """The tiles kept from the previous point serve one that differs only in bandwidth or
    latency on the same bus, and are made again for another bus width or mapping."""
    sequence = [AccelConfig(rows=8, cols=8, ifmap_kib=8, filter_kib=4, ofmap_kib=4, dram_bandwidth=bw, dram_latency=lat)
                for bw, lat in ((4.0, 100), (8.0, 100), (16.0, 7), (32.0, 7), (2.5, 0))]  # fmt: skip
    sequence += [sequence[0].replace(buffering="whole"), sequence[0].replace(filter_kib=1), sequence[0]]
    network = ZOO["alexnet"]()
    ops = np.stack([encode_op(op, node.macs) for node, op in lower_network(network) if op is not None])
    assert sum(check(network, config, ops) for config in sequence) > 0


def random_layers(seed: int, count: int) -> list[Network]:
    """Random single-layer networks over the geometry tiling handles.

    1-D, 2-D and 3-D convs with groups, strides (also larger than the kernel: disjoint windows),
    dilation and padding; transposed convs (zero insertion); max/avg pools; batches > 1.
    """
    rng = random.Random(seed)
    nets = []
    for i in range(count):
        ndim = rng.choice([1, 2, 2, 2, 3])
        groups = rng.choice([1, 1, 2, 4])
        cin, cout = groups * rng.randint(1, 4), groups * rng.randint(1, 4)
        k = rng.choice([1, 2, 3, 5])
        spatial = tuple(rng.randint(k + 1, 12 if ndim < 3 else 6) for _ in range(ndim))
        shape = (rng.randint(1, 3), cin, *spatial)
        kind = rng.random()
        if kind < 0.55:
            layer = Conv(
                name=f"c{i}", in_channels=cin, out_channels=cout, kernel_size=(k,) * ndim, stride=rng.randint(1, k + 2),
                padding=rng.randint(0, k // 2 + 1), dilation=1 if 2 * k > min(spatial) else rng.randint(1, 2),
                groups=groups, bias=rng.random() < 0.5,
            )  # fmt: skip
        elif kind < 0.75:
            stride = rng.randint(1, 3)
            layer = ConvTranspose(
                name=f"t{i}", in_channels=cin, out_channels=cout, kernel_size=(k,) * ndim, stride=stride,
                padding=rng.randint(0, k // 2), output_padding=rng.randint(0, stride - 1), groups=groups,
                bias=rng.random() < 0.5,
            )  # fmt: skip
        else:
            pk = min(k, *spatial)
            layer = Pool(name=f"p{i}", mode=rng.choice(["max", "avg"]), kernel_size=(pk,) * ndim, stride=rng.randint(1, pk + 1),
                         padding=rng.randint(0, pk // 2))  # fmt: skip
        nets.append(Network(f"rand{i}", shape, [layer]))
    return nets


def random_config(rng: random.Random) -> AccelConfig:
    """A small random configuration: any dataflow, tiny to ample buffers, either buffering,
    starved to ideal DRAM."""
    return AccelConfig(
        rows=rng.choice([1, 2, 3, 4, 8]), cols=rng.choice([1, 2, 5, 8]), dataflow=rng.choice(["ws", "os", "is"]),
        ifmap_kib=rng.choice([1, 2, 4, 64]), filter_kib=rng.choice([1, 2, 64]), ofmap_kib=rng.choice([1, 2, 4, 64]),
        dram_bandwidth=rng.choice([0.5, 1.0, 3.0, float("inf")]), dram_latency=rng.choice([0, 5, 100]),
        buffering=rng.choice(["double", "whole"]),
    )  # fmt: skip


def test_kernel_equals_reference_on_random_layers():
    rng = random.Random(7)
    compared = sum(check(net, random_config(rng)) for net in random_layers(seed=11, count=120))
    assert compared > 60
