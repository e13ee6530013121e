# amaranth: UnusedElaboratable=no
"""The layer accelerator: host bus, descriptor registers, bus reads, around the layer core.

A host-bus adapter around :class:`rtl.hw.layer_core.LayerCore` (the weight-stationary core with its
address generator, tap generator and output path; one bank per memory, a bus write per element),
so one descriptor runs a tile of a conv, pooling or FC layer straight from an ifmap buffer.
``docs/accelerator.md`` is the specification; the register, region and tap-field tables below are
its single source in code (the manifest and README are generated from them).
"""

from __future__ import annotations

from amaranth import Cat, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from accel.config import AccelConfig

from ..accelerator_geometry import AcceleratorGeometry
from .control import delay_line
from ..spec import PAD_MODES, TAP_FIELDS  # noqa: F401 (the manifest's tables)
from ..geometry import CoreGeometry
from .layer_core import SETTLE_CYCLES, STAGING_LATENCY, LayerCore, lanes, register_shapes  # noqa: F401

#: Cycles from the edge that samples ``bus_re`` until ``bus_rdata`` / ``bus_rvalid`` hold the data.
READ_LATENCY = 4

#: (name, access, meaning) of the registers of region 0, in index order.
REGISTER_TABLE = [
    ("CTRL", "W", "write 1: start the descriptor (ignored while busy); the edge sampling the write is cycle 0"),
    ("STATUS", "R", "bit 0 busy, bit 1 done (done stays high until the next start)"),
    ("CYCLES", "R", "cycles of the last descriptor: edges from start until done is high"),
    ("T", "RW", "stream length: IMAGES * OUT_ROWS * OUT_W output pixels"),
    ("INNER", "RW", "folds per output block: K blocks of R"),
    ("OUTER", "RW", "output blocks of C channels"),
    ("MODE", "RW", "0 MAC, 1 MAX"),
    ("ACCUMULATE", "RW", "1: the first K block adds to (MAX: maxes with) the accumulator instead of overwriting"),
    ("OUT_W", "RW", "output pixels per output row"),
    ("OUT_ROWS", "RW", "output rows per image in this tile"),
    ("IMAGES", "RW", "images in this tile"),
    ("IMG_STRIDE", "RW", "ifmap elements between consecutive images"),
    ("COL_START", "RW", "signed: input column of output column 0 (-pad_left)"),
    ("COL_STEP", "RW", "column stride"),
    ("ROW_START", "RW", "signed: absolute input row of the tile's first output row (y0 * stride - pad_top)"),
    ("ROW_STEP", "RW", "row stride"),
    ("ROW_START_W", "RW", "signed: ROW_START * ROW_PITCH"),
    ("ROW_STEP_W", "RW", "ROW_STEP * ROW_PITCH"),
    ("IN_W", "RW", "input row length (pixels)"),
    ("IN_H", "RW", "input rows of the whole image (for padding)"),
    ("IN_HW", "RW", "IN_H * ROW_PITCH"),
    ("ROW_BASE_W", "RW", "first buffered row * ROW_PITCH"),
    ("ROW_PITCH", "RW", "ifmap elements between vertically adjacent pixels (IN_W * PIXEL_PITCH)"),
    ("PIXEL_PITCH", "RW", "ifmap elements between horizontally adjacent pixels (the channels stored per pixel)"),
    ("COL_START_P", "RW", "signed: COL_START * PIXEL_PITCH"),
    ("COL_STEP_P", "RW", "COL_STEP * PIXEL_PITCH"),
    ("PAD_MODE", "RW", "0 zeros, 1 reflect, 2 replicate, 3 circular"),
    ("OUT_MULT", "RW", "output path multiplier, unsigned, < 2^24"),
    ("OUT_SHIFT", "RW", "output path right shift, 0..63"),
    ("OUT_ROUND", "RW", "1: add 2^(OUT_SHIFT-1) before the shift (when OUT_SHIFT > 0)"),
    ("OUT_SUB", "RW", "signed: subtracted after the shift"),
    ("OUT_MIN", "RW", "signed: lower clamp (-128, or 0 for a fused ReLU)"),
    ("OUT_MAX", "RW", "signed: upper clamp (127, or 6 for a fused ReLU6)"),
    ("FINAL", "RW", "1: the descriptor completes its outputs; the output path writes them to the staging buffer"),
    ("STAGE_PITCH", "RW", "staging words between consecutive output pixels (at least OUTER)"),
    ("CHANNELS", "RW", "channels of the tile's K (K = CHANNELS * KH * KW): a lane is valid while its channel c < CHANNELS"),
    ("KW", "RW", "kernel columns: the radix of the kx digit"),
    ("KH", "RW", "kernel rows: the radix of the ky digit"),
    ("SX", "RW", "kx step per K block: R = SC * KH * KW + SY * KW + SX, SX < KW"),
    ("SY", "RW", "ky step per K block, SY < KH"),
    ("SC", "RW", "channel step per K block"),
    ("DX_STEP", "RW", "SX * dilation_x: added to dx per K block"),
    ("DX_WRAP", "RW", "KW * dilation_x: subtracted from dx on a carry out of kx"),
    ("DXP_STEP", "RW", "DX_STEP * PIXEL_PITCH"),
    ("DXP_WRAP", "RW", "DX_WRAP * PIXEL_PITCH"),
    ("DY_STEP", "RW", "SY * dilation_y: added to dy per K block"),
    ("DY_CARRY", "RW", "dilation_y: added to dy on a carry into ky"),
    ("DY_WRAP", "RW", "KH * dilation_y: subtracted from dy on a carry out of ky"),
    ("DYW_STEP", "RW", "DY_STEP * ROW_PITCH"),
    ("DYW_CARRY", "RW", "DY_CARRY * ROW_PITCH"),
    ("DYW_WRAP", "RW", "DY_WRAP * ROW_PITCH"),
    ("PLANE_STEP", "RW", "SC * PLANE_CARRY: added to plane per K block"),
    ("PLANE_CARRY", "RW", "ifmap elements between consecutive channels (1 in pixel-major buffers, else the plane size): added to plane on a carry into c"),
]
REGISTERS = {name: index for index, (name, _, _) in enumerate(REGISTER_TABLE)}

#: (name, offset, content) of the bus regions, in region-number order.
REGION_TABLE = [
    ("registers", "register index", "32-bit registers"),
    ("ifmap", "element address", "one input element (input_bits); write only"),
    ("weights", "word * LANES_C + lane", "one weight (weight_bits), lane < C; write only"),
    ("bias", "word * LANES_C + lane", "one int32 bias / output-path addend; write only"),
    ("taps", "(lane << 3) + field", "one lane-table field (the taps of K index lane), lane < R; write only"),
    ("results", "word * LANES_C + lane", "read only: staging buffer lane (an output-path result, input_bits)"),
    ("accumulator", "word * LANES_C + lane", "read only: raw accumulator lane (acc_bits)"),
]
REGIONS = {name: number for number, (name, _, _) in enumerate(REGION_TABLE)}

#: Meaning of each top-level port (the manifest and README are generated from this).
PORTS = {
    "clk": "clock; everything is synchronous to its rising edge",
    "rst": "synchronous reset, active high",
    "bus_addr": "word address: (region << REGION_BITS) + offset",
    "bus_wdata": "write data (truncated to the target's width)",
    "bus_we": "write strobe; the write takes effect at the edge that samples it",
    "bus_re": "read strobe; one read per cycle",
    "bus_rdata": "read data (sign-extended), READ_LATENCY cycles after the edge that sampled bus_re",
    "bus_rvalid": "bus_rdata holds read data",
    "busy": "a descriptor is running (STATUS bit 0)",
    "done": "the last descriptor finished (STATUS bit 1)",
}


def region_bits(config: AccelConfig) -> int:
    """Offset bits of a bus address (at least 5): the largest region fits."""
    g = AcceleratorGeometry.from_config(config)
    largest = max(
        len(REGISTER_TABLE),
        g.ifmap_depth,
        max(g.weight_depth, g.bias_depth, g.acc_depth) * lanes(g.cols),
        lanes(g.rows) << 3,
    )
    return max(5, (largest - 1).bit_length())


class Accelerator(wiring.Component):
    """The whole-layer accelerator for a WS ``config`` with at least 2 rows (``docs/accelerator.md``).

    Ports are listed with their meaning in :data:`PORTS`; the Verilog also has ``clk`` and
    ``rst``. Memory depths are in ``self.geometry``
    (:class:`~rtl.accelerator_geometry.AcceleratorGeometry`), the bus split in
    ``self.region_bits``, ``self.lanes_r`` and ``self.lanes_c``.
    """

    def __init__(self, config: AccelConfig) -> None:
        self.config = config
        self.geometry = AcceleratorGeometry.from_config(config)
        self.core = CoreGeometry.from_config(config)  # the controller's view: the same depths
        self.region_bits, self.lanes_r, self.lanes_c = region_bits(config), lanes(config.rows), lanes(config.cols)
        super().__init__(
            {
                "bus_addr": In(self.region_bits + bits_for(len(REGIONS) - 1)),
                "bus_wdata": In(32),
                "bus_we": In(1),
                "bus_re": In(1),
                "bus_rdata": Out(32),
                "bus_rvalid": Out(1),
                "busy": Out(1),
                "done": Out(1),
            }
        )

    def elaborate(self, platform):
        layer = LayerCore(self.config, None, banks=1)
        # The core's module is the accelerator's (the core is not a submodule): its memories and
        # output path stay at the top level, where rtl.fpga_fit reads them.
        m = layer.elaborate(platform)
        offset, region = self.bus_addr[: self.region_bits], self.bus_addr[self.region_bits :]
        writes = {name: self.bus_we & (region == number) for name, number in REGIONS.items()}
        regs = layer.regs
        with m.If(writes["registers"]), m.Switch(offset):
            for name, field in regs.shape():
                with m.Case(REGISTERS[name]):
                    m.d.sync += regs.as_value()[field.offset : field.offset + field.width].eq(self.bus_wdata)
        with m.If(writes["taps"]), m.Switch(offset[: (self.lanes_r - 1).bit_length() + 3]):
            for i in range(self.geometry.rows):
                for number, field in enumerate(TAP_FIELDS):
                    with m.Case((i << 3) + number):
                        m.d.sync += layer.lanes[i][field].eq(self.bus_wdata)
        for name, target in (("ifmap", "ifmap"), ("weights", "weights"), ("bias", "addends")):
            port = getattr(layer, f"{target}_dma")  # one element per word
            m.d.comb += [port.en.eq(writes[name]), port.addr.eq(offset), port.data.eq(self.bus_wdata), port.strb.eq(1)]

        # The core stays busy STAGING_LATENCY edges after done; a descriptor is busy until done.
        start, busy = writes["registers"] & (offset == REGISTERS["CTRL"]) & self.bus_wdata[0], Signal()
        m.d.comb += [
            layer.start.eq(start),
            layer.reload.eq(self.bus_we),
            busy.eq(layer.busy & ~layer.done),
            self.busy.eq(busy),
            self.done.eq(layer.done),
        ]
        cycles = Signal(32)
        with m.If(start & ~busy):
            m.d.sync += cycles.eq(0)
        with m.Elif(busy):
            m.d.sync += cycles.eq(cycles + 1)

        # The memories read by the bus: the lane of a word is picked the cycle its data arrives.
        lane_bits = (self.lanes_c - 1).bit_length()
        lane = Signal(max(1, lane_bits))
        m.d.sync += lane.eq(offset[:lane_bits])
        m.d.comb += [
            layer.acc_addr.eq(offset[lane_bits:]),
            layer.staging_dma.en.eq(1),
            layer.staging_dma.addr.eq(offset),
        ]
        values = {name: Value.cast(regs[name]) for name, _ in regs.shape()}
        values.update(STATUS=Cat(busy, layer.done), CYCLES=cycles)
        memories = {"accumulator": layer.acc_data[lane], "results": layer.staging_dma.data.as_signed()}
        self._read(m, values, region, offset, memories)
        return m

    def _read(self, m, values: dict, region, offset, memories: dict) -> None:
        """Bus reads of registers and of the ``memories`` regions (their lanes, selected), READ_LATENCY cycles."""
        index, where = Signal.like(offset), Signal.like(region)
        m.d.sync += [index.eq(offset), where.eq(region)]
        raw = Signal(signed(32))
        with m.Switch(where):
            for name, value in memories.items():
                with m.Case(REGIONS[name]):
                    m.d.comb += raw.eq(value)
            with m.Case(REGIONS["registers"]), m.Switch(index):
                for name, value in values.items():
                    with m.Case(REGISTERS[name]):
                        m.d.comb += raw.eq(value)
        # Stage 0 is the memory / index register; the output register is the last stage.
        stages = READ_LATENCY - 1
        m.d.sync += [
            self.bus_rdata.eq(delay_line(m, raw, stages, "raw")[stages]),
            self.bus_rvalid.eq(delay_line(m, self.bus_re, READ_LATENCY, "re")[READ_LATENCY]),
        ]
