"""The tile sequencer of the command processor: one DMA queue, bank guards and compute starts.

It runs a layer's tiles in the order and under the rules of the simulator's DRAM model
(``sim/engine.py``): one queue of transfers, the fetch of tile 0, then for each later tile ``j``
its fetch followed by the writeback of tile ``j - 1``; a fetch waits until the tile named by its
header's ``load_after`` has computed (the bank it fills is no longer read); a writeback waits
until its tile has computed; a tile computes once the previous tile is done, its fetch has
landed and the writeback named by ``wait_wb`` (the accumulator bank it reuses) has completed.
The queue is served strictly in order: a transfer that is not yet eligible holds back the ones
behind it.

A tile is described by a header (:func:`header_layout`) and by its DMA commands, ``loads``
commands for the reader and ``stores`` for the writer, which arrive in order on their own
streams (the program fetcher splits the program into the three streams). The sequencer hands
each command, marked for its engine, to one ordered stream when the queue reaches it (the
:class:`rtl.hw.dma.DmaPair` keeps that order on the AXI port) and counts the engines' ``done``
pulses (each engine completes its commands in order) to know when a fetch has landed or a
writeback completed.

Timing, in clock edges (an event "at edge ``t``" is sampled by edge ``t``):

- a tile's compute that ends at edge ``e`` (``busy`` low from then) counts as computed from
  edge ``e + 1``;
- a queue entry whose conditions hold in the cycle after edge ``t`` hands over its first command
  at edge ``t + 1`` if the engine is ready, its further commands on the following edges, and the
  next entry may hand over on the edge after its last; an empty entry, which waits for no
  guard, takes one cycle;
- a fetch (writeback) counts as complete in the cycle after the ``done`` of its last command,
  tiles in order, at most one per cycle;
- a tile whose conditions all hold in the cycle after edge ``t`` (``busy`` low and ``primed``
  high included) has ``start`` high in the next cycle, sampled at edge ``t + 2``: ``start`` is
  a register, so the core's wide clock enables hang off a flip-flop, not off this logic.

``primed`` (from :class:`rtl.hw.command_processor.CommandProcessor`) is high while the core's
descriptor registers and lane table hold the next tile and have settled; no tile starts without it.

Tile indices count from 0 within a layer and are at most ``2**index_bits - 1``.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .dma import DmaParams, command_layout, handed_layout

#: Tiles whose headers the sequencer holds at once (a power of two): the queue runs at most two
#: tiles ahead of the compute, and a writeback's tile stays until its commands are handed over.
RING = 8
#: Cycles from the cycle a tile's conditions all hold to its ``start`` (``start`` is a register).
START_DELAY = 1


def header_layout(index_bits: int, count_bits: int) -> data.StructLayout:
    """A tile header: guards (tile indices, -1 for none), command counts and the layer's end."""
    return data.StructLayout({
        "load_after": signed(index_bits + 1),
        "wait_wb": signed(index_bits + 1),
        "loads": unsigned(count_bits),
        "stores": unsigned(count_bits),
        "last": 1,
    })  # fmt: skip


class TileSequencer(wiring.Component):
    """Serves the DMA queue of one layer and starts its tiles (module docstring).

    Ports: ``headers`` (stream of :func:`header_layout`), ``load_cmds`` / ``store_cmds`` (streams
    of ``rtl.hw.dma.command_layout``), ``dma`` (stream of ``rtl.hw.dma.handed_layout``: each command
    with ``write`` 0 for the reader, 1 for the writer, in queue order), ``reader_done`` /
    ``writer_done`` (the engines' one-cycle completion pulses), ``start``
    (one-cycle pulse) with ``tile`` (the index it starts), ``busy`` (the compute core's busy
    level), ``primed`` (the core holds the next tile's descriptor, settled: ``start`` waits for
    it), ``run`` (pulse: reset the counters for a new layer) and ``finished`` (every tile
    computed and every writeback completed).
    """

    def __init__(self, params: DmaParams, index_bits: int = 16, count_bits: int = 8) -> None:
        self.index_bits, self.count_bits = index_bits, count_bits
        commands = stream.Signature(command_layout(params))
        super().__init__({
            "headers": In(stream.Signature(header_layout(index_bits, count_bits))),
            "load_cmds": In(commands),
            "store_cmds": In(commands),
            "dma": Out(stream.Signature(handed_layout(params))),
            "reader_done": In(1),
            "writer_done": In(1),
            "start": Out(1),
            "tile": Out(index_bits),
            "busy": In(1),
            "primed": In(1),
            "run": In(1),
            "finished": Out(1),
        })  # fmt: skip

    def elaborate(self, platform):
        m = Module()
        index = unsigned(self.index_bits)
        layout = header_layout(self.index_bits, self.count_bits)
        ring = [Signal(layout, name=f"header{i}") for i in range(RING)]

        def header(tile):
            return data.View(layout, _select(m, ring, tile[: (RING - 1).bit_length()]))

        # Headers enter the ring in order; a slot is free once its tile (RING places earlier) has
        # computed and its writeback completed (an empty writeback completes when the queue
        # passes it, possibly before the tile computes).
        received, computed = Signal(index), Signal(index)  # headers taken; tiles computed
        queue_tile, storing = Signal(index), Signal()  # the queue's head: L(queue_tile) or W(queue_tile)
        seen_last, count = Signal(), Signal(index)  # the last header arrived; tiles in the layer
        landed, load_done = Signal(index), Signal(self.count_bits)  # tiles landed; commands of the next
        written, store_done = Signal(index), Signal(self.count_bits)  # tiles whose writeback completed
        m.d.comb += self.headers.ready.eq(~seen_last & (received - computed < RING) & (received - written < RING))
        with m.If(self.headers.valid & self.headers.ready):
            for i, slot in enumerate(ring):
                with m.If(received[: (RING - 1).bit_length()] == i):
                    m.d.sync += slot.eq(self.headers.payload)
            m.d.sync += received.eq(received + 1)
            with m.If(self.headers.payload.last):
                m.d.sync += [seen_last.eq(1), count.eq(received + 1)]

        # Fetches land and writebacks complete in order: count commands against the headers.
        queued_loads, queued_stores = Signal(index), Signal(index)  # tiles whose commands were handed over
        lands = self._completion(m, header, landed, load_done, queued_loads, self.reader_done, "loads")
        writes = self._completion(m, header, written, store_done, queued_stores, self.writer_done, "stores")

        # The queue: L0, L1, W0, L2, W1, ..., then the last writebacks. After entry L(j): L(1)
        # for j = 0 unless tile 0 is the last (then W(0)), else W(j - 1); after W(j): L(j + 2),
        # or W(j + 1) once every fetch is queued.
        head = Signal(layout)  # the header of queue_tile, registered
        next_tile, next_storing = Signal(index), Signal()  # the entry after this one
        with m.If(storing):
            with m.If(seen_last & (queue_tile + 2 >= count)):
                m.d.comb += [next_tile.eq(queue_tile + 1), next_storing.eq(1)]
            with m.Else():
                m.d.comb += next_tile.eq(queue_tile + 2)
        with m.Elif(queue_tile == 0):
            m.d.comb += [next_tile.eq(~head.last), next_storing.eq(head.last)]
        with m.Else():
            m.d.comb += [next_tile.eq(queue_tile - 1), next_storing.eq(1)]
        present = queue_tile < received
        guard = Mux(storing, queue_tile, head.load_after)  # signed: a tile index is never negative
        sent = Signal(self.count_bits)
        total = Mux(storing, head.stores, head.loads)
        # An empty transfer moves nothing: it passes without waiting for its guard.
        eligible = present & ((total == 0) | (guard < 0) | (guard.as_unsigned() < computed))
        cmds = Mux(storing, self.store_cmds.payload, self.load_cmds.payload)
        offered = eligible & (sent < total) & Mux(storing, self.store_cmds.valid, self.load_cmds.valid)
        m.d.comb += [
            self.dma.payload.command.eq(cmds),
            self.dma.payload.write.eq(storing),
            self.dma.valid.eq(offered),
            self.store_cmds.ready.eq(self.dma.ready & offered & storing),
            self.load_cmds.ready.eq(self.dma.ready & offered & ~storing),
        ]
        handed = self.dma.valid & self.dma.ready
        entry_done = eligible & ((sent == total) | (handed & (sent + 1 == total)))
        with m.If(entry_done):
            m.d.sync += [sent.eq(0), queue_tile.eq(next_tile), storing.eq(next_storing)]
            with m.If(storing):
                m.d.sync += queued_stores.eq(queued_stores + 1)
            with m.Else():
                m.d.sync += queued_loads.eq(queued_loads + 1)
        with m.Elif(handed):
            m.d.sync += sent.eq(sent + 1)
        # The head's header for the next cycle: selected from the ring by the early indices, the
        # late ``entry_done`` choosing between them; a header entering its slot at this edge is
        # taken from the stream. (After ``run`` it is stale until a header arrives, which it
        # takes: the queue waits for that header.)
        slot = (RING - 1).bit_length()
        taking = self.headers.valid & self.headers.ready

        def header_of(tile):
            arriving = taking & (received[:slot] == tile[:slot])
            return Mux(arriving, self.headers.payload, _select(m, ring, tile[:slot]))

        m.d.sync += head.eq(Mux(entry_done, header_of(next_tile), header_of(queue_tile)))

        # Compute: the next tile starts when its fetch has landed, its accumulator bank is
        # written back and the core is idle with the tile's descriptor primed. The first two
        # conditions are registered, computed for the counters' next values: each step of
        # ``tile``, ``landed`` and ``written`` (0 or 1) only selects among compares of the
        # current values, as the steps come late in the cycle.
        tile, was_busy = Signal(index), Signal()
        landed_ok, bank_ok = Signal(), Signal()  # tile < landed; its accumulator bank written back
        # ``fire``: the tile's conditions hold; ``start`` follows a cycle later, when ``busy`` and
        # ``primed`` have not yet seen it, so ``fire`` waits for it.
        fire = Signal()
        for value, step in ((tile, fire), (landed, lands), (written, writes)):
            m.d.sync += value.eq(Mux(self.run, 0, (value + step)[: len(value)]))
        # tile + fire < landed + lands:
        landed_next_ok = Mux(fire, Mux(lands, tile < landed, tile + 1 < landed),
                             Mux(lands, tile <= landed, tile < landed))  # fmt: skip

        def bank_written(wait_wb):
            """``wait_wb < written + writes``, or no wait."""
            waited = wait_wb.as_unsigned()
            return (wait_wb < 0) | Mux(writes, waited <= written, waited < written)

        # The ring as it is: a header written at this edge is too late for it to matter, as its
        # tile cannot have landed before its fetch's queue entry has passed, cycles later.
        # After ``run`` the flags are 0 until recomputed: nothing has landed.
        bank_next_ok = Mux(fire, bank_written(header(tile + 1).wait_wb), bank_written(header(tile).wait_wb))
        m.d.sync += [landed_ok.eq(~self.run & landed_next_ok), bank_ok.eq(~self.run & bank_next_ok)]
        m.d.comb += fire.eq(landed_ok & bank_ok & ~self.busy & self.primed & ~self.run & ~self.start)
        m.d.sync += [self.start.eq(fire), self.tile.eq(tile)]
        m.d.sync += was_busy.eq(self.busy)
        with m.If(was_busy & ~self.busy):
            m.d.sync += computed.eq(computed + 1)
        m.d.comb += self.finished.eq(seen_last & (computed == count) & (written == count))

        with m.If(self.run):
            for value in (received, computed, queue_tile, storing, seen_last, count, sent, load_done, store_done,
                          queued_loads, queued_stores):  # fmt: skip
                m.d.sync += value.eq(0)
        return m

    def _completion(self, m: Module, header, finished, done, queued, pulse, field: str) -> Signal:
        """Whether ``finished`` (tiles whose ``field`` commands all completed, in order; the
        caller counts it) advances at this edge, with each ``pulse``; ``done`` counts the
        completed commands of tile ``finished``."""
        current = getattr(header(finished), field)
        counted = done + pulse
        advance = Signal(name=f"{field}_complete")
        # done + pulse >= current, the late pulse selecting; a pulse beyond the tile's: the next's.
        complete = Mux(pulse, done + 1 >= current, done >= current)
        m.d.comb += advance.eq((finished < queued) & complete)
        with m.If(advance):
            m.d.sync += done.eq(counted - current)
        with m.Else():
            m.d.sync += done.eq(counted)
        return advance


def _select(m: Module, values: list, index):
    """``values[index]`` as a signal (a mux over the list)."""
    out = Signal.like(values[0])
    with m.Switch(index):
        for i, value in enumerate(values):
            with m.Case(i):
                m.d.comb += out.eq(value)
    return out
