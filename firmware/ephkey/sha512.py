"""SHA-512 (FIPS 180-4) for ports whose hashlib has no sha512.

MicroPython's hashlib offers sha256 (and sha1, md5 with SSL) but no sha512 on
any port (extmod/modhashlib.c); CPace's ciphersuite CPACE-X25519-SHA512 needs
it. ``new()`` returns ``hashlib.sha512()`` where a port has it, else a
``SHA512`` object from here.

``SHA512`` works like a hashlib object (``update``, ``digest``) and adds, for
code that keeps secrets in its own buffers:
- ``digest_into(out, n=64)``: the first n bytes of the digest into ``out``;
- ``wipe()``: zeroes every buffer that held message data or state (the
  block buffer, the chaining value, the message schedule) and starts over;
  ``reset()`` is the same (a fresh hash).
After ``digest``/``digest_into`` the object is finished: ``update`` raises
ValueError until ``reset()``.

Buffers (about 0.9 KiB) are allocated once in the constructor; ``update``
and ``digest_into`` allocate nothing with the viper compression of
_sha512.py. Time is independent of the data (only of its length): no branch
and no table index depends on message bytes.

The compression runs in viper on 32-bit halves (_sha512.py). Without viper
(a port built without the native emitter, or an .mpy for another
architecture) a pure-Python twin on 64-bit ints takes over: correct, but on a
32-bit board every 64-bit value is a heap big int, so it allocates heavily,
is far slower and its timing depends on the data.
"""

import binascii

from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from circuitpython_typing import ReadableBuffer, WriteableBuffer

_native: "Any" = None
try:
    from hashlib import sha512 as _hashlib_sha512

    _native = _hashlib_sha512
except ImportError:
    pass

DIGEST_SIZE = const(64)
BLOCK_SIZE = const(128)
_W_BYTES = const(640)  # W0..W79, two 32-bit words each

# Round constants K0..K79 and initial value H0..H7 (FIPS 180-4 4.2.3, 5.3.5),
# big-endian hex: as int literals they would be big ints on a 32-bit port.
_K_HEX = (
    "428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc"
    "3956c25bf348b53859f111f1b605d019923f82a4af194f9bab1c5ed5da6d8118"
    "d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2"
    "72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694"
    "e49b69c19ef14ad2efbe4786384f25e30fc19dc68b8cd5b5240ca1cc77ac9c65"
    "2de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5"
    "983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4"
    "c6e00bf33da88fc2d5a79147930aa72506ca6351e003826f142929670a0e6e70"
    "27b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df"
    "650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353b"
    "a2bfe8a14cf10364a81a664bbc423001c24b8b70d0f89791c76c51a30654be30"
    "d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8"
    "19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8"
    "391c0cb3c5c95a634ed8aa4ae3418acb5b9cca4f7763e373682e6ff3d6b2b8a3"
    "748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec"
    "90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532b"
    "ca273eceea26619cd186b8c721c0c207eada7dd6cde0eb1ef57d4f7fee6ed178"
    "06f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b"
    "28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c"
    "4cc5d4becb3e42b6597f299cfc657e2a5fcb6fab3ad6faec6c44198c4a475817"
)
_IV = binascii.unhexlify(
    "6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1"
    "510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179"
)


def _py_compress(st, blk, off, nblocks, w, k):
    """Pure-Python twin of _sha512.compress (same arguments; w and k unused)."""
    mask = 0xFFFFFFFFFFFFFFFF
    kk = _py_k()
    for b in range(nblocks):
        p = off + 128 * b
        ws = [int.from_bytes(blk[p + 8 * t:p + 8 * t + 8], "big") for t in range(16)]
        for t in range(16, 80):
            x = ws[t - 15]
            s0 = ((x >> 1) | (x << 63)) ^ ((x >> 8) | (x << 56)) ^ (x >> 7)
            x = ws[t - 2]
            s1 = ((x >> 19) | (x << 45)) ^ ((x >> 61) | (x << 3)) ^ (x >> 6)
            ws.append((s1 + ws[t - 7] + (s0 & mask) + ws[t - 16]) & mask)
        hs = [int.from_bytes(st[8 * j:8 * j + 8], "big") for j in range(8)]
        a, b_, c, d, e, f, g, h = hs
        for t in range(80):
            s1 = ((e >> 14) | (e << 50)) ^ ((e >> 18) | (e << 46)) ^ ((e >> 41) | (e << 23))
            t1 = (h + (s1 & mask) + (g ^ (e & (f ^ g))) + kk[t] + ws[t]) & mask
            s0 = ((a >> 28) | (a << 36)) ^ ((a >> 34) | (a << 30)) ^ ((a >> 39) | (a << 25))
            t2 = ((s0 & mask) + ((a & b_) | (c & (a | b_)))) & mask
            h, g, f, e, d, c, b_, a = g, f, e, (d + t1) & mask, c, b_, a, (t1 + t2) & mask
        for j, v in enumerate((a, b_, c, d, e, f, g, h)):
            st[8 * j:8 * j + 8] = ((hs[j] + v) & mask).to_bytes(8, "big")


_py_k_cache: "list[int]" = []


def _py_k():
    if not _py_k_cache:
        raw = binascii.unhexlify(_K_HEX)
        for t in range(80):
            _py_k_cache.append(int.from_bytes(raw[8 * t:8 * t + 8], "big"))
    return _py_k_cache


_compress = _py_compress
_K = bytearray(0)
VIPER = False
if not TYPE_CHECKING:  # mypy's micropython stub types viper functions as NoReturn
    try:
        from . import _sha512

        _K = bytearray(_W_BYTES)  # 160 native-order words: read by ptr32 in the rounds
        _sha512.fill_words(_K, binascii.unhexlify(_K_HEX), 160)
        _compress = _sha512.compress
        VIPER = True
    except (ImportError, SyntaxError, ValueError):
        # SyntaxError: this port has no viper emitter; ValueError: an .mpy
        # built for another architecture. The Python twin stays in place.
        pass


def use_python_twin(on=True):
    """Tests: run the pure-Python compression (on=True) or viper's again."""
    global _compress
    if on or not VIPER:
        _compress = _py_compress
    else:
        from . import _sha512

        _compress = _sha512.compress


class SHA512:
    """An incremental SHA-512 whose buffers are allocated once (see module doc)."""

    digest_size = DIGEST_SIZE
    block_size = BLOCK_SIZE

    def __init__(self, data: "ReadableBuffer | None" = None):
        self._st = bytearray(64)
        self._buf = bytearray(BLOCK_SIZE)
        self._w = bytearray(_W_BYTES)
        self._n = 0  # bytes waiting in _buf
        self._len = 0  # message length in bytes so far
        self._done = False
        self.reset()
        if data is not None:
            self.update(data)

    def reset(self) -> None:
        """Zero every buffer and start a new hash."""
        self.wipe()

    def wipe(self) -> None:
        """Zero the block buffer, the schedule and the state; start over."""
        buf = self._buf
        for i in range(BLOCK_SIZE):
            buf[i] = 0
        w = self._w
        for i in range(_W_BYTES):
            w[i] = 0
        st = self._st
        iv = _IV
        for i in range(64):
            st[i] = iv[i]
        self._n = 0
        self._len = 0
        self._done = False

    def update(self, data: "ReadableBuffer") -> None:
        if self._done:
            raise ValueError("sha512: finished")
        n = len(data)
        self._len += n
        i = 0
        buf = self._buf
        fill = self._n
        if fill:
            take = BLOCK_SIZE - fill
            if take > n:
                take = n
            for j in range(take):
                buf[fill + j] = data[j]
            i = take
            fill += take
            if fill < BLOCK_SIZE:
                self._n = fill
                return
            _compress(self._st, buf, 0, 1, self._w, _K)
            fill = 0
        whole = (n - i) >> 7
        if whole:
            _compress(self._st, data, i, whole, self._w, _K)
            i += whole << 7
        for j in range(n - i):
            buf[j] = data[i + j]
        self._n = n - i

    def digest_into(self, out: "WriteableBuffer", n: int = DIGEST_SIZE) -> None:
        """Finish; write the first n bytes of the digest into out[0:n]."""
        if not 0 <= n <= DIGEST_SIZE or len(out) < n:
            raise ValueError("sha512: output length")
        if self._done:
            raise ValueError("sha512: finished")
        self._done = True
        buf = self._buf
        fill = self._n
        buf[fill] = 0x80
        fill += 1
        if fill > BLOCK_SIZE - 16:  # no room for the 128-bit length here
            for j in range(fill, BLOCK_SIZE):
                buf[j] = 0
            _compress(self._st, buf, 0, 1, self._w, _K)
            fill = 0
        for j in range(fill, BLOCK_SIZE - 8):
            buf[j] = 0
        # Bit length, big-endian, from the byte count: shifts of a small int.
        length = self._len
        buf[BLOCK_SIZE - 1] = (length << 3) & 0xFF
        length >>= 5
        for j in range(2, 9):
            buf[BLOCK_SIZE - j] = length & 0xFF
            length >>= 8
        _compress(self._st, buf, 0, 1, self._w, _K)
        st = self._st
        for j in range(n):
            out[j] = st[j]

    def digest(self) -> bytes:
        out = bytearray(DIGEST_SIZE)
        self.digest_into(out)
        return bytes(out)

    def hexdigest(self) -> str:
        return binascii.hexlify(self.digest()).decode()


def new(data: "ReadableBuffer | None" = None):
    """hashlib.sha512 where the port has it, else SHA512 from this module."""
    if _native is not None:
        return _native() if data is None else _native(data)
    return SHA512(data)
