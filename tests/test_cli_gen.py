"""`sim gen`: the AXI accelerator's Verilog, C header, manifest and README from the one
AccelConfig, a network's DRAM image, ``--fit``; bad input exits 2 cleanly with no output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def sim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_gen_core_only_writes_verilog_manifest_readme(tmp_path, dataflow):
    out = tmp_path / "core"
    result = sim("gen", "-o", str(out), "--rows", "2", "--cols", "3", "--dataflow", dataflow, "--core-only")
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
    assert sim("gen", "--config", str(cfg), "-o", str(out), "--core-only").returncode == 0
    assert (out / "systolic_os_3x2.v").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--rows", "0"], ["--dataflow", "xs"], ["--synth", "virtex"], ["--config", "missing.toml"],
        ["--dataflow", "os"], ["--rows", "1"], ["lenet5", "--core-only"], ["--fit"], ["nonet"],
        ["lenet5", "--filter-kib", "1"], ["--batch", "2"], ["resnet18", "--fit"],
    ],
)
def test_gen_bad_input_is_one_line_and_no_output(tmp_path, args):
    out = tmp_path / "core"
    result = sim("gen", "-o", str(out), *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert not out.exists()


LENET_4x4 = ["--rows", "4", "--cols", "4", "--ifmap-kib", "4", "--filter-kib", "16", "--ofmap-kib", "16"]


@pytest.mark.slow
def test_gen_emits_the_axi_accelerator_by_default(tmp_path):
    out = tmp_path / "accel"
    result = sim("gen", "-o", str(out), "--rows", "2", "--cols", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"wrote {out}/accel_axi.v, accel_axi.h, manifest.json, README.md"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "accel_axi.h", "accel_axi.v", "manifest.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["bus"] == {"data_bytes": 16, "address_bits": 32, "register_address_bits": 12}
    assert {r["name"]: r["offset"] for r in manifest["registers"]}["CTRL"] == 0x0C
    ports = {p["name"]: (p["direction"], p["width"]) for p in manifest["ports"]}
    assert ports["s_axil_wdata"] == ("input", 32) and ports["m_axi_rdata"] == ("input", 128)
    assert ports["m_axi_arlen"] == ("output", 8) and ports["irq"] == ("output", 1)
    verilog = (out / "accel_axi.v").read_text()
    assert "\nmodule accel_axi(" in verilog and "input [127:0] m_axi_rdata;" in verilog
    assert "#define ACCEL_AXI_REG_CTRL 0x0cu" in (out / "accel_axi.h").read_text()
    assert "## The DRAM image" not in (out / "README.md").read_text()  # no network, no image


def _lenet_image():
    """LeNet-5's DRAM image on :data:`LENET_4x4`, built in-process as `sim gen` builds it (seed 0)."""
    from accel.config import AccelConfig
    from rtl.host.dram_image import build_image
    from rtl.host.verify import prepare
    from workloads.zoo import get_network

    config = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)
    params, x, gold, program = prepare(get_network("lenet5"), config)
    return build_image(program, params, x), params, gold


def test_gen_writes_the_networks_dram_image(tmp_path):
    import numpy as np

    out = tmp_path / "lenet"
    result = sim("gen", "lenet5", "-o", str(out), *LENET_4x4)
    assert result.returncode == 0, result.stderr
    names = "accel_axi.v, accel_axi.h, dram.bin, dram.hex, weights.npz, manifest.json, README.md"
    assert result.stdout == f"wrote {out}/{names}\n"
    image, params, _ = _lenet_image()
    assert (out / "dram.bin").read_bytes() == bytes(image.data)  # byte for byte
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["image"]["program_address"] == image.program_address
    assert manifest["image"]["program_bytes"] == image.program_bytes
    assert manifest["layers"] == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    assert manifest["tensors"]["fc3"] == {"address": image.tensors["fc3"].address, "bytes": 10, "shape": [1, 10]}
    assert manifest["network"] == {"name": "lenet5", "source": "lenet5", "batch": 1, "skip_unsupported": False, "seed": 0}
    # dram.hex: the same bytes in 16-byte words, byte 0 in the low bits.
    words = [line for line in (out / "dram.hex").read_text().split() if not line.startswith("@")]
    assert bytes.fromhex(words[0])[::-1] == bytes(image.data[:16])
    weights = np.load(out / "weights.npz")
    assert np.array_equal(weights["fc3.weight"], params.layers["fc3"].weight)
    assert weights["conv1.requant"].tolist() == [params.layers["conv1"].scale, params.layers["conv1"].shift]
    readme = (out / "README.md").read_text()
    assert "## The DRAM image of lenet5 (batch 1)" in readme and f"| fc3 | `{image.tensors['fc3'].address:#x}` |" in readme


def test_the_written_directory_runs_the_network_on_its_own(tmp_path):
    """dram.bin, weights.npz and the manifest run on the NumPy model of the system without the
    in-process network: every layer's output in DRAM is the golden int8 model's."""
    import numpy as np

    from rtl.host.system_model import SystemModel
    from rtl.host.generated_dir import load_generated

    out = tmp_path / "lenet"
    assert sim("gen", "lenet5", "-o", str(out), *LENET_4x4).returncode == 0
    generated = load_generated(out)
    model = SystemModel(generated.image)
    model.run()
    shapes = {step.name: step.out_shape for step in generated.image.program.steps}
    for layer in generated.image.layers:  # its output in DRAM is its last fused step's
        want = generated.gold[layer.plan.fused[-1] if layer.plan.fused else layer.name]
        assert np.array_equal(model.output(layer.name, shapes[layer.name]), want), layer.name


def test_gen_fit_sizes_buffers_for_single_tiles(tmp_path):
    from rtl.host.generated_dir import load_generated

    out = tmp_path / "fit"
    result = sim("gen", "lenet5", "--fit", "-o", str(out), "--rows", "4", "--cols", "4")
    assert result.returncode == 0, result.stderr
    assert "ifmap_kib 256 -> 3" in result.stdout and "ofmap_kib 128 -> 49" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["config"]["ifmap_kib"], manifest["config"]["filter_kib"], manifest["config"]["ofmap_kib"]) == (3, 95, 49)
    tiles = {layer.name: len(layer.tiles) for layer in load_generated(out).image.layers}
    # One tile per layer, except pooling's channels (groups) that do not pack into 4 rows.
    assert tiles == {"conv1": 1, "pool1": 6, "conv2": 1, "pool2": 16, "fc1": 1, "fc2": 1, "fc3": 1}


def test_gen_image_for_a_batch(tmp_path):
    out = tmp_path / "batch"
    assert sim("gen", "lenet5", "--batch", "2", "-o", str(out), *LENET_4x4).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tensors"]["input"]["shape"] == [2, 1, 28, 28] and manifest["tensors"]["fc3"]["bytes"] == 20
    assert manifest["network"]["batch"] == 2


def test_gen_refuses_a_file_as_output_directory(tmp_path):
    target = tmp_path / "taken"
    target.write_text("mine")
    result = sim("gen", "-o", str(target), "--rows", "2", "--cols", "2")
    assert result.returncode == 2 and result.stderr.startswith("error: cannot write -o")
    assert result.stderr.count("\n") == 1 and target.read_text() == "mine"


def test_gen_fit_reports_the_layer_it_cannot_run(tmp_path):
    result = sim("gen", "resnet18", "--fit", "-o", str(tmp_path / "r"))
    assert result.returncode == 2 and "'layer1_0_add': add runs on the vector unit" in result.stderr


# -- The design fits the FPGA (rtl.fpga_fit) -----------------------------------------------------

FIT_LINES = [
    r"array 8x8: a 32x32 array needs about 1,152 DSP blocks; the LFE5U-85F-CABGA381 has 156; "
    r"--rows/--cols choose another",
    r"buffers 32/32/16 KiB: the largest \(ifmap:filter:ofmap = 2:2:1\) that fit the LFE5U-85F-CABGA381 "
    r"\(estimate: \d+ of 208 EBR, [\d,]+ of 83,640 LUT, 96 of 156 DSP\)",
]


def test_gen_without_sizes_picks_the_8x8_array_and_the_largest_buffers_that_fit(capsys):
    import re

    from accel.config import AccelConfig
    from sim.cli import fit_device

    config = fit_device(AccelConfig(), "ecp5", given=set())
    assert (config.rows, config.cols, config.ifmap_kib, config.filter_kib, config.ofmap_kib) == (8, 8, 32, 32, 16)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(re.fullmatch(p, line) for p, line in zip(FIT_LINES, lines))
    # A given array is kept; so are given buffers, which are checked.
    assert fit_device(AccelConfig(rows=4, cols=4), "ecp5", given={"rows", "cols"}).ifmap_kib == 32
    assert capsys.readouterr().out.startswith("buffers 32/32/16 KiB: ")
    small = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)
    assert fit_device(small, "ecp5", given={"rows", "cols", "ifmap_kib"}) == small
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_gen_with_no_flags_writes_a_design_that_fits(tmp_path):
    import re

    out = tmp_path / "accel"
    result = sim("gen", "-o", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(re.fullmatch(p, line) for p, line in zip(FIT_LINES, lines[:2]))
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert [config[k] for k in ("rows", "cols", "ifmap_kib", "filter_kib", "ofmap_kib")] == [8, 8, 32, 32, 16]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rows", "32", "--cols", "32"],
         "a 32x32 array needs about 1,152 DSP blocks; the LFE5U-85F-CABGA381 has 156: use --rows/--cols <= 10"),
        (["--rows", "16", "--cols", "16", "--core-only"],
         "a 16x16 array needs about 256 DSP blocks; the LFE5U-85F-CABGA381 has 156: use --rows/--cols <= 12"),
        (["lenet5", "--rows", "4", "--cols", "4", "--ifmap-kib", "1024"],
         "buffers 1024/256/128 KiB need about"),
        (["--synth", "ice40"], "a 32x32 array needs about"),
    ],
)  # fmt: skip
def test_gen_refuses_a_design_that_does_not_fit(tmp_path, args, message):
    out = tmp_path / "big"
    result = sim("gen", "-o", str(out), *args)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1 and not out.exists()
    if "--synth" in args:  # not even a 2x2 AXI top fits the iCE40 HX8K
        assert "iCE40HX8K-CT256 has 7,680: no array of this design fits it" in result.stderr


def test_gen_config_file_sizes_count_as_given(tmp_path):
    from accel.config import AccelConfig

    cfg = tmp_path / "big.toml"
    cfg.write_text(AccelConfig(rows=4, cols=4, ifmap_kib=1024).to_toml())
    result = sim("gen", "--config", str(cfg), "-o", str(tmp_path / "out"))
    assert result.returncode == 2 and "lower --ifmap-kib" in result.stderr


def test_gen_no_device_check_generates_anyway(tmp_path):
    out = tmp_path / "big"
    args = ["--rows", "2", "--cols", "2", "--ifmap-kib", "1024", "--filter-kib", "4", "--ofmap-kib", "4"]
    assert sim("gen", "-o", str(out), *args).returncode == 2
    result = sim("gen", "-o", str(out), *args, "--no-device-check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote ")  # no choice was made
    assert json.loads((out / "manifest.json").read_text())["config"]["ifmap_kib"] == 1024


def test_readme_and_docs_state_the_rule():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for doc in ("README.md", "docs/accelerator.md"):
        text = " ".join((root / doc).read_text().split())
        assert all(rule in text for rule in ("8x8", "ifmap:filter:ofmap = 2:2:1", "--no-device-check"))
