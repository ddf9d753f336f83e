"""Byte loops of the handshake, compiled to machine code by viper.

HMAC pads, copies, constant-time compares, the AES key wrap of RFC 3394
(its 12 block encryptions, each feeding the next, in one pass), and whole
HMACs: ``mac_*`` are the methods of mac.Mac and ``kw_*`` those of
mac.KeyWrap when this module loads. A viper function keeps its state on the
C stack and runs no bytecode, so an HMAC costs its two native SHA-256 calls
and little else (the handshake's CPU target, issue 14). Every helper takes
(buffer, offset) pairs instead of slices, because slicing allocates. Viper
does no bounds checks: callers check every offset and length first. _hs_py.py
has a pure-Python twin of each helper; mac.py falls back to it when this module
cannot be imported (no native emitter in the port, or an .mpy built for
another architecture).
"""

import hashlib

import micropython


@micropython.viper
def copy(dst: ptr8, doff: int, src: ptr8, soff: int, n: int):
    """dst[doff:doff + n] = src[soff:soff + n]."""
    for i in range(n):
        dst[doff + i] = src[soff + i]


@micropython.viper
def zero(dst: ptr8, off: int, n: int):
    """dst[off:off + n] = 0."""
    for i in range(n):
        dst[off + i] = 0


@micropython.viper
def diff(a: ptr8, aoff: int, b: ptr8, boff: int, n: int) -> int:
    """0 when the two ranges are equal; reads all n bytes whatever they hold."""
    acc = 0
    for i in range(n):
        acc |= a[aoff + i] ^ b[boff + i]
    return acc


@micropython.viper
def xor_diff(a: ptr8, aoff: int, b: ptr8, boff: int, c: ptr8, coff: int, n: int) -> int:
    """0 when a ^ b == c over n bytes (F's check of c XOR pad against SPV)."""
    acc = 0
    for i in range(n):
        acc |= a[aoff + i] ^ b[boff + i] ^ c[coff + i]
    return acc


@micropython.viper
def xor(dst: ptr8, doff: int, a: ptr8, aoff: int, b: ptr8, boff: int, n: int):
    """dst[doff + i] = a[aoff + i] ^ b[boff + i]."""
    for i in range(n):
        dst[doff + i] = a[aoff + i] ^ b[boff + i]


@micropython.viper
def pads_to(store: ptr8, off: int, key: ptr8, koff: int, n: int):
    """HMAC's padded key blocks of key[koff:koff + n] into store[off:off + 128]:
    the inner one, then the outer one (a key kept between calls, like KP)."""
    for i in range(64):
        store[off + i] = 0x36
        store[off + 64 + i] = 0x5C
    for i in range(n):
        k = key[koff + i]
        store[off + i] = 0x36 ^ k
        store[off + 64 + i] = 0x5C ^ k


@micropython.viper
def wrap(enc, blk_obj, out_obj, r: ptr8, blk: ptr8, out: ptr8, key: ptr8, koff: int,
         dst: ptr8, doff: int):
    """RFC 3394 wrapping of the 16-byte key[koff:koff + 16] into dst[doff:doff + 24].
    ``enc(blk_obj, out_obj)`` is the ECB encryption of the 16-byte ``blk`` into
    ``out``; r (24 bytes), blk and out are scratch, zeroed on return."""
    for k in range(8):
        r[k] = 0xA6
    for k in range(16):
        r[8 + k] = key[koff + k]
    t = 0
    for _ in range(6):
        for i in range(1, 3):
            t += 1
            p = 8 * i
            for k in range(8):
                blk[k] = r[k]
                blk[8 + k] = r[p + k]
            enc(blk_obj, out_obj)
            for k in range(8):
                r[k] = out[k]
                r[p + k] = out[8 + k]
            r[7] = r[7] ^ t
    for k in range(24):
        dst[doff + k] = r[k]
        r[k] = 0
    for k in range(16):
        blk[k] = 0
        out[k] = 0


@micropython.viper
def unwrap(dec, blk_obj, out_obj, r: ptr8, blk: ptr8, out: ptr8, src: ptr8, soff: int,
           dst: ptr8, doff: int) -> int:
    """RFC 3394 unwrapping of src[soff:soff + 24]; the 16-byte key goes to
    dst[doff:] only when the integrity check value holds. Returns 0 then,
    whatever the bytes; scratch zeroed on return."""
    for k in range(24):
        r[k] = src[soff + k]
    t = 12
    for _ in range(6):
        for i in range(2, 0, -1):
            p = 8 * i
            r[7] = r[7] ^ t
            t -= 1
            for k in range(8):
                blk[k] = r[k]
                blk[8 + k] = r[p + k]
            dec(blk_obj, out_obj)
            for k in range(8):
                r[k] = out[k]
                r[p + k] = out[8 + k]
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


@micropython.viper
def frame_head(out, nonce: ptr8, b0: int, sid: int, direction: int, kidx: int, seq: int):
    """A protected frame's nonce (3.7) and, when out is not None, its 8-byte
    header: b0, u16 sid, kidx, u32 seq (seq < 2**30: a small int everywhere)."""
    nonce[0] = 0
    nonce[1] = 0
    nonce[2] = sid >> 8
    nonce[3] = sid & 0xFF
    nonce[4] = direction
    nonce[5] = kidx
    nonce[6] = 0
    nonce[7] = 0
    nonce[8] = 0
    nonce[9] = (seq >> 24) & 0xFF
    nonce[10] = (seq >> 16) & 0xFF
    nonce[11] = (seq >> 8) & 0xFF
    nonce[12] = seq & 0xFF
    if out:
        o = ptr8(out)
        o[0] = b0
        o[1] = sid >> 8
        o[2] = sid & 0xFF
        o[3] = kidx
        o[4] = nonce[9]
        o[5] = nonce[10]
        o[6] = nonce[11]
        o[7] = nonce[12]


# -- the methods of mac.Mac: the work buffer w is ipad (0..63) || message
# (64..127) || opad (128..191) || inner digest (192..223); _in[m] views
# w[0:64 + m] (made by ipad_msg on first use), _out views w[128:224]


@micropython.viper
def mac_key(self, key: ptr8, koff: int, n: int):
    w = ptr8(self.w)
    for i in range(64):
        w[i] = 0x36
        w[128 + i] = 0x5C
    for i in range(n):
        k = key[koff + i]
        w[i] = 0x36 ^ k
        w[128 + i] = 0x5C ^ k


@micropython.viper
def _hmac_end(self, m: int, out: ptr8, ooff: int, n: int):
    """Both SHA-256 calls of an HMAC whose message, m bytes, is in place."""
    w = ptr8(self.w)
    S = hashlib.sha256
    v = self._in[m]
    if not v:  # None: no view of this length yet
        v = self.ipad_msg(m)
    d = ptr8(S(v).digest())
    for i in range(32):
        w[192 + i] = d[i]
    d = ptr8(S(self._out).digest())
    for i in range(n):
        out[ooff + i] = d[i]


@micropython.viper
def mac_expand(self, label, x, xoff: int, xlen: int, out, ooff: int, n: int):
    w = ptr8(self.w)
    lb = ptr8(label)
    ll = int(len(label))
    p = 64
    for i in range(ll):
        w[p] = lb[i]
        p += 1
    if xlen:
        xb = ptr8(x)
        for i in range(xlen):
            w[p] = xb[xoff + i]
            p += 1
    w[p] = 1
    _hmac_end(self, p - 63, out, ooff, n)


@micropython.viper
def mac_mac(self, a: ptr8, aoff: int, alen: int, b: ptr8, boff: int, blen: int, out,
            ooff: int, n: int):
    w = ptr8(self.w)
    p = 64
    for i in range(alen):
        w[p] = a[aoff + i]
        p += 1
    for i in range(blen):
        w[p] = b[boff + i]
        p += 1
    _hmac_end(self, p - 64, out, ooff, n)




