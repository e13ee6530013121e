"""NumPy golden model: the reference forward of every layer type.

Functions are named and behave like ``torch.nn.functional``: activations are ``(N, C, *spatial)``
arrays, convolution weights are ``(Cout, Cin/groups, *kernel)``. Integer inputs are computed
exactly: products accumulate in int64 and the result is int64 (a worst case that could overflow
int64 raises). Floating-point inputs stay in their dtype (float32 in, float32 out).

Beyond PyTorch, padding accepts everything :func:`workloads.shapes.resolve_padding` does
(asymmetric ``(lo, hi)`` pairs, ``'same'`` with any stride), and :func:`requantize` models the
accelerator's int32 -> int8 output stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from workloads.errors import WorkloadError
from workloads.shapes import PADDING_MODES, Pads, PaddingSpec, expand, resolve_padding, window_output_size

__all__ = [
    "add",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "choose_requant",
    "concat",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "flatten",
    "fold_batch_norm",
    "global_avg_pool",
    "leaky_relu",
    "linear",
    "local_response_norm",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "relu",
    "relu6",
    "requantize",
    "upsample_nearest",
]

IntOrTuple = int | Sequence[int]

# np.pad mode for each PyTorch padding_mode; 'reflect' excludes the edge element in both.
_NP_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}
# Integer sums below 2**53 are exact in float64 whatever the summation order, so BLAS can do them.
_FLOAT64_EXACT = 2**53
_INT64_LIMIT = 2**63
# requantize multipliers are < 2**15 (a 16-bit signed multiplier in hardware).
_REQUANT_SCALE_BITS = 15
_MAX_SHIFT = 62


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _tensor(value, name: str, where: str, ndim: int | None = None, layout: str = "", min_ndim: int = 0) -> np.ndarray:
    """``value`` as an integer or floating-point array of rank ``ndim`` (or at least ``min_ndim``)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise WorkloadError(f"{where}: {name} must be an integer or floating-point array, not dtype {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise WorkloadError(f"{where}: {name} must be a {ndim}-D array {layout}, not shape {array.shape}")
    if array.ndim < min_ndim:
        raise WorkloadError(f"{where}: {name} must have at least {min_ndim} dimensions, not shape {array.shape}")
    return array


def _activation(value, nd: int, where: str) -> np.ndarray:
    return _tensor(value, "input", where, nd + 2, f"(N, C, {_SPATIAL_NAMES[nd]})")


def _at_least_one(value: IntOrTuple, nd: int, field: str, where: str) -> tuple[int, ...]:
    values = expand(value, nd, field, where)
    if any(v < 1 for v in values):
        raise WorkloadError(f"{where}: {field} must be >= 1, not {value!r}")
    return values


def _int_in(value, field: str, where: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (no upper bound when ``high`` is None)."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        wanted = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
        raise WorkloadError(f"{where}: {field} must be {wanted}, not {value!r}")
    return int(value)


def _require_float(array: np.ndarray, where: str, hint: str) -> None:
    if array.dtype.kind != "f":
        raise WorkloadError(f"{where}: input must be floating point, not dtype {array.dtype}; {hint}")


def _compute_dtype(*arrays: np.ndarray) -> np.dtype:
    """int64 when every operand is an integer, else the common floating-point dtype."""
    if all(a.dtype.kind in "iu" for a in arrays):
        return np.dtype(np.int64)
    return np.result_type(*arrays)


def _channel_vector(value, name: str, channels: int, where: str) -> np.ndarray:
    vector = _tensor(value, name, where, 1, f"of length {channels}")
    if vector.shape[0] != channels:
        raise WorkloadError(f"{where}: {name} must have one entry per channel ({channels}), not {vector.shape[0]}")
    return vector


def _per_channel(vector: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a per-channel vector to broadcast over axis 1 of a rank-``ndim`` array."""
    return vector.reshape((1, -1) + (1,) * (ndim - 2))


def _groups(groups, in_channels: int, where: str, out_channels: int | None = None) -> int:
    """Validated ``groups``: a positive int dividing the input (and, if given, output) channels."""
    groups = _int_in(groups, "groups", where, 1)
    if in_channels % groups or (out_channels is not None and out_channels % groups):
        raise WorkloadError(
            f"{where}: groups ({groups}) must divide the input channels ({in_channels})"
            + ("" if out_channels is None else f" and the output channels ({out_channels})")
            + "; pick groups that divides them"
        )
    return groups


# --------------------------------------------------------------------------------------------
# Compute kernels (arrays in, arrays out; arguments already validated)
# --------------------------------------------------------------------------------------------


def _abs_max(array: np.ndarray) -> int:
    return max(-int(array.min()), int(array.max())) if array.size else 0


def _matmul(a: np.ndarray, b: np.ndarray, where: str) -> np.ndarray:
    """``a @ b``; integer operands give the exact int64 result."""
    if a.dtype.kind == "f":
        return a @ b
    bound = _abs_max(a) * _abs_max(b) * a.shape[-1]
    if bound < _FLOAT64_EXACT:
        # Every partial sum is an integer below 2**53, which float64 holds exactly.
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    if bound >= _INT64_LIMIT:
        raise WorkloadError(
            f"{where}: the integer accumulation could overflow int64 (max|input| * max|weight| * "
            f"{a.shape[-1]} terms = {bound}); use narrower integer values"
        )
    return a.astype(np.int64) @ b.astype(np.int64)


def _spatial(slices) -> tuple[slice, ...]:
    """An index applying ``slices`` to the axes after (N, C)."""
    return (slice(None), slice(None)) + tuple(slices)


def _pad(x: np.ndarray, pads: Pads, mode: str = "zeros", fill=0) -> np.ndarray:
    """Pad the spatial dimensions (axes 2...) of ``x``."""
    width = ((0, 0), (0, 0)) + tuple(pads)
    if mode == "zeros":
        return np.pad(x, width, mode="constant", constant_values=fill)
    return np.pad(x, width, mode=_NP_PAD_MODE[mode])


def _windows(x: np.ndarray, kernel, stride, dilation, out) -> np.ndarray:
    """View ``(N, C, *out, *kernel)`` of the windows of an already padded ``x``."""
    nd = len(kernel)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    view = sliding_window_view(x, spans, axis=tuple(range(2, 2 + nd)))
    picks = [slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride)]
    return view[_spatial(picks + [slice(None, None, d) for d in dilation])]


def _correlate(x: np.ndarray, weight: np.ndarray, stride, dilation, groups: int, where: str) -> np.ndarray:
    """Cross-correlate a padded ``x`` with ``weight`` (im2col + one matmul per group)."""
    n = x.shape[0]
    cout, cin_g = weight.shape[:2]
    cout_g = cout // groups
    kernel = weight.shape[2:]
    nd = len(kernel)
    out = tuple((size - d * (k - 1) - 1) // s + 1 for size, k, s, d in zip(x.shape[2:], kernel, stride, dilation))
    win = _windows(x, kernel, stride, dilation, out).reshape((n, groups, cin_g) + out + kernel)
    # im2col per group, (G, N*Ho*Wo, Cg*kH*kW): a row is one output pixel's receptive field.
    order = (1, 0) + tuple(range(3, 3 + nd)) + (2,) + tuple(range(3 + nd, 3 + 2 * nd))
    cols = win.transpose(order).reshape(groups, n * int(np.prod(out)), cin_g * int(np.prod(kernel)))
    w = weight.reshape(groups, cout_g, -1).transpose(0, 2, 1)
    acc = _matmul(cols, w, where)  # (G, N*Ho*Wo, Cout/G)
    acc = acc.reshape((groups, n, -1, cout_g)).transpose(1, 0, 3, 2)
    return acc.reshape((n, cout) + out)


def _add_bias(acc: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    return acc if bias is None else acc + _per_channel(bias.astype(acc.dtype), acc.ndim)


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------


def _conv_operands(input, weight, bias, nd: int, where: str, weight_layout: str):
    x = _activation(input, nd, where)
    w = _tensor(weight, "weight", where, nd + 2, weight_layout)
    b = None if bias is None else _tensor(bias, "bias", where, 1)
    dtype = _compute_dtype(*(a for a in (x, w, b) if a is not None))
    if dtype.kind == "f":
        x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    return x, w, b


def _check_pad_mode(x: np.ndarray, pads: Pads, mode: str, where: str) -> None:
    if mode not in PADDING_MODES:
        raise WorkloadError(f"{where}: padding_mode must be one of {', '.join(PADDING_MODES)}, not {mode!r}")
    for axis, (size, (lo, hi)) in enumerate(zip(x.shape[2:], pads)):
        if mode == "reflect" and max(lo, hi) >= size:
            raise WorkloadError(
                f"{where}: reflect padding {(lo, hi)} must be smaller than the input size {size} "
                f"along spatial dim {axis}; reduce padding or use padding_mode='replicate'"
            )
        if mode == "circular" and max(lo, hi) > size:
            raise WorkloadError(
                f"{where}: circular padding {(lo, hi)} must not exceed the input size {size} "
                f"along spatial dim {axis}; reduce padding"
            )


def _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, flip_kernel, nd: int, where: str):
    x, w, b = _conv_operands(input, weight, bias, nd, where, f"(Cout, Cin/groups, {_SPATIAL_NAMES[nd]})")
    stride = _at_least_one(stride, nd, "stride", where)
    dilation = _at_least_one(dilation, nd, "dilation", where)
    groups = _groups(groups, x.shape[1], where, out_channels=w.shape[0])
    if w.shape[1] * groups != x.shape[1]:
        raise WorkloadError(
            f"{where}: weight has {w.shape[1]} input channels per group but input has {x.shape[1]} "
            f"channels in {groups} group(s); weight must be (Cout, {x.shape[1] // groups}, ...)"
        )
    if b is not None:
        b = _channel_vector(b, "bias", w.shape[0], where)
    kernel = w.shape[2:]
    pads = resolve_padding(padding, x.shape[2:], kernel, stride, dilation, where)
    _check_pad_mode(x, pads, padding_mode, where)
    for axis, (size, k, d, (lo, hi)) in enumerate(zip(x.shape[2:], kernel, dilation, pads)):
        if d * (k - 1) + 1 > size + lo + hi:
            raise WorkloadError(
                f"{where}: kernel {k} with dilation {d} spans {d * (k - 1) + 1} elements but the padded "
                f"input is only {size + lo + hi} along spatial dim {axis}; add padding or use a smaller kernel"
            )
    if flip_kernel:
        w = np.flip(w, axis=tuple(range(2, 2 + nd)))
    acc = _correlate(_pad(x, pads, padding_mode), w, stride, dilation, groups, where)
    return _add_bias(acc, b)


def conv1d(input, weight, bias=None, stride: IntOrTuple = 1, padding: PaddingSpec = 0, dilation: IntOrTuple = 1,
           groups: int = 1, padding_mode: str = "zeros", flip_kernel: bool = False) -> np.ndarray:
    """1-D convolution: input (N, C, L), weight (Cout, C/groups, kL) -> (N, Cout, Lout).

    Same parameters and semantics as :func:`conv2d`.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, flip_kernel, 1, "conv1d")


def conv2d(input, weight, bias=None, stride: IntOrTuple = 1, padding: PaddingSpec = 0, dilation: IntOrTuple = 1,
           groups: int = 1, padding_mode: str = "zeros", flip_kernel: bool = False) -> np.ndarray:
    """2-D convolution (cross-correlation, like ``torch.nn.functional.conv2d``).

    Parameters
    ----------
    input : array (N, C, H, W)
        Integer or floating-point activations.
    weight : array (Cout, C/groups, kH, kW)
    bias : array (Cout,), optional
    stride, dilation : int or tuple of ints, >= 1
        Steps between windows / between kernel taps, in input elements.
    padding : int, tuple, tuple of (lo, hi) pairs, 'same' or 'valid'
        See :func:`workloads.shapes.resolve_padding`.
    groups : int
        Divides both C and Cout; ``groups == C`` is a depthwise convolution.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        What the padding holds; 'reflect' excludes the edge element (as in PyTorch).
    flip_kernel : bool
        True computes true convolution (kernel flipped along every spatial axis).

    Returns
    -------
    array (N, Cout, Hout, Wout)
        int64 for integer inputs (exact), else the inputs' floating-point dtype.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, flip_kernel, 2, "conv2d")


def conv3d(input, weight, bias=None, stride: IntOrTuple = 1, padding: PaddingSpec = 0, dilation: IntOrTuple = 1,
           groups: int = 1, padding_mode: str = "zeros", flip_kernel: bool = False) -> np.ndarray:
    """3-D convolution: input (N, C, D, H, W), weight (Cout, C/groups, kD, kH, kW) -> (N, Cout, Do, Ho, Wo).

    Same parameters and semantics as :func:`conv2d`.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, padding_mode, flip_kernel, 3, "conv3d")


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, nd: int, where: str):
    x, w, b = _conv_operands(input, weight, bias, nd, where, f"(Cin, Cout/groups, {_SPATIAL_NAMES[nd]})")
    stride = _at_least_one(stride, nd, "stride", where)
    dilation = _at_least_one(dilation, nd, "dilation", where)
    padding = expand(padding, nd, "padding", where)
    output_padding = expand(output_padding, nd, "output_padding", where)
    if any(p < 0 for p in padding + output_padding):
        raise WorkloadError(f"{where}: padding and output_padding must be >= 0, not {padding} and {output_padding}")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise WorkloadError(
            f"{where}: output_padding {output_padding} must be smaller than stride {stride} or dilation "
            f"{dilation} in every dimension; reduce output_padding"
        )
    if w.shape[0] != x.shape[1]:
        raise WorkloadError(f"{where}: weight must be (Cin={x.shape[1]}, Cout/groups, ...), not shape {w.shape}")
    groups = _groups(groups, x.shape[1], where)
    cout = w.shape[1] * groups
    if b is not None:
        b = _channel_vector(b, "bias", cout, where)
    kernel = w.shape[2:]
    # Zero-insert the input (stride - 1 zeros between elements) inside a border of d*(k-1) zeros,
    # then crop `padding` from each side: a stride-1 correlation of that with the flipped,
    # in/out-swapped kernel is the transposed convolution.
    spans = [d * (k - 1) for k, d in zip(kernel, dilation)]
    sizes = [(n - 1) * s + 1 + 2 * e + op for n, s, e, op in zip(x.shape[2:], stride, spans, output_padding)]
    for axis, (size, e, p) in enumerate(zip(sizes, spans, padding)):
        if size - 2 * p - e < 1:
            raise WorkloadError(
                f"{where}: padding {p} leaves no output along spatial dim {axis}; reduce padding"
            )
    up = np.zeros(x.shape[:2] + tuple(sizes), dtype=x.dtype)
    up[_spatial(slice(e, e + (n - 1) * s + 1, s) for n, s, e in zip(x.shape[2:], stride, spans))] = x
    up = up[_spatial(slice(p, size - p) for p, size in zip(padding, sizes))]
    w = w.reshape((groups, x.shape[1] // groups, w.shape[1]) + kernel).swapaxes(1, 2)
    w = np.flip(w.reshape((cout, x.shape[1] // groups) + kernel), axis=tuple(range(2, 2 + nd)))
    acc = _correlate(up, w, (1,) * nd, dilation, groups, where)
    return _add_bias(acc, b)


def conv_transpose1d(input, weight, bias=None, stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1, dilation: IntOrTuple = 1) -> np.ndarray:
    """1-D transposed convolution: input (N, Cin, L), weight (Cin, Cout/groups, kL) -> (N, Cout, Lout).

    Same parameters and semantics as :func:`conv_transpose2d`.
    """
    return _conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 1, "conv_transpose1d"
    )


def conv_transpose2d(input, weight, bias=None, stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1, dilation: IntOrTuple = 1) -> np.ndarray:
    """2-D transposed convolution, like ``torch.nn.functional.conv_transpose2d``.

    Computed as zero-insertion upsampling followed by a stride-1 convolution with the flipped,
    in/out-transposed kernel. ``Hout = (H - 1)*stride - 2*padding + dilation*(kH - 1) + output_padding + 1``.

    Parameters
    ----------
    input : array (N, Cin, H, W)
    weight : array (Cin, Cout/groups, kH, kW)
    bias : array (Cout,), optional
    stride, dilation : int or tuple of ints, >= 1
    padding : int or tuple of ints
        Removed from each side of the full output.
    output_padding : int or tuple of ints
        Extra elements on the high side; smaller than stride or dilation.
    groups : int

    Returns
    -------
    array (N, Cout, Hout, Wout)
        int64 for integer inputs (exact), else the inputs' floating-point dtype.
    """
    return _conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 2, "conv_transpose2d"
    )


def conv_transpose3d(input, weight, bias=None, stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1, dilation: IntOrTuple = 1) -> np.ndarray:
    """3-D transposed convolution: input (N, Cin, D, H, W), weight (Cin, Cout/groups, kD, kH, kW).

    Same parameters and semantics as :func:`conv_transpose2d`.
    """
    return _conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation, 3, "conv_transpose3d"
    )


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------


def _pool_geometry(x: np.ndarray, kernel_size, stride, padding, dilation, ceil_mode: bool, nd: int, where: str):
    """Validated ``(kernel, stride, dilation, pads, out)`` of a pooling layer (PyTorch rules)."""
    kernel = _at_least_one(kernel_size, nd, "kernel_size", where)
    stride = kernel if stride is None else _at_least_one(stride, nd, "stride", where)
    dilation = _at_least_one(dilation, nd, "dilation", where)
    pads = resolve_padding(padding, x.shape[2:], kernel, stride, dilation, where)
    if any(max(lo, hi) > k // 2 for k, (lo, hi) in zip(kernel, pads)):
        raise WorkloadError(f"{where}: padding {pads} must be at most half the kernel_size {kernel}; reduce padding")
    out = tuple(window_output_size(n, k, s, d, p, ceil_mode)
                for n, k, s, d, p in zip(x.shape[2:], kernel, stride, dilation, pads))
    if any(o < 1 for o in out):
        raise WorkloadError(
            f"{where}: kernel_size {kernel} does not fit the padded input {x.shape[2:]} (output {out}); "
            f"use a smaller kernel or more padding"
        )
    return kernel, stride, dilation, pads, out


def _pool_windows(x: np.ndarray, kernel, stride, dilation, pads: Pads, out, fill) -> np.ndarray:
    """Windows ``(N, C, *out, *kernel)``; positions outside the input (padding, ceil_mode overhang) hold ``fill``."""
    # The high side is padded as far as the last window reaches, which with ceil_mode can exceed `hi`.
    reach = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out, stride, dilation, kernel)]
    pads = tuple((lo, max(r - n - lo, 0)) for r, n, (lo, _) in zip(reach, x.shape[2:], pads))
    return _windows(_pad(x, pads, fill=fill), kernel, stride, dilation, out)


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, nd: int, where: str) -> np.ndarray:
    x = _activation(input, nd, where)
    kernel, stride, dilation, pads, out = _pool_geometry(
        x, kernel_size, stride, padding, dilation, ceil_mode, nd, where
    )
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    win = _pool_windows(x, kernel, stride, dilation, pads, out, fill)
    return win.max(axis=tuple(range(-nd, 0)))


def max_pool1d(input, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: PaddingSpec = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False) -> np.ndarray:
    """1-D max pooling over input (N, C, L); same parameters and semantics as :func:`max_pool2d`."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 1, "max_pool1d")


def max_pool2d(input, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: PaddingSpec = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False) -> np.ndarray:
    """2-D max pooling, like ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    input : array (N, C, H, W)
    kernel_size : int or tuple of ints
    stride : int or tuple of ints, optional
        Defaults to ``kernel_size``.
    padding : int, tuple or (lo, hi) pairs
        Implicit padding that never wins the max (-inf, or the integer dtype's minimum); at most
        ``kernel_size // 2`` per side.
    dilation : int or tuple of ints
    ceil_mode : bool
        Round the output size up; a last window must still start inside the input or low padding.

    Returns
    -------
    array (N, C, Hout, Wout), same dtype as ``input``
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 2, "max_pool2d")


def max_pool3d(input, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: PaddingSpec = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False) -> np.ndarray:
    """3-D max pooling over input (N, C, D, H, W); same parameters and semantics as :func:`max_pool2d`."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 3, "max_pool3d")


def _avg_divisor(sizes, kernel, stride, pads: Pads, out, count_include_pad: bool) -> np.ndarray:
    """Per-window element count, shaped to broadcast against ``(N, C, *out)``.

    As in PyTorch, with ``count_include_pad`` a window counts the padding it covers but not the
    ceil_mode overhang beyond the high padding; without it, only input elements.
    """
    divisor = np.ones((1, 1) + (1,) * len(out), dtype=np.int64)
    for axis, (n, k, s, (lo, hi), o) in enumerate(zip(sizes, kernel, stride, pads, out)):
        start = np.arange(o) * s - lo
        if count_include_pad:
            count = np.minimum(start + k, n + hi) - start
        else:
            count = np.minimum(start + k, n) - np.maximum(start, 0)
        shape = [1] * divisor.ndim
        shape[2 + axis] = o
        divisor = divisor * count.reshape(shape)
    return divisor


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd: int, where: str):
    x = _activation(input, nd, where)
    kernel, stride, _, pads, out = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode, nd, where)
    acc = x.astype(np.int64) if x.dtype.kind in "iu" else x
    total = _pool_windows(acc, kernel, stride, (1,) * nd, pads, out, 0).sum(axis=tuple(range(-nd, 0)))
    if divisor_override is None:
        divisor = _avg_divisor(x.shape[2:], kernel, stride, pads, out, count_include_pad)
    else:
        divisor = _int_in(divisor_override, "divisor_override", where, 1)
    return _divide(total, divisor)


def _divide(total: np.ndarray, divisor) -> np.ndarray:
    """Integer sums floor-divide (as the hardware's divider does); float sums keep their dtype."""
    if total.dtype.kind == "f":
        return total / np.asarray(divisor, dtype=total.dtype)
    return total // divisor


def avg_pool1d(input, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: PaddingSpec = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> np.ndarray:
    """1-D average pooling over input (N, C, L); same parameters and semantics as :func:`avg_pool2d`."""
    return _avg_pool(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 1, "avg_pool1d"
    )


def avg_pool2d(input, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: PaddingSpec = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> np.ndarray:
    """2-D average pooling, like ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    input : array (N, C, H, W)
    kernel_size : int or tuple of ints
    stride : int or tuple of ints, optional
        Defaults to ``kernel_size``.
    padding : int, tuple or (lo, hi) pairs
        Zero padding, at most ``kernel_size // 2`` per side.
    ceil_mode : bool
        Round the output size up; the overhang past the padding adds nothing and is never counted.
    count_include_pad : bool
        Whether the divisor counts padding positions covered by the window.
    divisor_override : int, optional
        Divide every window sum by this instead.

    Returns
    -------
    array (N, C, Hout, Wout)
        Floats: the mean in the input dtype. Integers: the int64 window sum floor-divided (``//``)
        by the divisor, which is what the accelerator does (sum on the PEs, then divide).
    """
    return _avg_pool(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2, "avg_pool2d"
    )


def avg_pool3d(input, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: PaddingSpec = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> np.ndarray:
    """3-D average pooling over input (N, C, D, H, W); same parameters and semantics as :func:`avg_pool2d`."""
    return _avg_pool(
        input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 3, "avg_pool3d"
    )


def global_avg_pool(input) -> np.ndarray:
    """Mean over all spatial dimensions: (N, C, *spatial) -> (N, C, 1, ..., 1).

    Integer input gives the int64 sum floor-divided by the number of elements, as in :func:`avg_pool2d`.
    """
    x = _tensor(input, "input", "global_avg_pool", min_ndim=3)
    axes = tuple(range(2, x.ndim))
    total = x.sum(axis=axes, keepdims=True, dtype=np.int64 if x.dtype.kind in "iu" else x.dtype)
    return _divide(total, int(np.prod(x.shape[2:])))


# --------------------------------------------------------------------------------------------
# Fully connected, activations, normalization, reshaping
# --------------------------------------------------------------------------------------------


def linear(input, weight, bias=None) -> np.ndarray:
    """Fully connected layer ``input @ weight.T + bias``.

    Parameters
    ----------
    input : array (..., in_features)
    weight : array (out_features, in_features)
    bias : array (out_features,), optional

    Returns
    -------
    array (..., out_features)
        int64 for integer inputs (exact), else the inputs' floating-point dtype.
    """
    where = "linear"
    x = _tensor(input, "input", where, min_ndim=1)
    w = _tensor(weight, "weight", where, 2, "(out_features, in_features)")
    if x.shape[-1] != w.shape[1]:
        raise WorkloadError(
            f"{where}: input has {x.shape[-1]} features but weight expects {w.shape[1]} (weight is (out, in))"
        )
    b = None if bias is None else _channel_vector(bias, "bias", w.shape[0], where)
    dtype = _compute_dtype(*(a for a in (x, w, b) if a is not None))
    if dtype.kind == "f":
        x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    out = _matmul(x, w.T, where)
    return out if b is None else out + b.astype(out.dtype)


def relu(input) -> np.ndarray:
    """``max(input, 0)``, same dtype as ``input``."""
    return np.maximum(_tensor(input, "input", "relu"), 0)


def relu6(input) -> np.ndarray:
    """``min(max(input, 0), 6)``, same dtype as ``input``."""
    return np.clip(_tensor(input, "input", "relu6"), 0, 6)


def leaky_relu(input, negative_slope: float = 0.01) -> np.ndarray:
    """``input`` where positive, else ``negative_slope * input``; floating-point input only."""
    x = _tensor(input, "input", "leaky_relu")
    _require_float(x, "leaky_relu", "requantize integer activations first or convert to float")
    return np.where(x >= 0, x, x * x.dtype.type(negative_slope))


def flatten(input, start_dim: int = 1) -> np.ndarray:
    """Merge dimensions ``start_dim`` ... last into one (e.g. (N, C, H, W) -> (N, C*H*W))."""
    x = _tensor(input, "input", "flatten", min_ndim=1)
    start = _int_in(start_dim, "start_dim", "flatten", -x.ndim, x.ndim - 1) % x.ndim
    return x.reshape(x.shape[:start] + (-1,))


def _bn_affine(running_mean, running_var, gamma, beta, eps: float, channels: int, dtype, where: str):
    """Per-channel ``(scale, shift)`` with ``batch_norm(x) == x * scale + shift``."""
    mean = _channel_vector(running_mean, "running_mean", channels, where).astype(dtype)
    var = _channel_vector(running_var, "running_var", channels, where).astype(dtype)
    if np.any(var + eps <= 0):
        raise WorkloadError(f"{where}: running_var + eps must be > 0 (eps={eps}); check the statistics")
    scale = 1 / np.sqrt(var + dtype.type(eps))
    if gamma is not None:
        scale = scale * _channel_vector(gamma, "weight (gamma)", channels, where).astype(dtype)
    shift = -mean * scale
    if beta is not None:
        shift = shift + _channel_vector(beta, "bias (beta)", channels, where).astype(dtype)
    return scale, shift


def batch_norm(input, running_mean, running_var, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """Inference batch normalization over axis 1: ``(x - mean) / sqrt(var + eps) * weight + bias``.

    ``input`` is floating point (N, C, ...); ``running_mean``, ``running_var``, ``weight`` and
    ``bias`` are (C,). Integer networks fold it into the convolution with :func:`fold_batch_norm`.
    """
    where = "batch_norm"
    x = _tensor(input, "input", where, min_ndim=2)
    _require_float(x, where, "fold it into the preceding conv with fold_batch_norm")
    scale, shift = _bn_affine(running_mean, running_var, weight, bias, eps, x.shape[1], x.dtype, where)
    return x * _per_channel(scale, x.ndim) + _per_channel(shift, x.ndim)


def fold_batch_norm(conv_weight, conv_bias, running_mean, running_var, gamma, beta,
                    eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Fold an inference batch norm into the convolution (or linear layer) before it.

    Parameters
    ----------
    conv_weight : array (Cout, ...)
    conv_bias : array (Cout,) or None
    running_mean, running_var, gamma, beta : arrays (Cout,)
        ``gamma`` / ``beta`` may be None (BN without affine parameters).
    eps : float

    Returns
    -------
    (weight, bias)
        Floating-point arrays with ``conv(x, weight, bias) == batch_norm(conv(x, conv_weight, conv_bias))``.
    """
    where = "fold_batch_norm"
    w = _tensor(conv_weight, "conv_weight", where, min_ndim=2)
    dtype = np.result_type(w.dtype, np.float32)
    scale, shift = _bn_affine(running_mean, running_var, gamma, beta, eps, w.shape[0], dtype, where)
    bias = shift
    if conv_bias is not None:
        bias = bias + _channel_vector(conv_bias, "conv_bias", w.shape[0], where).astype(dtype) * scale
    return w * scale.reshape((-1,) + (1,) * (w.ndim - 1)), bias


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> np.ndarray:
    """Local response normalization across channels, like ``torch.nn.functional.local_response_norm``.

    ``out = x / (k + alpha * mean(x**2 over size channels)) ** beta``, the channel window being
    zero-padded with ``size // 2`` channels before and ``(size - 1) // 2`` after. Input is floating
    point (N, C, ...) with at least one spatial dimension.
    """
    where = "local_response_norm"
    x = _tensor(input, "input", where, min_ndim=3)
    _require_float(x, where, "LRN has no integer form in this model")
    size = _int_in(size, "size", where, 1)
    width = [(0, 0)] * x.ndim
    width[1] = (size // 2, (size - 1) // 2)
    squares = np.pad(x * x, width)
    mean = sliding_window_view(squares, size, axis=1).sum(axis=-1) / x.dtype.type(size)
    return x / (x.dtype.type(k) + x.dtype.type(alpha) * mean) ** x.dtype.type(beta)


def upsample_nearest(input, scale_factor: IntOrTuple) -> np.ndarray:
    """Nearest-neighbour upsampling by an integer factor per spatial dimension (each element repeated)."""
    where = "upsample_nearest"
    x = _tensor(input, "input", where, min_ndim=3)
    factors = _at_least_one(scale_factor, x.ndim - 2, "scale_factor", where)
    for axis, factor in enumerate(factors, start=2):
        x = np.repeat(x, factor, axis=axis)
    return x


def add(a, b) -> np.ndarray:
    """Elementwise sum of two same-shape tensors (a residual connection); integers add in int64."""
    x = _tensor(a, "a", "add")
    y = _tensor(b, "b", "add")
    if x.shape != y.shape:
        raise WorkloadError(f"add: a and b must have the same shape, not {x.shape} and {y.shape}")
    dtype = _compute_dtype(x, y)
    return x.astype(dtype) + y.astype(dtype)


def concat(tensors: Sequence, dim: int = 1) -> np.ndarray:
    """Concatenate tensors along ``dim`` (channels by default); other dimensions must match."""
    arrays = [_tensor(t, f"tensors[{i}]", "concat") for i, t in enumerate(tensors)]
    if not arrays:
        raise WorkloadError("concat: tensors must hold at least one array")
    ndim = arrays[0].ndim
    dim = _int_in(dim, "dim", "concat", -ndim, ndim - 1) % ndim
    for i, a in enumerate(arrays):
        if a.ndim != ndim or a.shape[:dim] + a.shape[dim + 1:] != arrays[0].shape[:dim] + arrays[0].shape[dim + 1:]:
            raise WorkloadError(
                f"concat: tensors[{i}] has shape {a.shape}, which differs from tensors[0] {arrays[0].shape} "
                f"outside dim {dim}"
            )
    return np.concatenate(arrays, axis=dim)


# --------------------------------------------------------------------------------------------
# Requantization (the accelerator's output stage)
# --------------------------------------------------------------------------------------------


def _requant_param(value, name: str, low: int, high: int, acc: np.ndarray) -> np.ndarray:
    """An int in ``[low, high]`` or a 1-D array of them, one per channel (axis 1 of ``acc``)."""
    where = "requantize"
    array = np.asarray(value)
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise WorkloadError(f"{where}: {name} must be an int or a 1-D integer array (one per channel), not {value!r}")
    if array.size and (array.min() < low or array.max() > high):
        raise WorkloadError(f"{where}: {name} must be in [{low}, {high}], not {value!r}")
    if array.ndim == 0:
        return array.astype(np.int64)
    if acc.ndim < 2 or array.shape[0] != acc.shape[1]:
        raise WorkloadError(
            f"{where}: per-channel {name} has {array.shape[0]} entries but acc {acc.shape} has "
            f"{acc.shape[1] if acc.ndim >= 2 else 'no'} channels on axis 1"
        )
    return _per_channel(array.astype(np.int64), acc.ndim)


def requantize(acc, scale, shift, zero_point: int = 0, out_dtype=np.int8, relu: bool = False) -> np.ndarray:
    """Scale an integer accumulator down to a narrow output type, as the accelerator does.

    ``y = saturate(((acc * scale + 2**(shift-1)) >> shift) + zero_point)``: a fixed-point multiply,
    an arithmetic right shift that rounds half up (towards +infinity, so 2.5 -> 3 and -2.5 -> -2;
    no rounding term when ``shift == 0``), the output zero point, an optional ReLU (clamp at
    ``zero_point``), then saturation to the range of ``out_dtype``.

    Parameters
    ----------
    acc : integer array (N, C, ...)
        Accumulator values (typically int32 or int64).
    scale : int or 1-D int array (C,)
        Positive multiplier, per tensor or per channel (axis 1).
    shift : int or 1-D int array (C,)
        Right shift in bits, 0 ... 62.
    zero_point : int
        Output zero point, within the range of ``out_dtype``.
    out_dtype : integer dtype
    relu : bool

    Returns
    -------
    array of ``out_dtype``, same shape as ``acc``
    """
    where = "requantize"
    a = _tensor(acc, "acc", where)
    if a.dtype.kind not in "iu":
        raise WorkloadError(f"{where}: acc must be an integer array, not dtype {a.dtype}")
    out_dtype = np.dtype(out_dtype)
    if out_dtype.kind not in "iu":
        raise WorkloadError(f"{where}: out_dtype must be an integer dtype, not {out_dtype}")
    info = np.iinfo(out_dtype)
    zero_point = _int_in(zero_point, "zero_point", where, int(info.min), int(info.max))
    m = _requant_param(scale, "scale", 1, _INT64_LIMIT - 1, a)
    s = _requant_param(shift, "shift", 0, _MAX_SHIFT, a)
    if _abs_max(a) * int(m.max()) >= 2**62:
        raise WorkloadError(
            f"{where}: acc * scale could overflow int64 (max|acc| {_abs_max(a)}, scale {int(m.max())}); "
            f"use a smaller scale"
        )
    product = a.astype(np.int64) * m
    y = (product + ((1 << s) >> 1)) >> s
    y = y + zero_point
    if relu:
        y = np.maximum(y, zero_point)
    return np.clip(y, info.min, info.max).astype(out_dtype)


def choose_requant(max_abs_acc: int, out_bits: int = 8) -> tuple[int, int]:
    """Pick ``(scale, shift)`` so that :func:`requantize` maps ``max_abs_acc`` to the largest output.

    The multiplier is below ``2**15`` and as precise as that allows; ``max_abs_acc * scale / 2**shift``
    never exceeds ``2**(out_bits-1) - 1`` (127 for 8 bits), so nothing in ``[-max_abs_acc,
    max_abs_acc]`` saturates.

    Parameters
    ----------
    max_abs_acc : int >= 0
        Largest accumulator magnitude to represent.
    out_bits : int, 2 ... 16

    Returns
    -------
    (scale, shift) : (int, int)
    """
    where = "choose_requant"
    top = 2 ** (_int_in(out_bits, "out_bits", where, 2, 16) - 1) - 1
    max_abs_acc = max(_int_in(max_abs_acc, "max_abs_acc", where, 0), 1)
    shift = 0
    while shift < _MAX_SHIFT and (top << (shift + 1)) // max_abs_acc < 2**_REQUANT_SCALE_BITS:
        shift += 1
    scale = (top << shift) // max_abs_acc
    if scale < 1:
        raise WorkloadError(f"{where}: max_abs_acc {max_abs_acc} is too large for a shift of at most {_MAX_SHIFT}")
    return scale, shift
