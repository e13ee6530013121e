"""The fixed delays of the generated AXI system, and the size of the program it fetches.

The simulator times a layer as the hardware runs it (``docs/microarchitecture.md``, "The AXI
system"): the command processor fetches the layer's program *segments* from DRAM one after the
other and runs each to its end before fetching the next; within a segment the tiles follow the
DRAM queue of ``accel/analytic.py`` with the delays below, in cycles, for a bus of ``W`` bytes
and an array of ``R`` rows. ``tests/test_system_cycles.py`` holds the RTL to them.

A segment, from the cycle after the previous one finished (the program's start for the first):

- its header (``SEGMENT_HEADER_WORDS`` words) is requested :data:`HEADER_REQUEST` cycles later,
  as a transfer of its own on an idle channel;
- the whole segment (header and records) is requested :data:`BODY_REQUEST` cycles after the
  header has landed (the channel free plus the latency);
- the segment runs :data:`RUN_DELAY` cycles after that fetch has landed; times below count
  from then.

Within a segment:

- the first transfers (a fetch whose bank no tile of the segment reads) are requested
  :func:`first_request` cycles after the run; any other fetch :data:`FETCH_REQUEST` cycles and
  any writeback :data:`WRITEBACK_REQUEST` cycles after the compute of the tile it waits for has
  ended (the DMA's write engine issues one cycle later than its read engine); requests keep the
  queue's order;
- a tile may start :data:`LOAD_LANDED` cycles after its fetch has landed and :data:`BANK_FREED`
  cycles after the writeback it waits for is done (:data:`WRITEBACK_DONE` cycles after that
  writeback landed);
- a tile's compute ends :data:`DRAIN` cycles after its ``compute`` cycles (its last results
  reach the staging memory), and the next tile starts at least :data:`PRIME` cycles after the
  later of that end and :func:`descriptor_cycles` after the previous start (the first tile: that
  many after the run, less one);
- the segment finishes when its last writeback is done, and at least a cycle after its last
  tile's compute ended.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from accel.dram_channel import beat_deadline, transfer_beats

#: Words of a segment's header (MAGIC, WORDS, FLAGS).
SEGMENT_HEADER_WORDS = 3
#: Words of tile records a segment may hold (the command processor's program memory).
SEGMENT_WORDS = 4096
#: Byte alignment of every segment in DRAM.
SEGMENT_ALIGN = 64
#: Words of a tile record before its lane table: TILE, GUARDS, BANKS and the descriptor registers.
RECORD_FIXED_WORDS = 3 + 50
#: Words of the lane table per array row, and of a DMA command.
LANE_WORDS = 8
COMMAND_WORDS = 8
#: Bytes of a program word.
WORD_BYTES = 4

# The delays of the list above, in cycles.
HEADER_REQUEST = 3  # previous segment finished -> header requested
BODY_REQUEST = 9  # header landed -> segment requested
RUN_DELAY = 4  # segment landed -> run
FETCH_REQUEST = 3  # compute of the tile a fetch waits for ended -> fetch requested
WRITEBACK_REQUEST = 4  # compute of the tile ended -> its writeback requested
LOAD_LANDED = 5  # fetch landed -> its tile may start
WRITEBACK_DONE = 3  # writeback landed -> done (its accumulator bank free, the segment may finish)
BANK_FREED = 1  # writeback done -> a tile that reuses its accumulator bank may start
DRAIN = 5  # compute cycles over -> compute ended (the last results staged)
PRIME = 6  # descriptor loaded and the core idle -> the tile may start


@register_jitable
def record_words(rows, commands):
    """Words of a tile record with ``commands`` DMA commands on an array of ``rows`` rows."""
    return RECORD_FIXED_WORDS + LANE_WORDS * rows + COMMAND_WORDS * commands


@register_jitable
def command_cycles(bus):
    """Cycles the command processor takes to read one DMA command from its program memory."""
    return max(1, COMMAND_WORDS * WORD_BYTES // bus)


@register_jitable
def first_request(bus):
    """Cycles from a segment's run to its first transfer's request."""
    return 7 + command_cycles(bus)


@register_jitable
def descriptor_cycles(rows, bus):
    """Cycles from a tile's start until the next tile's descriptor and lane table are loaded."""
    words = RECORD_FIXED_WORDS + LANE_WORDS * rows
    return 3 + (words * WORD_BYTES + bus - 1) // bus


@register_jitable
def segment_end(commands, rows, first, limit):
    """The tile after the last of the segment that starts at tile ``first``: as many tiles as
    their records fit ``limit`` words (:data:`SEGMENT_WORDS`; one tile at least)."""
    used = 0
    end = first
    while end < commands.shape[0]:
        used += record_words(rows, int(commands[end]))
        if used > limit and end > first:
            break
        end += 1
    return end


@register_jitable
def prologue_cycles(words, bandwidth, latency, bus):
    """Cycles from the previous segment's end until a segment of ``words`` record words runs,
    and the cycles the channel is busy fetching it: ``(cycles, busy)``."""
    header = transfer_beats(SEGMENT_HEADER_WORDS * WORD_BYTES, bus)
    body = transfer_beats((SEGMENT_HEADER_WORDS + words) * WORD_BYTES, bus)
    header_moves = beat_deadline(header - 1, bandwidth, bus)
    body_moves = beat_deadline(body - 1, bandwidth, bus)
    cycles = HEADER_REQUEST + header_moves + latency + BODY_REQUEST + body_moves + latency + RUN_DELAY
    return cycles, header_moves + body_moves


@register_jitable
def layer_segments(commands, rows, bandwidth, latency, bus):
    """The program segments of a layer whose tiles have ``commands`` DMA commands each: per
    segment its first tile, the tile after its last, its prologue's cycles (from the previous
    segment's end to its run) and the channel's busy cycles in them, as an ``(n, 4)`` array."""
    count = commands.shape[0]
    out = np.zeros((max(count, 1), 4), dtype=np.int64)
    n = 0
    first = 0
    while first < count:
        end = segment_end(commands, rows, first, SEGMENT_WORDS)
        words = 0
        for j in range(first, end):
            words += record_words(rows, int(commands[j]))
        cycles, busy = prologue_cycles(words, bandwidth, latency, bus)
        out[n, 0], out[n, 1], out[n, 2], out[n, 3] = first, end, cycles, busy
        n += 1
        first = end
    return out[:n]


@register_jitable
def tile_primed(first, tile, starts, ends, rows, bus):
    """Least start of ``tile`` (of the segment from tile ``first``, relative to its run) once its
    descriptor is loaded and the core has settled on it, given the previous tile's start and
    compute end (``starts``, ``ends``)."""
    if tile == first:
        return descriptor_cycles(rows, bus) - 1 + PRIME
    return max(starts[tile - 1] + descriptor_cycles(rows, bus), ends[tile - 1]) + PRIME


def overhead_bound(tiles: int, commands: int, rows: int, bus: int) -> tuple[int, int, int]:
    """Upper bounds on what the system adds to ``tiles`` tiles with ``commands`` DMA commands in
    all on an array of ``rows`` rows: the program's bus beats, its fetches (transfers), and the
    fixed delays (cycles)."""
    record_beats = transfer_beats(record_words(rows, 0) * WORD_BYTES, bus)
    command_beats = transfer_beats(COMMAND_WORDS * WORD_BYTES, bus)
    per_segment = HEADER_REQUEST + BODY_REQUEST + RUN_DELAY + first_request(bus)
    per_tile = (DRAIN + PRIME + descriptor_cycles(rows, bus) + FETCH_REQUEST + WRITEBACK_REQUEST + LOAD_LANDED
                + WRITEBACK_DONE + BANK_FREED)
    # A segment holds one tile at least and its header takes a beat and a word more.
    return tiles * (record_beats + 2) + commands * command_beats, 2 * tiles, tiles * (per_tile + per_segment)
