"""The key schedule, DRBG and ticks, recomputed independently of ephkey_host.

HKDF and HMAC are rebuilt here from the standard library (RFC 5869 / 2104) and
the basic vector's handshake is replayed from the spec text, so a slip in
ephkey_host.keyschedule cannot hide behind the same code checking itself.
"""

import hashlib
import hmac
import json
from pathlib import Path

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


def hkdf(salt: bytes, ikm: bytes, info: bytes, n: int = 16) -> bytes:
    prk = mac(salt, ikm)
    return mac(prk, info + b"\x01")[:n]  # n <= 32: one block


def test_basic_vector_handshake_from_the_spec() -> None:
    vec = json.loads((VECTORS / "session_basic.json").read_text())
    ps = bytes.fromhex(vec["pairing"]["ps"])
    steps = vec["steps"]
    req, srk_f, proof, key = (bytes.fromhex(steps[i]["out"][0]) for i in range(4))
    inter = vec["intermediates"]
    n_s, n_f, sid = req[15:31], srk_f[7:23], int.from_bytes(srk_f[3:7], "big")

    th1 = h(req)
    kek2 = hkdf(n_s + n_f, ps, b"ephkey1 srk" + th1 + srk_f[:25])
    srk = aes_key_unwrap(kek2, srk_f[25:])
    th2 = h(th1 + srk_f)
    k3 = hkdf(n_s + n_f, srk, b"ephkey1 proof" + th2)
    spv = mac(ps, b"ephkey1 sp" + th2)[:16]
    nonce0 = sid.to_bytes(4, "big") + b"\x02\x00\x00\x00\x00" + bytes(4)
    assert proof == proof[:7] + AESCCM(k3, tag_length=8).encrypt(nonce0, spv, proof[:7])
    th3 = h(th2 + proof)
    ms = mac(th3, ps + srk)
    kek0 = mac(ms, b"ephkey1 idrk\x00\x01")[:16]
    idrk0 = aes_key_unwrap(kek0, key[7:])
    assert key[7:] == aes_key_wrap(kek0, idrk0)

    got = {"th1": th1, "kek2": kek2, "srk": srk, "th2": th2, "k3": k3, "spv": spv,
           "th3": th3, "ms": ms, "kek_0": kek0}
    assert {k: v.hex() for k, v in got.items()} == {k: inter[k] for k in got}
    assert inter["idrks"][0] == idrk0.hex()

    # The first DATA S -> F: nonce u32(sid) || dir || kidx || 000000 || u32(seq).
    data = bytes.fromhex(steps[5]["out"][0])
    assert data[7] == 0 and data[8:12] == bytes(4)
    nonce = sid.to_bytes(4, "big") + b"\x02\x00\x00\x00\x00" + data[8:12]
    assert AESCCM(idrk0, tag_length=8).decrypt(nonce, data[12:], data[:12]) == \
        bytes.fromhex(steps[5]["payload"])


def test_nonce_layout() -> None:
    n = ks.nonce(0x01020304, ks.DIR_F2S, 7, 0x0A0B0C0D)
    assert n == bytes.fromhex("01020304" "01" "07" "000000" "0a0b0c0d")
    assert len(n) == 13


def test_user_secret_ps() -> None:
    id_f, id_s = b"F" * 8, b"S" * 8
    want = hashlib.pbkdf2_hmac("sha256", b"correct horse", b"ephkey1 user" + id_f + id_s, 1000, 16)
    assert ks.user_ps(b"correct horse", id_f, id_s, 1000) == want


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
