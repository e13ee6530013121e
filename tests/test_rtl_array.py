"""Generated systolic cores under cocotb + Icarus: bit-exact GEMMs and cycle-exact tiles.

One build directory per parameter set; the bench is ``tests/rtl_benches/core_bench.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from accel.config import AccelConfig

pytestmark = pytest.mark.rtl

BENCHES = Path(__file__).parent / "rtl_benches"
ROOT = Path(__file__).parent.parent

#: (dataflow, rows, cols, acc_bits): every dataflow on 1x1, 2x3, 4x4 and 8x8; 16-bit
#: accumulators on 2x3 so the extreme-value GEMM wraps.
CASES = [
    (df, r, c, 16 if (r, c) == (2, 3) else 32) for df in ("ws", "os", "is") for r, c in ((1, 1), (2, 3), (4, 4), (8, 8))
]


def bench_config(dataflow: str, rows: int, cols: int, acc_bits: int) -> AccelConfig:
    """Small buffers (a few hundred words) so tiles of the random GEMMs are split by the host."""
    return AccelConfig(
        rows=rows, cols=cols, dataflow=dataflow, acc_bits=acc_bits, ifmap_kib=1, filter_kib=1, ofmap_kib=2
    )


def run_cocotb(info: dict, rtl_dir: Path, build_dir: Path, module: str, env: dict[str, str]) -> None:
    """Build the generated top ``info['top']`` with Icarus and run the cocotb ``module``; assert it passed."""
    from cocotb_tools.runner import get_results, get_runner

    runner = get_runner("icarus")
    runner.build(
        sources=[rtl_dir / f"{info['top']}.v"], hdl_toplevel=info["top"], build_dir=build_dir, timescale=("1ns", "1ps")
    )
    results = runner.test(
        test_module=module,
        hdl_toplevel=info["top"],
        test_dir=build_dir,  # results.xml and simulator files go here, not into the source tree
        build_dir=build_dir,
        extra_env=env,
    )
    tests, failed = get_results(results)  # under pytest the runner already raises on failures
    assert tests == 1 and failed == 0, f"cocotb bench failed; see {build_dir}"


def run_bench(config: AccelConfig, build_dir: Path, seed: int = 1) -> None:
    from rtl.generate import generate_core

    info = generate_core(config, build_dir / "core")
    env = {"CORE_MANIFEST": str(build_dir / "core" / "manifest.json"), "BENCH_SEED": str(seed)}
    run_cocotb(info, build_dir / "core", build_dir, "core_bench", env)


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed")
@pytest.mark.parametrize("dataflow, rows, cols, acc_bits", CASES, ids=[f"{c[0]}-{c[1]}x{c[2]}" for c in CASES])
def test_core_gemm(dataflow, rows, cols, acc_bits, tmp_path_factory, monkeypatch):
    # The runner hands this process's sys.path to the simulator's Python.
    monkeypatch.syspath_prepend(str(BENCHES))
    monkeypatch.syspath_prepend(str(ROOT))
    build = tmp_path_factory.mktemp(f"core_{dataflow}_{rows}x{cols}")
    run_bench(bench_config(dataflow, rows, cols, acc_bits), build, seed=rows * 100 + cols)
