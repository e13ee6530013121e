"""SCALE-Sim compatibility: its ``.cfg`` files, and its 3.0.0 timing and SRAM-access model in closed form.

SCALE-Sim views every layer as a topology row (:class:`~workloads.scalesim_topology.TopologyRow`)
and maps the GEMM of ``Npix = ofmap_h * ofmap_w`` output pixels, window ``K = R * S * C`` and
``F`` filters onto an ``H_a x W_a`` array with the same dims as :mod:`accel.dataflow`:

=====  ==========  ==========  ==========
name   array rows  array cols  time (T)
=====  ==========  ==========  ==========
os     Npix        F           K
ws     K           F           Npix
is     K           Npix        F
=====  ==========  ==========  ==========

Folds run one after another, never overlapped: a fold takes ``T + H_a + W_a - 2`` cycles (os)
or ``2 H_a + W_a + T - 2`` (ws, is: the stationary block is loaded first), and SCALE-Sim reports
``Total Cycles = folds * fold_cycles - 1``. SRAM reads follow :meth:`Dataflow.sram_accesses`,
which counts what SCALE-Sim counts, except that SCALE-Sim adds ``H_a + W_a`` phantom ofmap
writes per fold under os; the counts here are the true ones.
"""

from __future__ import annotations

import configparser
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accel.config import DATAFLOWS, AccelConfig, ConfigError
from accel.dataflow import DATAFLOW_STRATEGIES
from workloads.errors import WorkloadError
from workloads.layers import Conv, ConvTranspose, GlobalAvgPool, Linear, Pool
from workloads.network import Network, Node
from workloads.scalesim_topology import TopologyRow

# ---------------------------------------------------------------------------------------------
# The .cfg file
# ---------------------------------------------------------------------------------------------

ARCH = "architecture_presets"
SIZE_KEYS = {"ArrayHeight": "rows", "ArrayWidth": "cols", "IfmapSramSzkB": "ifmap_kib",
             "FilterSramSzkB": "filter_kib", "OfmapSramSzkB": "ofmap_kib"}  # fmt: skip


def read_config(path: str | Path) -> tuple[AccelConfig, list[str]]:
    """Read a SCALE-Sim ``.cfg`` into an :class:`AccelConfig`, with notes on what was ignored.

    ``[architecture_presets]`` gives the array (``ArrayHeight`` x ``ArrayWidth``), the three SRAM
    sizes in KiB (SCALE-Sim's words are bytes) and ``Dataflow``. The DRAM bandwidth is
    ``Bandwidth`` (words = bytes per cycle) when ``[run_presets] InterfaceBandwidth`` is ``USER``;
    ``CALC`` (SCALE-Sim sizes the bandwidth so nothing stalls) becomes an ideal channel (``inf``).
    Other fields keep their defaults; other keys (offsets, layouts, request buffers, ...) are
    ignored and listed in the returned notes. Errors name the offending key.
    """
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep the user's spelling for messages; look keys up case-insensitively
    try:
        parser.read_string(path.read_text(), source=str(path))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path} cannot be read: {err}") from None
    except configparser.Error as err:
        raise ConfigError(f"{path} is not a SCALE-Sim .cfg file: {' '.join(str(err).split())}") from None
    sections = {name.lower(): {key.lower(): (key, value.strip()) for key, value in parser[name].items()}
                for name in parser.sections()}  # fmt: skip
    if ARCH not in sections:
        raise ConfigError(f"{path}: section [{ARCH}] is missing")
    used: set[tuple[str, str]] = set()

    def get(section: str, key: str, default: str | None = None) -> str:
        entry = sections.get(section, {}).get(key.lower())
        if entry is None:
            if default is None:
                raise ConfigError(f"{path}: [{section}] {key} is missing")
            return default
        used.add((section, key.lower()))
        return entry[1]

    fields = {field: _positive_int(path, key, get(ARCH, key)) for key, field in SIZE_KEYS.items()}
    dataflow = get(ARCH, "Dataflow").lower()
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"{path}: [{ARCH}] Dataflow must be one of {', '.join(DATAFLOWS)}, not {dataflow!r}")
    notes = []
    mode = get("run_presets", "InterfaceBandwidth", "USER" if "bandwidth" in sections[ARCH] else "CALC").upper()
    if mode == "CALC":
        bandwidth = math.inf
        notes.append(f"{path}: InterfaceBandwidth CALC: using an ideal DRAM channel (dram_bandwidth = inf)")
    elif mode == "USER":
        bandwidth = _positive_number(path, "Bandwidth", get(ARCH, "Bandwidth").split(",")[0])
    else:
        raise ConfigError(f"{path}: [run_presets] InterfaceBandwidth must be USER or CALC, not {mode!r}")
    if get("sparsity", "SparsitySupport", "false").lower() == "true":
        raise ConfigError(f"{path}: [sparsity] SparsitySupport = true is not supported; set it to false")
    ignored = {s: [key for k, (key, _) in entries.items() if (s, k) not in used] for s, entries in sections.items()}
    if any(ignored.values()):
        listed = "; ".join(f"[{s}] {', '.join(keys)}" for s, keys in ignored.items() if keys)
        notes.append(f"{path}: ignored SCALE-Sim settings with no equivalent here: {listed}")
    try:
        return AccelConfig(dataflow=dataflow, dram_bandwidth=bandwidth, **fields), notes
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def _positive_int(path: Path, key: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{path}: [{ARCH}] {key} must be a positive integer, not {text!r}")
    return int(text)


def _positive_number(path: Path, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise ConfigError(f"{path}: [{ARCH}] {key} must be a positive number of bytes per cycle, not {text.strip()!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Layers as topology rows
# ---------------------------------------------------------------------------------------------


def node_row(node: Node) -> tuple[TopologyRow, int] | None:
    """The SCALE-Sim conv row ``node`` runs as, and how many identical rows it takes.

    Padding becomes a pre-padded input. A grouped conv is ``groups`` rows of one group each
    (SCALE-Sim's ``DP`` rule); pooling is one single-filter row per channel (a depthwise conv).
    A batch of N repeats each row N times, except for FC layers, which are one row with the batch
    as output pixels (``N x 1`` input, 1x1 filter, ``in`` channels, ``out`` filters; for N = 1 this
    is SCALE-Sim's own FC row ``1, 1, 1, 1, in, out``). 1-D layers are ``L x 1`` rows. Layers
    off the array (activations, normalisation, elementwise, layout) have no row: ``None``.
    Dilation, 3-D kernels and transposed convs have none either, and are an error.
    """
    layer, shape = node.layer, node.in_shapes[0]
    if isinstance(layer, Linear):
        return TopologyRow(node.name, shape[0], 1, 1, 1, layer.in_features, layer.out_features, 1, 1), 1
    if isinstance(layer, GlobalAvgPool):
        spatial = _plane(layer, shape[2:])
        return TopologyRow(node.name, *spatial, *spatial, 1, 1, 1, 1), shape[0] * shape[1]
    if isinstance(layer, ConvTranspose):
        raise WorkloadError(
            f"layer {node.name!r} ({node.kind}): a transposed conv has no SCALE-Sim row; use --timing native"
        )
    if not isinstance(layer, (Conv, Pool)):
        return None
    if any(d != 1 for d in layer.dilation):
        raise layer.fail("dilation", f"{layer.dilation} has no SCALE-Sim row; use --timing native")
    padded = [n + lo + hi for n, (lo, hi) in zip(shape[2:], layer.pads(shape[2:]))]
    if isinstance(layer, Conv):
        groups, channels, filters = layer.groups, layer.in_channels // layer.groups, layer.out_channels // layer.groups
    else:
        groups, channels, filters = shape[1], 1, 1
    row = TopologyRow(node.name, *_plane(layer, padded), *_plane(layer, layer.kernel_size), channels, filters,
                      *_plane(layer, layer.stride))  # fmt: skip
    return row, groups * shape[0]


def _plane(layer, dims) -> tuple[int, int]:
    """2-D sizes of a row: a 1-D size ``L`` is ``L x 1``."""
    if len(dims) > 2:
        raise layer.fail("kernel_size", "is 3-D; SCALE-Sim rows are 2-D; use --timing native")
    return (dims[0], 1) if len(dims) == 1 else tuple(dims)


# ---------------------------------------------------------------------------------------------
# The timing and access model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleSimLayer:
    """SCALE-Sim 3.0.0's results for one topology row, in closed form.

    Cycles in cycles, accesses in elements (SCALE-Sim words), ratios in [0, 1]. ``sram_cycles``
    gives, per operand, the first and last cycle the array reads (ifmap, filter) or writes (ofmap)
    its SRAM; ``tensor_elements`` is the size of each tensor, what moves to or from DRAM when
    each moves once.
    """

    row: TopologyRow
    row_folds: int
    col_folds: int
    fold_cycles: int
    cycles: int  # SCALE-Sim's "Total Cycles"
    macs: int
    sram_reads: dict[str, int]  # ifmap, filter
    ofmap_writes: int
    sram_cycles: dict[str, tuple[int, int]]
    tensor_elements: dict[str, int]  # ifmap, filter, ofmap
    utilization: float  # MACs / (PEs x cycles): SCALE-Sim's "Overall Util"
    mapping_efficiency: float  # mean over folds of the PEs mapped
    compute_utilization: float  # mean over folds of MACs / (PEs x fold length)

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds


def model_row(row: TopologyRow, array_rows: int, array_cols: int, dataflow: str) -> ScaleSimLayer:
    """SCALE-Sim 3.0.0's cycles, SRAM accesses and utilizations for ``row`` (no memory stalls)."""
    df = DATAFLOW_STRATEGIES[dataflow]
    h, w = array_rows, array_cols
    dims = {"m": row.pixels, "k": row.window, "n": row.filters}
    rows_dim, cols_dim, t = dims[df.rows], dims[df.cols], dims[df.stream]
    row_folds, col_folds = math.ceil(rows_dim / h), math.ceil(cols_dim / w)
    folds = row_folds * col_folds
    fold_cycles = t + h + w - 2 if dataflow == "os" else 2 * h + w + t - 2
    cycles = folds * fold_cycles - 1
    macs = row.pixels * row.window * row.filters
    access = df.sram_accesses(dims, h, w)
    # SRAM windows. Demand line l is issued at cycle l, read data is back at l + 1. The first fold
    # opens a window and the last closes it; r0 / r_last are the array rows holding data in the
    # first / last fold, c_last the array columns in the last fold.
    last = (folds - 1) * fold_cycles  # first cycle of the last fold
    r0, r_last, c_last = min(h, rows_dim), rows_dim - (row_folds - 1) * h, cols_dim - (col_folds - 1) * w
    ifmap_stop = _last_ifmap_read(row, dataflow, h, w, fold_cycles, row_folds, col_folds)
    if dataflow == "os":  # both inputs stream skewed from line 0; the outputs drain bottom row first
        windows = {"ifmap": (1, ifmap_stop), "filter": (1, last + t + c_last - 1),
                   "ofmap": (t + h - 1 - r0, last + t + h + c_last - 3)}  # fmt: skip
        measured = fold_cycles
    else:  # the stationary block loads bottom row first over H_a lines, then the other input streams
        stationary, streamed = (h - r0 + 1, last + h), (h + 1, last + h + t + r_last - 1)
        ws = dataflow == "ws"
        windows = {"ifmap": ((streamed if ws else stationary)[0], ifmap_stop), "filter": stationary if ws else streamed,
                   "ofmap": (2 * h - 1, last + 2 * h + t + c_last - 3)}  # fmt: skip
        measured = fold_cycles + w - 1  # SCALE-Sim times ws/is folds on the stationary demand, skewed
    # Over all folds the mapped PEs sum to rows_dim * cols_dim, so the per-fold means close up.
    mapped = rows_dim * cols_dim / (folds * h * w)
    return ScaleSimLayer(
        row=row, row_folds=row_folds, col_folds=col_folds, fold_cycles=fold_cycles, cycles=cycles, macs=macs,
        sram_reads={"ifmap": access["ifmap"], "filter": access["filter"]}, ofmap_writes=access["ofmap"],
        sram_cycles=windows,
        tensor_elements={"ifmap": row.ifmap_h * row.ifmap_w * row.channels,
                         "filter": row.filter_h * row.filter_w * row.channels * row.filters,
                         "ofmap": row.pixels * row.filters},
        utilization=macs / (max(cycles, 1) * h * w), mapping_efficiency=mapped,  # 0 cycles: 1x1 array, T = 1
        compute_utilization=mapped * t / measured,
    )  # fmt: skip


def _last_ifmap_read(row: TopologyRow, dataflow: str, h: int, w: int, fold_cycles: int, row_folds: int,
                     col_folds: int) -> int:  # fmt: skip
    """Cycle of the last ifmap SRAM read.

    With SCALE-Sim's ceil output size the last windows may reach past the input, where its ifmap
    operand holds no address, so those reads are not accesses and the last one can come before
    the end of the last fold, or in an earlier fold (folds run column fold by column fold, row
    folds inside). Window element ``j`` is ``(row, col, channel)`` in row-major order; an output
    pixel sees ``rows_in x cols_in`` of its window.
    """
    c, span = row.channels, row.filter_w * row.channels
    oy, ox = np.divmod(np.arange(row.pixels), row.ofmap_w)
    rows_in = np.clip(row.ifmap_h - oy * row.stride_h, 0, row.filter_h)
    cols_in = np.clip(row.ifmap_w - ox * row.stride_w, 0, row.filter_w)
    pixel = np.flatnonzero((rows_in > 0) & (cols_in > 0))  # pixels that read anything
    rows_in, cols_in = rows_in[pixel], cols_in[pixel]
    top = (rows_in - 1) * span + cols_in * c - 1  # their last window element inside the input
    if dataflow == "ws":  # pixels in time; the last fold's window elements on the array rows, skewed
        k0 = (row_folds - 1) * h
        inside = top >= k0  # pixel 0 reads its whole window, so this is never empty
        return (row_folds * col_folds - 1) * fold_cycles + 1 + h + int(np.max(pixel[inside] + top[inside] - k0))
    for fold in range(row_folds * col_folds - 1, -1, -1):
        col_fold, row_fold = divmod(fold, row_folds)
        if dataflow == "os":  # the fold's pixels on the array rows, skewed; window elements in time
            mine = (pixel >= row_fold * h) & (pixel < (row_fold + 1) * h)
            if mine.any():
                return fold * fold_cycles + 1 + int(np.max(top[mine] + pixel[mine] - row_fold * h))
        else:  # is: the stationary block enters bottom array row first: its lowest element read is last
            k0 = row_fold * h
            r, col = k0 // span, k0 % span // c
            mine = (pixel >= col_fold * w) & (pixel < (col_fold + 1) * w) & (r < rows_in)
            first = np.where(col < cols_in, k0, (r + 1) * span)[mine & ((col < cols_in) | (r + 1 < rows_in))]
            if first.size and first.min() < k0 + h:
                return fold * fold_cycles + h - int(first.min() - k0)
    raise AssertionError("pixel 0 reads its whole window in the first fold")


def model_network(network: Network, config: AccelConfig) -> list[tuple[Node, ScaleSimLayer, int]]:
    """Every array layer of ``network`` as (node, its SCALE-Sim row's results, number of such rows)."""
    layers = []
    for node in network:
        mapped = node_row(node)
        if mapped is not None:
            row, count = mapped
            layers.append((node, model_row(row, config.rows, config.cols, config.dataflow), count))
    return layers
