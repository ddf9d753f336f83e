"""The key schedule of spec 3.4-3.7 (suite 1) and 3.9 (suite 2), shared by both roles.

These run once per handshake or rotation, so they may allocate. Suite 2
labels start "ephkey2", suite 1 labels "ephkey1".
"""

from .crypto import hkdf_expand, hkdf_extract, hkdf_sha256, hmac_sha256, sha256


def _label(suite, name):
    return (b"ephkey2 " if suite == 2 else b"ephkey1 ") + name


def th1(req):
    return sha256(req)


def chain(th, frame):
    """TH_n = H(TH_{n-1} || frame)."""
    return sha256(bytes(th) + bytes(frame))


def kek2(ps, n_s, n_f, th_1, srk_frame_head):
    """Suite 1: wraps the SRK; srk_frame_head is the SRK frame's first 25 bytes."""
    return hkdf_sha256(bytes(n_s) + bytes(n_f), ps,
                       b"ephkey1 srk" + bytes(th_1) + bytes(srk_frame_head), 16)


def ka2(ps, n_s, n_f, th_1):
    """Suite 2: the key of the SRK frame's auth (32 bytes)."""
    return hkdf_sha256(bytes(n_s) + bytes(n_f), ps, b"ephkey2 srk" + bytes(th_1), 32)


def srk_auth(ka, srk_frame_head):
    """Suite 2: auth = HMAC(KA2, SRK_frame[0:57])[0:16]."""
    return hmac_sha256(ka, srk_frame_head)[:16]


def k3(srk, n_s, n_f, th_2):
    """Suite 1: encrypts the shared parameter: derived from the SRK, per session."""
    return hkdf_sha256(bytes(n_s) + bytes(n_f), srk, b"ephkey1 proof" + bytes(th_2), 16)


def k3_dh(dh, ps, n_s, n_f, th_2):
    """Suite 2: K3 from DH || PS (DH first), both nonces and TH2."""
    return hkdf_sha256(bytes(n_s) + bytes(n_f), bytes(dh) + bytes(ps),
                       b"ephkey2 proof" + bytes(th_2), 16)


def spv(ps, th_2, suite=1):
    """The shared-parameter value: proves PS, bound to this transcript."""
    return hmac_sha256(ps, _label(suite, b"sp") + bytes(th_2))[:16]


def master(th_3, ps, secret):
    """MS = HKDF-Extract(TH3, PS || secret): the SRK (suite 1) or DH (suite 2)."""
    return hkdf_extract(th_3, bytes(ps) + bytes(secret))


def kek(ms, j, suite=1):
    """Wraps IDRK_j."""
    return hkdf_expand(ms, _label(suite, b"idrk") + bytes((j,)), 16)
