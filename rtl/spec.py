"""The AXI peripheral's software interface: control registers, their fields, error codes, and
the format of the program it runs from DRAM.

This module is the single source of that interface. The register block (:mod:`rtl.hw.control_regs`),
the host driver (:mod:`rtl.host.driver`), the C header (:mod:`rtl.host.c_header`), the program encoder
and decoder (:mod:`rtl.host.program_image`) and the documentation tables (``docs/axi_system.md``) are
all derived from it. Pure Python: the driver and header generator import it without Amaranth.
"""

from __future__ import annotations

from dataclasses import dataclass

from accel.system_timing import SEGMENT_ALIGN, SEGMENT_WORDS  # noqa: F401 (part of the spec)

#: Value of the ID register: ASCII "SYA1" (systolic accelerator, interface version 1).
ID_VALUE = 0x53594131


@dataclass(frozen=True)
class Field:
    """Bits ``lsb .. lsb + width - 1`` of a register, with their meaning."""

    name: str
    lsb: int
    width: int
    meaning: str

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class RegisterSpec:
    """One 32-bit control register: byte offset, access (RW, RO, W1C), width in bits, meaning."""

    name: str
    offset: int
    access: str
    width: int
    meaning: str
    fields: tuple[Field, ...] = ()


#: Interrupt and status event bits (IRQ_ENABLE, IRQ_STATUS).
EVENTS = (Field("DONE", 0, 1, "the program finished"), Field("ERROR", 1, 1, "the program stopped on an error"))

CONTROL_REGISTERS = (
    RegisterSpec("ID", 0x00, "RO", 32, f"reads {ID_VALUE:#010x} (ASCII \"SYA1\")"),
    RegisterSpec("ARRAY", 0x04, "RO", 32, "the array's shape", (
        Field("ROWS", 0, 16, "PE rows R"), Field("COLS", 16, 16, "PE columns C"))),
    RegisterSpec("BUS", 0x08, "RO", 32, "the AXI4 data port", (
        Field("DATA_BYTES", 0, 8, "bytes per beat W"), Field("ADDR_BITS", 8, 8, "address bits"))),
    RegisterSpec("CTRL", 0x0C, "RW", 1, "write 1: start the program at PROG_ADDR (ignored while busy)", (
        Field("START", 0, 1, "doorbell"),)),
    RegisterSpec("STATUS", 0x10, "RO", 3, "state of the last start", (
        Field("BUSY", 0, 1, "the program is running"),
        Field("DONE", 1, 1, "the program finished (until the next start)"),
        Field("ERROR", 2, 1, "the program stopped on an error; ERROR_CODE says which"))),
    RegisterSpec("IRQ_ENABLE", 0x14, "RW", 2, "events that raise irq", EVENTS),
    RegisterSpec("IRQ_STATUS", 0x18, "W1C", 2, "events since cleared; irq = |(IRQ_STATUS & IRQ_ENABLE); write 1 to clear",
                 EVENTS),
    RegisterSpec("PROG_ADDR_LO", 0x1C, "RW", 32, "DRAM byte address of the program, bits 31..0"),
    RegisterSpec("PROG_ADDR_HI", 0x20, "RW", 32, "DRAM byte address of the program, bits 63..32"),
    RegisterSpec("PROG_LEN", 0x24, "RW", 32, "program length in bytes"),
    RegisterSpec("ERROR_CODE", 0x28, "RO", 8, "why the last program stopped (ERROR_CODES); 0 while none"),
    RegisterSpec("CYCLES_LO", 0x2C, "RO", 32, "cycles from the start edge to done, bits 31..0"),
    RegisterSpec("CYCLES_HI", 0x30, "RO", 32, "cycles from the start edge to done, bits 63..32"),
    RegisterSpec("COMPUTE_LO", 0x34, "RO", 32, "of those, cycles in which the array computed, bits 31..0"),
    RegisterSpec("COMPUTE_HI", 0x38, "RO", 32, "of those, cycles in which the array computed, bits 63..32"),
)  # fmt: skip

@dataclass(frozen=True)
class ErrorCode:
    """A value of ERROR_CODE: why a program stopped."""

    name: str
    code: int
    meaning: str


#: The values of ERROR_CODE (0: no error).
ERROR_CODES = (
    ErrorCode("DRAM_READ_SLVERR", 1, "a DRAM read was answered SLVERR"),
    ErrorCode("DRAM_READ_DECERR", 2, "a DRAM read was answered DECERR (no memory at the address)"),
    ErrorCode("DRAM_WRITE_SLVERR", 3, "a DRAM write was answered SLVERR"),
    ErrorCode("DRAM_WRITE_DECERR", 4, "a DRAM write was answered DECERR (no memory at the address)"),
    ErrorCode("BAD_PROGRAM", 5, "the program holds a header or command the accelerator cannot run"),
)

REGISTERS = {r.name: r for r in CONTROL_REGISTERS}


def field(register: str, name: str) -> Field:
    """Field ``name`` of register ``register``."""
    return next(f for f in REGISTERS[register].fields if f.name == name)


# ---------------------------------------------------------------------------------------------
# The program: little-endian 32-bit words in DRAM at PROG_ADDR, PROG_LEN bytes long.
# ---------------------------------------------------------------------------------------------

#: First word of every program segment: the bytes of ASCII "SYP1".
PROGRAM_MAGIC = 0x31505953
#: Words of records one segment may hold (SEGMENT_WORDS): the command processor loads a whole
#: segment into its program memory before running it. The simulator times the program's fetch,
#: so the sizes live with its timing (``accel/system_timing.py``).


@dataclass(frozen=True)
class WordSpec:
    """One word of a program structure: its name, meaning and fields."""

    name: str
    meaning: str
    fields: tuple[Field, ...] = ()


#: A segment: this header, then WORDS words of tile records; the next segment starts on the next
#: SEGMENT_ALIGN-byte boundary (zero words between). A layer takes one segment, or several when
#: its records do not fit SEGMENT_WORDS; the tiles of a segment are numbered from 0 (the guards
#: of its records count from there) and a segment runs once the one before it has finished.
SEGMENT_HEADER = (
    WordSpec("MAGIC", "PROGRAM_MAGIC"),
    WordSpec("WORDS", "words of tile records that follow this header (at most SEGMENT_WORDS)"),
    WordSpec("FLAGS", "the segment's place in the program", (
        Field("LAST", 0, 1, "the program's last segment"), Field("LAYER", 1, 1, "the first segment of a layer"))),
)  # fmt: skip

#: Record opcodes (bits 31..24 of a record's first word).
RECORD_OPCODES = {"TILE": 2}

#: A tile record: these words, the tile's whole descriptor (one word per register, two's
#: complement, in ``rtl.host.emulator.DESCRIPTOR_REGISTERS`` order), its lane table (eight words per
#: lane of the array's R, in ``rtl.host.emulator.TAP_FIELDS`` order), then LOADS DMA commands that
#: fetch its operands and STORES commands that write its results back.
TILE_RECORD = (
    WordSpec("TILE", "a tile and its command counts", (
        Field("LOADS", 0, 8, "load commands at the record's end"), Field("STORES", 8, 8, "store commands after them"),
        Field("LAST", 16, 1, "the segment's last tile"), Field("OPCODE", 24, 8, "RECORD_OPCODES['TILE']"))),
    WordSpec("GUARDS", "tile numbers in the segment, two's complement, -1: none", (
        Field("LOAD_AFTER", 0, 16, "the tile whose compute must end before this tile's fetch starts"),
        Field("WAIT_WB", 16, 16, "the tile whose writeback must end before this tile computes"))),
    WordSpec("BANKS", "bank numbers of the tile's memories", (
        Field("WEIGHT_BANK", 0, 1, "weight and addend bank the tile reads"),
        Field("STAGE_BANK", 1, 1, "staging bank the tile's results go to"))),
)  # fmt: skip

#: A DMA command: eight words (``rtl.host.program_image.DmaCommand``).
COMMAND_WORDS = (
    WordSpec("TARGET", "on-chip memory: 0 ifmap, 1 weights, 2 addends, 3 staging"),
    WordSpec("DRAM_ADDR_LO", "DRAM byte address of run 0, bits 31..0"),
    WordSpec("DRAM_ADDR_HI", "DRAM byte address of run 0, bits 63..32"),
    WordSpec("DRAM_STRIDE", "bytes between run starts in DRAM"),
    WordSpec("RUN_BYTES", "bytes per run (>= 1)"),
    WordSpec("RUNS", "runs (>= 1)"),
    WordSpec("CHIP_ADDR", "on-chip byte address of run 0 (bank included)"),
    WordSpec("CHIP_STRIDE", "bytes between run starts on chip"),
)


# -- Descriptors: the layer core's registers and its lane table -----------------------------------

#: Fields of one lane of the lane table (the taps of K block 0), in field-number order: the digits
#: of the lane's K index ``k = c * KH * KW + ky * KW + kx`` and the offsets they give (``dx = kx *
#: dilation_x``, ``dy``, ``dxp = dx * PIXEL_PITCH``, ``dyw = dy * ROW_PITCH``, ``plane``: the
#: channel's ifmap offset).
TAP_FIELDS = ("kx", "ky", "c", "dx", "dy", "dxp", "dyw", "plane")

#: How each lane field moves from K block ``b`` to ``b + 1``: ``(digit, step, add, wrap)`` with
#: ``field += step + carry_in * add - carry_out * wrap``, where the carries are those into and
#: out of the field's digit (:data:`DIGIT_CARRIES`) and the names are registers (1: the constant).
TAP_STEPS = {
    "kx": ("kx", "SX", None, "KW"),
    "ky": ("ky", "SY", 1, "KH"),
    "c": ("c", "SC", 1, None),
    "dx": ("kx", "DX_STEP", None, "DX_WRAP"),
    "dy": ("ky", "DY_STEP", "DY_CARRY", "DY_WRAP"),
    "dxp": ("kx", "DXP_STEP", None, "DXP_WRAP"),
    "dyw": ("ky", "DYW_STEP", "DYW_CARRY", "DYW_WRAP"),
    "plane": ("c", "PLANE_STEP", "PLANE_CARRY", None),
}
#: (carry into, carry out of) each digit: ``cx = kx + SX >= KW``, ``cy = ky + SY + cx >= KH``.
DIGIT_CARRIES = {"kx": (None, "cx"), "ky": ("cx", "cy"), "c": ("cy", None)}

#: Register names of a descriptor (everything but CTRL/STATUS/CYCLES), in register-index order.
DESCRIPTOR_REGISTERS = (
    "T", "INNER", "OUTER", "MODE", "ACCUMULATE", "OUT_W", "OUT_ROWS", "IMAGES", "IMG_STRIDE",
    "COL_START", "COL_STEP", "ROW_START", "ROW_STEP", "ROW_START_W", "ROW_STEP_W", "IN_W", "IN_H",
    "IN_HW", "ROW_BASE_W", "ROW_PITCH", "PIXEL_PITCH", "COL_START_P", "COL_STEP_P", "PAD_MODE", "OUT_MULT", "OUT_SHIFT", "OUT_ROUND", "OUT_SUB", "OUT_MIN",
    "OUT_MAX", "FINAL", "STAGE_PITCH", "CHANNELS", "KW", "KH", "SX", "SY", "SC", "DX_STEP", "DX_WRAP",
    "DXP_STEP", "DXP_WRAP", "DY_STEP", "DY_CARRY", "DY_WRAP", "DYW_STEP", "DYW_CARRY", "DYW_WRAP", "PLANE_STEP",
    "PLANE_CARRY",
)  # fmt: skip

PAD_MODES = {"zeros": 0, "reflect": 1, "replicate": 2, "circular": 3}

#: The on-chip memories a DMA command moves bytes to or from, by target number.
TARGETS = ("ifmap", "weights", "addends", "staging")

