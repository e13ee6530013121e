"""Layer IR: output shapes, parameter counts, MACs, FLOPs, receptive fields and bad input.

Expected values are worked out by hand in the test (the comment or the expression shows how),
never copied from the code under test.
"""

from __future__ import annotations

import math

import pytest

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
from workloads.network import Network
from workloads.shapes import resolve_padding, window_output_size

TORCH_REASON = "PyTorch not installed: pip install torch==2.13.0"


def counts(layer, shape):
    """(output shape, params, MACs, FLOPs) of ``layer`` on one input of ``shape``."""
    return layer.infer([shape]), layer.params([shape]), layer.macs([shape]), layer.flops([shape])


def receptive_field(input_shape, *layers):
    """Receptive field of the last layer of a chain."""
    return Network("t", input_shape, layers).nodes[-1].receptive_field


def conv(**kw):
    return Conv(name="c", **{"in_channels": 1, "out_channels": 1, **kw})


# ---------------------------------------------------------------------------------------------
# Worked examples: output sizes, parameters and MACs computed by hand
# ---------------------------------------------------------------------------------------------


def test_worked_example_10x10_k5_p1_s2_gives_4x4():
    # floor((10 + 2 - 5) / 2) + 1 = 4
    assert conv(kernel_size=5, padding=1, stride=2).infer([(1, 1, 10, 10)]) == (1, 1, 4, 4)


def test_worked_example_one_3x3_filter_no_bias_on_32x32():
    out, params, macs, _ = counts(conv(kernel_size=3, padding=1, stride=2, bias=False), (1, 1, 32, 32))
    assert out == (1, 1, 16, 16)
    assert params == 9
    assert macs == 16 * 16 * 9 == 2_304


def test_worked_example_ten_5x5_filters_on_3x32x32():
    layer = Conv(name="c", in_channels=3, out_channels=10, kernel_size=5, stride=1, padding=2)
    out, params, macs, flops = counts(layer, (1, 3, 32, 32))
    assert out == (1, 10, 32, 32)
    assert params == 10 * (5 * 5 * 3 + 1) == 760
    assert macs == 10 * 32 * 32 * 75 == 768_000
    assert flops == 1_536_000


def test_worked_example_100_to_100_channels_5x5_on_64x64():
    layer = Conv(name="c", in_channels=100, out_channels=100, kernel_size=5, padding=2)
    out, _, macs, _ = counts(layer, (1, 100, 64, 64))
    assert out == (1, 100, 64, 64)
    assert macs == 64 * 64 * 100 * 100 * 25 == 1_024_000_000


def test_worked_example_two_stacked_3x3_convs_see_5x5():
    rf = receptive_field((1, 1, 32, 32), conv(kernel_size=3), Conv(name="c2", in_channels=1, out_channels=1, kernel_size=3))
    assert rf == (5, 5)


def test_worked_example_3x3_conv_with_dilation_2_sees_5x5():
    assert receptive_field((1, 1, 32, 32), conv(kernel_size=3, dilation=2)) == (5, 5)


def test_worked_example_six_5x5x3_filters_on_32x32x3():
    layer = Conv(name="c", in_channels=3, out_channels=6, kernel_size=5)
    assert layer.infer([(1, 3, 32, 32)]) == (1, 6, 28, 28)
    assert layer.params([(1, 3, 32, 32)]) == 6 * (75 + 1)


# ---------------------------------------------------------------------------------------------
# Output-size formula and padding specs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, k, s, d, pad, expected",
    [
        (10, 5, 2, 1, (1, 1), 4),  # (10+2-5)//2 + 1
        (7, 3, 1, 1, (0, 0), 5),
        (7, 3, 2, 1, (0, 0), 3),
        (7, 3, 1, 2, (0, 0), 3),  # effective kernel 5
        (7, 3, 2, 1, (1, 2), 4),  # asymmetric: (7+3-3)//2 + 1
        (5, 3, 1, 1, (0, 2), 5),
        (8, 4, 3, 1, (2, 0), 3),  # (8+2-4)//3 + 1
        (3, 5, 1, 1, (1, 0), 0),  # kernel larger than the padded input
    ],
)
def test_window_output_size_formula(n, k, s, d, pad, expected):
    assert window_output_size(n, k, s, d, pad) == expected
    if expected:
        assert expected == (n + pad[0] + pad[1] - d * (k - 1) - 1) // s + 1


def test_asymmetric_padding_per_side():
    # H: 5 + 0 + 1 - 3 + 1 = 4; W: 6 + 2 + 0 - 3 + 1 = 6
    layer = conv(kernel_size=3, padding=((0, 1), (2, 0)))
    assert layer.pads((5, 6)) == ((0, 1), (2, 0))
    assert layer.infer([(1, 1, 5, 6)]) == (1, 1, 4, 6)


@pytest.mark.parametrize(
    "n, k, s, d, pads",
    [
        (7, 3, 1, 1, (1, 1)),  # odd kernel, stride 1: symmetric
        (7, 4, 1, 1, (1, 2)),  # even kernel: PyTorch puts the odd element on the high side
        (7, 3, 1, 2, (2, 2)),  # dilation: effective kernel 5
        (7, 3, 2, 1, (1, 1)),  # stride 2 (SAME_UPPER): out 4, total (4-1)*2 + 3 - 7 = 2
        (8, 3, 2, 1, (0, 1)),  # total (4-1)*2 + 3 - 8 = 1
        (8, 4, 2, 1, (1, 1)),  # even kernel, stride 2: total 2
        (7, 2, 2, 1, (0, 1)),  # even kernel, odd input: total 1
        (8, 1, 2, 1, (0, 0)),  # 1x1 stride 2 needs no padding
    ],
)
def test_same_padding_keeps_ceil_in_over_stride(n, k, s, d, pads):
    layer = conv(kernel_size=(k,), stride=s, dilation=d, padding="same")
    assert layer.pads((n,)) == (pads,)
    assert layer.infer([(1, 1, n)]) == (1, 1, math.ceil(n / s))


def test_valid_padding_is_no_padding():
    layer = conv(kernel_size=3, padding="valid")
    assert layer.pads((9, 9)) == ((0, 0), (0, 0))
    assert layer.infer([(1, 1, 9, 9)]) == (1, 1, 7, 7)


@pytest.mark.parametrize(
    "spec, expected",
    [
        (2, ((2, 2), (2, 2))),
        ((1, 2), ((1, 1), (2, 2))),
        (((0, 1), (3, 2)), ((0, 1), (3, 2))),
        ([[1, 0], [0, 1]], ((1, 0), (0, 1))),
    ],
)
def test_padding_specs(spec, expected):
    assert resolve_padding(spec, (9, 9), (3, 3), (1, 1), (1, 1)) == expected


def test_rectangular_kernel_stride_padding():
    layer = Conv(name="c", in_channels=2, out_channels=4, kernel_size=(3, 5), stride=(1, 2), padding=(1, 2))
    out, params, macs, _ = counts(layer, (1, 2, 10, 11))
    # H: (10 + 2 - 3) // 1 + 1 = 10; W: (11 + 4 - 5) // 2 + 1 = 6
    assert out == (1, 4, 10, 6)
    assert params == 4 * 2 * 15 + 4
    assert macs == 4 * 10 * 6 * 2 * 15
    assert receptive_field((1, 2, 10, 11), layer) == (3, 5)


def test_conv1d():
    layer = Conv(name="c", in_channels=4, out_channels=8, kernel_size=(5,), stride=3)
    out, params, macs, _ = counts(layer, (2, 4, 20))
    assert out == (2, 8, 6)  # (20 - 5) // 3 + 1
    assert params == 8 * 4 * 5 + 8
    assert macs == 2 * 8 * 6 * 4 * 5


def test_conv3d():
    layer = Conv(name="c", in_channels=2, out_channels=4, kernel_size=(3, 3, 3), padding=1)
    out, params, macs, _ = counts(layer, (1, 2, 8, 8, 8))
    assert out == (1, 4, 8, 8, 8)
    assert params == 4 * 2 * 27 + 4
    assert macs == 4 * 8**3 * 2 * 27


def test_grouped_conv_params_and_macs():
    layer = Conv(name="c", in_channels=8, out_channels=16, kernel_size=3, padding=1, groups=4)
    out, params, macs, _ = counts(layer, (1, 8, 10, 10))
    assert out == (1, 16, 10, 10)
    assert params == 16 * (8 // 4) * 9 + 16
    assert macs == 16 * 100 * 2 * 9


def test_depthwise_conv_params_and_macs():
    layer = Conv(name="dw", in_channels=32, out_channels=32, kernel_size=3, padding=1, groups=32, bias=False)
    out, params, macs, _ = counts(layer, (1, 32, 112, 112))
    assert out == (1, 32, 112, 112)
    assert params == 32 * 9
    assert macs == 32 * 112 * 112 * 9


def test_flip_kernel_does_not_change_counts():
    a, b = conv(kernel_size=3), conv(kernel_size=3, flip_kernel=True)
    assert counts(a, (1, 1, 6, 6)) == counts(b, (1, 1, 6, 6))


# ---------------------------------------------------------------------------------------------
# Transposed convolution: out = (n-1)*s - 2p + d*(k-1) + output_padding + 1 (PyTorch docs)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, k, s, p, op, d, expected",
    [
        (5, 3, 2, 1, 1, 1, 10),  # 8 - 2 + 2 + 1 + 1
        (4, 4, 2, 1, 0, 1, 8),  # DCGAN-style doubling
        (3, 3, 1, 0, 0, 1, 5),
        (3, 3, 2, 0, 0, 2, 9),  # 4 + 4 + 1
        (4, 2, 2, 0, 0, 1, 8),
    ],
)
def test_conv_transpose_output_size(n, k, s, p, op, d, expected):
    layer = ConvTranspose(
        name="t", in_channels=1, out_channels=1, kernel_size=(k,), stride=s, padding=p, output_padding=op, dilation=d
    )
    assert expected == (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    assert layer.infer([(1, 1, n)]) == (1, 1, expected)


def test_conv_transpose_params_and_macs():
    layer = ConvTranspose(name="t", in_channels=16, out_channels=8, kernel_size=4, stride=2, padding=1, groups=2)
    out, params, macs, _ = counts(layer, (1, 16, 4, 4))
    assert out == (1, 8, 8, 8)
    assert params == 16 * (8 // 2) * 16 + 8  # weight (in, out/groups, kH, kW) + bias
    assert macs == 16 * 4 * 4 * (8 // 2) * 16  # every input element scatters into out/groups x k x k


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


def pool(mode="max", **kw):
    return Pool(name="p", mode=mode, **kw)


def test_pool_stride_defaults_to_kernel():
    layer = pool(kernel_size=2)
    assert layer.stride == (2, 2)
    out, params, macs, flops = counts(layer, (1, 3, 224, 224))
    assert out == (1, 3, 112, 112)
    assert (params, macs) == (0, 0)
    assert flops == 3 * 112 * 112 * 4  # one compare per window element


@pytest.mark.parametrize(
    "n, k, s, p, floor_out, ceil_out",
    [
        (5, 2, 2, 0, 2, 3),  # ceil adds a partial window over the last element
        (6, 3, 2, 1, 3, 4),  # last window starts at 5 (inside the input): kept
        # Naive ceil gives ceil(5/2) + 1 = 4, but the 4th window would start at 6 = 5 + 1,
        # i.e. in the right padding, so PyTorch drops it.
        (5, 2, 2, 1, 3, 3),
        (4, 2, 2, 0, 2, 2),  # exact fit: no difference
    ],
)
def test_pool_ceil_mode(n, k, s, p, floor_out, ceil_out):
    for ceil_mode, expected in ((False, floor_out), (True, ceil_out)):
        for mode in ("max", "avg"):
            layer = pool(mode, kernel_size=(k,), stride=s, padding=p, ceil_mode=ceil_mode)
            assert layer.infer([(1, 1, n)]) == (1, 1, expected)


def test_pool_count_include_pad_does_not_change_shape():
    for include in (True, False):
        layer = pool("avg", kernel_size=3, stride=2, padding=1, count_include_pad=include)
        assert layer.infer([(1, 1, 7, 7)]) == (1, 1, 4, 4)


def test_dilated_max_pool():
    # effective window 5: (9 - 5) // 1 + 1 = 5
    assert pool(kernel_size=3, stride=1, dilation=2).infer([(1, 2, 9, 9)]) == (1, 2, 5, 5)


def test_pool3d():
    assert pool(kernel_size=(2, 2, 2)).infer([(1, 4, 8, 8, 8)]) == (1, 4, 4, 4, 4)


@pytest.mark.parametrize("shape, expected", [((2, 512, 7, 7), (2, 512, 1, 1)), ((1, 64, 5), (1, 64, 1))])
def test_global_avg_pool(shape, expected):
    out, params, macs, flops = counts(GlobalAvgPool(name="g"), shape)
    assert out == expected
    assert (params, macs) == (0, 0)
    assert flops == math.prod(shape)


# ---------------------------------------------------------------------------------------------
# Dense, elementwise and structural layers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias, params", [(True, 400 * 120 + 120), (False, 400 * 120)])
def test_linear(bias, params):
    out, p, macs, flops = counts(Linear(name="fc", in_features=400, out_features=120, bias=bias), (4, 400))
    assert out == (4, 120)
    assert p == params
    assert macs == 4 * 400 * 120
    assert flops == 2 * macs


@pytest.mark.parametrize("start_dim, expected", [(1, (2, 400)), (2, (2, 16, 25)), (3, (2, 16, 5, 5))])
def test_flatten(start_dim, expected):
    assert Flatten(name="f", start_dim=start_dim).infer([(2, 16, 5, 5)]) == expected


def test_batchnorm_has_2c_params():
    out, params, macs, _ = counts(BatchNorm(name="bn", num_features=64), (2, 64, 8, 8))
    assert out == (2, 64, 8, 8)
    assert params == 2 * 64  # gamma and beta; running statistics are buffers
    assert macs == 0


def test_local_response_norm():
    out, params, _, flops = counts(LocalResponseNorm(name="lrn", size=5), (1, 96, 55, 55))
    assert out == (1, 96, 55, 55)
    assert params == 0
    assert flops == 96 * 55 * 55 * (2 * 5 + 3)


@pytest.mark.parametrize("function", ["relu", "relu6", "leaky_relu"])
def test_activation(function):
    out, params, macs, flops = counts(Activation(name="a", function=function), (2, 3, 4, 4))
    assert out == (2, 3, 4, 4)
    assert (params, macs, flops) == (0, 0, 2 * 3 * 16)


@pytest.mark.parametrize(
    "scale, shape, expected",
    [(2, (1, 3, 4, 5), (1, 3, 8, 10)), ((2, 3), (1, 3, 4, 5), (1, 3, 8, 15)), (4, (1, 2, 7), (1, 2, 28))],
)
@pytest.mark.parametrize("mode", ["nearest", "zeros"])
def test_upsample(scale, shape, expected, mode):
    out, params, macs, _ = counts(Upsample(name="u", scale_factor=scale, mode=mode), shape)
    assert out == expected
    assert (params, macs) == (0, 0)


def test_add_shapes_and_flops():
    layer = Add(name="add", inputs=("a", "b", "c"))
    shapes = [(1, 8, 4, 4)] * 3
    assert layer.infer(shapes) == (1, 8, 4, 4)
    assert layer.flops(shapes) == 2 * 8 * 16  # two additions per element
    assert layer.params(shapes) == 0


@pytest.mark.parametrize(
    "dim, shapes, expected",
    [
        (1, [(1, 3, 8, 8), (1, 5, 8, 8)], (1, 8, 8, 8)),
        (1, [(2, 1, 4), (2, 2, 4), (2, 3, 4)], (2, 6, 4)),
        (2, [(1, 3, 8, 8), (1, 3, 2, 8)], (1, 3, 10, 8)),
    ],
)
def test_concat_shapes(dim, shapes, expected):
    assert Concat(name="cat", inputs=("a", "b"), dim=dim).infer(shapes) == expected


def test_layers_are_frozen():
    layer = conv(kernel_size=3)
    with pytest.raises(AttributeError):
        layer.stride = (2, 2)


def test_single_input_name_string_is_one_input():
    assert Activation(name="a", inputs="conv1").inputs == ("conv1",)


# ---------------------------------------------------------------------------------------------
# Receptive fields
# ---------------------------------------------------------------------------------------------


def c3(name, **kw):
    return Conv(name=name, **{"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": 1, **kw})


@pytest.mark.parametrize(
    "layers, expected",
    [
        # 3, then a 2x2/2 pool adds (2-1)*1 = 1 and doubles the jump, then a 3x3 adds 2*2 = 4
        ([c3("a"), Pool(name="p", mode="max", kernel_size=2), c3("b")], 8),
        # ResNet stem: 7x7/2 (7, jump 2), 3x3/2 pool (7 + 2*2 = 11, jump 4), 3x3 (11 + 2*4 = 19)
        (
            [
                Conv(name="a", in_channels=1, out_channels=1, kernel_size=7, stride=2, padding=3),
                Pool(name="p", mode="max", kernel_size=3, stride=2, padding=1),
                c3("b"),
            ],
            19,
        ),
        ([c3("a", stride=2), c3("b", stride=2), c3("c")], 3 + 2 * 2 + 2 * 4),
        ([c3("a", dilation=2, padding=2), c3("b", dilation=4, padding=4)], 5 + 8),
        # Upsampling halves the jump: 3 + ceil(2 * 1/2) = 4
        ([c3("a"), Upsample(name="u"), c3("b")], 4),
        # Flatten sees everything: 3 + (16 - 1) * 1 = 18
        ([c3("a"), Flatten(name="f")], 18),
        ([c3("a"), Pool(name="p", mode="avg", kernel_size=2), GlobalAvgPool(name="g")], 4 + 7 * 2),
    ],
)
def test_receptive_field(layers, expected):
    assert receptive_field((1, 1, 16, 16), *layers) == (expected, expected)


def test_receptive_field_1d():
    layers = [
        Conv(name="a", in_channels=1, out_channels=1, kernel_size=(80,), stride=16),
        Pool(name="p", mode="max", kernel_size=(4,)),
    ]
    assert receptive_field((1, 1, 8000), *layers) == (80 + 3 * 16,)


# ---------------------------------------------------------------------------------------------
# PyTorch cross-check of shapes and parameter counts
# ---------------------------------------------------------------------------------------------


def _torch_cases(nn):
    return [
        (Conv(name="c", in_channels=3, out_channels=8, kernel_size=5, stride=2, padding=1), nn.Conv2d(3, 8, 5, 2, 1), (1, 3, 17, 19)),
        (Conv(name="c", in_channels=4, out_channels=6, kernel_size=(3, 5), stride=(2, 1), padding=(0, 2), dilation=(2, 1), groups=2, bias=False),
         nn.Conv2d(4, 6, (3, 5), (2, 1), (0, 2), (2, 1), groups=2, bias=False), (2, 4, 15, 9)),
        (Conv(name="c", in_channels=2, out_channels=2, kernel_size=4, padding="same", dilation=3),
         nn.Conv2d(2, 2, 4, padding="same", dilation=3), (1, 2, 11, 12)),
        (Conv(name="c", in_channels=3, out_channels=5, kernel_size=(7,), stride=3, padding=2), nn.Conv1d(3, 5, 7, 3, 2), (1, 3, 50)),
        (Conv(name="c", in_channels=2, out_channels=4, kernel_size=(3, 3, 2), padding=(1, 0, 1), padding_mode="circular"),
         nn.Conv3d(2, 4, (3, 3, 2), padding=(1, 0, 1), padding_mode="circular"), (1, 2, 5, 6, 7)),
        (Conv(name="c", in_channels=8, out_channels=8, kernel_size=3, padding=2, groups=8, padding_mode="reflect"),
         nn.Conv2d(8, 8, 3, padding=2, groups=8, padding_mode="reflect"), (1, 8, 9, 9)),
        (ConvTranspose(name="t", in_channels=6, out_channels=4, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2),
         nn.ConvTranspose2d(6, 4, 3, 2, 1, 1, groups=2), (1, 6, 5, 7)),
        (ConvTranspose(name="t", in_channels=2, out_channels=3, kernel_size=(4,), stride=3, dilation=2, output_padding=1, bias=False),
         nn.ConvTranspose1d(2, 3, 4, 3, output_padding=1, dilation=2, bias=False), (1, 2, 6)),
        (Pool(name="p", mode="max", kernel_size=2, stride=2, padding=1, ceil_mode=True), nn.MaxPool2d(2, 2, 1, ceil_mode=True), (1, 1, 5, 6)),
        (Pool(name="p", mode="max", kernel_size=3, stride=2, dilation=2, ceil_mode=True), nn.MaxPool2d(3, 2, 0, 2, ceil_mode=True), (1, 1, 12, 13)),
        (Pool(name="p", mode="avg", kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
         nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (1, 1, 6, 7)),
        (Pool(name="p", mode="avg", kernel_size=(2, 3, 2), stride=(1, 2, 2)), nn.AvgPool3d((2, 3, 2), (1, 2, 2)), (1, 1, 4, 7, 6)),
        (BatchNorm(name="bn", num_features=7), nn.BatchNorm2d(7), (2, 7, 3, 3)),
        (LocalResponseNorm(name="lrn", size=5), nn.LocalResponseNorm(5), (1, 8, 3, 3)),
        (Linear(name="fc", in_features=12, out_features=5), nn.Linear(12, 5), (3, 12)),
        (Flatten(name="f"), nn.Flatten(), (2, 3, 4, 5)),
        (GlobalAvgPool(name="g"), nn.AdaptiveAvgPool2d(1), (1, 3, 5, 4)),
        (Upsample(name="u", scale_factor=(2, 3)), nn.Upsample(scale_factor=(2, 3)), (1, 2, 3, 4)),
    ]  # fmt: skip


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_layers_match_pytorch_shapes_and_params():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    for layer, module, shape in _torch_cases(torch.nn):
        expected = tuple(module.eval()(torch.zeros(shape)).shape)
        assert layer.infer([shape]) == expected, layer
        assert layer.params([shape]) == sum(p.numel() for p in module.parameters()), layer


# ---------------------------------------------------------------------------------------------
# Bad input: a WorkloadError naming the layer and the field
# ---------------------------------------------------------------------------------------------


def bad_conv(**kw):
    return Conv(name="bad", **{"in_channels": 4, "out_channels": 4, "kernel_size": 3, **kw})


BAD_LAYERS = [
    # zero / negative sizes
    ("conv", "in_channels", lambda: bad_conv(in_channels=0)),
    ("conv", "out_channels", lambda: bad_conv(out_channels=-1)),
    ("conv", "kernel_size", lambda: bad_conv(kernel_size=0)),
    ("conv", "kernel_size", lambda: bad_conv(kernel_size=(3, 0))),
    ("conv", "kernel_size", lambda: bad_conv(kernel_size=(1, 1, 1, 1))),
    ("conv", "kernel_size", lambda: bad_conv(kernel_size=None)),
    ("conv", "kernel_size", lambda: bad_conv(kernel_size=3.0)),
    ("conv", "stride", lambda: bad_conv(stride=0)),
    ("conv", "stride", lambda: bad_conv(stride=(1, 2, 1))),
    ("conv", "groups", lambda: bad_conv(groups=0)),
    ("conv_transpose", "kernel_size", lambda: ConvTranspose(name="bad", in_channels=1, out_channels=1, kernel_size=-2)),
    ("pool", "kernel_size", lambda: Pool(name="bad", mode="max", kernel_size=0)),
    ("pool", "stride", lambda: Pool(name="bad", mode="max", kernel_size=2, stride=-1)),
    ("linear", "in_features", lambda: Linear(name="bad", in_features=0, out_features=10)),
    ("linear", "out_features", lambda: Linear(name="bad", in_features=10, out_features=-3)),
    ("batchnorm", "num_features", lambda: BatchNorm(name="bad", num_features=0)),
    ("lrn", "size", lambda: LocalResponseNorm(name="bad", size=0)),
    ("upsample", "scale_factor", lambda: Upsample(name="bad", scale_factor=0)),
    ("upsample", "scale_factor", lambda: Upsample(name="bad", scale_factor=(2, 0))),
    # channels not divisible by groups
    ("conv", "groups", lambda: bad_conv(in_channels=6, out_channels=4, groups=4)),
    ("conv", "groups", lambda: bad_conv(in_channels=4, out_channels=6, groups=4)),
    ("conv_transpose", "groups", lambda: ConvTranspose(name="bad", in_channels=3, out_channels=4, kernel_size=2, groups=2)),
    # dilation < 1
    ("conv", "dilation", lambda: bad_conv(dilation=0)),
    ("conv_transpose", "dilation", lambda: ConvTranspose(name="bad", in_channels=1, out_channels=1, kernel_size=2, dilation=0)),
    ("pool", "dilation", lambda: Pool(name="bad", mode="max", kernel_size=2, dilation=(1, 0))),
    ("pool", "dilation", lambda: Pool(name="bad", mode="avg", kernel_size=2, dilation=2)),
    # bad padding specs
    ("conv", "padding", lambda: bad_conv(padding="full")),
    ("conv", "padding", lambda: bad_conv(padding=-1)),
    ("conv", "padding", lambda: bad_conv(padding=((1, -1), (0, 0)))),
    ("conv", "padding", lambda: bad_conv(padding=((1, 2),))),
    ("conv", "padding", lambda: bad_conv(padding=((1, 2), (3,)))),
    ("conv", "padding", lambda: bad_conv(padding=(1, (1, 2)))),
    ("conv", "padding", lambda: bad_conv(padding=((1.5, 1), (1, 1)))),
    ("conv", "padding", lambda: bad_conv(padding=1.5)),
    ("conv", "padding", lambda: bad_conv(padding=None)),
    ("conv", "padding", lambda: bad_conv(padding=(1, 1, 1))),
    ("pool", "padding", lambda: Pool(name="bad", mode="max", kernel_size=3, padding=2)),
    ("pool", "padding", lambda: Pool(name="bad", mode="max", kernel_size=3, padding=-1)),
    ("conv_transpose", "padding", lambda: ConvTranspose(name="bad", in_channels=1, out_channels=1, kernel_size=2, padding=-1)),
    ("conv_transpose", "output_padding",
     lambda: ConvTranspose(name="bad", in_channels=1, out_channels=1, kernel_size=3, stride=2, output_padding=2)),
    # bad modes and choices
    ("conv", "padding_mode", lambda: bad_conv(padding_mode="mirror")),
    ("pool", "mode", lambda: Pool(name="bad", mode="min", kernel_size=2)),
    ("activation", "function", lambda: Activation(name="bad", function="gelu")),
    ("upsample", "mode", lambda: Upsample(name="bad", mode="bilinear")),
]  # fmt: skip


@pytest.mark.parametrize("kind, field, build", BAD_LAYERS)
def test_bad_layer_fields_are_rejected_on_construction(kind, field, build):
    with pytest.raises(WorkloadError, match=rf"layer 'bad' \({kind}\): {field}\b"):
        build()


BAD_INPUTS = [
    # kernel larger than the (padded) input
    ("conv", "kernel_size", bad_conv(kernel_size=5), (1, 4, 3, 3)),
    ("conv", "kernel_size", bad_conv(kernel_size=3, dilation=3), (1, 4, 6, 6)),
    ("conv", "kernel_size", bad_conv(kernel_size=(1, 5), padding=((0, 0), (1, 0))), (1, 4, 3, 3)),
    ("pool", "kernel_size", Pool(name="bad", mode="max", kernel_size=3), (1, 4, 2, 2)),
    ("conv_transpose", "padding", ConvTranspose(name="bad", in_channels=4, out_channels=4, kernel_size=1, padding=1), (1, 4, 2, 2)),
    # padding the input cannot provide
    ("conv", "padding", bad_conv(padding=3, padding_mode="reflect"), (1, 4, 3, 8)),
    ("conv", "padding", bad_conv(padding=4, padding_mode="circular"), (1, 4, 3, 3)),
    # wrong input rank or size
    ("conv", "input", bad_conv(), (1, 4, 32)),
    ("conv", "input", bad_conv(kernel_size=(3,)), (1, 4, 8, 8)),
    ("pool", "input", Pool(name="bad", mode="max", kernel_size=(2,)), (1, 4, 8, 8)),
    ("conv_transpose", "input", ConvTranspose(name="bad", in_channels=4, out_channels=4, kernel_size=2), (1, 4, 8, 8, 8)),
    ("global_avgpool", "input", GlobalAvgPool(name="bad"), (1, 4)),
    ("upsample", "input", Upsample(name="bad"), (1, 4)),
    ("upsample", "scale_factor", Upsample(name="bad", scale_factor=(2, 2)), (1, 4, 8)),
    ("conv", "in_channels", bad_conv(), (1, 3, 8, 8)),
    ("conv_transpose", "in_channels", ConvTranspose(name="bad", in_channels=4, out_channels=4, kernel_size=2), (1, 2, 8, 8)),
    ("batchnorm", "num_features", BatchNorm(name="bad", num_features=4), (1, 8, 2, 2)),
    # Linear without Flatten
    ("linear", "in_features", Linear(name="bad", in_features=400, out_features=10), (1, 16, 5, 5)),
    ("linear", "in_features", Linear(name="bad", in_features=400, out_features=10), (1, 399)),
    ("flatten", "start_dim", Flatten(name="bad", start_dim=2), (1, 400)),
]  # fmt: skip


@pytest.mark.parametrize("kind, field, layer, shape", BAD_INPUTS)
def test_layer_that_cannot_produce_an_output(kind, field, layer, shape):
    with pytest.raises(WorkloadError, match=rf"layer 'bad' \({kind}\): {field}\b"):
        layer.infer([shape])


def test_linear_error_suggests_flatten():
    with pytest.raises(WorkloadError, match="Flatten"):
        Linear(name="fc", in_features=400, out_features=10).infer([(1, 16, 5, 5)])


@pytest.mark.parametrize(
    "layer, shapes",
    [
        (Add(name="bad", inputs=("a",)), [(1, 2, 3, 3)]),
        (Add(name="bad", inputs=("a", "b")), [(1, 2, 3, 3), (1, 2, 3, 4)]),
        (Concat(name="bad", inputs=("a", "b")), [(1, 2, 3, 3), (1, 2, 4, 3)]),
        (Concat(name="bad", inputs=("a", "b")), [(1, 2, 3, 3), (1, 2, 3)]),
        (Conv(name="bad", in_channels=2, out_channels=2, kernel_size=1), [(1, 2, 3, 3)] * 2),
    ],
)
def test_bad_input_count_or_shapes(layer, shapes):
    with pytest.raises(WorkloadError, match=rf"layer 'bad' \({layer.kind}\): inputs"):
        layer.infer(shapes)


def test_concat_bad_dim():
    with pytest.raises(WorkloadError, match=r"layer 'bad' \(concat\): dim"):
        Concat(name="bad", inputs=("a", "b"), dim=4).infer([(1, 2, 3, 3)] * 2)


@pytest.mark.parametrize("name", ["", None, 3])
def test_layer_name_must_be_a_non_empty_string(name):
    with pytest.raises(WorkloadError, match="layer name"):
        Activation(name=name)
