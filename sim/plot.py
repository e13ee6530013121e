"""Per-layer chart of a simulation report: cycles (compute, DRAM stall, overhead) and utilization."""

from __future__ import annotations

from sim.plot_style import pyplot, save_png, si_axes
from sim.report import NetworkReport


def plot_layers(report: NetworkReport, path: str) -> None:
    """Stacked bars of compute, DRAM stall and overhead cycles per layer, utilization (%) on a
    second axis."""
    plt = pyplot()
    names = [r.name for r in report.layers]
    compute = [r.compute_cycles for r in report.layers]
    dram = [r.dram_stall_cycles for r in report.layers]
    overhead = [r.overhead_cycles for r in report.layers]
    util = [100 * r.utilization for r in report.layers]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(names)), 4.5))
    x = range(len(names))
    ax.bar(x, compute, label="compute cycles", color="tab:blue")
    ax.bar(x, dram, bottom=compute, label="DRAM stall cycles", color="tab:orange")
    ax.bar(x, overhead, bottom=[c + d for c, d in zip(compute, dram)], label="overhead cycles", color="tab:gray")
    ax.set_ylabel("cycles")
    ax.set_xticks(list(x), names, rotation=90, fontsize=7)
    ax.set_xlim(-0.6, len(names) - 0.4)
    si_axes(ax, x=False)
    ax2 = ax.twinx()
    ax2.plot(list(x), util, "k.-", label="utilization (%)")
    ax2.set_ylabel("utilization (%)")
    ax2.set_ylim(0, 105)
    cfg = report.config
    ax.set_title(f"{report.network}: {cfg['rows']}x{cfg['cols']} {cfg['dataflow'].upper()}, "
                 f"{report.total['cycles']:,} cycles", pad=24)  # fmt: skip
    # The legend sits in a row between the title and the axes, never on the bars.
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="lower center", bbox_to_anchor=(0.5, 1.0),
              ncol=4, fontsize=8, frameon=False)  # fmt: skip
    save_png(fig, path)
