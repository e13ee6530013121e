"""Help texts of the accelerator options, showing the built-in defaults of :class:`AccelConfig`.

The options themselves default to ``None`` so that a ``--config`` file's values are kept unless
an option is given; the defaults shown are read from the built-in config, never a second copy.
"""

from __future__ import annotations

from accel.config import DEFAULTS


def with_default(text: str, field: str) -> str:
    """``text`` followed by the built-in default of config field ``field``, as click shows defaults."""
    return f"{text}  [default: {getattr(DEFAULTS, field)}]"


def check_dram(bandwidth: float | None, latency: int | None, backpressure: float = 0.0) -> None:
    """UserError naming the flag and the fix when a DRAM option is out of range: ``bandwidth``
    (bytes/cycle) must be > 0, ``latency`` (cycles) >= 0, ``backpressure`` (a probability) in [0, 1)."""
    from workloads.errors import UserError

    if bandwidth is not None and not bandwidth > 0:
        raise UserError(f"--bandwidth {bandwidth}: dram_bandwidth must be a positive number of bytes/cycle; "
                        "give one > 0 (fractions allowed), or inf for an ideal channel")  # fmt: skip
    if latency is not None and latency < 0:
        raise UserError(f"--latency {latency}: dram_latency must be >= 0 cycles; give 0 or more")
    if not 0 <= backpressure < 1:
        raise UserError(f"--backpressure {backpressure}: must be a probability 0 <= P < 1 (the chance the DRAM "
                        "model withholds a handshake per cycle and channel); give e.g. 0.3, or 0 for none")  # fmt: skip
