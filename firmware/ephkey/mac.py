"""The handshake's primitives, writing into buffers the caller owns (spec 9.3).

- ``Mac``: HMAC-SHA256 (RFC 2104) over one work buffer. A key's padded
  blocks are computed once (``key``) and serve every HMAC under that key;
  they can be saved and loaded (F keeps KP's this way between REQ and PROOF).
  MicroPython's hashlib objects have no copy(), so each HMAC still hashes
  its two padded blocks: two native SHA-256 calls, each over one contiguous
  view of the work buffer (ipad || message, opad || inner digest).
- ``KeyWrap``: AES Key Wrap (RFC 3394) of 16-byte keys, its block loop in
  one viper pass.

Every secret goes into a caller-owned bytearray; the only copies left
elsewhere are the ``bytes`` that ``hashlib.digest()`` returns and the key
schedules inside ``cryptolib.aes`` objects, which the heap scrub (scrub.py)
overwrites once the station drops them.
"""

import hashlib

import cryptolib
from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from circuitpython_typing import ReadableBuffer, WriteableBuffer

_ECB = const(1)
MSG = const(64)  # where the message starts in the work buffer
_OPAD = const(128)
_INNER = const(192)
_W = const(224)


# Pure-Python twins of the viper helpers in _hs.py (same arguments, same results).
def _py_copy(dst, doff, src, soff, n):
    for i in range(n):
        dst[doff + i] = src[soff + i]


def _py_zero(dst, off, n):
    for i in range(off, off + n):
        dst[i] = 0


def _py_pads(w, key, koff, n):
    for i in range(64):
        w[i] = 0x36
        w[128 + i] = 0x5C
    for i in range(n):
        k = key[koff + i]
        w[i] = 0x36 ^ k
        w[128 + i] = 0x5C ^ k


def _py_pads_add(w, at, key, koff, n):
    for i in range(n):
        k = key[koff + i]
        w[at + i] ^= k
        w[128 + at + i] ^= k


def _py_diff(a, aoff, b, boff, n):
    acc = 0
    for i in range(n):
        acc |= a[aoff + i] ^ b[boff + i]
    return acc


def _py_xor_diff(a, aoff, b, boff, c, coff, n):
    acc = 0
    for i in range(n):
        acc |= a[aoff + i] ^ b[boff + i] ^ c[coff + i]
    return acc


def _py_xor(dst, doff, a, aoff, b, boff, n):
    for i in range(n):
        dst[doff + i] = a[aoff + i] ^ b[boff + i]


def _py_wrap(enc, blk_obj, out_obj, r, blk, out, n):
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
            r[7] ^= t & 0xFF
            r[6] ^= (t >> 8) & 0xFF


def _py_unwrap(dec, blk_obj, out_obj, r, blk, out, n):
    t = 6 * n
    for _ in range(6):
        for i in range(n, 0, -1):
            p = 8 * i
            r[7] ^= t & 0xFF
            r[6] ^= (t >> 8) & 0xFF
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


copy = _py_copy
zero = _py_zero
pads = _py_pads
pads_add = _py_pads_add
diff = _py_diff
xor_diff = _py_xor_diff
xor = _py_xor
_wrap = _py_wrap
_unwrap = _py_unwrap
VIPER = False
if not TYPE_CHECKING:  # mypy's micropython stub types viper functions as NoReturn
    try:
        from . import _hs

        copy = _hs.copy
        zero = _hs.zero
        pads = _hs.pads
        pads_add = _hs.pads_add
        diff = _hs.diff
        xor_diff = _hs.xor_diff
        xor = _hs.xor
        _wrap = _hs.wrap
        _unwrap = _hs.unwrap
        VIPER = True
    except (ImportError, SyntaxError, ValueError):
        pass


def use_python_helpers(on=True):
    """Tests: run the Python twins instead of the viper helpers (or back)."""
    global copy, zero, pads, pads_add, diff, xor_diff, xor, _wrap, _unwrap, VIPER
    if on:
        copy, zero, pads, pads_add = _py_copy, _py_zero, _py_pads, _py_pads_add
        diff, xor_diff, xor = _py_diff, _py_xor_diff, _py_xor
        _wrap, _unwrap = _py_wrap, _py_unwrap
        VIPER = False
    else:
        from . import _hs

        copy, zero, pads, pads_add = _hs.copy, _hs.zero, _hs.pads, _hs.pads_add
        diff, xor_diff, xor = _hs.diff, _hs.xor_diff, _hs.xor
        _wrap, _unwrap = _hs.wrap, _hs.unwrap
        VIPER = True


class Mac:
    """HMAC-SHA256 with the key's padded blocks computed once per key.

    The work buffer ``w``: ipad (0..63) || message (64..127) || opad
    (128..191) || inner digest (192..223). Write the message at ``MSG`` with
    ``put``/``put_byte`` (or directly), then ``mac(mlen, out, off, n)``
    writes the first n bytes of HMAC(key, message) into out[off:off + n].
    Messages are at most 64 bytes (every HMAC of the spec is).
    """

    def __init__(self):
        w = bytearray(_W)
        self.w = w
        mv = memoryview(w)
        # one view per message length: hashing never slices
        self._in = [mv[0:MSG + i] for i in range(65)]
        self._out = mv[_OPAD:_W]

    def key(self, key: "ReadableBuffer", koff: int, n: int) -> None:
        """Install a key of n <= 64 bytes (the spec's keys are 16 to 32)."""
        pads(self.w, key, koff, n)

    def key_more(self, at: int, key: "ReadableBuffer", koff: int, n: int) -> None:
        """Key bytes at position ``at``, after key(...) installed the first ones."""
        pads_add(self.w, at, key, koff, n)

    def save(self, store: "WriteableBuffer", off: int) -> None:
        """Copy the installed key's pads (128 bytes) into store[off:off + 128]."""
        copy(store, off, self.w, 0, 64)
        copy(store, off + 64, self.w, _OPAD, 64)

    def load(self, store: "ReadableBuffer", off: int) -> None:
        copy(self.w, 0, store, off, 64)
        copy(self.w, _OPAD, store, off + 64, 64)

    def put(self, at: int, src: "ReadableBuffer", soff: int, n: int) -> int:
        """Message bytes at ``at``; returns the position after them."""
        copy(self.w, MSG + at, src, soff, n)
        return at + n

    def put_byte(self, at: int, b: int) -> int:
        self.w[MSG + at] = b
        return at + 1

    def mac(self, mlen: int, out: "WriteableBuffer", off: int, n: int) -> None:
        w = self.w
        copy(w, _INNER, hashlib.sha256(self._in[mlen]).digest(), 0, 32)
        copy(out, off, hashlib.sha256(self._out).digest(), 0, n)

    def check(self, mlen: int, want: "ReadableBuffer", woff: int, n: int) -> bool:
        """HMAC(key, message)[0:n] == want[woff:woff + n], in constant time."""
        w = self.w
        copy(w, _INNER, hashlib.sha256(self._in[mlen]).digest(), 0, 32)
        return diff(hashlib.sha256(self._out).digest(), 0, want, woff, n) == 0

    def wipe(self) -> None:
        zero(self.w, 0, _W)


class KeyWrap:
    """AES Key Wrap of a 16-byte key under a 16-byte KEK, into the caller's buffer."""

    def __init__(self):
        self._r = bytearray(24)  # A || R1 || R2
        self._blk = bytearray(16)
        self._out = bytearray(16)

    def wrap(self, kek: "ReadableBuffer", key: "ReadableBuffer", koff: int,
             out: "WriteableBuffer", ooff: int) -> None:
        r = self._r
        for i in range(8):
            r[i] = 0xA6
        copy(r, 8, key, koff, 16)
        ecb = cryptolib.aes(kek, _ECB)
        _wrap(ecb.encrypt, self._blk, self._out, r, self._blk, self._out, 2)
        copy(out, ooff, r, 0, 24)
        self._clear()

    def unwrap(self, kek: "ReadableBuffer", src: "ReadableBuffer", soff: int,
               out: "WriteableBuffer", ooff: int) -> bool:
        """Unwrap src[soff:soff + 24] into out[ooff:ooff + 16]; False (and out
        untouched) when the integrity check fails: wrong KEK or tampering."""
        r = self._r
        copy(r, 0, src, soff, 24)
        ecb = cryptolib.aes(kek, _ECB)
        ok = _unwrap(ecb.decrypt, self._blk, self._out, r, self._blk, self._out, 2) == 0
        if ok:
            copy(out, ooff, r, 8, 16)
        self._clear()
        return ok

    def _clear(self):
        zero(self._r, 0, 24)
        zero(self._blk, 0, 16)
        zero(self._out, 0, 16)


def sha256_of(view: "ReadableBuffer") -> bytes:
    """H(x): transcript hashes (public values)."""
    return hashlib.sha256(view).digest()


def sha256_two(a: "ReadableBuffer", b: "ReadableBuffer") -> bytes:
    """H(a || b) without concatenating."""
    h = hashlib.sha256(a)
    h.update(b)
    return h.digest()
