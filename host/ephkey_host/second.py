"""The second station S (protocol.md section 5.1), sans-IO, protocol version 2.

API::

    s = SecondStation(config, pairing, rng, now_ms)
    s.connect(now_ms)                 # (close first if busy) draw n_s, queue REQ
    s.connect(now_ms, secret)         # suite 3 (15.10): the user's secret, 8 to 64 bytes
    s.receive(frame, now_ms)          # one whole frame from F
    s.send_data(payload, now_ms)      # protect and queue one DATA frame
    s.close(now_ms)                   # CLOSE(0) if OPEN; back to IDLE, no event
    s.poll(now_ms)                    # retransmission; the confirmation KEY_ACK
    s.busy() / s.work(now_ms)         # the suite-2 PROOF job (4.7)
    s.next_output() / s.next_event()

S has one session at a time: IDLE, WAIT_SRK, PROVING (suite 2: the job
computing ``e_pub`` and DH runs), WAIT_KEY, OPEN. ``receive`` never raises for
anything a peer can send; S never sends ERROR frames, it only reports ERROR
events. ``send_data`` raises :class:`~.errors.UsageError` outside OPEN or for
a payload over ``max_payload``; ``connect`` without pairing raises
``NOT_PAIRED``; an RNG failure at ``connect`` is the event
HANDSHAKE_FAILED(RNG_FAILURE).

The key chain (3.6, 5.3): S keeps MS from its PROOF until KEY, then only
CK_{j+1}; each REKEY it accepts replaces it with CK_{j+2}.

Suite 3 (15.10): with a ``user`` record S stores no secret; ``connect`` takes
it and S keeps it until its PROOF is built. The PROVING job computes the
generator and ``Y_s``, K, ``e_pub`` and DH. Each suite-3 PROOF whose handshake
ends without an accepted KEY (timeout, ERROR(WRONG_CODE) for its sid, a local
``close`` or ``connect``) is a failed attempt; from the tenth on, S backs off
(event BACKOFF) and ``connect`` reports HANDSHAKE_FAILED(BACKOFF) until it ends.
"""

from collections.abc import Callable

from . import cpace, crypto, keyschedule as ks, wire
from .config import Pairing, SecondConfig, user_secret
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

IDLE = 0
WAIT_SRK = 1
PROVING = 2
WAIT_KEY = 3
OPEN = 4
STATE_NAMES = {IDLE: "IDLE", WAIT_SRK: "WAIT_SRK", PROVING: "PROVING", WAIT_KEY: "WAIT_KEY",
               OPEN: "OPEN"}


def _zero(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


class SecondStation(Station):
    def __init__(
        self,
        config: SecondConfig,
        pairing: Pairing | None,
        rng: Rng,
        now_ms: int,
        *,
        tick_period: int = DEFAULT_PERIOD,
    ):
        super().__init__(rng, tick_period, config.longest_timer(), config.out_queue)
        self.config = config
        self.pairing = pairing
        if pairing is not None and pairing.is_user != (list(config.offer) == [3]):
            raise ValueError("offer: suite 3 alone with a user record, suites 1 and 2 with ps "
                             "(15.10); offer=%r" % config.offer)
        self._offer = wire.suites_to_offer(config.offer)
        self._user = bytearray()  # suite 3: the secret given at connect, until PROOF
        self._y_s = bytearray(32)
        self._share = bytearray(32)  # Y_s
        self._k = bytearray(32)
        self._y_f = b""
        self._srk_frame = b""
        self._fails = 0  # failed suite-3 attempts (15.10)
        self._until: int | None = None
        self._th = bytearray(32)  # TH1, then TH2 while PROVING
        self._kp = bytearray(32)
        self._spv = bytearray(16)
        self._e_priv = bytearray(32)
        self._e_pub = bytearray(32)
        self._dh = bytearray(32)
        self._srk_pub = b""
        self._ms = bytearray(32)  # MS = CK_0 in WAIT_KEY
        self._ck = bytearray(32)  # CK_{j+1} in OPEN
        self._keys: dict[int, bytearray] = {}
        self._tick(now_ms)  # type check only: S has no clock-driven state at rest
        self._reset()

    def _reset(self) -> None:
        for buf in (self._th, self._kp, self._spv, self._e_priv, self._e_pub, self._dh,
                    self._ms, self._ck, *self._keys.values()):
            _zero(buf)
        for buf in (self._user, self._y_s, self._share, self._k):
            _zero(buf)
        self._user = bytearray()
        self._y_f = b""
        self._srk_frame = b""
        self._keys = {}
        self._state = IDLE
        self._sid = 0
        self._suite = 0
        self._n_s = b""
        self._req = b""
        self._srk_pub = b""
        self._job_step = -1  # PROVING: 0 e_pub, 1 DH, 2 completion
        self._last_frame = b""
        self._tries = 0
        self._last_send = 0
        self._established_at = 0
        self._sent_protected = False
        self._send_idx = 0
        self._send_seq = 0
        self._recv_idx = 0
        self._recv_last: dict[int, int] = {}

    # -- introspection --------------------------------------------------------------
    @property
    def state(self) -> str:
        return STATE_NAMES[self._state]

    @property
    def sid(self) -> int:
        """The session's sid, 0 before an SRK frame was accepted."""
        return self._sid

    @property
    def send_key_index(self) -> int:
        return self._send_idx

    @property
    def suite(self) -> int:
        """The session's suite, 0 before an SRK frame was accepted."""
        return self._suite

    def secret_state(self) -> list[bytes]:
        """Every key byte string S holds now, PS included (9.2's test)."""
        out = [self.pairing.ps] if self.pairing is not None else []
        out += [bytes(b) for b in (self._th, self._kp, self._spv, self._e_priv, self._e_pub,
                                   self._dh, self._ms, self._ck, *self._keys.values(),
                                   self._user, self._y_s, self._k)]
        return out

    @property
    def failed_attempts(self) -> int:
        """Suite 3: consecutive failed attempts against this F (15.10)."""
        return self._fails

    def backoff_left(self, now_ms: int) -> int:
        """Suite 3: ms until ``connect`` may try again (0: not backing off)."""
        if self._until is None:
            return 0
        return max(0, self._diff(self._until, self._tick(now_ms)))

    # -- public verbs -----------------------------------------------------------------
    def connect(self, now_ms: int, secret: str | bytes | None = None) -> None:
        """Start a handshake; a suite-3 record needs the user's ``secret``."""
        now = self._tick(now_ms)
        if self.pairing is None:
            raise UsageError(Code.NOT_PAIRED, "no pairing material")
        user = b""
        if self.pairing.is_user:
            if secret is None:
                raise UsageError(Code.NOT_PAIRED, "suite 3: connect needs the user's secret")
            try:
                user = user_secret(secret)
            except ValueError as e:
                raise UsageError(Code.MALFORMED, str(e)) from None
        elif secret is not None:
            raise UsageError(Code.UNEXPECTED, "a secret is for a suite-3 (user) record only")
        self.close(now)
        if self.pairing.is_user and self.backoff_left(now):
            self._report(HANDSHAKE_FAILED, 0, Code.BACKOFF)
            return
        self._user = bytearray(user)
        try:
            n_s = self._draw(wire.NONCE_LEN)
        except RngError:
            self._report(HANDSHAKE_FAILED, 0, Code.RNG_FAILURE)
            return
        req = wire.build_req(self.pairing.id_s, n_s, self._offer)
        self._n_s = n_s
        self._req = req
        self._th[:] = ks.th1(req)
        self._state = WAIT_SRK
        self._send_handshake(req, now)

    def receive(self, frame: bytes, now_ms: int) -> None:
        now = self._tick(now_ms)
        try:
            self._dispatch(bytes(frame), now)
        except ProtocolError as e:
            self._report(ERROR, e.sid, e.code)

    def send_data(self, payload: bytes, now_ms: int) -> None:
        self._tick(now_ms)
        if self._state != OPEN:
            raise UsageError(Code.UNEXPECTED, "no open session (%s)" % self.state)
        if len(payload) > self.config.max_payload:
            raise UsageError(Code.TOO_LONG, "payload of %d bytes, max_payload is %d"
                             % (len(payload), self.config.max_payload))
        self._send(wire.DATA, bytes(payload))

    def close(self, now_ms: int) -> None:
        """CLOSE(0) if OPEN; in any state erase the session, IDLE, no event (but
        BACKOFF when abandoning a suite-3 PROOF starts a back-off)."""
        now = self._tick(now_ms)
        if self._state == OPEN:
            self._send(wire.CLOSE, bytes((Code.OK,)))
        if self._state == WAIT_KEY and self._suite == 3:
            sid = self._sid
            self._reset()
            self._attempt_failed(sid, now)
            return
        self._reset()

    def poll(self, now_ms: int) -> None:
        now = self._tick(now_ms)
        if self._state == OPEN:
            if not self._sent_protected and \
                    self._diff(now, self._established_at) >= self.config.retry_ms:
                self._send(wire.KEY_ACK, b"")  # the confirmation KEY_ACK (5.1)
            return
        if self._state not in (WAIT_SRK, WAIT_KEY):
            return
        if self._diff(now, self._last_send) < self.config.retry_ms:
            return
        if self._tries < self.config.max_tries:
            self._emit(self._last_frame)
            self._tries += 1
            self._last_send = now
        else:
            sid = self._sid
            proved = self._state == WAIT_KEY and self._suite == 3
            self._reset()
            self._report(HANDSHAKE_FAILED, sid, Code.TIMEOUT)
            if proved:
                self._attempt_failed(sid, now)

    def busy(self) -> bool:
        return self._state == PROVING

    def work(self, now_ms: int) -> None:
        """PROVING: ``e_pub``, then DH, then the completion (one per call)."""
        now = self._tick(now_ms)
        if self._state != PROVING:
            return
        if self._suite == 3:
            self._work3(now)
            return
        if self._job_step == 0:
            self._e_pub[:] = crypto.x25519_base(self._e_priv)
            self._job_step = 1
            return
        if self._job_step == 1:
            shared = crypto.x25519(self._e_priv, self._srk_pub)
            self._dh[:] = shared if shared is not None else bytes(32)
            self._job_step = 2
            return
        self._finish_proof(now)

    # -- receiving ----------------------------------------------------------------------
    def _dispatch(self, raw: bytes, now: int) -> None:
        fr = wire.decode(raw, wire.ACCEPTED_BY_S, self.config.max_payload)
        if fr.type == wire.ERROR:
            self._report(PEER_ERROR, fr.sid, fr.num("code"))
            if self._state == WAIT_KEY and self._suite == 3 and fr.sid == self._sid and \
                    fr.num("code") == Code.WRONG_CODE:
                self._reset()  # 15.10: F says the secrets differ
                self._report(HANDSHAKE_FAILED, fr.sid, Code.WRONG_CODE)
                self._attempt_failed(fr.sid, now)
            return
        if self._state in (IDLE, WAIT_SRK):
            # No sid yet: only an SRK frame can name our session (4.4 item 4).
            if self._state == IDLE or fr.type != wire.SRK:
                raise ProtocolError(Code.UNKNOWN_SESSION, "sid", fr.sid)
            if fr.suite not in self.config.offer:
                raise ProtocolError(Code.BAD_SUITE, "suite", fr.sid)
            if fr.sid == 0:
                raise ProtocolError(Code.MALFORMED, "sid", fr.sid)
            if fr.suite == 3:
                self._on_srk3(fr)
            elif fr.suite == 2:
                self._on_srk2(fr)
            else:
                self._on_srk1(fr, now)
            return
        if fr.sid != self._sid:
            raise ProtocolError(Code.UNKNOWN_SESSION, "sid", fr.sid)
        if self._state == WAIT_KEY and fr.type == wire.KEY:
            self._on_key(fr, now)
        elif self._state == OPEN and fr.type in wire.PROTECTED:
            self._on_protected(fr)
        else:
            # e.g. a repeated SRK in WAIT_KEY: our own timer repeats PROOF.
            raise ProtocolError(Code.UNEXPECTED, "type", fr.sid)

    def _on_srk1(self, fr: wire.Frame, now: int) -> None:
        assert self.pairing is not None
        ps = self.pairing.ps
        sid = fr.sid
        th1 = bytes(self._th)
        prk = ks.prk(self._n_s, fr.data("n_f"), ps)
        srk = crypto.kw_unwrap(ks.kek2(prk, th1, fr.raw[:wire.KEK2_HEAD_LEN]),
                               fr.data("wrapped_srk"))
        if srk is None:
            raise ProtocolError(Code.AUTH_FAILED, "wrapped_srk", sid)
        th2 = ks.th2(th1, fr.raw)
        self._kp[:] = ks.kp(prk, 1, th2)
        self._spv[:] = ks.spv(prk, 1, th2)
        self._sid = sid
        self._suite = 1
        self._send_proof(th2, srk, None, now)

    def _on_srk2(self, fr: wire.Frame) -> None:
        """Suite 2's SRK frame (3.9): ``auth``, ``e_priv``, then the PROOF job."""
        assert self.pairing is not None
        sid = fr.sid
        th1 = bytes(self._th)
        prk = ks.prk(self._n_s, fr.data("n_f"), self.pairing.ps)
        if not crypto.ct_equal(ks.auth(ks.ka(prk, th1), fr.raw[:wire.SRK2_AUTH_OFFSET]),
                               fr.data("auth")):
            raise ProtocolError(Code.AUTH_FAILED, "auth", sid)
        try:
            self._e_priv[:] = self._draw(32)
        except RngError:
            raise ProtocolError(Code.RNG_FAILURE, "", sid) from None
        th2 = ks.th2(th1, fr.raw)
        self._th[:] = th2
        self._kp[:] = ks.kp(prk, 2, th2)
        self._spv[:] = ks.spv(prk, 2, th2)
        self._srk_pub = fr.data("srk_pub")
        self._sid = sid
        self._suite = 2
        self._state = PROVING
        self._job_step = 0

    # -- suite 3 (15.10) --------------------------------------------------------------
    def _on_srk3(self, fr: wire.Frame) -> None:
        """Nothing to check before the job: draw ``y_s`` then ``e_priv`` (one call)."""
        sid = fr.sid
        try:
            drawn = self._draw(64)
        except RngError:
            raise ProtocolError(Code.RNG_FAILURE, "", sid) from None
        self._y_s[:] = drawn[:32]
        self._e_priv[:] = drawn[32:]
        self._srk_frame = fr.raw
        self._th[:] = ks.th2(ks.th1(self._req), fr.raw)
        self._srk_pub = fr.data("srk_pub")
        self._y_f = fr.data("Y_f")
        self._sid = sid
        self._suite = 3
        self._state = PROVING
        self._job_step = 0

    def _work3(self, now: int) -> None:
        """PROVING, suite 3: the generator and ``Y_s``; K; ``e_pub``; DH; the PROOF."""
        assert self.pairing is not None
        step = self._job_step
        if step == 0:
            g = cpace.calculate_generator(bytes(self._user), ks.ci3(self.pairing.id_s,
                                                                    self.pairing.id_f),
                                          self._n_s + self._srk_frame[4:16])
            self._share[:] = cpace.scalar_mult(bytes(self._y_s), g)
        elif step == 1:
            self._k[:] = cpace.scalar_mult_vfy(bytes(self._y_s), self._y_f)
        elif step == 2:
            self._e_pub[:] = crypto.x25519_base(self._e_priv)
        elif step == 3:
            shared = crypto.x25519(self._e_priv, self._srk_pub)
            self._dh[:] = shared if shared is not None else bytes(32)
        else:
            self._finish_proof3(now)
            return
        self._job_step = step + 1

    def _finish_proof3(self, now: int) -> None:
        self._job_step = -1
        sid = self._sid
        if not any(self._k) or not any(self._dh):
            # A low-order Y_f or srk_pub: back to WAIT_SRK, nothing sent (15.10).
            for buf in (self._y_s, self._share, self._k, self._e_priv, self._e_pub, self._dh):
                _zero(buf)
            self._th[:] = ks.th1(self._req)
            self._sid = 0
            self._suite = 0
            self._srk_pub = self._y_f = self._srk_frame = b""
            self._state = WAIT_SRK
            self._report(ERROR, sid, Code.AUTH_FAILED)
            return
        th2 = bytes(self._th)
        isk = ks.isk_s3(self._n_s, self._srk_frame[4:16], self._k, self._share, self._req,
                        self._y_f, self._srk_frame)
        prk = ks.prk_s3(th2, isk)
        kp = ks.kp(prk, 3, th2)
        spv = ks.spv(prk, 3, th2)
        psu = ks.psu(prk, th2)
        prk3 = ks.prk3(th2, self._dh, psu)
        body = wire.proof_head(sid, bytes(self._e_pub), bytes(self._share)) + \
            ks.xor(spv, ks.pad(prk3, 3))
        proof = body + ks.proof_t(kp, body)
        self._ms[:] = ks.ms(prk3, 3, ks.th3(th2, proof))
        for buf in (self._user, self._y_s, self._share, self._k, self._e_priv, self._e_pub,
                    self._dh, self._th):
            _zero(buf)
        self._user = bytearray()
        self._srk_pub = self._y_f = self._srk_frame = b""
        self._state = WAIT_KEY
        self._send_handshake(proof, now)

    def _attempt_failed(self, sid: int, now: int) -> None:
        """A suite-3 PROOF sent whose handshake ended without KEY (15.10, 15.6)."""
        self._fails += 1
        delay = backoff_delay(self._fails)
        if delay:
            self._until = self._add(now, delay)
            self._report(BACKOFF, sid, delay)

    def _finish_proof(self, now: int) -> None:
        """The PROOF job's completion (5.1)."""
        self._job_step = -1
        if not any(self._dh):  # a low-order srk_pub: back to WAIT_SRK, REQ timer as it was
            sid = self._sid
            for buf in (self._e_priv, self._e_pub, self._dh, self._kp, self._spv):
                _zero(buf)
            self._th[:] = ks.th1(self._req)
            self._sid = 0
            self._suite = 0
            self._srk_pub = b""
            self._state = WAIT_SRK
            self._report(ERROR, sid, Code.AUTH_FAILED)
            return
        th2 = bytes(self._th)
        e_pub = bytes(self._e_pub)
        try:
            self._send_proof(th2, self._dh, e_pub, now)
        finally:
            for buf in (self._e_priv, self._e_pub, self._dh):
                _zero(buf)

    def _send_proof(self, th2: bytes, x: bytes | bytearray, e_pub: bytes | None,
                    now: int) -> None:
        """PRK3, pad, ``c``, ``t``, the PROOF, TH3 and MS (3.5, 3.6); WAIT_KEY."""
        assert self.pairing is not None
        suite = self._suite
        prk3 = ks.prk3(th2, x, self.pairing.ps)
        body = wire.proof_head(self._sid, e_pub) + ks.xor(bytes(self._spv), ks.pad(prk3, suite))
        proof = body + ks.proof_t(bytes(self._kp), body)
        self._ms[:] = ks.ms(prk3, suite, ks.th3(th2, proof))
        for buf in (self._kp, self._spv, self._th):
            _zero(buf)
        self._srk_pub = b""
        self._state = WAIT_KEY
        self._send_handshake(proof, now)

    def _on_key(self, fr: wire.Frame, now: int) -> None:
        kek0 = bytearray(ks.kek(self._ms, self._suite, 0))
        idrk = crypto.kw_unwrap(kek0, fr.data("wrapped_idrk"))
        if idrk is None:
            _zero(kek0)
            raise ProtocolError(Code.AUTH_FAILED, "wrapped_idrk", fr.sid)
        self._ck[:] = ks.chain(self._ms, self._suite, 1)
        _zero(self._ms)
        _zero(kek0)
        if self._suite == 3:
            self._fails = 0
            self._until = None
        self._keys = {0: bytearray(idrk)}
        self._send_idx = self._recv_idx = 0
        self._send_seq = 0
        self._recv_last = {}
        self._last_frame = b""
        self._established_at = now
        self._sent_protected = False
        self._state = OPEN
        self._report(ESTABLISHED, self._sid, 0)

    def _on_protected(self, fr: wire.Frame) -> None:
        sid = self._sid
        kidx = fr.num("kidx")
        # The next key is known once REKEY gave it (we already send under it).
        if not (kidx == self._recv_idx or (kidx == self._recv_idx + 1 == self._send_idx)):
            raise ProtocolError(Code.BAD_KEY_INDEX, "kidx", sid)
        pt = ks.open_frame(self._keys[kidx], sid, ks.DIR_F2S, fr.raw)
        if pt is None:
            raise ProtocolError(Code.AUTH_FAILED, "tag", sid)
        seq = fr.num("seq")
        last = self._recv_last.get(kidx, -1)
        if seq <= last:
            raise ProtocolError(Code.REPLAY, "seq", sid)
        rotate: Callable[[], None] | None = None
        repeat = False
        if fr.type == wire.REKEY:
            n = pt[0]
            if n != kidx + 1:
                raise ProtocolError(Code.MALFORMED, "ciphertext", sid)
            if n == self._send_idx:
                repeat = True  # F missed our KEY_ACK
            elif n != self._send_idx + 1:
                raise ProtocolError(Code.BAD_KEY_INDEX, "ciphertext", sid)
            else:
                rotate = self._unwrap_next(n, pt[1:], sid)

        # All checks passed.
        if kidx != self._recv_idx:
            # F's first frame under the new key: the old one is done with.
            _zero(self._keys.pop(self._recv_idx))
            self._recv_last.pop(self._recv_idx, None)
            self._recv_idx = kidx
        self._recv_last[kidx] = seq
        if fr.type == wire.DATA:
            self._report(DATA, sid, seq - last - 1, pt)
        elif fr.type == wire.CLOSE:
            self._reset()
            self._report(CLOSED, sid, pt[0])
        elif rotate is not None:
            rotate()
        elif repeat:
            self._send(wire.KEY_ACK, b"")

    def _unwrap_next(self, n: int, wrapped: bytes, sid: int) -> Callable[[], None]:
        """Unwrap IDRK_n under KEK_n (from CK_n); the returned call commits the
        rotation: CK_{n+1} replaces CK_n, send under n, KEY_ACK, ROTATED."""
        kek = bytearray(ks.kek(self._ck, self._suite, n))
        idrk = crypto.kw_unwrap(kek, wrapped)
        _zero(kek)
        if idrk is None:
            raise ProtocolError(Code.AUTH_FAILED, "ciphertext", sid)

        def commit() -> None:
            self._ck[:] = ks.chain(self._ck, self._suite, n + 1)
            self._keys[n] = bytearray(idrk)
            self._send_idx = n
            self._send_seq = 0
            if self._send(wire.KEY_ACK, b""):
                self._report(ROTATED, sid, n)

        return commit

    # -- sending ------------------------------------------------------------------------
    def _send_handshake(self, frame: bytes, now: int) -> None:
        self._last_frame = frame
        self._tries = 1
        self._last_send = now
        self._emit(frame)

    def _send(self, ftype: int, pt: bytes) -> bool:
        """Protect and queue one frame; the last seq is kept for CLOSE (3.7)."""
        sid = self._sid
        if ftype != wire.CLOSE and self._send_seq >= wire.SEQ_LIMIT - 1:
            self._send(wire.CLOSE, bytes((Code.KEYS_EXHAUSTED,)))
            self._reset()
            self._report(CLOSED, sid, Code.KEYS_EXHAUSTED)
            return False
        head = wire.protected_head(ftype, sid, self._send_idx, self._send_seq)
        self._send_seq += 1
        self._sent_protected = True
        self._emit(ks.seal_frame(self._keys[self._send_idx], sid, ks.DIR_S2F, head, pt))
        return True
