"""AXI4-Lite and AXI4 bus signatures, defined once, and the standard Verilog port names.

Signatures are written from the manager's side (``Out`` flows from manager to subordinate), so
a register file takes ``In(AXI4LiteSignature(...))`` and a DMA engine ``Out(AXI4Signature(...))``.
Member names carry their channel prefix (``awaddr``, ``rdata``, ...) because the standard
Verilog names are flat: a port ``s_axil`` exported through :func:`verilog_ports` becomes
``s_axil_awaddr``, ``s_axil_awvalid``, ..., which Vivado's IP packager and LiteX recognise as an
AXI interface without hand mapping.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Value
from amaranth.back import verilog
# Amaranth's converter takes explicit port directions only as this enum (pinned: amaranth < 0.6).
from amaranth.hdl._ir import PortDirection
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: BRESP / RRESP codes (AXI specification, table A3-4).
RESP_OKAY = 0b00
RESP_SLVERR = 0b10
RESP_DECERR = 0b11
#: AxBURST code of an incrementing burst.
BURST_INCR = 0b01
#: Longest INCR burst, in beats (AXI4, AxLEN is 8 bits).
MAX_BURST_BEATS = 256
#: Bytes an AXI burst may never cross (AXI specification, A3.4.1).
BOUNDARY_BYTES = 4096


def _check_address_width(address_width: int) -> None:
    if not isinstance(address_width, int) or isinstance(address_width, bool) or not 12 <= address_width <= 64:
        raise ValueError(f"AXI address width must be an integer between 12 and 64 bits, not {address_width!r}")


def check_data_width(data_width: int) -> None:
    """Raise ``ValueError`` unless ``data_width`` (bits) is a power of two in 32..256."""
    if not isinstance(data_width, int) or isinstance(data_width, bool) or data_width not in (32, 64, 128, 256):
        raise ValueError(f"AXI data width must be a power of two between 32 and 256 bits, not {data_width!r}")


def address_channel_members(channel: str, address_width: int, id_width: int) -> dict:
    """Members of an AXI4 ``aw`` or ``ar`` channel, manager's side.

    Parameters
    ----------
    channel : str
        ``"aw"`` or ``"ar"``; prefixes every member name.
    address_width : int
        Byte address width, in bits.
    id_width : int
        Transaction ID width, in bits (0 leaves out ``AxID``).
    """
    if channel not in ("aw", "ar"):
        raise ValueError(f"AXI address channel must be 'aw' or 'ar', not {channel!r}")
    members = {"id": Out(id_width)} if id_width else {}
    members |= {
        "addr": Out(address_width),
        "len": Out(8),  # beats - 1
        "size": Out(3),  # log2(bytes per beat)
        "burst": Out(2),
        "lock": Out(1),
        "cache": Out(4),
        "prot": Out(3),
        "valid": Out(1),
        "ready": In(1),
    }
    return {channel + name: flow for name, flow in members.items()}


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite with 32-bit data (all five channels, no optional signals).

    Parameters
    ----------
    address_width : int
        Byte address width, in bits (12..64).
    """

    def __init__(self, address_width: int) -> None:
        _check_address_width(address_width)
        self.address_width = address_width
        super().__init__(
            {
                "awaddr": Out(address_width),
                "awprot": Out(3),
                "awvalid": Out(1),
                "awready": In(1),
                "wdata": Out(32),
                "wstrb": Out(4),
                "wvalid": Out(1),
                "wready": In(1),
                "bresp": In(2),
                "bvalid": In(1),
                "bready": Out(1),
                "araddr": Out(address_width),
                "arprot": Out(3),
                "arvalid": Out(1),
                "arready": In(1),
                "rdata": In(32),
                "rresp": In(2),
                "rvalid": In(1),
                "rready": Out(1),
            }
        )

    def __eq__(self, other):
        return type(other) is AXI4LiteSignature and other.address_width == self.address_width

    def __repr__(self):
        return f"AXI4LiteSignature({self.address_width})"


class AXI4Signature(wiring.Signature):
    """Full AXI4 (AW, W, B, AR, R channels; no QoS, region or user signals).

    Parameters
    ----------
    address_width : int
        Byte address width, in bits (12..64).
    data_width : int
        Data bus width, in bits: 32, 64, 128 or 256.
    id_width : int
        Transaction ID width, in bits (0 leaves out the ID signals).
    """

    def __init__(self, address_width: int, data_width: int, id_width: int = 0) -> None:
        _check_address_width(address_width)
        check_data_width(data_width)
        if not isinstance(id_width, int) or isinstance(id_width, bool) or not 0 <= id_width <= 32:
            raise ValueError(f"AXI ID width must be an integer between 0 and 32 bits, not {id_width!r}")
        self.address_width, self.data_width, self.id_width = address_width, data_width, id_width
        super().__init__(
            {
                **address_channel_members("aw", address_width, id_width),
                "wdata": Out(data_width),
                "wstrb": Out(data_width // 8),
                "wlast": Out(1),
                "wvalid": Out(1),
                "wready": In(1),
                **({"bid": In(id_width)} if id_width else {}),
                "bresp": In(2),
                "bvalid": In(1),
                "bready": Out(1),
                **address_channel_members("ar", address_width, id_width),
                **({"rid": In(id_width)} if id_width else {}),
                "rdata": In(data_width),
                "rresp": In(2),
                "rlast": In(1),
                "rvalid": In(1),
                "rready": Out(1),
            }
        )

    def __eq__(self, other):
        return type(other) is AXI4Signature and (other.address_width, other.data_width, other.id_width) == (
            self.address_width,
            self.data_width,
            self.id_width,
        )

    def __repr__(self):
        return f"AXI4Signature({self.address_width}, {self.data_width}, {self.id_width})"


#: Channel prefixes of the two halves of AXI4: a read manager drives AR and takes R, a write
#: manager drives AW and W and takes B. Every member name starts with its channel's prefix.
READ_CHANNELS = ("ar", "r")
WRITE_CHANNELS = ("aw", "w", "b")


class AXI4ReadSignature(wiring.Signature):
    """The AR and R channels of :class:`AXI4Signature` (same parameters, same member names)."""

    channels = READ_CHANNELS

    def __init__(self, address_width: int, data_width: int, id_width: int = 0) -> None:
        full = AXI4Signature(address_width, data_width, id_width)
        self.address_width, self.data_width, self.id_width = address_width, data_width, id_width
        super().__init__({name: member for name, member in full.members.items() if name.startswith(self.channels)})

    def __eq__(self, other):
        return type(other) is type(self) and (other.address_width, other.data_width, other.id_width) == (
            self.address_width,
            self.data_width,
            self.id_width,
        )

    def __repr__(self):
        return f"{type(self).__name__}({self.address_width}, {self.data_width}, {self.id_width})"


class AXI4WriteSignature(AXI4ReadSignature):
    """The AW, W and B channels of :class:`AXI4Signature` (same parameters, same member names)."""

    channels = WRITE_CHANNELS


def subset(bus, signature: wiring.Signature):
    """The members of ``signature`` taken from the interface ``bus``, as an interface of that signature.

    ``bus`` holds every member (for example a full AXI4 port); the result shares its signals and
    is flipped when ``bus`` is, so a top with one ``m_axi`` port connects a read manager and a
    write manager to it: ``wiring.connect(m, subset(wiring.flipped(self.m_axi),
    AXI4ReadSignature(...)), reader.m_axi)``.
    """
    flipped = isinstance(bus.signature, wiring.FlippedSignature)
    view = SimpleNamespace(signature=signature.flip() if flipped else signature)
    for name in signature.members:
        setattr(view, name, getattr(bus, name))
    return view


def verilog_ports(component: wiring.Component) -> dict:
    """Top-level ports of ``component`` named with single underscores (``s_axil_awaddr``).

    Amaranth joins the path of a nested member with ``__`` by default; AXI tooling expects
    ``<prefix>_<signal>``. Directions come from the signature, as in Amaranth's own default,
    so an output the design leaves undriven is still an output (tied to its reset value). A
    structured member (a stream payload) becomes one flat port.
    """
    ports = {}
    for path, member, value in component.signature.flatten(component):
        direction = PortDirection.Input if member.flow == wiring.In else PortDirection.Output
        ports["_".join(map(str, path))] = (Value.cast(value), direction)
    return ports


def convert(component: wiring.Component, name: str) -> str:
    """Verilog of ``component`` as module ``name`` with the standard AXI port names."""
    return verilog.convert(component, name=name, ports=verilog_ports(component), emit_src=False)
