"""Byte loops of the handshake, compiled to machine code by viper.

HMAC pads, copies, constant-time compares and the AES key wrap of RFC 3394
(its 6 x n block encryptions, each feeding the next, in one pass). Every
helper takes (buffer, offset) pairs instead of slices, because slicing
allocates. Viper does no bounds checks: callers check every offset and
length first. mac.py has a pure-Python twin of each helper and falls back to
it when this module cannot be imported (no native emitter in the port, or an
.mpy built for another architecture).
"""

import micropython

TYPE_CHECKING = False
if TYPE_CHECKING:
    from circuitpython_typing import WriteableBuffer as ptr8


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
def pads(w: ptr8, key: ptr8, koff: int, n: int):
    """HMAC's padded key blocks of key[koff:koff + n] (n <= 64): w[0:64] the
    inner one (key ^ 0x36), w[128:192] the outer one (key ^ 0x5c)."""
    for i in range(64):
        w[i] = 0x36
        w[128 + i] = 0x5C
    for i in range(n):
        k = key[koff + i]
        w[i] = 0x36 ^ k
        w[128 + i] = 0x5C ^ k


@micropython.viper
def pads_add(w: ptr8, at: int, key: ptr8, koff: int, n: int):
    """More key bytes at position ``at`` of a key given in pieces to pads()."""
    for i in range(n):
        k = key[koff + i]
        w[at + i] = w[at + i] ^ k
        w[128 + at + i] = w[128 + at + i] ^ k


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
def wrap(enc, blk_obj, out_obj, r: ptr8, blk: ptr8, out: ptr8, n: int):
    """RFC 3394 wrapping of r = A || R[1] .. R[n] in place: ``enc(blk_obj,
    out_obj)`` is the ECB encryption of the 16-byte ``blk`` into ``out``."""
    t = 0
    for _ in range(6):
        for i in range(1, n + 1):
            t += 1
            p = 8 * i
            for k in range(8):
                blk[k] = r[k]
                blk[8 + k] = r[p + k]
            enc(blk_obj, out_obj)
            for k in range(8):
                r[k] = out[k]
                r[p + k] = out[8 + k]
            r[7] = r[7] ^ (t & 0xFF)
            r[6] = r[6] ^ ((t >> 8) & 0xFF)


@micropython.viper
def unwrap(dec, blk_obj, out_obj, r: ptr8, blk: ptr8, out: ptr8, n: int) -> int:
    """RFC 3394 unwrapping in place; 0 when the integrity check value (A =
    A6A6A6A6A6A6A6A6) holds, whatever the bytes."""
    t = 6 * n
    for _ in range(6):
        for i in range(n, 0, -1):
            p = 8 * i
            r[7] = r[7] ^ (t & 0xFF)
            r[6] = r[6] ^ ((t >> 8) & 0xFF)
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
    return acc
