"""X25519 (RFC 7748) in pure MicroPython on big ints.

API: keys and results are 32-byte little-endian strings (bytes, bytearray or
memoryview in).

- ``x25519_into(out, scalar, u)`` / ``x25519_base_into(out, scalar)`` write
  the result into the caller's 32-byte buffer ``out`` (so the caller owns,
  and zeroes, every copy of a secret result);
- ``X25519Job``: the same computation in slices, for an event loop that must
  not stall: ``job.start(out, scalar, u)``, then ``job.step(budget)`` until it
  returns True; ``job.ok`` is then False for an all-zero result;
- ``x25519(scalar, u)``, ``x25519_base(scalar)`` and ``keypair(rng)`` return
  new ``bytes`` (tests and tools).

The scalar is clamped and the top bit of ``u`` is masked as RFC 7748
section 5 says; an all-zero result (``u`` of small order) raises ValueError,
the check of section 6.1.

The ladder follows the pseudo-code of RFC 7748 section 5: one step per scalar
bit, the same operations whatever the bit, and the conditional swap done with
masks (``d = mask & (x2 ^ x3)``), never with a branch or a secret index.

Side channels: there is no branch and no table index on the scalar, but this
is NOT constant time, because MicroPython's big ints are not:

- mpz multiplication, division, shifts and bitwise operations take time in
  proportion to the operands' lengths in limbs (16-bit limbs on 32-bit
  boards), and mpz drops leading zero limbs: a value that happens to be
  short (a top limb of zero, about 1 in 32768 values on a board) makes its
  operations faster. The swap is kept the same length whatever the swap bit
  (see _ladder): counted with valgrind on the unix port, it runs the same
  number of instructions for either bit (with a plain 0 mask, 8% fewer
  without a swap), while whole X25519 runs with different random scalars
  differ by up to 0.3% through their values' lengths.
- every operation allocates a new big int; when the garbage collector runs,
  and for how long, depends on the heap, and so partly on those lengths.
- the inversion is a fixed addition chain of ``%`` (long division, whose
  time depends on the values). Built-in 3-argument ``pow`` is not used: it
  branches on the exponent bits (public here, but slower) and is missing on
  ports built without MICROPY_PY_BUILTINS_POW3.

What that means on a board: an attacker who can time or trace (power, EM)
many X25519 operations with one private key precisely could, in principle,
learn something about that key from these length effects. Here the private
keys are SRKs that live for one interval and are then erased, which bounds
how many operations one key sees; timing over UART or BLE adds far more
jitter than these differences. Do not use this module for long-lived keys on
boards an attacker can probe.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from circuitpython_typing import ReadableBuffer

_P = (1 << 255) - 19
_LOW255 = (1 << 255) - 1  # t = hi * 2**255 + lo and 2**255 = 19 (mod p)
_TAG = 1 << 257  # a bit above every reduced ladder value (all < 2**256)
_TAG2 = 2 * _TAG
# mask = _MASKS - (swap + 1) is 3 * 2**256 (low 256 bits 0: keep) or
# 3 * 2**256 - 1 (low 256 bits 1: swap); both hold _TAG (see _ladder).
_MASKS = (3 << 256) + 1
_P512 = _P << 9  # a multiple of p above any BB: keeps E = AA - BB + _P512 >= 0
_A24_PLUS_1 = 121666  # (A + 2) / 4 for A = 486662: z2 = E * (BB + 121666 * E)


def _ladder(k, u):
    """Return (x2, z2) with x2 / z2 = the u-coordinate of k * u (k: clamped bytes).

    Reduction: a fold ``(r & _LOW255) + 19 * (r >> 255)`` is congruent to r
    mod p and costs about half of ``r % p`` (mpz long division). One fold
    takes a product of two ~256-bit values to ~265 bits, a second one below
    2**256: a step's outputs get two folds, values used once more inside the
    step get one. For inputs below 2**256: A, C < 2**257; |B|, |D| < 2**256;
    AA, BB < 2**265; |DA|, |CB| < 2**264; E < 2**266; outputs < 2**256 again
    (non-negative, not canonical: the caller reduces mod p at the end).

    Swap: with a mask of 0, ``mask & (x2 ^ x3)`` would be a zero-length big
    int, and a step that does not swap would do measurably less work. So x3
    and z3 enter each swap carrying _TAG (bit 257, above the value), which
    is then set in ``x2 ^ x3``, and both masks include _TAG: dummy always
    has bit 257 and the same length. Either way the swap moves the tag from
    x3/z3 to x2/z2, ``A = x2 + z2 - 2 * _TAG`` drops it (B = x2 - z2 cancels
    it), and the new x3 and z3 get it back at the end of the step. The mask
    is made by subtracting 1 or 2, not 0 or 1: mpz would hold a 0 in zero
    limbs, another length difference.
    """
    low = _LOW255
    tag = _TAG
    tag2 = _TAG2
    masks = _MASKS
    p512 = _P512
    x1 = u
    x2, z2, x3, z3 = 1, 0, u + tag, 1 + tag
    swap = 0
    for t in range(254, -1, -1):
        bit = (k[t >> 3] >> (t & 7)) & 1
        swap ^= bit
        mask = masks - (swap + 1)
        dummy = mask & (x2 ^ x3)
        x2 ^= dummy
        x3 ^= dummy
        dummy = mask & (z2 ^ z3)
        z2 ^= dummy
        z3 ^= dummy
        swap = bit

        a = x2 + z2 - tag2
        r = a * a
        aa = (r & low) + 19 * (r >> 255)
        b = x2 - z2
        r = b * b
        bb = (r & low) + 19 * (r >> 255)
        e = aa + p512 - bb
        c = x3 + z3
        d = x3 - z3
        r = d * a
        da = (r & low) + 19 * (r >> 255)
        r = c * b
        cb = (r & low) + 19 * (r >> 255)

        r = da + cb
        r = r * r
        r = (r & low) + 19 * (r >> 255)
        x3 = (r & low) + 19 * (r >> 255) + tag
        r = da - cb
        r = r * r
        r = (r & low) + 19 * (r >> 255)
        r = x1 * r
        r = (r & low) + 19 * (r >> 255)
        z3 = (r & low) + 19 * (r >> 255) + tag
        r = aa * bb
        r = (r & low) + 19 * (r >> 255)
        x2 = (r & low) + 19 * (r >> 255)
        r = e * (bb + _A24_PLUS_1 * e)
        r = (r & low) + 19 * (r >> 255)
        z2 = (r & low) + 19 * (r >> 255)

    mask = masks - (swap + 1)
    x2 ^= mask & (x2 ^ x3)
    z2 ^= mask & (z2 ^ z3)
    return x2 - tag, z2 - tag


def _sqr_n(x, n):
    p = _P
    for _ in range(n):
        x = x * x % p
    return x


def _invert(z):
    """z ** (p - 2) mod p (Fermat): 254 squarings and 11 multiplications.

    p - 2 = 2**255 - 21: the chain builds z ** (2**k - 1) for k = 5, 10, 20,
    40, 50, 100, 200, 250, then shifts in the low bits 01011 (= 11).
    """
    p = _P
    z2 = z * z % p
    z9 = _sqr_n(z2, 2) * z % p
    z11 = z9 * z2 % p
    e5 = z11 * z11 % p * z9 % p  # z ** 31 = z ** (2**5 - 1)
    e10 = _sqr_n(e5, 5) * e5 % p
    e20 = _sqr_n(e10, 10) * e10 % p
    e40 = _sqr_n(e20, 20) * e20 % p
    e50 = _sqr_n(e40, 10) * e10 % p
    e100 = _sqr_n(e50, 50) * e50 % p
    e200 = _sqr_n(e100, 100) * e100 % p
    e250 = _sqr_n(e200, 50) * e50 % p
    return _sqr_n(e250, 5) * z11 % p


def x25519(scalar: "ReadableBuffer", u: "ReadableBuffer") -> bytes:
    """RFC 7748 X25519: the u-coordinate of clamp(scalar) * u, 32 bytes LE.

    Raises ValueError for inputs that are not 32 bytes long and when the
    result is all zeros (u is a point of small order).
    """
    if len(scalar) != 32 or len(u) != 32:
        raise ValueError("x25519: 32-byte inputs")
    k = bytearray(scalar)
    k[0] &= 248
    k[31] = (k[31] & 127) | 64
    # Mask bit 255; non-canonical u (p <= u < 2**255) is taken mod p.
    x = (int.from_bytes(u, "little") & _LOW255) % _P
    x2, z2 = _ladder(k, x)
    for i in range(32):  # our copy of the scalar; the big ints go to the GC
        k[i] = 0
    out = x2 * _invert(z2 % _P) % _P
    if out == 0:
        raise ValueError("x25519: low-order point")
    return out.to_bytes(32, "little")


_BASE = b"\x09" + bytes(31)


def x25519_base(scalar: "ReadableBuffer") -> bytes:
    """The public key of ``scalar``: X25519(scalar, 9)."""
    return x25519(scalar, _BASE)


def keypair(rng: "Callable[[int], bytes]") -> "tuple[bytes, bytes]":
    """(private, public) from 32 bytes of ``rng(32)`` (e.g. os.urandom).

    The private key is returned as drawn; X25519 clamps it on every use.
    """
    private = bytes(rng(32))
    if len(private) != 32:
        raise ValueError("x25519: rng gave %d bytes" % len(private))
    return private, x25519_base(private)


def x25519_into(out: bytearray, scalar: "ReadableBuffer", u: "ReadableBuffer") -> None:
    """X25519 into ``out`` (32 bytes). On an all-zero result ``out`` is zeroed
    and ValueError raised, as x25519() does."""
    if len(out) != 32:
        raise ValueError("x25519: 32-byte output")
    try:
        out[:] = x25519(scalar, u)
    except ValueError:
        for i in range(32):
            out[i] = 0
        raise


def x25519_base_into(out: bytearray, scalar: "ReadableBuffer") -> None:
    x25519_into(out, scalar, _BASE)


class X25519Job:
    """One X25519 run in slices: ``start``, then ``step`` until it returns True.

    ``budget`` is a number of ladder steps (255 in all, plus the inversion).
    This big-int version does the whole computation in its first step.
    """

    def __init__(self):
        self.out = bytearray(0)
        self.ok = False
        self.done = True
        self._k = bytearray(32)
        self._u = bytearray(32)

    def start(self, out, scalar, u=None):
        if len(scalar) != 32 or len(out) != 32 or (u is not None and len(u) != 32):
            raise ValueError("x25519: 32-byte inputs")
        self.out = out
        self._k[:] = scalar
        self._u[:] = _BASE if u is None else u
        self.ok = False
        self.done = False

    def step(self, budget=255):
        if self.done:
            return True
        try:
            x25519_into(self.out, self._k, self._u)
            self.ok = True
        except ValueError:
            self.ok = False
        self.wipe()
        self.done = True
        return True

    def wipe(self):
        for i in range(32):
            self._k[i] = 0
