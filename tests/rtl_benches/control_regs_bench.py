"""cocotb bench of :class:`rtl.hw.control_regs.ControlBlock`, driven through :mod:`rtl.host.driver`.

Run by ``tests/test_control_regs.py``. The host side is the real driver over cocotbext-axi's
AXI4-Lite master (:class:`rtl.host.driver.AxiLiteMmio`); a stand-in command processor answers each
``start`` after the number of cycles the scenario gives, raising ``computing`` for some of
them. Everything observed goes to the JSON report the test checks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from rtl.host.driver import AcceleratorDriver, AxiLiteMmio, DeviceError


async def processor(dut, scenarios: list[dict], seen: list[dict]) -> None:
    """Answer each start: ``computing`` in its cycles ``compute``, ``finish`` in cycle ``cycles``
    (counted from the cycle ``start`` is high), with ``error_code``."""
    dut.finish.value, dut.computing.value, dut.error_code.value = 0, 0, 0
    for scenario in scenarios:
        while True:
            await FallingEdge(dut.clk)
            if int(dut.start.value):
                break
        seen.append({"addr": int(dut.prog_addr.value), "len": int(dut.prog_len.value)})
        for cycle in range(1, scenario["cycles"] + 1):
            await FallingEdge(dut.clk)
            dut.computing.value = int(cycle in scenario["compute"])
            last = cycle == scenario["cycles"]
            dut.finish.value, dut.error_code.value = int(last), scenario["error"] if last else 0
        await FallingEdge(dut.clk)
        dut.finish.value, dut.computing.value, dut.error_code.value = 0, 0, 0


@cocotb.test()
async def control_block(dut):
    spec = json.loads(Path(os.environ["CONTROL_SPEC"]).read_text())
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    driver = AcceleratorDriver(AxiLiteMmio(master))
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    seen: list[dict] = []
    cocotb.start_soon(processor(dut, spec["scenarios"], seen))
    report = {"identify": await driver.identify(), "runs": []}
    for scenario in spec["scenarios"]:
        await driver.start(scenario["addr"], scenario["len"], interrupts=scenario["irq"])
        run = {"busy_after_start": await driver.get("STATUS", "BUSY")}
        if scenario["cycles"] > 20:
            await driver.write("CTRL", 1)  # a doorbell while busy is ignored
        try:
            result = await driver.wait(polls=100)
            run.update(cycles=result.cycles, compute=result.compute_cycles, stall=result.stall_cycles)
        except DeviceError as err:
            run["error"] = str(err)
        run["irq"] = int(dut.irq.value)
        run["events"] = await driver.acknowledge()
        run["irq_after_ack"] = int(dut.irq.value)
        report["runs"].append(run)
    try:
        await driver.mmio.read32(0x100)
    except DeviceError as err:
        report["unmapped"] = str(err)
    report["starts"] = seen
    Path(spec["report"]).write_text(json.dumps(report))
