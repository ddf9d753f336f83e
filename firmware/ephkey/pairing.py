"""Device pairing with a 6-digit code (docs/protocol.md section 15), sans-IO.

A ``Pairing`` is one armed station: creating it arms it. The future second
station is the initiator (sends PAIR_HELLO, CPace party A), the future first
station the responder (party B). Like the stations it takes whole frames and
``now_ms`` (``receive(frame, n, now)``, ``poll(now)``) and queues frames
(``next_output()``, the frame in ``out``) and events (``next_event()``,
``ev_sid``, ``ev_arg``). After PAIRED, ``peer_id`` and ``ps`` hold what the
pairing file gets (pairing_store.py).

CPace (cpace.py) runs inside ``receive``: a board armed for pairing runs
nothing else (15.5), so there are no jobs. The failed-attempt count and the
back-off (15.6) live in a ``Backoff`` the caller keeps across windows.

Frames (15.3): HELLO 0x29 id_s n_s (21) | REPLY 0x2a run id_f n_f Y_f (55) |
SHARE 0x2b run Y_s tag_s (51) | CONFIRM 0x2c run tag_f (19) | ERROR 0x2f sid code.
"""

import hashlib
from time import ticks_diff  # type: ignore[attr-defined]

from micropython import const

from . import hkdf
from .backoff import FREE_FAILS, Backoff, backoff_ms  # noqa: F401 (re-exported: the pairing API)
from .cpace import IR, CPace, CPaceAbort, leb128
from .events import EventQueue
from .outq import OutQueue

# frame types and lengths (15.3)
_HELLO = const(9)
_REPLY = const(10)
_SHARE = const(11)
_CONFIRM = const(12)
_ERROR = const(15)
_LEN_HELLO = const(21)
_LEN_REPLY = const(55)
_LEN_SHARE = const(51)
_LEN_CONFIRM = const(19)
_LEN_ERROR = const(4)

# codes of section 6 and 15.6
OK = const(0)
MALFORMED = const(1)
BAD_VERSION = const(2)
BAD_TYPE = const(4)
UNEXPECTED = const(5)
UNKNOWN_SESSION = const(6)
AUTH_FAILED = const(8)
REPLAY = const(12)
TIMEOUT = const(14)
RNG_FAILURE = const(15)
REPLACED = const(19)
WRONG_CODE = const(21)
NOT_ARMED = const(22)
BACKOFF = const(23)
_CODE_NAMES = {0: "OK", 1: "MALFORMED", 2: "BAD_VERSION", 4: "BAD_TYPE", 5: "UNEXPECTED",
               6: "UNKNOWN_SESSION", 8: "AUTH_FAILED", 12: "REPLAY", 14: "TIMEOUT",
               15: "RNG_FAILURE", 19: "REPLACED", 21: "WRONG_CODE", 22: "NOT_ARMED",
               23: "BACKOFF"}

# events of the pairing machine (its own numbering)
EV_NONE = const(0)
EV_PAIRED = const(1)
EV_PAIR_FAILED = const(2)
EV_BACKOFF = const(3)
EV_DISARMED = const(4)
EV_ERROR = const(5)
EV_PEER_ERROR = const(6)
EVENT_NAMES = ("NONE", "PAIRED", "PAIR_FAILED", "BACKOFF", "DISARMED", "ERROR", "PEER_ERROR")

# states
DISARMED = const(0)
WAIT_REPLY = const(1)     # S
WAIT_CONFIRM = const(2)   # S
ARMED = const(3)          # F
WAIT_SHARE = const(4)     # F
DONE = const(5)           # F

WINDOW_MS = const(120000)
WINDOW_MIN_MS = const(10000)
WINDOW_MAX_MS = const(600000)
RETRY_MS = const(1000)
LINGER_MS = const(5000)
_CODE_LIMIT = 4294000000  # 4294 x 10^6 (not a small int on 32-bit ports: no const)

_LABEL = b"ephkey v2 pair"
_KC_S = b"ephkey v2 pair kc s"
_KC_F = b"ephkey v2 pair kc f"
_PS = b"ephkey v2 pair ps"


def code_name(code):
    return _CODE_NAMES.get(code, "CODE_%d" % code)


def check_code(code):
    """The code as PRS bytes (15.1): exactly 6 ASCII digits, else ValueError."""
    raw = code.encode() if isinstance(code, str) else bytes(code)
    if len(raw) != 6:
        raise ValueError("a pairing code is 6 digits, e.g. 042917")
    for b in raw:
        if b < 0x30 or b > 0x39:
            raise ValueError("a pairing code is 6 digits, e.g. 042917")
    return raw


def draw_code(rng):
    """The code a station shows (15.1): uniform over 000000..999999."""
    while True:
        r = rng(4)
        v = (r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]
        if v < _CODE_LIMIT:
            return "%06d" % (v % 1000000)


def _u16(buf, off):
    return (buf[off] << 8) | buf[off + 1]


def _run(buf, off):
    """run = u16(n_s[0:2]), or 1 for 0; n_s starts at buf[off]."""
    r = _u16(buf, off)
    return r if r else 1


def _zero(buf):
    for i in range(len(buf)):
        buf[i] = 0


def _eq(a, an, b, bn):
    if an != bn:
        return False
    for i in range(an):
        if a[i] != b[i]:
            return False
    return True


def _lv(out, data):
    out.extend(leb128(len(data)))
    out.extend(data)


class _Reject(Exception):
    pass


class Pairing:
    """One station armed for pairing; ``initiator`` True for the future S."""

    def __init__(self, initiator, self_id, code, rng, now, window_ms=WINDOW_MS,
                 retry_ms=RETRY_MS, backoff=None):
        if len(self_id) != 8:
            raise ValueError("an identity is 8 bytes")
        if not WINDOW_MIN_MS <= window_ms <= WINDOW_MAX_MS:
            raise ValueError("window_ms must be %d..%d" % (WINDOW_MIN_MS, WINDOW_MAX_MS))
        if not 100 <= retry_ms <= 10000:
            raise ValueError("retry_ms must be 100..10000")
        self.initiator = initiator
        self.self_id = bytes(self_id)
        self.prs = check_code(code)
        self.rng = rng
        self.window_ms = window_ms
        self.retry_ms = retry_ms
        self.backoff = backoff if backoff is not None else Backoff()
        self.armed_at = now
        self.outq = OutQueue(4, _LEN_REPLY)
        self.out = self.outq.frame
        self.evq = EventQueue(8)
        self.ev_sid = 0
        self.ev_arg = 0
        self.peer_id = None
        self.ps = bytearray(32)
        self.paired = False
        self._cp = CPace(initiator, IR)
        self._isk = bytearray(64)
        self._kc_f = bytearray(32)
        self._hello = bytearray(_LEN_HELLO)     # the attempt's PAIR_HELLO
        self._reply = bytearray(_LEN_REPLY)     # the attempt's PAIR_REPLY
        self._share = bytearray(_LEN_SHARE)     # S: its SHARE; F (DONE): the accepted one
        self._confirm = bytearray(_LEN_CONFIRM)  # F (DONE)
        self._sid = bytearray(24)               # CPace sid = n_s || n_f
        self._ci = bytearray()
        self._ended_hello = bytearray(_LEN_HELLO)  # F: the last ended attempt's HELLO
        self._ended_share = bytearray(_LEN_SHARE)  # and its rejected SHARE
        self._has_ended = False
        self._has_ended_share = False
        self._ended_code = 0
        self._peer = bytearray(8)
        self._run = 0
        self._last_send = now
        self._done_at = now
        self.scrub_due = False  # an attempt's secrets went through hashlib (section 9.3)
        if initiator:
            self.state = WAIT_REPLY
            self._arm_initiator(now)
        else:
            self.state = ARMED

    # -- the caller's interface --------------------------------------------------

    @property
    def armed(self):
        return self.state != DISARMED

    def next_output(self):
        n = self.outq.pop()
        self.out = self.outq.frame
        return n

    def next_event(self):
        code = self.evq.pop()
        self.ev_sid = self.evq.sid
        self.ev_arg = self.evq.arg
        return code

    def receive(self, frame, n, now):
        self._clock(now)
        if self.initiator and self.state == DISARMED:
            return  # S ignores everything once disarmed (15.5)
        if n == 0:
            self.evq.push(EV_ERROR, 0, MALFORMED)
            return
        sid = self._frame_sid(frame, n)
        try:
            t = self._check(frame, n)
            if t == _ERROR:
                self.evq.push(EV_PEER_ERROR, sid, frame[3])
                if self.initiator and self.state == WAIT_CONFIRM and sid == self._run:
                    self._initiator_failed(frame[3], now, True)
                return
            if self.initiator:
                if t == _REPLY:
                    self._on_reply(frame, now)
                else:
                    self._on_confirm(frame, now)
            elif t == _HELLO:
                self._on_hello(frame, now)
            else:
                self._on_share(frame, now)
        except _Reject as e:
            code = e.args[0]
            if code == BAD_VERSION or code == BAD_TYPE:
                sid = 0
            self.evq.push(EV_ERROR, sid, code)
            if not self.initiator and (frame[0] == 0x29 or frame[0] == 0x2B):
                self._send_error(sid, code)

    def poll(self, now):
        self._clock(now)
        if self.initiator and self.state != DISARMED:
            if ticks_diff(now, self._last_send) >= self.retry_ms:
                if self.state == WAIT_CONFIRM:
                    self._queue(self._share, _LEN_SHARE)
                else:
                    self._queue(self._hello, _LEN_HELLO)
                self._last_send = now

    def wipe(self):
        """Zero every secret the machine holds (PS too: store it first)."""
        self._cp.wipe()
        _zero(self._isk)
        _zero(self._kc_f)
        _zero(self.ps)

    # -- common --------------------------------------------------------------------

    def _frame_sid(self, frame, n):
        t = frame[0] & 0x0F
        if t == _HELLO:
            return _run(frame, 9) if n >= 11 else 0
        return _u16(frame, 1) if n >= 3 else 0

    def _check(self, frame, n):
        if frame[0] >> 4 != 2:
            raise _Reject(BAD_VERSION)
        t = frame[0] & 0x0F
        if t == _HELLO:
            want = _LEN_HELLO
        elif t == _REPLY:
            want = _LEN_REPLY
        elif t == _SHARE:
            want = _LEN_SHARE
        elif t == _CONFIRM:
            want = _LEN_CONFIRM
        elif t == _ERROR:
            want = _LEN_ERROR
        else:
            raise _Reject(BAD_TYPE)
        if t != _ERROR and (t == _REPLY or t == _CONFIRM) != self.initiator:
            raise _Reject(UNEXPECTED)
        if n != want:
            raise _Reject(MALFORMED)
        return t

    def _queue(self, buf, n):
        slot = self.outq.slot()
        for i in range(n):
            slot[i] = buf[i]
        self.outq.commit(n)

    def _send_error(self, sid, code):
        slot = self.outq.slot()
        slot[0] = 0x2F
        slot[1] = sid >> 8
        slot[2] = sid & 0xFF
        slot[3] = code
        self.outq.commit(_LEN_ERROR)

    def _clock(self, now):
        if self.state == DISARMED:
            return
        over = ticks_diff(now, self.armed_at) >= self.window_ms
        if self.state == DONE:
            if over or ticks_diff(now, self._done_at) >= LINGER_MS:
                self._disarm(OK)
            return
        if not over:
            return
        if self.initiator and self.state == WAIT_CONFIRM:
            self._initiator_failed(TIMEOUT, now, False)
        self._end_secrets()
        self._disarm(TIMEOUT)

    def _disarm(self, reason):
        self.state = DISARMED
        self.evq.push(EV_DISARMED, 0, reason)

    def _end_secrets(self):
        self._cp.wipe()
        _zero(self._isk)
        _zero(self._kc_f)
        self.scrub_due = True

    def _failed(self, run, reason, now):
        self.evq.push(EV_PAIR_FAILED, run, reason)
        d = self.backoff.failed(now)
        if d:
            self.evq.push(EV_BACKOFF, run, d)

    def _keys(self, id_f, id_s):
        """15.4 from self._isk: (KC_s, KC_f); PS into self.ps."""
        prk = hkdf.hkdf_extract(_LABEL, self._isk)
        kc_s = hkdf.hkdf_expand(prk, _KC_S, 32)
        kc_f = hkdf.hkdf_expand(prk, _KC_F, 32)
        info = bytearray(_PS)
        info.extend(id_f)
        info.extend(id_s)
        ps = hkdf.hkdf_expand(prk, info, 32)
        for i in range(32):
            self.ps[i] = ps[i]
        return kc_s, kc_f

    def _tag(self, key, parts):
        """HMAC(key, H(parts...))[0:16] (15.4), the parts fed one by one."""
        h = hashlib.sha256()
        for p in parts:
            h.update(p)
        return hkdf.hmac_sha256(key, h.digest())[:16]

    def _channel(self, id_s, id_f):
        ci = bytearray()
        _lv(ci, _LABEL)
        _lv(ci, id_s)
        _lv(ci, id_f)
        self._ci = ci

    # -- S, the initiator ---------------------------------------------------------------

    def _arm_initiator(self, now):
        left = self.backoff.left(now)
        if left:
            self.evq.push(EV_BACKOFF, 0, left)
            self._disarm(BACKOFF)
            return
        try:
            n_s = self.rng(12)
        except Exception:  # RngFailure: the raw source failed its health test
            self._disarm(RNG_FAILURE)
            return
        h = self._hello
        h[0] = 0x29
        h[1:9] = self.self_id
        h[9:21] = n_s
        self._run = _run(h, 9)
        self._queue(h, _LEN_HELLO)
        self._last_send = now

    def _on_reply(self, f, now):
        if self.state == WAIT_CONFIRM:
            if _eq(f, _LEN_REPLY, self._reply, _LEN_REPLY):
                return
            raise _Reject(UNEXPECTED)
        if _u16(f, 1) != self._run:
            raise _Reject(UNKNOWN_SESSION)
        id_f = bytes(f[3:11])
        if id_f == self.self_id:
            raise _Reject(MALFORMED)
        sid = self._sid
        sid[0:12] = self._hello[9:21]
        sid[12:24] = f[11:23]
        self._channel(self.self_id, id_f)
        reply = self._reply
        for i in range(_LEN_REPLY):
            reply[i] = f[i]
        cp = self._cp
        try:
            y_s = cp.start(self.prs, self._ci, sid, self._hello, self.rng)
        except Exception:  # the rng failed
            cp.wipe()
            raise _Reject(RNG_FAILURE) from None
        try:
            cp.finish(self._isk, memoryview(reply)[23:55], memoryview(reply)[0:23])
        except CPaceAbort:
            _zero(reply)
            raise _Reject(AUTH_FAILED) from None
        kc_s, kc_f = self._keys(id_f, self.self_id)
        share = self._share
        share[0] = 0x2B
        share[1:3] = reply[1:3]
        share[3:35] = y_s
        share[35:51] = self._tag(kc_s, (self._hello, reply, memoryview(share)[0:35]))
        self._kc_f[:] = kc_f
        _zero(self._isk)
        self._peer[:] = id_f
        self.state = WAIT_CONFIRM
        self._queue(share, _LEN_SHARE)
        self._last_send = now
        self.scrub_due = True

    def _on_confirm(self, f, now):
        if self.state != WAIT_CONFIRM:
            raise _Reject(UNEXPECTED)
        if _u16(f, 1) != self._run:
            raise _Reject(UNKNOWN_SESSION)
        want = self._tag(self._kc_f, (self._hello, self._reply, self._share,
                                      memoryview(f)[0:3]))
        if not hkdf.ct_equal(want, memoryview(f)[3:19]):
            self._initiator_failed(WRONG_CODE, now, True)
            return
        self.peer_id = bytes(self._peer)
        self.paired = True
        self.backoff.reset()
        self.evq.push(EV_PAIRED, self._run, 0)
        _zero(self._kc_f)
        self._disarm(OK)

    def _initiator_failed(self, reason, now, disarm):
        self._failed(self._run, reason, now)
        _zero(self._kc_f)
        _zero(self.ps)
        if disarm:
            self._disarm(reason)

    # -- F, the responder ---------------------------------------------------------------

    def _on_hello(self, f, now):
        if self.state == DONE or self.state == DISARMED:
            raise _Reject(NOT_ARMED)
        if bytes(f[1:9]) == self.self_id:
            raise _Reject(MALFORMED)
        if self.state == WAIT_SHARE and _eq(f, _LEN_HELLO, self._hello, _LEN_HELLO):
            self._queue(self._reply, _LEN_REPLY)
            return
        if self._has_ended and _eq(f, _LEN_HELLO, self._ended_hello, _LEN_HELLO):
            raise _Reject(REPLAY)
        if self.backoff.left(now):
            raise _Reject(BACKOFF)
        if self.state == WAIT_SHARE:
            self._responder_failed(REPLACED, None, now)
            if self.backoff.left(now):
                raise _Reject(BACKOFF)
        try:
            n_f = self.rng(12)
        except Exception:
            raise _Reject(RNG_FAILURE) from None
        hello = self._hello
        for i in range(_LEN_HELLO):
            hello[i] = f[i]
        run = _run(hello, 9)
        reply = self._reply
        reply[0] = 0x2A
        reply[1] = run >> 8
        reply[2] = run & 0xFF
        reply[3:11] = self.self_id
        reply[11:23] = n_f
        sid = self._sid
        sid[0:12] = hello[9:21]
        sid[12:24] = n_f
        self._channel(bytes(hello[1:9]), self.self_id)
        try:
            y_f = self._cp.start(self.prs, self._ci, sid, memoryview(reply)[0:23], self.rng)
        except Exception:
            self._cp.wipe()
            raise _Reject(RNG_FAILURE) from None
        reply[23:55] = y_f
        self._run = run
        self.state = WAIT_SHARE
        self._queue(reply, _LEN_REPLY)

    def _on_share(self, f, now):
        if self.state == DISARMED:
            raise _Reject(NOT_ARMED)
        if self.state == DONE:
            if _eq(f, _LEN_SHARE, self._share, _LEN_SHARE):
                self._queue(self._confirm, _LEN_CONFIRM)
                return
            raise _Reject(UNEXPECTED)
        run = _u16(f, 1)
        if self.state != WAIT_SHARE or run != self._run:
            if self._has_ended_share and _eq(f, _LEN_SHARE, self._ended_share, _LEN_SHARE):
                raise _Reject(self._ended_code)
            raise _Reject(UNEXPECTED)
        try:
            self._cp.finish(self._isk, memoryview(f)[3:35], self._hello)
        except CPaceAbort:
            self._responder_failed(AUTH_FAILED, f, now)
            return
        id_s = bytes(self._hello[1:9])
        kc_s, kc_f = self._keys(self.self_id, id_s)
        _zero(self._isk)
        want = self._tag(kc_s, (self._hello, self._reply, memoryview(f)[0:35]))
        if not hkdf.ct_equal(want, memoryview(f)[35:51]):
            _zero(self.ps)
            self._responder_failed(WRONG_CODE, f, now)
            return
        share = self._share
        for i in range(_LEN_SHARE):
            share[i] = f[i]
        c = self._confirm
        c[0] = 0x2C
        c[1:3] = f[1:3]
        c[3:19] = self._tag(kc_f, (self._hello, self._reply, share, memoryview(c)[0:3]))
        self.peer_id = id_s
        self.paired = True
        self.backoff.reset()
        self.state = DONE
        self._done_at = now
        self.scrub_due = True
        self._queue(c, _LEN_CONFIRM)
        self.evq.push(EV_PAIRED, run, 0)

    def _responder_failed(self, reason, share, now):
        """F: the attempt in WAIT_SHARE ends without PAIRED (15.5, 15.6)."""
        run = self._run
        self._send_error(run, reason)
        self._failed(run, reason, now)
        self._ended_hello[:] = self._hello
        self._has_ended = True
        if share is None:
            self._has_ended_share = False
        else:
            for i in range(_LEN_SHARE):
                self._ended_share[i] = share[i]
            self._has_ended_share = True
        self._ended_code = reason
        self._end_secrets()
        self.state = ARMED
