"""SCALE-Sim .cfg files as AccelConfig: fields, bandwidth modes, notes, errors naming the key, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from accel.config import AccelConfig, ConfigError
from accel.scalesim import read_config
from sim.cli import load_config

DATA = Path(__file__).parent / "data" / "scalesim"
SCALE32 = (DATA / "scale32.cfg").read_text()


def cfg(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "arch.cfg"
    path.write_text(text)
    return path


def test_architecture_presets_become_the_config():
    config, notes = read_config(DATA / "scale32.cfg")
    defaults = AccelConfig()
    assert (config.rows, config.cols, config.dataflow) == (32, 32, "os")
    assert (config.ifmap_kib, config.filter_kib, config.ofmap_kib) == (64, 64, 64)
    assert config.dram_bandwidth == math.inf  # InterfaceBandwidth: CALC
    assert (config.input_bits, config.dram_latency, config.clock_mhz) == (8, defaults.dram_latency, defaults.clock_mhz)
    assert len(notes) == 2
    assert "CALC" in notes[0]
    assert notes[1].startswith(
        f"{DATA / 'scale32.cfg'}: ignored SCALE-Sim settings with no equivalent here: [general] run_name;"
    )
    assert "[architecture_presets] IfmapOffset, FilterOffset, OfmapOffset, Bandwidth," in notes[1]


def test_user_bandwidth_is_bytes_per_cycle(tmp_path):
    text = SCALE32.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER").replace(
        "Bandwidth : 10", "Bandwidth : 24, 12"
    )
    config, notes = read_config(cfg(tmp_path, text))
    assert config.dram_bandwidth == 24.0
    assert not any("CALC" in note for note in notes) and " Bandwidth," not in notes[-1]


def test_minimal_file_with_other_key_spelling(tmp_path):
    """Keys are case-insensitive as in SCALE-Sim; without [run_presets], a Bandwidth means USER."""
    text = "[architecture_presets]\narrayheight = 8\nARRAYWIDTH: 4\nifmapsramszkB: 2\nFilterSramSzkB: 2\nOfmapSramSzkB: 1\nDataflow: WS\nBandwidth: 3\n"
    config, notes = read_config(cfg(tmp_path, text))
    assert (config.rows, config.cols, config.dataflow, config.ofmap_kib, config.dram_bandwidth) == (8, 4, "ws", 1, 3.0)
    assert notes == []


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("ArrayHeight:    32", "", r"\[architecture_presets\] ArrayHeight is missing"),
        (
            "ArrayWidth:     32",
            "ArrayWidth: 0",
            r"\[architecture_presets\] ArrayWidth must be a positive integer, not '0'",
        ),
        ("IfmapSramSzkB:   64", "IfmapSramSzkB: 64.5", r"IfmapSramSzkB must be a positive integer, not '64.5'"),
        ("Dataflow : os", "Dataflow : rs", r"\[architecture_presets\] Dataflow must be one of ws, os, is, not 'rs'"),
        (
            "InterfaceBandwidth: CALC",
            "InterfaceBandwidth: FAST",
            r"\[run_presets\] InterfaceBandwidth must be USER or CALC",
        ),
        (
            "InterfaceBandwidth: CALC",
            "InterfaceBandwidth: USER\n",
            r"Bandwidth must be a positive number of bytes per cycle, not 'x'",
        ),
        ("SparsitySupport : false", "SparsitySupport : true", r"\[sparsity\] SparsitySupport = true is not supported"),
        ("[architecture_presets]", "[arch]", r"section \[architecture_presets\] is missing"),
        ("[general]", "general", r"is not a SCALE-Sim \.cfg file"),
    ],
)
def test_errors_name_the_key(tmp_path, old, new, message):
    text = SCALE32.replace(old, new)
    if "USER" in new:
        text = text.replace("Bandwidth : 10", "Bandwidth : x")
    path = cfg(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{path}: .*{message}|^{path} {message}") as err:
        read_config(path)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file .*nope.cfg does not exist"):
        read_config(tmp_path / "nope.cfg")


def test_cli_reads_cfg_with_notes_on_stderr_and_applies_overrides(capsys):
    config = load_config(str(DATA / "scale32.cfg"), {"dataflow": "is", "rows": None})
    assert (config.rows, config.dataflow, config.ifmap_kib) == (32, "is", 64)
    err = capsys.readouterr().err
    assert err.count("note: ") == 2 and "ignored SCALE-Sim settings" in err


def test_cli_still_reads_toml(tmp_path):
    path = tmp_path / "arch.toml"
    path.write_text(AccelConfig(rows=8, dataflow="os").to_toml())
    assert load_config(str(path), {}) == AccelConfig(rows=8, dataflow="os")
