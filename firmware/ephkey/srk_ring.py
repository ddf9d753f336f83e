"""The circular buffer of session random keys (claims 2, 4-7; spec 4.1).

Slots are allocated once. Each live slot holds one SRK, the number k of the
initiation interval it serves and the tick at which that interval started.
Every request in interval k gets SRK k; SRK k is overwritten with zeros
M x lifetime after its interval started.
"""

from time import ticks_add, ticks_diff  # type: ignore[attr-defined]

from micropython import const

_KEY = const(16)


class SrkRing:
    def __init__(self, slots, interval_ms, lifetime_ms, m, now_ms):
        self.slots = slots
        self.interval_ms = interval_ms
        self.removal_ms = m * lifetime_ms
        self.keys = bytearray(_KEY * slots)
        mv = memoryview(self.keys)
        # one view per slot, made now so that using a key never allocates
        self.views = [mv[i * _KEY:(i + 1) * _KEY] for i in range(slots)]
        self.live = bytearray(slots)
        self.interval = [0] * slots
        self.started = [0] * slots
        self.head = 0
        self.k = 0  # current initiation interval
        self.k_start = now_ms
        self.created = 0  # SRKs drawn so far (for tests and the bench)

    def advance(self, now_ms):
        """Move the interval clock to now and erase SRKs past M x lifetime."""
        d = ticks_diff(now_ms, self.k_start)
        if d >= self.interval_ms:
            n = d // self.interval_ms
            self.k += n
            self.k_start = ticks_add(self.k_start, n * self.interval_ms)
        for i in range(self.slots):
            if self.live[i] and ticks_diff(now_ms, self.started[i]) >= self.removal_ms:
                self._erase(i)

    def current(self, rng):
        """The slot of the current interval's SRK, drawn on first use."""
        head = self.head
        for i in range(self.slots):
            if self.live[i] and self.interval[i] == self.k:
                return i
        if self.live[head]:
            # only if the clock jumped: configuration makes it impossible
            self._erase(head)
        key = rng(_KEY)
        self.keys[head * _KEY:(head + 1) * _KEY] = key
        self.live[head] = 1
        self.interval[head] = self.k
        self.started[head] = self.k_start
        self.head = (head + 1) % self.slots
        self.created += 1
        return head

    def holds(self, slot, k):
        """True while ``slot`` still holds the SRK of interval ``k``."""
        return self.live[slot] and self.interval[slot] == k

    def _erase(self, i):
        base = i * _KEY
        for j in range(base, base + _KEY):
            self.keys[j] = 0
        self.live[i] = 0

    def live_count(self):
        n = 0
        for i in range(self.slots):
            n += self.live[i]
        return n
