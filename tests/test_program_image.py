"""The AXI system's binary program (rtl/host/program_image.py, format in rtl/spec.py): what is encoded
decodes to the same tiles, guards and lane tables; segments split long layers; a malformed
program is one ProgramError naming the word."""

from __future__ import annotations

import numpy as np
import pytest

from accel.config import AccelConfig
from accel.lowering import lower_network
from accel.tiling import schedule
from rtl import spec
from rtl.host.dram_image import build_image
from rtl.host.program import ProgramError, lane_table
from rtl.host.program_image import decode_program, encode_program, to_bytes
from rtl.spec import DESCRIPTOR_REGISTERS, TAP_FIELDS
from rtl.host.system_model import SystemModel
from rtl.host.verify import prepare
from workloads.zoo import get_network

CONFIG = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)


@pytest.fixture(scope="module")
def lenet():
    network = get_network("lenet5")
    params, x, gold, program = prepare(network, CONFIG)
    return network, build_image(program, params, x), gold


def test_the_program_decodes_to_the_tiles_it_encodes(lenet):
    network, image, _ = lenet
    segments = decode_program(bytes(image.data[image.program_address :][: image.program_bytes]), CONFIG.rows)
    assert len(segments) == len(image.layers) and all(s.first_of_layer for s in segments) and segments[-1].last
    ops = {node.name: op for node, op in lower_network(network) if op is not None}
    for layer, segment in zip(image.layers, segments):
        assert [t.transfers for t in segment.tiles] == layer.tiles
        assert [t.last for t in segment.tiles] == [False] * (len(layer.tiles) - 1) + [True]
        for tile in segment.tiles:
            assert np.array_equal(tile.lanes, lane_table(tile.regs, CONFIG.rows))
        sched = schedule(ops[layer.name], CONFIG)
        assert [t.load_after for t in layer.tiles] == sched.load_after.tolist()
        assert [t.wait_wb for t in layer.tiles] == sched.wait_writeback.tolist()


def test_segments_split_a_layer(lenet):
    network, image, gold = lenet
    words = encode_program([layer.tiles for layer in image.layers], CONFIG.rows, segment_words=700)
    segments = decode_program(to_bytes(words), CONFIG.rows)
    assert len(segments) > len(image.layers)
    assert sum(s.first_of_layer for s in segments) == len(image.layers)
    decoded = [tile for s in segments for tile in s.tiles]
    assert [t.regs for t in decoded] == [t.regs for layer in image.layers for t in layer.tiles]
    for segment in segments:  # guards count from the segment's first tile and never reach before it
        for number, tile in enumerate(segment.tiles):
            assert -1 <= tile.transfers.load_after < number and -1 <= tile.transfers.wait_wb < number
    model = SystemModel(image)
    for tile in decoded:
        model.run_tile(tile.transfers, tile.lanes)
    assert np.array_equal(model.output("fc3", (1, 10)), gold["fc3"])


def program_words(image) -> list[int]:
    return np.frombuffer(bytes(image.data[image.program_address :][: image.program_bytes]), "<u4").tolist()


def corrupt(words: list[int], at: int, value: int) -> bytes:
    words = list(words)
    words[at] = value
    return to_bytes(words)


def test_malformed_programs_name_the_word(lenet):
    _, image, _ = lenet
    words = program_words(image)
    first_record = len(spec.SEGMENT_HEADER)
    with pytest.raises(ProgramError, match=r"^word 0: segment magic 0x00000000, expected 0x31505953$"):
        decode_program(corrupt(words, 0, 0), CONFIG.rows)
    with pytest.raises(ProgramError, match=r"^word 1: a segment of 4097 words does not fit"):
        decode_program(corrupt(words, 1, 4097), CONFIG.rows)
    with pytest.raises(ProgramError, match=rf"^word {first_record}: unknown record opcode 9$"):
        decode_program(corrupt(words, first_record, 9 << 24), CONFIG.rows)
    loads = words[first_record] & 0xFF
    with pytest.raises(ProgramError, match=rf"^word {first_record}: a record of \d+ words runs past the end"):
        decode_program(corrupt(words, first_record, words[first_record] + 200), CONFIG.rows)
    assert loads < 200
    with pytest.raises(ProgramError, match="^the program ends at word 2 inside a segment header$"):
        decode_program(to_bytes(words[:2]), CONFIG.rows)
    with pytest.raises(ProgramError, match="^the program is 7 bytes, not a whole number of 32-bit words$"):
        decode_program(bytes(7), CONFIG.rows)
    command = first_record + len(spec.TILE_RECORD) + len(DESCRIPTOR_REGISTERS) + len(TAP_FIELDS) * CONFIG.rows
    with pytest.raises(ProgramError, match=rf"^word {command}: DMA command with target 7, "):
        decode_program(corrupt(words, command, 7), CONFIG.rows)


def test_docs_table_is_the_spec():
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "axi_system.md").read_text()
    structures = {"segment header": spec.SEGMENT_HEADER, "tile record": spec.TILE_RECORD,
                  "DMA command": spec.COMMAND_WORDS}  # fmt: skip
    for struct, words in structures.items():
        for index, word in enumerate(words):
            fields = ", ".join(f"{f.name} [{f.lsb + f.width - 1}:{f.lsb}]" if f.width > 1 else f"{f.name} [{f.lsb}]"
                               for f in word.fields)  # fmt: skip
            assert f"| {struct} | {index} | {word.name} | {word.meaning} | {fields} |" in text, word.name
