"""The layer program: a network compiled into the layer accelerator's descriptors.

:func:`compile_network` turns every array layer into the tiles the simulator schedules
(:func:`accel.tiling.tile_grid`, so the hardware and ``sim run`` agree tile for tile) and each tile
into a :class:`TilePlan`: its register values and which slices of the layer's input, weights and
output it loads and stores (the memory layout, independent of the data). :func:`weight_view` and
:func:`weight_images` give a layer's weights and a tile's weight memory image; the AXI system's
DRAM image (:func:`rtl.host.dram_image.build_image`) is built from these. See ``docs/accelerator.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from accel.addressing import OUTSIDE, PAD, window_index
from accel.config import AccelConfig
from accel.lowering import ArrayOp, lower_network
from accel.pe_semantics import MAC, MAX
from accel.tiling import tile_grid
from accel.timing import tile_cycles
from workloads.errors import UserError
from workloads.forward import LayerParams, NetworkParams, calibrate, network_params, random_input
from workloads.layers import Activation, BatchNorm, Conv, GlobalAvgPool, Linear, Pool
from workloads.network import Network

from ..accelerator_geometry import AcceleratorGeometry
from .emulator import PAD_MODES, TAP_FIELDS, remap_index

INT8 = (-128, 127)
MULT_LIMIT = 1 << 24  # OUT_MULT is unsigned < 2^24 (requantization scales and reciprocals)


class ProgramError(UserError):
    """A layer or descriptor the accelerator cannot run; the message names the layer and field."""


@dataclass(frozen=True)
class LayerView:
    """A layer as the address generator sees it: images of ``channels`` planes of ``in_h x in_w``.

    ``kernel``/``stride``/``dilation``/``pads`` are (rows, columns); ``groups`` GEMMs of ``cin``
    input and ``nper`` output channels each.
    """

    in_h: int
    in_w: int
    out_h: int
    out_w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    pad_mode: str
    groups: int
    cin: int
    nper: int
    mode: int  # MAC or MAX
    layout: str = "image"  # the layer's tensors: 'image' (N, C, [H,] W), 'features' (FC), 'planes' (global pool)
    flip: bool = False  # true convolution: the kernel is flipped


@dataclass(frozen=True)
class TilePlan:
    """One descriptor of a layer: registers and the slices it loads and stores.

    ``images``: (first, count); ``in_rows``: input rows ``[lo, hi)`` read; ``held_rows``:
    (first, count) output rows whose input rows the ifmap tile holds (``out_rows``, or the whole
    plane when the bands of a plane share its input); ``in_cols``: input
    columns ``[lo, hi)`` loaded of each row (all of them, or a row segment's column window);
    ``out_rows``: (first, count); ``out_cols``: (first, count) output columns (all of them but in
    a row segment); ``groups``: (first, count); ``channels``: (first, count) per group (a packed
    tile takes every channel); ``taps``: (first, count) K indices of the tile (the first tap of
    its channels' windows, 0 unless it takes a piece of one channel's window, and its K);
    ``ifmap_channels``: (first, count) per group in the ifmap bank (every channel when the tile
    reads its channels from a resident ifmap tile, else ``channels``); ``outputs``: (first,
    count) of the pack's ``count * nper`` outputs; ``read``: the tile completes its outputs (read
    them through the output path).
    """

    regs: dict[str, int]
    images: tuple[int, int]
    in_rows: tuple[int, int]
    held_rows: tuple[int, int]
    in_cols: tuple[int, int]
    out_rows: tuple[int, int]
    out_cols: tuple[int, int]
    groups: tuple[int, int]
    channels: tuple[int, int]
    taps: tuple[int, int]
    ifmap_channels: tuple[int, int]
    outputs: tuple[int, int]
    read: bool
    cycles: int


@dataclass
class LayerPlan:
    """All descriptors of one array layer, plus the layers fused into its output path.

    ``single_ifmap`` / ``single_filter``: that operand's tiles take both banks of its memory
    (:attr:`accel.tiling.TileGrid.single_ifmap`).
    """

    name: str
    kind: str
    view: LayerView
    tiles: list[TilePlan]
    fused: list[str] = field(default_factory=list)
    divisor: int = 0  # average pooling: the window size the output path divides by
    single_ifmap: bool = False
    single_filter: bool = False

    @property
    def cycles(self) -> int:
        return sum(t.cycles for t in self.tiles)


@dataclass(frozen=True)
class Step:
    """One layer of the network as the program lists it: name, kind, input names, output shape.

    ``dim``: the axis of a Concat (-1 otherwise).
    """

    name: str
    kind: str
    inputs: tuple[str, ...]
    out_shape: tuple[int, ...]
    dim: int = -1


@dataclass
class Program:
    """The layer program of a network: its steps in order, and a LayerPlan per array layer.

    Steps without a plan run nowhere: Flatten and activations fused into the layer before them
    are the same bytes as their input; Concat (not run by the AXI system yet).
    """

    name: str
    input_shape: tuple[int, ...]
    config: AccelConfig
    steps: list[Step]
    layers: dict[str, LayerPlan]

    @property
    def cycles(self) -> int:
        return sum(layer.cycles for layer in self.layers.values())


# ---------------------------------------------------------------------------------------------
# Compiling
# ---------------------------------------------------------------------------------------------


def calibrated_params(network: Network, seed: int = 0) -> tuple[NetworkParams, np.ndarray]:
    """int8 parameters of ``network`` (its own, quantized, or deterministic random ones) with each
    layer's requantization calibrated on a deterministic random int8 input, and that input."""
    params = network_params(network, "int8", seed)
    x = random_input(network, "int8", seed + 1)
    calibrate(network, params, x)
    return params, x


def _pair(values, ndim: int, fill: int) -> tuple[int, int]:
    return (fill, values[0]) if ndim == 1 else (values[0], values[1])


def layer_view(node) -> LayerView:
    """The address-generator view of an array layer, or ProgramError if the RTL cannot run it."""
    layer, ins, out = node.layer, node.in_shapes[0], node.out_shape
    if isinstance(layer, (Conv, Pool)):
        nd = layer.ndim
        if nd > 2:
            raise ProgramError(f"layer {node.name!r}: {nd}-D windows are not supported by the RTL; use 1-D or 2-D")
        pads = layer.pads(ins[2:])
        conv = isinstance(layer, Conv)
        if not conv:  # a ceil-mode window past the padding reads more padding (max pooling skips it)
            pads = tuple((lo, max(hi, (o - 1) * s + d * (k - 1) + 1 - n - lo))
                         for (lo, hi), o, s, d, k, n in zip(pads, out[2:], layer.stride, layer.dilation,
                                                            layer.kernel_size, ins[2:]))  # fmt: skip
        return LayerView(
            in_h=ins[2] if nd == 2 else 1, in_w=ins[-1], out_h=out[2] if nd == 2 else 1, out_w=out[-1],
            kernel=_pair(layer.kernel_size, nd, 1), stride=_pair(layer.stride, nd, 1),
            dilation=_pair(layer.dilation, nd, 1), pads=((0, 0), pads[0]) if nd == 1 else (pads[0], pads[1]),
            pad_mode=layer.padding_mode if conv else "zeros", groups=layer.groups if conv else ins[1],
            cin=ins[1] // layer.groups if conv else 1, nper=out[1] // layer.groups if conv else 1,
            mode=MAX if not conv and layer.mode == "max" else MAC, flip=conv and layer.flip_kernel,
        )  # fmt: skip
    if isinstance(layer, Linear):
        # One "image" whose rows are the batch: x.T viewed as (features, batch, 1).
        return LayerView(ins[0], 1, ins[0], 1, (1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)), "zeros", 1,
                         layer.in_features, layer.out_features, MAC, layout="features")  # fmt: skip
    if isinstance(layer, GlobalAvgPool):
        plane = math.prod(ins[2:])
        return LayerView(ins[0], plane, ins[0], 1, (1, plane), (1, 1), (1, 1), ((0, 0), (0, 0)), "zeros",
                         ins[1], 1, 1, MAC, layout="planes")  # fmt: skip
    raise ProgramError(f"layer {node.name!r}: {layer.kind} does not run on the RTL accelerator")


def weight_view(view: LayerView, p: LayerParams | None) -> tuple[np.ndarray, np.ndarray]:
    """Weights as (groups, nper, cin, window) and the per-output-channel addend (int64).

    ``p`` is None for pooling: unit weights (MAC sum or MAX selection).
    """
    channels = view.groups * view.nper
    if p is None:
        ones = np.ones((view.groups, 1, 1, view.kernel[0] * view.kernel[1]), dtype=np.int64)
        return ones, np.zeros(channels, np.int64)
    w = np.asarray(p.weight, dtype=np.int64)
    if view.flip:
        w = w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)]
    w = w.reshape(view.groups, view.nper, view.cin, -1)
    bias = np.zeros(channels, np.int64) if p.bias is None else np.asarray(p.bias, dtype=np.int64)
    return w, bias


def layout_rows(view: LayerView, first: int, count: int) -> tuple[int, int]:
    """Input rows ``[lo, hi)`` the DRAM layout loads for output rows ``first .. first+count-1``:
    from the first to the last real row their windows read (``accel.lowering.Axis.touched``)."""
    stride, pad = view.stride[0], view.pads[0][0]
    span = view.dilation[0] * (view.kernel[0] - 1) + 1
    lo = max(first * stride - pad, 0)
    hi = min((first + count - 1) * stride - pad + span, view.in_h)
    return (lo, hi) if hi > lo else (lo, lo)


def _row_sources(view: LayerView, first: int, count: int) -> np.ndarray:
    """Input rows (after the padding mode's remap) that output rows ``first..first+count-1`` read."""
    ys = np.arange(first, first + count)[:, None] * view.stride[0] - view.pads[0][0]
    rows = (ys + np.arange(view.kernel[0])[None, :] * view.dilation[0]).reshape(-1)
    inside, rows, _ = remap_index(rows, rows, view.in_h, 1, PAD_MODES[view.pad_mode])
    return rows[inside]


def _divisor(node, view: LayerView) -> int:
    """Average pooling: the (constant) window size the output path divides by."""
    layer = node.layer
    if isinstance(layer, GlobalAvgPool):
        return view.kernel[1]
    ins = node.in_shapes[0]
    index = window_index(ins[2:], node.out_shape[2:], layer.kernel_size, layer.stride, layer.dilation, layer.pads())
    counted = (index >= 0) | ((index == PAD) & layer.count_include_pad)
    divisors = np.unique(counted.sum(axis=1))
    if len(divisors) != 1 or np.any(index == OUTSIDE):
        raise ProgramError(
            f"layer {node.name!r}: average pooling whose divisor varies across the output "
            f"(count_include_pad=False with padding, or ceil_mode overhang) is not supported by the RTL output path"
        )
    return int(divisors[0])


def divide_constants(divisor: int, window: int, input_bits: int) -> tuple[int, int, int]:
    """``(offset, mult, shift)`` with ``floor((s + offset) * mult >> shift) - offset // divisor``
    equal to ``floor(s / divisor)`` for every window sum ``s`` of ``window`` inputs.

    ``offset = B * divisor`` makes the dividend ``x`` non-negative; with ``mult = ceil(2^shift /
    divisor)`` and ``e = mult * divisor - 2^shift``, ``floor(x * mult / 2^shift) = floor(x /
    divisor)`` whenever ``x * e < 2^shift`` (the error ``x * e / (divisor * 2^shift)`` stays below
    the ``1 / divisor`` gap to the next integer), so the smallest shift meeting that for the
    largest ``x`` is exact everywhere.
    """
    low, high = -(1 << (input_bits - 1)) * window, ((1 << (input_bits - 1)) - 1) * window
    base = -(low // divisor)  # B = ceil(-low / divisor)
    largest = high + base * divisor
    for shift in range(0, 64):
        mult = -(-(1 << shift) // divisor)
        if mult >= MULT_LIMIT:
            break
        if largest * (mult * divisor - (1 << shift)) < 1 << shift:
            return base * divisor, mult, shift
    raise ProgramError(f"no exact reciprocal below 2^24 for an average over {divisor} inputs")


def _fused_activations(lowered, index: int) -> tuple[list[str], tuple[int, int]]:
    """Activation/BatchNorm layers fused behind array layer ``index``, and the clamp they set."""
    fused, low, high = [], *INT8
    previous = lowered[index][0].name
    for node, op in lowered[index + 1 :]:
        if op is not None or not isinstance(node.layer, (Activation, BatchNorm)) or node.inputs != (previous,):
            break
        if isinstance(node.layer, Activation):
            if node.layer.function == "leaky_relu":
                raise ProgramError(f"layer {node.name!r}: leaky_relu has no int8 form")
            low, high = max(low, 0), min(high, 6) if node.layer.function == "relu6" else high
        fused.append(node.name)
        previous = node.name
    return fused, (low, high)


def compile_network(network: Network, config: AccelConfig, params: NetworkParams | None = None) -> Program:
    """The layer program of ``network`` on the accelerator for ``config``.

    ``params`` (int8) sets each weighted layer's requantization in its output-path registers;
    without it they hold the identity (scale 1, shift 0): enough to plan and check, not to run.
    """
    geometry = AcceleratorGeometry.from_config(config)
    if (config.input_bits, config.weight_bits, config.acc_bits) != (8, 8, 32):
        raise ProgramError(
            f"layer programs run int8 networks: set input_bits = 8, weight_bits = 8 and acc_bits = 32 "
            f"(not {config.input_bits}, {config.weight_bits}, {config.acc_bits})"
        )
    lowered = lower_network(network)
    layers: dict[str, LayerPlan] = {}
    for index, (node, op) in enumerate(lowered):
        if op is None:  # Flatten, Concat, or an activation fused into the previous layer
            continue
        if not isinstance(op, ArrayOp):
            raise ProgramError(
                f"layer {node.name!r}: {node.layer.kind} runs on the vector unit, which the RTL does not have"
            )
        fused, clamp = _fused_activations(lowered, index)
        chain = [node.name, *fused]
        for consumer in network:
            if consumer.name not in chain[1:] and set(consumer.inputs) & set(chain[:-1]):
                raise ProgramError(
                    f"layer {consumer.name!r} reads {node.name!r} before its fused activation; the RTL output path "
                    f"only produces the activated values"
                )
        layers[node.name] = _compile_layer(node, op, config, geometry, fused, clamp, params)
    steps = [Step(n.name, n.layer.kind, n.inputs, n.out_shape, getattr(n.layer, "dim", -1)) for n in network]
    return Program(network.name, network.input_shape, config, steps, layers)


def _output_registers(node, view: LayerView, clamp, params, config: AccelConfig) -> tuple[dict, int]:
    regs = {"OUT_MULT": 1, "OUT_SHIFT": 0, "OUT_ROUND": 0, "OUT_SUB": 0, "OUT_MIN": clamp[0], "OUT_MAX": clamp[1]}
    divisor = 0
    p = params.layers.get(node.name) if params is not None else None
    if p is not None:
        if p.scale >= MULT_LIMIT:
            raise ProgramError(f"layer {node.name!r}: requantization scale {p.scale} must be below 2^24")
        regs.update(OUT_MULT=p.scale, OUT_SHIFT=p.shift, OUT_ROUND=1)
    elif isinstance(node.layer, GlobalAvgPool) or (isinstance(node.layer, Pool) and node.layer.mode == "avg"):
        divisor = _divisor(node, view)
        offset, mult, shift = divide_constants(divisor, view.kernel[0] * view.kernel[1], config.input_bits)
        regs.update(OUT_MULT=mult, OUT_SHIFT=shift, OUT_SUB=offset // divisor)
    return regs, divisor


def _compile_layer(node, op: ArrayOp, config, geometry, fused, clamp, params) -> LayerPlan:
    view = layer_view(node)
    out_regs, divisor = _output_registers(node, view, clamp, params, config)
    grid = tile_grid(op, config)
    ranges = grid.m_tile_ranges()
    R, C = config.rows, config.cols
    tiles = []
    for i in range(len(grid.mi)):
        mi = int(grid.mi[i])
        img0, images, y0, out_rows, x0, out_cols = ranges[mi]
        first_col, end_col = (int(v) for v in grid.in_cols[:, mi])
        sources = _row_sources(view, y0, out_rows)
        lo, hi = (int(sources.min()), int(sources.max()) + 1) if len(sources) else (0, 0)
        held_rows = (0, view.out_h) if grid.shared else (y0, out_rows)
        loaded = layout_rows(view, *held_rows)
        if hi > lo and (lo < loaded[0] or hi > loaded[1]):
            raise ProgramError(
                f"layer {node.name!r}: a row band reads input rows {lo}..{hi - 1} ({view.pad_mode} padding) beyond "
                f"the rows {loaded[0]}..{loaded[1] - 1} the AXI system loads; raise ifmap_kib and ofmap_kib until a "
                f"tile holds whole images"
            )
        gcount = int(grid.gcount[i])
        c0, ct = (int(grid.c0[i]), int(grid.ct[i])) if gcount == 1 else (0, view.cin)
        t = images * out_rows * out_cols
        tap0, kt = int(grid.tap0[i]), int(grid.kt[i])
        inner = -(-kt // R)
        outer = -(-int(grid.nt[i]) // C)
        row_start, col_start = y0 * view.stride[0] - view.pads[0][0], x0 * view.stride[1] - view.pads[1][0]
        # The buffer holds pixels of the ifmap tile's channels (image, row, column of its window,
        # channel); the K tile's channels start at `skip` within a pixel.
        held = (0, view.cin) if grid.resident else (c0, ct)
        pixel, skip = gcount * held[1], c0 - held[0]
        row = (end_col - first_col) * pixel
        regs = {
            "T": t, "INNER": inner, "OUTER": outer, "MODE": view.mode, "ACCUMULATE": int(grid.ki[i] > 0),
            "OUT_W": out_cols, "OUT_ROWS": out_rows, "IMAGES": images, "IMG_STRIDE": (hi - lo) * row,
            "COL_START": col_start, "COL_STEP": view.stride[1], "ROW_START": row_start, "ROW_STEP": view.stride[0],
            "ROW_START_W": row_start * row, "ROW_STEP_W": view.stride[0] * row, "IN_W": view.in_w,
            "IN_H": view.in_h, "IN_HW": view.in_h * row, "ROW_BASE_W": lo * row - skip, "ROW_PITCH": row,
            "PIXEL_PITCH": pixel, "COL_START_P": (col_start - first_col) * pixel, "COL_STEP_P": view.stride[1] * pixel,
            "PAD_MODE": PAD_MODES[view.pad_mode], "FINAL": int(grid.last_k[i]), "STAGE_PITCH": outer, **out_regs,
            **tap_registers(view.kernel, view.dilation, gcount * ct, R, row, pixel, plane_carry=1),
        }  # fmt: skip
        tile = TilePlan(
            regs=regs, images=(img0, images), in_rows=(lo, hi), held_rows=held_rows, in_cols=(first_col, end_col),
            out_rows=(y0, out_rows), out_cols=(x0, out_cols), groups=(int(grid.group0[i]), gcount), channels=(c0, ct),
            taps=(tap0, kt), ifmap_channels=held, outputs=(int(grid.n0[i]), int(grid.nt[i])),
            read=bool(grid.last_k[i]), cycles=tile_cycles("ws", R, C, t, inner * outer),
        )  # fmt: skip
        check_tile(node.name, view, tile, geometry, grid.single_ifmap, grid.single_filter)
        tiles.append(tile)
    return LayerPlan(node.name, node.layer.kind, view, tiles, fused, divisor, grid.single_ifmap, grid.single_filter)


def tap_registers(kernel: tuple[int, int], dilation: tuple[int, int], channels: int, rows: int, row_pitch: int,
                  pixel_pitch: int, plane_carry: int) -> dict[str, int]:  # fmt: skip
    """The tap generator's registers for a ``kernel`` (rows, columns) window of ``channels`` channels.

    ``R = SC * KH * KW + SY * KW + SX`` in the mixed radix of the K index, and what a step and a
    carry move each offset by; ``plane_carry`` is the ifmap offset between consecutive channels
    (1 for pixels with their channels side by side, the plane size for channel planes).
    """
    (kh, kw), (dil_y, dil_x) = kernel, dilation
    sc, rest = divmod(rows, kh * kw)
    sy, sx = divmod(rest, kw)
    return {
        "CHANNELS": channels, "KW": kw, "KH": kh, "SX": sx, "SY": sy, "SC": sc,
        "DX_STEP": sx * dil_x, "DX_WRAP": kw * dil_x, "DXP_STEP": sx * dil_x * pixel_pitch,
        "DXP_WRAP": kw * dil_x * pixel_pitch, "DY_STEP": sy * dil_y, "DY_CARRY": dil_y, "DY_WRAP": kh * dil_y,
        "DYW_STEP": sy * dil_y * row_pitch, "DYW_CARRY": dil_y * row_pitch, "DYW_WRAP": kh * dil_y * row_pitch,
        "PLANE_STEP": sc * plane_carry, "PLANE_CARRY": plane_carry,
    }  # fmt: skip


def lane_table(regs: dict[str, int], rows: int, first: int = 0) -> np.ndarray:
    """The lane table ``[R, 8]`` (fields :data:`~rtl.host.emulator.TAP_FIELDS`): the taps of K indices
    ``first .. first+R-1`` as the tap registers ``regs`` describe them (lanes past K have
    ``c >= CHANNELS``; ``first`` > 0: the tile's K starts at that tap of one channel's window)."""
    k = first + np.arange(rows)
    kw, kh = regs["KW"], regs["KH"]
    kx, ky, c = k % kw, k // kw % kh, k // (kw * kh)
    fields = {"kx": kx, "ky": ky, "c": c, "dx": kx * (regs["DX_WRAP"] // kw), "dy": ky * regs["DY_CARRY"],
              "dxp": kx * (regs["DXP_WRAP"] // kw), "dyw": ky * regs["DYW_CARRY"], "plane": c * regs["PLANE_CARRY"]}  # fmt: skip
    return np.stack([fields[f] for f in TAP_FIELDS], axis=-1).astype(np.int64)


def check_tile(layer: str, view: LayerView, tile: TilePlan, geometry: AcceleratorGeometry, single_ifmap: bool = False,
               single_filter: bool = False) -> None:  # fmt: skip
    """Reject a descriptor the accelerator cannot hold or run, naming the field and the fix; a
    ``single_ifmap`` / ``single_filter`` tile may fill both banks of that memory."""
    r = tile.regs
    where = f"layer {layer!r}: descriptor"
    for name in ("T", "INNER", "OUTER", "OUT_W", "OUT_ROWS", "IMAGES", "IN_W", "IN_H", "ROW_STEP", "COL_STEP"):
        if r[name] < 1:
            raise ProgramError(f"{where} {name} is {r[name]}; it must be at least 1")
    if r["T"] != r["IMAGES"] * r["OUT_ROWS"] * r["OUT_W"]:
        raise ProgramError(f"{where} T is {r['T']}, not IMAGES * OUT_ROWS * OUT_W")
    axes = (("rows", view.in_h, view.out_h, 0), ("columns", view.in_w, view.out_w, 1))
    for axis, size, out, i in axes:
        k, s, d, (lo, hi) = view.kernel[i], view.stride[i], view.dilation[i], view.pads[i]
        if (out - 1) * s + d * (k - 1) + 1 > size + lo + hi:
            raise ProgramError(
                f"{where}: kernel {axis} {k} (dilation {d}, {out} outputs, stride {s}) is larger than the padded "
                f"input of {size + lo + hi} {axis}; fix the layer's kernel_size or padding"
            )
        if (view.pad_mode == "reflect" and max(lo, hi) >= size) or (view.pad_mode == "circular" and max(lo, hi) > size):
            raise ProgramError(f"{where}: {view.pad_mode} padding {max(lo, hi)} does not fit {size} input {axis}")
        if d * (k - 1) >> geometry.ifmap_address_bits:
            raise ProgramError(
                f"{where}: kernel {axis} offsets reach {d * (k - 1)} (dilation {d}), beyond the "
                f"{(1 << geometry.ifmap_address_bits) - 1} the tap generator holds; raise ifmap_kib"
            )
    banks_if, banks_f = 1 + single_ifmap, 1 + single_filter
    needs = {
        "ifmap": (r["IMG_STRIDE"] * r["IMAGES"], banks_if * geometry.ifmap_depth, "ifmap_kib"),
        "accumulator": (r["OUTER"] * r["T"], geometry.acc_depth, "ofmap_kib"),
        "weight": (r["OUTER"] * r["INNER"] * geometry.rows, banks_f * geometry.weight_depth, "filter_kib"),
        "bias": (r["OUTER"], banks_f * geometry.bias_depth, "ofmap_kib"),
    }
    for memory, (need, have, knob) in needs.items():
        if need > have:
            raise ProgramError(f"{where} needs {need} {memory} words but the RTL has {have}; raise {knob}")


# ---------------------------------------------------------------------------------------------
# Filling plans with data
# ---------------------------------------------------------------------------------------------


def weight_images(plan: LayerPlan, tile: TilePlan, weights: np.ndarray, bias: np.ndarray, rows: int,
                  cols: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The weight memory image ``[OUTER * INNER * R, C]`` of ``tile`` and its addends ``[OUTER, C]``
    (int64), from the layer's weights (groups, nper, cin, window) and per-channel addends."""
    v = plan.view
    (g0, gcount), (c0, ct), (n0, nt), (tap0, kt) = tile.groups, tile.channels, tile.outputs, tile.taps
    window = v.kernel[0] * v.kernel[1]
    group_of = np.repeat(np.arange(gcount), ct)
    chan_of = np.tile(np.arange(c0, c0 + ct), gcount)
    inner, outer = tile.regs["INNER"], tile.regs["OUTER"]
    k = np.arange(inner * rows)
    real = k < kt
    cc, tap = np.where(real, (tap0 + k) // window, 0), (tap0 + k) % window

    n = n0 + np.arange(outer * cols)
    n_real = n < n0 + nt
    gl_n, nl = np.where(n_real, n // v.nper, 0), np.where(n_real, n % v.nper, 0)
    gl_k, c_k = group_of[cc], chan_of[cc]
    b = weights[(g0 + gl_n)[None, :], nl[None, :], c_k[:, None], tap[:, None]]
    b = np.where(real[:, None] & n_real[None, :] & (gl_k[:, None] == gl_n[None, :]), b, 0)
    weight_words = b.reshape(inner, rows, outer, cols).transpose(2, 0, 1, 3).reshape(-1, cols)
    addend = np.where(n_real, bias[g0 * v.nper + np.where(n_real, n, 0)], 0)
    if plan.divisor:
        addend = np.where(n_real, tile.regs["OUT_SUB"] * plan.divisor, 0)
    return weight_words.astype(np.int64), addend.reshape(outer, cols).astype(np.int64)
