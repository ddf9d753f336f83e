"""The first station's session table (claim 3; spec 4.2).

Parallel arrays sized once at start-up, with the views that hashing needs
made once too. Each slot holds one session and its own set of IDRKs; freeing
a slot overwrites every secret it held with zeros (spec 9.3).

States (4.2): FREE, WAIT_PROOF (half-open: SRK frame sent), CHECKING (suite
2: a PROOF passed ``t``, its DH job queued or running; suite 3: a PROOF whose
job runs CPace's K, then ``t``, then DH), WAIT_CONFIRM (PROOF accepted, KEY
sent), OPEN (confirmed by a frame of S under the session key) and SHARING
(suite 3, 15.10: a REQ's CPace share ``Y_f`` is being computed by a job; the
SRK frame follows). WAIT_CONFIRM and OPEN are "established".
"""

from micropython import const

from .crypto import CcmKey
from .mac import zero

FREE = const(0)
WAIT_PROOF = const(1)
OPEN = const(2)
CHECKING = const(3)
WAIT_CONFIRM = const(4)
SHARING = const(5)

_KEY = const(16)
SRK_MAX = const(80)  # the SRK frame, kept to repeat it byte for byte
PROOF_MAX = const(91)  # the PROOF being checked, or the accepted one
_SRK_LEN = (0, 40, 64, 80)  # by suite
_PROOF_LEN = (0, 27, 59, 91)
PADS = const(128)  # KP's HMAC pads, computed at REQ time


class SessionTable:
    def __init__(self, n, idrks, suite3=False):
        self.n = n
        self.idrks = idrks
        self.state = bytearray(n)
        self.sid = [0] * n
        self.peer = [0] * n
        self.suite = bytearray(n)
        self.offer = bytearray(n)  # a repeat of the REQ must repeat it too
        self.n_s = bytearray(12 * n)
        self.srk_slot = bytearray(n)
        self.interval = [0] * n
        self.req_time = [0] * n
        self.fails = bytearray(n)  # failed PROOFs (4.5)
        self.srk_frame = bytearray(SRK_MAX * n)
        self.th2 = bytearray(32 * n)
        self.kp = bytearray(PADS * n)  # KP as its HMAC pads
        self.spv = bytearray(16 * n)
        self.proof = bytearray(PROOF_MAX * n)
        self.wrapped = bytearray(24 * n)  # KEY's wrapped IDRK_0, then the pending REKEY's
        self.ck = bytearray(32 * n)  # the chain key CK_{j+1} (3.6)
        self.idrk = bytearray(_KEY * idrks * n)
        # suite 3: the CPace scalar y_f, from the REQ until the check's K (15.10)
        self.y_f = bytearray(32 * n if suite3 else 0)
        mv = memoryview(self.kp)
        # made once: the forged-PROOF path (4.5's cost bound) hashes these
        self.kp_i = [mv[PADS * i:PADS * i + 64] for i in range(n)]  # KP ^ ipad
        self.kp_o = [mv[PADS * i + 64:PADS * (i + 1)] for i in range(n)]  # KP ^ opad
        self.established_at = [0] * n
        self.send_idx = bytearray(n)
        self.recv_idx = bytearray(n)
        self.send_seq = [0] * n
        self.recv_last = [-1] * n
        self.pending = [-1] * n  # key index offered in a REKEY not yet acknowledged
        self.rekey_at = [0] * n
        self.rekey_sends = bytearray(n)
        self.count = [0] * n  # DATA frames under the current key
        self.key_at = [0] * n
        self.last_rx = [0] * n
        # two prepared AES keys per slot: current and next (index parity)
        self.ccm = [CcmKey() for _ in range(2 * n)]

    def key(self, slot, j):
        """IDRK_j of the slot, a view (made per call: at key install, not per frame)."""
        o = _KEY * (slot * self.idrks + j)
        return memoryview(self.idrk)[o:o + _KEY]

    def srk_view(self, slot, suite):
        """The SRK frame the slot sent (40, 64 or 80 bytes)."""
        o = SRK_MAX * slot
        return memoryview(self.srk_frame)[o:o + _SRK_LEN[suite]]

    def proof_view(self, slot, suite):
        """The PROOF being checked, or the accepted one (27, 59 or 91 bytes)."""
        o = PROOF_MAX * slot
        return memoryview(self.proof)[o:o + _PROOF_LEN[suite]]

    def e_pub_view(self, slot, off=3):
        """A 32-byte field of the kept PROOF: e_pub (suite 2), Y_s or e_pub (suite 3)."""
        o = PROOF_MAX * slot + off
        return memoryview(self.proof)[o:o + 32]

    def y_f_view(self, slot):
        return memoryview(self.y_f)[32 * slot:32 * slot + 32]

    def th2_view(self, slot):
        return memoryview(self.th2)[32 * slot:32 * slot + 32]

    def ccm_for(self, slot, j):
        return self.ccm[2 * slot + (j & 1)]

    def find_sid(self, sid):
        """The non-FREE slot with this sid (never 0), or -1. A free slot's sid
        is 0, so the list's own (native) search does it, allocating nothing."""
        sids = self.sid
        if sid and sid in sids:
            return sids.index(sid)
        return -1

    def clear_handshake(self, slot):
        """Erase what the PROOF check needed (4.6 step 3): TH2, KP, SPV."""
        zero(self.th2, 32 * slot, 32)
        zero(self.kp, PADS * slot, PADS)
        zero(self.spv, 16 * slot, 16)

    def free(self, slot):
        """Forget a session and overwrite every secret it held."""
        self.state[slot] = FREE
        self.sid[slot] = 0
        self.fails[slot] = 0
        self.clear_handshake(slot)
        zero(self.srk_frame, SRK_MAX * slot, SRK_MAX)
        zero(self.proof, PROOF_MAX * slot, PROOF_MAX)
        zero(self.wrapped, 24 * slot, 24)
        zero(self.ck, 32 * slot, 32)
        zero(self.idrk, _KEY * self.idrks * slot, _KEY * self.idrks)
        if self.y_f:
            zero(self.y_f, 32 * slot, 32)
        self.ccm[2 * slot].wipe()
        self.ccm[2 * slot + 1].wipe()
        self.pending[slot] = -1

    def wipe_key(self, slot, j):
        zero(self.idrk, _KEY * (self.idrks * slot + j), _KEY)
        self.ccm_for(slot, j).wipe()

    def count_state(self, state):
        c = 0
        for i in range(self.n):
            if self.state[i] == state:
                c += 1
        return c
