"""Does a generated design fit its FPGA? Block RAMs, DSP blocks and LUTs estimated from the config.

:func:`estimate` counts what a design (``top``, one of :data:`TOPS`: the AXI peripheral or the
bare core) of an :class:`~accel.config.AccelConfig` needs on the device
``sim gen --synth FAMILY`` targets (:data:`rtl.synth.FAMILIES`, whose capacities come from
Lattice's data sheets). The memories and multipliers are read from the design itself
(:func:`design`, which walks its submodules), so the estimate follows it.

block RAMs
    Each memory on the device's block RAM (:data:`BLOCK_RAMS`) the way yosys's ``memory_libmap``
    maps it: for every shape the block offers (depth x width), the blocks stacked in depth times
    the blocks side by side for one word; the cheapest shape counts. Words written one lane at a
    time (the lane memories) put every lane on whole byte-enable units (ECP5: 9 bits, so a 32-bit
    lane takes 36 bits and a 1-bit lane 9); shapes narrower than a unit have no byte enables, so
    there each lane takes blocks of its own. A block has one read port next to its write port, so
    a memory with R read ports (the ifmap buffer: one per west lane) is R copies. A memory read
    asynchronously (a FIFO's) cannot be block RAM and takes none. A memory read on a clock edge
    goes to LUT RAM instead (none either) where yosys finds that cheaper: on ECP5 when
    :meth:`Memory.lut_ram_cost` (TRELLIS_DPR16X4, 16 x 4 bits, cost 4, plus the read multiplexers
    and write decoders of memory_libmap's cost model) is below :meth:`Memory.block_cost` (128 per
    DP16KD block plus read-first emulation): the 16-word staging buffer of a 2x2 AXI top, for one.
DSP blocks
    One per multiplier of at most 18 x 18 bits, ``ceil(a / 17) * ceil(b / 17)`` for a wider one:
    a multiplier per PE and those of the other modules (the output path, one per lane). A device
    without DSP blocks (iCE40) builds multipliers from LUTs.
LUTs
    A linear model in the array's PEs, rows, columns and block RAMs (:data:`LUT_MODELS`, per
    device and design), fitted to the synthesized designs listed in ``docs/benchmarks.md``.

:func:`check` raises :class:`FitError` for the first resource over capacity, naming the estimate,
the capacity and the flag to change; :func:`largest_buffers` picks the buffers ``sim gen`` uses
when none are given.
"""

from __future__ import annotations

import gc
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

from accel.config import MAX_BUFFER_KIB, AccelConfig, ConfigError
from workloads.errors import UserError

from .accelerator_geometry import AcceleratorGeometry
from .geometry import CoreGeometry
from .hw.pe import operand_bits
from .synth import FAMILIES

#: Widest operands of one DSP block; a wider operand is split into pieces of one bit less.
DSP_OPERAND_BITS = 18
BUFFERS = ("ifmap", "filter", "ofmap")
#: The designs: the AXI peripheral (:class:`rtl.hw.system_top.SystemTop`, docs/axi_system.md)
#: and the bare systolic core.
TOPS = ("system", "core")
#: The AXI peripheral's data bus (bytes per beat) in the estimate: SystemTop's default.
SYSTEM_DATA_BYTES = 16


def top_name(top: str | bool) -> str:
    """The design ``top`` names; a bool is ``sim gen --core-only`` (True: 'core', else 'system')."""
    if isinstance(top, bool):
        return "core" if top else "system"
    if top not in TOPS:
        raise ValueError(f"top must be one of {', '.join(TOPS)}, not {top!r}")
    return top


class FitError(UserError):
    """The design needs more of a resource than the device has; the message names the fix."""


@dataclass(frozen=True)
class BlockRam:
    """A device's block RAM: its name, the (depth, width) shapes it offers, its byte-enable unit (bits)."""

    name: str
    shapes: tuple[tuple[int, int], ...]
    byte_bits: int
    #: yosys memory_libmap's cost of one block (the device's lattice/brams_*.txt).
    cost: int = 128
    #: The device's LUT RAM cell as (depth, width, cost) (lattice/lutrams_*.txt), None without.
    lut_ram: tuple[int, int, int] | None = None


#: ECP5 DP16KD (18 Kbit; 36 bits wide as a pseudo-dual-port block, byte enables per 9 bits; LUT
#: RAM TRELLIS_DPR16X4) and iCE40 SB_RAM40_4K (4 Kbit, a write mask per bit; no LUT RAM).
BLOCK_RAMS = {
    "ecp5": BlockRam("EBR", ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)), 9,
                     lut_ram=(16, 4, 4)),  # fmt: skip
    "ice40": BlockRam("RAM4K", ((2048, 2), (1024, 4), (512, 8), (256, 16)), 1),
}


@dataclass(frozen=True)
class LutModel:
    """LUTs: ``fixed + per_pe * R * C + per_row * R + per_col * C + per_bram * block RAMs``
    (the last for the read multiplexers and wider addresses of larger memories)."""

    fixed: float
    per_pe: float
    per_row: float
    per_col: float
    per_bram: float

    def luts(self, rows: int, cols: int, brams: int) -> int:
        return math.ceil(self.fixed + self.per_pe * rows * cols + self.per_row * rows + self.per_col * cols
                         + self.per_bram * brams)  # fmt: skip


#: Fits to synthesized designs (docs/benchmarks.md, "Will it fit? The estimate against
#: synthesis"), per (family, design): on ECP5 nextpnr's LUT4 count, on iCE40 (whose multipliers
#: are LUTs) yosys's SB_LUT4 cells, fewer than the logic cells they are placed in.
LUT_MODELS = {
    # The AXI peripheral: the core's 166.125 per PE, the rest through its small and medium runs
    # (docs/benchmarks.md, "AXI peripheral on ECP5"), split evenly between rows (west lanes:
    # address generators, ifmap copies) and columns (output-path lanes); a 2x2 with the
    # smallest buffers, 16,044 LUT placed, is 0.9 % above it.
    ("ecp5", "system"): LutModel(fixed=10270.0, per_pe=166.125, per_row=1241.375, per_col=1241.375, per_bram=0.0),
    ("ecp5", "core"): LutModel(fixed=667.0, per_pe=166.125, per_row=0.0, per_col=0.0, per_bram=0.0),
    # Not synthesized for iCE40 (no AXI top fits it): the retired custom-bus layer accelerator's
    # fit, a lower bound (on ECP5 the AXI top takes about twice its LUTs), so the check fails.
    ("ice40", "system"): LutModel(fixed=2708.0, per_pe=300.83, per_row=0.0, per_col=2971.33, per_bram=0.0),
    ("ice40", "core"): LutModel(fixed=337.67, per_pe=300.83, per_row=0.0, per_col=0.0, per_bram=0.0),
}


@dataclass(frozen=True)
class Memory:
    """One memory: ``depth`` words of ``width`` bits, ``read_ports`` read addresses, a write
    enable per ``enable_bits`` bits of the word (None: one per word); ``async_read``: read
    without a clock edge (LUT RAM or flip-flops only)."""

    name: str
    depth: int
    width: int
    read_ports: int = 1
    enable_bits: int | None = None
    async_read: bool = False

    def blocks(self, ram: BlockRam) -> int:
        """Block RAMs this memory takes on ``ram`` (see the module docstring)."""
        if self.async_read:
            return 0
        blocks = self.read_ports * min(math.ceil(self.depth / depth) * self._side_by_side(width, ram)
                                       for depth, width in ram.shapes)  # fmt: skip
        lut_ram = self.lut_ram_cost(ram)
        return 0 if lut_ram is not None and lut_ram < self.block_cost(ram, blocks) else blocks

    def block_cost(self, ram: BlockRam, blocks: int) -> float:
        """yosys memory_libmap's cost of this memory in ``blocks`` of ``ram``: the blocks, and 2
        points per emulation score point, as a read port of a separate block port reads the old
        word only with read-first emulation (3 per write port) and the transparency logic it
        brings (3 per read port), plus 1 per read port (``score_emu_ports``)."""
        return ram.cost * blocks + 2 * (3 + 4 * self.read_ports)

    def lut_ram_cost(self, ram: BlockRam) -> float | None:
        """yosys memory_libmap's cost of this memory in ``ram``'s LUT RAM (None: it has none): the
        cells (a copy per read port; a lane written on its own starts a cell of its own), half a
        point per read-multiplexer input bit beyond the first cell in depth, with several cells
        in depth half a point per write enable and cell row (``handle_geom`` in
        passes/memory/memory_libmap.cc), and 2 per read port (its emulation score: the read
        register costs nothing more). Checked against synth_ecp5 (and its ``debug
        memory_libmap`` costs) on single memories at the boundary: 96 x 16 bits and 48 x 32 go to
        LUT RAM, 112 x 16 and 48 x 36 to one DP16KD each, 256 x 8 with a write enable per bit to
        two DP16KD."""
        if ram.lut_ram is None:
            return None
        depth, width, cost = ram.lut_ram
        rows = math.ceil(self.depth / depth)
        lane = self.enable_bits or self.width
        enables = self.width // lane
        cells = rows * enables * math.ceil(lane / width)
        mux = (rows - 1) * self.width * self.read_ports
        demux = rows * enables if rows > 1 else 0
        return cost * cells * self.read_ports + 0.5 * mux + 0.5 * demux + 2 * self.read_ports

    def _side_by_side(self, width: int, ram: BlockRam) -> int:
        """Blocks ``width`` bits wide next to each other that hold one word."""
        lane = self.enable_bits or self.width
        if lane == self.width or ram.byte_bits == 1:
            return math.ceil(self.width / width)
        lanes = self.width // lane
        if width < ram.byte_bits:  # no byte enables: each lane in blocks of its own
            return lanes * math.ceil(lane / width)
        return math.ceil(lanes * math.ceil(lane / ram.byte_bits) / (width // ram.byte_bits))


@dataclass(frozen=True)
class Design:
    """What an elaborated design holds that decides its fit: its memories and the operand widths
    (bits, signed) of the multipliers at its top level (the PEs' are not among them)."""

    memories: tuple[Memory, ...]
    products: tuple[tuple[int, int], ...]


def design(config: AccelConfig, top: str | bool = "system") -> Design:
    """The memories and multipliers the design ``top`` (:data:`TOPS`) of ``config`` builds.

    Every module is elaborated but the PE array's (their multipliers are counted per PE by
    :func:`estimate`), and nothing is converted: a fraction of a second. A memory is named by its
    module path below the top (``core.ifmap`` in the system). The
    design objects are dropped in here, so Amaranth does not warn that they were never used.
    ConfigError for a config the design cannot be built for.
    """
    from amaranth.hdl import UnusedElaboratable

    top = top_name(top)
    _geometry(top).from_config(config)  # fails before any Amaranth object
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        memories, products = [], []
        _collect(_component(config, top).elaborate(None), "", memories, products)
        gc.collect()
    return Design(tuple(memories), tuple(products))


def _geometry(top: str) -> type:
    """The geometry whose ``from_config`` checks that ``top`` can be built."""
    return CoreGeometry if top == "core" else AcceleratorGeometry


def _component(config: AccelConfig, top: str):
    """The top-level component of the design ``top``."""
    from .hw.core import SystolicCore
    from .hw.system_top import SystemTop

    if top == "system":
        return SystemTop(config, data_bytes=SYSTEM_DATA_BYTES)
    return SystolicCore(config)


def _collect(module, prefix: str, memories: list, products: list) -> None:
    """Add the memories (names ``prefix`` + path) and product operand widths of the Amaranth
    ``module`` and its submodules, elaborated in turn, to ``memories`` and ``products``; the PE
    array is skipped."""
    from amaranth.hdl._xfrm import TransformedElaboratable
    from amaranth.lib import memory

    from .hw.array import SystolicArray

    for name, (sub, _) in module._named_submodules.items():
        while isinstance(sub, TransformedElaboratable):  # ResetInserter(...) and the like
            sub = sub._elaboratable_
        if isinstance(sub, memory.Memory):
            memories.append(_memory(prefix + name, sub))
        elif not isinstance(sub, SystolicArray):
            _collect(sub.elaborate(None), f"{prefix}{name}.", memories, products)
    products.extend(_products(module._statements.values()))


def _memory(name: str, mem) -> Memory:
    """The :class:`Memory` of the Amaranth ``mem`` (one write port)."""
    from amaranth.hdl import Shape
    from amaranth.lib import data

    [write] = mem.write_ports
    unit = write.signature.granularity  # elements of an array layout, else bits
    if unit is not None and isinstance(mem.shape, data.ArrayLayout):
        unit *= Shape.cast(mem.shape.elem_shape).width
    async_read = any(port.domain == "comb" for port in mem.read_ports)
    return Memory(name, mem.depth, Shape.cast(mem.shape).width, len(mem.read_ports), unit, async_read)


def _products(statements) -> list[tuple[int, int]]:
    """Operand widths of every multiplication in ``statements`` (lists of Amaranth statements),
    as signed operands: an unsigned operand of a signed product takes one bit more. A product by a
    constant power of two is a shift (yosys maps it to no DSP block) and is left out."""
    from amaranth.hdl import _ast

    products, seen, stack = [], set(), [s for block in statements for s in block]
    while stack:
        node = stack.pop()
        if isinstance(node, _ast.Operator):
            shift = any(isinstance(op, _ast.Const) and op.value & (op.value - 1) == 0 for op in node.operands)
            if node.operator == "*" and not shift and id(node) not in seen:
                seen.add(id(node))
                shapes = [operand.shape() for operand in node.operands]
                signed = any(shape.signed for shape in shapes)
                products.append(tuple(shape.width + (signed and not shape.signed) for shape in shapes))
            stack.extend(node.operands)
        elif isinstance(node, _ast.Assign):
            stack.append(node.rhs)
        elif isinstance(node, _ast.Switch):
            stack.append(node.test)
            stack.extend(statement for _, body, _ in node.cases for statement in body)
        elif isinstance(node, _ast.SwitchValue):
            stack.append(node.test)
            stack.extend(value for _, value in node.cases)
        elif isinstance(node, (_ast.Slice, _ast.Part)):
            stack.append(node.value)
        elif isinstance(node, _ast.Concat):
            stack.extend(node.parts)
        elif isinstance(node, _ast.ArrayProxy):
            stack.extend([*node.elems, node.index])
    return products


def multiplier_dsps(a_bits: int, b_bits: int) -> int:
    """DSP blocks of one ``a_bits`` x ``b_bits`` signed multiplier."""
    if a_bits <= DSP_OPERAND_BITS and b_bits <= DSP_OPERAND_BITS:
        return 1
    return math.ceil(a_bits / (DSP_OPERAND_BITS - 1)) * math.ceil(b_bits / (DSP_OPERAND_BITS - 1))


@dataclass(frozen=True)
class Estimate:
    """What a design needs on ``device``: LUTs, DSP blocks and block RAMs (``memories``: per memory)."""

    device: str
    luts: int
    dsps: int
    brams: int
    memories: dict[str, int]

    def line(self, family: str) -> str:
        """``190 of 208 EBR, 24,112 of 83,640 LUT, 68 of 156 DSP``."""
        spec = FAMILIES[family]
        parts = [f"{self.brams:,} of {spec['brams']:,} {BLOCK_RAMS[family].name}",
                 f"{self.luts:,} of {spec['luts']:,} LUT"]  # fmt: skip
        if spec["dsps"]:
            parts.append(f"{self.dsps:,} of {spec['dsps']:,} DSP")
        return ", ".join(parts)


def estimate(config: AccelConfig, family: str = "ecp5", top: str | bool = "system") -> Estimate:
    """Resources of the design ``top`` (:data:`TOPS`) of ``config`` on ``family``'s device."""
    top = top_name(top)
    return _estimate(config, design(config, top), family, top)


def _estimate(config: AccelConfig, built: Design, family: str, top: str) -> Estimate:
    blocks = {m.name: m.blocks(BLOCK_RAMS[family]) for m in built.memories}
    brams = sum(blocks.values())
    multipliers = [operand_bits(config)] * config.pes + list(built.products)  # one per PE
    dsps = sum(multiplier_dsps(a, b) for a, b in multipliers) if FAMILIES[family]["dsps"] else 0
    luts = LUT_MODELS[family, top].luts(config.rows, config.cols, brams)
    return Estimate(FAMILIES[family]["device"], luts, dsps, brams, blocks)


@lru_cache(maxsize=64)
def _least(config: AccelConfig, family: str, top: str) -> Estimate:
    """The estimate with the smallest buffers (powers of two, KiB) the array can have: what the
    array needs whatever the buffers."""
    kib = 1
    while True:
        smallest = config.replace(**{f"{b}_kib": kib for b in BUFFERS})
        try:
            built = design(smallest, top)
        except ConfigError:  # a bank too small for the array
            kib *= 2
            continue
        return _estimate(smallest, built, family, top)


def fits(est: Estimate, family: str) -> bool:
    """True if ``est`` is within every capacity of ``family``'s device."""
    spec = FAMILIES[family]
    return est.dsps <= spec["dsps"] and est.luts <= spec["luts"] and est.brams <= spec["brams"]


def array_shortfall(config: AccelConfig, family: str, top: str | bool = "system") -> str | None:
    """``a 32x32 array needs about 1,028 DSP blocks; the ... has 156`` when the array alone (any
    buffers) needs more DSP blocks or LUTs than the device has, else None."""
    spec, least = FAMILIES[family], _least(config, family, top_name(top))
    for need, have, what in ((least.dsps, spec["dsps"], "DSP blocks"), (least.luts, spec["luts"], "LUTs")):
        if need > have:
            return f"a {config.rows}x{config.cols} array needs about {need:,} {what}; the {spec['device']} has {have:,}"
    return None


def check_buildable(config: AccelConfig, top: str | bool = "system") -> None:
    """ConfigError if the design cannot be built for ``config`` with any buffer sizes."""
    largest = config.replace(**{f"{b}_kib": MAX_BUFFER_KIB for b in BUFFERS})
    _geometry(top_name(top)).from_config(largest)


def check_array(config: AccelConfig, family: str, top: str | bool = "system") -> None:
    """ConfigError if the design cannot be built (:func:`check_buildable`); FitError naming the
    :func:`array_shortfall` and the largest square array that fits."""
    check_buildable(config, top)
    shortfall = array_shortfall(config, family, top)
    if shortfall:
        raise FitError(f"{shortfall}: {_array_fix(config, family, top)}")


def _array_fix(config: AccelConfig, family: str, top: str | bool) -> str:
    """``use --rows/--cols <= N``: the largest square array whose DSP blocks and LUTs fit."""
    side = largest_square(config, family, top)
    if side is None:
        return "no array of this design fits it (--no-device-check generates it anyway)"
    return f"use --rows/--cols <= {side}"


def largest_square(config: AccelConfig, family: str, top: str | bool = "system",
                   limit: int | None = None) -> int | None:  # fmt: skip
    """The side of the largest square array (at most ``limit``) whose DSP blocks and LUTs fit
    ``family``'s device, None if none does."""
    side = 1 if top_name(top) == "core" else 2  # the layer core needs two rows

    def fits_side(n: int) -> bool:
        return array_shortfall(config.replace(rows=n, cols=n), family, top) is None

    if not fits_side(side):
        return None
    while (limit is None or side < limit) and fits_side(side + 1):
        side += 1
    return side


def buffers_kib(config: AccelConfig) -> str:
    """``ifmap/filter/ofmap`` in KiB, e.g. ``64/64/32``."""
    return "/".join(str(getattr(config, f"{b}_kib")) for b in BUFFERS)


def check(config: AccelConfig, family: str, top: str | bool = "system", fitted_for: str | None = None) -> Estimate:
    """The estimate of ``config``'s design, or FitError for the first resource over capacity.

    ``fitted_for``: the network whose ``--fit`` sized the buffers (the advice differs from that
    for buffers given as flags or in a config file).
    """
    check_array(config, family, top)
    est, spec = estimate(config, family, top), FAMILIES[family]
    if est.brams <= spec["brams"]:
        return est
    if fitted_for:
        need = f"--fit's buffers for {fitted_for}, {buffers_kib(config)} KiB,"
        fix = "drop --fit to get the largest buffers that fit (layers then tile on the host)"
    else:
        need = f"buffers {buffers_kib(config)} KiB"
        fix = f"lower {_costliest_buffer(config, family, top)}, or give no buffer size to get the largest that fit"
    raise FitError(f"{need} need about {est.brams:,} {BLOCK_RAMS[family].name} blocks; "
                   f"the {spec['device']} has {spec['brams']:,}: {fix}")  # fmt: skip


def _costliest_buffer(config: AccelConfig, family: str, top: str | bool) -> str:
    """The buffer flag whose halving saves the most block RAMs."""
    left = {}
    for buffer in BUFFERS:
        half = max(1, getattr(config, f"{buffer}_kib") // 2)
        try:
            left[f"--{buffer}-kib"] = estimate(config.replace(**{f"{buffer}_kib": half}), family, top).brams
        except ConfigError:  # the bank would be too small for the array
            continue
    return min(left, key=left.get)


def largest_buffers(config: AccelConfig, family: str, top: str | bool = "system") -> tuple[AccelConfig, Estimate]:
    """``config`` with the largest buffers, powers of two in KiB with ifmap : filter : ofmap =
    2 : 2 : 1 (the simulator's defaults' ratio), whose design fits ``family``'s device, and its
    estimate; FitError when none does."""
    check_array(config, family, top)
    best, tried, kib = None, None, 1
    while 2 * kib <= MAX_BUFFER_KIB:
        candidate = config.replace(ifmap_kib=2 * kib, filter_kib=2 * kib, ofmap_kib=kib)
        kib *= 2
        try:
            tried = candidate, estimate(candidate, family, top)
        except ConfigError:  # banks too small for the array: larger ones may do
            continue
        if not fits(tried[1], family):
            break
        best = tried
    if best is None:
        spec = FAMILIES[family]
        raise FitError(f"a {config.rows}x{config.cols} array needs about {tried[1].brams:,} {BLOCK_RAMS[family].name} "
                       f"blocks even with buffers {buffers_kib(tried[0])} KiB; the {spec['device']} has "
                       f"{spec['brams']:,}: use smaller --rows/--cols")  # fmt: skip
    return best
