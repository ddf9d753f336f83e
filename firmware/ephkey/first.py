"""The first station (spec sections 4 and 5): answers session requests.

Sans-IO: frames and ticks in, frames and events out. The RNG and the clock
are injected (``rng(n)`` returns n random bytes, ``now_ms`` is a
``time.ticks_ms()`` value), so tests drive both.

    st = FirstStation(FirstConfig(), [pairing], os.urandom, time.ticks_ms())
    st.receive(frame, n, now)         # one whole frame, from the link layer
    n = st.next_output()              # frame to send in st.out[:n], 0 if none
    ev = st.next_event()              # events.*, details in ev_sid / ev_arg
    st.send(sid, payload, n, now)     # one DATA frame
    st.poll(now)                      # timers
    st.prepare(now)                   # idle time: next interval's suite-2 key pair

Suites 1 and 2 (docs/protocol.md 3.9) share everything but the handshake's
SRK and PROOF frames and the key-schedule labels; the table remembers each
session's suite.
"""

from time import ticks_diff  # type: ignore[attr-defined]

from micropython import const

from . import channel, errors, events, keyschedule, wire
from .crypto import CcmEngine, aes_key_wrap, ccm_decrypt, ct_equal
from .outq import OutQueue
from .rng_health import RngFailure
from .sessions import FREE, OPEN, WAIT_PROOF, SessionTable
from .srk_ring import SrkRing
from .x25519 import x25519

_SID_MASK = const(0x3FFFFFFF)


class FirstStation:
    def __init__(self, config, pairings, rng, now_ms):
        if not pairings:
            raise ValueError("no pairing material: the first station refuses to start")
        self.cfg = config
        self.pairings = list(pairings)
        self.rng = rng
        self.suite2 = wire.SUITE_2 in config.suites
        self.ring = SrkRing(config.ring_slots, config.interval_ms,
                            config.lifetime_ms, config.m, now_ms, self.suite2)
        self.table = SessionTable(config.sessions, config.idrks)
        hs_size = wire.LEN_SRK2 if self.suite2 else wire.LEN_SRK
        frame_size = max(hs_size, wire.PROT_HDR + config.max_payload + wire.TAG)
        self.outq = OutQueue(config.sessions + 4, frame_size)
        self.events = events.EventQueue(config.sessions + 4)
        self.engine = CcmEngine(max(config.max_payload, wire.REKEY_PT), wire.PROT_HDR)
        # plaintext of the last DATA event (REKEY plaintexts pass through it too)
        self.payload = bytearray(max(config.max_payload, wire.REKEY_PT))
        self._nonce = bytearray(13)
        self._pt = bytearray(wire.REKEY_PT)
        self._dh = bytearray(wire.PUB_LEN)  # suite 2's DH, only while MS is derived
        self._data_len = 0
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

    def send(self, sid, payload, n, now_ms):
        """Protect and queue one DATA frame on session ``sid``."""
        t = self.table
        slot = t.find_sid(sid)
        if slot < 0 or t.state[slot] != OPEN:
            raise errors.ProtocolError(errors.UNKNOWN_SESSION, "no open session %d" % sid)
        if n > self.cfg.max_payload:
            raise errors.ProtocolError(errors.TOO_LONG, "payload over max_payload")
        self._seal(slot, wire.DATA, payload, n)
        self._counted(slot, now_ms)

    def close(self, sid, now_ms):
        slot = self.table.find_sid(sid)
        if slot < 0:
            raise errors.ProtocolError(errors.UNKNOWN_SESSION, "no session %d" % sid)
        if self.table.state[slot] == OPEN:
            self._pt[0] = errors.OK
            self._seal(slot, wire.CLOSE, self._pt, 1)
        self.table.free(slot)

    def poll(self, now_ms):
        """Run the timers of spec 4.4 item 7."""
        self.ring.advance(now_ms)
        t = self.table
        cfg = self.cfg
        for slot in range(t.n):
            state = t.state[slot]
            if state == WAIT_PROOF:
                if ticks_diff(now_ms, t.req_time[slot]) >= cfg.lifetime_ms:
                    sid = t.sid[slot]
                    t.free(slot)
                    self.events.push(events.HANDSHAKE_FAILED, sid, errors.TIMEOUT)
            elif state == OPEN:
                if ticks_diff(now_ms, t.last_rx[slot]) >= cfg.idle_ms:
                    # tell S, so it does not go on talking to a freed slot
                    self._close_with(slot, errors.TIMEOUT)
                elif t.pending[slot] >= 0:
                    if ticks_diff(now_ms, t.rekey_at[slot]) >= cfg.rekey_retry_ms:
                        if t.rekey_sends[slot] < cfg.rekey_tries:
                            self._send_rekey(slot, now_ms)
                        else:
                            self._close_with(slot, errors.TIMEOUT)
                elif ticks_diff(now_ms, t.key_at[slot]) >= cfg.rotate_ms:
                    self._rotate(slot, now_ms)

    def prepare(self, now_ms):
        """Idle work: make the next interval's suite-2 key pair ahead of time.

        Spec 3.9, pre-generation: at most one X25519 per interval, so that no
        request waits for one. Return True if a key pair was made; when none
        is due this is a clock advance and a scan of the ring. Emits nothing.
        """
        if not self.suite2:
            return False
        self.ring.advance(now_ms)
        try:
            return self.ring.prepare(self.rng) >= 0
        except (RngFailure, OSError):
            return False  # the next REQ reports RNG_FAILURE

    # -- frames in ----------------------------------------------------------

    def receive(self, buf, n, now_ms):
        """Handle one whole frame ``buf[:n]``."""
        self.ring.advance(now_ms)
        if n < wire.HDR:
            self._reject(errors.MALFORMED, 0)
            return
        ftype = buf[wire.OFF_TYPE]
        sid = wire.sid_of(buf)
        raw_sid = sid if sid >= 0 else wire.sid_raw(buf)
        # only a version-1 REQ or PROOF is answered: another version's header
        # may not mean what ours does
        answer = (ftype == wire.REQ or ftype == wire.PROOF) and buf[0] == wire.VERSION
        code = self._check_header(buf, n, ftype)
        if code:
            self._reject(code, raw_sid, buf if answer else None)
            return
        if ftype == wire.ERROR:
            self.events.push(events.PEER_ERROR, raw_sid, buf[wire.OFF_CODE])
            return
        if ftype == wire.REQ:
            code = self._on_req(buf, now_ms)
            if code == errors.REPLAY:
                self._reject(code, raw_sid)  # no answer to help a replay along
            elif code:
                self._reject(code, raw_sid, buf)
            return
        slot = self.table.find_sid(sid) if sid > 0 else -1
        if slot < 0:
            self._reject(errors.UNKNOWN_SESSION, raw_sid, buf if answer else None)
            return
        if buf[wire.OFF_SUITE] != self.table.suite[slot]:
            self._reject(errors.BAD_SUITE, sid, buf if answer else None)
            return
        if ftype == wire.PROOF:
            code = self._on_proof(slot, buf, now_ms)
            if code:
                self._reject(code, sid, buf)
            return
        code = self._on_protected(slot, buf, n, ftype, now_ms)
        if code:
            self._reject(code, sid)

    def _check_header(self, buf, n, ftype):
        if buf[wire.OFF_VER] != wire.VERSION:
            return errors.BAD_VERSION
        if not wire.known_type(ftype):
            return errors.BAD_TYPE
        if not (ftype == wire.REQ or ftype == wire.PROOF or ftype == wire.DATA
                or ftype == wire.KEY_ACK or ftype == wire.CLOSE or ftype == wire.ERROR):
            return errors.UNEXPECTED
        suite = buf[wire.OFF_SUITE]
        if ftype == wire.PROOF and not wire.suite_known(suite):
            return errors.BAD_SUITE  # its length depends on it (4.4 item 2)
        if not wire.frame_len_ok(ftype, n, self.cfg.max_payload, suite):
            return errors.MALFORMED
        if wire.PROT_FIRST <= ftype <= wire.PROT_LAST and wire.seq_of(buf) < 0:
            return errors.MALFORMED
        return 0

    def _reject(self, code, sid, answer_to=None):
        self.events.push(events.ERROR, sid, code)
        if answer_to is not None:
            out = self.outq.slot()
            out[wire.OFF_VER] = wire.VERSION
            out[wire.OFF_TYPE] = wire.ERROR
            for i in range(wire.OFF_SUITE, wire.HDR):
                out[i] = answer_to[i]
            out[wire.OFF_CODE] = code
            self.outq.commit(wire.LEN_ERROR)

    # -- the handshake -------------------------------------------------------

    def _on_req(self, buf, now_ms):
        if buf[wire.OFF_SUITE] != 0 or wire.sid_of(buf) != 0:
            return errors.MALFORMED
        offer = buf[wire.OFF_OFFER]
        if offer == 0 or offer & 0x80:
            return errors.MALFORMED
        peer = -1
        for i in range(len(self.pairings)):
            if wire.same(self.pairings[i].id_s, 0, buf, wire.OFF_ID_S, wire.ID_LEN):
                peer = i
                break
        if peer < 0:
            return errors.UNKNOWN_PEER
        suite = 0
        for s in self.cfg.suites:
            if offer & (1 << (s - 1)) and s > suite:
                suite = s
        if not suite:
            return errors.BAD_SUITE

        t = self.table
        half_open = -1
        for i in range(t.n):
            if t.state[i] == FREE or t.peer[i] != peer:
                continue
            if wire.same(t.n_s, 16 * i, buf, wire.OFF_N_S, wire.NONCE_LEN) and not (
                    t.state[i] == WAIT_PROOF and t.offer[i] != offer):
                if t.state[i] == WAIT_PROOF:
                    self._send_srk_frame(i, buf)  # a retransmitted REQ
                    return 0
                return errors.REPLAY
            if t.state[i] == WAIT_PROOF:
                half_open = i
        slot = half_open if half_open >= 0 else self._free_slot(now_ms)
        if slot < 0:
            return errors.BUSY

        # draws in the order of spec 4.2 (3.9: suite 2's srk_priv, 32 bytes),
        # all before the table changes, so a failing RNG leaves it as it was
        try:
            if suite == wire.SUITE_2:
                srk_slot = self.ring.current_pair(self.rng)
            else:
                srk_slot = self.ring.current(self.rng)
            sid = 0
            while sid == 0 or t.find_sid(sid) not in (-1, slot):
                r = self.rng(4)
                sid = ((r[0] & 0x3F) << 24) | (r[1] << 16) | (r[2] << 8) | r[3]
            n_f = self.rng(16)
            idrks = [self.rng(16) for _ in range(t.idrks)]
        except (RngFailure, OSError):
            return errors.RNG_FAILURE
        if t.state[slot] != FREE:
            t.free(slot)  # a same-peer or evicted half-open handshake
        t.n_f[16 * slot:16 * slot + 16] = n_f
        for j in range(t.idrks):
            t.key(slot, j)[:] = idrks[j]

        t.state[slot] = WAIT_PROOF
        t.sid[slot] = sid
        t.peer[slot] = peer
        t.suite[slot] = suite
        t.offer[slot] = offer
        t.n_s[16 * slot:16 * slot + 16] = buf[wire.OFF_N_S:wire.OFF_N_S + 16]
        t.srk_slot[slot] = srk_slot
        t.interval[slot] = self.ring.k
        t.req_time[slot] = now_ms
        t.confirmed[slot] = 0
        self._send_srk_frame(slot, buf)
        return 0

    def _free_slot(self, now_ms):
        """A free slot, else the oldest half-open one, else -1 (spec 4.2)."""
        t = self.table
        oldest = -1
        age = -1
        for i in range(t.n):
            if t.state[i] == FREE:
                return i
            if t.state[i] == WAIT_PROOF:
                a = ticks_diff(now_ms, t.req_time[i])
                if a > age:
                    oldest, age = i, a
        return oldest

    def _send_srk_frame(self, slot, req):
        t = self.table
        suite = t.suite[slot]
        ps = self.pairings[t.peer[slot]].ps
        out = self.outq.slot()
        wire.put_header(out, wire.SRK, suite, t.sid[slot])
        out[wire.OFF_N_F:wire.OFF_N_F + 16] = t.n_f[16 * slot:16 * slot + 16]
        k = t.interval[slot] & 0xFFFF
        out[wire.OFF_INTERVAL] = k >> 8
        out[wire.OFF_INTERVAL + 1] = k & 0xFF
        n_s = t.n_s[16 * slot:16 * slot + 16]
        n_f = t.n_f[16 * slot:16 * slot + 16]
        th_1 = keyschedule.th1(req[:wire.LEN_REQ])
        if suite == wire.SUITE_2:
            # srk_pub in clear, authenticated under PS and bound to TH1 (3.9)
            out[wire.OFF_SRK_PUB:wire.OFF_AUTH] = self.ring.pub_views[t.srk_slot[slot]]
            ka = keyschedule.ka2(ps, n_s, n_f, th_1)
            out[wire.OFF_AUTH:wire.LEN_SRK2] = keyschedule.srk_auth(ka, out[:wire.OFF_AUTH])
            n = wire.LEN_SRK2
        else:
            kek = keyschedule.kek2(ps, n_s, n_f, th_1, out[:wire.OFF_WRAPPED_SRK])
            srk = self.ring.views[t.srk_slot[slot]]
            out[wire.OFF_WRAPPED_SRK:wire.LEN_SRK] = aes_key_wrap(kek, srk)
            n = wire.LEN_SRK
        t.th[32 * slot:32 * slot + 32] = keyschedule.chain(th_1, out[:n])
        self.outq.commit(n)

    def _on_proof(self, slot, buf, now_ms):
        t = self.table
        suite = t.suite[slot]
        ct = wire.OFF_CT_TAG2 if suite == wire.SUITE_2 else wire.OFF_CT_TAG
        n = ct + wire.CT_TAG_LEN
        if t.state[slot] == OPEN:
            if not t.confirmed[slot] and wire.same(
                    t.proof, 24 * slot, buf, ct, wire.CT_TAG_LEN):
                self._send_key_frame(slot)  # S did not get our KEY: repeat it
                return 0
            return errors.UNEXPECTED
        if ticks_diff(now_ms, t.req_time[slot]) >= self.cfg.lifetime_ms:
            return errors.SRK_EXPIRED
        if not self.ring.holds(t.srk_slot[slot], t.interval[slot], suite):
            return errors.SRK_EXPIRED
        ps = self.pairings[t.peer[slot]].ps
        n_s = t.n_s[16 * slot:16 * slot + 16]
        n_f = t.n_f[16 * slot:16 * slot + 16]
        th_2 = t.th[32 * slot:32 * slot + 32]
        nonce = bytearray(13)
        wire.put_nonce(nonce, t.sid[slot], wire.DIR_S2F, 0, 0)
        dh = self._dh
        try:
            if suite == wire.SUITE_2:
                try:
                    dh[:] = x25519(self.ring.priv_views[t.srk_slot[slot]],
                                   buf[wire.OFF_E_PUB:wire.OFF_CT_TAG2])
                except ValueError:
                    return errors.AUTH_FAILED  # all-zero DH: a low-order e_pub
                secret = dh
                k3 = keyschedule.k3_dh(dh, ps, n_s, n_f, th_2)
            else:
                secret = self.ring.views[t.srk_slot[slot]]
                k3 = keyschedule.k3(secret, n_s, n_f, th_2)
            try:
                spv = ccm_decrypt(k3, nonce, buf[:ct], buf[ct:n], wire.TAG)
            except ValueError:
                return errors.AUTH_FAILED
            if not ct_equal(spv, keyschedule.spv(ps, th_2, suite)):
                return errors.BAD_PROOF
            th_3 = keyschedule.chain(th_2, buf[:n])
            t.ms[32 * slot:32 * slot + 32] = keyschedule.master(th_3, ps, secret)
        finally:
            wire.zero(dh, 0, wire.PUB_LEN)  # MS carries on; DH is not kept
        t.th[32 * slot:32 * slot + 32] = th_3
        t.proof[24 * slot:24 * slot + 24] = buf[ct:n]
        t.state[slot] = OPEN
        t.send_idx[slot] = 0
        t.recv_idx[slot] = 0
        t.send_seq[slot] = 0
        t.recv_last[slot] = -1
        t.pending[slot] = -1
        t.count[slot] = 0
        t.key_at[slot] = now_ms
        t.last_rx[slot] = now_ms
        t.ck_for(slot, 0).load(t.key(slot, 0))
        self._send_key_frame(slot)
        self.events.push(events.ESTABLISHED, t.sid[slot], 0)
        return 0

    def _send_key_frame(self, slot):
        t = self.table
        out = self.outq.slot()
        wire.put_header(out, wire.KEY, t.suite[slot], t.sid[slot])
        kek = keyschedule.kek(t.ms[32 * slot:32 * slot + 32], 0, t.suite[slot])
        out[wire.OFF_WRAPPED_IDRK:wire.LEN_KEY] = aes_key_wrap(kek, t.key(slot, 0))
        self.outq.commit(wire.LEN_KEY)

    # -- the session ---------------------------------------------------------

    def _on_protected(self, slot, buf, n, ftype, now_ms):
        t = self.table
        if t.state[slot] != OPEN:
            return errors.UNEXPECTED
        seq = wire.seq_of(buf)
        kidx = buf[wire.OFF_KIDX]
        switching = kidx == t.pending[slot]  # S acknowledges the offered key
        if not switching and kidx != t.recv_idx[slot]:
            return errors.BAD_KEY_INDEX
        got = channel.open_(self.engine, t.ck_for(slot, kidx), self._nonce, buf, n,
                            t.sid[slot], wire.DIR_S2F, kidx, seq, self.payload)
        if got < 0:
            return errors.AUTH_FAILED
        last = -1 if switching else t.recv_last[slot]
        if seq <= last:
            return errors.REPLAY

        sid = t.sid[slot]
        if switching:
            old = t.send_idx[slot]
            t.wipe_key(slot, old)
            t.send_idx[slot] = kidx
            t.recv_idx[slot] = kidx
            t.send_seq[slot] = 0
            t.pending[slot] = -1
            t.count[slot] = 0
            t.key_at[slot] = now_ms
            self.events.push(events.ROTATED, sid, kidx)
        t.recv_last[slot] = seq
        t.last_rx[slot] = now_ms
        t.confirmed[slot] = 1
        if ftype == wire.DATA:
            self._data_len = got
            self.events.push(events.DATA, sid, seq - last - 1)
            self._counted(slot, now_ms)
        elif ftype == wire.CLOSE:
            reason = self.payload[0]
            t.free(slot)
            self.events.push(events.CLOSED, sid, reason)
        return 0

    def _counted(self, slot, now_ms):
        """One more DATA frame under the current key; rotate when due."""
        t = self.table
        t.count[slot] += 1
        if t.count[slot] >= self.cfg.rotate_frames and t.pending[slot] < 0:
            self._rotate(slot, now_ms)

    def _rotate(self, slot, now_ms):
        t = self.table
        nxt = t.send_idx[slot] + 1
        if nxt >= t.idrks:
            self._close_with(slot, errors.KEYS_EXHAUSTED)
            return
        t.pending[slot] = nxt
        t.rekey_sends[slot] = 0
        t.ck_for(slot, nxt).load(t.key(slot, nxt))
        self._send_rekey(slot, now_ms)

    def _send_rekey(self, slot, now_ms):
        t = self.table
        nxt = t.pending[slot]
        kek = keyschedule.kek(t.ms[32 * slot:32 * slot + 32], nxt, t.suite[slot])
        self._pt[0] = nxt
        self._pt[1:wire.REKEY_PT] = aes_key_wrap(kek, t.key(slot, nxt))
        self._seal(slot, wire.REKEY, self._pt, wire.REKEY_PT)
        t.rekey_sends[slot] += 1
        t.rekey_at[slot] = now_ms

    def _close_with(self, slot, reason):
        t = self.table
        sid = t.sid[slot]
        self._pt[0] = reason
        self._seal(slot, wire.CLOSE, self._pt, 1)
        t.free(slot)
        self.events.push(events.CLOSED, sid, reason)

    def _seal(self, slot, ftype, pt, pt_len):
        t = self.table
        seq = t.send_seq[slot]
        if seq >= wire.SEQ_LIMIT:
            raise errors.ProtocolError(errors.KEYS_EXHAUSTED, "seq space used up")
        j = t.send_idx[slot]
        out = self.outq.slot()
        n = channel.seal(self.engine, t.ck_for(slot, j), self._nonce, out, ftype,
                         t.suite[slot], t.sid[slot], wire.DIR_F2S, j, seq, pt, pt_len)
        t.send_seq[slot] = seq + 1
        self.outq.commit(n)
