"""The layer accelerator: host bus, descriptor registers, im2col address generator, output path.

Wraps the weight-stationary core (:func:`rtl.core.datapath` behind an
:class:`~rtl.control.OperandStationaryControl`) so one descriptor runs a tile of a conv,
pooling or FC layer straight from an ifmap buffer. ``docs/accelerator.md`` is the
specification; the register, region and tap-field tables below are its single source in code
(the manifest and README are generated from them).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from accel.config import AccelConfig

from .accelerator_geometry import AcceleratorGeometry
from .control import OperandStationaryControl, address_shape, delay_line
from .core import datapath
from .emulator import DIGIT_CARRIES, PAD_MODES, TAP_FIELDS, TAP_STEPS
from .geometry import CoreGeometry
from .pe import Mode

#: Cycles from the edge that samples ``bus_re`` until ``bus_rdata`` / ``bus_rvalid`` hold the data.
READ_LATENCY = 4
#: Idle cycles the host leaves between its last write and the CTRL write (the address generator
#: loads the lane table and computes word 0's addresses ahead of the start edge).
SETTLE_CYCLES = 3
#: Edges from the one that raises ``done`` until the last result is in the staging buffer (the
#: output path's registers behind the last accumulator write).
STAGING_LATENCY = 4

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

#: Position registers and tap offsets (elements, possibly scaled by IN_W), two's complement.
COORD = signed(32)


def lanes(n: int) -> int:
    """``n`` rounded up to a power of two: bus lanes per word (LANES_R, LANES_C)."""
    return 1 << (n - 1).bit_length()


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


def register_shapes(core: CoreGeometry) -> dict:
    """Shape of each read-write register (counts as wide as the controller's; the rest :data:`COORD`)."""
    count = unsigned(bits_for(core.max_count))
    shapes = {name: COORD for name, access, _ in REGISTER_TABLE if access == "RW"}
    counts = ("T", "INNER", "OUTER", "OUT_W", "OUT_ROWS", "IMAGES", "STAGE_PITCH", "CHANNELS", "KW", "KH", "SX", "SY", "SC")
    shapes.update({name: count for name in counts})
    shapes.update(MODE=Mode, ACCUMULATE=1, PAD_MODE=2, OUT_MULT=24, OUT_SHIFT=6, OUT_ROUND=1, FINAL=1)
    return shapes


def lane_memory(m: Module, name: str, lane_shape, count: int, depth: int, write, offset, wdata):
    """A memory of ``count``-lane words written one lane per bus write; returns a read port.

    The bus offset is ``word * lanes(count) + lane``; ``wdata`` is truncated to the lane.
    """
    mem = memory.Memory(shape=data.ArrayLayout(lane_shape, count), depth=depth, init=[])
    m.submodules[name] = mem
    port = mem.write_port(granularity=1)
    lane_bits = (lanes(count) - 1).bit_length()
    lane = offset[:lane_bits]
    m.d.comb += port.addr.eq(offset[lane_bits:])
    for j in range(count):
        m.d.comb += [port.data[j].eq(wdata), port.en[j].eq(write & (lane == j))]
    return mem.read_port()


def remap(m: Module, mode, value, low, high, size, unit, bits: int, name: str):
    """``value`` (a row times ``unit`` or a column) folded back into ``[0, size)`` by pad mode.

    The result is kept modulo ``2^bits`` (an address's width): every rule is a sum, so only the
    low ``bits`` of ``value``, ``size`` and ``unit`` matter.
    """
    out = Signal(bits, name=name)
    last = size - unit
    m.d.comb += out.eq(value)
    rules = {
        PAD_MODES["reflect"]: (-value, (last << 1) - value),
        PAD_MODES["replicate"]: (0, last),
        PAD_MODES["circular"]: (value + size, value - size),
    }
    with m.Switch(mode):
        for number, (below, above) in rules.items():
            with m.Case(number):
                with m.If(low):
                    m.d.comb += out.eq(below)
                with m.Elif(high):
                    m.d.comb += out.eq(above)
    return out


class TapGenerator:
    """The taps of the K block the address generator's state is in, for every lane.

    ``lanes[i][field]`` (fields :data:`TAP_FIELDS`) holds lane ``i``'s taps; :meth:`restart`
    loads K block 0 from the lane table the host writes (``write``: a bus write to the taps
    region at ``offset``, ``(lane << 3) + field``) and :meth:`advance` steps every lane to the
    next block by :data:`TAP_STEPS`, without multipliers: the carries compare the digits with
    ``KW - SX`` and ``KH - SY`` and each field adds one of its registered increments
    ``step + carry_in * add - carry_out * wrap``. ``kx``, ``ky``, ``c`` are ``count`` wide, the
    offsets ``abits`` (the ifmap address bits): ``dxp``, ``dyw`` and ``plane`` are only used
    modulo ``2^abits``, and ``dx``, ``dy`` stay below it (the host driver checks), so the
    increments may wrap the same way.
    """

    def __init__(self, m: Module, regs: dict, rows: int, abits: int, write, offset, wdata) -> None:
        count = regs["CHANNELS"].shape()
        self.shapes = {"kx": count, "ky": count, "c": count}
        self.shapes.update({field: unsigned(abits) for field in ("dx", "dy", "dxp", "dyw", "plane")})
        self.regs = regs
        self.table = [self._fields(f"table{i}") for i in range(rows)]
        self.lanes = [self._fields(f"tap{i}") for i in range(rows)]
        with m.If(write), m.Switch(offset[: (lanes(rows) - 1).bit_length() + 3]):
            for i, table in enumerate(self.table):
                for number, field in enumerate(TAP_FIELDS):
                    with m.Case((i << 3) + number):
                        m.d.sync += table[field].eq(wdata)
        # Registered from the descriptor registers (stable from the cycle after their last write).
        self.limit_x, self.limit_y = Signal(count, name="limit_x"), Signal(count, name="limit_y")
        m.d.sync += [self.limit_x.eq(regs["KW"] - regs["SX"]), self.limit_y.eq(regs["KH"] - regs["SY"])]
        self.increments = {field: self._increments(m, field) for field in TAP_FIELDS}

    def _fields(self, prefix: str) -> dict:
        return {field: Signal(self.shapes[field], name=f"{prefix}_{field}") for field in TAP_FIELDS}

    def _register(self, name):
        return 0 if name is None else Const(name) if isinstance(name, int) else self.regs[name]

    def _increments(self, m: Module, field: str) -> dict:
        """``{(carry_in, carry_out): step + carry_in * add - carry_out * wrap}`` of ``field``."""
        _, step, add, wrap = TAP_STEPS[field]
        increments = {}
        for carry_in in (0, 1) if add is not None else (0,):
            for carry_out in (0, 1) if wrap is not None else (0,):
                value = Signal(self.shapes[field], name=f"inc_{field}_{carry_in}{carry_out}")
                total = self._register(step)
                if carry_in:
                    total = total + self._register(add)
                if carry_out:
                    total = total - self._register(wrap)
                m.d.sync += value.eq(total)
                increments[carry_in, carry_out] = value
        return increments

    def valid(self, i: int):
        """Lane ``i`` holds a real K index (its channel is one of the tile's)."""
        return self.lanes[i]["c"] < self.regs["CHANNELS"]

    def restart(self) -> list:
        """Statements: every lane to K block 0 (the lane table)."""
        return [lane[field].eq(table[field]) for lane, table in zip(self.lanes, self.table) for field in TAP_FIELDS]

    def advance(self) -> list:
        """Statements: every lane to the next K block."""
        statements = []
        for lane in self.lanes:
            cx = lane["kx"] >= self.limit_x
            carries = {None: None, "cx": cx, "cy": lane["ky"] + cx >= self.limit_y}
            for field, (digit, *_) in TAP_STEPS.items():
                carry_in, carry_out = (carries[c] for c in DIGIT_CARRIES[digit])
                increment = select(self.increments[field], carry_in, carry_out)
                statements.append(lane[field].eq(lane[field] + increment))
        return statements


def select(choice: dict, carry_in, carry_out):
    """``choice[carry_in, carry_out]``; a field without an ``add`` (``wrap``) ignores ``carry_in``
    (``carry_out``), so its dictionary lacks those keys."""

    def by_in(carry_out_value: int):
        unset = choice[0, carry_out_value]
        return Mux(carry_in, choice[1, carry_out_value], unset) if (1, carry_out_value) in choice else unset

    return Mux(carry_out, by_in(1), by_in(0)) if (0, 1) in choice else by_in(0)


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
        m = Module()
        g, config = self.geometry, self.config
        offset, region = self.bus_addr[: self.region_bits], self.bus_addr[self.region_bits :]
        writes = {name: self.bus_we & (region == number) for name, number in REGIONS.items()}
        shapes = register_shapes(self.core)
        regs = {name: Signal(shape, name=name.lower()) for name, shape in shapes.items()}
        with m.If(writes["registers"]), m.Switch(offset):
            for name, reg in regs.items():
                with m.Case(REGISTERS[name]):
                    m.d.sync += reg.eq(self.bus_wdata)

        m.submodules.control = ctl = OperandStationaryControl(self.core)
        m.d.comb += [
            ctl.start.eq(writes["registers"] & (offset == REGISTERS["CTRL"]) & self.bus_wdata[0]),
            ctl.stream_len.eq(regs["T"]),
            ctl.inner_folds.eq(regs["INNER"]),
            ctl.outer_folds.eq(regs["OUTER"]),
            ctl.mode.eq(regs["MODE"]),
            ctl.accumulate.eq(regs["ACCUMULATE"]),
            self.busy.eq(ctl.busy),
            self.done.eq(ctl.done),
        ]
        cycles = Signal(32)
        with m.If(ctl.start & ~ctl.busy):
            m.d.sync += cycles.eq(0)
        with m.Elif(ctl.busy):
            m.d.sync += cycles.eq(cycles + 1)

        west = self._ifmap(m, ctl, regs, writes, offset)
        weight = signed(config.weight_bits)
        north = lane_memory(m, "weights", weight, g.cols, g.weight_depth, writes["weights"], offset, self.bus_wdata)
        m.d.comb += north.addr.eq(ctl.north_addr)
        lane_bits = (self.lanes_c - 1).bit_length()
        accumulator, result_write = datapath(m, config, ctl, west, north.data, offset[lane_bits:])
        bias = lane_memory(m, "bias", signed(32), g.cols, g.bias_depth, writes["bias"], offset, self.bus_wdata)
        staging = self._staging(m, ctl, regs, result_write, bias)
        m.d.comb += staging.addr.eq(offset[lane_bits:])

        status = {"STATUS": Cat(ctl.busy, ctl.done), "CYCLES": cycles}
        self._read(m, regs | status, region, offset, {"accumulator": accumulator, "results": staging.data})
        return m

    def _staging(self, m: Module, ctl, regs: dict, result_write, bias):
        """The output path behind the accumulator and the staging buffer it fills; returns the
        buffer's read port.

        With FINAL set, each word of a tile's last inner fold (``o * T + p``: pixel ``p`` of
        output block ``o``, in that order) passes, all C lanes at once, through the output path
        to staging word ``p * STAGE_PITCH + o`` (pixels with their channels side by side, the
        layout of tensors in DRAM), :data:`STAGING_LATENCY` edges after its accumulator write.
        """
        g, count = self.geometry, regs["T"].shape()
        final = Signal()
        m.d.comb += final.eq(result_write.en & ctl.out_final & regs["FINAL"])
        pixel, block = Signal(count), Signal(address_shape(g.bias_depth))
        row = Signal(address_shape(g.acc_depth))  # pixel * STAGE_PITCH
        with m.If(ctl.start & ~ctl.busy):
            m.d.sync += [pixel.eq(0), block.eq(0), row.eq(0)]
        with m.Elif(final & (pixel == regs["T"] - 1)):
            m.d.sync += [pixel.eq(0), row.eq(0), block.eq(block + 1)]
        with m.Elif(final):
            m.d.sync += [pixel.eq(pixel + 1), row.eq(row + regs["STAGE_PITCH"])]
        m.d.comb += bias.addr.eq(block)

        # Stage 1: the final word and its staging address, beside its block's bias word.
        word, valid, address = Signal.like(result_write.data), Signal(), Signal.like(row)
        m.d.sync += [word.eq(result_write.data), valid.eq(final), address.eq(row + block)]
        lanes = [output_path(m, regs, word[j], bias.data[j], f"out{j}") for j in range(g.cols)]

        shape = signed(self.config.input_bits)
        mem = memory.Memory(shape=data.ArrayLayout(shape, g.cols), depth=g.acc_depth, init=[])
        m.submodules.staging = mem
        write = mem.write_port()
        stages = STAGING_LATENCY - 1  # the output path's registers after stage 1
        m.d.comb += [
            write.en.eq(delay_line(m, valid, stages, "stage_valid")[stages]),
            write.addr.eq(delay_line(m, address, stages, "stage_addr")[stages]),
        ]
        for j, value in enumerate(lanes):
            m.d.comb += write.data[j].eq(value)
        return mem.read_port()

    def _ifmap(self, m: Module, ctl, regs: dict, writes: dict, offset):
        """The ifmap buffer and address generator; returns the R west lanes of this cycle's words.

        The lane addresses (and "inject padding" flags) are registered: in each cycle the
        address register holds the word the core consumes in the next one (``ctl.fetch``) and
        the generator state describes the word after it: phase ``p`` of the fold, K block
        ``block`` and the running sums of output pixel ``p`` (column, column * PIXEL_PITCH, row,
        row * ROW_PITCH, image offset) and the taps of block ``block`` (:class:`TapGenerator`),
        which move with the state: to the next block at a fold boundary, back to the lane table
        (block 0) at the end of the inner loop. While idle the generator primes itself
        (``prime`` counts 0..3 after the last bus write): the state is set to word 0 with the
        lane table's taps, then the address register takes word 0's address while the state
        steps to word 1. So a start edge finds everything one word ahead, as during a run,
        :data:`SETTLE_CYCLES` idle cycles after the last write.
        """
        g, rows = self.geometry, self.geometry.rows
        count = regs["T"].shape()
        phase, ox, oy, block = Signal(count), Signal(count), Signal(count), Signal(count)
        col, col_p, row, row_w, image = (Signal(COORD, name=n) for n in ("col", "col_p", "row", "row_w", "image"))
        interval = Mux(regs["T"] > rows, regs["T"], rows)
        last_block = block == regs["INNER"] - 1
        next_block = Mux(last_block, 0, block + 1)

        # 0, 1: state <- word 0 (block 0's taps); 2: address <- word 0, state <- word 1; 3: primed.
        prime = Signal(range(4))
        step = Signal()  # the state advances and the address register loads
        m.d.comb += step.eq(ctl.fetch | (prime == 2))
        with m.If(ctl.fetch | self.bus_we):
            m.d.sync += prime.eq(0)
        with m.Elif(prime != 3):
            m.d.sync += prime.eq(prime + 1)

        def first_pixel(new_block):
            return [
                phase.eq(0),
                ox.eq(0),
                oy.eq(0),
                block.eq(new_block),
                image.eq(0),
                col.eq(regs["COL_START"]),
                col_p.eq(regs["COL_START_P"]),
                row.eq(regs["ROW_START"]),
                row_w.eq(regs["ROW_START_W"]),
            ]

        mem = memory.Memory(shape=signed(self.config.input_bits), depth=g.ifmap_depth, init=[])
        m.submodules.ifmap = mem
        abits = g.ifmap_address_bits
        gen = TapGenerator(m, regs, rows, abits, writes["taps"], offset, self.bus_wdata)

        with m.If(step):
            with m.If(phase == interval - 1):
                m.d.sync += first_pixel(next_block)
                with m.If(last_block):
                    m.d.sync += gen.restart()
                with m.Else():
                    m.d.sync += gen.advance()
            with m.Else():
                m.d.sync += phase.eq(phase + 1)
                with m.If(ox != regs["OUT_W"] - 1):
                    m.d.sync += [ox.eq(ox + 1), col.eq(col + regs["COL_STEP"]), col_p.eq(col_p + regs["COL_STEP_P"])]
                with m.Else():
                    m.d.sync += [ox.eq(0), col.eq(regs["COL_START"]), col_p.eq(regs["COL_START_P"])]
                    with m.If(oy != regs["OUT_ROWS"] - 1):
                        m.d.sync += [oy.eq(oy + 1), row.eq(row + regs["ROW_STEP"])]
                        m.d.sync += row_w.eq(row_w + regs["ROW_STEP_W"])
                    with m.Else():
                        m.d.sync += [oy.eq(0), row.eq(regs["ROW_START"]), row_w.eq(regs["ROW_START_W"])]
                        m.d.sync += image.eq(image + regs["IMG_STRIDE"])
        with m.Elif(prime != 3):
            m.d.sync += first_pixel(0) + gen.restart()

        write = mem.write_port()
        m.d.comb += [write.en.eq(writes["ifmap"]), write.addr.eq(offset), write.data.eq(self.bus_wdata)]
        pad, pad_zeros = regs["PAD_MODE"], regs["PAD_MODE"] == PAD_MODES["zeros"]
        lowest = -(1 << (self.config.input_bits - 1))
        fill = Mux(ctl.tile_mode == Mode.MAX, lowest, 0)
        in_hw, row_pitch, pixel_pitch = regs["IN_HW"][:abits], regs["ROW_PITCH"][:abits], regs["PIXEL_PITCH"][:abits]
        west = Signal(data.ArrayLayout(signed(self.config.input_bits), rows))
        for i, tap in enumerate(gen.lanes):
            lane_row, lane_col = row + tap["dy"], col + tap["dx"]
            row_low, row_high = lane_row < 0, lane_row >= regs["IN_H"]
            col_low, col_high = lane_col < 0, lane_col >= regs["IN_W"]
            rw_in = row_w[:abits] + tap["dyw"]
            rw = remap(m, pad, rw_in, row_low, row_high, in_hw, row_pitch, abits, f"row_w{i}")
            cp_in = col_p[:abits] + tap["dxp"]
            c = remap(m, pad, cp_in, col_low, col_high, row_pitch, pixel_pitch, abits, f"col_p{i}")
            address = Signal(abits, name=f"address{i}")
            base = image[:abits] + tap["plane"] - regs["ROW_BASE_W"][:abits]
            # The lane's value is decided with the address and applied to the word it reads.
            outside = row_low | row_high | col_low | col_high
            inject, inject_d = Signal(name=f"inject{i}"), Signal(name=f"inject{i}_d")
            with m.If(step):
                m.d.sync += [address.eq(base + rw + c), inject.eq(~gen.valid(i) | (outside & pad_zeros))]
            m.d.sync += inject_d.eq(inject)
            read = mem.read_port()
            m.d.comb += [read.addr.eq(address), west[i].eq(Mux(inject_d, fill, read.data))]
        return west

    def _read(self, m: Module, values: dict, region, offset, memories: dict) -> None:
        """Bus reads of registers and of the ``memories`` regions' lanes, READ_LATENCY cycles."""
        lane_bits = (self.lanes_c - 1).bit_length()
        index, lane, where = Signal.like(offset), Signal(max(1, lane_bits)), Signal.like(region)
        m.d.sync += [index.eq(offset), lane.eq(offset[:lane_bits]), where.eq(region)]
        raw = Signal(signed(32))
        with m.Switch(where):
            for name, lanes in memories.items():
                with m.Case(REGIONS[name]):
                    m.d.comb += raw.eq(lanes[lane])
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


def output_path(m: Module, regs: dict, acc, bias, name: str):
    """``clamp((((acc + bias) * OUT_MULT + round) >> OUT_SHIFT) - OUT_SUB, OUT_MIN, OUT_MAX)``
    of one lane, exact; three registered stages, the clamp after the last."""
    shift = regs["OUT_SHIFT"]
    total = Signal.like(acc + bias, name=f"{name}_total")
    product = Signal.like(total * regs["OUT_MULT"], name=f"{name}_product")
    rounded = Mux(regs["OUT_ROUND"], (Const(1, 1) << shift)[1:], 0)  # 2^(shift-1); 0 if shift = 0
    shifted = Signal.like((product + rounded) >> shift, name=f"{name}_shifted")
    m.d.sync += [
        total.eq(acc + bias),
        product.eq(total * regs["OUT_MULT"]),
        shifted.eq((product + rounded) >> shift),
    ]
    low = Mux(shifted - regs["OUT_SUB"] < regs["OUT_MIN"], regs["OUT_MIN"], shifted - regs["OUT_SUB"])
    return Mux(low > regs["OUT_MAX"], regs["OUT_MAX"], low)
