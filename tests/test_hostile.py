"""Hostile paths, streams and signals: one error line and no traceback, no file replaced that is not
a regular file, no output left half-written, no process or temporary directory left after Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from accel.files import OutputError, check_output_dir, check_output_file, replaced_dir, write_atomic
from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMALL_ARRAY = ["--rows", "4", "--cols", "4"]
ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """``sim ARGS`` in this process: exit status, stdout, stderr."""
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    out, err = capsys.readouterr()
    return exit.value.code, out, err


def start(*args: str, **kwargs) -> subprocess.Popen:
    """``sim ARGS`` as a process leading its own group (so a test can Ctrl-C it as a terminal would)."""
    return subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=kwargs.pop("cwd", ROOT), text=True,
                            start_new_session=True, **kwargs)  # fmt: skip


def one_error_line(err: str) -> bool:
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# What is at an output path
# ---------------------------------------------------------------------------------------------


def test_a_symlink_is_followed_and_stays_a_link(tmp_path, capsys):
    target = tmp_path / "report.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    status, _, err = cli(capsys, "info", "lenet5", "--json", str(link))
    assert status == 0, err
    assert link.is_symlink() and json.loads(target.read_text())["network"] == "lenet5"


def test_a_fifo_is_written_into_not_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = subprocess.run([sys.executable, "-m", "sim", "info", "lenet5", "--json", str(fifo)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and json.loads(received[0])


def test_a_fifo_nobody_reads_is_one_error_before_the_work_not_a_hang(tmp_path, capsys, monkeypatch):
    import sim.runner

    monkeypatch.setattr(sim.runner, "simulate", lambda *a, **k: pytest.fail("the work ran"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    status, _, err = cli(capsys, "run", "lenet5", "-q", "--json", str(fifo))
    assert status == 2 and one_error_line(err) and "no process is reading this FIFO" in err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.skipif(not ROOT_USER, reason="mknod of a character device needs root")
def test_a_character_device_is_written_into_not_replaced(tmp_path, capsys):
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    status, _, err = cli(capsys, "run", "lenet5", "-q", "--json", str(device))
    assert status == 0, err
    assert stat.S_ISCHR(device.lstat().st_mode)


@pytest.mark.skipif(not ROOT_USER, reason="only root could replace /dev/null")
def test_dev_null_stays_a_character_device(capsys):
    status, _, err = cli(capsys, "info", "lenet5", "--json", os.devnull)
    assert status == 0, err
    assert stat.S_ISCHR(os.lstat(os.devnull).st_mode)


def test_dev_stdout_on_a_pipe_is_written_into():
    result = subprocess.run([sys.executable, "-m", "sim", "info", "lenet5", "--json", "/dev/stdout"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.split("\n}\n", 1)[0] + "}")["network"] == "lenet5"  # the table follows


def test_dev_stdout_on_a_file_shares_its_offset_with_the_table(tmp_path):
    out = tmp_path / "out.txt"
    with open(out, "w") as f:
        args = [sys.executable, "-m", "sim", "run", "lenet5", "-q", "--json", "/dev/stdout"]
        result = subprocess.run(args, cwd=ROOT, stdout=f, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report, table = out.read_text().split("\n}\n", 1)
    assert json.loads(report + "}")["network"] == "lenet5" and "latency" in table


def test_a_descriptor_that_is_closed_or_read_only_is_refused_before_the_work(capsys, monkeypatch):
    import sim.runner

    monkeypatch.setattr(sim.runner, "simulate", lambda *a, **k: pytest.fail("the work ran"))
    read_only = os.open(os.devnull, os.O_RDONLY)
    try:
        closed = os.dup(read_only)
        os.close(closed)
        for fd, reason in ((closed, "Bad file descriptor"), (read_only, "open for reading only")):
            status, _, err = cli(capsys, "run", "lenet5", "-q", "--json", f"/dev/fd/{fd}")
            assert status == 2 and one_error_line(err) and reason in err, err
    finally:
        os.close(read_only)


def test_write_atomic_leaves_nothing_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("old")

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new")
    assert os.listdir(tmp_path) == ["out.json"] and target.read_text() == "old"


@pytest.mark.parametrize("make", ["directory", "under_a_file", "proc"])
def test_check_output_refuses_paths_it_cannot_write(tmp_path, make):
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    path = {"directory": tmp_path / "dir", "under_a_file": tmp_path / "file" / "x", "proc": Path("/proc/x")}[make]
    with pytest.raises(OutputError, match="cannot write"):
        check_output_file(path)
    if make != "directory":
        with pytest.raises(OutputError, match="cannot write"):
            check_output_dir(path)


@pytest.mark.skipif(ROOT_USER, reason="permission bits do not stop root (the /proc cases cover an unwritable place)")
def test_a_read_only_directory_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="cannot create files in"):
        check_output_file(locked / "x.json")


# Every output option of every command, and a command line that would do real work.
OUTPUTS = [
    (["run", "lenet5", "--json"], "file", "sim.runner.simulate"),
    (["run", "lenet5", "--plot"], "file", "sim.runner.simulate"),
    (["run", "lenet5", "--roofline"], "file", "sim.runner.simulate"),
    (["run", "lenet5", "--mode", "functional", "--save-outputs"], "file", "sim.runner.simulate"),
    (["run", "lenet5", "--csv"], "dir", "sim.runner.simulate"),
    (["run", "lenet5", "--timing", "scalesim", "--scalesim-reports"], "dir", "sim.runner.simulate"),
    (["info", "lenet5", "--json"], "file", "workloads.network.Network.summary"),
    (["gen", "lenet5", "-o"], "dir", "rtl.generate_system.generate_system"),
    (["verify", "lenet5:conv1", "--json"], "file", "rtl.host.verify.verify_network"),
    (["dse", "lenet5", "--rows", "4,8", "-o"], "dir", "accel.dse.run_sweep"),
    (["dse", "lenet5", "--fpga", "ecp5", "--fpga-synth", "-o", "{ok}", "--fpga-cache"], "dir", "accel.dse.run_sweep"),
]


@pytest.mark.parametrize("args, kind, work", OUTPUTS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
@pytest.mark.parametrize("where", ["directory_or_file", "under_a_file", "proc"])
def test_every_output_path_is_checked_before_the_work(tmp_path, capsys, monkeypatch, args, kind, work, where):
    def started(*_, **__):
        raise AssertionError("the work started before the output path was checked")

    monkeypatch.setattr(work, started)
    (tmp_path / "file").write_text("keep")
    (tmp_path / "dir").mkdir()
    path = {
        "directory_or_file": tmp_path / ("dir" if kind == "file" else "file"),
        "under_a_file": tmp_path / "file" / "x",
        "proc": Path("/proc/sim-test/x"),
    }[where]
    argv = [a.replace("{ok}", str(tmp_path / "ok")) for a in args]
    status, _, err = cli(capsys, *argv, str(path))
    assert status == 2 and one_error_line(err) and str(path) in err, err
    assert (tmp_path / "file").read_text() == "keep"
    assert sorted(os.listdir(tmp_path)) == ["dir", "file"]


# A directory option and a file it writes into the directory.
WRITTEN_INTO = [
    (["run", "lenet5", "--csv"], "total.csv", "sim.runner.simulate"),
    (["run", "lenet5", "--timing", "scalesim", "--scalesim-reports"], "BANDWIDTH_REPORT.csv", "sim.runner.simulate"),
    (["dse", "lenet5", "--rows", "4,8", "-o"], "pareto.csv", "accel.dse.run_sweep"),
    (["dse", "lenet5", "--rows", "4,8", "-o"], "pareto_latency_area.png", "accel.dse.run_sweep"),
]


@pytest.mark.parametrize("args, name, work", WRITTEN_INTO, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_a_directory_where_a_file_goes_is_refused_before_the_work(tmp_path, capsys, monkeypatch, args, name, work):
    monkeypatch.setattr(work, lambda *_, **__: pytest.fail("the work started before the output files were checked"))
    (tmp_path / "out" / name).mkdir(parents=True)
    status, _, err = cli(capsys, *args, str(tmp_path / "out"))
    assert status == 2 and one_error_line(err) and f"{tmp_path / 'out' / name}: it is a directory" in err, err
    assert os.listdir(tmp_path / "out") == [name]


# ---------------------------------------------------------------------------------------------
# Standard output
# ---------------------------------------------------------------------------------------------


def test_a_full_stdout_is_one_error_line():
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "sim", "list"], cwd=ROOT, stdout=full, stderr=subprocess.PIPE,
                                text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2 and one_error_line(result.stderr)
    assert "cannot write standard output: No space left on device" in result.stderr


def test_a_closed_pipe_ends_quietly():
    child = start("run", "lenet5", "-q", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader is gone before the table is written
    err = child.stderr.read()
    assert child.wait(timeout=120) == 128 + signal.SIGPIPE and err == ""


def test_a_closed_stdout_is_one_error_line():
    result = subprocess.run([sys.executable, "-m", "sim", "list"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.close(1), timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2 and one_error_line(result.stderr) and "it is closed" in result.stderr


# ---------------------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interrupt_when(child: subprocess.Popen, ready) -> tuple[int, str]:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) once ``ready()`` (past the
    imports, into the work); ``child``'s exit status and stderr."""
    deadline = time.monotonic() + 120
    while child.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "the command finished before it was interrupted: give it more work"
    os.killpg(child.pid, signal.SIGINT)
    _, err = child.communicate(timeout=60)
    return child.returncode, err


def test_ctrl_c_during_sim_run_is_one_line_and_no_output(tmp_path):
    out = tmp_path / "out"
    child = start("run", "vgg16", "--mode", "functional", "--batch", "4", "-q", "--json", str(out / "r.json"),
                  "--csv", str(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    status, err = interrupt_when(child, lambda: cpu_seconds(child.pid) > 3)
    assert status == 130 and err == "error: interrupted\n"
    assert not out.exists()


def test_ctrl_c_during_sim_gen_leaves_the_directory_as_it_was(tmp_path):
    out = tmp_path / "design"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    child = start("gen", "lenet5", *SMALL_ARRAY, "-o", str(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status, err = interrupt_when(child, lambda: cpu_seconds(child.pid) > 3)
    assert status == 130 and err == "error: interrupted\n"
    assert os.listdir(tmp_path) == ["design"] and os.listdir(out) == ["manifest.json"]


def test_ctrl_c_during_sim_dse_says_how_to_resume(tmp_path):
    out = tmp_path / "sweep"
    args = ["dse", "vgg16", "--rows", "8,16,32,64", "--cols", "8,16,32,64", "--dataflow", "ws,os,is", "--mode", "cycle",
            "--workers", "2", "--chunk", "1", "--no-plots", "-q", "-o", str(out)]  # fmt: skip
    child = start(*args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = out / "journal.jsonl"
    status, err = interrupt_when(child, lambda: journal.exists() and journal.read_bytes().count(b"\n") >= 2)
    assert status == 130 and one_error_line(err) and "run the same command to resume" in err
    assert not (out / "results.csv").exists()
    finished = subprocess.run([sys.executable, "-m", "sim", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=300, check=False)  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    assert "resumed from the journal" in finished.stdout and (out / "results.csv").exists()


def process_tree(pid: int) -> list[int]:
    """``pid``'s descendants (from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            children += [int(entry.name), *process_tree(int(entry.name))]
    return children


def running(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (iverilog) is not installed")
@pytest.mark.slow
def test_ctrl_c_during_sim_verify_kills_the_simulator_and_removes_its_build(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    child = start("verify", "lenet5:conv1", *SMALL_ARRAY, "-q", env={**os.environ, "TMPDIR": str(tmp)},
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        tree = process_tree(child.pid)
        if any(Path(f"/proc/{p}/comm").exists() and Path(f"/proc/{p}/comm").read_text().strip() == "vvp" for p in tree):
            break
        time.sleep(0.1)
    assert child.poll() is None, "sim verify ended before its simulator started"
    os.killpg(child.pid, signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and err == "error: interrupted\n"
    deadline = time.monotonic() + 10
    while any(running(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(p) for p in tree), "a simulator process outlived sim verify"
    assert os.listdir(tmp) == []


# ---------------------------------------------------------------------------------------------
# sim gen: the output directory as a whole
# ---------------------------------------------------------------------------------------------


def test_gen_refuses_a_directory_holding_other_files(tmp_path, capsys):
    out = tmp_path / "design"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    status, _, err = cli(capsys, "gen", "--core-only", "--rows", "2", "--cols", "2", "-o", str(out))
    assert status == 2 and one_error_line(err) and "notes.txt" in err
    assert os.listdir(out) == ["notes.txt"]


def test_gen_of_a_config_it_cannot_build_leaves_no_amaranth_warning(tmp_path, capsys):
    import gc
    import warnings

    # Only once a generation has run does Amaranth track components left unused.
    assert cli(capsys, "gen", "-o", str(tmp_path / "ok"), "--rows", "2", "--cols", "2", "--core-only")[0] == 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, _, err = cli(capsys, "gen", "-o", str(tmp_path / "d"), "--rows", "1", "--cols", "2")
        gc.collect()  # an abandoned Amaranth component warns when it is collected
    assert status == 2 and one_error_line(err), err
    assert not [w for w in caught if "never used" in str(w.message)]


def test_gen_refuses_the_current_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = cli(capsys, "gen", "--core-only", "--rows", "2", "--cols", "2", "-o", ".")
    assert status == 2 and one_error_line(err) and "run `sim gen` from its parent directory" in err
    assert os.listdir(tmp_path) == []


def test_gen_failing_midway_leaves_the_previous_set(tmp_path, capsys, monkeypatch):
    from rtl import generate

    out = tmp_path / "design"
    tiny = ["--core-only", "--rows", "2", "--cols", "2", "--ifmap-kib", "1", "--filter-kib", "1", "--ofmap-kib", "1"]
    assert cli(capsys, "gen", *tiny, "-o", str(out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(info):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(generate, "readme", broken)  # after the Verilog and the manifest
    status, _, err = cli(capsys, "gen", *tiny, "--dataflow", "os", "-o", str(out))
    assert status == 2 and one_error_line(err) and "No space left on device" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert os.listdir(tmp_path) == ["design"]


def test_replaced_dir_follows_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "old").write_text("")
    link = tmp_path / "link"
    link.symlink_to(real)
    with replaced_dir(link) as staging:
        (staging / "new").write_text("")
    assert link.is_symlink() and os.listdir(real) == ["new"]
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]


# ---------------------------------------------------------------------------------------------
# sim verify DIR: a damaged `sim gen` directory is one line, before anything is built
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "lenet"
    result = subprocess.run([sys.executable, "-m", "sim", "gen", "lenet5", *SMALL_ARRAY, "-o", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def _edit_json(name: str, edit):
    def damage(directory: Path) -> None:
        path = directory / name
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))

    return damage


def _drop_weights(directory: Path) -> None:
    with np.load(directory / "weights.npz") as arrays:
        kept = {k: arrays[k] for k in arrays.files if not k.startswith("conv1.")}
    np.savez(directory / "weights.npz", **kept)


def _truncate(name: str, size: int):
    def damage(directory: Path) -> None:
        path = directory / name
        path.write_bytes(path.read_bytes()[:size])

    return damage


def _reshape_weights(directory: Path) -> None:
    with np.load(directory / "weights.npz") as arrays:
        changed = {k: arrays[k][..., :1] if k == "conv1.weight" else arrays[k] for k in arrays.files}
    np.savez(directory / "weights.npz", **changed)


def _retype_weights(dtype: str, scale: int = 1):
    def damage(directory: Path) -> None:
        with np.load(directory / "weights.npz") as arrays:
            changed = {k: arrays[k].astype(dtype) * scale if k == "conv1.weight" else arrays[k] for k in arrays.files}
        np.savez(directory / "weights.npz", **changed)

    return damage


def _replace_with_fifo(name: str):
    def damage(directory: Path) -> None:
        (directory / name).unlink()
        os.mkfifo(directory / name)

    return damage


def _move_program(directory: Path) -> None:
    """dram.bin of the right size with the program somewhere else."""
    edit = _edit_json("manifest.json", lambda m: m["image"].update(program_address=m["image"]["program_address"] + 64))
    edit(directory)


DAMAGE = {
    "empty weights.npz": ("weights.npz", _truncate("weights.npz", 0)),
    "truncated weights.npz": ("weights.npz", _truncate("weights.npz", 200)),
    "weights.npz without a layer": ("weights.npz", _drop_weights),
    "weights.npz of another shape": ("weights.npz", _reshape_weights),
    "float weights": ("weights.npz", _retype_weights("float32")),
    "weights beyond int8": ("weights.npz", _retype_weights("int32", 1000)),
    "no weights.npz": ("weights.npz", lambda d: (d / "weights.npz").unlink()),
    "manifest without top": ("manifest.json", _edit_json("manifest.json", lambda m: m.pop("top"))),
    "manifest of another top": ("manifest.json", _edit_json("manifest.json", lambda m: m.update(top="accel_ws_4x4"))),
    "manifest without the image": ("manifest.json", _edit_json("manifest.json", lambda m: m.pop("image"))),
    "manifest not JSON": ("manifest.json", lambda d: (d / "manifest.json").write_text("{")),
    "manifest a list": ("manifest.json", lambda d: (d / "manifest.json").write_text("[]")),
    "image address a string": ("manifest.json", _edit_json("manifest.json", lambda m: m["image"].update(base="zero"))),
    "no dram.bin": ("dram.bin", lambda d: (d / "dram.bin").unlink()),
    "truncated dram.bin": ("dram.bin", _truncate("dram.bin", 4096)),
    "dram.bin a FIFO": ("dram.bin", _replace_with_fifo("dram.bin")),
    "program moved": ("dram.bin", _move_program),
    "no Verilog": ("accel_axi.v", lambda d: (d / "accel_axi.v").unlink()),
    "Verilog of another design": ("accel_axi.v", lambda d: (d / "accel_axi.v").write_text("module other;\n")),
    "Verilog a FIFO": ("accel_axi.v", _replace_with_fifo("accel_axi.v")),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_gen_directory_is_one_line_before_building(generated, tmp_path, capsys, monkeypatch, damage):
    import rtl.host.verify

    def built(*_):
        raise AssertionError("the design was built before the directory was checked")

    monkeypatch.setattr(rtl.host.verify, "run_image", built)
    directory = tmp_path / "lenet"
    shutil.copytree(generated, directory)
    name, make = DAMAGE[damage]
    make(directory)
    status, _, err = cli(capsys, "verify", str(directory))
    assert status == 2 and one_error_line(err), err
    assert f"{directory / name}" in err or (name.endswith(".npz") and "weights.npz" in err), err
    assert "run `sim gen NET -o" in err


# ---------------------------------------------------------------------------------------------
# sim dse: a damaged journal, an address that is no Dask scheduler
# ---------------------------------------------------------------------------------------------


def test_random_bytes_in_the_journal_do_not_stop_a_resume(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["dse", "lenet5", "--rows", "4,8,16", "--workers", "1", "--no-plots", "-q", "-o", str(out)]
    assert cli(capsys, *args)[0] == 0
    journal = out / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    noise = np.random.default_rng(0).integers(0, 256, size=(3, 64), dtype=np.uint8)
    # Noise on a line of its own, glued to the start of a row (that row is lost), and a torn last line.
    damaged = [noise[0].tobytes() + b"\n", lines[0], noise[1].tobytes() + lines[1], lines[2], noise[2].tobytes()]
    journal.write_bytes(b"".join(damaged))
    status, out_text, err = cli(capsys, *args)
    assert status == 0, err
    assert "1 evaluated" in out_text and "2 resumed from the journal" in out_text


def test_a_journal_that_is_a_fifo_is_refused_not_read(tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    os.mkfifo(out / "journal.jsonl")
    status, _, err = cli(capsys, "dse", "lenet5", "--rows", "4,8", "--no-plots", "-q", "-o", str(out))
    assert status == 2 and one_error_line(err) and "journal.jsonl is not a regular file" in err, err


def _not_dask_server() -> tuple[socket.socket, str]:
    """A TCP server that answers like a web server, not a Dask scheduler."""
    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    threading.Thread(target=answer, daemon=True).start()
    return server, f"tcp://127.0.0.1:{server.getsockname()[1]}"


def test_a_scheduler_address_that_refuses_or_is_no_dask_fails_at_once(tmp_path, capsys):
    pytest.importorskip("distributed")
    with socket.create_server(("127.0.0.1", 0)) as closed:
        refused = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    server, not_dask = _not_dask_server()
    try:
        for address in (refused, not_dask):
            started = time.monotonic()
            args = ["dse", "lenet5", "--rows", "4", "--scheduler", address, "-o", str(tmp_path / "d")]
            status, _, err = cli(capsys, *args)
            assert status == 2 and one_error_line(err) and address in err, err
            assert time.monotonic() - started < 8  # Dask itself would retry for 10 s, then hang 20 s
    finally:
        server.close()
