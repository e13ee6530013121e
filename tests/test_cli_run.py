"""`sim run`: the table, JSON/CSV/plot outputs, config flags and files, and user errors (exit 2)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from accel.config import AccelConfig
from sim.cli import main
from sim.runner import simulate
from workloads.zoo import get_network

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sim_run(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``sim run ARGS`` in-process; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *args])
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else code), out, err


def json_run(capsys, *args: str) -> dict:
    code, out, err = sim_run(capsys, *args, "--quiet", "--json", "-")
    assert code == 0, err
    return json.loads(out)


# -- normal runs ---------------------------------------------------------------------------------------


def test_default_run_prints_table_with_latency(capsys):
    code, out, err = sim_run(capsys, "lenet5")
    assert code == 0 and err == ""
    config = AccelConfig()
    expected = simulate(get_network("lenet5"), config)
    for layer in expected.layers:
        assert f" {layer.name} " in out and f" {layer.cycles:,} " in out and f" {layer.stall_cycles:,} " in out
    assert f" {expected.total['cycles']:,} " in out
    assert f"latency {expected.total['latency_ms']:.3f} ms at {config.clock_mhz} MHz" in out
    assert f"{config.rows}x{config.cols} {config.dataflow.upper()}" in out  # the configuration used


def test_json_stdout_matches_simulate(capsys):
    data = json_run(capsys, "lenet5")
    expected = simulate(get_network("lenet5"), AccelConfig()).to_dict()
    assert data == json.loads(json.dumps(expected))
    assert data["total"]["cycles"] == sum(layer["cycles"] for layer in data["layers"])


def test_json_csv_and_plot_files(capsys, tmp_path):
    json_path, csv_dir, png = tmp_path / "r.json", tmp_path / "csv", tmp_path / "plot.png"
    code, out, err = sim_run(
        capsys, "lenet5", "--mode", "analytic", "--json", str(json_path), "--csv", str(csv_dir), "--plot", str(png)
    )
    assert code == 0, err
    assert "latency" in out  # with --json PATH the table is still printed
    data = json.loads(json_path.read_text())
    assert data == json.loads(json.dumps(simulate(get_network("lenet5"), AccelConfig(), mode="analytic").to_dict()))

    with open(csv_dir / "layers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["name"] for row in rows] == [layer["name"] for layer in data["layers"]]
    assert [int(row["cycles"]) for row in rows] == [layer["cycles"] for layer in data["layers"]]
    assert int(rows[0]["sram.ifmap_reads"]) == data["layers"][0]["sram"]["ifmap_reads"]
    with open(csv_dir / "total.csv", newline="") as f:
        (total,) = list(csv.DictReader(f))
    assert int(total["cycles"]) == data["total"]["cycles"]

    assert png.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["csv", "layers.csv", "plot.png", "r.json", "total.csv"]


def test_csv_has_the_energy_columns_of_the_json(capsys, tmp_path):
    json_path, csv_dir = tmp_path / "r.json", tmp_path / "csv"
    code, _, err = sim_run(capsys, "lenet5", "--mode", "analytic", "--energy", "--json", str(json_path),
                           "--csv", str(csv_dir))  # fmt: skip
    assert code == 0, err
    energy = json.loads(json_path.read_text())["energy"]
    with open(csv_dir / "layers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(row["energy_pj.total"]) for row in rows] == [layer["total"] for layer in energy["layers"]]
    assert float(rows[0]["energy_pj.dram"]) == energy["layers"][0]["dram"]
    with open(csv_dir / "total.csv", newline="") as f:
        (total,) = list(csv.DictReader(f))
    assert float(total["energy_pj.total"]) == energy["total"]["total"]


def test_csv_without_energy_has_no_energy_columns(capsys, tmp_path):
    code, _, err = sim_run(capsys, "lenet5", "--mode", "analytic", "--quiet", "--csv", str(tmp_path))
    assert code == 0, err
    assert "energy" not in (tmp_path / "layers.csv").read_text() + (tmp_path / "total.csv").read_text()


def test_bandwidth_fields_say_what_they_measure(capsys):
    total = json_run(capsys, "lenet5", "--mode", "analytic")["total"]
    assert total["dram"]["average_bytes_per_cycle"] == total["dram"]["total_bytes"] / total["cycles"]
    layers = simulate(get_network("lenet5"), AccelConfig(), mode="analytic").layers
    hiding = max(layer.dram["fetch_hiding_bytes_per_cycle"] for layer in layers)
    assert total["dram"]["fetch_hiding_bytes_per_cycle"] == hiding
    assert not {"avg_bandwidth", "peak_bandwidth"} & set(total["dram"])


# -- functional mode: checked against the golden model, outputs saved ------------------------------------


def test_functional_run_reports_bit_exact_outputs(capsys):
    code, out, err = sim_run(capsys, "lenet5", "--mode", "functional", "--quiet")
    assert code == 0, err
    layers = simulate(get_network("lenet5"), AccelConfig(), mode="functional").layers
    values = sum(layer.outputs.size for layer in layers)
    assert out.splitlines()[-1] == f"outputs: bit-exact vs the golden model ({len(layers)} layers, {values:,} values)"


def test_functional_mismatch_is_reported_per_layer_and_exits_1(capsys, monkeypatch):
    from sim.functional import FunctionalRun

    simulated = FunctionalRun.run

    def off_by_one(self, node, op):
        out = simulated(self, node, op)
        if node.name == "fc3":  # the last layer: no later layer sees the error
            out = out.copy()
            out.flat[3] ^= 1
        return out

    monkeypatch.setattr(FunctionalRun, "run", off_by_one)
    code, out, _ = sim_run(capsys, "lenet5", "--mode", "functional", "--quiet")
    assert code == 1
    assert out.splitlines()[-1] == "outputs: fc3: 1 of 10 values differ from the golden model"
    assert "bit-exact" not in out


def test_functional_verdict_goes_to_stderr_with_json_on_stdout(capsys):
    code, out, err = sim_run(capsys, "lenet5", "--mode", "functional", "--quiet", "--json", "-")
    assert code == 0
    assert json.loads(out)["mode"] == "functional"
    assert err.startswith("outputs: bit-exact vs the golden model")


def test_save_outputs(capsys, tmp_path):
    path = tmp_path / "out.npz"
    code, _, err = sim_run(capsys, "lenet5", "--mode", "functional", "--quiet", "--save-outputs", str(path))
    assert code == 0, err
    layers = simulate(get_network("lenet5"), AccelConfig(), mode="functional").layers
    with np.load(path) as saved:
        assert list(saved) == [layer.name for layer in layers]
        for layer in layers:
            assert np.array_equal(saved[layer.name], layer.outputs) and saved[layer.name].dtype == np.int8
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]  # written atomically: no temp file left


def test_save_outputs_needs_functional_mode(capsys, tmp_path):
    code, _, err = sim_run(capsys, "lenet5", "--save-outputs", str(tmp_path / "out.npz"))
    assert code == 2
    assert err == "error: --save-outputs needs --mode functional (the other modes compute no values)\n"
    assert list(tmp_path.iterdir()) == []


def test_every_config_flag_is_applied(capsys):
    data = json_run(
        capsys, "lenet5", "--rows", "4", "--cols", "6", "--dataflow", "is", "--input-bits", "8", "--weight-bits", "4",
        "--acc-bits", "24", "--ifmap-kib", "32", "--filter-kib", "16", "--ofmap-kib", "64", "--buffering", "whole",
        "--bandwidth", "2.5", "--latency", "7", "--clock-mhz", "250", "--batch", "2", "--mode", "analytic",
    )  # fmt: skip
    expected = AccelConfig(
        rows=4, cols=6, dataflow="is", input_bits=8, weight_bits=4, acc_bits=24, ifmap_kib=32, filter_kib=16,
        ofmap_kib=64, buffering="whole", dram_bandwidth=2.5, dram_latency=7, clock_mhz=250.0,
    )  # fmt: skip
    assert data["config"] == expected.to_dict()
    assert data["mode"] == "analytic"
    assert data["total"]["macs"] == 2 * get_network("lenet5").macs  # --batch 2
    assert data["total"]["latency_ms"] == pytest.approx(data["total"]["cycles"] / 250e3)
    assert data == json.loads(json.dumps(simulate(get_network("lenet5").with_batch(2), expected, "analytic").to_dict()))


def test_whole_buffer_tiles_are_named_per_layer_and_in_the_title(capsys):
    """With --buffering whole the layers whose tiles take both banks say which operands do."""
    layers = json_run(capsys, "vgg16", "--buffering", "whole")["layers"]
    single = {layer["name"]: layer["single_buffered"] for layer in layers}
    names = ("conv1_2", "conv2_2", "conv4_1", "conv5_1", "pool1")
    assert [single[name] for name in names] == ["ifmap", "ifmap+filter", "ifmap", "", ""]
    assert not any(layer["single_buffered"] for layer in json_run(capsys, "vgg16")["layers"])
    code, out, _ = sim_run(capsys, "lenet5", "--buffering", "whole", "--quiet")
    assert code == 0 and "(whole-buffer tiles)" in " ".join(out.split())


def test_ideal_bandwidth_flag(capsys):
    data = json_run(capsys, "lenet5", "--bandwidth", "inf", "--latency", "0")
    assert data["config"]["dram_bandwidth"] == "inf"  # strict JSON has no Infinity
    assert data["total"]["stall_cycles"] == 820  # the system's fixed delays alone (tests/test_traffic.py)
    assert (data["total"]["dram_stall_cycles"], data["total"]["overhead_cycles"]) == (0, 820)


def test_config_file_with_an_override(capsys, tmp_path):
    from_file = AccelConfig(rows=8, cols=12, dataflow="os", ifmap_kib=64, dram_bandwidth=float("inf"), clock_mhz=200.0)
    path = tmp_path / "accel.toml"
    path.write_text(from_file.to_toml())
    data = json_run(capsys, "lenet5", "--config", str(path), "--cols", "4")
    assert AccelConfig.from_dict(data["config"]) == from_file.replace(cols=4)


def test_python_dash_m_sim_runs_end_to_end():
    result = subprocess.run(
        [sys.executable, "-m", "sim", "run", "lenet5", "--quiet", "--json", "-"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"]["macs"] == get_network("lenet5").macs


# -- user errors: exit 2, one line 'error: ...' on stderr, no output files ------------------------------


BAD_RUNS = [
    (["nonet"], "unknown network 'nonet'"),
    (["lenet5", "--rows", "0"], "rows must be >= 1"),
    (["lenet5", "--dataflow", "xx"], "dataflow must be one of ws, os, is"),
    (["lenet5", "--bandwidth", "-1"], "dram_bandwidth must be a positive number"),
    (["lenet5", "--bandwidth", "nan"], "dram_bandwidth must be a positive number"),
    (["lenet5", "--mode", "bogus"], "mode must be one of cycle, analytic, functional"),
    (["lenet5", "--batch", "0"], "batch must be a positive integer"),
    (["lenet5", "--config", "{tmp}/missing.toml"], "does not exist"),
    (["lenet5", "--config", "{tmp}/malformed.toml"], "is not valid TOML"),
    (["lenet5", "--config", "{tmp}/unknown.toml"], "unknown field 'row'"),
    (["lenet5", "--config", "{tmp}/wrongtype.toml"], "rows must be an integer"),
    (["vgg16", "--filter-kib", "1"], "layer 'conv1_1': the filter buffer is too small"),
]


@pytest.mark.parametrize("args, message", BAD_RUNS, ids=[" ".join(a) for a, _ in BAD_RUNS])
def test_user_error_exits_2_with_one_line_and_no_output(capsys, tmp_path, args, message):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "malformed.toml").write_text("[accelerator]\nrows = [\n")
    (configs / "unknown.toml").write_text("[accelerator]\nrow = 4\n")
    (configs / "wrongtype.toml").write_text('rows = "four"\n')
    out_dir = tmp_path / "out"
    args = [a.replace("{tmp}", str(configs)) for a in args]
    outputs = ["--json", str(out_dir / "r.json"), "--csv", str(out_dir / "csv"), "--plot", str(out_dir / "p.png")]
    code, out, err = sim_run(capsys, *args, *outputs)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in err + out
    assert not out_dir.exists()


def test_user_error_in_a_real_process_has_no_traceback(tmp_path):
    json_path = tmp_path / "r.json"
    result = subprocess.run(
        [sys.executable, "-m", "sim", "run", "vgg16", "--filter-kib", "1", "--json", str(json_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "error: layer 'conv1_1': the filter buffer is too small: the smallest tile needs 1,152 bytes per bank; "
        "set filter_kib >= 3\n"
    )
    assert result.stdout == "" and not json_path.exists()
