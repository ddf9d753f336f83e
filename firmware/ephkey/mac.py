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


_NAMES = ("copy", "zero", "pads_to", "diff", "xor_diff", "xor", "wrap", "unwrap", "frame_head",
          "mac_key", "mac_expand", "mac_mac")


def use(impl):
    """Call the helpers of ``impl``: the viper functions (_hs.py) or their
    Python twins (_hs_py.py). Everything calls them through this module (the
    stations import them from here, so tests switch before building stations)."""
    g = globals()
    for name in _NAMES:
        f = getattr(impl, name)
        if name.startswith("mac_"):
            setattr(Mac, name[4:], f)  # a method: key, expand, mac
        else:
            g["_" + name if name in ("wrap", "unwrap") else name] = f


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
        self.tail = bytearray(36)  # TH1 || SRK_frame[0:4] (KEK2), n_s || n_f (PRK)
        self.jb = bytearray(1)  # u8(j) of KEK_j and CK_{j+1}

    def ipad_msg(self, m: int) -> memoryview:
        """The view of ipad || the m-byte message."""
        v = self._in[m]
        if v is None:
            v = self._in[m] = self._mv[0:MSG + m]
        return v

    # key, expand and mac are _hs.py's mac_key, mac_expand, mac_mac (or their
    # _hs_py.py twins), installed by use(); their signatures:
    if TYPE_CHECKING:
        def key(self, key: "ReadableBuffer", koff: int, n: int) -> None:
            """Install a key of n <= 64 bytes (the spec's keys are 16 to 32)."""

        def expand(self, label: bytes, x: "ReadableBuffer | None", xoff: int, xlen: int,
                   out: "WriteableBuffer", off: int, n: int) -> None:
            """HKDF-Expand for n <= 32: HMAC(key, label || x[xoff:xoff + xlen] || 0x01)[0:n]."""

        def mac(self, a: "ReadableBuffer", aoff: int, alen: int, b: "ReadableBuffer",
                boff: int, blen: int, out: "WriteableBuffer", off: int, n: int) -> None:
            """HMAC(key, a[aoff:aoff + alen] || b[boff:boff + blen])[0:n]."""

    def salt(self, a: "ReadableBuffer", aoff: int, b: "ReadableBuffer", boff: int) -> None:
        """Install the key a[aoff:aoff + 12] || b[boff:boff + 12] (n_s || n_f)."""
        t = self.tail
        copy(t, 0, a, aoff, 12)
        copy(t, 12, b, boff, 12)
        self.key(t, 0, 24)
        zero(t, 0, 24)

    def save(self, store: "WriteableBuffer", off: int) -> None:
        """Copy the installed key's pads (128 bytes) into store[off:off + 128]."""
        copy(store, off, self.w, 0, 64)
        copy(store, off + 64, self.w, _OPAD, 64)

    def load(self, store: "ReadableBuffer", off: int) -> None:
        copy(self.w, 0, store, off, 64)
        copy(self.w, _OPAD, store, off + 64, 64)

    def expand_j(self, label: bytes, j: int, out: "WriteableBuffer", off: int, n: int) -> None:
        """HKDF-Expand(key, label || u8(j), n): KEK_j and the next chain key (3.6)."""
        jb = self.jb
        jb[0] = j
        self.expand(label, jb, 0, 1, out, off, n)

    def wipe(self) -> None:
        zero(self.w, 0, _W)
        zero(self.tail, 0, 36)


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


VIPER = False  # _hs.py loaded: this port has the viper emitter
if TYPE_CHECKING:  # mypy's micropython stub types viper functions as NoReturn
    from ._hs_py import (  # re-exported: the stations import these from here
        copy as copy,
        diff as diff,
        frame_head as frame_head,
        pads_to as pads_to,
        unwrap as _unwrap,
        wrap as _wrap,
        xor as xor,
        xor_diff as xor_diff,
        zero as zero,
    )
else:
    try:
        from . import _hs as _impl

        VIPER = True
    except (ImportError, SyntaxError, ValueError):
        # SyntaxError: this port has no viper emitter; ValueError: an .mpy
        # built for another architecture. Only then do the Python twins ship
        # (tools/closure.py leaves them out of builds for an arch with viper).
        from . import _hs_py as _impl
    use(_impl)
