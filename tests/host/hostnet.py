"""F and some S stations of the host on a lossless in-memory wire (not a test module).

:class:`Net` delivers every queued frame until quiet, running each station's
jobs (``work`` until ``busy()`` is False) in between, so suite-2 handshakes
complete as on a real event loop; F's frames go to the S whose session has
that sid, or to the first S waiting for an SRK frame. An optional MITM sees
(and may rewrite, or drop by returning None) every frame. :class:`LogRng`
keeps every RNG call (to find ``srk_priv`` and ``e_priv`` afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ephkey_host import Drbg, Event, FirstConfig, FirstStation, Pairing, SecondConfig, SecondStation

PAIRS = [Pairing(b"F-ident1", b"S-ident%d" % i, bytes([i + 1]) * 16) for i in range(8)]


def names(events: Iterable[Event]) -> list[tuple[str, int]]:
    return [(e.name, e.arg) for e in events]


def sid_of(frame: bytes) -> int:
    return int.from_bytes(frame[1:3], "big") if frame and frame[0] & 0x0F != 1 else 0


def ftype(frame: bytes) -> int:
    return frame[0] & 0x0F


class LogRng:
    """A DRBG that keeps every call's bytes."""

    def __init__(self, seed: bytes):
        self.drbg = Drbg(seed)
        self.log: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        out = self.drbg(n)
        self.log.append(out)
        return out

    def of_size(self, n: int) -> list[bytes]:
        return [x for x in self.log if len(x) == n]


class Net:
    def __init__(self, fcfg: FirstConfig | None = None, n: int = 1,
                 scfg: SecondConfig | None = None, t0: int = 0, tick_period: int = 1 << 30,
                 mitm: Callable[[str, bytes], bytes | None] | None = None,
                 pairs: list[Pairing] | None = None, seed: bytes = b"F"):
        self.t = t0
        pairs = pairs or PAIRS
        self.f_rng = LogRng(seed)
        self.s_rngs = [LogRng(seed + b"-S%d" % i) for i in range(n)]
        self.f = FirstStation(fcfg or FirstConfig(), pairs[:n], self.f_rng, t0,
                              tick_period=tick_period)
        self.s = [SecondStation(scfg or SecondConfig(), pairs[i], self.s_rngs[i], t0,
                                tick_period=tick_period) for i in range(n)]
        self.mitm = mitm or (lambda who, fr: fr)
        self.fev: list[Event] = []
        self.sev: list[list[Event]] = [[] for _ in range(n)]
        self.wire_log: list[tuple[str, bytes]] = []  # what crossed the wire (after the MITM)

    def _deliver_f(self, fr: bytes) -> None:
        sid = sid_of(fr)
        targets = [s for s in self.s if s.sid == sid and s.state != "IDLE"] or \
            [s for s in self.s if s.state == "WAIT_SRK"][:1]
        for s in targets:
            s.receive(fr, self.t)

    def pump(self) -> None:
        """Deliver and work until quiet."""
        moved = True
        while moved:
            moved = False
            for i, s in enumerate(self.s):
                s.run_jobs(self.t)
                for fr in s.outputs():
                    moved = True
                    out = self.mitm("S%d" % i, fr)
                    if out is None:
                        continue
                    self.wire_log.append(("S%d" % i, out))
                    self.f.receive(out, self.t)
            self.f.run_jobs(self.t)
            for fr in self.f.outputs():
                moved = True
                out = self.mitm("F", fr)
                if out is None:
                    continue
                self.wire_log.append(("F", out))
                self._deliver_f(out)
            self.fev += self.f.events()
            for i, s in enumerate(self.s):
                self.sev[i] += s.events()

    def at(self, t: int) -> Net:
        self.t = t
        return self

    def prepare(self) -> None:
        """Make the current interval's suite-2 key pair ready (if F accepts suite 2)."""
        while self.f.prepare(self.t):
            self.f.run_jobs(self.t)
        self.f.run_jobs(self.t)

    def connect(self, i: int = 0) -> int:
        self.prepare()
        self.s[i].connect(self.t)
        self.pump()
        assert self.s[i].state == "OPEN", (names(self.fev), names(self.sev[i]))
        return self.s[i].sid

    def confirm(self, i: int = 0, payload: bytes = b"confirm") -> None:
        """S i's first DATA: F confirms the session."""
        self.s[i].send_data(payload, self.t)
        self.pump()
