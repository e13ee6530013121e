"""Resolve what the user names on the command line (a zoo name or a model file) to a Network."""

from __future__ import annotations

from pathlib import Path

from workloads.errors import WorkloadError
from workloads.network import Network
from workloads.zoo import ZOO, get_network

FILE_KINDS = {".onnx": "ONNX model", ".csv": "SCALE-Sim topology"}


def load_network(spec: str) -> Network:
    """Return the zoo network called ``spec`` or the network stored in the file ``spec``."""
    suffix = Path(spec).suffix.lower()
    if spec in ZOO or suffix not in FILE_KINDS:
        return get_network(spec)
    if not Path(spec).is_file():
        raise WorkloadError(f"{FILE_KINDS[suffix]} file {spec} does not exist")
    raise WorkloadError(f"{FILE_KINDS[suffix]} files are not supported yet: {spec}")
