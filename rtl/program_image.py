"""The binary program the AXI system runs: encoder and decoder of the format in :mod:`rtl.spec`.

:func:`encode_program` turns the tiles of a :class:`~rtl.dram_image.DramImage` into segments
of records (register writes, tiles with their DMA commands), a layer per segment or more when
its records exceed :data:`~rtl.spec.SEGMENT_WORDS`; :func:`decode_program` reads them back,
checking every word, as the command processor does. ``docs/axi_system.md`` lists the format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel.dram_layout import strided_beats

from .emulator import DESCRIPTOR_REGISTERS, TAP_FIELDS
from .program import ProgramError, lane_table
from .spec import COMMAND_WORDS, LANE_BASE, PROGRAM_MAGIC, RECORD_OPCODES, SEGMENT_HEADER, SEGMENT_WORDS, TILE_RECORD

MASK = 0xFFFF_FFFF

#: On-chip memories a command addresses, by target number.
TARGETS = ("ifmap", "weights", "addends", "staging")


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




@dataclass
class DecodedTile:
    """A tile as the command processor sees it: its descriptor and lane table, and its record."""

    regs: dict[str, int]
    lanes: np.ndarray
    transfers: TileTransfers
    last: bool


@dataclass
class Segment:
    tiles: list[DecodedTile]
    first_of_layer: bool
    last: bool


def _field(spec, word_name: str, field_name: str):
    word = next(w for w in spec if w.name == word_name)
    return next(f for f in word.fields if f.name == field_name)


def _put(word: int, spec, word_name: str, field_name: str, value: int) -> int:
    f = _field(spec, word_name, field_name)
    return word | ((value << f.lsb) & f.mask)


def _get(word: int, spec, word_name: str, field_name: str) -> int:
    f = _field(spec, word_name, field_name)
    return (word & f.mask) >> f.lsb


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _state(regs: dict[str, int], rows: int) -> dict[int, int]:
    """Register and lane-table numbers of a tile's descriptor, with their values."""
    state = {number: regs[name] for number, name in enumerate(DESCRIPTOR_REGISTERS)}
    lanes = lane_table(regs, rows)
    for lane in range(rows):
        for number in range(len(TAP_FIELDS)):
            state[LANE_BASE + (lane << 3) + number] = int(lanes[lane, number])
    return state


def _tile_words(tile: TileTransfers, writes: dict[int, int], first: int) -> list[int]:
    words = [(RECORD_OPCODES["REGS"] << 24) | len(writes)]
    for number, value in writes.items():
        words += [number, value & MASK]
    header = (RECORD_OPCODES["TILE"] << 24) | len(tile.loads) | len(tile.stores) << 8  # LAST: _mark_last_tile
    rebased = [g - first if g >= first else -1 for g in (tile.load_after, tile.wait_wb)]
    words += [header, (rebased[0] & 0xFFFF) | (rebased[1] & 0xFFFF) << 16, tile.weight_bank | tile.stage_bank << 1]
    for command in tile.loads + tile.stores:
        words += [TARGETS.index(command.target), command.dram_addr & MASK, command.dram_addr >> 32,
                  command.dram_stride & MASK, command.run_bytes, command.runs, command.chip_addr, command.chip_stride]  # fmt: skip
    return words


def encode_program(layers: list[list[TileTransfers]], rows: int, segment_words: int = SEGMENT_WORDS) -> list[int]:
    """The program's words for the tiles of each layer: a layer's tiles in segments of at most
    ``segment_words`` words of records, each restating every register."""
    segments: list[tuple[list[int], bool]] = []
    for tiles in layers:
        first, body, state = 0, [], {}
        for index, tile in enumerate(tiles):
            new = _state(tile.regs, rows)
            words = _tile_words(tile, {n: v for n, v in new.items() if state.get(n) != v}, first)
            if body and len(body) + len(words) > segment_words:
                segments.append((body, first == 0))
                first, body = index, []
                words = _tile_words(tile, new, first)
            if len(words) > segment_words:
                raise ProgramError(f"a tile record of {len(words)} words exceeds a segment of {segment_words}")
            body += words
            state = new
        if body:
            segments.append((body, first == 0))
    program = []
    for number, (body, layer_start) in enumerate(segments):
        _mark_last_tile(body)
        flags = int(number == len(segments) - 1) | int(layer_start) << 1
        program += [PROGRAM_MAGIC, len(body), flags, *body]
    return program


def _mark_last_tile(body: list[int]) -> None:
    """Set LAST in the header of the last TILE record of a segment's ``body`` (and clear it elsewhere)."""
    index, last_tile = 0, None
    while index < len(body):
        opcode = body[index] >> 24
        if opcode == RECORD_OPCODES["REGS"]:
            index += 1 + 2 * (body[index] & 0xFFFF)
            continue
        body[index] &= ~(1 << _field(TILE_RECORD, "TILE", "LAST").lsb)
        last_tile = index
        commands = _get(body[index], TILE_RECORD, "TILE", "LOADS") + _get(body[index], TILE_RECORD, "TILE", "STORES")
        index += len(TILE_RECORD) + len(COMMAND_WORDS) * commands
    if last_tile is not None:
        body[last_tile] |= 1 << _field(TILE_RECORD, "TILE", "LAST").lsb


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
        last = bool(_get(flags, SEGMENT_HEADER, "FLAGS", "LAST"))
        tiles = _decode_segment(words[at + 3 : at + 3 + count], at + 3, rows)
        segments.append(Segment(tiles, bool(_get(flags, SEGMENT_HEADER, "FLAGS", "LAYER")), last))
        at += 3 + count
        if last:
            return segments


def _decode_segment(body: list[int], offset: int, rows: int) -> list[DecodedTile]:
    state: dict[int, int] = {}
    tiles, index = [], 0
    while index < len(body):
        where = f"word {offset + index}"
        opcode = body[index] >> 24
        if opcode == RECORD_OPCODES["REGS"]:
            count = body[index] & 0xFFFF
            for number, value in zip(body[index + 1 : index + 1 + 2 * count : 2], body[index + 2 : index + 2 + 2 * count : 2]):
                if not (number < len(DESCRIPTOR_REGISTERS) or LANE_BASE <= number < LANE_BASE + (rows << 3)):
                    raise ProgramError(f"{where}: register number {number:#x} does not exist")
                state[number] = _signed(value, 32)
            index += 1 + 2 * count
        elif opcode == RECORD_OPCODES["TILE"]:
            header, guards, banks = body[index : index + 3]
            loads, stores = (_get(header, TILE_RECORD, "TILE", name) for name in ("LOADS", "STORES"))
            commands = [_command(body[at : at + 8], f"word {offset + at}")
                        for at in range(index + 3, index + 3 + 8 * (loads + stores), 8)]  # fmt: skip
            missing = [n for n in range(len(DESCRIPTOR_REGISTERS)) if n not in state]
            if missing:
                raise ProgramError(f"{where}: a tile before register {DESCRIPTOR_REGISTERS[missing[0]]} was written")
            regs = {name: state[number] for number, name in enumerate(DESCRIPTOR_REGISTERS)}
            lanes = np.array([[state.get(LANE_BASE + (lane << 3) + f, 0) for f in range(len(TAP_FIELDS))]
                              for lane in range(rows)], dtype=np.int64)  # fmt: skip
            transfers = TileTransfers(
                regs, commands[:loads], commands[loads:], banks & 1, banks >> 1 & 1,
                _signed(guards & 0xFFFF, 16), _signed(guards >> 16, 16),
            )  # fmt: skip
            tiles.append(DecodedTile(regs, lanes, transfers, bool(_get(header, TILE_RECORD, "TILE", "LAST"))))
            index += 3 + 8 * (loads + stores)
        else:
            raise ProgramError(f"{where}: unknown record opcode {opcode}")
    if index != len(body):
        raise ProgramError(f"word {offset + index}: a record runs past the end of its segment")
    return tiles


def _command(words: list[int], where: str) -> DmaCommand:
    if len(words) < 8:
        raise ProgramError(f"{where}: a DMA command runs past the end of its segment")
    target, lo, hi, stride, run_bytes, runs, chip, chip_stride = words
    if target >= len(TARGETS) or run_bytes < 1 or runs < 1:
        raise ProgramError(f"{where}: DMA command with target {target}, {runs} runs of {run_bytes} bytes")
    return DmaCommand(TARGETS[target], lo | hi << 32, stride, run_bytes, runs, chip, chip_stride)
