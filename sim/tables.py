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
