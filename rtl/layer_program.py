"""``sim gen NET``: the network's layer program written next to the Verilog, and ``--fit``.

``program.json`` holds, per layer, every descriptor (register values), the tiling, and the memory
layout as slices: which images, input rows, groups and channels each tile loads into the ifmap
buffer, which output channels its weights cover, and where its results go (see
``docs/accelerator.md``). ``weights.npz`` holds the int8 weights, int32 biases and requantization
of every weighted layer, so the design, the program and the host driver run the network.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from amaranth import Shape

from accel.area import asic_area
from accel.config import AccelConfig
from accel.files import strict_json
from accel.lowering import ArrayOp, lower_network
from accel.tiling import MappingError, tile_grid
from workloads.errors import UserError
from workloads.forward import LayerParams, NetworkParams
from workloads.network import Network

from .accelerator import register_shapes
from .accelerator_geometry import AcceleratorGeometry
from .emulator import DESCRIPTOR_REGISTERS
from .geometry import CoreGeometry
from .program import Program, ProgramError, calibrated_params, compile_network

BUFFERS = ("ifmap", "filter", "ofmap")
KIB_LIMIT = 1 << 20  # 1 GiB per buffer: beyond any on-chip memory


def program_files(network: Network, config: AccelConfig, seed: int = 0) -> dict[str, bytes]:
    """``program.json`` and ``weights.npz`` for ``network`` (deterministic int8 parameters)."""
    params, _ = calibrated_params(network, seed)
    program = compile_network(network, config, params)
    arrays = {}
    for name, p in params.layers.items():
        arrays[f"{name}.weight"] = p.weight
        if p.bias is not None:
            arrays[f"{name}.bias"] = p.bias
        arrays[f"{name}.requant"] = np.array([p.scale, p.shift], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    text = strict_json(program.to_dict(), indent=1, default=int) + "\n"
    return {"program.json": text.encode(), "weights.npz": buffer.getvalue()}


def load_program(directory: str | Path) -> tuple[Program, NetworkParams]:
    """The program and int8 parameters ``sim gen NET`` wrote to ``directory``.

    With them :func:`rtl.program.execute` runs the network without the network description. A
    missing or damaged file is a ProgramError naming it.
    """
    directory = Path(directory)
    again = f"run `sim gen NET -o {directory}` again"
    program = read_file(directory / "program.json", again, lambda path: Program.from_dict(json.loads(path.read_text())))
    _check_registers(directory / "program.json", program, again)
    params = read_file(directory / "weights.npz", again, lambda path: _load_params(path, program.config))
    weighted = [name for name, plan in program.layers.items() if plan.kind in ("conv", "linear")]
    missing = [name for name in weighted if name not in params.layers]
    if missing:
        raise ProgramError(f"{directory}/weights.npz has no weights for {', '.join(missing)}; {again}")
    return program, params


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


def _load_params(path: Path, config: AccelConfig) -> NetworkParams:
    params = NetworkParams("int8")
    with np.load(path, allow_pickle=False) as arrays:
        for name in {key.rsplit(".", 1)[0] for key in arrays.files}:
            scale, shift = (int(v) for v in arrays[f"{name}.requant"])
            weight = _integers(arrays[f"{name}.weight"], config.weight_bits, f"{name}.weight")
            bias = _integers(arrays[f"{name}.bias"], 32, f"{name}.bias") if f"{name}.bias" in arrays.files else None
            params.layers[name] = LayerParams(weight, bias, scale, shift)
    return params


def _integers(array: np.ndarray, bits: int, name: str) -> np.ndarray:
    """``array`` if it holds ``bits``-bit signed integers: the bus would truncate anything else, and
    the RTL would compute with other values than the model."""
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} holds {array.dtype} values, not integers")
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if array.size and not (low <= array.min() and array.max() <= high):
        raise ValueError(f"{name} holds values outside {low}..{high} ({bits}-bit signed)")
    return array


def _check_registers(path: Path, program: Program, again: str) -> None:
    """Every descriptor sets every register to an integer its register holds.

    The bus truncates a wider value, so the RTL would run another descriptor than the model (and a
    huge count would make the model allocate without bound).
    """
    try:
        ranges = register_ranges(program.config)
    except UserError as err:  # a config no accelerator can be built for
        raise ProgramError(f"{path}: {err}; {again}") from None
    for plan in program.layers.values():
        for number, tile in enumerate(plan.tiles):
            for name in DESCRIPTOR_REGISTERS:
                value, (low, high) = tile.regs.get(name), ranges[name]
                if type(value) is not int or not low <= value <= high:
                    raise ProgramError(f"{path}: descriptor {number} of layer {plan.name} sets {name} to {value!r}, "
                                       f"not an integer from {low} to {high}; {again}")  # fmt: skip


def register_ranges(config: AccelConfig) -> dict[str, tuple[int, int]]:
    """Smallest and largest value each descriptor register of ``config``'s accelerator holds."""
    shapes = register_shapes(CoreGeometry.from_config(config))
    ranges = {}
    for name in DESCRIPTOR_REGISTERS:
        shape = Shape.cast(shapes[name])
        low = -(1 << (shape.width - 1)) if shape.signed else 0
        ranges[name] = (low, low + (1 << shape.width) - 1)
    return ranges


def single_tile(network: Network, config: AccelConfig) -> bool:
    """True if every array layer runs as one descriptor per pack of groups (no host tiling).

    Buffer-size errors count as False; call it on a network that compiles with large buffers.
    """
    try:
        for _, op in lower_network(network):
            if isinstance(op, ArrayOp):
                grid = tile_grid(op, config)
                if len(grid.mi) != -(-op.groups // grid.pack):
                    return False
        compile_network(network, config)
    except (MappingError, ProgramError):
        return False
    return True


def fit_buffers(network: Network, config: AccelConfig) -> tuple[AccelConfig, dict]:
    """The smallest buffers (whole KiB) with which no layer of ``network`` needs host tiling.

    Each buffer is sized by bisection with the other two unlimited, then the three are checked
    together. Returns the config and a cost report (KiB and ASIC area before and after).
    """
    huge = {f"{b}_kib": KIB_LIMIT for b in BUFFERS}
    compile_network(network, config.replace(**huge))  # a layer the RTL cannot run says so here
    if not single_tile(network, config.replace(**huge)):
        raise ProgramError(f"{network.name} cannot run without tiling even with {KIB_LIMIT} KiB buffers")
    sizes = {}
    for buffer in BUFFERS:
        lo, hi = 1, KIB_LIMIT  # single_tile(hi) holds
        while lo < hi:
            mid = (lo + hi) // 2
            if single_tile(network, config.replace(**{**huge, f"{buffer}_kib": mid})):
                hi = mid
            else:
                lo = mid + 1
        sizes[f"{buffer}_kib"] = lo
    fitted = config.replace(**sizes)
    if not single_tile(network, fitted):  # pragma: no cover - the three needs are independent
        raise ProgramError(f"{network.name}: the per-buffer sizes {sizes} do not fit together")
    before, after = asic_area(config), asic_area(fitted)
    report = {
        "buffers_kib": {b: {"before": getattr(config, f"{b}_kib"), "fit": sizes[f"{b}_kib"]} for b in BUFFERS},
        "sram_kib": {"before": sum(getattr(config, f"{b}_kib") for b in BUFFERS), "fit": sum(sizes.values())},
        "area_mm2": {"before": round(before["total"], 4), "fit": round(after["total"], 4)},
    }
    return fitted, report
