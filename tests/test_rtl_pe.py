# amaranth: UnusedElaboratable=no
"""Amaranth-simulator unit tests of the PEs, the skew lines and parameter validation.

(The magic comment above: constructors that raise leave components that are never elaborated.)
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from accel.config import AccelConfig, ConfigError
from rtl.geometry import CoreGeometry
from rtl.hw.pe import PE, Mode, OperandStationaryPE, OutputStationaryPE
from rtl.hw.skew import Skew

pytestmark = pytest.mark.rtl
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def simulate(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def wrap(value: int, bits: int) -> int:
    return ((value + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))


def ws_steps(dut, steps, weight, mode=Mode.MAC):
    """Load ``weight``, then feed ``(a, psum_in)`` pairs; return each cycle's ``psum_out``."""
    out = []

    async def bench(ctx):
        ctx.set(dut.column, weight)
        ctx.set(dut.west_in.load, 1)
        await ctx.tick()
        ctx.set(dut.west_in.load, 0)
        ctx.set(dut.column, 0)  # the bus changes; the PE must keep its latched weight
        ctx.set(dut.west_in.mode, mode)
        for a, psum in steps:
            ctx.set(dut.west_in.a, a)
            ctx.set(dut.north_in.result, psum)
            await ctx.tick()
            assert ctx.get(dut.west_out.a) == a  # registered forwarding
            out.append(ctx.get(dut.south_out.result))

    simulate(dut, bench)
    return out


def test_ws_pe_mac_matches_model():
    rng = np.random.default_rng(0)
    steps = [(int(a), int(p)) for a, p in zip(rng.integers(-128, 128, 20), rng.integers(-(10**6), 10**6, 20))]
    out = ws_steps(OperandStationaryPE(8, 8, 32), steps, weight=-77)
    assert out == [p + a * -77 for a, p in steps]


def test_ws_pe_uses_the_weight_latched_at_the_end_of_a_load_cycle():
    rng = np.random.default_rng(3)
    cycles = [(int(a), int(p), bool(load), int(c)) for a, p, load, c in zip(
        rng.integers(-128, 128, 40), rng.integers(-(10**6), 10**6, 40), rng.random(40) < 0.4, rng.integers(-128, 128, 40)
    )]
    dut, out = OperandStationaryPE(8, 8, 32), []

    async def bench(ctx):
        for a, psum, load, column in cycles:
            ctx.set(dut.west_in.a, a)
            ctx.set(dut.north_in.result, psum)
            ctx.set(dut.west_in.load, load)
            ctx.set(dut.column, column)
            await ctx.tick()
            out.append(ctx.get(dut.south_out.result))

    simulate(dut, bench)
    weight, expected = 0, []
    for a, psum, load, column in cycles:
        expected.append(psum + a * weight)
        weight = column if load else weight
    assert out == expected


def test_ws_pe_max_passes_larger_value_where_weight_selects():
    steps = [(5, -3), (-5, -3), (-128, INT32_MIN), (127, 200)]
    assert ws_steps(OperandStationaryPE(8, 8, 32), steps, weight=1, mode=Mode.MAX) == [5, -3, -128, 200]
    assert ws_steps(OperandStationaryPE(8, 8, 32), steps, weight=0, mode=Mode.MAX) == [-3, -3, INT32_MIN, 200]


def test_ws_pe_wraps_like_twos_complement():
    steps = [(1, INT32_MAX), (-128, INT32_MIN), (127, 0)]
    out = ws_steps(OperandStationaryPE(8, 8, 32), steps, weight=-128)
    assert out == [wrap(p + a * -128, 32) for a, p in steps]
    assert out[0] == INT32_MAX - 128 and out[1] == wrap(INT32_MIN + 16384, 32)
    narrow = ws_steps(OperandStationaryPE(8, 8, 16), [(-128, 32767)], weight=-128)
    assert narrow == [wrap(32767 + 16384, 16)]


def os_run(dut, pairs, mode=Mode.MAC):
    """Stream ``(a, b)`` pairs as one output (clear on the first, last on the last).

    Returns the accumulator value seen on ``south_out.result`` of a bottom PE in the cycle
    after ``last`` and the ``b`` forwarded down.
    """
    seen = {}

    async def bench(ctx):
        ctx.set(dut.west_in.mode, mode)
        for index, (a, b) in enumerate(pairs):
            ctx.set(dut.west_in.a, a)
            ctx.set(dut.north_in.b, b)
            ctx.set(dut.west_in.clear, index == 0)
            ctx.set(dut.west_in.last, index == len(pairs) - 1)
            await ctx.tick()
            assert ctx.get(dut.south_out.b) == b
        ctx.set(dut.west_in.last, 0)
        ctx.set(dut.west_in.a, 0)
        ctx.set(dut.north_in.b, 0)
        seen["final"] = ctx.get(dut.south_out.result)

    simulate(dut, bench)
    return seen["final"]


def test_os_pe_accumulates_and_clear_restarts():
    dut = OutputStationaryPE(8, 8, 32, bottom=True)
    pairs = [(3, 4), (-2, 7), (127, -128)]
    assert os_run(dut, pairs) == 12 - 14 + 127 * -128
    assert os_run(OutputStationaryPE(8, 8, 32, bottom=True), [(9, 9)] + pairs) == os_run(dut, pairs) + 81
    # ``clear`` on the first pair discards whatever the accumulator held before.
    assert os_run(dut, [(1, 1)]) == 1


def test_os_pe_max_and_wrap():
    pairs = [(-7, 1), (100, 0), (-3, 1), (-100, 1)]
    assert os_run(OutputStationaryPE(8, 8, 32, bottom=True), pairs, mode=Mode.MAX) == -3
    assert os_run(OutputStationaryPE(8, 8, 32, bottom=True), [(5, 0)], mode=Mode.MAX) == INT32_MIN
    long_k = [(-128, -128)] * 5  # 5 * 16384 overflows 16 bits
    assert os_run(OutputStationaryPE(8, 8, 16, bottom=True), long_k) == wrap(5 * 16384, 16)


def test_os_pe_drain_copies_then_shifts():
    dut = OutputStationaryPE(8, 8, 32)
    trace = []

    async def bench(ctx):
        ctx.set(dut.north_in.result, 55)
        for a, last in ((6, 0), (7, 1)):
            ctx.set(dut.west_in.a, a)
            ctx.set(dut.north_in.b, 1)
            ctx.set(dut.west_in.clear, a == 6)
            ctx.set(dut.west_in.last, last)
            await ctx.tick()
        ctx.set(dut.west_in.last, 0)
        await ctx.tick()  # the copy: one cycle after ``last``
        trace.append(ctx.get(dut.south_out.result))
        ctx.set(dut.column, 1)  # drain start: take the register above, pass the token down
        await ctx.tick()
        trace.append((ctx.get(dut.south_out.result), ctx.get(dut.south_out.shift)))
        ctx.set(dut.column, 0)
        ctx.set(dut.north_in.result, 66)
        await ctx.tick()
        trace.append(ctx.get(dut.south_out.result))  # no token: holds

    simulate(dut, bench)
    assert trace == [13, (55, 1), 55]


def skew_outputs(dut: Skew, cycles: int) -> list[list[int]]:
    """Feed word ``t`` = ``[10 t, 10 t + 1, ...]`` in cycle ``t``; return each cycle's output."""
    seen = []

    async def bench(ctx):
        for t in range(cycles):
            ctx.set(dut.i, [10 * t + lane for lane in range(dut.lanes)])
            seen.append(list(ctx.get(dut.o)))
            await ctx.tick()

    simulate(dut, bench)
    return seen


@pytest.mark.parametrize("reverse", [False, True])
def test_skew_delays_lane_i_by_i_cycles_and_reverse(reverse):
    seen = skew_outputs(Skew(8, 3, reverse=reverse), 6)
    for lane in range(3):
        delay = 2 - lane if reverse else lane
        assert [row[lane] for row in seen][delay:] == [10 * t + lane for t in range(6 - delay)]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: OperandStationaryPE(0, 8, 32), "PE a_bits must be an integer >= 2, not 0"),
        (lambda: OutputStationaryPE(8, 8, 4), "PE acc_bits must be an integer >= 8, not 4"),
        (lambda: Skew(8, 0), "Skew lanes must be a positive integer, not 0"),
        (lambda: CoreGeometry.from_config(AccelConfig(rows=64, cols=64, filter_kib=1)), "raise filter_kib"),
    ],
)
def test_invalid_parameters_raise_clear_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_pe_kind_and_widths_follow_the_config():
    assert PE.kind(AccelConfig(dataflow="os")) is OutputStationaryPE
    config = AccelConfig(dataflow="is", input_bits=4, weight_bits=6, acc_bits=20)
    assert PE.kind(config) is OperandStationaryPE
    west, north, column = PE.config_layouts(config)  # IS streams weights from the west
    assert (west.members["a"].width, column.width, north.members["result"].width) == (6, 4, 20)


@pytest.mark.parametrize("bits", [(8, 8, 32), (4, 6, 20), (8, 8, 17), (3, 3, 8), (16, 4, 24)])
def test_multiply_add_wraps_like_the_plain_sum(bits):
    """The carry-select multiply-add equals ``x + a*b`` modulo 2**acc_bits on extreme and random operands."""
    a_bits, b_bits, acc_bits = bits
    dut = OperandStationaryPE(a_bits, b_bits, acc_bits)
    rng = np.random.default_rng(sum(bits))
    lo_a, hi_a, lo_b, hi_b = -(1 << (a_bits - 1)), 1 << (a_bits - 1), -(1 << (b_bits - 1)), 1 << (b_bits - 1)
    lo_x, hi_x = -(1 << (acc_bits - 1)), 1 << (acc_bits - 1)
    edges = [(a, b, x) for a in (lo_a, -1, 0, 1, hi_a - 1) for b in (lo_b, -1, 0, 1, hi_b - 1)
             for x in (lo_x, lo_x + 1, -1, 0, 1, hi_x - 2, hi_x - 1)]  # fmt: skip
    randoms = zip(rng.integers(lo_a, hi_a, 300), rng.integers(lo_b, hi_b, 300), rng.integers(lo_x, hi_x, 300))
    cases = edges + [tuple(int(v) for v in case) for case in randoms]
    for weight in sorted({b for _, b, _ in cases}):
        steps = [(a, x) for a, b, x in cases if b == weight]
        out = ws_steps(dut, steps, weight=weight)
        assert out == [wrap(x + a * weight, acc_bits) for a, x in steps], weight
