"""The command processor of the AXI system: runs a program from DRAM, segment by segment.

After ``start`` it fetches the program's segments (format: :mod:`rtl.spec`, ``docs/axi_system.md``)
one after the other through the DMA reader into its program memory, then walks the segment's tile
records with two cursors:

- the *command cursor* hands the :class:`rtl.hw.sequencer.TileSequencer` each tile's header and DMA
  commands in the sequencer's queue order (the header and loads of tile ``j``, then the stores of
  tile ``j - 1``; the last tile's stores last), through queues of :data:`QUEUE_DEPTH` commands, so
  that it runs ahead of the compute as far as the sequencer's ring and the queues allow;
- the *descriptor cursor* loads each tile's descriptor registers, lane table and banks into the
  ``next`` descriptor set once the tile before it has started.

``next`` is copied into the ``active`` set, which drives the core, once the core is idle;
``primed`` rises when the core has settled on it (:data:`rtl.hw.layer_core.SETTLE_CYCLES`), and
the sequencer starts a tile only then. When the sequencer has finished a segment the next one is
fetched, until the segment flagged LAST has finished.

A program the processor cannot run stops it with ERROR_CODE BAD_PROGRAM: a wrong MAGIC, WORDS
over SEGMENT_WORDS, an unknown OPCODE, a record running past WORDS (an empty segment's first),
a LAST bit on any record but the one that ends its segment (or missing there), a DMA command
with an unknown TARGET or no bytes (RUN_BYTES or RUNS 0). Guards are taken as they are.
Transfers already handed to the sequencer and a tile already computing run to their end; the
next ``start`` empties the queues, and its first ``run`` resets the sequencer.

Timing, in clock edges (an event "in cycle ``t``" is sampled by edge ``t``; ``W`` is the bus
width in bytes, ``R`` the array's rows):

- ``start`` in cycle ``s`` while idle: ``busy_out`` is high from cycle ``s + 1`` and the fetch of
  the first segment's header (``fetch``: 12 bytes at ``prog_addr``, ``chip_addr`` 0) is offered
  from cycle ``s + 1``; ``start`` while busy is ignored;
- the header's ``fetch_done`` in cycle ``d``: the fetch of the whole segment (``12 + 4 * WORDS``
  bytes from the same address) is offered from cycle ``d + check_cycles(W)``;
- the body's ``fetch_done`` in cycle ``f``: ``run`` is high in cycle ``f + RUN_CYCLES``, the first
  header is offered from cycle ``f + header_cycles(W)`` and ``next`` holds tile 0 from cycle
  ``f + load_cycles(R, W)``;
- ``tile_start`` of tile ``j`` in cycle ``t``: ``primed`` is low from cycle ``t + 1`` and ``next``
  holds tile ``j + 1`` (if the segment has it) from cycle ``t + load_cycles(R, W)``;
- in the first cycle ``c`` in which ``next`` holds a tile not yet copied and ``busy`` is low,
  ``reload`` is high and ``active`` takes ``next`` at edge ``c``; ``primed`` is high from cycle
  ``c + PRIME_CYCLES`` until ``tile_start``;
- the sequencer's ``finished`` in cycle ``e`` once the command cursor has handed over the
  segment: after the LAST segment ``finish`` is high in cycle ``e + 1`` (``busy_out`` low from
  cycle ``e + 2``), else the next segment's header fetch is offered from cycle ``e + 1``, at the
  segment's address plus ``12 + 4 * WORDS`` rounded up to :data:`rtl.spec.SEGMENT_ALIGN`;
- an error found in cycle ``t`` (when the cursor reads the word): ``finish`` is high in cycle
  ``t + 1`` with ``error_code`` BAD_PROGRAM, which holds until the next ``start``.

The command cursor, restarted at edge ``t`` at a program word, has the first ``W / 4`` words
from there in cycle ``t + 3`` and the next ``W / 4`` in each cycle after (while it can hand them
on): a record's header (TILE, GUARDS) takes ``ceil(8 / W)`` cycles and is offered from the cycle
after them once the previous header was taken; a command takes ``32 / W`` cycles and is offered
on its stream from the cycle after them. The cursor restarts at a record's header, at its loads
(at the edge of the header's last cycle), at the previous tile's stores (one cycle after the last
load) and at the next record (one cycle after the last of those stores); a run without commands
takes one cycle. So the sequencer may wait for the first commands of a segment, and for commands
whenever it has emptied a queue.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.hdl import ResetInserter
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2, exact_log2

from accel.config import AccelConfig
from accel.system_timing import record_words

from .dma import DmaParams, chip_write_signature, command_layout
from ..geometry import CoreGeometry
from .layer_core import SETTLE_CYCLES, core_geometry, lane_layout, register_shapes
from .sequencer import header_layout
from ..spec import (COMMAND_WORDS, DESCRIPTOR_REGISTERS, ERROR_CODES, PROGRAM_MAGIC, RECORD_OPCODES, SEGMENT_ALIGN,
                   SEGMENT_HEADER, SEGMENT_WORDS, TAP_FIELDS, TARGETS, TILE_RECORD)  # fmt: skip

#: Bytes of a program word.
WORD_BYTES = 4
#: Commands each of the load and store queues holds.
QUEUE_DEPTH = 8
#: Memory words a cursor reads after a restart before its first group is aligned.
PRIME_READS = 2
#: The ERROR_CODE of a program the processor cannot run.
BAD_PROGRAM = next(e.code for e in ERROR_CODES if e.name == "BAD_PROGRAM")


def _spec(words, word: str, name: str):
    """The :class:`rtl.spec.Field` ``name`` of word ``word`` of the program structure ``words``."""
    return next(f for f in next(w for w in words if w.name == word).fields if f.name == name)


def _field(value: Value, words, word: str, name: str) -> Value:
    """Field ``name`` of the program word ``word`` of structure ``words`` in ``value``."""
    f = _spec(words, word, name)
    return value[f.lsb : f.lsb + f.width]


def _at(words, name: str) -> int:
    """Index of word ``name`` in structure ``words``."""
    return next(i for i, w in enumerate(words) if w.name == name)


def _groups(words: int, k: int) -> int:
    """Groups of ``k`` program words (a memory word's worth) that hold ``words`` words."""
    return -(-words // k)


def _read_cycles(words: int, bus_bytes: int) -> int:
    """Edges from a cursor's restart at edge ``t`` until the first cycle after it has read
    ``words`` program words: their last group is in cycle ``t + PRIME_READS + groups``."""
    return PRIME_READS + _groups(words, bus_bytes // WORD_BYTES) + 1


def descriptor_layout(core: CoreGeometry, rows: int, address_bits: int) -> data.StructLayout:
    """A descriptor set, as the ports of :class:`rtl.hw.layer_core.LayerCore` take it: the registers
    (``regs``), the lane table (``lanes``: ``rows`` lanes, offsets ``address_bits`` wide) and the
    tile's ``weight_bank`` and ``stage_bank``."""
    return data.StructLayout({
        "regs": data.StructLayout(register_shapes(core)),
        "lanes": data.ArrayLayout(lane_layout(core, address_bits), rows),
        "weight_bank": unsigned(1),
        "stage_bank": unsigned(1),
    })  # fmt: skip


class _Cursor:
    """Items of consecutive program words read through a synchronous port of ``k``-word memory
    words, one memory word (a *group* of ``k`` program words) per cycle.

    :meth:`restart` in cycle ``t`` at word ``p``: the port reads the memory word of ``p`` in that
    cycle, the next ones in cycles ``t + 1`` and ``t + 2``, and each read word is registered
    before it is used, so ``words`` holds group 0 (program words ``p .. p + k - 1``) from cycle
    ``t + 3``, selected from two registered memory words; a group taken (``take``) is followed by
    the next in the cycle after. ``index`` counts the groups of the item (at most ``largest``
    words) being read; the first ``held`` words of an item are kept once their group is taken.
    """

    def __init__(self, m: Module, port, k: int, largest: int, held: int, name: str) -> None:
        self.k = k
        self.valid, self.take = Signal(name=f"{name}_valid"), Signal(name=f"{name}_take")
        self.words = [Signal(32, name=f"{name}_word{i}") for i in range(k)]
        self.index = Signal(range(max(2, _groups(largest, k))), name=f"{name}_index")
        self._restart = Signal(name=f"{name}_restart")
        self._position = Signal(len(port.addr) + exact_log2(k), name=f"{name}_position")
        self._last = Signal(name=f"{name}_last")  # the group taken is its item's last
        self._address = Signal.like(port.addr, name=f"{name}_address")
        self._rotation = Signal(range(k), name=f"{name}_rotation")
        self._primes = Signal(range(PRIME_READS + 1), name=f"{name}_primes")
        # Two registered memory words; the port's output is the next one.
        previous, current = (Signal(32 * k, name=f"{name}_{which}") for which in ("previous", "current"))
        shift = exact_log2(k)
        read = self.take | (self._primes != PRIME_READS)
        m.d.comb += [
            port.en.eq(read | self._restart),
            port.addr.eq(Mux(self._restart, self._position[shift:], self._address)),
            self.valid.eq(self._primes == PRIME_READS),
        ]
        with m.If(read):
            m.d.sync += [previous.eq(current), current.eq(port.data)]
        with m.If(self._restart):
            m.d.sync += [self._address.eq(self._position[shift:] + 1), self._rotation.eq(self._position[:shift]),
                         self._primes.eq(0), self.index.eq(0)]  # fmt: skip
        with m.Else():
            with m.If(read):
                m.d.sync += self._address.eq(self._address + 1)
            with m.If(self._primes != PRIME_READS):
                m.d.sync += self._primes.eq(self._primes + 1)
            with m.If(self.take):
                m.d.sync += self.index.eq(Mux(self._last, 0, self.index + 1))
        both = Cat(previous, current)
        with m.Switch(self._rotation):
            for r in range(k):
                with m.Case(r):
                    m.d.comb += [word.eq(both[32 * (r + s) : 32 * (r + s + 1)]) for s, word in enumerate(self.words)]
        self.held = [Signal(32, name=f"{name}_held{i}") for i in range(held)]
        for i, word in enumerate(self.held):
            taken, value = self.at(i)
            with m.If(taken):
                m.d.sync += word.eq(value)

    def restart(self, m: Module, position) -> None:
        """In this cycle (where the statement is added): read from program word ``position`` on,
        a new item."""
        m.d.comb += [self._restart.eq(1), self._position.eq(position)]

    def at(self, i: int) -> tuple[Value, Value]:
        """(word ``i`` of the item is taken in this cycle, its value)."""
        return self.take & (self.index == i // self.k), self.words[i % self.k]

    def read(self, m: Module, words: int, ready=1) -> Value:
        """Take the groups of an item of ``words`` words, the last one only while ``ready``;
        returns "the item's last group is taken in this cycle" (its words: :meth:`word`)."""
        last = self.valid & (self.index == _groups(words, self.k) - 1)
        m.d.comb += [self.take.eq(self.valid & (~last | ready)), self._last.eq(last)]
        return last & ready

    def word(self, words: int, i: int) -> Value:
        """Word ``i`` of an item of ``words`` words, in the cycle its last group is taken."""
        return self.words[i % self.k] if i // self.k == _groups(words, self.k) - 1 else self.held[i]


class CommandProcessor(wiring.Component):
    """Runs a program for the core of ``config`` on DMA engines of ``params`` (module docstring);
    its fetches write the program memory as on-chip ``target`` (``prog_wr`` writes with another
    target are ignored). Build the sequencer with ``index_bits`` and ``count_bits``.

    Ports: ``start`` (pulse) with ``prog_addr`` (the program's DRAM byte address), ``busy_out``,
    ``finish`` (pulse: the program ended) and ``error_code`` (8 bits, :data:`rtl.spec.ERROR_CODES`);
    ``fetch`` (stream of :func:`rtl.hw.dma.command_layout` to the DMA reader) and ``fetch_done``
    (the reader's completion pulse of a fetch), ``prog_wr`` (the reader's
    :func:`rtl.hw.dma.chip_write_signature`, ``strb`` honoured); towards the
    sequencer ``headers`` (stream of :func:`rtl.hw.sequencer.header_layout` with ``index_bits``,
    ``count_bits``), ``load_cmds`` / ``store_cmds`` (command streams), ``run`` (pulse),
    ``finished``, ``tile_start`` (its ``start``) and ``primed``; towards the core ``busy`` (its
    busy level), ``active`` (:func:`descriptor_layout`; lane offsets ``address_bits`` wide, the
    core's :attr:`rtl.hw.layer_core.LayerCore.address_bits`) and ``reload`` (pulse: ``active``
    changes at its edge).
    """

    #: Edges from the cycle of a segment body's ``fetch_done`` to the cycle ``run`` is high.
    RUN_CYCLES = 1
    #: Edges from the first cycle in which the core is idle and ``next`` holds the tile (the
    #: ``reload`` cycle, ``active`` <- ``next`` at its edge) to the first cycle ``primed`` is
    #: high: the copy, then :data:`rtl.hw.layer_core.SETTLE_CYCLES` idle cycles.
    PRIME_CYCLES = 1 + SETTLE_CYCLES

    @staticmethod
    def check_cycles(bus_bytes: int) -> int:
        """Edges from the cycle of a segment header's ``fetch_done`` to the first cycle the
        segment's fetch is offered: the cursor reads the three header words, checks them at the
        edge of the last one's cycle."""
        return _read_cycles(len(SEGMENT_HEADER), bus_bytes)

    @staticmethod
    def header_cycles(bus_bytes: int) -> int:
        """Edges from the cycle of a segment body's ``fetch_done`` to the first cycle the first
        tile header is offered: the cursor reads the record's TILE and GUARDS words and registers
        the header at the edge of the last one's cycle (4 cycles for ``W >= 8``, 5 for ``W = 4``)."""
        return _read_cycles(_at(TILE_RECORD, "GUARDS") + 1, bus_bytes)

    @staticmethod
    def load_cycles(rows: int, bus_bytes: int) -> int:
        """Edges from the cycle of ``tile_start`` (of a segment body's ``fetch_done`` for tile 0)
        to the first cycle ``next`` holds the next tile's descriptor: the cursor restarts at that
        edge and reads the record's first ``record_words(rows, 0)`` words, ``next`` is complete
        at the edge of the last one's cycle: ``3 + ceil(4 * (53 + 8 * rows) / bus_bytes)``."""
        return _read_cycles(record_words(rows, 0), bus_bytes)

    def __init__(self, config: AccelConfig, params: DmaParams, target: int, address_bits: int) -> None:
        self.params, self.target, self.rows = params, target, config.rows
        self.bus_bytes = params.bus_bytes
        self.record_base = record_words(config.rows, 0)  # words before a record's commands
        self.index_bits = bits_for(SEGMENT_WORDS // self.record_base)  # tiles of a segment, and their count
        self.count_bits = _spec(TILE_RECORD, "TILE", "LOADS").width
        segment_bytes = (len(SEGMENT_HEADER) + SEGMENT_WORDS) * WORD_BYTES
        self.depth = -(-segment_bytes // self.bus_bytes)  # program memory words
        if params.run_bytes_width < bits_for(segment_bytes):
            raise ValueError(f"a segment fetch of {segment_bytes} bytes needs run_bytes_width >= "
                             f"{bits_for(segment_bytes)}")  # fmt: skip
        if params.word_address_width < ceil_log2(self.depth):
            raise ValueError(f"the program memory of {self.depth} words needs chip_address_width >= "
                             f"{ceil_log2(self.depth) + exact_log2(self.bus_bytes)}")  # fmt: skip
        if not 0 <= target < 2**params.target_width:
            raise ValueError(f"target {target} does not fit target_width {params.target_width}")
        commands = stream.Signature(command_layout(params))
        core = core_geometry(config)
        super().__init__({
            "start": In(1),
            "prog_addr": In(params.address_width),
            "busy_out": Out(1),
            "finish": Out(1),
            "error_code": Out(8),
            "fetch": Out(commands),
            "fetch_done": In(1),
            "prog_wr": In(chip_write_signature(params)),
            "headers": Out(stream.Signature(header_layout(self.index_bits, self.count_bits))),
            "load_cmds": Out(commands),
            "store_cmds": Out(commands),
            "run": Out(1),
            "finished": In(1),
            "tile_start": In(1),
            "primed": Out(1),
            "busy": In(1),
            "active": Out(descriptor_layout(core, config.rows, address_bits)),
            "reload": Out(1),
        })  # fmt: skip

    def elaborate(self, platform):
        m = Module()
        k = self.bus_bytes // WORD_BYTES
        m.submodules.program = mem = memory.Memory(shape=unsigned(8 * self.bus_bytes), depth=self.depth, init=[])
        write, wr = mem.write_port(granularity=8), self.prog_wr
        m.d.comb += [
            write.addr.eq(wr.addr),
            write.data.eq(wr.data),
            write.en.eq(Mux(wr.valid & (wr.target == self.target), wr.strb, 0)),
        ]
        # A cursor restarted in the cycle a fetch ends reads the word written in that cycle.
        commands = _Cursor(m, mem.read_port(transparent_for=[write]), k, len(COMMAND_WORDS), len(COMMAND_WORDS),
                           "command")  # fmt: skip
        records = _Cursor(m, mem.read_port(transparent_for=[write]), k, self.record_base, 0, "record")

        clear, begin, stop = Signal(), Signal(), Signal()  # new program; segment runs; program ends
        queues = {}
        for name in ("load", "store"):
            fifo = ResetInserter(clear)(SyncFIFO(width=command_layout(self.params).size, depth=QUEUE_DEPTH))
            m.submodules[f"{name}_queue"] = queues[name] = fifo
            out = getattr(self, f"{name}_cmds")
            m.d.comb += [out.payload.eq(fifo.r_data), out.valid.eq(fifo.r_rdy), fifo.r_en.eq(out.ready)]
        self._program(m, commands, queues, clear, begin, stop)
        self._descriptors(m, records, begin, stop)
        return m

    def _program(self, m: Module, cursor: _Cursor, queues: dict, clear, begin, stop) -> None:
        """The segment fetches and the command cursor."""
        first = len(SEGMENT_HEADER)  # the word of a segment's first record
        position = unsigned(bits_for(first + SEGMENT_WORDS + record_words(self.rows, 2 * (2**self.count_bits - 1))))
        segment = Signal(self.params.address_width)  # DRAM address of the segment
        words, last_segment, body = Signal(range(SEGMENT_WORDS + 1)), Signal(), Signal()
        end = first + words  # the word after the segment's last record
        segment_bytes = end * WORD_BYTES
        at, left = Signal(position), Signal(self.count_bits)  # the cursor's item; commands left in its run
        record_end, record_last, record_stores = Signal(position), Signal(), Signal(self.count_bits)
        pending_at, pending = Signal(position), Signal(self.count_bits)  # stores of the previous tile
        final = Signal()  # the stores being handed over are the segment's last tile's

        fetch = self.fetch.payload
        m.d.comb += [
            fetch.dram_addr.eq(segment),
            fetch.run_bytes.eq(Mux(body, segment_bytes, first * WORD_BYTES)),
            fetch.runs.eq(1),
            fetch.target.eq(self.target),
        ]
        header = self.headers
        with m.If(header.valid & header.ready):
            m.d.sync += header.valid.eq(0)
        m.d.sync += self.run.eq(0)

        def fail():
            m.d.sync += self.error_code.eq(BAD_PROGRAM)
            m.next = "FINISH"

        def restart(word):
            m.d.sync += at.eq(word)
            cursor.restart(m, word)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.comb += clear.eq(1)
                    m.d.sync += [segment.eq(self.prog_addr), body.eq(0), self.error_code.eq(0), header.valid.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += self.fetch.valid.eq(1)
                with m.If(self.fetch.ready):
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(self.fetch_done & body):
                    m.d.comb += begin.eq(1)
                    m.d.sync += [self.run.eq(1), pending.eq(0), final.eq(0)]
                    restart(first)
                    m.next = "RECORD"
                with m.Elif(self.fetch_done):
                    restart(0)
                    m.next = "CHECK"
            with m.State("CHECK"):
                size = len(SEGMENT_HEADER)
                with m.If(cursor.read(m, size)):
                    count, flags = (cursor.word(size, _at(SEGMENT_HEADER, name)) for name in ("WORDS", "FLAGS"))
                    magic = cursor.word(size, _at(SEGMENT_HEADER, "MAGIC"))
                    with m.If((magic != PROGRAM_MAGIC) | (count > SEGMENT_WORDS)):
                        fail()
                    with m.Else():
                        last = _field(flags, SEGMENT_HEADER, "FLAGS", "LAST")
                        m.d.sync += [words.eq(count), last_segment.eq(last), body.eq(1)]
                        m.next = "FETCH"
            with m.State("RECORD"):
                size = _at(TILE_RECORD, "GUARDS") + 1
                with m.If(cursor.read(m, size, ready=~header.valid)):
                    tile, guards = (cursor.word(size, _at(TILE_RECORD, name)) for name in ("TILE", "GUARDS"))
                    loads, stores = (_field(tile, TILE_RECORD, "TILE", name) for name in ("LOADS", "STORES"))
                    last = _field(tile, TILE_RECORD, "TILE", "LAST")
                    after = at + self._record_words(tile)
                    opcode = _field(tile, TILE_RECORD, "TILE", "OPCODE")
                    restart(at + self.record_base)  # the record's loads (moot if it fails)
                    with m.If((opcode != RECORD_OPCODES["TILE"]) | (after > end) | (last != (after == end))):
                        fail()
                    with m.Else():
                        load_after, wait_wb = (_field(guards, TILE_RECORD, "GUARDS", name).as_signed()
                                               for name in ("LOAD_AFTER", "WAIT_WB"))  # fmt: skip
                        m.d.sync += [
                            header.valid.eq(1),
                            header.payload.load_after.eq(load_after),
                            header.payload.wait_wb.eq(wait_wb),
                            header.payload.loads.eq(loads),
                            header.payload.stores.eq(stores),
                            header.payload.last.eq(last),
                            record_end.eq(after), record_last.eq(last), record_stores.eq(stores), left.eq(loads),
                        ]  # fmt: skip
                        m.next = "LOADS"
            with m.State("LOADS"):
                self._emit(m, cursor, queues["load"], left, at, "SWAP", fail)
            with m.State("SWAP"):  # the tile's stores wait; the previous tile's go now
                m.d.sync += [pending_at.eq(at), pending.eq(record_stores), left.eq(pending)]
                restart(pending_at)
                m.next = "STORES"
            with m.State("STORES"):
                self._emit(m, cursor, queues["store"], left, at, "NEXT", fail)
            with m.State("NEXT"):
                with m.If(record_last & ~final):
                    m.d.sync += [final.eq(1), left.eq(pending)]
                    restart(pending_at)
                    m.next = "STORES"
                with m.Elif(record_last):
                    m.next = "DRAIN"
                with m.Else():
                    restart(record_end)
                    m.next = "RECORD"
            with m.State("DRAIN"):
                with m.If(self.finished & last_segment):
                    m.next = "FINISH"
                with m.Elif(self.finished):
                    shift = exact_log2(SEGMENT_ALIGN)  # the next segment starts on the next boundary
                    m.d.sync += segment.eq(segment + ((segment_bytes + SEGMENT_ALIGN - 1) >> shift << shift))
                    m.d.sync += body.eq(0)
                    m.next = "FETCH"
            with m.State("FINISH"):
                m.d.comb += [self.finish.eq(1), stop.eq(1)]
                m.next = "IDLE"
        m.d.comb += self.busy_out.eq(~fsm.ongoing("IDLE"))

    def _record_words(self, tile: Value) -> Value:
        """Words of the record whose TILE word is ``tile`` (:func:`rtl.host.program_image.record_words`)."""
        loads, stores = (_field(tile, TILE_RECORD, "TILE", name) for name in ("LOADS", "STORES"))
        return self.record_base + (loads + stores) * len(COMMAND_WORDS)

    def _emit(self, m: Module, cursor: _Cursor, queue, left, at, then: str, fail) -> None:
        """A run of ``left`` DMA commands from the cursor into ``queue``, then state ``then``."""
        words = len(COMMAND_WORDS)
        with m.If(left == 0):
            m.next = then
        with m.Else(), m.If(cursor.read(m, words, ready=queue.w_rdy)):
            value = {spec.name: cursor.word(words, i) for i, spec in enumerate(COMMAND_WORDS)}
            command = Signal(command_layout(self.params))
            m.d.comb += [
                command.dram_addr.eq(Cat(value["DRAM_ADDR_LO"], value["DRAM_ADDR_HI"])),
                command.dram_stride.eq(value["DRAM_STRIDE"]),
                command.run_bytes.eq(value["RUN_BYTES"]),
                command.runs.eq(value["RUNS"]),
                command.chip_addr.eq(value["CHIP_ADDR"]),
                command.chip_stride.eq(value["CHIP_STRIDE"]),
                command.target.eq(value["TARGET"]),
            ]
            with m.If((value["TARGET"] >= len(TARGETS)) | (value["RUN_BYTES"] == 0) | (value["RUNS"] == 0)):
                fail()
            with m.Else():
                m.d.comb += [queue.w_data.eq(command), queue.w_en.eq(1)]
                m.d.sync += [left.eq(left - 1), at.eq(at + words)]
                with m.If(left == 1):
                    m.next = then

    def _descriptors(self, m: Module, cursor: _Cursor, begin, stop) -> None:
        """The descriptor cursor, the ``next`` set and its copy into ``active``."""
        pending = Signal(self.active.shape())  # the next set
        position = Signal(range(len(SEGMENT_HEADER) + SEGMENT_WORDS + 1))  # the record to load next
        loading, more, loaded, copied = Signal(), Signal(), Signal(), Signal()
        settle = Signal(range(SETTLE_CYCLES + 1))
        with m.If(loading):
            with m.If(cursor.read(m, self.record_base)):
                m.d.sync += [loading.eq(0), loaded.eq(1)]
        for i in range(self.record_base):
            taken, value = cursor.at(i)
            with m.If(taken):
                m.d.sync += self._load(pending, i, value)
        tile_taken, tile = cursor.at(_at(TILE_RECORD, "TILE"))
        with m.If(tile_taken):  # the record after this one
            last = _field(tile, TILE_RECORD, "TILE", "LAST")
            m.d.sync += [position.eq(position + self._record_words(tile)), more.eq(~last)]

        copy = loaded & ~copied & ~self.busy
        m.d.comb += [self.reload.eq(copy), self.primed.eq(copied & (settle == SETTLE_CYCLES))]
        with m.If(copy):
            m.d.sync += [self.active.eq(pending), copied.eq(1), settle.eq(0)]
        with m.Elif(copied & (settle != SETTLE_CYCLES)):
            m.d.sync += settle.eq(settle + 1)
        with m.If(self.tile_start):
            m.d.sync += [loaded.eq(0), copied.eq(0)]
            with m.If(more):
                m.d.sync += loading.eq(1)
                cursor.restart(m, position)
        with m.If(begin):
            first = Const(len(SEGMENT_HEADER), position.shape())
            m.d.sync += [loading.eq(1), loaded.eq(0), copied.eq(0), position.eq(first)]
            cursor.restart(m, first)
        with m.If(stop):
            m.d.sync += [loading.eq(0), loaded.eq(0), copied.eq(0)]

    def _load(self, pending, i: int, value) -> list:
        """Statements: record word ``i`` (``value``) into the descriptor set ``pending``."""
        regs, lanes = len(TILE_RECORD), len(TILE_RECORD) + len(DESCRIPTOR_REGISTERS)
        if i >= lanes:
            row, f = divmod(i - lanes, len(TAP_FIELDS))
            return [Value.cast(pending.lanes[row][TAP_FIELDS[f]]).eq(value)]
        if i >= regs:
            return [Value.cast(pending.regs[DESCRIPTOR_REGISTERS[i - regs]]).eq(value)]
        if i == _at(TILE_RECORD, "BANKS"):
            return [pending.weight_bank.eq(_field(value, TILE_RECORD, "BANKS", "WEIGHT_BANK")),
                    pending.stage_bank.eq(_field(value, TILE_RECORD, "BANKS", "STAGE_BANK"))]  # fmt: skip
        return []  # TILE (the cursor's), GUARDS (the command cursor's)
