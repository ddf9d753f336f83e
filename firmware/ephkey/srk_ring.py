"""The circular buffer of session random keys (claims 2, 4-7; spec 4.1, 3.9).

Slots are allocated once. A live slot serves one initiation interval k: it
holds the tick at which interval k starts and, each made on first use by its
suite, the suite-1 SRK (16 bytes) and the suite-2 X25519 key pair (private
and public half, 32 bytes each). Every request in interval k gets slot k's
key of its suite; M x lifetime after interval k started every key in the
slot is overwritten with zeros and the slot is freed.

A key pair is in one of three states (3.9): none, pending (``srk_priv``
drawn, its X25519 job queued or running in the station) or ready
(``srk_pub`` computed). The ring never computes an X25519 itself: the first
station runs the job in slices (4.7). ``gen[i]`` counts the erasures of slot
i, so that a job can tell that the slot it started from was removed.
"""

from time import ticks_add, ticks_diff  # type: ignore[attr-defined]

from micropython import const

_KEY = const(16)
_X = const(32)

NONE = const(0)
PENDING = const(1)
READY = const(2)


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
        self.has2 = bytearray(slots)  # ... its suite-2 key pair: NONE, PENDING, READY
        self.gen = [0] * slots  # erasures of each slot
        self.interval = [0] * slots
        self.started = [0] * slots
        self.head = 0
        self.n_live = 0
        self.due = now_ms  # the next removal's tick, while n_live > 0
        self.k = 0  # current initiation interval
        self.k_start = now_ms
        self.created = 0  # suite-1 SRKs drawn so far (for tests and the bench)
        self.created2 = 0  # suite-2 key pairs whose job was created
        self.prepared = 0  # ... of which by prepare()

    def advance(self, now_ms):
        """Move the interval clock to now and erase keys past M x lifetime.
        Returns the number of slots erased."""
        d = ticks_diff(now_ms, self.k_start)
        if d >= self.interval_ms:
            n = d // self.interval_ms
            self.k += n
            self.k_start = ticks_add(self.k_start, n * self.interval_ms)
        if not self.n_live or ticks_diff(now_ms, self.due) < 0:
            return 0  # no removal due: no scan (advance runs at every call)
        erased = 0
        for i in range(self.slots):
            if self.live[i] and ticks_diff(now_ms, self.started[i]) >= self.removal_ms:
                self.erase(i)
                erased += 1
        return erased

    def _update_due(self):
        """The tick of the next removal, over the live slots."""
        first = True
        for i in range(self.slots):
            if self.live[i]:
                t = ticks_add(self.started[i], self.removal_ms)
                if first or ticks_diff(t, self.due) < 0:
                    self.due = t
                    first = False

    def find(self, k):
        """The live slot of interval k, or -1."""
        for i in range(self.slots):
            if self.live[i] and self.interval[i] == k:
                return i
        return -1

    def slot_for(self, k, start):
        """The live slot of interval k, tagged now (circular from head) if none."""
        i = self.find(k)
        if i >= 0:
            return i
        i = self._take()
        self.live[i] = 1
        self.interval[i] = k
        self.started[i] = start
        self.head = (i + 1) % self.slots
        self.n_live += 1
        self._update_due()
        return i

    def pair_state(self, k):
        i = self.find(k)
        return self.has2[i] if i >= 0 else NONE

    def holds(self, slot, k, suite):
        """True while ``slot`` still holds interval ``k``'s key of ``suite``
        (suites 2 and 3: a ready key pair)."""
        if not self.live[slot] or self.interval[slot] != k:
            return False
        if suite != 1:  # suites 2 and 3: the interval's X25519 key pair
            return self.has2[slot] == READY
        return bool(self.has1[slot])

    def live_count(self):
        n = 0
        for i in range(self.slots):
            n += self.live[i]
        return n

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
        self.erase(oldest)
        return oldest

    def erase(self, i):
        """Overwrite every key of slot i with zeros and free it."""
        base = i * _KEY
        for j in range(base, base + _KEY):
            self.keys[j] = 0
        if self.priv:
            base = i * _X
            for j in range(base, base + _X):
                self.priv[j] = 0
                self.pub[j] = 0
        if self.live[i]:
            self.n_live -= 1
        self.live[i] = 0
        self.has1[i] = 0
        self.has2[i] = NONE
        self.gen[i] += 1
        self._update_due()
