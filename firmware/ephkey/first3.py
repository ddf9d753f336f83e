"""The first station's suite-3 steps (docs/protocol.md 15.10), apart from
first.py so that a board without a ``user`` record neither loads nor ships
them: ``First3`` is F's Suite3 (CPace's buffers, the back-off per record)
with the steps of its two jobs, which FirstStation calls with itself (``st``):

- ``start_share``: a suite-3 REQ's slot (SHARING) and the SRK frame's head;
- ``work_share``: that job's units: the generator, Y_f = X25519(y_f, g), then
  the SRK frame and TH2 (the slot goes to WAIT_PROOF);
- ``work_check``: a PROOF's job: K, ISK, the keys and t (WRONG_CODE), then
  the DH and c as suite 2's check (FirstStation._work_check);
- ``failed``: a failed attempt of a record, BACKOFF when one starts.
"""

from . import errors, events, keyschedule as ks, wire
from .first import P3_DH, P3_GEN, P3_ISK, P3_K, P3_KEYS, P3_SHARE
from .mac import copy, diff, zero
from .sessions import PROOF_MAX, SHARING, SRK_MAX, WAIT_PROOF
from .suite3 import Suite3


class First3(Suite3):
    def failed(self, st, peer, sid, now_ms):
        """A failed suite-3 attempt of a record; BACKOFF when one starts."""
        d = self.backoff[peer].failed(now_ms)
        if d:
            st.events.push(events.BACKOFF, sid, d)

    def start_share(self, st, slot, r, nf_off):
        """4.2 step 5 for suite 3: the SRK frame's head (Y_f comes from the
        job), y_f kept with the slot; the slot is SHARING (the station queues
        its job)."""
        t = st.table
        f = t.srk_frame
        o = st.srk_head(slot, r, nf_off)
        copy(f, o + wire.OFF_SRK_PUB, st.ring.pub, wire.PUB_LEN * t.srk_slot[slot],
             wire.PUB_LEN)
        copy(t.y_f, 32 * slot, r, len(r) - 32, 32)
        t.state[slot] = SHARING

    def req_of(self, st, slot):
        """The slot's REQ, rebuilt (CPace's ADa and TH1's input): public."""
        t = st.table
        req = self.req
        req[0] = wire.B_REQ
        copy(req, wire.OFF_ID_S, st.pairings[t.peer[slot]].id_s, 0, wire.ID_LEN)
        copy(req, wire.OFF_N_S, t.n_s, 12 * slot, wire.NONCE_LEN)
        req[wire.OFF_OFFER] = t.offer[slot]
        return req

    def work_share(self, st, slot):
        """A suite-3 REQ's job: the generator (one unit), Y_f = X25519(y_f, g)
        in slices, then the SRK frame and TH2; the slot is WAIT_PROOF."""
        t = st.table
        x = st._x
        o = SRK_MAX * slot
        if st._phase == P3_GEN:  # the generator, one step per call
            if st._steps is None:
                p = st.pairings[t.peer[slot]]
                st._steps = self.generator_steps(p.user, p.id_s, p.id_f, t.n_s, 12 * slot,
                                                 t.srk_frame, o + wire.OFF_N_F)
            if self.stepped(st):
                st._phase = P3_SHARE
            return
        if not st._x_on:
            x.start(memoryview(t.srk_frame)[o + wire.OFF_Y_F:o + wire.LEN_SRK3],
                    t.y_f_view(slot), self.g)
            zero(self.g, 0, 32)  # the generator lets anyone test guesses: gone at once
            st._x_on = True
        if not st._x_done:
            st._x_done = x.step(st._slice)
            return
        st._pop_job()
        th_2 = ks.th_next(ks.th1(self.req_of(st, slot)), t.srk_view(slot, wire.SUITE_3))
        copy(t.th2, 32 * slot, th_2, 0, 32)
        t.state[slot] = WAIT_PROOF
        st._queue_srk_frame(slot)

    def work_check(self, st, slot, gen, now_ms):
        """A suite-3 PROOF's job: K = X25519(y_f, Y_s); the keys and t
        (WRONG_CODE); DH = X25519(srk_priv, e_pub); c (4.5 step 7)."""
        t = st.table
        x = st._x
        phase = st._phase
        if phase == P3_K:
            if not st._x_on:
                x.start(self.k, t.y_f_view(slot), t.e_pub_view(slot, wire.OFF_Y_S))
                st._x_on = True
            if not st._x_done:
                st._x_done = x.step(st._slice)
                return
            ok = x.ok
            x.wipe()
            zero(t.y_f, 32 * slot, 32)  # used once: K is made
            st._x_on = False
            st._x_done = False
            st._phase = P3_ISK
            if not ok:  # an all-zero K: a low-order Y_s
                st._pop_job()
                st._fail(slot, errors.AUTH_FAILED, now_ms)
            return
        if phase == P3_ISK:  # two units: one SHA-512 block each
            if st._steps is None:
                srk = t.srk_view(slot, wire.SUITE_3)
                st._steps = self.isk_steps(t.e_pub_view(slot, wire.OFF_Y_S), self.req_of(st, slot),
                                           srk[wire.OFF_Y_F:], srk[:wire.ADB_LEN])
            if self.stepped(st):
                st._phase = P3_KEYS
            return
        if phase == P3_KEYS:
            self.keys(st._mac, t.th2, 32 * slot, st._k32b, t.spv, 16 * slot)
            p = PROOF_MAX * slot
            tag = self.t(memoryview(t.proof)[p:p + wire.LEN_PROOF3 - wire.T_LEN])
            if diff(tag, 0, t.proof, p + wire.LEN_PROOF3 - wire.T_LEN, wire.T_LEN):
                st._pop_job()
                st._fail(slot, errors.WRONG_CODE, now_ms)
                return
            st._phase = P3_DH
            return
        # DH, then c: as suite 2's check
        st._work_check(slot, gen, now_ms, wire.OFF_E_PUB3)
