"""AccelConfig: defaults, validation of every field, TOML round trip and file errors."""

from __future__ import annotations

import math

import pytest

from accel.config import FIELD_NAMES, AccelConfig, ConfigError
from workloads.errors import UserError


def test_defaults_are_valid():
    config = AccelConfig()
    assert (config.rows, config.cols, config.dataflow) == (32, 32, "ws")
    assert config.pes == 1024
    assert config.bank_bytes("ifmap") == 256 * 1024 // 2
    assert config.bank_bytes("ofmap") == 128 * 1024 // 2
    assert config.cycles_to_ms(400_000) == pytest.approx(1.0)  # 400k cycles at 400 MHz


def test_config_error_is_a_user_error():
    assert issubclass(ConfigError, UserError)


@pytest.mark.parametrize(
    "field, value",
    [
        ("rows", 0),
        ("rows", 2.0),
        ("rows", True),
        ("cols", -1),
        ("cols", "8"),
        ("dataflow", "rs"),
        ("dataflow", "WS"),
        ("input_bits", 1),
        ("input_bits", 33),
        ("weight_bits", 64),
        ("acc_bits", 4),  # narrower than the 8-bit operands
        ("acc_bits", 65),
        ("ifmap_kib", 0),
        ("filter_kib", -256),
        ("ofmap_kib", 0.5),
        ("dram_bandwidth", 0),
        ("dram_bandwidth", -1.0),
        ("dram_bandwidth", math.nan),
        ("dram_bandwidth", "16"),
        ("dram_bandwidth", True),
        ("dram_latency", -1),
        ("dram_latency", 1.5),
        ("clock_mhz", 0.0),
        ("clock_mhz", math.inf),
        ("clock_mhz", math.nan),
        ("buffering", "single"),
        ("buffering", None),
    ],
)
def test_invalid_field_is_rejected_by_name(field, value):
    with pytest.raises(ConfigError, match=rf"^{field} must"):
        AccelConfig(**{field: value})
    with pytest.raises(ConfigError, match=rf"^{field} must"):
        AccelConfig().replace(**{field: value})


@pytest.mark.parametrize("changes", [{"rows": 1, "cols": 1}, {"dataflow": "os"}, {"dataflow": "is"}, {"dram_latency": 0},
                                     {"acc_bits": 16, "input_bits": 16, "weight_bits": 4}, {"dram_bandwidth": math.inf}])  # fmt: skip
def test_valid_edge_values(changes):
    config = AccelConfig().replace(**changes)
    assert all(getattr(config, k) == v for k, v in changes.items())


def test_replace_unknown_field():
    with pytest.raises(ConfigError, match="unknown field 'row'; valid fields are rows, cols"):
        AccelConfig().replace(row=4)


def test_frozen():
    with pytest.raises(AttributeError):
        AccelConfig().rows = 4


@pytest.mark.parametrize(
    "config",
    [
        AccelConfig(),
        AccelConfig(rows=8, cols=16, dataflow="os", input_bits=4, weight_bits=4, acc_bits=16, ifmap_kib=1,
                    filter_kib=2, ofmap_kib=3, buffering="whole", dram_bandwidth=2.5, dram_latency=0,
                    clock_mhz=123.456),
        AccelConfig(dram_bandwidth=math.inf),
    ],
)  # fmt: skip
def test_toml_round_trip(tmp_path, config):
    path = tmp_path / "accel.toml"
    path.write_text(config.to_toml())
    assert AccelConfig.load(path) == config


def test_inf_bandwidth_is_written_as_toml_inf(tmp_path):
    text = AccelConfig(dram_bandwidth=math.inf).to_toml()
    assert "dram_bandwidth = inf\n" in text
    path = tmp_path / "ideal.toml"
    path.write_text(text)
    assert math.isinf(AccelConfig.load(path).dram_bandwidth)


def test_to_dict_has_every_field():
    assert tuple(AccelConfig().to_dict()) == FIELD_NAMES
    assert AccelConfig.from_dict(AccelConfig(rows=4).to_dict()) == AccelConfig(rows=4)


def test_load_top_level_fields_and_defaults(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text('rows = 4\ncols = 8\ndataflow = "is"\n')
    assert AccelConfig.load(path) == AccelConfig(rows=4, cols=8, dataflow="is")


def write(tmp_path, text: str):
    path = tmp_path / "accel.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("[accelerator]\nrowz = 4\n", r"accel\.toml: unknown field 'rowz'; valid fields are rows"),
        ("rows = 4\nbogus = 1\n", r"unknown field 'bogus'"),
        ("[accelerator]\nrows = 0\n", r"accel\.toml: rows must be >= 1, not 0"),
        ("[accelerator]\ndataflow = 3\n", r"accel\.toml: dataflow must be one of ws, os, is"),
        ("[accelerator]\nrows = \n", r"accel\.toml is not valid TOML"),
        ("rows = 4\nrows = 5\n", r"not valid TOML"),
        ("[accelerator\n", r"not valid TOML"),
        ("rows = 4\n[accelerator]\ncols = 8\n", r"field 'rows' is outside the \[accelerator\] table"),
        ("accelerator = 5\n", r"'accelerator' must be a table"),
    ],
)
def test_bad_toml_files(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        AccelConfig.load(write(tmp_path, text))


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'dataflow = "\xe9"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        AccelConfig.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file .*nope.toml does not exist"):
        AccelConfig.load(tmp_path / "nope.toml")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        AccelConfig.load(tmp_path)
