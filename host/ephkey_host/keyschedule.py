"""Key schedule of protocol version 2 (protocol.md sections 2.1, 3.3-3.11).

Pure functions named as in the spec's table 3.11. Every HMAC input is a
concatenation of public values and one key; the station code keeps secrets in
``bytearray`` buffers and zeroes them (the host makes no claim about the
copies ``bytes`` and OpenSSL keep, 9.3).

* ``Extract(salt, ikm) = HMAC(salt, ikm)``;
* ``Expand(PRK, info, L) = HMAC(PRK, info || 0x01)[0:L]`` for L <= 32;
* ``Lbl(s, name) = "ephkey v2 s<digit> <name>"``.
"""

from . import cpace, crypto

Buf = bytes | bytearray  # secrets live in bytearrays the stations zero

DIR_F2S = 0x01
DIR_S2F = 0x02

LABEL_NAMES = ("srk", "auth", "pmac", "sp", "pad", "ms", "kek", "chain", "ps")
T_LEN = 8  # PROOF's t
AUTH_LEN = 16


def lbl(suite: int, name: str) -> bytes:
    assert suite in (1, 2, 3) and name in LABEL_NAMES
    return b"ephkey v2 s%d %s" % (suite, name.encode("ascii"))


def extract(salt: Buf, ikm: Buf) -> bytes:
    return crypto.hmac_sha256(salt, ikm)


def expand(prk: Buf, info: Buf, length: int) -> bytes:
    assert 0 < length <= 32
    return crypto.hmac_sha256(prk, bytes(info) + b"\x01")[:length]


def th1(req: Buf) -> bytes:
    return crypto.sha256(req)


def prk(n_s: Buf, n_f: Buf, ps: Buf) -> bytes:
    """PRK = Extract(salt = n_s || n_f, ikm = PS)."""
    return extract(bytes(n_s) + bytes(n_f), ps)


def kek2(prk_: Buf, th1_: Buf, srk_head4: Buf) -> bytes:
    """Suite 1: KEK2 = Expand(PRK, Lbl(1, "srk") || TH1 || SRK_frame[0:4], 16)."""
    assert len(srk_head4) == 4
    return expand(prk_, lbl(1, "srk") + th1_ + bytes(srk_head4), 16)


def ka(prk_: Buf, th1_: Buf) -> bytes:
    """Suite 2: KA = Expand(PRK, Lbl(2, "auth") || TH1, 32)."""
    return expand(prk_, lbl(2, "auth") + th1_, 32)


def auth(ka_: Buf, srk_head48: Buf) -> bytes:
    """Suite 2: ``auth`` = HMAC(KA, SRK_frame[0:48])[0:16]."""
    assert len(srk_head48) == 48
    return crypto.hmac_sha256(ka_, srk_head48)[:AUTH_LEN]


def th2(th1_: Buf, srk_frame: Buf) -> bytes:
    return crypto.sha256(bytes(th1_) + bytes(srk_frame))


def kp(prk_: Buf, suite: int, th2_: Buf) -> bytes:
    """KP = Expand(PRK, Lbl(s, "pmac") || TH2, 32): the key of PROOF's ``t``."""
    return expand(prk_, lbl(suite, "pmac") + bytes(th2_), 32)


def spv(prk_: Buf, suite: int, th2_: Buf) -> bytes:
    """SPV = Expand(PRK, Lbl(s, "sp") || TH2, 16)."""
    return expand(prk_, lbl(suite, "sp") + bytes(th2_), 16)


def prk3(th2_: Buf, x: Buf, ps: Buf) -> bytes:
    """PRK3 = Extract(salt = TH2, ikm = X || PS); X is the SRK or DH."""
    return extract(bytes(th2_), bytes(x) + bytes(ps))


# -- suite 3 (15.10): the user's secret enters only CPace ------------------------------

CI3_LABEL = b"ephkey v2 s3"


def ci3(id_s: Buf, id_f: Buf) -> bytes:
    """CPace's channel identifier: lv_cat("ephkey v2 s3", id_s, id_f)."""
    return cpace.lv_cat(CI3_LABEL, bytes(id_s), bytes(id_f))


def prk_s3(th2_: Buf, isk: Buf) -> bytes:
    """Suite 3: PRK = Extract(salt = TH2, ikm = ISK)."""
    return extract(bytes(th2_), isk)


def psu(prk_: Buf, th2_: Buf) -> bytes:
    """Suite 3: PSU = Expand(PRK, Lbl(3, "ps") || TH2, 32), PS's stand-in in PRK3."""
    return expand(prk_, lbl(3, "ps") + bytes(th2_), 32)


def isk_s3(n_s: Buf, n_f: Buf, k: Buf, y_s: Buf, req: Buf, y_f: Buf, srk_frame: Buf) -> bytes:
    """CPace's ISK for a suite-3 handshake: sid = n_s || n_f, ADa = REQ (S is
    party A), ADb = SRK_frame[0:48], transcript IR."""
    return cpace.isk(bytes(n_s) + bytes(n_f), bytes(k), cpace.IR, bytes(y_s), bytes(req),
                     bytes(y_f), bytes(srk_frame[:48]))


def pad(prk3_: Buf, suite: int) -> bytes:
    return expand(prk3_, lbl(suite, "pad"), 16)


def xor(a: Buf, b: Buf) -> bytes:
    assert len(a) == len(b)
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def proof_t(kp_: Buf, body: Buf) -> bytes:
    """``t`` = HMAC(KP, PROOF_frame[0:n-8])[0:8]."""
    return crypto.hmac_sha256(kp_, body)[:T_LEN]


def th3(th2_: Buf, proof_frame: Buf) -> bytes:
    return crypto.sha256(bytes(th2_) + bytes(proof_frame))


def ms(prk3_: Buf, suite: int, th3_: Buf) -> bytes:
    """MS = CK_0 = Expand(PRK3, Lbl(s, "ms") || TH3, 32)."""
    return expand(prk3_, lbl(suite, "ms") + bytes(th3_), 32)


def kek(ck: Buf, suite: int, j: int) -> bytes:
    """KEK_j = Expand(CK_j, Lbl(s, "kek") || u8(j), 16)."""
    return expand(ck, lbl(suite, "kek") + bytes((j,)), 16)


def chain(ck: Buf, suite: int, j_next: int) -> bytes:
    """CK_{j+1} = Expand(CK_j, Lbl(s, "chain") || u8(j+1), 32)."""
    return expand(ck, lbl(suite, "chain") + bytes((j_next,)), 32)


def nonce(sid: int, direction: int, kidx: int, seq: int) -> bytes:
    """u32(sid) || u8(dir) || u8(kidx) || 00 00 00 || u32(seq): 13 bytes."""
    return sid.to_bytes(4, "big") + bytes((direction, kidx, 0, 0, 0)) + seq.to_bytes(4, "big")


def seal_frame(key: Buf, sid: int, direction: int, head8: Buf, pt: Buf) -> bytes:
    """Protected frame (3.7): ``head8`` (header, kidx, seq) is the AAD."""
    kidx = head8[3]
    seq = int.from_bytes(head8[4:8], "big")
    return bytes(head8) + crypto.ccm_seal(bytes(key), nonce(sid, direction, kidx, seq),
                                          bytes(head8), bytes(pt))


def open_frame(key: Buf, sid: int, direction: int, frame: Buf) -> bytes | None:
    kidx = frame[3]
    seq = int.from_bytes(frame[4:8], "big")
    return crypto.ccm_open(bytes(key), nonce(sid, direction, kidx, seq), bytes(frame[:8]),
                           bytes(frame[8:]))
