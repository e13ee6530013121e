"""`sim --help`, `-h`, `--version`, bare `sim`, and the built-in defaults shown by every command's help."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from accel.config import AccelConfig
from sim.cli import main

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = {f.name: f.default for f in dataclasses.fields(AccelConfig)}
SIZES = {"--rows": "rows", "--cols": "cols", "--ifmap-kib": "ifmap_kib", "--filter-kib": "filter_kib",
         "--ofmap-kib": "ofmap_kib"}  # fmt: skip
SWEPT = {**SIZES, "--dataflow": "dataflow", "--bandwidth": "dram_bandwidth", "--latency": "dram_latency",
         "--clock-mhz": "clock_mhz"}  # fmt: skip
WIDTHS = {"--input-bits": "input_bits", "--weight-bits": "weight_bits", "--acc-bits": "acc_bits"}
OPTIONS = {"run": {**SWEPT, **WIDTHS}, "gen": {**SIZES, "--dataflow": "dataflow"}, "verify": SIZES, "dse": SWEPT}


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``sim ARGS`` in-process; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err


def option_help(help_text: str, option: str) -> str:
    """The help entry of ``option`` (its wrapped lines joined), from a command's ``--help``."""
    entries = re.split(r"\n  (?=-)", help_text.partition("Options:")[2])
    (entry,) = [e for e in entries if re.match(rf"(-\w, )?{option}\b", e.strip())]
    return " ".join(entry.split())


@pytest.mark.parametrize("command", OPTIONS)
def test_help_shows_the_config_defaults(capsys, command):
    code, out, _ = cli(capsys, command, "--help")
    assert code == 0
    for option, field in OPTIONS[command].items():
        assert f"[default: {DEFAULTS[field]}]" in option_help(out, option), option


def test_options_stay_unset_so_a_config_file_wins(capsys, tmp_path):
    path = tmp_path / "accel.toml"
    path.write_text(AccelConfig(rows=8, dram_latency=7).to_toml())
    code, out, err = cli(capsys, "run", "lenet5", "--config", str(path), "--mode", "analytic", "-q", "--json", "-")
    assert code == 0, err
    assert '"rows": 8' in out and '"dram_latency": 7' in out


def test_version(capsys):
    code, out, _ = cli(capsys, "--version")
    assert code == 0
    assert out == f"sim (systolic-toolkit) {version('systolic-toolkit')}\n"


@pytest.mark.parametrize("command", [[], ["run"], ["list"], ["dse"]])
def test_h_is_help(capsys, command):
    assert cli(capsys, *command, "-h") == cli(capsys, *command, "--help")


def test_bare_sim_prints_the_help_not_an_error():
    result = subprocess.run([sys.executable, "-m", "sim"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 2)
    assert result.stdout.startswith("Usage: sim ")
    for command in ("list", "info", "run", "gen", "verify", "dse"):
        assert f"  {command} " in result.stdout
    assert "error" not in result.stderr
