"""Per-layer roofline: how close each layer comes to the array's compute roof or the DRAM roof.

Operational intensity is PE operations (MACs; compares or adds for pooling) per DRAM byte the
layer moves; performance is PE operations per cycle. The compute roof is one operation per PE
per cycle (``rows * cols``); the DRAM roof is ``bandwidth * intensity``. A layer left of the
ridge point (``rows * cols / bandwidth`` operations per byte) cannot reach the compute roof
however well it is scheduled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from sim.plot_style import annotate_apart, pyplot, save_png, si, si_axes


@dataclass(frozen=True)
class RooflinePoint:
    """One layer: ``intensity`` in PE ops per DRAM byte, ``performance`` in PE ops per cycle."""

    name: str
    kind: str  # the layer's type in the report: conv, linear, maxpool, ...
    intensity: float
    performance: float


@dataclass(frozen=True)
class Roofline:
    """The roofs of a configuration and the layers under them."""

    compute_roof: float  # PE ops per cycle: rows * cols
    bandwidth: float  # DRAM bytes per cycle (inf: ideal channel, no bandwidth roof)
    points: list[RooflinePoint]
    skipped: list[str]  # layers with no PE work or no DRAM traffic: no point on the chart

    @property
    def ridge(self) -> float:
        """Intensity (ops/byte) where the DRAM roof meets the compute roof (0 for an ideal channel)."""
        return self.compute_roof / self.bandwidth


def roofline(report: dict) -> Roofline:
    """The roofline of a simulation report (``NetworkReport.to_dict()``)."""
    cfg = report["config"]
    bandwidth = float(cfg["dram_bandwidth"])
    points, skipped = [], []
    for layer in report["layers"]:
        moved = layer["dram"]["total_bytes"]
        if layer["pe_ops"] == 0 or moved == 0 or layer["cycles"] == 0:
            skipped.append(layer["name"])
            continue
        points.append(RooflinePoint(layer["name"], layer["type"], layer["pe_ops"] / moved, layer["pe_ops"] / layer["cycles"]))
    return Roofline(cfg["rows"] * cfg["cols"], bandwidth, points, skipped)


# Colour and legend name of a layer type; other types share grey.
KINDS = {
    "conv": ("convolution", "tab:blue"),
    "conv_transpose": ("convolution", "tab:blue"),
    "linear": ("fully connected", "tab:orange"),
    "maxpool": ("pooling", "tab:green"),
    "avgpool": ("pooling", "tab:green"),
    "global_avgpool": ("pooling", "tab:green"),
}
OTHER = ("other layers", "tab:gray")


def plot_roofline(report: dict, path: str | Path) -> None:
    """Draw :func:`roofline` of ``report`` to a PNG at ``path``."""
    plt = pyplot()
    roof = roofline(report)
    cfg = report["config"]
    fig, ax = plt.subplots(figsize=(8.0, 5.5))
    xs = [p.intensity for p in roof.points] or [1.0]
    ys = [p.performance for p in roof.points] or [1.0]
    x_low = min(min(xs), roof.ridge if math.isfinite(roof.bandwidth) else min(xs)) / 3
    x_high = max(max(xs), roof.ridge if math.isfinite(roof.bandwidth) else max(xs)) * 3
    grid = [x_low * (x_high / x_low) ** (i / 200) for i in range(201)]
    if math.isfinite(roof.bandwidth):
        ax.plot(grid, [min(roof.compute_roof, roof.bandwidth * x) for x in grid], color="black", linewidth=1.5,
                label=f"roofs: {roof.compute_roof:,.0f} ops/cycle, {si(roof.bandwidth)} B/cycle")  # fmt: skip
        ax.axvline(roof.ridge, color="gray", linestyle=":", linewidth=1)
        # Above the compute roof no layer can be, so the ridge's name stays clear of theirs.
        ax.annotate(f"ridge {si(roof.ridge)} ops/B", (roof.ridge, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(4, -4), textcoords="offset points", va="top", fontsize=8, color="gray")  # fmt: skip
    else:
        ax.axhline(roof.compute_roof, color="black", linewidth=1.5,
                   label=f"compute roof: {roof.compute_roof:,.0f} ops/cycle (ideal DRAM)")  # fmt: skip
    for name, color in dict(KINDS.get(p.kind, OTHER) for p in roof.points).items():
        group = [p for p in roof.points if KINDS.get(p.kind, OTHER)[0] == name]
        ax.scatter([p.intensity for p in group], [p.performance for p in group], s=28, color=color, zorder=4,
                   label=f"{name} layers")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(min(ys) / 3, roof.compute_roof * 3)
    si_axes(ax)
    grouped = _label_points(ax, roof.points)
    ax.set_xlabel("operational intensity (PE ops per DRAM byte)")
    ax.set_ylabel("achieved performance (PE ops per cycle)")
    dram = (f"DRAM {si(roof.bandwidth)} B/cycle + {cfg['dram_latency']} cycles" if math.isfinite(roof.bandwidth)
            else "ideal DRAM")  # fmt: skip
    ax.set_title(f"{report['network']} roofline: {cfg['rows']}x{cfg['cols']} {cfg['dataflow'].upper()}, {dram}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    legend = ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if grouped:
        legend.set_title("'name +N more': N more layers\nclose by, not named", prop={"size": 7})
    if roof.skipped:
        fig.text(0.01, 0.005, f"not shown (no PE work or no DRAM traffic): {', '.join(roof.skipped)}", fontsize=7)
    save_png(fig, path)


def _label_points(ax, points: list[RooflinePoint]) -> bool:
    """Name the points; one within a label's size of a faster one joins its label as '+N more'.

    Returns whether any label stands for more than one point.
    """
    ax.figure.canvas.draw()  # fixes the transform after the limits are set
    clusters: list[list] = []  # [x, y, point, hidden] in display pixels
    for point in sorted(points, key=lambda p: -p.performance):
        x, y = ax.transData.transform((point.intensity, point.performance))
        near = next((c for c in clusters if abs(x - c[0]) < 70 and abs(y - c[1]) < 11), None)
        if near is None:
            clusters.append([x, y, point, 0])
        else:
            near[3] += 1
    names = [p.name + (f" +{n} more" if n else "") for _, _, p, n in clusters]
    annotate_apart(ax, [((p.intensity, p.performance), name) for (_, _, p, _), name in zip(clusters, names)])
    return any(hidden for *_, hidden in clusters)
