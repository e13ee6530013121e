"""Tile controllers: read schedule, systolic control bits, write-back schedule, ``done``.

Cycle ``c`` below is the cycle after clock edge ``c``; ``start`` is sampled at edge 0. A tile
runs ``F = inner_folds * outer_folds`` folds; fold ``f`` (inner index fastest) occupies cycles
``f * I .. f * I + I - 1`` of the schedule, ``I = max(T, R)``, and streams its ``T`` words in
its first ``T`` cycles. Memories are synchronous, so a word scheduled for cycle ``c`` is
addressed in cycle ``c - 1`` (from the loop's next state; fold 0's first words are addressed
while idle, from the resting address 0) and leaves the memory in cycle ``c``, together with
its lane controls (``lane_valid`` and the flags), which the core registers with it.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..geometry import CoreGeometry
from .pe import Mode


def address_shape(depth: int):
    """Unsigned shape addressing ``depth`` words (at least one bit)."""
    return unsigned(max(1, bits_for(depth - 1)))


def tile_control_ports(geometry: CoreGeometry) -> dict:
    """The start/busy/done handshake and tile registers shared by every controller and core."""
    count = unsigned(bits_for(geometry.max_count))
    return {
        "start": In(1),
        "stream_len": In(count),
        "inner_folds": In(count),
        "outer_folds": In(count),
        "mode": In(Mode),
        "busy": Out(1),
        "done": Out(1),
    }


def delay_line(m: Module, value, stages: int, name: str) -> list[Signal]:
    """Registers ``d`` with ``d[k]`` = ``value`` from ``k`` cycles ago (``d[0]`` is ``value``)."""
    taps = [value]
    for k in range(1, stages + 1):
        register = Signal.like(value, name=f"{name}_d{k}")
        m.d.sync += register.eq(taps[-1])
        taps.append(register)
    return taps


class FoldLoop(wiring.Component):
    """The read schedule of one tile: fold ``f = outer * inner_folds + inner``, phase ``p``.

    A ``start`` pulse (all counts >= 1) latches the counts and makes ``running`` high for the
    next ``F * max(T, R)`` cycles. Outputs, valid while ``running``:

    ``phase`` (p), ``inner_base`` (inner * T), ``outer_base`` (outer * T), ``read`` (p < T),
    ``first`` (p == 0), ``last`` (p == T - 1), ``fold_end`` (p == I - 1), ``first_inner``
    (inner == 0), ``last_inner`` (inner == inner_folds - 1) and ``last_fold`` (f == F - 1). ``next_phase``, ``next_inner_base`` and
    ``next_outer_base`` are the values of the next cycle (all 0 while idle and on ``start``),
    so memories addressed from them deliver each word in the cycle it is scheduled;
    ``next_running`` is ``running`` of the next cycle.
    """

    def __init__(self, geometry: CoreGeometry) -> None:
        self.rows = geometry.rows
        count = unsigned(bits_for(geometry.max_count))
        address = address_shape(geometry.max_count)
        super().__init__(
            {
                "start": In(1),
                "stream_len": In(count),
                "inner_folds": In(count),
                "outer_folds": In(count),
                "running": Out(1),
                "phase": Out(count),
                "inner_base": Out(address),
                "outer_base": Out(address),
                "next_phase": Out(count),
                "next_inner_base": Out(address),
                "next_outer_base": Out(address),
                "next_running": Out(1),
                "read": Out(1),
                "first": Out(1),
                "last": Out(1),
                "fold_end": Out(1),
                "first_inner": Out(1),
                "last_inner": Out(1),
                "last_fold": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        stream, inner_n, outer_n, interval = (Signal.like(self.stream_len, name=n) for n in ("t", "fi", "fo", "i"))
        inner, outer = Signal.like(self.inner_folds), Signal.like(self.outer_folds)
        next_inner, next_outer = Signal.like(inner), Signal.like(outer)
        # ``fold_end``, ``last_inner`` and ``last_fold`` are registered, computed from the next
        # cycle's counters and counts (the new ones at ``start``): they end the tile and so
        # drive ``next_running``, which clocks the address generator.
        last_inner, outer_end, fold_end = Signal(), Signal(), Signal()
        counts = {"t": self.stream_len, "fi": self.inner_folds, "fo": self.outer_folds,
                  "i": Mux(self.stream_len > self.rows, self.stream_len, self.rows)}  # fmt: skip
        latched = {"t": stream, "fi": inner_n, "fo": outer_n, "i": interval}
        nxt = {name: Mux(self.start, counts[name], latched[name]) for name in counts}
        m.d.sync += [
            last_inner.eq(next_inner == nxt["fi"] - 1),
            outer_end.eq(next_outer == nxt["fo"] - 1),
            fold_end.eq(self.next_phase == nxt["i"] - 1),
        ]
        m.d.comb += [
            self.read.eq(self.phase < stream),
            self.first.eq(self.phase == 0),
            self.last.eq(self.phase == stream - 1),
            self.fold_end.eq(fold_end),
            self.first_inner.eq(inner == 0),
            self.last_inner.eq(last_inner),
            self.last_fold.eq(last_inner & outer_end),
        ]
        with m.If(self.start):
            m.d.sync += [latched[name].eq(counts[name]) for name in counts]
            m.d.comb += self.next_running.eq(1)
        with m.Elif(self.running & ~(self.last_fold & self.fold_end)):
            m.d.comb += [
                self.next_running.eq(1),
                next_inner.eq(inner),
                next_outer.eq(outer),
                self.next_inner_base.eq(self.inner_base),
                self.next_outer_base.eq(self.outer_base),
            ]
            with m.If(~self.fold_end):
                m.d.comb += self.next_phase.eq(self.phase + 1)
            with m.Elif(~last_inner):
                m.d.comb += [next_inner.eq(inner + 1), self.next_inner_base.eq(self.inner_base + stream)]
            with m.Else():
                m.d.comb += [next_inner.eq(0), self.next_inner_base.eq(0)]
                m.d.comb += [next_outer.eq(outer + 1), self.next_outer_base.eq(self.outer_base + stream)]
        m.d.sync += [
            self.running.eq(self.next_running),
            self.phase.eq(self.next_phase),
            inner.eq(next_inner),
            outer.eq(next_outer),
            self.inner_base.eq(self.next_inner_base),
            self.outer_base.eq(self.next_outer_base),
        ]
        return m


class TileControl(wiring.Component):
    """Shared part of both controllers: start/busy/done handshake, mode latch, read loop.

    Ports: ``start`` (pulse; ignored while ``busy``), ``stream_len`` (T), ``inner_folds``,
    ``outer_folds``, ``mode``; ``busy`` (tile in flight), ``done`` (high from the end of a tile
    until the next accepted ``start``; a tile with a zero count is empty and done at once),
    ``tile_mode``, ``west_addr`` / ``north_addr`` (memory read addresses), ``lane_valid``
    (the memory words of this cycle belong to the tile), ``fetch`` (the next cycle is in the
    read loop, so words addressed in this cycle are consumed; ``lane_valid`` masks the unused
    phases ``T <= p < max(T, R)``), ``out_we`` / ``out_waddr`` (result write), plus
    dataflow-specific outputs declared by subclasses in ``extra_ports``. Lane controls
    (``lane_valid`` and the flags) are meant to be registered with the memory words.
    """

    def __init__(self, geometry: CoreGeometry) -> None:
        self.geometry = g = geometry
        super().__init__(
            {
                **tile_control_ports(g),
                "tile_mode": Out(Mode),
                "west_addr": Out(address_shape(g.west_depth)),
                "north_addr": Out(address_shape(g.north_depth)),
                "lane_valid": Out(1),
                "fetch": Out(1),
                "out_we": Out(1),
                "out_waddr": Out(address_shape(g.out_depth)),
                **self.extra_ports(g),
            }
        )

    @staticmethod
    def for_geometry(geometry: CoreGeometry) -> TileControl:
        """The controller for ``geometry.dataflow``."""
        kind = OutputStationaryControl if geometry.dataflow == "os" else OperandStationaryControl
        return kind(geometry)

    def _common(self, m: Module) -> FoldLoop:
        m.submodules.loop = loop = FoldLoop(self.geometry)
        empty = (self.stream_len == 0) | (self.inner_folds == 0) | (self.outer_folds == 0)
        accept = self.start & ~self.busy
        m.d.comb += [
            loop.start.eq(accept & ~empty),
            loop.stream_len.eq(self.stream_len),
            loop.inner_folds.eq(self.inner_folds),
            loop.outer_folds.eq(self.outer_folds),
        ]
        with m.If(accept):
            m.d.sync += [self.busy.eq(~empty), self.done.eq(empty), self.tile_mode.eq(self.mode)]
        m.d.comb += [self.lane_valid.eq(loop.running & loop.read), self.fetch.eq(loop.next_running)]
        return loop

    def _finish(self, m: Module) -> None:
        """Mark the tile done at the edge that writes its last result."""
        m.d.sync += [self.busy.eq(0), self.done.eq(1)]


class OperandStationaryControl(TileControl):
    """WS/IS controller: loads each fold's R x C block row by row, writes back row by row.

    Stationary block ``f`` is north words ``f * R .. f * R + R - 1``; row ``k`` leaves the
    memory in cycle ``f * I + k``, one cycle ahead of the stream (the weight bus needs no
    extra register stage), and ``load`` marks row 0 on the west lanes, so each row's skew
    delivers the load to the PEs together with the weights. Stream word ``p`` of fold (inner,
    outer) is west word ``inner * T + p``; its result row is out word ``outer * T + p``,
    written at the end of cycle ``c + R + C`` for a word of cycle ``c``, added to (MAX: maxed
    with) the stored value unless ``inner == 0`` and the ``accumulate`` input (keep it stable
    until ``done``) is low (``out_accumulate``); ``out_final`` marks the writes of the last inner
    fold (the word's value for this tile is complete); ``out_raddr`` reads that stored value two
    cycles before the write; ``out_bypass`` (the cycle after that read) says the write of the
    read's cycle went to the same word, which the read does not see; ``out_forward`` says the
    previous cycle wrote the same word (only possible when T = R = 1).
    """

    @staticmethod
    def extra_ports(g: CoreGeometry) -> dict:
        return {
            "accumulate": In(1),
            "load": Out(1),
            "out_raddr": Out(address_shape(g.out_depth)),
            "out_accumulate": Out(1),
            "out_final": Out(1),
            "out_forward": Out(1),
            "out_bypass": Out(1),
        }

    def elaborate(self, platform):
        m = Module()
        loop = self._common(m)
        rows, cols = self.geometry.rows, self.geometry.cols
        m.d.comb += self.west_addr.eq(loop.next_inner_base + loop.next_phase)

        next_fold_row0 = loop.running & loop.fold_end & ~loop.last_fold
        north_read = loop.running & ((loop.phase + 1 < rows) | next_fold_row0)
        with m.If(loop.start):
            m.d.sync += self.north_addr.eq(1)  # word 0 was read while idle
        with m.Elif(north_read):
            m.d.sync += self.north_addr.eq(self.north_addr + 1)
        with m.Elif(~loop.running):
            m.d.sync += self.north_addr.eq(0)
        m.d.comb += self.load.eq(loop.start | next_fold_row0)

        row = data.StructLayout({"valid": 1, "addr": self.out_waddr.shape(), "accumulate": 1, "final": 1, "last": 1})
        entry = Signal(row)
        m.d.comb += [
            entry.valid.eq(loop.running & loop.read),
            entry.addr.eq(loop.outer_base + loop.phase),
            entry.accumulate.eq(~loop.first_inner | self.accumulate),
            entry.final.eq(loop.last_inner),
            entry.last.eq(loop.last & loop.last_fold),
        ]
        # Read the old value two cycles ahead: the memory output is registered before the adder.
        taps = delay_line(m, entry, rows + cols, "row")
        read, write = taps[rows + cols - 2], taps[rows + cols]
        m.d.comb += [
            self.out_raddr.eq(read.addr),
            self.out_we.eq(write.valid),
            self.out_waddr.eq(write.addr),
            self.out_accumulate.eq(write.accumulate),
            self.out_final.eq(write.final),
        ]
        # The write of the previous cycle went to this write's word after its read was issued.
        following = taps[rows + cols - 1]
        m.d.sync += self.out_forward.eq(write.valid & (write.addr == following.addr))
        # The write of the read's own cycle: the memory returns the word as it was before it.
        m.d.sync += self.out_bypass.eq(write.valid & (write.addr == read.addr))
        with m.If(write.valid & write.last):
            self._finish(m)
        return m


class OutputStationaryControl(TileControl):
    """OS controller: streams A^T and B words, then drains each fold's R x C block.

    Stream word ``p`` of fold (inner, outer) is west word ``outer * T + p`` and north word
    ``inner * T + p``; ``clear`` / ``last`` mark its first / last word on the west lanes.
    ``drain`` (north lanes) starts the bottom-up drain ``R`` cycles after a fold's last word;
    block row ``i`` of fold ``f`` is written to out word ``f * R + i`` (rows ``R - 1`` down to
    0 in consecutive cycles from ``R + C`` cycles after the last word).
    """

    @staticmethod
    def extra_ports(g: CoreGeometry) -> dict:
        return {"clear": Out(1), "last": Out(1), "drain": Out(1)}

    def elaborate(self, platform):
        m = Module()
        loop = self._common(m)
        rows, cols = self.geometry.rows, self.geometry.cols
        m.d.comb += [
            self.west_addr.eq(loop.next_outer_base + loop.next_phase),
            self.north_addr.eq(loop.next_inner_base + loop.next_phase),
            self.clear.eq(loop.running & loop.first),
            self.last.eq(loop.running & loop.read & loop.last),
        ]
        fold = data.StructLayout({"end": 1, "last": 1})
        event = Signal(fold)
        m.d.comb += [event.end.eq(loop.running & loop.read & loop.last), event.last.eq(loop.last_fold)]
        taps = delay_line(m, event, rows + cols, "fold")
        m.d.comb += self.drain.eq(taps[rows].end)

        # Burst writer: R consecutive writes, block rows R-1 .. 0, as they leave the de-skew.
        burst = taps[rows + cols]
        active, is_last = Signal(), Signal()
        row, base = Signal(range(rows)), Signal.like(self.out_waddr)
        row_now = Mux(burst.end, rows - 1, row)
        last_now = Mux(burst.end, burst.last, is_last)
        writing = burst.end | active
        m.d.comb += [self.out_we.eq(writing), self.out_waddr.eq(base + row_now)]
        with m.If(loop.start):
            m.d.sync += base.eq(0)
        with m.Elif(writing):
            m.d.sync += is_last.eq(last_now)
            with m.If(row_now == 0):
                m.d.sync += [active.eq(0), base.eq(base + rows)]
                with m.If(last_now):
                    self._finish(m)
            with m.Else():
                m.d.sync += [active.eq(1), row.eq(row_now - 1)]
        return m
