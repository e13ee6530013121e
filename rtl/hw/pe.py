"""Processing elements of the systolic array.

Every PE has the same four systolic ports and one column broadcast, so the array wires any PE
kind the same way:

``west_in`` -> ``west_out``
    Operand ``a`` and control bits, forwarded to the east neighbour through a register.
``north_in`` -> ``south_out``
    Whatever flows down a column (partial sums for WS/IS; operand ``b``, drained results and
    the drain shift token for OS), registered.
``column``
    A signal shared by all PEs of a column (the weight bus for WS/IS, "start draining" for OS).

Arithmetic is on signed two's-complement integers; results wrap modulo ``2**acc_bits``.
In ``Mode.MAX`` (pooling) a PE passes ``max(x, a)`` where its ``b`` operand is non-zero and
``x`` unchanged where it is zero (``b`` is a 0/1 selection weight), instead of ``x + a * b``.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from accel.config import AccelConfig, ConfigError


class Mode(enum.Enum, shape=1):
    """Operation of the PEs: multiply-accumulate or masked max (pooling)."""

    MAC = 0
    MAX = 1


def operand_bits(config: AccelConfig) -> tuple[int, int]:
    """Widths of the west (row-streamed) and north (column) operands in bits.

    WS and OS stream inputs from the west and weights from the north; IS swaps them.
    """
    if config.dataflow == "is":
        return config.weight_bits, config.input_bits
    return config.input_bits, config.weight_bits


def identity(mode, acc_bits: int):
    """Neutral start value of a reduction: 0 for MAC, the most negative integer for MAX."""
    return Mux(mode == Mode.MAX, Const(-(1 << (acc_bits - 1)), signed(acc_bits)), Const(0, signed(acc_bits)))


def step(mode, x, a, b):
    """One PE update of the running value ``x`` by operands ``a``, ``b`` (``len(x)`` bits, wrapping)."""
    return Mux(mode == Mode.MAX, Mux((b != 0) & (a > x), a, x), multiply_add(x, a, b))


def multiply_add(x, a, b):
    """``x + a * b`` modulo ``2**len(x)``, with a carry chain after the multiplier only as long as
    the product.

    With ``P`` the product's width, ``x + a*b`` has the low ``P`` bits of ``x[:P] + (a*b)[:P]`` and
    above them ``x[P:] + carry - sign(a*b)``: ``x[P:]`` plus -1, 0 or +1. Those three sums wait
    only for ``x``, so the path from the multiplier ends in a ``P``-bit adder and a select.
    """
    product = a * b
    low, width = len(product), len(x)
    if width <= low + 1:
        return (x + product)[:width].as_signed()
    total = x[:low] + product[:low]  # P + 1 bits: the low sum and its carry
    carry, negative, high = total[low], product[low - 1], x[low:]
    above = Mux(carry & ~negative, high + 1, Mux(negative & ~carry, high - 1, high))
    return Cat(total[:low], above[: width - low]).as_signed()


def merge(mode, x, y):
    """Combine two partial results of the same output (full width; caller wraps)."""
    return Mux(mode == Mode.MAX, Mux(y > x, y, x), x + y)


def _check_width(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"PE {name} must be an integer >= {minimum}, not {value!r}")


class PE(wiring.Component):
    """Shared port construction and operand forwarding of both PE kinds."""

    def __init__(self, a_bits: int, b_bits: int, acc_bits: int, *, bottom: bool = False) -> None:
        _check_width("a_bits", a_bits, 2)
        _check_width("b_bits", b_bits, 2)
        _check_width("acc_bits", acc_bits, max(a_bits, b_bits))
        self.a_bits, self.b_bits, self.acc_bits, self.bottom = a_bits, b_bits, acc_bits, bottom
        west, north, column = self.layouts(a_bits, b_bits, acc_bits)
        super().__init__(
            {
                "west_in": In(west),
                "west_out": Out(west),
                "north_in": In(north),
                "south_out": Out(north),
                "column": In(column),
            }
        )

    @staticmethod
    def kind(config: AccelConfig) -> type[PE]:
        """The PE class that ``config.dataflow`` needs."""
        return OutputStationaryPE if config.dataflow == "os" else OperandStationaryPE

    @classmethod
    def from_config(cls, config: AccelConfig, *, bottom: bool = False) -> PE:
        """A PE of the kind and widths that ``config`` asks for (``bottom``: in the last row)."""
        return cls.kind(config)(*operand_bits(config), config.acc_bits, bottom=bottom)

    @classmethod
    def config_layouts(cls, config: AccelConfig):
        """``(west, north, column)`` port layouts of the PE for ``config``."""
        return cls.kind(config).layouts(*operand_bits(config), config.acc_bits)

    def _forward_west(self, m: Module) -> None:
        # Registered forwarding keeps every wire in the array one PE long.
        m.d.sync += self.west_out.eq(self.west_in)


class OperandStationaryPE(PE):
    """PE holding one operand (the weight for WS, the input for IS); partial sums flow down.

    ``west_in``: ``a`` (streamed operand), ``load`` (latch ``column`` as the stationary operand
    at the end of this cycle), ``mode``. ``north_in.result`` / ``south_out.result``: partial sum.
    ``south_out.result`` = ``step(mode, north_in.result, a, w)`` one cycle later, where ``w`` is
    the stationary operand held during this cycle.
    """

    @staticmethod
    def layouts(a_bits: int, b_bits: int, acc_bits: int):
        west = data.StructLayout({"a": signed(a_bits), "load": 1, "mode": Mode})
        north = data.StructLayout({"result": signed(acc_bits)})
        return west, north, signed(b_bits)

    def elaborate(self, platform):
        m = Module()
        self._forward_west(m)
        weight = Signal(signed(self.b_bits))
        with m.If(self.west_in.load):
            m.d.sync += weight.eq(self.column)
        w = self.west_in
        m.d.sync += self.south_out.result.eq(step(w.mode, self.north_in.result, w.a, weight))
        return m


class OutputStationaryPE(PE):
    """PE holding one output accumulator; ``b`` flows down, results drain down the column.

    ``west_in``: ``a``, ``clear`` (first operand pair of an output: start from the identity),
    ``last`` (last pair: the result is final one cycle later), ``mode``. ``north_in``: ``b``,
    ``result`` (drain register of the PE above), ``shift`` (drain token). ``column``: start
    of a drain.

    One cycle after ``last`` the drain register copies the accumulator; it takes the drain
    register above in every cycle in which ``column`` or ``north_in.shift`` is high. A
    ``bottom`` PE never copies: during that cycle its ``south_out.result`` shows the
    accumulator directly, and its drain register is free to take the result from above.
    """

    @staticmethod
    def layouts(a_bits: int, b_bits: int, acc_bits: int):
        west = data.StructLayout({"a": signed(a_bits), "clear": 1, "last": 1, "mode": Mode})
        north = data.StructLayout({"b": signed(b_bits), "result": signed(acc_bits), "shift": 1})
        return west, north, 1

    def elaborate(self, platform):
        m = Module()
        self._forward_west(m)
        w, n = self.west_in, self.north_in
        acc, drain = Signal(signed(self.acc_bits)), Signal(signed(self.acc_bits))
        start = Mux(w.clear, identity(w.mode, self.acc_bits), acc)
        m.d.sync += acc.eq(step(w.mode, start, w.a, n.b))
        m.d.sync += self.south_out.b.eq(n.b)
        # Copying from the accumulator register one cycle late (the forwarded ``last``) keeps
        # the drain mux out of the multiply-add path.
        final = self.west_out.last
        # The drain token walks down one row per cycle behind the column-wide start, so row r
        # shifts for r + 1 cycles: long enough to pass on the r results above it.
        shift = self.column | n.shift
        m.d.sync += self.south_out.shift.eq(shift)
        if self.bottom:
            m.d.comb += self.south_out.result.eq(Mux(final, acc, drain))
        else:
            m.d.comb += self.south_out.result.eq(drain)
        with m.If(final & Const(not self.bottom)):
            m.d.sync += drain.eq(acc)
        with m.Elif(shift):
            m.d.sync += drain.eq(n.result)
        return m
