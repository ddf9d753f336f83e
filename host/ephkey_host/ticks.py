"""Wrapping millisecond ticks, the host twin of MicroPython's ``time.ticks_*``.

The host clock is a plain integer of milliseconds. The stations reduce every
``now_ms`` they are given modulo the tick period and only compare ticks with
:func:`ticks_diff`, so they behave like a board whose ``ticks_ms()`` wraps.
The default period, 2**30, is the one of 32-bit MicroPython ports.
"""

DEFAULT_PERIOD = 1 << 30


def ticks_add(t: int, delta: int, period: int = DEFAULT_PERIOD) -> int:
    """``t + delta`` on the tick circle."""
    return (t + delta) % period


def ticks_diff(a: int, b: int, period: int = DEFAULT_PERIOD) -> int:
    """Signed distance ``a - b``, in ``[-period/2, period/2)``."""
    half = period >> 1
    return ((a - b + half) % period) - half
