"""The AXI system's DRAM image of a network and the DMA commands of every tile.

:func:`build_image` places the network's tensors (pixel-major, NHWC, each on a 4 KiB boundary)
and every weight tile's weight and addend images (on 64-byte boundaries) in one DRAM address
space, as ``accel/dram_layout.py`` specifies, and turns each tile of the layer program
(:func:`rtl.host.program.compile_network`) into :class:`DmaCommand` s: the loads that fill its banks
and the stores that write its results back. The simulator times exactly these transfers: the
beats of a tile's commands are its ``load_beats`` / ``writeback_beats`` (``tests/test_dram_image.py``).

On chip every memory has two banks (:class:`ChipMemories`). Fetches of each operand alternate
banks, as the simulator's bank guards assume, except in a layer whose tiles of that operand take
both banks (single-buffered: every fetch fills the memory from bank 0 on); addends share their
weights' bank; output tiles alternate staging banks. A command's ``chip_addr`` is a byte address
in its target memory, bank included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from accel.config import AccelConfig
from accel.dram_layout import ADDEND_BYTES, IMAGE_ALIGN, TENSOR_ALIGN, dense_pixels
from accel.tile_kernel import accumulator_guard, bank_guard
from workloads.forward import NetworkParams
from workloads.network import INPUT

from ..accelerator_geometry import AcceleratorGeometry
from .program import LayerPlan, LayerView, Program, ProgramError, TilePlan, layout_rows, weight_images, weight_view
from .program_image import DmaCommand, TileTransfers, encode_program, to_bytes

@dataclass(frozen=True)
class ChipMemories:
    """Bytes per bank of each double-banked on-chip memory of the AXI system."""

    ifmap: int
    weights: int
    addends: int
    staging: int

    @classmethod
    def from_config(cls, config: AccelConfig) -> ChipMemories:
        g = AcceleratorGeometry.from_config(config)
        c = config.cols
        return cls(ifmap=g.bank_rows("ifmap"), weights=g.bank_rows("weights") * c,
                   addends=g.bank_rows("addends") * c * ADDEND_BYTES, staging=g.bank_rows("staging") * c)  # fmt: skip

    def bank(self, target: str, number: int) -> int:
        """Byte address of bank ``number`` of ``target``."""
        return number * getattr(self, target)


@dataclass(frozen=True)
class Tensor:
    """An int8 activation tensor in DRAM: ``images x rows x cols`` pixels of ``channels`` bytes."""

    address: int
    images: int
    rows: int
    cols: int
    channels: int

    @property
    def nbytes(self) -> int:
        return self.images * self.rows * self.cols * self.channels


@dataclass
class SystemLayer:
    name: str
    plan: LayerPlan
    source: Tensor
    result: Tensor
    tiles: list[TileTransfers] = field(default_factory=list)


@dataclass
class DramImage:
    """Everything the AXI system reads from DRAM before it starts (``data``) and where."""

    program: Program
    memories: ChipMemories
    tensors: dict[str, Tensor]
    layers: list[SystemLayer]
    data: bytearray  # DRAM bytes from ``base`` on
    program_address: int  # the program's first byte in DRAM (PROG_ADDR)
    program_bytes: int  # its length (PROG_LEN)
    base: int = 0  # DRAM address of ``data[0]``

    def read_tensor(self, memory: bytes | bytearray, step: str, shape: tuple[int, ...]) -> np.ndarray:
        """The output of ``step`` in the network's own layout, from ``memory`` (DRAM from ``base``)."""
        t = self.tensors[step]
        start = t.address - self.base
        return from_pixel_major(np.frombuffer(bytes(memory[start : start + t.nbytes]), dtype=np.int8), shape)


def to_pixel_major(x: np.ndarray) -> np.ndarray:
    """``(N, C, *spatial)`` (or ``(N, F)``) as the bytes of its NHWC layout."""
    x = np.asarray(x)
    if x.ndim <= 2:
        return x.astype(np.int8).reshape(-1)
    return np.moveaxis(x, 1, -1).astype(np.int8).reshape(-1)


def from_pixel_major(pixels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`to_pixel_major` for a tensor of ``shape``."""
    if len(shape) <= 2:
        return pixels.reshape(shape)
    channels_last = (shape[0], *shape[2:], shape[1])
    return np.moveaxis(pixels.reshape(channels_last), -1, 1)


class _Allocator:
    def __init__(self, base: int) -> None:
        self.base = self.end = base
        self.blocks: list[tuple[int, bytes]] = []

    def place(self, nbytes: int, align: int, content: bytes | None = None) -> int:
        address = -(-self.end // align) * align
        self.end = address + nbytes
        if content is not None:
            self.blocks.append((address, content))
        return address

    def image(self) -> bytearray:
        data = bytearray(self.end - self.base)
        for address, content in self.blocks:
            data[address - self.base : address - self.base + len(content)] = content
        return data


def build_image(program: Program, params: NetworkParams, x: np.ndarray, base: int = 0) -> DramImage:
    """Place ``program``'s tensors, the weight images of ``params`` and the input ``x`` in DRAM
    from address ``base`` (a multiple of 4 KiB) on.

    ProgramError for what the AXI system cannot run yet, naming the layer and the fix.
    """
    if base % TENSOR_ALIGN:
        raise ProgramError(f"the DRAM base address {base:#x} must be a multiple of {TENSOR_ALIGN:#x}")
    config = program.config
    if config.cols & (config.cols - 1):
        raise ProgramError(f"the AXI system needs cols to be a power of two, not {config.cols}; set cols = "
                           f"{1 << (config.cols - 1).bit_length()} or {1 << (config.cols.bit_length() - 1)}")  # fmt: skip
    memories = ChipMemories.from_config(config)
    dram = _Allocator(base)
    shapes = {INPUT: program.input_shape, **{s.name: s.out_shape for s in program.steps}}
    tensors: dict[str, Tensor] = {}
    tensors[INPUT] = _tensor(dram, program.input_shape, to_pixel_major(x).tobytes())
    flattened: dict[str, tuple[int, ...]] = {}  # a flattened step -> the (N, C, *spatial) shape it flattens
    for step in program.steps:
        if step.name in program.layers:
            tensors[step.name] = _tensor(dram, step.out_shape)
        elif step.kind == "concat":
            raise ProgramError(f"layer {step.name!r}: concatenation does not run on the AXI system yet")
        else:  # flatten, or an activation fused into the layer before it: the same bytes
            tensors[step.name] = tensors[step.inputs[0]]
            if step.inputs[0] in flattened or step.kind == "flatten":
                flattened[step.name] = flattened.get(step.inputs[0], shapes[step.inputs[0]])
    layers = []
    for step in program.steps:
        plan = program.layers.get(step.name)
        if plan is None:
            continue
        weights, addends = weight_view(plan.view, params.layers.get(step.name))
        if plan.view.layout == "features" and len(flattened.get(step.inputs[0], ())) > 2:
            weights = weights[:, :, _pixel_major_features(flattened[step.inputs[0]]), :]
        source = _viewed(tensors[step.inputs[0]], plan.view, input_side=True)
        result = _viewed(tensors[step.name], plan.view, input_side=False)
        layer = SystemLayer(step.name, plan, source, result)
        _plan_transfers(layer, config, memories, dram, weights, addends)
        layers.append(layer)
    words = to_bytes(encode_program([layer.tiles for layer in layers], config.rows))
    address = dram.place(len(words), IMAGE_ALIGN, words)
    return DramImage(program, memories, tensors, layers, dram.image(), address, len(words), base)


def _tensor(dram: _Allocator, shape: tuple[int, ...], content: bytes | None = None) -> Tensor:
    images = shape[0]
    channels = shape[1] if len(shape) > 1 else 1
    spatial = shape[2:]
    rows = math.prod(spatial[:-1]) if len(spatial) > 1 else 1
    cols = spatial[-1] if spatial else 1
    tensor = Tensor(0, images, rows, cols, channels)
    return Tensor(dram.place(tensor.nbytes, TENSOR_ALIGN, content), images, rows, cols, channels)


def _pixel_major_features(shape: tuple[int, ...]) -> np.ndarray:
    """For a flattened ``(N, C, *spatial)`` tensor stored NHWC: the original feature index of
    each feature position in DRAM order."""
    index = np.arange(math.prod(shape[1:])).reshape(shape[1:])
    return np.moveaxis(index, 0, -1).reshape(-1)


def _viewed(tensor: Tensor, view: LayerView, input_side: bool) -> Tensor:
    """``tensor`` as the layer's view sees it: images of ``rows x cols`` pixels of its channels."""
    if input_side:
        rows, cols, channels = view.in_h, view.in_w, view.groups * view.cin
    else:
        rows, cols, channels = view.out_h, view.out_w, view.groups * view.nper
    images = tensor.nbytes // (rows * cols * channels)
    return Tensor(tensor.address, images, rows, cols, channels)


def _plan_transfers(layer: SystemLayer, config: AccelConfig, memories: ChipMemories, dram: _Allocator,
                    weights: np.ndarray, addends: np.ndarray) -> None:  # fmt: skip
    plan, source, result = layer.plan, layer.source, layer.result
    view = plan.view
    flip = {"ifmap": int(not plan.single_ifmap), "weights": int(not plan.single_filter)}  # 0: always bank 0
    banks = {**flip, "stage": 1}  # the bank of the last fetch / output tile
    previous: dict[str, tuple] = {}
    fetches: dict[str, list[bool]] = {"ifmap": [], "filter": []}
    for tile in plan.tiles:
        lo, hi = layout_rows(view, *tile.held_rows)
        ifmap_key = (tile.groups[0], tile.images, tile.held_rows, tile.in_cols, tile.ifmap_channels)
        filter_key = (tile.groups[0], tile.outputs, tile.channels, tile.taps)
        loads: list[DmaCommand] = []
        regs = dict(tile.regs)
        fetches["ifmap"].append(previous.get("ifmap") != ifmap_key)
        fetches["filter"].append(previous.get("filter") != filter_key)
        if fetches["ifmap"][-1]:
            banks["ifmap"] ^= flip["ifmap"]
            loads += _input_commands(tile, source, view, lo, hi, memories.bank("ifmap", banks["ifmap"]))
        if fetches["filter"][-1]:
            banks["weights"] ^= flip["weights"]
            weight_words, addend_words = weight_images(plan, tile, weights, addends, config.rows, config.cols)
            image = weight_words.astype(np.int8).tobytes()
            chip = memories.bank("weights", banks["weights"])
            loads.append(DmaCommand("weights", dram.place(len(image), IMAGE_ALIGN, image), len(image), len(image), 1,
                                    chip, len(image)))  # fmt: skip
            if tile.read:
                row = addend_words.astype("<i4").tobytes()
                chip = memories.bank("addends", banks["weights"])
                loads.append(DmaCommand("addends", dram.place(len(row), IMAGE_ALIGN, row), len(row), len(row), 1,
                                        chip, len(row)))  # fmt: skip
        previous.update(ifmap=ifmap_key, filter=filter_key)
        row_pitch = regs["ROW_PITCH"]  # the tile's rows [lo, hi) of each image, from the bank's start
        regs["IMG_STRIDE"] = (hi - lo) * row_pitch
        skip = tile.channels[0] - tile.ifmap_channels[0]  # the K tile's first channel within a held pixel
        regs["ROW_BASE_W"] = lo * row_pitch - skip - memories.bank("ifmap", banks["ifmap"])
        stores: list[DmaCommand] = []
        stage_bank = banks["stage"]
        if tile.read:
            banks["stage"] ^= 1
            stage_bank = banks["stage"]
            stores = _output_commands(tile, result, view, config.cols, memories.bank("staging", stage_bank))
        layer.tiles.append(TileTransfers(regs, loads, stores, banks["weights"], stage_bank, first_tap=tile.taps[0]))
    # The simulator's guards (accel.tile_kernel): the bank a fetch fills, the accumulator bank a tile reuses.
    guards = np.maximum(bank_guard(np.array(fetches["ifmap"]), plan.single_ifmap),
                        bank_guard(np.array(fetches["filter"]), plan.single_filter))
    waits = accumulator_guard(np.array([tile.read for tile in plan.tiles]))
    for tile, load_after, wait_wb in zip(layer.tiles, guards, waits):
        tile.load_after, tile.wait_wb = int(load_after), int(wait_wb)


def _input_commands(tile: TilePlan, source: Tensor, view: LayerView, lo: int, hi: int, chip: int) -> list[DmaCommand]:
    """The loads of a tile's input rows ``[lo, hi)`` (its columns ``tile.in_cols`` of them) into
    the ifmap bank at byte ``chip``."""
    (x0, x1) = tile.in_cols
    if hi <= lo or x1 <= x0:
        return []
    (image, images), (g0, gcount), (c0, ct) = tile.images, tile.groups, tile.ifmap_channels
    channel, channels = g0 * view.cin + (c0 if gcount == 1 else 0), gcount * ct
    pixel = source.channels
    plane = source.rows * source.cols
    first = source.address + image * plane * pixel
    if x1 - x0 < source.cols:  # a row segment's column window (bands of one image): a run per row, or per pixel
        start, width = first + (lo * source.cols + x0) * pixel, x1 - x0
        if channels == pixel:
            return [DmaCommand("ifmap", start, source.cols * pixel, width * pixel, hi - lo, chip, width * pixel)]
        return [DmaCommand("ifmap", start + r * source.cols * pixel + channel, pixel, channels, width,
                           chip + r * width * channels, channels) for r in range(hi - lo)]  # fmt: skip
    if hi - lo == source.rows:  # whole images: their pixels are consecutive
        pixels = images * plane
        if channels == pixel:
            return [DmaCommand("ifmap", first, pixels * pixel, pixels * pixel, 1, chip, pixels * pixel)]
        return [DmaCommand("ifmap", first + channel, pixel, channels, pixels, chip, channels)]
    band = (hi - lo) * source.cols  # pixels per image
    start = first + lo * source.cols * pixel
    if channels == pixel:
        size = band * pixel
        return [DmaCommand("ifmap", start, plane * pixel, size, images, chip, size)]
    return [DmaCommand("ifmap", start + n * plane * pixel + channel, pixel, channels, band, chip + n * band * channels,
                       channels) for n in range(images)]  # fmt: skip


def _output_commands(tile: TilePlan, result: Tensor, view: LayerView, cols: int, chip: int) -> list[DmaCommand]:
    """The stores of a tile's results from its staging bank at byte ``chip``, split as
    :func:`accel.dram_layout.output_store_commands` says: whole rows are consecutive pixels in
    DRAM; a band of row segments is a run per row of dense pixels, else a command per row."""
    (image, images), (y0, rows), (g0, _), (n0, nt) = tile.images, tile.out_rows, tile.groups, tile.outputs
    x0, width = tile.out_cols
    pixel = result.channels
    first = (image * result.rows + y0) * result.cols + x0
    address = result.address + first * pixel
    if dense_pixels(pixel, nt, cols):  # the staging bank holds them as DRAM does
        if width == result.cols:
            size = images * rows * width * pixel
            return [DmaCommand("staging", address, size, size, 1, chip, size)]
        size = width * pixel
        return [DmaCommand("staging", address, result.cols * pixel, size, rows, chip, size)]
    pitch = tile.regs["STAGE_PITCH"] * cols  # staging bytes per pixel
    address += g0 * view.nper + n0
    if width == result.cols:
        return [DmaCommand("staging", address, pixel, nt, images * rows * width, chip, pitch)]
    return [DmaCommand("staging", address + r * result.cols * pixel, pixel, nt, width, chip + r * width * pitch, pitch)
            for r in range(rows)]  # fmt: skip
