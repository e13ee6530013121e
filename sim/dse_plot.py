"""Plots of a design-space sweep: latency against energy and against area, by dataflow."""

from __future__ import annotations

from pathlib import Path

from accel.dse import SweepResult
from accel.pareto import pareto_mask
from sim.plot_style import annotate_apart, plain, pyplot, save_png, si, si_axes

COLORS = {"ws": "tab:blue", "os": "tab:orange", "is": "tab:green"}
LABELS = {
    "ws": "weight-stationary",
    "os": "output-stationary",
    "is": "input-stationary",
}
AXES = {
    "latency_ms": "latency per inference (ms)",
    "energy_uj": "energy per inference (µJ)",
    "area_mm2": "area (mm²)",
}
MAX_LABELS = 12  # front points named on the chart; the rest are in pareto.csv
# Design-point fields beyond the array shape and dataflow: (fields, label text, title text).
# A label shows only the fields the sweep varies; the fixed ones go once into the title.
DETAILS = (
    (("ifmap_kib", "filter_kib", "ofmap_kib"),
     lambda r: f"{r['ifmap_kib']}/{r['filter_kib']}/{r['ofmap_kib']} KiB",
     lambda r: f"SRAM ifmap/filter/ofmap {r['ifmap_kib']}/{r['filter_kib']}/{r['ofmap_kib']} KiB"),
    (("buffering",), lambda r: f"buf {r['buffering']}", lambda r: f"buffering {r['buffering']}"),
    (("dram_bandwidth",), lambda r: f"{si(r['dram_bandwidth'])} B/cyc",
     lambda r: f"DRAM {si(r['dram_bandwidth'])} B/cycle"),
    (("dram_latency",), lambda r: f"lat {r['dram_latency']}", lambda r: f"latency {r['dram_latency']} cycles"),
    (("clock_mhz",), lambda r: f"{plain(r['clock_mhz'])} MHz", lambda r: f"{plain(r['clock_mhz'])} MHz"),
)  # fmt: skip


def varying_details(rows: list[dict]) -> tuple[tuple, tuple]:
    """Split :data:`DETAILS` into the entries whose fields differ between ``rows`` and the fixed ones."""
    varying = tuple(d for d in DETAILS if any(len({r[f] for r in rows}) > 1 for f in d[0]))
    return varying, tuple(d for d in DETAILS if d not in varying)


def point_label(row: dict, details: tuple = DETAILS[:1]) -> str:
    """A design point in a few characters: '16x32 WS 64/64/32 KiB' (``details``: which extra fields)."""
    return " ".join([f"{row['rows']}x{row['cols']} {row['dataflow'].upper()}", *(d[1](row) for d in details)])


def plot_front(result: SweepResult, y: str, path: str | Path) -> None:
    """Scatter of every successful point, latency on x and ``y`` on the y axis (log-log).

    Points are coloured by dataflow; the points no other point beats in both latency and ``y``
    are ringed in black, joined by the front's staircase and named (up to :data:`MAX_LABELS`).
    """
    import numpy as np

    plt = pyplot()
    rows = result.ok
    varying, fixed = varying_details(rows)
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    if rows:
        xy = np.array([[r["latency_ms"], r[y]] for r in rows], dtype=float)
        flows = np.array([r["dataflow"] for r in rows])
        for flow in [f for f in COLORS if f in set(flows)]:
            sel = flows == flow
            ax.scatter(xy[sel, 0], xy[sel, 1], s=18, alpha=0.6, color=COLORS[flow], label=LABELS[flow], linewidths=0, zorder=4)
        on_front = np.flatnonzero(pareto_mask(xy))
        on_front = on_front[np.lexsort((xy[on_front, 1], xy[on_front, 0]))]
        front = xy[on_front]
        ax.step(front[:, 0], front[:, 1], where="post", color="black", linewidth=1.0, label="Pareto front (ringed)")
        ax.scatter(front[:, 0], front[:, 1], s=40, facecolors="none", edgecolors="black", linewidths=1.2, zorder=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        si_axes(ax, label=plain)  # the units (ms, µJ, mm²) carry the prefix
        _name_front(ax, [point_label(rows[i], varying) for i in on_front], front)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.text(0.5, 0.5, "no successful design points", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(AXES["latency_ms"])
    ax.set_ylabel(AXES[y])
    failed = len(result.failed)
    title = f"{result.network}: {len(rows)} design points ({result.mode})" + (f", {failed} failed" if failed else "")
    if fixed and rows:
        title += "\nall with " + ", ".join(d[2](rows[0]) for d in fixed)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    save_png(fig, path)


def _name_front(ax, labels: list[str], front) -> None:
    """Name up to :data:`MAX_LABELS` front points, spread evenly along the front, apart from each other."""
    import numpy as np

    picks = np.unique(np.linspace(0, len(labels) - 1, min(len(labels), MAX_LABELS)).round().astype(int))
    annotate_apart(ax, [(tuple(front[i]), labels[i]) for i in picks])


def plot_sweep(result: SweepResult, directory: str | Path) -> list[Path]:
    """Write ``pareto_latency_energy.png`` and ``pareto_latency_area.png`` to ``directory``."""
    directory = Path(directory)
    paths = [
        directory / "pareto_latency_energy.png",
        directory / "pareto_latency_area.png",
    ]
    plot_front(result, "energy_uj", paths[0])
    plot_front(result, "area_mm2", paths[1])
    return paths
