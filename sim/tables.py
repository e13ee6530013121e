"""Rich tables: human views of the plain-data reports."""

from __future__ import annotations

from rich.table import Table

from workloads.network import Network


def _shape(shape) -> str:
    if shape and isinstance(shape[0], list):
        return " + ".join(_shape(s) for s in shape)
    return "x".join(str(d) for d in shape)


def _dims(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "x".join(_dims(v) if isinstance(v, list) else str(v) for v in value)
    return str(value)


def zoo_table(networks: dict[str, Network]) -> Table:
    """One row per zoo network: input, layers, parameters, MACs."""
    table = Table(title="Network zoo")
    for col in ("name", "input", "layers", "params", "MACs"):
        table.add_column(col, justify="right" if col in ("layers", "params", "MACs") else "left")
    for name, net in networks.items():
        table.add_row(name, _shape(net.input_shape), str(len(net)), f"{net.params:,}", f"{net.macs:,}")
    return table


def info_table(summary: dict) -> Table:
    """Per-layer table of ``Network.summary()``, with totals in the footer."""
    table = Table(title=f"{summary['network']}  input {_shape(summary['input_shape'])}", show_footer=True)
    total = summary["total"]
    columns = [
        ("name", "total"), ("type", ""), ("input", ""), ("output", ""), ("kernel", ""), ("stride", ""),
        ("padding", ""), ("dilation", ""), ("params", f"{total['params']:,}"), ("MACs", f"{total['macs']:,}"),
        ("RF", ""),
    ]  # fmt: skip
    for name, footer in columns:
        table.add_column(name, footer=footer, justify="right" if name in ("params", "MACs") else "left")
    for row in summary["layers"]:
        padding = row.get("padding")
        if isinstance(padding, list) and padding and isinstance(padding[0], list):
            padding = ",".join(f"{lo}" if lo == hi else f"{lo}/{hi}" for lo, hi in padding)
        table.add_row(
            row["name"], row["type"], _shape(row["input_shape"]), _shape(row["output_shape"]),
            _dims(row.get("kernel_size")), _dims(row.get("stride")), _dims(padding), _dims(row.get("dilation")),
            f"{row['params']:,}", f"{row['macs']:,}", _dims(row["receptive_field"]),
        )  # fmt: skip
    return table


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}"


def run_table(report: dict) -> Table:
    """Per-layer cycles, stalls, utilization and traffic of a simulation report, with totals."""
    cfg, total = report["config"], report["total"]
    title = (
        f"{report['network']} on {cfg['rows']}x{cfg['cols']} {cfg['dataflow'].upper()}, "
        f"SRAM {cfg['ifmap_kib']}/{cfg['filter_kib']}/{cfg['ofmap_kib']} KiB, "
        f"DRAM {cfg['dram_bandwidth']} B/cycle + {cfg['dram_latency']} cycles, {cfg['clock_mhz']} MHz "
        f"({report['mode']} mode)"
    )
    table = Table(title=title, show_footer=True)
    columns = [
        ("layer", "total", "left"), ("type", "", "left"), ("GEMM MxKxN (groups)", "", "left"),
        ("tiles", "", "right"), ("folds", "", "right"), ("cycles", f"{total['cycles']:,}", "right"),
        ("stalls", f"{total['stall_cycles']:,}", "right"), ("util", f"{100 * total['utilization']:.1f}%", "right"),
        ("SRAM acc.", _si(sum(total["sram"].values())), "right"),
        ("DRAM B", _si(total["dram"]["total_bytes"]), "right"),
        ("compulsory B", _si(total["dram"]["compulsory_bytes"]), "right"),
    ]  # fmt: skip
    for name, footer, justify in columns:
        table.add_column(name, footer=footer, justify=justify)
    for row in report["layers"]:
        g = row["gemm"]
        gemm = f"{g['m']}x{g['k']}x{g['n']}" + (f" ({g['groups']})" if g["groups"] > 1 else "") if g["m"] else "-"
        table.add_row(
            row["name"], row["type"], gemm, f"{row['tiles']:,}", f"{row['folds']:,}", f"{row['cycles']:,}",
            f"{row['stall_cycles']:,}", f"{100 * row['utilization']:.1f}%", _si(sum(row["sram"].values())),
            _si(row["dram"]["total_bytes"]), _si(row["dram"]["compulsory_bytes"]),
        )  # fmt: skip
    table.caption = f"latency {total['latency_ms']:.3f} ms at {cfg['clock_mhz']} MHz, {total['macs']:,} MACs"
    return table


def verify_table(network: str, config, checks) -> Table:
    """``sim verify``: per layer, tiles, mismatching outputs and measured vs predicted cycles."""
    table = Table(title=f"{network} on the generated {config.rows}x{config.cols} accelerator (RTL)", show_footer=True)
    measured = sum(c.measured for c in checks)
    predicted = sum(c.predicted for c in checks)
    wrong = sum(c.mismatches for c in checks)
    columns = [("layer", "total"), ("type", ""), ("tiles", str(sum(c.tiles for c in checks))),
               ("outputs", f"{sum(c.elements for c in checks):,}"), ("wrong", f"{wrong:,}"),
               ("RTL cycles", f"{measured:,}"), ("predicted", f"{predicted:,}"),
               ("result", "PASS" if all(c.ok for c in checks) else "FAIL")]  # fmt: skip
    for name, footer in columns:
        table.add_column(name, footer=footer, justify="left" if name in ("layer", "type", "result") else "right")
    for c in checks:
        table.add_row(c.name, c.kind, str(c.tiles), f"{c.elements:,}", f"{c.mismatches:,}", f"{c.measured:,}",
                      f"{c.predicted:,}", "bit-exact, on time" if c.ok else "MISMATCH")  # fmt: skip
    return table
