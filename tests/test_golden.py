"""Tests of the NumPy golden model: it computes what PyTorch computes.

Three kinds of evidence: small cases worked out by hand, integer exactness against slow
loop-by-loop references written below, and (when PyTorch is installed) randomized comparison
with ``torch.nn.functional`` in float64.
"""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from workloads import golden as G
from workloads.errors import WorkloadError
from workloads.shapes import resolve_padding

TORCH_REASON = "PyTorch not installed: pip install torch==2.13.0"


def arr(values, dtype=np.int64) -> np.ndarray:
    return np.array(values, dtype=dtype)


def image(values, dtype=np.int64) -> np.ndarray:
    """A single-image, single-channel (1, 1, ...) array."""
    return arr(values, dtype)[None, None]


def ones_kernel(*kernel) -> np.ndarray:
    return np.ones((1, 1) + kernel, dtype=np.int64)


def assert_exact(got: np.ndarray, expected) -> None:
    expected = np.asarray(expected)
    assert got.dtype == np.int64
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


CONV = {1: G.conv1d, 2: G.conv2d, 3: G.conv3d}
CONV_T = {1: G.conv_transpose1d, 2: G.conv_transpose2d, 3: G.conv_transpose3d}
MAX_POOL = {1: G.max_pool1d, 2: G.max_pool2d, 3: G.max_pool3d}
AVG_POOL = {1: G.avg_pool1d, 2: G.avg_pool2d, 3: G.avg_pool3d}

X3 = image(np.arange(9).reshape(3, 3))  # [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
X4 = image(np.arange(16).reshape(4, 4))  # rows [0..3], [4..7], [8..11], [12..15]


# ============================================================================================
# Hand-computed cases
# ============================================================================================


def test_conv2d_stride2():
    # 2x2 sums over non-overlapping blocks: 0+1+4+5, 2+3+6+7, 8+9+12+13, 10+11+14+15.
    assert_exact(G.conv2d(X4, ones_kernel(2, 2), stride=2), image([[10, 18], [42, 50]]))


def test_conv2d_zero_padding_and_bias():
    # 3x3 box sum with zero padding 1: each output sums the in-bounds 3x3 neighbourhood, +1 bias.
    expected = image([[8, 15, 12], [21, 36, 27], [20, 33, 24]]) + 1
    assert_exact(G.conv2d(X3, ones_kernel(3, 3), bias=arr([1]), padding=1), expected)


def test_conv2d_asymmetric_padding():
    # Rows padded (0 top, 1 bottom), columns (1 left, 0 right); the padded input is
    # [[0,0,1,2],[0,3,4,5],[0,6,7,8],[0,0,0,0]] and each output is a 2x2 sum of it.
    expected = image([[3, 8, 12], [9, 20, 24], [6, 13, 15]])
    assert_exact(G.conv2d(X3, ones_kernel(2, 2), padding=((0, 1), (1, 0))), expected)


@pytest.mark.parametrize(
    "mode, expected",
    [
        # reflect mirrors about the edge element without repeating it: row -1 is row 1.
        ("reflect", [[4, 3, 4, 5, 4], [1, 0, 1, 2, 1], [4, 3, 4, 5, 4], [7, 6, 7, 8, 7], [4, 3, 4, 5, 4]]),
        # replicate repeats the edge element.
        ("replicate", [[0, 0, 1, 2, 2], [0, 0, 1, 2, 2], [3, 3, 4, 5, 5], [6, 6, 7, 8, 8], [6, 6, 7, 8, 8]]),
        # circular wraps around: row -1 is the last row, column -1 the last column.
        ("circular", [[8, 6, 7, 8, 6], [2, 0, 1, 2, 0], [5, 3, 4, 5, 3], [8, 6, 7, 8, 6], [2, 0, 1, 2, 0]]),
        ("zeros", [[0, 0, 0, 0, 0], [0, 0, 1, 2, 0], [0, 3, 4, 5, 0], [0, 6, 7, 8, 0], [0, 0, 0, 0, 0]]),
    ],
)
def test_conv2d_padding_modes(mode, expected):
    # A 1x1 identity kernel with padding 1 returns the padded input itself.
    assert_exact(G.conv2d(X3, ones_kernel(1, 1), padding=1, padding_mode=mode), image(expected))


def test_conv2d_reflect_padding_with_box_kernel():
    # Corner (0, 0) of a 3x3 box sum over the reflect-padded input above: 4+3+4 + 1+0+1 + 4+3+4.
    out = G.conv2d(X3, ones_kernel(3, 3), padding=1, padding_mode="reflect")
    assert out[0, 0, 0, 0] == 24
    assert out[0, 0, 1, 1] == 36


def test_conv2d_dilation2():
    # 2x2 kernel with dilation 2 taps x[i,j] + x[i,j+2] + x[i+2,j] + x[i+2,j+2].
    assert_exact(G.conv2d(X4, ones_kernel(2, 2), dilation=2), image([[20, 24], [36, 40]]))


def test_conv2d_groups2():
    # Channel c holds 10*c + [[0,1],[2,3]]. Group 0 (channels 0, 1) -> out0 = x0 + 2*x1;
    # group 1 (channels 2, 3) -> out1 = x2 - x3 = -10 everywhere.
    x = (10 * np.arange(4)[:, None, None] + np.arange(4).reshape(2, 2))[None]
    w = arr([[1, 2], [1, -1]]).reshape(2, 2, 1, 1)
    assert_exact(G.conv2d(x, w, groups=2), [[[[20, 23], [26, 29]], [[-10, -10], [-10, -10]]]])


def test_conv2d_depthwise():
    # groups == channels: channel 0 [[0,1],[2,3]] * diag kernel -> 0+3; channel 1 [[10,11],[12,13]]
    # * anti-diagonal kernel -> 11+12.
    x = arr([[[0, 1], [2, 3]], [[10, 11], [12, 13]]])[None]
    w = arr([[[1, 0], [0, 1]], [[0, 1], [1, 0]]])[:, None]
    assert_exact(G.conv2d(x, w, groups=2), arr([3, 23]).reshape(1, 2, 1, 1))


def test_conv2d_1x1_mixes_channels():
    # out0 = x0, out1 = x1, out2 = x0 + x1 + 100 (bias).
    x = arr([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])[None]
    w = arr([[1, 0], [0, 1], [1, 1]]).reshape(3, 2, 1, 1)
    expected = [[[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[106, 108], [110, 112]]]]
    assert_exact(G.conv2d(x, w, bias=arr([0, 0, 100])), expected)


def test_conv2d_rectangular_kernel():
    # 2x3 box sums over [[0,1,2,3],[4,5,6,7],[8,9,10,11]]: 0+1+2+4+5+6 = 18, and so on.
    x = image(np.arange(12).reshape(3, 4))
    assert_exact(G.conv2d(x, ones_kernel(2, 3)), image([[18, 24], [42, 48]]))


def test_conv2d_same_and_valid():
    # 'same' with an odd kernel is padding 1: the box sums of test_conv2d_zero_padding_and_bias.
    assert_exact(G.conv2d(X3, ones_kernel(3, 3), padding="same"), image([[8, 15, 12], [21, 36, 27], [20, 33, 24]]))
    # 'same' with a 2x2 kernel pads (0, 1): the extra element goes to the high side.
    assert_exact(G.conv2d(X3, ones_kernel(2, 2), padding="same"), image([[8, 12, 7], [20, 24, 13], [13, 15, 8]]))
    assert_exact(G.conv2d(X3, ones_kernel(2, 2), padding="valid"), image([[8, 12], [20, 24]]))


def test_conv2d_same_with_stride2():
    # out = ceil(4 / 2) = 2 needs (2-1)*2 + 3 - 4 = 1 padding, on the high side (SAME_UPPER).
    # Windows cover rows/cols {0,1,2} and {2,3,pad}: 45, 2+3+6+7+10+11 = 39, 8+..+14 = 66, 50.
    assert_exact(G.conv2d(X4, ones_kernel(3, 3), stride=2, padding="same"), image([[45, 39], [66, 50]]))


def test_conv2d_flip_kernel():
    w = image([[1, 2], [3, 4]])
    # Cross-correlation: 1*x[i,j] + 2*x[i,j+1] + 3*x[i+1,j] + 4*x[i+1,j+1]; (0,0) = 0+2+9+16.
    assert_exact(G.conv2d(X3, w), image([[27, 37], [57, 67]]))
    # True convolution uses the kernel rotated by 180 degrees, [[4,3],[2,1]]; (0,0) = 0+3+6+4.
    assert_exact(G.conv2d(X3, w, flip_kernel=True), image([[13, 23], [43, 53]]))


def test_conv1d():
    # Padded input [0,1,2,3,4,5,0] correlated with [1,0,-1]: p[i] - p[i+2].
    x, w = image([1, 2, 3, 4, 5]), image([1, 0, -1])
    assert_exact(G.conv1d(x, w, padding=1), image([-2, -2, -2, -2, 4]))
    assert_exact(G.conv1d(x, w, padding=1, stride=2), image([-2, -2, 4]))


def test_conv3d():
    x = image(np.arange(8).reshape(2, 2, 2))
    # A (2,1,1) kernel adds the two depth slices: [[0,1],[2,3]] + [[4,5],[6,7]].
    assert_exact(G.conv3d(x, ones_kernel(2, 1, 1)), image([[[4, 6], [8, 10]]]))
    # The full 2x2x2 box sums 0..7.
    assert_exact(G.conv3d(x, ones_kernel(2, 2, 2)), image([[[28]]]))


def test_conv_transpose2d_stride2():
    # Each input scatters x[i,j] * w into the 2x2 block at (2i, 2j); with kernel == stride the
    # blocks do not overlap.
    x, w = image([[1, 2], [3, 4]]), image([[1, 2], [3, 4]])
    expected = image([[1, 2, 2, 4], [3, 4, 6, 8], [3, 6, 4, 8], [9, 12, 12, 16]])
    assert_exact(G.conv_transpose2d(x, w, stride=2), expected)


def test_conv_transpose1d_overlap_padding_output_padding():
    # Stride 2, kernel [1,1,1]: x0 -> 0..2, x1 -> 2..4, x2 -> 4..6, full output [1,1,3,2,5,3,3].
    x, w = image([1, 2, 3]), image([1, 1, 1])
    assert_exact(G.conv_transpose1d(x, w, stride=2), image([1, 1, 3, 2, 5, 3, 3]))
    # padding 1 removes one element from each end.
    assert_exact(G.conv_transpose1d(x, w, stride=2, padding=1), image([1, 3, 2, 5, 3]))
    # output_padding 1 gives back one element on the high side.
    assert_exact(G.conv_transpose1d(x, w, stride=2, padding=1, output_padding=1), image([1, 3, 2, 5, 3, 3]))


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_max_pool2d_padding_never_wins(dtype):
    # x = -[[0..3],...,[12..15]]; 3x3 windows, stride 2, padding 1 start at -1 and 1. The padding
    # must not act as 0: window (1,1) covers -5..-15 and its max is -5.
    x = image(-np.arange(16).reshape(4, 4), dtype)
    out = G.max_pool2d(x, 3, stride=2, padding=1)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, image([[0, -1], [-4, -5]], dtype))


@pytest.mark.parametrize(
    "count_include_pad, expected",
    [
        # Window sums [[1,3,2],[4,10,6],[3,7,4]] over 2x2 windows of the zero-padded input.
        (True, [[0.25, 0.75, 0.5], [1, 2.5, 1.5], [0.75, 1.75, 1]]),  # always / 4
        (False, [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]]),  # / number of input elements covered
    ],
)
def test_avg_pool2d_padding(count_include_pad, expected):
    x = image([[1, 2], [3, 4]], np.float64)
    out = G.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=count_include_pad)
    np.testing.assert_array_equal(out, image(expected, np.float64))


def test_avg_pool2d_integer_floor_divides():
    # Window sums of the test above, negated: [[-1,-3,-2],[-4,-10,-6],[-3,-7,-4]] // 4 rounds
    # towards -infinity (-10 // 4 == -3), as the hardware divider does.
    x = image([[-1, -2], [-3, -4]], np.int8)
    assert_exact(G.avg_pool2d(x, 2, stride=1, padding=1), image([[-1, -1, -1], [-1, -3, -2], [-1, -2, -1]]))
    assert_exact(G.avg_pool2d(-x, 2, stride=1, padding=1), image([[0, 0, 0], [1, 2, 1], [0, 1, 1]]))


def test_avg_pool2d_divisor_override():
    # One 2x2 window summing 10, divided by 3 instead of 4.
    x = image([[1, 2], [3, 4]], np.float64)
    np.testing.assert_allclose(G.avg_pool2d(x, 2, divisor_override=3), image([[10 / 3]], np.float64))


def test_pool_ceil_mode_partial_window():
    x = image([1, 2, 3, 4, 5], np.float64)
    # floor: windows [1,2], [3,4]; ceil adds the window starting at 4, which holds only [5].
    np.testing.assert_array_equal(G.max_pool1d(x, 2), image([2, 4], np.float64))
    np.testing.assert_array_equal(G.max_pool1d(x, 2, ceil_mode=True), image([2, 4, 5], np.float64))
    # The overhang is not counted by the divisor, even with count_include_pad: 5 / 1.
    np.testing.assert_array_equal(G.avg_pool1d(x, 2, ceil_mode=True), image([1.5, 3.5, 5], np.float64))


def test_avg_pool_ceil_mode_counts_padding_not_overhang():
    # x = [1..6], k=3, s=2, p=1: windows over padded positions start at -1, 1, 3, 5 (the last only
    # with ceil_mode). Sums 3, 9, 15, 6. With count_include_pad the first divides by 3 (it covers
    # one pad) and the last by 2 (x[5] and the high pad, not the overhang at 7).
    x = image([1, 2, 3, 4, 5, 6], np.float64)
    np.testing.assert_array_equal(G.avg_pool1d(x, 3, 2, 1, ceil_mode=True), image([1, 3, 5, 3], np.float64))
    np.testing.assert_array_equal(
        G.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), image([1.5, 3, 5, 6], np.float64)
    )
    np.testing.assert_array_equal(G.avg_pool1d(x, 3, 2, 1), image([1, 3, 5], np.float64))


def test_max_pool_ceil_mode_drops_window_starting_in_padding():
    # x = [1..5], k=2, s=2, p=1: ceil((5+2-2)/2)+1 = 4 windows, but the 4th would start at padded
    # position 6 >= 5 + 1, i.e. entirely in the high padding, so it is dropped (PyTorch rule).
    x = image([1, 2, 3, 4, 5], np.float64)
    np.testing.assert_array_equal(G.max_pool1d(x, 2, 2, 1, ceil_mode=True), image([1, 3, 5], np.float64))


def test_max_pool2d_ceil_mode():
    # 5x5 = 5r + c; 2x2 windows with ceil_mode cover rows/cols {0,1}, {2,3}, {4}: max at
    # rows/cols 1, 3, 4.
    x = image(np.arange(25).reshape(5, 5))
    assert_exact(G.max_pool2d(x, 2, ceil_mode=True), image([[6, 8, 9], [16, 18, 19], [21, 23, 24]]))


def test_global_avg_pool():
    x = arr([[[1, 2], [3, 4]], [[-1, -2], [-3, -5]]])[None]
    # Means 10/4 and -11/4; integers floor-divide: 2 and -3.
    expected = arr([2.5, -2.75], np.float32).reshape(1, 2, 1, 1)
    np.testing.assert_array_equal(G.global_avg_pool(x.astype(np.float32)), expected)
    assert_exact(G.global_avg_pool(x.astype(np.int8)), arr([2, -3]).reshape(1, 2, 1, 1))


def test_linear():
    # [1,2,3] . [1,0,0] + 10 = 11; [1,2,3] . [0,1,1] + 20 = 25.
    out = G.linear(arr([[1, 2, 3]], np.int8), arr([[1, 0, 0], [0, 1, 1]], np.int8), arr([10, 20], np.int32))
    assert_exact(out, [[11, 25]])


def test_activations():
    x = arr([-2, -1, 0, 3, 7], np.int8)
    np.testing.assert_array_equal(G.relu(x), arr([0, 0, 0, 3, 7], np.int8))
    np.testing.assert_array_equal(G.relu6(x), arr([0, 0, 0, 3, 6], np.int8))
    assert G.relu(x).dtype == np.int8
    np.testing.assert_allclose(G.leaky_relu(x.astype(np.float64)), [-0.02, -0.01, 0, 3, 7])
    np.testing.assert_allclose(G.leaky_relu(x.astype(np.float64), 0.5), [-1, -0.5, 0, 3, 7])


@pytest.mark.parametrize(
    "size, expected",
    [
        # size 2 pads one channel before, none after: means of squares (0+1)/2, (1+4)/2, (4+9)/2;
        # with k=1, alpha=1, beta=1: x / (1 + mean) = 1/1.5, 2/3.5, 3/7.5.
        (2, [2 / 3, 4 / 7, 0.4]),
        # size 3 pads one each side: means 5/3, 14/3, 13/3 -> 1/(8/3), 2/(17/3), 3/(16/3).
        (3, [3 / 8, 6 / 17, 9 / 16]),
    ],
)
def test_local_response_norm(size, expected):
    x = arr([1, 2, 3], np.float64).reshape(1, 3, 1, 1)
    out = G.local_response_norm(x, size, alpha=1.0, beta=1.0, k=1.0)
    np.testing.assert_allclose(out, arr(expected, np.float64).reshape(1, 3, 1, 1), rtol=1e-12)


def test_batch_norm():
    # Channel 0: mean 1, var 4, gamma 3, beta 0.5: (3 - 1) / 2 * 3 + 0.5 = 3.5, (-1 - 1) / 2 * 3 + 0.5 = -2.5.
    # Channel 1: mean 1, var 16, no affine parameters: (5 - 1) / 4 = 1, (1 - 1) / 4 = 0.
    x = arr([[3, -1], [5, 1]], np.float64)[None]
    mean, var = arr([1, 1], np.float64), arr([4, 16], np.float64)
    out = G.batch_norm(x, mean, var, arr([3, 1], np.float64), arr([0.5, 0], np.float64), eps=0.0)
    np.testing.assert_array_equal(out, arr([[3.5, -2.5], [1, 0]], np.float64)[None])
    np.testing.assert_array_equal(G.batch_norm(x, mean, var, eps=0.0)[0, 1], [1, 0])


def test_fold_batch_norm_matches_conv_then_bn():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    mean, var = rng.standard_normal(4), rng.uniform(0.5, 2.0, 4)
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    reference = G.batch_norm(G.conv2d(x, w, b, padding=1), mean, var, gamma, beta)
    fw, fb = G.fold_batch_norm(w, b, mean, var, gamma, beta)
    np.testing.assert_allclose(G.conv2d(x, fw, fb, padding=1), reference, rtol=1e-10, atol=1e-12)
    # Without a conv bias and without affine parameters.
    fw, fb = G.fold_batch_norm(w, None, mean, var, None, None)
    np.testing.assert_allclose(G.conv2d(x, fw, fb), G.batch_norm(G.conv2d(x, w), mean, var), rtol=1e-10, atol=1e-12)


def test_requantize_rounds_half_up():
    # acc / 4 = 1.25, 1.5, 1.75, -1.25, -1.5, -1.75, 1: (acc + 2) >> 2 rounds ties towards +inf.
    out = G.requantize(arr([5, 6, 7, -5, -6, -7, 4]), scale=1, shift=2)
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out, [1, 2, 2, -1, -1, -2, 1])
    # shift 0 is a plain multiply, no rounding term.
    np.testing.assert_array_equal(G.requantize(arr([3, -3]), scale=5, shift=0), [15, -15])


def test_requantize_saturates():
    out = G.requantize(arr([1000, -1000, 127, -128, 128, -129], np.int32), scale=1, shift=0)
    np.testing.assert_array_equal(out, [127, -128, 127, -128, 127, -128])


def test_requantize_zero_point_and_relu():
    # (acc + 1) >> 1: -8 -> -4 (floor of -3.5), 0 -> 0, 8 -> 4; then + 10.
    acc = arr([-8, 0, 8])
    np.testing.assert_array_equal(G.requantize(acc, 1, 1, zero_point=10), [6, 10, 14])
    # ReLU clamps at the zero point, the quantized 0.
    np.testing.assert_array_equal(G.requantize(acc, 1, 1, zero_point=10, relu=True), [10, 10, 14])


def test_requantize_per_channel():
    # Channel 0: (±100 * 1 + 2) >> 2 = 25, -25 (floor -24.5); channel 1: (±100 * 3 + 8) >> 4 = 19, -19.
    acc = arr([[[100, -100], [100, -100]]], np.int32)
    out = G.requantize(acc, scale=arr([1, 3]), shift=arr([2, 4]))
    np.testing.assert_array_equal(out, arr([[[25, -25], [19, -19]]], np.int8))


def test_choose_requant():
    # Largest shift keeping 127 * 2**shift / 1000 below 2**15 is 17; scale = floor(127 * 2**17 / 1000).
    assert G.choose_requant(1000) == (16646, 17)
    for max_abs in [1, 7, 127, 1000, 123456, 2**31 - 1]:
        scale, shift = G.choose_requant(max_abs)
        assert 2**14 <= scale < 2**15
        np.testing.assert_array_equal(G.requantize(arr([max_abs, -max_abs]), scale, shift), [127, -127])
    assert G.choose_requant(0) == G.choose_requant(1)


def test_upsample_nearest():
    x = image([[1, 2], [3, 4]])
    assert_exact(G.upsample_nearest(x, 2), image([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]))
    assert_exact(G.upsample_nearest(x, (1, 3)), image([[1, 1, 1, 2, 2, 2], [3, 3, 3, 4, 4, 4]]))


def test_add_concat_flatten():
    a, b = arr([[100, -100]], np.int8), arr([[100, -100]], np.int8)
    assert_exact(G.add(a, b), [[200, -200]])  # widened: no int8 wrap-around
    x = np.arange(24).reshape(1, 2, 3, 4)
    assert G.concat([x, x[:, :1]]).shape == (1, 3, 3, 4)
    np.testing.assert_array_equal(G.concat([x, x[:, :1]])[:, 2], x[:, 0])
    assert G.concat([x, x], dim=-1).shape == (1, 2, 3, 8)
    np.testing.assert_array_equal(G.flatten(x), np.arange(24).reshape(1, 24))
    assert G.flatten(x, start_dim=2).shape == (1, 2, 12)


def test_dtypes():
    rng = np.random.default_rng(2)
    x32 = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w32 = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    assert G.conv2d(x32, w32).dtype == np.float32
    assert G.conv_transpose2d(x32, w32.transpose(1, 0, 2, 3), stride=2).dtype == np.float32
    assert G.avg_pool2d(x32, 2).dtype == np.float32
    assert G.max_pool2d(x32, 2).dtype == np.float32
    assert G.global_avg_pool(x32).dtype == np.float32
    assert G.linear(x32.reshape(1, -1), rng.standard_normal((4, 50)).astype(np.float32)).dtype == np.float32
    reference = G.conv2d(x32.astype(np.float64), w32.astype(np.float64))
    np.testing.assert_allclose(G.conv2d(x32, w32), reference, rtol=1e-4, atol=1e-5)
    x8 = np.ones((1, 2, 4, 4), np.int8)
    assert G.conv2d(x8, np.ones((1, 2, 1, 1), np.int8)).dtype == np.int64
    assert G.avg_pool2d(x8, 2).dtype == np.int64


# ============================================================================================
# Integer exactness against slow loop references
# ============================================================================================


def source_index(p: int, n: int, mode: str) -> int | None:
    """Input index read at padded position ``p`` (``None``: a zero)."""
    if 0 <= p < n:
        return p
    if mode == "zeros":
        return None
    if mode == "replicate":
        return min(max(p, 0), n - 1)
    if mode == "reflect":
        return -p if p < 0 else 2 * (n - 1) - p
    return p % n  # circular


def naive_conv(x, w, bias, stride, pads, dilation, groups, mode="zeros"):
    """Cross-correlation by its definition, one Python-int multiply-add at a time."""
    batch = x.shape[0]
    cout, cin_g = w.shape[:2]
    kernel, size = w.shape[2:], x.shape[2:]
    out = [(n + lo + hi - d * (k - 1) - 1) // s + 1
           for n, (lo, hi), k, s, d in zip(size, pads, kernel, stride, dilation)]
    y = np.zeros([batch, cout] + out, dtype=object)
    for b, co in product(range(batch), range(cout)):
        group = co // (cout // groups)
        for o in product(*map(range, out)):
            total = 0 if bias is None else int(bias[co])
            for ci, k in product(range(cin_g), product(*map(range, kernel))):
                index = [source_index(oi * s - lo + ki * d, n, mode)
                         for oi, s, (lo, _), ki, d, n in zip(o, stride, pads, k, dilation, size)]
                if None not in index:
                    total += int(x[(b, group * cin_g + ci, *index)]) * int(w[(co, ci, *k)])
            y[(b, co, *o)] = total
    return y


def naive_conv_transpose(x, w, stride, padding, output_padding, dilation, groups):
    """Transposed convolution by its definition: every input element scatters ``x * w``."""
    batch, cin = x.shape[:2]
    cout_g, kernel = w.shape[1], w.shape[2:]
    cin_g = cin // groups
    out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1
           for n, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation, kernel, output_padding)]
    y = np.zeros([batch, cout_g * groups] + out, dtype=object)
    for b, ci, i in product(range(batch), range(cin), product(*map(range, x.shape[2:]))):
        group = ci // cin_g
        for co, k in product(range(cout_g), product(*map(range, kernel))):
            o = [ii * s - p + ki * d for ii, s, p, ki, d in zip(i, stride, padding, k, dilation)]
            if all(0 <= oi < n for oi, n in zip(o, out)):
                y[(b, group * cout_g + co, *o)] += int(x[(b, ci, *i)]) * int(w[(ci, co, *k)])
    return y


def naive_pool(x, kernel, stride, pad, dilation, ceil_mode, kind, count_include_pad=True):
    """Max or (floor-divided integer) average pooling with symmetric padding ``pad``, loop by loop."""
    size = x.shape[2:]
    out = []
    for n, k, s, p, d in zip(size, kernel, stride, pad, dilation):
        span = n + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + p:
            o -= 1
        out.append(o)
    y = np.zeros(x.shape[:2] + tuple(out), dtype=object)
    for b, c, o in product(range(x.shape[0]), range(x.shape[1]), product(*map(range, out))):
        values, padded = [], 0
        for k in product(*map(range, kernel)):
            pos = [oi * s - p + ki * d for oi, s, p, ki, d in zip(o, stride, pad, k, dilation)]
            if all(0 <= q < n for q, n in zip(pos, size)):
                values.append(int(x[(b, c, *pos)]))
            elif all(-p <= q < n + p for q, n, p in zip(pos, size, pad)):
                padded += 1
        if kind == "max":
            y[(b, c, *o)] = max(values)
        else:
            y[(b, c, *o)] = sum(values) // (len(values) + (padded if count_include_pad else 0))
    return y


def random_conv_config(rng: np.random.Generator):
    """A valid random conv layer: rank 1-3, stride/dilation 1-3, any padding form and mode."""
    nd = int(rng.integers(1, 4))
    groups = int(rng.choice([1, 2, 3]))
    cin_g, cout_g = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    max_k = 3 if nd < 3 else 2
    kernel = tuple(int(k) for k in rng.integers(1, max_k + 1, nd))
    dilation = tuple(int(d) for d in rng.integers(1, 4 if nd < 3 else 3, nd))
    stride = tuple(int(s) for s in rng.integers(1, 4, nd))
    size = tuple(d * (k - 1) + 1 + int(rng.integers(0, 4)) for k, d in zip(kernel, dilation))
    mode = str(rng.choice(["zeros", "reflect", "replicate", "circular"]))
    form = str(rng.choice(["pairs", "int", "same", "valid"]))
    if form == "pairs":
        padding = tuple((int(rng.integers(0, min(3, n))), int(rng.integers(0, min(3, n)))) for n in size)
    elif form == "int":
        padding = int(rng.integers(0, min(size)))
    else:
        padding = form
    x = rng.integers(-128, 128, (2, cin_g * groups) + size, dtype=np.int8)
    w = rng.integers(-128, 128, (cout_g * groups, cin_g) + kernel, dtype=np.int8)
    bias = rng.integers(-2**20, 2**20, cout_g * groups).astype(np.int32) if rng.random() < 0.5 else None
    return x, w, bias, dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)


@pytest.mark.parametrize("seed", range(50))
def test_conv_int8_matches_naive(seed):
    rng = np.random.default_rng(seed)
    x, w, bias, kw = random_conv_config(rng)
    nd = x.ndim - 2
    conv = CONV[nd]
    pads = resolve_padding(kw["padding"], x.shape[2:], w.shape[2:], kw["stride"], kw["dilation"])
    expected = naive_conv(x, w, bias, kw["stride"], pads, kw["dilation"], kw["groups"], kw["padding_mode"])
    assert_exact(conv(x, w, bias, **kw), expected)
    # flip_kernel is correlation with the kernel reversed along every spatial axis.
    flipped = np.flip(w, axis=tuple(range(2, 2 + nd)))
    expected = naive_conv(x, flipped, bias, kw["stride"], pads, kw["dilation"], kw["groups"], kw["padding_mode"])
    assert_exact(conv(x, w, bias, flip_kernel=True, **kw), expected)


def random_conv_transpose_config(rng: np.random.Generator):
    """A valid random transposed conv: rank 1-3, groups, stride, dilation, padding, output_padding."""
    nd = int(rng.integers(1, 4))
    groups = int(rng.choice([1, 2, 3]))
    cin, cout_g = groups * int(rng.integers(1, 3)), int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 4 if nd < 3 else 3, nd))
    stride = tuple(int(s) for s in rng.integers(1, 4, nd))
    dilation = tuple(int(d) for d in rng.integers(1, 4 if nd < 3 else 3, nd))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    size = tuple(int(n) for n in rng.integers(1, 5 if nd < 3 else 3, nd))
    # Padding at most half the full output, so at least one output element remains.
    full = [(n - 1) * s + d * (k - 1) + op for n, s, d, k, op in zip(size, stride, dilation, kernel, output_padding)]
    padding = tuple(int(rng.integers(0, f // 2 + 1)) for f in full)
    x = rng.integers(-128, 128, (2, cin) + size, dtype=np.int8)
    w = rng.integers(-128, 128, (cin, cout_g) + kernel, dtype=np.int8)
    return x, w, dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)


@pytest.mark.parametrize("seed", range(25))
def test_conv_transpose_int8_matches_naive(seed):
    x, w, kw = random_conv_transpose_config(np.random.default_rng(100 + seed))
    assert_exact(CONV_T[x.ndim - 2](x, w, **kw), naive_conv_transpose(x, w, **kw))


def test_conv_transpose_is_adjoint_of_conv():
    # <conv(x, w), y> == <x, conv_transpose(y, w)> for the same stride/padding/dilation/groups.
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 4, 9, 8), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 2, 3, 2), dtype=np.int8)
    kw = dict(stride=(2, 3), padding=(1, 1), dilation=(2, 1), groups=2)
    y = G.conv2d(x, w, **kw)
    dy = rng.integers(-128, 128, y.shape, dtype=np.int8)
    # output_padding restores the input size that the conv's floor division lost.
    lost = tuple(n - m for n, m in zip(x.shape[2:], G.conv_transpose2d(dy, w, **kw).shape[2:]))
    back = G.conv_transpose2d(dy, w, output_padding=lost, **kw)
    assert back.shape == x.shape
    lhs = int((y * dy).sum())
    rhs = int((x * back).sum())
    assert lhs == rhs


@pytest.mark.parametrize("dtype, value", [(np.int8, -128), (np.int16, -32768)])
def test_conv_extreme_values(dtype, value):
    # Every product is value**2; an interior output of a 64-channel 3x3 conv sums 576 of them
    # (576 * 2**30 for int16 overflows int32), an edge 6 * 64, a corner 4 * 64.
    x = np.full((1, 64, 5, 5), value, dtype)
    w = np.full((2, 64, 3, 3), value, dtype)
    out = G.conv2d(x, w, padding=1)
    p = value * value
    assert out.dtype == np.int64
    assert out[0, 0, 2, 2] == 576 * p and out[0, 1, 0, 2] == 384 * p and out[0, 0, 0, 0] == 256 * p
    if dtype == np.int8:
        assert_exact(out, naive_conv(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1))


def test_conv_exact_beyond_float64_precision():
    # Odd values near 2**40 times weights near 2**12 over 18 terms exceed 2**53, where float64
    # would round; the int64 path must still match Python integers.
    rng = np.random.default_rng(4)
    x = (2**40 + 2 * rng.integers(0, 2**20, (1, 2, 4, 4)) + 1).astype(np.int64)
    w = (2**12 + 2 * rng.integers(0, 2**8, (2, 2, 3, 3)) + 1).astype(np.int64)
    assert_exact(G.conv2d(x, w), naive_conv(x, w, None, (1, 1), ((0, 0), (0, 0)), (1, 1), 1))


def test_linear_int_exact():
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (3, 700), dtype=np.int8)
    w = rng.integers(-128, 128, (5, 700), dtype=np.int8)
    b = rng.integers(-2**20, 2**20, 5).astype(np.int32)
    expected = [[sum(int(a) * int(c) for a, c in zip(row, wr)) + int(bb) for wr, bb in zip(w, b)] for row in x]
    assert_exact(G.linear(x, w, b), expected)


@pytest.mark.parametrize("seed", range(25))
def test_pools_int_match_naive(seed):
    rng = np.random.default_rng(200 + seed)
    nd = int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 4, nd))
    stride = tuple(int(s) for s in rng.integers(1, 4, nd))
    pad = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    dilation = tuple(int(d) for d in rng.integers(1, 3, nd))
    ceil_mode = bool(rng.integers(0, 2))
    size = tuple(d * (k - 1) + 1 + int(rng.integers(0, 4)) for k, d in zip(kernel, dilation))
    x = rng.integers(-128, 128, (2, 2) + size, dtype=np.int8)
    max_pool, avg_pool = MAX_POOL[nd], AVG_POOL[nd]
    got = max_pool(x, kernel, stride, pad, dilation, ceil_mode)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, naive_pool(x, kernel, stride, pad, dilation, ceil_mode, "max").astype(np.int64))
    for include in (True, False):
        expected = naive_pool(x, kernel, stride, pad, (1,) * nd, ceil_mode, "avg", include)
        assert_exact(avg_pool(x, kernel, stride, pad, ceil_mode, count_include_pad=include), expected)


# ============================================================================================
# Errors a user can cause
# ============================================================================================

X = np.zeros((1, 4, 5, 5), np.float32)
ACC = np.zeros(3, np.int32)
W = np.zeros((2, 4, 3, 3), np.float32)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: G.conv2d(X, np.zeros((2, 4, 7, 7))), r"kernel 7 .*padded input"),
        (lambda: G.conv2d(X, np.zeros((2, 4, 3, 3)), dilation=3), r"dilation 3 spans 7"),
        (lambda: G.conv2d(X, np.zeros((2, 4 // 3, 3, 3)), groups=3), r"groups \(3\) must divide"),
        (lambda: G.conv2d(X, np.zeros((3, 2, 3, 3)), groups=2), r"groups \(2\) must divide .*output channels \(3\)"),
        (lambda: G.conv2d(X, np.zeros((2, 3, 3, 3))), r"weight has 3 input channels per group"),
        (lambda: G.conv2d(X, W, dilation=0), r"dilation must be >= 1"),
        (lambda: G.conv2d(X, W, stride=(1, 0)), r"stride must be >= 1"),
        (lambda: G.conv2d(X, W, stride=1.5), r"stride must be an int"),
        (lambda: G.conv2d(X, W, groups=0), r"groups must be an int >= 1"),
        (lambda: G.conv2d(X, W, padding=5, padding_mode="reflect"), r"reflect padding .* smaller than the input size"),
        (lambda: G.conv2d(X, W, padding=6, padding_mode="circular"), r"circular padding"),
        (lambda: G.conv2d(X, W, padding_mode="mirror"), r"padding_mode must be one of"),
        (lambda: G.conv2d(X, W, padding=-1), r"padding must be >= 0"),
        (lambda: G.conv2d(X, W, padding="full"), r"padding must be an int, a tuple"),
        (lambda: G.conv2d(X[0], W), r"conv2d: input must be a 4-D array \(N, C, H, W\)"),
        (lambda: G.conv1d(X, W), r"conv1d: input must be a 3-D array"),
        (lambda: G.conv2d(X, W[0]), r"weight must be a 4-D array"),
        (lambda: G.conv2d(X, W, bias=np.zeros(3)), r"bias must have one entry per channel \(2\)"),
        (lambda: G.conv2d(X.astype(bool), W), r"input must be an integer or floating-point array"),
        (lambda: G.conv2d(np.full((1, 1, 3, 3), 2**40), np.full((1, 1, 3, 3), 2**30)), r"overflow int64"),
        (lambda: G.conv_transpose2d(X, np.zeros((4, 2, 3, 3)), stride=2, output_padding=2), r"output_padding"),
        (lambda: G.conv_transpose2d(X, np.zeros((3, 2, 3, 3))), r"weight must be \(Cin=4"),
        (lambda: G.conv_transpose2d(X, np.zeros((4, 2, 3, 3)), groups=3), r"groups \(3\) must divide"),
        (lambda: G.conv_transpose2d(X[:, :, :1, :1], np.zeros((4, 2, 1, 1)), padding=1), r"padding 1 leaves no output"),
        (lambda: G.max_pool2d(X, 3, padding=2), r"padding .* at most half the kernel_size"),
        (lambda: G.max_pool2d(X, 6), r"kernel_size \(6, 6\) does not fit"),
        (lambda: G.max_pool2d(X, 0), r"kernel_size must be >= 1"),
        (lambda: G.avg_pool2d(X, 2, stride=0), r"stride must be >= 1"),
        (lambda: G.avg_pool2d(X, 2, divisor_override=0), r"divisor_override must be an int >= 1"),
        (lambda: G.global_avg_pool(X[0, 0]), r"input must have at least 3 dimensions"),
        (lambda: G.linear(np.zeros((2, 3)), np.zeros((4, 5))), r"input has 3 features but weight expects 5"),
        (lambda: G.linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(5)), r"bias must have one entry"),
        (lambda: G.leaky_relu(np.zeros(3, np.int8)), r"leaky_relu: input must be floating point"),
        (lambda: G.batch_norm(np.zeros((1, 2, 2), np.int8), np.zeros(2), np.ones(2)), r"fold_batch_norm"),
        (lambda: G.batch_norm(np.zeros((1, 2, 2)), np.zeros(3), np.ones(2)), r"running_mean must have one entry"),
        (lambda: G.batch_norm(np.zeros((1, 2, 2)), np.zeros(2), -np.ones(2)), r"running_var \+ eps must be > 0"),
        (lambda: G.fold_batch_norm(W, None, np.zeros(2), np.ones(2), np.ones(3), None), r"weight \(gamma\)"),
        (lambda: G.local_response_norm(X, 0), r"size must be an int >= 1"),
        (lambda: G.local_response_norm(X[0, 0], 2), r"at least 3 dimensions"),
        (lambda: G.upsample_nearest(X, 0), r"scale_factor must be >= 1"),
        (lambda: G.upsample_nearest(X, (2, 2, 2)), r"scale_factor must be an int or a tuple of 2"),
        (lambda: G.flatten(X, start_dim=4), r"start_dim must be an int in \[-4, 3\]"),
        (lambda: G.flatten(np.zeros(3), start_dim=1), r"start_dim must be an int in \[-1, 0\]"),
        (lambda: G.concat([X, X], dim=1.0), r"dim must be an int in \[-4, 3\]"),
        (lambda: G.add(X, X[:, :2]), r"a and b must have the same shape"),
        (lambda: G.concat([X, X[:, :, :2]]), r"tensors\[1\] has shape"),
        (lambda: G.concat([]), r"at least one array"),
        (lambda: G.requantize(np.zeros(3), 1, 0), r"acc must be an integer array"),
        (lambda: G.requantize(ACC, 0, 0), r"scale must be in \[1,"),
        (lambda: G.requantize(ACC, 1.5, 0), r"scale must be an int"),
        (lambda: G.requantize(ACC, 1, 63), r"shift must be in \[0, 62\]"),
        (lambda: G.requantize(ACC, 1, -1), r"shift must be in \[0, 62\]"),
        (lambda: G.requantize(np.zeros((1, 2), np.int32), np.ones(3, int), 0), r"per-channel scale has 3 entries"),
        (lambda: G.requantize(ACC, 1, 0, zero_point=200), r"zero_point must be an int in \[-128, 127"),
        (lambda: G.requantize(ACC, 1, 0, out_dtype=np.float32), r"out_dtype must be an integer"),
        (lambda: G.requantize(np.full(3, 2**40), 2**30, 0), r"acc \* scale could overflow"),
        (lambda: G.choose_requant(-1), r"max_abs_acc must be an int >= 0"),
        (lambda: G.choose_requant(10, out_bits=1), r"out_bits must be an int in \[2, 16\]"),
    ],
)
def test_errors(call, match):
    with pytest.raises(WorkloadError, match=match):
        call()


# ============================================================================================
# Randomized comparison with PyTorch (float64)
# ============================================================================================


def torch_pad(x, pads, mode):
    """``F.pad`` of the spatial dims with per-dim (lo, hi) pairs (F.pad lists the last dim first)."""
    F = pytest.importorskip("torch", reason=TORCH_REASON).nn.functional
    flat = [p for lo_hi in reversed(pads) for p in lo_hi]
    return F.pad(x, flat, mode="constant" if mode == "zeros" else mode)


@pytest.mark.parametrize("seed", range(40))
def test_conv_matches_torch(seed):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(300 + seed)
    x, w, bias, kw = random_conv_config(rng)
    x, w = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    bias = None if bias is None else rng.standard_normal(bias.shape)
    nd = x.ndim - 2
    tconv = getattr(torch.nn.functional, f"conv{nd}d")
    pads = resolve_padding(kw["padding"], x.shape[2:], w.shape[2:], kw["stride"], kw["dilation"])
    xt = torch_pad(torch.from_numpy(x), pads, kw["padding_mode"])
    tb = None if bias is None else torch.from_numpy(bias)
    expected = tconv(xt, torch.from_numpy(w), tb, stride=kw["stride"], dilation=kw["dilation"], groups=kw["groups"])
    np.testing.assert_allclose(CONV[nd](x, w, bias, **kw), expected.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kernel, dilation", product([(1, 2), (3, 4), (2, 5)], [1, 2, 3]))
def test_conv_same_matches_torch(kernel, dilation):
    # PyTorch's padding='same' (stride 1) puts the odd extra element on the high side.
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((1, 2, 6, 7)), rng.standard_normal((3, 2) + kernel)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same", dilation=dilation)
    got = G.conv2d(x, w, padding="same", dilation=dilation)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(30))
def test_conv_transpose_matches_torch(seed):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(400 + seed)
    x, w, kw = random_conv_transpose_config(rng)
    x, w = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    bias = rng.standard_normal(w.shape[1] * kw["groups"])
    tconv_t = getattr(torch.nn.functional, f"conv_transpose{x.ndim - 2}d")
    expected = tconv_t(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(bias), **kw).numpy()
    np.testing.assert_allclose(CONV_T[x.ndim - 2](x, w, bias, **kw), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(40))
def test_pools_match_torch(seed):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    F = torch.nn.functional
    rng = np.random.default_rng(500 + seed)
    nd = int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 5, nd))
    stride = tuple(int(s) for s in rng.integers(1, 4, nd))
    pad = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    dilation = tuple(int(d) for d in rng.integers(1, 3, nd))
    ceil_mode = bool(rng.integers(0, 2))
    size = tuple(d * (k - 1) + 1 + int(rng.integers(0, 5)) for k, d in zip(kernel, dilation))
    x = rng.standard_normal((2, 3) + size)
    xt = torch.from_numpy(x)
    max_pool, avg_pool = MAX_POOL[nd], AVG_POOL[nd]
    expected = getattr(F, f"max_pool{nd}d")(xt, kernel, stride, pad, dilation, ceil_mode).numpy()
    np.testing.assert_array_equal(max_pool(x, kernel, stride, pad, dilation, ceil_mode), expected)
    divisor = int(rng.integers(1, 7)) if rng.random() < 0.2 and nd > 1 else None
    for include in (True, False):
        kw = dict(ceil_mode=ceil_mode, count_include_pad=include)
        if nd > 1:  # F.avg_pool1d has no divisor_override
            kw["divisor_override"] = divisor
        expected = getattr(F, f"avg_pool{nd}d")(xt, kernel, stride, pad, **kw).numpy()
        np.testing.assert_allclose(avg_pool(x, kernel, stride, pad, **kw), expected, rtol=1e-12, atol=1e-12)


def test_other_ops_match_torch():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    for shape in [(2, 7, 5), (2, 6, 4, 5), (1, 5, 3, 4, 2)]:
        x = rng.standard_normal(shape)
        xt = torch.from_numpy(x)
        lrn_params = [(1, 1e-4, 0.75, 1.0), (2, 0.5, 0.6, 2.0), (5, 1.0, 0.75, 1.0), (4, 2e-2, 0.9, 0.5)]
        for size, alpha, beta, k in lrn_params:
            np.testing.assert_allclose(G.local_response_norm(x, size, alpha, beta, k),
                                       F.local_response_norm(xt, size, alpha, beta, k).numpy(), rtol=1e-12)
        c = shape[1]
        mean, var = rng.standard_normal(c), rng.uniform(0.1, 2, c)
        gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
        expected = F.batch_norm(xt, *map(torch.from_numpy, (mean, var, gamma, beta)), training=False, eps=1e-3).numpy()
        np.testing.assert_allclose(G.batch_norm(x, mean, var, gamma, beta, eps=1e-3), expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(G.relu(x), F.relu(xt).numpy())
        np.testing.assert_array_equal(G.relu6(6 * x), F.relu6(6 * xt).numpy())
        np.testing.assert_allclose(G.leaky_relu(x, 0.2), F.leaky_relu(xt, 0.2).numpy(), rtol=1e-15)
        np.testing.assert_array_equal(G.flatten(x), torch.flatten(xt, 1).numpy())
        scale = tuple(int(s) for s in rng.integers(1, 4, len(shape) - 2))
        np.testing.assert_array_equal(G.upsample_nearest(x, scale),
                                      F.interpolate(xt, scale_factor=scale, mode="nearest").numpy())
        axes = tuple(range(2, len(shape)))
        np.testing.assert_allclose(G.global_avg_pool(x), xt.mean(dim=axes, keepdim=True).numpy(), rtol=1e-12)
    x, w, b = rng.standard_normal((3, 4, 10)), rng.standard_normal((6, 10)), rng.standard_normal(6)
    expected = F.linear(*map(torch.from_numpy, (x, w, b))).numpy()
    np.testing.assert_allclose(G.linear(x, w, b), expected, rtol=1e-12, atol=1e-12)
