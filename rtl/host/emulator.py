"""NumPy model of the layer core: what one descriptor computes, bit for bit (no timing).

``docs/accelerator.md`` is the specification; the layer core's RTL (:mod:`rtl.hw.layer_core`) is
tested against this model, and the model of the whole system (:mod:`rtl.host.system_model`) runs every
tile of a network's program with it. Register values are plain ints by name
(``Descriptor.regs``); memory images are int64 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel.pe_semantics import MAC, MAX, wrap

from .gemm import golden
from ..spec import DIGIT_CARRIES, PAD_MODES, TAP_FIELDS, TAP_STEPS


@dataclass
class Descriptor:
    """One run of the accelerator: registers and the buffer images the host writes first.

    ``ifmap``: elements from address 0; ``taps``: the lane table ``[R, 8]`` (fields
    :data:`TAP_FIELDS` of K indices ``0 .. R-1``; :func:`block_taps` steps it to every K block);
    ``weights``: ``[OUTER * INNER * R, C]``; ``bias``: ``[OUTER, C]`` (int32 addends).
    """

    regs: dict[str, int]
    ifmap: np.ndarray
    taps: np.ndarray
    weights: np.ndarray
    bias: np.ndarray


def remap_index(index: np.ndarray, index_scaled: np.ndarray, size: int, scale: int, mode: int):
    """Apply a padding mode to an index and to the same index times ``scale``.

    Returns ``(inside, index', index_scaled')``; ``inside`` is False only for zero padding.
    """
    low, high = index < 0, index >= size
    if mode == PAD_MODES["zeros"]:
        return ~(low | high), index, index_scaled
    if mode == PAD_MODES["reflect"]:
        new = np.where(low, -index, np.where(high, 2 * (size - 1) - index, index))
        new_scaled = np.where(low, -index_scaled, np.where(high, 2 * (size - 1) * scale - index_scaled, index_scaled))
    elif mode == PAD_MODES["replicate"]:
        new = np.clip(index, 0, size - 1)
        new_scaled = np.where(low, 0, np.where(high, (size - 1) * scale, index_scaled))
    else:  # circular
        new = np.where(low, index + size, np.where(high, index - size, index))
        wrapped = np.where(high, index_scaled - size * scale, index_scaled)
        new_scaled = np.where(low, index_scaled + size * scale, wrapped)
    return np.ones(index.shape, dtype=bool), new, new_scaled


def next_block(lanes: dict[str, np.ndarray], regs: dict[str, int]) -> dict[str, np.ndarray]:
    """The lane fields of K block ``b + 1`` from those of block ``b`` (:data:`TAP_STEPS`): an
    addition of ``R = SC * KH * KW + SY * KW + SX`` to every lane's mixed-radix K index."""
    cx = lanes["kx"] + regs["SX"] >= regs["KW"]
    cy = lanes["ky"] + regs["SY"] + cx >= regs["KH"]
    carries = {None: 0, "cx": cx.astype(np.int64), "cy": cy.astype(np.int64)}

    def value(name) -> int:
        return 0 if name is None else name if isinstance(name, int) else regs[name]

    stepped = {}
    for field, (digit, step, add, back) in TAP_STEPS.items():
        into, out_of = (carries[c] for c in DIGIT_CARRIES[digit])
        stepped[field] = lanes[field] + value(step) + into * value(add) - out_of * value(back)
    return stepped


def block_taps(table: np.ndarray, regs: dict[str, int]) -> dict[str, np.ndarray]:
    """Every field of K index ``b * R + i`` (``[INNER * R]`` each, plus ``valid = c < CHANNELS``),
    stepped block by block from the lane table ``[R, 8]`` as the tap generator does."""
    lanes = {field: table[:, number].astype(np.int64) for number, field in enumerate(TAP_FIELDS)}
    blocks = []
    for _ in range(regs["INNER"]):
        blocks.append(lanes)
        lanes = next_block(lanes, regs)
    taps = {field: np.concatenate([block[field] for block in blocks]) for field in TAP_FIELDS}
    taps["valid"] = taps["c"] < regs["CHANNELS"]
    return taps


def lane_addresses(regs: dict[str, int], table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Buffer address and "reads real data" flag of every stream word and K lane: ``[T, INNER*R]``."""
    r = regs
    p = np.arange(r["T"])
    ox = p % r["OUT_W"]
    oy = (p // r["OUT_W"]) % r["OUT_ROWS"]
    img = p // (r["OUT_W"] * r["OUT_ROWS"])
    taps = block_taps(table, regs)
    valid, dy, dx, dyw, dxp, plane = (taps[f][None, :] for f in ("valid", "dy", "dx", "dyw", "dxp", "plane"))
    row = (r["ROW_START"] + oy * r["ROW_STEP"])[:, None] + dy
    row_w = (r["ROW_START_W"] + oy * r["ROW_STEP_W"])[:, None] + dyw
    col = (r["COL_START"] + ox * r["COL_STEP"])[:, None] + dx
    col_p = (r["COL_START_P"] + ox * r["COL_STEP_P"])[:, None] + dxp
    rows_in, _, row_w = remap_index(row, row_w, r["IN_H"], r["ROW_PITCH"], r["PAD_MODE"])
    cols_in, _, col_p = remap_index(col, col_p, r["IN_W"], r["PIXEL_PITCH"], r["PAD_MODE"])
    address = (img * r["IMG_STRIDE"])[:, None] + plane + row_w - r["ROW_BASE_W"] + col_p
    return address, valid & rows_in & cols_in


def stream_matrix(d: Descriptor, input_bits: int) -> np.ndarray:
    """The im2col matrix ``A[T, INNER*R]`` the address generator streams (padding injected)."""
    address, real = lane_addresses(d.regs, d.taps)
    fill = -(1 << (input_bits - 1)) if d.regs["MODE"] == MAX else 0
    safe = np.where(real, address, 0)
    source = d.ifmap if d.ifmap.size else np.zeros(1, dtype=np.int64)  # a tile of padding reads nothing
    return np.where(real, source[safe], fill)


def weight_matrix(d: Descriptor, rows: int, cols: int) -> np.ndarray:
    """``B[INNER*R, OUTER*C]`` from the weight memory image."""
    inner, outer = d.regs["INNER"], d.regs["OUTER"]
    blocks = d.weights.reshape(outer, inner, rows, cols)
    return blocks.transpose(1, 2, 0, 3).reshape(inner * rows, outer * cols)


def run_descriptor(d: Descriptor, acc: np.ndarray, rows: int, cols: int, input_bits: int, acc_bits: int) -> None:
    """Run ``d`` on the accumulator image ``acc`` (``[words, C]`` int64), in place.

    Accumulator word ``o * T + p`` lane ``j`` receives output pixel ``p`` of channel ``o*C + j``.
    """
    r = d.regs
    t, outer, mode = r["T"], r["OUTER"], r["MODE"]
    result = golden(stream_matrix(d, input_bits), weight_matrix(d, rows, cols), acc_bits, mode)
    words = result.reshape(t, outer, cols).transpose(1, 0, 2).reshape(outer * t, cols)
    old = acc[: outer * t]
    if r["ACCUMULATE"]:
        words = wrap(old + words, acc_bits) if mode == MAC else np.maximum(old, words)
    acc[: outer * t] = words


def output_path(regs: dict[str, int], acc_words: np.ndarray, bias_word: np.ndarray) -> np.ndarray:
    """The output path: ``clamp((((a + b) * MULT + round) >> SHIFT) - SUB, MIN, MAX)``."""
    shift = regs["OUT_SHIFT"]
    rounding = (1 << (shift - 1)) if regs["OUT_ROUND"] and shift > 0 else 0
    value = ((acc_words.astype(np.int64) + bias_word) * regs["OUT_MULT"] + rounding) >> shift
    return np.clip(value - regs["OUT_SUB"], regs["OUT_MIN"], regs["OUT_MAX"])
