"""Numba kernels that skip the JIT's start-up cost when the work is small.

The first call of any Numba kernel in a process costs about 0.4 s: Numba builds its CPU target
(and imports SciPy to look for BLAS) before it can load even cached machine code. That is more
than a whole VGG16 schedule takes to evaluate interpreted (about 20 ms). :func:`choose` returns
the kernel's own Python function while the process has interpreted less than
:data:`INTERPRET_BUDGET` work units and the kernel is not loaded yet, and the compiled kernel
after that. Both run the same source on the same integer types, so every number is the same
either way (``tests/test_jit.py`` checks it); helpers the kernels call are
``numba.extending.register_jitable`` so that they too run interpreted from interpreted code.
"""

from __future__ import annotations

from collections.abc import Callable

INTERPRET_BUDGET = 20_000
"""Work units (tiles) a process may interpret before it pays for the JIT: about 0.3 s."""

_interpreted = 0


def choose(kernel: Callable, work: int) -> Callable:
    """The compiled ``kernel`` or, for small ``work`` (tiles) early in a process, its Python function."""
    global _interpreted
    py_func = getattr(kernel, "py_func", None)
    if py_func is None or kernel.signatures or _interpreted + work > INTERPRET_BUDGET:
        return kernel  # already loaded, too much work, or NUMBA_DISABLE_JIT made it plain Python
    _interpreted += work
    return py_func
