"""Energy model: countable actions of a run times a per-action energy table.

Every number the simulator counts (MACs, SRAM element accesses, DRAM bytes) is an *action*; the
energy of a layer is the sum over actions of ``count x energy per action``. Results are in pJ.

Default table (45 nm, 0.9 V), and where each number comes from
----------------------------------------------------------------
``mult_pj = 0.2``
    8-bit x 8-bit integer multiply (Horowitz, "Computing's energy problem (and what we can do
    about it)", ISSCC 2014, Fig. 1.1.9). Other widths scale with the product of the operand
    widths (an array multiplier has ``a x b`` cells): ``0.2 * (a * b) / 64``; this reproduces
    Horowitz's own 32-bit figure (3.2 pJ vs 3.1 pJ).
``add_pj = 0.1``
    32-bit integer add (same source). Other widths scale linearly: ``0.1 * bits / 32`` (Horowitz
    gives 0.03 pJ for 8 bits, this rule 0.025 pJ). A MAC costs one multiply plus one
    accumulator-width add; a max-pooling compare and a vector-unit operation cost one add.
``sram_pj_per_64b = {8: 10, 32: 20, 1024: 100}`` (KiB -> pJ)
    One 64-bit read of an 8 KB, 32 KB and 1 MB SRAM (same source). Between these sizes the
    energy is interpolated **linearly in log(energy) over log(size)**, i.e. as a power law
    ``E ~ size^a`` on each segment (a = 0.5 from 8 to 32 KB, 0.46 from 32 KB to 1 MB: wire
    energy grows with the array edge, the square root of its area); outside the range the end
    segment's power law is extended, so the energy never goes negative. The size is that of one
    **bank** (``<buffer>_kib / 2``), since an access touches one bank. An access of ``b`` bits
    costs ``b / 64`` of the 64-bit figure; writes cost the same as reads.
``dram_pj_per_bit = 8.0`` (``dram = 'lpddr4'``)
    DRAM interface + core energy per bit moved. Presets: ``lpddr4`` 8.0, ``hbm2`` 3.9
    (O'Connor et al., "Fine-Grained DRAM", MICRO 2017), ``ddr3`` 70.0. These are the figures
    commonly used in accelerator studies, not derived from one datasheet: put the number of
    your part in a table when it matters.
``reg_pj_per_bit = 0.005``
    Writing one bit of a pipeline register in a PE. **An assumption, not a measured figure**:
    about one flip-flop's clock and data energy at 45 nm (the order of a full-adder bit,
    Horowitz's 32-bit add / 32 = 3 fJ). Per PE operation the registers written are those of the
    operands that move (WS: input + partial sum; IS: weight + partial sum; OS: input + weight +
    accumulator); each stationary element loaded also passes through the shadow and the
    stationary register (WS: weights, IS: inputs, OS: results through the drain chain).

What is counted
---------------
- MAC: the operations the layer needs (``pe_ops``); idle PEs and the zero blocks of packed
  groups are assumed clock gated. Vector-unit layers: one add per input element read.
- SRAM: ifmap reads (``input_bits`` each), filter reads (``weight_bits``), accumulator reads
  and writes (``acc_bits``), plus the fills from DRAM into the ifmap and filter buffers (the
  bytes the DMA engine wrote into them).
- DRAM: every byte fetched or written back, at ``dram_pj_per_bit``.

A user table is a TOML file with any of the keys above (top level or under ``[energy]``), e.g.::

    [energy]
    name = "my 28 nm corner"
    mult_pj = 0.12
    add_pj = 0.05
    dram = "hbm2"              # or dram_pj_per_bit = 3.9
    [energy.sram_pj_per_64b]   # KiB = pJ per 64-bit access
    4 = 4.0
    64 = 11.0
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accel.config import AccelConfig, ConfigError

#: DRAM energy per bit (pJ) of the named presets.
DRAM_PJ_PER_BIT = {"lpddr4": 8.0, "hbm2": 3.9, "ddr3": 70.0}

#: Energy categories of a breakdown, in report order.
CATEGORIES = ("mac", "register", "ifmap_sram", "filter_sram", "ofmap_sram", "dram")


class EnergyTableError(ConfigError):
    """An energy table value that is missing, out of range or malformed."""


def _default_sram() -> dict[float, float]:
    return {8.0: 10.0, 32.0: 20.0, 1024.0: 100.0}


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action in pJ (see the module docstring for sources and scaling rules).

    Attributes
    ----------
    name : str
        Label shown in reports.
    mult_pj : float
        One 8x8-bit multiply, pJ (scaled by ``a*b/64`` for other widths).
    add_pj : float
        One 32-bit add, pJ (scaled by ``bits/32``).
    reg_pj_per_bit : float
        One register bit written in a PE, pJ.
    sram_pj_per_64b : dict
        Bank size in KiB -> pJ per 64-bit access; at least two sizes.
    dram_pj_per_bit : float
        pJ per bit moved to or from DRAM.
    dram : str
        Name of the DRAM preset the value came from (``'custom'`` when given as a number).
    """

    name: str = "45 nm (Horowitz ISSCC 2014)"
    mult_pj: float = 0.2
    add_pj: float = 0.1
    reg_pj_per_bit: float = 0.005
    sram_pj_per_64b: dict[float, float] = field(default_factory=_default_sram)
    dram_pj_per_bit: float = DRAM_PJ_PER_BIT["lpddr4"]
    dram: str = "lpddr4"

    def __post_init__(self) -> None:
        for key in ("mult_pj", "add_pj", "reg_pj_per_bit", "dram_pj_per_bit"):
            _require_energy(key, getattr(self, key))
        sram = self.sram_pj_per_64b
        if not isinstance(sram, dict) or len(sram) < 2:
            raise EnergyTableError("sram_pj_per_64b must map at least two bank sizes (KiB) to pJ per 64-bit access")
        clean = {}
        for size, energy in sram.items():
            try:
                kib = float(size)
            except (TypeError, ValueError):
                raise EnergyTableError(f"sram_pj_per_64b: bank size must be a number of KiB, not {size!r}") from None
            if not math.isfinite(kib) or kib <= 0:
                raise EnergyTableError(f"sram_pj_per_64b: bank size must be a positive number of KiB, not {size!r}")
            _require_energy(f"sram_pj_per_64b[{size}]", energy, positive=True)
            clean[kib] = float(energy)
        object.__setattr__(self, "sram_pj_per_64b", dict(sorted(clean.items())))

    # -- per-action energies -------------------------------------------------------------------
    def mult(self, a_bits: int, b_bits: int) -> float:
        """pJ of one ``a_bits`` x ``b_bits`` multiply."""
        return self.mult_pj * a_bits * b_bits / 64.0

    def add(self, bits: int) -> float:
        """pJ of one ``bits``-wide add (or compare)."""
        return self.add_pj * bits / 32.0

    def sram_per_bit(self, bank_kib: float) -> float:
        """pJ per bit accessed in an SRAM bank of ``bank_kib`` KiB (power-law interpolation)."""
        if bank_kib <= 0:
            raise EnergyTableError(f"SRAM bank size must be positive, not {bank_kib}")
        sizes = list(self.sram_pj_per_64b)
        energies = list(self.sram_pj_per_64b.values())
        i = 0
        while i < len(sizes) - 2 and bank_kib > sizes[i + 1]:
            i += 1
        x0, x1 = math.log(sizes[i]), math.log(sizes[i + 1])
        y0, y1 = math.log(energies[i]), math.log(energies[i + 1])
        log_e = y0 + (y1 - y0) * (math.log(bank_kib) - x0) / (x1 - x0)
        return math.exp(log_e) / 64.0

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sram_pj_per_64b"] = {_kib_key(k): v for k, v in self.sram_pj_per_64b.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "energy table") -> EnergyTable:
        """Build a table from a mapping (unknown keys are an error); ``dram`` may name a preset."""
        data = dict(data)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise EnergyTableError(f"{source}: unknown key {unknown[0]!r}; valid keys are {', '.join(sorted(names))}")
        if "dram" in data and "dram_pj_per_bit" not in data:
            data["dram_pj_per_bit"] = dram_preset(data["dram"])
        elif "dram_pj_per_bit" in data and "dram" not in data:
            data["dram"] = "custom"
        try:
            return cls(**data)
        except EnergyTableError as err:
            raise EnergyTableError(f"{source}: {err}") from None
        except TypeError as err:
            raise EnergyTableError(f"{source}: {err}") from None

    @classmethod
    def load(cls, path: str | Path) -> EnergyTable:
        """Read a TOML table (keys at the top level or under ``[energy]``)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise EnergyTableError(f"energy table {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise EnergyTableError(f"energy table {path} is not valid TOML: {err}") from None
        except OSError as err:
            raise EnergyTableError(f"energy table {path} cannot be read: {err.strerror}") from None
        if "energy" in data:
            data = data["energy"]
            if not isinstance(data, dict):
                raise EnergyTableError(f"{path}: 'energy' must be a table")
        return cls.from_dict(data, source=str(path))

    def with_dram(self, preset: str) -> EnergyTable:
        """A copy with the DRAM energy of a named preset (``lpddr4``, ``hbm2``, ``ddr3``)."""
        return dataclasses.replace(self, dram=preset, dram_pj_per_bit=dram_preset(preset))


def dram_preset(name: str) -> float:
    """pJ/bit of a DRAM preset name."""
    try:
        return DRAM_PJ_PER_BIT[str(name).lower()]
    except KeyError:
        raise EnergyTableError(f"dram must be one of {', '.join(DRAM_PJ_PER_BIT)}, not {name!r}") from None


def _kib_key(kib: float) -> str:
    return str(int(kib)) if float(kib).is_integer() else repr(kib)


def _require_energy(name: str, value: Any, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise EnergyTableError(f"{name} must be a non-negative number of pJ, not {value!r}")
    if positive and value == 0:
        raise EnergyTableError(f"{name} must be a positive number of pJ, not {value!r}")


# ---------------------------------------------------------------------------------------------
# Actions and energy
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actions:
    """Counts of the energy-consuming actions of a layer or a whole run.

    ``mac_ops``/``compare_ops``: PE operations in MAC / MAX mode; ``vector_ops``: vector-unit
    element operations; ``stationary_loads``: elements loaded into the PEs' stationary registers;
    ``*_reads``/``*_writes``: SRAM element accesses; ``*_fill_bytes``: bytes the DMA engine wrote
    into the ifmap / filter SRAM; ``dram_bytes``: bytes moved to or from DRAM.
    """

    mac_ops: int = 0
    compare_ops: int = 0
    vector_ops: int = 0
    stationary_loads: int = 0
    ifmap_reads: int = 0
    filter_reads: int = 0
    ofmap_reads: int = 0
    ofmap_writes: int = 0
    ifmap_fill_bytes: int = 0
    filter_fill_bytes: int = 0
    dram_bytes: int = 0

    @classmethod
    def from_layer(cls, layer: dict, dataflow: str) -> Actions:
        """Actions of one layer report (``LayerReport.to_dict()`` form) on a ``dataflow`` array."""
        sram, dram = layer["sram"], layer["dram"]
        array = layer["pe_ops"] > 0 or layer["folds"] > 0
        if not array:  # vector unit: one operation per element read
            return cls(
                vector_ops=sram["ifmap_reads"], ifmap_reads=sram["ifmap_reads"], ofmap_reads=sram["ofmap_reads"],
                ofmap_writes=sram["ofmap_writes"], ifmap_fill_bytes=dram["ifmap_read_bytes"],
                dram_bytes=dram["total_bytes"],
            )  # fmt: skip
        compare = layer["type"] == "maxpool"
        stationary = {
            "ws": sram["filter_reads"],
            "is": sram["ifmap_reads"],
            "os": sram["ofmap_writes"],
        }[dataflow]
        return cls(
            mac_ops=0 if compare else layer["pe_ops"], compare_ops=layer["pe_ops"] if compare else 0,
            stationary_loads=stationary, ifmap_reads=sram["ifmap_reads"], filter_reads=sram["filter_reads"],
            ofmap_reads=sram["ofmap_reads"], ofmap_writes=sram["ofmap_writes"],
            ifmap_fill_bytes=dram["ifmap_read_bytes"], filter_fill_bytes=dram["filter_read_bytes"],
            dram_bytes=dram["total_bytes"],
        )  # fmt: skip

    def __add__(self, other: Actions) -> Actions:
        return Actions(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


#: Register bits written per PE operation: the operands that move through the PE.
def moving_bits(config: AccelConfig) -> int:
    """Register bits written in a PE per operation for ``config``'s dataflow."""
    ib, wb, ab = config.input_bits, config.weight_bits, config.acc_bits
    return {"ws": ib + ab, "is": wb + ab, "os": ib + wb + ab}[config.dataflow]


def stationary_bits(config: AccelConfig) -> int:
    """Width of the stationary operand of ``config``'s dataflow."""
    return {"ws": config.weight_bits, "is": config.input_bits, "os": config.acc_bits}[config.dataflow]


@dataclass(frozen=True)
class EnergyCoefficients:
    """pJ per unit of each :class:`Actions` field for one configuration and table."""

    mac: float
    compare: float
    register_op: float
    register_stationary: float
    ifmap_read: float
    filter_read: float
    ofmap_access: float
    ifmap_fill_byte: float
    filter_fill_byte: float
    dram_byte: float


def coefficients(config: AccelConfig, table: EnergyTable) -> EnergyCoefficients:
    """Per-action energies (pJ) of ``config`` under ``table``."""
    ib, wb, ab = config.input_bits, config.weight_bits, config.acc_bits
    e_if = table.sram_per_bit(config.ifmap_kib / 2)
    e_f = table.sram_per_bit(config.filter_kib / 2)
    e_of = table.sram_per_bit(config.ofmap_kib / 2)
    return EnergyCoefficients(
        mac=table.mult(ib, wb) + table.add(ab),
        compare=table.add(ab),
        register_op=moving_bits(config) * table.reg_pj_per_bit,
        register_stationary=2 * stationary_bits(config) * table.reg_pj_per_bit,
        ifmap_read=ib * e_if,
        filter_read=wb * e_f,
        ofmap_access=ab * e_of,
        ifmap_fill_byte=8 * e_if,
        filter_fill_byte=8 * e_f,
        dram_byte=8 * table.dram_pj_per_bit,
    )


def energy(actions: Actions, config: AccelConfig, table: EnergyTable | None = None) -> dict[str, float]:
    """Energy of ``actions`` on ``config`` in pJ, by category (:data:`CATEGORIES`) plus ``total``."""
    c = coefficients(config, table or EnergyTable())
    a = actions
    parts = {
        "mac": a.mac_ops * c.mac + (a.compare_ops + a.vector_ops) * c.compare,
        "register": (a.mac_ops + a.compare_ops) * c.register_op + a.stationary_loads * c.register_stationary,
        "ifmap_sram": a.ifmap_reads * c.ifmap_read + a.ifmap_fill_bytes * c.ifmap_fill_byte,
        "filter_sram": a.filter_reads * c.filter_read + a.filter_fill_bytes * c.filter_fill_byte,
        "ofmap_sram": (a.ofmap_reads + a.ofmap_writes) * c.ofmap_access,
        "dram": a.dram_bytes * c.dram_byte,
    }
    parts["total"] = sum(parts.values())
    return parts


def report_energy(report: dict, table: EnergyTable | None = None) -> dict:
    """Per-layer and total energy (pJ) of a simulation report (``NetworkReport.to_dict()`` form).

    Returns ``{"unit": "pJ", "table": ..., "layers": [{"name", <categories>, "total"}], "total": {...}}``.
    """
    table = table or EnergyTable()
    config = AccelConfig.from_dict(report["config"])
    layers = []
    total = Actions()
    for layer in report["layers"]:
        actions = Actions.from_layer(layer, config.dataflow)
        total = total + actions
        layers.append({"name": layer["name"], **energy(actions, config, table)})
    return {
        "unit": "pJ",
        "table": table.to_dict(),
        "layers": layers,
        "total": energy(total, config, table),
    }
