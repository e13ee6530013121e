"""Benchmark of design-space exploration. Prints a markdown section for docs/benchmarks.md.

    python bench/dse_bench.py [--repeat 3]

Measures VGG16 design points per minute in analytic mode on an 8,100-point grid:

- the DSE kernels alone (all VGG16 layers of a point per call, one core);
- ``accel.dse.run_sweep`` with 1 worker (in-process) and with 2 worker processes, journaling
  every point to a store, in a process that has already loaded the compiled kernels (a one-time
  cost per process, reported separately);
- ``sim dse`` end to end from a cold process (imports, kernel load, sweep, CSVs, two plots).

Each measurement runs in a fresh process; the best of ``--repeat`` runs is reported, with the
machine's load average and a control (two pure-Python CPU loops, serial vs. 2 processes) that shows
how much parallelism the machine gives at that moment.
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
    "rows": [8, 16, 32, 64, 128], "cols": [8, 16, 32, 64, 128], "dataflow": ["ws", "os", "is"],
    "ifmap_kib": [64, 128, 256], "filter_kib": [64, 128, 256], "ofmap_kib": [64, 128, 256], "bandwidth": [4, 8, 16, 32],
}  # fmt: skip
POINTS = 5 * 5 * 3 * 3 * 3 * 3 * 4

SWEEP = """
import json, sys, tempfile, time
start = time.perf_counter()
from accel.config import AccelConfig
from accel.dse import Sweep, Workload, evaluate, run_sweep
from workloads.zoo import get_network
grid, workers = json.loads(sys.argv[1]), int(sys.argv[2])
workload = Workload.from_network(get_network("vgg16"))
evaluate(workload, AccelConfig())  # load the compiled kernels (once per process)
ready = time.perf_counter()
with tempfile.TemporaryDirectory() as store:
    result = run_sweep(workload, Sweep(grid), workers=workers, store=store)
    elapsed = time.perf_counter() - ready
print(json.dumps({"points": len(result.rows), "seconds": elapsed, "startup": ready - start}))
"""

KERNEL = """
import json, sys, time
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


CONTROL = """
import json, multiprocessing, time
def spin(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
if __name__ == "__main__":
    n = 5_000_000
    start = time.perf_counter(); spin(n); spin(n); serial = time.perf_counter() - start
    with multiprocessing.get_context("fork").Pool(2) as pool:
        start = time.perf_counter(); pool.map(spin, [n, n]); parallel = time.perf_counter() - start
    print(json.dumps({"speedup": serial / parallel}))
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(code: str, repeat: int, *args: str) -> dict:
    return min((child(code, *args) for _ in range(repeat)), key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    grid = json.dumps(GRID)
    load_before = os.getloadavg()[0]
    child(KERNEL, grid)  # compile into the Numba cache once
    rows = [("kernels alone, 1 core", best(KERNEL, args.repeat, grid))]
    one = best(SWEEP, args.repeat, grid, "1")
    two = best(SWEEP, args.repeat, grid, "2")
    rows.append(("`run_sweep(workers=1)`: in-process, journaled", one))
    rows.append(("`run_sweep(workers=2)`: 2 worker processes, journaled", two))
    axes = []
    for key, values in GRID.items():
        axes += [f"--{key.replace('_', '-')}", ",".join(str(v) for v in values)]
    with tempfile.TemporaryDirectory() as tmp:
        walls = []
        for i in range(args.repeat):
            start = time.perf_counter()
            cmd = [
                sys.executable,
                "-m",
                "sim",
                "dse",
                "vgg16",
                *axes,
                "--workers",
                "2",
                "-q",
                "-o",
                f"{tmp}/run{i}",
            ]
            subprocess.run(cmd, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
    rows.append(("`sim dse vgg16 ... --workers 2`, cold process: imports, kernel load, CSVs, 2 plots",
                 {"points": POINTS, "seconds": min(walls)}))  # fmt: skip
    control = max((child(CONTROL) for _ in range(args.repeat)), key=lambda r: r["speedup"])
    load_after = os.getloadavg()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {load_before:.1f} before, {load_after:.1f} after")  # fmt: skip
    print(f"grid: {' x '.join(str(len(v)) for v in GRID.values())} = {POINTS:,} VGG16 design points, analytic mode\n")
    print("| run | points | seconds | points per minute |\n|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['points']:,} | {r['seconds']:.2f} | {r['points'] / r['seconds'] * 60:,.0f} |")
    rate_one = one["points"] / one["seconds"]
    rate_two = two["points"] / two["seconds"]
    print(f"\nscaling from 1 to 2 workers: {rate_two / rate_one:.2f}x (control: two pure-Python CPU loops in 2 "
          f"processes run {control['speedup']:.2f}x faster than one after the other on this machine now); "
          f"one-time start of a process (imports, lowering, kernel load): {one['startup']:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
