"""ONNX import: every supported operator and attribute combination, whole models, errors.

Models are built in code with ``onnx.helper`` (no downloads). Shapes, parameters and MACs are
asserted against figures worked out by hand (in the comments) and against the zoo's networks;
with onnxruntime installed, the golden float forward of each imported model (run with the model's
own initializers) is compared with onnxruntime's output.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX import tests need the onnx package (pip install '.[onnx]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from accel.config import AccelConfig  # noqa: E402
from sim.cli import main  # noqa: E402
from sim.functional import FunctionalRun  # noqa: E402
from sim.runner import simulate  # noqa: E402
from workloads.errors import UserError  # noqa: E402
from workloads.forward import forward, network_params, quantize_params, random_input  # noqa: E402
from workloads.layers import (  # noqa: E402
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
from workloads.network import INPUT, Network  # noqa: E402
from workloads.onnx_import import ImportedNetwork, OnnxImportWarning, from_onnx, load_onnx  # noqa: E402
from workloads.sources import load_network  # noqa: E402
from workloads.zoo import get_network  # noqa: E402

OPSET = 17


# ---------------------------------------------------------------------------------------------
# Building models
# ---------------------------------------------------------------------------------------------


class Graph:
    """A tiny ``onnx.helper`` builder: nodes in order, float32 initializers, one input ``x``."""

    def __init__(self, input_shape, opset: int = OPSET, seed: int = 0, input_name: str = "x"):
        self.input = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))
        self.input_name = input_name
        self.nodes: list = []
        self.inits: list = []
        self.opset = opset
        self.rng = np.random.default_rng(seed)

    def const(self, value, dtype=np.float32, name: str | None = None) -> str:
        name = name or f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(self, *shape, zeros: bool = False) -> str:
        if zeros:
            return self.const(np.zeros(shape, np.float32))
        scale = 1 / math.sqrt(math.prod(shape[1:]) or 1)
        return self.const(self.rng.standard_normal(shape) * scale)

    def positive(self, n: int) -> str:
        return self.const(self.rng.uniform(0.5, 2.0, n))

    def op(self, op_type: str, *inputs: str, name: str | None = None, outputs: int = 1, **attrs):
        index = len(self.nodes)
        outs = [f"{op_type.lower()}{index}_out{i}" for i in range(outputs)]
        node_name = f"{op_type.lower()}{index}" if name is None else name
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=node_name, **attrs))
        return outs[0] if outputs == 1 else outs

    def model(self, *outputs: str, state_shapes: bool = True):
        """The model; ``state_shapes`` gives the graph outputs their inferred types (as exporters do)."""
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
        graph = helper.make_graph(self.nodes, "test_graph", [self.input], outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8  # what onnxruntime reads
        if state_shapes:
            inferred = onnx.shape_inference.infer_shapes(model)
            del model.graph.output[:]
            model.graph.output.extend(inferred.graph.output)
        return model


def conv(g: Graph, x: str, cin: int, cout: int, k: int, bias: bool = True, zeros: bool = False, **attrs) -> str:
    inputs = [x, g.weight(cout, cin // attrs.get("group", 1), k, k, zeros=zeros)]
    if bias:
        inputs.append(g.weight(cout, zeros=zeros))
    return g.op("Conv", *inputs, kernel_shape=[k, k], **attrs)


def batchnorm(g: Graph, x: str, c: int, **attrs) -> str:
    return g.op("BatchNormalization", x, g.positive(c), g.weight(c), g.weight(c), g.positive(c), **attrs)


def gemm(g: Graph, x: str, fin: int, fout: int, zeros: bool = False) -> str:
    return g.op("Gemm", x, g.weight(fout, fin, zeros=zeros), g.weight(fout, zeros=zeros), transB=1)


# ---------------------------------------------------------------------------------------------
# Checking models
# ---------------------------------------------------------------------------------------------


def ort_output(model, x: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime")
    ort.set_default_logger_severity(3)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def assert_matches_onnxruntime(model, network: Network, seed: int = 0) -> None:
    """Golden float forward with the model's own initializers == onnxruntime."""
    x = np.random.default_rng(seed).standard_normal(network.input_shape).astype(np.float32)
    expected = ort_output(model, x)
    got = forward(network, network_params(network, "float32"), x)[network.nodes[-1].name]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def kinds(network: Network) -> list[str]:
    return [n.kind for n in network]


def assert_same_layers(got: Network, want: Network, count: int | None = None) -> None:
    """Layer by layer: kind, topology, shapes, window geometry, params, MACs, FLOPs."""
    count = len(want) if count is None else count
    if count == len(want):
        assert len(got) == len(want)
    index_got = {INPUT: -1, **{n.name: i for i, n in enumerate(got)}}
    index_want = {INPUT: -1, **{n.name: i for i, n in enumerate(want)}}
    for a, b in zip(got.nodes[:count], want.nodes[:count]):
        where = f"{a.name} vs {b.name}"
        assert a.kind == b.kind, where
        assert [index_got[i] for i in a.inputs] == [index_want[i] for i in b.inputs], where
        assert (a.in_shapes, a.out_shape) == (b.in_shapes, b.out_shape), where
        assert (a.params, a.macs, a.flops) == (b.params, b.macs, b.flops), where
        assert a.receptive_field == b.receptive_field, where
        for key in ("kernel_size", "stride", "dilation", "groups", "bias", "ceil_mode", "count_include_pad"):
            assert getattr(a.layer, key, None) == getattr(b.layer, key, None), (where, key)
        if hasattr(b.layer, "pads"):
            assert a.layer.pads(a.in_shapes[0][2:]) == b.layer.pads(b.in_shapes[0][2:]), where


# ---------------------------------------------------------------------------------------------
# Every operator and attribute combination
# ---------------------------------------------------------------------------------------------


def _conv_group_stride():
    # (1,4,9,9), 6 filters 2x3x3 (group 2), stride 2, pad 1: out 5x5; params 6*2*9+6 = 114;
    # MACs 6*25 outputs * 2*9 = 2700.
    g = Graph((1, 4, 9, 9))
    return g.model(conv(g, "x", 4, 6, 3, strides=[2, 2], pads=[1, 1, 1, 1], group=2)), (1, 6, 5, 5), 114, 2700


def _conv_dilated_asymmetric():
    # pads [1,0,2,1]: H (1,2), W (0,1); dilation (2,1), k 3: H 10+3-5+1 = 9, W 10+1-3+1 = 9;
    # params 3*2*9 = 54 (no bias); MACs 3*81 * 18 = 4374.
    g = Graph((1, 2, 10, 10))
    y = conv(g, "x", 2, 3, 3, bias=False, dilations=[2, 1], pads=[1, 0, 2, 1])
    return g.model(y), (1, 3, 9, 9), 54, 4374


def _conv_auto(auto_pad):
    def build():
        # k 4 stride 2 on 7: SAME -> ceil(7/2) = 4, total pad 3*2+4-7 = 3; params 2*16+2 = 34;
        # MACs 2*16 outputs * 16 = 512. VALID: (7-4)//2+1 = 2, MACs 2*4*16 = 128.
        g = Graph((1, 1, 7, 7))
        y = conv(g, "x", 1, 2, 4, strides=[2, 2], auto_pad=auto_pad)
        side = 2 if auto_pad == "VALID" else 4
        return g.model(y), (1, 2, side, side), 34, 2 * side * side * 16

    return build


def _conv1d():
    # (1,3,50), k 7, stride 3, pad 2: (50+4-7)//3+1 = 16; params 5*3*7+5 = 110; MACs 5*16*21 = 1680.
    g = Graph((1, 3, 50))
    y = g.op("Conv", "x", g.weight(5, 3, 7), g.weight(5), kernel_shape=[7], strides=[3], pads=[2, 2])
    return g.model(y), (1, 5, 16), 110, 1680


def _conv3d():
    # (1,2,5,6,7), k (3,3,2), pads D (1,1) H (0,0) W (1,1): D 5, H 4, W 8; params 4*2*18+4 = 148;
    # MACs 4*5*4*8 * 2*18 = 23040.
    g = Graph((1, 2, 5, 6, 7))
    y = g.op("Conv", "x", g.weight(4, 2, 3, 3, 2), g.weight(4), pads=[1, 0, 1, 1, 0, 1])
    return g.model(y), (1, 4, 5, 4, 8), 148, 23040


def _depthwise():
    # 8 channels, group 8, k 3 pad 1: params 8*9+8 = 80; MACs 8*36*9 = 2592.
    g = Graph((1, 8, 6, 6))
    return g.model(conv(g, "x", 8, 8, 3, pads=[1, 1, 1, 1], group=8)), (1, 8, 6, 6), 80, 2592


def _conv_transpose():
    # (1,6,5,7), W (6,2,3,3) group 2 -> 4 channels; stride 2, pads 1, output_padding 1:
    # H (5-1)*2-2+2+1+1 = 10, W (7-1)*2-2+2+1+1 = 14; params 6*2*9+4 = 112; MACs 210 inputs * 2*9 = 3780.
    g = Graph((1, 6, 5, 7))
    y = g.op("ConvTranspose", "x", g.weight(6, 2, 3, 3), g.weight(4), group=2, strides=[2, 2], pads=[1, 1, 1, 1],
             output_padding=[1, 1])  # fmt: skip
    return g.model(y), (1, 4, 10, 14), 112, 3780


def _conv_transpose_asymmetric():
    # ONNX pads (1, 0) == PyTorch padding 1 + output_padding 1: 2*3 + 3 - 1 = 8;
    # params 2*3*3 = 18; MACs 8 inputs * 3*3 = 72.
    g = Graph((1, 2, 4))
    y = g.op("ConvTranspose", "x", g.weight(2, 3, 3), strides=[2], pads=[1, 0])
    return g.model(y), (1, 3, 8), 18, 72


def _pool(op, x_shape, out_shape, **attrs):
    def build():
        g = Graph(x_shape)
        return g.model(g.op(op, "x", **attrs)), out_shape, 0, 0

    return build


def _gemm(trans_b, alpha, beta, c_shape):
    def build():
        # (2,6) x (6,4): params 24 (+4 bias); MACs 2*6*4 = 48.
        g = Graph((2, 6))
        inputs = ["x", g.weight(*((4, 6) if trans_b else (6, 4)))]
        if c_shape is not None:
            inputs.append(g.const(g.rng.standard_normal(c_shape)))
        y = g.op("Gemm", *inputs, transB=trans_b, alpha=alpha, beta=beta)
        return g.model(y), (2, 4), 24 + (4 if c_shape is not None else 0), 48

    return build


def _matmul(bias):
    def build():
        # MatMul (3,5)x(5,2) [+ Add bias]: one Linear; params 10 (+2); MACs 3*5*2 = 30.
        g = Graph((3, 5))
        y = g.op("MatMul", "x", g.weight(5, 2))
        if bias:
            y = g.op("Add", y, g.weight(2))
        return g.model(y), (3, 2), 10 + 2 * bias, 30

    return build


def _unary(op, opset=OPSET, inputs=(), **attrs):
    def build():
        g = Graph((1, 3, 4, 5), opset=opset)
        return g.model(g.op(op, "x", *[g.const(v) for v in inputs], **attrs)), (1, 3, 4, 5), 0, 0

    return build


def _clip_no_max():
    g = Graph((1, 3, 4, 5))
    return g.model(g.op("Clip", "x", g.const(0.0))), (1, 3, 4, 5), 0, 0


def _batchnorm_alone():
    # No conv before it: a BatchNorm layer, params gamma + beta = 2*3.
    g = Graph((1, 3, 4, 5))
    return g.model(batchnorm(g, "x", 3, epsilon=1e-3)), (1, 3, 4, 5), 6, 0


def _conv_batchnorm():
    # Folded: one conv with a bias; params 4*3*9 + 4 = 112; MACs 4*36*27 = 3888.
    g = Graph((1, 3, 6, 6))
    y = batchnorm(g, conv(g, "x", 3, 4, 3, bias=False, pads=[1, 1, 1, 1]), 4)
    return g.model(y), (1, 4, 6, 6), 112, 3888


def _conv_add_bias():
    # Conv without bias + Add of a (1, C, 1, 1) constant: the constant becomes the bias.
    g = Graph((1, 3, 6, 6))
    y = g.op("Add", conv(g, "x", 3, 4, 3, bias=False), g.weight(1, 4, 1, 1))
    return g.model(y), (1, 4, 4, 4), 112, 4 * 16 * 27


def _flatten_like(kind):
    def build():
        g = Graph((2, 3, 2, 2))
        if kind == "flatten":
            y = g.op("Flatten", "x", axis=1)
        elif kind == "reshape":
            y = g.op("Reshape", "x", g.const([0, -1], np.int64))
        else:  # x.view(x.size(0), -1) as exporters write it: Shape -> Gather -> Unsqueeze -> Concat
            n = g.op("Gather", g.op("Shape", "x"), g.const(0, np.int64), axis=0)
            target = g.op("Concat", g.op("Unsqueeze", n, g.const([0], np.int64)), g.const([-1], np.int64), axis=0)
            y = g.op("Reshape", "x", target)
        return g.model(y), (2, 12), 0, 0

    return build


def _squeeze():
    g = Graph((2, 3, 1, 1))
    return g.model(g.op("Squeeze", "x", g.const([2, 3], np.int64))), (2, 3), 0, 0


def _sum3():
    g = Graph((1, 2, 3, 3))
    a, b = g.op("Relu", "x"), g.op("LeakyRelu", "x", alpha=0.5)
    return g.model(g.op("Sum", a, b, "x")), (1, 2, 3, 3), 0, 0


def _concat(axis):
    def build():
        g = Graph((1, 2, 3, 3))
        y = g.op("Concat", g.op("Relu", "x"), conv(g, "x", 2, 3, 1), axis=axis)
        return g.model(y), (1, 5, 3, 3), 9, 3 * 9 * 2

    return build


def _lrn():
    g = Graph((1, 7, 3, 3))
    return g.model(g.op("LRN", "x", size=5, alpha=1e-2, beta=0.6, bias=1.5)), (1, 7, 3, 3), 0, 0


def _dropout_identity():
    g = Graph((1, 2, 3, 3), opset=12)
    y = g.op("Identity", g.op("Dropout", g.op("Relu", "x")))
    return g.model(y), (1, 2, 3, 3), 0, 0


def _resize(op):
    def build():
        if op == "Upsample":
            g = Graph((1, 2, 3, 4), opset=9)
            y = g.op("Upsample", "x", g.const([1, 1, 2, 3]), mode="nearest")
        else:
            g = Graph((1, 2, 3, 4))
            y = g.op("Resize", "x", "", g.const([1, 1, 2, 3]), mode="nearest",
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")  # fmt: skip
        return g.model(y), (1, 2, 6, 12), 0, 0

    return build


def _global(op):
    def build():
        g = Graph((1, 3, 5, 4))
        return g.model(g.op(op, "x")), (1, 3, 1, 1), 0, 0

    return build


# id -> (builder, expected layer kinds, checks on the last layer)
OPERATOR_CASES = {
    "conv2d_group_stride_pads": (_conv_group_stride, ["conv"], dict(groups=2, stride=(2, 2), padding=(1, 1))),
    "conv2d_dilated_asymmetric_pads": (_conv_dilated_asymmetric, ["conv"],
                                       dict(dilation=(2, 1), padding=((1, 2), (0, 1)), bias=False)),
    "conv_same_upper": (_conv_auto("SAME_UPPER"), ["conv"], dict(padding=((1, 2), (1, 2)))),
    "conv_same_lower": (_conv_auto("SAME_LOWER"), ["conv"], dict(padding=((2, 1), (2, 1)))),
    "conv_valid": (_conv_auto("VALID"), ["conv"], dict(padding=(0, 0))),
    "conv1d": (_conv1d, ["conv"], dict(kernel_size=(7,), stride=(3,), padding=(2,))),
    "conv3d": (_conv3d, ["conv"], dict(kernel_size=(3, 3, 2), padding=(1, 0, 1))),
    "conv_depthwise": (_depthwise, ["conv"], dict(groups=8)),
    "conv_transpose": (_conv_transpose, ["conv_transpose"], dict(padding=(1, 1), output_padding=(1, 1), groups=2)),
    "conv_transpose_asymmetric_pads": (_conv_transpose_asymmetric, ["conv_transpose"],
                                       dict(padding=(1,), output_padding=(1,), bias=False)),
    # (8+2-3)/2 = 3.5 -> ceil 4, +1 = 5; the last window starts at 8 < 8+1, so it stays.
    "maxpool_ceil": (_pool("MaxPool", (1, 3, 8, 8), (1, 3, 5, 5), kernel_shape=[3, 3], strides=[2, 2],
                           pads=[1, 1, 1, 1], ceil_mode=1), ["maxpool"], dict(ceil_mode=True, padding=(1, 1))),
    # (7+0+1-2)//2+1 = 4
    "maxpool_asymmetric_pads": (_pool("MaxPool", (1, 1, 7, 7), (1, 1, 4, 4), kernel_shape=[2, 2], strides=[2, 2],
                                      pads=[0, 0, 1, 1]), ["maxpool"], dict(padding=((0, 1), (0, 1)))),
    # SAME_UPPER k3 s2 on 8: out 4, total pad 3*2+3-8 = 1 -> (0, 1)
    "maxpool_same_upper": (_pool("MaxPool", (1, 1, 8, 8), (1, 1, 4, 4), kernel_shape=[3, 3], strides=[2, 2],
                                 auto_pad="SAME_UPPER"), ["maxpool"], dict(padding=((0, 1), (0, 1)))),
    "maxpool_same_lower": (_pool("MaxPool", (1, 1, 8, 8), (1, 1, 4, 4), kernel_shape=[3, 3], strides=[2, 2],
                                 auto_pad="SAME_LOWER"), ["maxpool"], dict(padding=((1, 0), (1, 0)))),
    # dilation 2, k 3, stride 1 on 9: 9-5+1 = 5
    "maxpool_dilated": (_pool("MaxPool", (1, 1, 9, 9), (1, 1, 5, 5), kernel_shape=[3, 3], dilations=[2, 2]),
                        ["maxpool"], dict(dilation=(2, 2), stride=(1, 1))),
    "maxpool1d": (_pool("MaxPool", (1, 2, 9), (1, 2, 4), kernel_shape=[2], strides=[2]), ["maxpool"],
                  dict(kernel_size=(2,))),
    # H (6+2-3)//2+1 = 3, W (7+2-3)//2+1 = 4
    "avgpool_count_include_pad": (_pool("AveragePool", (1, 2, 6, 7), (1, 2, 3, 4), kernel_shape=[3, 3],
                                        strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1), ["avgpool"],
                                  dict(count_include_pad=True)),
    # ceil: H 5/2 -> 3+1 = 4, W 6/2 -> 3+1 = 4; ONNX's default count_include_pad is 0
    "avgpool_ceil_exclude_pad": (_pool("AveragePool", (1, 2, 6, 7), (1, 2, 4, 4), kernel_shape=[3, 3],
                                       strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1), ["avgpool"],
                                 dict(count_include_pad=False, ceil_mode=True)),
    "avgpool_asymmetric_same": (_pool("AveragePool", (1, 1, 7, 6), (1, 1, 4, 3), kernel_shape=[2, 2],
                                      strides=[2, 2], auto_pad="SAME_UPPER"), ["avgpool"],
                                dict(padding=((0, 1), (0, 0)))),
    # 3-D: D 4-2+1 = 3, H (7-3)//2+1 = 3, W (6-2)//2+1 = 3
    "avgpool3d": (_pool("AveragePool", (1, 1, 4, 7, 6), (1, 1, 3, 3, 3), kernel_shape=[2, 3, 2], strides=[1, 2, 2]),
                  ["avgpool"], dict(kernel_size=(2, 3, 2))),
    "global_avgpool": (_global("GlobalAveragePool"), ["global_avgpool"], {}),
    "global_maxpool": (_global("GlobalMaxPool"), ["maxpool"], dict(kernel_size=(5, 4))),
    "gemm_transB_bias": (_gemm(1, 1.0, 1.0, (4,)), ["linear"], dict(in_features=6, out_features=4, bias=True)),
    "gemm_alpha_beta_row_bias": (_gemm(0, 0.5, 2.0, (1, 4)), ["linear"], dict(bias=True)),
    "gemm_no_bias": (_gemm(0, 1.0, 1.0, None), ["linear"], dict(bias=False)),
    "matmul": (_matmul(False), ["linear"], dict(bias=False)),
    "matmul_add_bias": (_matmul(True), ["linear"], dict(bias=True)),
    "relu": (_unary("Relu"), ["activation"], dict(function="relu")),
    "leaky_relu": (_unary("LeakyRelu", alpha=0.2), ["activation"], dict(function="leaky_relu", negative_slope=0.2)),
    "clip_relu6": (_unary("Clip", inputs=(0.0, 6.0)), ["activation"], dict(function="relu6")),
    "clip_relu6_opset6": (_unary("Clip", opset=6, min=0.0, max=6.0), ["activation"], dict(function="relu6")),
    "clip_no_max_is_relu": (_clip_no_max, ["activation"], dict(function="relu")),
    "batchnorm_alone": (_batchnorm_alone, ["batchnorm"], dict(num_features=3, eps=pytest.approx(1e-3))),
    "conv_batchnorm_folded": (_conv_batchnorm, ["conv"], dict(bias=True)),
    "conv_add_bias_folded": (_conv_add_bias, ["conv"], dict(bias=True)),
    "flatten": (_flatten_like("flatten"), ["flatten"], {}),
    "reshape": (_flatten_like("reshape"), ["flatten"], {}),
    "reshape_from_shape_arithmetic": (_flatten_like("shape"), ["flatten"], {}),
    "squeeze": (_squeeze, ["flatten"], {}),
    "sum_of_three": (_sum3, ["activation", "activation", "add"], {}),
    "concat": (_concat(1), ["activation", "conv", "concat"], dict(dim=1)),
    "concat_negative_axis": (_concat(-3), ["activation", "conv", "concat"], dict(dim=1)),
    "lrn": (_lrn, ["lrn"], dict(size=5, alpha=pytest.approx(1e-2), beta=pytest.approx(0.6), k=pytest.approx(1.5))),
    "dropout_identity_vanish": (_dropout_identity, ["activation"], {}),
    "resize_nearest": (_resize("Resize"), ["upsample"], dict(scale_factor=(2, 3))),
    "upsample_opset9": (_resize("Upsample"), ["upsample"], dict(scale_factor=(2, 3))),
}  # fmt: skip


@pytest.mark.parametrize("case", OPERATOR_CASES)
def test_operator(case):
    build, expected_kinds, fields = OPERATOR_CASES[case]
    model, out_shape, params, macs = build()
    network = from_onnx(model)
    assert isinstance(network, ImportedNetwork)
    assert kinds(network) == expected_kinds
    assert network.output_shape == out_shape
    assert (network.params, network.macs) == (params, macs)
    last = network.nodes[-1].layer
    for key, value in fields.items():
        assert getattr(last, key) == value, key
    assert_matches_onnxruntime(model, network)


def test_checker_accepts_the_test_models():
    for build, _, _ in OPERATOR_CASES.values():
        onnx.checker.check_model(build()[0])


def test_import_without_value_info_runs_shape_inference():
    g = Graph((1, 3, 8, 8))
    y = g.op("MaxPool", conv(g, "x", 3, 4, 3), kernel_shape=[2, 2], strides=[2, 2])
    model = g.model(y, state_shapes=False)
    network = from_onnx(model)
    assert network.output_shape == (1, 4, 3, 3)


def test_shape_disagreeing_with_the_graph_is_an_error():
    g = Graph((1, 3, 8, 8))
    y = conv(g, "x", 3, 4, 3)
    model = g.model(y)
    model.graph.output[0].type.tensor_type.shape.dim[2].dim_value = 7
    with pytest.raises(UserError, match=r"computes shape \(1, 4, 6, 6\) but the ONNX graph states \(1, 4, 7, 6\)"):
        from_onnx(model)


def test_symbolic_batch_becomes_one_and_with_batch_keeps_weights():
    g = Graph(("N", 3, 8, 8))
    model = g.model(g.op("Flatten", conv(g, "x", 3, 4, 3)))
    network = from_onnx(model)
    assert network.input_shape == (1, 3, 8, 8)
    batch4 = network.with_batch(4)
    assert isinstance(batch4, ImportedNetwork) and batch4.weights is network.weights
    assert batch4.output_shape == (4, 144)
    assert batch4.macs == 4 * network.macs
    assert_matches_onnxruntime(model, batch4)


def test_symbolic_spatial_dims_need_an_input_shape():
    g = Graph((1, 3, "H", "W"))
    model = g.model(conv(g, "x", 3, 4, 3), state_shapes=False)
    with pytest.raises(UserError, match="symbolic dimensions.*input_shape"):
        from_onnx(model)
    assert from_onnx(model, input_shape=(2, 3, 10, 12)).output_shape == (2, 4, 8, 10)


def test_initializers_listed_as_graph_inputs_are_not_inputs():
    # IR < 4 style: every weight is also a graph input.
    g = Graph((1, 3, 8, 8))
    model = g.model(conv(g, "x", 3, 4, 3))
    for init in model.graph.initializer:
        model.graph.input.append(helper.make_tensor_value_info(init.name, TensorProto.FLOAT, list(init.dims)))
    assert from_onnx(model).output_shape == (1, 4, 6, 6)


def test_constants_from_constant_nodes():
    g = Graph((1, 2, 5, 5))
    w = g.op("Constant", value=numpy_helper.from_array(g.rng.standard_normal((3, 2, 3, 3)).astype(np.float32)))
    model = g.model(g.op("Conv", "x", w, kernel_shape=[3, 3]))
    network = from_onnx(model)
    assert kinds(network) == ["conv"] and network.params == 54
    assert_matches_onnxruntime(model, network)


# ---------------------------------------------------------------------------------------------
# Whole models
# ---------------------------------------------------------------------------------------------


def lenet5_model(zeros: bool = False):
    """LeNet-5 as the zoo has it, in ONNX."""
    g = Graph((1, 1, 28, 28))
    y = g.op("Relu", conv(g, "x", 1, 6, 5, pads=[2, 2, 2, 2], zeros=zeros))
    y = g.op("AveragePool", y, kernel_shape=[2, 2], strides=[2, 2])
    y = g.op("Relu", conv(g, y, 6, 16, 5, zeros=zeros))
    y = g.op("Flatten", g.op("AveragePool", y, kernel_shape=[2, 2], strides=[2, 2]))
    y = g.op("Relu", gemm(g, y, 400, 120, zeros))
    y = g.op("Relu", gemm(g, y, 120, 84, zeros))
    return g.model(gemm(g, y, 84, 10, zeros))


def test_lenet5_matches_the_zoo_layer_by_layer():
    network = from_onnx(lenet5_model())
    zoo = get_network("lenet5")
    assert_same_layers(network, zoo)
    # Hand figures (the zoo's): 61,706 params, 416,520 MACs.
    assert (network.params, network.macs) == (61_706, 416_520)
    assert_matches_onnxruntime(lenet5_model(), network)


def vgg11_features_model():
    """VGG-11's convolutional part at 224x224 (the zoo's first 21 layers), zero weights."""
    g = Graph((1, 3, 224, 224))
    y, cin = "x", 3
    for convs, width in zip([1, 1, 2, 2, 2], (64, 128, 256, 512, 512)):
        for _ in range(convs):
            y = g.op("Relu", conv(g, y, cin, width, 3, pads=[1, 1, 1, 1], zeros=True))
            cin = width
        y = g.op("MaxPool", y, kernel_shape=[2, 2], strides=[2, 2])
    return g.model(y)


def test_vgg11_features_match_the_zoo_layer_by_layer():
    network = from_onnx(vgg11_features_model())
    zoo = get_network("vgg11")
    assert len(network) == 21
    assert_same_layers(network, zoo, count=21)
    assert network.output_shape == (1, 512, 7, 7)
    # Conv params: 3*64*9+64 + 64*128*9+128 + ... = 9,220,480 (VGG-11 total 132,863,336 minus the FCs).
    assert network.params == 9_220_480
    assert network.params + sum(n.params for n in zoo.nodes[21:]) == zoo.params
    assert network.macs + sum(n.macs for n in zoo.nodes[21:]) == zoo.macs


def test_small_vgg_style_model_matches_onnxruntime():
    g = Graph((2, 3, 32, 32))
    y, cin = "x", 3
    for width in (8, 16):
        for _ in range(2):
            y = g.op("Relu", batchnorm(g, conv(g, y, cin, width, 3, bias=False, pads=[1, 1, 1, 1]), width))
            cin = width
        y = g.op("MaxPool", y, kernel_shape=[2, 2], strides=[2, 2])
    y = g.op("Dropout", g.op("Relu", gemm(g, g.op("Flatten", y), 16 * 8 * 8, 32)))
    model = g.model(gemm(g, y, 32, 10))
    network = from_onnx(model)
    assert kinds(network) == ["conv", "activation"] * 2 + ["maxpool"] + ["conv", "activation"] * 2 + [
        "maxpool", "flatten", "linear", "activation", "linear"]  # fmt: skip
    # convs 3*8*9+8, 8*8*9+8, 8*16*9+16, 16*16*9+16 (BN folded into biases); FCs 1024*32+32, 32*10+10
    assert network.params == 224 + 584 + 1168 + 2320 + 32_800 + 330
    assert_matches_onnxruntime(model, network)


def residual_model(project: bool):
    """A ResNet basic block: conv-bn-relu-conv-bn + shortcut (1x1 conv-bn, stride 2, if ``project``)."""
    g = Graph((1, 8, 8, 8))
    stride = 2 if project else 1
    width = 16 if project else 8
    y = g.op("Relu", batchnorm(g, conv(g, "x", 8, width, 3, False, strides=[stride] * 2, pads=[1] * 4), width))
    y = batchnorm(g, conv(g, y, width, width, 3, False, pads=[1] * 4), width)
    shortcut = batchnorm(g, conv(g, "x", 8, width, 1, False, strides=[2, 2]), width) if project else "x"
    return g.model(g.op("Relu", g.op("Add", y, shortcut, name="add")))


@pytest.mark.parametrize("project", [False, True])
def test_residual_block(project):
    model = residual_model(project)
    network = from_onnx(model)
    assert kinds(network) == ["conv", "activation", "conv"] + ["conv"] * project + ["add", "activation"]
    add = network["add"]
    shortcut = network.nodes[3].name if project else INPUT
    assert add.inputs == (network.nodes[2].name, shortcut)
    if project:
        # 8*16*9+16 + 16*16*9+16 + 8*16+16 (BN folded into biases); out 4x4.
        assert network.params == 1168 + 2320 + 144
        assert network.macs == 16 * 16 * (72 + 144 + 8)
    else:
        assert network.params == 2 * (8 * 8 * 9 + 8)
        assert network.macs == 2 * 8 * 64 * 72
    assert_matches_onnxruntime(model, network)


def test_batchnorm_not_folded_when_the_conv_output_is_read_twice():
    g = Graph((1, 2, 5, 5))
    c = conv(g, "x", 2, 3, 3, pads=[1] * 4)
    model = g.model(g.op("Add", batchnorm(g, c, 3), c))
    network = from_onnx(model)
    assert kinds(network) == ["conv", "batchnorm", "add"]
    assert network.params == 2 * 3 * 9 + 3 + 2 * 3
    assert_matches_onnxruntime(model, network)


def test_layer_names_are_sanitised_and_unique():
    g = Graph((1, 2, 5, 5))
    y = g.op("Relu", "x", name="/features/features.0/Relu")
    y = g.op("Relu", y, name="act")
    y = g.op("Relu", y, name="act")
    y = g.op("Relu", y, name="")
    y = g.op("Relu", y, name="input")
    network = from_onnx(g.model(y))
    assert [n.name for n in network] == ["features.0_Relu", "act", "act_2", "relu_3", "input_2"]


def test_dead_branches_are_dropped():
    g = Graph((1, 2, 5, 5))
    g.op("Softmax", "x")  # feeds no output
    y = g.op("Relu", "x")
    assert kinds(from_onnx(g.model(y))) == ["activation"]


def test_functional_simulation_uses_the_model_weights():
    # Imported weights, quantized to int8, run through the simulated array: bit-exact with the
    # golden int8 forward, asymmetric pool padding included.
    g = Graph((1, 3, 9, 9))
    y = g.op("Relu", conv(g, "x", 3, 4, 3, pads=[1] * 4))
    y = g.op("MaxPool", y, kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1])
    y = g.op("AveragePool", y, kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER")
    y = gemm(g, g.op("Flatten", y), 4 * 3 * 3, 5)
    network = from_onnx(g.model(y))
    config = AccelConfig(rows=4, cols=4)
    run = FunctionalRun(network, config)
    expected = quantize_params(network, network.weights, random_input(network, "float32", 1))
    for name, p in expected.layers.items():
        assert np.array_equal(run.params.layers[name].weight, p.weight)
    report = simulate(network, config, mode="functional")
    golden = forward(network, run.params, run.input)
    for layer in report.layers:
        assert np.array_equal(layer.outputs, golden[layer.name]), layer.name


def test_quantized_forward_approximates_the_float_forward():
    network = from_onnx(lenet5_model())
    x = random_input(network, "float32", 5)
    last = network.nodes[-1].name
    want = forward(network, network_params(network, "float32"), x)[last]
    q = quantize_params(network, network.weights, x)
    xq = np.clip(np.rint(x / q.scales[INPUT]), -127, 127).astype(np.int8)
    got = forward(network, q, xq)[last] * q.scales[last]
    assert np.max(np.abs(got - want)) < 0.05 * np.max(np.abs(want))


def test_zoo_networks_still_get_random_weights():
    network = get_network("lenet5")
    from workloads.forward import random_params

    a, b = network_params(network, "int8", 3), random_params(network, "int8", 3)
    assert all(np.array_equal(a.layers[k].weight, b.layers[k].weight) for k in b.layers)


# ---------------------------------------------------------------------------------------------
# Unsupported operators, multi-input models, unsupported attribute combinations
# ---------------------------------------------------------------------------------------------


def unsupported_model():
    g = Graph((1, 4, 6, 6))
    y = g.op("Sigmoid", conv(g, "x", 4, 4, 3), name="gate1")
    y = g.op("Sigmoid", g.op("Relu", y), name="gate2")
    return g.model(g.op("Softmax", g.op("Flatten", y), name="prob"))


def test_unsupported_operators_are_listed():
    with pytest.raises(UserError) as err:
        from_onnx(unsupported_model())
    message = str(err.value)
    assert "3 unsupported ONNX operator(s): Sigmoid x2 (gate1, gate2); Softmax x1 (prob)" in message
    assert "skip_unsupported=True" in message and "\n" not in message


def test_skip_unsupported_warns_and_drops_them():
    with pytest.warns(OnnxImportWarning, match=r"skipped 3 .*Sigmoid x2 \(gate1, gate2\); Softmax x1 \(prob\)"):
        network = from_onnx(unsupported_model(), skip_unsupported=True)
    assert kinds(network) == ["conv", "activation", "flatten"]
    assert network.skipped == (("Sigmoid", "gate1"), ("Sigmoid", "gate2"), ("Softmax", "prob"))
    assert network.macs == 4 * 16 * 36


@pytest.mark.parametrize(
    "build, reason",
    [
        (lambda g: g.op("Clip", "x", g.const(-1.0), g.const(1.0)), r"Clip\(-1.0, 1.0\)"),
        (lambda g: g.op("Add", "x", g.const(np.ones((1, 2, 1, 1)))), "not the bias"),
        (lambda g: g.op("Reshape", "x", g.const([1, 2, 25, 1], np.int64)), r"reshaping \(1, 2, 5, 5\)"),
        (lambda g: g.op("LRN", "x", size=4), "even size"),
        (lambda g: g.op("Concat", "x", "x", axis=0), "batch axis"),
        (lambda g: g.op("MatMul", "x", g.const(np.ones((5, 3)))), "4-D input"),
        (lambda g: g.op("Resize", "x", "", g.const([1, 1, 1.5, 1.5]), mode="nearest"), "integer upsampling"),
        (lambda g: g.op("Resize", "x", "", g.const([1, 1, 2, 2]), mode="linear"), "mode 'linear'"),
        (lambda g: g.op("Conv", "x", conv(g, "x", 2, 2, 1), kernel_shape=[1, 1]), "must be a constant"),
    ],
)
def test_unsupported_attribute_combinations(build, reason):
    g = Graph((1, 2, 5, 5))
    model = g.model(build(g), state_shapes=False)
    with pytest.raises(UserError, match=reason):
        from_onnx(model)


def test_unsupported_attribute_combinations_can_be_skipped():
    g = Graph((1, 2, 5, 5))
    y = g.op("Relu", g.op("Clip", conv(g, "x", 2, 3, 3), g.const(-1.0), g.const(1.0), name="hardtanh"))
    with pytest.warns(OnnxImportWarning, match=r"Clip x1 \(hardtanh\)"):
        network = from_onnx(g.model(y), skip_unsupported=True)
    assert kinds(network) == ["conv", "activation"]


def test_a_constant_that_does_not_broadcast_is_not_a_bias():
    g = Graph((1, 2, 5, 5))
    model = g.model(g.op("Add", conv(g, "x", 2, 3, 3), g.const(np.ones((2, 1, 1)))), state_shapes=False)
    with pytest.raises(UserError, match=r"shape \(2, 1, 1\) is not one bias per channel"):
        from_onnx(model)


def test_multi_input_models_are_rejected():
    g = Graph((1, 2, 5, 5))
    y = g.op("Add", "x", "x2")
    second = helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 2, 5, 5])
    graph = helper.make_graph(
        g.nodes, "two", [g.input, second], [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 2, 5, 5])]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    with pytest.raises(UserError, match=r"2 graph inputs that are not initializers \(x, x2\); only single-input"):
        from_onnx(model)


# ---------------------------------------------------------------------------------------------
# Files and the CLI
# ---------------------------------------------------------------------------------------------


def cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


@pytest.fixture
def lenet_file(tmp_path):
    path = tmp_path / "lenet.onnx"
    onnx.save(lenet5_model(), str(path))
    return path


def test_load_network_reads_onnx_files(lenet_file):
    network = load_network(str(lenet_file))
    assert isinstance(network, ImportedNetwork)
    assert network.name == "lenet" and network.source == str(lenet_file)
    assert_same_layers(network, get_network("lenet5"))


def test_sim_info_on_an_onnx_file(capsys, lenet_file):
    status, out, err = cli(capsys, "info", str(lenet_file), "--json", "-")
    assert (status, err) == (0, "")
    data = json.loads(out)
    assert data["network"] == "lenet"
    assert data["total"] == {"params": 61_706, "macs": 416_520, "flops": get_network("lenet5").flops}
    assert [row["output_shape"] for row in data["layers"]][:3] == [[1, 6, 28, 28]] * 2 + [[1, 6, 14, 14]]


def test_sim_run_on_an_onnx_file(capsys, lenet_file):
    status, out, _ = cli(capsys, "run", str(lenet_file), "--json", "-", "--quiet", "--mode", "analytic")
    assert status == 0
    data = json.loads(out)
    assert data["network"] == "lenet"
    assert sum(layer["macs"] for layer in data["layers"]) == 416_520


def test_sim_info_skip_unsupported(capsys, tmp_path):
    path = tmp_path / "gated.onnx"
    onnx.save(unsupported_model(), str(path))
    status, _, err = cli(capsys, "info", str(path))
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: 3 unsupported ONNX operator(s): Sigmoid x2")
    status, out, err = cli(capsys, "info", str(path), "--skip-unsupported")
    assert status == 0 and "gate1" not in out and "sigmoid" not in out.lower()
    assert err.count("\n") == 1 and err.startswith(f"warning: {path}: skipped 3 unsupported ONNX operator(s)")
    status, out, err = cli(capsys, "run", str(path), "--skip-unsupported", "--json", "-", "--quiet")
    assert status == 0 and json.loads(out)["total"]["cycles"] > 0
    assert err.startswith(f"warning: {path}: skipped 3 unsupported ONNX operator(s)")


def _bad_files(tmp_path, lenet_file):
    data = lenet_file.read_bytes()
    files = {
        "text.onnx": b"this is not a model\n",
        "empty.onnx": b"",
        "zeros.onnx": bytes(64),
        "truncated_header.onnx": data[:40],
        "truncated_half.onnx": data[: len(data) // 2],
        "truncated_tail.onnx": data[:-7],
        "png.onnx": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return [tmp_path / name for name in files]


def test_malformed_files_give_one_line_errors(capsys, tmp_path, lenet_file):
    for path in _bad_files(tmp_path, lenet_file):
        with pytest.raises(UserError) as err:
            load_onnx(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value), path
        status, out, err_text = cli(capsys, "info", str(path))
        assert status == 2, path
        assert out == "" and err_text.startswith("error: ") and err_text.count("\n") == 1, (path, err_text)
        assert str(path) in err_text


def test_missing_file(capsys, tmp_path):
    status, _, err = cli(capsys, "info", str(tmp_path / "nope.onnx"))
    assert status == 2 and "does not exist" in err


def test_malformed_file_through_a_subprocess(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08\x07\x12\xff\xff\xff")
    result = subprocess.run([sys.executable, "-m", "sim", "info", str(path)], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_onnx_stays_optional(monkeypatch, lenet_file):
    # Importing the project never needs onnx; using the importer without it says how to install it.
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "import workloads.onnx_import, workloads.sources, sim.cli\n"
        "from workloads.sources import load_network\n"
        "assert load_network('lenet5').params == 61706\n"
        "try:\n"
        f"    load_network({str(lenet_file)!r})\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, err)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "UserError ONNX import needs the onnx package: pip install 'systolic-toolkit[onnx]'"


def test_warnings_are_not_raised_without_skipping():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_onnx(lenet5_model())


def test_layer_classes_are_the_ir():
    # The importer builds plain IR layers: nothing import-specific leaks into them.
    network = from_onnx(residual_model(True))
    ir = (Activation, Add, BatchNorm, Concat, Conv, ConvTranspose, Flatten, GlobalAvgPool, Linear,
          LocalResponseNorm, Pool, Upsample)  # fmt: skip
    assert all(type(n.layer) in ir for n in network)


def test_pool_takes_lo_hi_pairs():
    # The IR extension ONNX pools need: per-side padding, symmetric pairs stored as ints.
    from workloads import golden
    from workloads.errors import WorkloadError

    asym = Pool(name="p", mode="max", kernel_size=3, stride=2, padding=((0, 1), (1, 0)))
    assert asym.padding == ((0, 1), (1, 0)) and asym.pads() == ((0, 1), (1, 0))
    assert asym.infer([(1, 1, 8, 8)]) == (1, 1, 4, 4)  # (8+1-3)//2+1 = 4 both ways
    sym = Pool(name="p", mode="avg", kernel_size=3, padding=((1, 1), (1, 1)))
    assert sym.padding == (1, 1) and sym == Pool(name="p", mode="avg", kernel_size=3, padding=1)
    x = np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8)
    assert golden.max_pool2d(x, 3, 2, asym.padding).shape == (1, 1, 4, 4)
    for bad in (((0, 2), (0, 0)), ((-1, 0), (0, 0)), "same"):
        with pytest.raises(WorkloadError, match="padding"):
            Pool(name="p", mode="max", kernel_size=3, padding=bad)
