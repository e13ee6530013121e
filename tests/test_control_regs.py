"""The control register block, its C header and the host driver, all from rtl/spec.py.

The cocotb bench ``tests/rtl_benches/control_regs_bench.py`` runs the real driver
(:mod:`rtl.host.driver`) over cocotbext-axi's AXI4-Lite master against the generated block.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from rtl import spec
from rtl.host.c_header import c_header
from rtl.hw.control_regs import ControlBlock
from tests.test_rtl_axi import build_and_run, needs_icarus

SCENARIOS = [
    {"addr": 0x1_2345_6780, "len": 4096, "irq": True, "cycles": 25, "compute": [3, 4, 5, 10, 25], "error": 0},
    {"addr": 0x8000, "len": 64, "irq": False, "cycles": 1, "compute": [], "error": 0},
    {"addr": 0x40, "len": 12, "irq": True, "cycles": 9, "compute": [2], "error": 2},
]


def test_register_table_is_consistent():
    offsets = [r.offset for r in spec.CONTROL_REGISTERS]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    assert all(r.offset % 4 == 0 and r.access in ("RW", "RO", "W1C") for r in spec.CONTROL_REGISTERS)
    for r in spec.CONTROL_REGISTERS:
        bits = 0
        for f in r.fields:
            assert f.lsb + f.width <= max(r.width, 32) and not bits & f.mask, (r.name, f.name)
            bits |= f.mask
    assert [e.code for e in spec.ERROR_CODES] == list(range(1, len(spec.ERROR_CODES) + 1))


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_header_compiles_and_matches_the_spec(tmp_path):
    header = c_header("accel_ws_4x8", {"ROWS": 4, "COLS": 8, "DATA_BYTES": 16})
    (tmp_path / "accel_ws_4x8.h").write_text(header)
    checks = [f"_Static_assert(ACCEL_WS_4X8_REG_{r.name} == {r.offset}u, \"{r.name}\");" for r in spec.CONTROL_REGISTERS]
    checks += [f"_Static_assert(ACCEL_WS_4X8_{r.name}_{f.name}_MASK == {f.mask}u, \"{f.name}\");"
               for r in spec.CONTROL_REGISTERS for f in r.fields]  # fmt: skip
    checks += [f"_Static_assert(ACCEL_WS_4X8_ERROR_{e.name} == {e.code}u, \"{e.name}\");" for e in spec.ERROR_CODES]
    checks.append(f"_Static_assert(ACCEL_WS_4X8_ID_VALUE == {spec.ID_VALUE}u, \"id\");")
    program = {"SEGMENT": spec.SEGMENT_HEADER, "TILE": spec.TILE_RECORD, "COMMAND": spec.COMMAND_WORDS}
    checks += [f"_Static_assert(ACCEL_WS_4X8_{s}_{w.name} == {i}u, \"{w.name}\");"
               for s, words in program.items() for i, w in enumerate(words)]  # fmt: skip
    checks += [f"_Static_assert(ACCEL_WS_4X8_{w.name}_{f.name}_MASK == {f.mask}u, \"{f.name}\");"
               for words in program.values() for w in words for f in w.fields]  # fmt: skip
    checks.append(f"_Static_assert(ACCEL_WS_4X8_PROGRAM_MAGIC == {spec.PROGRAM_MAGIC}u, \"magic\");")
    source = '#include "accel_ws_4x8.h"\n' + "\n".join(checks) + "\nint main(void) { return ACCEL_WS_4X8_COLS == 8u ? 0 : 1; }\n"
    (tmp_path / "check.c").write_text(source)
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-o", str(tmp_path / "check"), str(tmp_path / "check.c")],
                   check=True, cwd=tmp_path)  # fmt: skip
    assert subprocess.run([str(tmp_path / "check")]).returncode == 0
    program_macros = 3 + len(spec.RECORD_OPCODES) + sum(len(words) + 1 + 2 * sum(len(w.fields) for w in words)
                                                        for words in program.values())  # fmt: skip
    assert header.count("#define") == 2 + 3 + len(spec.CONTROL_REGISTERS) + len(spec.ERROR_CODES) + 2 * sum(
        len(r.fields) for r in spec.CONTROL_REGISTERS
    ) + program_macros


def test_block_ports_and_names():
    from rtl.hw import axi

    verilog = axi.convert(ControlBlock(4, 8, 16, 32), "ctl")
    ports = re.search(r"^module ctl\((.*?)\);", verilog, re.M | re.S).group(1)
    names = {p.strip() for p in ports.split(",")}
    assert {"s_axil_awaddr", "s_axil_rdata", "irq", "start", "prog_addr", "finish", "error_code", "computing"} <= names


@needs_icarus
def test_driver_runs_programs_on_the_block(tmp_path, monkeypatch):
    report = tmp_path / "report.json"
    (tmp_path / "spec.json").write_text(json.dumps({"scenarios": SCENARIOS, "report": str(report)}))
    build_and_run(ControlBlock(4, 8, 16, 32), "ctl", "control_regs_bench", tmp_path, monkeypatch,
                  {"CONTROL_SPEC": str(tmp_path / "spec.json")})  # fmt: skip
    result = json.loads(report.read_text())
    assert result["identify"] == {"rows": 4, "cols": 8, "data_bytes": 16, "addr_bits": 32}
    assert result["starts"] == [{"addr": s["addr"], "len": s["len"]} for s in SCENARIOS]
    first, second, third = result["runs"]
    # busy from the edge after the doorbell until the edge that samples finish: the scenario's cycles;
    # the counters leave out the cycle of finish (cycle 25 computes but is not counted).
    assert (first["cycles"], first["compute"], first["stall"]) == (24, 4, 20)
    assert (second["cycles"], second["compute"]) == (0, 0)
    assert first["busy_after_start"] == 1 and second["busy_after_start"] == 0  # 1 cycle: over before the read
    assert len(result["starts"]) == len(SCENARIOS)  # the doorbell rung while busy started nothing
    done, error = (spec.field("IRQ_STATUS", name).mask for name in ("DONE", "ERROR"))
    assert (first["irq"], first["events"], first["irq_after_ack"]) == (1, done, 0)
    assert (second["irq"], second["events"]) == (0, done)  # events are kept, the interrupt was off
    assert third["error"] == "the program stopped: a DRAM read was answered DECERR (no memory at the address) (ERROR_CODE 2)"
    assert (third["irq"], third["events"], third["irq_after_ack"]) == (1, done | error, 0)
    assert result["unmapped"] == "the read of register offset 0x100 was refused (AXI response 2)"


def test_docs_table_is_the_spec():
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "axi_system.md").read_text()
    for r in spec.CONTROL_REGISTERS:
        assert f"| 0x{r.offset:02x} | {r.name} | {r.access} | {r.meaning} |" in text, r.name
    for e in spec.ERROR_CODES:
        assert f"| {e.code} | {e.name} | {e.meaning} |" in text, e.name
