"""The first station F (protocol.md sections 4 and 5), sans-IO, protocol version 2.

API::

    f = FirstStation(config, pairings, rng, now_ms)
    f.receive(frame, now_ms)          # one whole frame from any peer
    f.send_data(sid, payload, now_ms) # protect and queue one DATA frame
    f.close(sid, now_ms)              # CLOSE(0) if established, free the slot, no event
    f.poll(now_ms)                    # the timers of 4.4 item 7
    f.prepare(now_ms) -> bool         # create the key-pair job of k or k+1 (3.9)
    f.busy() -> bool                  # a job is queued (4.7)
    f.work(now_ms)                    # one unit of the head job: an X25519 or a completion
    f.next_output() -> bytes | None   # frames to send, in order (at most out_queue queued)
    f.next_event() -> Event | None    # events, in order

``receive`` never raises for anything a peer can send: a rejected frame gives
one ERROR event (and an ERROR frame where 4.4 item 5 says). ``send_data`` and
``close`` raise :class:`~.errors.UsageError` when the caller names no such
session or a payload is too long.

F holds a ring of ``ring_slots`` SRK slots and a table of ``sessions`` slots,
both allocated here and reused; freeing either overwrites its key bytes.

* Ring slots (4.1, 3.9) hold, per interval k, the suite-1 SRK and the suite-2
  key pair (none, pending: its job queued, or ready). Removal ``M x L`` after
  ``t_k`` overwrites both and wipes every job holding a copy of ``srk_priv``.
* Session slots (4.2) are FREE, WAIT_PROOF (half-open), CHECKING (a suite-2
  PROOF passed ``t``; its DH job is queued), WAIT_CONFIRM (KEY sent) or OPEN
  (S spoke under the session key, 4.6).
* PROOF (4.5): ``t`` under KP, prepared at REQ time, is checked before any
  DH; a failed ``t``, SPV or all-zero DH counts, and the slot is freed after
  ``proof_tries`` of them.
* The key chain (3.6, 5.3): MS is erased in the call that accepts the
  PROOF; the slot keeps one chain key, CK_{j+1}, and each rotation replaces
  it with CK_{j+2}.
* Suite 3 (15.10): the user's secret enters only CPace. A suite-3 REQ makes
  the slot SHARING while a job computes F's share ``Y_f``; its end sends the
  SRK frame. A suite-3 PROOF's job computes K, ISK and the keys, checks ``t``
  (WRONG_CODE), then DH and ``c``. The first rejected PROOF frees the slot
  (``proof_tries`` 1), and every suite-3 slot that ends without an accepted
  PROOF counts one failed attempt of its ``id_s``: from the tenth on, F backs
  off (event BACKOFF) and answers that peer's REQs with ERROR(BACKOFF).
"""

from collections import deque
from collections.abc import Iterable

from . import cpace, crypto, keyschedule as ks, wire
from .config import FirstConfig, Pairing
from .errors import Code, ProtocolError, RngError, UsageError
from .events import (
    BACKOFF,
    CLOSED,
    DATA,
    ERROR,
    ESTABLISHED,
    HANDSHAKE_FAILED,
    PEER_ERROR,
    ROTATED,
)
from .pair_device import backoff_delay
from .station import Rng, Station
from .ticks import DEFAULT_PERIOD

FREE = 0
WAIT_PROOF = 1
CHECKING = 2
WAIT_CONFIRM = 3
OPEN = 4
SHARING = 5  # suite 3: the job computing Y_f runs; no SRK frame sent yet (15.10)
STATE_NAMES = {FREE: "FREE", WAIT_PROOF: "WAIT_PROOF", CHECKING: "CHECKING",
               WAIT_CONFIRM: "WAIT_CONFIRM", OPEN: "OPEN", SHARING: "SHARING"}
ESTABLISHED_STATES = (WAIT_CONFIRM, OPEN)
HALF_OPEN = (SHARING, WAIT_PROOF, CHECKING)
SUITE3_MASK = 0x04
PS_SUITES_MASK = 0x03

PAIR_NONE = 0
PAIR_PENDING = 1
PAIR_READY = 2

_JOB_PAIR = 0
_JOB_CHECK = 1
_JOB_SHARE = 2  # suite 3: the generator and Y_f = X25519(y_f, g)
_JOB_CHECK3 = 3  # suite 3: K, then (t checked) DH, then c


def _zero(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


class _RingSlot:
    """One interval of the circular buffer (4.1, 3.9)."""

    __slots__ = ("srk", "has_srk", "srk_priv", "srk_pub", "pair", "k", "t_k", "live")

    def __init__(self) -> None:
        self.srk = bytearray(16)
        self.has_srk = False
        self.srk_priv = bytearray(32)
        self.srk_pub = bytearray(32)
        self.pair = PAIR_NONE
        self.k = 0
        self.t_k = 0
        self.live = False

    def erase(self) -> None:
        _zero(self.srk)
        _zero(self.srk_priv)
        _zero(self.srk_pub)
        self.has_srk = False
        self.pair = PAIR_NONE
        self.live = False


class _Job:
    """An X25519 job (4.7): a key pair (``srk_pub = X25519(srk_priv, 9)``) or a
    PROOF check (``DH = X25519(srk_priv, e_pub)``). It holds its own copy of
    ``srk_priv``, wiped with the ring slot it came from."""

    __slots__ = ("kind", "ring_index", "k", "priv", "u", "out", "done", "wiped", "session",
                 "step", "kk", "spv", "psu")

    def __init__(self, kind: int, ring_index: int, k: int, priv: bytes | bytearray,
                 u: bytes | None, session: "_Session | None" = None):
        self.kind = kind
        self.ring_index = ring_index
        self.k = k
        self.priv = bytearray(priv)
        self.u = u  # None: the base point
        self.out = bytearray(32)
        self.done = False  # the X25519 ran
        self.wiped = False
        self.session = session
        # suite 3's check: its units (0: K, 1: t, 2: DH, 3: c), K, SPV and PSU
        self.step = 0
        self.kk = bytearray(32)
        self.spv = bytearray(16)
        self.psu = bytearray(32)

    def wipe(self) -> None:
        for buf in (self.priv, self.out, self.kk, self.spv, self.psu):
            _zero(buf)
        self.wiped = True


class _Session:
    """One slot of the session table (4.2)."""

    def __init__(self, index: int, idrks: int):
        self.index = index
        self.th2 = bytearray(32)
        self.kp = bytearray(32)
        self.spv = bytearray(16)
        self.ck = bytearray(32)  # CK_{j+1} while established
        self.wrapped = bytearray(24)  # KEY's wrapped IDRK_0, then the pending REKEY's
        self.idrks = [bytearray(16) for _ in range(idrks)]
        self.y_f = bytearray(32)  # suite 3: F's CPace scalar, until the slot leaves use
        self.clear()

    def clear(self) -> None:
        for buf in (self.th2, self.kp, self.spv, self.ck, self.wrapped, self.y_f, *self.idrks):
            _zero(buf)
        self.req = b""  # suite 3: CPace's ADa
        self.n_f = b""
        self.srk_pub = b""
        self.share = b""  # suite 3: Y_f
        self.user = b""  # suite 3: the record's secret (CPace's PRS)
        self.id_f = b""
        self.state = FREE
        self.sid = 0
        self.suite = 0
        self.id_s = b""
        self.n_s = b""
        self.offer = 0
        self.ps = b""
        self.ring_index = 0
        self.k = 0
        self.request_time = 0
        self.srk_frame = b""
        self.fails = 0
        self.proof = b""  # the PROOF being checked, then the accepted one until confirmation
        self.job: _Job | None = None
        self.established_at = 0
        self.key_idx = 0  # F sends and receives under it (and key_idx + 1 while pending)
        self.send_seq = 0
        self.recv_last: dict[int, int] = {}  # kidx -> last accepted seq from S
        self.pending = False  # a REKEY(key_idx + 1) is out, not yet acknowledged
        self.rekey_sends = 0
        self.rekey_last = 0
        self.count = 0  # DATA frames both ways under key_idx
        self.key_at = 0
        self.last_rx = 0


class FirstStation(Station):
    def __init__(
        self,
        config: FirstConfig,
        pairings: Iterable[Pairing],
        rng: Rng,
        now_ms: int,
        *,
        tick_period: int = DEFAULT_PERIOD,
    ):
        super().__init__(rng, tick_period, config.longest_timer(), config.out_queue)
        self.config = config
        self._pairings: dict[bytes, Pairing] = {}
        for p in pairings:
            if p.id_s in self._pairings:
                raise ValueError("pairings: id_s %s appears twice" % p.id_s.hex())
            self._pairings[p.id_s] = p
        if not self._pairings:
            raise UsageError(Code.NOT_PAIRED, "a first station needs at least one pairing")
        self._suite_mask = wire.suites_to_offer(config.suites)
        self._ring = [_RingSlot() for _ in range(config.ring_slots)]
        self._head = 0
        self._k = 0
        self._t_k = self._tick(now_ms)
        self._slots = [_Session(i, config.idrks) for i in range(config.sessions)]
        self._jobs: deque[_Job] = deque()
        # 15.10: failed suite-3 attempts per id_s, [fails, until or None], kept in RAM
        self._backoff: dict[bytes, list[int | None]] = {
            p.id_s: [0, None] for p in self._pairings.values() if p.is_user}

    # -- introspection (tests, tools) ---------------------------------------------
    @property
    def interval(self) -> int:
        """Current initiation interval number k."""
        return self._k

    def ring_view(self) -> list[tuple[int, int] | None]:
        """Per ring slot: (k, t_k) of its live interval, or None. Slot order."""
        return [(r.k, r.t_k) if r.live else None for r in self._ring]

    def ring_keys(self) -> list[tuple[int, bool, bool] | None]:
        """Per ring slot: (k, holds a suite-1 SRK, holds a ready suite-2 key pair), or None."""
        return [(r.k, r.has_srk, r.pair == PAIR_READY) if r.live else None for r in self._ring]

    def pair_state(self, k: int) -> str:
        """"none", "pending" or "ready": interval k's suite-2 key pair."""
        i = self._ring_slot_of(k)
        state = self._ring[i].pair if i is not None else PAIR_NONE
        return ("none", "pending", "ready")[state]

    def srk_pub_of(self, k: int) -> bytes | None:
        """The suite-2 public key of interval k, if the ring holds a ready one."""
        i = self._ring_slot_of(k)
        if i is None or self._ring[i].pair != PAIR_READY:
            return None
        return bytes(self._ring[i].srk_pub)

    def interval_of_key_pair(self, srk_priv: bytes) -> int | None:
        """The interval whose ring slot holds this ``srk_priv`` (vector tools)."""
        for r in self._ring:
            if r.live and r.pair != PAIR_NONE and bytes(r.srk_priv) == bytes(srk_priv):
                return r.k
        return None

    @property
    def ring_head(self) -> int:
        return self._head

    def session_states(self) -> list[tuple[str, int]]:
        """Per session slot: (state name, sid)."""
        return [(STATE_NAMES[s.state], s.sid) for s in self._slots]

    def session_key_index(self, sid: int) -> int | None:
        s = self._find(sid)
        return s.key_idx if s is not None and s.state in ESTABLISHED_STATES else None

    def session_suite(self, sid: int) -> int | None:
        s = self._find(sid)
        return s.suite if s is not None else None

    def session_peer(self, sid: int) -> bytes | None:
        """The identity (``id_s``) of the second station of session ``sid``."""
        s = self._find(sid)
        return bytes(s.id_s) if s is not None else None

    def session_fails(self, sid: int) -> int | None:
        s = self._find(sid)
        return s.fails if s is not None else None

    def failed_attempts(self, id_s: bytes) -> int:
        """Suite 3: the consecutive failed attempts of ``id_s`` (15.10)."""
        return int(self._backoff[id_s][0] or 0)

    def backoff_left(self, id_s: bytes, now_ms: int) -> int:
        """Suite 3: ms until ``id_s`` may try again (0: not backing off)."""
        until = self._backoff[id_s][1]
        return 0 if until is None else max(0, self._diff(until, self._tick(now_ms)))

    def secret_state(self) -> list[bytes]:
        """Every key byte string F holds now (ring and session slots, jobs, PS):
        what an attacker who took F's memory would have (9.2's test)."""
        out: list[bytes] = [p.ps or p.user or b"" for p in self._pairings.values()]
        for r in self._ring:
            out += [bytes(r.srk), bytes(r.srk_priv), bytes(r.srk_pub)]
        for s in self._slots:
            out += [bytes(b) for b in (s.th2, s.kp, s.spv, s.ck, s.wrapped, s.y_f, *s.idrks)]
        for j in self._jobs:
            out += [bytes(j.priv), bytes(j.out), bytes(j.kk), bytes(j.spv), bytes(j.psu)]
        return out

    # -- public verbs -------------------------------------------------------------
    def receive(self, frame: bytes, now_ms: int) -> None:
        now = self._tick(now_ms)
        self._advance(now)
        raw = bytes(frame)
        try:
            self._dispatch(raw, now)
        except ProtocolError as e:
            self._reject(raw, e)

    def send_data(self, sid: int, payload: bytes, now_ms: int) -> None:
        now = self._tick(now_ms)
        self._advance(now)
        s = self._find(sid)
        if s is None or s.state not in ESTABLISHED_STATES:
            raise UsageError(Code.UNKNOWN_SESSION, "no established session with sid %d" % sid)
        if len(payload) > self.config.max_payload:
            raise UsageError(Code.TOO_LONG, "payload of %d bytes, max_payload is %d"
                             % (len(payload), self.config.max_payload))
        if self._send(s, wire.DATA, bytes(payload)):
            s.count += 1
            self._check_rotation(s, now)

    def close(self, sid: int, now_ms: int) -> None:
        now = self._tick(now_ms)
        self._advance(now)
        s = self._find(sid)
        if s is None:
            raise UsageError(Code.UNKNOWN_SESSION, "no session with sid %d" % sid)
        if s.state in ESTABLISHED_STATES:
            self._send(s, wire.CLOSE, bytes((Code.OK,)))
        self._free_half_open(s, None, now)

    def poll(self, now_ms: int) -> None:
        now = self._tick(now_ms)
        self._advance(now)
        cfg = self.config
        for s in self._slots:
            if s.state == WAIT_PROOF:
                if self._handshake_expired(s, now):
                    self._free_half_open(s, Code.TIMEOUT, now)
            elif s.state in ESTABLISHED_STATES:
                if self._diff(now, s.last_rx) >= cfg.idle_ms:
                    self._close_session(s, Code.TIMEOUT)
                elif s.state != OPEN:
                    continue
                elif s.pending:
                    if self._diff(now, s.rekey_last) >= cfg.rekey_retry_ms:
                        if s.rekey_sends < cfg.rekey_tries:
                            if self._send(s, wire.REKEY, self._rekey_pt(s)):
                                s.rekey_sends += 1
                                s.rekey_last = now
                        else:
                            self._close_session(s, Code.TIMEOUT)
                elif self._diff(now, s.key_at) >= cfg.rotate_ms:
                    self._start_rotation(s, now)

    def prepare(self, now_ms: int) -> bool:
        """Create the key-pair job of the first of intervals k, k+1 without a
        key pair (3.9); at most one per call, none if F accepts neither suite 2
        nor suite 3. Returns True if it created one. An RNG failure creates nothing."""
        now = self._tick(now_ms)
        self._advance(now)
        if 2 not in self.config.suites and 3 not in self.config.suites:
            return False  # only suites 2 and 3 use the interval's key pair
        for k, t_k in ((self._k, self._t_k),
                       (self._k + 1, self._add(self._t_k, self.config.interval_ms))):
            index = self._ring_slot_of(k)
            if index is not None and self._ring[index].pair != PAIR_NONE:
                continue
            try:
                priv = self._draw(32)
            except RngError:
                return False
            self._queue_pair_job(index, k, t_k, priv)
            return True
        return False

    def busy(self) -> bool:
        return bool(self._jobs)

    def work(self, now_ms: int) -> None:
        now = self._tick(now_ms)
        self._advance(now)
        if not self._jobs:
            return
        job = self._jobs[0]
        if job.kind == _JOB_SHARE:
            self._work_share(job, now)
            return
        if job.kind == _JOB_CHECK3 and not job.wiped:
            self._work_check3(job, now)
            return
        if job.kind == _JOB_PAIR:
            if not job.done:
                job.out[:] = crypto.x25519_base(job.priv)
                job.done = True
                return
            self._jobs.popleft()
            r = self._ring[job.ring_index]
            r.srk_pub[:] = job.out
            r.pair = PAIR_READY
            job.wipe()
            return
        s = job.session
        assert s is not None
        if job.wiped:  # its key pair left the ring (4.7)
            self._jobs.popleft()
            self._end_check(s)
            sid = s.sid
            self._report(ERROR, sid, Code.SRK_EXPIRED)
            self._emit(wire.build_error(sid, Code.SRK_EXPIRED))
            self._free_half_open(s, Code.SRK_EXPIRED, now)
            return
        if not job.done:
            assert job.u is not None
            shared = crypto.x25519(job.priv, job.u)
            job.out[:] = shared if shared is not None else bytes(32)
            job.done = True
            return
        self._jobs.popleft()
        proof = s.proof
        self._end_check(s)
        try:
            if not any(job.out):  # a low-order e_pub (3.9)
                self._proof_failed(s, Code.AUTH_FAILED, now)
                return
            self._check_spv(s, proof, bytes(job.out), now)
        finally:
            job.wipe()

    # -- clock and ring (4.1) -----------------------------------------------------
    def _advance(self, now: int) -> None:
        cfg = self.config
        d = self._diff(now, self._t_k)
        if d >= cfg.interval_ms:
            n = d // cfg.interval_ms
            self._k += n
            self._t_k = self._add(self._t_k, n * cfg.interval_ms)
        limit = cfg.m * cfg.lifetime_ms
        for i, r in enumerate(self._ring):
            if r.live and self._diff(now, r.t_k) >= limit:
                self._remove_ring_slot(i)

    def _remove_ring_slot(self, index: int) -> None:
        r = self._ring[index]
        for job in list(self._jobs):
            if job.ring_index == index and job.k == r.k:
                job.wipe()
                if job.kind == _JOB_PAIR:
                    self._jobs.remove(job)  # dropped without a trace (4.7)
        r.erase()

    def _ring_slot_of(self, k: int) -> int | None:
        for i, r in enumerate(self._ring):
            if r.live and r.k == k:
                return i
        return None

    def _tag_slot(self, k: int, t_k: int) -> int:
        """A ring slot for interval k (4.1): the first one not live from
        ``head`` on; if all are live, the one with the oldest ``t_k`` is removed
        first (the lowest on a tie)."""
        n = len(self._ring)
        index = None
        for step in range(n):
            if not self._ring[(self._head + step) % n].live:
                index = (self._head + step) % n
                break
        if index is None:
            index = 0
            for i, r in enumerate(self._ring):
                if self._diff(r.t_k, self._ring[index].t_k) < 0:
                    index = i
            self._remove_ring_slot(index)
        r = self._ring[index]
        r.erase()
        r.k = k
        r.t_k = t_k
        r.live = True
        self._head = (index + 1) % n
        return index

    def _queue_pair_job(self, index: int | None, k: int, t_k: int, priv: bytes) -> None:
        if index is None:
            index = self._tag_slot(k, t_k)
        r = self._ring[index]
        r.srk_priv[:] = priv
        r.pair = PAIR_PENDING
        self._jobs.append(_Job(_JOB_PAIR, index, k, priv, None))

    def _holds_key(self, s: _Session) -> bool:
        """The session's ring slot still holds its interval's SRK or ready key pair."""
        r = self._ring[s.ring_index]
        return r.live and r.k == s.k and (r.pair == PAIR_READY if s.suite >= 2 else r.has_srk)

    def _handshake_expired(self, s: _Session, now: int) -> bool:
        return self._diff(now, s.request_time) >= self.config.lifetime_ms or not self._holds_key(s)

    # -- receiving ----------------------------------------------------------------
    def _find(self, sid: int) -> _Session | None:
        for s in self._slots:
            if s.state != FREE and s.sid == sid:
                return s
        return None

    def _reject(self, raw: bytes, e: ProtocolError) -> None:
        """Event ERROR; an ERROR frame for a REQ or PROOF (4.4 item 5)."""
        self._report(ERROR, e.sid, e.code)
        if e.answer and raw and raw[0] in (wire.byte0(wire.REQ), wire.byte0(wire.PROOF)):
            self._emit(wire.build_error_for(raw, e.code))

    def _dispatch(self, raw: bytes, now: int) -> None:
        fr = wire.decode(raw, wire.ACCEPTED_BY_F, self.config.max_payload)
        if fr.type == wire.ERROR:
            self._report(PEER_ERROR, fr.sid, fr.num("code"))
            return
        if fr.type == wire.REQ:
            self._on_req(fr, now)
            return
        s = self._find(fr.sid)
        if s is None:
            raise ProtocolError(Code.UNKNOWN_SESSION, "sid", fr.sid)
        if fr.type == wire.PROOF:
            self._on_proof(s, fr, now)
        elif s.state not in ESTABLISHED_STATES:
            raise ProtocolError(Code.UNEXPECTED, "type", fr.sid)
        else:
            self._on_protected(s, fr, now)

    def _on_req(self, fr: wire.Frame, now: int) -> None:
        cfg = self.config
        id_s = fr.data("id_s")
        n_s = fr.data("n_s")
        offer = fr.num("offer")
        pairing = self._pairings.get(id_s)
        if pairing is None:
            raise ProtocolError(Code.UNKNOWN_PEER, "id_s", 0)
        # 15.10: suite 3 only for a user record, suites 1 and 2 only for a ps record.
        common = offer & self._suite_mask & (SUITE3_MASK if pairing.is_user else PS_SUITES_MASK)
        if not common:
            raise ProtocolError(Code.BAD_SUITE, "offer", 0)
        suite = common.bit_length()  # the highest common suite
        if suite == 3 and self._backing_off(id_s, now):
            raise ProtocolError(Code.BACKOFF, "", 0)

        # Step 0: expiry, as poll would do it.
        for s in self._slots:
            if s.state == WAIT_PROOF and self._handshake_expired(s, now):
                self._free_half_open(s, Code.TIMEOUT, now)

        # Step 1: a retransmitted REQ.
        for s in self._slots:
            if s.state != FREE and s.id_s == id_s and s.n_s == n_s:
                if s.state in (WAIT_PROOF, SHARING):
                    if s.offer == offer:
                        if s.state == WAIT_PROOF:
                            self._emit(s.srk_frame)
                        return  # SHARING: its SRK frame is not built yet (15.10)
                    break  # a new request: step 3 (a) takes this slot
                raise ProtocolError(Code.REPLAY, "n_s", 0, answer=False)

        # Step 2: suites 2 and 3 need interval k's key pair ready.
        ring_index = self._ring_slot_of(self._k)
        if suite >= 2 and (ring_index is None or self._ring[ring_index].pair != PAIR_READY):
            if ring_index is None or self._ring[ring_index].pair == PAIR_NONE:
                try:
                    priv = self._draw(32)
                except RngError:
                    raise ProtocolError(Code.RNG_FAILURE, "", 0) from None
                self._queue_pair_job(ring_index, self._k, self._t_k, priv)
            raise ProtocolError(Code.NOT_READY, "", 0)

        # Step 3: the slot (nothing changes yet).
        target, evict_confirm = self._pick_slot(id_s, now)
        if target is None:
            raise ProtocolError(Code.BUSY, "", 0)
        if suite == 3 and target.id_s == id_s and target.state in HALF_OPEN and \
                backoff_delay(self.failed_attempts(id_s) + 1):
            # Replacing P's own attempt starts P's back-off: this REQ waits for it (15.10).
            self._free_half_open(target, None, now)
            raise ProtocolError(Code.BACKOFF, "", 0)

        # Step 4: one RNG call, split in the spec's order (suite 3: y_f last).
        need_srk = suite == 1 and (ring_index is None or not self._ring[ring_index].has_srk)
        a = 16 if need_srk else 0
        n_idrk = 16 * cfg.idrks
        try:
            drawn = self._draw(a + 2 + 12 + n_idrk + (32 if suite == 3 else 0))
        except RngError:
            raise ProtocolError(Code.RNG_FAILURE, "", 0) from None
        srk = drawn[:a]
        seed = int.from_bytes(drawn[a:a + 2], "big")
        n_f = drawn[a + 2:a + 14]
        idrks = drawn[a + 14:a + 14 + n_idrk]
        y_f = drawn[a + 14 + n_idrk:]

        # Step 5: commit.
        if need_srk:
            if ring_index is None:
                ring_index = self._tag_slot(self._k, self._t_k)
            r = self._ring[ring_index]
            r.srk[:] = srk
            r.has_srk = True
        assert ring_index is not None
        r = self._ring[ring_index]
        if evict_confirm:
            self._close_session(target, Code.TIMEOUT)
        else:
            self._free_half_open(target, None, now)
        live = {s.sid for s in self._slots if s.state != FREE and s is not target}
        sid = seed
        while sid == 0 or sid in live:
            sid = (sid + 1) % wire.SID_LIMIT
        s = target
        s.state = WAIT_PROOF
        s.sid = sid
        s.suite = suite
        s.id_s = id_s
        s.n_s = n_s
        s.offer = offer
        s.ps = pairing.ps
        s.ring_index = ring_index
        s.k = self._k
        s.request_time = now
        s.fails = 0
        for i, buf in enumerate(s.idrks):
            buf[:] = idrks[16 * i:16 * (i + 1)]
        if suite == 3:
            # 15.10: the SRK frame waits for Y_f, computed by a job.
            s.state = SHARING
            s.req = fr.raw
            s.n_f = n_f
            s.srk_pub = bytes(r.srk_pub)
            s.user = pairing.user or b""
            s.id_f = pairing.id_f
            s.y_f[:] = y_f
            s.job = _Job(_JOB_SHARE, ring_index, self._k, b"", None, s)
            self._jobs.append(s.job)
            return
        th1 = ks.th1(fr.raw)
        prk = ks.prk(n_s, n_f, pairing.ps)
        if suite == 2:
            head = wire.srk2_head(sid, n_f, bytes(r.srk_pub))
            s.srk_frame = head + ks.auth(ks.ka(prk, th1), head)
        else:
            head = wire.srk_head(1, sid, n_f)
            kek2 = ks.kek2(prk, th1, head[:wire.KEK2_HEAD_LEN])
            s.srk_frame = wire.build_srk1(sid, n_f, crypto.kw_wrap(kek2, bytes(r.srk)))
        s.th2[:] = ks.th2(th1, s.srk_frame)
        s.kp[:] = ks.kp(prk, suite, s.th2)
        s.spv[:] = ks.spv(prk, suite, s.th2)
        self._emit(s.srk_frame)

    def _pick_slot(self, id_s: bytes, now: int) -> tuple[_Session | None, bool]:
        """4.2 step 3; the flag says the slot is an unconfirmed session to close."""
        for s in self._slots:
            if s.state in (WAIT_PROOF, SHARING) and s.id_s == id_s:
                return s, False
        for s in self._slots:
            if s.state == FREE:
                return s, False
        best: _Session | None = None
        best_age = -1
        for s in self._slots:
            if s.state == WAIT_CONFIRM:
                age = self._diff(now, s.established_at)
                if age >= self.config.confirm_ms and age > best_age:
                    best, best_age = s, age
        if best is not None:
            return best, True
        oldest: _Session | None = None
        for s in self._slots:
            if s.state in (WAIT_PROOF, SHARING) and (
                    oldest is None or self._diff(s.request_time, oldest.request_time) < 0):
                oldest = s
        return oldest, False

    def _on_proof(self, s: _Session, fr: wire.Frame, now: int) -> None:
        """4.5 steps 2-6 (step 1, the lookup, is done)."""
        sid = s.sid
        if fr.suite != s.suite:
            raise ProtocolError(Code.MALFORMED, "length", sid)
        if s.state == WAIT_CONFIRM:
            if fr.raw == s.proof:  # KEY was lost: the same KEY again
                self._emit(wire.build_key(sid, bytes(s.wrapped)))
                return
            raise ProtocolError(Code.UNEXPECTED, "type", sid)
        if s.state == CHECKING:
            if fr.raw == s.proof:
                return  # a repeat of the PROOF being checked: not a rejection
            raise ProtocolError(Code.UNEXPECTED, "type", sid)
        if s.state != WAIT_PROOF:
            raise ProtocolError(Code.UNEXPECTED, "type", sid)
        if self._handshake_expired(s, now):
            raise ProtocolError(Code.SRK_EXPIRED, "", sid)
        r = self._ring[s.ring_index]
        if s.suite == 3:
            # 15.10: nothing keyed by the secret can be checked before K.
            s.state = CHECKING
            s.proof = fr.raw
            s.job = _Job(_JOB_CHECK3, s.ring_index, s.k, r.srk_priv, fr.data("e_pub"), s)
            self._jobs.append(s.job)
            return
        n = len(fr.raw)
        if not crypto.ct_equal(ks.proof_t(bytes(s.kp), fr.raw[:n - ks.T_LEN]), fr.data("t")):
            self._proof_failed(s, Code.AUTH_FAILED, now)
            return
        if s.suite == 1:
            self._check_spv(s, fr.raw, bytes(r.srk), now)
            return
        s.state = CHECKING
        s.proof = fr.raw
        s.job = _Job(_JOB_CHECK, s.ring_index, s.k, r.srk_priv, fr.data("e_pub"), s)
        self._jobs.append(s.job)

    def _end_check(self, s: _Session) -> None:
        """A CHECKING slot whose job ended returns to WAIT_PROOF."""
        s.job = None
        s.proof = b""
        s.state = WAIT_PROOF

    def _check_spv(self, s: _Session, proof: bytes, x: bytes, now: int) -> None:
        """4.5 step 7: PRK3 and the pad from X (the SRK or DH), then SPV."""
        prk3 = ks.prk3(s.th2, x, s.ps)
        c = ks.xor(bytes(s.spv), ks.pad(prk3, s.suite))
        off = 3 if s.suite == 1 else 35
        if not crypto.ct_equal(c, proof[off:off + 16]):
            self._proof_failed(s, Code.BAD_PROOF, now)
            return
        self._accept(s, proof, prk3, now)

    def _proof_failed(self, s: _Session, code: Code, now: int = 0) -> None:
        """A counted rejection (4.5): ERROR event and frame, then at
        ``proof_tries`` (suite 3: 1) the slot is freed with HANDSHAKE_FAILED."""
        sid = s.sid
        s.fails += 1
        self._report(ERROR, sid, code)
        self._emit(wire.build_error(sid, code))
        if s.suite == 3 or s.fails >= self.config.proof_tries:
            self._free_half_open(s, code, now)

    # -- suite 3 (15.10) ------------------------------------------------------------
    def _backing_off(self, id_s: bytes, now: int) -> bool:
        until = self._backoff[id_s][1]
        return until is not None and self._diff(until, now) > 0

    def _free_half_open(self, s: _Session, code: Code | None, now: int) -> None:
        """Free a slot; HANDSHAKE_FAILED(code) unless ``code`` is None. A suite-3
        slot that ends before an accepted PROOF is a failed attempt of its
        ``id_s``; the one that starts or extends a back-off reports BACKOFF."""
        sid, id_s = s.sid, s.id_s
        counted = s.suite == 3 and s.state in HALF_OPEN
        self._free(s)
        if code is not None:
            self._report(HANDSHAKE_FAILED, sid, code)
        if counted:
            entry = self._backoff[id_s]
            entry[0] = fails = int(entry[0] or 0) + 1
            delay = backoff_delay(fails)
            if delay:
                entry[1] = self._add(now, delay)
                self._report(BACKOFF, sid, delay)

    def _work_share(self, job: _Job, now: int) -> None:
        """SHARING: the generator and ``Y_f`` (one unit), then the SRK frame."""
        s = job.session
        assert s is not None
        if job.wiped:  # the interval's key pair left the ring first
            self._jobs.popleft()
            s.job = None
            self._free_half_open(s, Code.SRK_EXPIRED, now)
            return
        if not job.done:
            g = cpace.calculate_generator(s.user, ks.ci3(s.id_s, s.id_f), s.n_s + s.n_f)
            job.out[:] = cpace.scalar_mult(bytes(s.y_f), g)
            job.done = True
            return
        self._jobs.popleft()
        s.job = None
        s.share = bytes(job.out)
        job.wipe()
        s.srk_frame = wire.build_srk3(s.sid, s.n_f, s.srk_pub, s.share)
        s.th2[:] = ks.th2(ks.th1(s.req), s.srk_frame)
        s.state = WAIT_PROOF
        self._emit(s.srk_frame)

    def _work_check3(self, job: _Job, now: int) -> None:
        """A suite-3 PROOF (15.10), one unit per call: K; ISK, the keys and ``t``;
        DH; PRK3, the pad and ``c``."""
        s = job.session
        assert s is not None
        proof = s.proof
        if job.step == 0:
            job.kk[:] = cpace.scalar_mult_vfy(bytes(s.y_f), proof[3:35])
            job.step = 1
            return
        if job.step == 1:
            if not any(job.kk):  # a low-order Y_s: CPace aborts
                self._check3_failed(job, s, Code.AUTH_FAILED, now)
                return
            isk = ks.isk_s3(s.n_s, s.n_f, job.kk, proof[3:35], s.req, s.share, s.srk_frame)
            prk = ks.prk_s3(s.th2, isk)
            kp = ks.kp(prk, 3, s.th2)
            job.spv[:] = ks.spv(prk, 3, s.th2)
            job.psu[:] = ks.psu(prk, s.th2)
            _zero(job.kk)
            if not crypto.ct_equal(ks.proof_t(kp, proof[:83]), proof[83:91]):
                self._check3_failed(job, s, Code.WRONG_CODE, now)
                return
            job.step = 2
            return
        if job.step == 2:
            shared = crypto.x25519(job.priv, job.u or b"")
            job.out[:] = shared if shared is not None else bytes(32)
            job.step = 3
            return
        self._jobs.popleft()
        self._end_check(s)
        try:
            if not any(job.out):  # a low-order e_pub
                self._proof_failed(s, Code.AUTH_FAILED, now)
                return
            prk3 = ks.prk3(s.th2, job.out, job.psu)
            c = ks.xor(bytes(job.spv), ks.pad(prk3, 3))
            if not crypto.ct_equal(c, proof[67:83]):
                self._proof_failed(s, Code.BAD_PROOF, now)
                return
            self._backoff[s.id_s][:] = [0, None]
            self._accept(s, proof, prk3, now)
        finally:
            job.wipe()

    def _check3_failed(self, job: _Job, s: _Session, code: Code, now: int) -> None:
        self._jobs.popleft()
        job.wipe()
        self._end_check(s)
        self._proof_failed(s, code, now)

    def _accept(self, s: _Session, proof: bytes, prk3: bytes, now: int) -> None:
        """4.6: make room among P's sessions, derive the chain, send KEY."""
        peer = s.id_s
        for o in self._slots:
            if o is not s and o.state == WAIT_CONFIRM and o.id_s == peer:
                self._close_session(o, Code.REPLACED)
        while True:
            opens = [o for o in self._slots if o is not s and o.state == OPEN and o.id_s == peer]
            if len(opens) < self.config.peer_sessions:
                break
            oldest = opens[0]
            for o in opens[1:]:
                if self._diff(o.established_at, oldest.established_at) < 0:
                    oldest = o
            self._close_session(oldest, Code.REPLACED)
        ms = bytearray(ks.ms(prk3, s.suite, ks.th3(s.th2, proof)))
        kek0 = bytearray(ks.kek(ms, s.suite, 0))
        s.ck[:] = ks.chain(ms, s.suite, 1)
        s.wrapped[:] = crypto.kw_wrap(kek0, bytes(s.idrks[0]))
        for buf in (ms, kek0, s.th2, s.kp, s.spv):
            _zero(buf)
        s.proof = proof
        s.state = WAIT_CONFIRM
        s.established_at = s.last_rx = s.key_at = now
        s.key_idx = 0
        s.send_seq = 0
        s.recv_last = {}
        s.pending = False
        s.count = 0
        self._emit(wire.build_key(s.sid, bytes(s.wrapped)))
        self._report(ESTABLISHED, s.sid, 0)

    def _on_protected(self, s: _Session, fr: wire.Frame, now: int) -> None:
        sid = s.sid
        kidx = fr.num("kidx")
        if not (kidx == s.key_idx or (s.pending and kidx == s.key_idx + 1)):
            raise ProtocolError(Code.BAD_KEY_INDEX, "kidx", sid)
        pt = ks.open_frame(bytes(s.idrks[kidx]), sid, ks.DIR_S2F, fr.raw)
        if pt is None:
            raise ProtocolError(Code.AUTH_FAILED, "tag", sid)
        seq = fr.num("seq")
        last = s.recv_last.get(kidx, -1)
        if seq <= last:
            raise ProtocolError(Code.REPLAY, "seq", sid)

        # All checks passed: confirmation, rotation, then the frame's own effect.
        if s.state == WAIT_CONFIRM:
            s.state = OPEN
            s.proof = b""
        if kidx != s.key_idx:
            self._finish_rotation(s, now)
        s.recv_last[kidx] = seq
        s.last_rx = now
        if fr.type == wire.DATA:
            self._report(DATA, sid, seq - last - 1, pt)
            s.count += 1
            self._check_rotation(s, now)
        elif fr.type == wire.CLOSE:
            self._free(s)
            self._report(CLOSED, sid, pt[0])
        # KEY_ACK: finishing a rotation or confirming is all it does.

    # -- rotation (5.3) -----------------------------------------------------------
    def _rekey_pt(self, s: _Session) -> bytes:
        return bytes((s.key_idx + 1,)) + bytes(s.wrapped)

    def _check_rotation(self, s: _Session, now: int) -> None:
        """4.4 item 8, right after a DATA frame was sent or accepted."""
        if s.state == OPEN and s.count >= self.config.rotate_frames and not s.pending:
            self._start_rotation(s, now)

    def _start_rotation(self, s: _Session, now: int) -> None:
        """KEK_{j+1} and CK_{j+2} from CK_{j+1}, which is then replaced."""
        j = s.key_idx
        if j + 1 >= self.config.idrks:
            self._close_session(s, Code.KEYS_EXHAUSTED)
            return
        kek = bytearray(ks.kek(s.ck, s.suite, j + 1))
        s.wrapped[:] = crypto.kw_wrap(kek, bytes(s.idrks[j + 1]))
        s.ck[:] = ks.chain(s.ck, s.suite, j + 2)
        _zero(kek)
        if self._send(s, wire.REKEY, self._rekey_pt(s)):
            s.pending = True
            s.rekey_sends = 1
            s.rekey_last = now

    def _finish_rotation(self, s: _Session, now: int) -> None:
        old = s.key_idx
        _zero(s.idrks[old])
        _zero(s.wrapped)
        s.recv_last.pop(old, None)
        s.key_idx = old + 1
        s.send_seq = 0
        s.pending = False
        s.rekey_sends = 0
        s.count = 0
        s.key_at = now
        self._report(ROTATED, s.sid, s.key_idx)

    # -- sending ------------------------------------------------------------------
    def _send(self, s: _Session, ftype: int, pt: bytes) -> bool:
        """Protect and queue one frame under the current key.

        The last seq below 2**30 is kept for CLOSE (3.7): asked for another
        frame there, F sends CLOSE(KEYS_EXHAUSTED) instead and frees the
        session. Returns False if the session was closed instead.
        """
        if ftype != wire.CLOSE and s.send_seq >= wire.SEQ_LIMIT - 1:
            self._close_session(s, Code.KEYS_EXHAUSTED)
            return False
        head = wire.protected_head(ftype, s.sid, s.key_idx, s.send_seq)
        s.send_seq += 1
        self._emit(ks.seal_frame(s.idrks[s.key_idx], s.sid, ks.DIR_F2S, head, pt))
        return True

    def _close_session(self, s: _Session, reason: Code) -> None:
        """Send CLOSE(reason), free the slot, report CLOSED(reason)."""
        sid = s.sid
        self._send(s, wire.CLOSE, bytes((reason,)))
        self._free(s)
        self._report(CLOSED, sid, reason)

    def _free(self, s: _Session) -> None:
        """Zero the slot; a CHECKING slot's job goes with it (4.7)."""
        if s.job is not None and s.job in self._jobs:
            s.job.wipe()
            self._jobs.remove(s.job)
        s.clear()
