"""The first station (spec sections 4 and 5, version 2): answers session requests.

Sans-IO: frames and ticks in, frames and events out. The RNG and the clock
are injected (``rng(n)`` returns n random bytes, ``now_ms`` is a
``time.ticks_ms()`` value), so tests drive both.

    st = FirstStation(FirstConfig(), [pairing], os.urandom, time.ticks_ms())
    st.receive(frame, n, now)         # one whole frame, from the link layer
    n = st.next_output()              # frame to send in st.out[:n], 0 if none
    ev = st.next_event()              # events.*, details in ev_sid / ev_arg
    st.send(sid, payload, n, now)     # one DATA frame
    st.poll(now)                      # timers
    st.prepare(now)                   # idle time: the suite-2 key pair's job
    while st.busy(): st.work(now)     # X25519 in slices (4.7)
    if st.scrub_due: ...              # the event loop scrubs the heap (9.3)

Suites 1 and 2 (docs/protocol.md 3.9) share everything but the handshake's
SRK and PROOF frames and the key-schedule labels; the table remembers each
session's suite. No call but ``work`` runs any part of an X25519.

Suite 3 (15.10, the user's secret through CPace) is chosen by the pairing
record (``user``), never by the preference order: a REQ's slot is SHARING
while a job computes CPace's share ``Y_f``, then the SRK frame goes out; a
PROOF's job computes ``K`` and the keys, checks ``t`` (WRONG_CODE), and only
then the DH. Failed attempts are counted per record and back off (15.6);
That code (first3.py, on suite3.py's CPace) loads only on a board with a
``user`` record.
"""

import hashlib
from time import ticks_add, ticks_diff  # type: ignore[attr-defined]

from micropython import const

from . import channel, errors, events, keyschedule as ks, wire
from .crypto import CcmEngine
from .mac import KeyWrap, Mac, copy, diff, pads_to, xor_diff, zero
from .outq import OutQueue
from .rng_health import RngFailure
from .sessions import (
    CHECKING,
    FREE,
    OPEN,
    PADS,
    PROOF_MAX,
    SHARING,
    SRK_MAX,
    WAIT_CONFIRM,
    WAIT_PROOF,
    SessionTable,
)
from .srk_ring import NONE, PENDING, READY, SrkRing

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_J_PAIR = const(1)  # the key pair of a ring slot: srk_pub = X25519(srk_priv, 9)
_J_CHECK = const(2)  # a PROOF's check: DH = X25519(srk_priv, e_pub)
_J_SHARE = const(3)  # suite 3, a REQ: the generator, Y_f = X25519(y_f, g), the SRK frame
_J_CHECK3 = const(4)  # suite 3, a PROOF: K, the keys and t, then DH and c
# the steps of a suite-3 job (self._phase; first3.py runs them): share: the
# generator, then Y_f; check: K, then ISK, then the keys and t, then DH, then c
P3_GEN = const(0)
P3_SHARE = const(1)
P3_K = const(0)
P3_ISK = const(1)
P3_KEYS = const(2)
P3_DH = const(3)


class FirstStation:
    def __init__(self, config, pairings, rng, now_ms):
        if not pairings:
            raise ValueError("no pairing material: the first station refuses to start")
        self.cfg = config
        self.pairings = list(pairings)
        self.rng = rng
        # suite 3 needs a user record (and the interval's key pairs, as suite 2)
        self.suite3 = False
        if wire.SUITE_3 in config.suites:
            for p in self.pairings:
                if p.user is not None:
                    self.suite3 = True
        self.suite2 = wire.SUITE_2 in config.suites or self.suite3
        self.ring = SrkRing(config.ring_slots, config.interval_ms,
                            config.lifetime_ms, config.m, now_ms, self.suite2)
        self.table = SessionTable(config.sessions, config.idrks, self.suite3)
        hs_size = wire.LEN_SRK3 if self.suite3 else wire.LEN_SRK2 if self.suite2 else wire.LEN_SRK
        frame_size = max(hs_size, wire.PROT_HDR + config.max_payload + wire.TAG)
        self.outq = OutQueue(config.out_queue, frame_size)
        self.events = events.EventQueue(2 * config.sessions + 8)
        self.engine = CcmEngine(max(config.max_payload, wire.REKEY_PT), wire.PROT_HDR)
        # plaintext of the last DATA event (REKEY plaintexts pass through it too)
        self.payload = bytearray(max(config.max_payload, wire.REKEY_PT))
        self._nonce = bytearray(13)
        self._pt = bytearray(wire.REKEY_PT)
        # the handshake's secrets, each in a buffer of ours, zeroed after use (9.3)
        self._mac = Mac()
        self._kw = KeyWrap()
        self._k32 = bytearray(32)  # PRK at a REQ; PRK3 at a PROOF
        self._k32b = bytearray(32)  # KA, KP; MS = CK_0
        self._k16 = bytearray(16)  # KEK2, the pad, KEK_j
        self._dh = bytearray(wire.PUB_LEN)  # a check job's DH
        self._head1 = bytearray(wire.LEN_PROOF - wire.T_LEN)  # what t covers, suite 1
        self._head2 = bytearray(wire.LEN_PROOF2 - wire.T_LEN)  # ... suite 2
        # jobs (4.7): a FIFO of (kind, index, ring generation); the head runs
        cap = config.sessions + config.ring_slots
        self._jq_kind = bytearray(cap)
        self._jq_idx = bytearray(cap)
        self._jq_gen = [0] * cap
        self._jq_n = 0
        self._x: Any = None  # a suite-1 station runs no job, nor loads X25519's code
        if self.suite2:
            from . import x25519

            self._x = x25519.X25519Job()
            self._slice = x25519.WORK_UNITS
        self._s3: Any = None
        if self.suite3:
            from .first3 import First3

            self._s3 = First3(len(self.pairings))
        self._phase = 0  # a suite-3 job's step: which of its units comes next
        self._steps: Any = None  # the generator's steps (suite3.generator_steps)
        self._x_on = False  # the head job's X25519 was started
        self._x_done = False  # ... and has finished: its completion is next
        self._x_lost = False  # ... its key pair left the ring while it ran
        self._data_len = 0
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

    def send(self, sid, payload, n, now_ms):
        """Protect and queue one DATA frame on an established session."""
        self._advance(now_ms)
        t = self.table
        slot = t.find_sid(sid)
        if slot < 0 or t.state[slot] != OPEN and t.state[slot] != WAIT_CONFIRM:
            raise errors.ProtocolError(errors.UNKNOWN_SESSION, "no established session %d" % sid)
        if n > self.cfg.max_payload:
            raise errors.ProtocolError(errors.TOO_LONG, "payload over max_payload")
        if self._seal(slot, wire.DATA, payload, n):
            self._counted(slot, now_ms)

    def close(self, sid, now_ms):
        """CLOSE(0) if established, then free the slot; no event."""
        self._advance(now_ms)
        t = self.table
        slot = t.find_sid(sid)
        if slot < 0:
            raise errors.ProtocolError(errors.UNKNOWN_SESSION, "no session %d" % sid)
        state = t.state[slot]
        if state == OPEN or state == WAIT_CONFIRM:
            self._pt[0] = errors.OK
            self._seal(slot, wire.CLOSE, self._pt, 1)
            self.scrub_due = True
        elif state == CHECKING or state == SHARING:
            self._cancel_check(slot)
        if t.state[slot] != FREE:
            s3 = t.suite[slot] == wire.SUITE_3 and state != OPEN and state != WAIT_CONFIRM
            peer = t.peer[slot]
            t.free(slot)
            if s3:  # a suite-3 attempt that ends before an accepted PROOF (15.10)
                self._s3.failed(self, peer, sid, now_ms)

    def poll(self, now_ms):
        """Run the timers of spec 4.4 item 7, in session-slot order."""
        self._advance(now_ms)
        t = self.table
        cfg = self.cfg
        for slot in range(t.n):
            state = t.state[slot]
            if state == WAIT_PROOF:
                if self._half_open_dead(slot, now_ms):
                    self._drop_failed(slot, errors.TIMEOUT, now_ms)
            elif state == OPEN or state == WAIT_CONFIRM:
                if ticks_diff(now_ms, t.last_rx[slot]) >= cfg.idle_ms:
                    self._close_with(slot, errors.TIMEOUT)  # tell S, so it stops talking
                elif state != OPEN:
                    pass  # no rotation before confirmation (4.3)
                elif t.pending[slot] >= 0:
                    if ticks_diff(now_ms, t.rekey_at[slot]) >= cfg.rekey_retry_ms:
                        if t.rekey_sends[slot] < cfg.rekey_tries:
                            self._send_rekey(slot, now_ms)
                        else:
                            self._close_with(slot, errors.TIMEOUT)
                elif ticks_diff(now_ms, t.key_at[slot]) >= cfg.rotate_ms:
                    self._rotate(slot, now_ms)

    def prepare(self, now_ms):
        """Idle work (3.9): create the key-pair job of the first of intervals
        k, k+1 that has no key pair. Return True if a job was created. Draws
        ``srk_priv``; emits no frame and no event; computes no X25519."""
        self._advance(now_ms)
        if not self.suite2:
            return False
        ring = self.ring
        k = ring.k
        if ring.pair_state(k) == NONE:
            return self._new_pair(k, ring.k_start, True)
        if ring.pair_state(k + 1) == NONE:
            return self._new_pair(k + 1, ticks_add(ring.k_start, ring.interval_ms), True)
        return False

    def busy(self):
        """True while a job is queued or running."""
        return self._jq_n > 0

    def work(self, now_ms):
        """One unit of the head job: a slice of its X25519, or its completion."""
        self._advance(now_ms)
        if not self._jq_n:
            return
        idx = self._jq_idx[0]
        kind = self._jq_kind[0]
        if kind == _J_PAIR:
            self._work_pair(idx, self._jq_gen[0])
        elif kind == _J_CHECK:
            self._work_check(idx, self._jq_gen[0], now_ms)
        elif self.ring.gen[self.table.srk_slot[idx]] != self._jq_gen[0]:
            # suite 3: the interval's key pair left the ring first (4.7)
            self._pop_job()
            if kind == _J_SHARE:
                self._drop_failed(idx, errors.SRK_EXPIRED, now_ms)
            else:
                self._check_lost(idx, now_ms)
        elif kind == _J_SHARE:
            self._s3.work_share(self, idx)
        else:
            self._s3.work_check(self, idx, self._jq_gen[0], now_ms)

    # -- jobs ----------------------------------------------------------------

    def _new_pair(self, k, start, prepared):
        """Draw srk_priv for interval k and queue its job (one RNG call)."""
        try:
            r = self.rng(wire.PUB_LEN)
        except (RngFailure, OSError):
            return False
        if len(r) != wire.PUB_LEN:
            return False
        ring = self.ring
        i = ring.slot_for(k, start)
        self._ring_changed()
        copy(ring.priv, wire.PUB_LEN * i, r, 0, wire.PUB_LEN)
        ring.has2[i] = PENDING
        ring.created2 += 1
        if prepared:
            ring.prepared += 1
        self._queue(_J_PAIR, i, ring.gen[i])
        return True

    def _queue(self, kind, idx, gen):
        n = self._jq_n
        self._jq_kind[n] = kind
        self._jq_idx[n] = idx
        self._jq_gen[n] = gen
        self._jq_n = n + 1

    def _pop_job(self, i=0):
        n = self._jq_n - 1
        for j in range(i, n):
            self._jq_kind[j] = self._jq_kind[j + 1]
            self._jq_idx[j] = self._jq_idx[j + 1]
            self._jq_gen[j] = self._jq_gen[j + 1]
        self._jq_n = n
        if i == 0:
            if self._x is not None:
                self._x.wipe()
            self._x_on = False
            self._x_done = False
            self._x_lost = False
            self._phase = 0
            self._steps = None
            if self._s3 is not None:
                self._s3.wipe()

    def _ring_changed(self):
        """A ring slot was erased: wipe the running job's copy of its srk_priv."""
        if self._x_on and not self._x_lost:
            r = self._jq_idx[0]
            kind = self._jq_kind[0]
            if kind == _J_SHARE or kind == _J_CHECK3 and self._phase < P3_DH:
                return  # no srk_priv in this X25519 (work() checks the ring first)
            if kind != _J_PAIR:
                r = self.table.srk_slot[r]
            if self.ring.gen[r] != self._jq_gen[0]:
                self._x.wipe()
                self._x_lost = True

    def _advance(self, now_ms):
        if self.ring.advance(now_ms):
            self._ring_changed()

    def _work_pair(self, i, gen):
        ring = self.ring
        x = self._x
        if ring.gen[i] != gen:  # removed meanwhile: the job goes without a trace
            self._pop_job()
            return
        if not self._x_on:
            x.start(ring.pub_views[i], ring.priv_views[i])
            self._x_on = True
        if not self._x_done:
            self._x_done = x.step(self._slice)
            return
        ok = x.ok
        self._pop_job()
        ring.has2[i] = READY if ok else NONE

    def _work_check(self, slot, gen, now_ms, e_off=wire.OFF_E_PUB):
        t = self.table
        ring = self.ring
        x = self._x
        r = t.srk_slot[slot]
        if not self._x_on:
            if ring.gen[r] != gen or not ring.holds(r, t.interval[slot], wire.SUITE_2):
                self._pop_job()
                self._check_lost(slot, now_ms)
                return
            x.start(self._dh, ring.priv_views[r], t.e_pub_view(slot, e_off))
            self._x_on = True
        if self._x_lost:
            self._pop_job()
            self._check_lost(slot, now_ms)
            return
        if not self._x_done:
            self._x_done = x.step(self._slice)
            return
        # the job is popped after the check: suite 3's PSU lives in the job's buffers
        if x.ok:
            self._check_spv(slot, self._dh, 0, wire.PUB_LEN, now_ms)
        else:
            self._fail(slot, errors.AUTH_FAILED, now_ms)  # all-zero DH: a low-order e_pub
        self._pop_job()
        zero(self._dh, 0, wire.PUB_LEN)

    def _check_lost(self, slot, now_ms):
        """4.7: the key pair of a check left the ring: SRK_EXPIRED, slot freed."""
        t = self.table
        sid = t.sid[slot]
        zero(self._dh, 0, wire.PUB_LEN)
        self.events.push(events.ERROR, sid, errors.SRK_EXPIRED)
        self._error_frame(sid, errors.SRK_EXPIRED)
        self._drop_failed(slot, errors.SRK_EXPIRED, now_ms)

    def _drop_failed(self, slot, code, now_ms):
        """Free a half-open slot with HANDSHAKE_FAILED(code); a suite-3 one
        counts as a failed attempt of its peer (15.10)."""
        t = self.table
        sid = t.sid[slot]
        peer = t.peer[slot]
        s3 = t.suite[slot] == wire.SUITE_3
        t.free(slot)
        self.events.push(events.HANDSHAKE_FAILED, sid, code)
        if s3:
            self._s3.failed(self, peer, sid, now_ms)

    def _cancel_check(self, slot):
        """A local close of a CHECKING (or SHARING) slot, or the slot taken,
        removes its job."""
        for i in range(self._jq_n):
            if self._jq_kind[i] != _J_PAIR and self._jq_idx[i] == slot:
                self._pop_job(i)
                zero(self._dh, 0, wire.PUB_LEN)
                return

    # -- frames in ----------------------------------------------------------

    def receive(self, buf, n, now_ms):
        """Handle one whole frame ``buf[:n]``; never raises for what a peer sends."""
        self._advance(now_ms)
        if n < 1:
            self.events.push(events.ERROR, 0, errors.MALFORMED)
            return
        b0 = buf[0]
        ftype = b0 & 15
        # only a version-2 REQ or PROOF is answered: another version's frame
        # may not have our layout (4.4 item 5)
        answer = b0 == wire.B_REQ or b0 == wire.B_PROOF
        code = self._check_header(buf, n, b0, ftype)
        if code:
            self._reject(code, buf, n, answer)
            return
        if ftype == wire.ERROR:
            self.events.push(events.PEER_ERROR, wire.sid_of(buf), buf[wire.OFF_CODE])
            return
        if ftype == wire.REQ:
            code = self._on_req(buf, n, now_ms)
            if code:
                # a replay gets no answer that would help it along (4.2 step 1)
                self._reject(code, buf, n, code != errors.REPLAY)
            return
        sid = wire.sid_of(buf)
        slot = self.table.find_sid(sid) if sid else -1
        if slot < 0:
            code = errors.UNKNOWN_SESSION
        elif ftype == wire.PROOF:
            code = self._on_proof(slot, buf, n, now_ms)
        else:
            code = self._on_protected(slot, buf, n, ftype, now_ms)
        if code:
            self._reject(code, buf, n, answer)

    def _check_header(self, buf, n, b0, ftype):
        if b0 >> 4 != wire.VERSION:
            return errors.BAD_VERSION
        if not wire.known_type(ftype):
            return errors.BAD_TYPE
        if ftype == wire.SRK or ftype == wire.KEY or ftype == wire.REKEY:
            return errors.UNEXPECTED  # only S receives these: reflected frames stop here
        if not wire.frame_len_ok(ftype, n, self.cfg.max_payload):
            return errors.MALFORMED
        if wire.PROT_FIRST <= ftype <= wire.PROT_LAST and not wire.seq_ok(buf):
            return errors.MALFORMED
        return 0

    def _reject(self, code, buf, n, answer):
        self.events.push(events.ERROR, wire.event_sid(buf, n), code)
        if answer:
            sid = wire.sid_of(buf) if buf[0] == wire.B_PROOF and n >= 3 else 0
            self._error_frame(sid, code)

    def _error_frame(self, sid, code):
        out = self.outq.slot()
        out[0] = wire.B_ERROR
        out[1] = sid >> 8
        out[2] = sid & 0xFF
        out[3] = code
        self._commit(out, wire.LEN_ERROR)

    def _commit(self, out, n):
        """Queue the frame built in outq.slot(); DROPPED when the queue refuses it."""
        t = out[0] & 15
        sid = 0 if t == wire.REQ else wire.sid_of(out)
        if not self.outq.commit(n):  # refused: 4.8
            self.events.push(events.DROPPED, sid, t)

    # -- the handshake: REQ (4.2) ---------------------------------------------

    def _on_req(self, buf, n, now_ms):
        offer = buf[wire.OFF_OFFER]
        if offer == 0 or offer & 0x80:
            return errors.MALFORMED
        peer = -1
        pairings = self.pairings
        for i in range(len(pairings)):
            if not diff(pairings[i].id_s, 0, buf, wire.OFF_ID_S, wire.ID_LEN):
                peer = i
                break
        if peer < 0:
            return errors.UNKNOWN_PEER
        # 15.10: suite 3 only for a user record, suites 1 and 2 only for a ps one
        user = pairings[peer].user is not None
        suite = 0
        for s in self.cfg.suites:
            if (s == wire.SUITE_3) == user and offer & (1 << (s - 1)) and s > suite:
                suite = s
        if not suite:
            return errors.BAD_SUITE
        if suite == wire.SUITE_3 and self._s3.backoff[peer].left(now_ms):
            return errors.BACKOFF  # no slot, no draw, no job (15.10)
        t = self.table
        state = t.state
        # One pass over the table, in slot order, does steps 0, 1 and 3's scan:
        # 0. expiry first, so that no SRK frame is ever rebuilt from a removed
        # key; 1. the lowest slot of P with this n_s; 3. the candidates.
        again = -1
        mine = -1  # (a) P's half-open slot
        free = -1  # (b)
        unconfirmed = -1  # (c) and its age
        u_age = -1
        oldest = -1  # (d) and its age
        o_age = -1
        confirm_ms = self.cfg.confirm_ms
        for i in range(t.n):
            st = state[i]
            if st == WAIT_PROOF and (
                    ticks_diff(now_ms, t.req_time[i]) >= self.cfg.lifetime_ms
                    or not self.ring.holds(t.srk_slot[i], t.interval[i], t.suite[i])):
                sid = t.sid[i]
                p = t.peer[i]
                s3 = t.suite[i] == wire.SUITE_3
                t.free(i)
                self.events.push(events.HANDSHAKE_FAILED, sid, errors.TIMEOUT)
                if s3:
                    self._s3.failed(self, p, sid, now_ms)
                st = FREE
            if st == FREE:
                if free < 0:
                    free = i
                continue
            if t.peer[i] == peer:
                if again < 0 and not diff(t.n_s, 12 * i, buf, wire.OFF_N_S, wire.NONCE_LEN):
                    again = i
                if st == WAIT_PROOF or st == SHARING:
                    mine = i
                    continue
            if st == WAIT_PROOF or st == SHARING:  # SHARING: a suite-3 slot is half-open too
                age = ticks_diff(now_ms, t.req_time[i])
                if age > o_age:
                    oldest, o_age = i, age
            elif st == WAIT_CONFIRM:
                age = ticks_diff(now_ms, t.established_at[i])
                if age >= confirm_ms and age > u_age:
                    unconfirmed, u_age = i, age
        # 1. retransmission
        if again >= 0:
            if state[again] != WAIT_PROOF and state[again] != SHARING:
                return errors.REPLAY
            if t.offer[again] == offer:
                if state[again] == WAIT_PROOF:
                    self._queue_srk_frame(again)
                return 0  # SHARING: its SRK frame is being made, ignored (15.10)
            # another offer: a new request, which takes this slot (3 (a))
        # 2. suite 2 needs interval k's key pair ready
        ring = self.ring
        k = ring.k
        if suite != wire.SUITE_1:
            pair = ring.pair_state(k)
            if pair != READY:
                if pair == NONE and not self._new_pair(k, ring.k_start, False):
                    return errors.RNG_FAILURE
                return errors.NOT_READY
        # 3. the slot (nothing changes yet)
        if mine >= 0:
            slot = mine
        elif free >= 0:
            slot = free
        elif unconfirmed >= 0:
            slot = unconfirmed
        elif oldest >= 0:
            slot = oldest
        else:
            return errors.BUSY
        if suite == wire.SUITE_3 and slot == mine and self._s3.backoff[peer].fails + 1 >= 10:
            # replacing P's own attempt starts P's back-off: this REQ waits for it
            # (as a pairing PAIR_HELLO does, 15.5 step 6)
            self._drop3(slot, now_ms)
            return errors.BACKOFF
        # 4. one RNG draw: [SRK] || sid seed || n_f || IDRK_0 .. IDRK_{K-1}
        r_slot = ring.find(k)
        a = 16 if suite == wire.SUITE_1 and (r_slot < 0 or not ring.has1[r_slot]) else 0
        want = a + 2 + wire.NONCE_LEN + 16 * t.idrks
        if suite == wire.SUITE_3:
            want += 32  # the CPace scalar y_f, last (15.10)
        try:
            r = self.rng(want)
        except (RngFailure, OSError):
            return errors.RNG_FAILURE
        if len(r) != want:
            return errors.RNG_FAILURE
        # 5. commit
        if a:
            r_slot = ring.slot_for(k, ring.k_start)
            self._ring_changed()
            copy(ring.keys, 16 * r_slot, r, 0, 16)
            ring.has1[r_slot] = 1
            ring.created += 1
        if state[slot] == WAIT_CONFIRM:  # unconfirmed, older than confirm_ms (c)
            self._close_with(slot, errors.TIMEOUT)
        elif state[slot] != FREE:
            self._drop3(slot, now_ms)  # a half-open handshake (a), (d): silently
        sid = (r[a] << 8) | r[a + 1]
        while sid == 0 or t.find_sid(sid) >= 0:  # the chosen slot is FREE by now
            sid = (sid + 1) & 0xFFFF
        t.state[slot] = WAIT_PROOF
        t.sid[slot] = sid
        t.peer[slot] = peer
        t.suite[slot] = suite
        t.offer[slot] = offer
        copy(t.n_s, 12 * slot, buf, wire.OFF_N_S, wire.NONCE_LEN)
        copy(t.idrk, 16 * t.idrks * slot, r, a + 14, 16 * t.idrks)
        t.srk_slot[slot] = r_slot
        t.interval[slot] = k
        t.req_time[slot] = now_ms
        t.fails[slot] = 0
        if suite == wire.SUITE_3:
            self._s3.start_share(self, slot, r, a + 2)
            self._queue(_J_SHARE, slot, ring.gen[r_slot])
            return 0
        self._build_srk_frame(slot, buf, n, r, a + 2)
        self._queue_srk_frame(slot)
        return 0

    def _half_open_dead(self, slot, now_ms):
        """A WAIT_PROOF slot past its deadline, or whose key left the ring."""
        t = self.table
        return ticks_diff(now_ms, t.req_time[slot]) >= self.cfg.lifetime_ms or not (
            self.ring.holds(t.srk_slot[slot], t.interval[slot], t.suite[slot]))

    def srk_head(self, slot, r, nf_off):
        """The slot's SRK frame up to n_f (3.4, 3.9, 15.10), n_f = r[nf_off:];
        the frame's offset in t.srk_frame."""
        t = self.table
        f = t.srk_frame
        o = SRK_MAX * slot
        sid = t.sid[slot]
        f[o] = wire.B_SRK
        f[o + 1] = sid >> 8
        f[o + 2] = sid & 0xFF
        f[o + 3] = t.suite[slot]
        copy(f, o + wire.OFF_N_F, r, nf_off, wire.NONCE_LEN)
        return o

    def _build_srk_frame(self, slot, req, n, r, nf_off):
        """The SRK frame (3.4 / 3.9) into the slot, with TH2, KP and SPV."""
        t = self.table
        suite = t.suite[slot]
        ps = self.pairings[t.peer[slot]].ps
        f = t.srk_frame
        o = self.srk_head(slot, r, nf_off)
        th_1 = ks.th1(req if n == len(req) else memoryview(req)[:wire.LEN_REQ])
        mac = self._mac
        prk = self._k32
        ks.prk(mac, req, wire.OFF_N_S, f, o + wire.OFF_N_F, ps, prk, 0)
        mac.key(prk, 0, 32)
        if suite == wire.SUITE_2:
            copy(f, o + wire.OFF_SRK_PUB, self.ring.pub, wire.PUB_LEN * t.srk_slot[slot],
                 wire.PUB_LEN)
            ka = self._k32b
            mac.expand(ks.AUTH[2], th_1, 0, 32, ka, 0, 32)
            mac.key(ka, 0, 32)
            mac.mac(f, o, wire.OFF_AUTH, f, 0, 0, f, o + wire.OFF_AUTH, wire.AUTH_LEN)
            zero(ka, 0, 32)
            mac.key(prk, 0, 32)
        else:
            kek = self._k16
            ks.kek2(mac, th_1, f, o, kek, 0)
            self._kw.wrap(kek, self.ring.keys, 16 * t.srk_slot[slot], f, o + wire.OFF_WRAPPED_SRK)
            zero(kek, 0, 16)
        th_2 = ks.th_next(th_1, t.srk_view(slot, suite))
        copy(t.th2, 32 * slot, th_2, 0, 32)
        mac.expand(ks.SP[suite], th_2, 0, 32, t.spv, 16 * slot, 16)
        kp = self._k32b
        mac.expand(ks.PMAC[suite], th_2, 0, 32, kp, 0, 32)
        zero(prk, 0, 32)
        pads_to(t.kp, PADS * slot, kp, 0, 32)  # KP kept as its HMAC pads: t is one HMAC (4.5)
        zero(kp, 0, 32)
        mac.wipe()

    def _queue_srk_frame(self, slot):
        t = self.table
        n = wire.LEN_SRK_OF[t.suite[slot]]
        out = self.outq.slot()
        copy(out, 0, t.srk_frame, SRK_MAX * slot, n)
        self._commit(out, n)

    # -- the handshake: PROOF (4.5), acceptance (4.6) --------------------------

    def _on_proof(self, slot, buf, n, now_ms):
        t = self.table
        suite = t.suite[slot]
        if n != wire.LEN_PROOF_OF[suite]:
            return errors.MALFORMED
        state = t.state[slot]
        if state != WAIT_PROOF:
            same = not diff(t.proof, PROOF_MAX * slot, buf, 0, n)  # whole frames
            if state == WAIT_CONFIRM and same:
                self._queue_key_frame(slot)  # S did not get our KEY: the same one again
                return 0
            if state == CHECKING and same:
                return 0  # being checked: ignored
            return errors.UNEXPECTED
        if ticks_diff(now_ms, t.req_time[slot]) >= self.cfg.lifetime_ms or not self.ring.holds(
                t.srk_slot[slot], t.interval[slot], suite):
            return errors.SRK_EXPIRED
        if suite == wire.SUITE_3:
            # CPace needs K before anything keyed by the secret can be checked:
            # the job computes K, then checks t, and only then the DH (15.10)
            copy(t.proof, PROOF_MAX * slot, buf, 0, n)
            t.state[slot] = CHECKING
            self._queue(_J_CHECK3, slot, self.ring.gen[t.srk_slot[slot]])
            return 0
        # t first: one HMAC under KP, whose pads were made at REQ time; no key
        # derivation, no transcript hash, no X25519 before it (the cost bound)
        head = self._head2 if suite == wire.SUITE_2 else self._head1
        m = n - wire.T_LEN
        copy(head, 0, buf, 0, m)
        h = hashlib.sha256(t.kp_i[slot])
        h.update(head)
        inner = h.digest()
        h = hashlib.sha256(t.kp_o[slot])
        h.update(inner)
        ok = not diff(h.digest(), 0, buf, m, wire.T_LEN)
        if not ok:
            self._fail(slot, errors.AUTH_FAILED, now_ms)
            return 0
        copy(t.proof, PROOF_MAX * slot, buf, 0, n)
        if suite == wire.SUITE_2:
            t.state[slot] = CHECKING
            self._queue(_J_CHECK, slot, self.ring.gen[t.srk_slot[slot]])
            return 0
        self._check_spv(slot, self.ring.keys, 16 * t.srk_slot[slot], 16, now_ms)
        return 0

    def _fail(self, slot, code, now_ms):
        """A counted PROOF failure (4.5): ERROR event and frame, fails += 1,
        the slot freed at proof_tries (suite 3: at once, and a failed attempt
        of its record, 15.10)."""
        t = self.table
        sid = t.sid[slot]
        self.events.push(events.ERROR, sid, code)
        self._error_frame(sid, code)
        fails = t.fails[slot] + 1
        if t.suite[slot] == wire.SUITE_3:
            peer = t.peer[slot]
            t.free(slot)
            self.events.push(events.HANDSHAKE_FAILED, sid, code)
            self._s3.failed(self, peer, sid, now_ms)
            return
        if fails >= self.cfg.proof_tries:
            t.free(slot)
            self.events.push(events.HANDSHAKE_FAILED, sid, code)
            return
        t.fails[slot] = fails
        t.state[slot] = WAIT_PROOF  # a CHECKING slot waits for a PROOF again
        at = PROOF_MAX * slot
        if t.proof[at]:  # a PROOF kept for its check (a frame's first byte is never 0)
            zero(t.proof, at, PROOF_MAX)

    def _check_spv(self, slot, x, xoff, xlen, now_ms):
        """4.5 step 7 with X = x[xoff:xoff + xlen]: PRK3, the pad, c XOR pad == SPV."""
        t = self.table
        suite = t.suite[slot]
        mac = self._mac
        prk3 = self._k32
        pad = self._k16
        ps = self._s3.psu if suite == wire.SUITE_3 else self.pairings[t.peer[slot]].ps
        ks.prk3(mac, t.th2, 32 * slot, x, xoff, xlen, ps, prk3, 0)
        if suite == wire.SUITE_3:
            zero(ps, 0, 32)  # PSU: only PRK3 needs it
        mac.key(prk3, 0, 32)
        mac.expand(ks.PAD[suite], None, 0, 0, pad, 0, 16)
        c = PROOF_MAX * slot + wire.OFF_C_OF[suite]
        bad = xor_diff(t.proof, c, pad, 0, t.spv, 16 * slot, wire.SPV_LEN)
        zero(pad, 0, 16)
        if bad:
            zero(prk3, 0, 32)
            mac.wipe()
            self._fail(slot, errors.BAD_PROOF, now_ms)
            return
        self._accept(slot, now_ms)

    def _accept(self, slot, now_ms):
        """4.6: replace the peer's older sessions, derive the chain, send KEY.
        The Mac holds PRK3 (and _k32 too) on entry."""
        t = self.table
        peer = t.peer[slot]
        if t.suite[slot] == wire.SUITE_3:
            self._s3.backoff[peer].reset()  # an accepted PROOF (15.10)
        # 1. the peer's unconfirmed sessions are dead (S has one session at a
        # time, 5.1); 2. and it keeps at most peer_sessions confirmed ones
        held = 0
        for i in range(t.n):
            if i != slot and t.peer[i] == peer:
                st = t.state[i]
                if st == WAIT_CONFIRM:
                    self._close_with(i, errors.REPLACED)
                elif st == OPEN:
                    held += 1
        while held >= self.cfg.peer_sessions:
            oldest = -1
            for i in range(t.n):
                if i != slot and t.state[i] == OPEN and t.peer[i] == peer and (
                        oldest < 0 or ticks_diff(t.established_at[oldest],
                                                 t.established_at[i]) > 0):
                    oldest = i
            self._close_with(oldest, errors.REPLACED)
            held -= 1
        # 3. TH3, MS = CK_0, then KEK_0 and CK_1; MS erased now
        suite = t.suite[slot]
        mac = self._mac
        ms = self._k32b
        th_3 = ks.th_next(t.th2_view(slot), t.proof_view(slot, suite))
        mac.expand(ks.MS[suite], th_3, 0, 32, ms, 0, 32)
        zero(self._k32, 0, 32)  # PRK3
        mac.key(ms, 0, 32)
        kek = self._k16
        mac.expand_j(ks.KEK[suite], 0, kek, 0, 16)
        mac.expand_j(ks.CHAIN[suite], 1, t.ck, 32 * slot, 32)
        zero(ms, 0, 32)
        mac.wipe()
        self._kw.wrap(kek, t.idrk, 16 * t.idrks * slot, t.wrapped, 24 * slot)
        zero(kek, 0, 16)
        t.clear_handshake(slot)
        t.state[slot] = WAIT_CONFIRM
        t.established_at[slot] = now_ms
        t.last_rx[slot] = now_ms
        t.key_at[slot] = now_ms
        t.send_idx[slot] = 0
        t.recv_idx[slot] = 0
        t.send_seq[slot] = 0
        t.recv_last[slot] = -1
        t.pending[slot] = -1
        t.rekey_sends[slot] = 0
        t.count[slot] = 0
        t.ccm_for(slot, 0).load(t.key(slot, 0))
        self._queue_key_frame(slot)
        self.events.push(events.ESTABLISHED, t.sid[slot], 0)
        self.scrub_due = True

    def _queue_key_frame(self, slot):
        t = self.table
        out = self.outq.slot()
        wire.put_header(out, wire.KEY, t.sid[slot])
        copy(out, wire.OFF_WRAPPED_IDRK, t.wrapped, 24 * slot, wire.WRAPPED_LEN)
        self._commit(out, wire.LEN_KEY)

    def _drop3(self, slot, now_ms):
        """Free a half-open slot silently; a suite-3 one is a failed attempt."""
        t = self.table
        sid = t.sid[slot]
        peer = t.peer[slot]
        s3 = t.suite[slot] == wire.SUITE_3
        if t.state[slot] == SHARING:
            self._cancel_check(slot)
        t.free(slot)
        if s3:
            self._s3.failed(self, peer, sid, now_ms)

    # -- the session (5.2, 5.3) ---------------------------------------------

    def _on_protected(self, slot, buf, n, ftype, now_ms):
        t = self.table
        state = t.state[slot]
        if state != OPEN and state != WAIT_CONFIRM:
            return errors.UNEXPECTED
        seq = wire.seq_of(buf)
        kidx = buf[wire.OFF_KIDX]
        switching = kidx == t.pending[slot]  # S acknowledges the offered key
        if not switching and kidx != t.recv_idx[slot]:
            return errors.BAD_KEY_INDEX
        sid = t.sid[slot]
        got = channel.open_(self.engine, t.ccm_for(slot, kidx), self._nonce, buf, n,
                            sid, wire.DIR_S2F, kidx, seq, self.payload)
        if got < 0:
            return errors.AUTH_FAILED
        last = -1 if switching else t.recv_last[slot]
        if seq <= last:
            return errors.REPLAY
        # every check passed: confirmation, rotation, then the frame's own effect
        if state == WAIT_CONFIRM:
            t.state[slot] = OPEN
            zero(t.proof, PROOF_MAX * slot, PROOF_MAX)
            zero(t.wrapped, 24 * slot, 24)
        if switching:
            t.wipe_key(slot, t.send_idx[slot])
            t.send_idx[slot] = kidx
            t.recv_idx[slot] = kidx
            t.send_seq[slot] = 0
            t.pending[slot] = -1
            t.count[slot] = 0
            t.key_at[slot] = now_ms
            zero(t.wrapped, 24 * slot, 24)
            self.events.push(events.ROTATED, sid, kidx)
            self.scrub_due = True
        t.recv_last[slot] = seq
        t.last_rx[slot] = now_ms
        if ftype == wire.DATA:
            self._data_len = got
            self.events.push(events.DATA, sid, seq - last - 1)
            self._counted(slot, now_ms)
        elif ftype == wire.CLOSE:
            reason = self.payload[0]
            t.free(slot)
            self.events.push(events.CLOSED, sid, reason)
            self.scrub_due = True
        return 0

    def _counted(self, slot, now_ms):
        """4.4 item 8: one more DATA frame under the current key; rotate when due."""
        t = self.table
        t.count[slot] += 1
        if (t.state[slot] == OPEN and t.count[slot] >= self.cfg.rotate_frames
                and t.pending[slot] < 0):
            self._rotate(slot, now_ms)

    def _rotate(self, slot, now_ms):
        """5.3: KEK_{j+1} and CK_{j+2} from CK_{j+1}, which is then erased; REKEY."""
        t = self.table
        nxt = t.send_idx[slot] + 1
        if nxt >= t.idrks:
            self._close_with(slot, errors.KEYS_EXHAUSTED)
            return
        suite = t.suite[slot]
        mac = self._mac
        kek = self._k16
        mac.key(t.ck, 32 * slot, 32)
        mac.expand_j(ks.KEK[suite], nxt, kek, 0, 16)
        mac.expand_j(ks.CHAIN[suite], nxt + 1, t.ck, 32 * slot, 32)  # replaces CK_{j+1}
        mac.wipe()
        self._kw.wrap(kek, t.idrk, 16 * (t.idrks * slot + nxt), t.wrapped, 24 * slot)
        zero(kek, 0, 16)
        t.pending[slot] = nxt
        t.rekey_sends[slot] = 0
        t.ccm_for(slot, nxt).load(t.key(slot, nxt))
        self.scrub_due = True
        self._send_rekey(slot, now_ms)

    def _send_rekey(self, slot, now_ms):
        t = self.table
        pt = self._pt
        pt[0] = t.pending[slot]
        copy(pt, 1, t.wrapped, 24 * slot, wire.WRAPPED_LEN)
        if self._seal(slot, wire.REKEY, pt, wire.REKEY_PT):
            t.rekey_sends[slot] += 1
            t.rekey_at[slot] = now_ms

    def _close_with(self, slot, reason):
        """CLOSE(reason) on an established session, the slot freed, CLOSED reported."""
        t = self.table
        sid = t.sid[slot]
        self._pt[0] = reason
        if self._seal(slot, wire.CLOSE, self._pt, 1):
            t.free(slot)
            self.events.push(events.CLOSED, sid, reason)
        self.scrub_due = True

    def _seal(self, slot, ftype, pt, pt_len):
        """Seal and queue one protected frame under the current key. The last
        seq is CLOSE's (3.7): asked for anything else there, send
        CLOSE(KEYS_EXHAUSTED) instead, end the session and return False."""
        t = self.table
        seq = t.send_seq[slot]
        exhausted = seq >= wire.SEQ_LAST and ftype != wire.CLOSE
        if exhausted:
            pt = self._pt
            pt[0] = errors.KEYS_EXHAUSTED
            ftype = wire.CLOSE
            pt_len = 1
        j = t.send_idx[slot]
        out = self.outq.slot()
        n = channel.seal(self.engine, t.ccm_for(slot, j), self._nonce, out, ftype,
                         t.sid[slot], wire.DIR_F2S, j, seq, pt, pt_len)
        t.send_seq[slot] = seq + 1
        self._commit(out, n)
        if exhausted:
            sid = t.sid[slot]
            t.free(slot)
            self.events.push(events.CLOSED, sid, errors.KEYS_EXHAUSTED)
            self.scrub_due = True
            return False
        return True
