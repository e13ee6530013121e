"""The AXI system's DRAM image and DMA commands (rtl/host/dram_image.py), run by its NumPy model
(rtl/host/system_model.py): every output bit-exact against the golden model, and every tile's
commands exactly the beats the simulator times (accel/dram_layout.py)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from accel.config import AccelConfig
from accel.dram_channel import bus_bytes, kernel_bandwidth
from accel.lowering import lower_network
from accel.tiling import schedule
from rtl import spec
from rtl.hw.dma import DmaParams, keeps_pace
from rtl.host.driver import AcceleratorDriver, BytesMemory
from rtl.host.dram_image import build_image, from_pixel_major, to_pixel_major
from rtl.host.program import ProgramError
from rtl.host.system_model import SystemModel
from rtl.host.verify import prepare
from tests.test_program import CONFIGS, POOLS, random_conv
from workloads.layers import Activation, Concat, Conv, Flatten, GlobalAvgPool, Linear
from workloads.network import Network
from workloads.zoo import get_network


def command_fields(command) -> dict:
    """A DMA command's fields as :func:`rtl.hw.dma.keeps_pace` takes them."""
    names = ("dram_addr", "dram_stride", "run_bytes", "runs", "chip_addr", "chip_stride", "target")
    return {name: getattr(command, name) for name in names}


def run_system(network: Network, config: AccelConfig) -> list[str]:
    """Run ``network`` through the system model; assert every layer exact and on the simulator's
    beats at two bus widths and DMA commands (its program's size); returns the layers checked."""
    params, x, gold, program = prepare(network, config)
    image = build_image(program, params, x)
    model = SystemModel(image)
    model.run()
    ops = {node.name: op for node, op in lower_network(network) if op is not None}
    shapes = {step.name: step.out_shape for step in program.steps}
    for layer in image.layers:
        last = layer.plan.fused[-1] if layer.plan.fused else layer.name
        got = model.output(layer.name, shapes[layer.name])
        assert np.array_equal(got, gold[last]), (layer.name, int(np.sum(got != gold[last])))
        for bandwidth in (config.dram_bandwidth, 48.0):
            sched = schedule(ops[layer.name], config.replace(dram_bandwidth=bandwidth))
            bus = bus_bytes(kernel_bandwidth(bandwidth))
            loads = [sum(c.beats(bus) for c in tile.loads) for tile in layer.tiles]
            stores = [sum(c.beats(bus) for c in tile.stores) for tile in layer.tiles]
            assert loads == sched.load_beats.tolist(), (layer.name, bus)
            assert stores == sched.writeback_beats.tolist(), (layer.name, bus)
            commands = [len(tile.loads) + len(tile.stores) for tile in layer.tiles]
            assert commands == sched.commands.tolist(), layer.name
            moved = [sum(c.runs * c.run_bytes for c in tile.loads) for tile in layer.tiles]
            assert moved == (sched.load_ifmap + sched.load_filter).tolist(), layer.name
            # The DMA engines' on-chip ports keep up with every command (rtl.hw.dma.keeps_pace;
            # the writer's takes the stores in order).
            params = DmaParams(data_width=8 * min(bus, 32), chip_address_width=24, target_width=3)
            stored = None
            for tile in layer.tiles:
                for c in tile.loads + tile.stores:
                    fields = command_fields(c)
                    writer = c.target == "staging"
                    assert keeps_pace(fields, params, writer=writer, previous=stored), (layer.name, c)
                    stored = fields if writer else stored
    return [layer.name for layer in image.layers]


POW2 = {"4x4": CONFIGS["4x4"], "3x2": CONFIGS["3x2"]}


@pytest.mark.parametrize("config", POW2.values(), ids=POW2.keys())
@pytest.mark.parametrize("index", range(24))
def test_random_conv_layers(index, config):
    run_system(random_conv(np.random.default_rng(1000 + index), index), config)


@pytest.mark.parametrize("config", POW2.values(), ids=POW2.keys())
@pytest.mark.parametrize("pool", POOLS, ids=range(len(POOLS)))
def test_pooling(pool, config):
    run_system(Network("pool", (2, 5, 9, 8), [pool]), config)


def test_flatten_reorders_the_fully_connected_weights_for_pixel_major_tensors():
    net = Network("head", (3, 7, 5, 4), [
        Conv(name="conv", in_channels=7, out_channels=9, kernel_size=1), Activation(name="relu"),
        Flatten(name="flat"), Linear(name="fc", in_features=180, out_features=11),
        Activation(name="relu6", function="relu6"), Linear(name="out", in_features=11, out_features=5),
    ])  # fmt: skip
    assert run_system(net, CONFIGS["4x4"]) == ["conv", "fc", "out"]


def test_global_pool_and_heads():
    net = Network("head", (3, 7, 5, 4), [
        Conv(name="conv", in_channels=7, out_channels=9, kernel_size=1), Activation(name="relu"),
        GlobalAvgPool(name="gap"), Flatten(name="flat"), Linear(name="fc", in_features=9, out_features=11),
    ])  # fmt: skip
    assert run_system(net, CONFIGS["4x4"]) == ["conv", "gap", "fc"]


def test_lenet5_with_a_batch():
    config = AccelConfig(rows=4, cols=4, ifmap_kib=8, filter_kib=16, ofmap_kib=32, dram_bandwidth=2.0)
    assert len(run_system(get_network("lenet5").with_batch(3), config)) == 7


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "mobilenet_v1"])
def test_zoo_networks(name):
    config = AccelConfig(rows=8, cols=8, ifmap_kib=64, filter_kib=64, ofmap_kib=32)
    assert run_system(get_network(name), config)


def test_output_rows_going_on_mid_word_keep_pace():
    """N tiles of 20 channels (a 20-byte staging pitch) in segments of three pixels, on a 32-byte
    bus: a row's store starts mid-word in the staging word the row before ended in, its first
    beat across two words. The writer keeps pace because it takes that word as read."""
    network = Network("rows", (1, 8, 12, 24), [
        Conv(name="conv", in_channels=8, out_channels=40, kernel_size=3, padding=1),
    ])  # fmt: skip
    config = AccelConfig(rows=4, cols=4, ifmap_kib=4, filter_kib=4, ofmap_kib=1, dram_bandwidth=32.0)
    run_system(network, config)
    params, x, _, program = prepare(network, config)
    stores = [c for layer in build_image(program, params, x).layers for tile in layer.tiles for c in tile.stores]
    fields = [command_fields(c) for c in stores]
    dma = DmaParams(data_width=256, chip_address_width=24, target_width=3)
    unpaced = [i for i in range(1, len(fields)) if not keeps_pace(fields[i], dma, writer=True)]
    assert unpaced and all(keeps_pace(fields[i], dma, writer=True, previous=fields[i - 1]) for i in unpaced)


def test_tensors_are_pixel_major():
    x = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    assert to_pixel_major(x)[:6].tolist() == [0, 4, 8, 1, 5, 9]
    assert np.array_equal(from_pixel_major(to_pixel_major(x), x.shape), x)


def test_what_the_system_cannot_run_is_named():
    net = Network("cat", (1, 2, 4, 4), [
        Conv(name="a", in_channels=2, out_channels=2, kernel_size=1),
        Conv(name="b", in_channels=2, out_channels=2, kernel_size=1, inputs=("input",)),
        Concat(name="cat", inputs=("a", "b")),
    ])  # fmt: skip
    params, x, _, program = prepare(net, CONFIGS["4x4"])
    with pytest.raises(ProgramError, match="^layer 'cat': concatenation does not run on the AXI system yet$"):
        build_image(program, params, x)
    circular = Conv(name="c", in_channels=4, out_channels=4, kernel_size=3, padding=1, padding_mode="circular")
    net = Network("wrap", (1, 4, 16, 16), [circular])
    with pytest.raises(ProgramError, match=r"^layer 'c': a row band reads input rows 0\.\.15 \(circular padding\) "
                                           r"beyond the rows 0\.\.\d+ the AXI system loads; raise ifmap_kib and ofmap_kib until"):
        prepare(net, CONFIGS["4x4"].replace(ifmap_kib=1))
    run_system(net, CONFIGS["4x4"].replace(ifmap_kib=4, ofmap_kib=16))  # whole images: the wrapped rows are loaded
    params, x, _, program = prepare(get_network("lenet5"), AccelConfig(rows=4, cols=6))
    with pytest.raises(ProgramError, match="^the AXI system needs cols to be a power of two, not 6; set cols = 8 or 4$"):
        build_image(program, params, x)


class ModelDevice:
    """The register block of rtl/spec.py over the NumPy system model: a test double of a board
    for the driver (a START runs the program found in ``memory`` at PROG_ADDR to completion)."""

    def __init__(self, image, memory) -> None:
        self.image, self.memory = image, memory
        self.regs = {r.name: 0 for r in spec.CONTROL_REGISTERS} | {"ID": spec.ID_VALUE}

    async def read32(self, offset: int) -> int:
        return next(v for name, v in self.regs.items() if spec.REGISTERS[name].offset == offset)

    async def write32(self, offset: int, value: int) -> None:
        name = next(r.name for r in spec.CONTROL_REGISTERS if r.offset == offset)
        self.regs[name] = value
        if name == "CTRL" and value & 1:
            assert self.regs["PROG_ADDR_LO"] == self.image.program_address
            model = SystemModel(self.image)
            model.dram[:] = np.frombuffer(await self.memory.read(self.image.base, len(self.image.data)), np.uint8)
            model.run()
            await self.memory.write(self.image.base, model.dram.tobytes())
            self.regs["STATUS"] = spec.field("STATUS", "DONE").mask


def test_the_driver_runs_an_image_from_any_base_with_a_new_input():
    network, config = get_network("lenet5"), CONFIGS["4x4"]
    params, x, gold, program = prepare(network, config)
    base = 0x8000_0000
    image = build_image(program, params, np.zeros_like(x), base=base)
    memory = BytesMemory(len(image.data) + 4096, base)
    driver = AcceleratorDriver(ModelDevice(image, memory))

    async def run():
        await driver.run_image(memory, image, x)  # the real input replaces the zeros
        return await driver.read_output(memory, image, "fc3", (1, 10))

    assert np.array_equal(asyncio.run(run()), gold["fc3"])
