"""The address generator: im2col on the fly, as index maps over the input feature map.

For every output position and window element it yields where the operand comes from: a flat
index into one channel plane of the input, :data:`PAD` for a padding position (a value the
generator injects: zero, or the minimum for max pooling) or :data:`OUTSIDE` for a ceil-mode
window position past the padding (skipped, and not counted by average pooling). Reflect,
replicate and circular padding are not injected: they remap to an input index. Transposed
convolution reads a virtual zero-inserted input, whose inserted zeros are injected, never read.
"""

from __future__ import annotations

import numpy as np

PAD = -1
OUTSIDE = -2


def _axis_map(n: int, out: int, kernel: int, stride: int, dilation: int, pad_lo: int, pad_hi: int,
              mode: str, insert: int) -> np.ndarray:  # fmt: skip
    """Source index per (output, kernel tap) along one dim; ``insert``: zero-insertion factor."""
    virtual = (n - 1) * insert + 1
    pos = np.arange(out)[:, None] * stride - pad_lo + np.arange(kernel)[None, :] * dilation
    inside = (pos >= 0) & (pos < virtual)
    padded = (pos >= -pad_lo) & (pos < virtual + pad_hi)
    idx = np.where(padded, PAD, OUTSIDE)
    if mode == "zeros" or insert > 1:
        on_sample = inside & (pos % insert == 0)
        return np.where(on_sample, pos // insert, idx)
    if mode == "reflect":
        src = np.abs(pos)
        src = np.where(src >= n, 2 * (n - 1) - src, src)
    elif mode == "replicate":
        src = np.clip(pos, 0, n - 1)
    else:  # circular
        src = pos % n
    return np.where(padded, src, idx)


def window_index(in_size, out_size, kernel, stride, dilation, pads, mode: str = "zeros", insert=None) -> np.ndarray:
    """Flat source index for every output position and kernel tap.

    Returns an int64 array of shape ``(prod(out_size), prod(kernel))`` (outputs and taps in
    row-major order) holding a flat index into an input plane of ``in_size``, or PAD / OUTSIDE.
    """
    insert = insert or (1,) * len(in_size)
    maps = [
        _axis_map(n, o, k, s, d, lo, hi, mode, z)
        for n, o, k, s, d, (lo, hi), z in zip(in_size, out_size, kernel, stride, dilation, pads, insert)
    ]
    flat = np.zeros((1, 1), dtype=np.int64)
    status = np.zeros((1, 1), dtype=np.int64)  # 0 real, PAD or OUTSIDE (OUTSIDE wins)
    for axis, m in enumerate(maps):
        o, k = m.shape
        plane = int(np.prod(in_size[axis + 1 :], dtype=np.int64))
        src = np.where(m >= 0, m, 0) * plane
        flat = (flat[:, None, :, None] + src[None, :, None, :]).reshape(flat.shape[0] * o, flat.shape[1] * k)
        st = np.where(m >= 0, 0, m)
        status = np.minimum(status[:, None, :, None], st[None, :, None, :]).reshape(flat.shape)
    return np.where(status == 0, flat, status)


def gather_columns(x: np.ndarray, index: np.ndarray, fill) -> np.ndarray:
    """im2col for every channel of ``x`` (N, C, *spatial): returns (N, C, outputs, taps).

    Positions marked PAD or OUTSIDE get ``fill``.
    """
    planes = x.reshape(x.shape[0], x.shape[1], -1)
    safe = np.where(index >= 0, index, 0)
    cols = planes[:, :, safe]
    return np.where(index >= 0, cols, np.asarray(fill, dtype=x.dtype))
