"""Pure-Python twins of _crc.py's viper functions: same arguments, same
results. link.py loads them only where _crc.py cannot load (a port without a
native emitter, or an .mpy built for another architecture), and tests run
both. They allocate nothing either, apart from the big int of residue_ok for
a bad packet (link.py's docstring).
"""

import binascii
from array import array

from micropython import const

_RESIDUE = const(0x2144DF1C)  # crc32(frame || crc, little-endian) of every frame

# A module global rather than a direct call so that a test can stand in a
# function that fails where a 32-bit board would allocate.
_crc32 = binascii.crc32


def _crc_tables():
    """CRC-32 (reflected 0xEDB88320) lookup tables, split in 16-bit halves."""
    lo_t = array("H", range(256))
    hi_t = array("H", range(256))
    for i in range(256):
        lo = i
        hi = 0
        for _ in range(8):
            carry = lo & 1
            lo = (lo >> 1) | ((hi & 1) << 15)
            hi >>= 1
            if carry:
                lo ^= 0x8320
                hi ^= 0xEDB8
        lo_t[i] = lo
        hi_t[i] = hi
    return lo_t, hi_t


_CRC_LO, _CRC_HI = _crc_tables()


def crc_into(data, n, out, off):
    """out[off:off + 4] = crc32(data[0:n]), little-endian, in 16-bit halves."""
    lo_t = _CRC_LO
    hi_t = _CRC_HI
    lo = 0xFFFF
    hi = 0xFFFF
    for i in range(n):
        t = (lo ^ data[i]) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ lo_t[t]
        hi = (hi >> 8) ^ hi_t[t]
    lo ^= 0xFFFF
    hi ^= 0xFFFF
    out[off] = lo & 0xFF
    out[off + 1] = lo >> 8
    out[off + 2] = hi & 0xFF
    out[off + 3] = hi >> 8


def residue_ok(data, n):
    """crc32(data) == the residue; data must be exactly n bytes long."""
    try:
        return _crc32(data) == _RESIDUE
    except MemoryError:
        # Only a CRC of 2**30 or more allocates (a big int on a 32-bit board,
        # here with the heap locked): never the residue.
        return False


