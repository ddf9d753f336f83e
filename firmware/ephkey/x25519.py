"""X25519 (RFC 7748) on fixed limbs in viper: constant time, nothing allocated per call.

API: keys and results are 32-byte little-endian strings (bytes, bytearray or
memoryview in).

- ``x25519_into(out, scalar, u)`` / ``x25519_base_into(out, scalar)`` write
  the result into the caller's 32-byte buffer ``out`` (so the caller owns,
  and zeroes, every copy of a secret result); they allocate nothing;
- ``X25519Job``: the same computation in slices, for an event loop that must
  not stall: ``job.start(out, scalar, u)``, then ``job.step(budget)`` until it
  returns True; ``job.ok`` is then False for an all-zero result;
- ``x25519(scalar, u)``, ``x25519_base(scalar)`` and ``keypair(rng)`` return
  new ``bytes`` (tests and tools).

The scalar is clamped and the top bit of ``u`` is masked as RFC 7748
section 5 says; non-canonical ``u`` (p <= u < 2**255) is taken mod p; an
all-zero result (``u`` of small order) raises ValueError, the check of
section 6.1.

How: the field arithmetic is ``_fe25519`` (viper, 20 limbs of 13 bits in one
preallocated state buffer per job). The ladder step of RFC 7748 section 5 is
the program ``_STEP`` below, run 255 times; the inversion is Fermat's
``z ** (p - 2)`` as a fixed chain of 254 squarings and 11 multiplications
(``_INVERT``), cut into slices of about one ladder step's work each.

Side channels: what runs does not depend on the scalar or on ``u``. No branch
and no memory address depends on a secret (so caches do not matter either):
the conditional swap is a mask (``d = mask & (x2 ^ x3)``), every field
operation runs the same instruction sequence whatever its inputs (fixed
limbs, carries by shifts and masks, no early exit), the final reduction mod p
is a masked select, and nothing is allocated, so the garbage collector never
runs because of a key. On the emulated Cortex-M3 an X25519 counts the same
instructions whatever its inputs, to within the timer's noise
(tools/bench_mp/x25519_cost.py). The only branch on a value is
the all-zero check at the very end, which raises. What instruction counts do
not show: a multiply whose time depends on its operands. Viper emits ``MULS``
(32-bit result): single-cycle on the RP2040's Cortex-M0+ and on the
Cortex-M3/M4/M33 (only the long multiplies, which viper does not use, exit
early on the M3); check the core's manual on other boards. Also not covered:
power or EM traces of the values themselves, which a probe on the board could
record; the private keys here are SRKs that live for one interval and are
then erased, which bounds how many operations one key sees.

The state buffer holds a clamped copy of the scalar and the ladder's values:
it is zeroed when a computation ends (result written or refused) and by
``X25519Job.wipe()``.
"""

from micropython import const

from . import _fe25519 as _fe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from circuitpython_typing import ReadableBuffer

_LADDER_STEPS = const(255)
# Largest squaring run in one inversion operation: about one ladder step's work.
_SQR_RUN = const(12)
_BASE = b"\x09" + bytes(31)

# One ladder step, RFC 7748 section 5: the swap for this bit, then
#   A = x2 + z2, AA = A^2, B = x2 - z2, BB = B^2, E = AA - BB, C = x3 + z3,
#   D = x3 - z3, DA = D * A, CB = C * B, x3 = (DA + CB)^2,
#   z3 = x1 * (DA - CB)^2, x2 = AA * BB, z2 = E * (AA + a24 * E).
_STEP_OPS = (
    (_fe.CSWAP, 0, 0, 0),
    (_fe.ADD, _fe.A, _fe.X2, _fe.Z2),
    (_fe.SUB, _fe.B, _fe.X2, _fe.Z2),
    (_fe.ADD, _fe.C, _fe.X3, _fe.Z3),
    (_fe.SUB, _fe.D, _fe.X3, _fe.Z3),
    (_fe.SQR, _fe.AA, _fe.A, 1),
    (_fe.SQR, _fe.BB, _fe.B, 1),
    (_fe.MUL, _fe.DA, _fe.D, _fe.A),
    (_fe.MUL, _fe.CB, _fe.C, _fe.B),
    (_fe.SUB, _fe.E, _fe.AA, _fe.BB),
    (_fe.ADD, _fe.X3, _fe.DA, _fe.CB),
    (_fe.SQR, _fe.X3, _fe.X3, 1),
    (_fe.SUB, _fe.Z3, _fe.DA, _fe.CB),
    (_fe.SQR, _fe.Z3, _fe.Z3, 1),
    (_fe.MUL, _fe.Z3, _fe.Z3, _fe.X1),
    (_fe.MUL, _fe.X2, _fe.AA, _fe.BB),
    (_fe.A24, _fe.Z2, _fe.AA, _fe.E),
    (_fe.MUL, _fe.Z2, _fe.Z2, _fe.E),
)

# After the ladder: undo the last swap, then x2 * z2 ** (p - 2), p - 2 = 2**255 - 21.
# The chain builds z ** (2**k - 1) for k = 5, 10, 20, 40, 50, 100, 200, 250,
# then shifts in the low bits 01011 (= 11). Slots of the ladder are reused:
# A = z**11, B = z**(2**k - 1) as it grows, C and D are scratch; X1 the result.
_Z, _Z11, _EK, _T, _U, _R = _fe.Z2, _fe.A, _fe.B, _fe.C, _fe.D, _fe.X1
_INVERT_OPS = (
    (_fe.CSWAP, 0, 0, 0),
    (_fe.SQR, _Z11, _Z, 1),  # z**2
    (_fe.SQR, _EK, _Z11, 2),  # z**8
    (_fe.MUL, _EK, _EK, _Z),  # z**9
    (_fe.MUL, _Z11, _EK, _Z11),  # z**11
    (_fe.SQR, _T, _Z11, 1),  # z**22
    (_fe.MUL, _EK, _T, _EK),  # z**31 = z**(2**5 - 1)
    (_fe.SQR, _T, _EK, 5),
    (_fe.MUL, _EK, _T, _EK),  # 2**10 - 1
    (_fe.SQR, _T, _EK, 10),
    (_fe.MUL, _U, _T, _EK),  # 2**20 - 1 (B keeps 2**10 - 1)
    (_fe.SQR, _T, _U, 20),
    (_fe.MUL, _T, _T, _U),  # 2**40 - 1
    (_fe.SQR, _T, _T, 10),
    (_fe.MUL, _EK, _T, _EK),  # 2**50 - 1
    (_fe.SQR, _T, _EK, 50),
    (_fe.MUL, _U, _T, _EK),  # 2**100 - 1 (B keeps 2**50 - 1)
    (_fe.SQR, _T, _U, 100),
    (_fe.MUL, _T, _T, _U),  # 2**200 - 1
    (_fe.SQR, _T, _T, 50),
    (_fe.MUL, _EK, _T, _EK),  # 2**250 - 1
    (_fe.SQR, _EK, _EK, 5),
    (_fe.MUL, _EK, _EK, _Z11),  # z**(2**255 - 21) = 1 / z
    (_fe.MUL, _R, _fe.X2, _EK),
)


def _program(ops):
    prog = bytearray([len(ops)])
    for op in ops:
        prog.extend(bytes(op))
    return bytes(prog)


def _slices(ops):
    """Cut a program into pieces of about one ladder step's work each: squaring
    runs longer than _SQR_RUN are split, then pieces filled up to that cost."""
    flat = []
    for op in ops:
        if op[0] == _fe.SQR:
            src, n = op[2], op[3]
            while n:
                k = min(n, _SQR_RUN)
                flat.append((_fe.SQR, op[1], src, k))
                src = op[1]
                n -= k
        else:
            flat.append(op)
    pieces = []
    cur: list[tuple[int, int, int, int]] = []
    cost = 0
    for op in flat:
        c = op[3] if op[0] == _fe.SQR else 2
        if cur and cost + c > _SQR_RUN:
            pieces.append(_program(cur))
            cur = []
            cost = 0
        cur.append(op)
        cost += c
    pieces.append(_program(cur))
    return tuple(pieces)


_STEP = _program(_STEP_OPS)
_INVERT = _slices(_INVERT_OPS)
# Work units of one run: the ladder steps, then the inversion's pieces.
UNITS = _LADDER_STEPS + len(_INVERT)
# Units per slice for an event loop: about 12-15 ms on an RP2040 (X25519Job).
SLICE = const(32)


class X25519Job:
    """One X25519 run in slices: ``start``, then ``step`` until it returns True.

    ``budget`` counts work units: a ladder step, or a piece of the inversion
    of at most the same cost; a whole run is UNITS units (255 + 26). Measured
    on the emulated Cortex-M3 running the armv6m build: a unit is at most
    about 40,000 instructions, a whole X25519 9.6 million. An RP2040 runs
    about 125 million instructions a second at best; this code is heavy in
    loads and stores (2 cycles on a Cortex-M0+), so count 1.3 to 1.5 cycles
    per instruction: a unit is about 0.4-0.5 ms there, and step(SLICE) (32
    units, 1.1 million instructions) 12-15 ms, under the 20 ms an event loop
    may be held. The job's state buffer is allocated once, here; start() and
    step() allocate nothing.
    """

    def __init__(self):
        self.out = bytearray(0)
        self.ok = False
        self.done = True
        self._st = bytearray(_fe.STATE_BYTES)
        self._unit = UNITS

    def start(self, out: bytearray, scalar: "ReadableBuffer", u: "ReadableBuffer | None" = None
              ) -> None:
        if len(scalar) != 32 or len(out) != 32 or (u is not None and len(u) != 32):
            raise ValueError("x25519: 32-byte inputs")
        st = self._st
        _fe.start(st, scalar)
        _fe.load(st, _fe.X1, _BASE if u is None else u)
        _fe.load(st, _fe.X3, _BASE if u is None else u)
        _fe.set_small(st, _fe.X2, 1)
        _fe.set_small(st, _fe.Z2, 0)
        _fe.set_small(st, _fe.Z3, 1)
        self.out = out
        self.ok = False
        self.done = False
        self._unit = 0

    def step(self, budget: int = UNITS) -> bool:
        """Run up to ``budget`` work units; True once the result is in ``out``."""
        if self.done:
            return True
        st = self._st
        run: Any = _fe.run
        unit = self._unit
        end = min(unit + budget, UNITS)
        while unit < end and unit < _LADDER_STEPS:
            run(0, 0, st, _STEP)
            unit += 1
        while unit < end:
            run(0, 0, st, _INVERT[unit - _LADDER_STEPS])
            unit += 1
        self._unit = unit
        if unit < UNITS:
            return False
        self.ok = _fe.freeze(self.out, st, _R, _T) != 0
        # out is all zero when the result is refused: nothing to clear there.
        _fe.wipe(st)
        self.done = True
        return True

    def wipe(self) -> None:
        """Abandon the run and zero the state (scalar copy and ladder values)."""
        _fe.wipe(self._st)
        self.done = True
        self.ok = False
        self._unit = UNITS


_JOB = X25519Job()


def x25519_into(out: bytearray, scalar: "ReadableBuffer", u: "ReadableBuffer") -> None:
    """X25519 into ``out`` (32 bytes). On an all-zero result ``out`` is zeroed
    and ValueError raised. Not re-entrant (one module-wide state buffer)."""
    if len(out) != 32:
        raise ValueError("x25519: 32-byte output")
    job = _JOB
    job.start(out, scalar, u)
    job.step(UNITS)
    if not job.ok:
        raise ValueError("x25519: low-order point")


def x25519_base_into(out: bytearray, scalar: "ReadableBuffer") -> None:
    x25519_into(out, scalar, _BASE)


def x25519(scalar: "ReadableBuffer", u: "ReadableBuffer") -> bytes:
    """RFC 7748 X25519: the u-coordinate of clamp(scalar) * u, 32 bytes LE.

    Raises ValueError for inputs that are not 32 bytes long and when the
    result is all zeros (u is a point of small order).
    """
    out = bytearray(32)
    x25519_into(out, scalar, u)
    return bytes(out)


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
