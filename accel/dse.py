"""Design-space exploration: sweep accelerator configurations, cost each one, find Pareto fronts.

A :class:`Sweep` is a grid: every combination of the values listed per config field, the other
fields taken from a base :class:`~accel.config.AccelConfig`. :func:`run_sweep` evaluates each
point on a network (all its layers) and returns a :class:`SweepResult`: one row per point with
cycles, latency, energy (by category), area, utilization and DRAM traffic, or the reason the
point failed (a buffer too small for some layer). Its Pareto front minimises latency, energy and
area together.

How a point is evaluated
------------------------
The network is lowered once (:class:`Workload`): identical layers (same GEMM shape and buffer
needs, e.g. VGG's repeated 3x3 convs) are evaluated once and counted with their multiplicity.
By default the closed-form model runs in the kernels of :mod:`accel.dse_kernel` (all layers of
a point in one compiled call of the tiler of :mod:`accel.tile_kernel`, reused while only the
DRAM timing changes, and one of the closed form; equal to ``accel.tiling`` + ``accel.analytic``
by a tested contract). With ``timer=`` each layer is instead tiled by ``accel.tiling.schedule`` and timed by
the given function, e.g. ``sim.engine.run_layer`` for the cycle-level engine (``sim dse --mode
cycle``) or ``accel.analytic.layer_timing`` for the NumPy reference path.

Where it runs
-------------
``workers=1`` evaluates in this process; ``workers=N`` in a local pool of N processes;
``scheduler="tcp://host:port"`` (or ``client=`` a ``dask.distributed.Client``) on a Dask
cluster. Points travel in batches (a task evaluates many points) and the lowered network is
sent to each worker once, so the overhead per point is tens of microseconds.

Resuming
--------
With ``store=DIR`` every finished point is appended to ``DIR/journal.jsonl`` (one JSON line per
point, flushed as each batch completes) and ``DIR/sweep.json`` records what the results depend
on (network, timing model, energy and area tables). Running the same sweep again reads the
journal and evaluates only the points it lacks, so an interrupted sweep loses at most the batches
in flight; a sweep over a larger grid reuses the points it shares with the journal.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import fcntl
import hashlib
import io
import itertools
import json
import math
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accel.analytic import cycle_range_error, schedule_traffic
from accel.area import AreaTable, FpgaCache, asic_area
from accel.config import FIELD_NAMES, AccelConfig, ConfigError
from accel.files import OutputError, write_atomic
from accel.dse_kernel import (
    S_BEATS,
    S_COMMANDS,
    S_COMPUTE,
    S_CYCLES,
    S_FILTER_READS,
    S_IFMAP_READS,
    S_LOAD_FILTER,
    S_LOAD_IFMAP,
    S_OFMAP_READS,
    S_OFMAP_WRITES,
    S_PE_OPS,
    S_TILES,
    S_WRITEBACK,
    STAT_FIELDS,
    evaluate_ops,
)
from accel.tile_kernel import O_MAX_MODE, O_VECTOR, encode_op
from accel.energy import CATEGORIES, Actions, EnergyTable, energy
from accel.lowering import Op, lower_network
from accel.pareto import pareto_mask
from accel.tiling import MappingError, schedule
from workloads.errors import UserError
from workloads.network import Network

#: Short names accepted for sweep axes.
ALIASES = {
    "bandwidth": "dram_bandwidth",
    "latency": "dram_latency",
    "clock": "clock_mhz",
}
_FLOAT_FIELDS = ("dram_bandwidth", "clock_mhz")

#: Objectives of the Pareto front (all minimised).
OBJECTIVES = ("latency_ms", "energy_uj", "area_mm2")

#: Columns of a result row, in CSV order. Energy in uJ per inference, area in mm^2, DRAM in bytes.
METRICS = (
    "status", "error", "pes", "cycles", "compute_cycles", "stall_cycles", "latency_ms", "utilization", "macs",
    "energy_uj", *(f"energy_{c}_uj" for c in CATEGORIES), "area_mm2", "dram_bytes", "dram_ifmap_bytes",
    "dram_filter_bytes", "dram_ofmap_bytes", "sram_accesses", "tiles",
)  # fmt: skip
COLUMNS = (*FIELD_NAMES, *METRICS)

JOURNAL = "journal.jsonl"
IDENTITY = "sweep.json"


class SweepError(UserError):
    """A sweep that cannot run as asked (bad axis, store of another sweep, missing Dask)."""


# ---------------------------------------------------------------------------------------------
# The sweep grid
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """Every combination of ``axes`` values, the other config fields from ``base``.

    Parameters
    ----------
    axes : mapping of str to sequence
        Config field name (or ``bandwidth``/``latency``/``clock``) to the values it takes, e.g.
        ``{"rows": [16, 32], "dataflow": ["ws", "os"], "bandwidth": [8.0, 16.0]}``. The first
        axis varies slowest. Repeated values are dropped.
    base : AccelConfig
        Values of the fields that are not swept.

    Each value is checked against ``base`` when the sweep is made (``rows=0`` is an error here);
    a combination that is invalid only together (``acc_bits`` below ``input_bits``) is recorded
    as a failed point.
    """

    axes: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    base: AccelConfig = field(default_factory=AccelConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.base, AccelConfig):
            raise SweepError(f"base must be an AccelConfig, not {type(self.base).__name__}")
        clean: dict[str, tuple] = {}
        for name, values in dict(self.axes).items():
            key = ALIASES.get(name, name)
            if key not in FIELD_NAMES:
                raise SweepError(f"cannot sweep {name!r}: not a config field; fields are {', '.join(FIELD_NAMES)}")
            if key in clean:
                raise SweepError(f"axis {key!r} is given twice")
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                values = [values]
            unique: list = []
            for value in values:
                if key in _FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                try:
                    self.base.replace(**{key: value})
                except ConfigError as err:
                    raise SweepError(f"sweep axis {key}: {err}") from None
                if value not in unique:
                    unique.append(value)
            if not unique:
                raise SweepError(f"sweep axis {key} has no values; give at least one")
            clean[key] = tuple(unique)
        object.__setattr__(self, "axes", clean)

    def __len__(self) -> int:
        return math.prod(len(v) for v in self.axes.values())

    def points(self) -> Iterator[tuple]:
        """Every point as a tuple of config values in :data:`~accel.config.FIELD_NAMES` order."""
        base = self.base.to_dict()
        names = list(self.axes)
        slots = [FIELD_NAMES.index(n) for n in names]
        template = [base[n] for n in FIELD_NAMES]
        for combo in itertools.product(*self.axes.values()):
            values = list(template)
            for slot, value in zip(slots, combo):
                values[slot] = value
            yield tuple(values)

    def configs(self) -> Iterator[AccelConfig]:
        """Every point as an :class:`AccelConfig` (invalid combinations raise ConfigError)."""
        for values in self.points():
            yield AccelConfig(*values)

    def to_dict(self) -> dict:
        return {
            "axes": {k: list(v) for k, v in self.axes.items()},
            "base": self.base.to_dict(),
        }


# ---------------------------------------------------------------------------------------------
# The network, lowered once
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """A network lowered once for sweeps: its distinct layers, encoded, with multiplicities.

    Small (a few KB) and picklable: it is what a worker receives once per sweep.
    """

    name: str
    ops: np.ndarray  # (distinct layers, OP_FIELDS) int64, see accel.tile_kernel.encode_op
    counts: np.ndarray  # how many layers of the network each row stands for
    layer_ops: tuple[Op, ...]  # the lowered layer of each row (first of its kind)
    macs: int
    fingerprint: str
    # Weights that turn summed layer counters into energy actions (see accel.energy).
    w_array: np.ndarray = field(init=False, repr=False)
    w_mac: np.ndarray = field(init=False, repr=False)
    w_max: np.ndarray = field(init=False, repr=False)
    w_vector: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        vector = self.ops[:, O_VECTOR] == 1
        max_mode = (self.ops[:, O_MAX_MODE] == 1) & ~vector
        object.__setattr__(self, "w_array", self.counts * ~vector)
        object.__setattr__(self, "w_mac", self.counts * (~vector & ~max_mode))
        object.__setattr__(self, "w_max", self.counts * max_mode)
        object.__setattr__(self, "w_vector", self.counts * vector)

    @classmethod
    def from_network(cls, network: Network) -> Workload:
        rows: dict[bytes, int] = {}
        encoded: list[np.ndarray] = []
        counts: list[int] = []
        layer_ops: list[Op] = []
        macs = 0
        for node, op in lower_network(network):
            if op is None:
                continue
            row = encode_op(op, node.macs)
            macs += node.macs
            key = row.tobytes()
            if key in rows:
                counts[rows[key]] += 1
                continue
            rows[key] = len(encoded)
            encoded.append(row)
            counts.append(1)
            layer_ops.append(op)
        if not encoded:
            raise SweepError(f"network {network.name!r} has no layer that runs on the accelerator")
        ops = np.stack(encoded)
        count_arr = np.asarray(counts, dtype=np.int64)
        digest = hashlib.sha256(ops.tobytes() + count_arr.tobytes()).hexdigest()[:16]
        return cls(network.name, ops, count_arr, tuple(layer_ops), macs, digest)

    @property
    def layers(self) -> int:
        """Layers of the network that run on the accelerator."""
        return int(self.counts.sum())


# ---------------------------------------------------------------------------------------------
# Evaluating one point
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """Everything a worker needs besides the points (sent once per worker)."""

    workload: Workload
    energy: EnergyTable
    area: AreaTable
    timer: Callable | None


def _failed_row(values: tuple, reason: str) -> dict:
    row = dict(zip(FIELD_NAMES, values))
    row.update({m: None for m in METRICS})
    row["status"] = "failed"
    row["error"] = reason
    return row


def _mapping_error(op: Op, config: AccelConfig) -> str:
    """The message accel.tiling gives for a layer that does not fit (as ``sim run`` prints it)."""
    try:
        schedule(op, config)
    except MappingError as err:
        return str(err)
    raise AssertionError(f"DSE kernel and accel.tiling disagree on whether layer {op.name!r} fits {config}")


def _cycle_range_error(workload: Workload, stats: np.ndarray, config: AccelConfig) -> str:
    """The first layer whose cycles could pass the engines' int64 range (its kernel counters saturated)."""
    for op, row in zip(workload.layer_ops, stats):
        error = cycle_range_error(op.name, int(row[S_BEATS]), int(row[S_COMMANDS]), int(row[S_COMPUTE]),
                                  config.dram_bandwidth, config.dram_latency, int(row[S_TILES]), config.rows)  # fmt: skip
        if error:
            return error
    return ""


def _schedule_stats(workload: Workload, config: AccelConfig, timer: Callable) -> tuple[np.ndarray, int, str]:
    """Layer counters through accel.tiling + ``timer`` (reference and cycle-level paths)."""
    out = np.zeros((len(workload.layer_ops), STAT_FIELDS), dtype=np.int64)
    for i, op in enumerate(workload.layer_ops):
        try:
            sched = schedule(op, config)
        except MappingError as err:
            return out, i, str(err)
        beats, transfers = schedule_traffic(sched)
        too_long = cycle_range_error(op.name, beats, transfers, int(sched.compute.sum()), config.dram_bandwidth,
                                     config.dram_latency, sched.count, sched.rows)  # fmt: skip
        if too_long:
            return out, i, too_long
        t = timer(sched, config.dram_bandwidth, config.dram_latency)
        out[i] = [
            t.cycles, t.compute_cycles, t.dram_busy_cycles, sched.sram["ifmap_reads"], sched.sram["filter_reads"],
            sched.sram["ofmap_reads"], sched.sram["ofmap_writes"], int(sched.load_ifmap.sum()),
            int(sched.load_filter.sum()), int(sched.writeback.sum()), sched.pe_ops, sched.folds,
            sched.mapped_cycles, sched.count, beats, transfers,
        ]  # fmt: skip
    return out, -1, ""


def evaluate_point(ctx: _Context, values: tuple) -> dict:
    """One result row for the config ``values`` (a tuple in FIELD_NAMES order)."""
    try:
        config = AccelConfig(*values)
    except ConfigError as err:
        return _failed_row(values, str(err))
    wl = ctx.workload
    if ctx.timer is None:
        stats, failed = evaluate_ops(wl.ops, config)
        if failed >= 0:
            return _failed_row(values, _mapping_error(wl.layer_ops[failed], config))
        too_long = _cycle_range_error(wl, stats, config)
        if too_long:
            return _failed_row(values, too_long)
    else:
        stats, failed, reason = _schedule_stats(wl, config, ctx.timer)
        if failed >= 0:
            return _failed_row(values, reason)
    total = wl.counts @ stats
    array = wl.w_array @ stats
    stationary_col = {"ws": S_FILTER_READS, "is": S_IFMAP_READS, "os": S_OFMAP_WRITES}[config.dataflow]
    actions = Actions(
        mac_ops=int(wl.w_mac @ stats[:, S_PE_OPS]),
        compare_ops=int(wl.w_max @ stats[:, S_PE_OPS]),
        vector_ops=int(wl.w_vector @ stats[:, S_IFMAP_READS]),
        stationary_loads=int(array[stationary_col]),
        ifmap_reads=int(total[S_IFMAP_READS]),
        filter_reads=int(total[S_FILTER_READS]),
        ofmap_reads=int(total[S_OFMAP_READS]),
        ofmap_writes=int(total[S_OFMAP_WRITES]),
        ifmap_fill_bytes=int(total[S_LOAD_IFMAP]),
        filter_fill_bytes=int(total[S_LOAD_FILTER]),
        dram_bytes=int(total[S_LOAD_IFMAP] + total[S_LOAD_FILTER] + total[S_WRITEBACK]),
    )
    pj = energy(actions, config, ctx.energy)
    cycles = int(total[S_CYCLES])
    compute = int(total[S_COMPUTE])
    pe_ops = int(total[S_PE_OPS])
    row = dict(zip(FIELD_NAMES, values))
    row.update(
        status="ok", error="", pes=config.pes, cycles=cycles, compute_cycles=compute, stall_cycles=cycles - compute,
        latency_ms=cycles / (config.clock_mhz * 1e3), utilization=pe_ops / (config.pes * cycles) if cycles else 0.0,
        macs=wl.macs, energy_uj=pj["total"] * 1e-6,
    )  # fmt: skip
    for category in CATEGORIES:
        row[f"energy_{category}_uj"] = pj[category] * 1e-6
    row.update(
        area_mm2=asic_area(config, ctx.area)["total"], dram_bytes=actions.dram_bytes,
        dram_ifmap_bytes=actions.ifmap_fill_bytes, dram_filter_bytes=actions.filter_fill_bytes,
        dram_ofmap_bytes=int(total[S_WRITEBACK]),
        sram_accesses=actions.ifmap_reads + actions.filter_reads + actions.ofmap_reads + actions.ofmap_writes,
        tiles=int(total[S_TILES]),
    )  # fmt: skip
    return row


def _run_batch(ctx: _Context, batch: list[tuple]) -> list[dict]:
    return [evaluate_point(ctx, values) for values in batch]


# Process-pool workers keep the context in a global, set once by the pool initializer.
_WORKER_CONTEXT: _Context | None = None


def _init_worker(ctx: _Context, parent: int) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = ctx
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """End this worker when the sweep's process dies, even by SIGKILL (the out-of-memory killer).

    A forked worker shares the sweep's lock on ``DIR/.lock``; an orphan would hold it forever and
    no later run could resume the sweep.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _pool_batch(batch: list[tuple]) -> list[dict]:
    assert _WORKER_CONTEXT is not None
    return _run_batch(_WORKER_CONTEXT, batch)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def key_of(row: Mapping[str, Any]) -> tuple:
    """The point a result row belongs to: its config values in FIELD_NAMES order."""
    return tuple(row[name] for name in FIELD_NAMES)


@dataclass
class SweepResult:
    """Rows of a sweep in grid order, plus how many points this run evaluated.

    ``rows``: one dict per point with the keys of :data:`COLUMNS` (metrics ``None`` for failed
    points, whose ``error`` says why). ``evaluated``: points computed by this call; ``resumed``:
    points read back from the store's journal.
    """

    network: str
    rows: list[dict]
    evaluated: int = 0
    resumed: int = 0
    mode: str = "analytic"

    @property
    def ok(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == "ok"]

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] != "ok"]

    def pareto(self, objectives: Sequence[str] = OBJECTIVES) -> list[dict]:
        """The successful rows no other row beats in every one of ``objectives`` (all minimised)."""
        ok = self.ok
        if not ok:
            return []
        values = np.array([[r[o] for o in objectives] for r in ok], dtype=float)
        return [r for r, keep in zip(ok, pareto_mask(values)) if keep]

    def to_csv(self, rows: list[dict] | None = None, extra: Sequence[str] = ()) -> str:
        """CSV of ``rows`` (default: all), columns :data:`COLUMNS` (+ ``extra``); floats exact."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        columns = [*COLUMNS, *extra]
        writer.writerow(columns)
        for row in self.rows if rows is None else rows:
            writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in columns])
        return out.getvalue()

    def write(self, directory: str | Path, fpga: tuple[FpgaCache, str] | None = None) -> dict[str, Path]:
        """Write ``results.csv`` and ``pareto.csv`` to ``directory`` (atomically); return the paths.

        ``fpga=(cache, family)`` adds the cached FPGA resources of each configuration as
        ``fpga_*`` columns (empty for configurations not synthesized yet).
        """
        directory = Path(directory)
        extra: tuple[str, ...] = ()
        rows = self.rows
        if fpga is not None:
            cache, family = fpga
            looked_up: dict[tuple, dict] = {}
            rows = []
            for row in self.rows:
                key = key_of(row)
                if key not in looked_up:
                    try:
                        looked_up[key] = cache.resources(AccelConfig(*key), family)
                    except ConfigError:
                        looked_up[key] = {}
                rows.append({**row, **looked_up[key]})
            extra = tuple(f"fpga_{f}" for f in ("luts", "ffs", "dsp", "bram", "fmax_mhz"))
        pareto_keys = {key_of(r) for r in self.pareto()}
        paths = {
            "results": directory / "results.csv",
            "pareto": directory / "pareto.csv",
        }
        write_atomic(paths["results"], self.to_csv(rows, extra))
        write_atomic(
            paths["pareto"],
            self.to_csv([r for r in rows if key_of(r) in pareto_keys], extra),
        )
        return paths


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    return value


# ---------------------------------------------------------------------------------------------
# The resumable store
# ---------------------------------------------------------------------------------------------


class Store:
    """A sweep's directory: ``sweep.json`` (what results depend on) and ``journal.jsonl``.

    Holding a store takes an exclusive lock on ``DIR/.lock``, so two sweeps cannot write one
    journal. :meth:`append` writes each row as one line with one ``write`` call and flushes, so
    a killed sweep leaves whole lines (and at most one torn last line, which reading skips).
    """

    def __init__(self, directory: str | Path, identity: dict) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._journal = None
        self._lock = open(self.directory / ".lock", "w")  # noqa: SIM115 (held for the store's lifetime)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise SweepError(
                f"another sweep is writing to {self.directory}; wait for it or use another directory"
            ) from None
        ident_path = self.directory / IDENTITY
        journal = self.directory / JOURNAL
        if ident_path.exists():
            try:
                stored = json.loads(ident_path.read_text())
            except ValueError:
                stored = None
            differs = _identity_difference(stored, identity)
            if differs and journal.exists() and journal.stat().st_size > 0:
                self.close()
                raise SweepError(
                    f"{self.directory} holds results of another sweep ({differs} differs); "
                    f"use another output directory or delete {journal}"
                )
        write_atomic(ident_path, json.dumps(identity, indent=2, sort_keys=True) + "\n")
        self.journal_path = journal

    def read(self) -> dict[tuple, dict]:
        """Rows in the journal by point; a torn or foreign line is skipped."""
        rows: dict[tuple, dict] = {}
        if not self.journal_path.exists():
            return rows
        with open(self.journal_path, "rb") as f:  # bytes: a damaged line must not stop the reading
            for line in f:
                try:
                    row = json.loads(line)
                    rows[key_of(row)] = row
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
        return rows

    def append(self, rows: list[dict]) -> None:
        text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
        try:
            if self._journal is None:
                torn = (
                    self.journal_path.exists()
                    and self.journal_path.stat().st_size > 0
                    and not _ends_with_newline(self.journal_path)
                )
                self._journal = open(self.journal_path, "a")  # noqa: SIM115 (closed by close())
                if torn:
                    self._journal.write("\n")
            self._journal.write(text)
            self._journal.flush()
        except OSError as err:  # a full disk: the journal keeps the whole lines written so far
            raise OutputError(f"cannot write {self.journal_path}: {err.strerror or err}") from None

    def close(self) -> None:
        if self._journal is not None:
            with contextlib.suppress(OSError):  # a full disk was reported by append()
                self._journal.close()
            self._journal = None
        self._lock.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _identity_difference(stored: Any, current: dict) -> str:
    if not isinstance(stored, dict):
        return "sweep.json"
    labels = {"network": "the network", "fingerprint": "the network", "mode": "the timing mode",
              "energy": "the energy table", "area": "the area table",
              "columns": "the result columns (another version of the toolkit wrote it)"}  # fmt: skip
    for key, label in labels.items():
        if stored.get(key) != current.get(key):
            return label
    return ""


# ---------------------------------------------------------------------------------------------
# Running a sweep
# ---------------------------------------------------------------------------------------------


def timer_name(timer: Callable | None) -> str:
    """The mode name recorded for a timing function (``analytic`` for the DSE kernels)."""
    if timer is None:
        return "analytic"
    name = f"{timer.__module__}.{timer.__qualname__}"
    return {
        "sim.engine.run_layer": "cycle",
        "accel.analytic.layer_timing": "analytic-reference",
    }.get(name, name)


def run_sweep(
    network: Network | Workload,
    sweep: Sweep,
    *,
    store: str | Path | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any = None,
    timer: Callable | None = None,
    energy_table: EnergyTable | None = None,
    area_table: AreaTable | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Evaluate every point of ``sweep`` on ``network``.

    Parameters
    ----------
    network : Network or Workload
        The workload (lowered once here if a Network).
    sweep : Sweep
        The grid of configurations.
    store : path, optional
        Directory of the resumable journal (see the module docstring).
    workers : int
        Local processes (1: evaluate in this process).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:port``); needs ``dask[distributed]``.
    client : dask.distributed.Client, optional
        An existing Dask client (instead of ``scheduler``).
    timer : callable, optional
        ``f(schedule, bandwidth, latency) -> Timing`` per layer; ``None``: the analytic DSE
        kernels. ``sim.engine.run_layer`` gives cycle-level results.
    energy_table, area_table : optional
        Per-action energies and area figures (defaults: 45 nm tables, LPDDR4).
    batch_size : int, optional
        Points per task (default: about 16 tasks per worker, at most 256 points each).
    progress : callable, optional
        ``progress(done, total)`` after each finished batch (points, including resumed ones).

    Returns
    -------
    SweepResult
        One row per point, in grid order.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SweepError(f"workers must be a positive integer, not {workers!r}")
    if scheduler is not None and client is not None:
        raise SweepError("give either scheduler or client, not both")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise SweepError(f"batch_size must be a positive integer, not {batch_size!r}")
    workload = network if isinstance(network, Workload) else Workload.from_network(network)
    ctx = _Context(workload, energy_table or EnergyTable(), area_table or AreaTable(), timer)
    mode = timer_name(timer)
    points = list(sweep.points())
    total = len(points)
    done_rows: dict[tuple, dict] = {}
    journal: Store | None = None
    if store is not None:
        identity = {
            "network": workload.name, "fingerprint": workload.fingerprint, "mode": mode,
            "energy": ctx.energy.to_dict(), "area": ctx.area.to_dict(), "columns": list(COLUMNS),
            "sweep": sweep.to_dict(),
        }  # fmt: skip
        journal = Store(store, identity)
    try:
        if journal is not None:
            wanted = set(points)
            done_rows = {k: v for k, v in journal.read().items() if k in wanted}
        resumed = len(done_rows)
        todo = [p for p in points if p not in done_rows]

        def started() -> None:
            if progress is not None:
                progress(resumed, total)

        def finished(rows: list[dict]) -> None:
            if journal is not None:
                journal.append(rows)
            for row in rows:
                done_rows[key_of(row)] = row
            if progress is not None:
                progress(len(done_rows), total)

        if not todo:
            started()
        elif scheduler is not None or client is not None:
            _run_dask(ctx, todo, scheduler, client, batch_size, started, finished)
        elif workers == 1 or len(todo) == 1 or (timer is None and len(todo) < 64):  # a pool would not pay off
            started()
            for batch in _batches(todo, 1, batch_size):
                finished(_run_batch(ctx, batch))
        else:
            _run_pool(ctx, todo, workers, batch_size, started, finished)
    finally:
        if journal is not None:
            journal.close()
    rows = [done_rows[p] for p in points]
    return SweepResult(workload.name, rows, evaluated=total - resumed, resumed=resumed, mode=mode)


def _batches(todo: list[tuple], parallelism: int, batch_size: int | None) -> list[list[tuple]]:
    size = batch_size or max(1, min(256, -(-len(todo) // (16 * parallelism))))
    return [todo[i : i + size] for i in range(0, len(todo), size)]


def _run_pool(
    ctx: _Context,
    todo: list[tuple],
    workers: int,
    batch_size: int | None,
    started,
    finished,
) -> None:
    # Fork (where available) lets workers inherit the compiled kernels; the pool forks all its
    # workers at the first submit, before any result callback can start a thread here.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and sys.platform != "darwin" else None
    # The first point runs here: it compiles (or loads from the cache) the kernels once, and
    # forked workers inherit them instead of each loading them again.
    first = _run_batch(ctx, todo[:1])
    mp = multiprocessing.get_context(method)
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=mp, initializer=_init_worker, initargs=(ctx, os.getpid()))
    try:
        futures = [pool.submit(_pool_batch, batch) for batch in _batches(todo[1:], workers, batch_size)]
        started()  # only now may a progress display start its thread: the workers are forked
        finished(first)
        for future in concurrent.futures.as_completed(futures):
            finished(future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(
    ctx: _Context,
    todo: list[tuple],
    scheduler: str | None,
    client: Any,
    batch_size: int | None,
    started,
    finished,
) -> None:
    try:
        import distributed
    except ImportError:
        raise SweepError(
            "running on a Dask cluster needs dask.distributed: pip install 'systolic-toolkit[dask]'"
        ) from None
    own = client is None
    if own:
        _check_scheduler_address(scheduler)
        client = distributed.Client.__new__(distributed.Client)
        try:
            client.__init__(scheduler, timeout=10, set_as_default=False)
        except Exception as err:  # anything answering at that address that is not a Dask scheduler
            client.status = "closed"  # else its finalizer waits 20 s to close a connection never made
            raise SweepError(f"cannot use {scheduler} as a Dask scheduler ({err})") from None
    futures = []
    try:
        threads = sum(client.nthreads().values()) or 1
        shared = client.scatter(ctx, broadcast=True, hash=False)
        futures = [
            client.submit(_run_batch, shared, batch, pure=False) for batch in _batches(todo, threads, batch_size)
        ]
        started()
        for future in distributed.as_completed(futures, loop=client.loop):
            finished(future.result())
    finally:
        for future in futures:
            future.cancel()
        if own:
            client.close()


def _check_scheduler_address(scheduler: str | None) -> None:
    """Refuse an address Dask cannot parse or reach before a Client exists (a failed Client retries
    until its timeout, then hangs 20 s in cleanup)."""
    import socket

    from distributed.comm import parse_address, parse_host_port
    from distributed.comm.registry import backends

    scheme, location = parse_address(scheduler or "")
    if scheme not in backends or not location:
        raise SweepError(
            f"--scheduler {scheduler!r} is not a Dask scheduler address; give SCHEME://HOST:PORT with SCHEME one of "
            f"{', '.join(sorted(backends))}, e.g. tcp://host:8786"
        )
    if scheme not in ("tcp", "tls"):
        return
    try:
        host, port = parse_host_port(location)
        socket.create_connection((host, port), timeout=5).close()
    except (OSError, ValueError, TypeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or type(err).__name__
        raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {reason}") from None


def pareto_rows(rows: Iterable[dict], objectives: Sequence[str] = OBJECTIVES) -> list[dict]:
    """The successful rows of ``rows`` on the Pareto front of ``objectives`` (all minimised)."""
    return SweepResult("", list(rows)).pareto(objectives)


def evaluate(
    network: Network | Workload,
    config: AccelConfig,
    *,
    timer: Callable | None = None,
    energy_table: EnergyTable | None = None,
    area_table: AreaTable | None = None,
) -> dict:
    """The result row of one configuration (see :data:`COLUMNS`)."""
    workload = network if isinstance(network, Workload) else Workload.from_network(network)
    ctx = _Context(workload, energy_table or EnergyTable(), area_table or AreaTable(), timer)
    return evaluate_point(ctx, tuple(config.to_dict()[n] for n in FIELD_NAMES))


__all__ = [
    "COLUMNS", "OBJECTIVES", "Sweep", "SweepError", "SweepResult", "Workload", "evaluate", "pareto_rows",
    "run_sweep",
]  # fmt: skip
