"""The accelerator's DMA engines: an AXI4 read manager (DRAM -> chip) and a write manager (chip -> DRAM).

A command (:func:`command_layout`) moves ``runs`` runs of ``run_bytes`` contiguous bytes. Run ``r``
starts at DRAM byte ``dram_addr + r * dram_stride`` and at on-chip byte ``chip_addr + r *
chip_stride``, both at any byte. The on-chip memory ports move words of ``W`` bytes (the bus
width): on-chip byte ``a`` is byte ``a mod W`` of word ``a // W``. ``target`` names the on-chip
memory and is passed through to the memory ports and to ``done``. ``run_bytes`` and ``runs`` must
be at least 1. Runs are copied in order (overlapping runs behave as if copied one after another).

Both engines split each run into INCR bursts of whole bus words (at most 256 beats, none
crossing a 4 KiB boundary, ID 0) and issue the bursts of their commands on consecutive edges
while the memory is ready, from one command into the next, so a memory serving one in-order
queue (``accel/dram_channel.py``) never idles between them. Timing, in clock edges (an event "at
edge ``t``" is sampled high by edge ``t``; "cycle ``t``" is the cycle ending at edge ``t``):

- ``cmd.ready`` is high when at most one taken command has bursts not yet handshaken
  (``BurstIssuer.SLOTS`` = 3: the one issuing and the next two) and fewer than ``COMMANDS`` taken
  commands have not yet pulsed ``done``;
- a command taken at edge ``h`` has its first address handshake at edge ``max(h + ISSUE_CYCLES,
  a + 1)`` when the memory is ready and ``hold`` is low, ``a`` being the previous command's last
  address handshake: a command taken at least ``ISSUE_CYCLES`` edges before ``a`` follows it
  with no gap;
- ``done`` is high for one cycle, sampled at edge ``t + DONE_CYCLES``, where ``t`` is the edge of
  the R handshake of the command's last beat (reader; its on-chip writes are all sampled by the
  edge that samples ``done``) or of the B handshake of its last burst (writer).

Ordering between the engines: ``hold`` high in cycle ``t`` keeps ARVALID / AWVALID low in that
cycle (no address handshake at edge ``t``; data of bursts already issued keeps moving), and it
delays no other work. ``pending`` is high in cycle ``t`` if a command taken at an edge before
``t`` has a burst whose handshake is not before edge ``t``, and low otherwise: low in cycle
``a + 1`` after the last address handshake ``a`` of the last taken command. A command processor
that hands a command to one engine while the other still has bursts of an earlier command to
issue drives ``hold`` of the first from ``pending`` of the second (a combinational path; neither
output depends on ``hold``): the held engine's first address handshake then comes at edge
``max(h + ISSUE_CYCLES, a + 1)``, ``a`` the other engine's last address handshake. ``pending``
covers every taken command, so the processor hands the other engine no further command until
that hold is released (its ``pending`` low); ``hold`` must not rise while the engine shows an
address not yet handshaken (AXI keeps VALID until the handshake), which this order ensures.

An error response (RRESP / BRESP not OKAY) does not stop a command: it completes as usual and
``error`` holds the code of the first failing response until ``clear`` (a failure in the cycle
of ``clear`` is kept).

Pace of the on-chip port. A run of ``n`` bytes touches ``ceil((c mod W + n) / W)`` on-chip words
and takes ``ceil((a mod W + n) / W)`` bus beats (``c``, ``a``: its on-chip and DRAM start), so a
run that starts at a later lane on chip than in DRAM may need a word more than beats, and a port
of one word per cycle cannot follow a channel of one beat per cycle through many such runs. A
word that one run ends in and the command's next run starts in is written (reader) or read
(writer) once. The timing above holds, and the reader writes every byte, for the commands that
:func:`keeps_pace` accepts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from amaranth import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from . import axi
from .axi_bursts import BurstSplitter

#: Bits of a byte address inside a 4 KiB page (the boundary no burst crosses).
PAGE_BITS = exact_log2(axi.BOUNDARY_BYTES)


@dataclass(frozen=True)
class DmaParams:
    """Widths shared by the engines and the command processor that drives them.

    Parameters
    ----------
    address_width : int
        DRAM byte address bits (12..64); also the width of ``dram_stride``.
    data_width : int
        AXI data bits: 32, 64, 128 or 256 (``W`` = 4..32 bytes, the on-chip word).
    id_width : int
        AXI ID bits (0 leaves the ID signals out; the engines always send ID 0).
    run_bytes_width : int
        Bits of ``run_bytes``.
    runs_width : int
        Bits of ``runs``.
    chip_address_width : int
        Bits of an on-chip byte address (``chip_addr``, ``chip_stride``); more than ``log2(W)``.
        The memory ports' word addresses have ``log2(W)`` bits fewer.
    target_width : int
        Bits of ``target``.
    """

    address_width: int = 32
    data_width: int = 128
    id_width: int = 0
    run_bytes_width: int = 16
    runs_width: int = 16
    chip_address_width: int = 16
    target_width: int = 2

    def __post_init__(self) -> None:
        axi.AXI4Signature(self.address_width, self.data_width, self.id_width)  # validates the bus
        for name in ("run_bytes_width", "runs_width", "chip_address_width", "target_width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 32:
                raise ValueError(f"DMA {name} must be an integer between 1 and 32 bits, not {value!r}")
        if self.word_address_width < 1:
            raise ValueError(
                f"DMA chip_address_width must exceed log2 of the bus bytes ({self.data_width // 8}), "
                f"not {self.chip_address_width}"
            )

    @property
    def bus_bytes(self) -> int:
        """``W``: bytes per beat and per on-chip word."""
        return self.data_width // 8

    @property
    def word_address_width(self) -> int:
        """Bits of an on-chip word address (the memory ports' ``addr``)."""
        return self.chip_address_width - exact_log2(self.bus_bytes)

    @property
    def max_run_beats(self) -> int:
        """Most bus beats one run can take (a longest run starting at the last byte of a beat)."""
        return (self.bus_bytes - 1 + 2**self.run_bytes_width - 1 + self.bus_bytes - 1) // self.bus_bytes


def command_layout(params: DmaParams) -> data.StructLayout:
    """Payload of an engine's ``cmd`` stream (fields in this order from bit 0)."""
    return data.StructLayout(
        {
            "dram_addr": params.address_width,  # byte address of run 0
            "dram_stride": params.address_width,  # bytes between run starts (modulo 2**address_width)
            "run_bytes": params.run_bytes_width,  # >= 1
            "runs": params.runs_width,  # >= 1
            "chip_addr": params.chip_address_width,  # on-chip byte address of run 0 (any byte)
            "chip_stride": params.chip_address_width,  # on-chip bytes between run starts (modulo 2**width)
            "target": params.target_width,
        }
    )


def chip_write_signature(params: DmaParams) -> wiring.Signature:
    """The reader's on-chip write port: one word per cycle with ``valid``, never refused.

    Byte ``j`` of ``data`` is on-chip byte ``addr * W + j``, written when ``strb[j]`` is set.
    """
    return wiring.Signature(
        {
            "valid": Out(1),
            "target": Out(params.target_width),
            "addr": Out(params.word_address_width),
            "data": Out(params.data_width),
            "strb": Out(params.bus_bytes),
        }
    )


def chip_read_signature(params: DmaParams) -> wiring.Signature:
    """The writer's on-chip read port: a synchronous read, ``data`` valid the cycle after ``en``."""
    return wiring.Signature(
        {
            "en": Out(1),
            "target": Out(params.target_width),
            "addr": Out(params.word_address_width),
            "data": In(params.data_width),
        }
    )


def carries_word(cmd: Mapping[str, int], previous: Mapping[str, int] | None, params: DmaParams) -> bool:
    """Whether the writer takes the first word of ``cmd`` as read: ``cmd`` starts mid-word in
    the on-chip word that ``previous``, the writer's command before it, ended in (same target)."""
    if previous is None or previous.get("target") != cmd.get("target"):
        return False
    w, space = params.bus_bytes, 1 << params.chip_address_width
    last = previous["chip_addr"] + (previous["runs"] - 1) * previous["chip_stride"] + previous["run_bytes"] - 1
    start = cmd["chip_addr"] % space
    return start % w != 0 and start // w == last % space // w


def beat_words(cmd: Mapping[str, int], params: DmaParams, previous: Mapping | None = None) -> Iterator[tuple[int, int]]:
    """``(completed, needed)`` for each bus beat of a command (its :func:`command_layout` fields),
    in order: the on-chip words the reader can write once the beat has arrived (those it ends,
    unless the command's next beat goes on in them), and the words the writer reads for it
    (those it holds bytes of, but for the one the command's previous beat ended in, or for the
    first beat the word ``previous``, the writer's command before, ended in: :func:`carries_word`);
    0, 1 or 2."""
    w, n, space = params.bus_bytes, cmd["run_bytes"], 1 << params.chip_address_width

    def chip(r):
        return (cmd["chip_addr"] + r * cmd["chip_stride"]) % space

    continues = carries_word(cmd, previous, params)  # the previous beat's last word goes on in this beat
    for r in range(cmd["runs"]):
        start, offset = chip(r), (cmd["dram_addr"] + r * cmd["dram_stride"]) % w
        beats = (offset + n + w - 1) // w
        joins = r + 1 < cmd["runs"] and chip(r + 1) // w == (start + n - 1) % space // w
        for k in range(beats):
            first, last = start + max(0, k * w - offset), start + min(n, (k + 1) * w - offset) - 1
            spans = first // w != last // w
            needed = (not continues) + spans
            continues = last % w != w - 1 and (k < beats - 1 or joins)
            yield spans + (not continues), needed


def keeps_pace(
    cmd: Mapping, params: DmaParams, *, writer: bool, after_idle: bool = False, previous: Mapping | None = None
) -> bool:
    """Whether an engine's on-chip port keeps up with the command at one bus beat per cycle, as
    the published timing assumes (the words of each beat: :func:`beat_words`).

    Writer: no beat needs two words (it reads one per cycle); ``previous`` is the writer's
    command before this one (its fields and ``target``), whose last word a command that starts
    mid-word in it takes as read. Reader: it writes one word per cycle and keeps one waiting,
    so a beat that completes two words must follow a beat of the command that completes none,
    with no two-word beat in between: a word of the previous command may still wait when the
    command's first beat arrives, unless the R channel carried no beat in a cycle in between
    (``after_idle``). Runs that are chip-aligned (``chip_addr`` and
    ``chip_stride`` multiples of ``W``), packed on chip from a word boundary (``chip_stride ==
    run_bytes``) or in the same lanes on chip as in DRAM keep pace; a run that starts at a later
    lane on chip than in DRAM may need a word more than beats.
    """
    if writer:
        return all(needed <= 1 for _, needed in beat_words(cmd, params, previous))
    waiting = 0 if after_idle else 1
    for completed, _ in beat_words(cmd, params):
        waiting = max(0, waiting + completed - 1)
        if waiting > 1:
            return False
    return True


def beat_layout(params: DmaParams) -> data.StructLayout:
    """What :class:`BeatWalker` tells about the bus beat it presents: its run bytes lie on chip
    from lane ``start`` of word ``word`` to lane ``end`` of the same word or, if ``spans``, of
    the next."""
    shift = exact_log2(params.bus_bytes)
    return data.StructLayout(
        {
            "rotation": shift,  # (DRAM lane - on-chip lane) mod W, the same for every byte of the run
            "word": params.word_address_width,  # on-chip word of the beat's first byte
            "start": shift,  # its on-chip lane
            "end": shift,  # on-chip lane of the beat's last byte
            "spans": 1,  # the last byte is in word + 1
            "continues": 1,  # the command's next beat starts in the word of this beat's last byte
            "burst_last": 1,  # the beat ends an AXI burst
            "cmd_last": 1,  # the command's last beat
            "target": params.target_width,
        }
    )


def rotate_bytes(m: Module, value: Value, amount: Value, *, right: bool) -> Signal:
    """``value`` rotated by ``amount`` bytes towards byte 0 (``right``) or away from it: one
    2-way multiplexer per bit of ``amount``, each stage a signal of its own."""
    for i in range(len(amount)):
        step = 8 << i
        stage = Signal(len(value), name=f"rotated_{i}")
        m.d.comb += stage.eq(Mux(amount[i], value.rotate_right(step) if right else value.rotate_left(step), value))
        value = stage
    return value


def lane_mask(lanes: int, predicate) -> Value:
    """``lanes`` bits, bit ``j`` = ``predicate(j)`` (a 1-bit Value)."""
    return Cat(*(predicate(j) for j in range(lanes)))


def merge_lanes(lanes: int, predicate, chosen: Value, other: Value) -> Value:
    """Byte ``j`` of ``chosen`` where ``predicate(j)`` holds, else byte ``j`` of ``other``."""
    return Cat(*(Mux(predicate(j), chosen[8 * j : 8 * j + 8], other[8 * j : 8 * j + 8]) for j in range(lanes)))


class RegisterQueue(wiring.Component):
    """A first-word-fall-through queue of ``depth`` entries held in registers (no memory, no
    ``initial`` block), with :class:`amaranth.lib.fifo.SyncFIFO`'s port names: an entry written at
    edge ``t`` is on ``r_data`` with ``r_rdy`` from edge ``t`` on (sampled at ``t + 1``).

    ``r_data`` is meaningful only while ``r_rdy`` is high: the free entry at the write pointer
    takes ``w_data`` at every edge, whether or not ``w_en`` is high, so that the entries' enables
    depend on the queue's own registers and not on the late ``w_en``."""

    def __init__(self, *, width: int, depth: int) -> None:
        self.width, self.depth = width, depth
        super().__init__(
            {
                "w_data": In(width),
                "w_en": In(1),
                "w_rdy": Out(1),
                "r_data": Out(width),
                "r_en": In(1),
                "r_rdy": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        storage = Array(Signal(self.width, name=f"entry{i}") for i in range(self.depth))
        write, read = Signal(range(self.depth)), Signal(range(self.depth))
        level = Signal(range(self.depth + 1))
        written, taken = self.w_en & self.w_rdy, self.r_en & self.r_rdy
        m.d.comb += [self.w_rdy.eq(level != self.depth), self.r_rdy.eq(level != 0), self.r_data.eq(storage[read])]
        with m.If(self.w_rdy):
            m.d.sync += storage[write].eq(self.w_data)
        with m.If(written):
            m.d.sync += write.eq(Mux(write == self.depth - 1, 0, write + 1))
        with m.If(taken):
            m.d.sync += read.eq(Mux(read == self.depth - 1, 0, read + 1))
        m.d.sync += level.eq(level + written - taken)
        return m


class BurstIssuer(wiring.Component):
    """The address channel of a DMA engine: the bursts of every run of its commands, back to back.

    ``cmd`` (stream: ``addr``, ``stride``, ``nbytes``, ``runs``) is taken while fewer than
    ``SLOTS`` taken commands have bursts not yet handshaken: the one issuing and the next two
    wait here, so commands of one burst each still go out on consecutive edges. The runs are fed to a :class:`rtl.hw.axi_bursts.BurstSplitter`, which takes the next run,
    of the same command or of the next one, in the cycle the previous run's last burst is
    handshaken. So with the channel ready and ``hold`` low the bursts go out on consecutive
    edges: a command taken at edge ``h`` has its first burst at edge ``max(h + CYCLES + delay,
    a + 1)``, ``a`` being the previous command's last burst.

    ``hold`` high keeps the channel's VALID low and the splitter's READY low (no handshake);
    ``pending`` is high in a cycle in which a taken command has bursts not yet handshaken.

    Parameters
    ----------
    params : DmaParams
    channel : str
        ``"ar"`` or ``"aw"``.
    delay : int
        Extra cycles (>= 0) between taking a command and offering its first burst.
    """

    #: Edges from the command's handshake to its first burst's, with ``delay`` 0 and the
    #: channel idle: the run register, then the splitter's request register.
    CYCLES = 2
    #: Taken commands with bursts not yet handshaken that ``cmd`` admits.
    SLOTS = 3

    def __init__(self, params: DmaParams, channel: str, delay: int = 0) -> None:
        self.params, self.channel, self.delay = params, channel, delay
        runs = data.StructLayout(
            {
                "addr": params.address_width,
                "stride": params.address_width,
                "nbytes": params.run_bytes_width,
                "runs": params.runs_width,
            }
        )
        members = axi.address_channel_members(channel, params.address_width, params.id_width)
        super().__init__(
            {
                "cmd": In(stream.Signature(runs)),
                "m_axi": Out(wiring.Signature(members)),
                "hold": In(1),
                "pending": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.splitter = splitter = BurstSplitter(
            p.address_width, p.data_width, p.run_bytes_width, channel=self.channel, id_width=p.id_width
        )
        valid, ready = f"{self.channel}valid", f"{self.channel}ready"
        for name in self.m_axi.signature.members:
            if name == ready:
                m.d.comb += getattr(splitter.m_axi, name).eq(getattr(self.m_axi, name) & ~self.hold)
            elif name == valid:
                m.d.comb += getattr(self.m_axi, name).eq(getattr(splitter.m_axi, name) & ~self.hold)
            else:
                m.d.comb += getattr(self.m_axi, name).eq(getattr(splitter.m_axi, name))

        # `current` hands its runs to the splitter (addr: the next run's first byte, runs: those
        # not yet handed, 0 when empty); `queue` holds, oldest first, commands taken while
        # `current` was busy. `wait` counts down the edges left before a command's first run may
        # be handed.
        slot = data.StructLayout({**self.cmd.payload.shape().members, "wait": range(self.delay + 1)})
        current, incoming = Signal(slot), Signal(slot)
        queue = [Signal(slot, name=f"queued{i}") for i in range(self.SLOTS - 1)]
        queue_valid = [Signal(name=f"queued{i}_valid") for i in range(self.SLOTS - 1)]
        last_run = Signal()  # the splitter's run is its command's last
        unissued = Signal(range(self.SLOTS + 1))  # taken commands with bursts not yet handshaken

        handed = splitter.req.valid & splitter.req.ready
        m.d.comb += [
            splitter.req.valid.eq((current.runs != 0) & (current.wait == 0)),
            splitter.req.payload.addr.eq(current.addr),
            splitter.req.payload.nbytes.eq(current.nbytes),
            incoming.eq(self.cmd.payload),
            incoming.wait.eq(self.delay),
        ]

        def count_down(wait):
            return Mux(wait == 0, 0, wait - 1)

        def take(entry, source):
            return [entry.eq(source), entry.wait.eq(count_down(source.wait))]

        m.d.sync += current.wait.eq(count_down(current.wait))
        m.d.sync += [entry.wait.eq(count_down(entry.wait)) for entry in queue]
        with m.If(handed):
            m.d.sync += [
                current.addr.eq(current.addr + current.stride),
                current.runs.eq(current.runs - 1),
                last_run.eq(current.runs == 1),
            ]
        # Taken after the hand-over above so that a command loaded with the last run wins.
        taken = self.cmd.valid & self.cmd.ready
        current_free = (current.runs == 0) | (handed & (current.runs == 1))
        shift = current_free & queue_valid[0]
        # After an optional shift into `current`, slot i holds what slot i + 1 held; a taken
        # command goes into `current` or the first empty slot.
        with m.If(shift):
            m.d.sync += take(current, queue[0])
        with m.Elif(taken & current_free):
            m.d.sync += current.eq(incoming)
        for i, entry in enumerate(queue):
            following = queue[i + 1 :]
            held = queue_valid[i + 1] if following else Const(0)
            prior = queue_valid[i - 1] if i else ~current_free
            with m.If(taken & Mux(shift, queue_valid[i] & ~held, ~queue_valid[i] & prior)):
                m.d.sync += [entry.eq(incoming), queue_valid[i].eq(1)]
            with m.Elif(shift):
                m.d.sync += queue_valid[i].eq(held)
                if following:
                    m.d.sync += take(entry, following[0])

        issued = getattr(splitter.m_axi, valid) & getattr(splitter.m_axi, ready) & splitter.last & last_run
        m.d.sync += unissued.eq(unissued + taken - issued)
        m.d.comb += [self.cmd.ready.eq(unissued < self.SLOTS), self.pending.eq(unissued != 0)]
        return m


class BeatWalker(wiring.Component):
    """Walks the bus beats of queued commands in DRAM order, one beat per handshake on ``beat``.

    ``cmd`` queues a command (``depth`` of them); ``beat`` presents the current beat's
    :func:`beat_layout` and advances on ``ready``. The next run, and the next queued command,
    follow the current one's last beat without a gap, so a consumer may take a beat every cycle
    across runs and commands. A command taken at edge ``h`` by an idle walker is loaded at edge
    ``h + 1``; its first beat can be taken from edge ``h + 2`` on.

    Parameters
    ----------
    params : DmaParams
    depth : int
        Commands the queue holds (not counting the one being walked).
    """

    def __init__(self, params: DmaParams, depth: int) -> None:
        self.params, self.depth = params, depth
        super().__init__(
            {"cmd": In(stream.Signature(command_layout(params))), "beat": Out(stream.Signature(beat_layout(params)))}
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        lanes = p.bus_bytes
        shift = exact_log2(lanes)
        page_words = axi.BOUNDARY_BYTES // lanes
        max_last_index = (2**p.run_bytes_width - 2) // lanes  # most (run_bytes - 1) // W
        entry = data.StructLayout(
            {
                "page_offset": PAGE_BITS,  # dram_addr mod 4 KiB
                "page_stride": PAGE_BITS,  # dram_stride mod 4 KiB
                "run_bytes": p.run_bytes_width,
                "runs": p.runs_width,
                "chip_addr": p.chip_address_width,
                "chip_stride": p.chip_address_width,
                "target": p.target_width,
            }
        )
        m.submodules.queue = queue = RegisterQueue(width=entry.size, depth=self.depth)
        cmd, pushed, head = self.cmd.payload, entry(queue.w_data), entry(queue.r_data)
        m.d.comb += [
            queue.w_en.eq(self.cmd.valid),
            self.cmd.ready.eq(queue.w_rdy),
            pushed.page_offset.eq(cmd.dram_addr[:PAGE_BITS]),
            pushed.page_stride.eq(cmd.dram_stride[:PAGE_BITS]),
        ]
        for name in ("run_bytes", "runs", "chip_addr", "chip_stride", "target"):
            m.d.comb += getattr(pushed, name).eq(getattr(cmd, name))

        valid = Signal()
        run_page = Signal(PAGE_BITS)  # DRAM address mod 4 KiB of the run's first byte
        page_stride = Signal(PAGE_BITS)
        last_index = Signal(range(max_last_index + 1))  # (run_bytes - 1) // W
        tail = Signal(shift)  # (run_bytes - 1) % W
        left = Signal(range(max_last_index + 2))  # beats of the run after this one
        first = Signal()
        runs_left = Signal(p.runs_width)  # runs of the command, this one included
        run_chip = Signal(p.chip_address_width)  # on-chip byte of the run's first byte
        chip_stride = Signal(p.chip_address_width)
        word = Signal(p.word_address_width)  # on-chip word of beat k's first byte
        page_word = Signal(PAGE_BITS - shift)  # DRAM word of beat k, inside its 4 KiB page
        target = Signal(p.target_width)

        def spans_extra_beat(offset, tail):
            # A run of n bytes at lane o takes ceil((o + n) / W) beats, one more than
            # ceil(n / W) when o + (n - 1) % W reaches the next beat.
            return (offset + tail)[shift]

        offset, lane = run_page[:shift], run_chip[:shift]  # DRAM and on-chip lane of the run's first byte
        last = left == 0
        # Beat k holds the run's bytes from k * W - o (0 for k = 0) up to (k + 1) * W - o - 1
        # (n - 1 for the last beat): on chip, lanes start .. end.
        start, end, spans = Signal(shift), Signal(shift), Signal()
        next_chip = Signal(p.chip_address_width)  # the first byte of the command's next run
        m.d.comb += [
            start.eq(Mux(first, lane, lane - offset)),
            end.eq(Mux(last, lane + tail, lane - offset - 1)),
            spans.eq(end < start),
            next_chip.eq(run_chip + chip_stride),
        ]
        # The command's next run starts in the word this run ends in (word + spans at its last beat).
        joins = (runs_left != 1) & (next_chip[shift:] == (word + spans)[: p.word_address_width])
        burst_last = last | (page_word == page_words - 1)
        if page_words > axi.MAX_BURST_BEATS:  # only then can a burst end inside a page
            burst_beat = Signal(range(axi.MAX_BURST_BEATS))
            burst_last |= burst_beat == axi.MAX_BURST_BEATS - 1
        beat = self.beat.payload
        m.d.comb += [
            self.beat.valid.eq(valid),
            beat.rotation.eq(offset - lane),
            beat.word.eq(word),
            beat.start.eq(start),
            beat.end.eq(end),
            beat.spans.eq(spans),
            beat.continues.eq((end != lanes - 1) & (~last | joins)),
            beat.burst_last.eq(burst_last),
            beat.cmd_last.eq(last & (runs_left == 1)),
            beat.target.eq(target),
        ]

        step = valid & self.beat.ready
        with m.If(step & ~last):
            m.d.sync += [
                left.eq(left - 1),
                word.eq(word + (spans | (end == lanes - 1))),
                page_word.eq(page_word + 1),
                first.eq(0),
            ]
            if page_words > axi.MAX_BURST_BEATS:
                m.d.sync += burst_beat.eq(Mux(burst_last, 0, burst_beat + 1))
        command_ends = step & last & (runs_left == 1)
        next_run = step & last & (runs_left != 1)
        load_command = queue.r_rdy & (~valid | command_ends)
        m.d.comb += queue.r_en.eq(load_command)
        with m.If(command_ends):
            m.d.sync += valid.eq(0)
        with m.If(next_run):
            m.d.sync += runs_left.eq(runs_left - 1)

        # The run to start: the next one of this command, or the first of the queued command.
        new_page = Signal(PAGE_BITS)
        new_chip = Signal(p.chip_address_width)
        new_tail = Signal(shift)
        new_last_index = Signal.like(last_index)
        last_byte = head.run_bytes - 1
        m.d.comb += [
            new_page.eq(Mux(load_command, head.page_offset, run_page + page_stride)),
            new_chip.eq(Mux(load_command, head.chip_addr, next_chip)),
            new_tail.eq(Mux(load_command, last_byte[:shift], tail)),
            new_last_index.eq(Mux(load_command, last_byte[shift:], last_index)),
        ]
        with m.If(next_run | load_command):
            m.d.sync += [
                run_page.eq(new_page),
                run_chip.eq(new_chip),
                word.eq(new_chip[shift:]),
                left.eq(new_last_index + spans_extra_beat(new_page[:shift], new_tail)),
                first.eq(1),
                page_word.eq(new_page[shift:]),
            ]
            if page_words > axi.MAX_BURST_BEATS:
                m.d.sync += burst_beat.eq(0)
        with m.If(load_command):
            m.d.sync += [
                valid.eq(1),
                runs_left.eq(head.runs),
                tail.eq(new_tail),
                last_index.eq(new_last_index),
                page_stride.eq(head.page_stride),
                chip_stride.eq(head.chip_stride),
                target.eq(head.target),
            ]
        return m


class _DmaEngine(wiring.Component):
    """What both engines share: the command port, completion, error reporting and the
    address side (:class:`BurstIssuer`) and beat walk (:class:`BeatWalker`) of a command."""

    #: Commands taken and not yet completed (``done`` not yet pulsed) that ``cmd`` admits.
    COMMANDS = 4
    #: Edges from a command's handshake to its first address handshake (memory ready, the
    #: previous command's bursts issued before, ``hold`` low).
    ISSUE_CYCLES: int
    #: Edges from the last response handshake of a command to its ``done`` pulse.
    DONE_CYCLES: int

    def __init__(self, params: DmaParams, members: dict) -> None:
        self.params = params
        super().__init__(
            {
                "cmd": In(stream.Signature(command_layout(params))),
                **members,
                "done": Out(1),
                "done_target": Out(params.target_width),
                "error": Out(2),
                "clear": In(1),
                "hold": In(1),
                "pending": Out(1),
            }
        )

    def _front(self, m: Module, channel: str) -> BeatWalker:
        """The issuer (on this engine's ``m_axi`` address channel, with ``hold`` and ``pending``)
        and the walker, both fed by ``cmd``; returns the walker."""
        delay = self.ISSUE_CYCLES - BurstIssuer.CYCLES
        m.submodules.issuer = issuer = BurstIssuer(self.params, channel, delay)
        # At most COMMANDS commands are in flight, so a queue of COMMANDS never refuses one.
        m.submodules.walker = walker = BeatWalker(self.params, self.COMMANDS)
        wiring.connect(m, axi.subset(wiring.flipped(self.m_axi), issuer.m_axi.signature), issuer.m_axi)

        in_flight = Signal(range(self.COMMANDS + 1))
        cmd = self.cmd.payload
        m.d.comb += self.cmd.ready.eq(issuer.cmd.ready & walker.cmd.ready & (in_flight < self.COMMANDS))
        taken = self.cmd.valid & self.cmd.ready
        m.d.comb += [
            issuer.cmd.valid.eq(taken),
            issuer.cmd.payload.addr.eq(cmd.dram_addr),
            issuer.cmd.payload.stride.eq(cmd.dram_stride),
            issuer.cmd.payload.nbytes.eq(cmd.run_bytes),
            issuer.cmd.payload.runs.eq(cmd.runs),
            walker.cmd.valid.eq(taken),
            walker.cmd.payload.eq(cmd),
            issuer.hold.eq(self.hold),
            self.pending.eq(issuer.pending),
        ]
        m.d.sync += in_flight.eq(in_flight + taken - self.done)
        return walker

    def _record_errors(self, m: Module, response: Value, resp: Value) -> None:
        """Keep the first non-OKAY ``resp`` of a ``response`` handshake in ``error`` until ``clear``."""
        with m.If(self.clear):
            m.d.sync += self.error.eq(axi.RESP_OKAY)
        with m.If(response & (resp != axi.RESP_OKAY) & ((self.error == axi.RESP_OKAY) | self.clear)):
            m.d.sync += self.error.eq(resp)


class DmaReader(_DmaEngine):
    """DRAM -> chip: the AR and R channels of AXI4 (``m_axi``) and the on-chip write port ``wr``.

    Byte ``i`` of run ``r`` is written to on-chip byte ``chip_addr + r * chip_stride + i``; the
    other bytes of a written word have ``strb`` 0. A word is written once the last of its bytes
    has arrived, with those of the command's next run if that run starts in it: for a command
    that :func:`keeps_pace`, one or two cycles after the R handshake of that byte's beat.
    ``RREADY`` is always high.

    Ports: ``cmd`` (:func:`command_layout` stream), ``m_axi`` (:class:`rtl.hw.axi.AXI4ReadSignature`),
    ``wr`` (:func:`chip_write_signature`), ``done`` / ``done_target``, ``error`` (2 bits),
    ``clear``, ``hold`` and ``pending``.
    """

    ISSUE_CYCLES = BurstIssuer.CYCLES
    #: The R beat is registered with the write it completes (one edge); a run whose last beat
    #: completes two words leaves the second for the next cycle (the second edge).
    DONE_CYCLES = 2

    def __init__(self, params: DmaParams = DmaParams()) -> None:
        bus = axi.AXI4ReadSignature(params.address_width, params.data_width, params.id_width)
        super().__init__(params, {"m_axi": Out(bus), "wr": Out(chip_write_signature(params))})

    def elaborate(self, platform):
        m = Module()
        lanes = self.params.bus_bytes
        walker = self._front(m, "ar")
        bus, beat = self.m_axi, walker.beat.payload
        m.d.comb += [bus.rready.eq(1), walker.beat.ready.eq(bus.rvalid)]  # RREADY is always high
        received = walker.beat.valid & bus.rvalid  # a beat the walker expects
        self._record_errors(m, received, bus.rresp)

        # Rotated by the run's rotation, each byte of the beat is in its on-chip lane. `held`
        # keeps the bytes of the word of the beat's last byte while the next beat continues it.
        rotated = rotate_bytes(m, bus.rdata, beat.rotation, right=True)
        held, merged = Signal(self.params.data_width), Signal(self.params.data_width)
        held_strobes, low, high = Signal(lanes), Signal(lanes), Signal(lanes)
        m.d.comb += [
            low.eq(lane_mask(lanes, lambda j: (beat.start <= j) & (beat.spans | (j <= beat.end)))),
            high.eq(lane_mask(lanes, lambda j: j <= beat.end)),  # lanes of word + 1 if the beat spans
            merged.eq(merge_lanes(lanes, lambda j: low[j], rotated, held)),
        ]
        with m.If(received):
            m.d.sync += [
                held.eq(Mux(beat.spans, rotated, merged)),
                held_strobes.eq(Mux(beat.continues, Mux(beat.spans, high, held_strobes | low), 0)),
            ]
        # The beat completes its first word if its bytes go on into the next word or the next
        # beat does not continue that word, and then the next word too if it does not continue it.
        words = [
            (received & (beat.spans | ~beat.continues), beat.word, merged, held_strobes | low),
            (received & beat.spans & ~beat.continues, beat.word + 1, rotated, high),
        ]

        # A beat completes at most two words but the port takes one per cycle: the second waits
        # in `pending` and goes out first next cycle. For a command that keeps_pace() accepts,
        # a beat that completes none frees it before the next two-word beat.
        pending = chip_write_signature(self.params).create(path=("pending",))
        completed = [(pending.valid, pending.addr, pending.data, pending.strb, pending.target)]
        completed += [(valid, addr, value, strb, beat.target) for valid, addr, value, strb in words]

        def put(port, word):
            _, addr, value, strb, target = word
            return [port.valid.eq(1), port.addr.eq(addr), port.data.eq(value), port.strb.eq(strb),
                    port.target.eq(target)]  # fmt: skip

        # The port takes the first completed word in the order pending, `words`; `pending` the second.
        m.d.sync += [self.wr.valid.eq(0), pending.valid.eq(0)]
        for i, word in enumerate(completed):
            with (m.If if i == 0 else m.Elif)(word[0]):
                m.d.sync += put(self.wr, word)
                for j, later in enumerate(completed[i + 1 :]):
                    with (m.If if j == 0 else m.Elif)(later[0]):
                        m.d.sync += put(pending, later)

        finished, finished_target = Signal(), Signal(self.params.target_width)
        m.d.sync += [
            finished.eq(received & beat.cmd_last),
            finished_target.eq(beat.target),
            self.done.eq(finished),
            self.done_target.eq(finished_target),
        ]
        return m


class DmaWriter(_DmaEngine):
    """Chip -> DRAM: the AW, W and B channels of AXI4 (``m_axi``) and the on-chip read port ``rd``.

    Byte ``i`` of run ``r`` is read from on-chip byte ``chip_addr + r * chip_stride + i`` and
    written to DRAM byte ``dram_addr + r * dram_stride + i``; ``WSTRB`` covers exactly the run's
    bytes, so no other DRAM byte is written. Beats are read ahead from the on-chip memory, one
    word per cycle: with ``WREADY`` high the W channel carries a beat every cycle across runs,
    bursts and commands that :func:`keeps_pace` accepts (a beat that needs two words not yet
    read waits a cycle for the first). A command that starts mid-word in the on-chip word the
    command before it ended in takes that word as read then: the memory must not change it in
    between (the output rows of a tile's segment continue so in its staging bank). A command
    taken at edge ``h`` has its first beat offered from cycle ``h + ISSUE_CYCLES + 1`` or right
    after the previous command's last beat, so by the cycle after its first AW handshake;
    ``hold`` may delay that AW past its data (AXI allows W before AW). ``BREADY`` is always high.

    Ports: ``cmd`` (:func:`command_layout` stream), ``m_axi`` (:class:`rtl.hw.axi.AXI4WriteSignature`),
    ``rd`` (:func:`chip_read_signature`), ``done`` / ``done_target``, ``error`` (2 bits),
    ``clear``, ``hold`` and ``pending``.
    """

    #: The walker presents beat 0 one edge after the handshake, the memory samples its read at
    #: the next and the beat enters the W queue at the one after, so WVALID is sampled high from
    #: edge h + 4: the first AW is held back one edge beyond the issuer's own two.
    ISSUE_CYCLES = 3
    #: ``done`` is registered from the B handshake of the command's last burst.
    DONE_CYCLES = 1
    #: Beats read and not yet sent that the W queue admits. A read issued in cycle t is offered
    #: on W from cycle t + 2: two beats in the read pipeline and one offered keep W busy every
    #: cycle without a path from WREADY to the read port.
    W_BEATS = 3

    def __init__(self, params: DmaParams = DmaParams()) -> None:
        bus = axi.AXI4WriteSignature(params.address_width, params.data_width, params.id_width)
        super().__init__(params, {"m_axi": Out(bus), "rd": Out(chip_read_signature(params))})

    def elaborate(self, platform):
        m = Module()
        p = self.params
        lanes = p.bus_bytes
        shift = exact_log2(lanes)
        walker = self._front(m, "aw")
        bus, beat = self.m_axi, walker.beat.payload

        # Read ahead, at most W_BEATS beats beyond the W handshake. A beat needs the word of its
        # first byte, unless the previous beat `continues` it or it is a command's first beat
        # that starts mid-word in the word the previous command ended in (`carried`): it is then
        # the last word read. It needs the next word too if it `spans`: one read with the beat,
        # or the first word alone in the cycle before if it needs both.
        outstanding = Signal(range(self.W_BEATS + 1))
        have_first = Signal()  # the previous beat continues in the beat's first word
        command_first = Signal(init=1)  # the beat is its command's first
        last_word, last_target, any_read = Signal(p.word_address_width), Signal(p.target_width), Signal()
        carried = (command_first & any_read & (beat.start != 0) & (beat.word == last_word)
                   & (beat.target == last_target))  # fmt: skip
        have = have_first | carried  # the beat's first word is the last word read
        sent = bus.wvalid & bus.wready
        room = outstanding < self.W_BEATS
        split = ~have & beat.spans
        step = walker.beat.valid & room
        issue = step & ~split
        m.d.comb += [
            walker.beat.ready.eq(room & ~split),
            self.rd.en.eq(step & (~have | beat.spans)),
            self.rd.addr.eq(beat.word + have),
            self.rd.target.eq(beat.target),
        ]
        with m.If(issue):
            m.d.sync += [have_first.eq(beat.continues), command_first.eq(beat.cmd_last)]
        with m.Elif(step):
            m.d.sync += have_first.eq(1)
        with m.If(self.rd.en):
            m.d.sync += [last_word.eq(self.rd.addr), last_target.eq(beat.target), any_read.eq(1)]
        m.d.sync += outstanding.eq(outstanding + issue - sent)

        # WSTRB: the DRAM lanes of the beat's first and last run bytes, and those between.
        first_lane, last_lane = Signal(shift), Signal(shift)
        m.d.comb += [first_lane.eq(beat.start + beat.rotation), last_lane.eq(beat.end + beat.rotation)]
        strobes = lane_mask(lanes, lambda j: (first_lane <= j) & (j <= last_lane))
        reading, read_word = Signal(), Signal()
        read_rotation, read_start, read_spans = Signal(shift), Signal(shift), Signal()
        read_strobes, read_last, read_cmd_last, read_target = Signal(lanes), Signal(), Signal(), Signal(p.target_width)
        m.d.sync += [
            reading.eq(issue),
            read_word.eq(self.rd.en),
            read_rotation.eq(beat.rotation),
            read_start.eq(beat.start),
            read_spans.eq(beat.spans),
            read_strobes.eq(strobes),
            read_last.eq(beat.burst_last),
            read_cmd_last.eq(beat.cmd_last),
            read_target.eq(beat.target),
        ]
        # The beat's bytes in their on-chip lanes: from the last word read (`latest`) and, in
        # lanes start .. W - 1 of a beat that spans, the word read before (`kept`); rotated
        # into their DRAM lanes.
        kept, latest = Signal(p.data_width), Signal(p.data_width)
        m.d.comb += latest.eq(Mux(read_word, self.rd.data, kept))
        with m.If(read_word):
            m.d.sync += kept.eq(self.rd.data)
        chip_bytes = merge_lanes(lanes, lambda j: read_spans & (read_start <= j), kept, latest)
        beat_data = rotate_bytes(m, chip_bytes, read_rotation, right=False)
        w_entry = data.StructLayout(
            {"data": p.data_width, "strb": lanes, "last": 1, "cmd_last": 1, "target": p.target_width}
        )
        m.submodules.w_queue = w_queue = RegisterQueue(width=w_entry.size, depth=self.W_BEATS)
        pushed, head = w_entry(w_queue.w_data), w_entry(w_queue.r_data)
        m.d.comb += [
            w_queue.w_en.eq(reading),
            pushed.data.eq(beat_data),
            pushed.strb.eq(read_strobes),
            pushed.last.eq(read_last),
            pushed.cmd_last.eq(read_cmd_last),
            pushed.target.eq(read_target),
            bus.wvalid.eq(w_queue.r_rdy),
            bus.wdata.eq(head.data),
            bus.wstrb.eq(head.strb),
            bus.wlast.eq(head.last),
            w_queue.r_en.eq(bus.wready),
        ]

        # Completion: the bursts of a command are counted as their last W beats go out; B
        # responses come back in order, each after its burst's last W beat. The queue holds the
        # counts of commands in flight, at most COMMANDS.
        max_bursts = (2**p.runs_width - 1) * p.max_run_beats
        counted = data.StructLayout({"bursts": range(max_bursts + 1), "target": p.target_width})
        m.submodules.b_queue = b_queue = RegisterQueue(width=counted.size, depth=self.COMMANDS)
        written = Signal(range(max_bursts + 1))  # bursts of the sending command whose W beats are all sent
        burst_written = sent & head.last
        with m.If(burst_written):
            m.d.sync += written.eq(Mux(head.cmd_last, 0, written + 1))
        queued, oldest = counted(b_queue.w_data), counted(b_queue.r_data)
        m.d.comb += [
            b_queue.w_en.eq(burst_written & head.cmd_last),
            queued.bursts.eq(written + 1),
            queued.target.eq(head.target),
        ]

        responded = bus.bvalid  # BREADY is always high
        m.d.comb += bus.bready.eq(1)
        self._record_errors(m, responded, bus.bresp)
        acknowledged = Signal(range(max_bursts + 1))  # B responses of the oldest command so far
        closes = responded & b_queue.r_rdy & (acknowledged + 1 == oldest.bursts)
        with m.If(responded):
            m.d.sync += acknowledged.eq(Mux(closes, 0, acknowledged + 1))
        m.d.comb += b_queue.r_en.eq(closes)
        m.d.sync += [self.done.eq(closes), self.done_target.eq(oldest.target)]
        return m


def handed_layout(params: DmaParams) -> data.StructLayout:
    """A command with the engine it goes to: ``write`` 0 the reader, 1 the writer."""
    return data.StructLayout({"command": command_layout(params), "write": 1})


class DmaPair(wiring.Component):
    """Both DMA engines on one ``m_axi`` port, fed in order from one command stream.

    The command processor's hand-over: each command of ``cmd`` goes to the reader
    (``write`` 0) or the writer (``write`` 1) in stream order, and the engines' ``hold`` inputs keep
    the memory's requests in that order with no gap:

    - a command handed to one engine while the other is ``pending`` marks the first engine as
      *behind* it; an engine behind the other has ``hold = other.pending``; the mark is dropped in
      a cycle in which the other engine is not ``pending``;
    - a command for an engine that another engine is behind waits until that engine is not
      ``pending`` (its ``pending`` would otherwise extend the other's hold, and the new command
      would have to be held by the other: neither would issue).

    Ports: ``cmd`` (stream of ``{"command": command_layout, "write": 1}``), ``m_axi``
    (:class:`rtl.hw.axi.AXI4Signature`), ``wr`` and ``rd`` (the engines' on-chip ports),
    ``reader_done`` (with ``reader_target``, the done command's target) and ``writer_done``,
    ``reader_error`` / ``writer_error`` (the engines' ``error``) and ``clear`` (to both).
    """

    def __init__(self, params: DmaParams) -> None:
        self.params = params
        handed = handed_layout(params)
        bus = axi.AXI4Signature(params.address_width, params.data_width, params.id_width)
        super().__init__(
            {
                "cmd": In(stream.Signature(handed)),
                "m_axi": Out(bus),
                "wr": Out(chip_write_signature(params)),
                "rd": Out(chip_read_signature(params)),
                "reader_done": Out(1),
                "reader_target": Out(params.target_width),
                "writer_done": Out(1),
                "reader_error": Out(2),
                "writer_error": Out(2),
                "clear": In(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = DmaReader(self.params)
        m.submodules.writer = writer = DmaWriter(self.params)
        bus = wiring.flipped(self.m_axi)
        wiring.connect(m, axi.subset(bus, reader.m_axi.signature), reader.m_axi)
        wiring.connect(m, axi.subset(bus, writer.m_axi.signature), writer.m_axi)
        wiring.connect(m, wiring.flipped(self.wr), reader.wr)
        wiring.connect(m, wiring.flipped(self.rd), writer.rd)
        m.d.comb += [
            self.reader_done.eq(reader.done),
            self.reader_target.eq(reader.done_target),
            self.writer_done.eq(writer.done),
            self.reader_error.eq(reader.error),
            self.writer_error.eq(writer.error),
            reader.clear.eq(self.clear),
            writer.clear.eq(self.clear),
        ]

        reader_behind, writer_behind = Signal(), Signal()  # waits for the other engine's pending
        write = self.cmd.payload.write
        other_behind = Mux(write, reader_behind, writer_behind)
        blocked = other_behind & Mux(write, writer.pending, reader.pending)
        for engine, mine in ((reader, ~write), (writer, write)):
            m.d.comb += [
                engine.cmd.valid.eq(self.cmd.valid & mine & ~blocked),
                engine.cmd.payload.eq(self.cmd.payload.command),
            ]
        m.d.comb += self.cmd.ready.eq(Mux(write, writer.cmd.ready, reader.cmd.ready) & ~blocked)
        m.d.comb += [reader.hold.eq(reader_behind & writer.pending), writer.hold.eq(writer_behind & reader.pending)]

        with m.If(~writer.pending):
            m.d.sync += reader_behind.eq(0)
        with m.If(~reader.pending):
            m.d.sync += writer_behind.eq(0)
        with m.If(self.cmd.valid & self.cmd.ready):
            with m.If(write):
                m.d.sync += writer_behind.eq(reader.pending)
            with m.Else():
                m.d.sync += reader_behind.eq(writer.pending)
        return m
