"""Host driver of the AXI peripheral: its control registers and the DRAM it runs from, over
pluggable backends.

The driver speaks only in the terms of :mod:`rtl.spec` (register offsets and fields, error codes)
through an MMIO backend with two coroutines, ``read32(offset)`` and ``write32(offset, value)``
(byte offsets from the register block's base):

- :class:`AxiLiteMmio` wraps any AXI4-Lite master object with ``read(address, length)`` and
  ``write(address, data)`` coroutines, such as cocotbext-axi's ``AxiLiteMaster`` in a simulation;
- :class:`MappedMmio` maps a window of a device file (``/dev/mem`` at the peripheral's physical
  address, or a UIO device) on a board.

A network's DRAM image (:class:`rtl.host.dram_image.DramImage`) goes through a memory backend with
``read(address, length)`` and ``write(address, data)`` coroutines (DRAM byte addresses):
:class:`MappedMemory` maps the DRAM window on a board; :class:`BytesMemory` is a plain buffer.
A user's own backend (a debugger, a network bridge, a simulator's backdoor) only has to provide
the coroutines. On a board the driver runs under ``asyncio.run``; the mapped backends never
actually wait.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from workloads.network import INPUT

from .dram_image import from_pixel_major, to_pixel_major
from ..spec import ERROR_CODES, ID_VALUE, REGISTERS, field


class Mmio(Protocol):
    async def read32(self, offset: int) -> int: ...

    async def write32(self, offset: int, value: int) -> None: ...


class DeviceError(RuntimeError):
    """The device is not this accelerator, refused an access, or a program failed."""


class AxiLiteMmio:
    """MMIO through an AXI4-Lite master object (e.g. cocotbext-axi's ``AxiLiteMaster``) at ``base``."""

    def __init__(self, master, base: int = 0) -> None:
        self.master, self.base = master, base

    async def read32(self, offset: int) -> int:
        response = await self.master.read(self.base + offset, 4)
        _check_response(response.resp, "read", offset)
        return int.from_bytes(response.data, "little")

    async def write32(self, offset: int, value: int) -> None:
        response = await self.master.write(self.base + offset, (value & 0xFFFF_FFFF).to_bytes(4, "little"))
        _check_response(response.resp, "write", offset)


def _check_response(resp, access: str, offset: int) -> None:
    if int(resp) != 0:
        raise DeviceError(f"the {access} of register offset {offset:#x} was refused (AXI response {int(resp)})")


def _map(path: str, base: int, size: int) -> mmap.mmap:
    """A shared read-write map of ``size`` bytes of ``path`` from byte ``base`` (a page multiple)."""
    fd = os.open(path, os.O_RDWR | os.O_SYNC)
    try:
        return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=base)
    finally:
        os.close(fd)


class MappedMmio:
    """MMIO through a memory map of ``size`` bytes of ``path`` at ``base`` (a page multiple)."""

    def __init__(self, path: str = "/dev/mem", base: int = 0, size: int = 4096) -> None:
        self.map = _map(path, base, size)

    async def read32(self, offset: int) -> int:
        return struct.unpack_from("<I", self.map, offset)[0]

    async def write32(self, offset: int, value: int) -> None:
        struct.pack_into("<I", self.map, offset, value & 0xFFFF_FFFF)


class Memory(Protocol):
    async def read(self, address: int, length: int) -> bytes: ...

    async def write(self, address: int, data: bytes) -> None: ...


class BytesMemory:
    """``size`` bytes of DRAM from address ``base``, held in a bytearray."""

    def __init__(self, size: int, base: int = 0) -> None:
        self.data, self.base = bytearray(size), base

    async def read(self, address: int, length: int) -> bytes:
        return bytes(self.data[address - self.base : address - self.base + length])

    async def write(self, address: int, data: bytes) -> None:
        self.data[address - self.base : address - self.base + len(data)] = data


class MappedMemory(BytesMemory):
    """DRAM through a memory map of ``size`` bytes of ``path`` (``/dev/mem``, or a UIO or
    udmabuf device) from physical address ``base`` (a page multiple)."""

    def __init__(self, path: str = "/dev/mem", base: int = 0, size: int = 1 << 20) -> None:
        self.data, self.base = _map(path, base, size), base


@dataclass(frozen=True)
class Result:
    """A finished program: cycles from start to done, of which computing, and the rest (stalls)."""

    cycles: int
    compute_cycles: int

    @property
    def stall_cycles(self) -> int:
        return self.cycles - self.compute_cycles


class AcceleratorDriver:
    """Control of one accelerator through ``mmio`` (see the module docstring)."""

    def __init__(self, mmio: Mmio) -> None:
        self.mmio = mmio

    async def read(self, register: str) -> int:
        return await self.mmio.read32(REGISTERS[register].offset)

    async def write(self, register: str, value: int) -> None:
        await self.mmio.write32(REGISTERS[register].offset, value)

    async def get(self, register: str, name: str) -> int:
        """Field ``name`` of ``register``."""
        f = field(register, name)
        return (await self.read(register) & f.mask) >> f.lsb

    async def identify(self) -> dict[str, int]:
        """The design's geometry; DeviceError if the ID register does not read :data:`ID_VALUE`."""
        found = await self.read("ID")
        if found != ID_VALUE:
            raise DeviceError(f"no accelerator here: ID reads {found:#010x}, not {ID_VALUE:#010x}")
        array, bus = await self.read("ARRAY"), await self.read("BUS")
        values = {"ARRAY": array, "BUS": bus}
        return {f.name.lower(): (values[r] & f.mask) >> f.lsb for r in values for f in REGISTERS[r].fields}

    async def start(self, program_address: int, program_bytes: int, interrupts: bool = True) -> None:
        """Point the accelerator at a program in DRAM and ring the doorbell (clears old events)."""
        if await self.get("STATUS", "BUSY"):
            raise DeviceError("the accelerator is busy; wait for the running program first")
        await self.write("PROG_ADDR_LO", program_address & 0xFFFF_FFFF)
        await self.write("PROG_ADDR_HI", program_address >> 32)
        await self.write("PROG_LEN", program_bytes)
        await self.write("IRQ_STATUS", _all_events())
        await self.write("IRQ_ENABLE", _all_events() if interrupts else 0)
        await self.write("CTRL", field("CTRL", "START").mask)

    async def wait(self, polls: int = 1_000_000) -> Result:
        """Poll STATUS until the program ends; its counters, or DeviceError naming its error."""
        for _ in range(polls):
            if not await self.get("STATUS", "BUSY"):
                break
        else:
            raise DeviceError(f"the program did not finish within {polls} status reads")
        if await self.get("STATUS", "ERROR"):
            code = await self.read("ERROR_CODE")
            meaning = next((e.meaning for e in ERROR_CODES if e.code == code), f"unknown error code {code}")
            raise DeviceError(f"the program stopped: {meaning} (ERROR_CODE {code})")
        return Result(await self._counter("CYCLES"), await self._counter("COMPUTE"))

    async def run_image(self, memory: Memory, image, x: np.ndarray | None = None) -> Result:
        """Load a network's DRAM image (:class:`rtl.host.dram_image.DramImage`) into ``memory`` at its
        base, with the input ``x`` (the network's input shape, int8) if given, run its program
        and wait for it."""
        await memory.write(image.base, bytes(image.data))
        if x is not None:
            tensor = image.tensors[INPUT]
            await memory.write(tensor.address, to_pixel_major(np.asarray(x)).tobytes())
        await self.start(image.program_address, image.program_bytes)
        return await self.wait()

    @staticmethod
    async def read_output(memory: Memory, image, step: str, shape: tuple[int, ...]) -> np.ndarray:
        """The output of layer ``step`` (int8, ``shape`` in the network's layout) from ``memory``."""
        tensor = image.tensors[step]
        return from_pixel_major(np.frombuffer(await memory.read(tensor.address, tensor.nbytes), np.int8), shape)

    async def acknowledge(self) -> int:
        """Clear and return the pending interrupt events (IRQ_STATUS), which lowers ``irq``."""
        events = await self.read("IRQ_STATUS")
        await self.write("IRQ_STATUS", events)
        return events

    async def _counter(self, name: str) -> int:
        return await self.read(f"{name}_HI") << 32 | await self.read(f"{name}_LO")


def _all_events() -> int:
    return sum(f.mask for f in REGISTERS["IRQ_STATUS"].fields)
