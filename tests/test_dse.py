"""accel.dse: sweep grids, analytic vs cycle-level results, process pool, resumable store."""

from __future__ import annotations

import json
import math
import random
import sys

import pytest

from accel.config import FIELD_NAMES, AccelConfig
from accel.dse import COLUMNS, Sweep, SweepError, Workload, evaluate, run_sweep
from accel.energy import EnergyTable
from sim.engine import run_layer
from sim.runner import simulate
from workloads.zoo import get_network


@pytest.fixture(scope="module")
def lenet() -> Workload:
    return Workload.from_network(get_network("lenet5"))


@pytest.fixture(scope="module")
def vgg16() -> Workload:
    return Workload.from_network(get_network("vgg16"))


LENET_SWEEP = Sweep(
    {
        "rows": [4, 8, 16],
        "cols": [8, 16],
        "dataflow": ["ws", "os", "is"],
        "ofmap_kib": [1, 64],
    }
)


# -- grids ---------------------------------------------------------------------------------------


def test_sweep_grid_order_and_base_values():
    base = AccelConfig(clock_mhz=200.0)
    sweep = Sweep({"cols": [8, 16], "rows": [4], "bandwidth": [8, 16]}, base=base)
    assert len(sweep) == 4
    configs = list(sweep.configs())
    assert [(c.cols, c.rows, c.dram_bandwidth) for c in configs] == [
        (8, 4, 8.0),
        (8, 4, 16.0),
        (16, 4, 8.0),
        (16, 4, 16.0),
    ]
    assert all(c.clock_mhz == 200.0 and c.dataflow == "ws" for c in configs)
    assert isinstance(configs[0].dram_bandwidth, float)  # 8 and 8.0 are one point
    assert len(Sweep()) == 1 and list(Sweep().configs()) == [AccelConfig()]
    assert len(Sweep({"rows": [8, 8, 16]})) == 2  # repeats dropped


@pytest.mark.parametrize(
    "axes, message",
    [
        ({"rows": []}, "sweep axis rows has no values"),
        ({"rows": [8, 0]}, "sweep axis rows: rows must be >= 1, not 0"),
        (
            {"dataflow": ["ws", "xs"]},
            "sweep axis dataflow: dataflow must be one of ws, os, is, not 'xs'",
        ),
        ({"pes": [4]}, "cannot sweep 'pes': not a config field"),
        (
            {"bandwidth": [8], "dram_bandwidth": [16]},
            "axis 'dram_bandwidth' is given twice",
        ),
        ({"dram_bandwidth": [0]}, "dram_bandwidth must be a positive number"),
    ],
)
def test_bad_sweeps(axes, message):
    with pytest.raises(SweepError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Sweep(axes)


def test_invalid_combination_is_a_failed_point(lenet):
    result = run_sweep(lenet, Sweep({"input_bits": [8, 16], "acc_bits": [8, 32]}))
    statuses = [(r["input_bits"], r["acc_bits"], r["status"]) for r in result.rows]
    assert statuses == [(8, 8, "ok"), (8, 32, "ok"), (16, 8, "failed"), (16, 32, "ok")]
    assert "acc_bits must be between 16 and 64, not 8" in result.rows[2]["error"]


def test_run_sweep_argument_errors(lenet):
    with pytest.raises(SweepError, match="workers must be a positive integer, not 0"):
        run_sweep(lenet, Sweep(), workers=0)
    with pytest.raises(SweepError, match="batch_size must be a positive integer"):
        run_sweep(lenet, Sweep(), batch_size=0)


# -- results -------------------------------------------------------------------------------------


def test_row_matches_sim_run(vgg16):
    config = AccelConfig(rows=16, cols=32, dataflow="os", ifmap_kib=128, dram_bandwidth=8.0)
    row = evaluate(vgg16, config)
    total = simulate(get_network("vgg16"), config, mode="analytic").total
    assert list(row) == list(COLUMNS)
    assert row["status"] == "ok"
    assert row["cycles"] == total["cycles"]
    assert row["compute_cycles"] == total["compute_cycles"]
    assert row["latency_ms"] == total["latency_ms"]
    assert row["utilization"] == pytest.approx(total["utilization"], rel=1e-15)
    assert row["macs"] == total["macs"] == 15_470_264_320
    assert row["dram_bytes"] == total["dram"]["total_bytes"]
    assert row["dram_filter_bytes"] == total["dram"]["filter_read_bytes"]
    assert row["sram_accesses"] == sum(
        total["sram"][k] for k in ("ifmap_reads", "filter_reads", "ofmap_reads", "ofmap_writes")
    )
    assert row["energy_uj"] == pytest.approx(
        sum(
            row[f"energy_{c}_uj"]
            for c in (
                "mac",
                "register",
                "ifmap_sram",
                "filter_sram",
                "ofmap_sram",
                "dram",
            )
        )
    )


def test_failed_point_reports_the_layer_and_the_fix(vgg16):
    row = evaluate(vgg16, AccelConfig(filter_kib=1))
    assert row["status"] == "failed"
    assert row["cycles"] is None and row["energy_uj"] is None
    with pytest.raises(Exception) as err:  # the message sim run prints
        simulate(get_network("vgg16"), AccelConfig(filter_kib=1), mode="analytic")
    assert row["error"] == str(err.value)
    assert "filter_kib >=" in row["error"]


def test_analytic_and_cycle_modes_agree_on_sampled_points(vgg16):
    sweep = Sweep({"rows": [8, 32], "cols": [16, 64], "dataflow": ["ws", "os", "is"], "filter_kib": [1, 256],
                   "ofmap_kib": [32, 128], "buffering": ["double", "whole"], "bandwidth": [4, 32]})  # fmt: skip
    analytic = run_sweep(vgg16, sweep)
    assert analytic.failed and analytic.ok  # the sweep has both kinds of points
    rng = random.Random(3)
    sample = rng.sample(analytic.ok, 4) + rng.sample(analytic.failed, 1)
    for row in sample:
        config = AccelConfig(*(row[name] for name in FIELD_NAMES))
        assert evaluate(vgg16, config, timer=run_layer) == row


def test_whole_buffer_tiles_move_fewer_bytes_and_take_more_cycles(vgg16):
    """On the default machine, buffering 'whole' moves fewer DRAM bytes than 'double' and takes
    more cycles (single-buffered fetches wait for the tile before them)."""
    rows = run_sweep(vgg16, Sweep({"buffering": ["double", "whole"]})).ok
    double, whole = sorted(rows, key=lambda row: row["buffering"])
    assert whole["dram_bytes"] < 0.92 * double["dram_bytes"] and whole["cycles"] > double["cycles"]


def test_reference_path_agrees_with_fused_kernel(lenet):
    from accel.analytic import layer_timing

    fast = run_sweep(lenet, LENET_SWEEP)
    reference = run_sweep(lenet, LENET_SWEEP, timer=layer_timing)
    assert reference.rows == fast.rows
    assert reference.mode == "analytic-reference" and fast.mode == "analytic"


def test_process_pool_equals_in_process(vgg16):
    sweep = Sweep(
        {
            "rows": [8, 16, 32],
            "cols": [8, 32],
            "dataflow": ["ws", "os", "is"],
            "ofmap_kib": [64, 128],
        }
    )
    local = run_sweep(vgg16, sweep)
    pooled = run_sweep(vgg16, sweep, workers=2, batch_size=5)
    assert pooled.rows == local.rows
    assert pooled.evaluated == len(sweep)


def test_energy_table_changes_energy_only(lenet):
    base = run_sweep(lenet, LENET_SWEEP)
    hbm = run_sweep(lenet, LENET_SWEEP, energy_table=EnergyTable().with_dram("hbm2"))
    for a, b in zip(base.ok, hbm.ok):
        assert a["cycles"] == b["cycles"] and a["area_mm2"] == b["area_mm2"]
        assert b["energy_dram_uj"] == pytest.approx(a["energy_dram_uj"] * 3.9 / 8.0)


def test_csv_is_exact_and_has_failed_reasons(lenet, tmp_path):
    result = run_sweep(lenet, LENET_SWEEP)
    paths = result.write(tmp_path)
    lines = paths["results"].read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 1 + len(LENET_SWEEP)
    import csv

    rows = list(csv.DictReader(paths["results"].open()))
    for parsed, row in zip(rows, result.rows):
        if row["status"] == "ok":
            assert float(parsed["energy_uj"]) == row["energy_uj"]  # repr round-trips
        else:
            assert parsed["error"] == row["error"] and parsed["cycles"] == ""
    front = list(csv.DictReader(paths["pareto"].open()))
    assert len(front) == len(result.pareto()) > 0


# -- resuming ------------------------------------------------------------------------------------


def journal_rows(directory) -> list[dict]:
    rows = []
    for line in (directory / "journal.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    return rows


def keys(rows) -> list[tuple]:
    return [tuple(r[c] for c in COLUMNS[:12]) for r in rows]


class Stop(Exception):
    pass


def stop_after(n: int):
    def progress(done: int, total: int) -> None:
        if done >= n:
            raise Stop

    return progress


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupted_sweep_resumes_without_reevaluating(lenet, tmp_path, workers):
    fresh = run_sweep(lenet, LENET_SWEEP)
    with pytest.raises(Stop):
        run_sweep(
            lenet,
            LENET_SWEEP,
            store=tmp_path,
            workers=workers,
            batch_size=3,
            progress=stop_after(9),
        )
    first = journal_rows(tmp_path)
    assert 9 <= len(first) < len(LENET_SWEEP)
    resumed = run_sweep(lenet, LENET_SWEEP, store=tmp_path, workers=workers, batch_size=3)
    assert (resumed.resumed, resumed.evaluated) == (
        len(first),
        len(LENET_SWEEP) - len(first),
    )
    assert resumed.rows == fresh.rows
    # Every point was evaluated exactly once over both runs: one journal line each.
    journal = journal_rows(tmp_path)
    assert len(journal) == len(LENET_SWEEP)
    assert sorted(keys(journal)) == sorted(keys(fresh.rows))
    again = run_sweep(lenet, LENET_SWEEP, store=tmp_path)
    assert (again.evaluated, again.resumed) == (0, len(LENET_SWEEP))
    assert again.rows == fresh.rows


def test_torn_last_journal_line_is_reevaluated(lenet, tmp_path):
    fresh = run_sweep(lenet, LENET_SWEEP, store=tmp_path)
    journal = tmp_path / "journal.jsonl"
    text = journal.read_text()
    journal.write_text(text[:-25])  # killed in the middle of the last line
    resumed = run_sweep(lenet, LENET_SWEEP, store=tmp_path)
    assert (resumed.evaluated, resumed.resumed) == (1, len(LENET_SWEEP) - 1)
    assert resumed.rows == fresh.rows
    assert len(journal_rows(tmp_path)) == len(LENET_SWEEP)


def test_larger_sweep_reuses_the_points_it_shares(lenet, tmp_path):
    small = Sweep({"rows": [4, 8], "cols": [8]})
    large = Sweep({"rows": [4, 8, 16], "cols": [8, 16]})
    run_sweep(lenet, small, store=tmp_path)
    result = run_sweep(lenet, large, store=tmp_path)
    assert (result.resumed, result.evaluated) == (2, 4)
    assert result.rows == run_sweep(lenet, large).rows


def test_store_of_another_sweep_is_refused(lenet, tmp_path):
    run_sweep(lenet, Sweep({"rows": [4, 8]}), store=tmp_path)
    alexnet = get_network("alexnet")
    with pytest.raises(SweepError, match="holds results of another sweep \\(the network differs\\)"):
        run_sweep(alexnet, Sweep({"rows": [4, 8]}), store=tmp_path)
    with pytest.raises(SweepError, match="the energy table differs"):
        run_sweep(
            lenet,
            Sweep({"rows": [4, 8]}),
            store=tmp_path,
            energy_table=EnergyTable().with_dram("ddr3"),
        )
    with pytest.raises(SweepError, match="the timing mode differs"):
        run_sweep(lenet, Sweep({"rows": [4, 8]}), store=tmp_path, timer=run_layer)


def test_one_writer_per_store(lenet, tmp_path):
    from accel.dse import Store

    holder = Store(tmp_path, {"network": "x"})
    try:
        with pytest.raises(SweepError, match="another sweep is writing to"):
            run_sweep(lenet, Sweep(), store=tmp_path)
    finally:
        holder.close()


def test_dask_missing_is_a_user_error(lenet, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(SweepError, match=r"pip install 'systolic-toolkit\[dask\]'"):
        run_sweep(lenet, LENET_SWEEP, scheduler="tcp://127.0.0.1:8786")


def test_progress_reports_points_done(lenet):
    calls = []
    run_sweep(
        lenet,
        LENET_SWEEP,
        batch_size=10,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[0] == (0, 36) and calls[-1] == (36, 36)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert not math.isnan(calls[-1][0])
