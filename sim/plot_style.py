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
    """Label the ticks of ``ax`` with ``label`` (:func:`si` or :func:`plain`); call after setting the limits.

    A log axis spanning under a decade gets evenly spaced ticks (3.8, 4, 4.2, ...): its powers
    of ten would leave one number or none. One spanning one or two decades also labels 2, 3, 5.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

    formatter = FuncFormatter(lambda value, _pos: label(value))
    for axis, wanted in ((ax.xaxis, x), (ax.yaxis, y)):
        if not wanted:
            continue
        axis.set_major_formatter(formatter)
        if axis.get_scale() != "log":
            continue
        low, high = sorted(axis.get_view_interval())
        decades = math.log10(high / low) if low > 0 else math.inf
        if decades < 1:
            axis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
            axis.set_minor_locator(NullLocator())
        elif decades < 2:
            axis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
            axis.set_minor_formatter(formatter)
        else:
            axis.set_minor_formatter(NullFormatter())


# A light backdrop so grid and roof lines do not cut through a label's letters; plots draw
# their points above it (zorder 4) so a label never hides one.
_BEHIND_LABEL = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.7}


def annotate_apart(ax, items: list[tuple[tuple[float, float], str]]) -> list[int]:
    """Write each ``(point, text)`` of ``items`` next to its point (data coordinates), in order.

    A label goes to the first corner around its point (upper right, lower right, upper left,
    lower left) where it stays inside the axes and overlaps no label placed before it; a label
    that fits nowhere is left out, so earlier items win. Call after the limits and scales are
    set. Returns the indices of the items written.
    """
    ax.figure.canvas.draw()  # fixes the data-to-pixel transform
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    boxes, written = [], []
    for i, (point, text) in enumerate(items):
        for dx, dy in ((5, 3), (5, -3), (-5, 3), (-5, -3)):
            note = ax.annotate(text, point, xytext=(dx, dy), textcoords="offset points", fontsize=7,
                               ha="left" if dx > 0 else "right", va="bottom" if dy > 0 else "top",
                               bbox=_BEHIND_LABEL)  # fmt: skip
            box = note.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in boxes):
                boxes.append(box)
                written.append(i)
                break
            note.remove()
    return written


def save_png(fig, path: str | Path, dpi: int = 120) -> None:
    """Render ``fig`` to PNG and write it atomically to ``path``; close the figure."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buf.getvalue())
