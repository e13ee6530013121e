"""How a network maps onto the accelerator: configuration, lowering, tiling, timing, DSE."""

from accel.jit import use_source_keyed_cache

use_source_keyed_cache()  # before any kernel module is imported
