"""Benchmarks of the simulator. Prints a markdown table for docs/benchmarks.md.

    python bench/sim_bench.py [--skip-functional]

Measures, each in a fresh process: `sim run vgg16` wall time and peak RSS with a cold Numba
cache (a new, empty NUMBA_CACHE_DIR) and warm (second run on that cache); functional mode on
VGG16 at 32x32; analytic-mode layer evaluations per second.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with status {status}")
    return wall, usage.ru_maxrss / 1024


FUNCTIONAL = """
from accel.config import AccelConfig
from sim.runner import simulate
from workloads.zoo import get_network
simulate(get_network('vgg16'), AccelConfig(rows=32, cols=32), mode='functional')
"""

ANALYTIC = """
import time
from accel.analytic import layer_timing
from accel.config import AccelConfig
from accel.lowering import lower_network
from accel.tiling import schedule
from workloads.zoo import get_network
ops = [op for _, op in lower_network(get_network('vgg16')) if op is not None]
cfgs = [AccelConfig(rows=r, cols=c, dataflow=d) for r in (8, 16, 32, 64) for c in (8, 16, 32, 64) for d in ('ws', 'os', 'is')]
layer_timing(schedule(ops[0], cfgs[0]), 16.0, 100)  # compile
start, count = time.perf_counter(), 0
for cfg in cfgs:
    for op in ops:
        layer_timing(schedule(op, cfg), cfg.dram_bandwidth, cfg.dram_latency)
        count += 1
print(count / (time.perf_counter() - start))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-functional", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ)
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        sim = [sys.executable, "-m", "sim", "run", "vgg16", "--quiet"]
        rows.append(("`sim run vgg16` (cycle mode), cold JIT cache", *timed(sim, env)))
        rows.append(("`sim run vgg16` (cycle mode), warm JIT cache", *timed(sim, env)))
        timed(sim + ["--mode", "analytic"], env)  # compiles the analytic kernel into the cache
        rows.append(("`sim run vgg16 --mode analytic`, warm JIT cache", *timed(sim + ["--mode", "analytic"], env)))
        if not args.skip_functional:
            rows.append(("functional mode, VGG16 on 32x32 WS", *timed([sys.executable, "-c", FUNCTIONAL], env)))
        out = subprocess.run([sys.executable, "-c", ANALYTIC], env=env, check=True, capture_output=True, text=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| run | wall (s) | peak RSS (MB) |\n|---|---|---|")
    for name, wall, peak in rows:
        print(f"| {name} | {wall:.2f} | {peak:.0f} |")
    print(f"\nanalytic mode: {float(out.stdout):,.0f} layer evaluations per second (VGG16 layers x 48 configs)")


if __name__ == "__main__":
    main()
