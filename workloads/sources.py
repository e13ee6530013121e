"""Resolve what the user names on the command line (a zoo name or a model file) to a Network."""

from __future__ import annotations

from pathlib import Path

from workloads.errors import WorkloadError
from workloads.network import Network
from workloads.zoo import ZOO, get_network

FILE_KINDS = {".onnx": "ONNX model", ".csv": "SCALE-Sim topology"}


def load_network(spec: str, *, skip_unsupported: bool = False) -> Network:
    """Return the zoo network called ``spec`` or the network stored in the file ``spec``.

    ``skip_unsupported`` (ONNX models): drop operators with no layer equivalent, with a warning,
    instead of failing.
    """
    suffix = Path(spec).suffix.lower()
    if spec in ZOO or suffix not in FILE_KINDS:
        return get_network(spec)
    if not Path(spec).is_file():
        raise WorkloadError(f"{FILE_KINDS[suffix]} file {spec} does not exist")
    if suffix == ".onnx":
        from workloads.onnx_import import load_onnx  # lazily: onnx is an optional dependency

        return load_onnx(spec, skip_unsupported=skip_unsupported)
    from workloads.scalesim_topology import read_topology

    return read_topology(spec)
