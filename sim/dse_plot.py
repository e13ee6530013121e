"""Plots of a design-space sweep: latency against energy and against area, by dataflow."""

from __future__ import annotations

from pathlib import Path

from accel.dse import SweepResult
from accel.pareto import pareto_mask
from sim.plot_style import plain, pyplot, save_png, si_axes

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


def point_label(row: dict) -> str:
    """A design point in a few characters: '16x32 WS 64/64/32 KiB'."""
    return (f"{row['rows']}x{row['cols']} {row['dataflow'].upper()} "
            f"{row['ifmap_kib']}/{row['filter_kib']}/{row['ofmap_kib']} KiB")  # fmt: skip


def plot_front(result: SweepResult, y: str, path: str | Path) -> None:
    """Scatter of every successful point, latency on x and ``y`` on the y axis (log-log).

    Points are coloured by dataflow; the points no other point beats in both latency and ``y``
    are ringed in black, joined by the front's staircase and named (up to :data:`MAX_LABELS`).
    """
    import numpy as np

    plt = pyplot()
    rows = result.ok
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    if rows:
        xy = np.array([[r["latency_ms"], r[y]] for r in rows], dtype=float)
        flows = np.array([r["dataflow"] for r in rows])
        for flow in [f for f in COLORS if f in set(flows)]:
            sel = flows == flow
            ax.scatter(xy[sel, 0], xy[sel, 1], s=12, alpha=0.55, color=COLORS[flow], label=LABELS[flow], linewidths=0)
        on_front = np.flatnonzero(pareto_mask(xy))
        on_front = on_front[np.lexsort((xy[on_front, 1], xy[on_front, 0]))]
        front = xy[on_front]
        ax.step(front[:, 0], front[:, 1], where="post", color="black", linewidth=1.0, label="Pareto front")
        ax.scatter(front[:, 0], front[:, 1], s=40, facecolors="none", edgecolors="black", linewidths=1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        _name_front(ax, [rows[i] for i in on_front], front)
        si_axes(ax, label=plain)  # the units (ms, µJ, mm²) carry the prefix
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.text(0.5, 0.5, "no successful design points", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(AXES["latency_ms"])
    ax.set_ylabel(AXES[y])
    failed = len(result.failed)
    ax.set_title(
        f"{result.network}: {len(rows)} design points ({result.mode})" + (f", {failed} failed" if failed else "")
    )
    ax.grid(True, which="major", alpha=0.3)
    save_png(fig, path)


def _name_front(ax, rows: list[dict], front) -> None:
    """Name front points (evenly spread along the front when it is long), away from each other."""
    import numpy as np

    picks = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), MAX_LABELS)).round().astype(int))
    ax.figure.canvas.draw()
    placed: list[tuple[float, float]] = []
    for i in picks:
        x, y = ax.transData.transform(front[i])
        if any(abs(x - px) < 110 and abs(y - py) < 12 for px, py in placed):
            continue
        placed.append((x, y))
        ax.annotate(point_label(rows[i]), front[i], xytext=(6, 4), textcoords="offset points", fontsize=7)


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
