"""NumPy model of the AXI system: what running a :class:`~rtl.host.dram_image.DramImage` leaves in DRAM.

Byte for byte, and tile by tile in program order: the program is read from DRAM and decoded
(:func:`rtl.host.program_image.decode_program`), a tile's load commands copy DRAM bytes into
its banks, the layer accelerator's model (:func:`rtl.host.emulator.run_descriptor`) computes from
them, a tile that completes its outputs passes them through the output path into its staging
bank, and its store commands copy them back to DRAM. Timing is not modelled here: the
simulator's engines time the same commands (``accel/dram_layout.py``).
"""

from __future__ import annotations

import numpy as np

from ..accelerator_geometry import AcceleratorGeometry
from .dram_image import DramImage
from .emulator import Descriptor, output_path, run_descriptor
from .program_image import DmaCommand, TileTransfers, decode_program
from ..spec import TARGETS
from .system_run import SystemRun, check_layers


class SystemModel:
    """DRAM, the double-banked on-chip memories and the accumulators of one AXI system."""

    def __init__(self, image: DramImage) -> None:
        self.image = image
        self.config = config = image.program.config
        self.dram = np.frombuffer(bytes(image.data), dtype=np.uint8).copy()
        self.chip = {target: np.zeros(2 * getattr(image.memories, target), dtype=np.uint8) for target in TARGETS}
        self.acc = np.zeros((AcceleratorGeometry.from_config(config).acc_depth, config.cols), dtype=np.int64)

    def run(self) -> None:
        """The program in DRAM, segment by segment, tile by tile."""
        start = self.image.program_address - self.image.base
        program = self.dram[start : start + self.image.program_bytes].tobytes()
        for segment in decode_program(program, self.config.rows):
            for tile in segment.tiles:
                self.run_tile(tile.transfers, tile.lanes)

    def load(self, command: DmaCommand) -> None:
        dram, chip = command.byte_pairs()
        self.chip[command.target][chip] = self.dram[dram - self.image.base]

    def store(self, command: DmaCommand) -> None:
        dram, chip = command.byte_pairs()
        self.dram[dram - self.image.base] = self.chip[command.target][chip]

    def run_tile(self, tile: TileTransfers, lanes: np.ndarray) -> None:
        """One tile: its loads, its compute from the banks (lane table ``lanes``), its stores."""
        c, mem, regs = self.config, self.image.memories, tile.regs
        rows, cols, outer, t = c.rows, c.cols, regs["OUTER"], regs["T"]
        for command in tile.loads:
            self.load(command)
        base = mem.bank("weights", tile.weight_bank)
        weights = self.chip["weights"][base : base + outer * regs["INNER"] * rows * cols].view(np.int8)
        base = mem.bank("addends", tile.weight_bank)
        addends = self.chip["addends"][base : base + outer * cols * 4].view("<i4").reshape(outer, cols)
        ifmap = self.chip["ifmap"].view(np.int8).astype(np.int64)
        d = Descriptor(regs, ifmap, lanes, weights.reshape(-1, cols).astype(np.int64),
                       addends.astype(np.int64))  # fmt: skip
        run_descriptor(d, self.acc, rows, cols, c.input_bits, c.acc_bits)
        if regs["FINAL"]:
            words = self.acc[: outer * t].reshape(outer, t, cols)
            staging = self.chip["staging"][mem.bank("staging", tile.stage_bank) :].view(np.int8)
            for o in range(outer):
                rows_of_block = (np.arange(t) * regs["STAGE_PITCH"] + o)[:, None] * cols + np.arange(cols)
                staging[rows_of_block] = output_path(regs, words[o], d.bias[o])
        for command in tile.stores:
            self.store(command)

    def output(self, step: str, shape: tuple[int, ...]) -> np.ndarray:
        """The output of ``step`` as the network lays it out (read from DRAM)."""
        return self.image.read_tensor(self.dram.tobytes(), step, shape)


def run_model(image: DramImage, gold: dict[str, np.ndarray]) -> SystemRun:
    """``image`` run on the model, every layer's output checked against ``gold`` (no cycles: the
    model has no clock)."""
    model = SystemModel(image)
    model.run()
    shapes = {step.name: step.out_shape for step in image.program.steps}
    return SystemRun(None, None, check_layers(image, model.dram, image.base, gold, shapes))
