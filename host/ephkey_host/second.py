"""The second station S (protocol.md section 5.1), sans-IO.

API::

    s = SecondStation(config, pairing, rng, now_ms)
    s.connect(now_ms)                 # draw n_s, queue REQ
    s.receive(frame, now_ms)          # one whole frame from F
    s.send_data(payload, now_ms)      # protect and queue one DATA frame
    s.close(now_ms)                   # CLOSE(0) and back to IDLE, no event
    s.poll(now_ms)                    # handshake retransmission timer
    s.next_output() / s.next_event()

S has one session at a time. ``receive`` never raises for anything a peer can
send; S never sends ERROR frames, it only reports ERROR events. ``connect``,
``send_data`` and ``close`` raise :class:`~.errors.UsageError` when the state
does not allow them (``connect`` without pairing: ``NOT_PAIRED``). ``close``
during a handshake abandons it silently.

Suite 2 (3.9): on an SRK frame whose ``auth`` verifies, S draws ``e_priv``
(32 bytes, its only draw besides ``n_s``), computes ``e_pub``, DH, K3, PROOF and
MS in one step, and overwrites ``e_priv`` and DH before PROOF is queued: only
MS and the transcript hash survive the step. An RNG failure there rejects the
SRK frame (event ERROR(RNG_FAILURE), nothing changes: S's REQ timer asks
again). A low-order ``srk_pub`` (all-zero DH; only a holder of PS can send one)
is AUTH_FAILED, after ``e_priv`` was drawn.
"""

from . import crypto, keyschedule as ks, wire
from .config import Pairing, SecondConfig
from .errors import Code, ProtocolError, RngError, UsageError
from .events import CLOSED, DATA, ERROR, ESTABLISHED, HANDSHAKE_FAILED, PEER_ERROR, ROTATED
from .station import Rng, Station
from .ticks import DEFAULT_PERIOD

IDLE = 0
WAIT_SRK = 1
WAIT_KEY = 2
OPEN = 3
STATE_NAMES = {IDLE: "IDLE", WAIT_SRK: "WAIT_SRK", WAIT_KEY: "WAIT_KEY", OPEN: "OPEN"}


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
        super().__init__(rng, tick_period, config.longest_timer())
        self.config = config
        self.pairing = pairing
        self._offer = wire.suites_to_offer(config.offer)
        self._srk = bytearray(16)
        self._e_priv = bytearray(32)  # suite 2: zeroed before PROOF is sent
        self._dh = bytearray(32)
        self._th = bytearray(32)  # TH1, then TH2, then TH3
        self._ms = bytearray(32)
        self._keys: dict[int, bytearray] = {}
        self._tick(now_ms)  # type check only: S has no clock-driven state at rest
        self._reset()

    def _reset(self) -> None:
        for buf in (self._srk, self._e_priv, self._dh, self._th, self._ms,
                    *self._keys.values()):
            _zero(buf)
        self._keys = {}
        self._state = IDLE
        self._sid = 0
        self._suite = 0
        self._n_s = b""
        self._last_frame = b""
        self._tries = 0
        self._last_send = 0
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

    # -- public verbs -----------------------------------------------------------------
    def connect(self, now_ms: int) -> None:
        now = self._tick(now_ms)
        if self.pairing is None:
            raise UsageError(Code.NOT_PAIRED, "no pairing material")
        if self._state != IDLE:
            raise UsageError(Code.UNEXPECTED, "a session is already active (%s)" % self.state)
        try:
            n_s = self._draw(16)
        except RngError as exc:
            raise UsageError(Code.RNG_FAILURE, str(exc)) from exc
        req = wire.build_req(self.pairing.id_s, n_s, self._offer)
        self._n_s = n_s
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
        self._tick(now_ms)
        if self._state == IDLE:
            raise UsageError(Code.UNKNOWN_SESSION, "no session to close")
        if self._state == OPEN:
            self._send(wire.CLOSE, bytes((Code.OK,)))
        self._reset()

    def poll(self, now_ms: int) -> None:
        now = self._tick(now_ms)
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
            self._reset()
            self._report(HANDSHAKE_FAILED, sid, Code.TIMEOUT)

    # -- receiving ----------------------------------------------------------------------
    def _dispatch(self, raw: bytes, now: int) -> None:
        fr = wire.decode(raw, wire.ACCEPTED_BY_S, self.config.max_payload)
        if fr.type == wire.ERROR:
            self._report(PEER_ERROR, fr.sid, fr.num("code"))
            return
        if self._state == IDLE:
            raise ProtocolError(Code.UNKNOWN_SESSION, "sid", fr.sid)
        if self._state == WAIT_SRK:
            # No sid yet: only an SRK frame can name our session (4.4 item 4:
            # its suite is checked against the offer, then its sid is valid).
            if fr.type != wire.SRK:
                raise ProtocolError(Code.UNKNOWN_SESSION, "sid", fr.sid)
            if fr.suite not in self.config.offer:
                raise ProtocolError(Code.BAD_SUITE, "suite", fr.sid)
            if not 0 < fr.sid < wire.SID_LIMIT:
                raise ProtocolError(Code.MALFORMED, "sid", fr.sid)
            self._on_srk(fr, now)
            return
        if fr.sid != self._sid:
            raise ProtocolError(Code.UNKNOWN_SESSION, "sid", fr.sid)
        if fr.suite != self._suite:
            raise ProtocolError(Code.BAD_SUITE, "suite", fr.sid)
        if self._state == WAIT_KEY and fr.type == wire.KEY:
            self._on_key(fr)
        elif self._state == OPEN and fr.type in (wire.DATA, wire.REKEY, wire.CLOSE):
            self._on_protected(fr)
        else:
            # e.g. a repeated SRK in WAIT_KEY: our own timer repeats PROOF.
            raise ProtocolError(Code.UNEXPECTED, "type", fr.sid)

    def _on_srk(self, fr: wire.Frame, now: int) -> None:
        if fr.suite == 2:
            self._on_srk2(fr, now)
            return
        assert self.pairing is not None
        ps = self.pairing.ps
        sid = fr.sid
        n_f = fr.data("n_f")
        th1 = bytes(self._th)
        kek2 = ks.kek2(self._n_s, n_f, ps, th1, fr.raw[:25])
        srk = crypto.kw_unwrap(kek2, fr.data("wrapped_srk"))
        if srk is None:
            raise ProtocolError(Code.AUTH_FAILED, "wrapped_srk", sid)
        th2 = ks.th2(th1, fr.raw)
        header = wire.header(wire.PROOF, fr.suite, sid)
        k3 = ks.k3(self._n_s, n_f, srk, th2)
        proof = wire.build_proof(fr.suite, sid, ks.seal_proof(k3, sid, header, ks.spv(ps, th2)))
        th3 = ks.th3(th2, proof)
        self._srk[:] = srk
        self._th[:] = th3
        self._ms[:] = ks.master_secret(th3, ps, srk)
        self._sid = sid
        self._suite = fr.suite
        self._state = WAIT_KEY
        self._send_handshake(proof, now)

    def _on_srk2(self, fr: wire.Frame, now: int) -> None:
        """Suite 2's SRK frame (3.9): check ``auth``, draw ``e_priv``, send PROOF."""
        assert self.pairing is not None
        ps = self.pairing.ps
        sid = fr.sid
        n_f = fr.data("n_f")
        th1 = bytes(self._th)
        ka2 = ks.ka2(self._n_s, n_f, ps, th1)
        if not crypto.ct_equal(ks.srk_auth(ka2, fr.raw[:ks.SRK2_AUTH_OFFSET]), fr.data("auth")):
            raise ProtocolError(Code.AUTH_FAILED, "auth", sid)
        try:
            self._e_priv[:] = self._draw(32)
        except RngError:
            raise ProtocolError(Code.RNG_FAILURE, "", sid) from None
        try:
            shared = crypto.x25519(self._e_priv, fr.data("srk_pub"))
            if shared is None:
                raise ProtocolError(Code.AUTH_FAILED, "srk_pub", sid)
            self._dh[:] = shared
            e_pub = crypto.x25519_base(self._e_priv)
            th2 = ks.th2(th1, fr.raw)
            k3 = ks.k3_dh(self._n_s, n_f, self._dh, ps, th2)
            head = wire.proof2_head(sid, e_pub)
            proof = head + ks.seal_proof(k3, sid, head, ks.spv(ps, th2, 2))
            th3 = ks.th3(th2, proof)
            ms = ks.master_secret_dh(th3, ps, self._dh)
        finally:
            _zero(self._e_priv)  # 3.9: e_priv and DH go when PROOF is sent
            _zero(self._dh)
        self._th[:] = th3
        self._ms[:] = ms
        self._sid = sid
        self._suite = 2
        self._state = WAIT_KEY
        self._send_handshake(proof, now)

    def _on_key(self, fr: wire.Frame) -> None:
        idrk = crypto.kw_unwrap(ks.kek(bytes(self._ms), 0, self._suite), fr.data("wrapped_idrk"))
        if idrk is None:
            raise ProtocolError(Code.AUTH_FAILED, "wrapped_idrk", fr.sid)
        _zero(self._srk)
        self._keys = {0: bytearray(idrk)}
        self._send_idx = self._recv_idx = 0
        self._send_seq = 0
        self._recv_last = {}
        self._last_frame = b""
        self._state = OPEN
        self._report(ESTABLISHED, self._sid, 0)

    def _on_protected(self, fr: wire.Frame) -> None:
        sid = self._sid
        kidx = fr.num("kidx")
        # The next key is known once REKEY gave it (we already send under it).
        if not (kidx == self._recv_idx or (kidx == self._recv_idx + 1 == self._send_idx)):
            raise ProtocolError(Code.BAD_KEY_INDEX, "kidx", sid)
        pt = ks.open_frame(bytes(self._keys[kidx]), sid, ks.DIR_F2S, fr.raw)
        if pt is None:
            raise ProtocolError(Code.AUTH_FAILED, "tag", sid)
        seq = fr.num("seq")
        last = self._recv_last.get(kidx, -1)
        if seq <= last:
            raise ProtocolError(Code.REPLAY, "seq", sid)
        new_idrk: bytes | None = None
        if fr.type == wire.REKEY:
            n = pt[0]
            if n != kidx + 1:
                raise ProtocolError(Code.MALFORMED, "ciphertext", sid)
            if n != self._send_idx:  # not a repeat: a key we do not hold yet
                new_idrk = crypto.kw_unwrap(ks.kek(bytes(self._ms), n, self._suite), pt[1:])
                if new_idrk is None:
                    raise ProtocolError(Code.AUTH_FAILED, "ciphertext", sid)

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
        elif new_idrk is not None:
            n = pt[0]
            self._keys[n] = bytearray(new_idrk)
            self._send_idx = n
            self._send_seq = 0
            if self._send(wire.KEY_ACK, b""):
                self._report(ROTATED, sid, n)
        else:
            self._send(wire.KEY_ACK, b"")  # repeated REKEY: F missed our KEY_ACK

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
        head = wire.protected_head(ftype, self._suite, sid, self._send_idx, self._send_seq)
        self._send_seq += 1
        self._emit(ks.seal_frame(bytes(self._keys[self._send_idx]), sid, ks.DIR_S2F, head, pt))
        return True
