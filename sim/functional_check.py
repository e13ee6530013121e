"""``sim run --mode functional``: compare the simulated layer outputs with the golden model, save them."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from accel.config import AccelConfig
from sim.functional import FunctionalRun
from sim.report import NetworkReport
from workloads.forward import forward
from workloads.network import Network


@dataclass(frozen=True)
class LayerMatch:
    """How one layer's simulated outputs compare with the golden model's (counts of values)."""

    name: str
    values: int
    mismatches: int


def golden_check(network: Network, config: AccelConfig, report: NetworkReport) -> list[LayerMatch]:
    """Compare every layer output of a functional ``report`` with the NumPy golden model.

    The golden model runs on the operands the functional simulation used
    (:class:`sim.functional.FunctionalRun`: its int8 weights, requantization and input).
    """
    operands = FunctionalRun(network, config)
    golden = forward(network, operands.params, operands.input)
    return [
        LayerMatch(layer.name, int(layer.outputs.size), _mismatches(layer.outputs, golden[layer.name]))
        for layer in report.layers
    ]


def _mismatches(simulated: np.ndarray, golden: np.ndarray) -> int:
    """Values that differ; every value when the shapes differ."""
    if simulated.shape != golden.shape:
        return max(simulated.size, golden.size)
    return int(np.count_nonzero(simulated != golden))


def check_lines(matches: list[LayerMatch]) -> list[str]:
    """One summary line when every value matched, else one line per layer with mismatches."""
    wrong = [m for m in matches if m.mismatches]
    if not wrong:
        values = sum(m.values for m in matches)
        return [f"outputs: bit-exact vs the golden model ({len(matches)} layers, {values:,} values)"]
    return [f"outputs: {m.name}: {m.mismatches:,} of {m.values:,} values differ from the golden model" for m in wrong]


def outputs_npz(report: NetworkReport) -> bytes:
    """Every layer's simulated outputs as ``.npz`` bytes, one array per layer name."""
    buffer = io.BytesIO()
    np.savez(buffer, **{layer.name: layer.outputs for layer in report.layers})
    return buffer.getvalue()
