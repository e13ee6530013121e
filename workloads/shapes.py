"""Shape arithmetic shared by the layer IR and the golden model.

Sizes are in elements. ``Pads`` is one ``(lo, hi)`` pair per spatial dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

from workloads.errors import WorkloadError

Pads = tuple[tuple[int, int], ...]
PaddingSpec = int | str | Sequence[int] | Sequence[Sequence[int]]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def expand(value: int | Sequence[int], ndim: int, field: str, where: str = "layer") -> tuple[int, ...]:
    """Return ``value`` as an ``ndim``-tuple of ints (an int is repeated)."""
    if isinstance(value, (bool, float)) or value is None:
        raise WorkloadError(f"{where}: {field} must be an int or a tuple of {ndim} ints, not {value!r}")
    if isinstance(value, int):
        return (value,) * ndim
    try:
        values = tuple(value)
    except TypeError:
        raise WorkloadError(f"{where}: {field} must be an int or a tuple of {ndim} ints, not {value!r}") from None
    if len(values) != ndim or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise WorkloadError(f"{where}: {field} must be an int or a tuple of {ndim} ints, not {value!r}")
    return values


def resolve_padding(
    padding: PaddingSpec,
    in_size: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    where: str = "layer",
) -> Pads:
    """Turn a padding spec into explicit per-dimension ``(lo, hi)`` pairs.

    ``padding`` is an int, one int per spatial dimension (symmetric), one ``(lo, hi)`` pair per
    dimension (asymmetric), ``'valid'`` (no padding) or ``'same'``. ``'same'`` pads so that
    ``out = ceil(in / stride)``; with stride 1 this is PyTorch's rule (the odd extra element goes to
    the high side), with larger strides it is ONNX's ``SAME_UPPER``.
    """
    ndim = len(in_size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding == "same":
            pads = []
            for n, k, s, d in zip(in_size, kernel, stride, dilation):
                out = -(-n // s)
                total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise WorkloadError(f"{where}: padding must be an int, a tuple, 'same' or 'valid', not {padding!r}")
    bad_pairs = WorkloadError(
        f"{where}: padding must give one (lo, hi) pair of ints per spatial dimension ({ndim}), not {padding!r}"
    )
    if isinstance(padding, int) or not isinstance(padding, Sequence) or all(isinstance(p, int) for p in padding):
        sym = expand(padding, ndim, "padding", where)
        pads = tuple((p, p) for p in sym)
    else:
        if not all(isinstance(p, Sequence) and len(p) == 2 for p in padding) or len(padding) != ndim:
            raise bad_pairs
        pads = tuple((lo, hi) for lo, hi in padding)
        if not all(isinstance(v, int) and not isinstance(v, bool) for pair in pads for v in pair):
            raise bad_pairs
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        raise WorkloadError(f"{where}: padding must be >= 0, not {padding!r}")
    return pads


def window_output_size(
    in_size: int, kernel: int, stride: int, dilation: int, pad: tuple[int, int], ceil_mode: bool = False
) -> int:
    """Output length of a sliding window: floor((in + lo + hi - d*(k-1) - 1) / s) + 1.

    With ``ceil_mode`` the division rounds up, but (as in PyTorch) the last window must start
    inside the input or the low padding. Returns a value < 1 when no window fits.
    """
    span = in_size + pad[0] + pad[1] - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= in_size + pad[0]:
        out -= 1
    return out
