"""The key schedule of spec 3.4-3.7, shared by both roles.

These run once per handshake or rotation, so they may allocate.
"""

from .crypto import hkdf_expand, hkdf_extract, hkdf_sha256, hmac_sha256, sha256


def th1(req):
    return sha256(req)


def chain(th, frame):
    """TH_n = H(TH_{n-1} || frame)."""
    return sha256(bytes(th) + bytes(frame))


def kek2(ps, n_s, n_f, th_1, srk_frame_head):
    """Wraps the SRK; srk_frame_head is the SRK frame's first 25 bytes."""
    return hkdf_sha256(bytes(n_s) + bytes(n_f), ps,
                       b"ephkey1 srk" + bytes(th_1) + bytes(srk_frame_head), 16)


def k3(srk, n_s, n_f, th_2):
    """Encrypts the shared parameter: derived from the SRK, per session."""
    return hkdf_sha256(bytes(n_s) + bytes(n_f), srk, b"ephkey1 proof" + bytes(th_2), 16)


def spv(ps, th_2):
    """The shared-parameter value: proves PS, bound to this transcript."""
    return hmac_sha256(ps, b"ephkey1 sp" + bytes(th_2))[:16]


def master(th_3, ps, srk):
    return hkdf_extract(th_3, bytes(ps) + bytes(srk))


def kek(ms, j):
    """Wraps IDRK_j."""
    return hkdf_expand(ms, b"ephkey1 idrk" + bytes((j,)), 16)
