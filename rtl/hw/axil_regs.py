"""An AXI4-Lite subordinate register file, generic over a table of 32-bit-aligned registers.

Per register ``name`` in the table the component has these ports:

- RW: ``name`` (Out, the stored value) and ``name_written`` (Out, one-cycle strobe).
- RO: ``name`` (In, sampled when the register is read).
- W1C: ``name`` (Out, the stored flags), ``name_set`` (In, flags to raise this cycle) and
  ``name_written`` (Out).

``name_written`` is high for the one cycle after the write's edge, the same cycle in which the
new value is first visible, so a doorbell such as ``START`` can act on it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import RESP_OKAY, RESP_SLVERR, AXI4LiteSignature

ACCESS = ("RW", "RO", "W1C")


@dataclass(frozen=True)
class Register:
    """One register of the table.

    Parameters
    ----------
    name : str
        Port name stem; a Python identifier.
    offset : int
        Byte offset from the base of the register file; a multiple of 4.
    access : str
        ``"RW"`` (read/write, byte strobes honoured), ``"RO"`` (driven by the ``name`` input)
        or ``"W1C"`` (write 1 to clear; flags raised by the ``name_set`` input).
    width : int
        Bits, 1..32; the upper bits of the 32-bit word read as 0 and ignore writes.
    reset : int
        Value after reset (RW and W1C), in ``0 .. 2**width - 1``.
    """

    name: str
    offset: int
    access: str = "RW"
    width: int = 32
    reset: int = 0

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"Register name must be a Python identifier, not {self.name!r}")
        if self.access not in ACCESS:
            raise ValueError(f"Register {self.name} access must be one of {', '.join(ACCESS)}, not {self.access!r}")
        if not isinstance(self.offset, int) or self.offset < 0 or self.offset % 4:
            raise ValueError(f"Register {self.name} offset must be a non-negative multiple of 4 bytes, not {self.offset!r}")
        if not isinstance(self.width, int) or not 1 <= self.width <= 32:
            raise ValueError(f"Register {self.name} width must be an integer between 1 and 32 bits, not {self.width!r}")
        if not isinstance(self.reset, int) or not 0 <= self.reset < 1 << self.width:
            raise ValueError(f"Register {self.name} reset value must fit in {self.width} bits, not {self.reset!r}")
        if self.access == "RO" and self.reset:
            raise ValueError(f"Register {self.name} is read-only and has no reset value; drive its input instead")


class AXILiteRegisters(wiring.Component):
    """AXI4-Lite subordinate exposing a register table; port ``s_axil`` plus per-register ports.

    One write and one read may be outstanding at a time (they proceed independently). AW and W
    are accepted in either order or together; the write takes effect once both are held and
    BRESP is OKAY, or SLVERR for an address that maps to no register (nothing is written).
    Reads return RRESP OKAY with the value, or SLVERR with data 0. Address bits [1:0] are
    ignored (every access is a whole 32-bit word).

    Parameters
    ----------
    registers : sequence of Register
        The table; names and offsets must be unique.
    address_width : int
        Byte address width of ``s_axil``, in bits (12..64); every offset must fit.
    """

    def __init__(self, registers, address_width: int = 12) -> None:
        registers = tuple(registers)
        if not registers or not all(isinstance(r, Register) for r in registers):
            raise ValueError("Register table must be a non-empty sequence of Register")
        signature = AXI4LiteSignature(address_width)
        for attr, what in (("name", "name"), ("offset", "offset")):
            values = [getattr(r, attr) for r in registers]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"Register {what}s must be unique, not repeated: {duplicates}")
        for r in registers:
            if r.offset >= 1 << address_width:
                raise ValueError(f"Register {r.name} offset {r.offset:#x} does not fit in {address_width} address bits")
        self.registers = registers
        ports = [("s_axil", In(signature))]
        for r in registers:
            ports.append((r.name, In(r.width) if r.access == "RO" else Out(r.width, init=r.reset)))
            if r.access == "W1C":
                ports.append((f"{r.name}_set", In(r.width)))
            if r.access != "RO":
                ports.append((f"{r.name}_written", Out(1)))
        names = [name for name, _ in ports] + ["clk", "rst"]
        clashes = sorted({name for name in names if names.count(name) > 1})
        if clashes:
            raise ValueError(f"Register ports must not share a name with each other, s_axil, clk or rst: {clashes}")
        super().__init__(dict(ports))

    def elaborate(self, platform):
        m = Module()
        bus = self.s_axil

        # Write path: AW and W are each captured into a holding register, so a manager that
        # waits for AWREADY before raising WVALID (or the reverse) cannot deadlock us; both
        # READYs stay low while a response is pending, which bounds us to one outstanding write.
        aw_held, w_held = Signal(), Signal()
        waddr = Signal.like(bus.awaddr)
        wdata, wstrb = Signal(32), Signal(4)
        m.d.comb += [
            bus.awready.eq(~aw_held & ~bus.bvalid),
            bus.wready.eq(~w_held & ~bus.bvalid),
        ]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_held.eq(1), waddr.eq(bus.awaddr)]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_held.eq(1), wdata.eq(bus.wdata), wstrb.eq(bus.wstrb)]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        commit = aw_held & w_held
        # A byte lane is written only where its strobe is set (AXI A3.4.3).
        strobe_mask = Cat(*(wstrb[i].replicate(8) for i in range(4)))
        write_word = waddr[2:]
        with m.If(commit):
            m.d.sync += [aw_held.eq(0), w_held.eq(0), bus.bvalid.eq(1), bus.bresp.eq(RESP_SLVERR)]

        for r in self.registers:
            hit = commit & (write_word == r.offset >> 2)
            with m.If(hit):
                m.d.sync += bus.bresp.eq(RESP_OKAY)
            if r.access == "RO":
                continue
            port = getattr(self, r.name)
            m.d.sync += getattr(self, f"{r.name}_written").eq(hit)
            if r.access == "RW":
                with m.If(hit):
                    m.d.sync += port.eq((port & ~strobe_mask[: r.width]) | (wdata[: r.width] & strobe_mask[: r.width]))
            else:
                # Hardware sets win over a simultaneous software clear, so no event is lost.
                clear = Signal(r.width, name=f"{r.name}_clear")
                m.d.comb += clear.eq(hit.replicate(r.width) & wdata[: r.width] & strobe_mask[: r.width])
                m.d.sync += port.eq((port & ~clear) | getattr(self, f"{r.name}_set"))

        # Read path: the response is registered, and ARREADY is low while it waits for RREADY,
        # which bounds us to one outstanding read.
        m.d.comb += bus.arready.eq(~bus.rvalid)
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(0), bus.rresp.eq(RESP_SLVERR)]
            with m.Switch(bus.araddr[2:]):
                for r in self.registers:
                    with m.Case(r.offset >> 2):
                        m.d.sync += [bus.rdata.eq(getattr(self, r.name)), bus.rresp.eq(RESP_OKAY)]
        return m
