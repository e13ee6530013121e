"""The layer core's output path (``rtl.hw.layer_core.output_path``), one lane in Amaranth's
simulator, bit-exact against the emulator's formula (``rtl.host.emulator.output_path``) over
random and extreme sums, multipliers, shifts, rounding and clamps, one input per edge.

The tiles of tests/test_layer_core.py reach only the requantization constants real layers
use; this reaches every bit of the sum, the multiplier split and the shifter.
"""

from __future__ import annotations

import numpy as np
from amaranth import Module, Signal, signed
from amaranth.lib import data
from amaranth.sim import Simulator

from rtl.host.emulator import output_path as reference
from rtl.hw.layer_core import clamp_bounds, output_path

INPUT_BITS = 8
SHAPES = {"OUT_MULT": 24, "OUT_SHIFT": 6, "OUT_ROUND": 1, "OUT_SUB": signed(32), "OUT_MIN": signed(32),
          "OUT_MAX": signed(32)}  # fmt: skip
LATENCY = 3  # registered stages before the clamp


def vectors(count: int, seed: int = 5) -> list[dict[str, int]]:
    """Random inputs with the extremes of every field mixed in."""
    rng = np.random.default_rng(seed)
    i32 = (-(2**31), 2**31 - 1)

    def pick(extremes, low, high):
        return int(rng.choice(extremes)) if rng.random() < 0.25 else int(rng.integers(low, high, endpoint=True))

    out = []
    for _ in range(count):
        low = pick((-128, 0, 127), -128, 127)
        high = pick((-128, 0, 127), -128, 127)
        v = {
            "acc": pick(i32, *i32), "bias": pick(i32, *i32),
            "OUT_MULT": pick((0, 1, 2**17 - 1, 2**17, 2**24 - 1), 0, 2**24 - 1),
            "OUT_SHIFT": pick((0, 1, 17, 34, 63), 0, 63), "OUT_ROUND": int(rng.integers(0, 1, endpoint=True)),
            "OUT_SUB": pick((-128, 0, 127), -300, 300),
            "OUT_MIN": min(low, high) if rng.random() < 0.9 else max(low, high),
            "OUT_MAX": max(low, high) if rng.random() < 0.9 else min(low, high),
        }  # fmt: skip
        if rng.random() < 0.5:  # a shift that lands the result within about 2^8 of zero
            product = (v["acc"] + v["bias"]) * v["OUT_MULT"]
            v["OUT_SHIFT"] = min(63, max(0, abs(product).bit_length() - int(rng.integers(0, 9))))
        out.append(v)
    return out


def expected(v: dict[str, int]) -> int:
    """The emulator's result (OUT_MAX where OUT_MIN > OUT_MAX, as ``np.clip`` orders it)."""
    regs = {k: v[k] for k in SHAPES}
    return int(reference(regs, np.array([v["acc"]], dtype=np.int64), np.int64(v["bias"]))[0])


def test_output_path_is_bit_exact_on_random_and_extreme_inputs():
    inputs = vectors(3000)
    m = Module()
    regs = Signal(data.StructLayout(SHAPES))
    acc, bias = Signal(signed(32)), Signal(signed(32))
    result = Signal(signed(INPUT_BITS))
    m.d.comb += result.eq(output_path(m, regs, clamp_bounds(m, regs), acc, bias, "lane"))
    got = []

    async def one_at_a_time(ctx):  # the clamp bounds lag the registers one edge: one input in flight
        for v in inputs:
            ctx.set(acc, v["acc"])
            ctx.set(bias, v["bias"])
            for name in SHAPES:
                ctx.set(getattr(regs, name), v[name])
            await ctx.tick().repeat(LATENCY)
            got.append(ctx.get(result))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(one_at_a_time)
    sim.run()
    want = [expected(v) for v in inputs]  # within int8: OUT_MIN and OUT_MAX are
    mismatches = [(v, g, w) for v, g, w in zip(inputs, got, want) if g != w]
    assert not mismatches, mismatches[:3]
