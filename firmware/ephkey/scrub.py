"""The free-heap scrub of spec 9.3.

MicroPython leaves copies of secrets the stations cannot overwrite: the
``bytes`` that ``hashlib.digest()`` and the RNG return, ``hashlib`` objects
holding their last input block, the key schedules inside dropped
``cryptolib.aes`` objects. Once the station has dropped them they are
garbage, so a collection followed by zero-filled allocations over every
free block overwrites them. Native code also leaves values on the C stack;
one SHA-256 and one AES-ECB operation of zeros, run from the event loop's
top level, overwrite those routines' frames.

What a scrub cannot reach: a garbage object that a stale word (on the C
stack, or in a live object's unused bytes) still points at, since the
collector is conservative. tests/host/test_memscan.py looks for every
secret of a session in the memory of a MicroPython process after its
scrubs, and reports any copy it finds.

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
            pass  # b's block is zeros now: free again, it stays so
    return covered


def scrub():
    """Overwrite every free heap block with zeros; return the bytes covered."""
    gc.collect()
    covered = _fill()
    gc.collect()
    # the C stack: frames of the native routines that handled secrets
    hashlib.sha256(_ZERO).digest()
    cryptolib.aes(_ZERO[:16], 1).encrypt(_ZERO[:16])
    return covered
