"""Wall time of ``sim verify``: LeNet-5 on the generated layer accelerator, Icarus vs Verilator.

Runs :func:`rtl.verify.verify_on_rtl` (generate Verilog, build, simulate every descriptor through
cocotb, check against the golden model) and reports seconds end to end, the accelerator cycles
simulated and simulated cycles per second. Usage: ``python bench/rtl_verify.py [--simulators
icarus verilator]``.
"""

from __future__ import annotations

import argparse
import time

from accel.config import AccelConfig
from rtl.simulators import available
from rtl.verify import verify_on_rtl
from workloads.zoo import get_network

CONFIG = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulators", nargs="+", default=["icarus", "verilator"], choices=["icarus", "verilator"])
    args = parser.parse_args()
    print("| simulator | seconds | descriptors | cycles | exact | cycles/s |")
    print("|---|---|---|---|---|---|")
    for simulator in args.simulators:
        if not available(simulator):
            print(f"| {simulator} | not installed | | | | |")
            continue
        start = time.perf_counter()
        checks = verify_on_rtl(get_network("lenet5"), CONFIG, simulator=simulator)
        seconds = time.perf_counter() - start
        cycles = sum(c.measured for c in checks)
        exact = all(c.ok for c in checks)
        tiles = sum(c.tiles for c in checks)
        print(f"| {simulator} | {seconds:.1f} | {tiles} | {cycles:,} | {exact} | {cycles / seconds:,.0f} |")


if __name__ == "__main__":
    main()
