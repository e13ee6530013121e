"""Rich tables: human views of the plain-data reports.

Every table is a :class:`FittedTable`: printed whole when the console is wide enough, else as
several narrower tables stacked, each repeating the key column, so that a number is never cut
(rich would otherwise shorten cells to "1,2…" on an 80-column terminal).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from workloads.network import Network
from workloads.zoo import describe

TEXT_WIDTH = 30
"""Narrowest width (characters) a wrapping text column is given before the table is split."""


@dataclass(frozen=True)
class Column:
    """One column of a :class:`FittedTable`.

    ``header`` may hold line breaks (the unit on its own line keeps columns narrow); ``text``
    columns (descriptions) wrap at word boundaries, all others never wrap.
    """

    header: str
    footer: str = ""
    justify: str = "right"
    text: bool = False


class FittedTable:
    """Rows of strings rendered as one table, or split into column groups that fit the console.

    Parameters
    ----------
    columns : list of Column
        The first ``key`` columns (the row names) are repeated in every group.
    rows : list of list of str
        One cell per column.
    title, caption : str
        Printed above the first and below the last group.
    """

    def __init__(self, columns: list[Column], rows: list[list[str]], title: str = "", caption: str = "", key: int = 1):
        self.columns = columns
        self.rows = rows
        self.title = title
        self.caption = caption
        self.key = key

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        groups = self._groups(console, options)
        if len(groups) == 1:
            yield self._table(groups[0], title=self.title, caption=self.caption)
            return
        for i, group in enumerate(groups):
            yield self._table(group, title=self.title if i == 0 else None)
        if self.caption:  # under the whole stack, not squeezed to the last (narrow) table's width
            yield Text(self.caption, style="table.caption")

    def _groups(self, console: Console, options: ConsoleOptions) -> list[list[int]]:
        """Column indices of each table: greedily as many columns as fit in ``options.max_width``."""
        everything = list(range(len(self.columns)))
        if self._width(console, options, everything) <= options.max_width:  # the common case: one measurement
            return [everything]
        key = list(range(self.key))
        groups, current = [], list(key)
        for index in range(self.key, len(self.columns)):
            if current != key and self._width(console, options, current + [index]) > options.max_width:
                groups.append(current)
                current = list(key)
            current.append(index)
        return groups + [current]

    def _width(self, console: Console, options: ConsoleOptions, group: list[int]) -> int:
        """Width of a group's table with no number wrapped and text columns at ``TEXT_WIDTH``."""
        table = self._table(group, measuring=True)
        return Measurement.get(console, options.update_width(10**6), table).maximum

    def _table(self, group: list[int], title=None, caption=None, measuring: bool = False) -> Table:
        footer = any(self.columns[i].footer for i in group[self.key :])  # not a row of "total" alone
        table = Table(title=title, caption=caption, show_footer=footer)
        for i in group:
            col = self.columns[i]
            table.add_column(
                col.header, footer=col.footer, justify=col.justify, no_wrap=not col.text, overflow="fold",
                max_width=TEXT_WIDTH if col.text and measuring else None,
            )  # fmt: skip
        for row in self.rows:
            table.add_row(*(row[i] for i in group))
        return table


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


def zoo_table(networks: dict[str, Network]) -> FittedTable:
    """One row per zoo network: input shape, layers, parameters, MACs and a one-line description."""
    columns = [Column("name", justify="left"), Column("input\n(NxCxHxW)", justify="left"), Column("layers"),
               Column("params"), Column("MACs"), Column("description", justify="left", text=True)]  # fmt: skip
    rows = [[name, _shape(net.input_shape), str(len(net)), f"{net.params:,}", f"{net.macs:,}", describe(name)]
            for name, net in networks.items()]  # fmt: skip
    return FittedTable(columns, rows, title="Network zoo")


def info_table(summary: dict) -> FittedTable:
    """Per-layer table of ``Network.summary()``, with totals in the footer."""
    total = summary["total"]
    columns = [
        Column("name", "total", "left"), Column("type", justify="left"),
        Column("input\n(NxCxHxW)", justify="left"), Column("output\n(NxCxHxW)", justify="left"),
        Column("kernel", justify="left"), Column("stride", justify="left"), Column("padding", justify="left"),
        Column("dilation", justify="left"), Column("params", f"{total['params']:,}"),
        Column("MACs", f"{total['macs']:,}"), Column("receptive\nfield (px)", justify="left"),
    ]  # fmt: skip
    rows = []
    for row in summary["layers"]:
        padding = row.get("padding")
        if isinstance(padding, list) and padding and isinstance(padding[0], list):
            padding = ",".join(f"{lo}" if lo == hi else f"{lo}/{hi}" for lo, hi in padding)
        rows.append([
            row["name"], row["type"], _shape(row["input_shape"]), _shape(row["output_shape"]),
            _dims(row.get("kernel_size")), _dims(row.get("stride")), _dims(padding), _dims(row.get("dilation")),
            f"{row['params']:,}", f"{row['macs']:,}", _dims(row["receptive_field"]),
        ])  # fmt: skip
    return FittedTable(columns, rows, title=f"{summary['network']}  input {_shape(summary['input_shape'])}")


def _gemm(g: dict) -> str:
    if not g["m"]:
        return "-"
    return f"{g['m']}x{g['k']}x{g['n']}" + (f" ({g['groups']})" if g["groups"] > 1 else "")


def run_row(row: dict) -> list[str]:
    """The cells of one layer (or, from ``type`` on, of the total) in :func:`run_table`."""
    return [
        f"{row['cycles']:,}", f"{row['stall_cycles']:,}", f"{100 * row['utilization']:.1f}",
        f"{sum(row['sram'].values()):,}", f"{row['dram']['total_bytes']:,}", f"{row['dram']['compulsory_bytes']:,}",
    ]  # fmt: skip


def run_table(report: dict) -> FittedTable:
    """Per-layer cycles, stalls, utilization and traffic of a simulation report, with totals."""
    cfg, total = report["config"], report["total"]
    title = (
        f"{report['network']} on {cfg['rows']}x{cfg['cols']} {cfg['dataflow'].upper()}, "
        f"SRAM {cfg['ifmap_kib']}/{cfg['filter_kib']}/{cfg['ofmap_kib']} KiB"
        f"{' (whole-buffer tiles)' if cfg.get('buffering') == 'whole' else ''}, "
        f"DRAM {cfg['dram_bandwidth']} B/cycle + {cfg['dram_latency']} cycles, {cfg['clock_mhz']} MHz "
        f"({report['mode']} mode)"
    )
    totals = run_row(total)
    columns = [
        Column("layer", "total", "left"), Column("type", justify="left"),
        Column("GEMM\nMxKxN (groups)", justify="left"), Column("tiles"), Column("folds"),
        Column("cycles", totals[0]), Column("stall\ncycles", totals[1]), Column("PE util.\n(%)", totals[2]),
        Column("SRAM accesses\n(elements)", totals[3]), Column("DRAM traffic\n(bytes)", totals[4]),
        Column("DRAM, each\ntensor once\n(bytes)", totals[5]),
    ]  # fmt: skip
    rows = [[row["name"], row["type"], _gemm(row["gemm"]), f"{row['tiles']:,}", f"{row['folds']:,}", *run_row(row)]
            for row in report["layers"]]  # fmt: skip
    caption = f"latency {total['latency_ms']:.3f} ms at {cfg['clock_mhz']} MHz, {total['macs']:,} MACs"
    return FittedTable(columns, rows, title=title, caption=caption)


def _cycles(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


#: ``sim verify``'s word for a cycle comparison (:func:`rtl.host.verify.cycles_equal`): equal, differ, not checked.
CYCLE_VERDICT = {True: "cycles equal", False: "CYCLES DIFFER", None: ""}


def _verdict(mismatches: int, cycles_equal: bool | None) -> str:
    return ", ".join(filter(None, ["bit-exact" if mismatches == 0 else "MISMATCH", CYCLE_VERDICT[cycles_equal]]))


def verify_table(check) -> FittedTable:
    """``sim verify`` (an :class:`rtl.host.verify.SystemCheck`): per layer, wrong outputs and the RTL's
    cycles against ``sim run``'s; the total row holds the CYCLES register."""
    run, cfg = check.run, check.config
    layers = run.layers
    columns = [
        Column("layer", "total", "left"),
        Column("outputs\n(values)", f"{sum(c.elements for c in layers):,}"),
        Column("wrong\n(values)", f"{sum(c.mismatches for c in layers):,}"),
        Column("RTL\n(cycles)", _cycles(run.cycles if run.error is None else None)),
        Column("sim run\n(cycles)", f"{check.sim_cycles:,}"),
        Column("result", "PASS" if check.passed else "FAIL", "left", text=True),
    ]  # fmt: skip
    rows = [[c.name, f"{c.elements:,}", f"{c.mismatches:,}", _cycles(c.cycles), f"{check.sim_layer_cycles[c.name]:,}",
             _verdict(c.mismatches, check.layer_cycles_equal(c))] for c in layers]  # fmt: skip
    title = (f"{check.network} on the {cfg.rows}x{cfg.cols} AXI accelerator ({check.simulator}), "
             f"DRAM {cfg.dram_bandwidth} B/cycle + {cfg.dram_latency} cycles")  # fmt: skip
    notes = []
    if run.error is not None:
        notes.append(f"the run stopped: {run.error}")
    if check.backpressure > 0:
        notes.append(f"backpressure {check.backpressure}: cycles not checked (withheld handshakes add cycles)")
    elif run.error is None:
        notes.append(f"{CYCLE_VERDICT[check.cycles_equal]} (the RTL's CYCLES register vs sim run)")
    return FittedTable(columns, rows, title=title, caption="; ".join(notes))
