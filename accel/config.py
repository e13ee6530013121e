"""The accelerator configuration: one frozen, validated object shared by the simulator and the RTL.

Defaults describe a mid-size edge accelerator (a 32x32 int8 array like the TPU-v1 cell scaled down
to an FPGA/edge budget): 1,024 PEs, 256 KiB of ifmap SRAM, 256 KiB of filter SRAM and 128 KiB of
int32 accumulator SRAM, all double-buffered, fed by an LPDDR4-class channel of 16 bytes/cycle
(6.4 GB/s at 400 MHz) with 100 cycles of first-word latency. The buffers hold a full VGG16 conv
row band and a weight tile of 256 KiB, so large layers are tiled but never fail to map.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workloads.errors import UserError

DATAFLOWS = ("ws", "os", "is")
DATAFLOW_NAMES = {"ws": "weight-stationary", "os": "output-stationary", "is": "input-stationary"}


class ConfigError(UserError):
    """An accelerator configuration value that is out of range or malformed."""


MAX_ARRAY_SIDE = 2**16
"""Most PE rows or columns: 256 times a TPU's 256 x 256 array, and small enough that array-sized
products (PEs x cycles, a fold's fill of rows + cols per tile) stay far inside int64."""
MAX_BUFFER_KIB = 2**20
"""Most KiB per SRAM buffer (1 GiB, more than a whole IPU's 900 MB of on-chip memory): a transfer
fills at most two buffers (both banks of each with single-buffered tiles), so it moves at most
2**31 bytes."""
MIN_BANDWIDTH = 2.0**-31
"""Least DRAM bandwidth in bytes/cycle (about 4.7e-10): the largest transfer (2**31 bytes) then
occupies the channel for at most 2**62 cycles, which every timing kernel counts in int64."""
BUFFERINGS = ("double", "whole")
"""How tiles use the two banks of the ifmap and filter buffers: ``double``, each tile's operands in
one bank while the DMA fills the other; ``whole``, a layer's ifmap or filter tiles may take both
banks (single-buffered: that operand's fetches wait for the tiles reading the previous one) when
that moves fewer DRAM bytes."""
MAX_LATENCY = 2**40
"""Most cycles of DRAM latency (about 45 minutes at 400 MHz): a million transfers of this latency
still count in int64."""


@dataclass(frozen=True)
class AccelConfig:
    """Systolic-array accelerator parameters.

    Attributes
    ----------
    rows, cols : int
        PE array height and width, 1 ... 2**16.
    dataflow : str
        ``'ws'`` (weight-stationary), ``'os'`` (output-stationary) or ``'is'`` (input-stationary).
    input_bits, weight_bits, acc_bits : int
        Operand and accumulator widths in bits (signed integers).
    ifmap_kib, filter_kib, ofmap_kib : int
        On-chip SRAM per buffer in KiB (1 ... 2**20), split into two equal banks (double buffering).
    buffering : str
        ``'double'`` (every tile's operands in one bank) or ``'whole'`` (a layer's ifmap or filter
        tiles may take both banks, single-buffered, when that moves fewer DRAM bytes).
    dram_bandwidth : float
        DRAM channel bandwidth in bytes/cycle, at least 2**-31 (``inf`` for an ideal channel); a
        run refuses a layer whose cycles at this bandwidth could exceed 2**62.
    dram_latency : int
        Cycles from a DRAM request to its first byte, 0 ... 2**40.
    clock_mhz : float
        Clock frequency in MHz, used to convert cycles to time.
    """

    rows: int = 32
    cols: int = 32
    dataflow: str = "ws"
    input_bits: int = 8
    weight_bits: int = 8
    acc_bits: int = 32
    ifmap_kib: int = 256
    filter_kib: int = 256
    ofmap_kib: int = 128
    buffering: str = "double"
    dram_bandwidth: float = 16.0
    dram_latency: int = 100
    clock_mhz: float = 400.0

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            _require_int(name, getattr(self, name), minimum=1, maximum=MAX_ARRAY_SIDE)
        for name in ("ifmap_kib", "filter_kib", "ofmap_kib"):
            _require_int(name, getattr(self, name), minimum=1, maximum=MAX_BUFFER_KIB, unit=" KiB")
        _require_int("dram_latency", self.dram_latency, minimum=0, maximum=MAX_LATENCY, unit=" cycles")
        for name in ("input_bits", "weight_bits"):
            _require_int(name, getattr(self, name), minimum=2, maximum=32)
        _require_int("acc_bits", self.acc_bits, minimum=max(self.input_bits, self.weight_bits), maximum=64)
        if self.dataflow not in DATAFLOWS:
            raise ConfigError(f"dataflow must be one of {', '.join(DATAFLOWS)}, not {self.dataflow!r}")
        if self.buffering not in BUFFERINGS:
            raise ConfigError(f"buffering must be one of {', '.join(BUFFERINGS)}, not {self.buffering!r}")
        for name in ("dram_bandwidth", "clock_mhz"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, not {value!r}")
        if self.dram_bandwidth < MIN_BANDWIDTH:
            raise ConfigError(f"dram_bandwidth must be at least 2**-31 bytes/cycle, not {self.dram_bandwidth!r}")
        if math.isinf(self.clock_mhz):
            raise ConfigError("clock_mhz must be finite, not inf")

    # -- derived quantities -------------------------------------------------------------------
    @property
    def pes(self) -> int:
        """Number of processing elements."""
        return self.rows * self.cols

    @property
    def tile_banks(self) -> int:
        """Banks of the ifmap and filter buffers one tile may fill: 2 with buffering 'whole'
        (single-buffered tiles), else 1."""
        return 2 if self.buffering == "whole" else 1

    def bank_bytes(self, buffer: str) -> int:
        """Bytes in one of the two banks of ``buffer`` ('ifmap', 'filter' or 'ofmap')."""
        return getattr(self, f"{buffer}_kib") * 1024 // 2

    def cycles_to_ms(self, cycles: int) -> float:
        """Convert cycles to milliseconds at ``clock_mhz``."""
        return cycles / (self.clock_mhz * 1e3)

    def replace(self, **changes: Any) -> AccelConfig:
        """Return a copy with some fields changed (validated)."""
        _check_field_names(changes, "configuration")
        return dataclasses.replace(self, **changes)

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (the TOML / JSON form)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "configuration") -> AccelConfig:
        """Build a config from a mapping of field names; unknown names are an error.

        ``dram_bandwidth`` may be the string ``"inf"`` (how JSON reports write an ideal channel).
        """
        _check_field_names(data, source)
        if data.get("dram_bandwidth") == "inf":
            data = {**data, "dram_bandwidth": math.inf}
        try:
            return cls(**data)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None

    @classmethod
    def load(cls, path: str | Path) -> AccelConfig:
        """Read a TOML file whose top level (or ``[accelerator]`` table) holds config fields."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
        except OSError as err:
            raise ConfigError(f"config file {path} cannot be read: {err.strerror}") from None
        if "accelerator" in data:
            stray = sorted(set(data) & set(FIELD_NAMES))
            if stray:
                raise ConfigError(f"{path}: field {stray[0]!r} is outside the [accelerator] table; move it inside")
            data = data["accelerator"]
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: 'accelerator' must be a table of config fields, not {data!r}")
        return cls.from_dict(data, source=str(path))

    def to_toml(self) -> str:
        """TOML text that :meth:`load` reads back to an equal config."""
        lines = ["[accelerator]"]
        for key, value in self.to_dict().items():
            if isinstance(value, str):
                text = f'"{value}"'
            elif isinstance(value, float) and math.isinf(value):
                text = "inf"
            else:
                text = repr(value)
            lines.append(f"{key} = {text}")
        return "\n".join(lines) + "\n"


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(AccelConfig))


def _check_field_names(data: dict[str, Any], source: str) -> None:
    unknown = sorted(set(data) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(f"{source}: unknown field {unknown[0]!r}; valid fields are {', '.join(FIELD_NAMES)}")


def _require_int(name: str, value: Any, minimum: int, maximum: int, unit: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, not {value!r}")
    if value < minimum and maximum >= MAX_ARRAY_SIDE:  # a size or latency: name the bound it misses
        raise ConfigError(f"{name} must be >= {minimum}, not {value}")
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {_power(maximum)}{unit}, not {value}")


def _power(value: int) -> str:
    """``2**40`` for a power of two above 1024 (how the limits are chosen), else the number."""
    if value > 1024 and value & (value - 1) == 0:
        return f"2**{value.bit_length() - 1}"
    return str(value)


DEFAULTS = AccelConfig()
"""The built-in configuration (what ``sim`` uses without ``--config`` or size flags)."""
