# amaranth: UnusedElaboratable=no
"""The layer core: descriptor registers in, a tile of a conv, pooling or FC layer computed from
on-chip memories, results through the output path into the staging memory.

The core of the AXI system (:class:`rtl.hw.system_top.SystemTop`, ``docs/axi_system.md``; what
it computes is specified in ``docs/accelerator.md``): two banks per memory, filled and drained by
the DMA engines in words of ``word_bytes`` bytes. Its memories (:mod:`rtl.hw.chip_memories`) are
built into the core's own module (their components are never submodules: hence the linter line
above). The descriptor registers (``regs``, shapes :func:`register_shapes`), the lane table
(``lanes``) and the banks must be stable from :data:`SETTLE_CYCLES` idle cycles after ``reload``
until ``busy`` falls.
"""

from __future__ import annotations

from dataclasses import replace

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from accel.config import AccelConfig

from ..accelerator_geometry import AcceleratorGeometry
from .chip_memories import LaneBytes, RowMemory, StagingMemory
from .control import OperandStationaryControl, address_shape, delay_line
from .core import datapath
from ..geometry import CoreGeometry
from .pe import Mode
from ..spec import DESCRIPTOR_REGISTERS, DIGIT_CARRIES, PAD_MODES, TAP_FIELDS, TAP_STEPS

#: Idle cycles the core needs after ``reload`` before a start edge (the address generator loads
#: the lane table and computes word 0's addresses, in two registered stages, ahead of the start edge).
SETTLE_CYCLES = 4
#: Edges from the one that raises ``done`` until the last result is in the staging memory (the
#: output path's registers behind the last accumulator write).
STAGING_LATENCY = 4

#: Position registers and tap offsets (elements, possibly scaled by IN_W), two's complement.
COORD = signed(32)


def lanes(n: int) -> int:
    """``n`` rounded up to a power of two: lanes per memory row (LANES_R, LANES_C)."""
    return 1 << (n - 1).bit_length()


def core_geometry(config: AccelConfig) -> CoreGeometry:
    """The controller's geometry in the layer core: its operand memories as deep as a tile may
    fill them (:attr:`accel.config.AccelConfig.tile_banks`)."""
    core, banks = CoreGeometry.from_config(config), config.tile_banks
    return replace(core, west_depth=banks * core.west_depth, north_depth=banks * core.north_depth)


def register_shapes(core: CoreGeometry) -> dict:
    """Shape of each descriptor register (counts as wide as the controller's; the rest :data:`COORD`)."""
    count = unsigned(bits_for(core.max_count))
    shapes = {name: COORD for name in DESCRIPTOR_REGISTERS}
    counts = ("T", "INNER", "OUTER", "OUT_W", "OUT_ROWS", "IMAGES", "STAGE_PITCH", "CHANNELS", "KW", "KH", "SX", "SY", "SC")
    shapes.update({name: count for name in counts})
    shapes.update(MODE=Mode, ACCUMULATE=1, PAD_MODE=2, OUT_MULT=24, OUT_SHIFT=6, OUT_ROUND=1, FINAL=1)
    return shapes


def lane_layout(core: CoreGeometry, address_bits: int) -> data.StructLayout:
    """One lane of the lane table: the digits ``kx, ky, c`` (count wide) and the offsets."""
    count = unsigned(bits_for(core.max_count))
    return data.StructLayout({f: count if f in ("kx", "ky", "c") else unsigned(address_bits) for f in TAP_FIELDS})


class LayerCore(wiring.Component):
    """A WS layer core for ``config`` with :attr:`BANKS` banks per memory and DMA words of
    ``word_bytes`` bytes.

    Ports: ``regs`` (descriptor registers), ``lanes`` (lane table, R entries), ``weight_bank`` /
    ``stage_bank``, ``reload`` (the registers or lane table changed: settle again), ``start`` /
    ``busy`` / ``done`` (one tile: ``done`` rises at the edge that ends the tile's compute,
    ``busy`` falls :data:`STAGING_LATENCY` edges later, once its last result is in the staging
    memory and the registers are free), ``ifmap_dma`` / ``weights_dma`` / ``addends_dma`` (DMA
    writes, byte addresses ``word * word_bytes`` from bank 0), ``staging_dma`` (DMA reads),
    ``acc_addr`` / ``acc_data`` (the accumulators, one cycle latency, while idle).
    """

    #: Name of each memory's ``memory.Memory`` in the module, where it differs from the port's (the
    #: FPGA estimate, :mod:`rtl.fpga_fit`, and its reports call the addends' memory ``bias``).
    MEMORY_NAMES = {"addends": "bias"}

    #: Banks per memory: the DMA engines fill or drain one while the core uses the other.
    BANKS = 2

    def __init__(self, config: AccelConfig, word_bytes: int) -> None:
        self.config, self.word_bytes = config, word_bytes
        self.geometry = g = AcceleratorGeometry.from_config(config)
        self.core = core_geometry(config)
        self.lanes_c = c = lanes(g.cols)
        # Rows per bank (each bank starts on a DMA word).
        self.bank_rows = {name: g.bank_rows(name) for name in ("ifmap", "weights", "addends", "staging")}
        rows = {name: self.BANKS * depth for name, depth in self.bank_rows.items()}
        self.address_bits = max(1, ceil_log2(rows["ifmap"]))
        self.memories = {
            "ifmap": LaneBytes(rows["ifmap"], word_bytes, g.rows),
            "weights": RowMemory(rows["weights"], c, word_bytes),
            "addends": RowMemory(rows["addends"], 4 * c, word_bytes),
            "staging": StagingMemory(rows["staging"], c, word_bytes),
        }
        super().__init__(
            {
                "regs": In(data.StructLayout(register_shapes(self.core))),
                "lanes": In(data.ArrayLayout(lane_layout(self.core, self.address_bits), g.rows)),
                "weight_bank": In(unsigned(1)),
                "stage_bank": In(unsigned(1)),
                "reload": In(1),
                "start": In(1),
                "busy": Out(1),
                "done": Out(1),
                **{f"{name}_dma": In(mem.dma_signature) for name, mem in self.memories.items()},
                "acc_addr": In(address_shape(g.acc_depth)),
                "acc_data": Out(data.ArrayLayout(signed(config.acc_bits), g.cols)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        g, config, regs = self.geometry, self.config, self.regs
        for name, mem in self.memories.items():
            mem.build(m, self.MEMORY_NAMES.get(name, name))
            wiring.connect(m, wiring.flipped(getattr(self, f"{name}_dma")), mem.dma)

        m.submodules.control = ctl = OperandStationaryControl(self.core)
        m.d.comb += [
            ctl.start.eq(self.start),
            ctl.stream_len.eq(regs.T),
            ctl.inner_folds.eq(regs.INNER),
            ctl.outer_folds.eq(regs.OUTER),
            ctl.mode.eq(regs.MODE),
            ctl.accumulate.eq(regs.ACCUMULATE),
            self.busy.eq(Cat(delay_line(m, ctl.busy, STAGING_LATENCY, "draining")).any()),
            self.done.eq(ctl.done),
        ]
        west = self._ifmap(m, ctl)
        weights = self.memories["weights"]
        m.d.comb += weights.row.eq(self._bank(self.weight_bank, "weights") + ctl.north_addr)
        north = data.ArrayLayout(signed(config.weight_bits), self.lanes_c)(weights.data)
        north_lanes = Signal(data.ArrayLayout(signed(config.weight_bits), g.cols))
        m.d.comb += [north_lanes[j].eq(north[j]) for j in range(g.cols)]
        accumulator, result_write = datapath(m, config, ctl, west, north_lanes, self.acc_addr)
        m.d.comb += self.acc_data.eq(accumulator)
        self._staging(m, ctl, result_write)
        return m

    def _bank(self, bank, memory: str):
        """The first row of bank ``bank`` (0 or 1) of ``memory`` (no multiplier: two banks)."""
        return Mux(bank, self.bank_rows[memory], 0)

    def _staging(self, m: Module, ctl, result_write) -> None:
        """The output path behind the accumulator and the staging rows it fills.

        With FINAL set, each word of a tile's last inner fold (``o * T + p``: pixel ``p`` of
        output block ``o``, in that order) passes, all C lanes at once, through the output path
        to staging row ``p * STAGE_PITCH + o`` of bank ``stage_bank`` (pixels with their
        channels side by side, the layout of tensors in DRAM), :data:`STAGING_LATENCY` edges
        after its accumulator write; its addends are row ``o`` of bank ``weight_bank``.
        """
        g, regs, count = self.geometry, self.regs, self.regs.T.shape()
        final = Signal()
        m.d.comb += final.eq(result_write.en & ctl.out_final & regs.FINAL)
        pixel, block = Signal(count), Signal(address_shape(self.config.tile_banks * g.bias_depth))
        row = Signal(address_shape(g.acc_depth))  # pixel * STAGE_PITCH
        with m.If(ctl.start & ~ctl.busy):
            m.d.sync += [pixel.eq(0), block.eq(0), row.eq(0)]
        with m.Elif(final & (pixel == regs.T - 1)):
            m.d.sync += [pixel.eq(0), row.eq(0), block.eq(block + 1)]
        with m.Elif(final):
            m.d.sync += [pixel.eq(pixel + 1), row.eq(row + regs.STAGE_PITCH)]
        addends = self.memories["addends"]
        m.d.comb += addends.row.eq(self._bank(self.weight_bank, "addends") + block)
        bias = data.ArrayLayout(signed(32), self.lanes_c)(addends.data)

        # Stage 1: the final word and its staging row, beside its block's addends.
        word, valid = Signal.like(result_write.data), Signal()
        address = Signal(range(self.BANKS * self.bank_rows["staging"]))
        m.d.sync += [word.eq(result_write.data), valid.eq(final),
                     address.eq(self._bank(self.stage_bank, "staging") + row + block)]  # fmt: skip
        bounds = clamp_bounds(m, regs)
        results = [output_path(m, regs, bounds, word[j], bias[j], f"out{j}") for j in range(g.cols)]
        staging, stages = self.memories["staging"], STAGING_LATENCY - 1  # the output path's registers after stage 1
        lanes = data.ArrayLayout(signed(self.config.input_bits), self.lanes_c)(staging.row_data)
        m.d.comb += [
            staging.row_en.eq(delay_line(m, valid, stages, "stage_valid")[stages]),
            staging.row.eq(delay_line(m, address, stages, "stage_addr")[stages]),
            *(lanes[j].eq(value) for j, value in enumerate(results)),
        ]

    def _ifmap(self, m: Module, ctl):
        """The ifmap address generator; returns the R west lanes of this cycle's words.

        The lane addresses (and "inject padding" flags) are computed in two registered stages:
        in each cycle the address register holds the word the core consumes in the next one
        (``ctl.fetch``), the first stage (each lane's row and column, the sums its address is
        made of) the word after it, and the generator state the word after that: phase ``p`` of
        the fold, K block ``block`` and the running sums of output pixel ``p`` (column, column *
        PIXEL_PITCH, row, row * ROW_PITCH, image offset) and the taps of block ``block``
        (:class:`TapGenerator`), which move with the state: to the next block at a fold
        boundary, back to the lane table (block 0) at the end of the inner loop. While idle the
        generator primes itself (``prime`` counts 0..4 after ``reload``): the state is set to
        word 0 with the lane table's taps, then steps twice, filling the first stage and the
        address register. So a start edge finds everything as during a run,
        :data:`SETTLE_CYCLES` idle cycles after the last ``reload``.
        """
        rows, regs = self.geometry.rows, self.regs
        count = regs.T.shape()
        phase, ox, oy, block = Signal(count), Signal(count), Signal(count), Signal(count)
        col, col_p, row, row_w, image = (Signal(COORD, name=n) for n in ("col", "col_p", "row", "row_w", "image"))
        interval = Mux(regs.T > rows, regs.T, rows)
        last_block = block == regs.INNER - 1
        next_block = Mux(last_block, 0, block + 1)

        # 0, 1: state <- word 0 (block 0's taps); 2: first stage <- word 0, state <- word 1;
        # 3: address <- word 0, first stage <- word 1, state <- word 2; 4: primed.
        prime = Signal(range(5))
        step = Signal()  # the state advances and both stages load
        m.d.comb += step.eq(ctl.fetch | (prime == 2) | (prime == 3))
        with m.If(ctl.fetch | self.reload):
            m.d.sync += prime.eq(0)
        with m.Elif(prime != 4):
            m.d.sync += prime.eq(prime + 1)

        def first_pixel(new_block):
            return [
                phase.eq(0),
                ox.eq(0),
                oy.eq(0),
                block.eq(new_block),
                image.eq(0),
                col.eq(regs.COL_START),
                col_p.eq(regs.COL_START_P),
                row.eq(regs.ROW_START),
                row_w.eq(regs.ROW_START_W),
            ]

        abits = self.address_bits
        gen = TapGenerator(m, regs, self.lanes, rows, abits)
        with m.If(step):
            with m.If(phase == interval - 1):
                m.d.sync += first_pixel(next_block)
                with m.If(last_block):
                    m.d.sync += gen.restart()
                with m.Else():
                    m.d.sync += gen.advance()
            with m.Else():
                m.d.sync += phase.eq(phase + 1)
                with m.If(ox != regs.OUT_W - 1):
                    m.d.sync += [ox.eq(ox + 1), col.eq(col + regs.COL_STEP), col_p.eq(col_p + regs.COL_STEP_P)]
                with m.Else():
                    m.d.sync += [ox.eq(0), col.eq(regs.COL_START), col_p.eq(regs.COL_START_P)]
                    with m.If(oy != regs.OUT_ROWS - 1):
                        m.d.sync += [oy.eq(oy + 1), row.eq(row + regs.ROW_STEP)]
                        m.d.sync += row_w.eq(row_w + regs.ROW_STEP_W)
                    with m.Else():
                        m.d.sync += [oy.eq(0), row.eq(regs.ROW_START), row_w.eq(regs.ROW_START_W)]
                        m.d.sync += image.eq(image + regs.IMG_STRIDE)
        with m.Elif(prime < 2):
            m.d.sync += first_pixel(0) + gen.restart()

        ifmap = self.memories["ifmap"]
        pad, pad_zeros = regs.PAD_MODE, regs.PAD_MODE == PAD_MODES["zeros"]
        lowest = -(1 << (self.config.input_bits - 1))
        fill = Mux(ctl.tile_mode == Mode.MAX, lowest, 0)
        in_hw, row_pitch, pixel_pitch = regs.IN_HW[:abits], regs.ROW_PITCH[:abits], regs.PIXEL_PITCH[:abits]
        west = Signal(data.ArrayLayout(signed(self.config.input_bits), rows))
        for i, tap in enumerate(gen.lanes):
            # First stage: the lane's row and column, and the terms of its address.
            sums = {
                "row": row + tap["dy"],
                "col": col + tap["dx"],
                "row_w": row_w[:abits] + tap["dyw"],
                "col_p": col_p[:abits] + tap["dxp"],
                "base": image[:abits] + tap["plane"] - regs.ROW_BASE_W[:abits],
                "valid": gen.valid(i),
            }
            stage = {name: Signal.like(value, name=f"lane{i}_{name}") for name, value in sums.items()}
            with m.If(step):
                m.d.sync += [stage[name].eq(value) for name, value in sums.items()]
            # Second stage: padding folded back by the pad mode, the address and the inject flag.
            row_low, row_high = stage["row"] < 0, stage["row"] >= regs.IN_H
            col_low, col_high = stage["col"] < 0, stage["col"] >= regs.IN_W
            rw = remap(m, pad, stage["row_w"][:abits], row_low, row_high, in_hw, row_pitch, abits, f"row_w{i}")
            c = remap(m, pad, stage["col_p"][:abits], col_low, col_high, row_pitch, pixel_pitch, abits, f"col_p{i}")
            address = Signal(abits, name=f"address{i}")
            # The lane's value is decided with the address and applied to the word it reads.
            outside = row_low | row_high | col_low | col_high
            inject, inject_d = Signal(name=f"inject{i}"), Signal(name=f"inject{i}_d")
            with m.If(step):
                m.d.sync += [address.eq(stage["base"][:abits] + rw + c),
                             inject.eq(~stage["valid"] | (outside & pad_zeros))]  # fmt: skip
            m.d.sync += inject_d.eq(inject)
            m.d.comb += [ifmap.addr[i].eq(address), west[i].eq(Mux(inject_d, fill, ifmap.data[i].as_signed()))]
        return west


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
    loads K block 0 from the lane table ``table`` (the core's ``lanes`` port) and
    :meth:`advance` steps every lane to the next block by :data:`TAP_STEPS`, without
    multipliers: the carries compare the digits with ``KW - SX`` and ``KH - SY`` and each field
    adds one of its registered increments ``step + carry_in * add - carry_out * wrap``. ``kx``,
    ``ky``, ``c`` are ``count`` wide, the offsets ``abits`` (the ifmap address bits): ``dxp``,
    ``dyw`` and ``plane`` are only used modulo ``2^abits``, and ``dx``, ``dy`` stay below it (the
    host driver checks), so the increments may wrap the same way.
    """

    def __init__(self, m: Module, regs, table, rows: int, abits: int) -> None:
        count = regs.CHANNELS.shape()
        self.shapes = {"kx": count, "ky": count, "c": count}
        self.shapes.update({field: unsigned(abits) for field in ("dx", "dy", "dxp", "dyw", "plane")})
        self.regs, self.table = regs, table
        self.lanes = [self._fields(f"tap{i}") for i in range(rows)]
        # Registered from the descriptor registers (stable from the cycle after their last change);
        # limit_y - 1 lets the row carry compare beside the column carry, not after it.
        self.limit_x, self.limit_y = Signal(count, name="limit_x"), Signal(count, name="limit_y")
        self.limit_y_less = Signal(signed(count.width + 1), name="limit_y_less")
        limit_y = Value.cast(regs.KH - regs.SY)[: count.width]
        m.d.sync += [self.limit_x.eq(regs.KW - regs.SX), self.limit_y.eq(limit_y), self.limit_y_less.eq(limit_y - 1)]
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
        return self.lanes[i]["c"] < self.regs.CHANNELS

    def restart(self) -> list:
        """Statements: every lane to K block 0 (the lane table)."""
        return [lane[field].eq(self.table[i][field]) for i, lane in enumerate(self.lanes) for field in TAP_FIELDS]

    def advance(self) -> list:
        """Statements: every lane to the next K block."""
        statements = []
        for lane in self.lanes:
            cx = lane["kx"] >= self.limit_x
            cy = Mux(cx, lane["ky"] >= self.limit_y_less, lane["ky"] >= self.limit_y)  # ky + cx >= limit_y
            carries = {None: None, "cx": cx, "cy": cy}
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


def clamp_bounds(m: Module, regs) -> tuple[Signal, Signal, Signal]:
    """The clamp's bounds on the shifted value, registered: ``OUT_MIN + OUT_SUB``,
    ``OUT_MAX + OUT_SUB`` and ``OUT_MIN > OUT_MAX``. They follow the registers one edge late,
    which the core's idle cycles after a reload (:data:`SETTLE_CYCLES`) cover."""
    low, high = (Signal.like(bound + regs.OUT_SUB, name=f"clamp_{name}")
                 for bound, name in ((regs.OUT_MIN, "low"), (regs.OUT_MAX, "high")))  # fmt: skip
    empty = Signal(name="clamp_empty")
    m.d.sync += [low.eq(regs.OUT_MIN + regs.OUT_SUB), high.eq(regs.OUT_MAX + regs.OUT_SUB),
                 empty.eq(regs.OUT_MIN > regs.OUT_MAX)]  # fmt: skip
    return low, high, empty


def output_path(m: Module, regs, bounds, acc, bias, name: str):
    """``clamp((((acc + bias) * OUT_MULT + round) >> OUT_SHIFT) - OUT_SUB, OUT_MIN, OUT_MAX)``
    of one lane, exact (OUT_MAX if OUT_MIN > OUT_MAX); three registered stages, then the clamp.

    Each stage holds one add: the sum ``acc + bias``; its low 17 bits and its high bits, each
    times OUT_MULT (two DSPs and the add of their partial products); then the product of the
    two halves shifted right by OUT_SHIFT - 1, whose last bit is the rounding increment ``r``
    (``floor((P + 2^(s-1)) / 2^s) = (P >> s) + bit s-1 of P``). The clamp compares ``P >> s``
    with the :func:`clamp_bounds` and adds ``r`` beside the subtraction: ``P >> s >= high``
    gives OUT_MAX and ``P >> s < low`` OUT_MIN whether or not ``r`` is 1, so the compares do
    not wait for it."""
    total = Signal.like(acc + bias, name=f"{name}_total")
    split = 17  # an ECP5 multiplier's unsigned operand width
    total_low, total_high = total[:split], total[split:].as_signed()
    low_product = Signal.like(total_low * regs.OUT_MULT, name=f"{name}_product_low")
    high_product = Signal.like(total_high * regs.OUT_MULT, name=f"{name}_product_high")
    product = low_product + (high_product << split)
    halved = Signal.like((product << 1) >> regs.OUT_SHIFT, name=f"{name}_halved")  # P >> (s - 1)
    m.d.sync += [
        total.eq(acc + bias),
        low_product.eq(total_low * regs.OUT_MULT),
        high_product.eq(total_high * regs.OUT_MULT),
        halved.eq((product << 1) >> regs.OUT_SHIFT),
    ]
    shifted, r = halved[1:].as_signed(), halved[0] & regs.OUT_ROUND  # r = 0 if OUT_SHIFT = 0
    low, high, empty = bounds
    return Mux(empty | (shifted >= high), regs.OUT_MAX, Mux(shifted < low, regs.OUT_MIN, shifted - regs.OUT_SUB + r))
