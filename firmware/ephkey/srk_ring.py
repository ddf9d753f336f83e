"""The circular buffer of session random keys (claims 2, 4-7; spec 4.1, 3.9).

Slots are allocated once. A live slot serves one initiation interval k: it
holds the tick at which interval k starts and, each drawn on first use by its
suite, the suite-1 SRK (16 bytes) and the suite-2 X25519 key pair (private
and public half, 32 bytes each). Every request in interval k gets slot k's
key of its suite; M x lifetime after interval k started every key in the
slot is overwritten with zeros and the slot is freed.

Suite 2's key pair costs one X25519 (a few hundred ms on an RP2040), so
``prepare`` may make interval k+1's pair ahead of time (spec 3.9,
pre-generation); the slot is then tagged k+1 and waits for its interval.
"""

from time import ticks_add, ticks_diff  # type: ignore[attr-defined]

from micropython import const

from .rng_health import RngFailure
from .x25519 import x25519_base

_KEY = const(16)
_X = const(32)


class SrkRing:
    def __init__(self, slots, interval_ms, lifetime_ms, m, now_ms, key_pairs=True):
        self.slots = slots
        self.interval_ms = interval_ms
        self.removal_ms = m * lifetime_ms
        self.keys = bytearray(_KEY * slots)  # suite-1 SRKs
        mv = memoryview(self.keys)
        # one view per slot, made now so that using a key never allocates
        self.views = [mv[i * _KEY:(i + 1) * _KEY] for i in range(slots)]
        # suite-2 key pairs; a first station without suite 2 keeps no room for them
        n2 = slots if key_pairs else 0
        self.priv = bytearray(_X * n2)
        self.pub = bytearray(_X * n2)
        mv = memoryview(self.priv)
        self.priv_views = [mv[i * _X:(i + 1) * _X] for i in range(n2)]
        mv = memoryview(self.pub)
        self.pub_views = [mv[i * _X:(i + 1) * _X] for i in range(n2)]
        self.live = bytearray(slots)  # the slot is tagged with an interval
        self.has1 = bytearray(slots)  # ... and holds that interval's suite-1 SRK
        self.has2 = bytearray(slots)  # ... and its suite-2 key pair
        self.interval = [0] * slots
        self.started = [0] * slots
        self.head = 0
        self.k = 0  # current initiation interval
        self.k_start = now_ms
        self.created = 0  # suite-1 SRKs drawn so far (for tests and the bench)
        self.created2 = 0  # suite-2 key pairs generated so far
        self.prepared = 0  # ... of which ahead of their interval by prepare()

    def advance(self, now_ms):
        """Move the interval clock to now and erase keys past M x lifetime."""
        d = ticks_diff(now_ms, self.k_start)
        if d >= self.interval_ms:
            n = d // self.interval_ms
            self.k += n
            self.k_start = ticks_add(self.k_start, n * self.interval_ms)
        for i in range(self.slots):
            if self.live[i] and ticks_diff(now_ms, self.started[i]) >= self.removal_ms:
                self._erase(i)

    def current(self, rng):
        """The slot of the current interval's suite-1 SRK, drawn on first use."""
        i = self._find(self.k)
        if i >= 0 and self.has1[i]:
            return i
        key = rng(_KEY)  # drawn first: a failing RNG changes nothing
        if i < 0:
            i = self._tag(self.k, self.k_start)
        self.keys[i * _KEY:(i + 1) * _KEY] = key
        self.has1[i] = 1
        self.created += 1
        return i

    def current_pair(self, rng):
        """The slot of the current interval's suite-2 key pair, made on first use
        (one X25519 now, unless ``prepare`` made it ahead of time)."""
        i = self._find(self.k)
        if i >= 0 and self.has2[i]:
            return i
        return self._generate(i, self.k, self.k_start, rng)

    def prepare(self, rng):
        """Make the key pair of interval k+1 now if it is not made yet.

        Return its slot, or -1 when there was nothing to do (a scan of the
        slots: cheap enough to call at every idle poll).
        """
        k = self.k + 1
        for i in range(self.slots):
            if self.live[i] and self.interval[i] == k and self.has2[i]:
                return -1
        i = self._generate(self._find(k), k, ticks_add(self.k_start, self.interval_ms), rng)
        self.prepared += 1
        return i

    def holds(self, slot, k, suite=1):
        """True while ``slot`` still holds interval ``k``'s key of ``suite``."""
        if not self.live[slot] or self.interval[slot] != k:
            return False
        return bool(self.has2[slot] if suite == 2 else self.has1[slot])

    def live_count(self):
        n = 0
        for i in range(self.slots):
            n += self.live[i]
        return n

    def _find(self, k):
        """The live slot of interval k, or -1."""
        for i in range(self.slots):
            if self.live[i] and self.interval[i] == k:
                return i
        return -1

    def _tag(self, k, start):
        """A newly tagged slot for interval k (circular from head)."""
        i = self._take()
        self.live[i] = 1
        self.interval[i] = k
        self.started[i] = start
        self.head = (i + 1) % self.slots
        return i

    def _take(self):
        # The slot at head, or the next free one after it: with pre-generation
        # slots are not always tagged in interval order (k+1 may be made before
        # k), so head may still hold a live key while another slot is free.
        for j in range(self.slots):
            i = (self.head + j) % self.slots
            if not self.live[i]:
                return i
        # Every slot live: impossible with a valid configuration (4.1 sizes
        # the ring) unless the clock jumped. Drop the oldest.
        oldest = self.head
        for i in range(self.slots):
            if ticks_diff(self.started[oldest], self.started[i]) > 0:
                oldest = i
        self._erase(oldest)
        return oldest

    def _generate(self, i, k, start, rng):
        """Draw a key pair for interval k into slot i (tagged now if i < 0)."""
        r = rng(_X)  # drawn first: a failing RNG changes nothing
        if len(r) != _X:
            raise RngFailure("short read: %d of %d bytes" % (len(r), _X))
        if i < 0:
            i = self._tag(k, start)
        p = i * _X
        self.priv[p:p + _X] = r
        self.pub[p:p + _X] = x25519_base(self.priv_views[i])
        self.has2[i] = 1
        self.created2 += 1
        return i

    def _erase(self, i):
        base = i * _KEY
        for j in range(base, base + _KEY):
            self.keys[j] = 0
        if self.priv:
            base = i * _X
            for j in range(base, base + _X):
                self.priv[j] = 0
                self.pub[j] = 0
        self.live[i] = 0
        self.has1[i] = 0
        self.has2[i] = 0
