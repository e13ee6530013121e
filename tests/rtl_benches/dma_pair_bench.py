"""cocotb bench of both DMA engines on ``rtl/host/dram_model.v`` through one port (``rtl.hw.dma.DmaPair``).

Run by ``tests/test_rtl_dma.py``, which writes ``plan.json`` and ``chip.bin`` into
``DMA_BENCH_DIR`` (the DRAM image goes to the model by plusargs) and checks the ``result.json``
written here; the bench judges nothing. It offers the plan's commands back to back, in order,
keeps the on-chip memory (a bytearray per target, written through ``wr``, read through ``rd``
with ``data`` the cycle after ``en``) and records, with the number of the rising edge that
samples them: ``["cmd", edge, index]``, ``["ar" | "aw", edge, addr, len]`` and ``["done",
edge, "reader" | "writer"]``. At the end it dumps the DRAM.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly
from dma_bench import DramDump, value, write_lanes

#: Cycles allowed per command before the bench stops waiting (the test finds what is missing).
CYCLES_PER_COMMAND = 400


@cocotb.test()
async def dma_pair(dut):
    directory = Path(os.environ["DMA_BENCH_DIR"])
    plan = json.loads((directory / "plan.json").read_text())
    lanes, size = plan["bus_bytes"], plan["chip_bytes"]
    chip_bin = (directory / "chip.bin").read_bytes()
    chip = [bytearray(chip_bin[t * size : (t + 1) * size]) for t in range(plan["targets"])]
    commands = plan["commands"]
    dumped = DramDump(dut, Path(plan["dump"]), lanes)

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value, dut.cmd_valid.value, dut.cmd_payload.value, dut.rd_data.value, dut.dump.value = 1, 0, 0, 0, 0
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0

    trace, offered, done_count, read_back = [], 0, 0, None
    for edge in range(1, CYCLES_PER_COMMAND * len(commands)):
        await FallingEdge(dut.clk)
        dut.cmd_valid.value = offered < len(commands)
        if offered < len(commands):
            dut.cmd_payload.value = commands[offered]["payload"]
        if read_back is not None:
            target, word = read_back
            dut.rd_data.value = int.from_bytes(chip[target][word * lanes : (word + 1) * lanes], "little")
        await ReadOnly()

        if offered < len(commands) and value(dut.cmd_ready):
            trace.append(["cmd", edge, offered])
            offered += 1
        for channel in ("ar", "aw"):
            if value(getattr(dut, f"m_axi_{channel}valid")) and value(getattr(dut, f"m_axi_{channel}ready")):
                trace.append([channel, edge, value(getattr(dut, f"m_axi_{channel}addr")),
                              value(getattr(dut, f"m_axi_{channel}len"))])  # fmt: skip
        if value(dut.wr_valid):
            target, word = value(dut.wr_target), value(dut.wr_addr)
            write_lanes(chip[target], word * lanes, value(dut.wr_data), value(dut.wr_strb), lanes)
        read_back = (value(dut.rd_target), value(dut.rd_addr)) if value(dut.rd_en) else None
        for engine in ("reader", "writer"):
            if value(getattr(dut, f"{engine}_done")):
                trace.append(["done", edge, engine])
                done_count += 1
        if done_count == len(commands):
            break

    while True:
        await FallingEdge(dut.clk)
        if dumped.ready():
            break
    result = {"trace": trace, "chip": b"".join(chip).hex(), "dram": bytes(dumped.image()).hex()}
    (directory / "result.json").write_text(json.dumps(result))
