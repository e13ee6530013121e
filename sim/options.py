"""Help texts of the accelerator options, showing the built-in defaults of :class:`AccelConfig`.

The options themselves default to ``None`` so that a ``--config`` file's values are kept unless
an option is given; the defaults shown come from the dataclass, never from a second copy.
"""

from __future__ import annotations

from dataclasses import fields

from accel.config import AccelConfig

_DEFAULTS = {f.name: f.default for f in fields(AccelConfig)}


def with_default(text: str, field: str) -> str:
    """``text`` followed by the built-in default of config field ``field``, as click shows defaults."""
    return f"{text}  [default: {_DEFAULTS[field]}]"
