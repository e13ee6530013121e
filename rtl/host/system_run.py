"""Run a network on the AXI system top in an HDL simulator, with the DRAM model in the loop.

The network is compiled into its DRAM image (:func:`rtl.host.dram_image.build_image`), which the DRAM
model (``rtl/host/dram_model.v``, the simulator's DRAM timing) loads at time 0; the bench
(:mod:`rtl.host.system_bench`) starts the program through the AXI4-Lite registers and waits for the
interrupt; the model's memory dump holds every layer's output, checked bit-exactly against the
golden int8 model.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accel.config import AccelConfig
from accel.dram_channel import bus_bytes, kernel_bandwidth
from workloads.network import Network

from ..hw import axi

from . import dram_model
from .dram_image import DramImage, build_image, from_pixel_major
from .program_image import decode_program
from .simulators import BUILT, SimulatorFailed, python_path, run_cocotb, verilator_build
from ..hw.system_top import SystemTop

#: Module names of the AXI top and of the bench top that puts it on the DRAM model.
TOP, BENCH_TOP = "accel_axi", "accel_axi_dram"
#: DRAM words the model holds beyond the image (a margin for the last tensor's rounding).
MARGIN_WORDS = 256


class SystemRunError(RuntimeError):
    """The HDL simulator failed to build or run the system (its log file is named)."""


@dataclass
class LayerOutput:
    """One layer's output from DRAM against the golden model."""

    name: str
    mismatches: int
    elements: int
    #: With ``trace``: the layer's cycles, from the end of the layer before it (the program's
    #: start for the first) to the end of its last segment (``sim run`` times the same span).
    cycles: int | None = None


@dataclass
class SystemRun:
    """A finished run: counters read from the registers (None: a model without a clock ran it),
    every layer's check, or the error."""

    cycles: int | None = 0
    compute_cycles: int | None = 0
    layers: list[LayerOutput] = field(default_factory=list)
    error: str | None = None
    #: With ``trace``: per program segment, (cycles from the previous segment's end, or from
    #: the command processor's start, to its ``run`` pulse; cycles from ``run`` to ``finished``).
    segments: list[tuple[int, int]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.error is None and all(layer.mismatches == 0 for layer in self.layers)


def simulation_source(verilog: str) -> str:
    """``verilog`` with every ``always @*`` block evaluated once at time 1.

    Yosys guards each combinational block with a dummy register initialised to 0; under IEEE
    1800 that initialisation happens before time 0 and triggers nothing, so a block whose inputs
    never change (an FSM output in a state held through reset) stays X in Icarus. Setting the
    register at time 1 runs every block once, as a simulator of the netlist would.
    """
    dummy = r"reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+)\s+= 0;"
    return re.sub(dummy, lambda m: f"{m.group(0)}\n  initial #1 {m.group(1)} = 1;", verilog)


def bench_verilog(config: AccelConfig, image_bytes: int, settle: bool = True,
                  top: str | None = None) -> tuple[str, int]:  # fmt: skip
    """Verilog of :data:`BENCH_TOP` (the AXI top on the DRAM model) and its bus width in bytes;
    ``settle``: with :func:`simulation_source`'s time-1 pass (Icarus; Verilator evaluates every
    combinational block when it initialises, and would need ``--timing`` for the ``#1``).
    ``top``: the Verilog of :data:`TOP` to run (``sim gen``'s), else converted from ``config``."""
    bus = bus_bytes(kernel_bandwidth(config.dram_bandwidth))
    top = top if top is not None else axi.convert(SystemTop(config, data_bytes=bus), TOP)
    depth = -(-image_bytes // bus) + MARGIN_WORDS
    verilog = dram_model.attach(TOP, top, bus, depth, 1, BENCH_TOP)
    return (simulation_source(verilog) if settle else verilog), bus


#: Verilator configuration of the bench: only the bench top's own signals are visible to cocotb
#: (what :mod:`rtl.host.system_bench` drives and reads), not every signal of the design, which cocotb's
#: runner asks for with ``--public-flat-rw`` and which makes the build and the run much slower.
VERILATOR_CONFIG = f'`verilator_config\npublic_flat_rw -module "{BENCH_TOP}" -var "*"\n'


def verilator_options(trace: bool) -> tuple[dict[str, str], list[str]]:
    """Extra sources (file name -> text) and build arguments of a Verilator build.

    ``-Wno-fatal``: the Amaranth and model Verilog has width warnings. ``--no-timing``: no delays
    (cocotb drives the clock). Unless ``trace`` (which reads signals inside the top), only the
    bench top's signals are public (:data:`VERILATOR_CONFIG`).
    """
    if trace:
        return {}, ["-Wno-fatal", "--no-timing"]
    return {"public.vlt": VERILATOR_CONFIG}, ["-Wno-fatal", "--no-timing", "--no-public-flat-rw"]


def run_on_rtl(image: DramImage, config: AccelConfig, gold: dict[str, np.ndarray], shapes: dict[str, tuple],
               build: Path, simulator: str = "icarus", backpressure: float = 0.0, seed: int = 1,
               max_cycles: int = 10_000_000, trace: bool = False, slverr: tuple[int, int] | None = None,
               top: str | None = None) -> SystemRun:  # fmt: skip
    """Run ``image`` (built for ``config``) on the AXI top in ``build``; check each layer's output
    (``shapes[name]``) against ``gold`` (by the layer's last fused step). ``trace`` times each
    program segment (on Verilator it makes every signal public: a build twice as long); the DRAM
    model answers SLVERR for the bytes ``slverr`` = (lo, hi); ``top``: see :func:`bench_verilog`."""
    build.mkdir(parents=True, exist_ok=True)
    verilator = simulator == "verilator"
    verilog, bus = bench_verilog(config, image.base + len(image.data), settle=not verilator, top=top)
    dram_model.write_image(build / "dram.hex", {image.base: bytes(image.data)}, bus)
    spec = {"program_address": image.program_address, "program_bytes": image.program_bytes,
            "max_cycles": max_cycles, "result": str(build / "result.json"), "trace": trace}  # fmt: skip
    (build / "spec.json").write_text(json.dumps(spec))
    bandwidth = None if np.isinf(config.dram_bandwidth) else config.dram_bandwidth
    plusargs = dram_model.plusargs(bandwidth, config.dram_latency, backpressure, seed, image=build / "dram.hex",
                                   dump=build / "dump.hex", slverr=slverr)  # fmt: skip
    if verilator and "CFG_CXXFLAGS_PCH_I" not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include".strip()
    extra, build_args = verilator_options(trace) if verilator else ({}, [])
    sources = {**extra, f"{BENCH_TOP}.v": verilog}
    # Verilator's build (a minute or more) is cached by its sources (no build step once complete);
    # Icarus builds in ``build``.
    compiled = verilator_build(sources, build_args, [dram_model.SOURCE]) if verilator else _written(build, sources)
    with compiled as built:
        build_step = None if (built / BUILT).is_file() else dict(
            sources=[*(str(built / name) for name in sources), str(dram_model.SOURCE)], hdl_toplevel=BENCH_TOP,
            build_dir=str(built), timescale=["1ns", "1ps"], build_args=build_args, log_file=str(build / "build.log"))
        test_step = dict(test_module="rtl.host.system_bench", hdl_toplevel=BENCH_TOP, hdl_toplevel_lang="verilog",
                         test_dir=str(build), build_dir=str(built),
                         extra_env={"SYSTEM_SPEC": str(build / "spec.json"), "PYTHONPATH": python_path()},
                         plusargs=plusargs, log_file=str(build / "test.log"))  # fmt: skip
        try:
            run_cocotb(simulator, build_step, test_step, build / "job.json", lambda: None)
        except SimulatorFailed as err:
            raise SystemRunError(f"the {err.stage} step of the {simulator} run failed; see {build}") from None
    result = json.loads((build / "result.json").read_text())
    if "error" in result:
        return SystemRun(error=result["error"])
    memory = dram_model.read_dump(build / "dump.hex", bus)
    marks = result["marks"]
    ends = [*marks["start"], *marks["finished"]]
    segments = [(run - before, end - run) for before, run, end in zip(ends, marks["run"], marks["finished"])]
    per_layer = _layer_cycles(image, config.rows, segments) if trace else {}
    layers = check_layers(image, memory, 0, gold, shapes, per_layer)
    return SystemRun(result["cycles"], result["compute_cycles"], layers, segments=segments)


@contextmanager
def _written(build: Path, sources: dict[str, str]) -> Iterator[Path]:
    """``build`` with ``sources`` (file name -> text) written into it."""
    for name, text in sources.items():
        (build / name).write_text(text)
    yield build


def check_layers(image: DramImage, memory, base: int, gold: dict[str, np.ndarray], shapes: dict[str, tuple],
                 cycles: dict[str, int] | None = None) -> list[LayerOutput]:  # fmt: skip
    """Each layer's output in ``memory`` (DRAM bytes from address ``base`` on, after a run of
    ``image``) against ``gold`` (by the layer's last fused step); ``cycles``: each layer's, if timed."""
    checks = []
    for layer in image.layers:
        tensor = image.tensors[layer.name]
        start = tensor.address - base
        got = from_pixel_major(np.frombuffer(bytes(memory[start : start + tensor.nbytes]), np.int8), shapes[layer.name])
        want = gold[layer.plan.fused[-1] if layer.plan.fused else layer.name]
        checks.append(LayerOutput(layer.name, int(np.sum(got != want)), int(want.size), (cycles or {}).get(layer.name)))
    return checks


def _layer_cycles(image: DramImage, rows: int, segments: list[tuple[int, int]]) -> dict[str, int]:
    """Each layer's cycles: the prologues and bodies of its program segments."""
    start = image.program_address - image.base
    program = decode_program(bytes(image.data[start : start + image.program_bytes]), rows)
    if len(program) != len(segments):
        raise SystemRunError(f"the trace holds {len(segments)} segments, the program {len(program)}")
    cycles: list[int] = []
    for segment, (prologue, body) in zip(program, segments):
        if segment.first_of_layer:
            cycles.append(0)
        cycles[-1] += prologue + body
    return {layer.name: total for layer, total in zip(image.layers, cycles)}


def run_network(network: Network, config: AccelConfig, build: Path, **options) -> SystemRun:
    """Compile ``network`` for ``config`` with calibrated parameters and a random input, and run it
    with :func:`run_on_rtl` (``options`` are its keyword arguments)."""
    from .verify import prepare

    params, x, gold, program = prepare(network, config)
    image = build_image(program, params, x)
    shapes = {step.name: step.out_shape for step in program.steps}
    return run_on_rtl(image, config, gold, shapes, build, **options)
