# Shared helpers of the MicroPython-side bench scripts (tools/bench_mp/).
#
# tools/bench.py does not import this: it writes one script per run made of
# a `P = {...}` parameter line, this file and one task file, and runs that in
# the MicroPython unix VM (or on a board through mpremote). Results come back
# as lines `BENCH {json}` on stdout.

import gc
import json
import os
import sys
from time import ticks_diff, ticks_us  # type: ignore[attr-defined]

try:
    import micropython
except ImportError:  # pragma: no cover - always there under MicroPython
    micropython = None

from ephkey import events
from ephkey.config import FirstConfig, Pairing, SecondConfig
from ephkey.first import FirstStation
from ephkey.second import SecondStation

ID_F = b"BENCHF01"


def emit(kind, **fields):
    fields["kind"] = kind
    print("BENCH", json.dumps(fields))


def vm_info():
    i = sys.implementation
    v = i.version
    tag = ("-" + v[3]) if len(v) > 3 and v[3] else ""
    return {"impl": i.name, "version": "v%d.%d.%d%s" % (v[0], v[1], v[2], tag),
            "machine": getattr(i, "_machine", "?"), "build": getattr(i, "_build", "?"),
            "platform": sys.platform}


class Drbg:
    """docs/protocol.md section 12: H(seed || u32(0)) || H(seed || u32(1)) || ..."""

    def __init__(self, seed):
        import hashlib
        self._h = hashlib.sha256
        self.seed = bytes(seed)
        self.counter = 0
        self.buf = b""

    def __call__(self, n):
        while len(self.buf) < n:
            c = self.counter
            self.buf += self._h(self.seed + bytes((c >> 24, (c >> 16) & 255, (c >> 8) & 255,
                                                   c & 255))).digest()
            self.counter += 1
        out = self.buf[:n]
        self.buf = self.buf[n:]
        return out


def pairing(i):
    return Pairing(ID_F, b"BS%06d" % i, bytes((i + j) & 255 for j in range(16)))


def first_cfg(suite, **kw):
    return FirstConfig(suites=(suite,), **kw)


def second_cfg(suite, **kw):
    return SecondConfig(offer=(suite,), **kw)


_URANDOM = getattr(os, "urandom", None)  # the emulated board has none: pass a Drbg there


def first(suite, peers, rng=_URANDOM, now=0, **kw):
    return FirstStation(first_cfg(suite, **kw), [pairing(i) for i in range(peers)], rng, now)


def second(suite, i, rng=_URANDOM, now=0, **kw):
    return SecondStation(second_cfg(suite, **kw), pairing(i), rng, now)


def drain_events(st):
    got = []
    code = st.next_event()
    while code:
        got.append(events.NAMES[code])
        code = st.next_event()
    return got


def drain_out(st):
    n = st.next_output()
    while n:
        n = st.next_output()


def median(xs):
    s = sorted(xs)
    n = len(s)
    if not n:
        return 0
    return s[n // 2] if n & 1 else (s[n // 2 - 1] + s[n // 2]) / 2


def spread(xs):
    """median, min, max of a list of numbers."""
    return {"median": median(xs), "min": min(xs), "max": max(xs), "n": len(xs), "all": xs}


def mem_total():
    f = getattr(micropython, "mem_total", None) if micropython else None
    return f() if f else -1


class Pair:
    """A first station and its second stations, frames handed across in-process.

    handshake(i, now) runs one handshake of second station i and returns the
    microseconds the first station spent in it (its receive() calls and the
    pops of what they queued), or raises RuntimeError if it did not finish.
    Before a second station asks again its previous session is closed,
    outside the timing, so the table keeps sessions-1 established sessions.
    """

    def __init__(self, f, seconds):
        self.f = f
        self.s = seconds
        self.sid = [0] * len(seconds)
        self.on_f = None  # called with True/False around the first station's work
        self.gc_between = True

    def handshake(self, i, now):
        f = self.f
        s = self.s[i]
        if self.sid[i]:
            f.close(self.sid[i], now)
            drain_out(f)
            drain_events(f)
            self.sid[i] = 0
        if self.gc_between:
            gc.collect()  # outside the timing: a GC pause here is the whole heap's
        s.connect(now)
        n = s.next_output()
        hook = self.on_f
        if hook:
            hook(True)
        t0 = ticks_us()
        f.receive(s.out, n, now)
        m = f.next_output()
        t1 = ticks_us()
        if hook:
            hook(False)
        if not m:
            raise RuntimeError("no SRK frame: %s" % drain_events(f))
        s.receive(f.out, m, now)
        n = s.next_output()
        if not n:
            raise RuntimeError("no PROOF frame: %s" % drain_events(s))
        if hook:
            hook(True)
        t2 = ticks_us()
        f.receive(s.out, n, now)
        m = f.next_output()
        code = f.next_event()
        t3 = ticks_us()
        if hook:
            hook(False)
        if code != events.ESTABLISHED:
            raise RuntimeError("first station: %s %s" % (events.NAMES[code], drain_events(f)))
        s.receive(f.out, m, now)
        code = s.next_event()
        if code != events.ESTABLISHED:
            raise RuntimeError("second station: %s %s" % (events.NAMES[code], drain_events(s)))
        self.sid[i] = f.ev_sid
        return ticks_diff(t1, t0) + ticks_diff(t3, t2)


def make_pair(suite, stations, **fkw):
    f = first(suite, stations, **fkw)
    return Pair(f, [second(suite, i) for i in range(stations)])


def collect():
    gc.collect()
    gc.collect()
    return gc.mem_alloc()
