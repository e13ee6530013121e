"""Does a generated design fit its FPGA? Block RAMs, DSP blocks and LUTs estimated from the config.

:func:`estimate` counts what the layer accelerator (or, ``core_only``, the bare core) of an
:class:`~accel.config.AccelConfig` needs on the device ``sim gen --synth FAMILY`` targets
(:data:`rtl.synth.FAMILIES`, whose capacities come from Lattice's data sheets). The memories and
multipliers are read from the design itself (:func:`design`), so the estimate follows it.

block RAMs
    Each memory on the device's block RAM (:data:`BLOCK_RAMS`) the way yosys's ``memory_libmap``
    maps it: for every shape the block offers (depth x width), the blocks stacked in depth times
    the blocks side by side for one word; the cheapest shape counts. Words written one lane at a
    time (the lane memories) put every lane on whole byte-enable units (ECP5: 9 bits, so a 32-bit
    lane takes 36 bits and a 1-bit lane 9); shapes narrower than a unit have no byte enables, so
    there each lane takes blocks of its own. A block has one read port next to its write port, so
    a memory with R read ports (the ifmap buffer: one per west lane) is R copies. Memories shallow
    enough for LUT RAM are counted as blocks too, so the count does not fall short of yosys's.
DSP blocks
    One per multiplier of at most 18 x 18 bits, ``ceil(a / 17) * ceil(b / 17)`` for a wider one:
    a multiplier per PE and those of the top level (the accelerator's output path, one per
    lane). A device without DSP blocks (iCE40) builds multipliers from LUTs.
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
from .pe import operand_bits
from .synth import FAMILIES

#: Widest operands of one DSP block; a wider operand is split into pieces of one bit less.
DSP_OPERAND_BITS = 18
BUFFERS = ("ifmap", "filter", "ofmap")


class FitError(UserError):
    """The design needs more of a resource than the device has; the message names the fix."""


@dataclass(frozen=True)
class BlockRam:
    """A device's block RAM: its name, the (depth, width) shapes it offers, its byte-enable unit (bits)."""

    name: str
    shapes: tuple[tuple[int, int], ...]
    byte_bits: int


#: ECP5 DP16KD (18 Kbit; 36 bits wide as a pseudo-dual-port block, byte enables per 9 bits) and
#: iCE40 SB_RAM40_4K (4 Kbit, a write mask per bit).
BLOCK_RAMS = {
    "ecp5": BlockRam("EBR", ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)), 9),
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
    ("ecp5", "accelerator"): LutModel(fixed=8148.5, per_pe=166.125, per_row=0.0, per_col=0.0, per_bram=20.578),
    ("ecp5", "core"): LutModel(fixed=667.0, per_pe=166.125, per_row=0.0, per_col=0.0, per_bram=0.0),
    ("ice40", "accelerator"): LutModel(fixed=2708.0, per_pe=300.83, per_row=0.0, per_col=2971.33, per_bram=0.0),
    ("ice40", "core"): LutModel(fixed=337.67, per_pe=300.83, per_row=0.0, per_col=0.0, per_bram=0.0),
}


@dataclass(frozen=True)
class Memory:
    """One memory: ``depth`` words of ``width`` bits, ``read_ports`` read addresses and a write
    enable per ``enable_bits`` bits of the word (None: one per word)."""

    name: str
    depth: int
    width: int
    read_ports: int = 1
    enable_bits: int | None = None

    def blocks(self, ram: BlockRam) -> int:
        """Block RAMs this memory takes on ``ram`` (see the module docstring)."""
        return self.read_ports * min(math.ceil(self.depth / depth) * self._side_by_side(width, ram)
                                     for depth, width in ram.shapes)  # fmt: skip

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


def design(config: AccelConfig, core_only: bool = False) -> Design:
    """The memories and multipliers the layer accelerator (or the bare core) of ``config`` builds.

    Only the top level is elaborated (a fraction of a second) and never converted; the design
    objects are dropped in here, so Amaranth does not warn that they were never used.
    ConfigError for a config the design cannot be built for.
    """
    from amaranth.hdl import Shape, UnusedElaboratable
    from amaranth.lib import data, memory

    from .accelerator import Accelerator
    from .core import SystolicCore

    (CoreGeometry if core_only else AcceleratorGeometry).from_config(config)  # fails before any Amaranth object
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        module = (SystolicCore if core_only else Accelerator)(config).elaborate(None)
        memories = []
        for name, (sub, _) in module._named_submodules.items():
            if isinstance(sub, memory.Memory):
                [write] = sub.write_ports
                unit = write.signature.granularity  # elements of an array layout, else bits
                if unit is not None and isinstance(sub.shape, data.ArrayLayout):
                    unit *= Shape.cast(sub.shape.elem_shape).width
                memories.append(Memory(name, sub.depth, Shape.cast(sub.shape).width, len(sub.read_ports), unit))
        products = tuple(_products(module._statements.values()))
        del module, sub, write
        gc.collect()
    return Design(tuple(memories), products)


def _products(statements) -> list[tuple[int, int]]:
    """Operand widths of every multiplication in ``statements`` (lists of Amaranth statements),
    as signed operands: an unsigned operand of a signed product takes one bit more."""
    from amaranth.hdl import _ast

    products, seen, stack = [], set(), [s for block in statements for s in block]
    while stack:
        node = stack.pop()
        if isinstance(node, _ast.Operator):
            if node.operator == "*" and id(node) not in seen:
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


def estimate(config: AccelConfig, family: str = "ecp5", core_only: bool = False) -> Estimate:
    """Resources of the layer accelerator (or the bare core) of ``config`` on ``family``'s device."""
    return _estimate(config, design(config, core_only), family, core_only)


def _estimate(config: AccelConfig, built: Design, family: str, core_only: bool) -> Estimate:
    blocks = {m.name: m.blocks(BLOCK_RAMS[family]) for m in built.memories}
    brams = sum(blocks.values())
    multipliers = [operand_bits(config)] * config.pes + list(built.products)  # one per PE
    dsps = sum(multiplier_dsps(a, b) for a, b in multipliers) if FAMILIES[family]["dsps"] else 0
    luts = LUT_MODELS[family, "core" if core_only else "accelerator"].luts(config.rows, config.cols, brams)
    return Estimate(FAMILIES[family]["device"], luts, dsps, brams, blocks)


@lru_cache(maxsize=64)
def _least(config: AccelConfig, family: str, core_only: bool) -> Estimate:
    """The estimate with the smallest buffers (powers of two, KiB) the array can have: what the
    array needs whatever the buffers."""
    kib = 1
    while True:
        smallest = config.replace(**{f"{b}_kib": kib for b in BUFFERS})
        try:
            built = design(smallest, core_only)
        except ConfigError:  # a bank too small for the array
            kib *= 2
            continue
        return _estimate(smallest, built, family, core_only)


def fits(est: Estimate, family: str) -> bool:
    """True if ``est`` is within every capacity of ``family``'s device."""
    spec = FAMILIES[family]
    return est.dsps <= spec["dsps"] and est.luts <= spec["luts"] and est.brams <= spec["brams"]


def array_shortfall(config: AccelConfig, family: str, core_only: bool = False) -> str | None:
    """``a 32x32 array needs about 1,028 DSP blocks; the ... has 156`` when the array alone (any
    buffers) needs more DSP blocks or LUTs than the device has, else None."""
    spec, least = FAMILIES[family], _least(config, family, core_only)
    for need, have, what in ((least.dsps, spec["dsps"], "DSP blocks"), (least.luts, spec["luts"], "LUTs")):
        if need > have:
            return f"a {config.rows}x{config.cols} array needs about {need:,} {what}; the {spec['device']} has {have:,}"
    return None


def check_buildable(config: AccelConfig, core_only: bool = False) -> None:
    """ConfigError if the design cannot be built for ``config`` with any buffer sizes."""
    largest = config.replace(**{f"{b}_kib": MAX_BUFFER_KIB for b in BUFFERS})
    (CoreGeometry if core_only else AcceleratorGeometry).from_config(largest)


def check_array(config: AccelConfig, family: str, core_only: bool = False) -> None:
    """ConfigError if the design cannot be built (:func:`check_buildable`); FitError naming the
    :func:`array_shortfall` and the largest square array that fits."""
    check_buildable(config, core_only)
    shortfall = array_shortfall(config, family, core_only)
    if shortfall:
        raise FitError(f"{shortfall}: {_array_fix(config, family, core_only)}")


def _array_fix(config: AccelConfig, family: str, core_only: bool) -> str:
    """``use --rows/--cols <= N``: the largest square array whose DSP blocks and LUTs fit."""
    side = largest_square(config, family, core_only)
    if side is None:
        return "no array of this design fits it (--no-device-check generates it anyway)"
    return f"use --rows/--cols <= {side}"


def largest_square(config: AccelConfig, family: str, core_only: bool = False, limit: int | None = None) -> int | None:
    """The side of the largest square array (at most ``limit``) whose DSP blocks and LUTs fit
    ``family``'s device, None if none does."""
    side = 1 if core_only else 2  # the accelerator needs two rows

    def fits_side(n: int) -> bool:
        return array_shortfall(config.replace(rows=n, cols=n), family, core_only) is None

    if not fits_side(side):
        return None
    while (limit is None or side < limit) and fits_side(side + 1):
        side += 1
    return side


def buffers_kib(config: AccelConfig) -> str:
    """``ifmap/filter/ofmap`` in KiB, e.g. ``64/64/32``."""
    return "/".join(str(getattr(config, f"{b}_kib")) for b in BUFFERS)


def check(config: AccelConfig, family: str, core_only: bool = False, fitted_for: str | None = None) -> Estimate:
    """The estimate of ``config``'s design, or FitError for the first resource over capacity.

    ``fitted_for``: the network whose ``--fit`` sized the buffers (the advice differs from that
    for buffers given as flags or in a config file).
    """
    check_array(config, family, core_only)
    est, spec = estimate(config, family, core_only), FAMILIES[family]
    if est.brams <= spec["brams"]:
        return est
    if fitted_for:
        need = f"--fit's buffers for {fitted_for}, {buffers_kib(config)} KiB,"
        fix = "drop --fit to get the largest buffers that fit (layers then tile on the host)"
    else:
        need = f"buffers {buffers_kib(config)} KiB"
        fix = f"lower {_costliest_buffer(config, family, core_only)}, or give no buffer size to get the largest that fit"
    raise FitError(f"{need} need about {est.brams:,} {BLOCK_RAMS[family].name} blocks; "
                   f"the {spec['device']} has {spec['brams']:,}: {fix}")  # fmt: skip


def _costliest_buffer(config: AccelConfig, family: str, core_only: bool) -> str:
    """The buffer flag whose halving saves the most block RAMs."""
    left = {}
    for buffer in BUFFERS:
        half = max(1, getattr(config, f"{buffer}_kib") // 2)
        try:
            left[f"--{buffer}-kib"] = estimate(config.replace(**{f"{buffer}_kib": half}), family, core_only).brams
        except ConfigError:  # the bank would be too small for the array
            continue
    return min(left, key=left.get)


def largest_buffers(config: AccelConfig, family: str, core_only: bool = False) -> tuple[AccelConfig, Estimate]:
    """``config`` with the largest buffers, powers of two in KiB with ifmap : filter : ofmap =
    2 : 2 : 1 (the simulator's defaults' ratio), whose design fits ``family``'s device, and its
    estimate; FitError when none does."""
    check_array(config, family, core_only)
    best, tried, kib = None, None, 1
    while 2 * kib <= MAX_BUFFER_KIB:
        candidate = config.replace(ifmap_kib=2 * kib, filter_kib=2 * kib, ofmap_kib=kib)
        kib *= 2
        try:
            tried = candidate, estimate(candidate, family, core_only)
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
