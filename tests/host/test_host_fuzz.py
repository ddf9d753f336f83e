"""Whatever arrives, in whatever order, a station never raises (hypothesis).

Frames come from a recorded session (handshake, rotations, close) and are fed
whole, mutated, truncated, or as random bytes, one at a time, to stations in
every state. Only ERROR / PEER_ERROR may come of junk; F answers junk with
ERROR frames at most.
"""

from functools import lru_cache

from hypothesis import HealthCheck, given, settings, strategies as st

from ephkey_host import Drbg, FirstConfig, FirstStation, Pairing, SecondConfig, SecondStation, wire
from ephkey_host.events import ERROR, NAMES, PEER_ERROR

P = Pairing(b"F-ident1", b"S-ident1", b"p" * 16)
FCFG = FirstConfig(rotate_frames=3, idrks=3, sessions=2, suites=[1])  # suite 2: test_host_suite2
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=1)
def recorded() -> tuple[list[bytes], list[tuple[str, bytes, int]]]:
    """All frames of one lossless session, and the deliveries (to, frame, t) in order."""
    f = FirstStation(FCFG, [P], Drbg(b"F"), 0)
    s = SecondStation(SecondConfig(), P, Drbg(b"S"), 0)
    log: list[tuple[str, bytes, int]] = []
    t = 0

    def pump() -> None:
        moved = True
        while moved:
            moved = False
            for fr in s.outputs():
                log.append(("F", fr, t))
                f.receive(fr, t)
                moved = True
            for fr in f.outputs():
                log.append(("S", fr, t))
                s.receive(fr, t)
                moved = True

    s.connect(t)
    pump()
    for i in range(8):  # runs out of keys: the session ends with CLOSE(KEYS_EXHAUSTED)
        if s.state != "OPEN":
            break
        t += 7
        s.send_data(b"up %d" % i, t)
        pump()
        if s.state == "OPEN":
            f.send_data(s.sid, b"down %d" % i, t)
            pump()
    return [fr for _, fr, _ in log], log


def fresh() -> tuple[FirstStation, SecondStation]:
    return FirstStation(FCFG, [P], Drbg(b"F"), 0), SecondStation(SecondConfig(), P, Drbg(b"S"), 0)


def at_step(n: int) -> tuple[FirstStation, SecondStation, int]:
    """Stations after the first ``n`` deliveries of the recorded session."""
    f, s = fresh()
    s.connect(0)
    s.outputs()
    _, log = recorded()
    t = 0
    for to, fr, t in log[:n]:
        (f if to == "F" else s).receive(fr, t)
        f.outputs()
        s.outputs()
    f.events()
    s.events()
    return f, s, t


def mutate(data: st.DataObject, frame: bytes) -> bytes:
    how = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice", "header"]))
    b = bytearray(frame)
    if how == "flip" and b:
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        del b[data.draw(st.integers(0, len(b))):]
    elif how == "extend":
        b += data.draw(st.binary(min_size=1, max_size=8))
    elif how == "splice":
        other = data.draw(st.sampled_from(recorded()[0]))
        cut = data.draw(st.integers(0, min(len(b), len(other))))
        b = b[:cut] + bytearray(other[cut:])
    elif len(b) >= 4:
        b[data.draw(st.integers(0, 3))] = data.draw(st.integers(0, 255))
    return bytes(b)


def check(station: FirstStation | SecondStation, junk: bool) -> None:
    for e in station.events():
        assert e.name in NAMES
        if junk:
            assert e.name in (ERROR, PEER_ERROR), e
    for out in station.outputs():
        assert len(out) >= 4
        if junk:
            assert isinstance(station, FirstStation) and out[0] == wire.byte0(wire.ERROR)


@SETTINGS
@given(st.data(), st.binary(max_size=80))
def test_random_bytes_in_any_state(data: st.DataObject, junk: bytes) -> None:
    n = data.draw(st.integers(0, len(recorded()[1])))
    f, s, t = at_step(n)
    f.receive(junk, t)
    s.receive(junk, t)
    check(f, junk=True)
    check(s, junk=True)


@SETTINGS
@given(st.data())
def test_mutated_frames_in_any_state(data: st.DataObject) -> None:
    frames, log = recorded()
    f, s, t = at_step(data.draw(st.integers(0, len(log))))
    frame = mutate(data, data.draw(st.sampled_from(frames)))
    f.receive(frame, t)
    s.receive(frame, t)
    junk = frame not in frames and frame[:1] != bytes((wire.byte0(wire.REQ),))
    check(f, junk)
    check(s, junk)


@SETTINGS
@given(st.data())
def test_any_order_of_arrival(data: st.DataObject) -> None:
    frames, _ = recorded()
    order = data.draw(st.permutations(frames))
    extra = data.draw(st.lists(st.sampled_from(frames), max_size=10))  # duplicates
    f, s = fresh()
    s.connect(0)
    s.outputs()
    t = 0
    for fr in list(order) + extra:
        t += data.draw(st.integers(0, 30_000))
        to = data.draw(st.sampled_from([f, s]))
        to.receive(fr, t)
        if data.draw(st.booleans()):
            f.poll(t)
            s.poll(t)
        check(f, junk=False)
        check(s, junk=False)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["F", "S"]), st.binary(max_size=60),
                          st.integers(0, 1 << 31)), max_size=30))
def test_random_streams_with_polls(feed: list[tuple[str, bytes, int]]) -> None:
    f, s = fresh()
    for to, raw, t in feed:
        station = f if to == "F" else s
        station.receive(raw, t)
        station.poll(t)
        check(station, junk=True)
