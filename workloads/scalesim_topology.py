"""SCALE-Sim topology files (CSV) read into a :class:`Network` of independent layers.

The header line tells the format apart:

- conv: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,
  Strides,``: one convolution per row over its own input, already padded (there is no padding
  column). A row whose name contains ``DP`` is depthwise, as in SCALE-Sim: ``Channels``
  single-channel convolutions with ``Num Filter`` filters each, i.e. a conv with
  ``groups = Channels``.
- GEMM: ``Layer, M, N, K,``: ``out[M, N] = A[M, K] @ B[K, N]``, read as a 1x1 convolution with K
  input channels and N filters over an ``M x 1`` input. SCALE-Sim's own conversion
  (``M x K`` ifmap, ``1 x K`` filter) gives the same array view: M output pixels, window K,
  N filters.

As in SCALE-Sim, the field after a row's last comma (empty, or a comment such as ``#dw``) is
ignored, and an optional further column holds an ``N:M`` sparsity ratio, which must be dense here.
Each layer reads its own input (``<name>/ifmap``), so the layers are independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from workloads.errors import WorkloadError
from workloads.layers import DIM_LIMIT, Conv
from workloads.network import Network

CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")  # fmt: skip
GEMM_COLUMNS = ("Layer", "M", "N", "K")
SPARSITY_COLUMN = "Sparsity (N:M)"


@dataclass(frozen=True)
class TopologyRow:
    """One layer in SCALE-Sim's conv format. Sizes in elements; the input is already padded."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride_h: int
    stride_w: int

    @property
    def ofmap_h(self) -> int:
        """Output rows as SCALE-Sim counts them: ``ceil((H - R + S) / S)`` (a partial last window counts)."""
        return math.ceil((self.ifmap_h - self.filter_h + self.stride_h) / self.stride_h)

    @property
    def ofmap_w(self) -> int:
        """Output columns, as :attr:`ofmap_h`."""
        return math.ceil((self.ifmap_w - self.filter_w + self.stride_w) / self.stride_w)

    @property
    def pixels(self) -> int:
        """Output pixels per filter (GEMM M)."""
        return self.ofmap_h * self.ofmap_w

    @property
    def window(self) -> int:
        """Elements one output reads (GEMM K): filter height x width x channels."""
        return self.filter_h * self.filter_w * self.channels


def read_topology(path: str | Path) -> Network:
    """Read a SCALE-Sim topology CSV (conv or GEMM format) into a network named after the file."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise WorkloadError(f"SCALE-Sim topology {path} cannot be read: {err}") from None
    if not lines:
        raise WorkloadError(f"{path}: empty file; the first line must be the SCALE-Sim header")
    gemm = is_gemm_header(path, lines[0])
    rows: list[TopologyRow] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        row = _gemm_row(where, line) if gemm else _conv_row(where, line)
        if row.name in seen:
            raise WorkloadError(
                f"{where}: column 1 (layer name): {row.name!r} is already used on line {seen[row.name]}"
            )
        seen[row.name] = number
        rows.append(row)
    if not rows:
        raise WorkloadError(f"{path}: no layers after the header")
    layers = [
        Conv(name=row.name, inputs=(f"{row.name}/ifmap",) if i else (), in_channels=row.channels,
             out_channels=row.filters * _groups(row, gemm), kernel_size=(row.filter_h, row.filter_w),
             stride=(row.stride_h, row.stride_w), groups=_groups(row, gemm), bias=False)
        for i, row in enumerate(rows)
    ]  # fmt: skip
    extra = {f"{row.name}/ifmap": _ifmap_shape(row) for row in rows[1:]}
    return Network(path.stem, _ifmap_shape(rows[0]), layers, extra)


def _groups(row: TopologyRow, gemm: bool) -> int:
    """SCALE-Sim runs a conv row named ``*DP*`` as one single-channel layer per channel."""
    return row.channels if not gemm and "DP" in row.name else 1


def _ifmap_shape(row: TopologyRow) -> tuple[int, ...]:
    return (1, row.channels, row.ifmap_h, row.ifmap_w)


def is_gemm_header(path: str | Path, header: str) -> bool:
    """True for the GEMM header, False for the conv header; any other first line is an error."""
    names = [field.strip().lower() for field in header.split(",")]
    if names[1:4] == ["m", "n", "k"]:
        return True
    if len(names) >= len(CONV_COLUMNS) and not any(_is_int(n) for n in names[1 : len(CONV_COLUMNS)]):
        return False
    raise WorkloadError(
        f"{path}:1: the first line must be a SCALE-Sim header, either '{', '.join(CONV_COLUMNS)},' "
        f"or '{', '.join(GEMM_COLUMNS)},', not {header.strip()!r}"
    )


def _is_int(text: str) -> bool:
    return text.strip().lstrip("+-").isdigit()


def _fields(where: str, line: str, columns: tuple[str, ...]) -> list[str]:
    """The row's fields without the trailing one, checked for count and density."""
    fields = [f.strip() for f in line.split(",")]
    if not fields[-1] or fields[-1].startswith("#"):
        fields.pop()  # the trailing comma's empty field, or a comment after it
    if len(fields) == len(columns) + 1:
        _check_dense(where, len(fields), fields.pop())
    if len(fields) != len(columns):
        raise WorkloadError(
            f"{where}: expected {len(columns)} columns ({', '.join(columns)}) and a trailing comma, "
            f"found {len(fields)}: {line.strip()!r}"
        )
    if not fields[0]:
        raise WorkloadError(f"{where}: column 1 ({columns[0]}): the layer name is empty")
    return fields


def _check_dense(where: str, column: int, text: str) -> None:
    ratio = text.split(":")
    if len(ratio) != 2 or not all(_is_int(r) for r in ratio):
        raise WorkloadError(f"{where}: column {column} ({SPARSITY_COLUMN}): must look like 1:1, not {text!r}")
    if int(ratio[0]) != int(ratio[1]):
        raise WorkloadError(
            f"{where}: column {column} ({SPARSITY_COLUMN}): sparse layers ({text}) are not supported; use 1:1"
        )


def _ints(where: str, fields: list[str], columns: tuple[str, ...]) -> list[int]:
    values = []
    for column, (text, header) in enumerate(zip(fields[1:], columns[1:]), start=2):
        if not _is_int(text) or not 1 <= int(text) <= DIM_LIMIT:
            raise WorkloadError(
                f"{where}: column {column} ({header}): must be an integer from 1 to 2**24 ({DIM_LIMIT:,}), not {text!r}"
            )
        values.append(int(text))
    return values


def _conv_row(where: str, line: str) -> TopologyRow:
    fields = _fields(where, line, CONV_COLUMNS)
    h, w, r, s, c, f, stride = _ints(where, fields, CONV_COLUMNS)
    for column, (k, n) in enumerate(((r, h), (s, w)), start=4):
        if k > n:
            raise WorkloadError(
                f"{where}: column {column} ({CONV_COLUMNS[column - 1]}): {k} is larger than the input "
                f"({CONV_COLUMNS[column - 3]} {n})"
            )
    return TopologyRow(fields[0], h, w, r, s, c, f, stride, stride)


def _gemm_row(where: str, line: str) -> TopologyRow:
    fields = _fields(where, line, GEMM_COLUMNS)
    m, n, k = _ints(where, fields, GEMM_COLUMNS)
    return TopologyRow(fields[0], ifmap_h=m, ifmap_w=1, filter_h=1, filter_w=1, channels=k, filters=n,
                       stride_h=1, stride_w=1)  # fmt: skip
