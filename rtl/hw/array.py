"""The R x C grid of processing elements, wired systolically (no skew, no memories)."""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from accel.config import AccelConfig

from .pe import PE, identity


def north_lane_layout(config: AccelConfig):
    """What the north edge takes per column: the weight bus (WS/IS) or ``b`` + drain start (OS)."""
    _, north, column = PE.config_layouts(config)
    if config.dataflow == "os":
        return data.StructLayout({"b": north.members["b"], "drain": column})
    return column


class SystolicArray(wiring.Component):
    """``rows x cols`` PEs; operands enter at the west and north edges, results leave south.

    Ports (all lanes must already be skewed: lane ``i`` one cycle behind lane ``i - 1``):

    ``west``: ``ArrayLayout(pe.west_in, rows)``
        Row ``i`` operand and control bits, entering PE ``(i, 0)``.
    ``north``: ``ArrayLayout(north_lane_layout(config), cols)``
        Column ``j`` input: broadcast to the column (weights / drain start) and, for OS, ``b``
        entering PE ``(0, j)``.
    ``south``: ``ArrayLayout(signed(acc_bits), cols)``
        Result leaving the bottom of column ``j`` (partial sum for WS/IS, drained output for OS).
    """

    def __init__(self, config: AccelConfig) -> None:
        self.config = config
        west, north, _ = PE.config_layouts(config)
        super().__init__(
            {
                "west": In(data.ArrayLayout(west, config.rows)),
                "north": In(data.ArrayLayout(north_lane_layout(config), config.cols)),
                "south": Out(data.ArrayLayout(north.members["result"], config.cols)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        rows, cols, drains = self.config.rows, self.config.cols, self.config.dataflow == "os"
        grid = [[PE.from_config(self.config, bottom=i == rows - 1) for _ in range(cols)] for i in range(rows)]
        for i, row in enumerate(grid):
            for j, pe in enumerate(row):
                m.submodules[f"pe_{i}_{j}"] = pe
                lane = self.north[j]
                m.d.comb += pe.west_in.eq(self.west[i] if j == 0 else row[j - 1].west_out)
                m.d.comb += pe.column.eq(lane.drain if drains else lane)
                if i > 0:
                    m.d.comb += pe.north_in.eq(grid[i - 1][j].south_out)
                elif drains:
                    m.d.comb += pe.north_in.b.eq(lane.b)  # no drain data or token above row 0
                else:
                    # Partial sums start from the reduction's identity (0, or -inf for MAX).
                    m.d.comb += pe.north_in.result.eq(identity(pe.west_in.mode, self.config.acc_bits))
        for j, pe in enumerate(grid[-1]):
            m.d.comb += self.south[j].eq(pe.south_out.result)
        return m
