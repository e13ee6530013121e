"""The compute core: operand memories, skew, systolic array, de-skew, result memory, controller.

Host protocol (one clock ``clk``, synchronous active-high ``rst``):

1. While ``busy`` is low, write operand words through ``west_w*`` / ``north_w*`` (one word per
   cycle on ``*_wen``; lanes beyond the data must be zero). No write in the cycle of ``start``.
2. Set ``stream_len`` (T), ``inner_folds``, ``outer_folds``, ``mode`` and pulse ``start`` for one
   cycle; keep them stable until ``done``.
3. ``done`` rises exactly ``accel.timing.tile_cycles(dataflow, R, C, T, inner * outer)`` clock
   edges after the edge that sampled ``start``; results are then in the out memory.
4. Read results through ``out_raddr`` -> ``out_rdata`` (one cycle latency) while ``busy`` is low.

The memory maps per dataflow are documented on the controllers in :mod:`rtl.hw.control` and in
the generated manifest.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from accel.config import AccelConfig

from .array import SystolicArray, north_lane_layout
from .control import TileControl, address_shape, tile_control_ports
from ..geometry import CoreGeometry
from .pe import PE, merge
from .skew import Skew

#: Meaning of each top-level port (the manifest and README are generated from this).
PORTS = {
    "clk": "clock; everything is synchronous to its rising edge",
    "rst": "synchronous reset, active high",
    "start": "pulse for one cycle to start a tile (ignored while busy)",
    "stream_len": "T: stream words per fold (WS: rows of A, OS: reduction length K, IS: columns of B)",
    "inner_folds": "folds per inner loop (WS/IS: K blocks, accumulated into the same outputs; OS: N blocks)",
    "outer_folds": "folds per outer loop (WS: N blocks, OS and IS: M blocks); F = inner_folds * outer_folds",
    "mode": "0 = MAC (multiply-accumulate), 1 = MAX (max of west operands where the north operand != 0)",
    "busy": "a tile is in flight; do not write memories or read results",
    "done": "the last tile finished (high until the next accepted start)",
    "west_wen": "write enable of the west operand memory",
    "west_waddr": "west memory word address",
    "west_wdata": "west memory word: rows signed lanes, lane i at bits [i*w, (i+1)*w)",
    "north_wen": "write enable of the north operand memory",
    "north_waddr": "north memory word address",
    "north_wdata": "north memory word: cols signed lanes, lane j at bits [j*w, (j+1)*w)",
    "out_raddr": "result memory word address (read)",
    "out_rdata": "result word one cycle after out_raddr: cols signed acc_bits lanes",
}


class SystolicCore(wiring.Component):
    """One systolic-array core for ``config`` (rows, cols, dataflow, widths, buffer sizes).

    Ports are listed with their meaning in :data:`PORTS`; the Verilog also has ``clk`` and
    ``rst`` (synchronous, active high).
    """

    def __init__(self, config: AccelConfig) -> None:
        self.config = config
        self.geometry = g = CoreGeometry.from_config(config)
        super().__init__(
            {
                **tile_control_ports(g),
                "west_wen": In(1),
                "west_waddr": In(address_shape(g.west_depth)),
                "west_wdata": In(data.ArrayLayout(signed(g.west_bits), g.rows)),
                "north_wen": In(1),
                "north_waddr": In(address_shape(g.north_depth)),
                "north_wdata": In(data.ArrayLayout(signed(g.north_bits), g.cols)),
                "out_raddr": In(address_shape(g.out_depth)),
                "out_rdata": Out(data.ArrayLayout(signed(g.acc_bits), g.cols)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        g, config = self.geometry, self.config
        m.submodules.control = ctl = TileControl.for_geometry(g)
        for name, member in tile_control_ports(g).items():  # the core forwards the controller's ports
            inner, outer = getattr(ctl, name), getattr(self, name)
            m.d.comb += inner.eq(outer) if member.flow == In else outer.eq(inner)

        west = self._operand_memory(m, "west", g.west_depth, ctl.west_addr)
        north = self._operand_memory(m, "north", g.north_depth, ctl.north_addr)

        m.d.comb += self.out_rdata.eq(datapath(m, config, ctl, west, north, self.out_raddr)[0])
        return m

    def _operand_memory(self, m: Module, name: str, depth: int, read_addr):
        """A host-written, core-read operand memory; returns its read data (one cycle latency)."""
        host_data = getattr(self, f"{name}_wdata")
        mem = memory.Memory(shape=host_data.shape(), depth=depth, init=[])
        m.submodules[f"{name}_mem"] = mem
        write, read = mem.write_port(), mem.read_port()
        m.d.comb += [
            write.en.eq(getattr(self, f"{name}_wen")),
            write.addr.eq(getattr(self, f"{name}_waddr")),
            write.data.eq(host_data),
            read.addr.eq(read_addr),
        ]
        return read.data


def datapath(m: Module, config: AccelConfig, ctl: TileControl, west, north, host_raddr):
    """Skew, array, de-skew and result memory behind the operand memories.

    ``west`` / ``north`` are the operand lanes of the words ``ctl`` addressed one cycle
    earlier; ``host_raddr`` addresses the result memory while ``ctl`` is not busy. Returns the
    result memory's read data (one cycle after the address) and its write port (the words the
    core writes, with ``en`` / ``addr`` / ``data``).
    """
    g = ctl.geometry
    drains = config.dataflow == "os"  # output-stationary: results drain, no accumulation
    west_lane, _, _ = PE.config_layouts(config)
    m.submodules.west_skew = west_skew = Skew(west_lane, g.rows)
    m.submodules.north_skew = north_skew = Skew(north_lane_layout(config), g.cols)
    # Operand words and their control bits are registered once after the memory: the
    # BRAM clock-to-output delay then never adds to a multiply-add path. The controller
    # addresses one cycle ahead, so this costs no latency.
    west_lanes = Signal(west_skew.i.shape())
    m.d.sync += west_skew.i.eq(west_lanes)
    for i in range(g.rows):
        lane = west_lanes[i]
        # Zero operands outside the stream so idle cycles add nothing (MAX: select nothing).
        m.d.comb += [lane.a.eq(Mux(ctl.lane_valid, west[i], 0)), lane.mode.eq(ctl.tile_mode)]
        if drains:
            m.d.comb += [lane.clear.eq(ctl.clear), lane.last.eq(ctl.last)]
        else:
            m.d.comb += lane.load.eq(ctl.load)
    if drains:
        for j in range(g.cols):
            lane = north_skew.i[j]
            m.d.sync += [lane.b.eq(Mux(ctl.lane_valid, north[j], 0)), lane.drain.eq(ctl.drain)]
    else:
        # The weight bus only feeds PE registers (latched on ``load``): no extra stage.
        m.d.comb += north_skew.i.eq(north)

    m.submodules.array = array = SystolicArray(config)
    m.submodules.deskew = deskew = Skew(signed(g.acc_bits), g.cols, reverse=True)
    m.d.comb += [array.west.eq(west_skew.o), array.north.eq(north_skew.o), deskew.i.eq(array.south)]

    m.submodules.out_mem = out_mem = memory.Memory(
        shape=data.ArrayLayout(signed(g.acc_bits), g.cols), depth=g.out_depth, init=[]
    )
    write = out_mem.write_port()
    # Not transparent: a transparent port's read address register would leave the memory's
    # output unregistered on FPGAs (Yosys takes the register behind it into the block RAM);
    # _accumulate bypasses the write of the read's own cycle instead.
    read = out_mem.read_port()
    m.d.comb += [write.en.eq(ctl.out_we), write.addr.eq(ctl.out_waddr)]
    if drains:
        m.d.comb += [write.data.eq(deskew.o), read.addr.eq(host_raddr)]
    else:
        # The host and the read-modify-write share one read port (one BRAM port pair).
        m.d.comb += read.addr.eq(Mux(ctl.busy, ctl.out_raddr, host_raddr))
        _accumulate(m, ctl, read.data, deskew.o, write)
    return read.data, write


def _accumulate(m: Module, ctl: TileControl, stored, new, write) -> None:
    """Write ``new`` merged with the word ``stored`` read two cycles before the write.

    The read data is registered to keep the BRAM clock-to-output delay off the adder path.
    A write in the read's own cycle is not in ``stored``: it is taken instead as the data is
    registered (``ctl.out_bypass``); the one write that lands after that read (T = R = 1:
    every fold is one row) is forwarded, with the address match computed a cycle early
    (``ctl.out_forward``).
    """
    held, last_data = Signal.like(stored), Signal.like(write.data)
    m.d.sync += [held.eq(Mux(ctl.out_bypass, last_data, stored)), last_data.eq(write.data)]
    old = Signal.like(stored)
    m.d.comb += old.eq(Mux(ctl.out_forward, last_data, held))
    for j in range(new.shape().length):
        merged = merge(ctl.tile_mode, old[j], new[j])
        m.d.comb += write.data[j].eq(Mux(ctl.out_accumulate, merged, new[j]))
