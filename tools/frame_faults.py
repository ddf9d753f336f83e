"""Frame-aware faults for tools/linksim.py: whole link frames dropped,
duplicated, reordered or stalled, on top of RandomFaults' byte faults.

The link stream is ``00 || COBS(frame || crc) || 00`` per frame
(docs/link.md 2.3), so a frame on the wire is a run of non-zero bytes between
delimiters. ``FrameFaults`` buffers each direction's bytes until a delimiter
ends a run, then decides what happens to that frame:

* ``frame_drop_rate``: the frame never reaches the wire;
* ``frame_dup_rate``: it goes onto the wire twice, back to back;
* ``frame_reorder_rate``: it is held back and sent right after the next
  frame of the same direction (the two swap places);
* ``flip_rate``, ``drop_rate``, ``dup_rate`` (per byte, as in RandomFaults):
  applied to the bytes of each frame, delimiters included, so a flipped
  delimiter merges or splits frames as on a real line;
* ``stall_rate`` / ``stall_s`` (per chunk): the line stops for ``stall_s``,
  on top of RandomFaults' ``delay_rate`` / ``delay_s`` hold-ups;
* ``breaks``: the line is cut (RandomFaults.line_break), bytes sent meanwhile
  are lost.

Replay: every decision about frame number n of a direction comes from its own
generator seeded with ``(seed, direction, n)``, so the faults are a pure
function of the seed and the sequence of frames, whatever chunks TCP cut the
stream into. With the same frames in the same order (an in-process run, or a
replayed capture) a failing run is replayed exactly; ``log`` keeps the first
``log_limit`` faults for that purpose.

Bytes that never end in a delimiter (noise, a peer that died mid-frame) are
passed on once more than ``max_hold`` of them are buffered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from linksim import RandomFaults

DELIM = 0


@dataclass
class FrameFaults(RandomFaults):
    frame_drop_rate: float = 0.0
    frame_dup_rate: float = 0.0
    frame_reorder_rate: float = 0.0
    stall_rate: float = 0.0
    stall_s: float = 0.0
    max_hold: int = 2048
    log_limit: int = 10000
    log: list[tuple[float, str, int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._pending: dict[str, bytearray] = {"AB": bytearray(), "BA": bytearray()}
        self._held: dict[str, bytes | None] = {"AB": None, "BA": None}
        self._frames: dict[str, int] = {"AB": 0, "BA": 0}

    # -- FaultModel -----------------------------------------------------------

    def transmit(self, direction: str, data: bytes, t: float) -> bytes:
        for start, duration, d in self.breaks:
            if start <= t < start + duration and d in (None, direction):
                self._count("break_lost", len(data))
                return b""
        buf = self._pending[direction]
        buf += data
        out = bytearray()
        while True:
            i = _frame_end(buf)
            if i < 0:
                break
            unit = bytes(buf[:i + 1])
            del buf[:i + 1]
            out += self._frame(direction, unit, t)
        if len(buf) > self.max_hold:  # never ends: noise, pass it on as it is
            self._count("noise_bytes", len(buf))
            out += self._bytes(random.Random(self._key(direction, -1, len(buf))), bytes(buf))
            buf.clear()
        return bytes(out)

    def delay(self, direction: str, t: float) -> float:
        extra = super().delay(direction, t)
        if self.stall_rate and self.rng.random() < self.stall_rate:
            self._count("stalled")
            self._note(t, direction, -1, "stall")
            extra += self.stall_s
        return extra

    # -- one frame --------------------------------------------------------------

    def _frame(self, direction: str, unit: bytes, t: float) -> bytes:
        """What the wire carries for one delimited run (leading zeros included)."""
        if not unit.strip(b"\x00"):
            return unit  # idle line: delimiters only
        n = self._frames[direction]
        self._frames[direction] = n + 1
        self._count("frames")
        rng = random.Random(self._key(direction, n, 0))
        if rng.random() < self.frame_drop_rate:
            self._count("frames_dropped")
            self._note(t, direction, n, "drop")
            return b""
        wire = self._bytes(rng, unit)
        if rng.random() < self.frame_dup_rate:
            self._count("frames_duplicated")
            self._note(t, direction, n, "dup")
            wire += self._bytes(rng, unit)
        held = self._held[direction]
        if held is None and rng.random() < self.frame_reorder_rate:
            self._held[direction] = wire
            self._count("frames_reordered")
            self._note(t, direction, n, "hold")
            return b""
        if held is not None:
            self._held[direction] = None
            # the held frame needs its own leading delimiter after this one
            return wire + b"\x00" + held
        return wire

    def _bytes(self, rng: random.Random, data: bytes) -> bytes:
        if not (self.flip_rate or self.drop_rate or self.dup_rate):
            return data
        out = bytearray()
        for b in data:
            if rng.random() < self.drop_rate:
                self._count("dropped")
                continue
            if rng.random() < self.flip_rate:
                b ^= 1 << rng.randrange(8)
                self._count("flipped")
            out.append(b)
            if rng.random() < self.dup_rate:
                out.append(b)
                self._count("duplicated")
        return bytes(out)

    def _key(self, direction: str, n: int, extra: int) -> str:
        return "%d:%s:%d:%d" % (self.seed, direction, n, extra)

    def _note(self, t: float, direction: str, n: int, kind: str) -> None:
        if len(self.log) < self.log_limit:
            self.log.append((round(t, 6), direction, n, kind))

    # -- for tests and reports ------------------------------------------------------

    def flush(self, direction: str) -> bytes:
        """Bytes still buffered or held for a direction (end of a run)."""
        out = bytes(self._pending[direction])
        self._pending[direction].clear()
        held = self._held[direction]
        self._held[direction] = None
        return out + (held or b"")

    def settings(self) -> dict[str, object]:
        return {"seed": self.seed, "flip_rate": self.flip_rate, "drop_rate": self.drop_rate,
                "dup_rate": self.dup_rate, "frame_drop_rate": self.frame_drop_rate,
                "frame_dup_rate": self.frame_dup_rate,
                "frame_reorder_rate": self.frame_reorder_rate,
                "delay_rate": self.delay_rate, "delay_s": self.delay_s,
                "stall_rate": self.stall_rate, "stall_s": self.stall_s,
                "breaks": [list(b) for b in self.breaks]}


def _frame_end(buf: bytearray) -> int:
    """Index of the delimiter that ends the first frame in buf, or -1.

    Leading delimiters belong to the frame that follows them.
    """
    i = 0
    n = len(buf)
    while i < n and buf[i] == DELIM:
        i += 1
    if i == n:
        return -1
    j = buf.find(b"\x00", i)
    return j
