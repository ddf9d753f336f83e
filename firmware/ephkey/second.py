"""The second station (spec 5.1): asks a first station for a session.

Sans-IO like FirstStation; one session at a time.

    st = SecondStation(SecondConfig(), pairing, os.urandom, time.ticks_ms())
    st.connect(now)                   # REQ queued
    st.receive(frame, n, now)
    n = st.next_output(); ev = st.next_event()
    st.send(payload, n, now)          # once ESTABLISHED

Suite 2 (docs/protocol.md 3.9): S checks the SRK frame's auth, draws its own
ephemeral X25519 key, answers with e_pub and the proof under a key from DH,
and overwrites e_priv and DH as soon as MS is derived.
"""

from time import ticks_diff  # type: ignore[attr-defined]

from micropython import const

from . import channel, errors, events, keyschedule, wire
from .crypto import CcmEngine, CcmKey, aes_key_unwrap, ccm_encrypt, ct_equal
from .outq import OutQueue
from .rng_health import RngFailure
from .x25519 import x25519, x25519_base

IDLE = const(0)
WAIT_SRK = const(1)
WAIT_KEY = const(2)
OPEN = const(3)


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
        for s in config.offer:
            self.offer |= 1 << (s - 1)
        suite2 = wire.SUITE_2 in config.offer
        hs_size = wire.LEN_PROOF2 if suite2 else wire.LEN_REQ
        frame_size = max(hs_size, wire.PROT_HDR + config.max_payload + wire.TAG)
        self.outq = OutQueue(4, frame_size)
        self.events = events.EventQueue(4)
        self.engine = CcmEngine(max(config.max_payload, wire.REKEY_PT), wire.PROT_HDR)
        self.payload = bytearray(max(config.max_payload, wire.REKEY_PT))
        self._hs = bytearray(hs_size)  # the handshake frame to repeat
        self._hs_len = 0
        self._th = bytearray(32)
        self._ms = bytearray(32)
        self._n_s = bytearray(16)
        # suite 2: S's ephemeral key and DH, overwritten once MS is derived
        self._e_priv = bytearray(wire.PUB_LEN if suite2 else 0)
        self._dh = bytearray(wire.PUB_LEN if suite2 else 0)
        self._keys = bytearray(32)  # IDRKs by index parity
        self._ck = (CcmKey(), CcmKey())
        self._nonce = bytearray(13)
        self._pt = bytearray(1)
        self._sends = 0
        self._last_send = now_ms
        self._data_len = 0
        self.send_idx = 0
        self.recv_idx = 0
        self.send_seq = 0
        self.recv_last = -1
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

    def connect(self, now_ms):
        """Start a handshake (drops any session in progress)."""
        self._forget()
        try:
            self._n_s[:] = self.rng(16)
        except (RngFailure, OSError):
            self.events.push(events.HANDSHAKE_FAILED, 0, errors.RNG_FAILURE)
            return
        hs = self._hs
        wire.put_header(hs, wire.REQ, 0, 0)
        hs[wire.OFF_ID_S:wire.OFF_ID_S + 8] = self.pairing.id_s
        hs[wire.OFF_N_S:wire.OFF_N_S + 16] = self._n_s
        hs[wire.OFF_OFFER] = self.offer
        self._hs_len = wire.LEN_REQ
        self._th[:] = keyschedule.th1(hs[:wire.LEN_REQ])
        self.state = WAIT_SRK
        self._send_hs(now_ms, True)

    def send(self, payload, n, now_ms):
        if self.state != OPEN:
            raise errors.ProtocolError(errors.UNKNOWN_SESSION, "no open session")
        if n > self.cfg.max_payload:
            raise errors.ProtocolError(errors.TOO_LONG, "payload over max_payload")
        self._seal(wire.DATA, payload, n)

    def close(self, now_ms):
        if self.state == OPEN:
            self._pt[0] = errors.OK
            self._seal(wire.CLOSE, self._pt, 1)
        self._forget()

    def poll(self, now_ms):
        if self.state != WAIT_SRK and self.state != WAIT_KEY:
            return
        if ticks_diff(now_ms, self._last_send) < self.cfg.retry_ms:
            return
        if self._sends < self.cfg.max_tries:
            self._send_hs(now_ms, False)
        else:
            sid = self.sid
            self._forget()
            self.events.push(events.HANDSHAKE_FAILED, sid, errors.TIMEOUT)

    # -- frames in ----------------------------------------------------------

    def receive(self, buf, n, now_ms):
        if n < wire.HDR:
            self.events.push(events.ERROR, 0, errors.MALFORMED)
            return
        ftype = buf[wire.OFF_TYPE]
        sid = wire.sid_of(buf)
        raw_sid = sid if sid >= 0 else wire.sid_raw(buf)
        code = self._check(buf, n, ftype, sid, now_ms)
        if code:
            self.events.push(events.ERROR, raw_sid, code)

    def _check(self, buf, n, ftype, sid, now_ms):
        if buf[wire.OFF_VER] != wire.VERSION:
            return errors.BAD_VERSION
        if not wire.known_type(ftype):
            return errors.BAD_TYPE
        if not (ftype == wire.SRK or ftype == wire.KEY or ftype == wire.DATA
                or ftype == wire.REKEY or ftype == wire.CLOSE or ftype == wire.ERROR):
            return errors.UNEXPECTED
        suite = buf[wire.OFF_SUITE]
        if ftype == wire.SRK and not wire.suite_known(suite):
            return errors.BAD_SUITE  # its length depends on it (4.4 item 2)
        if not wire.frame_len_ok(ftype, n, self.cfg.max_payload, suite):
            return errors.MALFORMED
        if wire.PROT_FIRST <= ftype <= wire.PROT_LAST and wire.seq_of(buf) < 0:
            return errors.MALFORMED
        if ftype == wire.ERROR:
            self.events.push(events.PEER_ERROR, sid if sid >= 0 else wire.sid_raw(buf),
                             buf[wire.OFF_CODE])
            return 0
        if self.state == WAIT_SRK and ftype == wire.SRK:
            return self._on_srk(buf, sid, now_ms)
        if self.state == IDLE or self.state == WAIT_SRK or sid != self.sid:
            return errors.UNKNOWN_SESSION
        if buf[wire.OFF_SUITE] != self.suite:
            return errors.BAD_SUITE
        if ftype == wire.KEY and self.state == WAIT_KEY:
            return self._on_key(buf)
        if self.state != OPEN or ftype == wire.SRK or ftype == wire.KEY:
            return errors.UNEXPECTED
        return self._on_protected(buf, n, ftype, now_ms)

    # -- the handshake -------------------------------------------------------

    def _on_srk(self, buf, sid, now_ms):
        suite = buf[wire.OFF_SUITE]
        if suite == 0 or suite > 7 or not self.offer & (1 << (suite - 1)):
            return errors.BAD_SUITE
        if sid <= 0:
            return errors.MALFORMED
        if suite == wire.SUITE_2:
            code = self._proof2(buf, sid)
        else:
            code = self._proof1(buf, sid)
        if code:
            return code
        self.sid = sid
        self.suite = suite
        self.state = WAIT_KEY
        self._send_hs(now_ms, True)
        return 0

    def _proof1(self, buf, sid):
        """Suite 1: unwrap the SRK, write PROOF into _hs, derive MS."""
        ps = self.pairing.ps
        n_f = buf[wire.OFF_N_F:wire.OFF_N_F + 16]
        kek = keyschedule.kek2(ps, self._n_s, n_f, self._th, buf[:wire.OFF_WRAPPED_SRK])
        try:
            srk = bytearray(aes_key_unwrap(kek, buf[wire.OFF_WRAPPED_SRK:wire.LEN_SRK]))
        except ValueError:
            return errors.AUTH_FAILED
        th_2 = keyschedule.chain(self._th, buf[:wire.LEN_SRK])
        k3 = keyschedule.k3(srk, self._n_s, n_f, th_2)
        hs = self._hs
        wire.put_header(hs, wire.PROOF, wire.SUITE_1, sid)
        wire.put_nonce(self._nonce, sid, wire.DIR_S2F, 0, 0)
        hs[wire.OFF_CT_TAG:wire.LEN_PROOF] = ccm_encrypt(
            k3, self._nonce, hs[:wire.HDR], keyschedule.spv(ps, th_2), wire.TAG)
        self._hs_len = wire.LEN_PROOF
        th_3 = keyschedule.chain(th_2, hs[:wire.LEN_PROOF])
        self._ms[:] = keyschedule.master(th_3, ps, srk)
        wire.zero(srk, 0, 16)  # S needs the SRK no longer: MS carries on
        self._th[:] = th_3
        return 0

    def _proof2(self, buf, sid):
        """Suite 2: check auth, draw e_priv, DH; write PROOF into _hs, derive MS."""
        ps = self.pairing.ps
        n_f = buf[wire.OFF_N_F:wire.OFF_N_F + 16]
        ka = keyschedule.ka2(ps, self._n_s, n_f, self._th)
        auth = keyschedule.srk_auth(ka, buf[:wire.OFF_AUTH])
        if not ct_equal(auth, buf[wire.OFF_AUTH:wire.LEN_SRK2]):
            return errors.AUTH_FAILED
        e_priv = self._e_priv
        dh = self._dh
        try:
            try:
                r = self.rng(wire.PUB_LEN)  # the only draw besides n_s (3.9)
            except (RngFailure, OSError):
                return errors.RNG_FAILURE
            if len(r) != wire.PUB_LEN:
                return errors.RNG_FAILURE
            e_priv[:] = r
            e_pub = x25519_base(e_priv)
            try:
                dh[:] = x25519(e_priv, buf[wire.OFF_SRK_PUB:wire.OFF_AUTH])
            except ValueError:
                return errors.AUTH_FAILED  # a low-order srk_pub: all-zero DH
            # every check passed: _hs (the REQ until now) becomes the PROOF
            hs = self._hs
            wire.put_header(hs, wire.PROOF, wire.SUITE_2, sid)
            hs[wire.OFF_E_PUB:wire.OFF_CT_TAG2] = e_pub
            th_2 = keyschedule.chain(self._th, buf[:wire.LEN_SRK2])
            k3 = keyschedule.k3_dh(dh, ps, self._n_s, n_f, th_2)
            wire.put_nonce(self._nonce, sid, wire.DIR_S2F, 0, 0)
            hs[wire.OFF_CT_TAG2:wire.LEN_PROOF2] = ccm_encrypt(
                k3, self._nonce, hs[:wire.OFF_CT_TAG2], keyschedule.spv(ps, th_2, 2),
                wire.TAG)
            self._hs_len = wire.LEN_PROOF2
            th_3 = keyschedule.chain(th_2, hs[:wire.LEN_PROOF2])
            self._ms[:] = keyschedule.master(th_3, ps, dh)
            self._th[:] = th_3
        finally:
            # forward secrecy: from here on only MS (and the IDRKs) remain
            wire.zero(e_priv, 0, wire.PUB_LEN)
            wire.zero(dh, 0, wire.PUB_LEN)
        return 0

    def _on_key(self, buf):
        kek = keyschedule.kek(self._ms, 0, self.suite)
        try:
            idrk = aes_key_unwrap(kek, buf[wire.OFF_WRAPPED_IDRK:wire.LEN_KEY])
        except ValueError:
            return errors.AUTH_FAILED
        self._install(0, idrk)
        self.send_idx = 0
        self.recv_idx = 0
        self.send_seq = 0
        self.recv_last = -1
        self.state = OPEN
        self.events.push(events.ESTABLISHED, self.sid, 0)
        return 0

    def _send_hs(self, now_ms, first):
        self._sends = 1 if first else self._sends + 1
        self._last_send = now_ms
        out = self.outq.slot()
        out[:self._hs_len] = self._hs[:self._hs_len]
        self.outq.commit(self._hs_len)

    # -- the session ---------------------------------------------------------

    def _on_protected(self, buf, n, ftype, now_ms):
        seq = wire.seq_of(buf)
        kidx = buf[wire.OFF_KIDX]
        # F's next key is usable once REKEY installed it for our sending
        switching = kidx == self.recv_idx + 1 and self.send_idx == kidx
        if not switching and kidx != self.recv_idx:
            return errors.BAD_KEY_INDEX
        got = channel.open_(self.engine, self._ck[kidx & 1], self._nonce, buf, n,
                            self.sid, wire.DIR_F2S, kidx, seq, self.payload)
        if got < 0:
            return errors.AUTH_FAILED
        last = -1 if switching else self.recv_last
        if seq <= last:
            return errors.REPLAY
        new_key = None
        if ftype == wire.REKEY:
            new_key = self._check_rekey(kidx)
            if isinstance(new_key, int):
                return new_key
        # every check passed: from here on the state changes
        if switching:
            self._wipe(self.recv_idx)
            self.recv_idx = kidx
        self.recv_last = seq
        if ftype == wire.DATA:
            self._data_len = got
            self.events.push(events.DATA, self.sid, seq - last - 1)
        elif ftype == wire.REKEY:
            if new_key is not None:
                j = kidx + 1
                self._install(j, new_key)
                self.send_idx = j
                self.send_seq = 0
                self.events.push(events.ROTATED, self.sid, j)
            self._seal(wire.KEY_ACK, self._pt, 0)
        elif ftype == wire.CLOSE:
            sid = self.sid
            reason = self.payload[0]
            self._forget()
            self.events.push(events.CLOSED, sid, reason)
        return 0

    def _check_rekey(self, kidx):
        """A REKEY's plaintext: the new IDRK, None for a repeat, or an error code."""
        j = self.payload[0]
        if j != kidx + 1:
            return errors.MALFORMED  # REKEY(j+1) always travels under key j
        if j == self.send_idx:
            return None  # a repeat: answered with another KEY_ACK
        if j != self.send_idx + 1:
            return errors.BAD_KEY_INDEX
        try:
            return aes_key_unwrap(keyschedule.kek(self._ms, j, self.suite),
                                  self.payload[1:wire.REKEY_PT])
        except ValueError:
            return errors.AUTH_FAILED

    def _install(self, j, key):
        p = 16 * (j & 1)
        self._keys[p:p + 16] = key
        self._ck[j & 1].load(key)

    def _wipe(self, j):
        wire.zero(self._keys, 16 * (j & 1), 16)
        self._ck[j & 1].wipe()

    def _seal(self, ftype, pt, pt_len):
        seq = self.send_seq
        if seq >= wire.SEQ_LIMIT:
            raise errors.ProtocolError(errors.KEYS_EXHAUSTED, "seq space used up")
        out = self.outq.slot()
        n = channel.seal(self.engine, self._ck[self.send_idx & 1], self._nonce, out, ftype,
                         self.suite, self.sid, wire.DIR_S2F, self.send_idx, seq, pt, pt_len)
        self.send_seq = seq + 1
        self.outq.commit(n)

    def _forget(self):
        """Back to IDLE, every secret of the session overwritten."""
        self.state = IDLE
        self.sid = 0
        self.suite = 0
        wire.zero(self._th, 0, 32)
        wire.zero(self._ms, 0, 32)
        wire.zero(self._keys, 0, 32)
        wire.zero(self._e_priv, 0, len(self._e_priv))
        wire.zero(self._dh, 0, len(self._dh))
        self._ck[0].wipe()
        self._ck[1].wipe()
