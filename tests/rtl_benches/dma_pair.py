"""Both DMA engines on one ``m_axi`` port, fed in order from one command stream (a bench top).

It stands for the command processor's hand-over: each command of ``cmd`` goes to the reader
(``write`` 0) or the writer (``write`` 1) in stream order, and the engines' ``hold`` inputs keep
the memory's requests in that order with no gap:

- a command handed to one engine while the other is ``pending`` marks the first engine as
  *behind* it; an engine behind the other has ``hold = other.pending``; the mark is dropped in
  a cycle in which the other engine is not ``pending``;
- a command for an engine that another engine is behind waits until that engine is not
  ``pending`` (its ``pending`` would otherwise extend the other's hold, and the new command
  would have to be held by the other: neither would issue).

Ports: ``cmd`` (stream of ``{"command": command_layout, "write": 1}``), ``m_axi``
(:class:`rtl.axi.AXI4Signature`), ``wr`` and ``rd`` (the engines' on-chip ports),
``reader_done`` and ``writer_done``.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from rtl import axi
from rtl.dma import DmaParams, DmaReader, DmaWriter, chip_read_signature, chip_write_signature, command_layout


class DmaPair(wiring.Component):
    def __init__(self, params: DmaParams) -> None:
        self.params = params
        handed = data.StructLayout({"command": command_layout(params), "write": 1})
        bus = axi.AXI4Signature(params.address_width, params.data_width, params.id_width)
        super().__init__(
            {
                "cmd": In(stream.Signature(handed)),
                "m_axi": Out(bus),
                "wr": Out(chip_write_signature(params)),
                "rd": Out(chip_read_signature(params)),
                "reader_done": Out(1),
                "writer_done": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = DmaReader(self.params)
        m.submodules.writer = writer = DmaWriter(self.params)
        bus = wiring.flipped(self.m_axi)
        wiring.connect(m, axi.subset(bus, reader.m_axi.signature), reader.m_axi)
        wiring.connect(m, axi.subset(bus, writer.m_axi.signature), writer.m_axi)
        wiring.connect(m, wiring.flipped(self.wr), reader.wr)
        wiring.connect(m, wiring.flipped(self.rd), writer.rd)
        m.d.comb += [self.reader_done.eq(reader.done), self.writer_done.eq(writer.done)]

        reader_behind, writer_behind = Signal(), Signal()  # waits for the other engine's pending
        write = self.cmd.payload.write
        other_behind = Mux(write, reader_behind, writer_behind)
        blocked = other_behind & Mux(write, writer.pending, reader.pending)
        for engine, mine in ((reader, ~write), (writer, write)):
            m.d.comb += [
                engine.cmd.valid.eq(self.cmd.valid & mine & ~blocked),
                engine.cmd.payload.eq(self.cmd.payload.command),
            ]
        m.d.comb += self.cmd.ready.eq(Mux(write, writer.cmd.ready, reader.cmd.ready) & ~blocked)
        m.d.comb += [reader.hold.eq(reader_behind & writer.pending), writer.hold.eq(writer_behind & reader.pending)]

        with m.If(~writer.pending):
            m.d.sync += reader_behind.eq(0)
        with m.If(~reader.pending):
            m.d.sync += writer_behind.eq(0)
        with m.If(self.cmd.valid & self.cmd.ready):
            with m.If(write):
                m.d.sync += writer_behind.eq(reader.pending)
            with m.Else():
                m.d.sync += reader_behind.eq(writer.pending)
        return m
