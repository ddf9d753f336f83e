"""The first station's session table (claim 3; spec 4.2).

Parallel arrays sized once at start-up. Each slot holds one session and its
own set of IDRKs; freeing a slot overwrites its keys with zeros.
"""

from micropython import const

from .crypto import CcmKey

FREE = const(0)
WAIT_PROOF = const(1)
OPEN = const(2)

_KEY = const(16)


class SessionTable:
    def __init__(self, n, idrks):
        self.n = n
        self.idrks = idrks
        self.state = bytearray(n)
        self.sid = [0] * n
        self.peer = [0] * n
        self.suite = bytearray(n)
        self.n_s = bytearray(16 * n)
        self.offer = bytearray(n)  # a repeat of the REQ must repeat it too
        self.n_f = bytearray(16 * n)
        self.srk_slot = bytearray(n)
        self.interval = [0] * n
        self.req_time = [0] * n
        self.th = bytearray(32 * n)  # TH2 while waiting for the proof
        self.ms = bytearray(32 * n)
        self.proof = bytearray(24 * n)  # accepted PROOF ct||tag, to spot a repeat
        self.idrk = bytearray(_KEY * idrks * n)
        mv = memoryview(self.idrk)
        self.idrk_view = [mv[i * _KEY:(i + 1) * _KEY] for i in range(idrks * n)]
        self.confirmed = bytearray(n)  # a frame from S was accepted under an IDRK
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
        self.ck = [CcmKey() for _ in range(2 * n)]

    def key(self, slot, j):
        return self.idrk_view[slot * self.idrks + j]

    def ck_for(self, slot, j):
        return self.ck[2 * slot + (j & 1)]

    def find_sid(self, sid):
        for i in range(self.n):
            if self.state[i] != FREE and self.sid[i] == sid:
                return i
        return -1

    def free(self, slot):
        """Forget a session and overwrite every secret it held."""
        self.state[slot] = FREE
        self.sid[slot] = 0
        _zero(self.th, 32 * slot, 32)
        _zero(self.ms, 32 * slot, 32)
        _zero(self.proof, 24 * slot, 24)
        _zero(self.idrk, _KEY * self.idrks * slot, _KEY * self.idrks)
        self.ck[2 * slot].wipe()
        self.ck[2 * slot + 1].wipe()
        self.pending[slot] = -1

    def wipe_key(self, slot, j):
        _zero(self.idrk, _KEY * (self.idrks * slot + j), _KEY)
        self.ck_for(slot, j).wipe()

    def count_state(self, state):
        c = 0
        for i in range(self.n):
            if self.state[i] == state:
                c += 1
        return c


def _zero(buf, off, n):
    for i in range(off, off + n):
        buf[i] = 0
