"""Run a network (or one of its layers) on the hardware and check it against the golden model.

``sim verify`` runs the AXI system top (:mod:`rtl.hw.system_top`) with the DRAM model in the loop
(:mod:`rtl.host.system_run`), or its NumPy model (:mod:`rtl.host.system_model`, outputs only):
:func:`verify_network` for a network or one layer, :func:`verify_generated` for a
``sim gen NET -o DIR`` directory. Every layer's int8 output in DRAM is compared bit-exactly with
``workloads.forward``, and the run's cycles (the CYCLES register) with ``sim run``'s for the
same config (:func:`cycles_equal`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accel.config import AccelConfig
from workloads.forward import forward
from workloads.network import INPUT, Network

from .program import ProgramError, calibrated_params, compile_network
from .simulators import available
from .system_run import LayerOutput, SystemRun, SystemRunError

#: What runs the hardware: an HDL simulator (cocotb), or the NumPy model of the system.
SIMULATORS = ("icarus", "verilator", "model")


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
    except SystemRunError:
        raise
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    shutil.rmtree(build, ignore_errors=True)


def _check_simulator(simulator: str) -> None:
    if not available(simulator):
        raise ProgramError(f"sim verify --simulator {simulator}: it is not installed; run scripts/setup.sh")


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
    """A network (or one layer) on the AXI top: its run (:class:`rtl.host.system_run.SystemRun`) against
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
    from ``config``) in ``simulator`` (:data:`SIMULATORS`; ``'model'`` checks outputs only) and
    time ``network`` with ``sim run``.

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
    """Run a loaded directory (:func:`rtl.host.generated_dir.load_generated`) on the AXI top, its own
    Verilog; ``dram`` overrides the DRAM model's ``dram_bandwidth`` / ``dram_latency``."""
    config = generated.config.replace(**(dram or {}))
    return run_image(generated.network, config, generated.image, generated.gold, simulator, backpressure,
                     top=generated.verilog)
