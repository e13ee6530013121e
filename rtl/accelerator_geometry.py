"""Memory sizes of the layer core (in the AXI system) derived from an :class:`~accel.config.AccelConfig`.

Pure Python (no Amaranth), so the host driver and cocotb benches import it cheaply. Each depth
is one bank of the config's double-buffered SRAM (the AXI system builds two banks of each memory,
:meth:`AcceleratorGeometry.bank_rows`, so DMA overlaps compute):

``ifmap``   one input element per word (``R`` read ports, one per array row);
``weight``  ``C`` weights per word;
``acc``     ``C`` accumulator lanes per word; ``bias`` ``C`` int32 lanes per output block, as many
            blocks as a descriptor can have (each needs a word of accumulators and ``R`` of weights).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from accel.config import AccelConfig, ConfigError

#: Byte alignment of every bank of the AXI system's on-chip memories (a beat of the widest bus).
BANK_ALIGN = 64


def _words(config: AccelConfig, buffer: str, lanes: int, bits: int) -> int:
    return config.bank_bytes(buffer) * 8 // (lanes * bits)


@dataclass(frozen=True)
class AcceleratorGeometry:
    """Array shape and memory depths (words of one bank) of the layer core."""

    rows: int
    cols: int
    input_bits: int
    weight_bits: int
    acc_bits: int
    ifmap_depth: int
    weight_depth: int
    acc_depth: int
    bias_depth: int

    @classmethod
    def from_config(cls, config: AccelConfig) -> AcceleratorGeometry:
        """Derive the sizes; ConfigError for a dataflow or size the accelerator cannot have."""
        if config.dataflow != "ws":
            raise ConfigError(
                f"the layer accelerator is weight-stationary; dataflow {config.dataflow!r} is available as the "
                f"bare array (sim gen --core-only), or set dataflow = 'ws'"
            )
        if config.rows < 2:
            raise ConfigError(f"the layer accelerator needs rows >= 2 (fold interval >= 2), not {config.rows}")
        weight = _words(config, "filter", config.cols, config.weight_bits)
        acc = _words(config, "ofmap", config.cols, config.acc_bits)
        sizes = {"ifmap": _words(config, "ifmap", 1, config.input_bits), "filter": weight, "ofmap": acc}
        needs = {"ifmap": 1, "filter": config.rows, "ofmap": 1}
        for buffer, depth in sizes.items():
            if depth < needs[buffer]:
                raise ConfigError(
                    f"the {buffer} bank holds {depth} words, fewer than {needs[buffer]}; raise {buffer}_kib"
                )
        return cls(
            rows=config.rows, cols=config.cols, input_bits=config.input_bits, weight_bits=config.weight_bits,
            acc_bits=config.acc_bits, ifmap_depth=sizes["ifmap"], weight_depth=weight, acc_depth=acc,
            bias_depth=min(acc, weight // config.rows),
        )  # fmt: skip

    def bank_rows(self, memory: str) -> int:
        """Rows of one bank of ``memory`` in the AXI system ('ifmap': bytes, 'weights', 'addends',
        'staging': rows of C lanes), rounded up so every bank starts on a :data:`BANK_ALIGN`-byte
        boundary (a whole number of DMA words on any bus)."""
        rows, row_bytes = {
            "ifmap": (self.ifmap_depth, 1), "weights": (self.weight_depth, self.cols),
            "addends": (self.bias_depth, 4 * self.cols), "staging": (self.acc_depth, self.cols),
        }[memory]  # fmt: skip
        step = max(1, BANK_ALIGN // row_bytes)
        return -(-rows // step) * step

    @property
    def ifmap_address_bits(self) -> int:
        """Bits of an ifmap element address; the tap generator keeps its offsets this wide."""
        return max(1, (self.ifmap_depth - 1).bit_length())

    def to_dict(self) -> dict:
        return asdict(self)
