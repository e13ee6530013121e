"""The accelerator as an AXI peripheral: control registers, command processor, DMA, layer core.

``SystemTop`` joins the parts of ``docs/axi_system.md``: the control register block behind the
AXI4-Lite port ``s_axil`` (:class:`rtl.hw.control_regs.ControlBlock`), the command processor that
runs the program from DRAM (:class:`rtl.hw.command_processor.CommandProcessor`), the tile sequencer
that serves the DMA queue (:class:`rtl.hw.sequencer.TileSequencer`), both DMA engines on the AXI4
port ``m_axi`` (:class:`rtl.hw.dma.DmaPair`) and the layer core with its double-banked memories
(:class:`rtl.hw.layer_core.LayerCore`). The DMA engines' on-chip ports reach the memory a command's
target names (:data:`rtl.host.program_image.TARGETS`, then the program memory, :data:`PROGRAM_TARGET`).
"""

from __future__ import annotations

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from accel.config import AccelConfig

from . import axi
from .command_processor import CommandProcessor
from .control_regs import ADDRESS_BITS, ControlBlock
from .dma import DmaPair, DmaParams
from ..accelerator_geometry import AcceleratorGeometry
from .layer_core import LayerCore, lanes
from .sequencer import TileSequencer
from ..spec import ERROR_CODES, SEGMENT_HEADER, SEGMENT_WORDS, TARGETS

#: Target number of the program memory (after the core's memories).
PROGRAM_TARGET = len(TARGETS)
#: ERROR_CODE of each engine's failing response: {engine: {AXI response: code}}.
DMA_ERRORS = {
    "reader": {axi.RESP_SLVERR: "DRAM_READ_SLVERR", axi.RESP_DECERR: "DRAM_READ_DECERR"},
    "writer": {axi.RESP_SLVERR: "DRAM_WRITE_SLVERR", axi.RESP_DECERR: "DRAM_WRITE_DECERR"},
}


def dma_params(config: AccelConfig, data_bytes: int, address_bits: int) -> DmaParams:
    """The DMA engines' widths for the layer core of ``config`` (two banks per memory)."""
    g = AcceleratorGeometry.from_config(config)
    row_bytes = {"ifmap": 1, "weights": lanes(g.cols), "addends": 4 * lanes(g.cols), "staging": lanes(g.cols)}
    largest = max(2 * g.bank_rows(name) * size for name, size in row_bytes.items())
    program = 4 * (len(SEGMENT_HEADER) + SEGMENT_WORDS)
    return DmaParams(
        address_width=address_bits, data_width=8 * data_bytes, run_bytes_width=bits_for(max(largest, program)),
        runs_width=bits_for(largest), chip_address_width=max(ceil_log2(max(largest, program)), ceil_log2(data_bytes) + 1),
        target_width=bits_for(PROGRAM_TARGET),
    )  # fmt: skip


class SystemTop(wiring.Component):
    """The AXI peripheral for a WS ``config``: ``s_axil`` (registers), ``m_axi`` (data, ``data_bytes``
    per beat, ``address_bits`` address bits) and ``irq``."""

    def __init__(self, config: AccelConfig, data_bytes: int = 16, address_bits: int = 32) -> None:
        self.config, self.data_bytes, self.address_bits = config, data_bytes, address_bits
        self.params = dma_params(config, data_bytes, address_bits)
        super().__init__(
            {
                "s_axil": In(axi.AXI4LiteSignature(ADDRESS_BITS)),
                "m_axi": Out(axi.AXI4Signature(address_bits, 8 * data_bytes, 0)),
                "irq": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        c = self.config
        m.submodules.control = ctl = ControlBlock(c.rows, c.cols, self.data_bytes, self.address_bits)
        m.submodules.core = core = LayerCore(c, self.data_bytes)
        m.submodules.processor = cp = CommandProcessor(c, self.params, PROGRAM_TARGET, core.address_bits)
        m.submodules.sequencer = seq = TileSequencer(self.params, cp.index_bits, cp.count_bits)
        m.submodules.dma = dma = DmaPair(self.params)
        wiring.connect(m, wiring.flipped(self.s_axil), ctl.s_axil)
        wiring.connect(m, wiring.flipped(self.m_axi), dma.m_axi)
        for name in ("headers", "load_cmds", "store_cmds"):
            wiring.connect(m, getattr(cp, name), getattr(seq, name))

        # Control: the doorbell starts the processor; its end and the DMA's first error end the run.
        dma_error = 0  # the reader's error first, then the writer's
        for engine, codes in reversed(DMA_ERRORS.items()):
            for response, name in codes.items():
                code = next(e.code for e in ERROR_CODES if e.name == name)
                dma_error = Mux(getattr(dma, f"{engine}_error") == response, code, dma_error)
        m.d.comb += [
            self.irq.eq(ctl.irq),
            cp.start.eq(ctl.start),
            cp.prog_addr.eq(ctl.prog_addr),
            dma.clear.eq(ctl.start),
            ctl.finish.eq(cp.finish),
            ctl.error_code.eq(Mux(cp.error_code != 0, cp.error_code, dma_error)),
            ctl.computing.eq(core.busy),
        ]

        # The core runs the active descriptor when the sequencer starts a tile.
        active = cp.active
        m.d.comb += [
            core.regs.eq(active.regs),
            core.lanes.eq(active.lanes),
            core.weight_bank.eq(active.weight_bank),
            core.stage_bank.eq(active.stage_bank),
            core.reload.eq(cp.reload),
            core.start.eq(seq.start),
            seq.busy.eq(core.busy),
            seq.primed.eq(cp.primed),
            seq.run.eq(cp.run),
            cp.busy.eq(core.busy),
            cp.tile_start.eq(seq.start),
            cp.finished.eq(seq.finished),
        ]

        # DMA commands: the program fetch (only while the sequencer's queue is idle), else the queue.
        fetching = cp.fetch.valid
        m.d.comb += [
            dma.cmd.valid.eq(fetching | seq.dma.valid),
            dma.cmd.payload.command.eq(Mux(fetching, cp.fetch.payload, seq.dma.payload.command)),
            dma.cmd.payload.write.eq(~fetching & seq.dma.payload.write),
            cp.fetch.ready.eq(fetching & dma.cmd.ready),
            seq.dma.ready.eq(~fetching & dma.cmd.ready),
        ]
        program_done = dma.reader_done & (dma.reader_target == PROGRAM_TARGET)
        m.d.comb += [
            cp.fetch_done.eq(program_done),
            seq.reader_done.eq(dma.reader_done & ~program_done),
            seq.writer_done.eq(dma.writer_done),
        ]

        # On-chip ports: the reader writes the memory of its target, the writer reads staging.
        writes = {name: getattr(core, f"{name}_dma") for name in TARGETS if name != "staging"}
        for name, port in writes.items():
            m.d.comb += [
                port.en.eq(dma.wr.valid & (dma.wr.target == TARGETS.index(name))),
                port.addr.eq(dma.wr.addr),
                port.data.eq(dma.wr.data),
                port.strb.eq(dma.wr.strb),
            ]
        m.d.comb += [
            cp.prog_wr.valid.eq(dma.wr.valid),
            cp.prog_wr.target.eq(dma.wr.target),
            cp.prog_wr.addr.eq(dma.wr.addr),
            cp.prog_wr.data.eq(dma.wr.data),
            cp.prog_wr.strb.eq(dma.wr.strb),
            core.staging_dma.en.eq(dma.rd.en),
            core.staging_dma.addr.eq(dma.rd.addr),
            dma.rd.data.eq(core.staging_dma.data),
        ]
        return m
