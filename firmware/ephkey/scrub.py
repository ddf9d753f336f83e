"""The free-heap scrub of spec 9.3.

MicroPython leaves copies of secrets the stations cannot overwrite: the
``bytes`` that ``hashlib.digest()`` and the RNG return, ``hashlib`` objects
holding their last input block, the key schedules inside dropped
``cryptolib.aes`` objects. Once the station has dropped them they are
garbage, so a collection followed by zero-filled allocations over every
free block overwrites them. Native code also leaves values on the C stack;
one SHA-256 and one AES-ECB operation of zeros, run from the event loop's
top level, overwrite those routines' frames.

The collector is conservative: a stale word on the C stack that points at
a garbage object keeps it alive, so the scrub would not overwrite it. Such
words are left by the deeper calls that handled the secrets (for instance a
bound ``aes.encrypt`` method kept the dropped key schedule reachable, found
by the memory scan below), inside the gaps of C frames that the
collection's own call chain then reuses. So before collecting, the scrub
overwrites the stack below its own frame: a few levels of a function whose
frame (zeroed by the VM on entry) holds locals.

What a scrub still cannot reach: a garbage object that a live object points
at. tests/host/test_memscan.py looks for every secret of a session in the
memory of a MicroPython process after its scrubs, and reports any copy it
finds.

Called by the event loop (node.py) when a station sets ``scrub_due``,
never inside ``micropython.heap_lock()``. Cost: a collection and one pass
of memset over the free heap.
"""

import gc
import hashlib

import cryptolib

_ZERO = bytes(64)


def _fill():
    """Zero-filled bytearrays over every free block, halving the size on
    MemoryError down to 16 bytes; they are dropped when this returns."""
    held = []
    covered = 0
    size = 1 << 16
    while size >= 16:
        try:
            b = bytearray(size)  # zero-filled, over a block that was free
        except MemoryError:
            size >>= 1
            continue
        covered += size
        try:
            held.append(b)
        except MemoryError:
            # The list cannot grow: b is dropped (its block stays zeros) and a
            # collection at the next failure would hand that same block back
            # again and again, so go on with smaller pieces.
            size >>= 1
    return covered


def _wipe_stack(n):
    # The VM zeroes a function's locals on entry (py/bc.c), and keeps them on
    # the C stack when they fit in 11 words (py/objfun.c; larger frames go to
    # the heap): each level overwrites its share of the stack below the
    # caller with zeros, and its C frames overwrite the rest.
    a = b = c = d = e = f = 0
    if n > 0:
        _wipe_stack(n - 1)
    return a + b + c + d + e + f


def scrub(stack_levels=32):
    """Overwrite the stack below the caller and every free heap block with
    zeros; return the heap bytes covered."""
    try:
        _wipe_stack(stack_levels)
    except RuntimeError:  # the port's recursion limit: as deep as it went
        pass
    gc.collect()
    covered = _fill()
    gc.collect()
    # the C stack: frames of the native routines that handled secrets
    hashlib.sha256(_ZERO).digest()
    cryptolib.aes(_ZERO[:16], 1).encrypt(_ZERO[:16])
    return covered
