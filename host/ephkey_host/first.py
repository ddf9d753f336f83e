"""The first station F (protocol.md sections 4 and 5), sans-IO.

API::

    f = FirstStation(config, pairings, rng, now_ms)
    f.receive(frame, now_ms)          # one whole frame from any peer
    f.send_data(sid, payload, now_ms) # protect and queue one DATA frame
    f.close(sid, now_ms)              # CLOSE(0), free the session, no event
    f.poll(now_ms)                    # run the timers of 4.4 item 7
    f.prepare(now_ms) -> bool         # pre-generate the next interval's key pair (3.9)
    f.next_output() -> bytes | None   # frames to send, in order
    f.next_event() -> Event | None    # events, in order

``receive`` never raises for anything a peer can send: a rejected frame gives
one ERROR event (and an ERROR frame where 4.4 item 5 says). ``send_data`` and
``close`` raise :class:`~.errors.UsageError` when the caller names no open
session or a payload is too long. ``close`` of a half-open session frees it
without sending anything.

F holds a ring of ``ring_slots`` SRK slots and a table of ``sessions`` slots,
both allocated here and reused; freeing either overwrites its key bytes.

Ring slots (4.1, 3.9) hold, per interval k, the suite-1 SRK and the suite-2 key
pair ``(srk_priv, srk_pub)``, each drawn on first use by its suite; removal
``M x L`` after ``t_k`` overwrites both. A new slot is the first slot that is
not live, looking from ``head`` on (``head`` then moves past it). Without
``prepare`` slots are taken in interval order and that is always the slot at
``head``; ``prepare`` can make a slot for k+1 before one for k is taken, and
the first-free rule then keeps a live key from being overwritten.

Pre-generation (3.9), the exact rule of :meth:`FirstStation.prepare`: after
the clock advance of 4.1 (k is the current interval), ``prepare`` is *due*
when F accepts suite 2 and no live ring slot tagged k+1 holds a key pair; it
then draws ``srk_priv`` (32 bytes, its only draw) for interval k+1 and tags the
slot ``(k+1, t_k + interval_ms)``, in a new slot (first-free rule above; none
can exist for k+1 without a key pair). It is due at any tick of interval k,
its first one included. Otherwise it draws nothing and changes nothing but the
clock advance and removals. It never makes a key pair for the current
interval k (a request does that, 4.2), never for k+2 or later, emits no frame
and reports no event.

Suite 2 erasure (3.9): ``srk_priv`` lives only in its ring slot (sessions keep
the slot index and interval, not a copy); DH is computed into a buffer that is
zeroed once MS is derived, or as soon as the PROOF is rejected.
"""

from collections.abc import Iterable

from . import crypto, keyschedule as ks, wire
from .config import FirstConfig, Pairing
from .errors import Code, ProtocolError, RngError, UsageError
from .events import CLOSED, DATA, ERROR, ESTABLISHED, HANDSHAKE_FAILED, PEER_ERROR, ROTATED
from .station import Rng, Station
from .ticks import DEFAULT_PERIOD

FREE = 0
WAIT_PROOF = 1
OPEN = 2
STATE_NAMES = {FREE: "FREE", WAIT_PROOF: "WAIT_PROOF", OPEN: "OPEN"}

_SID_MASK = wire.SID_LIMIT - 1


def _zero(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


class _RingSlot:
    """One interval of the circular buffer (4.1, 3.9): its suite-1 SRK and its
    suite-2 key pair (each present once drawn), interval k, its start tick."""

    __slots__ = ("srk", "has_srk", "srk_priv", "srk_pub", "has_pair", "k", "t_k", "live")

    def __init__(self) -> None:
        self.srk = bytearray(16)
        self.has_srk = False
        self.srk_priv = bytearray(32)
        self.srk_pub = bytearray(32)
        self.has_pair = False
        self.k = 0
        self.t_k = 0
        self.live = False

    def erase(self) -> None:
        _zero(self.srk)
        _zero(self.srk_priv)
        _zero(self.srk_pub)
        self.has_srk = False
        self.has_pair = False
        self.live = False


class _Session:
    """One slot of the session table (4.2)."""

    def __init__(self, index: int, idrks: int):
        self.index = index
        self.srk = bytearray(16)  # copy of the ring's SRK until PROOF is accepted
        self.th = bytearray(32)  # TH2 while waiting for PROOF, then TH3
        self.ms = bytearray(32)
        self.idrks = [bytearray(16) for _ in range(idrks)]
        self.clear()

    def clear(self) -> None:
        for buf in (self.srk, self.th, self.ms, *self.idrks):
            _zero(buf)
        self.state = FREE
        self.sid = 0
        self.suite = 0
        self.id_s = b""
        self.n_s = b""
        self.offer = 0
        self.n_f = b""
        self.ps = b""
        self.ring_index = 0
        self.k = 0
        self.request_time = 0
        self.srk_frame = b""
        self.proof_frame = b""
        self.key_frame = b""
        self.key_idx = 0  # F sends under it and receives under it (and +1 while pending)
        self.send_seq = 0
        self.recv_last: dict[int, int] = {}  # kidx -> last accepted seq from S
        self.pending = False  # a REKEY(key_idx + 1) is out, not yet acknowledged
        self.rekey_pt = b""
        self.rekey_sends = 0
        self.rekey_last = 0
        self.count = 0  # DATA frames both ways under key_idx
        self.key_time = 0
        self.last_rx = 0
        self.peer_spoke = False  # a protected frame from S was accepted


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
        super().__init__(rng, tick_period, config.longest_timer())
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

    # -- introspection (tests, tools) ---------------------------------------------
    @property
    def interval(self) -> int:
        """Current initiation interval number k."""
        return self._k

    def ring_view(self) -> list[tuple[int, int] | None]:
        """Per ring slot: (k, t_k) of its live SRK, or None. Slot order."""
        return [(r.k, r.t_k) if r.live else None for r in self._ring]

    def ring_keys(self) -> list[tuple[int, bool, bool] | None]:
        """Per ring slot: (k, holds a suite-1 SRK, holds a suite-2 key pair), or None."""
        return [(r.k, r.has_srk, r.has_pair) if r.live else None for r in self._ring]

    def srk_pub_of(self, k: int) -> bytes | None:
        """The suite-2 public key of interval k, if the ring holds one."""
        i = self._ring_slot_of(k)
        if i is None or not self._ring[i].has_pair:
            return None
        return bytes(self._ring[i].srk_pub)

    @property
    def ring_head(self) -> int:
        return self._head

    def session_states(self) -> list[tuple[str, int]]:
        """Per session slot: (state name, sid)."""
        return [(STATE_NAMES[s.state], s.sid) for s in self._slots]

    def session_key_index(self, sid: int) -> int | None:
        s = self._find(sid)
        return s.key_idx if s is not None and s.state == OPEN else None

    def session_suite(self, sid: int) -> int | None:
        s = self._find(sid)
        return s.suite if s is not None else None

    # -- public verbs -------------------------------------------------------------
    def receive(self, frame: bytes, now_ms: int) -> None:
        now = self._tick(now_ms)
        self._advance(now)
        raw = bytes(frame)
        try:
            self._dispatch(raw, now)
        except ProtocolError as e:
            self._report(ERROR, e.sid, e.code)
            # 4.4 item 5: only a rejected (version-1) REQ or PROOF is answered.
            if e.answer and len(raw) >= wire.HEADER_LEN and raw[0] == wire.VERSION \
                    and raw[1] in (wire.REQ, wire.PROOF):
                self._emit(wire.build_error(raw, e.code))

    def send_data(self, sid: int, payload: bytes, now_ms: int) -> None:
        now = self._tick(now_ms)
        self._advance(now)
        s = self._find(sid)
        if s is None or s.state != OPEN:
            raise UsageError(Code.UNKNOWN_SESSION, "no open session with sid %d" % sid)
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
        if s.state == OPEN:
            self._send(s, wire.CLOSE, bytes((Code.OK,)))
        s.clear()

    def poll(self, now_ms: int) -> None:
        now = self._tick(now_ms)
        self._advance(now)
        cfg = self.config
        for s in self._slots:
            if s.state == WAIT_PROOF:
                if self._diff(now, s.request_time) >= cfg.lifetime_ms:
                    sid = s.sid
                    s.clear()
                    self._report(HANDSHAKE_FAILED, sid, Code.TIMEOUT)
            elif s.state == OPEN:
                if self._diff(now, s.last_rx) >= cfg.idle_ms:
                    # tell S, so it does not go on talking to a freed slot
                    self._close_session(s, Code.TIMEOUT)
                elif s.pending:
                    if self._diff(now, s.rekey_last) >= cfg.rekey_retry_ms:
                        if s.rekey_sends < cfg.rekey_tries:
                            if self._send(s, wire.REKEY, s.rekey_pt):
                                s.rekey_sends += 1
                                s.rekey_last = now
                        else:
                            self._close_session(s, Code.TIMEOUT)
                elif self._diff(now, s.key_time) >= cfg.rotate_ms:
                    self._start_rotation(s, now)

    def prepare(self, now_ms: int) -> bool:
        """Pre-generate the suite-2 key pair of interval k+1 if due (3.9).

        Due when F accepts suite 2 and no live ring slot tagged k+1 holds a key
        pair (see the module docstring). Returns True if it drew one. An RNG
        failure raises :class:`~.errors.UsageError` (``RNG_FAILURE``) and leaves
        the ring as it was; a request then draws the key pair itself.
        """
        now = self._tick(now_ms)
        self._advance(now)
        if 2 not in self.config.suites:
            return False
        nxt = self._k + 1
        index = self._ring_slot_of(nxt)
        if index is not None and self._ring[index].has_pair:
            return False
        try:
            priv = self._draw(32)
        except RngError as exc:
            raise UsageError(Code.RNG_FAILURE, str(exc)) from exc
        if index is None:
            index = self._take_slot(nxt, self._add(self._t_k, self.config.interval_ms))
        self._put_pair(self._ring[index], priv)
        return True

    # -- clock and ring (4.1) -----------------------------------------------------
    def _advance(self, now: int) -> None:
        cfg = self.config
        d = self._diff(now, self._t_k)
        if d >= cfg.interval_ms:
            n = d // cfg.interval_ms
            self._k += n
            self._t_k = self._add(self._t_k, n * cfg.interval_ms)
        limit = cfg.m * cfg.lifetime_ms
        for r in self._ring:
            if r.live and self._diff(now, r.t_k) >= limit:
                r.erase()

    def _ring_slot_of(self, k: int) -> int | None:
        for i, r in enumerate(self._ring):
            if r.live and r.k == k:
                return i
        return None

    def _take_slot(self, k: int, t_k: int) -> int:
        """A new slot for interval k: the first one not live from ``head`` on."""
        n = len(self._ring)
        index = self._head
        for step in range(n):
            if not self._ring[(self._head + step) % n].live:
                index = (self._head + step) % n
                break
        r = self._ring[index]
        r.erase()  # not live with a valid config (4.1); erase anyway
        r.k = k
        r.t_k = t_k
        r.live = True
        self._head = (index + 1) % n
        return index

    @staticmethod
    def _put_pair(r: _RingSlot, priv: bytes) -> None:
        r.srk_priv[:] = priv
        r.srk_pub[:] = crypto.x25519_base(priv)
        r.has_pair = True

    # -- receiving ----------------------------------------------------------------
    def _find(self, sid: int) -> _Session | None:
        for s in self._slots:
            if s.state != FREE and s.sid == sid:
                return s
        return None

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
        if fr.suite != s.suite:
            raise ProtocolError(Code.BAD_SUITE, "suite", fr.sid)
        if fr.type == wire.PROOF:
            self._on_proof(s, fr, now)
        elif s.state != OPEN:
            raise ProtocolError(Code.UNEXPECTED, "type", fr.sid)
        else:
            self._on_protected(s, fr, now)

    def _on_req(self, fr: wire.Frame, now: int) -> None:
        cfg = self.config
        id_s = fr.data("id_s")
        n_s = fr.data("n_s")
        pairing = self._pairings.get(id_s)
        if pairing is None:
            raise ProtocolError(Code.UNKNOWN_PEER, "id_s", 0)
        common = fr.num("offer") & self._suite_mask
        if not common:
            raise ProtocolError(Code.BAD_SUITE, "offer", 0)
        suite = common.bit_length()  # the highest common suite

        # 4.2 step 1: a retransmitted REQ.
        for s in self._slots:
            if s.state != FREE and s.id_s == id_s and s.n_s == n_s:
                if s.state == WAIT_PROOF and s.offer != fr.num("offer"):
                    break  # not a retransmission: a new request (rule 2)
                if s.state == WAIT_PROOF:
                    self._emit(s.srk_frame)
                    return
                raise ProtocolError(Code.REPLAY, "n_s", 0, answer=False)
        target = self._pick_slot(id_s)
        if target is None:
            raise ProtocolError(Code.BUSY, "", 0)

        # Draw everything first (normative order, 4.2, 3.9) so an RNG failure
        # leaves no trace; the reused slot's sid no longer counts as live.
        ring_index = self._ring_slot_of(self._k)
        slot = self._ring[ring_index] if ring_index is not None else None
        if suite == 2:
            need = slot is None or not slot.has_pair
        else:
            need = slot is None or not slot.has_srk
        try:
            new_key = self._draw(32 if suite == 2 else 16) if need else None
            live = {s.sid for s in self._slots if s.state != FREE and s is not target}
            while True:
                sid = int.from_bytes(self._draw(4), "big") & _SID_MASK
                if sid != 0 and sid not in live:
                    break
            n_f = self._draw(16)
            idrks = [self._draw(16) for _ in range(cfg.idrks)]
        except RngError:
            raise ProtocolError(Code.RNG_FAILURE, "", 0) from None

        if ring_index is None:
            ring_index = self._take_slot(self._k, self._t_k)
        r = self._ring[ring_index]
        if new_key is not None:
            if suite == 2:
                self._put_pair(r, new_key)
            else:
                r.srk[:] = new_key
                r.has_srk = True

        s = target
        s.clear()
        s.state = WAIT_PROOF
        s.sid = sid
        s.suite = suite
        s.id_s = id_s
        s.n_s = n_s
        s.offer = fr.num("offer")
        s.n_f = n_f
        s.ps = pairing.ps
        s.ring_index = ring_index
        s.k = self._k
        s.request_time = now
        for buf, val in zip(s.idrks, idrks, strict=True):
            buf[:] = val
        th1 = ks.th1(fr.raw)
        if suite == 2:
            head57 = wire.srk2_head(sid, n_f, self._k, bytes(r.srk_pub))
            auth = ks.srk_auth(ks.ka2(n_s, n_f, pairing.ps, th1), head57)
            s.srk_frame = head57 + auth
        else:
            s.srk[:] = r.srk  # suite 1: a copy until PROOF is accepted
            head = wire.srk_head(suite, sid, n_f, self._k)
            kek2 = ks.kek2(n_s, n_f, pairing.ps, th1, head)
            s.srk_frame = head + crypto.kw_wrap(kek2, bytes(r.srk))
        s.th[:] = ks.th2(th1, s.srk_frame)
        self._emit(s.srk_frame)

    def _pick_slot(self, id_s: bytes) -> _Session | None:
        for s in self._slots:
            if s.state == WAIT_PROOF and s.id_s == id_s:
                return s
        for s in self._slots:
            if s.state == FREE:
                return s
        oldest: _Session | None = None
        for s in self._slots:
            if s.state == WAIT_PROOF and (
                    oldest is None or self._diff(s.request_time, oldest.request_time) < 0):
                oldest = s
        return oldest

    def _on_proof(self, s: _Session, fr: wire.Frame, now: int) -> None:
        sid = s.sid
        if s.state == OPEN:
            # Our KEY was lost and S repeats its PROOF: resend KEY, as long as
            # S has not shown it holds the key.
            if not s.peer_spoke and fr.raw == s.proof_frame:
                self._emit(s.key_frame)
                return
            raise ProtocolError(Code.UNEXPECTED, "type", sid)
        r = self._ring[s.ring_index]
        if not r.live or r.k != s.k or not (r.has_pair if s.suite == 2 else r.has_srk) \
                or self._diff(now, s.request_time) >= self.config.lifetime_ms:
            raise ProtocolError(Code.SRK_EXPIRED, "", sid)
        th2 = bytes(s.th)
        if s.suite == 2:
            ms = self._proof_suite2(s, fr, r, th2)
        else:
            k3 = ks.k3(s.n_s, s.n_f, bytes(s.srk), th2)
            got = ks.open_proof(k3, sid, fr.raw[:wire.HEADER_LEN], fr.data("ct_tag"))
            if got is None:
                raise ProtocolError(Code.AUTH_FAILED, "ct_tag", sid)
            if not crypto.ct_equal(got, ks.spv(s.ps, th2)):
                raise ProtocolError(Code.BAD_PROOF, "ct_tag", sid)
            ms = ks.master_secret(ks.th3(th2, fr.raw), s.ps, bytes(s.srk))
        th3 = ks.th3(th2, fr.raw)
        kek0 = ks.kek(ms, 0, s.suite)
        s.key_frame = wire.build_key(s.suite, sid, crypto.kw_wrap(kek0, bytes(s.idrks[0])))
        s.proof_frame = fr.raw
        s.th[:] = th3
        s.ms[:] = ms
        _zero(s.srk)  # MS holds all F still needs from it
        s.state = OPEN
        s.key_idx = 0
        s.send_seq = 0
        s.recv_last = {}
        s.count = 0
        s.key_time = now
        s.last_rx = now
        self._emit(s.key_frame)
        self._report(ESTABLISHED, sid, 0)

    @staticmethod
    def _proof_suite2(s: _Session, fr: wire.Frame, r: _RingSlot, th2: bytes) -> bytes:
        """Check a suite-2 PROOF (3.9) and return MS; DH is zeroed whatever happens."""
        sid = s.sid
        shared = crypto.x25519(r.srk_priv, fr.data("e_pub"))
        if shared is None:  # low-order e_pub: rejected like a wrong tag
            raise ProtocolError(Code.AUTH_FAILED, "e_pub", sid)
        dh = bytearray(shared)
        try:
            k3 = ks.k3_dh(s.n_s, s.n_f, dh, s.ps, th2)
            got = ks.open_proof(k3, sid, fr.raw[:ks.PROOF2_AAD_LEN], fr.data("ct_tag"))
            if got is None:
                raise ProtocolError(Code.AUTH_FAILED, "ct_tag", sid)
            if not crypto.ct_equal(got, ks.spv(s.ps, th2, 2)):
                raise ProtocolError(Code.BAD_PROOF, "ct_tag", sid)
            return ks.master_secret_dh(ks.th3(th2, fr.raw), s.ps, dh)
        finally:
            _zero(dh)

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

        # All checks passed: from here on, state changes.
        if kidx != s.key_idx:
            self._finish_rotation(s, now)
        s.recv_last[kidx] = seq
        s.last_rx = now
        s.peer_spoke = True
        if fr.type == wire.DATA:
            self._report(DATA, sid, seq - last - 1, pt)
            s.count += 1
            self._check_rotation(s, now)
        elif fr.type == wire.CLOSE:
            s.clear()
            self._report(CLOSED, sid, pt[0])
        # KEY_ACK: its work (finishing the rotation) is done above; a repeated
        # one is accepted silently.

    # -- rotation (5.3) -----------------------------------------------------------
    def _check_rotation(self, s: _Session, now: int) -> None:
        """4.4 item 8, right after a DATA frame was sent or accepted."""
        if s.state == OPEN and s.count >= self.config.rotate_frames and not s.pending:
            self._start_rotation(s, now)

    def _start_rotation(self, s: _Session, now: int) -> None:
        j = s.key_idx
        if j + 1 >= self.config.idrks:
            self._close_session(s, Code.KEYS_EXHAUSTED)
            return
        wrapped = crypto.kw_wrap(ks.kek(bytes(s.ms), j + 1, s.suite), bytes(s.idrks[j + 1]))
        s.rekey_pt = bytes((j + 1,)) + wrapped
        if self._send(s, wire.REKEY, s.rekey_pt):
            s.pending = True
            s.rekey_sends = 1
            s.rekey_last = now

    def _finish_rotation(self, s: _Session, now: int) -> None:
        old = s.key_idx
        _zero(s.idrks[old])
        s.recv_last.pop(old, None)
        s.key_idx = old + 1
        s.send_seq = 0
        s.pending = False
        s.rekey_pt = b""
        s.rekey_sends = 0
        s.count = 0
        s.key_time = now
        self._report(ROTATED, s.sid, s.key_idx)

    # -- sending ------------------------------------------------------------------
    def _send(self, s: _Session, ftype: int, pt: bytes) -> bool:
        """Protect and queue one frame under the current key.

        The last seq below 2**30 is kept for CLOSE, so a sender that runs out
        can still say KEYS_EXHAUSTED (3.7). Returns False if the session was
        closed instead.
        """
        if ftype != wire.CLOSE and s.send_seq >= wire.SEQ_LIMIT - 1:
            self._close_session(s, Code.KEYS_EXHAUSTED)
            return False
        head = wire.protected_head(ftype, s.suite, s.sid, s.key_idx, s.send_seq)
        s.send_seq += 1
        self._emit(ks.seal_frame(bytes(s.idrks[s.key_idx]), s.sid, ks.DIR_F2S, head, pt))
        return True

    def _close_session(self, s: _Session, reason: Code) -> None:
        """Send CLOSE(reason), free the slot, report CLOSED(reason)."""
        sid = s.sid
        self._send(s, wire.CLOSE, bytes((reason,)))
        s.clear()
        self._report(CLOSED, sid, reason)
