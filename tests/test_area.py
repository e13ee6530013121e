"""Area model: hand-calculated ASIC estimate, user tables, FPGA synthesis cache."""

from __future__ import annotations

import pytest

from accel.area import AreaTable, AreaTableError, FpgaCache, asic_area, pe_register_bits
from accel.config import AccelConfig
from accel.dse import Sweep, run_sweep
from workloads.zoo import get_network


def test_asic_area_of_a_2x2_array_by_hand():
    config = AccelConfig(rows=2, cols=2, dataflow="ws", ifmap_kib=4, filter_kib=2, ofmap_kib=2)
    area = asic_area(config)
    # PE: 8x8 multiplier 64 x 5.32 + 32-bit adder 32 x 4.256 + registers (8 in + 2 x 8 weight + 32 psum)
    # 56 x 4.522 = 729.904 um^2 of cells, / 0.7 utilization = 1042.72 um^2
    pe = (64 * 5.32 + 32 * 4.256 + 56 * 4.522) / 0.7
    assert area["pe_array"] == pytest.approx(4 * pe * 1e-6)
    # Skew: R(R-1)/2 = 1 input register (8 b) + C(C-1)/2 = 1 output register (32 b) -> 40 b of flip-flops
    assert area["edges"] == pytest.approx(40 * 4.522 / 0.7 * 1e-6)
    # SRAM: 8 KiB x 8192 b x 0.69 um^2
    assert area["sram"] == pytest.approx(8 * 8192 * 0.69 * 1e-6)
    assert area["control"] == 0.05
    assert area["total"] == pytest.approx(area["pe_array"] + area["edges"] + area["sram"] + 0.05)


def test_register_bits_per_dataflow():
    cfg = AccelConfig(input_bits=8, weight_bits=4, acc_bits=24)
    assert pe_register_bits(cfg.replace(dataflow="ws")) == 8 + 2 * 4 + 24
    assert pe_register_bits(cfg.replace(dataflow="is")) == 4 + 2 * 8 + 24
    assert pe_register_bits(cfg.replace(dataflow="os")) == 8 + 4 + 2 * 24


def test_area_grows_with_array_and_buffers():
    base = AccelConfig()
    assert asic_area(base.replace(rows=64))["total"] > asic_area(base)["total"]
    assert asic_area(base.replace(filter_kib=512))["total"] > asic_area(base)["total"]
    # Bandwidth, latency and clock are not hardware in this model.
    assert asic_area(base.replace(dram_bandwidth=4.0, clock_mhz=100.0)) == asic_area(base)


def test_area_table_from_toml(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text("[area]\nsram_um2_per_bit = 0.3\ncontrol_mm2 = 0.0\n")
    table = AreaTable.load(path)
    assert table.sram_um2_per_bit == 0.3
    config = AccelConfig(rows=1, cols=1, ifmap_kib=1, filter_kib=1, ofmap_kib=1)
    assert asic_area(config, table)["sram"] == pytest.approx(3 * 8192 * 0.3e-6)
    path.write_text("gates = 3\n")
    with pytest.raises(AreaTableError, match="unknown key 'gates'"):
        AreaTable.load(path)
    path.write_text("utilization = 1.5\n")
    with pytest.raises(AreaTableError, match=r"utilization must be in \(0, 1\]"):
        AreaTable.load(path)


REPORT = {
    "device": "LFE5U-85F",
    "luts": 1234,
    "ffs": 567,
    "dsp": 16,
    "bram": 8,
    "fmax_mhz": 101.5,
}


def test_fpga_cache_round_trip(tmp_path):
    cache = FpgaCache(tmp_path)
    cfg = AccelConfig(rows=4, cols=4)
    assert cache.get(cfg, "ecp5") is None
    assert cache.resources(cfg, "ecp5") == {f"fpga_{k}": "" for k in ("luts", "ffs", "dsp", "bram", "fmax_mhz")}
    cache.put(cfg, "ecp5", REPORT)
    assert cache.get(cfg, "ecp5") == REPORT
    # Bandwidth and clock do not change the hardware: same entry.
    assert cache.get(cfg.replace(dram_bandwidth=4.0, clock_mhz=200.0), "ecp5") == REPORT
    assert cache.get(cfg.replace(dataflow="os"), "ecp5") is None
    assert cache.get(cfg, "ice40") is None
    assert cache.resources(cfg, "ecp5")["fpga_luts"] == 1234


def test_fpga_cache_rejects_an_entry_of_another_design(tmp_path):
    cache = FpgaCache(tmp_path)
    cfg = AccelConfig(rows=4, cols=4)
    path = cache.put(cfg, "ecp5", REPORT)
    other = cfg.replace(ifmap_kib=64)
    path.rename(cache.path(other, "ecp5"))  # a file under the other design's name
    assert cache.get(other, "ecp5") is None
    cache.path(cfg, "ecp5").write_text("{ torn")
    assert cache.get(cfg, "ecp5") is None


def test_sweep_results_carry_cached_fpga_resources(tmp_path):
    cache = FpgaCache(tmp_path / "cache")
    cache.put(AccelConfig(rows=8, cols=8), "ecp5", REPORT)
    result = run_sweep(get_network("lenet5"), Sweep({"rows": [8, 16], "cols": [8]}))
    paths = result.write(tmp_path / "out", fpga=(cache, "ecp5"))
    lines = paths["results"].read_text().splitlines()
    header = lines[0].split(",")
    assert header[-5:] == [
        "fpga_luts",
        "fpga_ffs",
        "fpga_dsp",
        "fpga_bram",
        "fpga_fmax_mhz",
    ]
    assert lines[1].split(",")[-5:] == [
        "1234",
        "567",
        "16",
        "8",
        "101.5",
    ]  # 8x8: synthesized
    assert lines[2].split(",")[-5:] == ["", "", "", "", ""]  # 16x8: not yet
