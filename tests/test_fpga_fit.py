"""rtl.fpga_fit: block RAM, DSP and LUT estimates of the generated design against hand counts and
measured synthesis, the buffers `sim gen` picks, and the errors when a design cannot fit."""

from __future__ import annotations

import pytest

from accel.config import AccelConfig
from rtl.fpga_fit import (
    BLOCK_RAMS,
    LUT_MODELS,
    FitError,
    Memory,
    check,
    design,
    estimate,
    largest_buffers,
    multiplier_dsps,
    top_name,
)

EBR, RAM4K = BLOCK_RAMS["ecp5"], BLOCK_RAMS["ice40"]
SMALL = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=16, ofmap_kib=16)
MEDIUM = AccelConfig(rows=8, cols=8, ifmap_kib=16, filter_kib=32, ofmap_kib=32)

#: Synthesized designs (docs/benchmarks.md): (family, design, rows, cols, estimated block RAMs,
#: LUTs measured: nextpnr's on ECP5, yosys's SB_LUT4 cells on iCE40).
LUT_RUNS = [
    ("ecp5", "core", 4, 4, 6, 3325),
    ("ecp5", "core", 8, 8, 12, 11299),
    ("ice40", "core", 2, 2, 12, 1541),
    ("ice40", "core", 4, 4, 16, 5151),
]
#: The AXI peripheral (16-byte data bus) placed and routed by `PYTHONPATH=. python
#: bench/system_synth.py --configs small medium` (docs/benchmarks.md, "AXI peripheral on ECP5"):
#: config, nextpnr's LUT4, MULT18X18D and DP16KD (small: commit 74706a8; medium: e4de6cb).
SYSTEM_RUNS = [(SMALL, 23803, 32, 64), (MEDIUM, 40689, 96, 124)]


@pytest.mark.parametrize(
    "memory, ram, blocks",
    [
        # 2,048 x 8 bits is one 2,048 x 9 block, copied for each of 4 read ports.
        (Memory("ifmap", 2048, 8, read_ports=4), EBR, 4),
        # 8,192 x 8 bits: 64 Kbit in 16-Kbit blocks (e.g. 4 x 2,048 x 9 stacked).
        (Memory("ifmap", 8192, 8), EBR, 4),
        # 512 x 128 bits written whole: 36-bit blocks side by side, ceil(128 / 36) = 4.
        (Memory("acc", 512, 128), EBR, 4),
        # ... written one 32-bit lane at a time: a lane is 4 byte units (36 bits): one block per lane.
        (Memory("bias", 512, 128, enable_bits=32), EBR, 4),
        # 1-bit lanes take a 9-bit unit each: 4 fit one 36-bit block, 8 need two.
        (Memory("valid", 512, 4, enable_bits=1), EBR, 1),
        (Memory("valid", 256, 8, enable_bits=1), EBR, 2),
        # 8 lanes of 13 bits: 2 units each, 16 units, 4 per block.
        (Memory("dyw", 256, 104, enable_bits=13), EBR, 4),
        # 1,568 x 128 bits: 2,048 x 9 blocks, 15 side by side (135 bits), beat 2 deep x 8 of 1,024 x 18.
        (Memory("acc", 1568, 128), EBR, 15),
        # Two 1-bit lanes of 16,384 words: 16,384 x 1 blocks (no byte enable), one per lane.
        (Memory("deep", 16384, 2, enable_bits=1), EBR, 2),
        # iCE40: 4 Kbit blocks with a per-bit write mask: 2,048 x 8 bits = 4 blocks, lanes or not.
        (Memory("ifmap", 2048, 8), RAM4K, 4),
        (Memory("bias", 256, 64, enable_bits=32), RAM4K, 4),
    ],
)
def test_block_ram_count_of_a_memory(memory, ram, blocks):
    assert memory.blocks(ram) == blocks


def test_core_memories_are_read_from_the_design():
    """The bare core of the small configuration: depths from the buffer banks."""
    core = {m.name: m for m in design(SMALL, "core").memories}
    assert core == {
        "west_mem": Memory("west_mem", 512, 32),  # the 2 KiB ifmap bank in words of 4 lanes
        "north_mem": Memory("north_mem", 2048, 32),
        "out_mem": Memory("out_mem", 512, 128),
    }


def test_dsp_blocks():
    assert multiplier_dsps(8, 8) == multiplier_dsps(18, 18) == 1
    assert multiplier_dsps(33, 25) == 4  # the output path: (acc + bias) x OUT_MULT
    assert multiplier_dsps(32, 8) == 2
    # One per PE, and the output path of each of the C lanes: 33 x 25 bits, 4 blocks.
    assert estimate(SMALL).dsps == 16 + 4 * 4 and estimate(MEDIUM).dsps == 64 + 8 * 4
    assert estimate(SMALL, top="core").dsps == 16
    assert estimate(SMALL.replace(acc_bits=64)).dsps == 16 + 4 * 8  # 65 x 25 bits
    assert estimate(SMALL, "ice40").dsps == 0  # no DSP blocks: LUT multipliers


@pytest.mark.parametrize("family, kind, rows, cols, brams, luts", LUT_RUNS)
def test_lut_model_within_15_percent_of_synthesis(family, kind, rows, cols, brams, luts):
    assert abs(LUT_MODELS[family, kind].luts(rows, cols, brams) - luts) <= 0.15 * luts


@pytest.mark.parametrize("side, buffers", [(4, (32, 32, 16)), (8, (32, 32, 16)), (10, (16, 16, 8))])
def test_largest_buffers_that_fit(side, buffers):
    config, est = largest_buffers(AccelConfig(rows=side, cols=side), "ecp5")
    assert (config.ifmap_kib, config.filter_kib, config.ofmap_kib) == buffers
    assert est.brams <= 208 and est.dsps <= 156 and est.luts <= 83_640
    bigger = config.replace(**{f"{b}_kib": 2 * getattr(config, f"{b}_kib") for b in ("ifmap", "filter", "ofmap")})
    assert estimate(bigger).brams > 208


def test_too_many_dsps_names_the_largest_array():
    with pytest.raises(FitError) as err:
        largest_buffers(AccelConfig(), "ecp5")
    # 32 x 32 PEs + 4 per column for the output paths; 10 x 10 + 40 = 140 fit, 11 x 11 + 44 = 165 do not.
    assert str(err.value) == (
        "a 32x32 array needs about 1,152 DSP blocks; the LFE5U-85F-CABGA381 has 156: use --rows/--cols <= 10"
    )


def test_given_buffers_that_do_not_fit_name_the_flag():
    with pytest.raises(FitError) as err:
        check(SMALL.replace(ifmap_kib=1024), "ecp5")
    message = str(err.value)
    assert message.startswith("buffers 1024/16/16 KiB need about ")
    assert message.endswith("EBR blocks; the LFE5U-85F-CABGA381 has 208: lower --ifmap-kib, "
                            "or give no buffer size to get the largest that fit")  # fmt: skip
    assert check(SMALL, "ecp5").brams == estimate(SMALL).brams


def test_fit_buffers_that_do_not_fit_advise_dropping_fit():
    with pytest.raises(FitError, match="^--fit's buffers for lenet5, 512/512/512 KiB, need about .*: drop --fit"):
        check(SMALL.replace(ifmap_kib=512, filter_kib=512, ofmap_kib=512), "ecp5", fitted_for="lenet5")


def test_ice40_has_no_room_for_the_axi_top():
    with pytest.raises(FitError, match=r"^a 8x8 array needs about [\d,]+ LUTs; the iCE40HX8K-CT256 has 7,680: "):
        largest_buffers(MEDIUM, "ice40")


def test_top_names():
    assert [top_name(top) for top in (True, False, "system")] == ["core", "system", "system"]
    with pytest.raises(ValueError, match="^top must be one of system, core, not 'soc'$"):
        top_name("soc")


def test_system_memories_are_found_in_its_submodules():
    """The AXI top's memories are in the layer core and the command processor, named by path."""
    memories = {m.name: m for m in design(SMALL, "system").memories}
    # Two 2 KiB ifmap banks in 16-byte DMA words, a byte lane per write enable, a copy per west lane.
    assert memories["core.ifmap"] == Memory("core.ifmap", 256, 128, read_ports=4, enable_bits=8)
    # The program memory, read by the command and the descriptor cursors: 2 x 12 EBR.
    assert memories["processor.program"] == Memory("processor.program", 1025, 128, read_ports=2, enable_bits=8)
    # The command queues are FIFOs, read asynchronously: LUT RAM only.
    queue = memories["processor.load_queue.storage"]
    assert queue.async_read and queue.depth == 8 and queue.blocks(EBR) == 0
    assert estimate(SMALL, top="system").memories == {
        "core.ifmap": 16, "core.weights": 8, "core.bias": 8, "core.staging": 4, "core.out_mem": 4,
        "processor.program": 24, "processor.load_queue.storage": 0, "processor.store_queue.storage": 0,
    }  # fmt: skip


@pytest.mark.parametrize("config, luts, dsps, brams", SYSTEM_RUNS)
def test_system_estimate_against_synthesis(config, luts, dsps, brams):
    """DSP blocks and EBR as synthesized (the sequencer's and processor's products by 4 are
    shifts: no DSP block), LUTs within 10 %."""
    est = estimate(config, "ecp5", "system")
    assert (est.dsps, est.brams) == (dsps, brams)
    assert abs(est.luts - luts) <= 0.10 * luts


def test_system_largest_buffers():
    """What `sim gen` picks for the AXI top of an 8x8 array: 64/64/32 KiB would need more than the
    208 EBR, as two banks of every memory and the program memory go on chip."""
    config, est = largest_buffers(AccelConfig(rows=8, cols=8), "ecp5", "system")
    assert (config.ifmap_kib, config.filter_kib, config.ofmap_kib) == (32, 32, 16) and est.brams == 188
    with pytest.raises(FitError, match="^buffers 64/64/32 KiB need about 3"):
        check(config.replace(ifmap_kib=64, filter_kib=64, ofmap_kib=32), "ecp5", "system")
