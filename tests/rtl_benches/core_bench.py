"""cocotb bench of the generated systolic core: driver, monitor, golden model, checker.

Run by ``tests/test_rtl_array.py`` through ``cocotb_tools.runner``. The core's sizes come from
the manifest named by ``CORE_MANIFEST`` and are checked against the DUT's port widths. Every
result element is compared bit-exactly with NumPy, every tile's start->done cycle count with
``accel.timing.tile_cycles``; the test ends by asserting zero mismatches.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from accel.config import AccelConfig
from accel.timing import tile_cycles
from rtl.geometry import CoreGeometry
from accel.pe_semantics import MAC, MAX
from rtl.host.gemm import Tile, assemble, golden, plan_gemm

#: Longest tile the monitor waits for before declaring the core hung, in cycles.
TIMEOUT = 100_000


def pack(words: np.ndarray, bits: int) -> list[int]:
    """Pack each row of signed lanes into one integer, lane i at bits [i*bits, (i+1)*bits)."""
    mask = (1 << bits) - 1
    return [sum((int(v) & mask) << (i * bits) for i, v in enumerate(row)) for row in words]


def unpack(word: int, lanes: int, bits: int) -> list[int]:
    """Inverse of :func:`pack` for one word."""
    half, mask = 1 << (bits - 1), (1 << bits) - 1
    return [(((word >> (i * bits)) & mask) ^ half) - half for i in range(lanes)]


class CoreDriver:
    """Writes operand memories and starts tiles; all inputs change at falling clock edges."""

    def __init__(self, dut, geometry: CoreGeometry) -> None:
        self.dut, self.g = dut, geometry

    async def reset(self) -> None:
        dut = self.dut
        for name in ("start", "west_wen", "north_wen", "stream_len", "inner_folds", "outer_folds", "mode", "out_raddr"):
            getattr(dut, name).value = 0
        dut.rst.value = 1
        for _ in range(3):
            await FallingEdge(dut.clk)
        dut.rst.value = 0

    async def load(self, memory: str, words: np.ndarray, bits: int) -> None:
        wen, addr, data = (getattr(self.dut, f"{memory}_{p}") for p in ("wen", "waddr", "wdata"))
        wen.value = 1
        for address, word in enumerate(pack(words, bits)):
            addr.value, data.value = address, word
            await FallingEdge(self.dut.clk)
        wen.value = 0

    async def start(self, tile: Tile, mode: int) -> None:
        """Load a tile's operands, set its registers and pulse ``start``: edge 0 samples it."""
        await self.load("west", tile.west, self.g.west_bits)
        await self.load("north", tile.north, self.g.north_bits)
        dut = self.dut
        dut.stream_len.value, dut.inner_folds.value, dut.outer_folds.value = (
            tile.stream_len,
            tile.inner_folds,
            tile.outer_folds,
        )
        dut.mode.value = mode
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0


class CoreMonitor:
    """Counts cycles to ``done`` and reads result words (outputs sampled at falling edges)."""

    def __init__(self, dut, geometry: CoreGeometry) -> None:
        self.dut, self.g = dut, geometry

    async def cycles_to_done(self) -> int:
        """Rising edges after the one that sampled ``start`` until ``done`` is seen high."""
        cycles = 0
        while not int(self.dut.done.value):
            await FallingEdge(self.dut.clk)
            cycles += 1
            assert cycles < TIMEOUT, "the core never raised done"
        return cycles

    async def read(self, words: int) -> np.ndarray:
        dut, out = self.dut, []
        for address in range(words):
            dut.out_raddr.value = address
            await FallingEdge(dut.clk)
            out.append(unpack(int(dut.out_rdata.value), self.g.cols, self.g.acc_bits))
        return np.array(out, dtype=np.int64)


class Checker:
    """Compares results and cycle counts with the models; counts mismatches."""

    def __init__(self, log) -> None:
        self.log, self.values, self.cycles, self.checked = log, 0, 0, 0

    def check_cycles(self, measured: int, expected: int, what: str) -> None:
        if measured != expected:
            self.cycles += 1
            self.log.error(f"{what}: {measured} cycles, expected {expected}")

    def check_values(self, got: np.ndarray, expected: np.ndarray, what: str) -> None:
        self.checked += expected.size
        bad = np.argwhere(got != expected)
        if len(bad):
            self.values += len(bad)
            first = tuple(bad[0])
            self.log.error(
                f"{what}: {len(bad)} of {expected.size} wrong, first at {first}: {got[first]} != {expected[first]}"
            )


def model(g: CoreGeometry, a: np.ndarray, b: np.ndarray, mode: int) -> np.ndarray:
    """Golden result the core must produce (IS computes (B^T A^T)^T, which differs only for MAX)."""
    if g.dataflow == "is":
        return golden(b.T, a.T, g.acc_bits, mode).T
    return golden(a, b, g.acc_bits, mode)


def problems(g: CoreGeometry, rng: np.random.Generator):
    """(name, A, B, mode, tiling caps): random shapes, extremes, pooling masks, tiny folds."""
    R, C = g.rows, g.cols
    lo, hi = -(1 << (g.west_bits - 1)), 1 << (g.west_bits - 1)
    for index in range(3):
        m, k, n = (int(rng.integers(1, 3 * s + 3)) for s in (max(R, C), R, C))
        caps = {
            "stream": int(rng.integers(1, 2 * R + 2)),
            "inner": int(rng.integers(1, 4)),
            "outer": int(rng.integers(1, 4)),
        }
        yield f"random{index}", rng.integers(lo, hi, (m, k)), rng.integers(lo, hi, (k, n)), MAC, caps if index else {}
    long_k = 8 * R + 3
    yield "extreme", np.full((R + 1, long_k), lo), np.full((long_k, C + 1), lo), MAC, {}
    yield "single", rng.integers(lo, hi, (2, 2 * R + 1)), rng.integers(lo, hi, (2 * R + 1, 2)), MAC, {"stream": 1}
    m, k, n = R + 2, 2 * R + 1, C + 1
    yield "max", rng.integers(lo, hi, (m, k)), rng.integers(0, 2, (k, n)), MAX, {"stream": R + 1}


@cocotb.test()
async def gemm_matches_numpy_and_timing(dut):
    """Random and extreme GEMMs, tiled by the host, bit-exact and cycle-exact."""
    info = json.loads(Path(os.environ["CORE_MANIFEST"]).read_text())
    g = CoreGeometry.from_config(AccelConfig.from_dict(info["config"]))
    assert len(dut.west_wdata.value) == g.rows * g.west_bits and len(dut.north_wdata.value) == g.cols * g.north_bits
    assert len(dut.out_rdata.value) == g.cols * g.acc_bits

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start(start_high=False))
    driver, monitor, checker = CoreDriver(dut, g), CoreMonitor(dut, g), Checker(dut._log)
    await driver.reset()
    rng = np.random.default_rng(int(os.environ.get("BENCH_SEED", "1")))
    tiles_run = 0
    for name, a, b, mode, caps in problems(g, rng):
        tiles = plan_gemm(g, a, b, **caps)
        outputs = []
        for tile in tiles:
            await driver.start(tile, mode)
            measured = await monitor.cycles_to_done()
            expected = tile_cycles(g.dataflow, g.rows, g.cols, tile.stream_len, tile.folds)
            checker.check_cycles(measured, expected, f"{name} T={tile.stream_len} F={tile.folds}")
            outputs.append(await monitor.read(len(tile.out_rows)))
        checker.check_values(assemble(g, a.shape[:1] + b.shape[1:], tiles, outputs, mode), model(g, a, b, mode), name)
        tiles_run += len(tiles)
    dut._log.info(f"{tiles_run} tiles, {checker.checked} results checked")
    assert checker.values == 0 and checker.cycles == 0, (
        f"{checker.values} wrong results, {checker.cycles} tiles with wrong cycle counts"
    )
