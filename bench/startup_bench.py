"""Start-up cost of `sim run vgg16` against a bare Python that imports NumPy and Numba.

    python bench/startup_bench.py [--runs 9]

Both commands run alternately in fresh processes on a warm cache (one untimed run of each
first); prints the medians, their difference and their ratio as a markdown table row for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The console script installed next to this interpreter: a version manager's shim in front of it
# (pyenv's `sim` is a shell script) would add its own start-up to the measurement.
SIM = Path(sys.executable).with_name("sim")
COMMANDS = {
    "python -c 'import numpy, numba'": [sys.executable, "-c", "import numpy, numba"],
    "sim run vgg16": [str(SIM) if SIM.exists() else shutil.which("sim") or "sim", "run", "vgg16", "--quiet"],
}


def wall(cmd: list[str]) -> float:
    """Wall seconds of one run of ``cmd`` (output discarded)."""
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each command")
    runs = parser.parse_args().runs
    for cmd in COMMANDS.values():
        wall(cmd)  # warm the page cache and Numba's cache
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, cmd in COMMANDS.items():
            times[name].append(wall(cmd))
    bare, sim = (statistics.median(times[name]) for name in COMMANDS)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, {runs} runs")
    print("| `python -c 'import numpy, numba'` | `sim run vgg16` | difference | ratio |")
    print("|---:|---:|---:|---:|")
    print(f"| {bare:.3f} s | {sim:.3f} s | {sim - bare:+.3f} s | {sim / bare:.2f} |")


if __name__ == "__main__":
    main()
