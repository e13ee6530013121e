"""Whole networks on the AXI system top (rtl/hw/system_top.py) in Icarus, DRAM model in the loop
(rtl/host/system_run.py): started through the AXI4-Lite registers, ended by the interrupt, every
layer's output in DRAM bit-exact against the golden int8 model."""

from __future__ import annotations

import pytest

from accel.config import AccelConfig
from rtl.host.simulators import available
from rtl.host.dram_image import build_image
from rtl.spec import ERROR_CODES
from rtl.host.system_run import BENCH_TOP, run_network, run_on_rtl, simulation_source
from rtl.host.verify import prepare
from sim.runner import simulate
from workloads.layers import Activation, Conv, Flatten, Linear, Pool
from workloads.network import Network
from workloads.zoo import get_network

pytestmark = pytest.mark.skipif(not available("icarus"), reason="Icarus Verilog is not installed")

CONFIG = AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=4, ofmap_kib=4)
SMALL = Network("small", (2, 3, 9, 8), [
    Conv(name="conv", in_channels=3, out_channels=6, kernel_size=3, padding=1, stride=2), Activation(name="relu"),
    Pool(name="pool", mode="max", kernel_size=2), Flatten(name="flat"), Linear(name="fc", in_features=24, out_features=5),
])  # fmt: skip


def assert_exact(run, layers: int) -> None:
    assert run.error is None, run.error
    assert len(run.layers) == layers and all(layer.mismatches == 0 for layer in run.layers), run.layers
    assert 0 < run.compute_cycles < run.cycles


def test_lenet5_runs_bit_exact_from_one_start_in_the_simulated_cycles(tmp_path):
    config = CONFIG.replace(dram_bandwidth=16.0, dram_latency=0)
    run = run_network(get_network("lenet5"), config, tmp_path, trace=True)
    assert_exact(run, 7)
    # One segment per layer; the segments' prologues and bodies make up the CYCLES counter.
    assert len(run.segments) == 7 and all(prologue > 0 and body > 0 for prologue, body in run.segments)
    assert sum(map(sum, run.segments)) == run.cycles == 53_475  # `sim run lenet5` with CONFIG's flags
    report = simulate(get_network("lenet5"), config)
    assert [layer.cycles for layer in run.layers] == [layer.cycles for layer in report.layers]
    assert run.cycles == report.total["cycles"]


@pytest.mark.parametrize("bandwidth, latency, backpressure", [(2.0, 50, 0.0), (2.0, 50, 0.3), (32.0, 7, 0.5)])
def test_starved_slow_and_withheld_dram_keeps_outputs_exact(bandwidth, latency, backpressure, tmp_path):
    config = CONFIG.replace(dram_bandwidth=bandwidth, dram_latency=latency)
    run = run_network(SMALL, config, tmp_path, backpressure=backpressure)
    assert_exact(run, 3)
    simulated = simulate(SMALL, config).total["cycles"]
    # Backpressure only delays: the cycles are the simulator's without it, more with it.
    assert run.cycles == simulated if backpressure == 0 else run.cycles > simulated


def meaning(name: str) -> str:
    return next(e.meaning for e in ERROR_CODES if e.name == name)


@pytest.mark.parametrize("fault", ["weights read", "output write", "program magic"])
def test_faults_end_in_the_error_status_and_an_interrupt(fault, tmp_path):
    params, x, gold, program = prepare(SMALL, CONFIG)
    image = build_image(program, params, x)
    shapes = {step.name: step.out_shape for step in program.steps}
    slverr, expected = None, "BAD_PROGRAM"
    if fault == "weights read":
        weights = next(c for c in image.layers[0].tiles[0].loads if c.target == "weights")
        slverr, expected = (weights.dram_addr, weights.dram_addr + 1), "DRAM_READ_SLVERR"
    elif fault == "output write":
        output = image.tensors[image.layers[-1].name]
        slverr, expected = (output.address, output.address + output.nbytes), "DRAM_WRITE_SLVERR"
    else:
        image.data[image.program_address - image.base] ^= 0xFF
    run = run_on_rtl(image, CONFIG, gold, shapes, tmp_path, slverr=slverr, max_cycles=200_000)
    # The bench got the interrupt (else: "no interrupt within ...") and STATUS.ERROR with the code.
    assert run.error is not None and meaning(expected) in run.error and run.error.endswith(
        f"(ERROR_CODE {next(e.code for e in ERROR_CODES if e.name == expected)})"
    ), run.error


def test_combinational_blocks_run_at_time_one():
    verilog = "module m;\n  reg \\$auto$verilog_backend.cc:2355:dump_module$7  = 0;\n  always @* begin end\nendmodule\n"
    assert "  initial #1 \\$auto$verilog_backend.cc:2355:dump_module$7 = 1;\n" in simulation_source(verilog)


@pytest.mark.skipif(not available("verilator"), reason="Verilator is not installed")
def test_verilator_runs_bit_exact_with_the_cycles_of_icarus(tmp_path, monkeypatch):
    # A slow, withheld DRAM: the model's real-valued timing and its backpressure draws in both simulators.
    config = CONFIG.replace(dram_bandwidth=2.0, dram_latency=50)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    icarus = run_network(SMALL, config, tmp_path / "icarus", backpressure=0.3)
    verilator = run_network(SMALL, config, tmp_path / "verilator", simulator="verilator", backpressure=0.3)
    assert_exact(icarus, 3)
    assert_exact(verilator, 3)
    assert (verilator.cycles, verilator.compute_cycles) == (icarus.cycles, icarus.compute_cycles)
    # A second run of the same design takes the cached build as it is, without its build step.
    (binary,) = (tmp_path / "cache" / "accel-sim" / "verilator").glob(f"*/{BENCH_TOP}")
    built = binary.stat().st_mtime_ns
    again = run_network(SMALL, config, tmp_path / "again", simulator="verilator", backpressure=0.3)
    assert binary.stat().st_mtime_ns == built and not (tmp_path / "again" / "build.log").exists()
    assert not list(binary.parent.glob("*.gch"))  # 150 MB of precompiled headers, of no use once built
    assert (again.cycles, again.compute_cycles) == (verilator.cycles, verilator.compute_cycles)
    assert_exact(again, 3)
