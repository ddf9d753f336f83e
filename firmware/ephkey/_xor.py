"""Byte loops for the CCM data path, compiled to machine code by viper.

Every helper takes (buffer, offset) pairs instead of slices, because slicing a
memoryview allocates. Viper does no bounds checks: callers check every offset
and length first. crypto.py has a pure-Python twin of each helper and falls
back to it when this module cannot be imported (no native emitter in the
port, or an .mpy built for another architecture).
"""

import micropython

TYPE_CHECKING = False
if TYPE_CHECKING:
    # For mypy only: the viper compiler knows ptr8 as "pointer to the bytes
    # of any buffer".
    from circuitpython_typing import WriteableBuffer as ptr8


@micropython.viper
def xor_to(dst: ptr8, doff: int, src: ptr8, soff: int, ks: ptr8, n: int):
    """dst[doff + i] = src[soff + i] ^ ks[i] for i < n."""
    d = doff
    s = soff
    for i in range(n):
        dst[d] = src[s] ^ ks[i]
        d += 1
        s += 1


@micropython.viper
def copy(dst: ptr8, doff: int, src: ptr8, soff: int, n: int):
    """dst[doff:doff + n] = src[soff:soff + n], without a slice object."""
    d = doff
    s = soff
    for _ in range(n):
        dst[d] = src[s]
        d += 1
        s += 1


@micropython.viper
def zero(dst: ptr8, off: int, n: int):
    """dst[off:off + n] = 0."""
    d = off
    for _ in range(n):
        dst[d] = 0
        d += 1


@micropython.viper
def diff(a: ptr8, aoff: int, b: ptr8, boff: int, n: int) -> int:
    """0 when the two ranges are equal; reads all n bytes whatever they hold."""
    acc = 0
    for i in range(n):
        acc |= a[aoff + i] ^ b[boff + i]
    return acc
