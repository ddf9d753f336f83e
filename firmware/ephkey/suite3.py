"""Suite 3 (docs/protocol.md 15.10): the user's secret through CPace, the
parts both stations share. Imported only by a station whose pairing record
has ``user``, so a board without one never loads CPace's code.

The CPace inputs: PRS = the user's secret, CI = lv_cat("ephkey v2 s3", id_s,
id_f), sid = n_s || n_f, ADa = REQ (S is party A), ADb = SRK_frame[0:48]
(F is party B), transcript IR. From ISK:

    PRK = Extract(salt = TH2, ikm = ISK)
    KP  = Expand(PRK, Lbl(3, "pmac") || TH2, 32)
    SPV = Expand(PRK, Lbl(3, "sp") || TH2, 16)
    PSU = Expand(PRK, Lbl(3, "ps") || TH2, 32)     (PS's place in PRK3)
    t   = HMAC(KP, PROOF_frame[0:83])[0:8]

A ``Suite3`` holds the buffers of one CPace side, allocated once: the
generator ``g`` (erased as soon as the share's X25519 has taken it), ``K``
and ISK (erased in the unit that derives the keys), PSU (until PRK3), KP's
pads (until ``t`` is made or checked). Also the failed-attempt counts
(backoff.py): one per record at F, one at S.
"""

import hashlib

from micropython import const

from . import keyschedule as ks
from .backoff import Backoff
from .cpace import IR, Hash, generator_steps, isk_steps
from .mac import copy, pads_to, zero

T_MSG = const(83)  # what t covers: PROOF_frame[0:83]


class Suite3:
    def __init__(self, records):
        self.hash = Hash()
        self.g = bytearray(32)
        self.k = bytearray(32)  # K = X25519(y, peer's share)
        self.isk = bytearray(64)
        self.prk = bytearray(32)
        self.psu = bytearray(32)
        self.sid = bytearray(24)  # CPace's sid: n_s || n_f (public)
        self.req = bytearray(22)  # F: the REQ rebuilt from the slot, ADa (public)
        self.pads = bytearray(128)  # KP as its HMAC pads
        mv = memoryview(self.pads)
        self._ipad = mv[0:64]
        self._opad = mv[64:128]
        self.backoff = [Backoff() for _ in range(records)]

    def generator_steps(self, prs, id_s, id_f, n_s, ns_off, n_f, nf_off):
        """g from the secret, CI and sid (CPace's calculate_generator) as a
        generator: one SHA-512 block or Elligator2 step per next() (one
        work() unit each, 4.7); g is written at its end."""
        copy(self.sid, 0, n_s, ns_off, 12)
        copy(self.sid, 12, n_f, nf_off, 12)
        yield from generator_steps(self.g, prs, ks.ci3(id_s, id_f), self.sid, self.hash)

    @staticmethod
    def stepped(st):
        """One step of the station's job generator (``st._steps``); True once
        it has ended (``st._steps`` is cleared then)."""
        try:
            next(st._steps)
            return False
        except StopIteration:
            st._steps = None
            return True

    def isk_steps(self, ya, ada, yb, adb):
        """ISK from K, which is erased, in two steps (a generator: one work()
        unit each; SHA-512 is Python code on most ports)."""
        steps = isk_steps(self.isk, self.k, self.sid, IR, ya, ada, yb, adb, self.hash)
        next(steps)
        zero(self.k, 0, 32)  # read by the first step only
        yield
        for _ in steps:
            pass

    def keys(self, mac, th2, toff, kp, spv, spv_off):
        """From ISK: PRK, KP (as pads), SPV, PSU; ISK, PRK and KP erased.
        ``kp`` is a 32-byte scratch buffer."""
        isk = self.isk
        prk = self.prk
        mac.key(th2, toff, 32)
        mac.mac(isk, 0, 64, isk, 0, 0, prk, 0, 32)
        zero(isk, 0, 64)
        mac.key(prk, 0, 32)
        mac.expand(ks.PMAC[3], th2, toff, 32, kp, 0, 32)
        mac.expand(ks.SP[3], th2, toff, 32, spv, spv_off, 16)
        mac.expand(ks.PSU[3], th2, toff, 32, self.psu, 0, 32)
        zero(prk, 0, 32)
        mac.wipe()
        pads_to(self.pads, 0, kp, 0, 32)
        zero(kp, 0, 32)

    def t(self, frame):
        """HMAC(KP, frame[0:83]) (32 bytes; t is its first 8) from KP's pads,
        which are then erased. ``frame`` is a view of exactly 83 bytes."""
        h = hashlib.sha256(self._ipad)
        h.update(frame)
        inner = h.digest()
        h = hashlib.sha256(self._opad)
        h.update(inner)
        zero(self.pads, 0, 128)
        return h.digest()

    def wipe(self):
        """Every secret of a run: g, K, ISK, PRK, PSU, KP's pads, the hash state."""
        zero(self.g, 0, 32)
        zero(self.k, 0, 32)
        zero(self.isk, 0, 64)
        zero(self.prk, 0, 32)
        zero(self.psu, 0, 32)
        zero(self.pads, 0, 128)
        self.hash.wipe()
