"""Triangular delay lines that turn a memory word into a systolic wavefront and back."""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.hdl import ShapeCastable
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from accel.config import ConfigError


class Skew(wiring.Component):
    """Delay lane ``i`` of a vector by ``i`` cycles (``reverse``: by ``lanes - 1 - i`` cycles).

    The forward skew feeds lane ``i`` of one memory word to array row/column ``i`` exactly when
    the wavefront reaches it; the reverse skew (de-skew) re-aligns the array's staggered
    outputs into one word. Costs ``lanes * (lanes - 1) / 2`` lane registers.

    Ports: ``i`` (input word), ``o`` (delayed word), both ``ArrayLayout(lane_shape, lanes)``.
    """

    def __init__(self, lane_shape: ShapeCastable, lanes: int, *, reverse: bool = False) -> None:
        if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
            raise ConfigError(f"Skew lanes must be a positive integer, not {lanes!r}")
        self.lane_shape, self.lanes, self.reverse = lane_shape, lanes, reverse
        layout = data.ArrayLayout(lane_shape, lanes)
        super().__init__({"i": In(layout), "o": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        for lane in range(self.lanes):
            value = self.i[lane]
            for stage in range(self.lanes - 1 - lane if self.reverse else lane):
                register = Signal(self.lane_shape, name=f"lane{lane}_d{stage + 1}")
                m.d.sync += register.eq(value)
                value = register
            m.d.comb += self.o[lane].eq(value)
        return m
