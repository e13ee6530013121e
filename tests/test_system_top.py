"""The AXI top (rtl/system_top.py) elaborates into Verilog with the standard port names that
Vivado's IP packager and LiteX's AXI wrappers recognise."""

from __future__ import annotations

from accel.config import AccelConfig
from rtl import axi, dram_model
from rtl.system_top import SystemTop


def test_the_top_has_standard_axi_ports():
    verilog = axi.convert(SystemTop(AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=4, ofmap_kib=4)), "accel_axi")
    ports = dram_model.module_ports(verilog, "accel_axi")
    assert {"clk", "rst", "irq", "s_axil_awaddr", "s_axil_rdata", "m_axi_araddr", "m_axi_arlen", "m_axi_wstrb",
            "m_axi_bresp", "m_axi_rlast"} <= set(ports)  # fmt: skip
    assert ports["m_axi_wdata"] == ("output", 128) and ports["s_axil_wdata"] == ("input", 32)
    assert all(p in ("clk", "rst", "irq") or p.startswith(("s_axil_", "m_axi_")) for p in ports)
