"""Stream framing of docs/link.md: COBS, a CRC-32 and 0x00 delimiters.

On the wire one frame is ``00 || COBS(frame || crc32(frame), little-endian) || 00``.
`LinkTx` turns a frame into those bytes; `LinkRx` finds frames in a byte
stream that may lose, corrupt or insert bytes, and delivers only frames whose
CRC checks.

Nothing here allocates per byte, per frame or per chunk (docs/link.md 7.1):
buffers are made once by the constructors and every int stays a small int on
a 32-bit board (below 2**30), which a heap_lock() test on the 64-bit unix port
could not see by itself:

- the CRC (transmitter and receiver) is computed by the viper code of
  _crc.py, where the CRC is a machine word and never a Python int: the
  transmitter gets its 4 bytes written into its output buffer, the receiver
  a bool for "this packet's CRC is the residue";
- without a viper emitter, pure-Python twins take over: the transmitter
  computes the CRC in two 16-bit halves; the receiver calls
  ``binascii.crc32`` over the whole packet, whose residue for a good packet
  is 0x2144DF1C < 2**30, so a good frame never allocates, but a bad packet's
  CRC is a big int 3 times in 4 on a board: one small allocation per rejected
  segment, or a MemoryError when the heap is locked, which is caught and
  counted as the CRC error it is;
- counters wrap at 2**30.
"""

from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from circuitpython_typing import ReadableBuffer, WriteableBuffer

MAX_FRAME = const(276)  # 7 + 1 + 4 + max_payload (256) + 8: a full DATA frame

_CRC_LEN = const(4)
_MASK = const(0x3FFFFFFF)  # counters wrap at 2**30

# receiver states (docs/link.md 3.1)
_IDLE = const(0)  # between segments
_FRAME = const(1)  # decoding a segment
_SKIP = const(2)  # discarding up to the next delimiter

# The CRC's two functions: the viper code, or its Python twins (_crc_py.py)
# on a port without a native emitter.
_crc_into: Any
_residue_ok: Any
VIPER = False  # _crc.py loaded: this port has the viper emitter
if not TYPE_CHECKING:  # mypy's micropython stub types viper functions as NoReturn
    try:
        from ._crc import crc_into as _crc_into, residue_ok as _residue_ok

        VIPER = True
    except (ImportError, SyntaxError, ValueError):
        # SyntaxError: this port has no viper emitter; ValueError: an .mpy
        # built for another architecture. Only then do the Python twins ship
        # (tools/closure.py leaves them out of builds for an arch with viper).
        from ._crc_py import crc_into as _crc_into, residue_ok as _residue_ok


def wire_size(n: int) -> int:
    """The largest wire form of an n-byte frame (docs/link.md 2.3)."""
    return n + 7 + (n + 3) // 254


def encode_into(frame: ReadableBuffer, n: int, out: WriteableBuffer) -> int:
    """Write the wire form of frame[0:n] into out[0:L] and return L.

    The CRC is written first into the last 4 bytes of out (the COBS output
    never catches up with them before they are read), then one pass
    COBS-encodes the frame and those 4 bytes. out[L:] is left undefined.
    Canonical COBS: no code byte after a final block of 254 non-zero bytes.
    """
    if n < 0 or n > len(frame) or len(out) < wire_size(n):
        raise ValueError("frame length or buffer size")
    # When the COBS step reads CRC byte k, it has written at most up to
    # out[n + k + 2 + (n + k) // 254], below p + k + 1 >= wire_size(n) - 3 + k.
    out[0] = 0  # leading delimiter; first, so that a read-only out raises here:
    # viper would write into a bytes object as well
    p = len(out) - _CRC_LEN
    _crc_into(frame, n, out, p)
    cp = 1  # where the current block's code byte goes
    o = 2  # next free byte of out
    code = 1  # 1 + the number of bytes in the current block
    b = 0
    src = frame
    start = 0
    stop = n
    for _ in range(2):  # the frame, then its CRC
        for i in range(start, stop):
            b = src[i]
            if b:
                out[o] = b
                o += 1
                code += 1
                if code == 0xFF:
                    out[cp] = 0xFF
                    cp = o
                    o += 1
                    code = 1
            else:
                out[cp] = code
                cp = o
                o += 1
                code = 1
        src = out
        start = p
        stop = p + _CRC_LEN
    if code == 1 and b:
        o -= 1  # the packet ended with a full 0xFF block: no code byte follows
    else:
        out[cp] = code
    out[o] = 0  # trailing delimiter
    return o + 1


class LinkTx:
    """Owns the output buffer; turns one frame into its wire form."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        if max_frame < 0:
            raise ValueError("max_frame")
        self.max_frame = max_frame
        self.out = bytearray(wire_size(max_frame))

    def encode(self, frame: ReadableBuffer, n: int = -1) -> int:
        """Wire form of frame[0:n] (all of frame when n < 0) into self.out.

        Returns its length: send it with ``stream.write(tx.out, length)``.
        """
        if n < 0:
            n = len(frame)
        if n > self.max_frame:
            raise ValueError("frame longer than max_frame")
        return encode_into(frame, n, self.out)


class LinkRx:
    """The streaming receiver of docs/link.md section 3.

    ``feed`` decodes COBS on the fly into ``frame``, a bytearray allocated
    once with room for max_frame + 4 bytes and resized in place (emptied with
    ``frame[:] = b""``, refilled with ``append``: neither reallocates), so
    that ``frame`` always has the exact length of what it holds.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        if max_frame < 0:
            raise ValueError("max_frame")
        self.max_frame = max_frame
        self._cap = max_frame + _CRC_LEN
        self.frame = bytearray(self._cap)
        self.frame[:] = b""  # length 0, storage kept
        self._one = bytearray(1)
        self._state = _IDLE
        self._seg = 0  # wire bytes of the segment being decoded
        self._left = 0  # data bytes still due in the current COBS block
        self._code = 0  # code byte of the current block
        self.frames_ok = 0
        self.crc_errors = 0
        self.too_long = 0
        self.cobs_errors = 0
        self.runts = 0
        self.discarded = 0

    def feed(self, buf: ReadableBuffer, start: int = 0, end: int = -1) -> int:
        """Feed buf[start:end] (to the end of buf when end < 0).

        Returns the index just after the delimiter that completed a frame, the
        frame being then in ``self.frame`` (valid until the next call), or -1
        once every byte was consumed without completing one. Call again from
        the returned index for the rest of buf.
        """
        if end < 0:
            end = len(buf)
        frame = self.frame
        cap = self._cap
        state = self._state
        seg = self._seg
        left = self._left
        code = self._code
        i = start
        while i < end:
            b = buf[i]
            i += 1
            if state == _FRAME:
                if b == 0:
                    state = _IDLE
                    if self._end(seg, left):
                        self._state = _IDLE
                        return i
                    continue
                seg += 1
                if left:
                    left -= 1
                    v = b
                elif code == 0xFF:  # a full block implies no 0x00
                    code = b
                    left = b - 1
                    continue
                else:  # the block before ended with a 0x00
                    code = b
                    left = b - 1
                    v = 0
                if len(frame) < cap:
                    frame.append(v)
                else:
                    self.too_long = (self.too_long + 1) & _MASK
                    self.discarded = (self.discarded + seg) & _MASK
                    state = _SKIP
            elif b == 0:
                state = _IDLE
            elif state == _SKIP:
                self.discarded = (self.discarded + 1) & _MASK
            else:  # IDLE: the first code byte of a segment
                frame[:] = b""
                seg = 1
                code = b
                left = b - 1
                state = _FRAME
        self._state = state
        self._seg = seg
        self._left = left
        self._code = code
        return -1

    def feed_byte(self, b: int) -> bool:
        """Feed one byte; True when it completed a frame (in self.frame)."""
        one = self._one
        one[0] = b
        return self.feed(one, 0, 1) >= 0

    def reset(self) -> None:
        """Bytes were lost: drop the frame in progress, skip to the next 0x00."""
        if self._state == _FRAME:
            self.discarded = (self.discarded + self._seg) & _MASK
        self._state = _SKIP

    def _end(self, seg: int, left: int) -> bool:
        """Classify the segment a delimiter just ended (docs/link.md 3.3)."""
        frame = self.frame
        n = len(frame)
        if left:
            self.cobs_errors = (self.cobs_errors + 1) & _MASK
        elif n < _CRC_LEN:
            self.runts = (self.runts + 1) & _MASK
        else:
            if _residue_ok(frame, n):
                frame[n - _CRC_LEN :] = b""
                self.frames_ok = (self.frames_ok + 1) & _MASK
                return True
            self.crc_errors = (self.crc_errors + 1) & _MASK
        self.discarded = (self.discarded + seg) & _MASK
        return False
