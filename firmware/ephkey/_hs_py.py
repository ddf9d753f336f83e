"""Pure-Python twins of _hs.py's viper functions: same arguments, same
results, far slower. mac.py loads them only where _hs.py cannot load (a port
without a native emitter, or an .mpy built for another architecture), and
tests run both (mac.use).
"""

import hashlib

from micropython import const

_MSG = const(64)
_INNER = const(192)
_ONE = b"\x01"
_EMPTY = b""


def copy(dst, doff, src, soff, n):
    for i in range(n):
        dst[doff + i] = src[soff + i]


def zero(dst, off, n):
    for i in range(off, off + n):
        dst[i] = 0


def _pads(w, key, koff, n):
    for i in range(64):
        w[i] = 0x36
        w[128 + i] = 0x5C
    for i in range(n):
        k = key[koff + i]
        w[i] = 0x36 ^ k
        w[128 + i] = 0x5C ^ k


def pads_to(store, off, key, koff, n):
    for i in range(64):
        store[off + i] = 0x36
        store[off + 64 + i] = 0x5C
    for i in range(n):
        k = key[koff + i]
        store[off + i] = 0x36 ^ k
        store[off + 64 + i] = 0x5C ^ k


def _put3(w, a, aoff, alen, b, boff, blen, c, coff, clen):
    p = 64
    for x, xoff, xlen in ((a, aoff, alen), (b, boff, blen), (c, coff, clen)):
        for i in range(xlen):
            w[p] = x[xoff + i]
            p += 1
    return p - 64


def diff(a, aoff, b, boff, n):
    acc = 0
    for i in range(n):
        acc |= a[aoff + i] ^ b[boff + i]
    return acc


def xor_diff(a, aoff, b, boff, c, coff, n):
    acc = 0
    for i in range(n):
        acc |= a[aoff + i] ^ b[boff + i] ^ c[coff + i]
    return acc


def xor(dst, doff, a, aoff, b, boff, n):
    for i in range(n):
        dst[doff + i] = a[aoff + i] ^ b[boff + i]


def wrap(enc, blk_obj, out_obj, r, blk, out, key, koff, dst, doff):
    for k in range(8):
        r[k] = 0xA6
    for k in range(16):
        r[8 + k] = key[koff + k]
    t = 0
    for _ in range(6):
        for i in (1, 2):
            t += 1
            p = 8 * i
            blk[0:8] = r[0:8]
            blk[8:16] = r[p:p + 8]
            enc(blk_obj, out_obj)
            r[0:8] = out[0:8]
            r[p:p + 8] = out[8:16]
            r[7] ^= t
    for k in range(24):
        dst[doff + k] = r[k]
        r[k] = 0
    for k in range(16):
        blk[k] = 0
        out[k] = 0


def unwrap(dec, blk_obj, out_obj, r, blk, out, src, soff, dst, doff):
    for k in range(24):
        r[k] = src[soff + k]
    t = 12
    for _ in range(6):
        for i in (2, 1):
            p = 8 * i
            r[7] ^= t
            t -= 1
            blk[0:8] = r[0:8]
            blk[8:16] = r[p:p + 8]
            dec(blk_obj, out_obj)
            r[0:8] = out[0:8]
            r[p:p + 8] = out[8:16]
    acc = 0
    for k in range(8):
        acc |= r[k] ^ 0xA6
    if acc == 0:
        for k in range(16):
            dst[doff + k] = r[8 + k]
    for k in range(24):
        r[k] = 0
    for k in range(16):
        blk[k] = 0
        out[k] = 0
    return acc


def frame_head(out, nonce, b0, sid, direction, kidx, seq):
    nonce[0] = nonce[1] = 0
    nonce[2] = sid >> 8
    nonce[3] = sid & 0xFF
    nonce[4] = direction
    nonce[5] = kidx
    nonce[6] = nonce[7] = nonce[8] = 0
    nonce[9] = (seq >> 24) & 0xFF
    nonce[10] = (seq >> 16) & 0xFF
    nonce[11] = (seq >> 8) & 0xFF
    nonce[12] = seq & 0xFF
    if out is not None:
        out[0] = b0
        out[1] = sid >> 8
        out[2] = sid & 0xFF
        out[3] = kidx
        for i in range(4):
            out[4 + i] = nonce[9 + i]



# -- the methods of mac.Mac (see _hs.py)


def mac_key(self, key, koff, n):
    _pads(self.w, key, koff, n)


def _hmac_end(self, m, out, ooff, n):
    w = self.w
    copy(w, _INNER, hashlib.sha256(self.ipad_msg(m)).digest(), 0, 32)
    copy(out, ooff, hashlib.sha256(self._out).digest(), 0, n)


def mac_expand(self, label, x, xoff, xlen, out, ooff, n):
    m = _put3(self.w, label, 0, len(label), x or _EMPTY, xoff, xlen, _ONE, 0, 1)
    _hmac_end(self, m, out, ooff, n)


def mac_mac(self, a, aoff, alen, b, boff, blen, out, ooff, n):
    m = _put3(self.w, a, aoff, alen, b, boff, blen, _EMPTY, 0, 0)
    _hmac_end(self, m, out, ooff, n)
