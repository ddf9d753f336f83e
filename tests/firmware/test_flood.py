"""Flood: thousands of REQs inside one initiation interval, from thousands
of claimed identities, at one first station inside MicroPython.

Section 9: F keeps confirmed sessions, answers unknown identities with a
4-byte ERROR and no state, holds at most one half-open slot per paired peer,
and its memory is its static tables: gc.mem_alloc() after gc.collect() does
not grow however long the flood. A handshake started in the middle of the
flood completes. tools/reliability.py runs ``main(20000)``.
"""

import gc
import json

from drbg import Drbg
from ephkey import errors, events, wire
from ephkey.config import FirstConfig, Pairing, SecondConfig
from ephkey.first import FirstStation
from ephkey.second import SecondStation

ID_F = b"FIRST-01"


def _pairing(i):
    return Pairing(ID_F, b"FLOOD%03d" % i, bytes((3 * i + k) & 0xFF for k in range(16)))


def _handshake_step(a, b, now):
    while a.busy():  # suite 2: the X25519 jobs first (4.7)
        a.work(now)
    n = a.next_output()
    while n:
        b.receive(a.out, n, now)
        n = a.next_output()


def _events(st):
    out = []
    code = st.next_event()
    while code:
        out.append((code, st.ev_sid, st.ev_arg))
        code = st.next_event()
    return out


def flood(n, paired_flooders=0, suite=1, samples=20):
    """n REQs in the first interval; returns counts and memory figures."""
    gc.collect()
    mem_before_station = gc.mem_alloc()
    pairings = [_pairing(i) for i in range(2 + paired_flooders)]
    f = FirstStation(FirstConfig(sessions=8, suites=(suite,)), pairings, Drbg(b"flood F"), 0)
    gc.collect()
    mem_station = gc.mem_alloc()
    est = SecondStation(SecondConfig(offer=(suite,)), pairings[1], Drbg(b"est"), 0)
    legit = SecondStation(SecondConfig(offer=(suite,)), pairings[0], Drbg(b"legit"), 0)
    # an established session before the flood, confirmed (S spoke under its key)
    if suite == 2:
        f.prepare(0)
    est.connect(0)
    for _ in range(3):
        _handshake_step(f, est, 0)
        _handshake_step(est, f, 0)
    assert est.state == 3
    est.send(b"hi", 2, 0)
    _handshake_step(est, f, 0)
    _events(f)
    _events(est)
    rnd = Drbg(b"flood ids")
    req = bytearray(wire.LEN_REQ)
    codes = {}
    answers = 0
    srk_frames = 0
    mem = [0] * samples
    k = 0
    every = max(n // samples, 1)
    legit_ok = False
    k_legit = -1  # first sample after the legitimate session opened
    for i in range(n):
        now = 1 + i * 5000 // n  # all inside interval 0 (10 s)
        if i % every == 0 and k < samples:
            gc.collect()
            mem[k] = gc.mem_alloc()
            k += 1
        if paired_flooders and i % 4 == 0:
            id_s = pairings[2 + i // 4 % paired_flooders].id_s
        else:
            id_s = rnd(8)
        req[0] = wire.B_REQ
        req[wire.OFF_ID_S:wire.OFF_ID_S + 8] = id_s
        req[wire.OFF_N_S:wire.OFF_N_S + 12] = rnd(12)
        req[wire.OFF_OFFER] = 1 << (suite - 1)
        f.receive(req, wire.LEN_REQ, now)
        m = f.next_output()
        while m:
            if f.out[0] == wire.B_ERROR:
                answers += 1
            elif f.out[0] == wire.B_SRK:
                srk_frames += 1
            m = f.next_output()
        for code, _sid, arg in _events(f):
            assert code == events.ERROR or (code == events.ESTABLISHED and i == n // 2 + 10), (
                code, arg)
            codes[arg] = codes.get(arg, 0) + 1
        if i == n // 2:
            # the legitimate handshake, its frames interleaved with the flood
            legit.connect(now)
            _handshake_step(legit, f, now)   # REQ
            _handshake_step(f, legit, now)   # SRK
        if i == n // 2 + 10:
            _handshake_step(legit, f, now)   # PROOF, ten flood REQs later
            _handshake_step(f, legit, now)   # KEY
            legit_ok = legit.state == 3
            legit.send(b"hi", 2, now)        # confirms it
            _handshake_step(legit, f, now)
            k_legit = k + 1 if k < samples else -1
            evs = _events(f)
            assert (events.ESTABLISHED, legit.sid, 0) in evs, evs
            assert (events.DATA, legit.sid, 0) in evs, evs
            _events(legit)
    gc.collect()
    mem_after = gc.mem_alloc()
    # the established session still carries data
    est.send(b"still here", 10, 6000)
    _handshake_step(est, f, 6000)
    alive = (events.DATA, est.sid, 0) in _events(f)
    t = f.table
    return {
        "reqs": n, "paired_flooders": paired_flooders, "suite": suite, "codes": codes,
        "error_frames": answers, "srk_frames": srk_frames, "legit_established": legit_ok,
        "established_alive": alive, "open_slots": t.count_state(2),
        "half_open_slots": t.count_state(1), "station_bytes": mem_station - mem_before_station,
        "mem_station": mem_station, "mem_samples": mem[:k], "mem_after": mem_after,
        # growth during the flood, apart from the legitimate session's own keys
        # (two cryptolib AES contexts per open session, made when it opens)
        "mem_growth": _growth(mem[:k], k_legit, mem_after),
        "legit_session_bytes": (mem[k_legit] - mem[k_legit - 1]) if 0 < k_legit < k else 0,
        "events_dropped": f.events.dropped, "frames_dropped": f.outq.dropped,
    }


TOLERANCE = 1024


def _growth(mem, k_legit, end):
    if k_legit <= 1 or k_legit >= len(mem):
        return max(mem[1:] + [end]) - mem[1] if len(mem) > 1 else 0
    before = mem[1:k_legit - 1] or [mem[1]]
    after = mem[k_legit:] + [end]
    return max(max(before) - before[0], max(after) - after[0])


def _check(r):
    assert r["legit_established"] and r["established_alive"], r
    assert r["mem_growth"] <= TOLERANCE, r
    assert r["events_dropped"] == 0 and r["frames_dropped"] == 0, r
    assert r["half_open_slots"] <= r["paired_flooders"] + 1, r
    unknown = r["codes"].get(errors.UNKNOWN_PEER, 0)
    assert unknown + r["srk_frames"] == r["reqs"], r
    assert r["error_frames"] == unknown, r


def test_flood_unknown_identities():
    r = flood(2000)
    _check(r)
    assert r["codes"] == {errors.UNKNOWN_PEER: 2000}, r


def test_flood_with_paired_identities():
    r = flood(2000, paired_flooders=5)
    _check(r)
    assert r["open_slots"] == 2, r


def test_flood_suite2():
    r = flood(300, paired_flooders=2, suite=2)
    _check(r)


def main(n=20000, paired_flooders=5, suite=1):
    r = flood(n, paired_flooders, suite)
    print("FLOOD " + json.dumps(r))
    _check(r)
