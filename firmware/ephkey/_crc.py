"""CRC-32 of docs/link.md 2.1 for link.py, compiled to machine code by viper.

binascii.crc32 returns the CRC as an int, a heap-allocated big int on a 32-bit
board whenever it is 2**30 or more. Here the CRC lives only in a viper `uint`
local, a machine word that is never a Python object: `crc_into` writes it into
a buffer as 4 bytes and `residue_ok` returns a bool. So neither allocates, on
any port, whatever the data.

CRC-32/ISO-HDLC (as zlib and binascii.crc32): reflected polynomial 0xEDB88320,
initial value and final XOR 0xFFFFFFFF, one lookup per byte in a table of 256
32-bit words. The table is a bytearray of 1024 bytes read through ptr32, so
the size of a C int behind an array typecode does not matter; it is filled by
viper at import, in native byte order, with no big int made on the way.

Viper does no bounds checks: callers check every length and offset first.
_crc_py.py has a pure-Python twin of each function; link.py falls back to it when this
module cannot be imported (no native emitter in the port, or an .mpy built
for another architecture).
"""

import micropython

TYPE_CHECKING = False
if TYPE_CHECKING:
    # For mypy only: the viper compiler knows ptr8/ptr32 as "pointer to the
    # bytes/32-bit words of any buffer".
    from circuitpython_typing import WriteableBuffer as ptr8, WriteableBuffer as ptr32

_TABLE = bytearray(1024)  # 256 uint32 words, native byte order


@micropython.viper
def _fill(t: ptr32):
    poly = (uint(0xEDB8) << 16) | uint(0x8320)
    for i in range(256):
        c = uint(i)
        for _ in range(8):
            if c & 1:
                c = (c >> 1) ^ poly
            else:
                c = c >> 1
        t[i] = c


_fill(_TABLE)

# 0xFFFFFFFF and the residue are built from 16-bit halves in the functions:
# as literals they would be big-int constants on a 32-bit port. A uint is 64
# bits on a 64-bit port; every value below stays within its low 32 bits
# (ptr32 loads zero-extend), so the results are the same on every port.


@micropython.viper
def crc_into(data: ptr8, n: int, out: ptr8, off: int):
    """out[off:off + 4] = crc32(data[0:n]), little-endian. Returns None."""
    t = ptr32(_TABLE)
    ones = (uint(0xFFFF) << 16) | uint(0xFFFF)
    c = ones
    for i in range(n):
        c = uint(t[(c ^ data[i]) & 0xFF]) ^ (c >> 8)
    c ^= ones
    out[off] = c
    out[off + 1] = c >> 8
    out[off + 2] = c >> 16
    out[off + 3] = c >> 24


@micropython.viper
def residue_ok(data: ptr8, n: int) -> bool:
    """crc32(data[0:n]) == 0x2144DF1C: the check of a whole packet (link.md 2.1)."""
    t = ptr32(_TABLE)
    ones = (uint(0xFFFF) << 16) | uint(0xFFFF)
    c = ones
    for i in range(n):
        c = uint(t[(c ^ data[i]) & 0xFF]) ^ (c >> 8)
    return (c ^ ones) == ((uint(0x2144) << 16) | uint(0xDF1C))
