"""The Python API (``import sim``): each entry point, the lazy import, the example script."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import pytest

import sim
from accel.config import AccelConfig, ConfigError
from workloads.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "scalesim"
HEAVY = ("numba", "amaranth", "matplotlib", "pandas", "typer", "rich", "numpy")
SMALL = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.split()


def test_import_sim_loads_no_heavy_module():
    assert loaded_after("import sim") == []


def test_configuring_and_loading_a_network_need_no_numba_or_amaranth():
    loaded = loaded_after("import sim\nsim.configure(rows=8)\nsim.load_network('lenet5')\nsim.AccelConfig")
    assert not {"numba", "amaranth", "matplotlib", "pandas"} & set(loaded)


def test_public_names_are_listed_and_resolve():
    assert set(sim.__all__) <= set(dir(sim))
    for name in sim.__all__:
        assert getattr(sim, name) is not None
    assert sim.AccelConfig is AccelConfig and sim.UserError is UserError
    with pytest.raises(AttributeError, match="no attribute 'simulte'"):
        sim.simulte  # noqa: B018
    from sim import engine  # submodules still import as before

    assert engine.__name__ == "sim.engine"


# -- load and configure ---------------------------------------------------------------------------


def test_load_network_from_the_zoo_with_a_batch():
    assert "vgg16" in sim.networks()
    network = sim.load_network("lenet5", batch=3)
    assert network.name == "lenet5" and network.input_shape[0] == 3


def test_load_network_from_a_scalesim_topology():
    network = sim.load_network(DATA / "alexnet.csv")
    assert len(network) == 5


def test_load_network_from_an_onnx_file(tmp_path):
    onnx = pytest.importorskip("onnx")
    from tests.test_onnx_import import lenet5_model

    path = tmp_path / "lenet.onnx"
    onnx.save(lenet5_model(), str(path))
    imported = sim.simulate(sim.load_network(path), SMALL, mode="analytic")
    assert imported.total == sim.simulate("lenet5", SMALL, mode="analytic").total  # the same layers


def test_load_network_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="lenet5"):
        sim.load_network("lenet6")
    with pytest.raises(UserError, match="does not exist"):
        sim.load_network(tmp_path / "missing.onnx")


def test_configure_from_defaults_a_config_and_files(tmp_path):
    assert sim.configure() == AccelConfig()
    assert sim.configure(SMALL, rows=8) == SMALL.replace(rows=8)
    toml = tmp_path / "a.toml"
    toml.write_text(SMALL.to_toml())
    assert sim.configure(toml, dataflow="os") == SMALL.replace(dataflow="os")
    with pytest.warns(UserWarning):  # SCALE-Sim settings this model has no use for
        config = sim.configure(DATA / "scale32.cfg")
    assert (config.rows, config.cols, config.dram_bandwidth) == (32, 32, math.inf)
    with pytest.raises(ConfigError, match="unknown field 'row'"):
        sim.configure(row=8)


# -- simulate ---------------------------------------------------------------------------------------


def test_simulate_gives_records_dicts_and_equal_modes():
    report = sim.simulate("lenet5", SMALL)
    analytic = sim.simulate(sim.load_network("lenet5"), SMALL, mode="analytic")
    assert isinstance(report, sim.SimulationReport)
    assert report.mode == "cycle" and report.layers and report.total == analytic.total
    records = report.records()
    header = report.layers_csv().splitlines()[0].split(",")
    assert [list(r) for r in records] == [header] * len(report.layers)
    assert [r["cycles"] for r in records] == [layer.cycles for layer in report.layers]
    assert sum(r["dram.total_bytes"] for r in records) == report.total_record()["dram.total_bytes"]
    json.dumps(report.to_dict())  # plain data
    energy = report.energy()
    assert energy["unit"] == "pJ" and energy["total"]["total"] > 0


def test_simulate_scalesim_timing_and_functional_mode():
    with pytest.warns(UserWarning):
        config = sim.configure(DATA / "scale32.cfg")
    scalesim = sim.simulate(DATA / "alexnet.csv", config, timing="scalesim")
    # Conv1 under os: SCALE-Sim 3.0.0 printed 121,124 Total Cycles (docs/scalesim.md).
    assert scalesim.records()[0]["cycles"] == 121_124
    functional = sim.simulate("lenet5", SMALL, mode="functional")
    assert functional.layers[0].outputs.shape[1] == 6
    with pytest.raises(UserError, match="mode must be one of"):
        sim.simulate("lenet5", mode="fast")


def test_to_dataframe_without_pandas_is_a_user_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(UserError, match="pip install pandas"):
        sim.simulate("lenet5", SMALL, mode="analytic").to_dataframe()


def test_to_dataframe_passes_the_records(monkeypatch):
    fake = types.ModuleType("pandas")
    fake.DataFrame = types.SimpleNamespace(from_records=lambda rows: ("frame", rows))
    monkeypatch.setitem(sys.modules, "pandas", fake)
    report = sim.simulate("lenet5", SMALL, mode="analytic")
    assert report.to_dataframe() == ("frame", report.records())


def test_to_dataframe_with_pandas():
    pytest.importorskip("pandas")
    report = sim.simulate("lenet5", SMALL, mode="analytic")
    frame = report.to_dataframe()
    assert list(frame["name"]) == [layer.name for layer in report.layers]
    assert frame["cycles"].sum() == report.total["cycles"]


# -- sweep and evaluate -------------------------------------------------------------------------------


def test_sweep_evaluate_and_the_pareto_front():
    axes = {"rows": [4, 8], "dataflow": ["ws", "os"], "bandwidth": [4, 16]}
    result = sim.sweep("lenet5", axes, base=SMALL)
    assert len(result.rows) == 8 and len(result.ok) == 8
    front = result.pareto()
    assert front and all(row in result.ok for row in front)
    point = SMALL.replace(rows=8, dataflow="os", dram_bandwidth=4.0)
    row = sim.evaluate("lenet5", point)
    assert row == next(r for r in result.rows if r["rows"] == 8 and r["dataflow"] == "os" and r["dram_bandwidth"] == 4)
    assert row["cycles"] == sim.simulate("lenet5", point).total["cycles"]
    assert sim.evaluate("lenet5", point, mode="cycle") == row
    with pytest.raises(UserError, match="analytic or cycle"):
        sim.sweep("lenet5", axes, mode="functional")


def test_a_design_that_does_not_fit_is_a_failed_row():
    row = sim.evaluate("vgg16", sim.configure(ifmap_kib=1, filter_kib=1, ofmap_kib=1))
    assert row["status"] == "failed" and "kib" in row["error"]


# -- generate and verify ------------------------------------------------------------------------------


@pytest.mark.slow
def test_generate_the_core_and_the_axi_accelerator_with_an_image(tmp_path):
    core = sim.generate(SMALL.replace(dataflow="os", ifmap_kib=1, filter_kib=1, ofmap_kib=1), tmp_path / "core",
                        core_only=True)  # fmt: skip
    assert (tmp_path / "core" / f"{core['top']}.v").is_file()
    info = sim.generate(SMALL, tmp_path / "accel", "lenet5")
    assert info["top"] == "accel_axi" and info["network"]["source"] == "lenet5"
    assert {"accel_axi.v", "accel_axi.h", "manifest.json", "dram.bin", "weights.npz"} <= {
        p.name for p in (tmp_path / "accel").iterdir()
    }
    fitted = sim.generate(SMALL, tmp_path / "fit", sim.load_network("lenet5"), fit=True)
    assert set(fitted["fit"]["buffers_kib"]) == {"ifmap", "filter", "ofmap"}
    # A network built in Python is in the image but cannot be reloaded from the directory.
    assert fitted["network"]["source"] is None
    with pytest.raises(UserError, match="holds a network built in Python"):
        sim.verify(tmp_path / "fit", simulator="model")
    with pytest.raises(UserError, match="bare array"):
        sim.generate(SMALL, tmp_path / "x", "lenet5", core_only=True)
    with pytest.raises(UserError, match="give network"):
        sim.generate(SMALL, tmp_path / "x", fit=True)
    # The directory of a zoo network runs on its own, here on the NumPy model of the hardware.
    check = sim.verify(tmp_path / "accel", simulator="model")
    assert check.passed and check.network == "lenet5" and len(check.run.layers) == 7


def test_verify_on_the_hardware_model_is_exact():
    check = sim.verify("lenet5", SMALL, simulator="model")
    assert check.passed and all(layer.mismatches == 0 and layer.elements > 0 for layer in check.run.layers)
    assert check.cycles_equal is None and check.run.cycles is None  # the model counts no cycles
    assert check.sim_cycles == sim.simulate("lenet5", SMALL).total["cycles"]
    one = sim.verify("lenet5", SMALL, layer="conv2", simulator="model")
    assert [layer.name for layer in one.run.layers] == ["conv2"] and one.passed


def test_verify_argument_errors(tmp_path):
    with pytest.raises(UserError, match="simulator must be one of"):
        sim.verify("lenet5", simulator="modelsim")
    with pytest.raises(UserError, match="backpressure must be"):
        sim.verify("lenet5", backpressure=1.0)
    with pytest.raises(UserError, match="holds its own design"):
        sim.verify(tmp_path, SMALL)


# -- the example ----------------------------------------------------------------------------------------


def test_example_script_runs():
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python_api.py"), "--verilog"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    assert "Pareto front" in out.stdout and "7 of 7 layers bit-exact" in out.stdout
