"""A ``sim gen NET -o DIR`` directory: its weights file, and reading the whole directory back.

``sim gen`` writes ``weights.npz`` with :func:`params_npz`; ``sim verify DIR`` reads the
directory with :func:`load_generated`, which checks every file before anything is built: each
problem is one :class:`~rtl.host.program.ProgramError` naming the file and saying to run ``sim gen``
again.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accel.config import AccelConfig
from workloads.forward import LayerParams, NetworkParams, forward
from workloads.network import INPUT, Network

from .dram_image import DramImage, build_image, from_pixel_major
from .dram_model import module_ports
from .program import ProgramError, compile_network
from .system_run import TOP

#: Files of a generated directory besides the Verilog and ``manifest.json``.
IMAGE_FILE, WEIGHTS_FILE = "dram.bin", "weights.npz"


def params_npz(params: NetworkParams) -> bytes:
    """``weights.npz``: per weighted layer ``<layer>.weight`` (int8), ``<layer>.bias`` (int32) and
    ``<layer>.requant`` (scale, shift)."""
    arrays = {}
    for name, p in params.layers.items():
        arrays[f"{name}.weight"] = p.weight
        if p.bias is not None:
            arrays[f"{name}.bias"] = p.bias
        arrays[f"{name}.requant"] = np.array([p.scale, p.shift], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_params(path: Path, weight_bits: int = 8) -> NetworkParams:
    """The parameters :func:`params_npz` wrote to ``path``; ValueError if a weight is not a
    ``weight_bits``-bit or a bias not a 32-bit signed integer."""
    params = NetworkParams("int8")
    with np.load(path, allow_pickle=False) as arrays:
        for name in {key.rsplit(".", 1)[0] for key in arrays.files}:
            scale, shift = (int(v) for v in arrays[f"{name}.requant"])
            weight = _integers(arrays[f"{name}.weight"], weight_bits, f"{name}.weight")
            bias = _integers(arrays[f"{name}.bias"], 32, f"{name}.bias") if f"{name}.bias" in arrays.files else None
            params.layers[name] = LayerParams(weight, bias, scale, shift)
    return params


def _integers(array: np.ndarray, bits: int, name: str) -> np.ndarray:
    """``array`` if it holds ``bits``-bit signed integers (the hardware holds no other values)."""
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} holds {array.dtype} values, not integers")
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if array.size and not (low <= array.min() and array.max() <= high):
        raise ValueError(f"{name} holds values outside {low}..{high} ({bits}-bit signed)")
    return array


def read_file(path: Path, again: str, load):
    """``load(path)``; every way it can fail (a missing, empty or damaged file) is a ProgramError
    naming ``path`` and ending with ``again`` (what to do)."""
    if path.exists() and not path.is_file():  # reading a FIFO would wait for a writer
        raise ProgramError(f"{path} is not a regular file; {again}")
    try:
        return load(path)
    except FileNotFoundError:
        raise ProgramError(f"{path} is missing; {again}") from None
    except Exception as err:  # json, zip, npy and field errors alike: the file is not what `sim gen` wrote
        raise ProgramError(f"{path} is damaged ({_failure_reason(err)}); {again}") from None


def _failure_reason(err: BaseException) -> str:
    """What went wrong reading a file, in words (a KeyError alone is only the key)."""
    if isinstance(err, KeyError):
        return f"no {err.args[0]!r} field" if err.args else "a field is missing"
    return (err.strerror if isinstance(err, OSError) else None) or str(err) or type(err).__name__


@dataclass(frozen=True)
class _Manifest:
    """The fields of a generated ``manifest.json`` that :func:`load_generated` uses."""

    config: AccelConfig
    data_bytes: int  # of the AXI data bus
    source: dict  # how to reload the network: source, batch, skip_unsupported
    base: int  # DRAM address of dram.bin's first byte
    image_bytes: int
    program_address: int
    input_address: int
    input_bytes: int


def _read_manifest(path: Path) -> _Manifest | None:
    """``path``'s fields; None if it describes a design without a network's image."""
    manifest = json.loads(path.read_text())
    if not isinstance(manifest, dict):
        raise ValueError("not a JSON object")
    if manifest["top"] != TOP:
        raise ValueError(f"top {manifest['top']!r} is not the AXI accelerator {TOP}")
    config = AccelConfig.from_dict(manifest["config"])
    if "network" not in manifest:
        return None
    image, source, tensor = manifest["image"], manifest["network"], manifest["tensors"][INPUT]
    return _Manifest(config, int(manifest["bus"]["data_bytes"]), {k: source[k] for k in ("source", "batch", "skip_unsupported")},
                     int(image["base"]), int(image["bytes"]), int(image["program_address"]), int(tensor["address"]),
                     int(tensor["bytes"]))  # fmt: skip


def _system_verilog(verilog: str, data_bytes: int) -> str:
    """``verilog`` if it defines the AXI top with a ``data_bytes`` bus; ValueError otherwise."""
    if module_ports(verilog, TOP).get("m_axi_rdata") != ("input", 8 * data_bytes):
        raise ValueError(f"module {TOP} has no {8 * data_bytes}-bit m_axi_rdata input")
    return verilog


@dataclass
class Generated:
    """What ``sim verify DIR`` runs: the network, its config, the AXI top's Verilog, the DRAM image
    (from ``dram.bin``) and the golden outputs."""

    network: Network
    config: AccelConfig
    verilog: str
    image: DramImage
    gold: dict[str, np.ndarray]


def load_generated(directory: str | os.PathLike) -> Generated:
    """Read a ``sim gen NET -o DIR`` directory back: the network (reloaded from the manifest's
    source), the Verilog, the weights of ``weights.npz``, the DRAM image of ``dram.bin`` with its
    input, and the golden outputs recomputed from those weights and that input.

    Each problem is a ProgramError naming the file and what to do.
    """
    from workloads.sources import load_network

    directory = Path(directory)
    again = f"run `sim gen NET -o {directory}` again"
    manifest = read_file(directory / "manifest.json", again, _read_manifest)
    if manifest is None:
        raise ProgramError(f"{directory} holds no network's DRAM image; run `sim gen NET -o {directory}`")
    verilog = read_file(directory / f"{TOP}.v", again, lambda path: _system_verilog(path.read_text(), manifest.data_bytes))
    source = manifest.source
    if source["source"] is None:
        raise ProgramError(f"{directory} holds a network built in Python, which cannot be reloaded from it; "
                           "verify that network with sim.verify(network, config)")  # fmt: skip
    network = load_network(source["source"], skip_unsupported=source["skip_unsupported"]).with_batch(source["batch"])
    params = read_file(directory / WEIGHTS_FILE, again, lambda path: read_params(path, manifest.config.weight_bits))
    data = read_file(directory / IMAGE_FILE, again, lambda path: path.read_bytes())
    if len(data) != manifest.image_bytes:
        raise ProgramError(f"{directory / IMAGE_FILE} holds {len(data):,} bytes, the manifest "
                           f"{manifest.image_bytes:,}; {again}")  # fmt: skip
    start = manifest.input_address - manifest.base
    x = from_pixel_major(np.frombuffer(data[start : start + manifest.input_bytes], np.int8), network.input_shape)
    try:
        image = build_image(compile_network(network, manifest.config, params), params, x, manifest.base)
    except Exception as err:  # weights that are not the network's
        raise ProgramError(f"{directory / WEIGHTS_FILE} does not fit {network.name} ({err}); {again}") from None
    if (len(image.data), image.program_address) != (len(data), manifest.program_address):
        raise ProgramError(f"{directory / IMAGE_FILE} is not laid out as {network.name} on this config; {again}")
    image.data = bytearray(data)
    return Generated(network, manifest.config, verilog, image, forward(network, params, x))
