"""The second station (spec 5.1, version 2): asks a first station for a session.

Sans-IO like FirstStation; one session at a time.

    st = SecondStation(SecondConfig(), pairing, os.urandom, time.ticks_ms())
    st.connect(now)                   # REQ queued
    st.receive(frame, n, now)
    while st.busy(): st.work(now)     # suite 2: the PROOF job, X25519 in slices
    n = st.next_output(); ev = st.next_event()
    st.send(payload, n, now)          # once ESTABLISHED

Suite 2 (docs/protocol.md 3.9): S checks the SRK frame's auth, draws its
ephemeral X25519 key, and computes e_pub and DH in a job (PROVING); e_priv
and DH are overwritten when the PROOF is built. The key chain (3.6) is a
ratchet: S holds one chain key, CK_{j+1}, replaced at each rotation.

Suite 3 (15.10): a pairing record with ``user`` makes S offer suite 3 only;
the user's secret comes with ``connect(now, secret)`` and enters only CPace.
At the SRK frame one job computes the generator, Y_s, K, e_pub and DH; the
PROOF carries Y_s and is keyed through CPace's ISK. A PROOF that does not
end in an accepted KEY is a failed attempt (per F, backoff.py); while S
backs off, ``connect`` is refused with HANDSHAKE_FAILED(BACKOFF). That
code (second3.py, on suite3.py's CPace) loads only with a ``user`` record.
"""

from time import ticks_diff  # type: ignore[attr-defined]

from micropython import const

from . import channel, errors, events, keyschedule as ks, wire
from .config import user_secret
from .crypto import CcmEngine, CcmKey
from .mac import KeyWrap, Mac, copy, diff, pads_to, xor, zero
from .outq import OutQueue
from .rng_health import RngFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IDLE = const(0)
WAIT_SRK = const(1)
WAIT_KEY = const(2)
OPEN = const(3)
PROVING = const(4)

# the PROOF job's phases
P_E_PUB = const(1)  # e_pub = X25519(e_priv, 9)
_DH = const(2)  # DH = X25519(e_priv, srk_pub)
P_DONE = const(3)  # both computed: the completion is next
# suite 3's first phases, before P_E_PUB (second3.py runs them)
P_GEN = const(4)  # CPace's generator g from the secret
P_Y_S = const(5)  # Y_s = X25519(y_s, g)
P_K = const(6)  # K = X25519(y_s, Y_f)
P_ISK = const(7)  # after DH: CPace's ISK, a unit of its own (SHA-512)


class SecondStation:
    def __init__(self, config, pairing, rng, now_ms):
        if pairing is None:
            raise ValueError("no pairing material: the second station refuses to start")
        self.cfg = config
        self.pairing = pairing
        self.rng = rng
        self.state = IDLE
        self.sid = 0
        self.suite = 0
        self.offer = 0
        user3 = pairing.user is not None
        if user3 != (wire.SUITE_3 in config.offer):
            raise ValueError("offer: suite 3 alone with a user record, suites 1 and 2 with a "
                             "ps record (15.10), not %r" % (config.offer,))
        for s in config.offer:
            self.offer |= 1 << (s - 1)
        suite2 = wire.SUITE_2 in config.offer or user3
        hs_size = wire.LEN_PROOF3 if user3 else wire.LEN_PROOF2 if suite2 else wire.LEN_PROOF
        frame_size = max(hs_size, wire.PROT_HDR + config.max_payload + wire.TAG)
        self.outq = OutQueue(config.out_queue, frame_size)
        self.events = events.EventQueue(8)
        self.engine = CcmEngine(max(config.max_payload, wire.REKEY_PT), wire.PROT_HDR)
        self.payload = bytearray(max(config.max_payload, wire.REKEY_PT))
        self._hs = bytearray(hs_size)  # the handshake frame to repeat: REQ, then PROOF
        mv = memoryview(self._hs)
        self._hs_v = (mv[:wire.LEN_REQ], mv[:wire.LEN_PROOF], mv[:min(hs_size, wire.LEN_PROOF2)],
                      mv[:hs_size], mv[:hs_size - wire.T_LEN])
        self._hs_len = 0
        self._n_s = bytearray(wire.NONCE_LEN)
        self._th1 = bytearray(32)
        self._th2 = bytearray(32)  # suite 2, while PROVING
        # secrets, each in a buffer of ours, zeroed after use (9.3)
        self._mac = Mac()
        self._kw = KeyWrap()
        self._k32 = bytearray(32)  # PRK, then PRK3
        self._k32b = bytearray(32)  # KA, KP
        self._k16 = bytearray(16)  # KEK2, the pad, KEK_j
        self._new = bytearray(16)  # a REKEY's IDRK until every check passed
        self._srk = bytearray(16)  # suite 1's SRK, during its SRK frame
        self._kp = bytearray(128)  # KP's HMAC pads while PROVING
        self._spv = bytearray(16)
        self._ms = bytearray(32)  # MS = CK_0, in WAIT_KEY
        self._ck = bytearray(32)  # the chain key CK_{j+1}, once established
        self._e_priv = bytearray(wire.PUB_LEN if suite2 else 0)
        self._e_pub = bytearray(wire.PUB_LEN if suite2 else 0)
        self._dh = bytearray(wire.PUB_LEN if suite2 else 0)
        self._srk_pub = bytearray(wire.PUB_LEN if suite2 else 0)
        self._x: Any = None  # suite 1 runs no job, nor loads X25519's code
        if suite2:
            from . import x25519

            self._x = x25519.X25519Job()
            self._slice = x25519.WORK_UNITS
        self._s3: Any = None  # suite 3's CPace side and back-off: only with a user record
        if user3:
            from .second3 import Second3

            self._s3 = Second3(1)
            self._prs = bytearray(64)  # the user's secret, from connect until the PROOF
            self._prs_n = 0
            self._y_s = bytearray(32)  # CPace's scalar
            self._y_s_pub = bytearray(32)  # its share Y_s
            self._srk3 = bytearray(wire.LEN_SRK3)  # the SRK frame: ADb, Y_f, TH2
        self._sent3 = False  # a suite-3 PROOF went out and no KEY was accepted yet
        self._steps: Any = None  # the generator's steps (suite3.generator_steps)
        self._phase = 0
        self._x_on = False
        self._keys = bytearray(32)  # IDRKs by index parity
        mv = memoryview(self._keys)
        self._key_v = (mv[0:16], mv[16:32])
        self._ccm = (CcmKey(), CcmKey())
        self._nonce = bytearray(13)
        self._pt = bytearray(1)
        self._sends = 0
        self._last_send = now_ms
        self._established_at = now_ms
        self._sent_protected = False
        self._data_len = 0
        self.send_idx = 0
        self.recv_idx = 0
        self.send_seq = 0
        self.recv_last = -1
        self.scrub_due = False  # set when a call erased a session secret (9.3)
        self.out = self.outq.frame
        self.ev_sid = 0
        self.ev_arg = 0
        self.ev_len = 0

    # -- the application's verbs ------------------------------------------

    def next_output(self):
        n = self.outq.pop()
        self.out = self.outq.frame
        return n

    def next_event(self):
        code = self.events.pop()
        self.ev_sid = self.events.sid
        self.ev_arg = self.events.arg
        self.ev_len = self._data_len if code == events.DATA else 0
        return code

    def connect(self, now_ms, secret=None):
        """Start a handshake (ends any session first, as close does). With a
        suite-3 record, ``secret`` is the user's (8 to 64 bytes, 15.10)."""
        s3 = self._s3
        if s3 is not None:
            if secret is None:
                raise ValueError("suite 3: connect(now, secret) needs the user's secret")
            raw = user_secret(secret)
            if s3.backoff[0].left(now_ms):
                self.events.push(events.HANDSHAKE_FAILED, 0, errors.BACKOFF)
                return
        elif secret is not None:
            raise ValueError("this pairing record has no user secret (suite 3)")
        self.close(now_ms)
        try:
            r = self.rng(wire.NONCE_LEN)
        except (RngFailure, OSError):
            r = b""
        if len(r) != wire.NONCE_LEN:
            self.events.push(events.HANDSHAKE_FAILED, 0, errors.RNG_FAILURE)
            return
        if s3 is not None:
            self._prs_n = len(raw)
            copy(self._prs, 0, raw, 0, len(raw))
        copy(self._n_s, 0, r, 0, wire.NONCE_LEN)
        hs = self._hs
        hs[0] = wire.B_REQ
        copy(hs, wire.OFF_ID_S, self.pairing.id_s, 0, wire.ID_LEN)
        copy(hs, wire.OFF_N_S, r, 0, wire.NONCE_LEN)
        hs[wire.OFF_OFFER] = self.offer
        self._hs_len = wire.LEN_REQ
        copy(self._th1, 0, ks.th1(self._hs_v[0]), 0, 32)
        self.state = WAIT_SRK
        self._send_hs(now_ms, True)

    def send(self, payload, n, now_ms):
        if self.state != OPEN:
            raise errors.ProtocolError(errors.UNKNOWN_SESSION, "no open session")
        if n > self.cfg.max_payload:
            raise errors.ProtocolError(errors.TOO_LONG, "payload over max_payload")
        self._seal(wire.DATA, payload, n)

    def close(self, now_ms):
        """CLOSE(0) if open; in any state every secret erased, back to IDLE; no event."""
        if self.state == OPEN:
            self._pt[0] = errors.OK
            self._seal(wire.CLOSE, self._pt, 1)
        if self.state != IDLE:
            sid = self.sid
            self._forget()
            self.scrub_due = True
            self._end3(sid, now_ms)  # a suite-3 PROOF sent, no KEY: a failed attempt

    def poll(self, now_ms):
        state = self.state
        if state == OPEN:
            # 5.1: a KEY_ACK under key 0 confirms the session at F when S is silent
            if not self._sent_protected and ticks_diff(
                    now_ms, self._established_at) >= self.cfg.retry_ms:
                self._seal(wire.KEY_ACK, self._pt, 0)
            return
        if state != WAIT_SRK and state != WAIT_KEY:
            return  # PROVING suspends the retransmission timer
        if ticks_diff(now_ms, self._last_send) < self.cfg.retry_ms:
            return
        if self._sends < self.cfg.max_tries:
            self._send_hs(now_ms, False)
        else:
            sid = self.sid
            self._forget()
            self.scrub_due = True
            self.events.push(events.HANDSHAKE_FAILED, sid, errors.TIMEOUT)
            self._end3(sid, now_ms)

    def busy(self):
        """True while the PROOF job is queued or running."""
        return self._phase != 0

    def work(self, now_ms):
        """One unit of the PROOF job: a slice of an X25519, or its completion."""
        phase = self._phase
        if not phase:
            return
        x = self._x
        if phase >= P_GEN:
            self._s3.work(self, phase)
            return
        if phase == P_E_PUB:
            if not self._x_on:
                x.start(self._e_pub, self._e_priv)
                self._x_on = True
            if x.step(self._slice):
                self._phase = _DH
                self._x_on = False
            return
        if phase == _DH:
            if not self._x_on:
                x.start(self._dh, self._e_priv, self._srk_pub)
                self._x_on = True
            if x.step(self._slice):
                self._phase = P_ISK if self.suite == wire.SUITE_3 and x.ok else P_DONE
                self._x_on = False
            return
        self._phase = 0
        if not x.ok:
            # a low-order srk_pub (only a holder of PS can send one): back to
            # WAIT_SRK, the REQ's send count and last send as they were
            self._abort_proving()
        elif self.suite == wire.SUITE_3:
            self._s3.proof(self, now_ms)
        else:
            self._proof2(now_ms)
        self.scrub_due = True

    def _abort_proving(self):
        """K or DH all zeros: ERROR(AUTH_FAILED), back to WAIT_SRK, nothing sent."""
        sid = self.sid
        self._end_proving()
        self.sid = 0
        self.suite = 0
        self.state = WAIT_SRK
        self.events.push(events.ERROR, sid, errors.AUTH_FAILED)

    # -- frames in ----------------------------------------------------------

    def receive(self, buf, n, now_ms):
        """Handle one whole frame ``buf[:n]``; never raises for what a peer sends."""
        if n < 1:
            self.events.push(events.ERROR, 0, errors.MALFORMED)
            return
        code = self._check(buf, n, now_ms)
        if code:
            self.events.push(events.ERROR, wire.event_sid(buf, n), code)

    def _check(self, buf, n, now_ms):
        b0 = buf[0]
        ftype = b0 & 15
        if b0 >> 4 != wire.VERSION:
            return errors.BAD_VERSION
        if not wire.known_type(ftype):
            return errors.BAD_TYPE
        if ftype == wire.REQ or ftype == wire.PROOF or ftype == wire.KEY_ACK:
            return errors.UNEXPECTED  # only F receives these
        suite = 0
        if ftype == wire.SRK:
            if n < 4:
                return errors.MALFORMED
            suite = buf[wire.OFF_SUITE]
            if suite < wire.SUITE_1 or suite > wire.SUITE_3:
                return errors.BAD_SUITE  # its length depends on it (4.4 item 2)
        if not wire.frame_len_ok(ftype, n, self.cfg.max_payload, suite):
            return errors.MALFORMED
        if wire.PROT_FIRST <= ftype <= wire.PROT_LAST and not wire.seq_ok(buf):
            return errors.MALFORMED
        sid = wire.sid_of(buf)
        if ftype == wire.ERROR:
            code = buf[wire.OFF_CODE]
            self.events.push(events.PEER_ERROR, sid, code)
            if (code == errors.WRONG_CODE and self.state == WAIT_KEY and sid == self.sid
                    and self.suite == wire.SUITE_3):
                # F's t check failed: the user's secrets differ (15.10)
                self._forget()
                self.scrub_due = True
                self.events.push(events.HANDSHAKE_FAILED, sid, errors.WRONG_CODE)
                self._end3(sid, now_ms)
            return 0
        state = self.state
        if state == WAIT_SRK and ftype == wire.SRK:
            if not self.offer & (1 << (suite - 1)):
                return errors.BAD_SUITE
            if sid == 0:
                return errors.MALFORMED
            if suite == wire.SUITE_2:
                return self._on_srk2(buf, sid)
            if suite == wire.SUITE_3:
                return self._s3.on_srk(self, buf, sid)
            return self._on_srk1(buf, sid, now_ms)
        if state == IDLE or state == WAIT_SRK or sid != self.sid:
            return errors.UNKNOWN_SESSION
        if ftype == wire.KEY and state == WAIT_KEY:
            return self._on_key(buf, now_ms)
        if state == OPEN and wire.PROT_FIRST <= ftype <= wire.PROT_LAST:
            return self._on_protected(buf, n, ftype, now_ms)
        return errors.UNEXPECTED

    # -- the handshake -------------------------------------------------------

    def _on_srk1(self, buf, sid, now_ms):
        """Suite 1: unwrap the SRK, build the PROOF, derive MS (5.1)."""
        ps = self.pairing.ps
        mac = self._mac
        prk = self._k32
        kek = self._k16
        ks.prk(mac, self._n_s, 0, buf, wire.OFF_N_F, ps, prk, 0)
        mac.key(prk, 0, 32)
        ks.kek2(mac, self._th1, buf, 0, kek, 0)
        ok = self._kw.unwrap(kek, buf, wire.OFF_WRAPPED_SRK, self._srk, 0)
        zero(kek, 0, 16)
        if not ok:
            zero(prk, 0, 32)
            mac.wipe()
            return errors.AUTH_FAILED
        th_2 = ks.th_next(self._th1, buf if len(buf) == wire.LEN_SRK
                          else memoryview(buf)[:wire.LEN_SRK])
        spv = self._spv
        kp = self._k32b
        mac.expand(ks.SP[1], th_2, 0, 32, spv, 0, 16)
        mac.expand(ks.PMAC[1], th_2, 0, 32, kp, 0, 32)
        hs = self._hs
        wire.put_header(hs, wire.PROOF, sid)
        self._prove(th_2, self._srk, 16, wire.OFF_C, kp)
        self._hs_len = wire.LEN_PROOF
        zero(self._srk, 0, 16)
        self.sid = sid
        self.suite = wire.SUITE_1
        self.state = WAIT_KEY
        self.scrub_due = True
        self._send_hs(now_ms, True)
        return 0

    def _prove(self, th_2, x, xlen, c_off, kp):
        """PRK3 with X = x[0:xlen], the pad, c and t into _hs, then TH3 and MS.
        Erases PRK, PRK3, the pad, KP and SPV."""
        mac = self._mac
        hs = self._hs
        prk3 = self._k32  # PRK no longer needed
        pad = self._k16
        ks.prk3(mac, th_2, 0, x, 0, xlen, self.pairing.ps, prk3, 0)
        mac.key(prk3, 0, 32)
        mac.expand(ks.PAD[self._suite_of(c_off)], None, 0, 0, pad, 0, 16)
        xor(hs, c_off, self._spv, 0, pad, 0, wire.SPV_LEN)
        zero(pad, 0, 16)
        zero(self._spv, 0, 16)
        t_off = c_off + wire.SPV_LEN
        if kp is None:
            mac.load(self._kp, 0)
        else:
            mac.key(kp, 0, 32)
            zero(kp, 0, 32)
        mac.mac(hs, 0, t_off, hs, 0, 0, hs, t_off, wire.T_LEN)
        zero(self._kp, 0, 128)
        th_3 = ks.th_next(th_2, self._hs_v[1 if c_off == wire.OFF_C else 2])
        mac.key(prk3, 0, 32)
        mac.expand(ks.MS[self._suite_of(c_off)], th_3, 0, 32, self._ms, 0, 32)
        zero(prk3, 0, 32)
        mac.wipe()

    @staticmethod
    def _suite_of(c_off):
        return wire.SUITE_1 if c_off == wire.OFF_C else wire.SUITE_2

    def _on_srk2(self, buf, sid):
        """Suite 2: check auth, draw e_priv, derive TH2, KP, SPV; the PROOF job."""
        ps = self.pairing.ps
        mac = self._mac
        prk = self._k32
        ka = self._k32b
        ks.prk(mac, self._n_s, 0, buf, wire.OFF_N_F, ps, prk, 0)
        mac.key(prk, 0, 32)
        mac.expand(ks.AUTH[2], self._th1, 0, 32, ka, 0, 32)
        mac.key(ka, 0, 32)
        mac.mac(buf, 0, wire.OFF_AUTH, buf, 0, 0, ka, 0, wire.AUTH_LEN)  # auth, over KA
        ok = not diff(ka, 0, buf, wire.OFF_AUTH, wire.AUTH_LEN)
        zero(ka, 0, 32)
        if ok:
            try:
                r = self.rng(wire.PUB_LEN)  # e_priv: S's only draw besides n_s (12)
            except (RngFailure, OSError):
                r = b""
        if not ok or len(r) != wire.PUB_LEN:
            zero(prk, 0, 32)
            mac.wipe()
            return errors.AUTH_FAILED if not ok else errors.RNG_FAILURE
        copy(self._e_priv, 0, r, 0, wire.PUB_LEN)
        copy(self._srk_pub, 0, buf, wire.OFF_SRK_PUB, wire.PUB_LEN)
        th_2 = ks.th_next(self._th1, buf if len(buf) == wire.LEN_SRK2
                          else memoryview(buf)[:wire.LEN_SRK2])
        copy(self._th2, 0, th_2, 0, 32)
        mac.key(prk, 0, 32)
        mac.expand(ks.SP[2], th_2, 0, 32, self._spv, 0, 16)
        kp = self._k32b
        mac.expand(ks.PMAC[2], th_2, 0, 32, kp, 0, 32)
        zero(prk, 0, 32)
        pads_to(self._kp, 0, kp, 0, 32)
        zero(kp, 0, 32)
        mac.wipe()
        self.proving(sid, wire.SUITE_2, P_E_PUB)
        return 0

    def proving(self, sid, suite, phase):
        """PROVING for session ``sid``: its job starts at ``phase`` (4.7)."""
        self.sid = sid
        self.suite = suite
        self.state = PROVING
        self._phase = phase
        self._x_on = False

    def _end3(self, sid, now_ms):
        """A handshake ended: if its suite-3 PROOF went out and no KEY was
        accepted, a failed attempt (15.10, 15.6); BACKOFF when one starts."""
        if not self._sent3:
            return
        self._sent3 = False
        d = self._s3.backoff[0].failed(now_ms)
        if d:
            self.events.push(events.BACKOFF, sid, d)

    def _proof2(self, now_ms):
        """The PROOF job ended with a DH: build the PROOF, derive MS (5.1)."""
        hs = self._hs
        wire.put_header(hs, wire.PROOF, self.sid)
        copy(hs, wire.OFF_E_PUB, self._e_pub, 0, wire.PUB_LEN)
        self._prove(self._th2, self._dh, wire.PUB_LEN, wire.OFF_C2, None)
        self._hs_len = wire.LEN_PROOF2
        self._end_proving()
        self.state = WAIT_KEY
        self._send_hs(now_ms, True)

    def _end_proving(self):
        """Erase the job's secrets and what PROVING held (e_priv, DH, KP, SPV, TH2)."""
        if self._x is not None:
            self._x.wipe()
        self._phase = 0
        self._x_on = False
        self._steps = None
        zero(self._e_priv, 0, len(self._e_priv))
        zero(self._dh, 0, len(self._dh))
        zero(self._kp, 0, 128)
        zero(self._spv, 0, 16)
        zero(self._th2, 0, 32)
        if self._s3 is not None:
            zero(self._y_s, 0, 32)
            self._s3.wipe()

    def _on_key(self, buf, now_ms):
        mac = self._mac
        kek = self._k16
        mac.key(self._ms, 0, 32)
        mac.expand_j(ks.KEK[self.suite], 0, kek, 0, 16)
        ok = self._kw.unwrap(kek, buf, wire.OFF_WRAPPED_IDRK, self._keys, 0)
        zero(kek, 0, 16)
        if not ok:
            mac.wipe()
            return errors.AUTH_FAILED  # MS kept: the genuine KEY may follow
        mac.expand_j(ks.CHAIN[self.suite], 1, self._ck, 0, 32)
        zero(self._ms, 0, 32)
        mac.wipe()
        if self._sent3:  # an accepted KEY: the attempt succeeded
            self._sent3 = False
            self._s3.backoff[0].reset()
        self._ccm[0].load(self._key_v[0])
        self.send_idx = 0
        self.recv_idx = 0
        self.send_seq = 0
        self.recv_last = -1
        self._established_at = now_ms
        self._sent_protected = False
        self.state = OPEN
        self.events.push(events.ESTABLISHED, self.sid, 0)
        self.scrub_due = True
        return 0

    def _send_hs(self, now_ms, first):
        self._sends = 1 if first else self._sends + 1
        self._last_send = now_ms
        out = self.outq.slot()
        copy(out, 0, self._hs, 0, self._hs_len)
        self._commit(out, self._hs_len)

    def _commit(self, out, n):
        t = out[0] & 15
        sid = 0 if t == wire.REQ else wire.sid_of(out)
        if not self.outq.commit(n):  # refused: 4.8
            self.events.push(events.DROPPED, sid, t)

    # -- the session ---------------------------------------------------------

    def _on_protected(self, buf, n, ftype, now_ms):
        seq = wire.seq_of(buf)
        kidx = buf[wire.OFF_KIDX]
        # F's next key is known once REKEY installed it for our sending
        switching = kidx == self.recv_idx + 1 and self.send_idx == kidx
        if not switching and kidx != self.recv_idx:
            return errors.BAD_KEY_INDEX
        got = channel.open_(self.engine, self._ccm[kidx & 1], self._nonce, buf, n,
                            self.sid, wire.DIR_F2S, kidx, seq, self.payload)
        if got < 0:
            return errors.AUTH_FAILED
        last = -1 if switching else self.recv_last
        if seq <= last:
            return errors.REPLAY
        new = 0  # REKEY: the new key index, or 0 for a repeat
        if ftype == wire.REKEY:
            new = self.payload[0]
            if new != kidx + 1:
                return errors.MALFORMED  # REKEY(j+1) always travels under key j
            if new == self.send_idx:
                new = 0  # a repeat: answered with another KEY_ACK
            elif new != self.send_idx + 1:
                return errors.BAD_KEY_INDEX
            else:
                mac = self._mac
                kek = self._k16
                mac.key(self._ck, 0, 32)
                mac.expand_j(ks.KEK[self.suite], new, kek, 0, 16)
                ok = self._kw.unwrap(kek, self.payload, 1, self._new, 0)
                zero(kek, 0, 16)
                if not ok:
                    mac.wipe()
                    return errors.AUTH_FAILED
                # the ratchet: CK_{j+2} replaces CK_{j+1}
                mac.expand_j(ks.CHAIN[self.suite], new + 1, self._ck, 0, 32)
                mac.wipe()
        # every check passed: from here on the state changes
        if switching:
            self._wipe(self.recv_idx)  # F's first frame under the new key
            self.recv_idx = kidx
            self.scrub_due = True
        self.recv_last = seq
        if ftype == wire.DATA:
            self._data_len = got
            self.events.push(events.DATA, self.sid, seq - last - 1)
        elif ftype == wire.REKEY:
            if new:
                p = new & 1
                copy(self._keys, 16 * p, self._new, 0, 16)
                zero(self._new, 0, 16)
                self._ccm[p].load(self._key_v[p])
                self.send_idx = new
                self.send_seq = 0
                self.events.push(events.ROTATED, self.sid, new)
                self.scrub_due = True
            self._seal(wire.KEY_ACK, self._pt, 0)
        elif ftype == wire.CLOSE:
            sid = self.sid
            reason = self.payload[0]
            self._forget()
            self.scrub_due = True
            self.events.push(events.CLOSED, sid, reason)
        return 0

    def _wipe(self, j):
        zero(self._keys, 16 * (j & 1), 16)
        self._ccm[j & 1].wipe()

    def _seal(self, ftype, pt, pt_len):
        """Seal and queue a protected frame. The last seq is CLOSE's (3.7):
        asked for anything else there, send CLOSE(KEYS_EXHAUSTED) and end."""
        seq = self.send_seq
        exhausted = seq >= wire.SEQ_LAST and ftype != wire.CLOSE
        if exhausted:
            pt = self._pt
            pt[0] = errors.KEYS_EXHAUSTED
            ftype = wire.CLOSE
            pt_len = 1
        out = self.outq.slot()
        n = channel.seal(self.engine, self._ccm[self.send_idx & 1], self._nonce, out, ftype,
                         self.sid, wire.DIR_S2F, self.send_idx, seq, pt, pt_len)
        self.send_seq = seq + 1
        self._sent_protected = True
        self._commit(out, n)
        if exhausted:
            sid = self.sid
            self._forget()
            self.scrub_due = True
            self.events.push(events.CLOSED, sid, errors.KEYS_EXHAUSTED)

    def _forget(self):
        """Back to IDLE, every secret of the session overwritten."""
        self._end_proving()
        self.state = IDLE
        self.sid = 0
        self.suite = 0
        zero(self._th1, 0, 32)
        zero(self._ms, 0, 32)
        zero(self._ck, 0, 32)
        zero(self._keys, 0, 32)
        zero(self._new, 0, 16)
        zero(self._srk, 0, 16)
        zero(self._k32, 0, 32)
        zero(self._k32b, 0, 32)
        zero(self._k16, 0, 16)
        if self._s3 is not None:
            zero(self._prs, 0, 64)  # the user's secret
            self._prs_n = 0
        self._mac.wipe()
        self._ccm[0].wipe()
        self._ccm[1].wipe()
