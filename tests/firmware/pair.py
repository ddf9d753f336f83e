"""An in-memory pair of stations, the way tests drive them: frames handed
across by hand, the clock advanced by the test."""

from drbg import Drbg
from ephkey import errors, events
from ephkey.config import FirstConfig, Pairing, SecondConfig
from ephkey.first import FirstStation
from ephkey.second import SecondStation

ID_F = b"FIRST-01"


def pairing(i=0):
    return Pairing(ID_F, b"SECOND%02d" % i, bytes(range(i, i + 16)))


# Tests' stations are smaller than section 11's defaults (4 session slots,
# 64-byte payloads): the emulated board runs these tests in its own 140 KiB
# heap, several stations at a time. A test that needs more says so.
def first(now=0, pairings=None, seed=b"F", **kw):
    kw.setdefault("sessions", 4)
    kw.setdefault("max_payload", 64)
    return FirstStation(FirstConfig(**kw), pairings or [pairing(0)], Drbg(seed), now)


def second(i=0, now=0, seed=None, **kw):
    kw.setdefault("max_payload", 64)
    return SecondStation(SecondConfig(**kw), pairing(i), Drbg(seed or b"S%d" % i), now)


class Tape:
    """An RNG that keeps a copy of everything it hands out: the demonstrator's
    record of a station's secret draws (e_priv, y_f, ...), which no attacker holds."""

    def __init__(self, rng):
        self.rng = rng
        self.draws = []

    def __call__(self, n):
        r = self.rng(n)
        self.draws.append(bytes(r))
        return r


def outputs(st):
    frames = []
    n = st.next_output()
    while n:
        frames.append(bytes(st.out[:n]))
        n = st.next_output()
    return frames


def drain(st):
    evs = []
    code = st.next_event()
    while code:
        item = (events.NAMES[code], st.ev_sid, st.ev_arg)
        if code == events.DATA:
            item = item + (bytes(st.payload[:st.ev_len]),)
        evs.append(item)
        code = st.next_event()
    return evs


def work(st, now):
    """Run the station's jobs to the end (X25519 slices, completions): 4.7."""
    units = 0
    while st.busy():
        st.work(now)
        units += 1
    return units


def deliver(frames, to, now):
    for f in frames:
        to.receive(f, len(f), now)


def handshake(f, s, now=0):
    """Run a whole handshake; return the session id. A suite-2 REQ that finds
    no key pair for its interval is refused with NOT_READY (4.2 step 2): F's
    job then runs and the REQ goes again, as S's retransmission would."""
    s.connect(now)
    req = outputs(s)
    deliver(req, f, now)              # REQ
    srk = outputs(f)
    if len(srk) == 1 and srk[0][0] == 0x2F and srk[0][3] == errors.NOT_READY:
        work(f, now)
        deliver(req, f, now)
        srk = outputs(f)
    deliver(srk, s, now)              # SRK
    work(s, now)                      # suite 2: e_pub and DH
    deliver(outputs(s), f, now)       # PROOF
    work(f, now)                      # suite 2: DH
    deliver(outputs(f), s, now)       # KEY
    ef, es = drain(f), drain(s)
    assert ef and ef[-1][0] == "ESTABLISHED", ef
    assert es and es[-1][0] == "ESTABLISHED", es
    return s.sid
