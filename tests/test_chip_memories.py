"""The AXI system's on-chip memories (rtl/hw/chip_memories.py) against byte arrays, in Amaranth's
simulator: random DMA words with random strobes, then every core-side read (or, for staging,
random row writes then every DMA read)."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from rtl.hw.chip_memories import LaneBytes, RowMemory, StagingMemory


def simulate(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


async def dma_writes(ctx, dut, memory: bytearray, word: int, rng: random.Random, count: int) -> None:
    """``count`` random DMA word writes into ``dut`` and the byte array ``memory``."""
    for _ in range(count):
        addr = rng.randrange(len(memory) // word)
        values = [rng.randrange(256) for _ in range(word)]
        strobes = [rng.random() < 0.7 for _ in range(word)]
        ctx.set(dut.dma.en, 1)
        ctx.set(dut.dma.addr, addr)
        ctx.set(dut.dma.data, int.from_bytes(bytes(values), "little"))
        ctx.set(dut.dma.strb, sum(1 << j for j, s in enumerate(strobes) if s))
        await ctx.tick()
        for j, (value, strobe) in enumerate(zip(values, strobes)):
            if strobe:
                memory[addr * word + j] = value
    ctx.set(dut.dma.en, 0)


@pytest.mark.parametrize("rows, row_bytes, word", [(16, 4, 16), (8, 16, 16), (4, 32, 16), (8, 8, 4), (4, 64, 32)])
def test_row_memory(rows, row_bytes, word):
    rng = random.Random(rows * 1000 + row_bytes * 10 + word)
    dut = RowMemory(rows, row_bytes, word)
    memory = bytearray(rows * row_bytes)

    async def bench(ctx):
        await dma_writes(ctx, dut, memory, word, rng, 3 * len(memory) // word)
        for row in [rng.randrange(rows) for _ in range(2 * rows)]:
            ctx.set(dut.row, row)
            await ctx.tick()
            got = ctx.get(dut.data).to_bytes(row_bytes, "little")
            assert got == bytes(memory[row * row_bytes : (row + 1) * row_bytes]), row

    simulate(dut, bench)


@pytest.mark.parametrize("rows, row_bytes, word", [(16, 4, 16), (8, 16, 16), (4, 32, 16), (8, 8, 32)])
def test_staging_memory(rows, row_bytes, word):
    rng = random.Random(rows * 1000 + row_bytes * 10 + word)
    dut = StagingMemory(rows, row_bytes, word)
    memory = bytearray(rows * row_bytes)

    async def bench(ctx):
        for _ in range(3 * rows):
            row, values = rng.randrange(rows), bytes(rng.randrange(256) for _ in range(row_bytes))
            ctx.set(dut.row_en, 1)
            ctx.set(dut.row, row)
            ctx.set(dut.row_data, int.from_bytes(values, "little"))
            await ctx.tick()
            memory[row * row_bytes : (row + 1) * row_bytes] = values
        ctx.set(dut.row_en, 0)
        for addr in [rng.randrange(len(memory) // word) for _ in range(2 * len(memory) // word)]:
            ctx.set(dut.dma.en, 1)
            ctx.set(dut.dma.addr, addr)
            await ctx.tick()
            ctx.set(dut.dma.en, 0)
            got = ctx.get(dut.dma.data).to_bytes(word, "little")
            assert got == bytes(memory[addr * word : (addr + 1) * word]), addr

    simulate(dut, bench)


@pytest.mark.parametrize("total, word, lanes", [(256, 16, 4), (128, 4, 3), (512, 32, 8)])
def test_lane_bytes(total, word, lanes):
    rng = random.Random(total + word + lanes)
    dut = LaneBytes(total, word, lanes)
    memory = bytearray(total)

    async def bench(ctx):
        await dma_writes(ctx, dut, memory, word, rng, 3 * total // word)
        for _ in range(50):
            addresses = [rng.randrange(total) for _ in range(lanes)]
            for i, a in enumerate(addresses):
                ctx.set(dut.addr[i], a)
            await ctx.tick()
            assert [ctx.get(dut.data[i]) for i in range(lanes)] == [memory[a] for a in addresses]

    simulate(dut, bench)
