"""Energy of a simulation report (``sim run --energy``): the JSON section and the table."""

from __future__ import annotations

from rich.table import Table

from accel.energy import CATEGORIES, EnergyTable, report_energy

HEADERS = {"mac": "MAC", "register": "registers", "ifmap_sram": "ifmap SRAM", "filter_sram": "filter SRAM",
           "ofmap_sram": "accum. SRAM", "dram": "DRAM"}  # fmt: skip


def attach_energy(data: dict, table_file: str | None = None, dram: str | None = None) -> dict:
    """Add ``data["energy"]`` (pJ per layer and in total, by category) to a report dict and return that section."""
    table = EnergyTable.load(table_file) if table_file else EnergyTable()
    if dram is not None:
        table = table.with_dram(dram)
    data["energy"] = report_energy(data, table)
    return data["energy"]


def energy_table(data: dict) -> Table:
    """Per-layer energy in uJ by category, totals in the footer."""
    energy = data["energy"]
    total = energy["total"]
    t = energy["table"]
    title = f"{data['network']}: energy (uJ), {t['name']}, DRAM {t['dram']} {t['dram_pj_per_bit']} pJ/bit"
    table = Table(title=title, show_footer=True)
    table.add_column("layer", footer="total")
    for key in (*CATEGORIES, "total"):
        table.add_column(HEADERS.get(key, key), footer=_uj(total[key]), justify="right")
    for layer in energy["layers"]:
        table.add_row(layer["name"], *(_uj(layer[key]) for key in (*CATEGORIES, "total")))
    if total["total"]:
        table.caption = ", ".join(f"{HEADERS[k]} {100 * total[k] / total['total']:.0f}%" for k in CATEGORIES)
    return table


def _uj(pj: float) -> str:
    return f"{pj * 1e-6:,.2f}"
