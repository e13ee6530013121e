"""`sim gen`: Verilog, manifest and README from the one AccelConfig; bad input exits 2 cleanly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def sim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_gen_writes_verilog_manifest_readme(tmp_path, dataflow):
    out = tmp_path / "core"
    result = sim("gen", "-o", str(out), "--rows", "2", "--cols", "3", "--dataflow", dataflow)
    assert result.returncode == 0, result.stderr
    top = f"systolic_{dataflow}_2x3"
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{top}.v", "manifest.json", "README.md"])
    verilog = (out / f"{top}.v").read_text()
    assert f"module {top}" in verilog
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["top"] == top
    assert manifest["config"]["rows"] == 2 and manifest["config"]["cols"] == 3
    assert manifest["config"]["dataflow"] == dataflow


def test_gen_reads_the_config_file(tmp_path):
    from accel.config import AccelConfig

    cfg = tmp_path / "acc.toml"
    cfg.write_text(AccelConfig(rows=3, cols=2, dataflow="os").to_toml())
    out = tmp_path / "core"
    assert sim("gen", "--config", str(cfg), "-o", str(out)).returncode == 0
    assert (out / "systolic_os_3x2.v").exists()


@pytest.mark.parametrize("args", [["--rows", "0"], ["--dataflow", "xs"], ["--synth", "virtex"], ["--config", "missing.toml"]])
def test_gen_bad_input_is_one_line_and_no_output(tmp_path, args):
    out = tmp_path / "core"
    result = sim("gen", "-o", str(out), *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert not out.exists()
