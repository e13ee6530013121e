"""Benchmarks of the simulator. Prints a markdown table for docs/benchmarks.md.

    python bench/sim_bench.py [--skip-functional] [--engine-only]

Measures, each in a fresh process: `sim run vgg16` wall time and peak RSS with a cold Numba
cache (a new, empty NUMBA_CACHE_DIR) and warm (second run on that cache); functional mode on
VGG16 at 32x32; analytic-mode layer evaluations per second; and the event-driven engine:
`sim run lenet5 --rows 2 --cols 2` at a starved (1e-9 bytes/cycle) and the default channel, and
the engine's own time per network against its tile count.
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
from pathlib import Path


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
import accel.jit
from accel.analytic import layer_timing
from accel.config import AccelConfig
from accel.lowering import lower_network
from accel.tiling import schedule
from workloads.zoo import get_network
ops = [op for _, op in lower_network(get_network('vgg16')) if op is not None]
cfgs = [AccelConfig(rows=r, cols=c, dataflow=d) for r in (8, 16, 32, 64) for c in (8, 16, 32, 64) for d in ('ws', 'os', 'is')]
accel.jit.INTERPRET_BUDGET = 0  # measure the compiled kernel, not its start-up-saving Python function
layer_timing(schedule(ops[0], cfgs[0]), 16.0, 100)  # compile
start, count = time.perf_counter(), 0
for cfg in cfgs:
    for op in ops:
        layer_timing(schedule(op, cfg), cfg.dram_bandwidth, cfg.dram_latency)
        count += 1
print(count / (time.perf_counter() - start))
"""


LENET_2X2 = ["lenet5", "--rows", "2", "--cols", "2"]
"""`sim run` arguments of the starved-channel comparison (run at the default bandwidth and at 1e-9)."""

ENGINE = """
import json, sys, time
from accel.analytic import kernel_bandwidth, schedule_arrays
from accel.config import AccelConfig
from accel.lowering import lower_network
from accel.tiling import schedule
from sim.engine import _run_events
from workloads.zoo import get_network

def best_ms(kernel, layers, runs=5):
    best = float('inf')
    for _ in range(runs):
        start = time.perf_counter()
        for args in layers:
            kernel(*args)
        best = min(best, time.perf_counter() - start)
    return best * 1e3

rows = []
for net, cfg in json.loads(sys.argv[1]):
    cfg = AccelConfig(**cfg)
    scheds = [schedule(op, cfg) for _, op in lower_network(get_network(net)) if op is not None]
    layers = [(*schedule_arrays(s), kernel_bandwidth(cfg.dram_bandwidth), cfg.dram_latency, s.rows) for s in scheds]
    _run_events(*layers[0])  # loads the compiled kernel
    rows.append((net, cfg.rows, cfg.cols, cfg.dram_bandwidth, sum(s.count for s in scheds),
                 best_ms(_run_events.py_func, layers), best_ms(_run_events, layers)))
print(json.dumps(rows))
"""

STEPPING = """
import time
from accel.analytic import kernel_bandwidth, schedule_arrays
from accel.config import AccelConfig
from accel.lowering import lower_network
from accel.tiling import schedule
from tests.engine_reference import step_cycles
from workloads.zoo import get_network
cfg = AccelConfig(rows=2, cols=2)
layers = [schedule(op, cfg) for _, op in lower_network(get_network('lenet5')) if op is not None]
args = [(*schedule_arrays(s), kernel_bandwidth(cfg.dram_bandwidth), cfg.dram_latency, s.rows) for s in layers]
step_cycles(*args[0])  # compile
start, cycles = time.perf_counter(), 0
for a in args:
    cycles += int(step_cycles(*a)[0])
print(cycles / (time.perf_counter() - start))
"""
"""Cycles per second of the cycle-stepping reference the engine replaced (kept in the tests)."""

ENGINE_CASES = [
    ("lenet5", {"rows": 2, "cols": 2}),
    ("lenet5", {"rows": 2, "cols": 2, "dram_bandwidth": 1e-9}),
    ("alexnet", {}),
    ("vgg16", {}),
    ("vgg16", {"dram_bandwidth": 1e-9}),
]
"""(network, config fields) whose engine time is measured against their tile count."""


def total_cycles(cmd: list[str], env: dict) -> int:
    """Total cycles `sim run` reports (its JSON report on stdout)."""
    out = subprocess.run(cmd + ["--json", "-"], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["total"]["cycles"]


def engine_section(env: dict) -> None:
    """Print the event-driven engine's tables: a starved channel costs what a fast one does."""
    sim = [sys.executable, "-m", "sim", "run", *LENET_2X2, "--quiet"]
    timed(sim, env)  # loads every kernel into the warm cache
    print("\n| `sim run lenet5 --rows 2 --cols 2 ...` | wall (s) | cycles (cycle mode) | cycles (analytic mode) |")
    print("|---|---|---|---|")
    for flags in ([], ["--bandwidth", "1e-9"]):
        wall, _ = timed(sim + flags, env)
        cycle = total_cycles(sim + flags, env)
        analytic = total_cycles(sim + flags + ["--mode", "analytic"], env)
        print(f"| {' '.join(flags) or '(default bandwidth 16)'} | {wall:.2f} | {cycle:,} | {analytic:,} |")
    root = Path(__file__).resolve().parents[1]  # tests.engine_reference imports from the repository root
    rate = float(subprocess.run([sys.executable, "-c", STEPPING], env=env, cwd=root, check=True, capture_output=True,
                                text=True).stdout)  # fmt: skip
    print(f"\nthe cycle-stepping reference: {rate:,.0f} cycles/s, so the 1e-9 run would take "
          f"{cycle / rate / 3600:,.0f} hours")
    cases = json.dumps(ENGINE_CASES)
    out = subprocess.run([sys.executable, "-c", ENGINE, cases], env=env, check=True, capture_output=True, text=True)
    print("\n| network | array | bandwidth (B/cycle) | tiles | engine, interpreted (ms) | engine, compiled (ms) |")
    print("|---|---|---|---|---|---|")
    for net, rows, cols, bandwidth, tiles, interpreted, compiled in json.loads(out.stdout):
        print(f"| {net} | {rows}x{cols} | {bandwidth:g} | {tiles:,} | {interpreted:.2f} | {compiled:.3f} |")


def simulator_section(env: dict, skip_functional: bool) -> None:
    """Print the `sim run vgg16` table (cold and warm JIT cache, functional mode) and analytic throughput."""
    rows = []
    sim = [sys.executable, "-m", "sim", "run", "vgg16", "--quiet"]
    rows.append(("`sim run vgg16` (cycle mode), cold JIT cache", *timed(sim, env)))
    rows.append(("`sim run vgg16` (cycle mode), warm JIT cache", *timed(sim, env)))
    timed(sim + ["--mode", "analytic"], env)  # compiles the analytic kernel into the cache
    rows.append(("`sim run vgg16 --mode analytic`, warm JIT cache", *timed(sim + ["--mode", "analytic"], env)))
    if not skip_functional:
        rows.append(("functional mode, VGG16 on 32x32 WS", *timed([sys.executable, "-c", FUNCTIONAL], env)))
    out = subprocess.run([sys.executable, "-c", ANALYTIC], env=env, check=True, capture_output=True, text=True)
    print("| run | wall (s) | peak RSS (MB) |\n|---|---|---|")
    for name, wall, peak in rows:
        print(f"| {name} | {wall:.2f} | {peak:.0f} |")
    print(f"\nanalytic mode: {float(out.stdout):,.0f} layer evaluations per second (VGG16 layers x 48 configs)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-functional", action="store_true")
    parser.add_argument("--engine-only", action="store_true", help="only the event-driven engine's tables")
    args = parser.parse_args()
    env = dict(os.environ)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        if not args.engine_only:
            simulator_section(env, args.skip_functional)
        engine_section(env)


if __name__ == "__main__":
    main()
