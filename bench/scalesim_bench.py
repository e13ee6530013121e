"""SCALE-Sim 3.0.0 vs `sim --timing scalesim`: wall time and peak memory on the same files.

    python bench/scalesim_bench.py [--scalesim-python PATH] [--vgg16-timeout SECONDS]

Workloads: AlexNet (SCALE-Sim's own alexnet.csv, tests/data/scalesim) on the 32x32, 64 KiB config
of tests/data/scalesim/scale32.cfg for os, ws and is; VGG16 (the zoo network written as a SCALE-Sim
topology: padded convs, pooling as depthwise rows, FC as 1x1 rows) for os. Every run is a fresh
process given the same .cfg and .csv; its peak memory is its maximum RSS. SCALE-Sim runs without
traces (its fastest mode). Per-layer Total Cycles of the two COMPUTE_REPORT.csv files must agree.
``sim model`` is the in-process `simulate()` call alone, without interpreter start-up and imports.
Prints the machine and a markdown table for docs/scalesim.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from accel.scalesim import node_row, read_config
from sim.runner import simulate
from sim.scalesim_reports import read_report, scalesim_command
from workloads.scalesim_topology import CONV_COLUMNS
from workloads.sources import load_network
from workloads.zoo import get_network

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "scalesim"


def timed(cmd: list[str], timeout: float) -> tuple[float, float, bool]:
    """Wall seconds, peak RSS (MB) and whether a child process finished within ``timeout`` seconds."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > timeout:
            child.kill()
            _, status, usage = os.wait4(child.pid, 0)
            return time.perf_counter() - start, usage.ru_maxrss / 1024, False
        time.sleep(0.05)
    if status != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed: {child.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, True


def vgg16_topology(path: Path) -> None:
    """The zoo VGG16 as a SCALE-Sim conv topology (rows of several groups are DP rows)."""
    lines = [", ".join(CONV_COLUMNS) + ","]
    for node in get_network("vgg16"):
        mapped = node_row(node)
        if mapped is not None:
            row, count = mapped
            name = f"{node.name}_DP" if count > 1 else node.name
            lines.append(f"{name}, {row.ifmap_h}, {row.ifmap_w}, {row.filter_h}, {row.filter_w}, "
                         f"{row.channels * count}, {row.filters}, {row.stride_h},")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def model_seconds(topology: Path, config_path: Path) -> float:
    """Best of 5 in-process `simulate()` calls (timing 'scalesim'), after one warm-up."""
    network, (config, _) = load_network(str(topology)), read_config(config_path)
    simulate(network, config, timing="scalesim")
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        simulate(network, config, timing="scalesim")
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scalesim-python", default=os.environ.get("SCALESIM_PYTHON", "/opt/scalesim-venv/bin/python"))
    parser.add_argument("--vgg16-timeout", type=float, default=600.0, help="seconds SCALE-Sim gets for VGG16")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        vgg16_topology(work / "vgg16.csv")
        cases = [("AlexNet", DATA / "alexnet.csv", df, 3600.0) for df in ("os", "ws", "is")]
        cases.append(("VGG16", work / "vgg16.csv", "os", args.vgg16_timeout))
        for name, topology, dataflow, timeout in cases:
            run = work / f"{name}_{dataflow}"
            run.mkdir()
            cfg = run / "arch.cfg"
            cfg.write_text((DATA / "scale32.cfg").read_text().replace("Dataflow : os", f"Dataflow : {dataflow}"))
            ours = [sys.executable, "-m", "sim", "run", str(topology), "--config", str(cfg), "--timing", "scalesim",
                    "--scalesim-reports", str(run / "sim"), "--quiet", "--json", str(run / "sim.json")]  # fmt: skip
            sim_wall, sim_mb, _ = timed(ours, 600.0)
            model = model_seconds(topology, cfg)
            theirs = scalesim_command(args.scalesim_python, cfg, topology, run / "scalesim")
            ss_wall, ss_mb, finished = timed(theirs, timeout)
            equal = "-"
            if finished:
                ss = [r["Total Cycles"] for r in read_report(next((run / "scalesim").glob("*/COMPUTE_REPORT.csv")))]
                us = [r["Total Cycles"] for r in read_report(run / "sim" / "COMPUTE_REPORT.csv")]
                equal = f"{'yes' if ss == us else 'NO'} ({len(us)} layers)"
            rows.append((name, dataflow, ss_wall, ss_mb, finished, sim_wall, sim_mb, model, equal))
            print(f"done: {name} {dataflow}", file=sys.stderr, flush=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print(
        "| workload | dataflow | SCALE-Sim wall (s) | SCALE-Sim peak RSS (MB) | `sim` wall (s) | `sim` peak RSS (MB) "
        "| speed-up (process) | `sim` model only (ms) | speed-up (model) | identical Total Cycles |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, df, ss_wall, ss_mb, finished, sim_wall, sim_mb, model, equal in rows:
        ss = f"{ss_wall:.1f}" if finished else f"> {ss_wall:.0f} (stopped)"
        at_least = "" if finished else ">= "
        print(f"| {name} | {df} | {ss} | {ss_mb:.0f} | {sim_wall:.2f} | {sim_mb:.0f} | {at_least}{ss_wall / sim_wall:,.0f}x "
              f"| {1e3 * model:.1f} | {at_least}{ss_wall / model:,.0f}x | {equal} |")  # fmt: skip


if __name__ == "__main__":
    main()
