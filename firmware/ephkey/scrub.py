"""The free-heap scrub of spec 9.3.

MicroPython leaves copies of secrets the stations cannot overwrite: the
``bytes`` that ``hashlib.digest()`` and the RNG return, ``hashlib`` objects
holding their last input block, the key schedules inside dropped
``cryptolib.aes`` objects. Once the station has dropped them they are
garbage, so a collection followed by allocations over every free block
(the allocator zero-fills what it hands out) overwrites them. Every block:
a fill that stopped early, or that skipped the single blocks left between
live objects, left secrets behind in the memory scan. Native code also leaves values on the C stack;
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
    """Overwrite every free heap block: with the collector off, take the free
    memory piece by piece (zero-filled bytearrays, halving the size on
    MemoryError down to 16 bytes, then one-block objects for the single
    blocks between live objects), dropping each at once: while the collector
    is off a dropped piece keeps its block, so nothing needs holding. The
    next collection frees them all, zeros. Returns the bytes covered."""
    budget = gc.mem_free()  # type: ignore[attr-defined]  # never more than the heap had free (split heaps grow)
    covered = 0
    gc.disable()
    try:
        size = 1 << 16
        while size >= 16 and covered < budget:
            try:
                bytearray(size)
                covered += size
            except MemoryError:
                size >>= 1
        # a bytearray needs a two-block header (64-bit ports): fill the single
        # free blocks left with floats, one block each (the allocator zeroes
        # what an object does not use of its blocks)
        x = 0.0
        n = budget // 16 - covered // 16
        try:
            while n > 0:
                x = x + 0.0
                n -= 1
        except MemoryError:
            pass
    finally:
        gc.enable()
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
    gc.collect()  # the pieces are garbage now: free again, and zeros
    # the C stack: frames of the native routines that handled secrets
    hashlib.sha256(_ZERO).digest()
    cryptolib.aes(_ZERO[:16], 1).encrypt(_ZERO[:16])
    return covered
