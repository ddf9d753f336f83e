"""Elligator 2 map to Curve25519, u-coordinate only, for CPace's generator.

``map_to_curve_into(out, r)`` is map_to_curve_elligator2 of RFC 9380
section 6.7.1 for Curve25519 (J = A = 486662, K = 1, Z = 2), as
draft-irtf-cfrg-cpace-21 section 8.2 applies it: the 32 input bytes are
decoded as an RFC 7748 u-coordinate (little-endian, bit 255 cleared, taken
mod p) and ``out`` receives the u-coordinate of the point, 32 bytes
little-endian, canonical (< p). The v-coordinate is not computed: CPace
drops it.

    x1 = -A * inv0(1 + 2 * r**2); x1 = -A if x1 == 0
    gx1 = x1 * (x1 * (x1 + A) + 1)
    x = x1 if is_square(gx1) else -x1 - A

(``1 + 2 * r**2`` is never 0: -1/2 is not a square mod p, so the x1 == 0
case cannot happen on Curve25519; it is kept, as a select, as RFC 9380
writes it.)

``map_steps(out, r)`` is the same map as a generator that yields after at
most ``STEP`` field squarings (and a few multiplications): suite 3's jobs
(docs/protocol.md 15.10, 4.7) run it one step per ``work()`` call, so no call
holds the event loop for the whole map (some 520 squarings of 255-bit big
ints: about 11 million instructions on the emulated Cortex-M3, 0.14 to 0.25 s
on an RP2040).

Field arithmetic sits behind a handful of functions (``fe_mul``,
``fe_sqr``, ``fe_inv``, ``fe_is_square``, ``fe_select``, ``fe_from_bytes``,
``fe_to_bytes_into``): Python big ints today, replaceable one for one by a
fixed-limb viper field module later. Pairing runs the map once per run.

Side channels. The input is derived from the pairing code, a low-entropy
secret: a leak of which branch the map takes (is gx1 a square?) across runs
with known sid would let an attacker filter candidate codes offline, one bit
per observed run. So:
- constant in structure: no branch and no table index depends on the input;
  the inversion and the square test are fixed addition chains (public
  exponents); the choice between x1 and x2 is a masked select whose operands
  carry tag bits above the value, so both choices run the same big-int
  operations on operands of the same length (as x25519.py does for its
  swap); the square test's result gets a tag before its bit is read;
- NOT constant time: MicroPython's big ints take time in proportion to their
  operands' lengths in limbs, ``%`` is a long division whose time depends on
  the values, and every operation allocates (the garbage collector's timing
  follows). Values are not secret-dependent in length by design, but a value
  that happens to have leading zero limbs runs faster. Intermediate big ints
  cannot be zeroed; they go to the garbage collector.
Moving these functions onto fixed-limb viper code removes the length effects.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from circuitpython_typing import ReadableBuffer

_P = (1 << 255) - 19
_A = 486662
_LOW255 = (1 << 255) - 1
# Select (see fe_select): tags above any field element (< 2**255), and masks
# of one length for either choice: _MASKS - 1 keeps bits 256..258 (no low
# bits: keep a), _MASKS - 2 is bits 257, 258 and all 256 low bits (take b).
_TAG_A = 1 << 257
_TAG_B = 1 << 258
_MASKS = (7 << 256) + 1
_SQ_TAG = 1 << 256  # on the square test's result, so reading its bit is length-blind


# ---------------------------------------------------------------- field interface


def fe_from_bytes(b: "ReadableBuffer") -> int:
    """RFC 7748 decodeUCoordinate for 255 bits, then mod p (32 bytes LE in)."""
    if len(b) != 32:
        raise ValueError("elligator2: 32-byte input")
    return (int.from_bytes(b, "little") & _LOW255) % _P


def fe_to_bytes_into(out: bytearray, x: int) -> None:
    """out[0:32] = x mod p, little-endian."""
    out[:] = (x % _P).to_bytes(32, "little")


def fe_mul(a: int, b: int) -> int:
    return a * b % _P


def fe_sqr(a: int) -> int:
    return a * a % _P


STEP = 16  # squarings per step of map_steps: under a suite-2 X25519 slice (tools/bench_s3.py)


def _sqr_n(x: int, n: int):
    """x ** (2 ** n), yielding every STEP squarings (a generator: yield from it)."""
    p = _P
    while n > 0:
        k = n if n < STEP else STEP
        for _ in range(k):
            x = x * x % p
        n -= k
        if n:
            yield
    return x


def _pow_2_250_1(z: int):
    """(z ** (2**250 - 1), z ** 11): the shared head of both chains below."""
    z2 = fe_sqr(z)
    z9 = fe_mul((yield from _sqr_n(z2, 2)), z)
    z11 = fe_mul(z9, z2)
    e5 = fe_mul(fe_sqr(z11), z9)  # z ** (2**5 - 1)
    e10 = fe_mul((yield from _sqr_n(e5, 5)), e5)
    e20 = fe_mul((yield from _sqr_n(e10, 10)), e10)
    e40 = fe_mul((yield from _sqr_n(e20, 20)), e20)
    yield
    e50 = fe_mul((yield from _sqr_n(e40, 10)), e10)
    e100 = fe_mul((yield from _sqr_n(e50, 50)), e50)
    yield
    e200 = fe_mul((yield from _sqr_n(e100, 100)), e100)
    yield
    e250 = fe_mul((yield from _sqr_n(e200, 50)), e50)
    return e250, z11


def _inv_steps(z: int):
    e250, z11 = yield from _pow_2_250_1(z)
    return fe_mul((yield from _sqr_n(e250, 5)), z11)


def _is_square_steps(z: int):
    e250, _ = yield from _pow_2_250_1(z)
    z6 = fe_mul(fe_sqr(fe_sqr(z)), fe_sqr(z))
    legendre = fe_mul((yield from _sqr_n(e250, 4)), z6)
    # p - 1 has bit 254 set; 0 and 1 do not. The tag keeps the operand's
    # length the same for either answer.
    return 1 - (((legendre + _SQ_TAG) >> 254) & 1)


def _run(gen):
    """Run a step generator to its end; its return value."""
    try:
        while True:
            next(gen)
    except StopIteration as e:
        return e.value


def fe_inv(z: int) -> int:
    """z ** (p - 2) = 1/z, and 0 for 0 (RFC 9380's inv0). p - 2 = 2**255 - 21."""
    return _run(_inv_steps(z))


def fe_is_square(z: int) -> int:
    """1 if z is a square mod p (0 included, as RFC 9380's is_square), else 0.

    Euler's criterion: z ** ((p - 1) / 2) is 1, 0 or p - 1;
    (p - 1) / 2 = 2**254 - 10 = (2**250 - 1) * 16 + 6.
    """
    return _run(_is_square_steps(z))


def fe_select(a: int, b: int, bit: int) -> int:
    """b if bit else a (bit is 0 or 1; a, b < 2**255), by masks, not a branch."""
    ta = a + _TAG_A
    d = (_MASKS - (bit + 1)) & (ta ^ (b + _TAG_B))
    return (ta ^ d) - _TAG_B


# ---------------------------------------------------------------- the map


def map_to_curve_into(out: bytearray, r_bytes: "ReadableBuffer") -> None:
    """out = u-coordinate of Elligator2(decodeUCoordinate(r_bytes)), 32 bytes LE."""
    _run(map_steps(out, r_bytes))


def map_steps(out: bytearray, r_bytes: "ReadableBuffer"):
    """map_to_curve_into as a generator: each next() runs at most STEP
    squarings; ``out`` is written by the last one (StopIteration)."""
    if len(out) != 32:
        raise ValueError("elligator2: 32-byte output")
    p = _P
    r = fe_from_bytes(r_bytes)
    t = (1 + 2 * fe_sqr(r)) % p
    x1 = fe_mul(p - _A, (yield from _inv_steps(t)))
    x1 = fe_select(x1, p - _A, _is_zero(x1))
    gx1 = fe_mul(x1, fe_mul(x1, x1 + _A) + 1)
    x2 = (2 * p - x1 - _A) % p
    x = fe_select(x2, x1, (yield from _is_square_steps(gx1)))
    fe_to_bytes_into(out, x)


def _is_zero(x: int) -> int:
    """1 if x == 0 (x < p), else 0: (x - 1) goes negative only for 0."""
    return ((x + _TAG_A - 1) >> 257) ^ 1
