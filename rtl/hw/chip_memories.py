"""The on-chip memories of the layer core, with the DMA engines' word-wide ports.

In the AXI system each memory is two banks of one bank's bytes (``rtl.host.dram_image.ChipMemories``),
addressed by byte from 0 (bank 0) on. The DMA side moves words of ``W`` bytes (the AXI data width):
the reader writes word ``addr`` (bytes ``addr * W ..``) with byte strobes, the writer reads word
``addr`` one cycle after it asks. The core side reads or writes what the layer core uses:

- :class:`LaneBytes` (the ifmap buffer): ``lanes`` independent byte reads per cycle, one per
  array row, each at its own byte address (the memory is replicated per lane, as any memory
  with more read ports than the FPGA's block RAM has);
- :class:`RowMemory` (weights, addends): one row of ``row_bytes`` bytes per cycle at a row index;
- :class:`StagingMemory`: one row of ``row_bytes`` bytes written per cycle, read by the DMA writer.

The memories hold bytes: int8 operands and results, an int32 addend as four bytes of its row.
Rows and words are powers of two, so a row is a slice of a word or a word a slice of a row.
Every core-side read returns its data one cycle after its address (the memories' own register).
Each memory's :meth:`build` adds it to a given module, its ``memory.Memory`` named there (the
layer core builds its memories into its own module, where :mod:`rtl.fpga_fit` finds them).
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


def _memory(m: Module, name: str, width: int, depth: int, units: int):
    """A ``depth`` x ``width`` byte memory named ``name`` in ``m`` and its write port (an enable
    per byte if ``units`` > 1, else one)."""
    m.submodules[name] = mem = memory.Memory(shape=unsigned(8 * width), depth=depth, init=[])
    return mem, mem.write_port(granularity=8 if units > 1 else None)


def _write_slice(m: Module, port, addr, value, enables: list, slot: int) -> None:
    """Write ``value`` (``len(enables)`` bytes, byte ``j`` where ``enables[j]``) as slice
    ``addr mod parts`` of memory word ``addr / parts`` (``parts``: slices per ``slot`` bytes)."""
    size = len(enables)
    parts = slot // size
    shift = exact_log2(parts)
    part = addr[:shift] if shift else 0
    m.d.comb += [port.addr.eq(addr[shift:]), port.data.eq(value.replicate(parts))]
    if len(port.en) == 1:
        m.d.comb += port.en.eq(enables[0])
        return
    for p in range(parts):
        for j in range(size):
            m.d.comb += port.en[p * size + j].eq(enables[j] & (part == p))


def _read_slice(m: Module, read, addr, out, parts: int, name: str, en=None) -> None:
    """``out`` (one cycle after ``addr``): slice ``addr mod parts`` of memory word ``addr / parts``
    (selected the cycle its data arrives: ``addr``'s low bits are registered, where ``en``)."""
    shift = exact_log2(parts)
    m.d.comb += read.addr.eq(addr[shift:])
    if not shift:
        m.d.comb += out.eq(read.data)
        return
    which, word = Signal(shift, name=f"{name}_which"), Signal(parts * len(out), name=f"{name}_word")
    if en is None:
        m.d.sync += which.eq(addr[:shift])
    else:
        with m.If(en):
            m.d.sync += which.eq(addr[:shift])
    m.d.comb += [word.eq(read.data), out.eq(data.ArrayLayout(unsigned(len(out)), parts)(word)[which])]


class _Rows(wiring.Component):
    """Rows of ``row_bytes`` bytes (``rows`` of them) in memory words of ``slot`` bytes, DMA words
    of ``word_bytes`` bytes; ``dma`` (``dma_signature``, flipped) and the ``core`` ports."""

    def __init__(self, rows: int, row_bytes: int, word_bytes: int, dma_signature, core: dict) -> None:
        self.rows, self.row_bytes, self.word_bytes = rows, row_bytes, word_bytes
        self.slot = max(row_bytes, word_bytes)
        self.depth = -(-rows * row_bytes // self.slot)
        self.dma_words = -(-rows * row_bytes // word_bytes)
        self.dma_signature = dma_signature(word_bytes, self.dma_words)
        super().__init__({"dma": In(self.dma_signature), **core})

    def elaborate(self, platform):
        m = Module()
        self.build(m, "mem")
        return m


class RowMemory(_Rows):
    """Rows of ``row_bytes`` bytes (``rows`` of them) read by the core, written by DMA words of
    ``word_bytes`` bytes. Ports: ``dma`` (:func:`dma_write_signature`, flipped), ``row`` (row
    index), ``data`` (the row, ``row_bytes`` bytes, byte ``j`` at bits ``8 * j ..``, one cycle
    later)."""

    def __init__(self, rows: int, row_bytes: int, word_bytes: int) -> None:
        core = {"row": In(_address(rows)), "data": Out(8 * row_bytes)}
        super().__init__(rows, row_bytes, word_bytes, dma_write_signature, core)

    def build(self, m: Module, name: str) -> None:
        """This memory in ``m``, its ``memory.Memory`` named ``name``."""
        dma, word = self.dma, self.word_bytes
        mem, write = _memory(m, name, self.slot, self.depth, self.slot)
        _write_slice(m, write, dma.addr, dma.data, [dma.en & dma.strb[j] for j in range(word)], self.slot)
        _read_slice(m, mem.read_port(), self.row, self.data, self.slot // self.row_bytes, name)


class StagingMemory(_Rows):
    """Rows of ``row_bytes`` bytes written by the core, read by DMA words of ``word_bytes``.
    Ports: ``row`` / ``row_data`` / ``row_en`` (write row ``row``), ``dma``
    (:func:`dma_read_signature`, flipped)."""

    def __init__(self, rows: int, row_bytes: int, word_bytes: int) -> None:
        core = {"row": In(_address(rows)), "row_data": In(8 * row_bytes), "row_en": In(1)}
        super().__init__(rows, row_bytes, word_bytes, dma_read_signature, core)

    def build(self, m: Module, name: str) -> None:
        """This memory in ``m``, its ``memory.Memory`` named ``name``."""
        parts = self.slot // self.row_bytes
        mem, write = _memory(m, name, self.slot, self.depth, parts)
        _write_slice(m, write, self.row, self.row_data, [self.row_en] * self.row_bytes, self.slot)
        read = mem.read_port()
        m.d.comb += read.en.eq(self.dma.en)
        _read_slice(m, read, self.dma.addr, self.dma.data, self.slot // self.word_bytes, name, self.dma.en)


class LaneBytes(wiring.Component):
    """``total_bytes`` bytes written by DMA words of ``word_bytes``, read as ``lanes`` bytes per
    cycle at independent byte addresses. Ports: ``dma`` (:func:`dma_write_signature`, flipped),
    ``addr`` (``lanes`` byte addresses), ``data`` (``lanes`` bytes, one cycle later)."""

    def __init__(self, total_bytes: int, word_bytes: int, lanes: int) -> None:
        self.total_bytes, self.word_bytes, self.lanes = total_bytes, word_bytes, lanes
        self.depth = self.dma_words = total_bytes // word_bytes
        self.dma_signature = dma_write_signature(word_bytes, self.dma_words)
        super().__init__(
            {
                "dma": In(self.dma_signature),
                "addr": In(data.ArrayLayout(_address(total_bytes), lanes)),
                "data": Out(data.ArrayLayout(unsigned(8), lanes)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        self.build(m, "mem")
        return m

    def build(self, m: Module, name: str) -> None:
        """This memory in ``m``, its ``memory.Memory`` named ``name``."""
        dma, word = self.dma, self.word_bytes
        mem, write = _memory(m, name, word, self.depth, word)
        _write_slice(m, write, dma.addr, dma.data, [dma.en & dma.strb[j] for j in range(word)], word)
        for i in range(self.lanes):
            _read_slice(m, mem.read_port(), self.addr[i], self.data[i], word, f"{name}_byte{i}")
