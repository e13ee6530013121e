"""Where a layer's tensors sit in DRAM, and the bus beats each tile's transfers take.

This is the layout the hardware compiler writes (``rtl/host/dram_image.py``) and the one the
simulator times, so the two agree beat for beat:

- Activations are stored **pixel-major** (NHWC): image, row, column, then the channels of a
  pixel side by side. A lowered layer (:class:`accel.lowering.ArrayOp`) reads an input of
  ``batch`` images of ``rows.size`` rows of ``in_row_len`` pixels with ``channels * groups``
  channels each, and writes ``batch`` images of ``rows.out`` rows of ``out_row_len`` pixels with
  ``n * groups`` channels (a fully connected layer: one row per batch element, one pixel per
  row). Every tensor starts on a 4 KiB boundary, so a byte's offset in its tensor fixes its lane
  on any bus of at most 4 KiB.
- A tile loads the input rows ``[lo, hi)`` its windows read (contiguous rows: rows a stride
  larger than the window skips are loaded too) of its images, for its contiguous range of
  channels: one run of bytes per image if it takes every channel of a pixel (one run for all
  its images if the rows are all of them), else one run per pixel. A row segment that loads
  only its *column window* ``[x0, x1)`` (the columns it reads, contiguous in the same way)
  takes one run per row if it takes every channel, else one run per pixel.
- A weight-stationary tile that fetches weights loads their image: ``ceil(K_t / R)`` blocks of
  ``R`` rows of ``C`` bytes per output block of ``C`` channels (zero rows and columns included),
  and, if it completes its outputs, a row of ``C`` int32 addends per output block. Each image
  starts on a :data:`IMAGE_ALIGN` boundary, so it takes ``ceil(bytes / W)`` beats.
- A tile that completes its outputs writes them back: one run if it holds every channel of its
  pixels and the pixels are dense on chip (``C`` divides the channel count), else one run per
  pixel of its channels.

The beats of a run follow :func:`accel.dram_channel.run_beats`; :func:`strided_beats` sums a
strided sequence of runs in ``O(W)`` operations, so the simulator never walks pixels.
"""

from __future__ import annotations

import math

from numba.extending import register_jitable

from accel.dram_channel import run_beats

TENSOR_ALIGN = 4096
"""Byte alignment of every tensor in DRAM (a page: no run's lane depends on where it sits)."""
IMAGE_ALIGN = 64
"""Byte alignment of every weight and addend image in DRAM (a beat of the widest bus, 256 bits)."""
ADDEND_BYTES = 4
"""Bytes of one addend lane (int32 bias, or an average pooling's offset)."""


@register_jitable
def strided_beats(first, stride, runs, nbytes, bus):
    """Beats of ``runs`` runs of ``nbytes`` bytes starting at ``first + r * stride``."""
    return lattice_beats(first, 0, 1, stride, runs, nbytes, bus)


@register_jitable
def lattice_beats(first, outer_stride, outer, stride, runs, nbytes, bus):
    """Beats of ``outer`` rows of ``runs`` runs of ``nbytes`` bytes, run ``i`` of row ``r`` at
    ``first + r * outer_stride + i * stride``.

    The lanes ``(first + i * stride) mod W`` repeat every ``W / gcd(stride, W)`` runs, and a
    row's lanes every ``W / gcd(outer_stride, W)`` rows: each distinct run is counted once, times
    how often it repeats.
    """
    if outer <= 0 or runs <= 0 or nbytes <= 0:
        return 0
    outer_period = min(outer, bus // math.gcd(outer_stride % bus, bus))
    period = min(runs, bus // math.gcd(stride % bus, bus))
    beats = 0
    for r in range(outer_period):
        row = 0
        for i in range(period):
            row += (runs - i + period - 1) // period * run_beats(first + r * outer_stride + i * stride, nbytes, bus)
        beats += (outer - r + outer_period - 1) // outer_period * row
    return beats


@register_jitable
def pixel_block_beats(first_pixel, pixels, pixel_bytes, channel, channels, bus):
    """Beats of channels ``[channel, channel + channels)`` of ``pixels`` consecutive pixels from
    pixel ``first_pixel`` of a tensor with ``pixel_bytes`` channels per pixel: one run if they
    are every channel, else one run per pixel."""
    if channels == pixel_bytes:
        return run_beats(first_pixel * pixel_bytes, pixels * pixel_bytes, bus)
    return strided_beats(first_pixel * pixel_bytes + channel, pixel_bytes, pixels, channels, bus)


@register_jitable
def input_load_beats(depth, rows, row_len, pixel_bytes, image, images, z0, z1, y0, y1, x0, x1, channel, channels,
                     bus):  # fmt: skip
    """Beats of a tile's input load: depth slices ``[z0, z1)``, rows ``[y0, y1)`` and columns
    ``[x0, x1)`` of images ``[image, image + images)`` of a tensor of ``depth x rows x row_len``
    pixels per image, channels ``[channel, channel + channels)``. Blocks of consecutive pixels
    are merged: all rows of a slice continue into the next slice, all slices of an image into
    the next image; a column window is a run per row (every channel) or per pixel."""
    if y1 <= y0 or z1 <= z0 or x1 <= x0 or channels <= 0:
        return 0
    plane = rows * row_len
    if x1 - x0 < row_len:
        beats = 0
        for n in range(image, image + images):
            for z in range(z0, z1):
                first = ((n * depth + z) * plane + y0 * row_len + x0) * pixel_bytes
                stride = row_len * pixel_bytes
                if channels == pixel_bytes:
                    beats += strided_beats(first, stride, y1 - y0, (x1 - x0) * pixel_bytes, bus)
                else:
                    beats += lattice_beats(first + channel, stride, y1 - y0, pixel_bytes, x1 - x0, channels, bus)
        return beats
    if y1 - y0 == rows and z1 - z0 == depth:
        return pixel_block_beats(image * depth * plane, images * depth * plane, pixel_bytes, channel, channels, bus)
    beats = 0
    for n in range(image, image + images):
        if y1 - y0 == rows:
            first = (n * depth + z0) * plane
            beats += pixel_block_beats(first, (z1 - z0) * plane, pixel_bytes, channel, channels, bus)
            continue
        for z in range(z0, z1):
            first = (n * depth + z) * plane + y0 * row_len
            beats += pixel_block_beats(first, (y1 - y0) * row_len, pixel_bytes, channel, channels, bus)
    return beats


@register_jitable
def input_load_commands(depth, rows, row_len, images, z0, z1, y0, y1, x0, x1, channels, pixel_bytes):
    """DMA commands of the input load :func:`input_load_beats` times: one for a single block of
    pixels, or for a band of rows that takes every channel (one strided command over the images
    of a 2-D layer), else one per block; a column window takes one strided command per depth
    slice (every channel) or one per row."""
    if y1 <= y0 or z1 <= z0 or x1 <= x0 or channels <= 0:
        return 0
    if x1 - x0 < row_len:
        return images * (z1 - z0) * (1 if channels == pixel_bytes else y1 - y0)
    if y1 - y0 == rows and z1 - z0 == depth:
        return 1
    if y1 - y0 == rows:
        return images
    if depth == 1 and channels == pixel_bytes:
        return 1
    return images * (z1 - z0)


@register_jitable
def dense_pixels(pixel_bytes, channels, cols):
    """Whether a tile's results are whole pixels laid out on chip as in DRAM: every channel, and
    ``cols`` (the staging word) dividing them."""
    return channels == pixel_bytes and pixel_bytes % cols == 0


@register_jitable
def output_store_commands(rows, width, row_len, pixel_bytes, channels, cols):
    """DMA commands of a tile's writeback of ``rows`` output rows of ``width`` pixels each, in
    rows of ``row_len`` pixels (consecutive pixels: ``rows = 1``, ``width = row_len``): one for
    whole rows, or for dense pixels (every channel, ``cols`` dividing them: one run per row),
    else one per output row (one run per pixel)."""
    if width == row_len or dense_pixels(pixel_bytes, channels, cols):
        return 1
    return rows


@register_jitable
def output_block_beats(first_pixel, rows, width, row_len, pixel_bytes, channel, channels, cols, bus):
    """Beats of a tile's writeback of ``rows`` rows of ``width`` pixels from ``first_pixel`` in
    rows of ``row_len`` pixels (:func:`output_store_commands` says how they are split)."""
    if width == row_len:
        return output_store_beats(first_pixel, rows * width, pixel_bytes, channel, channels, cols, bus)
    if dense_pixels(pixel_bytes, channels, cols):
        return strided_beats(first_pixel * pixel_bytes, row_len * pixel_bytes, rows, width * pixel_bytes, bus)
    beats = 0
    for r in range(rows):
        beats += output_store_beats(first_pixel + r * row_len, width, pixel_bytes, channel, channels, cols, bus)
    return beats


@register_jitable
def output_store_beats(first_pixel, pixels, pixel_bytes, channel, channels, cols, bus):
    """Beats of a tile's writeback: ``pixels`` consecutive output pixels from ``first_pixel``,
    channels ``[channel, channel + channels)`` of a tensor with ``pixel_bytes`` channels per
    pixel. One run when the tile holds every channel and they are dense on chip (``cols``
    divides them), else one run per pixel."""
    if dense_pixels(pixel_bytes, channels, cols):
        return run_beats(first_pixel * pixel_bytes, pixels * pixel_bytes, bus)
    return strided_beats(first_pixel * pixel_bytes + channel, pixel_bytes, pixels, channels, bus)


@register_jitable
def weight_image_bytes(k_tile, n_tile, rows, cols, weight_bytes):
    """Bytes of a weight-stationary tile's weight image: ``ceil(K_t / R)`` blocks of ``R`` rows of
    ``C`` weights per output block of ``C`` channels (zeros included)."""
    return (k_tile + rows - 1) // rows * rows * ((n_tile + cols - 1) // cols) * cols * weight_bytes


@register_jitable
def addend_image_bytes(n_tile, cols):
    """Bytes of a tile's addend image: a row of ``C`` int32 lanes per output block."""
    return (n_tile + cols - 1) // cols * cols * ADDEND_BYTES


@register_jitable
def image_beats(nbytes, bus):
    """Beats of an image stored on an :data:`IMAGE_ALIGN` boundary."""
    return (nbytes + bus - 1) // bus
