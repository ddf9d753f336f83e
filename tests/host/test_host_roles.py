"""Both host roles against each other in memory, and F's ring and table rules (4.1, 4.2)."""

from collections.abc import Callable

import pytest

from ephkey_host import (
    Code,
    Drbg,
    Event,
    FirstConfig,
    FirstStation,
    Pairing,
    RngError,
    SecondConfig,
    SecondStation,
    UsageError,
    keyschedule as ks,
    wire,
)

PAIRS = [Pairing(b"F-ident1", b"S-ident%d" % i, bytes([i + 1]) * 16) for i in range(6)]


def names(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.name, e.arg) for e in events]


class Net:
    """F and some S stations joined by a lossless in-memory wire."""

    def __init__(self, fcfg: FirstConfig | None = None, n: int = 1, t0: int = 0,
                 scfg: SecondConfig | None = None, tick_period: int = 1 << 30):
        self.t = t0
        self.f = FirstStation(fcfg or FirstConfig(), PAIRS[:n], Drbg(b"F"), t0,
                              tick_period=tick_period)
        self.s = [SecondStation(scfg or SecondConfig(), PAIRS[i], Drbg(b"S%d" % i), t0,
                                tick_period=tick_period) for i in range(n)]
        self.fev: list[Event] = []
        self.sev: list[list[Event]] = [[] for _ in range(n)]
        self.wire_log: list[tuple[str, bytes]] = []

    def pump(self) -> None:
        """Deliver until quiet; F's frames go to the S whose session has that sid."""
        moved = True
        while moved:
            moved = False
            for i, s in enumerate(self.s):
                for fr in s.outputs():
                    self.wire_log.append(("S%d" % i, fr))
                    self.f.receive(fr, self.t)
                    moved = True
            for fr in self.f.outputs():
                self.wire_log.append(("F", fr))
                sid = int.from_bytes(fr[3:7], "big")
                targets = [s for s in self.s if s.sid == sid] or \
                    [s for s in self.s if s.state == "WAIT_SRK"][:1]
                for s in targets:
                    s.receive(fr, self.t)
                moved = True
            self.fev += self.f.events()
            for i, s in enumerate(self.s):
                self.sev[i] += s.events()

    def at(self, t: int) -> "Net":
        self.t = t
        return self

    def connect(self, i: int = 0) -> int:
        self.s[i].connect(self.t)
        self.pump()
        assert self.s[i].state == "OPEN"
        return self.s[i].sid


def test_handshake_and_100_exchanges_each_way_with_rotations() -> None:
    net = Net(FirstConfig(rotate_frames=32, idrks=8))
    sid = net.connect()
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
    kidx = {(who, fr[7]) for who, fr in net.wire_log if fr[1] == wire.DATA}
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
    net.f.poll(4999)
    assert net.f.outputs() == []
    net.f.poll(5000)
    net.pump()
    assert names(net.fev)[-1] == ("CLOSED", Code.KEYS_EXHAUSTED)
    assert names(net.sev[0])[-1] == ("CLOSED", Code.KEYS_EXHAUSTED)


def scenario(t0: int, tick_period: int = 1 << 30) -> list[tuple[str, bytes]]:
    """A session whose handshake, rotation and idle timer straddle ``t0 + 5000``."""
    net = Net(FirstConfig(rotate_frames=4, idrks=8, idle_ms=10_000, rotate_ms=8_000), t0=t0,
              tick_period=tick_period)
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

def req_from(i: int, n_s: bytes) -> bytes:
    return wire.build_req(PAIRS[i].id_s, n_s, 1)


def test_srk_created_lazily_at_head_and_shared_within_an_interval() -> None:
    f = FirstStation(FirstConfig(), PAIRS[:3], Drbg(b"F"), 1000)
    assert f.ring_view() == [None] * 8  # nothing drawn before a REQ
    f.receive(req_from(0, b"a" * 16), 1000)
    f.receive(req_from(1, b"b" * 16), 10_999)  # still interval 0 (t_0 = 1000)
    a, b = f.outputs()
    assert a[23:25] == b[23:25] == b"\x00\x00"
    assert f.ring_view() == [(0, 1000)] + [None] * 7 and f.ring_head == 1
    f.poll(45_000)  # intervals 1, 2, 3 have no REQ: no SRK for them
    f.receive(req_from(2, b"c" * 16), 45_000)
    assert f.outputs()[0][23:25] == b"\x00\x04"
    assert f.ring_view()[:2] == [(0, 1000), (4, 41_000)] and f.ring_head == 2


def test_srk_removed_after_m_lifetimes_with_bytes_zeroed() -> None:
    cfg = FirstConfig()
    f = FirstStation(cfg, PAIRS[:1], Drbg(b"F"), 0)
    f.receive(req_from(0, b"a" * 16), 9_000)  # request late in interval 0
    f.outputs()
    slot = f._ring[0]  # white-box: the bytes must really be overwritten
    key = slot.srk
    assert any(key)
    f.poll(cfg.m * cfg.lifetime_ms - 1)  # measured from t_k, not from the request
    assert f.ring_view()[0] == (0, 0)
    assert names(f.events()) == [("HANDSHAKE_FAILED", Code.TIMEOUT)]  # the half-open one
    f.receive(b"\x01", cfg.m * cfg.lifetime_ms)  # receive also removes (and emits no event
    assert f.ring_view()[0] is None  # for the removal itself, only for the bad frame)
    assert key == bytes(16)
    assert names(f.events()) == [("ERROR", Code.MALFORMED)]


def test_ring_of_minimum_size_never_drops_a_live_srk() -> None:
    cfg = FirstConfig(interval_ms=7_000, lifetime_ms=20_000, m=3, ring_slots=10)
    f = FirstStation(cfg, PAIRS[:1], Drbg(b"F"), 0)
    for k in range(40):
        t = k * cfg.interval_ms + 6_999  # the last tick of each interval
        f.poll(t)
        assert f.ring_view()[f.ring_head] is None
        f.receive(req_from(0, k.to_bytes(16, "big")), t)
        assert f.outputs()[0][23:25] == k.to_bytes(2, "big")
        live = [x for x in f.ring_view() if x]
        assert len(live) == sum(1 for j in range(k + 1) if t - j * 7_000 < 60_000)


def test_interval_number_wraps_mod_65536_on_the_wire() -> None:
    cfg = FirstConfig(interval_ms=1, lifetime_ms=2, m=2, ring_slots=5, idle_ms=10,
                      rotate_ms=10)
    f = FirstStation(cfg, PAIRS[:1], Drbg(b"F"), 0)
    f.receive(req_from(0, b"z" * 16), 65_537)
    assert f.interval == 65_537 and f.outputs()[0][23:25] == b"\x00\x01"


# -- the session table (4.2) ----------------------------------------------------------------

def test_eviction_takes_the_oldest_half_open_slot() -> None:
    f = FirstStation(FirstConfig(sessions=3), PAIRS[:5], Drbg(b"F"), 0)
    for i, t in ((0, 100), (1, 200), (2, 300)):
        f.receive(req_from(i, b"%d" % i * 16), t)
    first = [int.from_bytes(fr[3:7], "big") for fr in f.outputs()]
    f.receive(req_from(3, b"3" * 16), 400)
    assert [st for st, _ in f.session_states()] == ["WAIT_PROOF"] * 3
    sids = [sid for _, sid in f.session_states()]
    assert sids[1:] == first[1:] and sids[0] not in first  # slot 0 was the oldest


def test_same_peer_reuses_its_half_open_slot() -> None:
    f = FirstStation(FirstConfig(sessions=2), PAIRS[:2], Drbg(b"F"), 0)
    f.receive(req_from(0, b"a" * 16), 0)
    f.receive(req_from(0, b"b" * 16), 10)
    assert [st for st, _ in f.session_states()] == ["WAIT_PROOF", "FREE"]
    assert len(f.outputs()) == 2 and f.events() == []


def test_busy_when_all_established_and_established_never_evicted() -> None:
    net = Net(FirstConfig(sessions=2), n=3)
    net.connect(0)
    net.connect(1)
    before = net.f.session_states()
    net.s[2].connect(0)
    req = net.s[2].outputs()[0]
    net.f.receive(req, 0)
    assert net.f.outputs() == [wire.build_error(req, Code.BUSY)]
    assert names(net.f.events()) == [("ERROR", Code.BUSY)]
    assert net.f.session_states() == before


def sid_rng(script: list[bytes], tail: Callable[[int], bytes]) -> Callable[[int], bytes]:
    """An RNG that answers the first draws from ``script``, then from ``tail``."""
    queue = list(script)

    def rng(n: int) -> bytes:
        if queue:
            out = queue.pop(0)
            assert len(out) == n
            return out
        return tail(n)
    return rng


def test_sid_redrawn_while_zero_or_live() -> None:
    srk, nf, idrk = b"k" * 16, b"n" * 16, b"i" * 16
    script = [srk, b"\x40\x00\x00\x07", nf] + [idrk] * 4  # top bits cleared: sid 7
    script += [b"\xc0\x00\x00\x00", b"\x00\x00\x00\x07", b"\x00\x00\x00\x09", nf] + [idrk] * 4
    f = FirstStation(FirstConfig(), PAIRS[:2], sid_rng(script, Drbg(b"x")), 0)
    f.receive(req_from(0, b"a" * 16), 0)
    f.receive(req_from(1, b"b" * 16), 0)
    a, b = f.outputs()
    assert a[3:7] == b"\x00\x00\x00\x07" and b[3:7] == b"\x00\x00\x00\x09"
    assert a[7:23] == b[7:23] == nf


def test_rng_failure_refuses_the_req_and_changes_nothing() -> None:
    calls = []

    def bad(n: int) -> bytes:
        calls.append(n)
        if len(calls) == 3:
            raise RngError("health test failed")
        return bytes([len(calls)]) * n
    f = FirstStation(FirstConfig(), PAIRS[:1], bad, 0)
    req = req_from(0, b"a" * 16)
    f.receive(req, 0)
    assert f.outputs() == [wire.build_error(req, Code.RNG_FAILURE)]
    assert names(f.events()) == [("ERROR", Code.RNG_FAILURE)]
    assert f.ring_view() == [None] * 8 and f.session_states()[0] == ("FREE", 0)
    short = FirstStation(FirstConfig(), PAIRS[:1], lambda n: b"", 0)
    short.receive(req, 0)
    assert names(short.events()) == [("ERROR", Code.RNG_FAILURE)]
    s = SecondStation(SecondConfig(), PAIRS[0], lambda n: b"", 0)
    with pytest.raises(UsageError) as info:
        s.connect(0)
    assert info.value.code == Code.RNG_FAILURE and s.state == "IDLE"


def test_highest_common_suite_and_no_common_suite() -> None:
    f = FirstStation(FirstConfig(suites=[1]), PAIRS[:1], Drbg(b"F"), 0)
    f.receive(wire.build_req(PAIRS[0].id_s, b"a" * 16, 0x7F), 0)
    assert f.outputs()[0][2] == 1
    req = wire.build_req(PAIRS[0].id_s, b"b" * 16, 0x06)
    f.receive(req, 0)
    assert f.outputs() == [wire.build_error(req, Code.BAD_SUITE)]
    both = FirstStation(FirstConfig(), PAIRS[:1], Drbg(b"F"), 0)  # default: suites 1 and 2
    both.receive(wire.build_req(PAIRS[0].id_s, b"c" * 16, 0x7F), 0)
    assert both.outputs()[0][2] == 2


# -- local misuse -------------------------------------------------------------------------

def test_usage_errors() -> None:
    net = Net(FirstConfig(max_payload=8), scfg=SecondConfig(max_payload=8))
    s, f = net.s[0], net.f
    with pytest.raises(UsageError):
        s.send_data(b"x", 0)
    with pytest.raises(UsageError):
        s.close(0)
    with pytest.raises(UsageError) as info:
        f.send_data(1234, b"x", 0)
    assert info.value.code == Code.UNKNOWN_SESSION
    sid = net.connect()
    with pytest.raises(UsageError):
        s.connect(0)
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


def test_close_during_handshake_is_silent() -> None:
    net = Net()
    s, f = net.s[0], net.f
    s.connect(0)
    f.receive(s.outputs()[0], 0)
    sid = int.from_bytes(f.outputs()[0][3:7], "big")
    f.close(sid, 0)
    s.close(0)
    assert f.outputs() == s.outputs() == [] and f.events() == s.events() == []
    assert s.state == "IDLE" and f.session_states()[0][0] == "FREE"


def test_error_frames_are_reported_and_never_answered() -> None:
    net = Net()
    sid = net.connect()
    err = wire.build_error(wire.header(wire.PROOF, 1, sid), Code.BAD_PROOF)
    net.f.receive(err, 0)
    net.s[0].receive(err, 0)
    assert net.f.outputs() == net.s[0].outputs() == []
    assert names(net.f.events()) == names(net.s[0].events()) == [("PEER_ERROR", Code.BAD_PROOF)]


def test_seq_exhaustion_closes_with_keys_exhausted() -> None:
    net = Net()
    sid = net.connect()
    s = net.s[0]
    s._send_seq = wire.SEQ_LIMIT - 1  # white-box: skip 2**30 frames
    s.send_data(b"one too many", 0)
    close = s.outputs()
    assert len(close) == 1 and close[0][1] == wire.CLOSE
    assert close[0][8:12] == (wire.SEQ_LIMIT - 1).to_bytes(4, "big")
    assert names(s.events()) == [("CLOSED", Code.KEYS_EXHAUSTED)]
    net.f.receive(close[0], 0)
    assert names(net.f.events()) == [("CLOSED", Code.KEYS_EXHAUSTED)]
    assert net.f.session_key_index(sid) is None


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
    net = Net(FirstConfig(idle_ms=10_000, rotate_ms=10_000))
    sid = net.connect()
    net.f.send_data(sid, b"F talking does not count", 5000)
    suite = net.s[0].suite  # the default configs negotiate suite 2
    net.f.receive(wire.protected_head(wire.DATA, suite, sid, 0, 5) + bytes(8), 9000)  # bad tag
    net.f.poll(9999)
    assert names(net.f.events()) == [("ERROR", Code.AUTH_FAILED)]
    net.f.poll(10_000)
    assert names(net.f.events()) == [("CLOSED", Code.TIMEOUT)]
    last = net.f.outputs()[-1]
    assert last[1] == wire.CLOSE  # the idle close tells S
    net.s[0].receive(last, 10_001)
    assert names(net.s[0].events()) == [("CLOSED", Code.TIMEOUT)]


def test_proof_resend_only_before_s_spoke() -> None:
    net = Net()
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
    f.receive(proof, 4)
    assert f.outputs() == [wire.build_error(proof, Code.UNEXPECTED)]


def test_rekey_retries_then_timeout() -> None:
    net = Net(FirstConfig(rotate_frames=1, rekey_retry_ms=100, rekey_tries=3))
    sid = net.connect()
    f = net.f
    f.send_data(sid, b"x", 0)
    data, rekey = f.outputs()
    assert rekey[1] == wire.REKEY
    sent = [rekey]
    for t in (100, 200):
        f.poll(t - 1)
        assert f.outputs() == []
        f.poll(t)
        sent += f.outputs()
    assert [fr[1] for fr in sent] == [wire.REKEY] * 3
    assert [int.from_bytes(fr[8:12], "big") for fr in sent] == [1, 2, 3]  # new seq each time
    f.poll(300)
    close = f.outputs()
    assert close[0][1] == wire.CLOSE and names(f.events()) == [("CLOSED", Code.TIMEOUT)]
    s = net.s[0]
    s.receive(data, 300)
    s.receive(close[0], 300)
    assert names(s.events())[-1] == ("CLOSED", Code.TIMEOUT)


def test_proof_after_lifetime_is_srk_expired() -> None:
    net = Net()
    s, f = net.s[0], net.f
    s.connect(0)
    f.receive(s.outputs()[0], 100)
    s.receive(f.outputs()[0], 100)
    proof = s.outputs()[0]
    f.receive(proof, 20_099)
    assert names(f.events()) == [("ESTABLISHED", 0)]
    net2 = Net()
    s, f = net2.s[0], net2.f
    s.connect(0)
    f.receive(s.outputs()[0], 100)
    s.receive(f.outputs()[0], 100)
    proof = s.outputs()[0]
    f.receive(proof, 20_100)
    assert f.outputs() == [wire.build_error(proof, Code.SRK_EXPIRED)]


def test_dir_keeps_nonce_spaces_apart() -> None:
    net = Net()
    sid = net.connect()
    net.s[0].send_data(b"same", 0)
    net.f.send_data(sid, b"same", 0)
    up, down = net.s[0].outputs()[0], net.f.outputs()[0]
    assert up[7:12] == down[7:12] and up[12:] != down[12:]
    assert ks.nonce(sid, ks.DIR_S2F, 0, 0) != ks.nonce(sid, ks.DIR_F2S, 0, 0)
