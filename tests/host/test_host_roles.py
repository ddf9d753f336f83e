"""Both host roles against each other in memory, and F's ring and table rules (4.1, 4.2)."""

from collections.abc import Callable

import pytest
from hostnet import PAIRS, Net, ftype, names, sid_of

from ephkey_host import (
    Code,
    Drbg,
    FirstConfig,
    FirstStation,
    RngError,
    SecondConfig,
    SecondStation,
    UsageError,
    keyschedule as ks,
    wire,
)

S1 = SecondConfig(offer=[1])


def test_handshake_and_100_exchanges_each_way_with_rotations() -> None:
    net = Net(FirstConfig(rotate_frames=32, idrks=8))
    sid = net.connect()
    assert net.s[0].suite == 2  # the defaults negotiate suite 2
    assert names(net.fev) == [("ESTABLISHED", 0)] and names(net.sev[0]) == [("ESTABLISHED", 0)]
    for i in range(100):
        net.at(1000 + 10 * i)
        net.s[0].send_data(b"up %d" % i, net.t)
        net.pump()
        net.f.send_data(sid, b"down %d" % i, net.t)
        net.pump()
    got_f = [e for e in net.fev if e.name == "DATA"]
    got_s = [e for e in net.sev[0] if e.name == "DATA"]
    assert [e.payload for e in got_f] == [b"up %d" % i for i in range(100)]
    assert [e.payload for e in got_s] == [b"down %d" % i for i in range(100)]
    assert all(e.arg == 0 for e in got_f + got_s)  # nothing lost on a lossless wire
    rot_f = [e.arg for e in net.fev if e.name == "ROTATED"]
    rot_s = [e.arg for e in net.sev[0] if e.name == "ROTATED"]
    assert rot_f == rot_s == [1, 2, 3, 4, 5, 6]  # 200 DATA / 32 per key
    assert not [e for e in net.fev + net.sev[0] if e.name in ("ERROR", "PEER_ERROR")]
    # Both directions really used every key.
    kidx = {(who, fr[3]) for who, fr in net.wire_log if ftype(fr) == wire.DATA}
    assert {k for w, k in kidx if w == "F"} == {k for w, k in kidx if w == "S0"} == set(range(7))


def test_exhaustion_then_new_session() -> None:
    net = Net(FirstConfig(rotate_frames=2, idrks=2))
    sid = net.connect()
    for _i in range(4):
        net.s[0].send_data(b"x", net.t)
        net.pump()
    assert ("CLOSED", Code.KEYS_EXHAUSTED) in names(net.fev)
    assert names(net.sev[0])[-1] == ("CLOSED", Code.KEYS_EXHAUSTED)
    assert net.s[0].state == "IDLE"
    sid2 = net.connect()
    assert sid2 != sid


def test_rotate_ms_with_no_idrk_left_closes() -> None:
    net = Net(FirstConfig(idrks=1, rotate_ms=5000))
    net.connect()
    net.confirm()  # rotation starts only once the session is confirmed
    net.f.poll(4999)
    assert net.f.outputs() == []
    net.f.poll(5000)
    net.pump()
    assert names(net.fev)[-1] == ("CLOSED", Code.KEYS_EXHAUSTED)
    assert names(net.sev[0])[-1] == ("CLOSED", Code.KEYS_EXHAUSTED)


def scenario(t0: int, tick_period: int = 1 << 30) -> list[tuple[str, bytes]]:
    """A session whose handshake, rotation and idle timer straddle ``t0 + 5000``."""
    net = Net(FirstConfig(rotate_frames=4, idrks=8, idle_ms=10_000, confirm_ms=5_000,
                          rotate_ms=8_000), t0=t0, tick_period=tick_period)
    net.at(t0 + 4990)
    sid = net.connect()
    for i in range(6):
        net.at(t0 + 4995 + 2 * i)
        net.s[0].send_data(b"%d" % i, net.t)
        net.pump()
        net.f.send_data(sid, b"%d" % i, net.t)
        net.pump()
    for t in (t0 + 13_000, t0 + 13_006, t0 + 23_006):  # rotate_ms, then idle
        net.f.poll(t)
        net.at(t).pump()
    net.wire_log.append(("events", repr(names(net.fev) + names(net.sev[0])).encode()))
    return net.wire_log


def test_tick_wrap_changes_nothing() -> None:
    base = scenario(0)
    assert ("events", b"") != base[-1]
    assert b"ROTATED" in base[-1][1] and b"14" in base[-1][1]  # rotation and idle timeout
    assert scenario((1 << 30) - 5000) == base  # the clock wraps mid-handshake
    assert scenario(3 * (1 << 30) - 5000) == base  # unreduced host ticks
    assert scenario((1 << 24) - 5000, tick_period=1 << 24) == base  # another period


# -- the SRK ring (4.1) ---------------------------------------------------------------------

def req_from(i: int, n_s: bytes, offer: int = 1) -> bytes:
    return wire.build_req(PAIRS[i].id_s, n_s, offer)


def test_srk_created_lazily_at_head_and_shared_within_an_interval() -> None:
    f = FirstStation(FirstConfig(suites=[1]), PAIRS[:3], Drbg(b"F"), 1000)
    assert f.ring_view() == [None] * 8  # nothing drawn before a REQ
    f.receive(req_from(0, b"a" * 12), 1000)
    f.receive(req_from(1, b"b" * 12), 10_999)  # still interval 0 (t_0 = 1000)
    a, b = f.outputs()
    assert ftype(a) == ftype(b) == wire.SRK
    assert f.ring_view() == [(0, 1000)] + [None] * 7 and f.ring_head == 1
    f.poll(45_000)  # intervals 1, 2, 3 have no REQ: no SRK for them
    f.receive(req_from(2, b"c" * 12), 45_000)
    f.outputs()
    assert f.ring_view()[:2] == [(0, 1000), (4, 41_000)] and f.ring_head == 2


def test_srk_removed_after_m_lifetimes_with_bytes_zeroed() -> None:
    cfg = FirstConfig(suites=[1])
    f = FirstStation(cfg, PAIRS[:1], Drbg(b"F"), 0)
    f.receive(req_from(0, b"a" * 12), 9_000)  # request late in interval 0
    f.outputs()
    slot = f._ring[0]  # white-box: the bytes must really be overwritten
    key = slot.srk
    assert any(key)
    f.poll(cfg.m * cfg.lifetime_ms - 1)  # measured from t_k, not from the request
    assert f.ring_view()[0] == (0, 0)
    assert names(f.events()) == [("HANDSHAKE_FAILED", Code.TIMEOUT)]  # the half-open one
    f.receive(b"", cfg.m * cfg.lifetime_ms)  # receive also removes (and emits no event
    assert f.ring_view()[0] is None  # for the removal itself, only for the bad frame)
    assert key == bytes(16)
    assert names(f.events()) == [("ERROR", Code.MALFORMED)]


def test_ring_of_minimum_size_never_drops_a_live_srk() -> None:
    cfg = FirstConfig(interval_ms=7_000, lifetime_ms=20_000, m=3, ring_slots=10, suites=[1])
    f = FirstStation(cfg, PAIRS[:1], Drbg(b"F"), 0)
    for k in range(40):
        t = k * cfg.interval_ms + 6_999  # the last tick of each interval
        f.poll(t)
        assert f.ring_view()[f.ring_head] is None
        f.receive(req_from(0, k.to_bytes(12, "big")), t)
        assert ftype(f.outputs()[0]) == wire.SRK
        assert (k, k * 7_000) in f.ring_view()
        live = [x for x in f.ring_view() if x]
        assert len(live) == sum(1 for j in range(k + 1) if t - j * 7_000 < 60_000)


def test_large_interval_numbers() -> None:
    cfg = FirstConfig(interval_ms=1, lifetime_ms=2, m=2, ring_slots=5, idle_ms=10,
                      confirm_ms=5, rotate_ms=10, suites=[1])
    f = FirstStation(cfg, PAIRS[:1], Drbg(b"F"), 0)
    f.receive(req_from(0, b"z" * 12), 65_537)
    assert f.interval == 65_537 and ftype(f.outputs()[0]) == wire.SRK


# -- the session table (4.2) ----------------------------------------------------------------

def test_eviction_takes_the_oldest_half_open_slot() -> None:
    f = FirstStation(FirstConfig(sessions=3, suites=[1]), PAIRS[:5], Drbg(b"F"), 0)
    for i, t in ((0, 100), (1, 200), (2, 300)):
        f.receive(req_from(i, b"%d" % i * 12), t)
    first = [sid_of(fr) for fr in f.outputs()]
    f.receive(req_from(3, b"3" * 12), 400)
    assert [st for st, _ in f.session_states()] == ["WAIT_PROOF"] * 3
    sids = [sid for _, sid in f.session_states()]
    assert sids[1:] == first[1:] and sids[0] not in first  # slot 0 was the oldest
    assert f.events() == []  # evicting a half-open slot reports nothing


def test_same_peer_reuses_its_half_open_slot() -> None:
    f = FirstStation(FirstConfig(sessions=2, suites=[1]), PAIRS[:2], Drbg(b"F"), 0)
    f.receive(req_from(0, b"a" * 12), 0)
    f.receive(req_from(0, b"b" * 12), 10)
    assert [st for st, _ in f.session_states()] == ["WAIT_PROOF", "FREE"]
    assert len(f.outputs()) == 2 and f.events() == []


def test_busy_when_all_established_and_confirmed_never_evicted() -> None:
    net = Net(FirstConfig(sessions=2), n=3)
    net.connect(0)
    net.confirm(0)
    net.connect(1)
    net.confirm(1)
    before = net.f.session_states()
    net.s[2].connect(0)
    req = net.s[2].outputs()[0]
    for t in (0, 9_999):
        net.f.receive(req, t)
        assert net.f.outputs() == [wire.build_error(0, Code.BUSY)]
        assert names(net.f.events()) == [("ERROR", Code.BUSY)]
        assert net.f.session_states() == before


def scripted_rng(script: list[bytes], tail: Callable[[int], bytes]) -> Callable[[int], bytes]:
    """An RNG that answers the first calls from ``script``, then from ``tail``."""
    queue = list(script)

    def rng(n: int) -> bytes:
        if queue:
            out = queue.pop(0)
            assert len(out) == n, (len(out), n)
            return out
        return tail(n)
    return rng


def test_one_rng_call_per_req_split_in_the_spec_order() -> None:
    """4.2 step 4: SRK (first suite-1 REQ of the interval), sid seed, n_f, IDRKs."""
    draw1 = b"S" * 16 + b"\x00\x07" + b"n" * 12 + b"".join(bytes([i]) * 16 for i in range(4))
    draw2 = b"\x00\x07" + b"m" * 12 + bytes(64)
    f = FirstStation(FirstConfig(suites=[1]), PAIRS[:2],
                     scripted_rng([draw1, draw2], Drbg(b"x")), 0)
    f.receive(req_from(0, b"a" * 12), 0)
    f.receive(req_from(1, b"b" * 12), 0)
    a, b = f.outputs()
    assert sid_of(a) == 7 and a[4:16] == b"n" * 12
    assert sid_of(b) == 8 and b[4:16] == b"m" * 12  # seed 7 is live: 7 + 1
    assert bytes(f._ring[0].srk) == b"S" * 16
    assert [bytes(x) for x in f._slots[0].idrks] == [bytes([i]) * 16 for i in range(4)]


def test_sid_seed_zero_and_wrap() -> None:
    draws = [b"\x00\x00" + bytes(76), b"\xff\xff" + bytes(76)]
    f = FirstStation(FirstConfig(suites=[1]), PAIRS[:2],
                     scripted_rng([bytes(16) + draws[0], draws[1]], Drbg(b"x")), 0)
    f.receive(req_from(0, b"a" * 12), 0)
    f.receive(req_from(1, b"b" * 12), 0)
    assert [sid_of(x) for x in f.outputs()] == [1, 65535]


def test_rng_failure_refuses_the_req_and_changes_nothing() -> None:
    def bad(n: int) -> bytes:
        raise RngError("health test failed")
    f = FirstStation(FirstConfig(suites=[1]), PAIRS[:1], bad, 0)
    req = req_from(0, b"a" * 12)
    f.receive(req, 0)
    assert f.outputs() == [wire.build_error(0, Code.RNG_FAILURE)]
    assert names(f.events()) == [("ERROR", Code.RNG_FAILURE)]
    assert f.ring_view() == [None] * 8 and f.session_states()[0] == ("FREE", 0)
    short = FirstStation(FirstConfig(suites=[1]), PAIRS[:1], lambda n: b"", 0)
    short.receive(req, 0)
    assert names(short.events()) == [("ERROR", Code.RNG_FAILURE)]
    s = SecondStation(SecondConfig(), PAIRS[0], lambda n: b"", 0)
    s.connect(0)  # 5.1 / section 6: reported, not raised
    assert names(s.events()) == [("HANDSHAKE_FAILED", Code.RNG_FAILURE)]
    assert s.state == "IDLE" and s.outputs() == []


def test_highest_common_suite_and_no_common_suite() -> None:
    f = FirstStation(FirstConfig(suites=[1]), PAIRS[:1], Drbg(b"F"), 0)
    f.receive(req_from(0, b"a" * 12, 0x7F), 0)
    assert f.outputs()[0][3] == 1
    f.receive(req_from(0, b"b" * 12, 0x06), 0)
    assert f.outputs() == [wire.build_error(0, Code.BAD_SUITE)]
    both = FirstStation(FirstConfig(), PAIRS[:1], Drbg(b"F"), 0)  # default: suites 1 and 2
    both.prepare(0)
    both.run_jobs(0)
    both.receive(req_from(0, b"c" * 12, 0x7F), 0)
    assert both.outputs()[0][3] == 2


# -- local verbs ------------------------------------------------------------------------------

def test_usage_errors() -> None:
    net = Net(FirstConfig(max_payload=8), scfg=SecondConfig(max_payload=8))
    s, f = net.s[0], net.f
    with pytest.raises(UsageError):
        s.send_data(b"x", 0)
    s.close(0)  # nothing to close: nothing happens (5.1)
    assert s.outputs() == [] and s.events() == []
    with pytest.raises(UsageError) as info:
        f.send_data(1234, b"x", 0)
    assert info.value.code == Code.UNKNOWN_SESSION
    sid = net.connect()
    with pytest.raises(UsageError) as info:
        s.send_data(b"123456789", 0)
    assert info.value.code == Code.TOO_LONG
    with pytest.raises(UsageError) as info:
        f.send_data(sid, b"123456789", 0)
    assert info.value.code == Code.TOO_LONG
    s.send_data(b"12345678", 0)
    f.close(sid, 0)
    assert len(f.outputs()) == 1 and f.events() == []  # local close: CLOSE(0), no event
    with pytest.raises(UsageError):
        f.close(sid, 0)
    with pytest.raises(UsageError) as info:
        SecondStation(SecondConfig(), None, Drbg(b"s"), 0).connect(0)
    assert info.value.code == Code.NOT_PAIRED


def test_connect_while_open_closes_first() -> None:
    net = Net()
    net.connect()
    s = net.s[0]
    s.connect(100)
    close, req = s.outputs()
    assert ftype(close) == wire.CLOSE and close[8] != 0 and ftype(req) == wire.REQ
    assert s.state == "WAIT_SRK" and s.events() == []


def test_close_during_handshake_is_silent() -> None:
    net = Net(FirstConfig(suites=[1]), scfg=S1)
    s, f = net.s[0], net.f
    s.connect(0)
    f.receive(s.outputs()[0], 0)
    sid = sid_of(f.outputs()[0])
    f.close(sid, 0)
    s.close(0)
    assert f.outputs() == s.outputs() == [] and f.events() == s.events() == []
    assert s.state == "IDLE" and f.session_states()[0][0] == "FREE"


def test_error_frames_are_reported_and_never_answered() -> None:
    net = Net()
    sid = net.connect()
    err = wire.build_error(sid, Code.BAD_PROOF)
    net.f.receive(err, 0)
    net.s[0].receive(err, 0)
    assert net.f.outputs() == net.s[0].outputs() == []
    assert names(net.f.events()) == names(net.s[0].events()) == [("PEER_ERROR", Code.BAD_PROOF)]
    idle = SecondStation(SecondConfig(), PAIRS[0], Drbg(b"i"), 0)
    idle.receive(err, 0)
    assert names(idle.events()) == [("PEER_ERROR", Code.BAD_PROOF)]


@pytest.mark.parametrize("who", ["S", "F"])
def test_seq_exhaustion_closes_with_keys_exhausted(who: str) -> None:
    """3.7: the last seq, 2**30 - 1, is kept for CLOSE(KEYS_EXHAUSTED)."""
    net = Net()
    sid = net.connect()
    net.confirm()
    s, f = net.s[0], net.f
    if who == "S":
        s._send_seq = wire.SEQ_LIMIT - 2  # white-box: skip 2**30 frames
        s.send_data(b"the last DATA", 0)
        s.send_data(b"one too many", 0)
        frames = s.outputs()
        assert names(s.events()) == [("CLOSED", Code.KEYS_EXHAUSTED)] and s.state == "IDLE"
        rx, rx_events = f, f.events
    else:
        f._slots[0].send_seq = wire.SEQ_LIMIT - 2
        f.send_data(sid, b"the last DATA", 0)
        f.send_data(sid, b"one too many", 0)
        frames = f.outputs()
        assert names(f.events()) == [("CLOSED", Code.KEYS_EXHAUSTED)]
        assert f.session_key_index(sid) is None
        rx, rx_events = s, s.events  # type: ignore[assignment]
    data, close = frames
    assert ftype(data) == wire.DATA and data[4:8] == (wire.SEQ_LIMIT - 2).to_bytes(4, "big")
    assert ftype(close) == wire.CLOSE and close[4:8] == (wire.SEQ_LIMIT - 1).to_bytes(4, "big")
    rx.receive(data, 0)
    rx.receive(close, 0)
    got = rx_events()
    assert [e.name for e in got] == ["DATA", "CLOSED"] and got[1].arg == Code.KEYS_EXHAUSTED
    assert got[0].payload == b"the last DATA"


def test_data_gap_is_reported() -> None:
    net = Net()
    net.connect()
    s, f = net.s[0], net.f
    frames = []
    for i in range(4):
        s.send_data(b"%d" % i, 0)
        frames += s.outputs()
    f.receive(frames[0], 0)
    f.receive(frames[3], 0)
    f.receive(frames[2], 0)
    assert names(f.events()) == [("DATA", 0), ("DATA", 2), ("ERROR", Code.REPLAY)]


def test_idle_timer_counts_only_valid_frames_from_s() -> None:
    net = Net(FirstConfig(idle_ms=10_000, confirm_ms=5_000, rotate_ms=10_000))
    sid = net.connect()
    net.f.send_data(sid, b"F talking does not count", 5000)
    net.f.receive(wire.protected_head(wire.DATA, sid, 0, 5) + bytes(8), 9000)  # bad tag
    net.f.poll(9999)
    assert names(net.f.events()) == [("ERROR", Code.AUTH_FAILED)]
    net.f.poll(10_000)
    assert names(net.f.events()) == [("CLOSED", Code.TIMEOUT)]
    last = net.f.outputs()[-1]
    assert ftype(last) == wire.CLOSE  # the idle close tells S
    net.s[0].receive(last, 10_001)
    assert names(net.s[0].events())[-1] == ("CLOSED", Code.TIMEOUT)


def test_proof_resend_only_before_s_spoke() -> None:
    net = Net(FirstConfig(suites=[1]), scfg=S1)
    s, f = net.s[0], net.f
    s.connect(0)
    f.receive(s.outputs()[0], 0)
    s.receive(f.outputs()[0], 0)
    proof = s.outputs()[0]
    f.receive(proof, 0)
    key = f.outputs()[0]
    f.receive(proof, 1)
    assert f.outputs() == [key] and names(f.events()) == [("ESTABLISHED", 0)]
    s.receive(key, 2)
    s.send_data(b"hi", 3)
    f.receive(s.outputs()[0], 3)
    f.events()
    assert f.session_states()[0] == ("OPEN", sid_of(key))
    f.receive(proof, 4)
    assert f.outputs() == [wire.build_error(sid_of(proof), Code.UNEXPECTED)]


def test_confirmation_key_ack_when_s_says_nothing() -> None:
    net = Net()
    sid = net.connect()
    assert net.f.session_states()[0] == ("WAIT_CONFIRM", sid)
    net.s[0].poll(net.t + 999)
    assert net.s[0].outputs() == []
    net.s[0].poll(net.t + 1000)
    ack = net.s[0].outputs()
    assert [ftype(x) for x in ack] == [wire.KEY_ACK] and ack[0][3] == 0
    net.f.receive(ack[0], net.t + 1001)
    assert net.f.events() == [] and net.f.session_states()[0] == ("OPEN", sid)
    net.s[0].poll(net.t + 5000)
    assert net.s[0].outputs() == []  # once


def test_rekey_retries_then_timeout() -> None:
    net = Net(FirstConfig(rotate_frames=1, rekey_retry_ms=100, rekey_tries=3))
    sid = net.connect()
    net.confirm()
    f = net.f
    f.send_data(sid, b"x", 0)
    data, rekey = f.outputs()
    assert ftype(rekey) == wire.REKEY
    sent = [rekey]
    for t in (100, 200):
        f.poll(t - 1)
        assert f.outputs() == []
        f.poll(t)
        sent += f.outputs()
    assert [ftype(fr) for fr in sent] == [wire.REKEY] * 3
    assert [int.from_bytes(fr[4:8], "big") for fr in sent] == [1, 2, 3]  # new seq each time
    f.poll(300)
    close = f.outputs()
    assert ftype(close[0]) == wire.CLOSE and names(f.events()) == [("CLOSED", Code.TIMEOUT)]
    s = net.s[0]
    s.receive(data, 300)
    s.receive(close[0], 300)
    assert names(s.events())[-1] == ("CLOSED", Code.TIMEOUT)


def test_proof_after_lifetime_is_srk_expired() -> None:
    for t, ok in ((20_099, True), (20_100, False)):
        net = Net(FirstConfig(suites=[1]), scfg=S1)
        s, f = net.s[0], net.f
        s.connect(0)
        f.receive(s.outputs()[0], 100)
        s.receive(f.outputs()[0], 100)
        proof = s.outputs()[0]
        f.receive(proof, t)
        if ok:
            assert names(f.events()) == [("ESTABLISHED", 0)]
        else:
            assert f.outputs() == [wire.build_error(sid_of(proof), Code.SRK_EXPIRED)]
            assert f.session_fails(sid_of(proof)) == 0  # not counted


def test_dir_keeps_nonce_spaces_apart() -> None:
    net = Net()
    sid = net.connect()
    net.s[0].send_data(b"same", 0)
    net.f.send_data(sid, b"same", 0)
    up, down = net.s[0].outputs()[0], net.f.outputs()[0]
    assert up[:8] == down[:8] and up[8:] != down[8:]
    assert ks.nonce(sid, ks.DIR_S2F, 0, 0) != ks.nonce(sid, ks.DIR_F2S, 0, 0)


def test_check_job_whose_key_pair_left_the_ring_ends_srk_expired() -> None:
    """4.7: a CHECKING slot whose key pair is removed before its job ran ends at
    the next work call with ERROR(SRK_EXPIRED), an ERROR frame and
    HANDSHAKE_FAILED(SRK_EXPIRED); the job's copy of srk_priv is wiped."""
    net = Net(FirstConfig(suites=[2]))
    net.prepare()
    s, f = net.s[0], net.f
    s.connect(0)
    f.receive(s.outputs()[0], 0)
    s.receive(f.outputs()[0], 0)
    s.run_jobs(0)
    proof = s.outputs()[0]
    f.receive(proof, 19_999)
    assert f.busy() and ("CHECKING", s.sid) in f.session_states()
    job = f._jobs[0]
    f.poll(60_000)  # no timer for CHECKING; the ring slot of interval 0 goes
    assert f.events() == [] and job.priv == bytes(32) and f.busy()
    f.work(60_000)
    assert f.outputs() == [wire.build_error(s.sid, Code.SRK_EXPIRED)]
    assert names(f.events()) == [("ERROR", Code.SRK_EXPIRED),
                                 ("HANDSHAKE_FAILED", Code.SRK_EXPIRED)]
    assert not f.busy() and ("CHECKING", s.sid) not in f.session_states()


def test_peer_sessions_bounds_a_peers_established_sessions() -> None:
    """4.6 step 2: with peer_sessions 2, a peer's third accepted PROOF closes its
    oldest OPEN session (REPLACED); with the default 1, its second does."""
    for limit in (1, 2):
        net = Net(FirstConfig(suites=[1], peer_sessions=limit), n=1, scfg=S1)
        sids = []
        for i in range(3):
            net.at(100 * i)
            net.s[0]._reset()  # a second S process of the same peer (white-box): no CLOSE
            sids.append(net.connect())
            net.confirm()
        closed = [(e.sid, e.arg) for e in net.fev if e.name == "CLOSED"]
        if limit == 1:
            assert closed == [(sids[0], Code.REPLACED), (sids[1], Code.REPLACED)]
        else:
            assert closed == [(sids[0], Code.REPLACED)]
        assert sum(st == "OPEN" for st, _ in net.f.session_states()) == limit


def test_connect_while_proving_cancels_the_job() -> None:
    net = Net()
    net.prepare()
    s, f = net.s[0], net.f
    s.connect(0)
    f.receive(s.outputs()[0], 0)
    s.receive(f.outputs()[0], 0)
    assert s.state == "PROVING" and s.busy()
    s.connect(1)
    assert s.state == "WAIT_SRK" and not s.busy() and s._e_priv == bytes(32)
    assert [ftype(x) for x in s.outputs()] == [wire.REQ]
