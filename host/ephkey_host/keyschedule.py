"""Key schedules of suites 1 and 2 (protocol.md sections 3.4-3.7, 3.9 and 8).

Pure functions; names follow the spec (TH1, KEK2, TH2, K3, SPV, TH3, MS, KEK_j
for suite 1; KA2, ``auth``, DH, K3, SPV, MS, KEK_j for suite 2). Functions
shared by both suites take ``suite`` for their label ("ephkey1 ..." or
"ephkey2 ..."); TH1, TH2, TH3 and the nonce are the same in both.
"""

from . import crypto

DIR_F2S = 0x01
DIR_S2F = 0x02

LABEL_SRK = b"ephkey1 srk"
LABEL_PROOF = b"ephkey1 proof"
LABEL_SP = b"ephkey1 sp"
LABEL_IDRK = b"ephkey1 idrk"
LABEL_USER = b"ephkey1 user"

LABEL2_SRK = b"ephkey2 srk"
LABEL2_PROOF = b"ephkey2 proof"
LABEL2_SP = b"ephkey2 sp"
LABEL2_IDRK = b"ephkey2 idrk"

SRK2_AUTH_OFFSET = 57  # SRK_frame[0:57] is what suite 2's auth covers
PROOF2_AAD_LEN = 39  # PROOF_frame[0:39]: header and e_pub


def th1(req: bytes) -> bytes:
    return crypto.sha256(req)


def kek2(n_s: bytes, n_f: bytes, ps: bytes, th1_: bytes, srk_head: bytes) -> bytes:
    """``srk_head`` is ``SRK_frame[0:25]``: header, n_f and interval."""
    return crypto.hkdf(n_s + n_f, ps, LABEL_SRK + th1_ + srk_head, 16)


def th2(th1_: bytes, srk_frame: bytes) -> bytes:
    return crypto.sha256(th1_ + srk_frame)


def k3(n_s: bytes, n_f: bytes, srk: bytes, th2_: bytes) -> bytes:
    return crypto.hkdf(n_s + n_f, srk, LABEL_PROOF + th2_, 16)


def spv(ps: bytes, th2_: bytes, suite: int = 1) -> bytes:
    return crypto.hmac_sha256(ps, (LABEL2_SP if suite == 2 else LABEL_SP) + th2_)[:16]


def th3(th2_: bytes, proof_frame: bytes) -> bytes:
    return crypto.sha256(th2_ + proof_frame)


def master_secret(th3_: bytes, ps: bytes, srk: bytes) -> bytes:
    return crypto.hkdf_extract(th3_, bytes(ps) + bytes(srk))


def kek(ms: bytes, j: int, suite: int = 1) -> bytes:
    """KEK_j = HKDF-Expand(MS, "ephkeyN idrk" || u8(j), 16) of suite N."""
    return crypto.hkdf_expand(ms, (LABEL2_IDRK if suite == 2 else LABEL_IDRK) + bytes([j]), 16)


# -- suite 2 (3.9) ----------------------------------------------------------------------

def ka2(n_s: bytes, n_f: bytes, ps: bytes, th1_: bytes) -> bytes:
    """KA2 = HKDF(salt = n_s || n_f, ikm = PS, info = "ephkey2 srk" || TH1, L = 32)."""
    return crypto.hkdf(n_s + n_f, ps, LABEL2_SRK + th1_, 32)


def srk_auth(ka2_: bytes, srk_head57: bytes) -> bytes:
    """``auth`` = HMAC-SHA256(KA2, SRK_frame[0:57])[0:16]."""
    assert len(srk_head57) == SRK2_AUTH_OFFSET
    return crypto.hmac_sha256(ka2_, srk_head57)[:16]


def k3_dh(n_s: bytes, n_f: bytes, dh: bytes | bytearray, ps: bytes, th2_: bytes) -> bytes:
    """Suite 2's K3 = HKDF(salt = n_s || n_f, ikm = DH || PS, info = "ephkey2 proof" || TH2)."""
    return crypto.hkdf(n_s + n_f, bytes(dh) + bytes(ps), LABEL2_PROOF + th2_, 16)


def master_secret_dh(th3_: bytes, ps: bytes, dh: bytes | bytearray) -> bytes:
    """Suite 2's MS = HKDF-Extract(salt = TH3, ikm = PS || DH)."""
    return crypto.hkdf_extract(th3_, bytes(ps) + bytes(dh))


def nonce(sid: int, direction: int, kidx: int, seq: int) -> bytes:
    return sid.to_bytes(4, "big") + bytes((direction, kidx, 0, 0, 0)) + seq.to_bytes(4, "big")


def seal_proof(k3_: bytes, sid: int, aad: bytes, spv_: bytes) -> bytes:
    """PROOF's ``ct_tag``: the nonce is (sid, S2F, 0, 0); the AAD is the 7-byte
    header in suite 1, ``PROOF_frame[0:39]`` (header and e_pub) in suite 2."""
    return crypto.ccm_seal(k3_, nonce(sid, DIR_S2F, 0, 0), aad, spv_)


def open_proof(k3_: bytes, sid: int, aad: bytes, ct_tag: bytes) -> bytes | None:
    return crypto.ccm_open(k3_, nonce(sid, DIR_S2F, 0, 0), aad, ct_tag)


def seal_frame(key: bytes, sid: int, direction: int, head12: bytes, pt: bytes) -> bytes:
    """Protected frame (3.7): ``head12`` (header, kidx, seq) is the AAD."""
    kidx = head12[7]
    seq = int.from_bytes(head12[8:12], "big")
    return head12 + crypto.ccm_seal(key, nonce(sid, direction, kidx, seq), head12, pt)


def open_frame(key: bytes, sid: int, direction: int, frame: bytes) -> bytes | None:
    kidx = frame[7]
    seq = int.from_bytes(frame[8:12], "big")
    return crypto.ccm_open(key, nonce(sid, direction, kidx, seq), frame[:12], frame[12:])


def user_ps(passphrase: bytes, id_f: bytes, id_s: bytes, iterations: int) -> bytes:
    """User-secret variant (section 8): PS from a passphrase, 16 bytes."""
    return crypto.pbkdf2_sha256(passphrase, LABEL_USER + id_f + id_s, iterations, 16)
