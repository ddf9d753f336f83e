"""Both roles inside MicroPython, joined in memory, the clock driven by the test.

These are suite-1 stations (16-byte SRKs); suite 2 is in test_suite2.py.
"""

import micropython

import pair
from ephkey import errors, wire
from ephkey.config import FirstConfig, SecondConfig
from ephkey.sessions import OPEN, WAIT_CONFIRM
from mpunit import raises
from pair import deliver, drain, handshake, outputs, pairing


def first(**kw):
    kw.setdefault("suites", (1,))
    return pair.first(**kw)


def second(i=0, **kw):
    kw.setdefault("offer", (1,))
    return pair.second(i, **kw)


def test_config_refuses_m_above_10():
    msg = raises(ValueError, lambda: FirstConfig(m=11))
    assert "m must be" in msg, msg


def test_config_refuses_lifetime_of_90_s():
    msg = raises(ValueError, lambda: FirstConfig(lifetime_ms=90000, interval_ms=10000))
    assert "lifetime_ms" in msg, msg
    FirstConfig(lifetime_ms=89999, interval_ms=10000, ring_slots=32)


def test_config_refuses_ring_too_small_and_interval_too_long():
    assert "ring_slots" in raises(ValueError, lambda: FirstConfig(ring_slots=6))
    assert "interval_ms" in raises(ValueError,
        lambda: FirstConfig(m=1, interval_ms=10, lifetime_ms=20000))


def test_config_v2_settings_and_their_ranges():
    c = FirstConfig()
    assert (c.confirm_ms, c.peer_sessions, c.proof_tries, c.out_queue) == (10000, 1, 3, 12)
    assert SecondConfig().out_queue == 4
    assert "confirm_ms" in raises(ValueError, lambda: FirstConfig(idle_ms=1000))
    assert "confirm_ms" in raises(ValueError, lambda: FirstConfig(confirm_ms=300000))
    FirstConfig(confirm_ms=299999)
    assert "peer_sessions" in raises(ValueError, lambda: FirstConfig(sessions=2, peer_sessions=3))
    assert "proof_tries" in raises(ValueError, lambda: FirstConfig(proof_tries=0))
    assert "proof_tries" in raises(ValueError, lambda: FirstConfig(proof_tries=256))
    assert "out_queue" in raises(ValueError, lambda: FirstConfig(out_queue=0))
    assert "out_queue" in raises(ValueError, lambda: SecondConfig(out_queue=0))
    assert FirstConfig(sessions=3).out_queue == 7


def test_no_pairing_material_refuses_to_start():
    from ephkey.first import FirstStation
    from ephkey.second import SecondStation
    raises(ValueError, lambda: FirstStation(FirstConfig(), [], None, 0))
    raises(ValueError, lambda: SecondStation(SecondConfig(), None, None, 0))


def test_handshake_and_data_both_ways():
    f = first()
    s = second()
    sid = handshake(f, s)
    s.send(b"hello", 5, 10)
    deliver(outputs(s), f, 10)
    assert drain(f) == [("DATA", sid, 0, b"hello")]
    f.send(sid, b"world!", 6, 11)
    deliver(outputs(f), s, 11)
    assert drain(s) == [("DATA", sid, 0, b"world!")]


def test_three_sessions_in_one_interval_share_one_srk_with_own_idrks():
    pairings = [pairing(i) for i in range(4)]
    f = first(pairings=pairings, interval_ms=10000, lifetime_ms=20000, m=3)
    sids = []
    for i in range(3):
        sids.append(handshake(f, second(i), now=1000 + 100 * i))
    assert f.ring.created == 1  # one SRK for the interval
    t = f.table
    slots = [t.find_sid(sid) for sid in sids]
    srk_slots = [t.srk_slot[i] for i in slots]
    assert srk_slots[0] == srk_slots[1] == srk_slots[2]
    sets = [bytes(t.idrk[16 * t.idrks * i:16 * t.idrks * (i + 1)]) for i in slots]
    assert len(set(sets)) == 3
    # a request in the next interval gets a new SRK
    sid3 = handshake(f, second(3), now=10000)
    assert f.ring.created == 2
    assert t.srk_slot[t.find_sid(sid3)] != srk_slots[0]
    assert t.interval[t.find_sid(sid3)] == 1


def test_srk_zeroed_after_m_times_lifetime():
    f = first(interval_ms=10000, lifetime_ms=20000, m=3)
    handshake(f, second(0), now=5)
    ring = f.ring
    slot = 0
    assert ring.live[slot] and any(ring.keys[0:16])
    f.poll(3 * 20000 - 1)  # interval 0 started at tick 0
    assert ring.live[slot] and any(ring.keys[0:16])
    f.poll(3 * 20000)
    assert not ring.live[slot]
    assert ring.keys[0:16] == bytearray(16)


def test_clock_wraps_around():
    from time import ticks_add
    start = ticks_add(0, -5000)  # 5 s before the tick counter wraps
    f = first(now=start, interval_ms=10000, lifetime_ms=20000, m=3)
    handshake(f, second(0), now=ticks_add(start, 100))
    f.poll(ticks_add(start, 59999))
    assert f.ring.live_count() == 1
    f.poll(ticks_add(start, 60000))  # across the wrap
    assert f.ring.live_count() == 0


def test_proof_after_lifetime_is_srk_expired():
    f = first(lifetime_ms=20000)
    s = second()
    s.connect(0)
    deliver(outputs(s), f, 0)
    deliver(outputs(f), s, 0)
    proof = outputs(s)[0]
    f.receive(proof, len(proof), 20000)
    assert drain(f) == [("ERROR", s.sid, errors.SRK_EXPIRED)]
    err = outputs(f)
    assert err == [b"\x2f" + proof[1:3] + bytes((errors.SRK_EXPIRED,))]
    assert f.table.fails[f.table.find_sid(s.sid)] == 0  # not counted (4.5 step 4)


def test_rotation_through_the_idrk_set_and_exhaustion():
    f = first(rotate_frames=4, idrks=3)
    s = second()
    sid = handshake(f, s)
    seen = []
    now = 100
    for i in range(40):
        if s.state != 3:  # OPEN
            break
        s.send(b"s%d" % i, 2 + (i >= 10), now)
        deliver(outputs(s), f, now)
        seen += drain(f)
        if f.table.find_sid(sid) < 0:
            deliver(outputs(f), s, now)
            seen += drain(s)
            break
        f.send(sid, b"f%d" % i, 2 + (i >= 10), now)
        deliver(outputs(f), s, now)
        deliver(outputs(s), f, now)  # KEY_ACKs
        seen += drain(s) + drain(f)
        now += 1
    rotated = [e for e in seen if e[0] == "ROTATED"]
    assert [e[2] for e in rotated] == [1, 1, 2, 2], rotated
    assert ("CLOSED", sid, errors.KEYS_EXHAUSTED) in seen
    assert s.state == 0  # IDLE after F's CLOSE
    assert f.table.idrk == bytearray(len(f.table.idrk))


def test_replayed_data_frame_is_rejected_and_session_survives():
    f = first()
    s = second()
    sid = handshake(f, s)
    s.send(b"one", 3, 1)
    frame = outputs(s)[0]
    f.receive(frame, len(frame), 1)
    assert drain(f) == [("DATA", sid, 0, b"one")]
    f.receive(frame, len(frame), 2)
    assert drain(f) == [("ERROR", sid, errors.REPLAY)]
    s.send(b"two", 3, 3)
    deliver(outputs(s), f, 3)
    assert drain(f) == [("DATA", sid, 0, b"two")]


def test_reflected_frames_are_rejected():
    f = first()
    s = second()
    sid = handshake(f, s)
    f.send(sid, b"x", 1, 1)
    frame = outputs(f)[0]
    f.receive(frame, len(frame), 1)  # F's own DATA back to F
    assert drain(f) == [("ERROR", sid, errors.AUTH_FAILED)]
    # a KEY or SRK frame sent back to F is a type only S receives
    s2 = second(1)
    f2 = first(pairings=[pairing(0), pairing(1)])
    s2.connect(2)
    deliver(outputs(s2), f2, 2)
    srk = outputs(f2)[0]
    f2.receive(srk, len(srk), 3)
    assert drain(f2) == [("ERROR", wire.sid_of(srk), errors.UNEXPECTED)] and outputs(f2) == []


def test_table_full_evicts_oldest_half_open_never_an_open_session():
    pairings = [pairing(i) for i in range(4)]
    f = first(pairings=pairings, sessions=2)
    sid0 = handshake(f, second(0))
    s1 = second(1)
    s1.connect(1)
    deliver(outputs(s1), f, 1)
    outputs(f)
    s2 = second(2)
    s2.connect(2)
    deliver(outputs(s2), f, 2)  # evicts s1's half-open handshake
    assert len(outputs(f)) == 1
    assert f.table.count_state(WAIT_CONFIRM) == 1 and f.table.find_sid(sid0) >= 0
    # with the table full of established sessions, a request is refused with BUSY
    f2 = first(pairings=pairings, sessions=1)
    s0 = second(0)
    handshake(f2, s0)
    s0.send(b"c", 1, 1)  # S speaks under the session key: confirmed
    deliver(outputs(s0), f2, 1)
    assert drain(f2) == [("DATA", s0.sid, 0, b"c")] and f2.table.count_state(OPEN) == 1
    s3 = second(3)
    s3.connect(5)
    deliver(outputs(s3), f2, 5)
    assert drain(f2) == [("ERROR", 0, errors.BUSY)]
    assert outputs(f2)[0][-1] == errors.BUSY


def test_data_path_allocates_nothing():
    f = first(max_payload=256)
    s = second(max_payload=256)
    sid = handshake(f, s)
    payload = bytearray(b"x" * 200)
    for n in (16, 64, 200):
        # warm up, then the same work under a locked heap
        s.send(payload, n, 1)
        k = s.next_output()
        f.receive(s.out, k, 1)
        f.next_event()
        micropython.heap_lock()
        try:
            s.send(payload, n, 2)
            k = s.next_output()
            f.receive(s.out, k, 2)
            code = f.next_event()
            f.send(sid, payload, n, 2)
            k = f.next_output()
            s.receive(f.out, k, 2)
            code2 = s.next_event()
        finally:
            micropython.heap_unlock()
        assert code == 2 and f.ev_len == n, (code, f.ev_len)
        assert code2 == 2 and s.ev_len == n
