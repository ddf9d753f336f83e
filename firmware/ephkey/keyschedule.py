"""The key schedule of spec 3.4-3.11, shared by both roles.

Every derivation writes its result into a buffer the caller owns (and zeroes
after use: spec 9.3); none concatenates a secret into a new object. The HMAC
key is whatever the caller installed in the ``Mac`` (``mac.key(...)``), so a
key used for several derivations has its pads computed once. Labels are
``Lbl(s, name)`` = "ephkey v2 s<d> <name>" (2.1), indexed by suite; every
HKDF-Expand is one HMAC of ``info || 0x01``: ``mac.expand(Lbl, TH, ...)``
for ``Expand(key, Lbl || TH, n)`` and ``mac.expand_j(Lbl, j, ...)`` for
``Expand(CK_j, Lbl || u8(j), n)`` (KEK_j, CK_{j+1}).

Transcript hashes (TH1, TH2, TH3) hash public frames: they are returned as
``bytes``.
"""

from .mac import copy, sha256_of, sha256_two


def _lbl(name):
    return (b"", b"ephkey v2 s1 " + name, b"ephkey v2 s2 " + name, b"ephkey v2 s3 " + name)


SRK = _lbl(b"srk")
AUTH = _lbl(b"auth")
PMAC = _lbl(b"pmac")
SP = _lbl(b"sp")
PAD = _lbl(b"pad")
MS = _lbl(b"ms")
KEK = _lbl(b"kek")
CHAIN = _lbl(b"chain")
PSU = _lbl(b"ps")  # suite 3 (15.10): the key from CPace's ISK that stands for PS
CI3 = b"ephkey v2 s3"  # suite 3: CPace's CI = lv_cat(CI3, id_s, id_f)


def th1(req):
    """TH1 = H(REQ)."""
    return sha256_of(req)


def th_next(th, frame):
    """TH2 = H(TH1 || SRK_frame), TH3 = H(TH2 || PROOF_frame)."""
    return sha256_two(th, frame)


def prk(mac, n_s, ns_off, n_f, nf_off, ps, out, off):
    """PRK = Extract(salt = n_s || n_f, ikm = PS) into out[off:off + 32]."""
    mac.salt(n_s, ns_off, n_f, nf_off)
    mac.mac(ps, 0, len(ps), ps, 0, 0, out, off, 32)


def kek2(mac, th_1, srk_frame, foff, out, off):
    """Suite 1: KEK2 = Expand(PRK, Lbl(1, "srk") || TH1 || SRK_frame[0:4], 16)."""
    tail = mac.tail
    copy(tail, 0, th_1, 0, 32)
    copy(tail, 32, srk_frame, foff, 4)
    mac.expand(SRK[1], tail, 0, 36, out, off, 16)


def ci3(id_s, id_f):
    """Suite 3: CPace's channel identifier lv_cat("ephkey v2 s3", id_s, id_f)
    (public; the lengths are one-byte LEB128)."""
    return bytes((len(CI3),)) + CI3 + bytes((len(id_s),)) + bytes(id_s) + bytes(
        (len(id_f),)) + bytes(id_f)


def prk3(mac, th_2, toff, x, xoff, xlen, ps, out, off):
    """PRK3 = Extract(salt = TH2, ikm = X || PS): X the SRK (16) or DH (32);
    TH2 is th_2[toff:toff + 32]."""
    mac.key(th_2, toff, 32)
    mac.mac(x, xoff, xlen, ps, 0, len(ps), out, off, 32)
