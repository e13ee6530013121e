"""Splitting a byte range into legal AXI4 INCR bursts: the rule, and the hardware that applies it.

A request ``(addr, nbytes)`` is widened to whole bus words: the first beat starts at ``addr``
aligned down to the bus width, the last beat holds byte ``addr + nbytes - 1``. The beats are
cut into bursts of at most 256 beats that never cross a 4 KiB boundary (AXI A3.4.1). The byte
offset of ``addr`` inside its first beat is reported so the data path can drop the leading
bytes.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .axi import BOUNDARY_BYTES, BURST_INCR, MAX_BURST_BEATS, address_channel_members, check_data_width


def split_bursts(addr: int, nbytes: int, bus_bytes: int) -> list[tuple[int, int]]:
    """The bursts covering bytes ``addr .. addr + nbytes - 1``, as ``(start address, beats)``.

    Parameters
    ----------
    addr : int
        First byte address.
    nbytes : int
        Bytes to transfer (0 gives no bursts).
    bus_bytes : int
        Bytes per beat: 4, 8, 16 or 32.

    Returns
    -------
    list of (int, int)
        Bus-aligned start address (bytes) and length (beats, 1..256) of each burst, in order.
    """
    check_data_width(bus_bytes * 8)
    if addr < 0 or nbytes < 0:
        raise ValueError(f"Burst address and length must be non-negative, not {addr} and {nbytes}")
    if nbytes == 0:
        return []
    start = addr - addr % bus_bytes
    beats = -(-(addr + nbytes - start) // bus_bytes)
    bursts = []
    while beats:
        to_boundary = (BOUNDARY_BYTES - start % BOUNDARY_BYTES) // bus_bytes
        n = min(beats, MAX_BURST_BEATS, to_boundary)
        bursts.append((start, n))
        start += n * bus_bytes
        beats -= n
    return bursts


class BurstSplitter(wiring.Component):
    """Turns ``(addr, nbytes)`` requests into AXI4 read-address (or write-address) bursts.

    Ports: ``req`` (stream input, payload ``addr`` and ``nbytes``; a request is taken when the
    previous one has been fully issued, at the earliest in the cycle of its last burst's
    handshake, so the requests of a sequence issue bursts on consecutive edges), ``m_axi`` (the
    ``ar`` or ``aw`` channel members of :class:`rtl.hw.axi.AXI4Signature`: INCR bursts of full bus
    words, ID 0, ``cache`` 0b0011 "normal non-cacheable bufferable", ``prot`` 0), ``offset``
    (byte offset of ``addr`` in its first beat, valid from the cycle after ``req`` is accepted
    until the next one), ``busy`` (bursts of the accepted request remain to be issued) and
    ``last`` (the burst on ``m_axi`` is the request's last). The bursts equal
    :func:`split_bursts`; a request of 0 bytes issues none.

    Parameters
    ----------
    address_width : int
        Byte address width, in bits (12..64). A request must not run past the top of it.
    data_width : int
        Bus width, in bits: 32, 64, 128 or 256.
    length_width : int
        Width of ``nbytes``, in bits (1..32).
    channel : str
        ``"ar"`` (reads, the default) or ``"aw"`` (writes).
    id_width : int
        Width of the channel's ID signal, in bits (0 leaves it out).
    """

    def __init__(
        self, address_width: int = 32, data_width: int = 64, length_width: int = 24, *, channel: str = "ar", id_width: int = 0
    ) -> None:
        check_data_width(data_width)
        if not isinstance(length_width, int) or not 1 <= length_width <= 32:
            raise ValueError(f"Burst request length width must be an integer between 1 and 32 bits, not {length_width!r}")
        self.channel = channel
        self.bus_bytes = data_width // 8
        request = data.StructLayout({"addr": address_width, "nbytes": length_width})
        super().__init__(
            {
                "req": In(stream.Signature(request)),
                "m_axi": Out(wiring.Signature(address_channel_members(channel, address_width, id_width))),
                "offset": Out(range(self.bus_bytes)),
                "busy": Out(1),
                "last": Out(1),
            }
        )
        self.length_width = length_width

    def elaborate(self, platform):
        m = Module()
        ax = {name[2:]: getattr(self.m_axi, name) for name in self.m_axi.signature.members}
        shift = self.bus_bytes.bit_length() - 1
        req = self.req.payload

        # One request is split at a time: the state is the next burst's word address and the
        # words left, so each burst needs one comparison chain, not a divider.
        word = Signal.like(ax["addr"][shift:])
        left = Signal(self.length_width + 1)
        words_per_page = BOUNDARY_BYTES // self.bus_bytes
        to_boundary = Signal(range(words_per_page + 1))
        beats = Signal(range(MAX_BURST_BEATS + 1))
        m.d.comb += to_boundary.eq(words_per_page - word[: words_per_page.bit_length() - 1])
        m.d.comb += beats.eq(MAX_BURST_BEATS)
        with m.If((left < MAX_BURST_BEATS) & (left <= to_boundary)):
            m.d.comb += beats.eq(left)
        with m.Elif(to_boundary < MAX_BURST_BEATS):
            m.d.comb += beats.eq(to_boundary)

        m.d.comb += [
            ax["addr"].eq(word << shift),
            ax["len"].eq(beats - 1),
            ax["size"].eq(shift),
            ax["burst"].eq(BURST_INCR),
            ax["lock"].eq(0),
            ax["cache"].eq(0b0011),
            ax["prot"].eq(0),
            ax["valid"].eq(self.busy),
        ]
        if "id" in ax:
            m.d.comb += ax["id"].eq(0)
        m.d.comb += self.last.eq(left == beats)
        with m.If(ax["valid"] & ax["ready"]):
            m.d.sync += [word.eq(word + beats), left.eq(left - beats)]
            with m.If(self.last):
                m.d.sync += self.busy.eq(0)

        # Taken after the issue above so that a request accepted with the last burst wins.
        m.d.comb += self.req.ready.eq(~self.busy | (ax["valid"] & ax["ready"] & self.last))
        with m.If(self.req.valid & self.req.ready):
            first_word = req.addr[shift:]
            last_word = (req.addr + req.nbytes - 1)[shift:]
            m.d.sync += [
                word.eq(first_word),
                left.eq(Mux(req.nbytes == 0, 0, last_word - first_word + 1)),
                self.busy.eq(req.nbytes != 0),
                self.offset.eq(req.addr[:shift]),
            ]
        return m
