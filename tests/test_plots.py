"""Plots: the roofline's numbers, readable tick labels, legends off the data, PNGs written."""

from __future__ import annotations

import math

import pytest

from accel.config import AccelConfig
from sim.plot_style import plain, si, si_axes
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


@pytest.mark.parametrize("low, high", [(3.7, 5.1), (0.02, 0.6), (0.3, 900.0)])
def test_log_axes_carry_several_plain_numbers(low, high):
    from sim.plot_style import pyplot

    fig, ax = pyplot().subplots()
    ax.set_yscale("log")
    ax.set_ylim(low, high)
    si_axes(ax, label=plain)
    fig.canvas.draw()
    ticks = [t for t in ax.yaxis.get_ticklabels(minor=False) + ax.yaxis.get_ticklabels(minor=True)
             if t.get_text() and low <= t.get_position()[1] <= high]  # fmt: skip
    assert len(ticks) >= 3
    assert all(set(t.get_text()) <= set("0123456789.,") for t in ticks)
    pyplot().close(fig)


def test_roofline_numbers_come_from_the_report(lenet_report):
    data = lenet_report.to_dict()
    roof = roofline(data)
    assert roof.compute_roof == 8 * 16 and roof.bandwidth == 4.0 and roof.ridge == 32.0
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert [p.name for p in roof.points] == list(layers)  # every LeNet-5 layer moves bytes and works
    for point in roof.points:
        layer = layers[point.name]
        assert point.kind == layer["type"]
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


def _label_boxes_apart(ax) -> bool:
    """True when no two labels written on ``ax`` overlap and each lies inside it."""
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    inside = all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    return inside and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


@pytest.fixture
def kept_figures(monkeypatch):
    """Keep the figures the plot functions draw (they close them after saving)."""
    import sim.plot_style as style

    figures = []
    real_save = style.save_png

    def save(fig, path, dpi=120):
        fig.legend_off_data = _legend_outside_data(fig)  # checked while the figure is still open
        fig.labels_apart = all(_label_boxes_apart(ax) for ax in fig.axes)
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
    assert all(fig.legend_off_data and fig.labels_apart for fig in kept_figures)
    roof_ax = kept_figures[1].axes[0]
    roof_texts = [t.get_text() for t in roof_ax.texts]
    assert any(t.startswith("conv1") for t in roof_texts) and any(t.startswith("ridge 32") for t in roof_texts)
    assert {t.get_text() for t in roof_ax.get_legend().get_texts()} >= {"convolution layers", "pooling layers"}


def test_pareto_plots_name_the_front_with_legend_off_the_data(tmp_path, kept_figures):
    from accel.dse import Sweep, run_sweep
    from sim.dse_plot import plot_sweep, point_label, varying_details

    sweep = Sweep({"rows": [4, 8, 16], "cols": [8, 16], "dataflow": ["ws", "os"], "ofmap_kib": [32, 64]})
    result = run_sweep(get_network("lenet5"), sweep)
    paths = plot_sweep(result, tmp_path)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    varying, _fixed = varying_details(result.ok)
    assert [d[0] for d in varying] == [("ifmap_kib", "filter_kib", "ofmap_kib")]  # the sweep varies a buffer only
    for fig, y in zip(kept_figures, ("energy_uj", "area_mm2")):
        ax = fig.axes[0]
        front = {point_label(row, varying) for row in result.pareto(("latency_ms", y))}
        names = {t.get_text() for t in ax.texts}
        assert names and names <= front and all(name.endswith(" KiB") for name in names)
        assert fig.legend_off_data and fig.labels_apart
        assert "DRAM 16 B/cycle" in ax.get_title() and "SRAM" not in ax.get_title()  # fixed fields, once
    assert kept_figures[0].axes[0].get_ylabel() == "energy per inference (µJ)"
    assert kept_figures[1].axes[0].get_ylabel() == "area (mm²)"


def test_point_label_names_shape_dataflow_and_buffers():
    from sim.dse_plot import point_label

    row = {"rows": 16, "cols": 32, "dataflow": "ws", "ifmap_kib": 64, "filter_kib": 64, "ofmap_kib": 32}
    assert point_label(row) == "16x32 WS 64/64/32 KiB"
    assert point_label(row, ()) == "16x32 WS"


def test_sim_run_writes_the_roofline_and_the_layer_chart(tmp_path, capsys):
    from sim.cli import main

    paths = tmp_path / "layers.png", tmp_path / "roof.png"
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "lenet5", "--mode", "analytic", "-q", "--plot", str(paths[0]), "--roofline", str(paths[1])])
    capsys.readouterr()
    assert exit_info.value.code in (0, None)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layers.png", "roof.png"]  # no temp files left
