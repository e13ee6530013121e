"""SCALE-Sim timing as reports: the run report of ``sim run --timing scalesim`` and SCALE-Sim's CSVs.

:func:`scalesim_report` turns :func:`accel.scalesim.model_network` into the usual
:class:`~sim.report.NetworkReport` (one entry per array layer; a layer that SCALE-Sim runs as
several identical rows, such as a depthwise conv, sums them). :func:`write_reports` writes
``COMPUTE_REPORT.csv``, ``DETAILED_ACCESS_REPORT.csv`` and ``BANDWIDTH_REPORT.csv`` with
SCALE-Sim's headers and one line per SCALE-Sim layer, so scripts that read SCALE-Sim's output
keep working.

What the CSVs hold where SCALE-Sim's own figures come from its address-trace memory model, which
is not reproduced: stalls are 0 and "Total Cycles (incl. prefetch)" equals "Total Cycles"; the
DRAM columns count each tensor once, moved over the cycles the array uses it (the DRAM start and
stop cycles are the SRAM ones). "SRAM OFMAP Writes" is the true count (SCALE-Sim adds
``H_a + W_a`` per fold under os).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from accel.config import AccelConfig
from accel.scalesim import ScaleSimLayer, model_network
from accel.tiling import element_bytes
from accel.files import write_atomic
from sim.report import LayerReport, NetworkReport, totals
from workloads.errors import UserError
from workloads.network import Network
from workloads.scalesim_topology import is_gemm_header

OPERANDS = (("ifmap", "IFMAP", "Reads"), ("filter", "Filter", "Reads"), ("ofmap", "OFMAP", "Writes"))
COMPUTE_COLUMNS = ("LayerID", "Total Cycles (incl. prefetch)", "Total Cycles", "Stall Cycles", "Overall Util %",
                   "Mapping Efficiency %", "Compute Util %")  # fmt: skip
DETAIL_COLUMNS = ("LayerID",) + tuple(
    f"{memory} {label} {what}" for memory in ("SRAM", "DRAM") for _, label, verb in OPERANDS
    for what in ("Start Cycle", "Stop Cycle", verb)
)  # fmt: skip
BANDWIDTH_COLUMNS = ("LayerID",) + tuple(
    f"Avg {label.upper()} {memory} BW" for memory in ("SRAM", "DRAM") for _, label, _ in OPERANDS
)  # fmt: skip


def scalesim_report(
    network: Network, config: AccelConfig, mode: str, progress: Callable[[str], None] | None = None
) -> NetworkReport:
    """The run report of ``network`` under SCALE-Sim 3.0.0's timing (``mode`` must not be functional)."""
    if mode == "functional":
        raise UserError("functional mode computes values on the native array; use --timing native with it")
    ib, wb = element_bytes(config.input_bits), element_bytes(config.weight_bits)
    reports = [_layer_report(node.name, node.kind, node.macs, layer, count, ib, wb)
               for node, layer, count in model_network(network, config)]  # fmt: skip
    if progress is not None:
        for node in network:
            progress(node.name)
    return NetworkReport(network.name, "scalesim", config.to_dict(), reports,
                         totals(reports, config.pes, config.clock_mhz))  # fmt: skip


def _layer_report(name: str, kind: str, macs: int, layer: ScaleSimLayer, count: int, ib: int, wb: int) -> LayerReport:
    """``count`` identical SCALE-Sim layers as one report; DRAM moves each tensor once."""
    row, size = layer.row, layer.tensor_elements
    cycles = count * layer.cycles
    dram = {"ifmap_read_bytes": count * size["ifmap"] * ib, "filter_read_bytes": count * size["filter"] * wb,
            "ofmap_write_bytes": count * size["ofmap"] * ib}  # fmt: skip
    total = sum(dram.values())
    per_cycle = total / max(cycles, 1)  # no tiles: fetches spread evenly over the layer
    return LayerReport(
        name=name, type=kind, gemm={"groups": count, "m": row.pixels, "k": row.window, "n": row.filters, "packed": 1},
        tiles=count, folds=count * layer.folds, loop_order="-", single_buffered="", macs=macs,
        pe_ops=count * layer.macs, cycles=cycles, compute_cycles=cycles, stall_cycles=0, dram_stall_cycles=0,
        overhead_cycles=0,
        utilization=layer.utilization,
        mapping_efficiency=layer.mapping_efficiency,
        sram={"ifmap_reads": count * layer.sram_reads["ifmap"], "ifmap_writes": count * size["ifmap"],
              "filter_reads": count * layer.sram_reads["filter"], "filter_writes": count * size["filter"],
              "ofmap_reads": 0, "ofmap_writes": count * layer.ofmap_writes},
        dram={**dram, "total_bytes": total, "compulsory_bytes": total, "lower_bound_bytes": total,
              "average_bytes_per_cycle": per_cycle, "fetch_hiding_bytes_per_cycle": per_cycle},
    )  # fmt: skip


#: The report files :func:`write_reports` writes, as SCALE-Sim names them.
REPORT_FILES = ("COMPUTE_REPORT.csv", "DETAILED_ACCESS_REPORT.csv", "BANDWIDTH_REPORT.csv")


def write_reports(directory: str | Path, network: Network, config: AccelConfig) -> list[Path]:
    """Write SCALE-Sim's three report CSVs for ``network`` on ``config`` into ``directory``; return their paths."""
    compute, detail, bandwidth = [], [], []
    for _, layer, count in model_network(network, config):
        sram = layer.sram_cycles
        accesses = {**layer.sram_reads, "ofmap": layer.ofmap_writes}
        pct = [100 * layer.utilization, 100 * layer.mapping_efficiency, 100 * layer.compute_utilization]
        detail_row = [v for op, _, _ in OPERANDS for v in (*sram[op], accesses[op])]
        detail_row += [v for op, _, _ in OPERANDS for v in (*sram[op], layer.tensor_elements[op])]
        bw_row = [accesses[op] / max(layer.cycles, 1) for op, _, _ in OPERANDS]
        bw_row += [layer.tensor_elements[op] / (sram[op][1] - sram[op][0] + 1) for op, _, _ in OPERANDS]
        for _ in range(count):
            compute.append([layer.cycles, layer.cycles, 0, *pct])
            detail.append(detail_row)
            bandwidth.append(bw_row)
    directory = Path(directory)
    files = dict(zip(REPORT_FILES, [(COMPUTE_COLUMNS, compute), (DETAIL_COLUMNS, detail),
                                    (BANDWIDTH_COLUMNS, bandwidth)]))  # fmt: skip
    for name, (columns, rows) in files.items():
        write_atomic(directory / name, _csv(columns, rows))
    return [directory / name for name in files]


def _csv(columns: tuple[str, ...], rows: list[list]) -> str:
    """SCALE-Sim's layout: ``', '``-separated, a trailing comma, the layer index first."""
    lines = [", ".join(columns) + ","]
    lines += [", ".join(str(v) for v in (i, *row)) + "," for i, row in enumerate(rows)]
    return "\n".join(lines) + "\n"


def read_report(path: str | Path) -> list[dict[str, float]]:
    """Rows of a SCALE-Sim report CSV (SCALE-Sim's own or ours) as ``{column: value}``."""
    header, *lines = Path(path).read_text().splitlines()
    columns = [c.strip() for c in header.rstrip().rstrip(",").split(",")]
    return [
        dict(zip(columns, (float(v) for v in line.rstrip().rstrip(",").split(",")))) for line in lines if line.strip()
    ]


def scalesim_command(python: str, config: str | Path, topology: str | Path, workdir: str | Path) -> list[str]:
    """The command that runs the real SCALE-Sim (installed for ``python``) on the same files.

    Its reports land in ``workdir/<run_name>/``; traces are not written (SCALE-Sim's fastest
    mode). SCALE-Sim 3.0.0 also wants a layout file: an empty one is written to ``workdir``, which
    keeps its default layout. A GEMM topology is told apart by its header, as here.
    """
    workdir = Path(workdir)
    layout = workdir / "layout.csv"
    write_atomic(layout, "Layer name,\n")
    gemm = is_gemm_header(topology, Path(topology).read_text().split("\n", 1)[0])
    script = ("import sys; from scalesim.scale_sim import scalesim; "
              "scalesim(save_disk_space=True, verbose=False, config=sys.argv[1], topology=sys.argv[2], "
              "layout=sys.argv[3], input_type_gemm=sys.argv[5] == 'gemm').run_scale(top_path=sys.argv[4])")  # fmt: skip
    return [python, "-c", script, str(config), str(topology), str(layout), str(workdir), "gemm" if gemm else "conv"]
