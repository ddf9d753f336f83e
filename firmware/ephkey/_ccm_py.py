"""Pure-Python twins of _ccm.py's seal and open: same arguments, same
results, for ports without a native emitter (py/mpconfig.h has emitters for
x64, x86, Thumb, ARM, Xtensa and RV32 only: the unix port on aarch64 and the
webassembly port have none). crypto.py loads them only where _ccm.py cannot
load, and tests run both. They allocate nothing either; a frame takes about
10x longer. The byte helpers (zero, diff, xor) are mac.py's, which has its
own Python fallback (_hs_py.py).
"""

from micropython import const

_NONCE = const(13)


def _check(engine, ck, nonce, aad_len, n, tag_len):
    if (not ck.loaded or not 0 <= n <= engine.max_payload or not 0 <= aad_len <= engine.max_aad
            or tag_len & 1 or not 4 <= tag_len <= 16 or len(nonce) != _NONCE):
        raise ValueError("ccm parameters")


def _head(engine, ck, nonce, buf, aad_len, n, tag_len):
    """Keystream into s[0:16 * (m + 1)], B0 ^ chain and the AAD blocks at the
    MAC input; return where the payload goes. No slices or tuples: they
    would allocate."""
    s = engine._s
    for i in range(((n + 15) >> 4) + 1):
        k = 16 + 16 * i
        s[k] = 1
        for j in range(13):
            s[k + 1 + j] = nonce[j]
        s[k + 14] = i >> 8
        s[k + 15] = i & 255
    v = engine._views[((n + 15) >> 4) + 1]
    ck.ecb.encrypt(v, v)
    mo = 32 + 16 * ((engine.max_payload + 15) >> 4)
    chain = ck.chain
    s[mo] = ((0x40 if aad_len else 0) | ((tag_len - 2) << 2) | 1) ^ chain[0]
    for j in range(13):
        s[mo + 1 + j] = nonce[j] ^ chain[1 + j]
    s[mo + 14] = (n >> 8) ^ chain[14]
    s[mo + 15] = (n & 255) ^ chain[15]
    if not aad_len:
        return mo + 16
    s[mo + 16] = aad_len >> 8
    s[mo + 17] = aad_len & 255
    for j in range(aad_len):
        s[mo + 18 + j] = buf[j]
    p = mo + ((18 + aad_len + 15) & ~15)
    for j in range(mo + 18 + aad_len, p):
        s[j] = 0
    return p


def _mac(engine, ck, q):
    """Pad the MAC input from q, CBC it in place, update the chain; return T's offset."""
    s = engine._s
    mo = 32 + 16 * ((engine.max_payload + 15) >> 4)
    end = mo + ((q - mo + 15) & ~15)
    for j in range(q, end):
        s[j] = 0
    v = engine._views[((engine.max_payload + 15) >> 4) + 2 + ((end - mo) >> 4)]
    ck.cbc.encrypt(v, v)
    t = end - 16
    chain = ck.chain
    for j in range(16):
        chain[j] = s[t + j]
    return t


def seal(engine, ck, nonce, buf, aad_len, tag_len, pt, n):
    _check(engine, ck, nonce, aad_len, n, tag_len)
    if len(buf) < aad_len + n + tag_len or len(pt) < n:
        raise ValueError("buffer too small")
    buf[0] = buf[0]
    s = engine._s
    p = _head(engine, ck, nonce, buf, aad_len, n, tag_len)
    for i in range(n):
        x = pt[i]
        s[p + i] = x
        buf[aad_len + i] = x ^ s[32 + i]
    t = _mac(engine, ck, p + n)
    for j in range(tag_len):
        buf[aad_len + n + j] = s[t + j] ^ s[16 + j]
    return aad_len + n + tag_len


def open(engine, ck, nonce, buf, frame_len, aad_len, tag_len, out):
    n = frame_len - aad_len - tag_len
    _check(engine, ck, nonce, aad_len, n, tag_len)
    if len(buf) < frame_len or len(out) < n:
        raise ValueError("buffer too small")
    if n:
        out[0] = out[0]
    s = engine._s
    p = _head(engine, ck, nonce, buf, aad_len, n, tag_len)
    for i in range(n):
        s[p + i] = buf[aad_len + i] ^ s[32 + i]
    t = _mac(engine, ck, p + n)
    diff = 0
    for j in range(tag_len):
        diff |= buf[aad_len + n + j] ^ s[t + j] ^ s[16 + j]
    if diff:
        for i in range(n):
            out[i] = 0
        return -1
    for i in range(n):
        out[i] = buf[aad_len + i] ^ s[32 + i]
    return n
