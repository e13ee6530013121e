"""AXI building blocks: signatures, Verilog port names, the register file and the burst splitter.

The cocotb benches are ``tests/rtl_benches/axil_regs_bench.py`` (cocotbext-axi's AXI4-Lite
master against a sample register table) and ``tests/rtl_benches/axi_bursts_bench.py`` (random
requests against :func:`rtl.hw.axi_bursts.split_bursts`).
"""

from __future__ import annotations

import gc
import random
import shutil
import warnings
from pathlib import Path

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.hdl import UnusedElaboratable
from amaranth.lib.wiring import In, Out

from rtl.hw import axi

from rtl.host import dram_model
from rtl.hw.axi_bursts import BurstSplitter, split_bursts
from rtl.hw.axil_regs import AXILiteRegisters, Register
from tests.test_rtl_array import run_cocotb

BENCHES = Path(__file__).parent / "rtl_benches"
ROOT = Path(__file__).parent.parent
needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed")

#: The sample table the register-file bench drives (byte offsets).
REGISTERS = (
    Register("ctrl", 0x00, "RW", 32, 0x12345678),
    Register("mode", 0x04, "RW", 8, 0x03),
    Register("status", 0x08, "RO", 16),
    Register("irq", 0x0C, "W1C", 4, 0b0001),
    Register("version", 0x10, "RO", 32),
)
AXIL = ["awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid", "bready",
        "araddr", "arprot", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready"]  # fmt: skip


def test_data_width_is_validated():
    with pytest.raises(ValueError, match="AXI data width must be a power of two between 32 and 256 bits, not 48"):
        axi.AXI4Signature(32, 48)
    with pytest.raises(ValueError, match="AXI address width"):
        axi.AXI4LiteSignature(8)
    with pytest.raises(ValueError, match="AXI ID width"):
        axi.AXI4Signature(32, 64, -1)


def test_axi4_members_are_the_standard_names():
    members = axi.AXI4Signature(40, 128, 4).members
    assert [n for n in members if n.startswith("ar")] == ["arid", "araddr", "arlen", "arsize", "arburst", "arlock",
                                                          "arcache", "arprot", "arvalid", "arready"]  # fmt: skip
    assert members["wstrb"].shape == 16 and members["araddr"].shape == 40 and members["rid"].flow == In
    assert "awid" not in axi.AXI4Signature(32, 32).members


def test_register_table_is_validated():
    with pytest.raises(ValueError, match="offset must be a non-negative multiple of 4"):
        Register("a", 2)
    with pytest.raises(ValueError, match="access must be one of RW, RO, W1C"):
        Register("a", 0, "WO")
    refused([Register("a", 0), Register("b", 0)], "offsets must be unique")
    refused([Register("a", 0x1000)], "does not fit in 12 address bits")
    refused([Register("a", 0, "W1C"), Register("a_set", 4)], r"share a name.*'a_set'")


def refused(table: list, match: str) -> None:
    """The table is refused; the half-built component it leaves is collected without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match=match):
            AXILiteRegisters(table)
        gc.collect()


def test_register_file_verilog_ports():
    verilog = axi.convert(AXILiteRegisters(REGISTERS, address_width=16), "axil_regs")
    ports = dram_model.module_ports(verilog, "axil_regs")
    wide = {"awaddr": 16, "araddr": 16, "wdata": 32, "rdata": 32, "wstrb": 4, "awprot": 3, "arprot": 3, "bresp": 2, "rresp": 2}
    manager_driven = {"awaddr", "awprot", "awvalid", "wdata", "wstrb", "wvalid", "bready", "araddr", "arprot", "arvalid", "rready"}
    expected = {f"s_axil_{s}": ("input" if s in manager_driven else "output", wide.get(s, 1)) for s in AXIL}
    expected |= {"clk": ("input", 1), "rst": ("input", 1), "ctrl": ("output", 32), "ctrl_written": ("output", 1),
                 "mode": ("output", 8), "mode_written": ("output", 1), "status": ("input", 16),
                 "irq": ("output", 4), "irq_set": ("input", 4), "irq_written": ("output", 1),
                 "version": ("input", 32)}  # fmt: skip
    assert ports == expected


def test_burst_splitter_verilog_ports():
    verilog = axi.convert(BurstSplitter(32, 64, 16, id_width=2), "bursts")
    ports = dram_model.module_ports(verilog, "bursts")
    assert {p for p in ports if p.startswith("m_axi_")} == {f"m_axi_ar{s}" for s in
            ("id", "addr", "len", "size", "burst", "lock", "cache", "prot", "valid", "ready")}  # fmt: skip
    assert ports["m_axi_arready"] == ("input", 1) and ports["m_axi_arlen"] == ("output", 8)
    assert ports["req_payload"] == ("input", 48) and ports["offset"] == ("output", 3)
    assert {p for p in dram_model.module_ports(axi.convert(BurstSplitter(channel="aw"), "w"), "w") if p.startswith("m_axi")} == {
        f"m_axi_aw{s}" for s in ("addr", "len", "size", "burst", "lock", "cache", "prot", "valid", "ready")
    }


class Peripheral(wiring.Component):
    """The shape of the FPGA top: a register file on ``s_axil`` and an (idle) AXI4 manager."""

    def __init__(self) -> None:
        super().__init__({"s_axil": In(axi.AXI4LiteSignature(16)), "m_axi": Out(axi.AXI4Signature(32, 128, 2))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.regs = regs = AXILiteRegisters(REGISTERS, address_width=16)
        wiring.connect(m, wiring.flipped(self.s_axil), regs.s_axil)
        return m


def test_peripheral_wrapper_has_exactly_the_standard_port_names():
    ports = dram_model.module_ports(axi.convert(Peripheral(), "peripheral"), "peripheral")
    address = ["id", "addr", "len", "size", "burst", "lock", "cache", "prot", "valid", "ready"]
    axi4 = [f"aw{s}" for s in address] + ["wdata", "wstrb", "wlast", "wvalid", "wready", "bid", "bresp", "bvalid",
            "bready"] + [f"ar{s}" for s in address] + ["rid", "rdata", "rresp", "rlast", "rvalid", "rready"]  # fmt: skip
    subordinate_driven = {"awready", "wready", "bid", "bresp", "bvalid", "arready", "rid", "rdata", "rresp", "rlast", "rvalid"}
    assert sorted(ports) == sorted(["clk", "rst"] + [f"s_axil_{s}" for s in AXIL] + [f"m_axi_{s}" for s in axi4])
    # The manager's outputs stay outputs although nothing drives them yet.
    for s in axi4:
        assert ports[f"m_axi_{s}"][0] == ("input" if s in subordinate_driven else "output"), s
    assert ports["m_axi_wdata"] == ("output", 128) and ports["m_axi_wstrb"] == ("output", 16)
    assert ports["m_axi_arid"] == ("output", 2) and ports["m_axi_arlen"] == ("output", 8)


def test_split_bursts_reference():
    assert split_bursts(0, 0, 8) == []
    assert split_bursts(4090, 100, 8) == [(4088, 1), (4096, 12)]
    assert split_bursts(0, 256 * 4 + 1, 4) == [(0, 256), (1024, 1)]
    assert split_bursts(0x1F00, 512, 32) == [(0x1F00, 8), (0x2000, 8)]
    with pytest.raises(ValueError, match="AXI data width must be a power of two between 32 and 256 bits, not 48"):
        split_bursts(0, 4, 6)
    rng = random.Random(7)
    for _ in range(2000):
        addr, nbytes, bus = rng.randrange(1 << 32), rng.randrange(1 << 18), rng.choice((4, 8, 16, 32))
        bursts = split_bursts(addr, nbytes, bus)
        assert all(1 <= n <= 256 and a // 4096 == (a + n * bus - 1) // 4096 for a, n in bursts)
        words = sum(n for _, n in bursts)
        assert words == ((addr + nbytes - 1) // bus - addr // bus + 1 if nbytes else 0)


def build_and_run(component, top: str, module: str, tmp_path: Path, monkeypatch, env: dict[str, str]) -> None:
    # The runner hands this process's sys.path to the simulator's Python.
    monkeypatch.syspath_prepend(str(BENCHES))
    monkeypatch.syspath_prepend(str(ROOT))
    (tmp_path / f"{top}.v").write_text(axi.convert(component, top))
    run_cocotb({"top": top}, tmp_path, tmp_path / "build", module, env)


@needs_icarus
def test_register_file_with_axil_master(tmp_path, monkeypatch):
    pytest.importorskip("cocotbext.axi")
    build_and_run(AXILiteRegisters(REGISTERS, address_width=12), "axil_regs", "axil_regs_bench", tmp_path, monkeypatch, {})


@needs_icarus
@pytest.mark.parametrize("data_width, length_width", [(32, 16), (256, 20)])
def test_burst_splitter_against_reference(data_width, length_width, tmp_path, monkeypatch):
    env = {"BURST_LENGTH_WIDTH": str(length_width), "BENCH_SEED": str(data_width)}
    build_and_run(BurstSplitter(32, data_width, length_width), "bursts", "axi_bursts_bench", tmp_path, monkeypatch, env)
