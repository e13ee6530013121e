"""Plots of a design-space sweep: latency against energy and against area, by dataflow."""

from __future__ import annotations

import io
from pathlib import Path

from accel.dse import SweepResult
from accel.pareto import pareto_mask
from accel.files import write_atomic

COLORS = {"ws": "tab:blue", "os": "tab:orange", "is": "tab:green"}
LABELS = {
    "ws": "weight-stationary",
    "os": "output-stationary",
    "is": "input-stationary",
}
AXES = {
    "latency_ms": "latency (ms)",
    "energy_uj": "energy per inference (uJ)",
    "area_mm2": "area (mm$^2$)",
}


def plot_front(result: SweepResult, y: str, path: str | Path) -> None:
    """Scatter of every successful point, latency on x and ``y`` on the y axis (log-log).

    Points are coloured by dataflow; the points no other point beats in both latency and ``y``
    are ringed in black and joined by the front's staircase.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = result.ok
    fig, ax = plt.subplots(figsize=(7.0, 5.0))
    if rows:
        xy = np.array([[r["latency_ms"], r[y]] for r in rows], dtype=float)
        flows = np.array([r["dataflow"] for r in rows])
        for flow in [f for f in COLORS if f in set(flows)]:
            sel = flows == flow
            ax.scatter(
                xy[sel, 0],
                xy[sel, 1],
                s=12,
                alpha=0.55,
                color=COLORS[flow],
                label=LABELS[flow],
                linewidths=0,
            )
        front = xy[pareto_mask(xy)]
        front = front[np.lexsort((front[:, 1], front[:, 0]))]
        ax.step(
            front[:, 0],
            front[:, 1],
            where="post",
            color="black",
            linewidth=1.0,
            label="Pareto front",
        )
        ax.scatter(
            front[:, 0],
            front[:, 1],
            s=40,
            facecolors="none",
            edgecolors="black",
            linewidths=1.2,
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=8, loc="upper right")
    else:
        ax.text(
            0.5,
            0.5,
            "no successful design points",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlabel(AXES["latency_ms"])
    ax.set_ylabel(AXES[y])
    failed = len(result.failed)
    ax.set_title(
        f"{result.network}: {len(rows)} design points ({result.mode})" + (f", {failed} failed" if failed else "")
    )
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


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
