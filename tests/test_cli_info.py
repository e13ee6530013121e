"""`sim list` and `sim info`: output, JSON, and user errors (one line, exit status 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim.cli import main
from workloads.zoo import ZOO, describe


def sim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """Run ``python -m sim ARGS`` as a user would."""
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


def test_list_names_and_describes_every_zoo_network(capsys):
    status, out, _ = run(capsys, "list")
    assert status == 0
    for name, build in ZOO.items():
        assert f" {name} " in out
        assert f" {describe(name)} " in out
        assert f" {build().params:,} " in out and f" {build().macs:,} " in out
    assert "138,357,544" in out  # vgg16 params, as published


def test_zoo_descriptions_are_one_line():
    for name in ZOO:
        text = describe(name)
        assert text and "\n" not in text and text.endswith("."), name


def test_info_table(capsys):
    status, out, _ = run(capsys, "info", "lenet5")
    assert status == 0
    for text in ("conv1", "fc3", "1x6x28x28", "avgpool", "61,706", "416,520"):
        assert text in out


def test_info_json_stdout(capsys):
    status, out, err = run(capsys, "info", "vgg16", "--json", "-")
    assert (status, err) == (0, "")
    data = json.loads(out)  # nothing but JSON on stdout
    assert data["network"] == "vgg16"
    assert data["total"]["params"] == 138_357_544
    assert data["total"]["macs"] == 15_470_264_320
    assert len(data["layers"]) == 13 * 2 + 5 + 6
    first = data["layers"][0]
    assert first["name"] == "conv1_1"
    assert first["output_shape"] == [1, 64, 224, 224]
    assert first["receptive_field"] == [3, 3]
    assert sum(row["macs"] for row in data["layers"]) == data["total"]["macs"]


def test_info_json_file(capsys, tmp_path):
    path = tmp_path / "reports" / "lenet5.json"
    status, out, _ = run(capsys, "info", "lenet5", "--json", str(path))
    assert status == 0
    data = json.loads(path.read_text())
    assert data["total"]["params"] == 61_706
    assert data["total"]["macs"] == 416_520
    assert "fc3" in out  # the table is still printed
    assert [p.name for p in path.parent.iterdir()] == ["lenet5.json"]  # no temp file left behind


@pytest.mark.parametrize("batch", [1, 4])
def test_info_batch(capsys, batch):
    _, out, _ = run(capsys, "info", "alexnet", "--json", "-", "--batch", str(batch))
    data = json.loads(out)
    assert data["input_shape"] == [batch, 3, 224, 224]
    assert data["total"] == {"params": 61_100_840, "macs": 714_188_480 * batch, "flops": data["total"]["flops"]}


def test_unknown_network_is_one_error_line_and_no_file(tmp_path):
    out_file = tmp_path / "out.json"
    result = sim("info", "vgg17", "--json", str(out_file), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: unknown network 'vgg17'")
    assert "vgg16" in lines[0] and "vgg19" in lines[0]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("batch", ["0", "-3"])
def test_bad_batch(capsys, batch):
    status, out, err = run(capsys, "info", "lenet5", "--batch", batch)
    assert status == 2
    assert out == ""
    assert err.splitlines() == [f"error: batch must be a positive integer, not {int(batch)}"]


def test_missing_model_file(capsys, tmp_path):
    status, _, err = run(capsys, "info", str(tmp_path / "model.onnx"))
    assert status == 2
    assert err.startswith("error: ONNX model file") and "does not exist" in err


def test_usage_error_exits_2(capsys):
    status, _, err = run(capsys, "info", "lenet5", "--batch", "two")
    assert status == 2
    assert "Traceback" not in err
