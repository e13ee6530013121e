"""Help texts of the accelerator options, showing the built-in defaults of :class:`AccelConfig`.

The options themselves default to ``None`` so that a ``--config`` file's values are kept unless
an option is given; the defaults shown are read from the built-in config, never a second copy.
"""

from __future__ import annotations

from accel.config import DEFAULTS


def with_default(text: str, field: str) -> str:
    """``text`` followed by the built-in default of config field ``field``, as click shows defaults."""
    return f"{text}  [default: {getattr(DEFAULTS, field)}]"
