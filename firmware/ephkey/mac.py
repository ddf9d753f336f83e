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


def _py_pads_to(store, off, key, koff, n):
    for i in range(64):
        store[off + i] = 0x36
        store[off + 64 + i] = 0x5C
    for i in range(n):
        k = key[koff + i]
        store[off + i] = 0x36 ^ k
        store[off + 64 + i] = 0x5C ^ k


def _py_put3(w, a, aoff, alen, b, boff, blen, c, coff, clen):
    p = 64
    for x, xoff, xlen in ((a, aoff, alen), (b, boff, blen), (c, coff, clen)):
        for i in range(xlen):
            w[p] = x[xoff + i]
            p += 1
    return p - 64


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


def _py_wrap(enc, blk_obj, out_obj, r, blk, out, key, koff, dst, doff):
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


def _py_unwrap(dec, blk_obj, out_obj, r, blk, out, src, soff, dst, doff):
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


def _py_frame_head(out, nonce, b0, sid, direction, kidx, seq):
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


_NAMES = ("copy", "zero", "pads", "pads_add", "pads_to", "put3", "diff", "xor_diff", "xor",
          "wrap", "unwrap", "frame_head")
_PY = (_py_copy, _py_zero, _py_pads, _py_pads_add, _py_pads_to, _py_put3, _py_diff,
       _py_xor_diff, _py_xor, _py_wrap, _py_unwrap, _py_frame_head)
(copy, zero, pads, pads_add, pads_to, put3, diff, xor_diff, xor, _wrap, _unwrap,
 frame_head) = _PY
VIPER = False
# Mac and KeyWrap methods that _hs.py has in viper (the Python ones are their twins)
_MAC_METHODS = ("key", "salt", "expand", "expand_j", "mac", "hmac3", "check")
_KW_METHODS = ("wrap", "unwrap")
_PY_METHODS: dict = {}


def use_python_helpers(on=True):
    """Use the Python twins (on) or the viper helpers (off; when they load).
    Tests run both; the stations call the helpers through this module."""
    global copy, zero, pads, pads_add, pads_to, put3, diff, xor_diff, xor, _wrap, _unwrap
    global frame_head, VIPER
    helpers = _PY
    VIPER = False
    hs = None
    if not on:
        try:
            from . import _hs

            hs = _hs
            helpers = tuple(getattr(hs, name) for name in _NAMES)
            VIPER = True
        except (ImportError, SyntaxError, ValueError):
            # SyntaxError: this port has no viper emitter; ValueError: an .mpy
            # built for another architecture. The Python twins stay in place.
            pass
    (copy, zero, pads, pads_add, pads_to, put3, diff, xor_diff, xor, _wrap, _unwrap,
     frame_head) = helpers
    for cls, names, prefix in ((Mac, _MAC_METHODS, "mac_"), (KeyWrap, _KW_METHODS, "kw_")):
        for name in names:
            key = prefix + name
            if key not in _PY_METHODS:
                _PY_METHODS[key] = getattr(cls, name)
            setattr(cls, name, getattr(hs, key) if hs is not None else _PY_METHODS[key])


_ONE = b"\x01"
_EMPTY = b""


class Mac:
    """HMAC-SHA256 with the key's padded blocks computed once per key.

    The work buffer ``w``: ipad (0..63) || message (64..127) || opad
    (128..191) || inner digest (192..223). ``key`` (or ``salt``) installs a
    key; then ``expand`` and ``mac`` write the first n bytes of an HMAC under
    it into out[off:off + n]. Messages are at most 64 bytes (every HMAC of
    the spec is). Each HMAC is one Python call, one viper call that lays the
    message out, and two SHA-256 calls over views of the work buffer.
    """

    def __init__(self):
        w = bytearray(_W)
        self.w = w
        mv = memoryview(w)
        # one view per message length: hashing never slices
        self._mv = mv
        # views of ipad || message per message length, made on first use
        # (about 15 lengths occur): hashing never slices after that
        self._in: list = [None] * 65
        self._out = mv[_OPAD:_W]
        self.tail = bytearray(5)  # SRK_frame[0:4] || 0x01 of KEK2 (keyschedule.kek2)

    def ipad_msg(self, m: int) -> memoryview:
        """The view of ipad || the m-byte message."""
        v = self._in[m]
        if v is None:
            v = self._in[m] = self._mv[0:MSG + m]
        return v

    def key(self, key: "ReadableBuffer", koff: int, n: int) -> None:
        """Install a key of n <= 64 bytes (the spec's keys are 16 to 32)."""
        pads(self.w, key, koff, n)

    def salt(self, a: "ReadableBuffer", aoff: int, b: "ReadableBuffer", boff: int) -> None:
        """Install the key a[aoff:aoff + 12] || b[boff:boff + 12] (n_s || n_f)."""
        w = self.w
        pads(w, a, aoff, 12)
        pads_add(w, 12, b, boff, 12)

    def save(self, store: "WriteableBuffer", off: int) -> None:
        """Copy the installed key's pads (128 bytes) into store[off:off + 128]."""
        copy(store, off, self.w, 0, 64)
        copy(store, off + 64, self.w, _OPAD, 64)

    def load(self, store: "ReadableBuffer", off: int) -> None:
        copy(self.w, 0, store, off, 64)
        copy(self.w, _OPAD, store, off + 64, 64)

    def expand(self, label: bytes, x: "ReadableBuffer | None", xoff: int, xlen: int,
               out: "WriteableBuffer", off: int, n: int) -> None:
        """HKDF-Expand for n <= 32: HMAC(key, label || x[xoff:xoff + xlen] || 0x01)[0:n]."""
        w = self.w
        m = put3(w, label, 0, len(label), x or _EMPTY, xoff, xlen, _ONE, 0, 1)
        copy(w, _INNER, hashlib.sha256(self.ipad_msg(m)).digest(), 0, 32)
        copy(out, off, hashlib.sha256(self._out).digest(), 0, n)

    def expand_j(self, label: bytes, j: int, out: "WriteableBuffer", off: int, n: int) -> None:
        """HKDF-Expand(key, label || u8(j), n): KEK_j and the next chain key (3.6)."""
        w = self.w
        m = put3(w, label, 0, len(label), _EMPTY, 0, 0, _EMPTY, 0, 0)
        w[MSG + m] = j
        w[MSG + m + 1] = 1
        copy(w, _INNER, hashlib.sha256(self.ipad_msg(m + 2)).digest(), 0, 32)
        copy(out, off, hashlib.sha256(self._out).digest(), 0, n)

    def hmac3(self, a: bytes, b: "ReadableBuffer", c: "ReadableBuffer", out: "WriteableBuffer",
              off: int, n: int) -> None:
        """HMAC(key, a || b || c)[0:n], whole buffers (KEK2's message)."""
        w = self.w
        m = put3(w, a, 0, len(a), b, 0, len(b), c, 0, len(c))
        copy(w, _INNER, hashlib.sha256(self.ipad_msg(m)).digest(), 0, 32)
        copy(out, off, hashlib.sha256(self._out).digest(), 0, n)

    def mac(self, a: "ReadableBuffer", aoff: int, alen: int, b: "ReadableBuffer", boff: int,
            blen: int, out: "WriteableBuffer", off: int, n: int) -> None:
        """HMAC(key, a[aoff:aoff + alen] || b[boff:boff + blen])[0:n]."""
        w = self.w
        m = put3(w, a, aoff, alen, b, boff, blen, _EMPTY, 0, 0)
        copy(w, _INNER, hashlib.sha256(self.ipad_msg(m)).digest(), 0, 32)
        copy(out, off, hashlib.sha256(self._out).digest(), 0, n)

    def check(self, a: "ReadableBuffer", aoff: int, alen: int, want: "ReadableBuffer",
              woff: int, n: int) -> bool:
        """HMAC(key, a[aoff:aoff + alen])[0:n] == want[woff:woff + n], in constant time."""
        w = self.w
        m = put3(w, a, aoff, alen, _EMPTY, 0, 0, _EMPTY, 0, 0)
        copy(w, _INNER, hashlib.sha256(self.ipad_msg(m)).digest(), 0, 32)
        return diff(hashlib.sha256(self._out).digest(), 0, want, woff, n) == 0

    def wipe(self) -> None:
        zero(self.w, 0, _W)
        self.tail[0] = self.tail[1] = self.tail[2] = self.tail[3] = 0


class KeyWrap:
    """AES Key Wrap of a 16-byte key under a 16-byte KEK, into the caller's buffer."""

    def __init__(self):
        self._r = bytearray(24)  # A || R1 || R2
        self._blk = bytearray(16)
        self._out = bytearray(16)

    def wrap(self, kek: "ReadableBuffer", key: "ReadableBuffer", koff: int,
             out: "WriteableBuffer", ooff: int) -> None:
        """KW(kek, key[koff:koff + 16]) into out[ooff:ooff + 24]."""
        blk = self._blk
        o = self._out
        _wrap(cryptolib.aes(kek, _ECB).encrypt, blk, o, self._r, blk, o, key, koff, out, ooff)

    def unwrap(self, kek: "ReadableBuffer", src: "ReadableBuffer", soff: int,
               out: "WriteableBuffer", ooff: int) -> bool:
        """Unwrap src[soff:soff + 24] into out[ooff:ooff + 16]; False (and out
        untouched) when the integrity check fails: wrong KEK or tampering."""
        blk = self._blk
        o = self._out
        return _unwrap(cryptolib.aes(kek, _ECB).decrypt, blk, o, self._r, blk, o, src, soff,
                       out, ooff) == 0


def sha256_of(view: "ReadableBuffer") -> bytes:
    """H(x): transcript hashes (public values)."""
    return hashlib.sha256(view).digest()


def sha256_two(a: "ReadableBuffer", b: "ReadableBuffer") -> bytes:
    """H(a || b) without concatenating."""
    h = hashlib.sha256(a)
    h.update(b)
    return h.digest()


if not TYPE_CHECKING:  # mypy's micropython stub types viper functions as NoReturn
    use_python_helpers(False)
