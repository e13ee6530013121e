"""The tile sequencer (rtl/hw/sequencer.py) serves the simulator's DMA queue with its guards.

An Amaranth simulation drives it with the tiles of real layer schedules (``accel.tiling``) and
stub DMA engines and core whose latencies are drawn at random; the test records every command
hand-over, ``done`` pulse and compute start and checks them against the documented rules: the
queue order, each guard, and the exact cycle of every event given the events it waits for (a
start comes in the cycle after its conditions all hold: ``start`` is a register).
"""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from accel.config import AccelConfig
from accel.lowering import ArrayOp, lower_network
from accel.tiling import schedule_array_op
from rtl.hw.dma import DmaParams
from rtl.hw.sequencer import START_DELAY, TileSequencer
from workloads.zoo import get_network


def layer_tiles(net: str, layer: int, config: AccelConfig, rng: random.Random) -> list[dict]:
    """Headers of a real layer: guards from its schedule, 1-3 commands per non-empty transfer."""
    ops = [op for _, op in lower_network(get_network(net)) if isinstance(op, ArrayOp)]
    sched = schedule_array_op(ops[layer], config)
    loads = sched.load_ifmap + sched.load_filter
    return [{
        "load_after": int(sched.load_after[j]), "wait_wb": int(sched.wait_writeback[j]),
        "loads": rng.randint(1, 3) if loads[j] else 0, "stores": rng.randint(1, 2) if sched.writeback[j] else 0,
        "compute": rng.randint(1, 40), "last": j == sched.count - 1,
    } for j in range(sched.count)]  # fmt: skip


def run(tiles: list[dict], rng: random.Random, latency: int = 30, max_cycles: int = 200_000, delays=None,
        index_bits: int = 12) -> dict:
    """Simulate the sequencer with stub engines (a command completes 1..``latency`` + 1 cycles
    after it is handed over, in order, or after the next of ``delays``) and core; returns the
    recorded events (cycles)."""
    dut = TileSequencer(DmaParams(), index_bits=index_bits, count_bits=4)
    events = {"hand": [], "done": {"reader": [], "writer": []}, "start": [], "idle": [], "header": [], "finished": None}
    headers = list(tiles)
    commands = {
        "load": [(j, k) for j, t in enumerate(tiles) for k in range(t["loads"])],
        "store": [(j, k) for j, t in enumerate(tiles) for k in range(t["stores"])],
    }

    async def bench(ctx):
        pending = {"reader": [], "writer": []}  # done cycles of accepted commands, in order
        busy_until = -1  # last cycle the core is busy
        cycle = 0
        ctx.set(dut.primed, 1)  # the descriptors are always ready (tests/test_command_processor.py times them)
        while events["finished"] is None and cycle < max_cycles:
            ctx.set(dut.busy, cycle <= busy_until)
            for engine in ("reader", "writer"):
                ctx.set(getattr(dut, f"{engine}_done"), bool(pending[engine]) and pending[engine][0] == cycle)
            ctx.set(dut.dma.ready, 1)
            ctx.set(dut.headers.valid, bool(headers))
            if headers:
                h = headers[0]
                ctx.set(dut.headers.payload, {k: h[k] for k in ("load_after", "wait_wb", "loads", "stores", "last")})
            for kind in ("load", "store"):
                stream = getattr(dut, f"{kind}_cmds")
                ctx.set(stream.valid, bool(commands[kind]))
                if commands[kind]:
                    ctx.set(stream.payload.dram_addr, commands[kind][0][0] * 16 + commands[kind][0][1])
            if ctx.get(dut.finished):
                events["finished"] = cycle
                break
            # Handshakes of this cycle take effect at the edge that ends it.
            if headers and ctx.get(dut.headers.ready):
                headers.pop(0)
                events["header"].append(cycle)
            if ctx.get(dut.dma.valid):
                kind, engine = ("store", "writer") if ctx.get(dut.dma.payload.write) else ("load", "reader")
                tile, k = commands[kind].pop(0)
                assert ctx.get(dut.dma.payload.command.dram_addr) == tile * 16 + k
                events["hand"].append((cycle, kind, tile, k))
                previous = pending[engine][-1] if pending[engine] else cycle
                delay = next(delays) if delays else rng.randint(0, latency)
                pending[engine].append(max(previous + 1, cycle + 1 + delay))
            for engine in ("reader", "writer"):
                if pending[engine] and pending[engine][0] == cycle:
                    events["done"][engine].append(cycle)
                    pending[engine].pop(0)
            if ctx.get(dut.start):
                tile = ctx.get(dut.tile)
                events["start"].append((cycle, tile))
                busy_until = cycle + tiles[tile]["compute"]  # sampled at the edge: busy from cycle + 1
                events["idle"].append(busy_until + 1)  # first cycle with busy low again
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert events["finished"] is not None, f"the sequencer did not finish: {events}"
    return events


def queue_order(tiles: list[dict]) -> list[tuple[str, int]]:
    """L0, L1, W0, L2, W1, ..., L(n-1), W(n-2), W(n-1)."""
    n = len(tiles)
    order = [("load", 0)]
    for j in range(1, n):
        order += [("load", j), ("store", j - 1)]
    return order + [("store", n - 1)]


def check(tiles: list[dict], events: dict) -> None:
    """Every event at exactly the cycle the rules give, from the stubs' own events."""
    n = len(tiles)
    idle = events["idle"]  # idle[j]: first cycle with busy low after tile j
    computed = [c + 1 for c in idle]  # the first cycle tile j counts as computed
    present = [c + 1 for c in events["header"]]  # the first cycle tile j's header is held

    hands = {}  # (kind, tile) -> cycles of its hand-overs
    for cycle, kind, tile, _ in events["hand"]:
        hands.setdefault((kind, tile), []).append(cycle)
    dones = {kind: dict(zip([(t, k) for _, kk, t, k in events["hand"] if kk == kind], events["done"][engine]))
             for kind, engine in (("load", "reader"), ("store", "writer"))}  # fmt: skip

    # The queue, one entry after the other; an empty entry takes one cycle and waits for nothing.
    cursor, queued = 1, {}
    for kind, tile in queue_order(tiles):
        count = tiles[tile][kind + "s"]
        cursor = max(cursor, present[tile])
        if count == 0:
            assert (kind, tile) not in hands
            queued[(kind, tile)] = cursor
            cursor += 1
            continue
        guard = tile if kind == "store" else tiles[tile]["load_after"]
        first = max(cursor, computed[guard] if guard >= 0 else 0)
        assert hands[(kind, tile)] == list(range(first, first + count)), (kind, tile)
        queued[(kind, tile)] = first + count - 1
        cursor = first + count

    def finished_from(kind: str) -> list[int]:
        """First cycle each tile's fetch (writeback) counts as complete: in tile order, one per cycle."""
        out, previous = [], 0
        for j in range(n):
            count = tiles[j][kind + "s"]
            ready = dones[kind][(j, count - 1)] if count else queued[(kind, j)] + 1
            previous = max(previous, ready) + 1
            out.append(previous)
        return out

    landed, written = finished_from("load"), finished_from("store")
    starts = [c for c, _ in events["start"]]
    assert [t for _, t in events["start"]] == list(range(n))
    for j, t in enumerate(tiles):
        ready = max(idle[j - 1] if j else 0, landed[j], written[t["wait_wb"]] if t["wait_wb"] >= 0 else 0)
        assert starts[j] == ready + START_DELAY, f"tile {j} started in cycle {starts[j]}, ready in {ready}"
    assert events["finished"] == max(computed[-1], written[-1])


@pytest.mark.parametrize(
    "net, layer, config",
    [
        ("lenet5", 0, AccelConfig(rows=4, cols=4, ifmap_kib=1, filter_kib=1, ofmap_kib=2)),
        ("lenet5", 2, AccelConfig(rows=4, cols=4, ifmap_kib=2, filter_kib=2, ofmap_kib=1)),
        ("alexnet", 1, AccelConfig(rows=16, cols=16, ifmap_kib=64, filter_kib=32, ofmap_kib=16)),
    ],
)
def test_sequencer_follows_the_queue_rules(net, layer, config):
    rng = random.Random(3)
    tiles = layer_tiles(net, layer, config, rng)
    assert len(tiles) > 4  # a schedule with real guards
    check(tiles, run(tiles, rng))


def test_a_single_tile_layer():
    rng = random.Random(1)
    tiles = [{"load_after": -1, "wait_wb": -1, "loads": 2, "stores": 1, "compute": 7, "last": True}]
    events = run(tiles, rng)
    check(tiles, events)
    assert [k for _, k, _, _ in events["hand"]] == ["load", "load", "store"]
    assert events["start"] == [(events["done"]["reader"][-1] + 1 + START_DELAY, 0)]


@pytest.mark.parametrize("latency", [0, 30, 300])
def test_random_guards_and_empty_transfers(latency):
    rng = random.Random(11 + latency)
    for _ in range(4):
        n = rng.randint(2, 14)
        tiles = []
        for j in range(n):
            tiles.append({
                "load_after": rng.choice([-1, max(-1, j - 2), max(-1, j - 1)]) if j else -1,
                "wait_wb": rng.choice([-1, j - 2]) if j >= 2 else -1,
                "loads": rng.choice([0, 1, 2]) if j else rng.randint(1, 2), "stores": rng.choice([0, 1, 2]),
                "compute": rng.randint(1, 25), "last": j == n - 1,
            })  # fmt: skip
        for j, t in enumerate(tiles):  # a wait_wb names a tile with a writeback
            if t["wait_wb"] >= 0 and not tiles[t["wait_wb"]]["stores"]:
                t["wait_wb"] = -1
        check(tiles, run(tiles, rng, latency))


def test_a_completion_in_the_cycle_an_empty_fetch_is_passed():
    """Tile 1 fetches nothing; tile 2's fetch completes in the very cycle tile 1 counts as landed,
    and that completion must not be lost."""
    tiles = [
        {"load_after": -1, "wait_wb": -1, "loads": 1, "stores": 0, "compute": 5, "last": False},
        {"load_after": -1, "wait_wb": -1, "loads": 0, "stores": 0, "compute": 5, "last": False},
        {"load_after": -1, "wait_wb": -1, "loads": 1, "stores": 1, "compute": 5, "last": True},
    ]
    # Tile 0's fetch completes in cycle 12 (landed from 13, tile 1 from 14); tile 2's, handed
    # over in cycle 5, completes in cycle 13.
    events = run(tiles, random.Random(0), delays=iter([10, 7, 0]))
    assert events["done"]["reader"] == [12, 13]
    check(tiles, events)


def test_tile_indices_in_the_upper_half_of_their_range_keep_their_guards():
    """With 4 index bits, tiles 8..14 have the top bit set: a writeback of such a tile still
    waits for its compute (read as a signed index it would look like "no guard")."""
    rng = random.Random(5)
    tiles = [{"load_after": max(-1, j - 2), "wait_wb": j - 2 if j >= 2 else -1, "loads": int(j % 3 == 0),
              "stores": 1, "compute": 60, "last": j == 14} for j in range(15)]  # fmt: skip
    check(tiles, run(tiles, rng, latency=0, index_bits=4))
