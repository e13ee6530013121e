"""What every plot shares: a headless matplotlib, readable tick labels, atomic PNG output.

matplotlib is imported inside these functions, so ``sim run`` without a plot never loads it.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from accel.files import write_atomic

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))


def si(value: float) -> str:
    """A tick label in plain digits with an SI prefix: 0.05 -> '50m', 1500 -> '1.5k', 2 -> '2'."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale * 0.9999:
            break
    text = f"{value / scale:.3g}"
    return text + prefix


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain(value: float) -> str:
    """A tick label in plain digits, for axes whose unit already has a prefix (ms, µJ): 0.03, 250."""
    return f"{value:,.6g}"


def si_axes(ax, x: bool = True, y: bool = True, label=si) -> None:
    """Label the major (and, on short log axes, minor) ticks of ``ax`` with ``label`` (:func:`si` or :func:`plain`)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    formatter = FuncFormatter(lambda value, _pos: label(value))
    for axis, wanted in ((ax.xaxis, x), (ax.yaxis, y)):
        if not wanted:
            continue
        axis.set_major_formatter(formatter)
        if axis.get_scale() == "log":
            low, high = sorted(axis.get_view_interval())
            decades = math.log10(high / low) if low > 0 else math.inf
            if decades < 2:  # few decades: label minor ticks too, so the axis has numbers
                subs = (2.0, 3.0, 5.0) if decades >= 1 else (2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
                axis.set_minor_locator(LogLocator(subs=subs))
                axis.set_minor_formatter(formatter)
            else:
                axis.set_minor_formatter(NullFormatter())


def save_png(fig, path: str | Path, dpi: int = 120) -> None:
    """Render ``fig`` to PNG and write it atomically to ``path``; close the figure."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buf.getvalue())
