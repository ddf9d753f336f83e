"""Link layer of docs/link.md for the host: COBS frames with a CRC-32 on a byte stream.

A frame travels as ``00 || COBS(frame || crc32(frame) little-endian) || 00``.
`encode_frame` builds that; `LinkDecoder` finds frames in a stream that may
lose, corrupt or insert bytes and returns only those whose CRC checks.

Written from docs/link.md, independently of the firmware. The decoder keeps
the raw bytes of the segment in progress and only tracks how long it would
decode to (jumping from code byte to code byte), then decodes the whole
segment with `cobs_decode` when its delimiter arrives.
"""

from __future__ import annotations

import binascii
import enum
from dataclasses import asdict, dataclass

MAX_FRAME = 276  # 7 + 1 + 4 + max_payload (256) + 8: a full DATA frame
CRC_LEN = 4
RESIDUE = 0x2144DF1C  # crc32(frame || crc_bytes(frame)) for every frame
COUNTER_MODULUS = 1 << 30  # counters wrap here, as on the firmware
DELIMITER = b"\x00"

_BLOCK = 254  # longest run of non-zero bytes in one COBS block


def crc_bytes(frame: bytes) -> bytes:
    """CRC-32/ISO-HDLC of frame, 4 bytes little-endian (docs/link.md 2.1)."""
    return binascii.crc32(frame).to_bytes(CRC_LEN, "little")


def cobs_encode(data: bytes) -> bytes:
    """Canonical COBS (docs/link.md 2.2): no 0x00 in the result."""
    out = bytearray()
    pieces = bytes(data).split(DELIMITER)
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        full, rest = divmod(len(piece), _BLOCK)
        for k in range(full):
            out.append(0xFF)
            out += piece[k * _BLOCK : (k + 1) * _BLOCK]
        # A piece stands for its bytes and the 0x00 after it (the last piece:
        # the conceptual one, not sent). Only a last piece that ends with a
        # full block needs no final code byte.
        if rest or not full or not last:
            out.append(rest + 1)
            out += piece[full * _BLOCK :]
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode; also accepts a 0x01 after a final 0xFF block.

    Raises ValueError on a 0x00 or on a code byte that points past the end.
    """
    if 0 in data:
        raise ValueError("0x00 inside a COBS block")
    out = bytearray()
    pos = 0
    while pos < len(data):
        code = data[pos]
        nxt = pos + code
        if nxt > len(data):
            raise ValueError("COBS block truncated")
        out += data[pos + 1 : nxt]
        if code != 0xFF and nxt < len(data):
            out.append(0)
        pos = nxt
    return bytes(out)


def wire_size(n: int) -> int:
    """The largest wire form of an n-byte frame (docs/link.md 2.3)."""
    return n + 7 + (n + 3) // _BLOCK


def encode_frame(frame: bytes, max_frame: int = MAX_FRAME) -> bytes:
    """The wire form of one frame, both delimiters included."""
    frame = bytes(frame)
    if len(frame) > max_frame:
        raise ValueError(f"frame of {len(frame)} bytes, max_frame is {max_frame}")
    return DELIMITER + cobs_encode(frame + crc_bytes(frame)) + DELIMITER


@dataclass
class LinkCounters:
    """docs/link.md 3.5; every counter wraps at 2**30."""

    frames_ok: int = 0
    crc_errors: int = 0
    too_long: int = 0
    cobs_errors: int = 0
    runts: int = 0
    discarded: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Mode(enum.Enum):
    IDLE = "between segments"
    FRAME = "in a segment"
    SKIP = "discarding up to the next delimiter"


class LinkDecoder:
    """The receiver of docs/link.md section 3."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        if max_frame < 0:
            raise ValueError("max_frame must be >= 0")
        self.max_frame = max_frame
        self.limit = max_frame + CRC_LEN  # decoded bytes a segment may have
        # A segment longer than this on the wire decodes to more than `limit`
        # bytes (each wire byte yields one decoded byte, except 0xFF code
        # bytes and one final 0x01), so no more of it is ever kept.
        self._raw_cap = self.limit + self.limit // _BLOCK + 3
        self.counters = LinkCounters()
        self._mode = _Mode.IDLE
        self._raw = bytearray()  # wire bytes of the segment in progress
        self._block = 0  # offset in _raw of the current block's code byte
        self._before = 0  # decoded bytes before the current block

    def feed(self, data: bytes) -> list[bytes]:
        """Feed any number of bytes; return the frames they completed, in order."""
        data = bytes(data)
        frames: list[bytes] = []
        pos = 0
        while pos < len(data):
            zero = data.find(DELIMITER, pos)
            stop = len(data) if zero < 0 else zero
            if stop > pos:
                self._take(data[pos:stop])
            if zero < 0:
                break
            frame = self._end_segment()
            if frame is not None:
                frames.append(frame)
            pos = zero + 1
        return frames

    def reset(self) -> None:
        """Bytes were lost (docs/link.md 3.4): drop the partial frame, skip to a 0x00."""
        if self._mode is _Mode.FRAME:
            self._count("discarded", len(self._raw))
        self._raw.clear()
        self._mode = _Mode.SKIP

    @property
    def in_segment(self) -> int:
        """Wire bytes of the segment being decoded (0 outside one)."""
        return len(self._raw) if self._mode is _Mode.FRAME else 0

    # -- internals

    def _count(self, name: str, k: int = 1) -> None:
        setattr(self.counters, name, (getattr(self.counters, name) + k) % COUNTER_MODULUS)

    def _take(self, run: bytes) -> None:
        """Non-zero bytes inside a segment."""
        if self._mode is _Mode.SKIP:
            self._count("discarded", len(run))
            return
        if self._mode is _Mode.IDLE:
            self._mode = _Mode.FRAME
            self._raw.clear()
            self._block = 0
            self._before = 0
        kept = run[: self._raw_cap - len(self._raw)]
        self._raw += kept
        if self._decoded_len() > self.limit:
            self._count("too_long")
            self._count("discarded", len(self._raw) + len(run) - len(kept))
            self._raw.clear()
            self._mode = _Mode.SKIP

    def _decoded_len(self) -> int:
        """How many bytes _raw decodes to so far (docs/link.md 3.2).

        A block's implied 0x00 counts once the next code byte is there.
        """
        raw = self._raw
        while True:
            code = raw[self._block]
            nxt = self._block + code
            if nxt >= len(raw):
                return self._before + min(code - 1, len(raw) - self._block - 1)
            self._before += code - 1 + (1 if code != 0xFF else 0)
            self._block = nxt

    def _end_segment(self) -> bytes | None:
        """A delimiter arrived: classify the segment (docs/link.md 3.3)."""
        mode, self._mode = self._mode, _Mode.IDLE
        if mode is not _Mode.FRAME:
            return None
        raw = bytes(self._raw)
        self._raw.clear()
        try:
            packet = cobs_decode(raw)
        except ValueError:
            self._count("cobs_errors")
            self._count("discarded", len(raw))
            return None
        if len(packet) < CRC_LEN:
            self._count("runts")
            self._count("discarded", len(raw))
            return None
        frame, crc = packet[:-CRC_LEN], packet[-CRC_LEN:]
        if crc_bytes(frame) != crc:
            self._count("crc_errors")
            self._count("discarded", len(raw))
            return None
        self._count("frames_ok")
        return frame
