"""Host-side driver model of the core: pack a GEMM into tiles, assemble the results.

Pure NumPy. ``out[M, N] = A[M, K] @ B[K, N]`` (MAC) or, in MAX mode,
``out[m, n] = max(A[m, k] for k with B[k, n] != 0)`` (the most negative ``acc_bits`` integer if
no ``k`` is selected). Tiles that split the reduction over ``K`` are combined by the host
(``reduce``), wrapping to ``acc_bits`` like the hardware.

Memory maps (words; ``I`` = inner index, ``O`` = outer index, ``f = O * inner + I``):

- WS: west ``I*T + p`` = ``A[m0+p, kblock(I)]``; north ``f*R + k`` = row ``k`` of the
  ``B[kblock(I), nblock(O)]`` block; out ``O*T + p`` = ``out[m0+p, nblock(O)]``.
- IS: WS on the transposed problem ``out^T = B^T @ A^T`` (so in MAX mode the roles of the
  operands swap: the value comes from B and the selection from A).
- OS: west ``O*T + p`` = ``A[mblock(O), k0+p]`` (a column of A); north ``I*T + p`` =
  ``B[k0+p, nblock(I)]``; out ``f*R + i`` = ``out[row i of mblock(O), nblock(I)]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel.pe_semantics import MAC, wrap

from ..geometry import CoreGeometry


@dataclass(frozen=True)
class Tile:
    """One ``start`` of the core: register values, memory images and where results go.

    ``west`` / ``north``: int64 arrays ``[words, lanes]`` to write from address 0.
    ``out_rows`` / ``out_cols``: int arrays ``[out words, cols]`` giving the ``out`` element each
    result lane belongs to (-1: padding, ignore). ``folds`` = ``inner_folds * outer_folds``.
    """

    stream_len: int
    inner_folds: int
    outer_folds: int
    west: np.ndarray
    north: np.ndarray
    out_rows: np.ndarray
    out_cols: np.ndarray

    @property
    def folds(self) -> int:
        return self.inner_folds * self.outer_folds


def golden(a: np.ndarray, b: np.ndarray, acc_bits: int, mode: int = MAC) -> np.ndarray:
    """Reference result of the core for ``A @ B`` (or the masked max) at ``acc_bits``."""
    a, b = a.astype(np.int64), b.astype(np.int64)
    if mode == MAC:
        return wrap(a @ b, acc_bits)
    lowest = -(1 << (acc_bits - 1))
    picked = np.where(b[None, :, :] != 0, a[:, :, None], lowest)
    return picked.max(axis=1, initial=lowest)


def _blocks(n: int, size: int) -> int:
    return -(-n // size)


def _pad(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), dtype=np.int64)
    out[: matrix.shape[0], : matrix.shape[1]] = matrix
    return out


def _index_grid(rows: np.ndarray, cols: np.ndarray, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast row/col indices to a grid, marking out-of-range ones -1."""
    r, c = np.broadcast_arrays(rows[:, None], cols[None, :])
    bad = (r >= m) | (c >= n)
    return np.where(bad, -1, r), np.where(bad, -1, c)


def _plan_ws(g: CoreGeometry, a: np.ndarray, b: np.ndarray, limits: dict) -> list[Tile]:
    (m, k), n = a.shape, b.shape[1]
    R, C = g.rows, g.cols
    kb_total, nb_total = _blocks(k, R), _blocks(n, C)
    t_max = min(m, g.west_depth, g.out_depth, limits.get("stream", m))
    fold_cap = g.north_depth // R
    kb_n = max(1, min(kb_total, g.west_depth // t_max, fold_cap, limits.get("inner", kb_total)))
    nb_n = max(1, min(nb_total, g.out_depth // t_max, fold_cap // kb_n, limits.get("outer", nb_total)))
    ap = _pad(a, m, kb_total * R)
    bp = _pad(b, kb_total * R, nb_total * C)
    tiles = []
    for m0 in range(0, m, t_max):
        t = min(t_max, m - m0)
        for kb0 in range(0, kb_total, kb_n):
            kbs = range(kb0, min(kb0 + kb_n, kb_total))
            for nb0 in range(0, nb_total, nb_n):
                nbs = range(nb0, min(nb0 + nb_n, nb_total))
                west = np.concatenate([ap[m0 : m0 + t, kb * R : kb * R + R] for kb in kbs])
                north = np.concatenate([bp[kb * R : kb * R + R, nb * C : nb * C + C] for nb in nbs for kb in kbs])
                grids = [_index_grid(np.arange(m0, m0 + t), np.arange(nb * C, nb * C + C), m, n) for nb in nbs]
                rows, cols = (np.concatenate(x) for x in zip(*grids))
                tiles.append(Tile(t, len(kbs), len(nbs), west, north, rows, cols))
    return tiles


def _plan_os(g: CoreGeometry, a: np.ndarray, b: np.ndarray, limits: dict) -> list[Tile]:
    (m, k), n = a.shape, b.shape[1]
    R, C = g.rows, g.cols
    mb_total, nb_total = _blocks(m, R), _blocks(n, C)
    t_max = min(k, g.west_depth, g.north_depth, limits.get("stream", k))
    fold_cap = g.out_depth // R
    mb_n = max(1, min(mb_total, g.west_depth // t_max, fold_cap, limits.get("outer", mb_total)))
    nb_n = max(1, min(nb_total, g.north_depth // t_max, fold_cap // mb_n, limits.get("inner", nb_total)))
    ap = _pad(a, mb_total * R, k)
    bp = _pad(b, k, nb_total * C)
    tiles = []
    for k0 in range(0, k, t_max):
        t = min(t_max, k - k0)
        for mb0 in range(0, mb_total, mb_n):
            mbs = range(mb0, min(mb0 + mb_n, mb_total))
            for nb0 in range(0, nb_total, nb_n):
                nbs = range(nb0, min(nb0 + nb_n, nb_total))
                west = np.concatenate([ap[mb * R : mb * R + R, k0 : k0 + t].T for mb in mbs])
                north = np.concatenate([bp[k0 : k0 + t, nb * C : nb * C + C] for nb in nbs])
                grids = [
                    _index_grid(np.arange(mb * R, mb * R + R), np.arange(nb * C, nb * C + C), m, n)
                    for mb in mbs
                    for nb in nbs
                ]
                rows, cols = (np.concatenate(x) for x in zip(*grids))
                tiles.append(Tile(t, len(nbs), len(mbs), west, north, rows, cols))
    return tiles


def plan_gemm(
    geometry: CoreGeometry,
    a: np.ndarray,
    b: np.ndarray,
    *,
    stream: int | None = None,
    inner: int | None = None,
    outer: int | None = None,
) -> list[Tile]:
    """Split ``A @ B`` into tiles that fit the core's memories.

    ``stream``, ``inner``, ``outer`` optionally cap T and the fold counts per tile (to exercise
    smaller tiles); by default tiles are as large as the memories allow.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or 0 in a.shape + b.shape:
        raise ValueError(f"cannot multiply non-empty matrices of shapes {a.shape} and {b.shape}")
    limits = {key: v for key, v in (("stream", stream), ("inner", inner), ("outer", outer)) if v}
    if geometry.dataflow == "os":
        return _plan_os(geometry, a, b, limits)
    if geometry.dataflow == "is":
        tiles = _plan_ws(geometry, b.T, a.T, limits)
        return [
            Tile(t.stream_len, t.inner_folds, t.outer_folds, t.west, t.north, t.out_cols, t.out_rows) for t in tiles
        ]
    return _plan_ws(geometry, a, b, limits)


def assemble(
    geometry: CoreGeometry, shape: tuple[int, int], tiles: list[Tile], outputs: list[np.ndarray], mode: int = MAC
) -> np.ndarray:
    """Combine each tile's out-memory words (``[words, cols]``) into the ``shape`` result."""
    bits = geometry.acc_bits
    result = np.full(shape, 0 if mode == MAC else -(1 << (bits - 1)), dtype=np.int64)
    for tile, words in zip(tiles, outputs):
        keep = tile.out_rows >= 0
        r, c, v = tile.out_rows[keep], tile.out_cols[keep], np.asarray(words, dtype=np.int64)[keep]
        result[r, c] = wrap(result[r, c] + v, bits) if mode == MAC else np.maximum(result[r, c], v)
    return result
