# Cost of one X25519 (ephkey.x25519) and of its slices, under MicroPython.
#
#     MICROPYPATH=firmware:tools/bench_mp micropython tools/bench_mp/x25519_cost.py
#
# or on a board (the emulated Cortex-M3: mpremote mount a folder holding
# ephkey/ and this folder's common.py, then run this file). Prints one line
# `BENCH {json}`: microseconds per X25519 for several scalars and points
# (min and max: on the emulated board started with `-icount shift=0` a
# microsecond is 1,000 instructions, so equal figures mean equal instruction
# counts to within 1,000), the largest work unit, one step(SLICE), and the
# bytes allocated per call (measured with the heap locked: 0 or a failure).

import gc

try:
    import micropython
except ImportError:  # pragma: no cover - always there under MicroPython
    micropython = None

from time import ticks_diff, ticks_us  # type: ignore[attr-defined]

from common import emit, spread, vm_info

from ephkey.x25519 import SLICE, UNITS, X25519Job, x25519_base_into, x25519_into

# Scalars and points chosen to differ as much as possible: zero and all-ones
# scalars (clamped), sparse and dense points, a non-canonical one (p + 9).
SCALARS = (bytes(32), b"\xff" * 32, bytes(range(32)), b"\x80" + bytes(30) + b"\x40")
POINTS = (b"\x09" + bytes(31), b"\xfe" * 31 + b"\x7f", bytes(range(1, 33)),
          ((1 << 255) - 19 + 9).to_bytes(32, "little"))


def main():
    out = bytearray(32)
    whole = []
    for k in SCALARS:
        for u in POINTS:
            gc.collect()
            t0 = ticks_us()
            x25519_into(out, k, u)
            whole.append(ticks_diff(ticks_us(), t0))
    gc.collect()
    t0 = ticks_us()
    x25519_base_into(out, SCALARS[2])
    base = ticks_diff(ticks_us(), t0)
    job = X25519Job()
    units = []
    job.start(out, SCALARS[2], POINTS[2])
    done = False
    while not done:
        t0 = ticks_us()
        done = job.step(1)
        units.append(ticks_diff(ticks_us(), t0))
    slices = []
    job.start(out, SCALARS[2], POINTS[2])
    done = False
    while not done:
        t0 = ticks_us()
        done = job.step(SLICE)
        slices.append(ticks_diff(ticks_us(), t0))
    locked = "no heap_lock"
    if micropython is not None and hasattr(micropython, "heap_lock"):
        micropython.heap_lock()
        try:
            x25519_into(out, SCALARS[1], POINTS[1])
            job.start(out, SCALARS[1], POINTS[1])
            while not job.step(SLICE):
                pass
            locked = 0
        except MemoryError:
            locked = "allocates"
        finally:
            micropython.heap_unlock()
    emit("x25519_cost", vm=vm_info(), us=spread(whole), base_us=base, units=UNITS,
         unit_us_max=max(units), ladder_unit_us=spread(units[:255]),
         inversion_unit_us=spread(units[255:]), slice_units=SLICE, slice_us=spread(slices),
         alloc_bytes=locked)


main()
