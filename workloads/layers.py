"""The layer IR: frozen, validated descriptions of what each layer computes.

A layer on its own checks its own fields; :meth:`Layer.infer` checks it against its input shapes
(batch first: ``(N, C, *spatial)``) and returns the output shape. Counts follow the usual
conventions: parameters as PyTorch counts them (BatchNorm: gamma and beta), MACs are
multiply-accumulates of the layer's arithmetic, FLOPs count a MAC as two operations and every
other output-producing operation (compare, add, activation) as one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from workloads.errors import WorkloadError
from workloads.shapes import PADDING_MODES, PaddingSpec, Pads, expand, resolve_padding, window_output_size

Shape = tuple[int, ...]

# Limits that keep every count the simulator derives from a layer (elements, MACs, bytes, tile
# sizes, cycles) inside int64, with room for the products the tiler and the engines form.
DIM_LIMIT = 2**24
"""Most a size field (channels, features, kernel, stride, dilation, padding, scale factor) or a
non-batch input dimension may be: 16,777,216, beyond any CNN's (VGG16's largest is 25,088)."""
ELEMENT_LIMIT = 2**40
"""Most elements a tensor (including a padded input) may hold: about 10**12."""
OPS_LIMIT = 2**56
"""Most operations (FLOPs: a MAC counts two) one layer may perform: about 7 * 10**16."""


@dataclass(frozen=True)
class Reach:
    """Receptive field of a tensor, per spatial dimension, in network-input elements.

    ``size`` is the window of input elements one output element sees; ``jump`` is the distance
    in input elements between two adjacent output elements (a fraction after upsampling).
    """

    size: tuple[int, ...]
    jump: tuple[Fraction, ...]

    def through_window(self, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]) -> Reach:
        size = tuple(
            r + math.ceil((d * (k - 1)) * j) for r, k, d, j in zip(self.size, kernel, dilation, self.jump)
        )
        return Reach(size, tuple(j * s for j, s in zip(self.jump, stride)))


@dataclass(frozen=True, kw_only=True)
class Layer:
    """Base of every layer: a unique ``name`` and the names of the layers it reads.

    ``inputs`` empty means "the previous layer" (or the network input for the first layer);
    the name ``"input"`` refers to the network input explicitly.
    """

    name: str
    inputs: tuple[str, ...] = ()
    kind: ClassVar[str] = "layer"
    arity: ClassVar[int] = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise WorkloadError(f"layer name must be a non-empty string, not {self.name!r}")
        inputs = (self.inputs,) if isinstance(self.inputs, str) else tuple(self.inputs)
        object.__setattr__(self, "inputs", inputs)

    def fail(self, field_name: str, message: str) -> WorkloadError:
        """A :class:`WorkloadError` naming this layer and the offending field."""
        return WorkloadError(f"layer {self.name!r} ({self.kind}): {field_name} {message}")

    def positive(self, field_name: str, value, ndim: int | None = None) -> tuple[int, ...] | int:
        """Validate a positive int (``ndim`` None) or an ``ndim``-tuple of positive ints."""
        values = expand(value, ndim or 1, field_name, f"layer {self.name!r} ({self.kind})")
        if any(v < 1 for v in values):
            raise self.fail(field_name, f"must be >= 1, not {value!r}")
        self.at_most(field_name, values)
        return values if ndim else values[0]

    def at_most(self, field_name: str, values: tuple[int, ...]) -> None:
        """Refuse a size field above :data:`DIM_LIMIT`."""
        if any(v > DIM_LIMIT for v in values):
            raise self.fail(field_name, f"must be at most 2**24 ({DIM_LIMIT:,}), not {max(values)}")

    def kernel_ndim(self, kernel) -> int:
        """Spatial dims set by a kernel size: 2 for an int, else its length (1, 2 or 3)."""
        if isinstance(kernel, int):
            return 2
        try:
            ndim = len(tuple(kernel))
        except TypeError:
            ndim = 0
        if ndim not in (1, 2, 3):
            raise self.fail("kernel_size", f"must be an int or a tuple of 1, 2 or 3 ints, not {kernel!r}")
        return ndim

    def _set(self, **values) -> None:
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def check_inputs(self, in_shapes: list[Shape]) -> None:
        if self.arity and len(in_shapes) != self.arity:
            raise self.fail("inputs", f"must name {self.arity} input(s), not {len(in_shapes)}")

    def infer(self, in_shapes: list[Shape]) -> Shape:
        """Validate against the input shapes and return the output shape."""
        raise NotImplementedError

    def params(self, in_shapes: list[Shape]) -> int:
        """Trainable parameter count."""
        return 0

    def macs(self, in_shapes: list[Shape]) -> int:
        """Multiply-accumulate operations for one forward pass of the whole batch."""
        return 0

    def flops(self, in_shapes: list[Shape]) -> int:
        """Floating-point operations (a MAC counts as two) for one forward pass."""
        return 2 * self.macs(in_shapes)

    def reach(self, in_reaches: list[Reach], in_shapes: list[Shape]) -> Reach:
        """Receptive field of the output given those of the inputs."""
        return in_reaches[0]


def _spatial(layer: Layer, shape: Shape, ndim: int) -> tuple[int, ...]:
    if len(shape) != ndim + 2:
        raise layer.fail("input", f"must be a {ndim + 2}-D tensor (N, C, {ndim} spatial dims), not shape {shape}")
    return shape[2:]


def _global_reach(in_reach: Reach, in_shape: Shape) -> Reach:
    """Receptive field of an output that sees its whole input (flatten, FC, global pooling)."""
    spatial = in_shape[2:]
    size = tuple(r + math.ceil((n - 1) * j) for r, n, j in zip(in_reach.size, spatial, in_reach.jump))
    return Reach(size, in_reach.jump)


# ---------------------------------------------------------------------------------------------
# Sliding-window layers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Conv(Layer):
    """Convolution with 1, 2 or 3 spatial dims (set by ``len(kernel_size)``; an int means 2-D).

    ``padding``: int, one int per dim, one ``(lo, hi)`` pair per dim, ``'same'`` or ``'valid'``.
    ``flip_kernel`` selects true convolution; the default is cross-correlation, like PyTorch.
    """

    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    padding: PaddingSpec = 0
    padding_mode: str = "zeros"
    dilation: int | tuple[int, ...] = 1
    groups: int = 1
    bias: bool = True
    flip_kernel: bool = False
    kind: ClassVar[str] = "conv"

    def __post_init__(self) -> None:
        super().__post_init__()
        k = self.kernel_size
        ndim = self.kernel_ndim(k)
        self._set(
            kernel_size=self.positive("kernel_size", k, ndim),
            stride=self.positive("stride", self.stride, ndim),
            dilation=self.positive("dilation", self.dilation, ndim),
            in_channels=self.positive("in_channels", self.in_channels),
            out_channels=self.positive("out_channels", self.out_channels),
            groups=self.positive("groups", self.groups),
        )
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise self.fail(
                "groups",
                f"({self.groups}) must divide in_channels ({self.in_channels}) and out_channels ({self.out_channels})",
            )
        if self.padding_mode not in PADDING_MODES:
            raise self.fail("padding_mode", f"must be one of {', '.join(PADDING_MODES)}, not {self.padding_mode!r}")
        # Validate the spec now; the input size only matters for 'same'.
        self.at_most("padding", tuple(p for pair in self.pads((1,) * ndim) for p in pair))

    @property
    def ndim(self) -> int:
        return len(self.kernel_size)

    def pads(self, in_size: tuple[int, ...]) -> Pads:
        """Explicit ``(lo, hi)`` padding per dimension for an input of ``in_size``."""
        return resolve_padding(
            self.padding, in_size, self.kernel_size, self.stride, self.dilation, f"layer {self.name!r} (conv)"
        )

    def infer(self, in_shapes: list[Shape]) -> Shape:
        self.check_inputs(in_shapes)
        (shape,) = in_shapes
        spatial = _spatial(self, shape, self.ndim)
        if shape[1] != self.in_channels:
            raise self.fail("in_channels", f"is {self.in_channels} but the input has {shape[1]} channels")
        pads = self.pads(spatial)
        padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads))
        if math.prod(shape[:2]) * math.prod(padded) > ELEMENT_LIMIT:
            raise self.fail("padding", f"{pads} makes the padded input {(*shape[:2], *padded)} hold more than "
                                       f"2**40 elements")  # fmt: skip
        if self.padding_mode == "reflect" and any(max(p) >= n for p, n in zip(pads, spatial)):
            raise self.fail("padding", f"{pads} must be smaller than the input size {spatial} for reflect padding")
        if self.padding_mode == "circular" and any(max(p) > n for p, n in zip(pads, spatial)):
            raise self.fail("padding", f"{pads} must not exceed the input size {spatial} for circular padding")
        out = []
        for n, k, s, d, p in zip(spatial, self.kernel_size, self.stride, self.dilation, pads):
            o = window_output_size(n, k, s, d, p)
            if o < 1:
                raise self.fail(
                    "kernel_size",
                    f"{self.kernel_size} with dilation {self.dilation} is larger than the padded input {padded}",
                )
            out.append(o)
        return (shape[0], self.out_channels, *out)

    def params(self, in_shapes: list[Shape]) -> int:
        weights = self.out_channels * (self.in_channels // self.groups) * math.prod(self.kernel_size)
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, in_shapes: list[Shape]) -> int:
        out = self.infer(in_shapes)
        return math.prod(out) * (self.in_channels // self.groups) * math.prod(self.kernel_size)

    def reach(self, in_reaches: list[Reach], in_shapes: list[Shape]) -> Reach:
        return in_reaches[0].through_window(self.kernel_size, self.stride, self.dilation)


@dataclass(frozen=True, kw_only=True)
class ConvTranspose(Layer):
    """Transposed convolution (PyTorch semantics); runs as zero-insertion upsampling + conv."""

    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    padding: int | tuple[int, ...] = 0
    output_padding: int | tuple[int, ...] = 0
    dilation: int | tuple[int, ...] = 1
    groups: int = 1
    bias: bool = True
    kind: ClassVar[str] = "conv_transpose"

    def __post_init__(self) -> None:
        super().__post_init__()
        k = self.kernel_size
        ndim = self.kernel_ndim(k)
        where = f"layer {self.name!r} ({self.kind})"
        self._set(
            kernel_size=self.positive("kernel_size", k, ndim),
            stride=self.positive("stride", self.stride, ndim),
            dilation=self.positive("dilation", self.dilation, ndim),
            padding=expand(self.padding, ndim, "padding", where),
            output_padding=expand(self.output_padding, ndim, "output_padding", where),
            in_channels=self.positive("in_channels", self.in_channels),
            out_channels=self.positive("out_channels", self.out_channels),
            groups=self.positive("groups", self.groups),
        )
        if any(p < 0 for p in self.padding):
            raise self.fail("padding", f"must be >= 0, not {self.padding}")
        self.at_most("padding", self.padding)
        if any(op < 0 or (op >= s and op >= d) for op, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise self.fail("output_padding", f"{self.output_padding} must be >= 0 and smaller than stride or dilation")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise self.fail("groups", f"({self.groups}) must divide in_channels and out_channels")

    @property
    def ndim(self) -> int:
        return len(self.kernel_size)

    def infer(self, in_shapes: list[Shape]) -> Shape:
        self.check_inputs(in_shapes)
        (shape,) = in_shapes
        spatial = _spatial(self, shape, self.ndim)
        if shape[1] != self.in_channels:
            raise self.fail("in_channels", f"is {self.in_channels} but the input has {shape[1]} channels")
        out = tuple(
            (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            for n, k, s, p, op, d in zip(
                spatial, self.kernel_size, self.stride, self.padding, self.output_padding, self.dilation
            )
        )
        if any(o < 1 for o in out):
            raise self.fail("padding", f"{self.padding} removes the whole output (size {out})")
        return (shape[0], self.out_channels, *out)

    def params(self, in_shapes: list[Shape]) -> int:
        weights = self.in_channels * (self.out_channels // self.groups) * math.prod(self.kernel_size)
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, in_shapes: list[Shape]) -> int:
        return math.prod(in_shapes[0]) * (self.out_channels // self.groups) * math.prod(self.kernel_size)

    def reach(self, in_reaches: list[Reach], in_shapes: list[Shape]) -> Reach:
        r = in_reaches[0]
        size = tuple(
            x + math.ceil((math.ceil((d * (k - 1) + 1) / s) - 1) * j)
            for x, k, s, d, j in zip(r.size, self.kernel_size, self.stride, self.dilation, r.jump)
        )
        return Reach(size, tuple(j / s for j, s in zip(r.jump, self.stride)))


@dataclass(frozen=True, kw_only=True)
class Pool(Layer):
    """Max or average pooling over 1, 2 or 3 spatial dims (PyTorch semantics).

    ``stride`` defaults to ``kernel_size``. ``dilation`` applies to max pooling only.
    ``padding``: an int, one int per dim, or one ``(lo, hi)`` pair per dim (asymmetric, as ONNX
    pools and ``SAME`` auto-padding need); symmetric pairs are stored as one int per dim.
    """

    mode: str
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] | None = None
    padding: int | tuple[int, ...] | tuple[tuple[int, int], ...] = 0
    dilation: int | tuple[int, ...] = 1
    ceil_mode: bool = False
    count_include_pad: bool = True
    kind: ClassVar[str] = "pool"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("max", "avg"):
            raise self.fail("mode", f"must be 'max' or 'avg', not {self.mode!r}")
        k = self.kernel_size
        ndim = self.kernel_ndim(k)
        kernel = self.positive("kernel_size", k, ndim)
        where = f"layer {self.name!r} ({self.kind})"
        self._set(
            kernel_size=kernel,
            stride=kernel if self.stride is None else self.positive("stride", self.stride, ndim),
            dilation=self.positive("dilation", self.dilation, ndim),
        )
        if isinstance(self.padding, str):
            raise self.fail("padding", f"must be an int, a tuple of ints or (lo, hi) pairs, not {self.padding!r}")
        pads = resolve_padding(self.padding, (1,) * ndim, kernel, self.stride, self.dilation, where)
        symmetric = all(lo == hi for lo, hi in pads)
        self._set(padding=tuple(lo for lo, _ in pads) if symmetric else pads)
        if self.mode == "avg" and any(d != 1 for d in self.dilation):
            raise self.fail("dilation", "is only supported for max pooling")
        if any(2 * max(p) > k for p, k in zip(pads, kernel)):
            raise self.fail("padding", f"{self.padding} must be >= 0 and at most half the kernel {kernel}")

    @property
    def ndim(self) -> int:
        return len(self.kernel_size)

    def pads(self, in_size: tuple[int, ...] | None = None) -> Pads:
        """Explicit ``(lo, hi)`` padding per dimension (``in_size`` is accepted for symmetry with Conv)."""
        if self.padding and isinstance(self.padding[0], tuple):
            return self.padding
        return tuple((p, p) for p in self.padding)

    @property
    def kind_label(self) -> str:
        return f"{self.mode}pool"

    def infer(self, in_shapes: list[Shape]) -> Shape:
        self.check_inputs(in_shapes)
        (shape,) = in_shapes
        spatial = _spatial(self, shape, self.ndim)
        out = []
        for n, k, s, d, p in zip(spatial, self.kernel_size, self.stride, self.dilation, self.pads()):
            o = window_output_size(n, k, s, d, p, self.ceil_mode)
            if o < 1:
                raise self.fail("kernel_size", f"{self.kernel_size} is larger than the padded input {spatial}")
            out.append(o)
        return (shape[0], shape[1], *out)

    def flops(self, in_shapes: list[Shape]) -> int:
        return math.prod(self.infer(in_shapes)) * math.prod(self.kernel_size)

    def reach(self, in_reaches: list[Reach], in_shapes: list[Shape]) -> Reach:
        return in_reaches[0].through_window(self.kernel_size, self.stride, self.dilation)


@dataclass(frozen=True, kw_only=True)
class GlobalAvgPool(Layer):
    """Average over all spatial positions; output ``(N, C, 1, ...)``."""

    kind: ClassVar[str] = "global_avgpool"

    def infer(self, in_shapes: list[Shape]) -> Shape:
        self.check_inputs(in_shapes)
        (shape,) = in_shapes
        if len(shape) < 3:
            raise self.fail("input", f"needs spatial dims, got shape {shape}")
        return (shape[0], shape[1]) + (1,) * (len(shape) - 2)

    def flops(self, in_shapes: list[Shape]) -> int:
        return math.prod(in_shapes[0])

    def reach(self, in_reaches: list[Reach], in_shapes: list[Shape]) -> Reach:
        return _global_reach(in_reaches[0], in_shapes[0])


# ---------------------------------------------------------------------------------------------
# Dense and elementwise layers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Linear(Layer):
    """Fully connected layer on a ``(N, in_features)`` input."""

    in_features: int
    out_features: int
    bias: bool = True
    kind: ClassVar[str] = "linear"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set(
            in_features=self.positive("in_features", self.in_features),
            out_features=self.positive("out_features", self.out_features),
        )

    def infer(self, in_shapes: list[Shape]) -> Shape:
        self.check_inputs(in_shapes)
        (shape,) = in_shapes
        if len(shape) != 2 or shape[1] != self.in_features:
            raise self.fail(
                "in_features", f"is {self.in_features} but the input has shape {shape} (add a Flatten before it?)"
            )
        return (shape[0], self.out_features)

    def params(self, in_shapes: list[Shape]) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def macs(self, in_shapes: list[Shape]) -> int:
        return in_shapes[0][0] * self.in_features * self.out_features


class _ShapePreserving(Layer):
    """Mixin for one-input layers whose output has the input's shape."""

    def infer(self, in_shapes: list[Shape]) -> Shape:
        self.check_inputs(in_shapes)
        return in_shapes[0]

    def flops(self, in_shapes: list[Shape]) -> int:
        return math.prod(in_shapes[0])


ACTIVATIONS = ("relu", "relu6", "leaky_relu")


@dataclass(frozen=True, kw_only=True)
class Activation(_ShapePreserving):
    """Elementwise activation: ``relu``, ``relu6`` or ``leaky_relu`` (slope ``negative_slope``)."""

    function: str = "relu"
    negative_slope: float = 0.01
    kind: ClassVar[str] = "activation"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.function not in ACTIVATIONS:
            raise self.fail("function", f"must be one of {', '.join(ACTIVATIONS)}, not {self.function!r}")


@dataclass(frozen=True, kw_only=True)
class BatchNorm(_ShapePreserving):
    """Inference batch normalisation; foldable into a preceding convolution."""

    num_features: int
    eps: float = 1e-5
    kind: ClassVar[str] = "batchnorm"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set(num_features=self.positive("num_features", self.num_features))

    def infer(self, in_shapes: list[Shape]) -> Shape:
        shape = super().infer(in_shapes)
        if len(shape) < 2 or shape[1] != self.num_features:
            raise self.fail("num_features", f"is {self.num_features} but the input has shape {shape}")
        return shape

    def params(self, in_shapes: list[Shape]) -> int:
        return 2 * self.num_features


@dataclass(frozen=True, kw_only=True)
class LocalResponseNorm(_ShapePreserving):
    """Cross-channel local response normalisation (AlexNet, VGG-A-LRN), PyTorch semantics."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0
    kind: ClassVar[str] = "lrn"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set(size=self.positive("size", self.size))

    def flops(self, in_shapes: list[Shape]) -> int:
        # size squares and adds per element, plus scale, power and divide.
        return math.prod(in_shapes[0]) * (2 * self.size + 3)


@dataclass(frozen=True, kw_only=True)
class Upsample(Layer):
    """Integer-factor upsampling: ``'nearest'`` repeats elements, ``'zeros'`` inserts zeros."""

    scale_factor: int | tuple[int, ...] = 2
    mode: str = "nearest"
    kind: ClassVar[str] = "upsample"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("nearest", "zeros"):
            raise self.fail("mode", f"must be 'nearest' or 'zeros', not {self.mode!r}")
        sf = self.scale_factor
        self.positive("scale_factor", sf, len(sf) if isinstance(sf, (tuple, list)) else None)

    def factors(self, ndim: int) -> tuple[int, ...]:
        return self.positive("scale_factor", self.scale_factor, ndim)

    def infer(self, in_shapes: list[Shape]) -> Shape:
        self.check_inputs(in_shapes)
        (shape,) = in_shapes
        if len(shape) < 3:
            raise self.fail("input", f"needs spatial dims, got shape {shape}")
        f = self.factors(len(shape) - 2)
        return shape[:2] + tuple(n * s for n, s in zip(shape[2:], f))

    def reach(self, in_reaches: list[Reach], in_shapes: list[Shape]) -> Reach:
        r = in_reaches[0]
        return Reach(r.size, tuple(j / s for j, s in zip(r.jump, self.factors(len(r.size)))))


@dataclass(frozen=True, kw_only=True)
class Flatten(Layer):
    """Flatten all dims from ``start_dim`` on (default: everything but the batch)."""

    start_dim: int = 1
    kind: ClassVar[str] = "flatten"

    def infer(self, in_shapes: list[Shape]) -> Shape:
        self.check_inputs(in_shapes)
        (shape,) = in_shapes
        if not 1 <= self.start_dim < len(shape):
            raise self.fail("start_dim", f"must be between 1 and {len(shape) - 1}, not {self.start_dim}")
        return shape[: self.start_dim] + (math.prod(shape[self.start_dim :]),)

    def reach(self, in_reaches: list[Reach], in_shapes: list[Shape]) -> Reach:
        return _global_reach(in_reaches[0], in_shapes[0])


@dataclass(frozen=True, kw_only=True)
class Add(Layer):
    """Elementwise sum of two or more tensors of one shape (residual connections)."""

    kind: ClassVar[str] = "add"
    arity: ClassVar[int] = 0

    def infer(self, in_shapes: list[Shape]) -> Shape:
        if len(in_shapes) < 2:
            raise self.fail("inputs", f"must name at least 2 layers, not {len(in_shapes)}")
        if any(s != in_shapes[0] for s in in_shapes):
            raise self.fail("inputs", f"must all have the same shape, not {in_shapes}")
        return in_shapes[0]

    def flops(self, in_shapes: list[Shape]) -> int:
        return math.prod(in_shapes[0]) * (len(in_shapes) - 1)

    def reach(self, in_reaches: list[Reach], in_shapes: list[Shape]) -> Reach:
        return _widest(in_reaches)


@dataclass(frozen=True, kw_only=True)
class Concat(Layer):
    """Concatenation along ``dim`` (default: channels)."""

    dim: int = 1
    kind: ClassVar[str] = "concat"
    arity: ClassVar[int] = 0

    def infer(self, in_shapes: list[Shape]) -> Shape:
        if len(in_shapes) < 2:
            raise self.fail("inputs", f"must name at least 2 layers, not {len(in_shapes)}")
        first = in_shapes[0]
        if not 1 <= self.dim < len(first):
            raise self.fail("dim", f"must be between 1 and {len(first) - 1}, not {self.dim}")
        for s in in_shapes:
            if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first)) if i != self.dim):
                raise self.fail("inputs", f"must match except along dim {self.dim}, not {in_shapes}")
        return first[: self.dim] + (sum(s[self.dim] for s in in_shapes),) + first[self.dim + 1 :]

    def reach(self, in_reaches: list[Reach], in_shapes: list[Shape]) -> Reach:
        return _widest(in_reaches)


def _widest(reaches: list[Reach]) -> Reach:
    size = tuple(max(r.size[i] for r in reaches) for i in range(len(reaches[0].size)))
    jump = tuple(max(r.jump[i] for r in reaches) for i in range(len(reaches[0].jump)))
    return Reach(size, jump)


LAYER_TYPES: tuple[type[Layer], ...] = (
    Conv, ConvTranspose, Pool, GlobalAvgPool, Linear, Activation, BatchNorm, LocalResponseNorm,
    Upsample, Flatten, Add, Concat,
)  # fmt: skip
