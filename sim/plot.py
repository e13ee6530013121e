"""Plots of simulation reports (matplotlib, no display needed)."""

from __future__ import annotations

import io

from accel.files import write_atomic
from sim.report import NetworkReport


def plot_layers(report: NetworkReport, path: str) -> None:
    """Bar chart of cycles per layer (compute and stalls) with utilization on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in report.layers]
    compute = [r.compute_cycles for r in report.layers]
    stalls = [r.stall_cycles for r in report.layers]
    util = [100 * r.utilization for r in report.layers]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(names)), 4.5))
    x = range(len(names))
    ax.bar(x, compute, label="compute cycles", color="tab:blue")
    ax.bar(x, stalls, bottom=compute, label="stall cycles", color="tab:orange")
    ax.set_ylabel("cycles")
    ax.set_xticks(list(x), names, rotation=90, fontsize=7)
    ax2 = ax.twinx()
    ax2.plot(list(x), util, "k.-", label="utilization")
    ax2.set_ylabel("utilization (%)")
    ax2.set_ylim(0, 105)
    cfg = report.config
    ax.set_title(f"{report.network}: {cfg['rows']}x{cfg['cols']} {cfg['dataflow'].upper()}, "
                 f"{report.total['cycles']:,} cycles")  # fmt: skip
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
