"""Sizes of the generated core derived from an :class:`~accel.config.AccelConfig`.

Pure Python (no Amaranth), so host software and cocotb benches can import it cheaply.

The core has three on-chip memories, each one bank of the config's double-buffered SRAM:

``west``
    ``rows`` lanes per word, streamed into the array rows (ifmap for WS/OS, filter for IS).
``north``
    ``cols`` lanes per word, feeding the array columns (filter for WS/OS, ifmap for IS).
``out``
    ``cols`` accumulator lanes per word (ofmap).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from accel.config import AccelConfig, ConfigError

#: Which config buffer backs the west and north memories, per dataflow.
BUFFERS = {"ws": ("ifmap", "filter"), "os": ("ifmap", "filter"), "is": ("filter", "ifmap")}


@dataclass(frozen=True)
class CoreGeometry:
    """Array shape, lane widths (bits) and memory depths (words) of one core."""

    rows: int
    cols: int
    dataflow: str
    west_bits: int
    north_bits: int
    acc_bits: int
    west_depth: int
    north_depth: int
    out_depth: int

    @classmethod
    def from_config(cls, config: AccelConfig) -> CoreGeometry:
        """Derive the geometry; raise :class:`ConfigError` if a bank cannot hold one array block."""
        west_buf, north_buf = BUFFERS[config.dataflow]
        west_bits, north_bits = (config.input_bits, config.weight_bits)[:: -1 if config.dataflow == "is" else 1]
        depths = {}
        for port, buf, lanes, bits, need in (
            ("west", west_buf, config.rows, west_bits, 1),
            ("north", north_buf, config.cols, north_bits, 1 if config.dataflow == "os" else config.rows),
            ("out", "ofmap", config.cols, config.acc_bits, config.rows if config.dataflow == "os" else 1),
        ):
            bank = config.bank_bytes(buf)
            depth = bank * 8 // (lanes * bits)
            if depth < need:
                raise ConfigError(
                    f"the {buf} buffer bank ({bank} bytes) holds {depth} words of {lanes} x {bits} bits, "
                    f"but the {port} memory needs at least {need}; raise {buf}_kib"
                )
            depths[port] = depth
        return cls(
            rows=config.rows,
            cols=config.cols,
            dataflow=config.dataflow,
            west_bits=west_bits,
            north_bits=north_bits,
            acc_bits=config.acc_bits,
            west_depth=depths["west"],
            north_depth=depths["north"],
            out_depth=depths["out"],
        )

    @property
    def max_count(self) -> int:
        """Largest value the ``stream_len`` / ``inner_folds`` / ``outer_folds`` ports must hold."""
        return max(self.west_depth, self.north_depth, self.out_depth)

    def to_dict(self) -> dict:
        """Plain-data view (for the manifest)."""
        return asdict(self)
