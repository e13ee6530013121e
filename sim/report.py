"""Simulation reports: plain dataclasses first; JSON, CSV, tables and plots are views of them."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field

SRAM_FIELDS = ("ifmap_reads", "ifmap_writes", "filter_reads", "filter_writes", "ofmap_reads", "ofmap_writes")
DRAM_FIELDS = ("ifmap_read_bytes", "filter_read_bytes", "ofmap_write_bytes", "total_bytes", "compulsory_bytes",
               "lower_bound_bytes")


@dataclass
class LayerReport:
    """What one layer costs. Cycles in cycles, SRAM in element accesses, DRAM in bytes."""

    name: str
    type: str
    gemm: dict  # groups, m, k, n (per group), groups packed per fold
    tiles: int
    folds: int
    loop_order: str
    single_buffered: str  # operands whose tiles take both banks (buffering 'whole'): '', 'ifmap', 'filter' or both
    macs: int  # the layer's multiply-accumulates (0 for pooling and elementwise layers)
    pe_ops: int  # operations on the PEs the layer needs (MACs, or compares/adds for pooling)
    cycles: int
    compute_cycles: int
    stall_cycles: int  # cycles - compute_cycles = dram_stall_cycles + overhead_cycles
    dram_stall_cycles: int  # what an ideal DRAM (unlimited bandwidth, no latency) would save
    overhead_cycles: int  # the rest: program fetch, descriptor and settling delays
    utilization: float  # pe_ops / (rows * cols * cycles)
    mapping_efficiency: float  # pe_ops / (rows * cols * cycles the folds stream)
    sram: dict
    # DRAM bytes per operand, total, compulsory (each tensor once) and a lower bound for the
    # SRAM capacities (accel.traffic_bound), plus two bandwidths in
    # bytes/cycle: average_bytes_per_cycle (total bytes / cycles) and fetch_hiding_bytes_per_cycle
    # (the largest tile fetch / compute cycles of the tile before it: what would hide every fetch).
    dram: dict
    outputs: object = field(default=None, repr=False)  # functional mode: the layer's output array

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("outputs")
        return data


@dataclass
class NetworkReport:
    """A whole run: configuration, per-layer reports and totals."""

    network: str
    mode: str
    config: dict
    layers: list[LayerReport]
    total: dict

    def to_dict(self) -> dict:
        return {
            "network": self.network,
            "mode": self.mode,
            "config": self.config,
            "layers": [layer.to_dict() for layer in self.layers],
            "total": self.total,
        }

    def layers_csv(self, extra: list[dict] | None = None) -> str:
        """One row per layer, nested fields flattened (``sram.ifmap_reads``, ...).

        ``extra``: more columns per layer (same order as ``layers``), e.g. its energy.
        """
        rows = [_flatten(layer.to_dict()) for layer in self.layers]
        for row, more in zip(rows, extra or []):
            row.update(more)
        return _csv(rows) if rows else "name\n"

    def total_csv(self, extra: dict | None = None) -> str:
        """The totals as one row; ``extra``: more columns, e.g. the total energy."""
        return _csv([{**_flatten(self.total), **(extra or {})}])


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def totals(layers: list[LayerReport], pes: int, clock_mhz: float) -> dict:
    """Sum the layer reports; latency in ms at ``clock_mhz``."""
    cycles = sum(r.cycles for r in layers)
    compute = sum(r.compute_cycles for r in layers)
    dram_stall = sum(r.dram_stall_cycles for r in layers)
    pe_ops = sum(r.pe_ops for r in layers)
    sram = {k: sum(r.sram[k] for r in layers) for k in SRAM_FIELDS}
    dram = {k: sum(r.dram[k] for r in layers) for k in DRAM_FIELDS}
    dram["average_bytes_per_cycle"] = dram["total_bytes"] / cycles if cycles else 0.0
    dram["fetch_hiding_bytes_per_cycle"] = max((r.dram["fetch_hiding_bytes_per_cycle"] for r in layers), default=0.0)
    return {
        "cycles": cycles,
        "compute_cycles": compute,
        "stall_cycles": cycles - compute,
        "dram_stall_cycles": dram_stall,
        "overhead_cycles": cycles - compute - dram_stall,
        "macs": sum(r.macs for r in layers),
        "pe_ops": pe_ops,
        "utilization": pe_ops / (pes * cycles) if cycles else 0.0,
        "latency_ms": cycles / (clock_mhz * 1e3),
        "sram": sram,
        "dram": dram,
    }
