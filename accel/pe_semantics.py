"""What one PE computes, shared by the functional simulator and the RTL driver.

MAC mode adds ``a * w`` to the partial sum; MAX mode keeps the larger of the partial sum and
``a`` where the tap is enabled. Accumulators wrap in two's complement at ``acc_bits``.
"""

from __future__ import annotations

import numpy as np

MAC, MAX = 0, 1


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Reduce integer values to signed ``bits``-bit two's complement (as int64)."""
    half = 1 << (bits - 1)
    return (np.asarray(values, dtype=np.int64) + half) % (1 << bits) - half
