"""Failed attempts and the back-off after them (docs/protocol.md 15.6).

Shared by device pairing (one count per station, kept across windows) and
suite 3 (15.10: one count per user record at F, one per F at S): 10 failed
attempts cost nothing, then each one waits 30 s, 60 s, 120 s, ... at most an
hour. Kept in RAM: a reboot starts again at 0 (9.4 says what that allows).
"""

from time import ticks_add, ticks_diff  # type: ignore[attr-defined]

from micropython import const

FREE_FAILS = const(10)
_BASE_MS = const(30000)
_MAX_MS = const(3600000)


def backoff_ms(fails):
    """The delay after ``fails`` consecutive failed attempts (0: none yet)."""
    if fails < FREE_FAILS:
        return 0
    k = fails - FREE_FAILS
    if k >= 7:  # 30 s << 7 is already past the hour
        return _MAX_MS
    return min(_BASE_MS << k, _MAX_MS)


class Backoff:
    """Consecutive failed attempts and when the back-off ends (15.6); an
    accepted attempt (PAIRED, an accepted suite-3 PROOF or KEY) resets it."""

    def __init__(self):
        self.fails = 0
        self.until = None

    def left(self, now):
        """Milliseconds until a new attempt is allowed (0: now)."""
        if self.until is None:
            return 0
        d = ticks_diff(self.until, now)
        return d if d > 0 else 0

    def failed(self, now):
        """Count one failed attempt; return the back-off it starts (ms, 0 for none)."""
        self.fails += 1
        d = backoff_ms(self.fails)
        if d:
            self.until = ticks_add(now, d)
        return d

    def reset(self):
        self.fails = 0
        self.until = None
