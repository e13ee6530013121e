"""cocotb bench of :class:`rtl.hw.axil_regs.AXILiteRegisters` built from ``tests.test_rtl_axi.REGISTERS``.

Run by ``tests/test_rtl_axi.py``. cocotbext-axi's ``AxiLiteMaster`` writes and reads every
register: RW with full and partial byte strobes, RO driven from the inputs, W1C set by hardware
and cleared by software, and an unmapped address (SLVERR on both paths, never a hang). A raw
writes with W ahead of AW and AW ahead of W check the orderings the master model does not
produce, and a write and a read overlap. Every
``*_written`` strobe is counted and compared with the writes made.
"""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, with_timeout
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp

from tests.test_rtl_axi import REGISTERS

UNMAPPED = 0x40
#: Time any single AXI transaction may take before the bench calls the DUT hung, in ns (100 cycles).
TIMEOUT_NS = 1_000


async def count_strobes(dut, name: str, counts: dict) -> None:
    while True:
        await RisingEdge(dut.clk)
        if int(getattr(dut, f"{name}_written").value):
            counts[name] += 1


async def reset(dut) -> None:
    dut.status.value, dut.version.value, dut.irq_set.value = 0, 0, 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def raw_write(dut, address: int, value: int, w_first: bool) -> AxiResp:
    """One write driven pin by pin, the second channel three cycles after the first."""
    bus = "s_axil"
    channels = [("w", {"wdata": value, "wstrb": 0b1111}), ("aw", {"awaddr": address})]
    await FallingEdge(dut.clk)
    getattr(dut, f"{bus}_bready").value = 1
    for order, (channel, fields) in enumerate(channels if w_first else channels[::-1]):
        for name, v in fields.items():
            getattr(dut, f"{bus}_{name}").value = v
        getattr(dut, f"{bus}_{channel}valid").value = 1
        await FallingEdge(dut.clk)
        assert not int(getattr(dut, f"{bus}_{channel}ready").value), f"{channel} was not taken at the edge"
        getattr(dut, f"{bus}_{channel}valid").value = 0
        if order == 0:
            await ClockCycles(dut.clk, 2, rising=False)
            assert not int(getattr(dut, f"{bus}_bvalid").value), "responded before the second channel"
    for _ in range(4):
        if int(getattr(dut, f"{bus}_bvalid").value):
            break
        await FallingEdge(dut.clk)
    resp = AxiResp(int(getattr(dut, f"{bus}_bresp").value))
    assert int(getattr(dut, f"{bus}_bvalid").value), "no write response"
    await FallingEdge(dut.clk)
    getattr(dut, f"{bus}_bready").value = 0
    return resp


@cocotb.test()
async def registers(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    await reset(dut)
    counts = {r.name: 0 for r in REGISTERS if r.access != "RO"}
    for name in counts:
        cocotb.start_soon(count_strobes(dut, name, counts))

    async def read(address: int) -> tuple[int, AxiResp]:
        response = await with_timeout(master.read(address, 4), TIMEOUT_NS, "ns")
        return int.from_bytes(response.data, "little"), response.resp

    async def write(address: int, data: bytes) -> AxiResp:
        return (await with_timeout(master.write(address, data), TIMEOUT_NS, "ns")).resp

    # Reset values.
    assert await read(0x00) == (0x12345678, AxiResp.OKAY)
    assert await read(0x04) == (0x03, AxiResp.OKAY)
    assert await read(0x0C) == (0b0001, AxiResp.OKAY)

    # RW: a whole word, then single bytes (WSTRB 0b0010 and 0b1000) leave the other lanes alone.
    assert await write(0x00, (0xA5A5A5A5).to_bytes(4, "little")) == AxiResp.OKAY
    assert int(dut.ctrl.value) == 0xA5A5A5A5
    assert await write(0x01, b"\x3c") == AxiResp.OKAY
    assert await write(0x03, b"\x7e") == AxiResp.OKAY
    assert await read(0x00) == (0x7EA53CA5, AxiResp.OKAY)
    assert int(dut.ctrl.value) == 0x7EA53CA5
    # A narrow register keeps its width; the upper bits read as 0.
    assert await write(0x04, (0xFFFFFFFF).to_bytes(4, "little")) == AxiResp.OKAY
    assert await read(0x04) == (0xFF, AxiResp.OKAY)
    assert counts["ctrl"] == 3 and counts["mode"] == 1

    # RO: the value is the input's; a write is acknowledged and changes nothing.
    dut.status.value, dut.version.value = 0xBEEF, 0x00010203
    assert await read(0x08) == (0xBEEF, AxiResp.OKAY)
    assert await read(0x10) == (0x00010203, AxiResp.OKAY)
    assert await write(0x08, (0x1234).to_bytes(4, "little")) == AxiResp.OKAY
    assert await read(0x08) == (0xBEEF, AxiResp.OKAY)

    # W1C: hardware raises flags for one cycle; writing 1s clears only those bits.
    await FallingEdge(dut.clk)
    dut.irq_set.value = 0b1010
    await FallingEdge(dut.clk)
    dut.irq_set.value = 0
    assert await read(0x0C) == (0b1011, AxiResp.OKAY)
    assert await write(0x0C, (0b0011).to_bytes(4, "little")) == AxiResp.OKAY
    assert await read(0x0C) == (0b1000, AxiResp.OKAY)
    assert int(dut.irq.value) == 0b1000 and counts["irq"] == 1

    # Unmapped: SLVERR on both paths, and the bus keeps working afterwards.
    assert await write(UNMAPPED, (0xFFFFFFFF).to_bytes(4, "little")) == AxiResp.SLVERR
    assert await read(UNMAPPED) == (0, AxiResp.SLVERR)
    assert await read(0x00) == (0x7EA53CA5, AxiResp.OKAY)

    # Raw writes in the orders the master model does not produce: W three cycles ahead of AW,
    # then AW three cycles ahead of W; each is held until the other arrives.
    assert await raw_write(dut, 0x00, 0x0BADF00D, w_first=True) == AxiResp.OKAY
    assert await read(0x00) == (0x0BADF00D, AxiResp.OKAY)
    assert await raw_write(dut, 0x04, 0x5A, w_first=False) == AxiResp.OKAY
    assert await read(0x04) == (0x5A, AxiResp.OKAY)

    # A write and a read in flight together, each to its own register.
    done = await cocotb.triggers.gather(write(0x00, (0xCAFE).to_bytes(4, "little")), read(0x04))
    assert tuple(done) == (AxiResp.OKAY, (0x5A, AxiResp.OKAY))
    assert await read(0x00) == (0xCAFE, AxiResp.OKAY)
    assert counts == {"ctrl": 5, "mode": 2, "irq": 1}
