"""Host side of the verification bench's DRAM model (``rtl/host/dram_model.v``): images, dumps, plusargs.

The model is an AXI4 memory with exactly the timing of :mod:`accel.dram_channel`; its settings
are plusargs, so one build serves every bandwidth and latency. Memory contents go in and out by
file: :func:`write_image` writes the ``+dram_image`` file that ``$readmemh`` loads at time 0 (its
text is :func:`image_text`, which ``sim gen`` also writes as ``dram.hex``), and :func:`read_dump`
reads back the ``+dram_dump`` file that a cycle with ``dump`` high writes.
Both files hold one ``bus_bytes``-byte word per line in hexadecimal, byte 0 of the word in the
low bits (``@address`` lines skip to a word address).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: The Verilog source of module ``dram_model``.
SOURCE = Path(__file__).with_name("dram_model.v")
MODULE = "dram_model"
#: Port names in declaration order (AXI4 subordinate ``s_axi_*``, then the bench ports).
AXI_SIGNALS = (
    "awid", "awaddr", "awlen", "awsize", "awburst", "awvalid", "awready",
    "wdata", "wstrb", "wlast", "wvalid", "wready",
    "bid", "bresp", "bvalid", "bready",
    "arid", "araddr", "arlen", "arsize", "arburst", "arvalid", "arready",
    "rid", "rdata", "rresp", "rlast", "rvalid", "rready",
)  # fmt: skip
PORTS = ("clk", "rst", *(f"s_axi_{s}" for s in AXI_SIGNALS), "dump", "cycle", "beats_moved", "requests_served")
#: The model's outputs (the rest are inputs).
OUTPUTS = frozenset(
    ["s_axi_awready", "s_axi_wready", "s_axi_bid", "s_axi_bresp", "s_axi_bvalid", "s_axi_arready", "s_axi_rid",
     "s_axi_rdata", "s_axi_rresp", "s_axi_rlast", "s_axi_rvalid", "cycle", "beats_moved", "requests_served"]
)  # fmt: skip


def write_image(path: str | os.PathLike, data: bytes | Mapping[int, bytes], bus_bytes: int) -> None:
    """Write the ``$readmemh`` image of ``data`` (:func:`image_text`) to ``path``."""
    Path(path).write_text(image_text(data, bus_bytes))


def image_text(data: bytes | Mapping[int, bytes], bus_bytes: int) -> str:
    """The ``$readmemh`` image of ``data``: one bytes object at address 0, or ``{byte address: bytes}``.

    Only the words the data touches are written (bytes of those words that no run covers are 0;
    the model starts from zeros). Later runs overwrite earlier ones where they overlap.
    """
    runs = {0: data} if isinstance(data, (bytes, bytearray, memoryview)) else data
    if any(address < 0 for address in runs):
        raise ValueError(f"image addresses must be non-negative, not {min(runs)}")
    runs = {address: bytes(run) for address, run in runs.items() if len(run)}
    if not runs:
        return "\n"
    first = min(runs) // bus_bytes
    last = max(address + len(run) - 1 for address, run in runs.items()) // bus_bytes
    memory = np.zeros((last + 1 - first) * bus_bytes, np.uint8)
    touched = np.zeros(last + 1 - first, bool)
    for address, run in runs.items():
        memory[address - first * bus_bytes :][: len(run)] = np.frombuffer(run, np.uint8)
        touched[address // bus_bytes - first : (address + len(run) - 1) // bus_bytes - first + 1] = True
    hexes = memory.reshape(-1, bus_bytes)[:, ::-1].tobytes().hex()
    lines, width = [], 2 * bus_bytes
    # One block of lines per run of touched words, after an @address line where a gap precedes it.
    edges = np.flatnonzero(np.diff(np.concatenate([[False], touched, [False]]).astype(np.int8)))
    for start, stop in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if first + start != 0 or lines:
            lines.append(f"@{first + start:x}")
        block = hexes[start * width : stop * width]
        lines.extend(block[i : i + width] for i in range(0, len(block), width))
    return "\n".join(lines) + "\n"


def read_dump(path: str | os.PathLike, bus_bytes: int) -> bytearray:
    """The memory a ``$writememh`` dump holds, as bytes from address 0 (words it skips are 0)."""
    text = re.sub(r"//[^\n]*", "", Path(path).read_text())
    memory, word = bytearray(), 0
    # Blocks of consecutive words, each after an optional @address token.
    for block in re.split(r"(@[0-9a-fA-F]+)", text):
        if block.startswith("@"):
            word = int(block[1:], 16)
            continue
        tokens = block.split()
        if not tokens:
            continue
        bad = next((t for t in tokens if len(t) != 2 * bus_bytes), None)
        try:
            raw = np.frombuffer(bytes.fromhex("".join(tokens)), np.uint8) if bad is None else None
        except ValueError:
            raw = None
        if raw is None:
            bad = bad or next(t for t in tokens if not re.fullmatch(r"[0-9a-fA-F]+", t))
            raise ValueError(f"{path}: {bad!r} is not a {bus_bytes}-byte hexadecimal word")
        end = (word + len(tokens)) * bus_bytes
        memory.extend(bytes(max(0, end - len(memory))))
        memory[word * bus_bytes : end] = raw.reshape(-1, bus_bytes)[:, ::-1].tobytes()
        word += len(tokens)
    return memory


def plusargs(
    bandwidth: float | None = None,
    latency: int = 0,
    backpressure: float = 0.0,
    seed: int = 1,
    image: str | os.PathLike | None = None,
    dump: str | os.PathLike | None = None,
    slverr: tuple[int, int] | None = None,
) -> list[str]:
    """Plusargs for the model: ``bandwidth`` in bytes/cycle (``None``: the bus width), ``latency``
    in cycles, ``backpressure`` a probability, ``slverr`` a byte range ``(lo, hi)``.

    The bandwidth is written with ``repr``, which ``$value$plusargs("%f")`` reads back to the same
    double, so the model's beat deadlines are those of :func:`accel.dram_channel.beat_deadline`.
    """
    if bandwidth is not None and not bandwidth > 0:
        raise ValueError(f"DRAM model bandwidth must be > 0 bytes/cycle, not {bandwidth}")
    if latency < 0:
        raise ValueError(f"DRAM model latency must be >= 0 cycles, not {latency}")
    if not 0 <= backpressure <= 1:
        raise ValueError(f"DRAM model backpressure must be a probability 0..1, not {backpressure}")
    args = [f"+dram_latency={int(latency)}", f"+dram_backpressure={float(backpressure)!r}", f"+dram_seed={int(seed)}"]
    if bandwidth is not None:
        args.append(f"+dram_bandwidth={float(bandwidth)!r}")
    if image is not None:
        args.append(f"+dram_image={image}")
    if dump is not None:
        args.append(f"+dram_dump={dump}")
    if slverr is not None:
        lo, hi = slverr
        args += [f"+dram_slverr_lo={lo:x}", f"+dram_slverr_hi={hi:x}"]
    return args


def module_ports(verilog: str, name: str) -> dict[str, tuple[str, int]]:
    """``{port: (direction, width)}`` of module ``name`` in ``verilog``, from its header and declarations."""
    header = re.search(rf"^module {name}\((.*?)\);", verilog, re.MULTILINE | re.DOTALL)
    if header is None:
        raise ValueError(f"no module {name} in the Verilog")
    names = [p.strip() for p in header.group(1).split(",")]
    ports = {}
    for direction, msb, port in re.findall(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)*(?:\[(\d+):0\]\s+)?(\w+);", verilog, re.M):
        if port in names:
            ports[port] = (direction, int(msb or 0) + 1)
    if sorted(ports) != sorted(names):
        raise ValueError(f"module {name}: ports {sorted(set(names) - set(ports))} have no declaration")
    return ports


def attach(name: str, verilog: str, bus_bytes: int, depth_words: int, id_bits: int, top: str) -> str:
    """Verilog of module ``top``: module ``name`` (in ``verilog``, returned with it) with its
    ``m_axi_*`` manager port on a :data:`MODULE` instance ``dram`` through wires of the same names
    (a bench reads them), its other ports and the model's ``dump`` input as ``top``'s ports."""
    ports = module_ports(verilog, name)
    own = {p: shape for p, shape in ports.items() if not p.startswith("m_axi_")}
    lines = [f"module {top}({', '.join([*own, 'dump'])});", "  input dump;"]
    for port, (direction, width) in own.items():
        lines.append(f"  {direction} [{width - 1}:0] {port};")
    for port, (_, width) in ports.items():
        if port.startswith("m_axi_"):
            lines.append(f"  wire [{width - 1}:0] {port};")
    lines.append(f"  {name} dut({', '.join(f'.{p}({p})' for p in ports)});")
    connections = []
    for signal in AXI_SIGNALS:
        if f"m_axi_{signal}" in ports:
            connections.append(f".s_axi_{signal}(m_axi_{signal})")
        elif f"s_axi_{signal}" not in OUTPUTS:  # manager inputs the module does not drive: idle
            connections.append(f".s_axi_{signal}({int(signal in ('bready', 'rready'))})")
    connections += [".clk(clk)", ".rst(rst)", ".dump(dump)"]
    lines.append(f"  {MODULE} #(.DATA_BYTES({bus_bytes}), .DEPTH_WORDS({depth_words}), .ID_BITS({id_bits})) "
                 f"dram({', '.join(connections)});")  # fmt: skip
    return verilog + "\n".join(lines) + "\nendmodule\n"
