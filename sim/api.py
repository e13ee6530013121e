"""The Python API: one function per job, each a thin layer over workloads/, accel/, sim/ and rtl/.

Load a network (:func:`load_network`), configure the accelerator (:func:`configure`), simulate
it (:func:`simulate`), explore designs (:func:`sweep`, :func:`evaluate`), generate Verilog
(:func:`generate`) and check the hardware against the golden model (:func:`verify`). The same
names are attributes of the ``sim`` package, loaded on first use; see ``docs/api.md``.

Every function imports what it needs when called, so ``import sim`` stays cheap: NumPy models
load for a network, Numba for the cycle-level engine and the sweep kernel, Amaranth for
:func:`generate` and :func:`verify`, pandas only for :func:`to_dataframe`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from accel.config import AccelConfig
from sim.report import NetworkReport, _flatten  # one flattening, so records match layers.csv
from workloads.errors import UserError

if TYPE_CHECKING:
    import pandas

    from accel.area import AreaTable
    from accel.dse import SweepResult
    from accel.energy import EnergyTable
    from rtl.host.verify import SystemCheck
    from workloads.network import Network

@dataclasses.dataclass
class SimulationReport(NetworkReport):
    """A :class:`~sim.report.NetworkReport` with record and DataFrame views.

    Attributes (inherited): ``network`` (name), ``mode``, ``config`` (the
    :class:`~accel.config.AccelConfig` as a dict), ``layers`` (one
    :class:`~sim.report.LayerReport` per array or vector layer: cycles in cycles, SRAM in element
    accesses, DRAM in bytes) and ``total`` (their sums, plus ``latency_ms``).
    """

    def records(self) -> list[dict]:
        """One flat dict per layer, nested fields as ``sram.ifmap_reads``, ``dram.total_bytes``, ...

        The keys are the columns of ``sim run --csv DIR``'s ``layers.csv``.
        """
        return [_flatten(layer.to_dict()) for layer in self.layers]

    def total_record(self) -> dict:
        """The totals as one flat dict (the columns of ``total.csv``); ``latency_ms`` in ms."""
        return _flatten(self.total)

    def to_dataframe(self) -> pandas.DataFrame:
        """:meth:`records` as a pandas DataFrame, one row per layer (needs pandas)."""
        return to_dataframe(self.records())

    def energy(self, table: EnergyTable | None = None) -> dict:
        """Energy per layer and in total, in pJ, by category (MAC, registers, each SRAM, DRAM).

        Parameters
        ----------
        table : accel.energy.EnergyTable, optional
            Energy per action; default: the 45 nm table with LPDDR4 DRAM (see docs/dse.md).
        """
        from accel.energy import report_energy

        return report_energy(self.to_dict(), table)


def networks() -> list[str]:
    """Names of the networks in the zoo (what :func:`load_network` accepts besides files)."""
    from workloads.zoo import ZOO

    return list(ZOO)


def load_network(source: str | os.PathLike, *, batch: int = 1, skip_unsupported: bool = False) -> Network:
    """A network from the zoo, an ONNX model or a SCALE-Sim topology file.

    Parameters
    ----------
    source : str or path
        A zoo name (see :func:`networks`), a ``.onnx`` file (needs the ``onnx`` package) or a
        SCALE-Sim topology ``.csv`` (conv or GEMM format).
    batch : int
        Batch size N of the input.
    skip_unsupported : bool
        ONNX only: drop operators with no layer equivalent (with a ``UserWarning`` each) instead
        of raising.

    Raises
    ------
    UserError
        Unknown name, missing or malformed file.
    """
    from workloads.sources import load_network as load

    return load(os.fspath(source), skip_unsupported=skip_unsupported).with_batch(batch)


def _as_network(network: Network | str | os.PathLike) -> Network:
    from workloads.network import Network

    return network if isinstance(network, Network) else load_network(network)


def configure(source: str | os.PathLike | AccelConfig | None = None, **fields: Any) -> AccelConfig:
    """An accelerator configuration: the defaults, a file or a config, with some fields changed.

    Parameters
    ----------
    source : str, path or AccelConfig, optional
        A TOML file of config fields (top level or an ``[accelerator]`` table), a SCALE-Sim
        ``.cfg`` (its ignored settings are issued as ``UserWarning``), or a config to start from.
        Default: :data:`accel.config.DEFAULTS`.
    **fields
        Fields of :class:`~accel.config.AccelConfig` to override, e.g. ``rows=16``,
        ``dataflow='os'``, ``ifmap_kib=64`` (KiB), ``dram_bandwidth=8.0`` (bytes/cycle,
        ``math.inf`` for an ideal channel), ``dram_latency=100`` (cycles), ``clock_mhz=400``.

    Raises
    ------
    ConfigError
        An unknown field, a value out of range, an unreadable file.
    """
    if isinstance(source, AccelConfig):
        base = source
    elif source is None:
        base = AccelConfig()
    elif os.fspath(source).lower().endswith(".cfg"):
        from accel.scalesim import read_config

        base, notes = read_config(source)
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=2)
    else:
        base = AccelConfig.load(source)
    return base.replace(**fields)


def simulate(
    network: Network | str,
    config: AccelConfig | None = None,
    *,
    mode: str = "cycle",
    timing: str = "native",
    progress: Callable[[str], None] | None = None,
) -> SimulationReport:
    """Simulate every layer of a network on an accelerator, as ``sim run`` does.

    Parameters
    ----------
    network : Network or str
        A network, or anything :func:`load_network` accepts.
    config : AccelConfig, optional
        Default: :data:`accel.config.DEFAULTS` (32x32 WS array, 400 MHz).
    mode : {'cycle', 'analytic', 'functional'}
        ``'cycle'``: the cycle-level engine; ``'analytic'``: the closed form (the same numbers,
        see docs/correctness.md); ``'functional'``: also computes every layer's int8 outputs on
        the simulated array (``report.layers[i].outputs``).
    timing : {'native', 'scalesim'}
        ``'scalesim'``: SCALE-Sim 3.0.0's compute cycles instead of this microarchitecture's.
    progress : callable, optional
        Called with each layer's name once it is done.

    Returns
    -------
    SimulationReport
        Per-layer and total cycles, stalls, utilization, SRAM accesses and DRAM bytes.
    """
    from sim.runner import simulate as run

    network = _as_network(network)
    report = run(network, config or AccelConfig(), mode=mode, progress=progress, timing=timing)
    return SimulationReport(**{f.name: getattr(report, f.name) for f in dataclasses.fields(report)})


def _timer(mode: str) -> Callable | None:
    """The per-layer timing function of a DSE ``mode`` (None: the fused closed-form kernel)."""
    if mode == "analytic":
        return None
    if mode == "cycle":
        from sim.engine import run_layer

        return run_layer
    raise UserError(f"mode must be analytic or cycle, not {mode!r}")


def sweep(
    network: Network | str,
    axes: Mapping[str, Sequence[Any]],
    *,
    base: AccelConfig | None = None,
    mode: str = "analytic",
    workers: int = 1,
    store: str | os.PathLike | None = None,
    scheduler: str | None = None,
    energy_table: EnergyTable | None = None,
    area_table: AreaTable | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Evaluate a network on every combination of config values: the design-space sweep of ``sim dse``.

    Parameters
    ----------
    network : Network or str
        A network, or anything :func:`load_network` accepts.
    axes : mapping of str to sequence
        Config field (or ``bandwidth``, ``latency``, ``clock``) to the values it takes, e.g.
        ``{"rows": [16, 32], "dataflow": ["ws", "os"]}``; the first axis varies slowest.
    base : AccelConfig, optional
        The fields that are not swept (default: the defaults).
    mode : {'analytic', 'cycle'}
        Closed form (fast) or the cycle-level engine (slow); the numbers are the same.
    workers : int
        Local processes (1: this process).
    store : str or path, optional
        Directory of a resumable journal: a rerun evaluates only the points it lacks.
    scheduler : str, optional
        ``tcp://host:port`` of a Dask scheduler (needs ``dask[distributed]``).
    energy_table, area_table : optional
        Cost tables (default: 45 nm, LPDDR4), see docs/dse.md.
    progress : callable, optional
        ``progress(done, total)`` in points, after each batch.

    Returns
    -------
    accel.dse.SweepResult
        ``.rows`` (one dict per point, grid order: cycles, ``latency_ms``, ``energy_uj``,
        ``area_mm2`` in mm^2, DRAM bytes, ...; failed points with ``error``), ``.ok``,
        ``.failed``, ``.pareto()`` (the front of latency, energy and area), ``.write(dir)``.
    """
    from accel.dse import Sweep, run_sweep

    network = _as_network(network)
    grid = Sweep(axes, base or AccelConfig())
    return run_sweep(
        network, grid, store=store, workers=workers, scheduler=scheduler, timer=_timer(mode),
        energy_table=energy_table, area_table=area_table, progress=progress,
    )  # fmt: skip


def evaluate(network: Network | str, config: AccelConfig | None = None, *, mode: str = "analytic") -> dict:
    """One design point: the result row :func:`sweep` gives ``config`` (latency, energy, area, ...).

    Raises nothing for a configuration some layer does not fit: the row's ``status`` is
    ``'failed'`` and ``error`` names the layer and the buffer size it needs.
    """
    from accel.dse import evaluate as run

    network = _as_network(network)
    return run(network, config or AccelConfig(), timer=_timer(mode))


def generate(
    config: AccelConfig | None,
    out_dir: str | os.PathLike,
    network: Network | str | None = None,
    *,
    core_only: bool = False,
    fit: bool = False,
    synth: str | None = None,
    seed: int = 0,
) -> dict:
    """Write synthesizable Verilog, as ``sim gen`` does; return its manifest.

    Parameters
    ----------
    config : AccelConfig or None
        Array, widths, buffer sizes and the DRAM bandwidth that sets the AXI data bus (None: the
        defaults). The AXI accelerator is weight-stationary with at least 2 rows;
        ``core_only`` takes any dataflow.
    out_dir : str or path
        Directory for ``accel_axi.v``, its C header ``accel_axi.h``, ``manifest.json`` and
        ``README.md`` (created; replaced as a whole).
    network : Network or str, optional
        Also write its DRAM image (``dram.bin``, ``dram.hex``) and int8 parameters
        (``weights.npz``). A zoo name or a model file is recorded so that :func:`verify` can
        rerun the directory; a Network built in Python cannot be reloaded from it.
    core_only : bool
        The bare systolic array instead of the AXI accelerator (no network).
    fit : bool
        Size the buffers (whole KiB) so no layer of ``network`` is split into tiles.
    synth : {'ecp5', 'ice40'}, optional
        Also synthesize and place-and-route (needs the ``fpga`` extra).
    seed : int
        Seed of the random int8 weights and input in the image.

    Returns
    -------
    dict
        The manifest (``top``, ``config``, ports, registers, the image's tensors, ...); with
        ``fit`` also ``fit``: the buffer sizes in KiB before and after, SRAM in KiB and ASIC
        area in mm^2.
    """
    if core_only and (network is not None or fit):
        raise UserError("core_only emits the bare array, which runs no network; drop network and fit")
    if fit and network is None:
        raise UserError("fit sizes the buffers for a network: give network")
    from rtl.generate import generate_core  # loads Amaranth, so after the checks
    from rtl.generate_system import generate_system, network_source

    config = config or AccelConfig()
    if core_only:
        return generate_core(config, out_dir, synth=synth)
    cost, source = None, None
    if network is not None:
        if isinstance(network, (str, os.PathLike)):
            source = {"source": network_source(os.fspath(network)), "batch": 1, "skip_unsupported": False}
        network = _as_network(network)
        if fit:
            from rtl.host.buffer_fit import fit_buffers

            config, cost = fit_buffers(network, config)
    info = generate_system(config, out_dir, synth=synth, network=network, source=source, seed=seed)
    return {**info, "fit": cost} if fit else info


def verify(
    network: Network | str,
    config: AccelConfig | None = None,
    *,
    layer: str | None = None,
    seed: int = 0,
    simulator: str = "icarus",
    backpressure: float = 0.0,
) -> SystemCheck:
    """Run a network on the AXI accelerator with the DRAM model in the loop, as ``sim verify``.

    Every layer's int8 output in DRAM is compared bit-exactly with the golden model, and the
    cycles the hardware counts (in total and per layer) with :func:`simulate`'s for the same
    config, DRAM bandwidth and latency included.

    Parameters
    ----------
    network : Network or str
        A network, anything :func:`load_network` accepts, or a directory written by
        :func:`generate` with a network (runs its own Verilog on its own DRAM image).
    config : AccelConfig, optional
        Default: :data:`accel.config.DEFAULTS`. Not allowed with a directory.
    layer : str, optional
        Run only this layer, fed its golden input.
    seed : int
        Seed of the random int8 weights and input.
    simulator : {'icarus', 'verilator', 'model'}
        An HDL simulator running the Verilog through cocotb (seconds to minutes), or ``'model'``:
        the NumPy model of the same hardware (outputs only: it counts no cycles).
    backpressure : float
        Chance (0 <= P < 1) that the DRAM model withholds a handshake, per cycle and channel;
        outputs must stay exact, cycles are then not compared.

    Returns
    -------
    rtl.host.verify.SystemCheck
        ``passed``; ``run.cycles`` (the CYCLES register; None for the model) against
        ``sim_cycles``; ``run.layers``: per layer ``mismatches`` among ``elements`` and its
        ``cycles`` (Icarus only) against ``sim_layer_cycles``; ``to_dict()`` for JSON.
    """
    from rtl.host.verify import SIMULATORS

    if simulator not in SIMULATORS:
        raise UserError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    if not 0 <= backpressure < 1:
        raise UserError(f"backpressure must be from 0 up to (not including) 1, not {backpressure}")
    if isinstance(network, (str, os.PathLike)) and os.path.isdir(network) and os.fspath(network) not in networks():
        if config is not None or layer is not None:
            raise UserError(f"{network} holds its own design, weights and input: give no config or layer")
        from rtl.host.generated_dir import load_generated
        from rtl.host.verify import verify_generated

        return verify_generated(load_generated(network), simulator, backpressure)
    from rtl.host.verify import verify_network

    return verify_network(_as_network(network), config or AccelConfig(), layer, seed=seed, simulator=simulator,
                          backpressure=backpressure)  # fmt: skip


def to_dataframe(records: Iterable[Mapping[str, Any]]) -> pandas.DataFrame:
    """A pandas DataFrame of plain records (``report.records()``, ``sweep(...).rows``).

    Raises
    ------
    UserError
        pandas is not installed (it is optional: ``pip install pandas``).
    """
    try:
        import pandas
    except ImportError:
        raise UserError("DataFrames need pandas, which is optional: pip install pandas") from None
    return pandas.DataFrame.from_records(list(records))
