"""The DRAM layout's beat counts (accel/dram_layout.py) against runs enumerated one by one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from accel.dram_channel import run_beats
from accel.dram_layout import input_load_beats, output_store_beats, strided_beats

BUSES = st.sampled_from([4, 16, 32])


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.integers(0, 5000), st.integers(0, 300), st.integers(0, 70), st.integers(0, 40), BUSES)
def test_strided_beats_sum_every_run(first, stride, runs, nbytes, bus):
    expected = sum(run_beats(first + r * stride, nbytes, bus) for r in range(runs))
    assert strided_beats(first, stride, runs, nbytes, bus) == expected


def pixel_runs(first_pixel: int, pixels: int, pixel_bytes: int, channel: int, channels: int) -> list[tuple[int, int]]:
    """(address, bytes) of every pixel's channel slice, merged where one ends where the next starts."""
    runs: list[list[int]] = []
    for p in range(first_pixel, first_pixel + pixels):
        address = p * pixel_bytes + channel
        if runs and runs[-1][0] + runs[-1][1] == address:
            runs[-1][1] += channels
        else:
            runs.append([address, channels])
    return [(a, n) for a, n in runs]


@st.composite
def input_loads(draw):
    depth, rows, row_len = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    pixel_bytes = draw(st.integers(1, 40))
    channel = draw(st.integers(0, pixel_bytes - 1))
    channels = draw(st.integers(1, pixel_bytes - channel))
    z0 = draw(st.integers(0, depth - 1))
    y0 = draw(st.integers(0, rows - 1))
    x0 = draw(st.integers(0, row_len - 1))
    return (depth, rows, row_len, pixel_bytes, draw(st.integers(0, 3)), draw(st.integers(1, 3)), z0,
            draw(st.integers(z0 + 1, depth)), y0, draw(st.integers(y0 + 1, rows)), x0, draw(st.integers(x0 + 1, row_len)),
            channel, channels)  # fmt: skip


@settings(max_examples=400, deadline=None, derandomize=True)
@given(input_loads(), BUSES)
def test_input_load_beats_are_the_beats_of_its_runs(load, bus):
    """Merging adjacent runs is what the layout promises when it takes every channel (a column
    window's rows are not adjacent); per-pixel runs are never merged (their channel slices are
    separate DMA runs)."""
    depth, rows, row_len, pixel_bytes, image, images, z0, z1, y0, y1, x0, x1, channel, channels = load
    runs = []
    for n in range(image, image + images):
        for z in range(z0, z1):
            for y in range(y0, y1):
                runs += pixel_runs(((n * depth + z) * rows + y) * row_len + x0, x1 - x0, pixel_bytes, channel, channels)
    if channels == pixel_bytes:  # one run per image, or one for all when the rows are all of them
        merged: list[list[int]] = []
        for address, nbytes in runs:
            if merged and merged[-1][0] + merged[-1][1] == address:
                merged[-1][1] += nbytes
            else:
                merged.append([address, nbytes])
        expected = sum(run_beats(a, n, bus) for a, n in merged)
    else:
        expected = sum(
            run_beats(((n * depth + z) * rows + y) * row_len * pixel_bytes + x * pixel_bytes + channel, channels, bus)
            for n in range(image, image + images) for z in range(z0, z1) for y in range(y0, y1) for x in range(x0, x1)
        )  # fmt: skip
    assert input_load_beats(*load, bus) == expected


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(0, 200), st.integers(1, 50), st.integers(1, 40), st.data(), st.sampled_from([1, 2, 4, 8]), BUSES)
def test_output_store_beats_are_one_run_only_when_dense(first, pixels, pixel_bytes, data, cols, bus):
    channel = data.draw(st.integers(0, pixel_bytes - 1))
    channels = data.draw(st.integers(1, pixel_bytes - channel))
    beats = output_store_beats(first, pixels, pixel_bytes, channel, channels, cols, bus)
    per_pixel = sum(run_beats((first + p) * pixel_bytes + channel, channels, bus) for p in range(pixels))
    if channels == pixel_bytes and pixel_bytes % cols == 0:
        assert beats == run_beats(first * pixel_bytes, pixels * pixel_bytes, bus) <= per_pixel
    else:
        assert beats == per_pixel
