"""cocotb bench of the layer accelerator: hand-built conv / pooling descriptors vs NumPy.

Run by ``tests/test_rtl_accelerator.py``. The manifest named by ``ACCEL_MANIFEST`` gives the
sizes and bus map. Each case builds a layer from first principles (NumPy padding and window
sums), encodes it as one or two descriptors (``docs/accelerator.md``), runs them through
:class:`rtl.bus_driver.BusDriver` and checks the accumulator or output-path results bit-exactly
and ``CYCLES`` against ``accel.timing.tile_cycles``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock

from accel.pe_semantics import MAC, MAX, wrap
from accel.timing import tile_cycles
from rtl.bus_driver import BusDriver

NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@dataclass
class Layer:
    """One tile of a 2-D conv (``pool``: depthwise window of ones) on ``x[N, Cin, H, W]``.

    ``pads`` = (top, bottom, left, right); ``rows`` = (first output row, output rows) of the
    tile (None: all), buffering only the input rows it needs (zero padding only).
    """

    x: np.ndarray
    w: np.ndarray  # [Cout, Cin, KH, KW]; ones on the diagonal for pooling
    stride: int = 1
    dilation: int = 1
    pads: tuple = (0, 0, 0, 0)
    pad_mode: str = "zeros"
    mode: int = MAC
    rows: tuple | None = None
    accumulate: bool = False
    out: dict = field(default_factory=dict)  # output-path registers and bias


def out_size(layer: Layer) -> tuple[int, int]:
    (_, _, h, w), (_, _, kh, kw) = layer.x.shape, layer.w.shape
    top, bottom, left, right = layer.pads
    span_h, span_w = (layer.dilation * (k - 1) + 1 for k in (kh, kw))
    return (h + top + bottom - span_h) // layer.stride + 1, (w + left + right - span_w) // layer.stride + 1


def reference(layer: Layer, lowest: int) -> np.ndarray:
    """``[Cout, N, Ho, Wo]``: window sums (MAC) or masked maxima (MAX) from padded NumPy arrays."""
    top, bottom, left, right = layer.pads
    width = ((0, 0), (0, 0), (top, bottom), (left, right))
    fill = {"constant_values": lowest if layer.mode == MAX else 0} if layer.pad_mode == "zeros" else {}
    padded = np.pad(layer.x.astype(np.int64), width, mode=NUMPY_PAD[layer.pad_mode], **fill)
    ho, wo = out_size(layer)
    _, _, kh, kw = layer.w.shape
    s, d = layer.stride, layer.dilation
    windows = np.empty((*layer.x.shape[:2], kh, kw, ho, wo), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            windows[:, :, ky, kx] = padded[:, :, ky * d :: s, kx * d :: s][:, :, :ho, :wo]
    if layer.mode == MAC:
        return np.einsum("nckxhw,ockx->onhw", windows, layer.w.astype(np.int64))
    picked = np.where(layer.w[:, None, :, :, :, None, None] != 0, windows[None], lowest)
    return picked.max(axis=(2, 3, 4))


class Descriptor:
    """Register values and buffer images of one layer tile (the host's encoding)."""

    def __init__(self, layer: Layer, info: dict) -> None:
        R, C = info["geometry"]["rows"], info["geometry"]["cols"]
        bits = info["config"]["input_bits"]
        n, cin, h, w = layer.x.shape
        cout, _, kh, kw = layer.w.shape
        ho, wo = out_size(layer)
        top, _, left, _ = layer.pads
        y0, out_rows = layer.rows or (0, ho)
        s, d = layer.stride, layer.dilation
        first = max(0, y0 * s - top) if layer.rows else 0
        last = min(h, (y0 + out_rows - 1) * s - top + d * (kh - 1) + 1) if layer.rows else h
        buffered = layer.x[:, :, first:last, :]
        k = cin * kh * kw
        self.inner, self.outer = -(-k // R), -(-cout // C)
        self.T = n * out_rows * wo
        self.y0, self.out_rows, self.C = y0, out_rows, C
        self.ifmap = buffered.reshape(-1)
        # Lane table: the taps of K index i = (c * kh + ky) * kw + kx for lanes i < R (channel planes,
        # so dxp = dx and dyw = dy * w); lanes past K have c >= cin. Weights B[k, o] in blocks of R x C.
        i = np.arange(R)
        c, ky, kx = i // (kh * kw), i // kw % kh, i % kw
        plane_size = (last - first) * w
        self.taps = {"kx": kx, "ky": ky, "c": c, "dx": kx * d, "dy": ky * d, "dxp": kx * d, "dyw": ky * d * w,
                     "plane": c * plane_size}  # fmt: skip
        # R = sc * kh * kw + sy * kw + sx: the K index step from one block to the next.
        sc, sy, sx = R // (kh * kw), R % (kh * kw) // kw, R % kw
        b = np.zeros((self.inner * R, self.outer * C), dtype=np.int64)
        b[:k, :cout] = layer.w.reshape(cout, k).T
        # word (o * INNER + blk) * R + row, lane j = B[blk * R + row, o * C + j]
        self.weights = b.reshape(self.inner, R, self.outer, C).transpose(2, 0, 1, 3).reshape(-1, C)
        self.bias = np.zeros((self.outer, C), dtype=np.int64)
        bias = np.asarray(layer.out.get("bias", np.zeros(cout)), dtype=np.int64)
        self.bias.reshape(-1)[:cout] = bias
        self.registers = {
            "T": self.T,
            "INNER": self.inner,
            "OUTER": self.outer,
            "MODE": layer.mode,
            "ACCUMULATE": int(layer.accumulate),
            "OUT_W": wo,
            "OUT_ROWS": out_rows,
            "IMAGES": n,
            "IMG_STRIDE": cin * plane_size,
            "COL_START": -left,
            "COL_STEP": s,
            "ROW_START": y0 * s - top,
            "ROW_STEP": s,
            "ROW_START_W": (y0 * s - top) * w,
            "ROW_STEP_W": s * w,
            "IN_W": w,
            "IN_H": h,
            "IN_HW": h * w,
            "ROW_BASE_W": first * w,
            "ROW_PITCH": w,  # channel planes: one element per pixel
            "PIXEL_PITCH": 1,
            "COL_START_P": -left,
            "COL_STEP_P": s,
            "PAD_MODE": list(NUMPY_PAD).index(layer.pad_mode),
            "OUT_MULT": 1,
            "OUT_SHIFT": 0,
            "OUT_ROUND": 0,
            "OUT_SUB": 0,
            "OUT_MIN": -(1 << (bits - 1)),  # the staging buffer holds input_bits results
            "OUT_MAX": (1 << (bits - 1)) - 1,
            "FINAL": 1,
            "STAGE_PITCH": self.outer + 1,  # a gap between pixels: any pitch >= OUTER works
            "CHANNELS": cin,
            "KW": kw,
            "KH": kh,
            "SX": sx,
            "SY": sy,
            "SC": sc,
            "DX_STEP": sx * d,
            "DX_WRAP": kw * d,
            "DXP_STEP": sx * d,
            "DXP_WRAP": kw * d,
            "DY_STEP": sy * d,
            "DY_CARRY": d,
            "DY_WRAP": kh * d,
            "DYW_STEP": sy * d * w,
            "DYW_CARRY": d * w,
            "DYW_WRAP": kh * d * w,
            "PLANE_STEP": sc * plane_size,
            "PLANE_CARRY": plane_size,
        }
        self.registers.update({key: v for key, v in layer.out.items() if key != "bias"})
        self.cycles = tile_cycles("ws", R, C, self.T, self.inner * self.outer)

    async def load(self, bus: BusDriver, info: dict) -> None:
        lanes_c = info["LANES_C"]
        writes = [(bus.addr("ifmap", i), v) for i, v in enumerate(self.ifmap)]
        writes += [(bus.addr("weights", word * lanes_c + j), v) for (word, j), v in np.ndenumerate(self.weights)]
        writes += [(bus.addr("bias", word * lanes_c + j), v) for (word, j), v in np.ndenumerate(self.bias)]
        for name, values in self.taps.items():
            number = info["TAP_FIELDS"][name]
            writes += [(bus.addr("taps", (lane << 3) + number), v) for lane, v in enumerate(values)]
        writes += [(bus.reg(name), v) for name, v in self.registers.items()]
        await bus.write_many(writes)

    async def read(self, bus: BusDriver, info: dict, region: str) -> np.ndarray:
        """``[outer * C, T]`` results of every output block: accumulator word ``o * T + p``, or
        staging word ``p * STAGE_PITCH + o`` (the output path's results)."""
        lanes_c, blocks = info["LANES_C"], []
        for o in range(self.outer):
            words = [p * self.registers["STAGE_PITCH"] + o if region == "results" else o * self.T + p for p in range(self.T)]
            addresses = [bus.addr(region, w * lanes_c + j) for w in words for j in range(self.C)]
            blocks.append(np.array(await bus.read_many(addresses)).reshape(self.T, self.C).T)
        return np.concatenate(blocks)


def output_path(acc: np.ndarray, out: dict) -> np.ndarray:
    """The documented output path on int64 accumulators ``acc[Cout, ...]``."""
    shift = out.get("OUT_SHIFT", 0)
    rounding = 1 << (shift - 1) if out.get("OUT_ROUND", 0) and shift else 0
    bias = np.asarray(out.get("bias", np.zeros(acc.shape[0])), dtype=np.int64).reshape(-1, *[1] * (acc.ndim - 1))
    y = ((acc + bias) * out.get("OUT_MULT", 1) + rounding) >> shift
    y = y - out.get("OUT_SUB", 0)
    return np.minimum(np.maximum(y, out.get("OUT_MIN", -(1 << 31))), out.get("OUT_MAX", (1 << 31) - 1))


def cases(info: dict, rng: np.random.Generator):
    """(name, [layers run in order], expected [Cout, N, Ho', Wo] from the last, region read)."""
    bits = info["config"]["input_bits"]
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    x = lambda *shape: rng.integers(lo, hi, shape)
    wt = lambda *shape: rng.integers(-8, 8, shape)
    acc_bits, lowest = info["config"]["acc_bits"], lo

    def single(name, layer, region="accumulator"):
        expected = reference(layer, lowest)
        if layer.rows:
            expected = expected[:, :, layer.rows[0] : sum(layer.rows)]
        expected = output_path(expected, layer.out) if region == "results" else wrap(expected, acc_bits)
        return name, [layer], expected, region

    pads = {"zeros": (1, 0, 2, 1), "reflect": (1, 1, 1, 1), "replicate": (2, 1, 0, 2), "circular": (1, 2, 1, 1)}
    for mode, pad in pads.items():
        images = 2 if mode == "zeros" else 1
        yield single(f"conv3x2-{mode}", Layer(x(images, 2, 4, 5), wt(5, 2, 3, 2), pads=pad, pad_mode=mode))
    yield single("stride2-rowtile", Layer(x(1, 2, 7, 6), wt(3, 2, 3, 3), stride=2, pads=(1, 1, 1, 1), rows=(1, 2)))
    yield single("dilation2", Layer(x(1, 2, 6, 6), wt(2, 2, 3, 3), dilation=2, pads=(2, 2, 2, 2), pad_mode="reflect"))
    yield single("conv1x1", Layer(x(2, 5, 3, 3), wt(6, 5, 1, 1)))
    yield single("single-pixel", Layer(x(1, 1, 2, 2), wt(4, 1, 2, 2)))  # T = 1 < R; K = 4
    pool = np.eye(3, dtype=np.int64)[:, :, None, None] * np.ones((1, 1, 3, 3), dtype=np.int64)
    yield single("maxpool3s2", Layer(x(1, 3, 5, 5), pool, stride=2, pads=(1, 1, 1, 1), mode=MAX), "results")

    # ACCUMULATE: channels 0..1 then 2..3 of one conv into the same accumulator words.
    image, weights = x(1, 4, 4, 4), wt(3, 4, 3, 3)
    halves = [Layer(image[:, i : i + 2], weights[:, i : i + 2], pads=(1, 1, 1, 1), accumulate=i > 0) for i in (0, 2)]
    whole = Layer(image, weights, pads=(1, 1, 1, 1))
    yield "accumulate", halves, wrap(reference(whole, lowest), acc_bits), "accumulator"
    halves = [Layer(image[:, i : i + 2], np.ones((1, 2, 2, 2), int), mode=MAX, accumulate=i > 0) for i in (0, 2)]
    expected = reference(Layer(image, np.ones((1, 4, 2, 2), int), mode=MAX), lowest)
    yield "accumulate-max", halves, expected, "accumulator"

    requant = {"bias": rng.integers(-2000, 2000, 5), "OUT_MULT": 123_456, "OUT_SHIFT": 23, "OUT_ROUND": 1,
               "OUT_SUB": -3, "OUT_MIN": 0, "OUT_MAX": 127}  # fmt: skip
    yield single("bias-requant-relu", Layer(x(1, 3, 3, 4), wt(5, 3, 3, 3), pads=(1, 1, 1, 1), out=requant), "results")
    # Average pooling 3x3 (window 9, zero padding counted): floor(s / 9) via bias B*9, mult, shift, sub B.
    shift, d = 16, 9
    big = 1 << (bits - 1)  # ceil(2^(bits-1) * window / d) with window = d
    avg = {"bias": np.full(3, big * d), "OUT_MULT": -(-(1 << shift) // d), "OUT_SHIFT": shift, "OUT_SUB": big,
           "OUT_MIN": lo, "OUT_MAX": hi - 1}  # fmt: skip
    layer = Layer(x(1, 3, 4, 4), pool, pads=(1, 1, 1, 1), out=avg)
    yield "avgpool3", [layer], reference(layer, lowest) // d, "results"


@cocotb.test()
async def descriptors_match_numpy_and_timing(dut):
    """Every case bit-exact; every descriptor's CYCLES equals ``tile_cycles``."""
    info = json.loads(Path(os.environ["ACCEL_MANIFEST"]).read_text())
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start(start_high=False))
    bus = BusDriver(dut, info)
    await bus.reset()
    rng = np.random.default_rng(int(os.environ.get("BENCH_SEED", "1")))
    failures = []
    for name, layers, expected, region in cases(info, rng):
        for layer in layers:
            descriptor = Descriptor(layer, info)
            await descriptor.load(bus, info)
            cycles = await bus.start_and_wait()
            if cycles != descriptor.cycles:
                failures.append(f"{name}: {cycles} cycles, expected {descriptor.cycles}")
        got = (await descriptor.read(bus, info, region))[: expected.shape[0]].reshape(expected.shape)
        if not np.array_equal(got, expected):
            bad = np.argwhere(got != expected)
            first = tuple(bad[0])
            failures.append(
                f"{name}: {len(bad)} of {expected.size} wrong, first at {first}: {got[first]} != {expected[first]}"
            )
        dut._log.info(f"{name}: {expected.size} results, {len(layers)} descriptor(s)")
    assert not failures, "\n".join(failures)
