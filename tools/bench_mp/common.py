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
    microseconds the first station spent in it (its receive() and work()
    calls and the pops of what they queued), or raises RuntimeError if it did
    not finish. Version 2 (docs/protocol.md 4.2, 4.7): a suite-2 REQ that
    finds its interval's key pair not ready is answered NOT_READY and F's job
    makes the pair (timed: the key pair is F's work, the cost that sharing it
    per interval saves), then the REQ is sent again; S's and F's X25519 jobs
    run through work(). Before a second station asks again its previous
    session is closed, outside the timing, so the table keeps sessions-1
    established sessions.
    """

    def __init__(self, f, seconds):
        self.f = f
        self.s = seconds
        self.sid = [0] * len(seconds)
        self.on_f = None  # called with True/False around the first station's work
        self.gc_between = True

    def _f_call(self, frame, n, now):
        """F receives one frame and runs its jobs; returns (us, output length)."""
        f = self.f
        hook = self.on_f
        if hook:
            hook(True)
        t0 = ticks_us()
        f.receive(frame, n, now)
        while f.busy():
            f.work(now)
        m = f.next_output()
        t1 = ticks_us()
        if hook:
            hook(False)
        return ticks_diff(t1, t0), m

    def handshake(self, i, now):
        f = self.f
        s = self.s[i]
        if self.sid[i]:
            f.close(self.sid[i], now)
            drain_out(f)
            drain_events(f)
            s.close(now)  # its CLOSE would meet a freed slot: dropped here
            drain_out(s)
            drain_events(s)
            self.sid[i] = 0
        if self.gc_between:
            gc.collect()  # outside the timing: a GC pause here is the whole heap's
        s.connect(now)
        n = s.next_output()
        req = bytes(s.out[:n])
        us, m = self._f_call(req, n, now)
        if m and f.out[0] == 0x2F and f.out[3] == 20:  # NOT_READY: the pair's job ran
            drain_events(f)
            us2, m = self._f_call(req, n, now)  # S's retransmission
            us += us2
        if not m or f.out[0] != 0x22:
            raise RuntimeError("no SRK frame: %s" % drain_events(f))
        s.receive(f.out, m, now)
        while s.busy():
            s.work(now)
        n = s.next_output()
        if not n:
            raise RuntimeError("no PROOF frame: %s" % drain_events(s))
        us2, m = self._f_call(s.out, n, now)
        hook = self.on_f
        if hook:
            hook(True)
        t0 = ticks_us()
        code = f.next_event()
        us += us2 + ticks_diff(ticks_us(), t0)
        if hook:
            hook(False)
        if code != events.ESTABLISHED:
            raise RuntimeError("first station: %s %s" % (events.NAMES[code], drain_events(f)))
        s.receive(f.out, m, now)
        code = s.next_event()
        if code != events.ESTABLISHED:
            raise RuntimeError("second station: %s %s" % (events.NAMES[code], drain_events(s)))
        self.sid[i] = f.ev_sid
        return us


class Natives:
    """Records the native primitives (hashlib, cryptolib) the firmware calls
    while ``on``, and replays them alone: the floor of an honest bench.

    install() puts recording stand-ins for the ``hashlib`` and ``cryptolib``
    modules into ephkey.mac, ephkey._hs, ephkey.crypto and ephkey.first (the
    firmware modules that call them in a handshake); floor() compiles what
    was recorded into one straight-line function of native calls on the
    recorded inputs (copies), so that timing it measures the native work and
    the calls themselves, nothing else.
    """

    def __init__(self):
        import hashlib

        import cryptolib

        import ephkey.crypto as crypto_mod
        import ephkey.first as first_mod
        import ephkey.mac as mac_mod
        self._mods = [mac_mod, crypto_mod, first_mod]
        try:
            import ephkey._hs as hs_mod  # the viper HMAC and key wrap call them too
            self._mods.append(hs_mod)
        except (ImportError, SyntaxError, ValueError):
            pass
        import ephkey.hmac_drbg as drbg_mod  # the stations' RNG: its SHA-256 calls
        self._mods.append(drbg_mod)
        self._real = (hashlib, cryptolib)
        self.on = False
        # ("sha", parts) | ("aes", obj id, key, mode, iv) | ("call", obj id, method, in, out len)
        self.ops = []
        nat = self

        class Sha:
            def __init__(self, data=None):
                self.h = hashlib.sha256() if data is None else hashlib.sha256(data)
                self.parts = [] if data is None else [bytes(data)]

            def update(self, data):
                self.parts.append(bytes(data))
                self.h.update(data)

            def digest(self):
                if nat.on:
                    nat.ops.append(("sha", self.parts))
                return self.h.digest()

        class HashMod:
            sha256 = Sha

        class Aes:
            def __init__(self, key, mode, iv=None):
                self.a = cryptolib.aes(key, mode) if iv is None else cryptolib.aes(key, mode, iv)
                if nat.on:
                    nat.ops.append(("aes", id(self), bytes(key), mode,
                                    None if iv is None else bytes(iv)))

            def encrypt(self, inp, out=None):
                if nat.on:
                    nat.ops.append(("call", id(self), "encrypt", bytes(inp),
                                    None if out is None else len(out)))
                return self.a.encrypt(inp) if out is None else self.a.encrypt(inp, out)

            def decrypt(self, inp, out=None):
                if nat.on:
                    nat.ops.append(("call", id(self), "decrypt", bytes(inp),
                                    None if out is None else len(out)))
                return self.a.decrypt(inp) if out is None else self.a.decrypt(inp, out)

        class AesMod:
            aes = Aes

        self._fake = (HashMod, AesMod)

    def install(self):
        for m in self._mods:
            if hasattr(m, "hashlib"):
                m.hashlib = self._fake[0]
            if hasattr(m, "cryptolib"):
                m.cryptolib = self._fake[1]

    def remove(self):
        for m in self._mods:
            if hasattr(m, "hashlib"):
                m.hashlib = self._real[0]
            if hasattr(m, "cryptolib"):
                m.cryptolib = self._real[1]

    def counts(self):
        c = {}
        for op in self.ops:
            k = op[0] if op[0] != "call" else op[2]
            c[k] = c.get(k, 0) + 1
        return c

    def floor(self):
        """A function running the recorded native calls, straight-line."""
        return floor_of(self.ops, self._real)


def floor_of(ops, real):
    """Compile recorded native calls (Natives.ops) into one straight-line
    function of those calls on copies of their inputs; return it."""
    args = [real[0].sha256, real[1].aes]
    lines = ["def _floor(A):", " S = A[0]", " C = A[1]"]
    names = {}
    for op in ops:
        if op[0] == "sha":
            refs = []
            for part in op[1]:
                args.append(part)
                refs.append("A[%d]" % (len(args) - 1))
            if not refs:
                lines.append(" S().digest()")
            elif len(refs) == 1:
                lines.append(" S(%s).digest()" % refs[0])
            else:
                lines.append(" h = S(%s)" % refs[0])
                for r in refs[1:]:
                    lines.append(" h.update(%s)" % r)
                lines.append(" h.digest()")
        elif op[0] == "aes":
            v = "o%d" % len(names)
            names[op[1]] = v
            args.append(op[2])
            k = len(args) - 1
            if op[4] is None:
                lines.append(" %s = C(A[%d], %d)" % (v, k, op[3]))
            else:
                args.append(op[4])
                lines.append(" %s = C(A[%d], %d, A[%d])" % (v, k, op[3], k + 1))
        else:
            v = names.get(op[1])
            if v is None:  # an object made before recording began: make it here
                v = "o%d" % len(names)
                names[op[1]] = v
                args.append(bytes(16))
                lines.append(" %s = C(A[%d], 1)" % (v, len(args) - 1))
            args.append(op[3])
            k = len(args) - 1
            if op[4] is None:
                lines.append(" %s.%s(A[%d])" % (v, op[2], k))
            else:
                args.append(bytearray(op[4]))
                lines.append(" %s.%s(A[%d], A[%d])" % (v, op[2], k, k + 1))
    lines.append(" return 0")
    g = {}
    exec("\n".join(lines) + "\n", g)
    fn = g["_floor"]
    return lambda: fn(args)


# Shared per interval: the defaults of docs/protocol.md section 11, and a clock
# that moves 1 ms per handshake, so every request of a round falls in one
# interval and gets the same SRK. Fresh per request: the same code with a
# 100 ms interval and a clock that moves 100 ms per handshake, so every
# request starts a new interval and draws (suite 2: generates) a new SRK.
# lifetime 100 ms and M = 2 keep the configuration valid
# (interval + L <= M x L) with the same 8-slot ring: ceil(2 x 100 / 100) + 1 = 3 <= 8.
MODES = {
    "shared": ({"interval_ms": 10000, "lifetime_ms": 20000, "m": 3, "ring_slots": 8}, 1),
    "fresh": ({"interval_ms": 100, "lifetime_ms": 100, "m": 2, "ring_slots": 8}, 100),
}


class RawRecorder:
    """A raw RNG source that notes the size of each draw while ``on`` (the
    floor replays those draws from the same source)."""

    def __init__(self, src):
        self.src = src
        self.on = False
        self.sizes = []

    def __call__(self, n):
        if self.on:
            self.sizes.append(n)
        return self.src(n)


def station_rng_over(raw):
    """The stations' production RNG (ephkey.hmac_drbg.station_rng: health
    tests, HMAC_DRBG) over the raw source ``raw``."""
    from ephkey.hmac_drbg import station_rng
    return station_rng(raw)


def record_floor(raw, run):
    """run(hook) with the native calls (Natives) and the draws of the raw
    source ``raw`` (a RawRecorder, or None) recorded while hook(True); returns
    the floor (a function replaying them alone), the Natives record, the draws."""
    nat = Natives()
    nat.install()

    def hook(active):
        nat.on = active
        if raw is not None:
            raw.on = active

    try:
        run(hook)
    finally:
        hook(False)
        nat.remove()
    natfn = nat.floor()
    src = raw.src if raw is not None else None
    sizes = tuple(raw.sizes) if raw is not None else ()

    def floor():
        natfn()
        for n in sizes:
            src(n)

    return floor, nat, sizes


def make_pair(suite, stations, **fkw):
    f = first(suite, stations, **fkw)
    return Pair(f, [second(suite, i) for i in range(stations)])


def collect():
    gc.collect()
    gc.collect()
    return gc.mem_alloc()



def run_task(tasks, p):
    """Run the task p["task"] of ``tasks`` (``p``: the script's parameters, P)
    between its start and end records; an exception is printed (no end record:
    the runner reports the failure), and the emulated board (p["emu"]) is left
    all the same."""
    emit("start", task=p["task"], vm=vm_info())
    try:
        tasks[p["task"]](p)
        emit("end")
    except Exception as e:
        sys.print_exception(e)
    if p.get("emu"):
        import emu
        emu.exit(0)
