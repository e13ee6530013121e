"""What one PE computes, shared by the functional simulator and the RTL driver.

MAC mode adds ``a * w`` to the partial sum; MAX mode keeps the larger of the partial sum and
``a`` where the tap is enabled. Accumulators wrap in two's complement at ``acc_bits``.
"""

from __future__ import annotations

import numpy as np

MAC, MAX = 0, 1


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Reduce int64 values to signed ``bits``-bit two's complement (as int64), ``bits`` <= 64.

    The low ``bits`` bits are moved to the top of an unsigned 64-bit word (where the shift
    wraps) and shifted back arithmetically, which sign-extends them; no intermediate needs
    more than 64 bits, so 63- and 64-bit accumulators wrap too.
    """
    spare = 64 - bits
    top = np.asarray(values, dtype=np.int64).view(np.uint64) << np.uint64(spare)
    return top.view(np.int64) >> np.int64(spare)
