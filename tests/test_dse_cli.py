"""`sim dse`: output files, resume after a kill, and user errors (one line, exit status 2)."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accel.dse import COLUMNS, Sweep, run_sweep
from sim.cli import main
from sim.engine import run_layer
from workloads.zoo import get_network

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


SMALL = [
    "--rows",
    "4,8,32",
    "--cols",
    "8,16",
    "--dataflow",
    "ws,os,is",
    "--filter-kib",
    "1,64",
]


def test_sweep_writes_results_front_and_plots(tmp_path, capsys):
    out = tmp_path / "sweep"
    status, stdout, stderr = run(capsys, "dse", "lenet5", *SMALL, "--workers", "2", "-o", str(out))
    assert (status, stderr) == (0, "")
    assert "lenet5: 36 design points (analytic mode): 36 evaluated" in stdout
    assert "0 resumed from the journal, 1 failed" in stdout
    # A WS filter bank holds whole R x C weight blocks: 1 KiB (512 B banks) is too small for one
    # 32 x 16 block and its row of addends.
    groups = re.findall(r"failed \((\d+)\): layer 'conv1': the filter buffer is too small", stdout)
    assert sum(map(int, groups)) == 1
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 36 and list(rows[0]) == list(COLUMNS)
    assert sum(r["status"] == "failed" for r in rows) == 1
    front = list(csv.DictReader((out / "pareto.csv").open()))
    assert 0 < len(front) < 35 and all(r["status"] == "ok" for r in front)
    for png in ("pareto_latency_energy.png", "pareto_latency_area.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = (out / "results.csv").read_bytes()
    status, stdout, _ = run(capsys, "dse", "lenet5", *SMALL, "--no-plots", "-o", str(out))
    assert status == 0 and "0 evaluated (0 points/min), 36 resumed from the journal" in stdout
    assert (out / "results.csv").read_bytes() == before


def test_whole_buffer_points_are_marked_on_the_front(tmp_path, capsys):
    """With both bufferings swept and on the front, the whole-buffer points are starred."""
    args = ["dse", "alexnet", "--rows", "32", "--cols", "32", "--buffering", "double,whole", "--no-plots", "-q"]
    status, stdout, _ = run(capsys, *args, "-o", str(tmp_path / "s"))
    front = list(csv.DictReader((tmp_path / "s" / "pareto.csv").open()))
    assert status == 0 and {r["buffering"] for r in front} == {"double", "whole"}
    assert "ws*" in stdout and "*: buffering whole (tiles may take both banks of a buffer)" in stdout


def test_energy_table_and_dram_options(tmp_path, capsys):
    table = tmp_path / "energy.toml"
    table.write_text("[energy]\nmult_pj = 0.4\n")
    args = ["dse", "lenet5", "--rows", "8", "--no-plots", "-q"]
    assert run(capsys, *args, "-o", str(tmp_path / "a"))[0] == 0
    assert (
        run(
            capsys,
            *args,
            "--energy-table",
            str(table),
            "--dram",
            "hbm2",
            "-o",
            str(tmp_path / "b"),
        )[0]
        == 0
    )
    a = next(csv.DictReader((tmp_path / "a" / "results.csv").open()))
    b = next(csv.DictReader((tmp_path / "b" / "results.csv").open()))
    assert float(b["energy_dram_uj"]) == pytest.approx(float(a["energy_dram_uj"]) * 3.9 / 8)
    assert float(b["energy_mac_uj"]) > float(a["energy_mac_uj"])
    assert a["cycles"] == b["cycles"]


def test_killed_sweep_resumes_to_the_complete_identical_result(tmp_path):
    """SIGKILL a `sim dse` process part-way, rerun it, compare with an uninterrupted run."""
    out = tmp_path / "killed"
    grid = ["--rows", "8,16,32", "--cols", "16,32", "--dataflow", "ws,os,is"]
    cmd = [sys.executable, "-m", "sim", "dse", "alexnet", *grid, "--mode", "cycle", "--workers", "1", "--chunk", "1",
           "--no-plots", "-q", "-o", str(out)]  # fmt: skip
    journal = out / "journal.jsonl"
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 3:
            break
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()
    done_before = len(journal.read_text().splitlines())
    assert 3 <= done_before < 18
    assert not (out / "results.csv").exists()  # written only at the end

    finished = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    assert f"{18 - done_before} evaluated" in finished.stdout
    assert f"{done_before} resumed from the journal" in finished.stdout
    # No point was evaluated twice: one journal line per point.
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len(lines) == 18 == len({tuple(r[c] for c in COLUMNS[:12]) for r in lines})
    sweep = Sweep({"rows": [8, 16, 32], "cols": [16, 32], "dataflow": ["ws", "os", "is"]})
    reference = run_sweep(get_network("alexnet"), sweep, timer=run_layer)
    assert (out / "results.csv").read_text() == reference.to_csv()


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["lenet5", "--rows", ""],
            "--rows needs a comma-separated list of values such as 8,16,32, not ''",
        ),
        (["lenet5", "--cols", "8,,16"], "--cols needs a comma-separated list"),
        (["lenet5", "--rows", "8,x"], "--rows: 'x' is not an integer"),
        (["lenet5", "--bandwidth", "8,nan"], "--bandwidth: 'nan' is not a number"),
        (
            ["lenet5", "--dataflow", "ws,xs"],
            "sweep axis dataflow: dataflow must be one of ws, os, is, not 'xs'",
        ),
        (["lenet5", "--rows", "0,8"], "sweep axis rows: rows must be >= 1, not 0"),
        (["nosuchnet"], "nosuchnet"),
        (
            ["lenet5", "--mode", "functional"],
            "--mode must be one of analytic, cycle, not 'functional'",
        ),
        (
            ["lenet5", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"],
            "either --workers",
        ),
        (["lenet5", "--workers", "0"], "--workers must be a positive integer, not 0"),
        (["lenet5", "--dram", "gddr9"], "dram must be one of lpddr4, hbm2, ddr3"),
        (["lenet5", "--fpga", "xilinx"], "--fpga must be one of ecp5, ice40"),
        (
            ["lenet5", "--energy-table", "/nonexistent/e.toml"],
            "energy table /nonexistent/e.toml does not exist",
        ),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, args, message):
    status, stdout, stderr = run(capsys, "dse", *args, "-o", str(tmp_path / "out"))
    assert status == 2
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("error: ")
    assert message in stderr
    assert not (tmp_path / "out" / "journal.jsonl").exists()


def test_scheduler_without_dask_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    status, _, stderr = run(
        capsys,
        "dse",
        "lenet5",
        "--scheduler",
        "tcp://127.0.0.1:8786",
        "-o",
        str(tmp_path),
    )
    assert status == 2 and stderr.count("\n") == 1
    assert "pip install 'systolic-toolkit[dask]'" in stderr


def test_out_must_be_a_directory(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    status, _, stderr = run(capsys, "dse", "lenet5", "-o", str(path))
    assert status == 2 and "exists and is not a directory" in stderr


def test_progress_bar_is_silent_without_a_terminal(tmp_path):
    env = {**os.environ, "COLUMNS": "120"}
    done = subprocess.run([sys.executable, "-m", "sim", "dse", "lenet5", "--rows", "4,8", "--no-plots", "-o", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stderr == ""


def test_fpga_synthesis_of_the_front_is_cached(tmp_path, capsys, monkeypatch):
    """--fpga-synth synthesizes each front design once (through rtl/); later runs read the cache."""
    import rtl.generate

    calls = []

    def fake_generate_core(config, out_dir, synth=None):
        calls.append((config.rows, config.cols, config.dataflow, synth))
        return {"synth_report": {"luts": 100 * config.pes, "ffs": 7, "dsp": config.pes, "bram": 4, "fmax_mhz": 99.5}}

    monkeypatch.setattr(rtl.generate, "generate_core", fake_generate_core)
    args = ["dse", "lenet5", "--rows", "4,8", "--cols", "8,16", "--workers", "1", "--no-plots", "-q", "--fpga", "ecp5"]
    status, _, stderr = run(capsys, *args, "--fpga-synth", "-o", str(tmp_path / "a"))
    assert (status, stderr) == (0, "")
    front = list(csv.DictReader((tmp_path / "a" / "pareto.csv").open()))
    assert len(calls) == len({(r["rows"], r["cols"], r["dataflow"]) for r in front}) > 0
    assert all(int(r["fpga_luts"]) == 100 * int(r["pes"]) for r in front)
    rows = list(csv.DictReader((tmp_path / "a" / "results.csv").open()))
    assert sum(r["fpga_luts"] != "" for r in rows) == len(front)  # dominated designs were not synthesized
    # Same cache, another run: nothing is synthesized again.
    status, _, _ = run(
        capsys, *args, "--fpga-synth", "--fpga-cache", str(tmp_path / "a" / "fpga-cache"), "-o", str(tmp_path / "b")
    )
    assert status == 0 and len(calls) == len(front)


def test_sweep_resumes_after_only_its_main_process_is_killed(tmp_path):
    """SIGKILL the main process of a `--workers 2` sweep (as the OOM killer does): its pool workers
    die with it, so they release the sweep's lock and a rerun resumes to completion."""
    import fcntl

    out = tmp_path / "orphans"
    grid = ["--rows", "8,16,32", "--cols", "8,16,32", "--dataflow", "ws,os,is"]
    cmd = [sys.executable, "-m", "sim", "dse", "vgg16", *grid, "--mode", "cycle", "--workers", "2", "--chunk", "1",
           "--no-plots", "-q", "-o", str(out)]  # fmt: skip
    journal = out / "journal.jsonl"
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 2):
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert journal.read_text().count("\n") < 27, "the sweep finished before the kill: enlarge the grid"
    with open(out / ".lock", "w") as lock:  # no orphan holds it (a few seconds for the workers to go)
        deadline = time.monotonic() + 10
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "an orphaned worker still holds the sweep's lock"
                time.sleep(0.05)
        fcntl.flock(lock, fcntl.LOCK_UN)
    finished = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr
    assert len(list(csv.DictReader((out / "results.csv").open()))) == 27


def test_journal_with_damaged_bytes_still_resumes(tmp_path, capsys):
    out = tmp_path / "damaged"
    args = ["dse", "lenet5", "--rows", "4,8", "--workers", "1", "--no-plots", "-q", "-o", str(out)]
    assert run(capsys, *args)[0] == 0
    with open(out / "journal.jsonl", "ab") as f:
        f.write(bytes(range(256)) + b"\n\xff\xfe{not json\n")
    status, stdout, _ = run(capsys, *args)
    assert status == 0 and "2 resumed from the journal" in stdout


@pytest.mark.parametrize("address", ["foo://bar", "tcp://", ""])
def test_a_malformed_scheduler_address_fails_at_once(tmp_path, capsys, address):
    started = time.monotonic()
    status, _, err = run(capsys, "dse", "lenet5", "--rows", "4", "--scheduler", address, "-o", str(tmp_path / "d"))
    assert status == 2 and err.startswith("error: --scheduler") and err.count("\n") == 1
    assert time.monotonic() - started < 5
