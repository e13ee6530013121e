"""cocotb test module of ``sim verify``: run a network on the generated accelerator.

``VERIFY_SPEC`` names a JSON file written by :func:`rtl.verify.verify_on_rtl` (pickled network,
config, layer, seed, manifest and report paths). :class:`BusBackend` runs the host driver's
descriptors through :class:`rtl.bus_driver.BusDriver`; the per-layer checks go to the report.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock

from accel.config import AccelConfig
from accel.timing import tile_cycles

from .bus_driver import BusDriver
from .emulator import DESCRIPTOR_REGISTERS, Descriptor
from .layer_program import load_program
from .verify import check, checks_to_json, replay


class BusBackend:
    """Loads a descriptor's buffers (skipping images already on chip), starts it, reads results."""

    def __init__(self, bus: BusDriver, config: AccelConfig) -> None:
        self.bus, self.config = bus, config
        self.lanes_c = bus.manifest["LANES_C"]
        self.loaded: dict[str, np.ndarray] = {}

    def _lane_writes(self, region: str, words: np.ndarray, lanes: int):
        word, lane = np.indices(words.shape[:2])
        return zip((word * lanes + lane).reshape(-1).tolist(), words.reshape(-1).tolist())

    async def _load(self, region: str, image: np.ndarray, writes) -> None:
        previous = self.loaded.get(region)
        if previous is not None and previous.shape == image.shape and np.array_equal(previous, image):
            return
        bus = self.bus
        await bus.write_many((bus.addr(region, offset), value) for offset, value in writes)
        self.loaded[region] = image.copy()

    async def run(self, d: Descriptor, read: bool):
        bus, cols = self.bus, self.config.cols
        await bus.write_many((bus.reg(name), d.regs[name]) for name in DESCRIPTOR_REGISTERS)
        await self._load("ifmap", d.ifmap, enumerate(d.ifmap.tolist()))
        lane, field = np.indices(d.taps.shape)
        await self._load("taps", d.taps, zip(((lane << 3) + field).reshape(-1).tolist(), d.taps.reshape(-1).tolist()))
        await self._load("weights", d.weights, self._lane_writes("weights", d.weights, self.lanes_c))
        await self._load("bias", d.bias, self._lane_writes("bias", d.bias, self.lanes_c))
        r = d.regs
        expected = tile_cycles("ws", self.config.rows, cols, r["T"], r["INNER"] * r["OUTER"])
        cycles = await bus.start_and_wait(timeout=2 * expected + 1000)
        if not read:
            return cycles, None
        # Staging word p * STAGE_PITCH + o holds block o of pixel p; results go back as words o * T + p.
        t, outer = d.regs["T"], d.regs["OUTER"]
        words = np.arange(t)[None, :] * d.regs["STAGE_PITCH"] + np.arange(outer)[:, None]
        offsets = (words.reshape(-1, 1) * self.lanes_c + np.arange(cols)[None, :]).reshape(-1)
        values = await bus.read_many(bus.addr("results", int(a)) for a in offsets)
        return cycles, np.array(values, dtype=np.int64).reshape(outer * t, cols)


@cocotb.test()
async def verify_program(dut):
    """The network of the spec, layer by layer, on the RTL; the report holds one check per layer."""
    spec = json.loads(Path(os.environ["VERIFY_SPEC"]).read_text())
    manifest = json.loads(Path(spec["manifest"]).read_text())
    config = AccelConfig.from_dict(manifest["config"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start(start_high=False))
    bus = BusDriver(dut, manifest)
    await bus.reset()
    progress, done = Path(spec["progress"]), 0

    def advance() -> None:
        nonlocal done
        done += 1
        progress.write_text(str(done))

    if "program" in spec:  # a `sim gen NET` directory: its own program, against the NumPy model
        program, params = load_program(spec["program"])
        checks = await replay(program, params, BusBackend(bus, program.config), spec["seed"], advance)
    else:
        network = pickle.loads(Path(spec["network"]).read_bytes())
        checks = await check(network, config, BusBackend(bus, config), spec["layer"], spec["seed"], advance)
    Path(spec["report"]).write_text(json.dumps(checks_to_json(checks)))
