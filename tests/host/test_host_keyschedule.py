"""The key schedule, DRBG and ticks, recomputed independently of ephkey_host.

HMAC is rebuilt here from the standard library (RFC 2104 via ``hmac``) and the
basic and ratchet vectors' handshakes are replayed from the spec text (3.3-3.7,
3.9, 3.11), so a slip in ephkey_host.keyschedule cannot hide behind the same
code checking itself.
"""

import hashlib
import hmac
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from ephkey_host import keyschedule as ks
from ephkey_host.drbg import Drbg
from ephkey_host.ticks import ticks_add, ticks_diff

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def h(x: bytes) -> bytes:
    return hashlib.sha256(x).digest()


def mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def expand(prk: bytes, info: bytes, n: int) -> bytes:
    return mac(prk, info + b"\x01")[:n]


def lbl(s: int, name: str) -> bytes:
    return ("ephkey v2 s%d %s" % (s, name)).encode()


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def test_labels() -> None:
    assert ks.lbl(1, "srk") == b"ephkey v2 s1 srk" and len(ks.lbl(1, "srk")) == 16
    assert ks.lbl(2, "chain") == b"ephkey v2 s2 chain"


def test_basic_vector_handshake_from_the_spec() -> None:
    vec = json.loads((VECTORS / "session_basic.json").read_text())
    ps = bytes.fromhex(vec["pairing"]["ps"])
    steps = vec["steps"]
    req, srk_f, proof, key = (bytes.fromhex(steps[i]["out"][0]) for i in range(4))
    inter = vec["intermediates"]
    n_s, n_f, sid = req[9:21], srk_f[4:16], int.from_bytes(srk_f[1:3], "big")

    th1 = h(req)
    prk = mac(n_s + n_f, ps)
    kek2 = expand(prk, lbl(1, "srk") + th1 + srk_f[:4], 16)
    srk = aes_key_unwrap(kek2, srk_f[16:])
    th2 = h(th1 + srk_f)
    kp = expand(prk, lbl(1, "pmac") + th2, 32)
    spv = expand(prk, lbl(1, "sp") + th2, 16)
    prk3 = mac(th2, srk + ps)
    pad = expand(prk3, lbl(1, "pad"), 16)
    assert proof == proof[:3] + xor(spv, pad) + mac(kp, proof[:19])[:8]
    th3 = h(th2 + proof)
    ms = expand(prk3, lbl(1, "ms") + th3, 32)
    kek0 = expand(ms, lbl(1, "kek") + b"\x00", 16)
    ck1 = expand(ms, lbl(1, "chain") + b"\x01", 32)
    idrk0 = aes_key_unwrap(kek0, key[3:])
    assert key[3:] == aes_key_wrap(kek0, idrk0)

    got = {"th1": th1, "prk": prk, "kek2": kek2, "srk": srk, "th2": th2, "kp": kp, "spv": spv,
           "prk3": prk3, "pad": pad, "th3": th3, "ms": ms, "kek_0": kek0, "ck_1": ck1}
    assert {k: v.hex() for k, v in got.items()} == {k: inter[k] for k in got}
    assert inter["idrks"][0] == idrk0.hex()

    # The first DATA S -> F: nonce u32(sid) || dir || kidx || 000000 || u32(seq), AAD frame[0:8].
    i = next(i for i, s in enumerate(steps) if s["op"] == "send" and s["station"] == "S")
    data = bytes.fromhex(steps[i]["out"][0])
    assert data[3] == 0 and data[4:8] == bytes(4)
    nonce = sid.to_bytes(4, "big") + b"\x02\x00\x00\x00\x00" + data[4:8]
    assert AESCCM(idrk0, tag_length=8).decrypt(nonce, data[8:], data[:8]) == \
        bytes.fromhex(steps[i]["payload"])


def test_ratchet_vector_chain_from_the_spec() -> None:
    """Suite 2 from srk_priv and e_priv, then KEK_j and CK_{j+1} from CK_j only."""
    vec = json.loads((VECTORS / "session_ratchet.json").read_text())
    ps = bytes.fromhex(vec["pairing"]["ps"])
    inter = vec["intermediates"]
    srk_priv, e_priv = bytes.fromhex(inter["srk_priv"]), bytes.fromhex(inter["e_priv"])
    srk_pub = X25519PrivateKey.from_private_bytes(srk_priv).public_key().public_bytes_raw()
    e_pub = X25519PrivateKey.from_private_bytes(e_priv).public_key().public_bytes_raw()
    dh = X25519PrivateKey.from_private_bytes(e_priv).exchange(
        X25519PublicKey.from_public_bytes(srk_pub))
    assert (srk_pub.hex(), e_pub.hex(), dh.hex()) == (inter["srk_pub"], inter["e_pub"],
                                                      inter["dh"])
    th2 = bytes.fromhex(inter["th2"])
    prk3 = mac(th2, dh + ps)
    th3 = bytes.fromhex(inter["th3"])
    ck = expand(prk3, lbl(2, "ms") + th3, 32)
    assert ck.hex() == inter["ms"]
    ck = expand(ck, lbl(2, "chain") + b"\x01", 32)
    assert ck.hex() == inter["ck_1"]
    frames = [bytes.fromhex(o) for s in vec["steps"] for o in s["out"]]
    rekeys = [f for f in frames if f[0] == 0x26]
    idrk = bytes.fromhex(inter["idrks"][0])
    sid = inter["sid"]
    assert [c["j"] for c in inter["chain"]] == [1, 2, 3]
    for link, rekey in zip(inter["chain"], rekeys, strict=True):
        j = link["j"]
        assert link["ck_j"] == ck.hex()
        kek = expand(ck, lbl(2, "kek") + bytes((j,)), 16)
        ck = expand(ck, lbl(2, "chain") + bytes((j + 1,)), 32)
        assert (link["kek_j"], link["ck_next"]) == (kek.hex(), ck.hex())
        nonce = sid.to_bytes(4, "big") + bytes((1, j - 1, 0, 0, 0)) + rekey[4:8]
        pt = AESCCM(idrk, tag_length=8).decrypt(nonce, rekey[8:], rekey[:8])
        assert pt[0] == j
        idrk = aes_key_unwrap(kek, pt[1:])
        assert idrk.hex() == link["idrk_j"] == inter["idrks"][j]


def test_nonce_layout() -> None:
    n = ks.nonce(0x0304, ks.DIR_F2S, 7, 0x0A0B0C0D)
    assert n == bytes.fromhex("00000304" "01" "07" "000000" "0a0b0c0d")
    assert len(n) == 13


def test_drbg_is_the_hash_stream() -> None:
    stream = b"".join(h(b"seed" + i.to_bytes(4, "big")) for i in range(4))
    rng = Drbg(b"seed")
    parts = [rng(n) for n in (16, 4, 16, 16, 16, 3, 29, 28)]
    assert b"".join(parts) == stream
    assert Drbg(b"seed")(128) == stream


def test_ticks_wrap() -> None:
    p = 1 << 30
    assert ticks_add(p - 10, 25) == 15
    assert ticks_diff(15, p - 10) == 25
    assert ticks_diff(p - 10, 15) == -25
    assert ticks_diff(0, p // 2) == -(p // 2)  # the half-period edge
    assert ticks_diff(5, 3, 16) == 2 and ticks_diff(1, 15, 16) == 2
