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

import hashlib
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

KERNEL_PACKAGES = ("accel", "sim")
"""The packages whose sources compiled kernels are built from."""
KEPT_CACHES = 3

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


def cache_root() -> Path:
    """Where builds are cached: ``$XDG_CACHE_HOME/accel-sim`` (default ``~/.cache/accel-sim``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "accel-sim"


def source_hash(files: Iterable[Path]) -> str:
    """A short hash of the names and contents of ``files``."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def use_source_keyed_cache() -> Path:
    """Point Numba's on-disk cache at a directory named by a hash of the kernels' sources.

    Numba checks a cached kernel only against its own file's timestamp: a kernel whose helper in
    another file changed would load stale machine code and compute with the old rules. Every
    source change gives a new directory, ``cache_root()/numba/<hash>``; the :data:`KEPT_CACHES`
    most recently used are kept. Sets ``NUMBA_CACHE_DIR`` (read when Numba is imported, so
    importing this package does not import Numba) and, if Numba is loaded already, its config.
    """
    root = Path(__file__).resolve().parent.parent
    files = [path for package in KERNEL_PACKAGES for path in (root / package).glob("*.py")]
    base = cache_root() / "numba"
    directory = base / source_hash(files)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        directory.touch()
        for stale in sorted(base.iterdir(), key=lambda path: path.stat().st_mtime)[:-KEPT_CACHES]:
            if stale.is_dir() and len(stale.name) == 16:
                shutil.rmtree(stale, ignore_errors=True)
    except OSError:
        return Path(os.environ.get("NUMBA_CACHE_DIR", ""))  # read-only home: Numba's own choice
    os.environ["NUMBA_CACHE_DIR"] = str(directory)
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_DIR = str(directory)
    return directory
