"""Run a network on an accelerator configuration and build its report."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from accel.config import AccelConfig
from accel.lowering import ArrayOp, Op, lower_network
from accel.tiling import TileSchedule, compulsory_bytes, element_bytes, schedule
from accel.traffic_bound import lower_bound_bytes
from sim.report import LayerReport, NetworkReport, totals
from workloads.errors import UserError
from workloads.network import Network, Node

if TYPE_CHECKING:
    from accel.analytic import Timing

MODES = ("cycle", "analytic", "functional")
TIMINGS = ("native", "scalesim")


def simulate(
    network: Network,
    config: AccelConfig,
    mode: str = "cycle",
    progress: Callable[[str], None] | None = None,
    timing: str = "native",
) -> NetworkReport:
    """Simulate every layer of ``network`` on ``config``.

    ``mode``: ``'cycle'`` runs the event-driven cycle-level engine, ``'analytic'`` evaluates the
    closed form (equal in every field, see docs/correctness.md), ``'functional'`` also computes
    every layer's outputs on the simulated array (int8 operands from deterministic random weights)
    and keeps them in the reports. ``progress`` is called with each layer name once it is done.
    ``timing``: ``'native'`` (this microarchitecture) or ``'scalesim'`` (SCALE-Sim 3.0.0's
    per-layer closed form, see :mod:`accel.scalesim`; ``mode`` is then ``'cycle'`` or
    ``'analytic'``, which agree). A layer whose cycles could exceed
    ``accel.analytic.CYCLE_LIMIT`` raises :class:`UserError` before it runs.
    """
    if mode not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if timing not in TIMINGS:
        raise UserError(f"timing must be one of {', '.join(TIMINGS)}, not {timing!r}")
    if timing == "scalesim":
        from sim.scalesim_reports import scalesim_report

        return scalesim_report(network, config, mode, progress)
    # Numba-compiled modules load only here: SCALE-Sim timing does not pay for them.
    from accel.analytic import layer_timing
    from sim.engine import run_layer

    lowered = lower_network(network)
    values = None
    if mode == "functional":
        from sim.functional import FunctionalRun

        values = FunctionalRun(network, config)
    step = layer_timing if mode == "analytic" else run_layer
    reports = []
    for node, op in lowered:
        if op is not None:
            sched = schedule(op, config)
            check_cycle_range(node.name, sched, config)
            layer_time = step(sched, config.dram_bandwidth, config.dram_latency)
            ideal = step(sched, float("inf"), 0).cycles  # the same tiles on an ideal DRAM
            reports.append(layer_report(node, op, sched, layer_time, ideal, config))
        if values is not None:
            out = values.run(node, op)
            if op is not None:
                reports[-1].outputs = out
        if progress is not None:
            progress(node.name)
    return NetworkReport(
        network=network.name,
        mode=mode,
        config=config.to_dict(),
        layers=reports,
        total=totals(reports, config.pes, config.clock_mhz),
    )


def check_cycle_range(name: str, sched: TileSchedule, config: AccelConfig) -> None:
    """Refuse a layer whose cycles could exceed ``accel.analytic.CYCLE_LIMIT``, naming the parameter to change."""
    from accel.analytic import cycle_range_error, schedule_traffic

    beats, transfers = schedule_traffic(sched)
    error = cycle_range_error(name, beats, transfers, int(sched.compute.sum()), config.dram_bandwidth,
                              config.dram_latency, sched.count, sched.rows)  # fmt: skip
    if error:
        raise UserError(error)


def layer_report(node: Node, op: Op, sched: TileSchedule, timing: Timing, ideal_cycles: int,
                 cfg: AccelConfig) -> LayerReport:  # fmt: skip
    """Combine a layer's schedule and timing into its report; ``ideal_cycles``: its cycles with
    unlimited DRAM bandwidth and no latency."""
    ib = element_bytes(cfg.input_bits)
    loads_if, loads_f = int(sched.load_ifmap.sum()), int(sched.load_filter.sum())
    writes = int(sched.writeback.sum())
    total_bytes = loads_if + loads_f + writes
    slots = cfg.pes
    if isinstance(op, ArrayOp):
        gemm = {"groups": op.groups, "m": op.m, "k": op.k, "n": op.n, "packed": sched.tile_shape["groups_packed"]}
    else:
        gemm = {"groups": 0, "m": 0, "k": 0, "n": 0, "packed": 0}
    return LayerReport(
        name=node.name,
        type=op.kind,
        gemm=gemm,
        tiles=sched.count,
        folds=sched.folds,
        loop_order=sched.loop_order,
        single_buffered=sched.single_buffered,
        macs=node.macs,
        pe_ops=sched.pe_ops,
        cycles=timing.cycles,
        compute_cycles=timing.compute_cycles,
        stall_cycles=timing.stall_cycles,
        dram_stall_cycles=timing.cycles - ideal_cycles,
        overhead_cycles=ideal_cycles - timing.compute_cycles,
        utilization=sched.pe_ops / (slots * timing.cycles) if timing.cycles else 0.0,
        mapping_efficiency=sched.pe_ops / (slots * sched.mapped_cycles) if sched.mapped_cycles else 0.0,
        sram={
            "ifmap_reads": sched.sram["ifmap_reads"],
            "ifmap_writes": loads_if // ib,
            "filter_reads": sched.sram["filter_reads"],
            "filter_writes": sched.sram["filter_writes"],
            "ofmap_reads": sched.sram["ofmap_reads"],
            "ofmap_writes": sched.sram["ofmap_writes"],
        },
        dram={
            "ifmap_read_bytes": loads_if,
            "filter_read_bytes": loads_f,
            "ofmap_write_bytes": writes,
            "total_bytes": total_bytes,
            "compulsory_bytes": sum(compulsory_bytes(op, cfg).values()),
            "lower_bound_bytes": lower_bound_bytes(node, op, cfg),
            "average_bytes_per_cycle": total_bytes / timing.cycles if timing.cycles else 0.0,
            "fetch_hiding_bytes_per_cycle": timing.peak_bandwidth,
        },
    )
