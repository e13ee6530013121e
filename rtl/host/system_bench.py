"""cocotb test module of the AXI system run (:func:`rtl.host.system_run.run_on_rtl`).

``SYSTEM_SPEC`` names a JSON file: the program's DRAM address and length, the cycle budget, and
the result path. The DRAM image is already in the DRAM model (loaded by ``$readmemh`` at time 0),
so the bench only programs the registers through cocotbext-axi's AXI4-Lite master, waits for
the interrupt (no Python runs per cycle while the network executes), reads the counters and has
the model dump its memory. With ``trace`` in the spec it also records the cycle of the command
processor's ``start`` and of every segment's ``run`` and ``finished`` pulse (an event per
segment, read through the hierarchy).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from .driver import AcceleratorDriver, AxiLiteMmio, DeviceError

#: Clock period of the bench (ns); only the cycle counts matter.
PERIOD_NS = 10


@cocotb.test()
async def run_program(dut):
    spec = json.loads(Path(os.environ["SYSTEM_SPEC"]).read_text())
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.rst.value, dut.dump.value = 1, 0
    master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    driver = AcceleratorDriver(AxiLiteMmio(master))
    await driver.identify()
    marks: dict[str, list[int]] = {"start": [], "run": [], "finished": []}
    if spec.get("trace"):
        signals = {"start": dut.dut.processor.start, "run": dut.dut.processor.run, "finished": dut.dut.sequencer.finished}
        for name, signal in signals.items():
            cocotb.start_soon(record(signal, marks[name]))
    await driver.start(spec["program_address"], spec["program_bytes"])
    result: dict = {"marks": marks}
    try:
        await with_timeout(RisingEdge(dut.irq), spec["max_cycles"] * PERIOD_NS, "ns")
        events = await driver.acknowledge()
        done = await driver.wait(polls=4)
        result.update(cycles=done.cycles, compute_cycles=done.compute_cycles, events=events)
    except DeviceError as err:
        result["error"] = str(err)
    except SimTimeoutError:
        result["error"] = f"no interrupt within {spec['max_cycles']} cycles"
    dut.dump.value = 1
    await RisingEdge(dut.clk)
    dut.dump.value = 0
    await RisingEdge(dut.clk)
    Path(spec["result"]).write_text(json.dumps(result))


def cycle() -> int:
    """The bench's clock cycle now."""
    return int(get_sim_time("ns")) // PERIOD_NS


async def record(signal, cycles: list[int]) -> None:
    """Append the cycle of every rising edge of ``signal`` to ``cycles``."""
    while True:
        await RisingEdge(signal)
        cycles.append(cycle())
