"""The DRAM channel specification (accel/dram_channel.py) against a cycle-by-cycle reading of it."""

from __future__ import annotations

import random

import pytest

from accel.analytic import NO_LIMIT
from accel.dram_channel import beat_deadline, run_beats, serve


@pytest.mark.parametrize(
    "address, nbytes, bus, beats",
    [(0, 0, 16, 0), (0, 1, 16, 1), (0, 16, 16, 1), (0, 17, 16, 2), (15, 2, 16, 2), (4, 12, 16, 1),
     (4, 13, 16, 2), (4096 + 3, 29, 32, 1), (4096 + 3, 30, 32, 2), (7, 100, 4, 26)],
)  # fmt: skip
def test_run_beats_counts_whole_bus_words(address, nbytes, bus, beats):
    assert run_beats(address, nbytes, bus) == beats
    if nbytes:  # the beats cover exactly the bus words the run touches
        assert beats == (address + nbytes - 1) // bus - address // bus + 1


def stepped_moves(beats: int, bandwidth: float, bus: int) -> list[int]:
    """Cycles (from the period start) in which each beat moves, stepping one cycle at a time."""
    moves, t = [], 0
    while len(moves) < beats:
        t += 1  # cycle t - 1 is over: t cycles have elapsed
        k = len(moves)
        if t >= k + 1 and t * bandwidth >= (k + 1) * bus:
            moves.append(t - 1)
    return moves


@pytest.mark.parametrize("bandwidth", [16.0, 64.0, 2.0, 1.5, 0.3, 20 / 3, 1e-3])
@pytest.mark.parametrize("bus", [4, 16, 32])
def test_beat_deadline_is_the_stepped_rule(bandwidth, bus):
    moves = stepped_moves(40 if bandwidth > 0.01 else 5, bandwidth, bus)
    assert [beat_deadline(k, bandwidth, bus) - 1 for k in range(len(moves))] == moves


def test_one_beat_per_cycle_at_most():
    assert [beat_deadline(k, 1e9, 16) for k in range(4)] == [1, 2, 3, 4]
    assert beat_deadline(99, 16.0, 16) == 100  # the default channel: 16 bytes per cycle on a 16-byte bus


def test_back_to_back_transfers_share_a_busy_period():
    # 1.5 bytes/cycle on a 16-byte bus: alone, one beat takes 11 cycles; two back to back take 22,
    # not 2 * 11, because the fraction of a cycle left after the first carries over.
    free, start, beats = serve(5, 1, 0, 0, 0, 1.5, 16)
    assert (free, start, beats) == (16, 5, 1)
    free, start, beats = serve(free, 2, free, start, beats, 1.5, 16)
    assert free == 5 + beat_deadline(2, 1.5, 16) == 5 + 32
    # Starting a cycle later opens a new period.
    assert serve(free + 1, 1, free, start, beats, 1.5, 16) == (free + 1 + 11, free + 1, 1)


def test_random_sequences_match_the_stepped_channel():
    """``serve`` over a queue of transfers equals stepping the channel cycle by cycle."""
    rng = random.Random(7)
    for _ in range(200):
        bandwidth, bus = rng.choice([16.0, 3.0, 1.5, 0.7, 40.0]), rng.choice([4, 16])
        requests = [(rng.randrange(0, 30), rng.randrange(1, 12)) for _ in range(rng.randrange(1, 6))]
        free, period, moved = 0, 0, 0
        ends = []
        now = 0
        for delay, beats in requests:
            now = max(now + delay, free)
            free, period, moved = serve(now, beats, free, period, moved, bandwidth, bus)
            ends.append(free)
        assert ends == _stepped_queue(requests, bandwidth, bus)


def _stepped_queue(requests, bandwidth, bus):
    """Each transfer becomes pending ``delay`` cycles after the previous one could start, and
    the channel moves one beat per cycle under the credit rule; returns each transfer's end."""
    ends, now, period, moved, free = [], 0, None, 0, 0
    for delay, beats in requests:
        start = max(now + delay, free)
        if period is None or start != free:
            period, moved = start, 0
        t = start
        for _ in range(beats):
            while not ((t - period + 1) >= moved + 1 and (t - period + 1) * bandwidth >= (moved + 1) * bus):
                t += 1
            moved += 1
            t += 1
        free = t
        now = start
        ends.append(free)
    return ends


def test_an_ideal_channel_takes_no_time():
    assert serve(10, 50, 3, 0, 0, NO_LIMIT, 16) == (10, 0, 0)
    assert beat_deadline(5, NO_LIMIT, 16) == 0


def test_an_empty_transfer_leaves_the_channel_alone():
    state = serve(0, 1, 0, 0, 0, 16.0, 16)
    assert serve(10, 0, *state, 16.0, 16) == state
    assert serve(10, 1, *state, 16.0, 16) == (11, 10, 1)  # a new period: the channel was idle
