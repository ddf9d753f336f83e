"""The key schedule of docs/protocol.md 3.11 written out plainly from the spec,
for firmware tests that play the attacker or check a derivation.

Independent of ephkey.keyschedule and ephkey.mac: HMAC is built here on
hashlib, key unwrap on cryptolib ECB; only CCM goes through the firmware's
CcmEngine (a CCM of our own here would be one more thing to get wrong).
Everything allocates: tests only.
"""

import hashlib

import cryptolib

from ephkey import wire
from ephkey.crypto import CcmEngine, CcmKey


def H(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(bytes(p))
    return h.digest()


def hmac(key, *parts):
    key = bytes(key)
    if len(key) > 64:
        key = H(key)
    key = key + bytes(64 - len(key))
    inner = H(bytes(k ^ 0x36 for k in key), *parts)
    return H(bytes(k ^ 0x5C for k in key), inner)


def lbl(s, name):
    return b"ephkey v2 s%d %s" % (s, name)


def expand(prk, info, n):
    return hmac(prk, info, b"\x01")[:n]


def unwrap(kek, wrapped):
    """RFC 3394 with the default IV; None when the integrity check fails."""
    ecb = cryptolib.aes(bytes(kek), 1)
    r = bytearray(wrapped)
    n = len(r) // 8 - 1
    blk = bytearray(16)
    for j in range(5, -1, -1):
        for i in range(n, 0, -1):
            t = n * j + i
            r[7] ^= t & 0xFF
            r[6] ^= (t >> 8) & 0xFF
            blk[0:8] = r[0:8]
            blk[8:16] = r[8 * i:8 * i + 8]
            out = ecb.decrypt(bytes(blk))
            r[0:8] = out[0:8]
            r[8 * i:8 * i + 8] = out[8:16]
    if bytes(r[0:8]) != b"\xa6" * 8:
        return None
    return bytes(r[8:])


def frame_nonce(sid, direction, kidx, seq):
    """nonce(sid, dir, kidx, seq) of 3.7: u32(sid) | dir | kidx | 00 00 00 | u32(seq)
    (the stations write it with mac.frame_head)."""
    return bytes((0, 0, sid >> 8, sid & 0xFF, direction, kidx, 0, 0, 0, (seq >> 24) & 0xFF,
                  (seq >> 16) & 0xFF, (seq >> 8) & 0xFF, seq & 0xFF))


_ENGINE = []


def open_frame(key, frame, sender):
    """The plaintext of a protected frame under ``key`` (16 bytes), or None."""
    if not _ENGINE:
        _ENGINE.append((CcmEngine(300, wire.PROT_HDR), CcmKey(), bytearray(13), bytearray(300)))
    engine, ck, nonce, pt = _ENGINE[0]
    ck.load(bytes(key))
    nonce[:] = frame_nonce(wire.sid_of(frame), wire.DIR_F2S if sender == "F" else wire.DIR_S2F,
                           frame[wire.OFF_KIDX], wire.seq_of(frame))
    n = engine.open(ck, nonce, frame, wire.PROT_HDR, len(frame), pt, wire.TAG)
    return None if n < 0 else bytes(pt[:n])


def handshake(req, srk, proof, ps, x):
    """Every value of 3.11 for one handshake, from its three frames, PS and X
    (suite 1: the SRK; suite 2: DH)."""
    s = srk[wire.OFF_SUITE]
    ps = bytes(ps)
    v = {"suite": s}
    v["th1"] = H(req)
    v["prk"] = hmac(req[wire.OFF_N_S:wire.OFF_N_S + 12] + srk[4:16], ps)
    if s == 1:
        v["kek2"] = expand(v["prk"], lbl(1, b"srk") + v["th1"] + bytes(srk[0:4]), 16)
    else:
        v["ka"] = expand(v["prk"], lbl(2, b"auth") + v["th1"], 32)
        v["auth"] = hmac(v["ka"], srk[0:48])[:16]
    v["th2"] = H(v["th1"], srk)
    v["kp"] = expand(v["prk"], lbl(s, b"pmac") + v["th2"], 32)
    v["spv"] = expand(v["prk"], lbl(s, b"sp") + v["th2"], 16)
    v["prk3"] = hmac(v["th2"], bytes(x), ps)
    v["pad"] = expand(v["prk3"], lbl(s, b"pad"), 16)
    n = len(proof)
    v["t"] = hmac(v["kp"], proof[0:n - 8])[:8]
    v["c"] = bytes(a ^ b for a, b in zip(v["spv"], v["pad"]))
    v["th3"] = H(v["th2"], proof)
    v["ms"] = expand(v["prk3"], lbl(s, b"ms") + v["th3"], 32)
    v["kek_0"] = expand(v["ms"], lbl(s, b"kek") + b"\x00", 16)
    v["ck_1"] = expand(v["ms"], lbl(s, b"chain") + b"\x01", 32)
    return v


def chain(ck_j, j, s):
    """(KEK_j, CK_{j+1}) from CK_j."""
    return (expand(ck_j, lbl(s, b"kek") + bytes((j,)), 16),
            expand(ck_j, lbl(s, b"chain") + bytes((j + 1,)), 32))
