"""Generate firmware/ephkey/_fe25519.py: arithmetic mod 2**255 - 19 in viper.

    python tools/gen_fe25519.py            # rewrite the module
    python tools/gen_fe25519.py --check    # exit 1 if the module is out of date

The module's hot code is straight-line: one statement per limb product, which
is what the viper emitter compiles best (a product accumulated into a register
costs 7 Thumb instructions; loops with computed indexes cost several times
that). Writing 400 such lines by hand invites typos, so they are generated here,
and tests/host/test_fe25519_generated.py checks the committed file is this
script's output.

Before writing anything, this script bounds every intermediate value of every
generated operation, from the limb bounds the operations promise each other
(see LIMB_MAX), and refuses to emit code in which any value could reach 2**31:
viper ints are machine words, 32 bits on the boards, so that bound is what
makes the code give the same results on a 32-bit board as on the 64-bit unix
port (where an overflow would go unnoticed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "firmware" / "ephkey" / "_fe25519.py"

N = 20  # limbs
BITS = 13  # radix 2**13: 20 limbs hold 260 bits
MASK = (1 << BITS) - 1
P = (1 << 255) - 19
FOLD = (1 << (N * BITS)) % P  # 2**260 = 32 * 2**255 = 32 * 19 = 608 (mod p)
A24 = 121665  # (486662 - 2) / 4, RFC 7748 section 5
# 64 * p in 20 limbs, each limb at least LIMB_MAX: SUB adds it so that no limb
# difference is negative. 32 * p = 2**260 - 608 has limbs 8191 - 607, 8191, ...
Q64P = [2 * (MASK - (FOLD - 1))] + [2 * MASK] * (N - 1)
WORD = 1 << 31  # every value must stay below this (signed 32-bit machine word)

# Every field element the operations read or write has limbs in [0, LIMB_MAX]
# (checked below: each operation maps such inputs to such outputs). Carries
# leave limbs below 2**13 except limbs 1 and 2, which take the last, small
# carries of the fold of bits 260 and up.
LIMB_MAX = MASK + 2

# Slots: field elements of 20 words each, in one state buffer. X2, Z2 and X3,
# Z3 are adjacent so that CSWAP swaps 40 words at once.
SLOTS = ("X1", "X2", "Z2", "X3", "Z3", "A", "B", "C", "D", "AA", "BB", "E", "DA", "CB")
SLOT_BYTES = 4 * N
CTRL = len(SLOTS) * N  # word index of the control words after the slots
STATE_BYTES = 4 * CTRL + 4 * 2 + 32  # slots, (bit index, swap), scalar copy
OPS = ("MUL", "SQR", "SUB", "ADD", "A24", "CSWAP")


def _check(value: int, what: str) -> int:
    if not 0 <= value < WORD:
        raise SystemExit(f"bound check failed: {what} can reach {value} (>= 2**31)")
    return value


class Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "", indent: int = 0) -> None:
        self.lines.append(("    " * indent + line) if line else "")


def product_columns(square: bool) -> list[list[tuple[str, str]]]:
    """Per column k of the 39, the (multiplier, multiplicand) local names.

    Multiplication: a_i * b_j for i + j = k. Squaring: b_i * a_j for i < j,
    where b_i = 2 * a_i, and a_i * a_i on the diagonal.
    """
    cols: list[list[tuple[str, str]]] = [[] for _ in range(2 * N - 1)]
    for i in range(N):
        for j in range(N):
            if not square:
                cols[i + j].append((f"a{i}", f"b{j}"))
            elif i < j:
                cols[i + j].append((f"b{i}", f"a{j}"))
            elif i == j:
                cols[i + j].append((f"a{i}", f"a{i}"))
    return cols


def bound_columns(square: bool) -> int:
    """Bound every partial sum of a product's columns; return the final carry bound."""
    lmax = LIMB_MAX
    cols = product_columns(square)
    carry = 0
    high = [0] * (2 * N)
    for k in range(N, 2 * N - 1):
        s = carry
        for m, _ in cols[k]:
            s = _check(s + (2 * lmax if m.startswith("b") and square else lmax) * lmax,
                       f"column {k}")
        high[k] = min(s, MASK)
        carry = s >> BITS
    high[2 * N - 1] = carry
    carry = 0
    for k in range(N):
        s = carry
        for m, _ in cols[k]:
            s = _check(s + (2 * lmax if m.startswith("b") and square else lmax) * lmax,
                       f"column {k}")
        s = _check(s + FOLD * high[k + N], f"column {k} with its fold")
        carry = s >> BITS
    return carry


def bound_fold(carry: int, what: str) -> None:
    """The fold of the carry out of limb 19 (bits 260 and up) into limbs 0..2."""
    s = _check(carry * FOLD + MASK, f"{what}: fold into limb 0")
    s = _check((s >> BITS) + MASK, f"{what}: limb 1")
    limb2 = _check((s >> BITS) + MASK, f"{what}: limb 2")
    if limb2 > LIMB_MAX:
        raise SystemExit(f"{what}: limb 2 can reach {limb2} > LIMB_MAX")


def bound_all() -> None:
    bound_fold(bound_columns(square=False), "MUL")
    bound_fold(bound_columns(square=True), "SQR")
    # ADD: a + b + carry per limb; SUB: a + Q64P - b + carry (b >= 0).
    for name, top in (("ADD", [2 * LIMB_MAX] * N), ("SUB", [LIMB_MAX + q for q in Q64P])):
        carry = 0
        for i in range(N):
            carry = _check(top[i] + carry, f"{name} limb {i}") >> BITS
        bound_fold(carry, name)
    carry = 0
    for i in range(N):
        carry = _check(LIMB_MAX + A24 * LIMB_MAX + carry, f"A24 limb {i}") >> BITS
    bound_fold(carry, "A24")
    # The largest value fed to the mask and the multiplier: 20 columns of LIMB_MAX**2.
    if min(Q64P) < LIMB_MAX:
        raise SystemExit("Q64P has a limb below LIMB_MAX: SUB could go negative")
    if sum(q << (BITS * i) for i, q in enumerate(Q64P)) != 64 * P:
        raise SystemExit("Q64P is not 64 * p")


def emit_fold(e: Emitter, ind: int) -> None:
    """s holds the carry out of limb 19: add FOLD * s into limbs 0, 1, 2 of pd."""
    e("x = c_fold", ind)
    e("s = s * x + pd[0]", ind)
    e("pd[0] = s & m", ind)
    e("s = (s >> 13) + pd[1]", ind)
    e("pd[1] = s & m", ind)
    e("pd[2] = (s >> 13) + pd[2]", ind)


def emit_product(e: Emitter, square: bool, ind: int) -> None:
    """Product scanning: each column summed in s, the high ones (k >= 20) first,
    split into 13-bit limbs h20..h39, then folded into the low ones (* 608)."""
    for i in range(N):
        e(f"a{i} = pa[{i}]", ind)
    for i in range(N):
        e(f"b{i} = a{i} + a{i}" if square else f"b{i} = pb[{i}]", ind)
    cols = product_columns(square)
    e("s = 0", ind)
    for k in list(range(N, 2 * N - 1)) + list(range(N)):
        e(f"# column {k}", ind)
        for mult, cand in cols[k]:
            e(f"x = {mult}", ind)
            e(f"s = {cand} * x + s", ind)
        if k >= N:
            e(f"h{k} = s & m", ind)
            e("s = s >> 13", ind)
            if k == 2 * N - 2:
                e(f"h{2 * N - 1} = s", ind)
                e("s = 0", ind)
        else:
            e("x = c_fold", ind)
            e(f"s = h{k + N} * x + s", ind)
            e(f"pd[{k}] = s & m", ind)
            e("s = s >> 13", ind)
    emit_fold(e, ind)


def emit_add(e: Emitter, sub: bool, ind: int) -> None:
    e("s = 0", ind)
    for i in range(N):
        e(f"x = pa[{i}]", ind)
        if sub:
            e(f"s = x - pb[{i}] + s + {'q0' if i == 0 else 'q'}", ind)
        else:
            e(f"s = pb[{i}] + x + s", ind)
        e(f"pd[{i}] = s & m", ind)
        e("s = s >> 13", ind)
    emit_fold(e, ind)


def emit_a24(e: Emitter, ind: int) -> None:
    e("s = 0", ind)
    e("x = c_a24", ind)
    for i in range(N):
        e(f"s = pb[{i}] * x + s", ind)
        e(f"s = pa[{i}] + s", ind)
        e(f"pd[{i}] = s & m", ind)
        e("s = s >> 13", ind)
    emit_fold(e, ind)


def emit_cswap(e: Emitter, ind: int) -> None:
    e("t = st[_LEFT]", ind)
    e("bit = 0", ind)
    e("if t > 0:  # t is public: the step, not the scalar", ind)
    e("t -= 1", ind + 1)
    e("bit = (kb[t >> 3] >> (t & 7)) & 1", ind + 1)
    e("st[_LEFT] = t", ind + 1)
    e("x = 0 - (st[_SWAP] ^ bit)  # all ones: swap", ind)
    e("st[_SWAP] = bit", ind)
    e("pa = ptr32(base + _X2 * 80)", ind)
    e("pb = ptr32(base + _X3 * 80)", ind)
    # 40 words (x2, z2 against x3, z3), 4 per pass: a loop keeps the code small,
    # and CSWAP runs once per ladder step against nine products.
    e("for _i in range(10):", ind)
    for i in range(4):
        e(f"s = (pa[{i}] ^ pb[{i}]) & x", ind + 1)
        e(f"pa[{i}] = pa[{i}] ^ s", ind + 1)
        e(f"pb[{i}] = pb[{i}] ^ s", ind + 1)
    e("pa = ptr32(int(pa) + 16)", ind + 1)
    e("pb = ptr32(int(pb) + 16)", ind + 1)


HEADER = '''\
"""Arithmetic mod p = 2**255 - 19 for X25519, in viper, on 20 limbs of 13 bits.

GENERATED by tools/gen_fe25519.py: edit that script, not this file.

A field element is 20 words (limb i weighs 2**(13 * i)) in a slot of one state
buffer that x25519.py allocates once (STATE_BYTES). Values are kept below
2**260, not reduced mod p: every operation here returns limbs in
[0, %(limb_max)d] given limbs in that range, and the generator has checked that
no intermediate value can then reach 2**31, so 32-bit boards and the 64-bit
unix port compute the same words. 2**260 = %(fold)d (mod p) folds the top.

run(0, 0, st, prog) executes a program: prog[0] operations of 4 bytes
(op, dst, a, b), slots as numbers. SQR squares b times (a, then dst again);
CSWAP counts st[_LEFT] (ladder steps left) down, takes that bit of the
scalar at byte _K, and swaps (X2, Z2) with (X3, Z3) under a mask when it
differs from the previous bit (RFC 7748 section 5); at st[_LEFT] = 0 it undoes
the last swap. Words are never negative: a ptr32 load zero-extends on 64-bit
ports.

Constant time: every operation runs the same instructions whatever the
values; the only branches are on the program and on st[_LEFT] (the step).
The first two arguments are the accumulator and the multiplier: the viper
emitter keeps only a function's first two locals in registers (callers pass 0).
"""

import micropython
from micropython import const

%(consts)s

_LEFT = const(%(ctrl)d)  # word: ladder steps left (255 down to 0)
_SWAP = const(%(ctrl1)d)  # word: the previous bit
_K = const(%(kbyte)d)  # byte offset of the clamped scalar
STATE_BYTES = const(%(state_bytes)d)
LIMB_MAX = const(%(limb_max)d)  # operations take and give limbs in [0, LIMB_MAX]
'''


def generate() -> str:
    bound_all()
    consts = []
    for i, op in enumerate(OPS):
        consts.append(f"{op} = const({i})")
    consts.append("")
    for i, slot in enumerate(SLOTS):
        consts.append(f"{slot} = const({i})")
    consts.append(f"_X2 = const({SLOTS.index('X2')})")
    consts.append(f"_X3 = const({SLOTS.index('X3')})")
    e = Emitter()
    header = HEADER % {
        "limb_max": LIMB_MAX, "fold": FOLD, "consts": "\n".join(consts), "ctrl": CTRL,
        "ctrl1": CTRL + 1, "kbyte": 4 * (CTRL + 2), "state_bytes": STATE_BYTES,
    }
    e(header.rstrip("\n"))
    e()
    e()
    e("@micropython.viper")
    e("def run(s: int, x: int, st: ptr32, prog: ptr8):")
    e('"""Execute prog on the state buffer st (see the module docstring)."""', 1)
    e("base = int(st)", 1)
    e("kb = ptr8(base + _K)", 1)
    e(f"m = {MASK}", 1)
    e(f"c_fold = {FOLD}", 1)
    e(f"c_a24 = {A24}", 1)
    e(f"q0 = {Q64P[0]}", 1)
    e(f"q = {Q64P[1]}", 1)
    e("n = prog[0]", 1)
    e("pc = 1", 1)
    e("while n > 0:", 1)
    e("op = prog[pc]", 2)
    e("pd = ptr32(base + prog[pc + 1] * 80)", 2)
    e("pa = ptr32(base + prog[pc + 2] * 80)", 2)
    e("pb = ptr32(base + prog[pc + 3] * 80)", 2)
    e("if op == MUL:", 2)
    emit_product(e, square=False, ind=3)
    e("elif op == SQR:", 2)
    e("r = prog[pc + 3]", 3)
    e("while r > 0:", 3)
    emit_product(e, square=True, ind=4)
    e("pa = pd", 4)
    e("r -= 1", 4)
    e("elif op == SUB:", 2)
    emit_add(e, sub=True, ind=3)
    e("elif op == ADD:", 2)
    emit_add(e, sub=False, ind=3)
    e("elif op == A24:", 2)
    emit_a24(e, ind=3)
    e("elif op == CSWAP:", 2)
    emit_cswap(e, ind=3)
    e("pc += 4", 2)
    e("n -= 1", 2)
    e()
    e()
    e(TAIL.rstrip("\n"))
    return "\n".join(e.lines) + "\n"


TAIL = '''\
@micropython.viper
def load(st: ptr32, slot: int, u: ptr8):
    """Slot := the 32-byte little-endian u with bit 255 cleared (RFC 7748 section 5)."""
    d = ptr32(int(st) + slot * 80)
    acc = 0
    bits = 0
    j = 0
    for i in range(20):
        while bits < 13 and j < 32:
            v = u[j]
            if j == 31:
                v &= 127
            acc |= v << bits
            bits += 8
            j += 1
        d[i] = acc & 8191
        acc = acc >> 13
        bits -= 13


@micropython.viper
def set_small(st: ptr32, slot: int, v: int):
    """Slot := v (0 <= v < 2**13)."""
    d = ptr32(int(st) + slot * 80)
    d[0] = v
    for i in range(1, 20):
        d[i] = 0


@micropython.viper
def start(st: ptr32, scalar: ptr8):
    """Clamp a copy of the scalar into the state; 255 ladder steps to go, no swap pending."""
    k = ptr8(int(st) + _K)
    for i in range(32):
        k[i] = scalar[i]
    k[0] = k[0] & 248
    k[31] = (k[31] & 127) | 64
    st[_LEFT] = 255
    st[_SWAP] = 0


@micropython.viper
def freeze(out: ptr8, st: ptr32, slot: int, tmp: int) -> int:
    """Write the slot's value mod p into out (32 bytes LE); return 0 iff it is 0.

    Slot tmp is scratch. The same instructions run whatever the value: the
    final subtraction of p is a masked select.
    """
    d = ptr32(int(st) + slot * 80)
    w = ptr32(int(st) + tmp * 80)
    c = 0
    for i in range(20):  # limbs below 2**13; c = the bits from 260 up
        c += d[i]
        d[i] = c & 8191
        c = c >> 13
    for _r in range(2):  # fold the bits from 255 up (* 19), twice: then d < 2**255
        c = 19 * ((d[19] >> 8) + (c << 5))
        d[19] = d[19] & 255
        for i in range(20):
            c += d[i]
            d[i] = c & 8191
            c = c >> 13
        c = 0
    c = 19  # w = d + 19: bit 255 of w is set iff d >= p, and then d - p = w - 2**255
    for i in range(20):
        c += d[i]
        w[i] = c & 8191
        c = c >> 13
    mask = 0 - ((w[19] >> 8) & 1)
    w[19] = w[19] & 255
    for i in range(20):
        d[i] = d[i] ^ (mask & (d[i] ^ w[i]))
    acc = 0
    bits = 0
    j = 0
    nonzero = 0
    for i in range(20):
        acc |= d[i] << bits
        bits += 13
        while bits >= 8 and j < 32:
            out[j] = acc & 255
            nonzero |= acc & 255
            acc = acc >> 8
            bits -= 8
            j += 1
    return nonzero


@micropython.viper
def wipe(st: ptr32):
    """Zero the whole state (STATE_BYTES)."""
    for i in range(STATE_BYTES >> 2):
        st[i] = 0
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare with the committed file")
    args = ap.parse_args()
    text = generate()
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is out of date: run python tools/gen_fe25519.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
