"""cocotb bench of :class:`rtl.hw.axi_bursts.BurstSplitter`: random requests against :func:`split_bursts`.

Run by ``tests/test_rtl_axi.py``; ``BURST_LENGTH_WIDTH`` and ``BENCH_SEED`` come from the
environment, the bus width from ``m_axi_arsize``. A monitor accepts AR handshakes with a
random ``arready`` and records every burst; per request the bursts must equal the reference,
each be at most 256 beats, cross no 4 KiB boundary and together cover exactly the requested
bytes (widened to whole bus words). The test ends by asserting zero mismatches.
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from rtl.hw.axi import BURST_INCR
from rtl.hw.axi_bursts import split_bursts

REQUESTS = 80
#: Cycles a request may take per expected burst before the bench calls the DUT hung.
CYCLES_PER_BURST = 40


async def monitor(dut, rng: random.Random, bursts: list) -> None:
    """Drive ``arready`` at random and record ``(araddr, beats)`` of each accepted burst."""
    while True:
        await FallingEdge(dut.clk)
        dut.m_axi_arready.value = rng.random() < 0.6
        await RisingEdge(dut.clk)
        if int(dut.m_axi_arvalid.value) and int(dut.m_axi_arready.value):
            assert int(dut.m_axi_arburst.value) == BURST_INCR
            bursts.append((int(dut.m_axi_araddr.value), int(dut.m_axi_arlen.value) + 1))


def random_request(rng: random.Random, length_width: int) -> tuple[int, int]:
    kind = rng.randrange(4)
    if kind == 0:  # short, anywhere
        nbytes = rng.randrange(0, 100)
    elif kind == 1:  # long
        nbytes = rng.randrange(1, 1 << length_width)
    else:  # straddling a 4 KiB boundary or a 256-beat limit
        nbytes = rng.randrange(1, min(1 << length_width, 3 * 4096))
    if kind == 3:
        addr = rng.randrange(1, 1 << 20) * 4096 - rng.randrange(0, 64)
    else:
        addr = rng.randrange(0, (1 << 32) - nbytes)
    return addr, nbytes


@cocotb.test()
async def bursts(dut):
    length_width = int(os.environ["BURST_LENGTH_WIDTH"])
    rng = random.Random(int(os.environ["BENCH_SEED"]))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.req_valid.value, dut.req_payload.value, dut.m_axi_arready.value = 0, 0, 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    bus_bytes = 1 << int(dut.m_axi_arsize.value)
    seen: list[tuple[int, int]] = []
    cocotb.start_soon(monitor(dut, rng, seen))

    mismatches = 0
    requests = [random_request(rng, length_width) for _ in range(REQUESTS)] + [(4092, 8), (0, 0)]
    for addr, nbytes in requests:
        expected = split_bursts(addr, nbytes, bus_bytes)
        seen.clear()
        await FallingEdge(dut.clk)
        dut.req_payload.value = addr | nbytes << 32
        dut.req_valid.value = 1
        await RisingEdge(dut.clk)
        assert int(dut.req_ready.value), "the splitter refused a request while idle"
        await FallingEdge(dut.clk)
        dut.req_valid.value = 0
        assert int(dut.offset.value) == addr % bus_bytes
        for _ in range(CYCLES_PER_BURST * (len(expected) + 1)):
            if not int(dut.busy.value):
                break
            await FallingEdge(dut.clk)
        assert not int(dut.busy.value), f"request {addr:#x}+{nbytes} still busy"
        covered = sum(beats for _, beats in seen) * bus_bytes
        legal = all(
            1 <= beats <= 256 and start % bus_bytes == 0 and start // 4096 == (start + beats * bus_bytes - 1) // 4096
            for start, beats in seen
        )
        contiguous = all(a + n * bus_bytes == b for (a, n), (b, _) in zip(seen, seen[1:]))
        words = (-(-(addr + nbytes) // bus_bytes) - addr // bus_bytes) * bus_bytes if nbytes else 0
        first_ok = not seen or seen[0][0] == addr - addr % bus_bytes
        if seen != expected or not legal or not contiguous or covered != words or not first_ok:
            mismatches += 1
            dut._log.error(f"request {addr:#x}+{nbytes}: bursts {seen[:4]}..., expected {expected[:4]}...")
    assert mismatches == 0, f"{mismatches} of {len(requests)} requests split wrongly"
