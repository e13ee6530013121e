"""``sim dse``: sweep accelerator configurations on a network; results, Pareto front, plots.

Registered on the ``sim`` app by ``sim/cli.py``. Heavy imports (NumPy, Numba, Dask, matplotlib)
happen inside the command, so ``sim --help`` stays fast.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from sim.options import with_default
from sim.progress import Interrupted
from workloads.errors import UserError

Opt = typer.Option
MODES = ("analytic", "cycle")
FPGA_FAMILIES = ("ecp5", "ice40")


def parse_list(text: str | None, option: str, kind: type) -> list | None:
    """Values of a comma-separated option (``None`` when not given)."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UserError(f"{option} needs a comma-separated list of values such as 8,16,32, not {text!r}")
    values = []
    for item in items:
        try:
            if kind is int:
                value = int(item)
            elif kind is float:
                value = float(item)
                if math.isnan(value):
                    raise ValueError
            else:
                value = item.lower()
        except ValueError:
            what = "an integer" if kind is int else "a number" if kind is float else "a value"
            raise UserError(f"{option}: {item!r} is not {what}") from None
        values.append(value)
    return values


class _Rate:
    """Points per second over the whole run (steadier than rich's windowed speed)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first = None

    def text(self, done: int) -> str:
        if self.first is None:
            self.first = done
            self.start = time.perf_counter()
        elapsed = time.perf_counter() - self.start
        if elapsed < 0.5:
            return "- points/s"
        return f"{(done - self.first) / elapsed:,.0f} points/s"


class SweepProgress:
    """A progress bar on stderr (only on a terminal, not with --quiet): points done and points/s."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.bar = None
        self.task = None
        self.rate = _Rate()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:  # started lazily: after a local pool has forked its workers
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            columns = (TextColumn("points"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                       TimeElapsedColumn())  # fmt: skip
            self.bar = Progress(*columns, console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("", total=total)
        self.bar.update(self.task, completed=done, description=self.rate.text(done))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def dse_command(
    net: Annotated[
        str,
        typer.Argument(
            help="Zoo network name (see `sim list`) or a model file.",
            metavar="NET_OR_FILE",
        ),
    ],
    out: Annotated[
        str,
        Opt(
            "--out",
            "-o",
            help="Output directory (results, journal, plots).",
            metavar="DIR",
        ),
    ],
    rows: Annotated[
        Optional[str],
        Opt(help=with_default("PE array rows, e.g. 8,16,32,64.", "rows"), metavar="LIST"),
    ] = None,
    cols: Annotated[Optional[str], Opt(help=with_default("PE array columns.", "cols"), metavar="LIST")] = None,
    dataflow: Annotated[
        Optional[str],
        Opt(help=with_default("Dataflows: ws, os, is.", "dataflow"), metavar="LIST"),
    ] = None,
    ifmap_kib: Annotated[
        Optional[str],
        Opt(help=with_default("Ifmap SRAM sizes in KiB (two banks).", "ifmap_kib"), metavar="LIST"),
    ] = None,
    filter_kib: Annotated[
        Optional[str],
        Opt(help=with_default("Filter SRAM sizes in KiB.", "filter_kib"), metavar="LIST"),
    ] = None,
    ofmap_kib: Annotated[
        Optional[str],
        Opt(help=with_default("Accumulator SRAM sizes in KiB.", "ofmap_kib"), metavar="LIST"),
    ] = None,
    buffering: Annotated[
        Optional[str],
        Opt(help=with_default("Bufferings: double, whole (see sim run --help).", "buffering"), metavar="LIST"),
    ] = None,
    bandwidth: Annotated[
        Optional[str],
        Opt(help=with_default("DRAM bytes/cycle values ('inf': ideal).", "dram_bandwidth"), metavar="LIST"),
    ] = None,
    latency: Annotated[
        Optional[str],
        Opt(help=with_default("DRAM latency values in cycles.", "dram_latency"), metavar="LIST"),
    ] = None,
    clock_mhz: Annotated[
        Optional[str],
        Opt(help=with_default("Clock values in MHz.", "clock_mhz"), metavar="LIST"),
    ] = None,
    config_file: Annotated[
        Optional[str],
        Opt(
            "--config",
            help="Base accelerator config (TOML) for the fields not swept: replaces the defaults shown.",
            metavar="FILE",
        ),
    ] = None,
    batch: Annotated[int, Opt(help="Batch size N of the network input.")] = 1,
    mode: Annotated[str, Opt(help="analytic (closed form) or cycle (cycle-level engine).")] = "analytic",
    workers: Annotated[Optional[int], Opt(help="Local worker processes [default: CPUs].")] = None,
    scheduler: Annotated[
        Optional[str],
        Opt(help="Dask scheduler address, e.g. tcp://host:8786.", metavar="ADDR"),
    ] = None,
    chunk: Annotated[Optional[int], Opt(help="Design points per task [default: automatic].")] = None,
    dram: Annotated[
        Optional[str],
        Opt(help="DRAM energy preset: lpddr4, hbm2 or ddr3 [default: lpddr4]."),
    ] = None,
    energy_table: Annotated[Optional[str], Opt(help="Energy table (TOML), see docs/dse.md.", metavar="FILE")] = None,
    area_table: Annotated[Optional[str], Opt(help="Area table (TOML), see docs/dse.md.", metavar="FILE")] = None,
    fpga: Annotated[
        Optional[str],
        Opt(
            help="Add FPGA resources from the synthesis cache: ecp5 or ice40.",
            metavar="FAMILY",
        ),
    ] = None,
    fpga_cache: Annotated[
        Optional[str],
        Opt(help="Synthesis cache directory [default: DIR/fpga-cache].", metavar="CACHE"),
    ] = None,
    fpga_synth: Annotated[
        bool,
        Opt(
            "--fpga-synth",
            help="Synthesize the Pareto-front designs missing from the cache (slow).",
        ),
    ] = False,
    plots: Annotated[bool, Opt("--plots/--no-plots", help="Write the two Pareto plots.")] = True,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Design-space exploration: evaluate every combination of the listed values on a network.

    Writes DIR/results.csv (one row per design point; failed points with their reason),
    DIR/pareto.csv (the latency-energy-area front), DIR/pareto_latency_energy.png and
    DIR/pareto_latency_area.png. Every finished point is journaled in DIR/journal.jsonl: run the
    same command again after an interruption and only the missing points are evaluated.
    """
    from accel.area import AreaTable, FpgaCache
    from accel.config import AccelConfig
    from accel.dse import IDENTITY, JOURNAL, Sweep, run_sweep
    from accel.energy import EnergyTable
    from accel.files import check_output_dir
    from workloads.sources import load_network

    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    if workers is not None and scheduler is not None:
        raise UserError("give either --workers (local processes) or --scheduler (Dask cluster), not both")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be a positive integer, not {workers}")
    if chunk is not None and chunk < 1:
        raise UserError(f"--chunk must be a positive integer, not {chunk}")
    if fpga is not None and fpga not in FPGA_FAMILIES:
        raise UserError(f"--fpga must be one of {', '.join(FPGA_FAMILIES)}, not {fpga!r}")
    if (fpga_synth or fpga_cache) and fpga is None:
        raise UserError("--fpga-cache and --fpga-synth need --fpga FAMILY")
    axes = {
        "rows": parse_list(rows, "--rows", int), "cols": parse_list(cols, "--cols", int),
        "dataflow": parse_list(dataflow, "--dataflow", str), "ifmap_kib": parse_list(ifmap_kib, "--ifmap-kib", int),
        "filter_kib": parse_list(filter_kib, "--filter-kib", int), "ofmap_kib": parse_list(ofmap_kib, "--ofmap-kib", int),
        "buffering": parse_list(buffering, "--buffering", str),
        "dram_bandwidth": parse_list(bandwidth, "--bandwidth", float), "dram_latency": parse_list(latency, "--latency", int),
        "clock_mhz": parse_list(clock_mhz, "--clock-mhz", float),
    }  # fmt: skip
    out_dir = Path(out)
    # What the sweep (accel.dse) and its plots (sim.dse_plot) write into DIR.
    written = (JOURNAL, IDENTITY, "results.csv", "pareto.csv")
    written += ("pareto_latency_energy.png", "pareto_latency_area.png") if plots else ()
    for name in (JOURNAL, IDENTITY):  # read back to resume: a FIFO there would block the reading
        if (out_dir / name).exists() and not (out_dir / name).is_file():
            raise UserError(f"{out_dir / name} is not a regular file; remove it or choose another --out")
    check_output_dir(out_dir, "--out", written)
    if fpga_synth:
        check_output_dir(fpga_cache or out_dir / "fpga-cache", "--fpga-cache")
    base = AccelConfig.load(config_file) if config_file else AccelConfig()
    sweep = Sweep({k: v for k, v in axes.items() if v is not None}, base=base)
    etable = EnergyTable.load(energy_table) if energy_table else EnergyTable()
    if dram is not None:
        etable = etable.with_dram(dram)
    atable = AreaTable.load(area_table) if area_table else AreaTable()
    network = load_network(net).with_batch(batch)
    timer = None
    if mode == "cycle":
        from sim.engine import run_layer

        timer = run_layer
    bar = SweepProgress(quiet)
    started = time.perf_counter()
    try:
        result = run_sweep(
            network, sweep, store=out_dir, workers=workers or os.cpu_count() or 1, scheduler=scheduler, timer=timer,
            energy_table=etable, area_table=atable, batch_size=chunk, progress=bar,
        )  # fmt: skip
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; the finished points are in {out_dir / 'journal.jsonl'}: run the same command to resume"
        ) from None
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    fpga_arg = None
    if fpga is not None:
        cache = FpgaCache(fpga_cache or out_dir / "fpga-cache")
        if fpga_synth:
            synthesize_front(result.pareto(), fpga, cache, quiet)
        fpga_arg = (cache, fpga)
    paths = list(result.write(out_dir, fpga=fpga_arg).values())
    if plots:
        from sim.dse_plot import plot_sweep

        paths += plot_sweep(result, out_dir)
    _summary(result, elapsed, paths)


def synthesize_front(front: list[dict], family: str, cache, quiet: bool) -> None:
    """Synthesize (through rtl/) each Pareto-front hardware configuration missing from ``cache``."""
    import tempfile

    from accel.config import FIELD_NAMES, AccelConfig

    try:
        from rtl.generate import generate_core
    except ImportError as err:
        raise UserError(f"FPGA synthesis is not available: {err}") from None
    seen = set()
    err_console = Console(stderr=True)
    for row in front:
        config = AccelConfig(*(row[f] for f in FIELD_NAMES))
        if cache.get(config, family) is not None:
            continue
        key = cache.path(config, family)
        if key in seen:
            continue
        seen.add(key)
        if not quiet:
            err_console.print(
                f"synthesizing {config.rows}x{config.cols} {config.dataflow} for {family}",
                markup=False,
            )
        with tempfile.TemporaryDirectory() as tmp:
            info = generate_core(config, Path(tmp) / "core", synth=family)
        cache.put(config, family, info["synth_report"])


def _summary(result, elapsed: float, paths: list[Path]) -> None:
    from sim.tables import Column, FittedTable

    stdout = Console(width=None if sys.stdout.isatty() else 250)
    total = len(result.rows)
    rate = result.evaluated / elapsed * 60 if elapsed > 0 and result.evaluated else 0.0
    stdout.print(
        f"{result.network}: {total} design points ({result.mode} mode): {result.evaluated} evaluated "
        f"({rate:,.0f} points/min), {result.resumed} resumed from the journal, {len(result.failed)} failed",
        markup=False, highlight=False,
    )  # fmt: skip
    front = sorted(result.pareto(), key=lambda r: (r["latency_ms"], r["energy_uj"], r["area_mm2"]))
    if front:
        title = f"Pareto front (latency, energy, area): {len(front)} points" + (", first 20" if len(front) > 20 else "")
        columns = [Column("rows x\ncols", justify="left"), Column("data-\nflow", justify="left"),
                   Column("SRAM KiB\nif/f/of"), Column("DRAM\nB/cycle"), Column("latency\n(ms)"),
                   Column("energy\n(uJ)"), Column("area\n(mm2)"), Column("util.\n(%)")]  # fmt: skip
        rows = [[f"{r['rows']}x{r['cols']}", r["dataflow"], f"{r['ifmap_kib']}/{r['filter_kib']}/{r['ofmap_kib']}",
                 f"{r['dram_bandwidth']:g}", f"{r['latency_ms']:.3f}", f"{r['energy_uj']:,.1f}", f"{r['area_mm2']:.2f}",
                 f"{100 * r['utilization']:.1f}"] for r in front[:20]]  # fmt: skip
        marked = len({r["buffering"] for r in front}) > 1  # both tile policies on the front: mark one
        if marked:
            for row, r in zip(rows, front):
                row[1] += "*" if r["buffering"] == "whole" else ""
        stdout.print(FittedTable(columns, rows, title=title, key=2))
        if marked:
            stdout.print("*: buffering whole (tiles may take both banks of a buffer)", markup=False, highlight=False)
    reasons = {}
    for r in result.failed:
        reasons.setdefault(r["error"], 0)
        reasons[r["error"]] += 1
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])[:5]:
        stdout.print(f"failed ({count}): {reason}", markup=False, highlight=False)
    for path in paths:
        stdout.print(f"wrote {path}", markup=False, highlight=False)
