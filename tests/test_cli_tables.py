"""Tables at any terminal width: every number of the report printed whole, no line wider than the terminal."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from accel.config import AccelConfig
from sim.energy_view import attach_energy, energy_table
from sim.runner import simulate
from sim.tables import FittedTable, info_table, run_table, verify_table, zoo_table
from workloads.zoo import ZOO, get_network

WIDTHS = [80, 120, 250]  # a small terminal, a wide one, piped output
BOX = re.compile("[\u2500-\u257f]")  # rich's box-drawing characters


def render(table: FittedTable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(table)
    return console.file.getvalue()


def tokens(text: str) -> set[str]:
    return set(BOX.sub(" ", text).split())


def numbers(table: FittedTable) -> set[str]:
    """Every whitespace-separated word with a digit in the table's title, headers, cells, footers and caption."""
    texts = [table.title, table.caption, *(c.header for c in table.columns), *(c.footer for c in table.columns)]
    texts += [cell for row in table.rows for cell in row]
    return {word for text in texts for word in text.split() if any(ch.isdigit() for ch in word)}


def check(table: FittedTable, width: int, expected: set[str] = frozenset()) -> str:
    out = render(table, width)
    assert max(len(line) for line in out.splitlines()) <= width
    missing = (numbers(table) | expected) - tokens(out)
    assert not missing, f"cut or missing at width {width}: {sorted(missing)[:10]}"
    assert "\u2026" not in out  # no ellipsis anywhere
    return out


@pytest.fixture(scope="module")
def vgg16_report() -> dict:
    data = simulate(get_network("vgg16"), AccelConfig(), mode="analytic").to_dict()
    attach_energy(data)
    return data


@pytest.mark.parametrize("width", WIDTHS)
def test_run_table_prints_every_number_of_the_report(vgg16_report, width):
    expected = set()
    for row in [*vgg16_report["layers"], vgg16_report["total"]]:
        expected |= {f"{row['cycles']:,}", f"{row['stall_cycles']:,}", f"{100 * row['utilization']:.1f}",
                     f"{sum(row['sram'].values()):,}", f"{row['dram']['total_bytes']:,}",
                     f"{row['dram']['compulsory_bytes']:,}"}  # fmt: skip
    for row in vgg16_report["layers"]:
        expected |= {row["name"], f"{row['tiles']:,}", f"{row['folds']:,}"}
    out = check(run_table(vgg16_report), width, expected)
    tables = out.count("\u250f")  # top-left corners
    assert tables == 1 if width == 250 else tables > 1  # split only when it does not fit


def test_run_table_headers_state_their_units(vgg16_report):
    out = " ".join(render(run_table(vgg16_report), 250).split())
    for unit in ("cycles", "(%)", "(elements)", "(bytes)"):
        assert unit in out


@pytest.mark.parametrize("width", WIDTHS)
def test_energy_table(vgg16_report, width):
    energy = vgg16_report["energy"]
    expected = {f"{row['total'] * 1e-6:,.2f}" for row in [*energy["layers"], energy["total"]]}
    out = check(energy_table(vgg16_report), width, expected)
    assert "(uJ)" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_info_table(width):
    summary = get_network("vgg16").summary()
    expected = {f"{row['macs']:,}" for row in summary["layers"]} | {f"{summary['total']['macs']:,}"}
    check(info_table(summary), width, expected)


@pytest.mark.parametrize("width", WIDTHS)
def test_zoo_table(width):
    networks = {name: build() for name, build in ZOO.items()}
    check(zoo_table(networks), width, {f"{net.macs:,}" for net in networks.values()})


@pytest.mark.parametrize("width", WIDTHS)
def test_verify_table(width):
    from rtl.host.system_run import LayerOutput, SystemRun
    from rtl.host.verify import SystemCheck

    layers = [LayerOutput(f"conv{i}", i % 2, 9_876_543, 123_456_789 + i) for i in range(8)]
    run = SystemRun(987_654_321, 900_000_000, layers=layers)
    sim_layers = {f"conv{i}": 123_456_789 for i in range(8)}
    system = SystemCheck("vgg16", AccelConfig(), "icarus", 0.0, run, 987_654_321, sim_layers)
    out = check(verify_table(system), width, {"123,456,789", "123,456,796", "987,654,321"})
    assert "MISMATCH" in out and "FAIL" in out
