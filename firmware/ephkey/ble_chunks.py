"""BLE chunks of docs/link.md section 5: the link byte stream in ATT-sized pieces.

A chunk is one ATT write or notification: ``seq`` (this direction's data
chunk counter, mod 256), ``ack`` (the number, mod 256, of the peer's data
chunks this side has taken in: the ``seq`` it expects next), then up to
MTU - 5 bytes of the link stream (ephkey.link). A chunk of the two header
bytes alone carries only ``ack``.

Flow control: a sender keeps at most ``WINDOW`` data chunks that the peer
has not acknowledged. aioble queues what arrives before the application
takes it (a client keeps one notification, the server's capture queue ten
writes, new ones pushing out old ones), so a sender that does not wait for
acknowledgements loses chunks whenever the receiver is busy.

The receiver drops a repeated chunk and, on a gap, resets the link receiver
so the frame that lost bytes is discarded instead of delivered damaged.

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
WINDOW = const(4)  # data chunks a sender may have unacknowledged
HEADER = const(2)  # seq, ack

_ATT_OVERHEAD = const(3)  # opcode + handle of a write or notification
_MASK = const(0x3FFFFFFF)  # counters wrap at 2**30


def ack_of(chunk: ReadableBuffer, n: int = -1) -> int:
    """The chunk's ``ack`` field, or -1 if it is shorter than the header."""
    if n < 0:
        n = len(chunk)
    return chunk[1] if n >= HEADER else -1


class ChunkTx:
    """Cuts the sender's link stream into chunks of at most MTU - 3 bytes and
    keeps count of what the peer acknowledged."""

    def __init__(self, mtu: int = MTU_MIN, max_mtu: int = MTU_MAX,
                 window: int = WINDOW) -> None:
        if max_mtu < MTU_MIN:
            raise ValueError("max_mtu")
        if not 1 <= window <= 128:
            raise ValueError("window")
        self.max_mtu = max_mtu
        self.window = window
        self.chunk = bytearray(max_mtu - _ATT_OVERHEAD)
        self.chunk[:] = b""  # length 0, storage kept for the largest chunk
        self.seq = 0  # counter of the next data chunk
        self.acked = 0  # the peer's last valid ack: data chunks it took in
        self.bad_acks = 0
        self.mtu = MTU_MIN
        self._room = MTU_MIN - _ATT_OVERHEAD - HEADER
        self.set_mtu(mtu)

    def set_mtu(self, mtu: int) -> None:
        """Use the ATT MTU negotiated for the connection (capped at max_mtu)."""
        if mtu < MTU_MIN:
            raise ValueError("mtu")
        if mtu > self.max_mtu:
            mtu = self.max_mtu
        self.mtu = mtu
        self._room = mtu - _ATT_OVERHEAD - HEADER

    def reset(self) -> None:
        """A new connection: the counters start again at 0."""
        self.seq = 0
        self.acked = 0

    def in_flight(self) -> int:
        """Data chunks sent and not yet acknowledged."""
        return (self.seq - self.acked) & 0xFF

    def can_send(self) -> bool:
        return self.in_flight() < self.window

    def on_ack(self, ack: int) -> bool:
        """The peer's ack field: True if it acknowledged something new.

        An ack outside [acked, seq] (mod 256) acknowledges chunks never sent:
        counted in ``bad_acks`` and ignored.
        """
        if ack < 0:
            return False
        new = (self.seq - ack) & 0xFF
        if new > self.in_flight():
            self.bad_acks = (self.bad_acks + 1) & _MASK
            return False
        if ack == self.acked:
            return False
        self.acked = ack
        return True

    def fill(self, src: ReadableBuffer, start: int, end: int = -1, ack: int = 0) -> int:
        """Make the next data chunk from src[start:end] into self.chunk (exact length).

        Returns the index of the first byte of src not yet sent; send while
        it is below end. The caller checks ``can_send()`` first.
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
        chunk.append(ack & 0xFF)
        self.seq = (self.seq + 1) & 0xFF
        for i in range(start, stop):
            chunk.append(src[i])
        return stop

    def ack_only(self, ack: int) -> None:
        """Make a chunk that only acknowledges (header alone; seq not consumed)."""
        chunk = self.chunk
        chunk[:] = b""
        chunk.append(self.seq)
        chunk.append(ack & 0xFF)


class ChunkRx:
    """Checks data chunk counters; hands the stream bytes to a link receiver.

    ``ack`` is the value this side sends back: the seq of the next data
    chunk it expects, i.e. how many it has taken in (mod 256).
    """

    def __init__(self, link_rx: LinkRx) -> None:
        self._rx = link_rx
        self.ack = 0
        self._started = False
        self.chunks = 0
        self.acks = 0
        self.duplicates = 0
        self.gaps = 0
        self.lost = 0
        self.empty = 0

    def reset(self) -> None:
        """A new connection: expect counter 0, drop any partial frame."""
        self.ack = 0
        self._started = False
        self._rx.reset()

    def accept(self, chunk: ReadableBuffer, n: int = -1) -> int:
        """Check chunk[0:n] (all of it when n < 0).

        Returns the index where its stream bytes start (2): feed chunk[2:n]
        to the link receiver. Returns -1 when there is nothing to feed: a
        chunk shorter than the header (``empty``), an acknowledgement alone
        (``acks``; read its ack with ack_of), a duplicate of the last data
        chunk. On a gap the link receiver is reset first, then the chunk is
        accepted.
        """
        if n < 0:
            n = len(chunk)
        if n < HEADER:
            self.empty = (self.empty + 1) & _MASK
            return -1
        if n == HEADER:
            self.acks = (self.acks + 1) & _MASK
            return -1
        seq = chunk[0]
        expected = self.ack
        if seq != expected:
            if self._started and seq == ((expected - 1) & 0xFF):
                self.duplicates = (self.duplicates + 1) & _MASK
                return -1
            self.gaps = (self.gaps + 1) & _MASK
            self.lost = (self.lost + ((seq - expected) & 0xFF)) & _MASK
            self._rx.reset()
        self.ack = (seq + 1) & 0xFF
        self._started = True
        self.chunks = (self.chunks + 1) & _MASK
        return HEADER
