# Smallest heap for a first station: run under `micropython -X heapsize=N -m`.
#
# tools/bench.py compiles this and the firmware to .mpy (mpy-cross -march=x64;
# compiling .py sources at import needs far more heap than the station) and
# runs it as
#     micropython -X heapsize=NK -m bench_heapfit LOG SUITE RING SESSIONS IDRKS
# or with LOG "-" to import the modules only. It builds the first station with
# that configuration, replays LOG (the input frames of `SESSIONS` concurrent
# handshakes, recorded by inproc.py's memory task against a station with the
# same deterministic RNG) and prints HEAPFIT OK once every session is
# established. A MemoryError anywhere makes it fail: the heap was too small.

import sys

from ephkey import events
from ephkey.config import FirstConfig, Pairing
from ephkey.first import FirstStation


class Drbg:
    def __init__(self, seed):
        import hashlib
        self._h = hashlib.sha256
        self.seed = seed
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


def main(argv):
    log, suite, ring, sessions, idrks = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), \
        int(argv[4])
    if log == "-":
        print("HEAPFIT OK 0")
        return
    now = 1000
    cfg = FirstConfig(interval_ms=10000, lifetime_ms=5000, m=3, ring_slots=ring,
                      sessions=sessions, idrks=idrks, suites=(suite,))
    prs = [Pairing(b"BENCHF01", b"BS%06d" % i, bytes((i + j) & 255 for j in range(16)))
           for i in range(sessions)]
    f = FirstStation(cfg, prs, Drbg(b"bench-F"), now)
    f.prepare(now)  # suite 2: the interval's key pair, as the recording did
    while f.busy():
        f.work(now)
    buf = bytearray(80)
    est = 0
    with open(log, "rb") as fh:
        while True:
            if fh.readinto(memoryview(buf)[:1]) != 1:
                break
            n = buf[0]
            fh.readinto(memoryview(buf)[:n])
            f.receive(buf, n, now)
            while f.busy():  # suite 2: the PROOF's check (4.7)
                f.work(now)
            while f.next_output():
                pass
            code = f.next_event()
            while code:
                if code == events.ESTABLISHED:
                    est += 1
                code = f.next_event()
    if est != sessions:
        print("HEAPFIT FAIL %d of %d established" % (est, sessions))
        sys.exit(2)
    print("HEAPFIT OK %d" % est)


main(sys.argv[1:])
