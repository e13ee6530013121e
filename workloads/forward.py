"""Whole-network golden forward with deterministic random parameters, in int8 or float32.

int8 semantics (what the accelerator computes): int8 activations and weights, int32 biases;
a conv / linear layer produces ``requantize(acc + bias, scale, shift)`` as int8, with per-layer
``scale, shift`` calibrated once (:func:`calibrate`) so the largest accumulator maps to the int8
range; pooling and activations act on int8 values (integer average pools floor-divide); Add
saturates to int8. BatchNorm is taken as already folded into the preceding convolution (the
random weights stand for folded weights), so it is the identity here, except in float32 mode when
``params`` holds its per-channel ``(scale, shift)`` (an imported model's unfolded BatchNorm). LRN and
leaky ReLU have no integer form and are rejected in int8 mode.

Networks that carry their own weights (importers set ``network.weights``, float32
:class:`NetworkParams`) get them from :func:`network_params`, quantized to int8 by
:func:`quantize_params` when int8 is asked for; other networks get :func:`random_params`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from workloads import golden
from workloads.errors import WorkloadError
from workloads.layers import (
    Activation,
    Add,
    BatchNorm,
    Concat,
    Conv,
    ConvTranspose,
    Flatten,
    GlobalAvgPool,
    Linear,
    LocalResponseNorm,
    Pool,
    Upsample,
)
from workloads.network import INPUT, Network, Node

WEIGHT_RANGE = 64  # int8 weights are drawn from [-64, 64): room for sums without saturating at once


@dataclass
class LayerParams:
    """Parameters of one weighted layer: weight, bias and (int8 mode) requantization."""

    weight: np.ndarray
    bias: np.ndarray | None
    scale: int = 1
    shift: int = 0


@dataclass
class NetworkParams:
    """Parameters of every weighted layer by name, and the dtype they are for.

    ``scales`` (int8 params made by :func:`quantize_params` only): the real value of one int8
    step of the network input (key ``'input'``) and of each layer's output.
    """

    dtype: str  # 'int8' or 'float32'
    layers: dict[str, LayerParams] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)


def weight_shape(node: Node) -> tuple[int, ...] | None:
    """Weight tensor shape of a layer (``None`` when it has no weights)."""
    layer = node.layer
    if isinstance(layer, Conv):
        return (layer.out_channels, layer.in_channels // layer.groups, *layer.kernel_size)
    if isinstance(layer, ConvTranspose):
        return (layer.in_channels, layer.out_channels // layer.groups, *layer.kernel_size)
    if isinstance(layer, Linear):
        return (layer.out_features, layer.in_features)
    return None


def random_params(network: Network, dtype: str = "int8", seed: int = 0) -> NetworkParams:
    """Deterministic random weights and biases for every weighted layer of ``network``."""
    if dtype not in ("int8", "float32"):
        raise WorkloadError(f"dtype must be 'int8' or 'float32', not {dtype!r}")
    rng = np.random.default_rng(seed)
    params = NetworkParams(dtype)
    for node in network:
        shape = weight_shape(node)
        if shape is None:
            continue
        channels = node.out_shape[1]
        has_bias = node.layer.bias
        if dtype == "int8":
            weight = rng.integers(-WEIGHT_RANGE, WEIGHT_RANGE, size=shape, dtype=np.int8)
            bias = rng.integers(-(2**12), 2**12, size=channels, dtype=np.int32) if has_bias else None
        else:
            fan_in = math.prod(shape[1:])
            weight = rng.standard_normal(shape, dtype=np.float32) * np.float32(math.sqrt(2.0 / fan_in))
            bias = rng.standard_normal(channels, dtype=np.float32) * np.float32(0.01) if has_bias else None
        params.layers[node.name] = LayerParams(weight, bias)
    return params


def network_params(network: Network, dtype: str = "int8", seed: int = 0) -> NetworkParams:
    """The network's own weights when it carries them, else :func:`random_params`.

    Imported networks (:mod:`workloads.onnx_import`) carry float32 weights in ``network.weights``;
    for ``dtype='int8'`` they are quantized with :func:`quantize_params`, calibrated on the
    deterministic float input ``random_input(network, 'float32', seed + 1)``.
    """
    weights = getattr(network, "weights", None)
    if not isinstance(weights, NetworkParams) or not weights.layers:
        return random_params(network, dtype, seed)
    if dtype == "float32":
        return NetworkParams("float32", {k: LayerParams(p.weight, p.bias) for k, p in weights.layers.items()})
    if dtype != "int8":
        raise WorkloadError(f"dtype must be 'int8' or 'float32', not {dtype!r}")
    return quantize_params(network, weights, random_input(network, "float32", seed + 1))


def quantize_params(network: Network, params: NetworkParams, x: np.ndarray) -> NetworkParams:
    """int8 parameters from float32 ones, calibrated on the float input ``x``.

    Symmetric per-layer quantization: the input and each weight tensor map their largest
    magnitude to 127; biases become int32 at the accumulator's scale (input step x weight step);
    each layer's requantization is calibrated on ``x`` as :func:`calibrate` does, which fixes the
    step of its output. Steps pass unchanged through pooling, activations and reshapes; Add and
    Concat take the largest step of their inputs (an approximation: the int8 forward adds raw
    codes). Unfolded BatchNorm is the identity in int8, as everywhere. The result's ``scales``
    give the real value of one step of every output, so ``out * scales[name]`` approximates the
    float forward.
    """
    if params.dtype != "float32":
        raise WorkloadError(f"quantize_params needs float32 params, not {params.dtype}")
    x = np.asarray(x, dtype=np.float32)
    if x.shape != network.input_shape:
        raise WorkloadError(f"input shape {x.shape} does not match the network input {network.input_shape}")
    tiny = np.float32(1e-12)
    scale_in = float(max(np.max(np.abs(x)), tiny)) / 127
    q = NetworkParams("int8", scales={INPUT: scale_in})
    outputs = {INPUT: np.clip(np.rint(x / scale_in), -127, 127).astype(np.int8)}
    for node in network:
        args = [outputs[name] for name in node.inputs]
        in_scales = [q.scales[name] for name in node.inputs]
        p = params.layers.get(node.name)
        if p is not None and weight_shape(node) is not None:
            w_scale = float(max(np.max(np.abs(p.weight)), tiny)) / 127
            acc_scale = in_scales[0] * w_scale
            weight = np.clip(np.rint(p.weight / w_scale), -127, 127).astype(np.int8)
            bias = None
            if p.bias is not None:
                limit = np.iinfo(np.int32)
                bias = np.clip(np.rint(p.bias / acc_scale), limit.min, limit.max).astype(np.int32)
            lp = q.layers[node.name] = LayerParams(weight, bias)
            outputs[node.name] = layer_forward(node, args, q, calibrating=True)
            q.scales[node.name] = acc_scale * 2.0**lp.shift / lp.scale
        else:
            outputs[node.name] = layer_forward(node, args, q)
            q.scales[node.name] = max(in_scales)
    return q


def random_input(network: Network, dtype: str = "int8", seed: int = 1) -> np.ndarray:
    """A deterministic random input of the network's input shape."""
    rng = np.random.default_rng(seed)
    if dtype == "int8":
        return rng.integers(-128, 128, size=network.input_shape, dtype=np.int8)
    return rng.standard_normal(network.input_shape, dtype=np.float32)


def calibrate(network: Network, params: NetworkParams, x: np.ndarray) -> NetworkParams:
    """Set each int8 layer's requantization so its largest accumulator on ``x`` maps to +-127."""
    forward(network, params, x, calibrating=True)
    return params


def forward(network: Network, params: NetworkParams, x: np.ndarray, calibrating: bool = False) -> dict[str, np.ndarray]:
    """Run ``network`` on ``x``; return every layer's output by name."""
    outputs: dict[str, np.ndarray] = {INPUT: x}
    for node in network:
        args = [outputs[name] for name in node.inputs]
        outputs[node.name] = layer_forward(node, args, params, calibrating)
    del outputs[INPUT]
    return outputs


def accumulate(node: Node, x: np.ndarray, p: LayerParams) -> np.ndarray:
    """Accumulator of a weighted layer (int64 for ints, the float dtype otherwise), bias included."""
    layer = node.layer
    if isinstance(layer, Conv):
        conv = (golden.conv1d, golden.conv2d, golden.conv3d)[layer.ndim - 1]
        return conv(x, p.weight, p.bias, layer.stride, layer.padding, layer.dilation, layer.groups,
                    layer.padding_mode, layer.flip_kernel)  # fmt: skip
    if isinstance(layer, ConvTranspose):
        conv_t = (golden.conv_transpose1d, golden.conv_transpose2d, golden.conv_transpose3d)[layer.ndim - 1]
        return conv_t(x, p.weight, p.bias, layer.stride, layer.padding, layer.output_padding, layer.groups,
                      layer.dilation)  # fmt: skip
    return golden.linear(x, p.weight, p.bias)


def layer_forward(node: Node, args: list[np.ndarray], params: NetworkParams, calibrating: bool = False) -> np.ndarray:
    """One layer of the golden forward (int8 or float semantics, by ``params.dtype``)."""
    layer = node.layer
    x = args[0]
    integer = params.dtype == "int8"
    if isinstance(layer, BatchNorm):
        p = params.layers.get(node.name)
        if p is None or integer:
            return x
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * p.weight.astype(x.dtype).reshape(shape) + p.bias.astype(x.dtype).reshape(shape)
    if node.name in params.layers:
        p = params.layers[node.name]
        acc = accumulate(node, x, p)
        if not integer:
            return acc
        if calibrating:
            p.scale, p.shift = golden.choose_requant(max(1, int(np.max(np.abs(acc)))))
        return golden.requantize(acc, p.scale, p.shift)
    if isinstance(layer, Pool):
        nd = layer.ndim
        if layer.mode == "max":
            pool = (golden.max_pool1d, golden.max_pool2d, golden.max_pool3d)[nd - 1]
            return pool(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
        pool = (golden.avg_pool1d, golden.avg_pool2d, golden.avg_pool3d)[nd - 1]
        out = pool(x, layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode, layer.count_include_pad)
        return out.astype(np.int8) if integer else out
    if isinstance(layer, GlobalAvgPool):
        out = golden.global_avg_pool(x)
        return out.astype(np.int8) if integer else out
    if isinstance(layer, Activation):
        if layer.function == "leaky_relu":
            if integer:
                raise WorkloadError(f"layer {node.name!r}: leaky_relu has no int8 form; use float32")
            return golden.leaky_relu(x, layer.negative_slope)
        return golden.relu(x) if layer.function == "relu" else golden.relu6(x)
    if isinstance(layer, LocalResponseNorm):
        if integer:
            raise WorkloadError(f"layer {node.name!r}: local response norm has no int8 form; use float32")
        return golden.local_response_norm(x, layer.size, layer.alpha, layer.beta, layer.k)
    if isinstance(layer, Flatten):
        return golden.flatten(x, layer.start_dim)
    if isinstance(layer, Add):
        total = args[0]
        for other in args[1:]:
            total = golden.add(total, other)
        return np.clip(total, -128, 127).astype(np.int8) if integer else total
    if isinstance(layer, Concat):
        return golden.concat(args, layer.dim)
    if isinstance(layer, Upsample):
        factors = layer.factors(x.ndim - 2)
        if layer.mode == "nearest":
            return golden.upsample_nearest(x, factors)
        out = np.zeros(x.shape[:2] + tuple(n * f for n, f in zip(x.shape[2:], factors)), dtype=x.dtype)
        out[(slice(None), slice(None)) + tuple(slice(None, None, f) for f in factors)] = x
        return out
    raise TypeError(f"no golden forward for {type(layer).__name__}")
