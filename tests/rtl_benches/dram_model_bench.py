"""cocotb benches of the verification bench's DRAM model (``rtl/host/dram_model.v``).

Run by ``tests/test_dram_model.py``, which writes the inputs and checks the outputs; the benches
only drive and record. ``DRAM_BENCH`` names a JSON file with the bench's inputs and where its
results go.

- ``scripted``: a pin-level driver (inputs change at falling edges) issues the script's bursts,
  each on its channel in the cycle before its handshake edge, keeps WVALID high with the next
  beat whenever a write has been issued, and holds RREADY / BREADY high. It records, per cycle
  number (rising edges since the script started; cycle c follows edge c), each address
  handshake's edge, each R beat (cycle it is presented, data, RRESP, RLAST, RID) and each B
  response, then pulses ``dump``.
- ``random_traffic``: cocotbext-axi's ``AxiMaster`` against a bytearray model: random reads and
  writes (lengths, alignments, overlapping tasks on disjoint ranges), SLVERR and DECERR ranges,
  RREADY / BREADY paused at random while a monitor checks that a shown RVALID / BVALID and its
  payload hold until taken; the model is written out for the test to compare with the dump.
- ``bad_request``: one illegal request (the model must stop the run).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

#: Cycles after the last expected response before the scripted bench pulses ``dump``.
SETTLE_CYCLES = 3


def bench_spec() -> dict:
    return json.loads(Path(os.environ["DRAM_BENCH"]).read_text())


async def start(dut) -> int:
    """Clock, idle inputs, two cycles of reset; returns the bus width in bytes."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start(start_high=False))
    for name in ("awvalid", "wvalid", "arvalid", "bready", "rready", "wlast"):
        getattr(dut, f"s_axi_{name}").value = 0
    dut.dump.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    return len(dut.s_axi_wstrb)


def drive_address(dut, channel: str, burst: dict | None, bus_bytes: int) -> None:
    getattr(dut, f"s_axi_{channel}valid").value = burst is not None
    if burst is not None:
        for field, value in (("id", burst["id"]), ("addr", burst["addr"]), ("len", burst["beats"] - 1),
                             ("size", bus_bytes.bit_length() - 1), ("burst", 1)):  # fmt: skip
            getattr(dut, f"s_axi_{channel}{field}").value = value


@cocotb.test()
async def scripted(dut):
    """Issue the spec's bursts pin by pin and record handshakes, R beats and B responses per cycle."""
    spec = bench_spec()
    bus_bytes = await start(dut)
    dut.s_axi_rready.value, dut.s_axi_bready.value = 1, 1
    bursts = spec["bursts"]
    reads = [b for b in bursts if b["kind"] == "r"]
    writes = [b for b in bursts if b["kind"] == "w"]
    expected_r, expected_b = sum(b["beats"] for b in reads), len(writes)
    w_beats: list[tuple[int, int, bool]] = []  # (data, strobe, last) of writes whose AW is up, in order
    handshakes: dict[int, int] = {}  # burst index -> edge
    r_beats, b_resps = [], []
    cycle, done_at = 0, None
    while done_at is None or cycle < done_at:
        await FallingEdge(dut.clk)
        ar = reads[0] if reads and reads[0]["edge"] <= cycle + 1 else None
        aw = writes[0] if writes and writes[0]["edge"] <= cycle + 1 else None
        drive_address(dut, "ar", ar, bus_bytes)
        drive_address(dut, "aw", aw, bus_bytes)
        if aw is not None and not aw.get("w_queued"):  # W data is offered from the AW's first cycle
            aw["w_queued"] = True
            last = aw["beats"] - 1
            w_beats += [(d, s, k == last) for k, (d, s) in enumerate(zip(aw["data"], aw["strobes"]))]
        dut.s_axi_wvalid.value = bool(w_beats)
        if w_beats:
            dut.s_axi_wdata.value, dut.s_axi_wstrb.value, dut.s_axi_wlast.value = w_beats[0]
        await ReadOnly()
        if int(dut.s_axi_rvalid.value):
            r_beats.append([cycle, int(dut.s_axi_rdata.value), int(dut.s_axi_rresp.value), int(dut.s_axi_rlast.value),
                            int(dut.s_axi_rid.value)])  # fmt: skip
        if int(dut.s_axi_bvalid.value):
            b_resps.append([cycle, int(dut.s_axi_bresp.value), int(dut.s_axi_bid.value)])
        if ar is not None and int(dut.s_axi_arready.value):
            handshakes[ar["index"]] = cycle + 1
            reads.pop(0)
        if aw is not None and int(dut.s_axi_awready.value):
            handshakes[aw["index"]] = cycle + 1
            writes.pop(0)
        if w_beats and int(dut.s_axi_wready.value):
            w_beats.pop(0)
        await RisingEdge(dut.clk)
        cycle += 1
        if done_at is None and len(r_beats) == expected_r and len(b_resps) == expected_b:
            done_at = cycle + SETTLE_CYCLES
        assert cycle < spec["timeout_cycles"], "the DRAM model stopped answering"
    await FallingEdge(dut.clk)
    dut.dump.value = 1
    await FallingEdge(dut.clk)
    dut.dump.value = 0
    await ClockCycles(dut.clk, 2)
    result = {"handshakes": [handshakes[b["index"]] for b in bursts], "r": r_beats, "b": b_resps,
              "beats_moved": int(dut.beats_moved.value), "requests_served": int(dut.requests_served.value)}  # fmt: skip
    Path(spec["result"]).write_text(json.dumps(result))


async def check_held(dut, channel: str, fields: tuple[str, ...], violations: list) -> None:
    """Record every cycle in which a VALID the model showed without READY dropped or its payload changed."""
    shown = None
    while True:
        await FallingEdge(dut.clk)  # mid-cycle: the model's outputs and the master's READY are settled
        valid, ready = (int(getattr(dut, f"s_axi_{channel}{s}").value) for s in ("valid", "ready"))
        values = tuple(int(getattr(dut, f"s_axi_{f}").value) for f in fields) if valid else None
        if shown is not None and (not valid or values != shown):
            violations.append(f"{channel.upper()}VALID/payload changed before READY: {shown} -> {valid}, {values}")
        shown = values if valid and not ready else None


def pick_range(rng: random.Random, slot: tuple[int, int], bus_bytes: int) -> tuple[int, int]:
    """A random run ``(address, bytes)`` inside ``slot`` = [start, end): any alignment, 1..end-start bytes."""
    start, end = slot
    nbytes = rng.choice([rng.randrange(1, 2 * bus_bytes + 1), rng.randrange(1, end - start + 1)])
    return rng.randrange(start, end - nbytes + 1), nbytes


@cocotb.test()
async def random_traffic(dut):
    """Random reads and writes through ``AxiMaster`` against a bytearray; error ranges; the model is
    written to ``spec['expected']`` after ``dump`` is pulsed."""
    from cocotbext.axi import AxiBus, AxiMaster, AxiResp

    spec = bench_spec()
    bus_bytes = await start(dut)
    memory = bytearray(Path(spec["initial"]).read_bytes())
    master = AxiMaster(AxiBus.from_prefix(dut, "s_axi"), dut.clk, dut.rst)
    rng = random.Random(spec["seed"])
    pauses = random.Random(spec["seed"] + 1)
    master.read_if.r_channel.set_pause_generator(pauses.random() < spec["ready_pause"] for _ in iter(int, 1))
    master.write_if.b_channel.set_pause_generator(pauses.random() < spec["ready_pause"] for _ in iter(int, 1))
    violations: list[str] = []
    cocotb.start_soon(check_held(dut, "r", ("rdata", "rresp", "rlast", "rid"), violations))
    cocotb.start_soon(check_held(dut, "b", ("bresp", "bid"), violations))
    lo, hi = spec["slverr"]
    # Slots of equal size below the SLVERR range: tasks in distinct slots may overlap in time.
    slot_bytes = lo // spec["slots"]
    slots = [(k * slot_bytes, (k + 1) * slot_bytes) for k in range(spec["slots"])]

    async def read_checked(address: int, nbytes: int, resp: AxiResp, data: bytes) -> None:
        got = await master.read(address, nbytes)
        assert (got.resp, got.data) == (resp, data), f"read {address:#x}+{nbytes}: {got.resp}"

    async def write_checked(address: int, data: bytes, resp: AxiResp) -> None:
        got = await master.write(address, data)
        assert got.resp == resp, f"write {address:#x}+{len(data)}: {got.resp}, expected {resp}"

    for _ in range(spec["rounds"]):
        tasks = []
        for slot in rng.sample(slots, rng.randrange(1, len(slots) + 1)):
            address, nbytes = pick_range(rng, slot, bus_bytes)
            if rng.random() < 0.5:
                data = rng.randbytes(nbytes)
                memory[address : address + nbytes] = data
                tasks.append(cocotb.start_soon(write_checked(address, data, AxiResp.OKAY)))
            else:
                expected = bytes(memory[address : address + nbytes])
                tasks.append(cocotb.start_soon(read_checked(address, nbytes, AxiResp.OKAY, expected)))
        for task in tasks:
            await task
    # SLVERR: reads return zeros, writes are dropped; DECERR likewise at and beyond the end.
    end = len(memory)
    for address, nbytes, resp in ((lo, hi - lo, AxiResp.SLVERR), (end, 3 * bus_bytes, AxiResp.DECERR),
                                  (end + 5000, 7, AxiResp.DECERR)):  # fmt: skip
        await write_checked(address, rng.randbytes(nbytes), resp)
        await read_checked(address, nbytes, resp, bytes(nbytes))
    # Across the SLVERR range's end (a bus word boundary): the words from ``hi`` on are memory.
    data = rng.randbytes(5)
    await write_checked(hi - 3, data, AxiResp.SLVERR)
    memory[hi : hi + 2] = data[3:]
    await read_checked(hi - 3, 5, AxiResp.SLVERR, bytes(3) + data[3:])
    # A read across the end: its first beats are data, the rest DECERR (the last error wins).
    got = await master.read(end - bus_bytes, 2 * bus_bytes)
    assert got.resp == AxiResp.DECERR and got.data == bytes(memory[end - bus_bytes :]) + bytes(bus_bytes)
    await FallingEdge(dut.clk)
    dut.dump.value = 1
    await FallingEdge(dut.clk)
    dut.dump.value = 0
    Path(spec["expected"]).write_bytes(memory)
    await ClockCycles(dut.clk, 2)
    assert not violations, violations[:5]


@cocotb.test()
async def bad_request(dut):
    """One illegal request from the spec (``channel``, ``addr``, ``beats``, ``size``, ``burst``; for a
    write, WLAST on beat ``wlast_beat``): the model must stop the run."""
    spec = bench_spec()
    bus_bytes = await start(dut)
    channel, beats = spec["channel"], spec["beats"]
    drive_address(dut, channel, {"id": 0, "addr": spec["addr"], "beats": beats}, bus_bytes)
    getattr(dut, f"s_axi_{channel}size").value = spec["size"]
    getattr(dut, f"s_axi_{channel}burst").value = spec["burst"]
    await FallingEdge(dut.clk)
    drive_address(dut, channel, None, bus_bytes)
    dut.s_axi_wvalid.value, dut.s_axi_wstrb.value = channel == "aw", (1 << bus_bytes) - 1
    for beat in range(beats if channel == "aw" else 0):
        dut.s_axi_wlast.value = beat == spec["wlast_beat"]
        while True:
            await FallingEdge(dut.clk)
            if int(dut.s_axi_wready.value):
                break
    await ClockCycles(dut.clk, 10)
    raise AssertionError(f"the DRAM model accepted {spec}")
