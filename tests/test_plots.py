"""Plots: the roofline's numbers, readable tick labels, legends off the data, PNGs written."""

from __future__ import annotations

import math

import pytest

from accel.config import AccelConfig
from sim.plot_style import plain, si
from sim.roofline import roofline
from sim.runner import simulate
from workloads.zoo import get_network

CONFIG = AccelConfig(rows=8, cols=16, dram_bandwidth=4.0, dram_latency=20)


@pytest.fixture(scope="module")
def lenet_report():
    return simulate(get_network("lenet5"), CONFIG)


@pytest.mark.parametrize("value, text", [(0.05, "50m"), (1500, "1.5k"), (2, "2"), (1_000_000, "1M"), (0, "0"),
                                         (3e-5, "30µ"), (999.99, "1k")])  # fmt: skip
def test_si_tick_labels(value, text):
    assert si(value) == text


def test_plain_tick_labels_have_no_exponent():
    assert [plain(v) for v in (0.03, 250.0, 12000.0)] == ["0.03", "250", "12,000"]


def test_roofline_numbers_come_from_the_report(lenet_report):
    data = lenet_report.to_dict()
    roof = roofline(data)
    assert roof.compute_roof == 8 * 16 and roof.bandwidth == 4.0 and roof.ridge == 32.0
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert [p.name for p in roof.points] == list(layers)  # every LeNet-5 layer moves bytes and works
    for point in roof.points:
        layer = layers[point.name]
        assert point.intensity == layer["pe_ops"] / layer["dram"]["total_bytes"]
        assert point.performance == layer["pe_ops"] / layer["cycles"]
        # No layer beats either roof.
        assert point.performance <= min(roof.compute_roof, roof.bandwidth * point.intensity) * (1 + 1e-12) + 1e-9


def test_an_ideal_channel_has_no_bandwidth_roof():
    report = simulate(get_network("lenet5"), CONFIG.replace(dram_bandwidth=math.inf)).to_dict()
    assert roofline(report).ridge == 0.0


def _legend_outside_data(fig) -> bool:
    """True when no legend's box overlaps the data area of an axes drawing the data."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    data_areas = [ax.get_window_extent(renderer) for ax in fig.axes]
    return bool(legends) and all(not legend.get_window_extent(renderer).overlaps(area)
                                 for legend in legends for area in data_areas)  # fmt: skip


@pytest.fixture
def kept_figures(monkeypatch):
    """Keep the figures the plot functions draw (they close them after saving)."""
    import sim.plot_style as style

    figures = []
    real_save = style.save_png

    def save(fig, path, dpi=120):
        fig.legend_off_data = _legend_outside_data(fig)  # checked while the figure is still open
        figures.append(fig)
        real_save(fig, path, dpi)

    for module in ("sim.plot", "sim.roofline", "sim.dse_plot"):
        monkeypatch.setattr(f"{module}.save_png", save)
    return figures


def test_layer_chart_and_roofline_png_with_legends_off_the_data(lenet_report, tmp_path, kept_figures):
    from sim.plot import plot_layers
    from sim.roofline import plot_roofline

    plot_layers(lenet_report, tmp_path / "layers.png")
    plot_roofline(lenet_report.to_dict(), tmp_path / "roof.png")
    for name in ("layers.png", "roof.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(fig.legend_off_data for fig in kept_figures)
    roof_texts = [t.get_text() for t in kept_figures[1].axes[0].texts]
    assert any(t.startswith("conv1") for t in roof_texts) and any(t.startswith("ridge 32") for t in roof_texts)


def test_pareto_plots_name_the_front_with_legend_off_the_data(tmp_path, kept_figures):
    from accel.dse import Sweep, run_sweep
    from sim.dse_plot import plot_sweep, point_label

    result = run_sweep(get_network("lenet5"), Sweep({"rows": [4, 8, 16], "cols": [8, 16], "dataflow": ["ws", "os"]}))
    paths = plot_sweep(result, tmp_path)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    front = {point_label(row) for row in result.pareto(("latency_ms", "energy_uj"))}
    names = {t.get_text() for t in kept_figures[0].axes[0].texts}
    assert names and names <= front
    assert all(fig.legend_off_data for fig in kept_figures)
    assert kept_figures[0].axes[0].get_ylabel() == "energy per inference (µJ)"
