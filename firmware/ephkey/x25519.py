"""X25519 (RFC 7748): constant time, nothing allocated per call.

API: keys and results are 32-byte little-endian strings (bytes, bytearray or
memoryview in).

- ``x25519_into(out, scalar, u)`` / ``x25519_base_into(out, scalar)`` write
  the result into the caller's 32-byte buffer ``out`` (so the caller owns,
  and zeroes, every copy of a secret result); they allocate nothing;
- ``X25519Job``: the same computation in slices, for an event loop that must
  not stall: ``job.start(out, scalar, u)``, then ``job.step(budget)`` until it
  returns True; ``job.ok`` is then False for an all-zero result; SLICE is a
  budget that holds the loop for under 20 ms on an RP2040;
- ``x25519(scalar, u)``, ``x25519_base(scalar)`` and ``keypair(rng)`` return
  new ``bytes`` (tests and tools).

The scalar is clamped and the top bit of ``u`` is masked as RFC 7748
section 5 says; non-canonical ``u`` (p <= u < 2**255) is taken mod p; an
all-zero result (``u`` of small order) raises ValueError, the check of
section 6.1.

Two implementations behind this API (each counts its own work units, UNITS):

- the native module ``_ephkey_x25519`` (C: firmware/natmod/x25519, built by
  ``make natmod`` for armv6m, armv7m, armv7emsp, armv7emdp and x64; a
  top-level module, so that a board whose ``ephkey`` is frozen in its image
  still finds it on its filesystem), used when it is there: 16 limbs of 16
  bits, 32-bit multiplies only (never the Cortex-M3's early-terminating
  long multiply), 5.5 million instructions an X25519 on the emulated
  Cortex-M3 against the viper code's 9.6 million, and 5 kB of .mpy against
  18 kB;
- ``_x25519_viper`` on ``_fe25519`` (viper, 20 limbs of 13 bits), everywhere
  else (ESP32, RISC-V, a build without the native module).

A job's state is one bytearray allocated when the job is made; the Python
code here only passes it along.

Side channels: what runs does not depend on the scalar or on ``u``. No branch
and no memory address depends on a secret (so caches do not matter either):
the conditional swap is a mask (``d = mask & (x2 ^ x3)``), every field
operation runs the same instruction sequence whatever its inputs (fixed
limbs, carries by shifts and masks, no early exit), the final reduction mod p
is a masked select, and nothing is allocated, so the garbage collector never
runs because of a key. On the emulated Cortex-M3 an X25519 counts the same
instructions whatever its inputs, to within the timer's noise
(tools/bench_mp/x25519_cost.py), with either implementation. The only branch
on a value is the all-zero check at the very end, which raises. What
instruction counts do not show: a multiply whose time depends on its
operands. Both implementations use only 32-bit-result multiplies (``MULS``):
single-cycle on the RP2040's Cortex-M0+ and on the Cortex-M3/M4/M33 (only the
long multiplies, which neither uses, exit early on the M3; a test checks the
native module's armv7m code has none); check the core's manual on other
boards. Also not covered: power or EM traces of the values themselves, which
a probe on the board could record; the private keys here are SRKs that live
for one interval and are then erased, which bounds how many operations one
key sees.

The state holds a clamped copy of the scalar and the ladder's values: it is
zeroed when a computation ends (result written or refused) and by
``X25519Job.wipe()``.
"""

try:  # the native module, where `make natmod` built one for this architecture
    import _ephkey_x25519 as _impl

    if _impl.ABI != 1:  # built from other sources than this file expects
        raise ImportError("_ephkey_x25519: ABI %d" % _impl.ABI)
    NATIVE = True
except ImportError:
    from . import _x25519_viper as _impl

    NATIVE = False

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from circuitpython_typing import ReadableBuffer

_BASE = b"\x09" + bytes(31)
# Work units of one run: 255 ladder steps, then the inversion's pieces, each at
# most about one ladder step's work.
UNITS = _impl.UNITS
# Units per step() for an event loop, under 20 ms on an RP2040. Native: measured
# on the emulated Cortex-M3 running the armv6m module (tests/host/test_x25519_native.py),
# a unit is at most 24,000 instructions, step(48) at most 0.94 million, a whole
# X25519 5.5 million (the viper code: 9.6 million); this Thumb-1 code runs from
# RAM at 1.3 to 1.6 cycles an instruction on a Cortex-M0+ (loads 2, MULS 1), so
# step(48) is 10-12 ms at 125 MHz. Viper: see _x25519_viper.py.
SLICE = getattr(_impl, "SLICE", 48)
# The stations' budget per work() call (docs/protocol.md 4.7: under 20 ms on an
# RP2040). The longest work() call of a suite-2 handshake, the last slice of
# F's check with the check itself, counts 0.90 M instructions at 24 units with
# the viper code on the emulated Cortex-M3 (tools/bench_hs.py --emu), 20.1 ms at
# the high estimate of tools/bench_emu.py (2.8 cycles per instruction at 125
# MHz); at 22 units it counts 0.83 M, 18.5 ms at that estimate.
WORK_UNITS = min(SLICE, 22)


class X25519Job:
    """One X25519 run in slices: ``start``, then ``step`` until it returns True.

    ``budget`` counts work units (UNITS per run). ``impl`` is the
    implementation (tests run both); by default the module's. The job's state
    buffer is allocated once, here; start() and step() allocate nothing.
    """

    def __init__(self, impl=None):
        self._impl = impl or _impl
        self.out = bytearray(0)
        self.ok = False
        self.done = True
        self._st = bytearray(self._impl.STATE_BYTES)

    def start(self, out: bytearray, scalar: "ReadableBuffer", u: "ReadableBuffer | None" = None
              ) -> None:
        if len(scalar) != 32 or len(out) != 32 or (u is not None and len(u) != 32):
            raise ValueError("x25519: 32-byte inputs")
        self._impl.start(self._st, scalar, _BASE if u is None else u)
        self.out = out
        self.ok = False
        self.done = False

    def step(self, budget: int = UNITS) -> bool:
        """Run up to ``budget`` work units; True once the result is in ``out``."""
        if self.done:
            return True
        if not self._impl.run(self._st, budget):
            return False
        # out is all zero when the result is refused: nothing to clear there.
        self.ok = self._impl.finish(self.out, self._st)
        self.done = True
        return True

    def wipe(self) -> None:
        """Abandon the run and zero the state (scalar copy and ladder values)."""
        self._impl.wipe(self._st)
        self.done = True
        self.ok = False


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
