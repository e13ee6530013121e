"""DMA engines (``rtl/hw/dma.py``) under cocotb + Icarus: data, AXI protocol, published timing, errors.

The bench ``tests/rtl_benches/dma_bench.py`` runs a plan written here (commands, initial DRAM
and on-chip images, memory kind, ``hold`` windows) and records what it saw: every handshake
with its clock edge, ``pending``, the on-chip writes into its bytearray (reader), and images
after each waited-for command. This module computes the expected bytes, bursts and edges with
plain Python and asserts them. Commands start at any DRAM and any on-chip byte (runs of one
byte, runs shorter than a word across two on-chip words, runs of hundreds of bytes, packed or
apart on chip, overlapping nothing there) and are drawn so that the engine keeps pace
(``rtl.hw.dma.keeps_pace``), except writer commands on AxiRam that need two on-chip words for a beat:

- ``axiram``: cocotbext-axi's AxiRam with random back-pressure, one command at a time, W = 4,
  16, 32: data after each command (DRAM bytes around each run unchanged, on-chip strobes only
  on run bytes), bursts, strobes;
- ``ideal``: an always-ready in-order memory of the bench with SLVERR / DECERR address ranges:
  the same checks plus every address and data beat edge, the DONE constant, ``pending`` and
  errors; commands one at a time (``clear`` after each), under ``hold``, and back to back;
- ``dram_model``: ``rtl/host/dram_model.v`` at a full and a fractional bandwidth with latency: the
  same data and protocol checks, and every command taken and completed at the edges
  ``accel.dram_channel`` and the constants predict; back-to-back commands ending in one-beat
  bursts keep the channel in one busy period;
- both engines on one port of ``rtl/host/dram_model.v`` (``rtl.hw.dma.DmaPair``, bench
  ``dma_pair_bench.py``): requests in hand-over order with no gap, predicted ``done`` edges,
  the in-order model's images.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from accel.dram_channel import serve
from rtl.hw import axi
from rtl.host import dram_model
from rtl.hw.axi_bursts import split_bursts
from rtl.hw.dma import BurstIssuer, DmaPair, DmaParams, DmaReader, DmaWriter, beat_words, command_layout, keeps_pace

pytestmark = pytest.mark.rtl
needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed")
BENCHES = Path(__file__).parent / "rtl_benches"
ROOT = Path(__file__).parent.parent

DRAM_BYTES = 1 << 17
CHIP_BYTES = 1 << 14  # per target
TARGETS = 2
RESP_DECERR = 0b11
#: Bytes answering SLVERR and DECERR in the ideal memory (half-open ranges).
ERROR_RANGES = [(0x10000, 0x10040, axi.RESP_SLVERR), (0x12000, 0x12400, RESP_DECERR)]
ENGINES = {"reader": DmaReader, "writer": DmaWriter}
#: AXI ID bits of the benches' engines (AxiRam needs RID and BID); the engines send ID 0.
ID_WIDTH = 2


def bench_params(bus_bytes: int) -> DmaParams:
    return DmaParams(data_width=8 * bus_bytes, id_width=ID_WIDTH)


def pack(params: DmaParams, fields: dict) -> int:
    """The ``cmd_payload`` integer of a command."""
    layout = command_layout(params)
    return sum((fields[name] % (1 << field.width)) << field.offset for name, field in layout)


def random_command(rng: random.Random, bus_bytes: int, engine: str, after_idle: bool) -> dict:
    """Runs of 1..600 bytes (single bytes, shorter than a beat and longer) at unaligned DRAM
    addresses; strides below and above a 4 KiB page, overlapping ones included; some runs
    straddle a page boundary. On chip as :func:`place_on_chip` puts them."""
    run_bytes = rng.choice((1, rng.randint(1, bus_bytes), rng.randint(1, 2 * bus_bytes), rng.randint(1, 600)))
    runs = rng.randint(1, 5)
    kind = rng.randrange(4)
    if kind == 0:
        stride = rng.randint(max(1, run_bytes - 8), run_bytes + 100)  # packed, gapped or overlapping
    elif kind == 1:
        stride = rng.randint(4097, 9000)
    else:
        stride = 4096 + rng.randint(-64, 64)  # each run near the same page offset
    span = (runs - 1) * stride + run_bytes
    if kind == 3:  # run 0 straddles a page boundary
        page = rng.randint(1, (DRAM_BYTES - span) // 4096 - 1)
        dram_addr = page * 4096 - rng.randint(1, run_bytes)
    else:
        dram_addr = rng.randrange(0, DRAM_BYTES - span)
    cmd = {"dram_addr": dram_addr, "dram_stride": stride, "run_bytes": run_bytes, "runs": runs}
    return place_on_chip(rng, cmd, bus_bytes, engine, after_idle)


def single_beat_tail_command(rng: random.Random, bus_bytes: int, engine: str, after_idle: bool = False) -> dict:
    """Three to five runs whose last burst is a single beat: each run inside one beat, or each
    run crossing a 4 KiB boundary by 1..W bytes (a burst of 1..3 beats, then a one-beat burst)."""
    runs = rng.randint(3, 5)
    if rng.randrange(2):
        offset = rng.randrange(bus_bytes)
        run_bytes = rng.randint(1, bus_bytes - offset)
        dram_addr = rng.randrange(DRAM_BYTES // 2 // bus_bytes) * bus_bytes + offset
        stride = rng.randint(1, 300) * bus_bytes
    else:
        before = rng.randint(1, 3) * bus_bytes - rng.randrange(bus_bytes)
        run_bytes = before + rng.randint(1, bus_bytes)
        dram_addr = rng.randint(1, DRAM_BYTES // 4096 - runs) * 4096 - before
        stride = 4096
    cmd = {"dram_addr": dram_addr, "dram_stride": stride, "run_bytes": run_bytes, "runs": runs}
    return place_on_chip(rng, cmd, bus_bytes, engine, after_idle)


def place_on_chip(rng: random.Random, cmd: dict, bus_bytes: int, engine: str, after_idle: bool) -> dict:
    """``cmd`` with a random target and runs that overlap nothing on chip: packed (``chip_stride
    == run_bytes``) or up to three words apart, from any byte (a word boundary a third of the
    time), drawn again until the engine keeps pace with it (``rtl.hw.dma.keeps_pace``; ``after_idle``:
    the command follows one whose ``done`` was awaited)."""
    n, runs = cmd["run_bytes"], cmd["runs"]
    while True:
        stride = rng.choice((n, n + rng.randint(1, 3 * bus_bytes)))
        chip_addr = rng.randrange(CHIP_BYTES - (runs - 1) * stride - n + 1)
        if rng.randrange(3) == 0:
            chip_addr -= chip_addr % bus_bytes
        placed = cmd | {"chip_addr": chip_addr, "chip_stride": stride, "target": rng.randrange(TARGETS)}
        if keeps_pace(placed, bench_params(bus_bytes), writer=engine == "writer", after_idle=after_idle):
            return placed


def runs_of(cmd: dict):
    """``(DRAM byte address, on-chip byte address)`` of each run."""
    for r in range(cmd["runs"]):
        yield cmd["dram_addr"] + r * cmd["dram_stride"], cmd["chip_addr"] + r * cmd["chip_stride"]


def command_bursts(cmd: dict, bus_bytes: int) -> list[tuple[int, int, int, int]]:
    """``(address, beats, run's first DRAM byte, run bytes)`` of every burst of the command, in order."""
    n = cmd["run_bytes"]
    return [(a, beats, dram, n) for dram, _ in runs_of(cmd) for a, beats in split_bursts(dram, n, bus_bytes)]


def expected_strobes(address: int, beats: int, run_start: int, run_bytes: int, bus_bytes: int) -> list[int]:
    """WSTRB of each beat of a burst: exactly the lanes holding bytes of the run."""
    strobes = []
    for k in range(beats):
        base = address + k * bus_bytes
        strobes.append(sum(1 << j for j in range(bus_bytes) if run_start <= base + j < run_start + run_bytes))
    return strobes


def apply(cmd: dict, engine: str, dram: bytearray, chip: list[bytearray]) -> None:
    """The command's effect on the Python images: runs copied in order."""
    n, target = cmd["run_bytes"], cmd["target"]
    for dram_addr, chip_byte in runs_of(cmd):
        if engine == "reader":
            chip[target][chip_byte : chip_byte + n] = dram[dram_addr : dram_addr + n]
        else:
            dram[dram_addr : dram_addr + n] = chip[target][chip_byte : chip_byte + n]


def first_error(cmd: dict, bus_bytes: int) -> int:
    """The response code of the command's first failing burst in the ideal memory (0: none)."""
    for address, beats, _, _ in command_bursts(cmd, bus_bytes):
        for lo, hi, code in ERROR_RANGES:
            if address < hi and address + beats * bus_bytes > lo:
                return code
    return axi.RESP_OKAY


def windows(cmd: dict, bus_bytes: int) -> list[tuple[int, int]]:
    """DRAM ranges a writer command's snapshot holds: each run with a margin of a beat and 16 bytes."""
    margin = bus_bytes + 16
    return [(max(0, a - margin), min(DRAM_BYTES, a + cmd["run_bytes"] + margin)) for a, _ in runs_of(cmd)]


def make_plan(engine: str, memory: str, bus_bytes: int, seed: int) -> dict:
    rng = random.Random(seed)
    commands = [(random_command(rng, bus_bytes, engine, True), True) for _ in range(12 if bus_bytes == 4 else 18)]
    commands += [(cmd, True) for cmd in chip_byte_commands(rng, bus_bytes, engine)]
    if memory == "axiram" and engine == "writer":  # each run's beat needs two on-chip words: W waits for them
        unpaced = {"dram_addr": 0x2000, "dram_stride": 64, "run_bytes": bus_bytes, "runs": 4,
                   "chip_addr": 3 * bus_bytes // 2, "chip_stride": 2 * bus_bytes, "target": 0}  # fmt: skip
        assert not keeps_pace(unpaced, bench_params(bus_bytes), writer=True)
        commands.append((unpaced, True))
    if memory == "ideal":  # runs into the SLVERR and DECERR ranges; `hold` before and between bursts
        for start, _, _ in ERROR_RANGES:
            commands.append(({"dram_addr": start - 40, "dram_stride": 4100, "run_bytes": 100, "runs": 2,
                              "chip_addr": 0x100, "chip_stride": 0x100, "target": 1}, True))  # fmt: skip
        issue = ENGINES[engine].ISSUE_CYCLES
        for hold in ((1, 9), (1, issue), (issue + 1, issue + 4), (2, issue + 3)):
            commands.append((single_beat_tail_command(rng, bus_bytes, engine, True), True, hold))
    if memory != "axiram":  # long runs (past 256 beats at W = 4), then commands back to back
        long_runs = {"dram_addr": 0x3000, "dram_stride": 4096, "run_bytes": 1500, "runs": 2}
        commands.append((place_on_chip(rng, long_runs, bus_bytes, engine, True), True))
        burst = [random_command(rng, bus_bytes, engine, i == 0) for i in range(10)]
        commands += back_to_back(burst)
        if engine == "writer":
            commands += back_to_back(rows_going_on_mid_word(bus_bytes))
    fields = [command[0] for command in commands]
    runs = [(cmd["run_bytes"], chip) for cmd in fields for _, chip in runs_of(cmd)]
    assert any(chip % bus_bytes for _, chip in runs), "no chip-unaligned run"
    assert any(n == 1 for n, _ in runs) and any(n > 8 * bus_bytes for n, _ in runs), "no run of one byte or a long one"
    assert any(n < bus_bytes and chip % bus_bytes + n > bus_bytes for n, chip in runs), "no short run across two words"
    return plan_of(engine, memory, bus_bytes, seed, commands)


def chip_byte_commands(rng: random.Random, bus_bytes: int, engine: str) -> list[dict]:
    """What on-chip byte addresses bring: 40 runs of one byte and 12 runs of a little more
    than half a word (some across two on-chip words), packed or apart on chip; for the reader a
    run from a DRAM beat boundary to an on-chip lane 3, a word more than its beats (after an
    idle R channel)."""
    commands = []
    for run_bytes, runs in ((1, 40), (bus_bytes // 2 + 1, 12)):
        dram = {"dram_addr": rng.randrange(DRAM_BYTES // 2), "dram_stride": rng.randint(1, 3 * bus_bytes),
                "run_bytes": run_bytes, "runs": runs}  # fmt: skip
        commands.append(place_on_chip(rng, dram, bus_bytes, engine, True))
    if engine == "reader":
        commands.append({"dram_addr": 0x5000, "dram_stride": 0, "run_bytes": 5 * bus_bytes, "runs": 1,
                         "chip_addr": 8 * bus_bytes + 3, "chip_stride": 0, "target": 1})  # fmt: skip
        assert keeps_pace(commands[-1], bench_params(bus_bytes), writer=False, after_idle=True)
    return commands


def rows_going_on_mid_word(bus_bytes: int) -> list[dict]:
    """Writer commands as a tile's output rows in its staging bank: pixels of ``1.25 W`` bytes
    packed on chip, three per row, a DRAM row apart. Each row after the first starts mid-word
    in the word the row before ended in and its first beat spans two words: the writer keeps
    pace only because it takes that word as read (``rtl.hw.dma.carries_word``)."""
    pixel = bus_bytes + bus_bytes // 4
    rows = [{"dram_addr": 0x6000 + r * 256, "dram_stride": 2 * bus_bytes, "run_bytes": pixel, "runs": 3,
             "chip_addr": 3 * r * pixel, "chip_stride": pixel, "target": 1} for r in range(4)]  # fmt: skip
    params = bench_params(bus_bytes)
    for previous, row in zip(rows, rows[1:]):
        assert not keeps_pace(row, params, writer=True), row
        assert keeps_pace(row, params, writer=True, previous=previous), row
    return rows


def back_to_back(commands: list[dict]) -> list[tuple[dict, bool]]:
    """``(command, wait)`` pairs: offered one after the other, only the last waited for."""
    return [(cmd, i == len(commands) - 1) for i, cmd in enumerate(commands)]


def plan_of(engine: str, memory: str, bus_bytes: int, seed: int, commands: list[tuple]) -> dict:
    """The bench's plan: ``commands`` as ``(fields, wait)`` or ``(fields, wait, hold)``."""
    params = bench_params(bus_bytes)
    entries = []
    for cmd, wait, *hold in commands:
        entry = {"fields": cmd, "payload": pack(params, cmd), "wait": wait, "windows": windows(cmd, bus_bytes)}
        entries += [entry | {"hold": hold[0]} if hold else entry]
    return {
        "engine": engine,
        "memory": memory,
        "seed": seed,
        "bus_bytes": bus_bytes,
        "dram_bytes": DRAM_BYTES,
        "chip_bytes": CHIP_BYTES,
        "targets": TARGETS,
        "errors": ERROR_RANGES if memory == "ideal" else [],
        "commands": entries,
    }


def dram_model_top(name: str, engine_verilog: str, bus_bytes: int) -> str:
    """Verilog of module ``dma_dram``: module ``name`` on an ``rtl/host/dram_model.v`` instance."""
    return dram_model.attach(name, engine_verilog, bus_bytes, DRAM_BYTES // bus_bytes, ID_WIDTH, "dma_dram")


def run_bench(plan: dict, tmp_path: Path, monkeypatch, channel: tuple[float, int] = (0.0, 0)) -> dict:
    """Build the plan's engine (on ``rtl/host/dram_model.v`` with ``channel`` = (bandwidth, latency)
    for memory ``dram_model``) and run the plan; returns the bench's result."""
    engine, bus_bytes = plan["engine"], plan["bus_bytes"]
    dram = write_images(plan["seed"], tmp_path)
    top = f"dma_{engine}"
    verilog = axi.convert(ENGINES[engine](bench_params(bus_bytes)), top)
    if plan["memory"] != "dram_model":
        (tmp_path / f"{top}.v").write_text(verilog)
        return simulate(plan, top, [tmp_path / f"{top}.v"], "dma_bench", [], tmp_path, monkeypatch)
    plusargs = with_dram_model(plan, dram_model_top(top, verilog, bus_bytes), dram, channel, tmp_path)
    return simulate(plan, "dma_dram", [tmp_path / "dma_dram.v", dram_model.SOURCE], "dma_bench", plusargs, tmp_path,
                    monkeypatch)  # fmt: skip


def write_images(seed: int, tmp_path: Path) -> bytes:
    """Random initial DRAM (``dram.bin``, returned) and on-chip (``chip.bin``) images."""
    rng = random.Random(seed + 1)
    dram = rng.randbytes(DRAM_BYTES)
    (tmp_path / "dram.bin").write_bytes(dram)
    (tmp_path / "chip.bin").write_bytes(rng.randbytes(CHIP_BYTES * TARGETS))
    return dram


def with_dram_model(plan: dict, top_verilog: str, dram: bytes, channel: tuple[float, int], tmp_path: Path) -> list:
    """Writes ``dma_dram.v`` and the model's image, names the dump file in the plan; returns the plusargs."""
    (tmp_path / "dma_dram.v").write_text(top_verilog)
    dram_model.write_image(tmp_path / "dram.hex", dram, plan["bus_bytes"])
    plan["dump"] = str(tmp_path / "dump.hex")
    return dram_model.plusargs(channel[0], channel[1], image=tmp_path / "dram.hex", dump=plan["dump"])


def simulate(plan: dict, top: str, sources: list, bench: str, plusargs: list, tmp_path: Path, monkeypatch) -> dict:
    """Icarus build of ``top`` and a run of the cocotb module ``bench`` on ``plan``; its result."""
    from cocotb_tools.runner import get_results, get_runner

    # The runner hands this process's sys.path to the simulator's Python.
    monkeypatch.syspath_prepend(str(BENCHES))
    monkeypatch.syspath_prepend(str(ROOT))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    build = tmp_path / "build"
    runner = get_runner("icarus")
    runner.build(sources=sources, hdl_toplevel=top, build_dir=build, timescale=("1ns", "1ps"))
    results = runner.test(test_module=bench, hdl_toplevel=top, test_dir=build, build_dir=build,
                          extra_env={"DMA_BENCH_DIR": str(tmp_path)}, plusargs=plusargs)  # fmt: skip
    assert get_results(results) == (1, 0), f"cocotb bench failed; see {build}"
    return json.loads((tmp_path / "result.json").read_text())


def check_data(plan: dict, result: dict, tmp_path: Path) -> None:
    """Images after each waited-for command and at the end equal the Python model's."""
    engine, bus_bytes = plan["engine"], plan["bus_bytes"]
    dram = bytearray((tmp_path / "dram.bin").read_bytes())
    chip_bin = (tmp_path / "chip.bin").read_bytes()
    chip = [bytearray(chip_bin[t * CHIP_BYTES : (t + 1) * CHIP_BYTES]) for t in range(TARGETS)]
    snapshots = iter(result["snapshots"])
    for i, command in enumerate(plan["commands"]):
        cmd = command["fields"]
        apply(cmd, engine, dram, chip)
        if not command["wait"]:
            continue
        snapshot = next(snapshots)
        assert snapshot["command"] == i
        if engine == "reader":
            got = bytes.fromhex(snapshot["chip"])
            assert got == chip[cmd["target"]], f"command {i} {cmd}: on-chip image differs at byte " + str(
                next(j for j in range(CHIP_BYTES) if got[j] != chip[cmd["target"]][j])
            )
        else:
            for (lo, hi), data in zip(windows(cmd, bus_bytes), snapshot["dram"]):
                assert bytes.fromhex(data) == dram[lo:hi], f"command {i} {cmd}: DRAM [{lo:#x}, {hi:#x}) differs"
    final = bytes.fromhex(result["final"])
    assert final == (b"".join(chip) if engine == "reader" else dram)


def check_protocol(plan: dict, result: dict) -> None:
    """Bursts, strobes, WLAST and completions against the commands; the ideal memory's timing."""
    engine, bus_bytes, ideal = plan["engine"], plan["bus_bytes"], plan["memory"] == "ideal"
    engine_class = ENGINES[engine]
    trace = result["trace"]
    addresses = [e for e in trace if e[0] == "a"]
    beats = [e for e in trace if e[0] == ("r" if engine == "reader" else "w")]
    handshakes = [e for e in trace if e[0] == "cmd"]
    dones = [e for e in trace if e[0] == "done"]
    responses = [e for e in trace if e[0] == "b"]
    assert len(handshakes) == len(dones) == len(plan["commands"]), "a command did not complete"
    assert result["rready_low"] == 0
    size = bus_bytes.bit_length() - 1
    assert all(e[3] == size and e[4] == axi.BURST_INCR and e[5] == 0 for e in addresses)  # AxSIZE, INCR, ID 0

    a = b = w = 0
    last_address_edge = last_beat_edge = None
    spans, issuing = [], []
    sticky = axi.RESP_OKAY
    for i, (command, cmd_event, done) in enumerate(zip(plan["commands"], handshakes, dones)):
        cmd = command["fields"]
        bursts = command_bursts(cmd, bus_bytes)
        got = [(e[2], e[6] + 1) for e in addresses[a : a + len(bursts)]]
        assert got == [(addr, n) for addr, n, _, _ in bursts], f"command {i}: bursts differ"
        assert all(n <= 256 and addr // 4096 == (addr + n * bus_bytes - 1) // 4096 for addr, n in got)
        edges = [e[1] for e in addresses[a : a + len(bursts)]]
        total = sum(n for _, n, _, _ in bursts)
        mine = beats[w : w + total]
        assert len(mine) == total, f"command {i}: {len(mine)} data beats, expected {total}"
        if engine == "writer":
            strobes = [s for burst in bursts for s in expected_strobes(*burst, bus_bytes)]
            lasts = [int(k == n - 1) for _, n, _, _ in bursts for k in range(n)]
            assert [e[2] for e in mine] == strobes, f"command {i}: WSTRB differs"
            assert [e[3] for e in mine] == lasts, f"command {i}: WLAST differs"
            mine_b = responses[b : b + len(bursts)]
            assert len(mine_b) == len(bursts)
            last_response = mine_b[-1][1]
            b += len(bursts)
        else:
            lasts = [int(k == n - 1) for _, n, _, _ in bursts for k in range(n)]
            assert [e[3] for e in mine] == lasts, f"command {i}: RLAST differs"
            last_response = mine[-1][1]
        assert done[2] == cmd["target"], f"command {i}: done_target"
        if ideal:
            hold = command.get("hold", (0, 0))
            expected = address_edges(engine_class, cmd_event[1], len(bursts), last_address_edge, hold)
            assert edges == expected, f"command {i}: address handshake edges"
            assert done[1] - last_response == engine_class.DONE_CYCLES, f"command {i}: done latency"
            expected = beat_edges(engine, [n for _, n, _, _ in bursts], edges, cmd_event[1], last_beat_edge)
            assert [e[1] for e in mine] == expected, f"command {i}: data beat edges"
            # `error` keeps the first failure since the bench's last `clear` (after each waited command).
            sticky = sticky or first_error(cmd, bus_bytes)
            if command["wait"]:
                assert done[3] == sticky, f"command {i}: error output"
                sticky = axi.RESP_OKAY
        spans.append((mine[0][1], mine[-1][1]))
        issuing.append((cmd_event[1], edges[-1]))
        last_address_edge, last_beat_edge = edges[-1], mine[-1][1]
        a, w = a + len(bursts), w + total
    assert a == len(addresses) and w == len(beats)
    check_pending(trace, issuing)
    if engine == "reader":
        # Strobes only on bytes of runs; a waited-for command's on-chip writes are all sampled by its done edge.
        strobed = {(e[2], e[3] * bus_bytes + j) for e in trace if e[0] == "wr"
                   for j in range(bus_bytes) if e[4] >> j & 1}  # fmt: skip
        moved = {(cmd["target"], chip + i) for cmd in (c["fields"] for c in plan["commands"])
                 for _, chip in runs_of(cmd) for i in range(cmd["run_bytes"])}  # fmt: skip
        assert strobed <= moved, f"on-chip bytes outside every run written: {sorted(strobed - moved)[:5]}"
        writes = [e[1] for e in trace if e[0] == "wr"]
        for command, done, following in zip(plan["commands"], dones, handshakes[1:] + [["end", float("inf")]]):
            if command["wait"]:
                assert not [e for e in writes if done[1] < e <= following[1]], "an on-chip write after done"
    if engine == "writer":
        # While WREADY is high, no command the writer keeps pace with leaves W idle between its first and last beat.
        idle = result["w_idle"]
        for command, (start, end) in zip(plan["commands"], spans):
            if keeps_pace(command["fields"], bench_params(bus_bytes), writer=True):
                assert not [e for e in idle if start < e < end], f"W idle with WREADY high inside beats {start}..{end}"


def address_edges(engine_class, taken: int, bursts: int, previous_last: int | None, hold: tuple[int, int]) -> list[int]:
    """Address handshake edges of a command taken at edge ``taken`` on an always-ready memory:
    the first at ``taken + ISSUE_CYCLES`` or at the edge after the previous command's last
    (``previous_last``), whichever is later, then one per edge, skipping the edges whose cycles
    have ``hold`` high (``taken + hold[0] .. taken + hold[1] - 1``)."""
    held = range(taken + hold[0], taken + hold[1])
    edge = taken + engine_class.ISSUE_CYCLES
    if previous_last is not None:
        edge = max(edge, previous_last + 1)
    edges = []
    while len(edges) < bursts:
        if edge not in held:
            edges.append(edge)
        edge += 1
    return edges


def beat_edges(engine: str, bursts: list[int], addresses: list[int], taken: int, previous: int | None) -> list[int]:
    """Data beat edges of a command on an always-ready memory, one per edge after the previous
    command's last beat (``previous``): a burst's R beats from the edge after its AR; the
    writer's W beats from ``taken + ISSUE_CYCLES + 1`` (beat 0 read from the on-chip memory),
    whatever its AW edges."""
    if engine == "reader":
        starts = [edge + 1 for edge in addresses]
    else:
        starts = [taken + DmaWriter.ISSUE_CYCLES + 1] + [0] * (len(bursts) - 1)
    edges, edge = [], previous or 0
    for start, beats in zip(starts, bursts):
        for _ in range(beats):
            edge = max(edge + 1, start)
            edges.append(edge)
    return edges


def check_pending(trace: list, issuing: list[tuple[int, int]]) -> None:
    """``pending`` is high exactly in the cycles (named by the edge that ends them) after a
    command's handshake edge up to and including its last address handshake edge."""
    expected = {edge for taken, last in issuing for edge in range(taken + 1, last + 1)}
    changes = [(e[1], e[2]) for e in trace if e[0] == "pending"] + [(max(e[1] for e in trace) + 1, 0)]
    high = {edge for (start, level), (end, _) in zip(changes, changes[1:]) if level for edge in range(start, end)}
    assert high == expected, f"pending differs at edges {sorted(high ^ expected)[:10]}"


@needs_icarus
@pytest.mark.parametrize("engine", ["reader", "writer"])
@pytest.mark.parametrize("bus_bytes", [4, 16, 32])
def test_engine_with_axi_ram(engine, bus_bytes, tmp_path, monkeypatch):
    pytest.importorskip("cocotbext.axi")
    plan = make_plan(engine, "axiram", bus_bytes, 100 + bus_bytes)
    result = run_bench(plan, tmp_path, monkeypatch)
    check_data(plan, result, tmp_path)
    check_protocol(plan, result)


@needs_icarus
@pytest.mark.parametrize("engine", ["reader", "writer"])
@pytest.mark.parametrize("bus_bytes", [4, 32])
def test_engine_timing_hold_and_errors_with_ideal_memory(engine, bus_bytes, tmp_path, monkeypatch):
    """Every address and data beat edge, ``pending`` and ``error`` as documented; ``hold`` high
    before a command's first burst or between its bursts leaves those edges without an address
    handshake and delays nothing else."""
    plan = make_plan(engine, "ideal", bus_bytes, 200 + bus_bytes)
    result = run_bench(plan, tmp_path, monkeypatch)
    check_data(plan, result, tmp_path)
    check_protocol(plan, result)
    codes = {first_error(c["fields"], bus_bytes) for c in plan["commands"]}
    assert {axi.RESP_SLVERR, RESP_DECERR} <= codes  # both error kinds were exercised
    trace = result["trace"]
    held = [range(e[1] + start, e[1] + end) for e in trace if e[0] == "cmd"
            for start, end in [plan["commands"][e[2]].get("hold", (0, 0))]]  # fmt: skip
    assert sum(map(len, held)) > 0 and not [e for e in trace if e[0] == "a" and any(e[1] in h for h in held)]


@needs_icarus
@pytest.mark.parametrize("engine", ["reader", "writer"])
@pytest.mark.parametrize("bandwidth, latency", [(16.0, 0), (16 / 3, 9)])
def test_engine_cycles_on_dram_model(engine, bandwidth, latency, tmp_path, monkeypatch):
    """On the DRAM model every command, one at a time or back to back, is taken and completes at
    the edges the channel specification (``accel.dram_channel.serve``) and the constants predict."""
    bus_bytes = 16
    plan = make_plan(engine, "dram_model", bus_bytes, 300)
    result = run_bench(plan, tmp_path, monkeypatch, (bandwidth, latency))
    check_data(plan, result, tmp_path)
    check_protocol(plan, result)
    engine_class = ENGINES[engine]
    trace = result["trace"]
    taken, dones = [e[1] for e in trace if e[0] == "cmd"], [e[1] for e in trace if e[0] == "done"]
    assert predicted_edges(plan, engine_class, taken, bandwidth, latency)[:2] == (taken, dones)


@needs_icarus
@pytest.mark.parametrize("engine", ["reader", "writer"])
@pytest.mark.parametrize("bandwidth, latency", [(16.0, 0), (12.0, 3)])
def test_back_to_back_commands_leave_the_dram_model_no_gap(engine, bandwidth, latency, tmp_path, monkeypatch):
    """Commands whose last burst is one beat, offered back to back: each command's first address
    handshake is on the edge after the previous command's last, the channel serves them all in
    one busy period and every handshake and ``done`` edge equals the prediction."""
    bus_bytes = 16
    rng = random.Random(457)
    commands = [single_beat_tail_command(rng, bus_bytes, engine) for _ in range(8)]  # COMMANDS never binds
    assert all(command_bursts(cmd, bus_bytes)[-1][1] == 1 for cmd in commands)
    plan = plan_of(engine, "dram_model", bus_bytes, 457, back_to_back(commands))
    result = run_bench(plan, tmp_path, monkeypatch, (bandwidth, latency))
    check_data(plan, result, tmp_path)
    check_protocol(plan, result)
    trace = result["trace"]
    addresses = [e[1] for e in trace if e[0] == "a"]
    assert addresses == list(range(addresses[0], addresses[0] + len(addresses))), "an edge without an address"
    taken, dones = [e[1] for e in trace if e[0] == "cmd"], [e[1] for e in trace if e[0] == "done"]
    accepted, completed, periods = predicted_edges(plan, ENGINES[engine], taken, bandwidth, latency)
    assert (accepted, completed) == (taken, dones)
    assert len(set(periods)) == 1, "the channel went idle between commands"


class Channel:
    """``accel.dram_channel``'s state across the transfers of one in-order queue."""

    def __init__(self, bandwidth: float, latency: int, bus_bytes: int) -> None:
        self.bandwidth, self.latency, self.bus_bytes = bandwidth, latency, bus_bytes
        self.free = self.period_start = self.period_beats = 0
        self.periods = []  # the busy period each transfer ended in (its start cycle)

    def transfer(self, first_address: int, beats: int) -> int:
        """Serves the beats of a command whose first address handshake is at ``first_address``;
        returns the edge that takes its last R beat or B: the last beat moves in cycle
        ``free - 1``, its response is presented from cycle ``free + latency``."""
        self.free, self.period_start, self.period_beats = serve(
            max(first_address, self.free), beats, self.free, self.period_start, self.period_beats, self.bandwidth,
            self.bus_bytes,
        )  # fmt: skip
        self.periods.append(self.period_start)
        return self.free + self.latency + 1


def predicted_edges(plan: dict, engine_class, taken: list[int], bandwidth: float, latency: int):
    """``(handshake edges, done edges, busy period starts)`` of the plan's commands as the
    command processor would predict them from the published constants and
    ``accel.dram_channel``.

    A command offered after a waited-for one is taken when the bench offers it (``taken``);
    one offered back to back is taken at the edge after the previous command's handshake, after
    the last address handshake of the command ``BurstIssuer.SLOTS`` places earlier and after the
    ``done`` of the command ``COMMANDS`` places earlier. Its bursts go out as
    :func:`address_edges` says and the channel serves its beats as one transfer.
    """
    bus_bytes = plan["bus_bytes"]
    channel = Channel(bandwidth, latency, bus_bytes)
    accepted, completed, last_addresses = [], [], []
    for i, command in enumerate(plan["commands"]):
        bursts = command_bursts(command["fields"], bus_bytes)
        edge = taken[i]
        if i and not plan["commands"][i - 1]["wait"]:
            edge = accepted[-1] + 1
            if i >= BurstIssuer.SLOTS:
                edge = max(edge, last_addresses[i - BurstIssuer.SLOTS] + 1)
            if i >= engine_class.COMMANDS:
                edge = max(edge, completed[i - engine_class.COMMANDS] + 1)
        accepted.append(edge)
        edges = address_edges(engine_class, edge, len(bursts), last_addresses[-1] if i else None, (0, 0))
        last_addresses.append(edges[-1])
        completed.append(channel.transfer(edges[0], sum(n for _, n, _, _ in bursts)) + engine_class.DONE_CYCLES)
    return accepted, completed, channel.periods


#: Engines of the shared-port plan's commands, in hand-over order: every kind of succession.
PAIR_ORDER = "rwrrwwrwwrw"


def pair_plan(seed: int, bus_bytes: int) -> dict:
    """Commands for ``DmaPair``: the reader fills target 0, the writer reads target 1; a read
    after a write reads back the DRAM runs that write wrote, so the memory's order shows."""
    rng = random.Random(seed)
    layout_bits = command_layout(bench_params(bus_bytes)).size
    commands = []
    for letter in PAIR_ORDER:
        engine = "writer" if letter == "w" else "reader"
        cmd = single_beat_tail_command(rng, bus_bytes, engine)
        if engine == "reader" and commands and commands[-1]["engine"] == "writer":
            dram = {name: commands[-1]["fields"][name] for name in ("dram_addr", "dram_stride", "run_bytes", "runs")}
            cmd = place_on_chip(rng, dram, bus_bytes, engine, False)
        write = int(engine == "writer")
        cmd["target"] = write
        commands.append({"engine": engine, "fields": cmd,
                         "payload": pack(bench_params(bus_bytes), cmd) | write << layout_bits})  # fmt: skip
    return {"seed": seed, "bus_bytes": bus_bytes, "chip_bytes": CHIP_BYTES, "targets": TARGETS, "commands": commands}


@needs_icarus
def test_both_engines_share_the_dram_model(tmp_path, monkeypatch):
    """``rtl.hw.dma.DmaPair``: reader and writer on one port of ``rtl/host/dram_model.v``,
    each one's ``hold`` driven by the other's ``pending`` in hand-over order. The memory sees
    every burst in hand-over order, one per edge with no gap, each command's first at the edge
    the constants give, all in one busy period with every ``done`` where ``accel.dram_channel``
    puts it; the DRAM and on-chip images equal the in-order Python model's."""

    bus_bytes, bandwidth, latency = 16, 16.0, 2
    plan = pair_plan(601, bus_bytes)
    dram = write_images(plan["seed"], tmp_path)
    verilog = dram_model_top("dma_pair", axi.convert(DmaPair(bench_params(bus_bytes)), "dma_pair"), bus_bytes)
    plusargs = with_dram_model(plan, verilog, dram, (bandwidth, latency), tmp_path)
    sources = [tmp_path / "dma_dram.v", dram_model.SOURCE]
    result = simulate(plan, "dma_dram", sources, "dma_pair_bench", plusargs, tmp_path, monkeypatch)
    trace, commands = result["trace"], plan["commands"]

    assert [e[2] for e in trace if e[0] == "cmd"] == list(range(len(commands)))
    taken = [e[1] for e in trace if e[0] == "cmd"]
    requests = [e for e in trace if e[0] in ("ar", "aw")]
    bursts = [command_bursts(c["fields"], bus_bytes) for c in commands]
    assert [(e[0], e[2], e[3] + 1) for e in requests] == [
        ("aw" if c["engine"] == "writer" else "ar", address, beats)
        for c, mine in zip(commands, bursts) for address, beats, _, _ in mine
    ], "requests out of hand-over order"  # fmt: skip
    edges = [e[1] for e in requests]
    assert edges == list(range(edges[0], edges[0] + len(edges))), "an edge without a request"

    channel = Channel(bandwidth, latency, bus_bytes)
    done_edges = {"reader": [], "writer": []}
    previous_last = None
    for command, h, mine in zip(commands, taken, bursts):
        engine_class = ENGINES[command["engine"]]
        expected = address_edges(engine_class, h, len(mine), previous_last, (0, 0))
        assert edges[: len(mine)] == expected, f"{command}: address handshake edges"
        edges, previous_last = edges[len(mine) :], expected[-1]
        done = channel.transfer(expected[0], sum(n for _, n, _, _ in mine)) + engine_class.DONE_CYCLES
        done_edges[command["engine"]].append(done)
    assert len(set(channel.periods)) == 1, "the channel went idle"
    for engine, predicted in done_edges.items():
        assert [e[1] for e in trace if e[0] == "done" and e[2] == engine] == predicted, f"{engine} done edges"

    model_dram = bytearray(dram)
    chip_bin = (tmp_path / "chip.bin").read_bytes()
    chip = [bytearray(chip_bin[t * CHIP_BYTES : (t + 1) * CHIP_BYTES]) for t in range(TARGETS)]
    for command in commands:
        apply(command["fields"], command["engine"], model_dram, chip)
    assert bytes.fromhex(result["dram"]) == model_dram
    assert bytes.fromhex(result["chip"]) == b"".join(chip)


def test_published_constants():
    assert (DmaReader.ISSUE_CYCLES, DmaReader.DONE_CYCLES) == (2, 2)
    assert (DmaWriter.ISSUE_CYCLES, DmaWriter.DONE_CYCLES) == (3, 1)
    assert DmaReader.COMMANDS == DmaWriter.COMMANDS == 4
    assert BurstIssuer.SLOTS == 3


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="AXI data width must be a power of two between 32 and 256 bits, not 48"):
        DmaParams(data_width=48)
    with pytest.raises(ValueError, match="DMA runs_width must be an integer between 1 and 32 bits, not 0"):
        DmaParams(runs_width=0)
    with pytest.raises(ValueError, match=r"DMA chip_address_width must exceed log2 of the bus bytes \(32\), not 5"):
        DmaParams(data_width=256, chip_address_width=5)


def test_beat_words_and_pace():
    """``beat_words`` counts each on-chip word once per command (a word two runs share once);
    the pace rule's cases at W = 16."""
    params = bench_params(16)
    rng = random.Random(7)
    for _ in range(300):
        n, runs = rng.randint(1, 80), rng.randint(1, 8)
        cmd = {"dram_addr": rng.randrange(4096), "dram_stride": rng.randint(1, 200), "run_bytes": n, "runs": runs,
               "chip_addr": rng.randrange(4096), "chip_stride": rng.choice((n, n + rng.randint(1, 40)))}  # fmt: skip
        words = [set(range(chip // 16, (chip + n - 1) // 16 + 1)) for _, chip in runs_of(cmd)]
        shared = sum(len(a & b) for a, b in zip(words, words[1:]))
        counts = list(beat_words(cmd, params))
        assert len(counts) == sum(beats for _, beats, _, _ in command_bursts(cmd, 16))
        assert sum(c for c, _ in counts) == sum(r for _, r in counts) == sum(map(len, words)) - shared
    aligned = {"dram_addr": 5, "dram_stride": 100, "run_bytes": 40, "runs": 6, "chip_addr": 32, "chip_stride": 48}
    packed = aligned | {"chip_stride": 40}
    unaligned = {"dram_addr": 0, "dram_stride": 0, "run_bytes": 16, "runs": 1, "chip_addr": 4, "chip_stride": 0}
    assert list(beat_words(unaligned, params)) == [(2, 2)]  # one beat, two on-chip words
    for cmd, reader, reader_after_idle, writer in [
        (aligned, True, True, True),
        (packed, True, True, True),
        (packed | {"chip_addr": 44}, True, True, False),  # the first beat needs two words
        (unaligned, False, True, False),
        (unaligned | {"runs": 2, "dram_stride": 64, "chip_stride": 32}, False, False, False),
    ]:
        assert keeps_pace(cmd, params, writer=False) == reader, cmd
        assert keeps_pace(cmd, params, writer=False, after_idle=True) == reader_after_idle, cmd
        assert keeps_pace(cmd, params, writer=True) == writer, cmd
    # A command that starts mid-word in the word the writer's previous command ended in (same
    # target) takes it as read: the first beat needs one word more only without that.
    spanning = packed | {"chip_addr": 44, "target": 0}
    ends_in = {"dram_addr": 0, "dram_stride": 0, "run_bytes": 14, "runs": 1, "chip_addr": 30, "chip_stride": 0}
    for previous, writer in [
        (ends_in | {"target": 0}, True),  # its last byte, 43, is in word 2 with byte 44
        (ends_in | {"target": 1}, False),  # another memory
        (ends_in | {"target": 0, "run_bytes": 2}, False),  # ends in word 1
        (None, False),
    ]:
        assert keeps_pace(spanning, params, writer=True, previous=previous) == writer, previous
    assert keeps_pace(spanning, params, writer=False) and keeps_pace(spanning, params, writer=False, previous=ends_in)
    lane_0 = aligned | {"chip_addr": 48, "run_bytes": 20, "target": 0}  # starts a word: nothing to carry
    alone = list(beat_words(lane_0, params))
    assert list(beat_words(lane_0, params, ends_in | {"target": 0, "run_bytes": 20})) == alone  # ends at byte 49


def test_halves_partition_axi4():
    full = dict(axi.AXI4Signature(32, 128, 2).members.items())
    read = dict(axi.AXI4ReadSignature(32, 128, 2).members.items())
    write = dict(axi.AXI4WriteSignature(32, 128, 2).members.items())
    assert not set(read) & set(write) and read | write == full
    assert list(read) == [name for name in full if name in read]  # the full signature's order
    assert axi.AXI4ReadSignature(32, 64) != axi.AXI4WriteSignature(32, 64)


def test_one_m_axi_port_from_both_engines():
    """The halves joined on one port (``DmaPair``): the standard names, every manager output driven."""
    params = DmaParams(data_width=128, id_width=2)
    verilog = axi.convert(DmaPair(params), "peripheral")
    ports = dram_model.module_ports(verilog, "peripheral")
    assert {f"m_axi_{name}" for name in axi.AXI4Signature(32, 128, 2).members} <= set(ports)
    assert not any(p.startswith("m_axi") and p[6:] not in axi.AXI4Signature(32, 128, 2).members for p in ports)
    assert ports["m_axi_wdata"] == ("output", 128) and ports["m_axi_rdata"] == ("input", 128)
    assert "initial" not in verilog


@pytest.mark.parametrize("engine", ["reader", "writer"])
def test_engines_convert_to_verilog(engine):
    """Synthesis smoke test at W = 16: the standard AXI names, the memory port, no initial blocks."""
    verilog = axi.convert(ENGINES[engine](DmaParams(data_width=128)), f"dma_{engine}")
    ports = dram_model.module_ports(verilog, f"dma_{engine}")
    half = (axi.AXI4ReadSignature if engine == "reader" else axi.AXI4WriteSignature)(32, 128)
    assert {p for p in ports if p.startswith("m_axi_")} == {f"m_axi_{name}" for name in half.members}
    assert ports["cmd_payload"] == ("input", sum(field.width for _, field in command_layout(DmaParams())))
    memory = {"wr_valid": ("output", 1), "wr_addr": ("output", 12), "wr_data": ("output", 128),
              "wr_strb": ("output", 16)}  # fmt: skip
    if engine == "writer":
        memory = {"rd_en": ("output", 1), "rd_addr": ("output", 12), "rd_data": ("input", 128)}
    assert all(ports[name] == shape for name, shape in memory.items())
    assert ports["done"] == ("output", 1) and ports["error"] == ("output", 2) and ports["clear"] == ("input", 1)
    assert ports["hold"] == ("input", 1) and ports["pending"] == ("output", 1)
    assert "initial" not in verilog
