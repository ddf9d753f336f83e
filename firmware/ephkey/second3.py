"""The second station's suite-3 steps (docs/protocol.md 15.10), apart from
second.py so that a board without a ``user`` record neither loads nor ships
them: ``Second3`` is S's Suite3 (CPace's buffers, the back-off) with the
steps SecondStation calls with itself (``st``):

- ``on_srk``: a suite-3 SRK frame: y_s and e_priv drawn, the job started;
- ``work``: the job's units before e_pub: the generator, Y_s, K (and ISK,
  after the DH);
- ``proof``: the job ended: the keys, the PROOF, TH3 and MS.
"""

from . import errors, keyschedule as ks, wire
from .mac import copy, xor, zero
from .rng_health import RngFailure
from .second import P_DONE, P_E_PUB, P_GEN, P_ISK, P_K, P_Y_S, WAIT_KEY
from .suite3 import Suite3


class Second3(Suite3):
    def work(self, st, phase):
        """Suite 3's units before e_pub: the generator, Y_s, K (15.10)."""
        x = st._x
        if phase == P_ISK:  # two units: one SHA-512 block each
            if st._steps is None:
                srk = memoryview(st._srk3)
                # ADa is the REQ, still in _hs until the PROOF is written over it
                st._steps = self.isk_steps(st._y_s_pub, st._hs_v[0], srk[wire.OFF_Y_F:],
                                           srk[:wire.ADB_LEN])
            if self.stepped(st):
                st._phase = P_DONE
            return
        if phase == P_GEN:  # the generator, one step per call
            if st._steps is None:
                st._steps = self.generator_steps(memoryview(st._prs)[:st._prs_n],
                                                 st.pairing.id_s, st.pairing.id_f,
                                                 st._n_s, 0, st._srk3, wire.OFF_N_F)
            if self.stepped(st):
                st._phase = P_Y_S
            return
        if phase == P_Y_S:
            if not st._x_on:
                x.start(st._y_s_pub, st._y_s, self.g)
                zero(self.g, 0, 32)  # the generator lets anyone test guesses: gone at once
                st._x_on = True
            if x.step(st._slice):
                st._phase = P_K
                st._x_on = False
            return
        if not st._x_on:
            x.start(self.k, st._y_s, memoryview(st._srk3)[wire.OFF_Y_F:])
            st._x_on = True
        if x.step(st._slice):
            st._x_on = False
            if x.ok:
                st._phase = P_E_PUB
            else:  # an all-zero K: a low-order Y_f
                st._abort_proving()
                st.scrub_due = True

    def on_srk(self, st, buf, sid):
        """Suite 3: nothing to check before the job (15.10); draw y_s then
        e_priv in one call; the job computes g, Y_s, K, e_pub, DH."""
        try:
            r = st.rng(64)
        except (RngFailure, OSError):
            r = b""
        if len(r) != 64:
            return errors.RNG_FAILURE
        copy(st._y_s, 0, r, 0, 32)
        copy(st._e_priv, 0, r, 32, 32)
        copy(st._srk3, 0, buf, 0, wire.LEN_SRK3)
        copy(st._srk_pub, 0, buf, wire.OFF_SRK_PUB, wire.PUB_LEN)
        st.proving(sid, wire.SUITE_3, P_GEN)
        return 0

    def proof(self, st, now_ms):
        """The suite-3 job ended: ISK, PRK, KP, SPV, PSU; the PROOF (Y_s, e_pub,
        c, t); TH3 and MS. Erases ISK, PRK, PSU, PRK3, the pad, KP, SPV, the secret."""
        hs = st._hs
        mac = st._mac
        srk = memoryview(st._srk3)
        th_2 = ks.th_next(st._th1, srk)
        self.keys(mac, th_2, 0, st._k32b, st._spv, 0)
        wire.put_header(hs, wire.PROOF, st.sid)
        copy(hs, wire.OFF_Y_S, st._y_s_pub, 0, wire.PUB_LEN)
        copy(hs, wire.OFF_E_PUB3, st._e_pub, 0, wire.PUB_LEN)
        prk3 = st._k32
        pad = st._k16
        ks.prk3(mac, th_2, 0, st._dh, 0, wire.PUB_LEN, self.psu, prk3, 0)
        zero(self.psu, 0, 32)
        mac.key(prk3, 0, 32)
        mac.expand(ks.PAD[3], None, 0, 0, pad, 0, 16)
        xor(hs, wire.OFF_C3, st._spv, 0, pad, 0, wire.SPV_LEN)
        zero(pad, 0, 16)
        zero(st._spv, 0, 16)
        tag = self.t(st._hs_v[4])
        copy(hs, wire.LEN_PROOF3 - wire.T_LEN, tag, 0, wire.T_LEN)
        th_3 = ks.th_next(th_2, st._hs_v[3])
        mac.key(prk3, 0, 32)
        mac.expand(ks.MS[3], th_3, 0, 32, st._ms, 0, 32)
        zero(prk3, 0, 32)
        mac.wipe()
        st._hs_len = wire.LEN_PROOF3
        zero(st._prs, 0, 64)  # the user's secret: CPace is done with it
        st._end_proving()
        st.state = WAIT_KEY
        st._sent3 = True
        st._send_hs(now_ms, True)
