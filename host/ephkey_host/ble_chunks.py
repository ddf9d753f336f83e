"""BLE chunks of docs/link.md section 5, for the host (a bleak central).

Each ATT write or notification carries one chunk: ``seq`` (the data chunk
counter of its direction, mod 256), ``ack`` (how many of the other
direction's data chunks the sender has taken in, mod 256) and up to
ATT_MTU - 5 bytes of the link byte stream (ephkey_host.link). A chunk of the
two header bytes alone only acknowledges. A sender keeps at most WINDOW data
chunks unacknowledged (:class:`FlowSender`). The receiver drops a repeated
chunk and, on a gap, resets the link decoder so that the frame that lost
bytes is never delivered.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

from ephkey_host.link import COUNTER_MODULUS, LinkDecoder

ATT_MTU_MIN = 23  # the ATT MTU before any negotiation
ATT_MTU_MAX = 247  # the largest MTU used: one LE data-length-extended packet
ATT_OVERHEAD = 3  # opcode + attribute handle
HEADER_LEN = 2  # seq, ack
SEQ_MODULUS = 256
WINDOW = 4  # unacknowledged data chunks a sender may have


def ack_field(chunk: bytes) -> int | None:
    """The chunk's ack, or None when it is shorter than the header."""
    return chunk[1] if len(chunk) >= HEADER_LEN else None


class ChunkSender:
    """Cuts the link stream into chunks (docs/link.md 5.2)."""

    def __init__(self, mtu: int = ATT_MTU_MIN, max_mtu: int = ATT_MTU_MAX) -> None:
        if max_mtu < ATT_MTU_MIN:
            raise ValueError(f"max_mtu {max_mtu} is below {ATT_MTU_MIN}")
        self.max_mtu = max_mtu
        self._mtu = ATT_MTU_MIN
        self.mtu = mtu
        self.seq = 0  # counter of the next data chunk

    @property
    def mtu(self) -> int:
        return self._mtu

    @mtu.setter
    def mtu(self, value: int) -> None:
        """The negotiated ATT MTU; values above max_mtu are capped."""
        if value < ATT_MTU_MIN:
            raise ValueError(f"ATT MTU {value} is below {ATT_MTU_MIN}")
        self._mtu = min(value, self.max_mtu)

    @property
    def data_per_chunk(self) -> int:
        return self._mtu - ATT_OVERHEAD - HEADER_LEN

    def reset(self) -> None:
        """A new connection: counting starts again at 0."""
        self.seq = 0

    def cut(self, stream: bytes, offset: int, ack: int) -> tuple[bytes, int]:
        """One data chunk from stream[offset:]: (chunk, offset after it)."""
        end = min(offset + self.data_per_chunk, len(stream))
        if end <= offset:
            raise ValueError("no data left to send")
        chunk = bytes([self.seq, ack % SEQ_MODULUS]) + bytes(stream[offset:end])
        self.seq = (self.seq + 1) % SEQ_MODULUS
        return chunk, end

    def split(self, stream: bytes, ack: int = 0) -> list[bytes]:
        """Every chunk that carries ``stream`` (one or more whole wire forms)."""
        chunks = []
        offset = 0
        while offset < len(stream):
            chunk, offset = self.cut(stream, offset, ack)
            chunks.append(chunk)
        return chunks

    def ack_only(self, ack: int) -> bytes:
        """A chunk that only acknowledges: it does not use up a seq."""
        return bytes([self.seq, ack % SEQ_MODULUS])


class FlowSender:
    """A ChunkSender that holds data back while WINDOW chunks are unacknowledged.

    ``queue(stream)`` adds one send (a send never shares a chunk with the
    next); ``take(ack)`` returns the chunks the window lets out now, each
    stamped with the receiver's current ``ack``; ``on_ack`` takes the peer's
    ack field from any chunk it sent.
    """

    def __init__(self, mtu: int = ATT_MTU_MIN, max_mtu: int = ATT_MTU_MAX,
                 window: int = WINDOW) -> None:
        if not 1 <= window <= SEQ_MODULUS // 2:
            raise ValueError(f"window {window}")
        self.sender = ChunkSender(mtu, max_mtu)
        self.window = window
        self.acked = 0  # the peer's last valid ack
        self.bad_acks = 0
        self._sends: deque[tuple[bytes, int]] = deque()

    @property
    def in_flight(self) -> int:
        return (self.sender.seq - self.acked) % SEQ_MODULUS

    @property
    def pending(self) -> bool:
        return bool(self._sends)

    def reset(self) -> None:
        self.sender.reset()
        self.acked = 0
        self._sends.clear()

    def queue(self, stream: bytes) -> None:
        if stream:
            self._sends.append((bytes(stream), 0))

    def on_ack(self, ack: int | None) -> bool:
        """True when ``ack`` acknowledges chunks not acknowledged before."""
        if ack is None:
            return False
        outstanding = (self.sender.seq - ack) % SEQ_MODULUS
        if outstanding > self.in_flight:  # chunks never sent: ignore it
            self.bad_acks = (self.bad_acks + 1) % COUNTER_MODULUS
            return False
        moved = ack != self.acked
        self.acked = ack
        return moved

    def take(self, ack: int) -> list[bytes]:
        out = []
        while self._sends and self.in_flight < self.window:
            stream, offset = self._sends[0]
            chunk, offset = self.sender.cut(stream, offset, ack)
            out.append(chunk)
            if offset >= len(stream):
                self._sends.popleft()
            else:
                self._sends[0] = (stream, offset)
        return out


@dataclass
class ChunkCounters:
    """docs/link.md 5.3; every counter wraps at 2**30."""

    chunks: int = 0
    acks: int = 0
    duplicates: int = 0
    gaps: int = 0
    lost: int = 0
    empty: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ChunkReceiver:
    """Checks chunk counters and feeds the link decoder (docs/link.md 5.3).

    ``ack`` is what this side acknowledges: the seq of the next data chunk
    it expects.
    """

    def __init__(self, decoder: LinkDecoder) -> None:
        self.decoder = decoder
        self.counters = ChunkCounters()
        self.ack = 0
        self._started = False

    def reset(self) -> None:
        """A new connection: expect counter 0, drop any partial frame."""
        self.ack = 0
        self._started = False
        self.decoder.reset()

    def _count(self, name: str, k: int = 1) -> None:
        setattr(self.counters, name, (getattr(self.counters, name) + k) % COUNTER_MODULUS)

    def feed(self, chunk: bytes) -> list[bytes]:
        """One received write or notification; returns the frames it completed."""
        if len(chunk) < HEADER_LEN:
            self._count("empty")
            return []
        if len(chunk) == HEADER_LEN:
            self._count("acks")
            return []
        seq = chunk[0]
        ahead = (seq - self.ack) % SEQ_MODULUS
        if ahead == SEQ_MODULUS - 1 and self._started:
            self._count("duplicates")
            return []
        if ahead:
            self._count("gaps")
            self._count("lost", ahead)
            self.decoder.reset()
        self.ack = (seq + 1) % SEQ_MODULUS
        self._started = True
        self._count("chunks")
        return self.decoder.feed(chunk[HEADER_LEN:])
