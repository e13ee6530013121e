"""The control register block of the AXI peripheral: doorbell, status, interrupt, counters.

The registers are :data:`rtl.spec.CONTROL_REGISTERS` behind an AXI4-Lite port
(:class:`rtl.hw.axil_regs.AXILiteRegisters`). Towards the command processor the block gives a
``start`` pulse with the program's address and length, and takes ``finish`` (a pulse) with an
``error_code`` (0: none) and ``computing`` (the array is busy, for the COMPUTE counter).

Timing: a write of 1 to CTRL.START sampled at edge ``w`` while not busy pulses ``start`` in the
cycle after it; ``busy`` is high from edge ``w + 1`` until the edge that samples ``finish``. The
counters run in the cycles ``busy`` is high but for the one with ``finish`` (CYCLES: the
simulator's cycles of the program), and in those of them with ``computing`` also high (COMPUTE),
and stop with it; they restart from 0 at the next start. ``irq`` is
``|(IRQ_STATUS & IRQ_ENABLE)``, a level, high until software clears the status bits.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import AXI4LiteSignature
from .axil_regs import AXILiteRegisters, Register
from ..spec import CONTROL_REGISTERS, EVENTS, ID_VALUE, field

#: Byte address bits of the AXI4-Lite port (a 4 KiB window).
ADDRESS_BITS = 12


class ControlBlock(wiring.Component):
    """Control registers for an ``rows`` x ``cols`` array whose data port has ``data_bytes`` per
    beat and ``address_bits`` address bits (the values the ARRAY and BUS registers report)."""

    def __init__(self, rows: int, cols: int, data_bytes: int, address_bits: int) -> None:
        self.constants = {
            "ID": ID_VALUE,
            "ARRAY": rows | cols << field("ARRAY", "COLS").lsb,
            "BUS": data_bytes | address_bits << field("BUS", "ADDR_BITS").lsb,
        }
        super().__init__({
            "s_axil": In(AXI4LiteSignature(ADDRESS_BITS)),
            "irq": Out(1),
            "start": Out(1),
            "prog_addr": Out(64),
            "prog_len": Out(32),
            "busy": Out(1),
            "finish": In(1),
            "error_code": In(8),
            "computing": In(1),
        })  # fmt: skip

    def elaborate(self, platform):
        m = Module()
        table = [Register(r.name, r.offset, r.access, r.width) for r in CONTROL_REGISTERS]
        m.submodules.registers = regs = AXILiteRegisters(table, ADDRESS_BITS)
        wiring.connect(m, wiring.flipped(self.s_axil), regs.s_axil)
        for name, value in self.constants.items():
            m.d.comb += getattr(regs, name).eq(value)

        done, failed, code = Signal(), Signal(), Signal(8)
        cycles, compute = Signal(64), Signal(64)
        m.d.comb += [
            self.start.eq(regs.CTRL_written & regs.CTRL[field("CTRL", "START").lsb] & ~self.busy),
            self.prog_addr.eq(Cat(regs.PROG_ADDR_LO, regs.PROG_ADDR_HI)),
            self.prog_len.eq(regs.PROG_LEN),
            regs.STATUS.eq(Cat(self.busy, done, failed)),
            regs.ERROR_CODE.eq(code),
            regs.CYCLES_LO.eq(cycles[:32]),
            regs.CYCLES_HI.eq(cycles[32:]),
            regs.COMPUTE_LO.eq(compute[:32]),
            regs.COMPUTE_HI.eq(compute[32:]),
            self.irq.eq((regs.IRQ_STATUS & regs.IRQ_ENABLE).any()),
        ]
        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), done.eq(0), failed.eq(0), code.eq(0), cycles.eq(0), compute.eq(0)]
        with m.Elif(self.busy & self.finish):
            m.d.sync += [self.busy.eq(0), done.eq(1), failed.eq(self.error_code != 0), code.eq(self.error_code)]
        with m.If(self.busy & ~self.finish):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(self.computing):
                m.d.sync += compute.eq(compute + 1)
        ending = self.busy & self.finish
        events = {"DONE": ending, "ERROR": ending & (self.error_code != 0)}
        for event in EVENTS:
            m.d.comb += regs.IRQ_STATUS_set[event.lsb].eq(events[event.name])
        return m
