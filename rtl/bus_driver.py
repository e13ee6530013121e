"""cocotb host driver of the layer accelerator's bus (``docs/accelerator.md``).

Runs inside the simulator's Python; sizes and address map come from the generated manifest
(a dict), so it imports neither Amaranth nor the RTL. All inputs change at falling clock
edges, so every rising edge samples stable values.
"""

from __future__ import annotations

from cocotb.triggers import FallingEdge

#: Longest descriptor the driver waits for by default before declaring the DUT hung, in cycles.
TIMEOUT = 1_000_000


def to_signed(value: int, bits: int = 32) -> int:
    """Two's-complement reading of the low ``bits`` bits of ``value``."""
    half = 1 << (bits - 1)
    return ((value & ((1 << bits) - 1)) ^ half) - half


class BusDriver:
    """Reads and writes through ``bus_*`` and runs descriptors; ``manifest`` is the generated one."""

    def __init__(self, dut, manifest: dict) -> None:
        self.dut, self.manifest = dut, manifest
        self.region_bits, self.read_latency = manifest["REGION_BITS"], manifest["READ_LATENCY"]
        self.settle_cycles = manifest["SETTLE_CYCLES"]  # idle cycles between the last write and CTRL
        self.regions, self.registers = manifest["REGIONS"], manifest["REGISTERS"]

    def addr(self, region: str, offset: int) -> int:
        """Bus word address of ``offset`` in region ``region`` (a name of the region table)."""
        assert 0 <= offset < 1 << self.region_bits, f"offset {offset} outside region {region}"
        return self.regions[region] << self.region_bits | offset

    def reg(self, name: str) -> int:
        """Bus address of register ``name``."""
        return self.addr("registers", self.registers[name])

    async def reset(self) -> None:
        """Hold ``rst`` for 3 cycles with the bus idle."""
        dut = self.dut
        dut.bus_we.value, dut.bus_re.value, dut.bus_addr.value, dut.bus_wdata.value = 0, 0, 0, 0
        dut.rst.value = 1
        for _ in range(3):
            await FallingEdge(dut.clk)
        dut.rst.value = 0

    async def write(self, addr: int, value: int) -> None:
        await self.write_many([(addr, value)])

    async def write_many(self, addr_values) -> None:
        """One write per cycle; values are truncated to 32 bits (two's complement)."""
        dut = self.dut
        dut.bus_we.value = 1
        for addr, value in addr_values:
            dut.bus_addr.value, dut.bus_wdata.value = addr, int(value) & 0xFFFF_FFFF
            await FallingEdge(dut.clk)
        dut.bus_we.value = 0

    async def read_many(self, addresses) -> list[int]:
        """One read per cycle; returns the sign-extended data, checking the read latency."""
        dut, addresses, values = self.dut, list(addresses), []
        for cycle in range(len(addresses) + self.read_latency):
            dut.bus_re.value = int(cycle < len(addresses))
            if cycle < len(addresses):
                dut.bus_addr.value = addresses[cycle]
            await FallingEdge(dut.clk)
            if int(dut.bus_rvalid.value):
                assert cycle - len(values) == self.read_latency, "read data arrived at the wrong cycle"
                values.append(to_signed(int(dut.bus_rdata.value)))
        assert len(values) == len(addresses), f"{len(values)} of {len(addresses)} reads returned"
        return values

    async def start_and_wait(self, timeout: int = TIMEOUT) -> int:
        """Start the loaded descriptor, wait for ``done``; returns CYCLES (checked against our count)."""
        dut = self.dut
        for _ in range(self.settle_cycles):
            await FallingEdge(dut.clk)
        await self.write(self.reg("CTRL"), 1)
        cycles = 0
        while not int(dut.done.value):
            await FallingEdge(dut.clk)
            cycles += 1
            assert cycles < timeout, f"the accelerator did not raise done within {timeout} cycles"
        (reported,) = await self.read_many([self.reg("CYCLES")])
        assert reported == cycles, f"CYCLES register {reported} != {cycles} cycles counted"
        return cycles
