"""The layer core with the AXI system's double-banked memories (rtl/hw/layer_core.py), tile by tile
against the NumPy model of the system (rtl/host/system_model.py), in Amaranth's simulator.

Each tile's loads are written into the core's memories through its DMA ports word by word, as
the DMA reader would; the tile runs from its descriptor and banks; ``done`` must come exactly
``accel.timing.tile_cycles`` edges after the start edge, ``busy`` must fall ``STAGING_LATENCY``
edges later, and every staging word the tile's stores read must equal the model's.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from accel.config import AccelConfig
from accel.timing import tile_cycles
from rtl.host.dram_image import build_image
from rtl.spec import TAP_FIELDS
from rtl.hw.layer_core import SETTLE_CYCLES, STAGING_LATENCY, LayerCore
from rtl.host.program_image import decode_program
from rtl.host.system_model import SystemModel
from rtl.host.verify import prepare
from tests.test_program import POOLS, random_conv
from workloads.layers import Activation, Conv, Flatten, Linear
from workloads.network import Network

CONFIGS = {
    "4x4": AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=2, ofmap_kib=4),
    "3x2": AccelConfig(rows=3, cols=2, ifmap_kib=2, filter_kib=1, ofmap_kib=4),
}
W = 16


def words_of(command, bus: int) -> list[int]:
    """The on-chip words (of ``bus`` bytes) a command touches."""
    _, chip = command.byte_pairs()
    return sorted(set((chip // bus).tolist()))


def run_layer_tiles(network: Network, config: AccelConfig) -> int:
    """Run every tile of ``network`` through the core and the model; returns the tiles run."""
    params, x, _, program = prepare(network, config)
    image = build_image(program, params, x)
    model = SystemModel(image)
    tiles = [t for s in decode_program(model.dram[image.program_address :][: image.program_bytes].tobytes(),
                                       config.rows) for t in s.tiles]  # fmt: skip
    dut = LayerCore(config, W)

    async def bench(ctx):
        for tile in tiles:
            t = tile.transfers
            for command in t.loads:
                model.load(command)
                memory = model.chip[command.target]
                port = getattr(dut, f"{command.target}_dma")
                for word in words_of(command, W):
                    ctx.set(port.en, 1)
                    ctx.set(port.addr, word)
                    ctx.set(port.data, int.from_bytes(memory[word * W : (word + 1) * W].tobytes(), "little"))
                    ctx.set(port.strb, (1 << W) - 1)
                    await ctx.tick()
                ctx.set(port.en, 0)
            for name, value in t.regs.items():
                ctx.set(getattr(dut.regs, name), value)
            for lane in range(config.rows):
                for f, field in enumerate(TAP_FIELDS):
                    ctx.set(dut.lanes[lane][field], int(tile.lanes[lane, f]))
            ctx.set(dut.weight_bank, t.weight_bank)
            ctx.set(dut.stage_bank, t.stage_bank)
            ctx.set(dut.reload, 1)
            await ctx.tick()
            ctx.set(dut.reload, 0)
            await ctx.tick().repeat(SETTLE_CYCLES)
            ctx.set(dut.start, 1)
            await ctx.tick()  # the edge that samples start
            ctx.set(dut.start, 0)
            edges = 0
            while not ctx.get(dut.done):
                await ctx.tick()
                edges += 1
            r = t.regs
            assert edges == tile_cycles("ws", config.rows, config.cols, r["T"], r["INNER"] * r["OUTER"])
            for _ in range(STAGING_LATENCY):  # busy until the last result is in staging
                assert ctx.get(dut.busy)
                await ctx.tick()
            assert not ctx.get(dut.busy)
            model.run_tile(t, tile.lanes)  # also performs the stores, from its staging
            staging = model.chip["staging"]
            for command in t.stores:
                for word in words_of(command, W):
                    ctx.set(dut.staging_dma.en, 1)
                    ctx.set(dut.staging_dma.addr, word)
                    await ctx.tick()
                    ctx.set(dut.staging_dma.en, 0)
                    got = ctx.get(dut.staging_dma.data).to_bytes(W, "little")
                    assert got == staging[word * W : (word + 1) * W].tobytes(), (word, command)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return len(tiles)


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("index", range(0, 24, 3))
def test_random_conv_tiles(index, config):
    assert run_layer_tiles(random_conv(np.random.default_rng(1000 + index), index), config) >= 1


@pytest.mark.parametrize("pool", POOLS, ids=range(len(POOLS)))
def test_pooling_tiles(pool):
    assert run_layer_tiles(Network("pool", (1, 5, 9, 8), [pool]), CONFIGS["4x4"]) >= 1


def test_fully_connected_head_tiles():
    net = Network("head", (2, 7, 5, 4), [
        Conv(name="conv", in_channels=7, out_channels=9, kernel_size=1), Activation(name="relu"),
        Flatten(name="flat"), Linear(name="fc", in_features=180, out_features=11),
    ])  # fmt: skip
    assert run_layer_tiles(net, CONFIGS["4x4"]) > 2
