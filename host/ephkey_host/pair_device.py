"""Device pairing with a 6-digit code (docs/protocol.md section 15): the host's machine.

Sans-IO, like the host's stations: :class:`PairingMachine` takes whole frames
and millisecond ticks, queues frames and events, and after ``PAIRED`` holds
``peer_id`` and ``ps`` for the pairing file. Creating it arms it (15.5).

* The future second station is the *initiator* (it sends PAIR_HELLO and is
  CPace's party A); the future first station the *responder* (party B).
* CPace (:mod:`ephkey_host.cpace`) runs inside ``receive``: a station armed
  for pairing does nothing else (15.5), so no jobs.
* Failed attempts and the back-off (15.6) live in a :class:`Backoff` the
  caller keeps across windows (the CLI keeps it for one process).

Written from the spec text; the firmware's ``ephkey/pairing.py`` is a
separate implementation checked against the same vectors
(``tests/vectors/pairing.json``).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import crypto
from .cpace import IR, CPace, CPaceAbort, lv_cat
from .events import Event
from .ticks import ticks_add, ticks_diff

# frame types (15.3) and their lengths
HELLO, REPLY, SHARE, CONFIRM, ERROR = 9, 10, 11, 12, 15
LENGTHS = {HELLO: 21, REPLY: 55, SHARE: 51, CONFIRM: 19, ERROR: 4}
TYPE_NAMES = {HELLO: "PAIR_HELLO", REPLY: "PAIR_REPLY", SHARE: "PAIR_SHARE",
              CONFIRM: "PAIR_CONFIRM", ERROR: "ERROR"}
VERSION = 2
ID_LEN, NONCE_LEN, SHARE_LEN, TAG_LEN, PS_LEN = 8, 12, 32, 16, 32

# codes (section 6 and 15.6)
OK, MALFORMED, BAD_VERSION, BAD_TYPE, UNEXPECTED, UNKNOWN_SESSION = 0, 1, 2, 4, 5, 6
AUTH_FAILED, REPLAY, TIMEOUT, RNG_FAILURE, REPLACED = 8, 12, 14, 15, 19
WRONG_CODE, NOT_ARMED, BACKOFF = 21, 22, 23
CODE_NAMES = {OK: "OK", MALFORMED: "MALFORMED", BAD_VERSION: "BAD_VERSION",
              BAD_TYPE: "BAD_TYPE", UNEXPECTED: "UNEXPECTED",
              UNKNOWN_SESSION: "UNKNOWN_SESSION", AUTH_FAILED: "AUTH_FAILED",
              REPLAY: "REPLAY", TIMEOUT: "TIMEOUT", RNG_FAILURE: "RNG_FAILURE",
              REPLACED: "REPLACED", WRONG_CODE: "WRONG_CODE", NOT_ARMED: "NOT_ARMED",
              BACKOFF: "BACKOFF"}

# events (15.6)
PAIRED, PAIR_FAILED, BACKOFF_EV, DISARMED = "PAIRED", "PAIR_FAILED", "BACKOFF", "DISARMED"
ERROR_EV, PEER_ERROR = "ERROR", "PEER_ERROR"

# timers (15.2, 15.5, 15.6)
WINDOW_MS, WINDOW_MIN_MS, WINDOW_MAX_MS = 120_000, 10_000, 600_000
RETRY_MS, RETRY_MIN_MS, RETRY_MAX_MS = 1_000, 100, 10_000
LINGER_MS = 5_000
FREE_FAILS = 10
BACKOFF_BASE_MS, BACKOFF_MAX_MS = 30_000, 3_600_000
CODE_LIMIT = 4_294_000_000  # 4294 x 10^6: u32 values at or above it are drawn again

LABEL = b"ephkey v2 pair"
MAX_PEERS = 32  # a first station's pairing file (15.7)


def code_name(code: int) -> str:
    return CODE_NAMES.get(code, "CODE_%d" % code)


def check_code(code: str | bytes) -> bytes:
    """The code as PRS (15.1): exactly 6 ASCII digits, else ValueError."""
    raw = code.encode("ascii", "replace") if isinstance(code, str) else bytes(code)
    if len(raw) != 6 or not all(0x30 <= b <= 0x39 for b in raw):
        raise ValueError("a pairing code is 6 digits (0-9), e.g. 042917")
    return raw


def draw_code(rng: Callable[[int], bytes]) -> str:
    """A code to show (15.1): uniform over 000000..999999, by rejection."""
    while True:
        v = int.from_bytes(rng(4), "big")
        if v < CODE_LIMIT:
            return "%06d" % (v % 1_000_000)


def run_of(n_s: bytes) -> int:
    """The attempt's ``run`` (15.3): u16(n_s[0:2]), or 1 for 0."""
    return int.from_bytes(n_s[:2], "big") or 1


def backoff_delay(fails: int) -> int:
    """Milliseconds until the next attempt after ``fails`` failures (0: none)."""
    if fails < FREE_FAILS:
        return 0
    shift = fails - FREE_FAILS
    return BACKOFF_MAX_MS if shift >= 7 else min(BACKOFF_BASE_MS << shift, BACKOFF_MAX_MS)


@dataclass
class Backoff:
    """Consecutive failed attempts and the end of the back-off (15.6)."""

    fails: int = 0
    until: int | None = None

    def left(self, now: int) -> int:
        if self.until is None:
            return 0
        return max(0, ticks_diff(self.until, now))

    def active(self, now: int) -> bool:
        return self.left(now) > 0

    def failed(self, now: int) -> int:
        """Count one failure; the back-off delay it starts (ms), or 0."""
        self.fails += 1
        delay = backoff_delay(self.fails)
        if delay:
            self.until = ticks_add(now, delay)
        return delay

    def reset(self) -> None:
        self.fails = 0
        self.until = None


@dataclass(frozen=True)
class Keys:
    """Everything 15.4 derives from ISK."""

    prk_p: bytes
    kc_s: bytes
    kc_f: bytes
    ps: bytes


def derive(isk: bytes, id_f: bytes, id_s: bytes) -> Keys:
    prk = crypto.hkdf_extract(LABEL, isk)
    return Keys(prk,
                crypto.hkdf_expand(prk, LABEL + b" kc s", 32),
                crypto.hkdf_expand(prk, LABEL + b" kc f", 32),
                crypto.hkdf_expand(prk, LABEL + b" ps" + id_f + id_s, PS_LEN))


def channel_id(id_s: bytes, id_f: bytes) -> bytes:
    return lv_cat(LABEL, id_s, id_f)


def tag(key: bytes, transcript: bytes) -> bytes:
    return crypto.hmac_sha256(key, crypto.sha256(transcript))[:TAG_LEN]


def error_frame(sid: int, code: int) -> bytes:
    return bytes([VERSION << 4 | ERROR]) + sid.to_bytes(2, "big") + bytes([code])


def frame_sid(frame: bytes) -> int:
    """The sid an event or ERROR of this frame carries (15.5 item 2)."""
    t = frame[0] & 0x0F
    if t == HELLO:
        return run_of(frame[9:11]) if len(frame) >= 11 else 0
    return int.from_bytes(frame[1:3], "big") if len(frame) >= 3 else 0


class _Reject(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code_name(code))
        self.code = code


class PairingMachine:
    """One armed station (15.5): ``initiator`` True for the future second station."""

    def __init__(self, initiator: bool, self_id: bytes, code: str | bytes,
                 rng: Callable[[int], bytes], now_ms: int, window_ms: int = WINDOW_MS,
                 retry_ms: int = RETRY_MS, backoff: Backoff | None = None) -> None:
        if len(self_id) != ID_LEN:
            raise ValueError("an identity is 8 bytes")
        if not WINDOW_MIN_MS <= window_ms <= WINDOW_MAX_MS:
            raise ValueError("window_ms must be %d..%d" % (WINDOW_MIN_MS, WINDOW_MAX_MS))
        if not RETRY_MIN_MS <= retry_ms <= RETRY_MAX_MS:
            raise ValueError("retry_ms must be %d..%d" % (RETRY_MIN_MS, RETRY_MAX_MS))
        self.initiator = initiator
        self.self_id = bytes(self_id)
        self.prs = check_code(code)
        self.rng = rng
        self.window_ms = window_ms
        self.retry_ms = retry_ms
        self.backoff = backoff if backoff is not None else Backoff()
        self.armed_at = now_ms
        self.peer_id: bytes | None = None
        self.ps: bytes | None = None
        self._out: deque[bytes] = deque()
        self._events: deque[Event] = deque()
        self._cpace: CPace | None = None
        self._hello = b""   # the attempt's PAIR_HELLO
        self._reply = b""   # the attempt's PAIR_REPLY
        self._share = b""   # S: its PAIR_SHARE; F: the accepted one (DONE)
        self._confirm = b""  # F: the PAIR_CONFIRM (DONE)
        self._kc_f = b""
        self._ps = b""
        self._run = 0
        self._last_send = now_ms
        self._done_at = now_ms
        self._ended_hello = b""   # F: the last ended attempt's PAIR_HELLO
        self._ended_share = b""   # F: its rejected PAIR_SHARE
        self._ended_code = 0
        if initiator:
            self.state = "WAIT_REPLY"
            self._arm_initiator(now_ms)
        else:
            self.state = "ARMED"

    # -- the caller's side ------------------------------------------------------

    @property
    def armed(self) -> bool:
        return self.state != "DISARMED"

    def outputs(self) -> list[bytes]:
        out = list(self._out)
        self._out.clear()
        return out

    def events(self) -> list[Event]:
        out = list(self._events)
        self._events.clear()
        return out

    def receive(self, frame: bytes, now_ms: int) -> None:
        self._clock(now_ms)
        if self.initiator and self.state == "DISARMED":
            return  # S, once disarmed, ignores everything (15.5)
        frame = bytes(frame)
        if not frame:
            self._event(ERROR_EV, 0, MALFORMED)
            return
        sid = frame_sid(frame)
        try:
            self._check(frame)
        except _Reject as e:
            self._reject(frame, sid, e.code)
            return
        t = frame[0] & 0x0F
        if t == ERROR:
            self._event(PEER_ERROR, sid, frame[3])
            if self.initiator and self.state == "WAIT_CONFIRM" and sid == self._run:
                self._attempt_failed(frame[3], now_ms)
            return
        try:
            if self.initiator:
                self._initiator_frame(t, frame, now_ms)
            else:
                self._responder_frame(t, frame, now_ms)
        except _Reject as e:
            self._reject(frame, sid, e.code)

    def poll(self, now_ms: int) -> None:
        self._clock(now_ms)
        if (self.initiator and self.state in ("WAIT_REPLY", "WAIT_CONFIRM")
                and ticks_diff(now_ms, self._last_send) >= self.retry_ms):
            self._out.append(self._share if self.state == "WAIT_CONFIRM" else self._hello)
            self._last_send = now_ms

    # -- common ----------------------------------------------------------------

    def _event(self, name: str, sid: int, arg: int) -> None:
        self._events.append(Event(name, sid, arg))

    def _check(self, frame: bytes) -> None:
        if frame[0] >> 4 != VERSION:
            raise _Reject(BAD_VERSION)
        t = frame[0] & 0x0F
        if t not in LENGTHS:
            raise _Reject(BAD_TYPE)
        mine = (REPLY, CONFIRM, ERROR) if self.initiator else (HELLO, SHARE, ERROR)
        if t not in mine:
            raise _Reject(UNEXPECTED)
        if len(frame) != LENGTHS[t]:
            raise _Reject(MALFORMED)

    def _reject(self, frame: bytes, sid: int, code: int) -> None:
        # version and type errors carry sid 0 (15.5 item 2 reads the sid only
        # from frames whose layout is known)
        if code in (BAD_VERSION, BAD_TYPE):
            sid = 0
        self._event(ERROR_EV, sid, code)
        if not self.initiator and frame[0] in (0x29, 0x2B):
            self._out.append(error_frame(sid, code))

    def _clock(self, now: int) -> None:
        if self.state == "DISARMED":
            return
        window_over = ticks_diff(now, self.armed_at) >= self.window_ms
        if self.state == "DONE":
            if window_over or ticks_diff(now, self._done_at) >= LINGER_MS:
                self._disarm(OK)
            return
        if not window_over:
            return
        if self.initiator and self.state == "WAIT_CONFIRM":
            self._attempt_failed(TIMEOUT, now, disarm=False)
        self._drop_attempt()
        self._disarm(TIMEOUT)

    def _disarm(self, reason: int) -> None:
        self.state = "DISARMED"
        self._event(DISARMED, 0, reason)

    def _drop_attempt(self) -> None:
        self._cpace = None
        self._kc_f = b""
        self._ps = b""

    def _count_failure(self, run: int, reason: int, now: int) -> None:
        self._event(PAIR_FAILED, run, reason)
        delay = self.backoff.failed(now)
        if delay:
            self._event(BACKOFF_EV, run, delay)

    # -- the initiator (future second station) -----------------------------------

    def _arm_initiator(self, now: int) -> None:
        if self.backoff.active(now):
            self._event(BACKOFF_EV, 0, self.backoff.left(now))
            self._disarm(BACKOFF)
            return
        try:
            n_s = bytes(self.rng(NONCE_LEN))
        except Exception:  # the RNG's health test failed
            self._disarm(RNG_FAILURE)
            return
        self._run = run_of(n_s)
        self._hello = bytes([0x29]) + self.self_id + n_s
        self._out.append(self._hello)
        self._last_send = now

    def _initiator_frame(self, t: int, frame: bytes, now: int) -> None:
        if t == REPLY:
            if self.state == "WAIT_CONFIRM":
                if frame == self._reply:
                    return
                raise _Reject(UNEXPECTED)
            self._on_reply(frame, now)
        elif t == CONFIRM:
            if self.state != "WAIT_CONFIRM":
                raise _Reject(UNEXPECTED)
            self._on_confirm(frame, now)

    def _on_reply(self, frame: bytes, now: int) -> None:
        if int.from_bytes(frame[1:3], "big") != self._run:
            raise _Reject(UNKNOWN_SESSION)
        id_f, n_f, y_f = frame[3:11], frame[11:23], frame[23:55]
        if id_f == self.self_id:
            raise _Reject(MALFORMED)
        n_s = self._hello[9:21]
        cp = CPace(initiator=True, mode=IR)
        try:
            y_s = cp.start(self.prs, channel_id(self.self_id, id_f), n_s + n_f, self._hello,
                           self.rng)
        except Exception:  # the RNG failed (its health test, or a short draw)
            raise _Reject(RNG_FAILURE) from None
        try:
            isk = cp.finish(y_f, frame[0:23])
        except CPaceAbort:
            raise _Reject(AUTH_FAILED) from None
        keys = derive(isk, id_f, self.self_id)
        head = bytes([0x2B]) + frame[1:3] + y_s
        share = head + tag(keys.kc_s, self._hello + frame + head)
        self._reply, self._share = frame, share
        self._kc_f, self._ps = keys.kc_f, keys.ps
        self._peer = bytes(id_f)
        self.state = "WAIT_CONFIRM"
        self._out.append(share)
        self._last_send = now

    def _on_confirm(self, frame: bytes, now: int) -> None:
        if int.from_bytes(frame[1:3], "big") != self._run:
            raise _Reject(UNKNOWN_SESSION)
        want = tag(self._kc_f, self._hello + self._reply + self._share + frame[0:3])
        if not crypto.ct_equal(want, frame[3:19]):
            self._attempt_failed(WRONG_CODE, now)
            return
        self.peer_id, self.ps = self._peer, self._ps
        self.backoff.reset()
        self._event(PAIRED, self._run, 0)
        self._drop_attempt()
        self._disarm(OK)

    def _attempt_failed(self, reason: int, now: int, disarm: bool = True) -> None:
        """S: an attempt that sent PAIR_SHARE ended without PAIRED (15.6)."""
        self._count_failure(self._run, reason, now)
        self._drop_attempt()
        if disarm:
            self._disarm(reason)

    # -- the responder (future first station) ------------------------------------

    def _responder_frame(self, t: int, frame: bytes, now: int) -> None:
        if t == HELLO:
            self._on_hello(frame, now)
        else:
            self._on_share(frame, now)

    def _on_hello(self, frame: bytes, now: int) -> None:
        if self.state in ("DONE", "DISARMED"):
            raise _Reject(NOT_ARMED)
        if frame[1:9] == self.self_id:
            raise _Reject(MALFORMED)
        if self.state == "WAIT_SHARE" and frame == self._hello:
            self._out.append(self._reply)
            return
        if frame == self._ended_hello:
            raise _Reject(REPLAY)
        if self.backoff.active(now):
            raise _Reject(BACKOFF)
        if self.state == "WAIT_SHARE":
            self._responder_failed(REPLACED, b"", now)
            if self.backoff.active(now):
                raise _Reject(BACKOFF)
        id_s, n_s = frame[1:9], frame[9:21]
        try:
            n_f = bytes(self.rng(NONCE_LEN))
        except Exception:
            raise _Reject(RNG_FAILURE) from None
        run = run_of(n_s)
        head = bytes([0x2A]) + run.to_bytes(2, "big") + self.self_id + n_f
        cp = CPace(initiator=False, mode=IR)
        try:
            y_f = cp.start(self.prs, channel_id(id_s, self.self_id), n_s + n_f, head, self.rng)
        except Exception:
            raise _Reject(RNG_FAILURE) from None
        self._cpace = cp
        self._hello, self._reply, self._run = frame, head + y_f, run
        self.state = "WAIT_SHARE"
        self._out.append(self._reply)

    def _on_share(self, frame: bytes, now: int) -> None:
        if self.state == "DISARMED":
            raise _Reject(NOT_ARMED)
        if self.state == "DONE":
            if frame == self._share:
                self._out.append(self._confirm)
                return
            raise _Reject(UNEXPECTED)
        run = int.from_bytes(frame[1:3], "big")
        if self.state != "WAIT_SHARE" or run != self._run:
            if self._ended_share and frame == self._ended_share:
                raise _Reject(self._ended_code)
            raise _Reject(UNEXPECTED)
        assert self._cpace is not None
        try:
            isk = self._cpace.finish(frame[3:35], self._hello)
        except CPaceAbort:
            self._responder_failed(AUTH_FAILED, frame, now)
            return
        id_s = self._hello[1:9]
        keys = derive(isk, self.self_id, id_s)
        if not crypto.ct_equal(tag(keys.kc_s, self._hello + self._reply + frame[0:35]),
                               frame[35:51]):
            self._responder_failed(WRONG_CODE, frame, now)
            return
        head = bytes([0x2C]) + frame[1:3]
        self._confirm = head + tag(keys.kc_f, self._hello + self._reply + frame + head)
        self._share = frame
        self.peer_id, self.ps = bytes(id_s), keys.ps
        self._cpace = None
        self.backoff.reset()
        self.state = "DONE"
        self._done_at = now
        self._out.append(self._confirm)
        self._event(PAIRED, run, 0)

    def _responder_failed(self, reason: int, share: bytes, now: int) -> None:
        """F: the attempt in WAIT_SHARE ends without PAIRED (15.5, 15.6)."""
        self._out.append(error_frame(self._run, reason))
        self._count_failure(self._run, reason, now)
        self._ended_hello, self._ended_share, self._ended_code = self._hello, share, reason
        self._cpace = None
        self.state = "ARMED"


def hash_frames(*frames: bytes) -> bytes:
    """SHA-256 of the concatenation (TH_s, TH_f of 15.4), for vectors and tests."""
    return hashlib.sha256(b"".join(frames)).digest()


# -- the host's loop and its pairing file --------------------------------------------

def run(machine: PairingMachine, transport: Any, on_event: Callable[[Event], None],
        now: Callable[[], int], tick_s: float = 0.01) -> None:
    """Drive ``machine`` over ``transport`` (``peer.SerialTransport``'s interface)
    until it disarms: frames in, ``poll`` every ``tick_s``, frames out, events."""

    def flush() -> None:
        for frame in machine.outputs():
            transport.send(frame)
        for e in machine.events():
            on_event(e)

    flush()
    while machine.armed:
        for frame in transport.receive(tick_s):
            machine.receive(frame, now())
            flush()
        machine.poll(now())
        flush()


def record(doc: dict[str, Any] | None, initiator: bool, self_id: bytes, peer_id: bytes,
           ps: bytes) -> dict[str, Any]:
    """The pairing file after a pairing (15.7): the first station adds or replaces
    the peer's entry, the second station keeps only its new first station."""
    peers: list[dict[str, str]] = []
    if doc is not None and not initiator:
        peers = [p for p in doc.get("peers", []) if p.get("id") != peer_id.hex()]
        if len(peers) >= MAX_PEERS:
            raise ValueError("the pairing file already lists %d peers" % MAX_PEERS)
    peers.append({"id": peer_id.hex(), "ps": ps.hex()})
    return {"format": 1, "self": self_id.hex(), "peers": peers}
