"""Area model: an ASIC estimate from per-PE and per-KiB-SRAM tables; FPGA resources from a cache.

ASIC estimate (default table: 45 nm)
------------------------------------
The PE is counted in standard cells of the NanGate 45 nm Open Cell Library (X1 drive areas:
AND2 1.064 um^2, full adder 4.256 um^2, D flip-flop 4.522 um^2), then divided by a placement
utilization of 0.7 (routing and clock tree):

- multiplier ``a x b`` bits: ``a*b`` AND2 + ``a*b`` full adders (array multiplier),
  ``mult_um2_per_bit2 = 5.32`` per partial-product bit;
- accumulator adder: one full adder per accumulator bit, ``add_um2_per_bit = 4.256``;
- registers: one flip-flop per bit, ``reg_um2_per_bit = 4.522``; a PE holds the moving operand
  registers, the partial sum, and the stationary register with its shadow (WS: input +
  2 x weight + acc; IS: weight + 2 x input + acc; OS: input + weight + 2 x acc);
- array edges: the input skew (``R(R-1)/2`` registers of ``input_bits``) and the output de-skew
  (``C(C-1)/2`` registers of ``acc_bits``), same flip-flop area;
- ``control_mm2 = 0.05``: controller, DMA engine, address generator and vector unit together.
  **A placeholder estimate**, not derived from a netlist.

An 8x8-bit MAC PE with a 32-bit accumulator (WS) comes to about 0.001 mm^2, a 32x32 array to
about 1.2 mm^2 with its skew registers.

SRAM: a 45 nm 6T bit cell is 0.346 um^2 (Intel 45 nm); with 50 % array efficiency (decoders,
sense amplifiers, redundancy of small macros) that is ``sram_um2_per_bit = 0.69``, i.e.
0.0057 mm^2 per KiB. CACTI gives numbers of the same order for 32 KiB - 1 MiB single-port
macros at 45 nm. Every KiB of ``ifmap_kib + filter_kib + ofmap_kib`` is counted (both banks).

These are estimates for ranking designs against each other, not sign-off numbers; a user table
(TOML, keys as in :class:`AreaTable`, top level or under ``[area]``) replaces them.

FPGA resources
--------------
Real numbers come from synthesis (``sim gen --synth``), which takes minutes per configuration.
:class:`FpgaCache` keeps one JSON file per hardware configuration and FPGA family, so a sweep
reads the resources of configurations synthesized before and never re-synthesizes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accel.files import write_atomic
from accel.config import AccelConfig, ConfigError

#: Config fields that change the hardware (and so the area); bandwidth, latency, clock do not.
HARDWARE_FIELDS = (
    "rows",
    "cols",
    "dataflow",
    "input_bits",
    "weight_bits",
    "acc_bits",
    "ifmap_kib",
    "filter_kib",
    "ofmap_kib",
)


class AreaTableError(ConfigError):
    """An area table value that is missing, out of range or malformed."""


@dataclass(frozen=True)
class AreaTable:
    """Areas of the building blocks (see the module docstring for their derivation).

    Attributes
    ----------
    name : str
        Label shown in reports.
    mult_um2_per_bit2 : float
        Multiplier area per partial-product bit (``input_bits * weight_bits`` of them), um^2.
    add_um2_per_bit : float
        Accumulator adder area per bit, um^2.
    reg_um2_per_bit : float
        Register (flip-flop) area per bit, um^2.
    utilization : float
        Fraction of the placed area that is cells (0 < u <= 1).
    sram_um2_per_bit : float
        SRAM macro area per bit, um^2.
    control_mm2 : float
        Fixed area of controller, DMA, address generator and vector unit, mm^2.
    """

    name: str = "45 nm (NanGate 45 nm cells, 6T SRAM)"
    mult_um2_per_bit2: float = 5.32
    add_um2_per_bit: float = 4.256
    reg_um2_per_bit: float = 4.522
    utilization: float = 0.7
    sram_um2_per_bit: float = 0.69
    control_mm2: float = 0.05

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name == "name":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise AreaTableError(f"{f.name} must be a non-negative number, not {value!r}")
        if not 0 < self.utilization <= 1:
            raise AreaTableError(f"utilization must be in (0, 1], not {self.utilization!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "area table") -> AreaTable:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise AreaTableError(f"{source}: unknown key {unknown[0]!r}; valid keys are {', '.join(sorted(names))}")
        try:
            return cls(**data)
        except AreaTableError as err:
            raise AreaTableError(f"{source}: {err}") from None

    @classmethod
    def load(cls, path: str | Path) -> AreaTable:
        """Read a TOML table (keys at the top level or under ``[area]``)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise AreaTableError(f"area table {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise AreaTableError(f"area table {path} is not valid TOML: {err}") from None
        except OSError as err:
            raise AreaTableError(f"area table {path} cannot be read: {err.strerror}") from None
        if "area" in data:
            data = data["area"]
            if not isinstance(data, dict):
                raise AreaTableError(f"{path}: 'area' must be a table")
        return cls.from_dict(data, source=str(path))


def pe_register_bits(config: AccelConfig) -> int:
    """Register bits in one PE: moving operands, partial sum, stationary + shadow."""
    ib, wb, ab = config.input_bits, config.weight_bits, config.acc_bits
    return {"ws": ib + 2 * wb + ab, "is": wb + 2 * ib + ab, "os": ib + wb + 2 * ab}[config.dataflow]


def asic_area(config: AccelConfig, table: AreaTable | None = None) -> dict[str, float]:
    """ASIC area estimate of ``config`` in mm^2: ``pe_array``, ``edges``, ``sram``, ``control``, ``total``."""
    t = table or AreaTable()
    ib, ab = config.input_bits, config.acc_bits
    pe_um2 = (
        t.mult_um2_per_bit2 * config.input_bits * config.weight_bits
        + t.add_um2_per_bit * ab
        + t.reg_um2_per_bit * pe_register_bits(config)
    ) / t.utilization
    r, c = config.rows, config.cols
    edge_bits = r * (r - 1) // 2 * ib + c * (c - 1) // 2 * ab
    parts = {
        "pe_array": config.pes * pe_um2 * 1e-6,
        "edges": edge_bits * t.reg_um2_per_bit / t.utilization * 1e-6,
        "sram": (config.ifmap_kib + config.filter_kib + config.ofmap_kib) * 8192 * t.sram_um2_per_bit * 1e-6,
        "control": t.control_mm2,
    }
    parts["total"] = sum(parts.values())
    return parts


# ---------------------------------------------------------------------------------------------
# FPGA resources from synthesis, cached per configuration
# ---------------------------------------------------------------------------------------------

#: Resource fields a cached FPGA report provides to sweeps.
FPGA_FIELDS = ("luts", "ffs", "dsp", "bram", "fmax_mhz")


def hardware_key(config: AccelConfig) -> dict[str, Any]:
    """The fields of ``config`` that determine the generated hardware."""
    return {name: getattr(config, name) for name in HARDWARE_FIELDS}


class FpgaCache:
    """FPGA synthesis reports on disk, one JSON file per (hardware configuration, family).

    A file ``<family>-<rows>x<cols>-<dataflow>-<hash>.json`` holds ``{"key": ..., "report": ...}``
    where ``report`` is the ``synth_report`` of ``rtl.generate.generate_core``. The key is stored
    in full and checked on read, so a hash collision cannot return another design's numbers.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, config: AccelConfig, family: str) -> Path:
        key = hardware_key(config)
        digest = hashlib.sha256(json.dumps([family, key], sort_keys=True).encode()).hexdigest()[:16]
        return self.directory / f"{family}-{config.rows}x{config.cols}-{config.dataflow}-{digest}.json"

    def get(self, config: AccelConfig, family: str) -> dict | None:
        """The cached report of ``config`` on ``family``, or ``None``."""
        path = self.path(config, family)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable entry: treat as missing, a new synthesis replaces it
        if data.get("family") != family or data.get("key") != hardware_key(config):
            return None
        return data.get("report")

    def put(self, config: AccelConfig, family: str, report: dict) -> Path:
        """Store ``report`` for ``config`` on ``family`` (atomically); return the file."""
        path = self.path(config, family)
        write_atomic(path, json.dumps({"family": family, "key": hardware_key(config), "report": report}, indent=2) + "\n")
        return path

    def resources(self, config: AccelConfig, family: str) -> dict[str, Any]:
        """``{'fpga_luts': ..., ...}`` for a sweep row; empty values when not synthesized."""
        report = self.get(config, family) or {}
        return {f"fpga_{name}": report.get(name, "") for name in FPGA_FIELDS}
