"""cocotb bench of the DMA engines (:class:`rtl.hw.dma.DmaReader`, :class:`rtl.hw.dma.DmaWriter`).

Run by ``tests/test_rtl_dma.py``, which writes ``plan.json``, ``dram.bin`` and ``chip.bin`` into
``DMA_BENCH_DIR`` and checks the ``result.json`` written here; the bench itself judges nothing.
Each cycle it drives the inputs after the falling edge and samples the settled signals (what
the next rising edge sees), so every event is recorded with the number of that edge:

- the on-chip memory: a bytearray per target, written through ``wr`` (reader) or read through
  ``rd``, whose ``data`` answers the cycle after ``en`` (random bytes in other cycles);
- DRAM: cocotbext-axi's AxiRam with random back-pressure (``memory: axiram``), the bench's
  ``ideal`` memory: always ready, serving bursts in order one beat per cycle (R from the edge
  after AR, B the edge after a burst's last W), answering SLVERR / DECERR for bursts touching
  the plan's error ranges, or ``rtl/host/dram_model.v`` inside the toplevel (``dram_model``: the
  bench only watches the AXI wires and pulses ``dump`` for DRAM images);
- commands: offered in order; one with ``wait`` is followed by a wait for ``done``, a snapshot
  (the on-chip image of its target, or the DRAM windows the plan lists) and a ``clear`` pulse;
  one with ``hold: [s, e]`` taken at edge ``h`` has ``hold`` high in the cycles ending at edges
  ``h + s .. h + e - 1`` (``s >= 1``).

Trace entries: ``["cmd", edge, index]``, ``["a", edge, addr, size, burst, id, len]``,
``["r", edge, resp, last]``, ``["w", edge, strb, last]``, ``["b", edge, resp]``,
``["done", edge, target, error]``, ``["wr", edge, target, addr, strb]`` and ``["pending", edge,
level]`` (each change of ``pending``, which is 0 until the first entry).
"""

from __future__ import annotations

import json
import os
import random
from collections import deque
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

#: Cycles allowed per data beat and per command before the bench stops waiting (the test then
#: finds the missing completions).
CYCLES_PER_BEAT = 8
CYCLES_PER_COMMAND = 200


def value(signal) -> int:
    return int(signal.value)


class IdealMemory:
    """Always-ready in-order AXI memory on the bench's bytearray, with error address ranges."""

    def __init__(self, dut, dram: bytearray, bus_bytes: int, errors: list) -> None:
        self.dut, self.dram, self.bus_bytes, self.errors = dut, dram, bus_bytes, errors
        self.reads: deque = deque()  # [address, beats left, resp, first edge]
        self.writes: deque = deque()  # [address, beats left, resp]
        self.w_early: deque = deque()  # W beats that came before their AW
        self.responses: deque = deque()  # [resp, first edge]

    def resp(self, address: int, beats: int) -> int:
        for lo, hi, code in self.errors:
            if address < hi and address + beats * self.bus_bytes > lo:
                return code
        return 0

    def drive(self, edge: int, reader: bool) -> None:
        """Outputs for the cycle ending at ``edge``."""
        dut = self.dut
        if reader:
            dut.m_axi_arready.value = 1
            head = self.reads[0] if self.reads and self.reads[0][3] <= edge else None
            dut.m_axi_rvalid.value = head is not None
            if head:
                address, left, resp, _ = head
                dut.m_axi_rdata.value = int.from_bytes(self.dram[address : address + self.bus_bytes], "little")
                dut.m_axi_rresp.value = resp
                dut.m_axi_rlast.value = left == 1
        else:
            dut.m_axi_awready.value = 1
            dut.m_axi_wready.value = 1
            head = self.responses[0] if self.responses and self.responses[0][1] <= edge else None
            dut.m_axi_bvalid.value = head is not None
            dut.m_axi_bresp.value = head[0] if head else 0

    def address(self, edge: int, reader: bool, address: int, beats: int) -> None:
        if reader:
            self.reads.append([address, beats, self.resp(address, beats), edge + 1])
        else:
            self.writes.append([address, beats, self.resp(address, beats)])
            while self.w_early and self.writes:
                self.write_beat(edge, *self.w_early.popleft())

    def write_beat(self, edge: int, data: int, strb: int) -> None:
        if not self.writes:
            self.w_early.append((data, strb))
            return
        burst = self.writes[0]
        write_lanes(self.dram, burst[0], data, strb, self.bus_bytes)
        burst[0] += self.bus_bytes
        burst[1] -= 1
        if burst[1] == 0:
            self.writes.popleft()
            self.responses.append([burst[2], edge + 1])

    def read_beat(self) -> None:
        head = self.reads[0]
        head[0] += self.bus_bytes
        head[1] -= 1
        if head[1] == 0:
            self.reads.popleft()


class DramDump:
    """DRAM images of ``rtl/host/dram_model.v``: ``dump`` high for one cycle writes its file."""

    def __init__(self, dut, path: Path, bus_bytes: int) -> None:
        self.dut, self.path, self.bus_bytes, self.requested = dut, path, bus_bytes, False

    def ready(self) -> bool:
        """Call after a falling edge: requests a dump, and is true (at the next call) once the
        edge in between has written the file."""
        if not self.requested:
            self.dut.dump.value, self.requested = 1, True
            return False
        self.dut.dump.value, self.requested = 0, False
        return True

    def image(self) -> bytearray:
        from rtl.host.dram_model import read_dump

        return read_dump(self.path, self.bus_bytes)


def write_lanes(memory: bytearray, address: int, data: int, strb: int, lanes: int) -> None:
    raw = data.to_bytes(lanes, "little")
    for j in range(lanes):
        if strb >> j & 1:
            memory[address + j] = raw[j]


def start_axi_ram(dut, reader: bool, dram: bytes, rng: random.Random):
    """cocotbext-axi's AxiRam on ``m_axi``, every channel paused at random."""
    from cocotbext.axi import AxiRamRead, AxiRamWrite, AxiReadBus, AxiWriteBus

    if reader:
        ram = AxiRamRead(AxiReadBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=len(dram))
        channels = (ram.ar_channel, ram.r_channel)
    else:
        ram = AxiRamWrite(AxiWriteBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=len(dram))
        channels = (ram.aw_channel, ram.w_channel, ram.b_channel)
    ram.write(0, dram)
    for channel in channels:
        seed = rng.randrange(1 << 30)
        channel.set_pause_generator(iter_pauses(random.Random(seed)))
    return ram


def iter_pauses(rng: random.Random):
    while True:
        yield rng.random() < 0.3


@cocotb.test()
async def dma(dut):
    directory = Path(os.environ["DMA_BENCH_DIR"])
    plan = json.loads((directory / "plan.json").read_text())
    reader, lanes = plan["engine"] == "reader", plan["bus_bytes"]
    rng = random.Random(plan["seed"])
    dram = bytearray((directory / "dram.bin").read_bytes())
    chip_bin = (directory / "chip.bin").read_bytes()
    size = plan["chip_bytes"]
    chip = [bytearray(chip_bin[t * size : (t + 1) * size]) for t in range(plan["targets"])]

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.cmd_valid.value, dut.cmd_payload.value, dut.clear.value, dut.hold.value = 0, 0, 0, 0
    if not reader:
        dut.rd_data.value = 0
    ram = ideal = None
    if plan["memory"] == "axiram":
        ram = start_axi_ram(dut, reader, dram, rng)
    elif plan["memory"] == "ideal":
        ideal = IdealMemory(dut, dram, lanes, plan["errors"])
        if reader:
            dut.m_axi_rvalid.value, dut.m_axi_rid.value = 0, 0
        else:
            dut.m_axi_bvalid.value, dut.m_axi_bid.value = 0, 0
    else:  # rtl/host/dram_model.v behind the engine; its image comes in and out by file
        dut.dump.value = 0
    dumped = None if plan["memory"] != "dram_model" else DramDump(dut, Path(plan["dump"]), lanes)
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0

    trace, snapshots, w_idle = [], [], []
    rready_low = 0
    commands = plan["commands"]
    total_beats = sum(-(-(c["fields"]["run_bytes"] + lanes) // lanes) * c["fields"]["runs"] for c in commands)
    budget = CYCLES_PER_BEAT * total_beats + CYCLES_PER_COMMAND * len(commands)
    offered = 0  # next command to offer
    waiting = None  # a waited-for command not yet done
    read_back = None  # (target, word address) sampled by the last edge
    snapshot_due = False  # the waited-for command is done: snapshot, then `clear` for a cycle
    done_count = 0
    held = set()  # edges whose cycles have `hold` high
    pending = 0
    for edge in range(1, budget):
        await FallingEdge(dut.clk)
        # Inputs for the cycle ending at `edge`.
        clear = False
        if snapshot_due and (not dumped or reader or dumped.ready()):
            image = dumped.image() if dumped and not reader else dram
            snapshots.append(snapshot(waiting, commands[waiting], reader, chip, ram, image))
            waiting, snapshot_due, clear = None, False, True
        dut.clear.value = clear
        dut.hold.value = edge in held
        can_offer = offered < len(commands) and waiting is None
        dut.cmd_valid.value = can_offer
        if can_offer:
            dut.cmd_payload.value = commands[offered]["payload"]
        if not reader:
            if read_back is not None:
                target, word = read_back
                dut.rd_data.value = int.from_bytes(chip[target][word * lanes : (word + 1) * lanes], "little")
            else:
                dut.rd_data.value = rng.getrandbits(8 * lanes)
        if ideal:
            ideal.drive(edge, reader)
        await ReadOnly()

        # What the rising edge `edge` samples.
        if can_offer and value(dut.cmd_ready):
            trace.append(["cmd", edge, offered])
            start, end = commands[offered].get("hold", (0, 0))
            held.update(range(edge + start, edge + end))
            if commands[offered]["wait"]:
                waiting = offered
            offered += 1
        prefix = "ar" if reader else "aw"
        if value(getattr(dut, f"m_axi_{prefix}valid")) and value(getattr(dut, f"m_axi_{prefix}ready")):
            address = value(getattr(dut, f"m_axi_{prefix}addr"))
            length = value(getattr(dut, f"m_axi_{prefix}len"))
            trace.append(["a", edge, address, value(getattr(dut, f"m_axi_{prefix}size")),
                          value(getattr(dut, f"m_axi_{prefix}burst")), value(getattr(dut, f"m_axi_{prefix}id")),
                          length])  # fmt: skip
            if ideal:
                ideal.address(edge, reader, address, length + 1)
        if reader:
            rready_low += not value(dut.m_axi_rready)
            if value(dut.m_axi_rvalid) and value(dut.m_axi_rready):
                trace.append(["r", edge, value(dut.m_axi_rresp), value(dut.m_axi_rlast)])
                if ideal:
                    ideal.read_beat()
            if value(dut.wr_valid):
                target, word, strb = value(dut.wr_target), value(dut.wr_addr), value(dut.wr_strb)
                write_lanes(chip[target], word * lanes, value(dut.wr_data), strb, lanes)
                trace.append(["wr", edge, target, word, strb])
        else:
            read_back = (value(dut.rd_target), value(dut.rd_addr)) if value(dut.rd_en) else None
            wvalid, wready = value(dut.m_axi_wvalid), value(dut.m_axi_wready)
            if wvalid and wready:
                strb = value(dut.m_axi_wstrb)
                trace.append(["w", edge, strb, value(dut.m_axi_wlast)])
                if ideal:
                    ideal.write_beat(edge, value(dut.m_axi_wdata), strb)
            elif wready:
                w_idle.append(edge)
            if value(dut.m_axi_bvalid) and value(dut.m_axi_bready):
                trace.append(["b", edge, value(dut.m_axi_bresp)])
                if ideal:
                    ideal.responses.popleft()
        if value(dut.pending) != pending:
            pending = value(dut.pending)
            trace.append(["pending", edge, pending])
        if value(dut.done):
            trace.append(["done", edge, value(dut.done_target), value(dut.error)])
            done_count += 1
        snapshot_due = waiting is not None and done_count == waiting + 1
        if done_count == len(commands) and waiting is None:
            break

    if reader:
        memory = b"".join(chip)
    elif dumped:
        while True:
            await FallingEdge(dut.clk)
            if dumped.ready():
                break
        memory = bytes(dumped.image())
    else:
        memory = ram.read(0, len(dram)) if ram else bytes(dram)
    result = {"trace": trace, "snapshots": snapshots, "final": memory.hex(), "rready_low": rready_low, "w_idle": w_idle}
    (directory / "result.json").write_text(json.dumps(result))


def snapshot(index: int, command: dict, reader: bool, chip: list, ram, dram: bytearray) -> dict:
    """The state a waited-for command left: its target's on-chip image, or its DRAM windows."""
    if reader:
        return {"command": index, "chip": bytes(chip[command["fields"]["target"]]).hex()}
    windows = [(ram.read(lo, hi - lo) if ram else bytes(dram[lo:hi])).hex() for lo, hi in command["windows"]]
    return {"command": index, "dram": windows}
