"""Design-space exploration from Python: the fastest accelerator for each VGG variant under an
area budget, and what the lowest-energy design in the same budget costs in latency.

    python examples/dse_vgg_area_budget.py [--budgets 2.5,4] [--workers 2]

One sweep per network over array shape, dataflow, buffer sizes and DRAM bandwidth (analytic
model, 45 nm energy and area tables, LPDDR4); prints a markdown table (docs/dse.md shows it).
"""

from __future__ import annotations

import argparse
import time

from accel.dse import Sweep, run_sweep
from workloads.zoo import get_network

NETWORKS = ("vgg11", "vgg13", "vgg16", "vgg19")
SWEEP = Sweep({
    "rows": [8, 16, 32, 64, 128],
    "cols": [8, 16, 32, 64, 128],
    "dataflow": ["ws", "os", "is"],
    "ifmap_kib": [64, 128, 256],
    "filter_kib": [64, 128, 256],
    "ofmap_kib": [128, 256],
    "bandwidth": [8, 16, 32],
})  # fmt: skip


def describe(row: dict) -> str:
    return (f"{row['rows']}x{row['cols']} {row['dataflow'].upper()}, "
            f"{row['ifmap_kib']}/{row['filter_kib']}/{row['ofmap_kib']} KiB, {row['dram_bandwidth']:g} B/cycle")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--budgets",
        default="2.5,4",
        help="area budgets in mm^2 (45 nm estimate), comma-separated",
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    print(f"{len(SWEEP):,} design points per network.\n")
    print("| network | budget mm^2 | fastest design in budget | latency ms | energy mJ | area mm^2 | util |"
          " lowest-energy design in budget | latency ms | energy mJ |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    start = time.perf_counter()
    for name in NETWORKS:
        result = run_sweep(get_network(name), SWEEP, workers=args.workers)
        for budget in budgets:
            fits = [r for r in result.ok if r["area_mm2"] <= budget]
            if not fits:
                print(f"| {name} | {budget:g} | nothing fits | | | | | | | |")
                continue
            fast = min(fits, key=lambda r: (r["latency_ms"], r["energy_uj"]))
            frugal = min(fits, key=lambda r: (r["energy_uj"], r["latency_ms"]))
            print(f"| {name} | {budget:g} | {describe(fast)} | {fast['latency_ms']:.2f} | {fast['energy_uj'] / 1e3:.2f} | "
                  f"{fast['area_mm2']:.2f} | {100 * fast['utilization']:.0f}% | {describe(frugal)} | "
                  f"{frugal['latency_ms']:.2f} | {frugal['energy_uj'] / 1e3:.2f} |")  # fmt: skip
    total = len(SWEEP) * len(NETWORKS)
    print(f"\n{total:,} design points evaluated in {time.perf_counter() - start:.1f} s.")


if __name__ == "__main__":
    main()
