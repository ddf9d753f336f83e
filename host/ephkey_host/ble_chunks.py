"""BLE chunks of docs/link.md section 5, for the host (a bleak central).

Each ATT write or notification carries one chunk: a 1-byte counter (per
direction, mod 256) and up to ATT_MTU - 4 bytes of the link byte stream
(ephkey_host.link). The receiver drops a repeated chunk and, on a gap, resets
the link decoder so that the frame that lost bytes is never delivered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ephkey_host.link import COUNTER_MODULUS, LinkDecoder

ATT_MTU_MIN = 23  # the ATT MTU before any negotiation
ATT_MTU_MAX = 247  # the largest MTU used: one LE data-length-extended packet
ATT_OVERHEAD = 3  # opcode + attribute handle
HEADER_LEN = 1  # the chunk counter
SEQ_MODULUS = 256


class ChunkSender:
    """Cuts the link stream into chunks (docs/link.md 5.2)."""

    def __init__(self, mtu: int = ATT_MTU_MIN, max_mtu: int = ATT_MTU_MAX) -> None:
        if max_mtu < ATT_MTU_MIN:
            raise ValueError(f"max_mtu {max_mtu} is below {ATT_MTU_MIN}")
        self.max_mtu = max_mtu
        self._mtu = ATT_MTU_MIN
        self.mtu = mtu
        self.seq = 0  # counter of the next chunk

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

    def split(self, stream: bytes) -> list[bytes]:
        """The chunks that carry `stream` (one or more whole wire forms)."""
        step = self.data_per_chunk
        chunks = []
        for offset in range(0, len(stream), step):
            chunks.append(bytes([self.seq]) + bytes(stream[offset : offset + step]))
            self.seq = (self.seq + 1) % SEQ_MODULUS
        return chunks


@dataclass
class ChunkCounters:
    """docs/link.md 5.3; every counter wraps at 2**30."""

    chunks: int = 0
    duplicates: int = 0
    gaps: int = 0
    lost: int = 0
    empty: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ChunkReceiver:
    """Checks chunk counters and feeds the link decoder (docs/link.md 5.3)."""

    def __init__(self, decoder: LinkDecoder) -> None:
        self.decoder = decoder
        self.counters = ChunkCounters()
        self._expected = 0
        self._started = False

    def reset(self) -> None:
        """A new connection: expect counter 0, drop any partial frame."""
        self._expected = 0
        self._started = False
        self.decoder.reset()

    def _count(self, name: str, k: int = 1) -> None:
        setattr(self.counters, name, (getattr(self.counters, name) + k) % COUNTER_MODULUS)

    def feed(self, chunk: bytes) -> list[bytes]:
        """One received write or notification; returns the frames it completed."""
        if not chunk:
            self._count("empty")
            return []
        seq = chunk[0]
        ahead = (seq - self._expected) % SEQ_MODULUS
        if ahead == SEQ_MODULUS - 1 and self._started:
            self._count("duplicates")
            return []
        if ahead:
            self._count("gaps")
            self._count("lost", ahead)
            self.decoder.reset()
        self._expected = (seq + 1) % SEQ_MODULUS
        self._started = True
        self._count("chunks")
        return self.decoder.feed(chunk[HEADER_LEN:])
