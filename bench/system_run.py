"""Wall time of whole networks on the AXI peripheral top, DRAM model in the loop.

Runs :func:`rtl.host.system_run.run_network` (compile the DRAM image, generate and build the AXI top on
``rtl/host/dram_model.v``, start it once through the AXI4-Lite registers, wait for the interrupt,
check every layer bit-exactly) and prints a markdown row per run: network, array, simulator,
channel, build and run seconds, the hardware's CYCLES counter, `sim run`'s cycles for the same
config, and whether every output was exact.

    python bench/system_run.py [--networks lenet5] [--arrays 4x4] [--simulators icarus verilator]
                               [--bandwidth 16] [--latency 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from accel.config import AccelConfig
from rtl.host.simulators import available
from rtl.host.system_run import run_network
from sim.runner import simulate
from workloads.zoo import get_network

#: Buffers per array (KiB: ifmap, filter, ofmap), as in the FPGA benchmarks.
BUFFERS = {"4x4": (2, 4, 4), "8x8": (16, 32, 32)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["lenet5"])
    parser.add_argument("--arrays", nargs="+", default=["4x4"], choices=sorted(BUFFERS))
    parser.add_argument("--simulators", nargs="+", default=["icarus", "verilator"], choices=["icarus", "verilator"])
    parser.add_argument("--bandwidth", type=float, default=16.0)
    parser.add_argument("--latency", type=int, default=0)
    args = parser.parse_args()
    print("| network | array | simulator | channel | build + run s | run s | CYCLES | sim run cycles | exact |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.networks:
        for array in args.arrays:
            rows, cols = map(int, array.split("x"))
            ifmap, filt, ofmap = BUFFERS[array]
            config = AccelConfig(rows=rows, cols=cols, ifmap_kib=ifmap, filter_kib=filt, ofmap_kib=ofmap,
                                 dram_bandwidth=args.bandwidth, dram_latency=args.latency)  # fmt: skip
            predicted = int(simulate(get_network(name), config).total["cycles"])
            channel = f"{args.bandwidth:g} B/cycle, {args.latency} latency"
            for simulator in args.simulators:
                if not available(simulator):
                    print(f"| {name} | {array} | {simulator} | {channel} | not installed | | | | |")
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    begin = time.perf_counter()
                    run = run_network(get_network(name), config, Path(tmp), simulator=simulator, max_cycles=10**10)
                    seconds = time.perf_counter() - begin
                    test_log = Path(tmp) / "test.log"
                    run_seconds = _run_seconds(test_log)
                print(f"| {name} | {array} | {simulator} | {channel} | {seconds:.1f} | {run_seconds} | {run.cycles:,} "
                      f"| {predicted:,} | {run.exact} |")  # fmt: skip


def _run_seconds(log: Path) -> str:
    """The simulation's real time from cocotb's summary line in ``log`` ('?' if absent)."""
    for line in reversed(log.read_text(errors="replace").splitlines() if log.exists() else []):
        fields = line.replace("*", " ").split()
        if fields[:1] == ["TESTS=1"] and len(fields) >= 7:
            return f"{float(fields[-2]):.1f}"
    return "?"


if __name__ == "__main__":
    main()
