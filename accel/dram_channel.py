"""The DRAM channel of the AXI system: bus beats, busy periods and latency (the specification).

The channel is an AXI4 port ``W`` bytes wide (``bus_bytes``) in front of a memory that delivers
``b`` bytes per cycle on average (``bandwidth``) and answers ``L`` cycles after it moved the data
(``latency``). It serves transfers (a DMA command: runs of contiguous bytes) one at a time, in
the order they were requested:

- A run of ``n`` bytes at DRAM address ``a`` occupies ``ceil((a mod W + n) / W)`` beats: the bus
  moves whole beats, so an unaligned run pays for the bytes around it (:func:`run_beats`).
- The channel moves at most one beat per cycle and, within a *busy period*, beat ``k`` (counted
  from the period's first beat, from 0) moves in cycle ``P + T(k) - 1``, where ``P`` is the cycle
  the period started and ``T(k) = max(k + 1, least t with t * b >= (k + 1) * W)``
  (:func:`beat_deadline`). The condition is evaluated in IEEE double precision, as written, by the
  simulator and by the memory model of the verification bench alike, so both give the same cycle.
- A transfer that starts in the cycle the channel becomes free (its request was waiting, or
  arrives in that cycle) continues the busy period; one that starts later opens a new period
  with no beats (:func:`serve`).
- A load's data is on chip, and a writeback acknowledged, ``L`` cycles after the channel is free.

The simulator's engines (``sim/engine.py``, ``accel/analytic.py``, the DSE kernel) serve their
transfers with :func:`serve`, on a bus of :func:`bus_bytes` for the configured bandwidth and
with the beats of their runs where ``accel/dram_layout.py`` puts them. An ideal channel (``bandwidth``
negative: the kernels' encoding of ``inf``) moves every transfer in 0 cycles. ``docs/microarchitecture.md`` states the model and ``docs/accelerator.md`` the AXI
timing that realises it.
"""

from __future__ import annotations

import math

from numba.extending import register_jitable

NO_LIMIT = -1.0  # bandwidth passed to kernels for an ideal channel
CYCLE_LIMIT = 2**62
"""Most cycles a layer may take: the engines count in int64 (up to 2**63 - 1), and the factor of
two absorbs the rounding of the floating-point bound ``accel.analytic.cycle_range_error`` compares."""
MIN_BUS_BYTES = 16
"""Narrowest bus the simulator assumes (128 bits, the generated accelerator's default port)."""


def kernel_bandwidth(bandwidth: float) -> float:
    """Bandwidth argument of the kernels: bytes/cycle, or NO_LIMIT for an ideal channel."""
    return NO_LIMIT if math.isinf(bandwidth) else float(bandwidth)


@register_jitable
def transfer_cycles(nbytes, bandwidth):
    """Least t with t * bandwidth >= nbytes (0 if nothing moves or the channel is ideal)."""
    if nbytes <= 0 or bandwidth < 0:
        return 0
    if nbytes / bandwidth >= CYCLE_LIMIT:  # saturate: such a layer is refused (cycle_range_error)
        return CYCLE_LIMIT
    t = int(math.ceil(nbytes / bandwidth))
    while t > 0 and (t - 1) * bandwidth >= nbytes:
        t -= 1
    while t * bandwidth < nbytes:
        t += 1
    return t


@register_jitable
def bus_bytes(bandwidth):
    """Bus beat in bytes for a channel of ``bandwidth`` bytes/cycle: the smallest power of two
    that carries it in one beat per cycle, at least :data:`MIN_BUS_BYTES` (and for an ideal one)."""
    width = MIN_BUS_BYTES
    while width < bandwidth and width < 2**40:
        width *= 2
    return width


@register_jitable
def transfer_beats(nbytes, bus):
    """Beats of a transfer of ``nbytes`` whose runs start on a beat (``ceil(nbytes / bus)``)."""
    return (nbytes + bus - 1) // bus


@register_jitable
def run_beats(address, nbytes, bus_bytes):
    """Bus beats of a run of ``nbytes`` contiguous bytes starting at byte ``address`` (0 if empty)."""
    if nbytes <= 0:
        return 0
    return (address % bus_bytes + nbytes + bus_bytes - 1) // bus_bytes


@register_jitable
def beat_deadline(k, bandwidth, bus_bytes):
    """``T(k)``: cycles from a busy period's start until its beat ``k`` (from 0) has moved."""
    if bandwidth < 0:
        return 0
    return max(k + 1, transfer_cycles((k + 1) * bus_bytes, bandwidth))


@register_jitable
def serve(start, beats, free, period_start, period_beats, bandwidth, bus_bytes):
    """Move a transfer of ``beats`` beats that starts in cycle ``start`` (``>= free``).

    ``free`` is the first cycle the channel is idle, and (``period_start``, ``period_beats``) the
    current busy period. Returns the new ``(free, period_start, period_beats)``: the channel is
    free again in the cycle after the transfer's last beat moved.
    """
    if beats <= 0:  # nothing moves: the channel and its period are untouched
        return free, period_start, period_beats
    if bandwidth < 0:
        return max(free, start), period_start, period_beats
    if start != free or period_beats == 0:
        period_start, period_beats = start, 0
    period_beats += beats
    return period_start + beat_deadline(period_beats - 1, bandwidth, bus_bytes), period_start, period_beats
