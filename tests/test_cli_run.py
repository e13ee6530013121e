"""`sim run`: the table, JSON/CSV/plot outputs, config flags and files, and user errors (exit 2)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

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
    expected = simulate(get_network("lenet5"), AccelConfig())
    for layer in expected.layers:
        assert layer.name in out
    assert f"{expected.total['cycles']:,}" in out
    assert f"latency {expected.total['latency_ms']:.3f} ms at 400.0 MHz" in out
    assert "32x32 WS" in out  # the configuration used


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


def test_every_config_flag_is_applied(capsys):
    data = json_run(
        capsys, "lenet5", "--rows", "4", "--cols", "6", "--dataflow", "is", "--input-bits", "8", "--weight-bits", "4",
        "--acc-bits", "24", "--ifmap-kib", "32", "--filter-kib", "16", "--ofmap-kib", "64", "--bandwidth", "2.5",
        "--latency", "7", "--clock-mhz", "250", "--batch", "2", "--mode", "analytic",
    )  # fmt: skip
    expected = AccelConfig(
        rows=4, cols=6, dataflow="is", input_bits=8, weight_bits=4, acc_bits=24, ifmap_kib=32, filter_kib=16,
        ofmap_kib=64, dram_bandwidth=2.5, dram_latency=7, clock_mhz=250.0,
    )  # fmt: skip
    assert data["config"] == expected.to_dict()
    assert data["mode"] == "analytic"
    assert data["total"]["macs"] == 2 * get_network("lenet5").macs  # --batch 2
    assert data["total"]["latency_ms"] == pytest.approx(data["total"]["cycles"] / 250e3)
    assert data == json.loads(json.dumps(simulate(get_network("lenet5").with_batch(2), expected, "analytic").to_dict()))


def test_ideal_bandwidth_flag(capsys):
    data = json_run(capsys, "lenet5", "--bandwidth", "inf", "--latency", "0")
    assert data["config"]["dram_bandwidth"] == "inf"  # strict JSON has no Infinity
    assert data["total"]["stall_cycles"] == 0


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
    (["vgg16", "--ifmap-kib", "1"], "layer 'conv1_1': the ifmap buffer is too small"),
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
        [sys.executable, "-m", "sim", "run", "vgg16", "--ifmap-kib", "1", "--json", str(json_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "error: layer 'conv1_1': the ifmap buffer is too small: the smallest tile needs 672 bytes per bank; "
        "set ifmap_kib >= 2\n"
    )
    assert result.stdout == "" and not json_path.exists()
