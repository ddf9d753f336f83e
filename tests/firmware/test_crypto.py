"""ephkey.crypto inside MicroPython.

Published vectors (tests/vectors/primitives.json) for every primitive (the
allocating CCM and the key wrap: the test-side reference ccm_ref.py), the
zero-allocation CCM engine against that reference for every payload length,
and both helper paths: viper (_ccm.py; the byte helpers are mac.py's, _hs.py)
and the pure-Python twins (_ccm_py.py, mac's _hs_py.py).
"""

import hashlib
import json
import sys
from binascii import unhexlify

import micropython

import ccm_ref
from ephkey import crypto, hkdf
from mpunit import raises

TWINS_AT_IMPORT = "ephkey._ccm_py" in sys.modules

_VECTORS = []


def _vectors():
    if not _VECTORS:
        with open("tests/vectors/primitives.json") as f:
            _VECTORS.append(json.loads(f.read()))  # one read: faster on a mounted folder
    return _VECTORS[0]


def _rand(n, seed):
    """Deterministic bytes, so a failure can be replayed."""
    out = bytearray()
    c = 0
    while len(out) < n:
        out.extend(hashlib.sha256(("%s/%d" % (seed, c)).encode()).digest())
        c += 1
    return bytes(out[:n])


def _kinds(b):
    """The same bytes as each buffer type the API accepts."""
    return (bytes(b), bytearray(b), memoryview(bytearray(b)))


def _flip(b, i):
    b = bytearray(b)
    b[i] ^= 0x01
    return bytes(b)


# the engine's one-call CCM passes (viper in _ccm.py, twins in _ccm_py.py)
_TWINS = {"seal_frame": "seal", "open_frame": "open"}


def _with_python_helpers(fn):
    """Run fn with the pure-Python twins in place of the viper code: crypto's
    CCM passes and mac's byte helpers (which crypto calls)."""
    from ephkey import _ccm_py, _hs, _hs_py, mac

    saved = {name: getattr(crypto, name) for name in _TWINS}
    for name, twin in _TWINS.items():
        setattr(crypto, name, getattr(_ccm_py, twin))
    mac.use(_hs_py)
    try:
        fn()
    finally:
        for name, f in saved.items():
            setattr(crypto, name, f)
        mac.use(_hs)


# ---------------------------------------------------------------- vectors

def test_viper_helpers_are_in_use():
    # The unix port has the viper emitter: the fast path must be the one tested.
    from ephkey import _ccm, mac

    assert crypto.VIPER and mac.VIPER
    assert crypto.seal_frame is _ccm.seal and crypto.open_frame is _ccm.open
    # the Python twins load only where _ccm cannot (tools/closure.py ships them only then)
    assert not TWINS_AT_IMPORT


def test_ccm_vectors_encrypt_and_decrypt():
    for v in _vectors()["ccm"]:
        key, nonce, aad, pt, ct = (unhexlify(v[k]) for k in ("key", "nonce", "aad", "pt", "ct"))
        for k, n, a, p in zip(_kinds(key), _kinds(nonce), _kinds(aad), _kinds(pt)):
            assert ccm_ref.ccm_encrypt(k, n, a, p, v["tag_len"]) == ct, v["source"]
        for k, n, a, c in zip(_kinds(key), _kinds(nonce), _kinds(aad), _kinds(ct)):
            assert ccm_ref.ccm_decrypt(k, n, a, c, v["tag_len"]) == pt, v["source"]


def test_ccm_tampering_raises():
    for v in _vectors()["ccm"]:
        key, nonce, aad, ct = (unhexlify(v[k]) for k in ("key", "nonce", "aad", "ct"))
        tl = v["tag_len"]
        for i in (0, len(ct) - tl - 1, len(ct) - tl, len(ct) - 1):  # ciphertext and tag
            raises(ValueError, ccm_ref.ccm_decrypt, key, nonce, aad, _flip(ct, i), tl)
        raises(ValueError, ccm_ref.ccm_decrypt, key, nonce, _flip(aad, 0), ct, tl)
        raises(ValueError, ccm_ref.ccm_decrypt, key, _flip(nonce, 12), aad, ct, tl)
        raises(ValueError, ccm_ref.ccm_decrypt, key, nonce, aad, ct[:-1], tl)


def test_ccm_vectors_through_the_engine():
    e = crypto.CcmEngine(64, 12)
    for v in _vectors()["ccm"]:
        key, nonce, aad, pt, ct = (unhexlify(v[k]) for k in ("key", "nonce", "aad", "pt", "ct"))
        tl = v["tag_len"]
        ck = crypto.CcmKey(key)
        buf = bytearray(100)
        buf[: len(aad)] = aad
        n = e.seal(ck, nonce, buf, len(aad), pt, len(pt), tl)
        assert n == len(aad) + len(ct) and bytes(buf[len(aad):n]) == ct, v["source"]
        out = bytearray(64)
        assert e.open(ck, nonce, buf, len(aad), n, out, tl) == len(pt)
        assert bytes(out[: len(pt)]) == pt


def test_kw_vectors():
    for v in _vectors()["kw"]:
        kek, key, wrapped = (unhexlify(v[k]) for k in ("kek", "key", "wrapped"))
        for a, b in zip(_kinds(kek), _kinds(key)):
            assert ccm_ref.aes_key_wrap(a, b) == wrapped, v["source"]
        for a, b in zip(_kinds(kek), _kinds(wrapped)):
            assert ccm_ref.aes_key_unwrap(a, b) == key, v["source"]


def test_kw_tampering_and_wrong_kek_raise():
    for v in _vectors()["kw"]:
        kek, wrapped = unhexlify(v["kek"]), unhexlify(v["wrapped"])
        for i in range(len(wrapped)):
            raises(ValueError, ccm_ref.aes_key_unwrap, kek, _flip(wrapped, i))
        raises(ValueError, ccm_ref.aes_key_unwrap, _flip(kek, 0), wrapped)


def test_kw_bad_lengths_raise():
    kek = bytes(16)
    for n in (0, 8, 15, 17):
        raises(ValueError, ccm_ref.aes_key_wrap, kek, bytes(n))
    for n in (0, 8, 16, 23, 25):
        raises(ValueError, ccm_ref.aes_key_unwrap, kek, bytes(n))


def test_hkdf_vectors():
    for v in _vectors()["hkdf"]:
        ikm, salt, info, prk, okm = (unhexlify(v[k]) for k in ("ikm", "salt", "info", "prk", "okm"))
        for i, s, f, p in zip(_kinds(ikm), _kinds(salt), _kinds(info), _kinds(prk)):
            assert hkdf.hkdf_extract(s, i) == prk, v["source"]
            assert hkdf.hkdf_expand(p, f, v["length"]) == okm, v["source"]
            assert hkdf.hkdf_sha256(s, i, f, v["length"]) == okm, v["source"]


def test_hkdf_edges():
    prk = bytes(32)
    assert hkdf.hkdf_extract(None, b"x") == hkdf.hkdf_extract(b"", b"x")
    assert hkdf.hkdf_extract(b"", b"x") == hkdf.hkdf_extract(bytes(32), b"x")
    assert hkdf.hkdf_expand(prk, b"", 0) == b""
    long = hkdf.hkdf_expand(prk, b"i", 255 * 32)
    assert len(long) == 8160 and long[:40] == hkdf.hkdf_expand(prk, b"i", 40)
    raises(ValueError, hkdf.hkdf_expand, prk, b"", 255 * 32 + 1)
    raises(ValueError, hkdf.hkdf_expand, prk, b"", -1)


def test_hmac_vectors():
    for v in _vectors()["hmac"]:
        key, data, mac = (unhexlify(v[k]) for k in ("key", "data", "mac"))
        for k, d in zip(_kinds(key), _kinds(data)):
            full = hkdf.hmac_sha256(k, d)
            # RFC 4231 case 5 publishes a truncated MAC: compare that prefix.
            assert len(full) == 32 and full[: len(mac)] == mac, v["source"]


def test_sha256():
    want = unhexlify("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    for k in _kinds(b"abc"):
        assert hkdf.sha256(k) == want


def test_ct_equal():
    a = _rand(40, "ct")
    for x, y in zip(_kinds(a), _kinds(a)):
        assert hkdf.ct_equal(x, y)
    for i in (0, 20, 39):
        assert not hkdf.ct_equal(a, _flip(a, i))
    assert not hkdf.ct_equal(a, a[:-1])
    assert not hkdf.ct_equal(b"", b"\x00")
    assert hkdf.ct_equal(b"", bytearray())


# ------------------------------------------------ CCM beyond the vectors

def test_ccm_all_parameter_sizes_round_trip():
    key = _rand(16, "k")
    for nlen in range(7, 14):
        nonce = _rand(nlen, nlen)
        for tl in range(4, 17, 2):
            for alen in (0, 1, 14, 15, 300):
                aad = _rand(alen, "a")
                for n in (0, 1, 15, 16, 17, 40):
                    pt = _rand(n, n)
                    ct = ccm_ref.ccm_encrypt(key, nonce, aad, pt, tl)
                    assert len(ct) == n + tl
                    assert ccm_ref.ccm_decrypt(key, nonce, aad, ct, tl) == pt
                    raises(ValueError, ccm_ref.ccm_decrypt, key, nonce, aad, _flip(ct, n), tl)


class _Length:
    """An AAD that is only a length: the check refuses it before reading a
    byte (a real 64 KiB buffer need not fit a fragmented 140 KiB heap)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def test_ccm_rejects_bad_parameters():
    key = bytes(16)
    for nlen in (6, 14):
        raises(ValueError, ccm_ref.ccm_encrypt, key, bytes(nlen), b"", b"x", 8)
    for tl in (0, 2, 3, 5, 18):
        raises(ValueError, ccm_ref.ccm_encrypt, key, bytes(13), b"", b"x", tl)
    raises(ValueError, ccm_ref.ccm_encrypt, key, bytes(13), _Length(0xFF00), b"x", 8)
    raises(ValueError, ccm_ref.ccm_decrypt, key, bytes(13), b"", bytes(7), 8)


def test_ccm_takes_the_longest_short_form_aad():
    # 0xFEFF bytes: the longest AAD with a 2-byte length field (RFC 3610 2.2)
    ccm_ref.ccm_encrypt(bytes(16), bytes(13), bytes(0xFEFF), b"x", 8)


# ------------------------------------------------------------ the engine

def _check_engine_against_functional(e, key, aad_len, lengths, seed):
    ck = crypto.CcmKey(key)
    aad = _rand(aad_len, seed)
    buf = bytearray(aad_len + e.max_payload + 16)
    out = bytearray(e.max_payload)
    for n in lengths:
        nonce = _rand(13, "%s/n/%d" % (seed, n))
        pt = _rand(n, "%s/p/%d" % (seed, n))
        want = ccm_ref.ccm_encrypt(key, nonce, aad, pt, 8)
        buf[:aad_len] = aad
        m = e.seal(ck, nonce, buf, aad_len, pt, n, 8)
        assert m == aad_len + n + 8, n
        assert bytes(buf[aad_len:m]) == want, n
        for i in range(len(out)):
            out[i] = 0xEE
        assert e.open(ck, nonce, buf, aad_len, m, out, 8) == n, n
        assert bytes(out[:n]) == pt, n
        # A wrong tag, a wrong ciphertext byte or a wrong AAD byte: -1, output zeroed.
        for i in (m - 1, aad_len + n // 2 if n else m - 8, 0 if aad_len else m - 2):
            buf[i] ^= 0x80
            for j in range(n):
                out[j] = 0xEE
            assert e.open(ck, nonce, buf, aad_len, m, out, 8) == -1, (n, i)
            assert out[:n] == bytes(n), (n, i)
            buf[i] ^= 0x80
        assert ccm_ref.ccm_decrypt(key, nonce, aad, buf[aad_len:m], 8) == pt


def test_engine_matches_functional_ccm_for_every_length_aad_12():
    e = crypto.CcmEngine(300, 12)
    _check_engine_against_functional(e, _rand(16, "k12"), 12, range(301), "a12")


def test_engine_matches_functional_ccm_for_every_length_aad_7():
    e = crypto.CcmEngine(300, 12)
    _check_engine_against_functional(e, _rand(16, "k7"), 7, range(301), "a7")


def test_engine_without_aad_and_with_long_aad():
    e = crypto.CcmEngine(40, 100)
    for alen in (0, 13, 14, 30, 100):
        _check_engine_against_functional(e, _rand(16, alen), alen, (0, 1, 16, 40), alen)


def test_engine_other_tag_lengths():
    e = crypto.CcmEngine(40, 12)
    key = _rand(16, "tl")
    ck = crypto.CcmKey(key)
    nonce, aad, pt = _rand(13, "tn"), _rand(12, "ta"), _rand(33, "tp")
    for tl in range(4, 17, 2):
        buf = bytearray(12 + 33 + tl)
        buf[:12] = aad
        m = e.seal(ck, nonce, buf, 12, pt, 33, tl)
        assert bytes(buf[12:m]) == ccm_ref.ccm_encrypt(key, nonce, aad, pt, tl), tl
        out = bytearray(33)
        assert e.open(ck, nonce, buf, 12, m, out, tl) == 33 and out == pt
        buf[m - 1] ^= 1
        assert e.open(ck, nonce, buf, 12, m, out, tl) == -1


def test_engine_keys_and_engines_interleave():
    # The CBC chain value belongs to the key: any engine may use any key, in any order.
    keys = [_rand(16, "ik%d" % i) for i in range(3)]
    cks = [crypto.CcmKey(k) for k in keys]
    engines = [crypto.CcmEngine(64, 12), crypto.CcmEngine(100, 20)]
    aad = _rand(12, "ia")
    for step in range(30):
        i = (step * 7) % 3
        e = engines[step % 2]
        n = (step * 13) % 65
        nonce, pt = _rand(13, "in%d" % step), _rand(n, "ip%d" % step)
        buf = bytearray(12 + n + 8)
        buf[:12] = aad
        m = e.seal(cks[i], nonce, buf, 12, pt, n, 8)
        assert bytes(buf[12:m]) == ccm_ref.ccm_encrypt(keys[i], nonce, aad, pt, 8), step
        out = bytearray(n)
        assert engines[(step + 1) % 2].open(cks[i], nonce, buf, 12, m, out, 8) == n
        assert out == pt


def test_engine_in_place():
    e = crypto.CcmEngine(64, 12)
    key, nonce, aad, pt = _rand(16, "pk"), _rand(13, "pn"), _rand(12, "pa"), _rand(50, "pp")
    ck = crypto.CcmKey(key)
    buf = bytearray(12 + 50 + 8)
    buf[:12] = aad
    buf[12:62] = pt
    mv = memoryview(buf)
    m = e.seal(ck, nonce, buf, 12, mv[12:], 50, 8)
    assert bytes(buf[12:m]) == ccm_ref.ccm_encrypt(key, nonce, aad, pt, 8)
    assert e.open(ck, nonce, buf, 12, m, mv[12:], 8) == 50
    assert bytes(buf[12:62]) == pt


def test_engine_accepts_every_buffer_type():
    e = crypto.CcmEngine(32, 12)
    key, nonce, aad, pt = _rand(16, "bk"), _rand(13, "bn"), _rand(12, "ba"), _rand(20, "bp")
    want = ccm_ref.ccm_encrypt(key, nonce, aad, pt, 8)
    for k, n, p in zip(_kinds(key), _kinds(nonce), _kinds(pt)):
        ck = crypto.CcmKey(k)
        for buf in (bytearray(40), memoryview(bytearray(40))):
            buf[:12] = aad
            m = e.seal(ck, n, buf, 12, p, 20, 8)
            assert bytes(buf[12:m]) == want
            for out in (bytearray(20), memoryview(bytearray(20))):
                assert e.open(ck, n, bytes(buf), 12, m, out, 8) == 20
                assert bytes(out) == pt


def test_engine_rejects_bad_arguments():
    e = crypto.CcmEngine(32, 12)
    ck = crypto.CcmKey(bytes(16))
    buf, pt, out, nonce = bytearray(64), bytes(32), bytearray(32), bytes(13)
    raises(ValueError, e.seal, crypto.CcmKey(), nonce, buf, 12, pt, 4, 8)
    raises(ValueError, e.seal, ck, bytes(12), buf, 12, pt, 4, 8)
    raises(ValueError, e.seal, ck, nonce, buf, 13, pt, 4, 8)
    raises(ValueError, e.seal, ck, nonce, buf, -1, pt, 4, 8)
    raises(ValueError, e.seal, ck, nonce, buf, 12, pt, 33, 8)
    raises(ValueError, e.seal, ck, nonce, buf, 12, pt, -1, 8)
    raises(ValueError, e.seal, ck, nonce, buf, 12, pt, 4, 7)
    raises(ValueError, e.seal, ck, nonce, bytearray(23), 12, pt, 4, 8)
    raises(ValueError, e.seal, ck, nonce, buf, 12, bytes(3), 4, 8)
    ro = bytes(64)
    try:
        e.seal(ck, nonce, ro, 12, pt, 4, 8)
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError("sealed into bytes")
    assert ro == bytes(64)
    m = e.seal(ck, nonce, buf, 12, pt, 4, 8)
    raises(ValueError, e.open, ck, nonce, buf, 12, 19, out, 8)  # shorter than AAD + tag
    raises(ValueError, e.open, ck, nonce, buf, 12, 12 + 33 + 8, bytearray(64), 8)
    raises(ValueError, e.open, ck, nonce, buf, 12, 65, out, 8)  # longer than buf
    raises(ValueError, e.open, ck, nonce, buf, 12, m, bytearray(3), 8)
    raises(ValueError, crypto.CcmEngine, 0x10000, 12)
    raises(ValueError, crypto.CcmEngine, 16, 0xFF00)
    raises(ValueError, crypto.CcmKey, bytes(24))


def test_ccm_key_wipe_and_reload():
    key = _rand(16, "wk")
    ck = crypto.CcmKey(key)
    assert ck.loaded
    ck.wipe()
    assert not ck.loaded and ck.ecb is None and ck.cbc is None
    assert ck.chain == bytes(16)
    e = crypto.CcmEngine(16, 12)
    raises(ValueError, e.seal, ck, bytes(13), bytearray(40), 12, bytes(16), 16, 8)
    ck.load(key)
    buf = bytearray(36)
    m = e.seal(ck, bytes(13), buf, 12, b"0123456789abcdef", 16, 8)
    want = ccm_ref.ccm_encrypt(key, bytes(13), bytes(12), b"0123456789abcdef", 8)
    assert bytes(buf[12:m]) == want
    e.wipe()
    assert e._s[16:] == bytes(len(e._s) - 16), "keystream and MAC blocks zeroed"


class _ResettingCbc:
    """A CBC object that restarts from its first IV on every call (not cryptolib's way)."""

    def __init__(self, aes, key, iv):
        self.aes, self.key, self.iv = aes, bytes(key), bytes(iv)

    def encrypt(self, src, dst):
        return self.aes(self.key, 2, self.iv).encrypt(src, dst)


class _FakeCryptolib:
    def __init__(self, real):
        self.real = real

    def aes(self, key, mode, iv=None):
        if mode == 2:
            return _ResettingCbc(self.real.aes, key, iv)
        return self.real.aes(key, mode)


def test_ccm_key_refuses_a_cbc_that_does_not_chain():
    real = crypto.cryptolib
    crypto.cryptolib = _FakeCryptolib(real)
    try:
        ck = crypto.CcmKey()
        try:
            ck.load(bytes(16))
        except RuntimeError:
            pass
        else:
            raise AssertionError("accepted a CBC object that resets its IV")
        assert not ck.loaded and ck.cbc is None
    finally:
        crypto.cryptolib = real
    assert crypto.CcmKey(bytes(16)).loaded


def _locked_round_trips(e, ck, nonce, buf, pt, out, sizes):
    """seal + open under heap_lock; return the lengths, or raise on any allocation."""
    results = [0] * len(sizes)  # made before the heap is locked
    micropython.heap_lock()
    try:
        i = 0
        for n in sizes:
            m = e.seal(ck, nonce, buf, 12, pt, n, 8)
            got = e.open(ck, nonce, buf, 12, m, out, 8)
            buf[m - 1] ^= 1
            bad = e.open(ck, nonce, buf, 12, m, out, 8)
            buf[m - 1] ^= 1
            results[i] = got if bad == -1 else -2
            i += 1
    finally:
        micropython.heap_unlock()
    return results


def _zero_allocation_check():
    e = crypto.CcmEngine(256, 12)
    key, nonce, pt = _rand(16, "zk"), _rand(13, "zn"), _rand(256, "zp")
    ck = crypto.CcmKey(key)
    buf = bytearray(12 + 256 + 8)
    out = bytearray(256)
    sizes = (0, 16, 64, 256)
    try:
        got = _locked_round_trips(e, ck, nonce, buf, pt, out, sizes)
    except MemoryError:
        raise AssertionError("seal/open allocated") from None
    assert got == list(sizes), got
    m = e.seal(ck, nonce, buf, 12, pt, 256, 8)
    assert bytes(buf[12:m]) == ccm_ref.ccm_encrypt(key, nonce, bytes(buf[:12]), pt, 8)


def test_engine_allocates_nothing():
    _zero_allocation_check()


def test_engine_allocates_nothing_with_python_helpers():
    _with_python_helpers(_zero_allocation_check)


# --------------------------------------------------- the Python twins

def test_python_helpers_match_viper_helpers():
    # the byte helpers crypto and hmac_drbg call: mac's (viper _hs.py, twins _hs_py.py)
    from ephkey import _hs, _hs_py

    a, b = bytearray(_rand(64, "ha")), _rand(64, "hb")
    ks = _rand(48, "hk")
    for doff, soff, n in ((0, 0, 0), (0, 0, 48), (3, 7, 40), (16, 1, 17)):
        x, y = bytearray(a), bytearray(a)
        _hs.xor(x, doff, b, soff, ks, 0, n)
        _hs_py.xor(y, doff, b, soff, ks, 0, n)
        assert x == y
        _hs.zero(x, soff, n)
        _hs_py.zero(y, soff, n)
        assert x == y and x[soff:soff + n] == bytes(n)
        assert _hs.diff(a, doff, a, doff, n) == _hs_py.diff(a, doff, a, doff, n) == 0
        same = _hs.diff(a, doff, b, soff, n) == 0
        assert same == (_hs_py.diff(a, doff, b, soff, n) == 0)


def test_everything_with_python_helpers():
    def run():
        test_ccm_vectors_encrypt_and_decrypt()
        test_ccm_vectors_through_the_engine()
        test_kw_vectors()
        test_hkdf_vectors()
        test_hmac_vectors()
        test_ct_equal()
        e = crypto.CcmEngine(300, 12)
        lengths = list(range(34)) + [255, 256, 257, 300]
        _check_engine_against_functional(e, _rand(16, "py"), 12, lengths, "py12")
        _check_engine_against_functional(e, _rand(16, "py"), 7, lengths, "py7")

    _with_python_helpers(run)


# ------------------------------------------- alignment and protected frames

def _trap_unaligned(on):
    """On a Cortex-M3/M4/M33, make every unaligned word access fault (SCB->CCR
    UNALIGN_TRP), as it always does on the RP2040's Cortex-M0+; return whether
    the trap could be set. Elsewhere (the unix port) there is no such switch."""
    try:
        import machine

        ccr = machine.mem32[0xE000ED14]
        machine.mem32[0xE000ED14] = (ccr | 8) if on else (ccr & ~8)
        return True
    except (ImportError, AttributeError, OSError, ValueError):
        return False


def test_engine_with_unaligned_buffers():
    """Every start offset of frame, payload and output: the same bytes as the
    functional CCM. On a Cortex-M board with the trap set, a word access
    through an unaligned pointer would stop the board here."""
    e = crypto.CcmEngine(100, 12)
    key = _rand(16, "uk")
    ck = crypto.CcmKey(key)
    aad = _rand(12, "ua")
    bufs = bytearray(4 + 12 + 100 + 8)
    pts = bytearray(4 + 100)
    outs = bytearray(4 + 100)
    mb, mp, mo = memoryview(bufs), memoryview(pts), memoryview(outs)
    cases = []
    for n in (0, 3, 16, 33, 64, 100):
        nonce = _rand(13, "un%d" % n)
        pt = _rand(n, "up%d" % n)
        cases.append((n, nonce, pt, ccm_ref.ccm_encrypt(key, nonce, aad, pt, 8)))
    got = []
    trapped = _trap_unaligned(True)
    try:
        for n, nonce, pt, _want in cases:
            for off in range(4):
                buf, src, out = mb[off:off + 12 + n + 8], mp[off:off + n], mo[3 - off:3 - off + n]
                buf[:12] = aad
                src[:] = pt
                m = e.seal(ck, nonce, buf, 12, src, n, 8)
                sealed = bytes(buf[12:m])
                opened = e.open(ck, nonce, buf, 12, m, out, 8)
                got.append((sealed, opened, bytes(out)))
    finally:
        _trap_unaligned(False)
    if trapped:
        print("  unaligned word accesses trapped: none happened")
    i = 0
    for n, _nonce, pt, want in cases:
        for off in range(4):
            sealed, opened, plain = got[i]
            assert sealed == want, (n, off)
            assert opened == n and plain == pt, (n, off)
            i += 1


def _frame_nonce(sid, direction, kidx, seq):
    from spec2 import frame_nonce

    return frame_nonce(sid, direction, kidx, seq)


def _check_channel_frames():
    from ephkey import channel, wire

    e = crypto.CcmEngine(64, wire.PROT_HDR)
    key = _rand(16, "ch")
    ck = crypto.CcmKey(key)
    buf = bytearray(wire.PROT_HDR + 64 + 8)
    out = bytearray(64)
    for n, ftype, sid, direction, kidx, seq in (
            (0, wire.CLOSE, 1, wire.DIR_F2S, 0, 0),
            (17, wire.DATA, 0xFFFF, wire.DIR_S2F, 255, 0x3FFFFFFF),
            (64, wire.REKEY, 0x1234, wire.DIR_F2S, 7, 0x00ABCDEF)):
        pt = _rand(n, "cp%d" % n)
        m = channel.seal(e, ck, None, buf, ftype, sid, direction, kidx, seq, pt, n)
        # the version-2 header (3.7): ver/type, u16 sid, kidx, u32 seq
        hdr = bytes((0x20 | ftype, sid >> 8, sid & 0xFF, kidx)) + bytes(
            ((seq >> 24) & 0xFF, (seq >> 16) & 0xFF, (seq >> 8) & 0xFF, seq & 0xFF))
        assert m == wire.PROT_HDR + n + 8 and buf[:wire.PROT_HDR] == hdr, n
        nonce = _frame_nonce(sid, direction, kidx, seq)
        assert bytes(buf[wire.PROT_HDR:m]) == ccm_ref.ccm_encrypt(key, nonce, hdr, pt, 8), n
        assert channel.open_(e, ck, None, buf, m, sid, direction, kidx, seq, out) == n
        assert bytes(out[:n]) == pt
        # any other nonce field, or another header byte: refused, output zeroed
        for args in ((sid ^ 1, direction, kidx, seq), (sid, direction ^ 3, kidx, seq),
                     (sid, direction, kidx ^ 1, seq), (sid, direction, kidx, seq ^ 1)):
            out[:n] = b"\xee" * n
            assert channel.open_(e, ck, None, buf, m, args[0], args[1], args[2], args[3],
                                 out) == -1, (n, args)
            assert out[:n] == bytes(n)
        buf[2] ^= 1
        assert channel.open_(e, ck, None, buf, m, sid, direction, kidx, seq, out) == -1
        buf[2] ^= 1


def test_channel_frames_are_ccm_over_header_and_nonce():
    _check_channel_frames()


def test_channel_frames_with_python_twins():

    _with_python_helpers(_check_channel_frames)


def test_channel_frames_allocate_nothing():
    from ephkey import channel, wire

    e = crypto.CcmEngine(256, wire.PROT_HDR)
    ck = crypto.CcmKey(_rand(16, "ca"))
    buf = bytearray(wire.PROT_HDR + 256 + 8)
    pt = _rand(256, "cap")
    out = bytearray(256)
    got = [0, 0, 0]
    sizes = (0, 16, 256)
    micropython.heap_lock()  # (no enumerate() below: it would allocate its iterator)
    try:
        for i in range(3):
            m = channel.seal(e, ck, None, buf, wire.DATA, 77, wire.DIR_S2F, 3, 1000 + i, pt,
                             sizes[i])
            got[i] = channel.open_(e, ck, None, buf, m, 77, wire.DIR_S2F, 3, 1000 + i, out)
    except MemoryError:
        raise AssertionError("a protected frame allocated") from None
    finally:
        micropython.heap_unlock()
    assert got == [0, 16, 256] and out == pt
