"""Benchmark of design-space exploration (issue 6). Prints a markdown section for docs/benchmarks.md.

    python bench/dse_bench.py [--repeat 3]

Measures VGG16 design points per minute in analytic mode: the whole ``accel.dse.run_sweep``
call (lowering, worker start-up, evaluation, journaling to a store) on a 3,888-point grid, with
1 worker (in-process) and 2 worker processes, and a bare pool of 1 and of 2 processes; the fused kernel alone per point;
and ``sim dse`` end to end (imports, CSV and plots included). Each configuration runs in a fresh
process with a warm Numba cache; the best of ``--repeat`` runs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

GRID = {
    "rows": [8, 16, 32, 64], "cols": [8, 16, 32, 64], "dataflow": ["ws", "os", "is"], "ifmap_kib": [64, 128, 256],
    "filter_kib": [64, 128, 256], "ofmap_kib": [64, 128, 256], "bandwidth": [8, 16, 32],
}  # fmt: skip

SWEEP = """
import json, sys, tempfile, time
from accel.dse import Sweep, run_sweep
from workloads.zoo import get_network
grid, workers = json.loads(sys.argv[1]), int(sys.argv[2])
with tempfile.TemporaryDirectory() as store:
    start = time.perf_counter()
    result = run_sweep(get_network("vgg16"), Sweep(grid), workers=workers, store=store)
    elapsed = time.perf_counter() - start
print(json.dumps({"points": len(result.rows), "seconds": elapsed}))
"""

# A pool of exactly N processes (run_sweep evaluates workers=1 in-process), no journal: the
# apples-to-apples scaling from one to two processes.
POOL = """
import json, sys, time
from accel.area import AreaTable
from accel.dse import Sweep, Workload, _Context, _run_pool
from accel.energy import EnergyTable
from workloads.zoo import get_network
grid, workers = json.loads(sys.argv[1]), int(sys.argv[2])
start = time.perf_counter()
ctx = _Context(Workload.from_network(get_network("vgg16")), EnergyTable(), AreaTable(), None)
rows = []
_run_pool(ctx, list(Sweep(grid).points()), workers, None, lambda: None, rows.extend)
print(json.dumps({"points": len(rows), "seconds": time.perf_counter() - start}))
"""

KERNEL = """
import itertools, json, sys, time
from accel.config import AccelConfig
from accel.dse import Sweep, Workload
from accel.dse_kernel import evaluate_ops
from workloads.zoo import get_network
wl = Workload.from_network(get_network("vgg16"))
configs = list(Sweep(json.loads(sys.argv[1])).configs())
evaluate_ops(wl.ops, configs[0])
start = time.perf_counter()
for c in configs:
    evaluate_ops(wl.ops, c)
print(json.dumps({"points": len(configs), "seconds": time.perf_counter() - start}))
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(code: str, repeat: int, *args: str) -> dict:
    runs = [child(code, *args) for _ in range(repeat)]
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    grid = json.dumps(GRID)
    child(KERNEL, grid)  # compile into the Numba cache once
    rows = []
    kernel = best(KERNEL, args.repeat, grid)
    rows.append(("fused kernel alone (all VGG16 layers of a point), 1 core", kernel))
    rows.append(
        (
            "`run_sweep(workers=1)`: in-process, journaled",
            best(SWEEP, args.repeat, grid, "1"),
        )
    )
    rows.append(
        (
            "`run_sweep(workers=2)`: pool of 2 processes, journaled",
            best(SWEEP, args.repeat, grid, "2"),
        )
    )
    rows.append(("pool of 1 process, no journal", best(POOL, args.repeat, grid, "1")))
    rows.append(("pool of 2 processes, no journal", best(POOL, args.repeat, grid, "2")))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "sim", "dse", "vgg16", "--rows", "8,16,32,64", "--cols", "8,16,32,64",
               "--dataflow", "ws,os,is", "--ifmap-kib", "64,128,256", "--filter-kib", "64,128,256",
               "--ofmap-kib", "64,128,256", "--bandwidth", "8,16,32", "--workers", "2", "-q"]  # fmt: skip
        walls = []
        for i in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(
                [*cmd, "-o", f"{tmp}/run{i}"], check=True, capture_output=True
            )
            walls.append(time.perf_counter() - start)
        rows.append(("`sim dse vgg16 ... --workers 2` end to end (process start, CSV, 2 plots)",
                     {"points": 3888, "seconds": min(walls)}))  # fmt: skip
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores ({platform.processor() or 'unknown CPU'}), "
          f"Python {platform.python_version()}")  # fmt: skip
    print(
        f"grid: {' x '.join(str(len(v)) for v in GRID.values())} = 3,888 VGG16 design points, analytic mode\n"
    )
    print("| run | points | seconds | points per minute |\n|---|---|---|---|")
    for label, r in rows:
        print(
            f"| {label} | {r['points']:,} | {r['seconds']:.2f} | {r['points'] / r['seconds'] * 60:,.0f} |"
        )
    rate = [r["points"] / r["seconds"] for _, r in rows]
    print(
        f"\nscaling 1 -> 2 workers: run_sweep {rate[2] / rate[1]:.2f}x, bare pool {rate[4] / rate[3]:.2f}x"
    )


if __name__ == "__main__":
    main()
