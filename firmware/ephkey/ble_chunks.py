"""BLE chunks of docs/link.md section 5: the link byte stream in ATT-sized pieces.

A chunk is one ATT write or notification: a 1-byte counter (per direction,
mod 256) and then up to MTU - 4 bytes of the link stream (ephkey.link). The
receiver drops a repeated chunk and, on a gap, resets the link receiver so
the frame that lost bytes is discarded instead of delivered damaged.

No allocation per chunk: ``ChunkTx.chunk`` is allocated once for the largest
MTU and resized in place (see ephkey.link); chunk bytes are copied one by one
because a slice of the source would be a new object.
"""

from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from circuitpython_typing import ReadableBuffer

    from ephkey.link import LinkRx

MTU_MIN = const(23)  # the ATT MTU before any negotiation
MTU_MAX = const(247)  # the largest MTU used here: one LE data-length-extended packet

_ATT_OVERHEAD = const(3)  # opcode + handle of a write or notification
_HDR = const(1)  # the chunk counter
_MASK = const(0x3FFFFFFF)  # counters wrap at 2**30


class ChunkTx:
    """Cuts the sender's link stream into chunks of at most MTU - 3 bytes."""

    def __init__(self, mtu: int = MTU_MIN, max_mtu: int = MTU_MAX) -> None:
        if max_mtu < MTU_MIN:
            raise ValueError("max_mtu")
        self.max_mtu = max_mtu
        self.chunk = bytearray(max_mtu - _ATT_OVERHEAD)
        self.chunk[:] = b""  # length 0, storage kept for the largest chunk
        self.seq = 0  # counter of the next chunk
        self.mtu = MTU_MIN
        self._room = MTU_MIN - _ATT_OVERHEAD - _HDR
        self.set_mtu(mtu)

    def set_mtu(self, mtu: int) -> None:
        """Use the ATT MTU negotiated for the connection (capped at max_mtu)."""
        if mtu < MTU_MIN:
            raise ValueError("mtu")
        if mtu > self.max_mtu:
            mtu = self.max_mtu
        self.mtu = mtu
        self._room = mtu - _ATT_OVERHEAD - _HDR

    def reset(self) -> None:
        """A new connection: the counter starts again at 0."""
        self.seq = 0

    def fill(self, src: ReadableBuffer, start: int, end: int = -1) -> int:
        """Make the next chunk from src[start:end] into self.chunk (exact length).

        Returns the index of the first byte of src not yet sent; send while
        it is below end.
        """
        if end < 0:
            end = len(src)
        if start >= end:
            raise ValueError("no data")
        stop = start + self._room
        if stop > end:
            stop = end
        chunk = self.chunk
        chunk[:] = b""
        chunk.append(self.seq)
        self.seq = (self.seq + 1) & 0xFF
        for i in range(start, stop):
            chunk.append(src[i])
        return stop


class ChunkRx:
    """Checks chunk counters; hands the stream bytes to a link receiver."""

    def __init__(self, link_rx: LinkRx) -> None:
        self._rx = link_rx
        self._expected = 0
        self._started = False
        self.chunks = 0
        self.duplicates = 0
        self.gaps = 0
        self.lost = 0
        self.empty = 0

    def reset(self) -> None:
        """A new connection: expect counter 0, drop any partial frame."""
        self._expected = 0
        self._started = False
        self._rx.reset()

    def accept(self, chunk: ReadableBuffer, n: int = -1) -> int:
        """Check chunk[0:n] (all of it when n < 0).

        Returns the index where its stream bytes start (1): feed
        chunk[1:n] to the link receiver. Returns -1 when the chunk is dropped
        (empty, or a duplicate of the last one). On a gap the link receiver
        is reset first, then the chunk is accepted.
        """
        if n < 0:
            n = len(chunk)
        if n == 0:
            self.empty = (self.empty + 1) & _MASK
            return -1
        seq = chunk[0]
        expected = self._expected
        if seq != expected:
            if self._started and seq == ((expected - 1) & 0xFF):
                self.duplicates = (self.duplicates + 1) & _MASK
                return -1
            self.gaps = (self.gaps + 1) & _MASK
            self.lost = (self.lost + ((seq - expected) & 0xFF)) & _MASK
            self._rx.reset()
        self._expected = (seq + 1) & 0xFF
        self._started = True
        self.chunks = (self.chunks + 1) & _MASK
        return _HDR
