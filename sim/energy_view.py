"""Energy of a simulation report (``sim run --energy``): the JSON section, the table and CSV columns."""

from __future__ import annotations

from accel.energy import CATEGORIES, EnergyTable, report_energy
from sim.tables import Column, FittedTable

HEADERS = {"mac": "MAC", "register": "registers", "ifmap_sram": "ifmap SRAM", "filter_sram": "filter SRAM",
           "ofmap_sram": "accum. SRAM", "dram": "DRAM"}  # fmt: skip


def attach_energy(data: dict, table_file: str | None = None, dram: str | None = None) -> dict:
    """Add ``data["energy"]`` (pJ per layer and in total, by category) to a report dict and return that section."""
    table = EnergyTable.load(table_file) if table_file else EnergyTable()
    if dram is not None:
        table = table.with_dram(dram)
    data["energy"] = report_energy(data, table)
    return data["energy"]


def energy_columns(energy: dict) -> tuple[list[dict], dict]:
    """CSV columns of an energy section: per-layer rows and the total row, ``energy_pj.<category>`` in pJ."""

    def columns(values: dict) -> dict:
        return {f"energy_pj.{key}": values[key] for key in (*CATEGORIES, "total")}

    return [columns(layer) for layer in energy["layers"]], columns(energy["total"])


def energy_table(data: dict) -> FittedTable:
    """Per-layer energy in uJ by category, totals in the footer."""
    energy = data["energy"]
    total = energy["total"]
    t = energy["table"]
    title = f"{data['network']}: energy (uJ), {t['name']}, DRAM {t['dram']} {t['dram_pj_per_bit']} pJ/bit"
    keys = (*CATEGORIES, "total")
    columns = [Column("layer", "total", "left")]
    columns += [Column(f"{HEADERS.get(key, key)}\n(uJ)", _uj(total[key])) for key in keys]
    rows = [[layer["name"], *(_uj(layer[key]) for key in keys)] for layer in energy["layers"]]
    caption = ""
    if total["total"]:
        caption = "share: " + ", ".join(f"{HEADERS[k]} {100 * total[k] / total['total']:.0f}%" for k in CATEGORIES)
    return FittedTable(columns, rows, title=title, caption=caption)


def _uj(pj: float) -> str:
    return f"{pj * 1e-6:,.2f}"
