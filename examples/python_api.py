"""The README's command-line tour, from Python: simulate VGG16, read the per-layer numbers,
change the array, sweep a few designs and find the Pareto front, generate Verilog.

    python examples/python_api.py [--verilog]

``--verilog`` also writes a small AXI accelerator with LeNet-5's DRAM image into a temporary
directory (needs Amaranth, installed with the package). See docs/api.md.
"""

from __future__ import annotations

import argparse
import tempfile

import sim


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--verilog", action="store_true", help="also generate Verilog into a temporary directory")
    args = parser.parse_args()

    # `sim run vgg16`: the cycle-level engine on the default 32x32 weight-stationary accelerator.
    vgg16 = sim.load_network("vgg16")
    report = sim.simulate(vgg16)
    total = report.total
    print(f"{report.network} on {report.config['rows']}x{report.config['cols']} {report.config['dataflow'].upper()}: "
          f"{total['cycles']:,} cycles, {total['latency_ms']:.2f} ms at {report.config['clock_mhz']:g} MHz, "
          f"utilization {total['utilization']:.1%}, DRAM {total['dram']['total_bytes'] / 2**20:.1f} MiB\n")  # fmt: skip

    # The per-layer table as plain records (the columns of `sim run --csv`'s layers.csv).
    print(f"{'layer':10} {'type':8} {'cycles':>12} {'stalls':>10} {'util':>6} {'DRAM KiB':>10}")
    for row in report.records():
        print(f"{row['name']:10} {row['type']:8} {row['cycles']:>12,} {row['stall_cycles']:>10,} "
              f"{row['utilization']:>6.1%} {row['dram.total_bytes'] / 1024:>10,.0f}")  # fmt: skip

    # `sim run vgg16 --rows 16 --cols 64`: the same PEs in another shape.
    wide = sim.simulate(vgg16, sim.configure(rows=16, cols=64))
    print(f"\n16x64 instead of 32x32: {wide.total['latency_ms']:.2f} ms (was {total['latency_ms']:.2f} ms)")

    # `sim dse vgg16 --rows 16,32,64 --cols 16,32,64 --dataflow ws,os,is`: 27 designs, closed form.
    result = sim.sweep(vgg16, {"rows": [16, 32, 64], "cols": [16, 32, 64], "dataflow": ["ws", "os", "is"]})
    print(f"\n{len(result.ok)} of {len(result.rows)} designs map; Pareto front of latency, energy and area:")
    for row in sorted(result.pareto(), key=lambda r: r["latency_ms"]):
        print(f"  {row['rows']:>3}x{row['cols']:<3} {row['dataflow'].upper()}  {row['latency_ms']:7.2f} ms  "
              f"{row['energy_uj'] / 1e3:6.2f} mJ  {row['area_mm2']:5.2f} mm^2")  # fmt: skip

    try:
        frame = report.to_dataframe()
        print(f"\nAs a DataFrame: {frame.shape[0]} rows x {frame.shape[1]} columns")
    except sim.UserError as err:  # pandas is optional
        print(f"\n(no DataFrame: {err})")

    if args.verilog:
        # `sim gen lenet5 -o DIR --rows 4 --cols 4 ...`: the AXI accelerator's Verilog, its C header,
        # manifest and README, and LeNet-5's DRAM image.
        config = sim.configure(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)
        with tempfile.TemporaryDirectory() as out:
            manifest = sim.generate(config, out, "lenet5")
            print(f"\nwrote {manifest['top']}.v with LeNet-5's DRAM image "
                  f"({manifest['image']['bytes']:,} bytes) to {out} (removed on exit)")  # fmt: skip
        # `sim verify lenet5 ...` runs that design on the image under Icarus, DRAM model in the loop;
        # here on the NumPy model of the hardware, which needs no HDL simulator (and counts no cycles).
        check = sim.verify("lenet5", config, simulator="model")
        exact = sum(layer.mismatches == 0 for layer in check.run.layers)
        print(f"LeNet-5 on the hardware model: {exact} of {len(check.run.layers)} layers bit-exact; "
              f"sim run: {check.sim_cycles:,} cycles")  # fmt: skip

if __name__ == "__main__":
    main()
