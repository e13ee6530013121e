"""Against the real SCALE-Sim 3.0.0, when installed: same files in, same per-layer numbers out.

SCALE-Sim needs numpy < 2.4, so it lives in its own environment: set SCALESIM_PYTHON to its
interpreter, or create /opt/scalesim-venv (``python3 -m venv /opt/scalesim-venv &&
/opt/scalesim-venv/bin/pip install scalesim 'numpy<2.4'``). Skipped otherwise.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from accel.scalesim import model_network, read_config
from sim.runner import simulate
from sim.scalesim_reports import DETAIL_COLUMNS, read_report, scalesim_command, write_reports
from workloads.scalesim_topology import read_topology

DATA = Path(__file__).parent / "data" / "scalesim"
PYTHON = os.environ.get("SCALESIM_PYTHON", "/opt/scalesim-venv/bin/python")


def _have_scalesim() -> bool:
    try:
        found = subprocess.run([PYTHON, "-c", "import scalesim.scale"], check=False, capture_output=True, timeout=120)
        return found.returncode == 0
    except OSError:
        return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _have_scalesim(), reason=f"SCALE-Sim not importable by {PYTHON} (set SCALESIM_PYTHON)"),
]


@pytest.mark.parametrize("topology", ["mixed.csv", "gemm.csv"])
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("array", [(8, 4), (3, 5)])
def test_per_layer_numbers_match_scalesim(tmp_path, topology, dataflow, array):
    rows, cols = array
    text = (DATA / "scale32.cfg").read_text().replace("Dataflow : os", f"Dataflow : {dataflow}")
    text = text.replace("ArrayHeight:    32", f"ArrayHeight: {rows}").replace(
        "ArrayWidth:     32", f"ArrayWidth: {cols}"
    )
    cfg = tmp_path / "arch.cfg"
    cfg.write_text(text)
    subprocess.run(scalesim_command(PYTHON, cfg, DATA / topology, tmp_path / "scalesim"), check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    theirs = next((tmp_path / "scalesim").glob("*/COMPUTE_REPORT.csv")).parent
    config, _ = read_config(cfg)
    network = read_topology(DATA / topology)
    write_reports(tmp_path / "ours", network, config)
    # SCALE-Sim counts H_a + W_a phantom ofmap writes per fold under os; ours are the true count.
    phantom = [(rows + cols) * layer.folds if dataflow == "os" else 0
               for _, layer, count in model_network(network, config) for _ in range(count)]  # fmt: skip

    compute = zip(read_report(theirs / "COMPUTE_REPORT.csv"), read_report(tmp_path / "ours" / "COMPUTE_REPORT.csv"))
    for them, us in compute:
        for column in (
            "LayerID",
            "Total Cycles",
            "Stall Cycles",
            "Overall Util %",
            "Mapping Efficiency %",
            "Compute Util %",
        ):
            assert us[column] == pytest.approx(them[column], rel=1e-12), column
    detail = list(
        zip(
            read_report(theirs / "DETAILED_ACCESS_REPORT.csv"),
            read_report(tmp_path / "ours" / "DETAILED_ACCESS_REPORT.csv"),
        )
    )
    assert len(detail) == len(phantom)
    for (them, us), extra in zip(detail, phantom):
        assert [them[c] for c in DETAIL_COLUMNS[:10]] == [us[c] for c in DETAIL_COLUMNS[:9]] + [
            us[DETAIL_COLUMNS[9]] + extra
        ]
    bandwidth = zip(
        read_report(theirs / "BANDWIDTH_REPORT.csv"), read_report(tmp_path / "ours" / "BANDWIDTH_REPORT.csv")
    )
    for them, us in bandwidth:
        for column in ("Avg IFMAP SRAM BW", "Avg FILTER SRAM BW"):
            assert us[column] == pytest.approx(them[column], rel=1e-12)

    # The run report: each layer's cycles are the Total Cycles of the SCALE-Sim layers it became.
    totals = [row["Total Cycles"] for row in read_report(theirs / "COMPUTE_REPORT.csv")]
    report = simulate(network, config, timing="scalesim")
    counts = [count for _, _, count in model_network(network, config)]
    starts = [sum(counts[:i]) for i in range(len(counts))]
    assert [layer.cycles for layer in report.layers] == [sum(totals[s : s + c]) for s, c in zip(starts, counts)]
