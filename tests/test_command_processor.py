"""The command processor (rtl/hw/command_processor.py) runs real programs into the real sequencer.

An Amaranth simulation connects the processor to the :class:`rtl.hw.sequencer.TileSequencer` and
drives both with stubs whose latencies are drawn at random: a DMA reader that serves the
program fetches from the program's bytes (writing words of other targets in between, and
garbage in the lanes it does not strobe), DMA engines that complete the sequencer's commands in
order, and a core that computes for a while after each start. The tests check that the headers
and commands reach the sequencer as :func:`rtl.host.program_image.decode_program` reads them, that
the core's descriptor set holds each tile when it starts, the published timing (segment fetch,
``run``, first header, descriptor load, ``primed``, ``finish``) to the cycle, and that
malformed programs end in BAD_PROGRAM.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
from amaranth import Module, Shape, Value
from amaranth.hdl import Fragment
from amaranth.back import verilog
from amaranth.lib import data, wiring
from amaranth.sim import Simulator

from accel.config import AccelConfig
from accel.system_timing import DRAIN, FETCH_REQUEST, PRIME, SEGMENT_WORDS, WRITEBACK_REQUEST, descriptor_cycles
from rtl import spec
from rtl.hw.command_processor import BAD_PROGRAM, CommandProcessor
from rtl.hw.dma import DmaParams, DmaReader, DmaWriter
from rtl.host.dram_image import build_image
from rtl.hw.layer_core import STAGING_LATENCY, LayerCore
from rtl.host.program_image import DmaCommand, decode_program, encode_program, record_words, to_bytes
from rtl.hw.sequencer import START_DELAY, TileSequencer
from rtl.spec import DESCRIPTOR_REGISTERS, TAP_FIELDS, TARGETS
from rtl.host.verify import prepare
from workloads.zoo import get_network

CONFIG = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)
TARGET = len(TARGETS)  # the program memory: the on-chip target after the data memories
BASE = 0x4_0000  # the program's DRAM address
ALIGN_WORDS = spec.SEGMENT_ALIGN // 4
FIELDS = ("dram_addr", "dram_stride", "run_bytes", "runs", "chip_addr", "chip_stride", "target")


@functools.cache
def core(config: AccelConfig) -> LayerCore:
    """The AXI system's double-banked core of ``config`` (elaborated, so Amaranth counts it used)."""
    layer_core = LayerCore(config, 16)
    Fragment.get(layer_core, None)
    return layer_core


def processor(config: AccelConfig, bus_bytes: int) -> CommandProcessor:
    """A processor for the core of ``config`` on a bus of ``bus_bytes``."""
    params = DmaParams(data_width=8 * bus_bytes, target_width=3)
    return CommandProcessor(config, params, TARGET, core(config).address_bits)


def lenet_program(config: AccelConfig) -> tuple[list, bytes]:
    """LeNet-5's layers and its program on ``config``, one segment per layer."""
    params, x, _, program = prepare(get_network("lenet5"), config)
    image = build_image(program, params, x)
    return image.layers, bytes(image.data[image.program_address :][: image.program_bytes])


@pytest.fixture(scope="module")
def lenet():
    return lenet_program(CONFIG)


def split_program(layers) -> list[int]:
    """LeNet-5 in segments of at most 700 words: layers span several."""
    return encode_program([layer.tiles for layer in layers], CONFIG.rows, segment_words=700)


def segment_words(program: bytes) -> list[tuple[int, int]]:
    """(first word, WORDS) of each segment, as the processor walks them."""
    words = np.frombuffer(program, "<u4").tolist()
    out, at = [], 0
    while True:
        out.append((at, words[at + 1]))
        last = words[at + 2] & 1
        at += 3 + words[at + 1]
        at += -at % ALIGN_WORDS
        if last:
            return out


class Reader:
    """The DMA reader's stub for the program fetches: serves a command from ``program`` after a
    random latency, one on-chip word per cycle (sometimes in two strobed parts), ``fetch_done``
    with the last write; in the other cycles it may write other targets."""

    def __init__(self, cp: CommandProcessor, program: bytes, rng: random.Random) -> None:
        self.cp, self.program, self.rng = cp, program, rng
        self.writes: list[tuple[int, int, bytes, int]] = []  # (cycle, word, bytes, strb) still to write
        self.done_at: int | None = None

    def drive(self, ctx, cycle: int) -> None:
        wr, w = self.cp.prog_wr, self.cp.bus_bytes
        if self.writes and self.writes[0][0] == cycle:
            _, word, chunk, strb = self.writes.pop(0)
            lanes = sum(0xFF << 8 * j for j in range(w) if strb >> j & 1)
            value = int.from_bytes(chunk, "little") & lanes | self.rng.getrandbits(8 * w) & ~lanes
            values = (1, TARGET, word, value, strb)
        else:
            values = (self.rng.random() < 0.5, self.rng.randrange(TARGET), self.rng.randrange(16),
                      self.rng.getrandbits(8 * w), self.rng.getrandbits(w))  # fmt: skip
        for port, value in zip((wr.valid, wr.target, wr.addr, wr.data, wr.strb), values):
            ctx.set(port, value)
        ctx.set(self.cp.fetch_done, self.done_at == cycle)
        ctx.set(self.cp.fetch.ready, self.done_at is None)

    def observe(self, ctx, cycle: int, events: dict) -> None:
        if self.done_at == cycle:
            events["fetch_done"].append(cycle)
            self.done_at = None
        elif self.done_at is None and ctx.get(self.cp.fetch.valid):
            command = {f: ctx.get(getattr(self.cp.fetch.payload, f)) for f in FIELDS}
            events["fetch"].append(command)
            offset = command["dram_addr"] - BASE
            run = self.program[offset : offset + command["run_bytes"]]
            self.writes = strobed_writes(run, self.cp.bus_bytes, cycle + 1 + self.rng.randint(0, 20), self.rng)
            self.done_at = self.writes[-1][0]


def strobed_writes(run: bytes, bus_bytes: int, first: int, rng: random.Random) -> list[tuple[int, int, bytes, int]]:
    """(cycle, word, bytes, strb) of the on-chip writes of a fetch of ``run`` to chip byte 0 from
    cycle ``first`` on, one per cycle; a word is sometimes written in two parts."""
    writes = []
    for word in range(-(-len(run) // bus_bytes)):
        chunk = run[word * bus_bytes : (word + 1) * bus_bytes].ljust(bus_bytes, b"\0")
        full = (1 << min(bus_bytes, len(run) - word * bus_bytes)) - 1
        split = (1 << rng.randrange(bus_bytes)) - 1 if rng.random() < 0.5 else full
        for strb in (full & split, full & ~split):
            if strb:
                writes.append((first + len(writes), word, chunk, strb))
    return writes


class Engines:
    """The sequencer's DMA engines (a command completes 1..31 cycles after its hand-over, in
    order) and the core (busy 1..60 cycles after each start)."""

    def __init__(self, cp: CommandProcessor, seq: TileSequencer, rng: random.Random) -> None:
        self.cp, self.seq, self.rng = cp, seq, rng
        self.pending = {"reader": [], "writer": []}  # done cycles of the commands handed over, in order
        self.busy_until = -1  # the last cycle the core is busy

    def drive(self, ctx, cycle: int) -> None:
        ctx.set(self.seq.dma.ready, 1)
        ctx.set(self.cp.busy, cycle <= self.busy_until)
        for engine, pending in self.pending.items():
            ctx.set(getattr(self.seq, f"{engine}_done"), bool(pending) and pending[0] == cycle)

    def observe(self, ctx, cycle: int, events: dict) -> None:
        if ctx.get(self.seq.dma.valid):
            pending = self.pending["writer" if ctx.get(self.seq.dma.payload.write) else "reader"]
            pending.append(max(pending[-1] + 1 if pending else 0, cycle + 1 + self.rng.randint(0, 30)))
        for pending in self.pending.values():
            if pending and pending[0] == cycle:
                pending.pop(0)
        if ctx.get(self.seq.start):
            events["start"].append((cycle, ctx.get(Value.cast(self.cp.active))))
            self.busy_until = cycle + self.rng.randint(1, 60)  # sampled at the edge: busy from cycle + 1
            events["idle"].append(self.busy_until + 1)


def streams(ctx, cp: CommandProcessor, seq: TileSequencer, events: dict) -> None:
    """Record the headers and commands the sequencer takes."""
    if ctx.get(cp.headers.valid) and ctx.get(seq.headers.ready):
        payload = cp.headers.payload
        events["headers"].append(tuple(ctx.get(getattr(payload, f)) for f in
                                       ("load_after", "wait_wb", "loads", "stores", "last")))  # fmt: skip
    for kind in ("load", "store"):
        commands = getattr(cp, f"{kind}_cmds")
        if ctx.get(commands.valid) and ctx.get(commands.ready):
            fields = {f: ctx.get(getattr(commands.payload, f)) for f in FIELDS}
            events[kind].append(DmaCommand(**fields | {"target": TARGETS[fields["target"]]}))


def simulate(program: bytes, bus_bytes: int, rng: random.Random, config: AccelConfig = CONFIG,
             restart_at: int | None = None, max_cycles: int = 100_000) -> tuple[dict, CommandProcessor]:  # fmt: skip
    """Run ``program`` (at DRAM byte BASE) from a start in cycle 1 (and an ignored one in cycle
    ``restart_at``) until 3 cycles after ``finish``; returns the recorded events (cycles) and the
    processor."""
    cp = processor(config, bus_bytes)
    seq = TileSequencer(cp.params, index_bits=cp.index_bits, count_bits=cp.count_bits)
    m = Module()
    m.submodules.cp, m.submodules.seq = cp, seq
    for name in ("headers", "load_cmds", "store_cmds"):
        wiring.connect(m, getattr(cp, name), getattr(seq, name))
    m.d.comb += [seq.run.eq(cp.run), seq.primed.eq(cp.primed), seq.busy.eq(cp.busy),
                 cp.finished.eq(seq.finished), cp.tile_start.eq(seq.start)]  # fmt: skip
    rising = {"offered": cp.fetch.valid, "header_offered": cp.headers.valid, "reload": cp.reload,
              "primed": cp.primed, "finished": seq.finished, "run": cp.run}  # events: the cycles these rise
    names = ("fetch", "fetch_done", "headers", "load", "store", "start", "idle", "busy_out", "finish", *rising)
    events = {name: [] for name in names}
    reader, engines = Reader(cp, program, rng), Engines(cp, seq, rng)

    async def bench(ctx):
        levels = dict.fromkeys(rising, 0)
        for cycle in range(max_cycles):
            ctx.set(cp.start, cycle in (1, restart_at))
            ctx.set(cp.prog_addr, BASE if cycle == 1 else 0)  # a start while busy points elsewhere
            reader.drive(ctx, cycle)
            engines.drive(ctx, cycle)
            for name, signal in rising.items():
                level = ctx.get(signal)
                if level and not levels[name]:
                    events[name].append(cycle)
                levels[name] = level
            streams(ctx, cp, seq, events)
            reader.observe(ctx, cycle, events)
            engines.observe(ctx, cycle, events)
            events["busy_out"].append(ctx.get(cp.busy_out))
            if ctx.get(cp.finish):
                events["finish"].append((cycle, ctx.get(cp.error_code)))
            if events["finish"] and cycle == events["finish"][0][0] + 3:
                events["error_code"] = ctx.get(cp.error_code)
                return
            await ctx.tick()
        raise AssertionError(f"no finish in {max_cycles} cycles")

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return events, cp


def header(tile) -> tuple:
    t = tile.transfers
    return t.load_after, t.wait_wb, len(t.loads), len(t.stores), int(tile.last)


def bits(layout, raw: int, *path) -> tuple[int, int]:
    """(value, width) of field ``path`` of a value ``raw`` of ``layout``."""
    offset = 0
    for key in path:
        if isinstance(layout, data.ArrayLayout):
            offset += key * Shape.cast(layout.elem_shape).width
            layout = layout.elem_shape
        else:
            offset += layout[key].offset
            layout = layout[key].shape
    width = Shape.cast(layout).width
    return raw >> offset & ((1 << width) - 1), width


def check_descriptor(cp: CommandProcessor, raw: int, tile) -> None:
    """The active set ``raw`` holds ``tile``'s registers, lane table and banks (truncated to their shapes)."""
    layout = cp.active.shape()

    def expect(value: int, *path) -> None:
        got, width = bits(layout, raw, *path)
        assert got == value & ((1 << width) - 1), path

    for name in DESCRIPTOR_REGISTERS:
        expect(tile.regs[name], "regs", name)
    for row in range(cp.rows):
        for f, name in enumerate(TAP_FIELDS):
            expect(int(tile.lanes[row][f]), "lanes", row, name)
    expect(tile.transfers.weight_bank, "weight_bank")
    expect(tile.transfers.stage_bank, "stage_bank")


def check_run(program: bytes, events: dict, cp: CommandProcessor) -> None:
    """Everything the processor did against the decoded program and the published timing."""
    w, rows = cp.bus_bytes, cp.rows
    segments = decode_program(program, rows)
    tiles = [tile for segment in segments for tile in segment.tiles]
    assert events["headers"] == [header(t) for t in tiles]
    assert events["load"] == [c for t in tiles for c in t.transfers.loads]
    assert events["store"] == [c for t in tiles for c in t.transfers.stores]

    # Segments: header fetch, check, body fetch, run, first header; the next after `finished`.
    layout = segment_words(program)
    expected = [(BASE + 4 * at, size) for at, count in layout for size in (12, 12 + 4 * count)]
    assert [(f["dram_addr"], f["run_bytes"]) for f in events["fetch"]] == expected
    assert all((f["runs"], f["chip_addr"], f["target"]) == (1, 0, TARGET) for f in events["fetch"])
    n = len(segments)
    offered, done = events["offered"], events["fetch_done"]
    assert len(offered) == len(done) == 2 * n
    finished = events["finished"]
    assert len(finished) == n
    for s in range(n):
        assert offered[2 * s] == (2 if s == 0 else finished[s - 1] + 1)
        assert offered[2 * s + 1] == done[2 * s] + cp.check_cycles(w)
        assert events["run"][s] == done[2 * s + 1] + cp.RUN_CYCLES
        first_header = next(c for c in events["header_offered"] if c > events["run"][s])
        assert first_header == done[2 * s + 1] + cp.header_cycles(w)
    assert events["finish"] == [(finished[-1] + 1, 0)] and events["error_code"] == 0
    busy = events["busy_out"]
    assert busy == [0, 0] + [1] * finished[-1] + [0] * (len(busy) - 2 - finished[-1])

    # Descriptors: loaded after the previous start (the body's fetch_done for a segment's first
    # tile), copied once the core is idle, primed PRIME_CYCLES later; active holds the tile.
    starts = [c for c, _ in events["start"]]
    assert len(starts) == len(events["reload"]) == len(events["primed"]) == len(tiles)
    j = 0
    for s, segment in enumerate(segments):
        trigger = done[2 * s + 1]
        for tile in segment.tiles:
            copy = max(trigger + cp.load_cycles(rows, w), events["idle"][j - 1] if j else 0)
            assert events["reload"][j] == copy, j
            assert events["primed"][j] == copy + cp.PRIME_CYCLES, j
            assert starts[j] >= events["primed"][j]
            check_descriptor(cp, events["start"][j][1], tile)
            trigger = starts[j]
            j += 1


def test_published_timing():
    assert CommandProcessor.RUN_CYCLES == 1 and CommandProcessor.PRIME_CYCLES == 5
    assert [CommandProcessor.header_cycles(w) for w in (4, 8, 16, 32)] == [5, 4, 4, 4]
    assert [CommandProcessor.check_cycles(w) for w in (4, 8, 16, 32)] == [6, 5, 4, 4]
    assert CommandProcessor.load_cycles(4, 16) == 3 + 22 and CommandProcessor.load_cycles(8, 16) == 3 + 30


def test_lenet_runs_one_segment_per_layer(lenet):
    layers, program = lenet
    events, cp = simulate(program, 16, random.Random(1), restart_at=400)
    assert len(decode_program(program, CONFIG.rows)) == len(layers)
    check_run(program, events, cp)


def test_eight_rows():
    config = AccelConfig(rows=8, cols=8, ifmap_kib=4, filter_kib=16, ofmap_kib=16)
    _, program = lenet_program(config)
    events, cp = simulate(program, 16, random.Random(8), config)
    check_run(program, events, cp)


@pytest.mark.parametrize("bus_bytes", [4, 16, 32])
def test_layers_span_segments(lenet, bus_bytes):
    program = to_bytes(split_program(lenet[0]))
    events, cp = simulate(program, bus_bytes, random.Random(bus_bytes))
    assert len(segment_words(program)) > len(lenet[0])
    check_run(program, events, cp)


def corrupt(words: list[int], at: int, value: int) -> bytes:
    words = list(words)
    words[at] = value
    return to_bytes(words)


def test_malformed_programs_stop_with_bad_program(lenet):
    words = split_program(lenet[0])
    (_, first_count), (second, _) = segment_words(to_bytes(words))[:2]
    first_tiles = len(decode_program(to_bytes(words), CONFIG.rows)[0].tiles)
    record = len(spec.SEGMENT_HEADER)  # the first segment's first record
    size = record_words(CONFIG.rows, 0)
    third = record
    for _ in range(2):  # the third record of the first segment
        tile = words[third]
        third += size + 8 * ((tile & 0xFF) + (tile >> 8 & 0xFF))
    command = record + size
    cases = {
        "magic of the second segment": (corrupt(words, second, 0), first_tiles),
        "WORDS too long": (corrupt(words, 1, spec.SEGMENT_WORDS + 1), 0),
        "WORDS zero": (corrupt(words, 1, 0), 0),
        "unknown opcode": (corrupt(words, third, (words[third] & 0xFFFFFF) | 9 << 24), 2),
        "record past WORDS": (corrupt(words, 1, third + 5 - record), 2),  # WORDS ends 5 words into it
        "LAST on a middle record": (corrupt(words, record, words[record] | 1 << 16), 0),
        "command target": (corrupt(words, command, 7), 1),
        "command without bytes": (corrupt(words, command + 4, 0), 1),
    }
    assert first_count > third
    for name, (program, headers) in cases.items():
        events, _ = simulate(program, 16, random.Random(5))
        assert [code for _, code in events["finish"]] == [BAD_PROGRAM], name
        assert events["error_code"] == BAD_PROGRAM, name
        assert len(events["headers"]) == headers, name
        assert events["busy_out"][-2:] == [0, 0], name


def test_the_descriptor_set_fits_the_core_and_converts_to_verilog():
    cp, layer_core = processor(CONFIG, 16), core(CONFIG)
    for name in ("regs", "lanes", "weight_bank", "stage_bank"):
        assert cp.active.shape()[name].shape == layer_core.signature.members[name].shape, name
    text = verilog.convert(cp)
    assert "module top" in text and "prog_wr__data" in text


@pytest.mark.parametrize("rows, bus", [(3, 16), (4, 16), (8, 16), (8, 32)])
def test_the_timing_constants_are_the_hardware_s(rows, bus):
    """The delays ``accel/system_timing.py`` states are the ones the RTL's modules publish."""
    assert descriptor_cycles(rows, bus) == CommandProcessor.load_cycles(rows, bus)
    assert PRIME == CommandProcessor.PRIME_CYCLES + START_DELAY
    assert DRAIN == STAGING_LATENCY + 1
    assert WRITEBACK_REQUEST - FETCH_REQUEST == DmaWriter.ISSUE_CYCLES - DmaReader.ISSUE_CYCLES
    words = len(spec.TILE_RECORD) + len(DESCRIPTOR_REGISTERS) + len(TAP_FIELDS) * rows
    assert [record_words(rows, c) for c in range(4)] == [words + len(spec.COMMAND_WORDS) * c for c in range(4)]
    assert record_words(rows, 4) < SEGMENT_WORDS
