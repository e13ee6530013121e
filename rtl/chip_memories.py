"""The AXI system's double-banked on-chip memories, with the DMA engines' word-wide ports.

Each memory is two banks of one bank's bytes (``rtl.dram_image.ChipMemories``), addressed by
byte from 0 (bank 0) on. The DMA side moves words of ``W`` bytes (the AXI data width): the
reader writes word ``addr`` (bytes ``addr * W ..``) with byte strobes, the writer reads word
``addr`` one cycle after it asks. The core side reads or writes what the layer core uses:

- :class:`LaneBytes` (the ifmap buffer): ``lanes`` independent byte reads per cycle, one per
  array row, each at its own byte address (the memory is replicated per lane, as any memory
  with more read ports than the FPGA's block RAM has);
- :class:`RowMemory` (weights, addends): one row of ``row_bytes`` bytes per cycle at a row index;
- :class:`StagingMemory`: one row of ``row_bytes`` bytes written per cycle, read by the DMA writer.

Rows and words are powers of two, so a row is a slice of a word or a word a slice of a row.
Every core-side read returns its data one cycle after its address (the memories' own register).
"""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2


def _address(depth: int) -> int:
    return max(1, ceil_log2(depth))


def dma_write_signature(word_bytes: int, depth: int) -> wiring.Signature:
    """The reader's side of a memory: word ``addr`` takes byte ``j`` of ``data`` where ``strb[j]``."""
    return wiring.Signature(
        {"en": Out(1), "addr": Out(_address(depth)), "data": Out(8 * word_bytes), "strb": Out(word_bytes)}
    )


def dma_read_signature(word_bytes: int, depth: int) -> wiring.Signature:
    """The writer's side of a memory: ``data`` is word ``addr`` the cycle after ``en``."""
    return wiring.Signature({"en": Out(1), "addr": Out(_address(depth)), "data": In(8 * word_bytes)})


def _split_write(m: Module, port, dma, slot: int, word: int) -> None:
    """Drive the write ``port`` of a ``slot``-byte memory from the DMA write ``dma`` (``word`` bytes
    per word, ``word <= slot``): the DMA word is slice ``addr mod (slot / word)`` of memory word
    ``addr / (slot / word)``."""
    parts = slot // word
    shift = exact_log2(parts)
    part = dma.addr[:shift] if shift else 0
    m.d.comb += [port.addr.eq(dma.addr[shift:]), port.data.eq(dma.data.replicate(parts))]
    for p in range(parts):
        for j in range(word):
            m.d.comb += port.en[p * word + j].eq(dma.en & dma.strb[j] & (part == p))


class RowMemory(wiring.Component):
    """Rows of ``row_bytes`` bytes (``rows`` of them) read by the core, written by DMA words of
    ``word_bytes`` bytes. Ports: ``dma`` (:func:`dma_write_signature`, flipped), ``row`` (row
    index), ``data`` (the row, ``row_bytes`` bytes, byte ``j`` at bits ``8j..``, one cycle later)."""

    def __init__(self, rows: int, row_bytes: int, word_bytes: int) -> None:
        self.rows, self.row_bytes, self.word_bytes = rows, row_bytes, word_bytes
        self.slot = max(row_bytes, word_bytes)
        self.depth = -(-rows * row_bytes // self.slot)
        self.dma_words = -(-rows * row_bytes // word_bytes)
        super().__init__(
            {
                "dma": In(dma_write_signature(word_bytes, self.dma_words)),
                "row": In(_address(rows)),
                "data": Out(8 * row_bytes),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=unsigned(8 * self.slot), depth=self.depth, init=[])
        write, read = mem.write_port(granularity=8), mem.read_port()
        _split_write(m, write, self.dma, self.slot, self.word_bytes)
        rows_per_word = self.slot // self.row_bytes
        shift = exact_log2(rows_per_word)
        m.d.comb += read.addr.eq(self.row[shift:])
        if shift:  # select the row within the word the cycle its data arrives
            which = Signal(shift)
            m.d.sync += which.eq(self.row[:shift])
            rows = data.ArrayLayout(unsigned(8 * self.row_bytes), rows_per_word)
            m.d.comb += self.data.eq(rows(read.data)[which])
        else:
            m.d.comb += self.data.eq(read.data)
        return m


class StagingMemory(wiring.Component):
    """Rows of ``row_bytes`` bytes written by the core, read by DMA words of ``word_bytes``.
    Ports: ``row`` / ``row_data`` / ``row_en`` (write row ``row``), ``dma``
    (:func:`dma_read_signature`, flipped)."""

    def __init__(self, rows: int, row_bytes: int, word_bytes: int) -> None:
        self.rows, self.row_bytes, self.word_bytes = rows, row_bytes, word_bytes
        self.slot = max(row_bytes, word_bytes)
        self.depth = -(-rows * row_bytes // self.slot)
        self.dma_words = -(-rows * row_bytes // word_bytes)
        super().__init__(
            {
                "row": In(_address(rows)),
                "row_data": In(8 * row_bytes),
                "row_en": In(1),
                "dma": In(dma_read_signature(word_bytes, self.dma_words)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=unsigned(8 * self.slot), depth=self.depth, init=[])
        write, read = mem.write_port(granularity=8), mem.read_port()
        parts = self.slot // self.row_bytes  # rows per memory word
        shift = exact_log2(parts)
        part = self.row[:shift] if shift else 0
        m.d.comb += [write.addr.eq(self.row[shift:]), write.data.eq(self.row_data.replicate(parts))]
        for p in range(parts):
            for j in range(self.row_bytes):
                m.d.comb += write.en[p * self.row_bytes + j].eq(self.row_en & (part == p))
        words_per_slot = self.slot // self.word_bytes
        shift = exact_log2(words_per_slot)
        m.d.comb += [read.addr.eq(self.dma.addr[shift:]), read.en.eq(self.dma.en)]
        if shift:
            which = Signal(shift)
            with m.If(self.dma.en):
                m.d.sync += which.eq(self.dma.addr[:shift])
            words = data.ArrayLayout(unsigned(8 * self.word_bytes), words_per_slot)
            m.d.comb += self.dma.data.eq(words(read.data)[which])
        else:
            m.d.comb += self.dma.data.eq(read.data)
        return m


class LaneBytes(wiring.Component):
    """``total_bytes`` bytes written by DMA words of ``word_bytes``, read as ``lanes`` bytes per
    cycle at independent byte addresses. Ports: ``dma`` (:func:`dma_write_signature`, flipped),
    ``addr`` (``lanes`` byte addresses), ``data`` (``lanes`` bytes, one cycle later)."""

    def __init__(self, total_bytes: int, word_bytes: int, lanes: int) -> None:
        self.total_bytes, self.word_bytes, self.lanes = total_bytes, word_bytes, lanes
        self.depth = self.dma_words = total_bytes // word_bytes
        super().__init__(
            {
                "dma": In(dma_write_signature(word_bytes, self.dma_words)),
                "addr": In(data.ArrayLayout(_address(total_bytes), lanes)),
                "data": Out(data.ArrayLayout(unsigned(8), lanes)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=unsigned(8 * self.word_bytes), depth=self.depth, init=[])
        write = mem.write_port(granularity=8)
        m.d.comb += [write.addr.eq(self.dma.addr), write.data.eq(self.dma.data)]
        for j in range(self.word_bytes):
            m.d.comb += write.en[j].eq(self.dma.en & self.dma.strb[j])
        shift = exact_log2(self.word_bytes)
        words = data.ArrayLayout(unsigned(8), self.word_bytes)
        for i in range(self.lanes):
            read = mem.read_port()
            which = Signal(shift, name=f"byte{i}")
            m.d.sync += which.eq(self.addr[i][:shift])
            m.d.comb += [read.addr.eq(self.addr[i][shift:]), self.data[i].eq(words(read.data)[which])]
        return m
