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

An ideal channel (``bandwidth`` negative: the kernels' encoding of ``inf``) moves every transfer
in 0 cycles. ``docs/microarchitecture.md`` states the model and ``docs/accelerator.md`` the AXI
timing that realises it.
"""

from __future__ import annotations

from numba.extending import register_jitable

from accel.analytic import transfer_cycles


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
