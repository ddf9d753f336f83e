"""A test-side reference: allocating AES-CCM (any nonce of 7..13 bytes) and
AES Key Wrap (RFC 3394), on cryptolib, in plain Python.

The firmware ships neither (the stations use crypto.CcmEngine and
mac.KeyWrap); the tests check these against RFC 3610 / RFC 3394 vectors and
the host's `cryptography` (tests/host/test_ccm_engine_matches_cryptography.py),
then use them as the reference for the engine.
"""

import cryptolib

_ECB = 1
_CBC = 2
_AAD_LIMIT = 0xFF00  # from here on RFC 3610 needs a 6- or 10-byte length
_KW_IV = b"\xa6\xa6\xa6\xa6\xa6\xa6\xa6\xa6"
_ZERO16 = bytes(16)


def _xor_to(dst, doff, src, soff, ks, n):
    for i in range(n):
        dst[doff + i] = src[soff + i] ^ ks[i]


def _copy(dst, doff, src, soff, n):
    dst[doff:doff + n] = src[soff:soff + n]


def _zero(dst, off, n):
    for i in range(off, off + n):
        dst[i] = 0


def _diff(a, aoff, b, boff, n):
    acc = 0
    for i in range(n):
        acc |= a[aoff + i] ^ b[boff + i]
    return acc


def _check_tag_len(tag_len):
    if tag_len & 1 or not 4 <= tag_len <= 16:
        raise ValueError("tag_len")


# ------------------------------------------------------------- AES key wrap

def _xor_t(a, t):
    # A ^= u64(t); t < 2**32 for any key a board could hold.
    a[7] ^= t & 0xFF
    a[6] ^= (t >> 8) & 0xFF
    a[5] ^= (t >> 16) & 0xFF
    a[4] ^= (t >> 24) & 0xFF


def aes_key_wrap(kek, key):
    n = len(key) >> 3
    if len(key) & 7 or n < 2:
        raise ValueError("key length")
    ecb = cryptolib.aes(kek, _ECB)
    r = bytearray(_KW_IV)  # A || R[1] .. R[n]
    r.extend(key)
    blk = bytearray(16)
    out = bytearray(16)
    for j in range(6):
        for i in range(1, n + 1):
            _copy(blk, 0, r, 0, 8)
            _copy(blk, 8, r, 8 * i, 8)
            ecb.encrypt(blk, out)
            _copy(r, 0, out, 0, 8)
            _xor_t(r, n * j + i)
            _copy(r, 8 * i, out, 8, 8)
    _zero(blk, 0, 16)
    _zero(out, 0, 16)
    return bytes(r)


def aes_key_unwrap(kek, wrapped):
    """Raise ValueError when the integrity check fails: wrong KEK or tampering."""
    if len(wrapped) & 7 or len(wrapped) < 24:
        raise ValueError("wrapped length")
    n = (len(wrapped) >> 3) - 1
    ecb = cryptolib.aes(kek, _ECB)
    r = bytearray(wrapped)
    blk = bytearray(16)
    out = bytearray(16)
    for j in range(5, -1, -1):
        for i in range(n, 0, -1):
            _xor_t(r, n * j + i)
            _copy(blk, 0, r, 0, 8)
            _copy(blk, 8, r, 8 * i, 8)
            ecb.decrypt(blk, out)
            _copy(r, 0, out, 0, 8)
            _copy(r, 8 * i, out, 8, 8)
    bad = _diff(r, 0, _KW_IV, 0, 8)
    key = b"" if bad else bytes(r[8:])
    _zero(r, 0, len(r))
    _zero(out, 0, 16)
    if bad:
        raise ValueError("key unwrap failed")
    return key


# ------------------------------------------------------- CCM, allocating

def _ccm_check(nonce, aad, tag_len, n):
    q = 15 - len(nonce)
    if not 2 <= q <= 8:
        raise ValueError("nonce length")
    _check_tag_len(tag_len)
    if len(aad) >= _AAD_LIMIT:
        raise ValueError("aad too long")
    if q < 4 and n >> (8 * q):
        raise ValueError("message too long")
    return q


def _ccm_keystream(key, nonce, q, n):
    # Counter blocks A_0 .. A_m: flags = q - 1, nonce, counter i in q bytes.
    blocks = (n + 15) // 16 + 1
    ctr = bytearray(16 * blocks)
    for i in range(blocks):
        p = 16 * i
        ctr[p] = q - 1
        ctr[p + 1:p + 16 - q] = nonce
        for k in range(min(q, 4)):
            ctr[p + 15 - k] = (i >> (8 * k)) & 0xFF
    return cryptolib.aes(key, _ECB).encrypt(ctr)


def _ccm_mac(key, nonce, q, aad, msg, tag_len):
    # B0 || (u16(len(aad)) || aad, zero padded) || (msg, zero padded), then
    # CBC with a zero IV: its last output block is the CBC-MAC.
    n = len(msg)
    la = len(aad)
    a_end = 16 + ((la + 2 + 15) & ~15 if la else 0)
    b = bytearray(a_end + ((n + 15) & ~15))
    b[0] = (0x40 if la else 0) | ((tag_len - 2) << 2) | (q - 1)
    b[1:16 - q] = nonce
    for k in range(q):
        b[15 - k] = (n >> (8 * k)) & 0xFF
    if la:
        b[16] = la >> 8
        b[17] = la & 0xFF
        b[18:18 + la] = aad
    b[a_end:a_end + n] = msg
    mac = cryptolib.aes(key, _CBC, _ZERO16).encrypt(b)
    _zero(b, a_end, n)
    return mac


def ccm_encrypt(key, nonce, aad, plaintext, tag_len):
    """Return ciphertext || tag. Nonce 7..13 bytes, tag_len 4..16 and even."""
    n = len(plaintext)
    q = _ccm_check(nonce, aad, tag_len, n)
    mac = _ccm_mac(key, nonce, q, aad, plaintext, tag_len)
    ks = _ccm_keystream(key, nonce, q, n)
    out = bytearray(n + tag_len)
    _xor_to(out, 0, plaintext, 0, memoryview(ks)[16:], n)
    _xor_to(out, n, mac, len(mac) - 16, ks, tag_len)
    return bytes(out)


def ccm_decrypt(key, nonce, aad, data, tag_len):
    """Return the plaintext of ciphertext || tag; ValueError if the tag is wrong."""
    n = len(data) - tag_len
    if n < 0:
        raise ValueError("too short")
    q = _ccm_check(nonce, aad, tag_len, n)
    ks = _ccm_keystream(key, nonce, q, n)
    pt = bytearray(n)
    _xor_to(pt, 0, data, 0, memoryview(ks)[16:], n)
    mac = _ccm_mac(key, nonce, q, aad, pt, tag_len)
    want = bytearray(tag_len)
    _xor_to(want, 0, mac, len(mac) - 16, ks, tag_len)
    if _diff(want, 0, data, n, tag_len):
        _zero(pt, 0, n)
        raise ValueError("bad tag")
    return bytes(pt)
