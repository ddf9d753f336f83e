"""ephkey.mac (the handshake's HMAC and key wrap) inside MicroPython, with
the viper functions of _hs.py and with their Python twins (_hs_py.py).

Published vectors (tests/vectors/primitives.json: RFC 4231 HMAC, RFC 3394
key wrap), HMAC against a plain HMAC built on hashlib for every key and
message length the spec uses, and the protected frames' header and nonce.
"""

import hashlib
import json
import sys
from binascii import unhexlify

from ephkey import mac

TWINS_AT_IMPORT = "ephkey._hs_py" in sys.modules

_V = []


def _vectors():
    if not _V:
        with open("tests/vectors/primitives.json") as f:
            _V.append(json.load(f))
    return _V[0]


def _hmac(key, msg):
    key = bytes(key)
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + bytes(msg)).digest()
    return hashlib.sha256(bytes(k ^ 0x5C for k in key) + inner).digest()


def _both(fn):
    from ephkey import _hs, _hs_py

    for impl in (_hs, _hs_py):
        mac.use(impl)
        try:
            fn()
        finally:
            mac.use(_hs)


def test_the_viper_functions_load_on_this_port():
    from ephkey import _hs

    assert mac.VIPER and mac.copy is _hs.copy and mac.Mac.key is _hs.mac_key
    # the Python twins load only where _hs cannot (tools/closure.py ships them only then)
    assert not TWINS_AT_IMPORT


def test_hmac_vectors():
    def run():
        m = mac.Mac()
        out = bytearray(32)
        for v in _vectors()["hmac"]:
            k, d, want = (unhexlify(v[x]) for x in ("key", "data", "mac"))
            if len(k) > 64 or len(d) > 64:
                continue  # the work buffer takes keys and messages of up to 64 bytes
            m.key(k, 0, len(k))
            m.mac(d, 0, len(d), b"", 0, 0, out, 0, 32)
            assert bytes(out)[:len(want)] == want, v.get("source")
    _both(run)


def test_expand_and_mac_match_a_plain_hmac():
    def run():
        m = mac.Mac()
        out = bytearray(40)
        for klen in (16, 24, 32):
            key = bytes((i * 7 + klen) & 0xFF for i in range(klen))
            m.key(key, 0, klen)
            for mlen in (0, 1, 17, 31, 32, 33):
                x = bytes((i * 3 + mlen) & 0xFF for i in range(mlen))
                label = b"ephkey v2 s2 chain"
                m.expand(label, x, 0, mlen, out, 4, 32)
                assert bytes(out[4:36]) == _hmac(key, label + x + b"\x01"), (klen, mlen)
                m.expand(label, None, 0, 0, out, 0, 16)
                assert bytes(out[:16]) == _hmac(key, label + b"\x01")[:16]
                m.mac(x, 0, mlen, key, 1, klen - 1, out, 0, 32)
                assert bytes(out[:32]) == _hmac(key, x + key[1:]), (klen, mlen)
            m.expand_j(b"ephkey v2 s1 kek", 3, out, 0, 16)
            assert bytes(out[:16]) == _hmac(key, b"ephkey v2 s1 kek\x03\x01")[:16]
        # a 24-byte salt given in two pieces
        a = bytes(range(12))
        b = bytes(range(100, 112))
        m.salt(a, 0, b, 0)
        m.mac(b"ps", 0, 2, b"", 0, 0, out, 0, 32)
        assert bytes(out[:32]) == _hmac(a + b, b"ps")
        # KP's pads, kept between calls
        store = bytearray(128)
        mac.pads_to(store, 0, key, 0, 32)
        m.load(store, 0)
        m.mac(b"t", 0, 1, b"", 0, 0, out, 0, 8)
        assert bytes(out[:8]) == _hmac(key, b"t")[:8]
        m.wipe()
        assert m.w == bytearray(len(m.w))
    _both(run)


def test_key_wrap_vectors_and_tampering():
    def run():
        kw = mac.KeyWrap()
        out = bytearray(30)
        n = 0
        for v in _vectors()["kw"]:
            kek, key, wrapped = (unhexlify(v[x]) for x in ("kek", "key", "wrapped"))
            if len(kek) != 16 or len(key) != 16:
                continue  # 16-byte keys under 16-byte KEKs: what the protocol wraps
            kw.wrap(kek, key, 0, out, 3)
            assert bytes(out[3:27]) == wrapped, v.get("source")
            back = bytearray(16)
            assert kw.unwrap(kek, wrapped, 0, back, 0) and bytes(back) == key
            for i in range(24):
                bad = bytearray(wrapped)
                bad[i] ^= 1
                junk = bytearray(b"\xee" * 16)
                assert not kw.unwrap(kek, bad, 0, junk, 0) and junk == b"\xee" * 16
            n += 1
            assert kw._r == bytearray(24) and kw._blk == bytearray(16)  # scratch zeroed
        assert n >= 1
    _both(run)


def test_frame_head_writes_the_v2_header_and_nonce():
    def run():
        out = bytearray(8)
        nonce = bytearray(13)
        mac.frame_head(out, nonce, 0x25, 0xBEEF, 2, 7, 0x3FFFFFFF)
        assert out == b"\x25\xbe\xef\x07\x3f\xff\xff\xff"
        assert nonce == b"\x00\x00\xbe\xef\x02\x07\x00\x00\x00\x3f\xff\xff\xff"
        mac.frame_head(None, nonce, 0, 1, 1, 0, 5)
        assert nonce == b"\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x05"
    _both(run)
