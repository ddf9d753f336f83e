"""X25519's ladder and inversion as programs for ``_fe25519`` (viper): the
fallback of ``x25519.py`` where no native ``_ephkey_x25519`` module exists
for the board's architecture. The same interface as that module:

- ``start(st, scalar, u)``: the clamped scalar and ``u`` into the state ``st``
  (a bytearray of STATE_BYTES, allocated once by the caller);
- ``run(st, budget)``: up to ``budget`` work units; True once all UNITS are done;
- ``finish(out, st)``: the result into ``out`` (32 bytes); False when it is
  all zeros; zeroes ``st``;
- ``wipe(st)``: zeroes ``st``.

A work unit is a ladder step or a piece of the inversion of at most the same
cost: 255 + 26 units. On the emulated Cortex-M3 running the armv6m build a unit
is at most about 40,000 instructions, a whole X25519 9.6 million (SLICE
units: about 12-15 ms on an RP2040). Nothing here allocates.
"""

from micropython import const

from . import _fe25519 as _fe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_LADDER_STEPS = const(255)
# Largest squaring run in one inversion operation: about one ladder step's work.
_SQR_RUN = const(12)
# The state: _fe25519's, then the count of units done (2 bytes, little-endian).
_UNIT = _fe.STATE_BYTES
STATE_BYTES = _fe.STATE_BYTES + 4

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
# Units per X25519Job.step for an event loop: about 12-15 ms on an RP2040.
SLICE = const(32)


def start(st, scalar, u):
    _fe.start(st, scalar)
    _fe.load(st, _fe.X1, u)
    _fe.load(st, _fe.X3, u)
    _fe.set_small(st, _fe.X2, 1)
    _fe.set_small(st, _fe.Z2, 0)
    _fe.set_small(st, _fe.Z3, 1)
    st[_UNIT] = 0
    st[_UNIT + 1] = 0


def run(st, budget):
    unit = st[_UNIT] | st[_UNIT + 1] << 8
    end = min(unit + budget, UNITS)
    fe_run: Any = _fe.run
    while unit < end and unit < _LADDER_STEPS:
        fe_run(0, 0, st, _STEP)
        unit += 1
    while unit < end:
        fe_run(0, 0, st, _INVERT[unit - _LADDER_STEPS])
        unit += 1
    st[_UNIT] = unit & 0xFF
    st[_UNIT + 1] = unit >> 8
    return unit >= UNITS


def finish(out, st):
    if (st[_UNIT] | st[_UNIT + 1] << 8) < UNITS:
        raise ValueError("x25519: not done")
    ok: bool = _fe.freeze(out, st, _R, _T) != 0
    wipe(st)
    return ok


def wipe(st):
    _fe.wipe(st)
    st[_UNIT] = 0
    st[_UNIT + 1] = 0
