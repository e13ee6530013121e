"""The binary program the AXI system runs: encoder and decoder of the format in :mod:`rtl.spec`.

:func:`encode_program` turns the tiles of a :class:`~rtl.host.dram_image.DramImage` into segments
of tile records (each tile's whole descriptor, lane table and DMA commands), a layer per segment
or more when its records exceed :data:`~rtl.spec.SEGMENT_WORDS`; :func:`decode_program` reads
them back, checking every word, as the command processor does. Records have a size fixed by the
tile's command counts, so the program's length follows from the tiles alone.
``docs/axi_system.md`` lists the format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel.dram_layout import strided_beats
from accel.system_timing import record_words, segment_end

from .program import ProgramError, lane_table
from ..spec import (DESCRIPTOR_REGISTERS, PROGRAM_MAGIC, RECORD_OPCODES, SEGMENT_ALIGN, SEGMENT_HEADER, SEGMENT_WORDS,
                   TAP_FIELDS, TARGETS, TILE_RECORD)

MASK = 0xFFFF_FFFF

#: On-chip memories a command addresses, by target number.
@dataclass(frozen=True)
class DmaCommand:
    """``runs`` runs of ``run_bytes`` bytes: run ``r`` at DRAM byte ``dram_addr + r * dram_stride``
    and at byte ``chip_addr + r * chip_stride`` of memory ``target`` (:data:`TARGETS`). A load
    moves DRAM to chip, a store chip to DRAM."""

    target: str
    dram_addr: int
    dram_stride: int
    run_bytes: int
    runs: int
    chip_addr: int
    chip_stride: int

    def beats(self, bus: int) -> int:
        """Bus beats of the command on a bus of ``bus`` bytes (``accel.dram_channel.run_beats`` per run)."""
        return strided_beats(self.dram_addr, self.dram_stride, self.runs, self.run_bytes, bus)

    def byte_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """DRAM and chip byte address of every byte moved, run by run."""
        offsets = np.arange(self.run_bytes)
        runs = np.arange(self.runs)[:, None]
        return ((self.dram_addr + runs * self.dram_stride + offsets).reshape(-1),
                (self.chip_addr + runs * self.chip_stride + offsets).reshape(-1))  # fmt: skip


@dataclass
class TileTransfers:
    """One tile in the AXI system: its descriptor registers (bank placement included), the
    commands that fetch its operands, and those that write its results back."""

    regs: dict[str, int]
    loads: list[DmaCommand]
    stores: list[DmaCommand]
    weight_bank: int
    stage_bank: int
    load_after: int = -1  # the tile whose compute must end before this tile's fetch starts
    wait_wb: int = -1  # the tile whose writeback must end before this tile computes
    first_tap: int = 0  # the K index of the lane table's first lane (a piece of one channel's window)




@dataclass
class DecodedTile:
    """A tile as the command processor sees it: its descriptor, lane table and transfers."""

    regs: dict[str, int]
    lanes: np.ndarray
    transfers: TileTransfers
    last: bool


@dataclass
class Segment:
    tiles: list[DecodedTile]
    first_of_layer: bool
    last: bool


def _field(words, word_name: str, field_name: str):
    word = next(w for w in words if w.name == word_name)
    return next(f for f in word.fields if f.name == field_name)


def _get(word: int, words, word_name: str, field_name: str) -> int:
    f = _field(words, word_name, field_name)
    return (word & f.mask) >> f.lsb


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _record(tile: TileTransfers, rows: int, first: int, last: bool) -> list[int]:
    """The words of ``tile``'s record in a segment whose first tile is number ``first``."""
    header = (RECORD_OPCODES["TILE"] << 24) | len(tile.loads) | len(tile.stores) << 8 | int(last) << 16
    guards = [g - first if g >= first else -1 for g in (tile.load_after, tile.wait_wb)]
    words = [header, (guards[0] & 0xFFFF) | (guards[1] & 0xFFFF) << 16, tile.weight_bank | tile.stage_bank << 1]
    words += [tile.regs[name] & MASK for name in DESCRIPTOR_REGISTERS]
    words += [int(v) & MASK for v in lane_table(tile.regs, rows, tile.first_tap).reshape(-1)]
    for command in tile.loads + tile.stores:
        words += [TARGETS.index(command.target), command.dram_addr & MASK, command.dram_addr >> 32,
                  command.dram_stride & MASK, command.run_bytes, command.runs, command.chip_addr, command.chip_stride]  # fmt: skip
    return words


def segment_tiles(commands: list[int], rows: int, segment_words: int = SEGMENT_WORDS) -> list[int]:
    """How many consecutive tiles of a layer each segment takes, given each tile's DMA commands:
    as many as their records fit ``segment_words`` (:func:`accel.system_timing.segment_end`)."""
    counts: list[int] = []
    array = np.array(commands, dtype=np.int64)
    while (first := sum(counts)) < len(commands):
        if (words := record_words(rows, commands[first])) > segment_words:
            raise ProgramError(f"a tile record of {words} words exceeds a segment of {segment_words}")
        counts.append(segment_end(array, rows, first, segment_words) - first)
    return counts


def encode_program(layers: list[list[TileTransfers]], rows: int, segment_words: int = SEGMENT_WORDS) -> list[int]:
    """The program's words for the tiles of each layer, in segments of at most ``segment_words``."""
    segments: list[tuple[list[int], bool]] = []
    for tiles in layers:
        first = 0
        for count in segment_tiles([len(t.loads) + len(t.stores) for t in tiles], rows, segment_words):
            chosen = tiles[first : first + count]
            body = [w for i, t in enumerate(chosen) for w in _record(t, rows, first, i == count - 1)]
            segments.append((body, first == 0))
            first += count
    program: list[int] = []
    for number, (body, layer_start) in enumerate(segments):
        program += [0] * (-len(program) % (SEGMENT_ALIGN // 4))
        flags = int(number == len(segments) - 1) | int(layer_start) << 1
        program += [PROGRAM_MAGIC, len(body), flags, *body]
    return program


def to_bytes(words: list[int]) -> bytes:
    return np.array(words, dtype="<u4").tobytes()


def decode_program(data: bytes, rows: int) -> list[Segment]:
    """The segments of a program image; ProgramError naming the word offset of anything malformed."""
    if len(data) % 4:
        raise ProgramError(f"the program is {len(data)} bytes, not a whole number of 32-bit words")
    words = np.frombuffer(data, dtype="<u4").astype(np.int64).tolist()
    segments, at = [], 0
    while True:
        if at + len(SEGMENT_HEADER) > len(words):
            raise ProgramError(f"the program ends at word {len(words)} inside a segment header")
        magic, count, flags = words[at : at + 3]
        if magic != PROGRAM_MAGIC:
            raise ProgramError(f"word {at}: segment magic {magic:#010x}, expected {PROGRAM_MAGIC:#010x}")
        if count > SEGMENT_WORDS or at + 3 + count > len(words):
            raise ProgramError(f"word {at + 1}: a segment of {count} words does not fit the program or SEGMENT_WORDS")
        tiles = _decode_segment(words[at + 3 : at + 3 + count], at + 3, rows)
        last = bool(_get(flags, SEGMENT_HEADER, "FLAGS", "LAST"))
        segments.append(Segment(tiles, bool(_get(flags, SEGMENT_HEADER, "FLAGS", "LAYER")), last))
        at += 3 + count
        at += -at % (SEGMENT_ALIGN // 4)
        if last:
            return segments


def _decode_segment(body: list[int], offset: int, rows: int) -> list[DecodedTile]:
    tiles, index = [], 0
    while index < len(body):
        header = body[index]
        if header >> 24 != RECORD_OPCODES["TILE"]:
            raise ProgramError(f"word {offset + index}: unknown record opcode {header >> 24}")
        loads, stores = (_get(header, TILE_RECORD, "TILE", name) for name in ("LOADS", "STORES"))
        size = record_words(rows, loads + stores)
        if index + size > len(body):
            raise ProgramError(f"word {offset + index}: a record of {size} words runs past the end of its segment")
        guards, banks = body[index + 1 : index + 3]
        at = index + len(TILE_RECORD)
        regs = {name: _signed(body[at + i], 32) for i, name in enumerate(DESCRIPTOR_REGISTERS)}
        at += len(DESCRIPTOR_REGISTERS)
        lanes = np.array([_signed(v, 32) for v in body[at : at + len(TAP_FIELDS) * rows]], dtype=np.int64)
        at += len(TAP_FIELDS) * rows
        commands = [_command(body[c : c + 8], f"word {offset + c}") for c in range(at, index + size, 8)]
        transfers = TileTransfers(
            regs, commands[:loads], commands[loads:], banks & 1, banks >> 1 & 1,
            _signed(guards & 0xFFFF, 16), _signed(guards >> 16, 16),
        )  # fmt: skip
        last = bool(_get(header, TILE_RECORD, "TILE", "LAST"))
        tiles.append(DecodedTile(regs, lanes.reshape(rows, len(TAP_FIELDS)), transfers, last))
        index += size
    return tiles


def _command(words: list[int], where: str) -> DmaCommand:
    target, lo, hi, stride, run_bytes, runs, chip, chip_stride = words
    if target >= len(TARGETS) or run_bytes < 1 or runs < 1:
        raise ProgramError(f"{where}: DMA command with target {target}, {runs} runs of {run_bytes} bytes")
    return DmaCommand(TARGETS[target], lo | hi << 32, stride, run_bytes, runs, chip, chip_stride)
