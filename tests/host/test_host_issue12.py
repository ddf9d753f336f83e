"""Issue 12 against the host implementation: one test per item, each failing on
version 1 (where the item applies to the host) and passing on version 2.

1. a forged suite-2 PROOF costs F no X25519, and the half-open slot dies after
   ``proof_tries`` of them;
2. sessions whose KEY was lost (zombies) do not lock other peers out;
3. the ratchet: the whole state of both stations at key 3, with a recording,
   opens no frame sent under keys 0-2 (tried as an attacker would);
5. the two edge cases: a repeated PROOF is compared as a whole frame; a REQ
   retransmitted after its SRK was removed gets a fresh handshake;
6. a full output queue refuses the new frame and reports it, queued frames
   stay as they were;
7. the handshakes are 116 and 172 bytes.

(Item 4, key copies in MicroPython's memory, is the firmware's: the host makes
no claim about its process memory, protocol.md 9.3.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from hostnet import PAIRS, Net, ftype, names, sid_of

from ephkey_host import (
    Code,
    Drbg,
    FirstConfig,
    FirstStation,
    SecondConfig,
    SecondStation,
    crypto,
    keyschedule as ks,
    wire,
)

# -- 1. forged PROOFs: no DH, and the slot dies --------------------------------------------


class X25519Count:
    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        real, real_base = crypto.x25519, crypto.x25519_base

        def counted(k: bytes | bytearray, u: bytes | bytearray) -> bytes | None:
            self.calls += 1
            return real(k, u)

        def counted_base(k: bytes | bytearray) -> bytes:
            self.calls += 1
            return real_base(k)

        monkeypatch.setattr(crypto, "x25519", counted)
        monkeypatch.setattr(crypto, "x25519_base", counted_base)


def half_open(net: Net) -> tuple[bytes, bytes]:
    """S's REQ answered; returns (SRK frame, S's genuine PROOF, held)."""
    net.prepare()
    s, f = net.s[0], net.f
    s.connect(net.t)
    f.receive(s.outputs()[0], net.t)
    srk = f.outputs()[0]
    s.receive(srk, net.t)
    s.run_jobs(net.t)
    return srk, s.outputs()[0]


def test_forged_suite2_proofs_cost_no_x25519_and_kill_the_slot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    net = Net(FirstConfig(suites=[2], proof_tries=3))
    srk, genuine = half_open(net)
    sid = sid_of(srk)
    f = net.f
    count = X25519Count(monkeypatch)
    for i in range(3):  # an attacker who saw the sid, without PS
        forged = wire.proof_head(sid, bytes([i + 9]) * 32) + bytes([i]) * 24
        f.receive(forged, 100 + i)
        assert not f.busy()  # rejected at t: no job queued
        f.run_jobs(100 + i)
        assert f.outputs() == [wire.build_error(sid, Code.AUTH_FAILED)]
        want = [("ERROR", Code.AUTH_FAILED)]
        if i == 2:
            want.append(("HANDSHAKE_FAILED", Code.AUTH_FAILED))
        assert names(f.events()) == want
    assert count.calls == 0  # not one X25519 for three forgeries
    assert ("WAIT_PROOF", sid) not in f.session_states()
    for _ in range(10):  # and every further PROOF is an early reject
        f.receive(genuine, 200)
        assert names(f.events()) == [("ERROR", Code.UNKNOWN_SESSION)]
    assert count.calls == 0 and not f.busy()


def test_only_a_holder_of_ps_makes_f_compute_a_dh(monkeypatch: pytest.MonkeyPatch) -> None:
    net = Net(FirstConfig(suites=[2]))
    srk, genuine = half_open(net)
    count = X25519Count(monkeypatch)
    net.f.receive(genuine, 100)
    assert count.calls == 0 and net.f.busy()  # t is valid: the DH is a job for work()
    net.f.work(100)
    assert count.calls == 1 and net.f.busy()  # one slice (the host's whole X25519)
    net.f.work(100)
    assert count.calls == 1 and not net.f.busy()  # the completion
    assert names(net.f.events()) == [("ESTABLISHED", 0)]


# -- 2. zombie sessions ------------------------------------------------------------------------

def lose_keys(net: Net, i: int) -> None:
    """S i handshakes and every KEY is lost: S gives up; F's session stays unconfirmed."""
    s, f = net.s[i], net.f
    net.prepare()
    s.connect(net.t)
    f.receive(s.outputs()[0], net.t)
    s.receive(f.outputs()[0], net.t)
    s.run_jobs(net.t)
    f.receive(s.outputs()[0], net.t)
    f.run_jobs(net.t)
    f.outputs()  # CLOSE(REPLACED) of the previous zombie, if any, and the KEY: all lost
    s.close(net.t)  # S reboots (or gives up)


def test_eight_lost_keys_of_one_peer_lock_nobody_out() -> None:
    net = Net(FirstConfig(sessions=8), n=2)
    for k in range(8):
        net.at(100 * k)
        lose_keys(net, 0)
        states = [st for st, _ in net.f.session_states()]
        assert states.count("WAIT_CONFIRM") == 1  # the new one replaced the old one
    assert [e for e in names(net.fev)] == []  # (events were drained by hand)
    net.at(1000)
    net.connect(1)  # the other peer, at once (version 1: BUSY for idle_ms)
    net.confirm(1)
    assert net.s[1].state == "OPEN"


def test_eight_peers_with_lost_keys_free_their_slots_after_confirm_ms() -> None:
    pairs_net = Net(FirstConfig(sessions=8, confirm_ms=10_000), n=8)
    for i in range(8):
        pairs_net.at(10 * i)
        lose_keys(pairs_net, i)
        pairs_net.f.events()
    assert [st for st, _ in pairs_net.f.session_states()] == ["WAIT_CONFIRM"] * 8
    newcomer = SecondStation(SecondConfig(), PAIRS[0], Drbg(b"new"), 0)
    f = pairs_net.f
    f.prepare(9_999)
    f.run_jobs(9_999)
    newcomer.connect(9_999)
    req = newcomer.outputs()[0]
    f.receive(req, 9_999)  # the oldest zombie is 9999 ms old: not yet
    assert f.outputs() == [wire.build_error(0, Code.BUSY)]
    f.events()
    f.receive(req, 10_000)  # version 1: BUSY until idle_ms (300 s)
    close, srk = f.outputs()
    assert ftype(close) == wire.CLOSE and close[8] != 0 and ftype(srk) == wire.SRK
    assert names(f.events()) == [("CLOSED", Code.TIMEOUT)]


# -- 3. the ratchet ----------------------------------------------------------------------------

def buffers(obj: Any, seen: set[int] | None = None) -> Iterator[bytes]:
    """Every byte string reachable from a station, but its RNG (a test DRBG holds
    its seed, which a real RNG does not)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or obj is None or isinstance(obj, (int, float, str, bool)):
        return
    seen.add(id(obj))
    if isinstance(obj, (bytes, bytearray, memoryview)):
        yield bytes(obj)
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from buffers(k, seen)
            yield from buffers(v, seen)
        return
    if isinstance(obj, (list, tuple, set, frozenset, deque)):
        for v in obj:
            yield from buffers(v, seen)
        return
    fields = dict(getattr(obj, "__dict__", {}))
    for k in getattr(type(obj), "__slots__", ()):
        if hasattr(obj, k):
            fields[k] = getattr(obj, k)
    for k, v in fields.items():
        if k != "_rng":
            yield from buffers(v, seen)


def windows(bufs: list[bytes], n: int) -> set[bytes]:
    return {b[i:i + n] for b in bufs for i in range(len(b) - n + 1)}


class Attacker:
    """Holds the recording and tries every candidate key on it (protocol.md 9.2's test)."""

    def __init__(self, log: list[tuple[str, bytes]], ps: bytes):
        self.ps = ps
        self.req = next(fr for _, fr in log if fr[0] == 0x21)
        self.srk = next(fr for _, fr in log if fr[0] == 0x22)
        self.proof = next(fr for _, fr in log if fr[0] == 0x23)
        self.key = next(fr for _, fr in log if fr[0] == 0x24)
        self.sid = sid_of(self.srk)
        self.th2 = ks.th2(ks.th1(self.req), self.srk)
        self.th3 = ks.th3(self.th2, self.proof)
        # (direction, frame) of every protected frame sent under keys 0-2
        self.old = [(ks.DIR_F2S if who == "F" else ks.DIR_S2F, fr) for who, fr in log
                    if ftype(fr) in wire.PROTECTED and fr[3] <= 2]

    def opens(self, idrk: bytes) -> bool:
        return any(ks.open_frame(idrk, self.sid, d, fr) is not None for d, fr in self.old)

    def unwraps(self, kek: bytes, wrapped: list[bytes]) -> bool:
        return any(crypto.kw_unwrap(kek, w) is not None for w in wrapped)

    def from_chain_key(self, ck: bytes, wrapped: list[bytes]) -> bool:
        """``ck`` as CK_j for any j, walked forward: any KEK that unwraps, any IDRK that opens."""
        for j0 in range(5):
            c = ck
            for j in range(j0, 5):
                kek = ks.kek(c, 2, j)
                if self.unwraps(kek, wrapped):
                    return True
                c = ks.chain(c, 2, j + 1)
        return False

    def from_prk3(self, prk3: bytes, wrapped: list[bytes]) -> bool:
        return self.from_chain_key(ks.ms(prk3, 2, self.th3), wrapped)

    def from_dh(self, dh: bytes, wrapped: list[bytes]) -> bool:
        return self.from_prk3(ks.prk3(self.th2, dh, self.ps), wrapped)

    def breaks(self, state: list[bytes], wrapped: list[bytes]) -> list[str]:
        found = []
        for w in windows(state, 16):
            if self.opens(w):
                found.append("IDRK %s" % w.hex())
            if self.unwraps(w, wrapped):
                found.append("KEK %s" % w.hex())
        srk_pub, e_pub = self.srk[16:48], self.proof[3:35]
        for w in windows(state, 32):
            for what, hit in (("chain key or MS", self.from_chain_key(w, wrapped)),
                              ("PRK3", self.from_prk3(w, wrapped)),
                              ("DH", self.from_dh(w, wrapped))):
                if hit:
                    found.append("%s %s" % (what, w.hex()))
            for pub in (srk_pub, e_pub):  # a private key would rebuild DH
                dh = crypto.x25519(w, pub)
                if dh is not None and self.from_dh(dh, wrapped):
                    found.append("X25519 scalar %s" % w.hex())
        return found


class LeakyFirst(FirstStation):
    """A first station that keeps CK_1 (as version 1 kept MS): the test must catch it."""

    kept = bytearray(32)

    def _start_rotation(self, s: Any, now: int) -> None:
        if s.key_idx == 0:
            LeakyFirst.kept[:] = s.ck
        super()._start_rotation(s, now)


def at_key_3(first_cls: type[FirstStation] = FirstStation) -> tuple[Net, list[bytes]]:
    """A suite-2 session rotated to key 3 with traffic under every key, the key pair
    removed; returns the net and every wrapped key F sent for indexes 0-3."""
    net = Net(FirstConfig(suites=[2], rotate_frames=2, idrks=5), scfg=SecondConfig(offer=[2]))
    net.f = first_cls(net.f.config, PAIRS[:1], Drbg(b"leaky"), 0)
    sid = net.connect()
    wrapped = [net.wire_log[3][1][3:]]
    for j in range(3):
        net.at(100 * (j + 1))
        net.s[0].send_data(b"secret up %d" % j, net.t)
        net.pump()
        net.f.send_data(sid, b"secret down %d" % j, net.t)  # count 2: REKEY(j+1) follows
        net.pump()
    assert net.s[0].send_key_index == 3 and net.f.session_key_index(sid) == 3
    net.at(60_000)
    net.f.poll(net.t)  # the interval's key pair leaves the ring
    net.f.send_data(sid, b"under 3", net.t)  # S accepts F's first frame under 3: at key 3
    net.pump()
    assert not net.f._slots[0].pending
    assert net.f.pair_state(0) == "none"  # (interval 1's pair, prepared ahead, is still there)
    # The test's own knowledge (not the attacker's): the wrapped keys inside the REKEYs.
    keys = {0: bytes.fromhex(validated(net)["idrk_0"])}
    for who, fr in net.wire_log:
        if who == "F" and ftype(fr) == wire.REKEY:
            pt = ks.open_frame(keys[fr[3]], sid, ks.DIR_F2S, fr)
            assert pt is not None
            wrapped.append(pt[1:])
            keys[pt[0]] = bytes.fromhex(validated(net)["idrk_%d" % pt[0]])
    return net, sorted(set(wrapped), key=wrapped.index)


def validated(net: Net) -> dict[str, str]:
    from ephkey_host.transcript import validate
    frames = [(ks.DIR_S2F if who.startswith("S") else ks.DIR_F2S, fr)
              for who, fr in net.wire_log]
    e_priv = net.s_rngs[0].of_size(32)[0]
    rep = validate(frames, PAIRS[0], e_priv=e_priv)
    assert rep.ok
    return rep.intermediates


def test_state_at_key_3_opens_nothing_sent_under_keys_0_to_2() -> None:
    net, wrapped = at_key_3()
    assert len(wrapped) == 4  # KEY and REKEY(1..3)
    state = list(buffers(net.f)) + list(buffers(net.s[0]))
    attacker = Attacker(net.wire_log, PAIRS[0].ps)
    assert len(attacker.old) >= 9
    assert PAIRS[0].ps in state  # the whole state: PS too
    assert attacker.breaks(state, wrapped) == []
    # and the state is not empty of keys: it opens what was sent under key 3
    idrk3 = bytes.fromhex(validated(net)["idrk_3"])
    assert idrk3 in windows(state, 16)


def test_the_ratchet_test_catches_a_station_that_keeps_ck_1() -> None:
    net, wrapped = at_key_3(LeakyFirst)
    state = list(buffers(net.f)) + list(buffers(net.s[0])) + [bytes(LeakyFirst.kept)]
    found = Attacker(net.wire_log, PAIRS[0].ps).breaks(state, wrapped)
    assert any(f.startswith("chain key") for f in found)


# -- 5. the two edge cases -------------------------------------------------------------------

def test_repeated_proof_is_compared_as_a_whole_frame_in_every_state() -> None:
    net = Net(FirstConfig(suites=[2]))
    srk, proof = half_open(net)
    f, sid = net.f, sid_of(srk)
    same_c_t = wire.proof_head(sid, bytes([proof[3] ^ 1]) + proof[4:35]) + proof[35:]
    assert same_c_t[35:] == proof[35:] and same_c_t != proof
    f.receive(proof, 0)  # CHECKING
    f.receive(proof, 0)
    assert f.outputs() == [] and f.events() == []  # the same frame: ignored
    f.receive(same_c_t, 0)
    assert names(f.events()) == [("ERROR", Code.UNEXPECTED)]
    f.outputs()
    f.run_jobs(0)  # WAIT_CONFIRM
    key = f.outputs()[0]
    f.events()
    f.receive(proof, 1)
    assert f.outputs() == [key]
    f.receive(same_c_t, 1)
    assert f.outputs() == [wire.build_error(sid, Code.UNEXPECTED)]
    assert names(f.events()) == [("ERROR", Code.UNEXPECTED)]


def test_req_retransmitted_after_its_srk_was_removed_gets_a_fresh_handshake() -> None:
    f = FirstStation(FirstConfig(suites=[1]), PAIRS[:1], Drbg(b"F"), 0)
    req = wire.build_req(PAIRS[0].id_s, b"n" * 12, 1)
    f.receive(req, 10)
    old = f.outputs()[0]
    f.receive(req, 60_010)  # no poll since: SRK 0 was removed at 60000
    assert names(f.events()) == [("HANDSHAKE_FAILED", Code.TIMEOUT)]
    fresh = f.outputs()[0]
    assert ftype(fresh) == wire.SRK and fresh != old  # version 1 (host) resent `old`
    assert sid_of(fresh) != sid_of(old) and fresh[4:16] != old[4:16]
    assert f.ring_keys()[1] == (6, True, False) and f.ring_keys()[0] is None
    s = SecondStation(SecondConfig(offer=[1]), PAIRS[0], Drbg(b"S"), 0)
    s._n_s, s._req, s._state = b"n" * 12, req, 1  # white-box: S waiting on that REQ
    s._th[:] = ks.th1(req)
    s.receive(fresh, 60_020)  # the fresh SRK frame is genuine
    assert s.events() == [] and s.state == "WAIT_KEY"


# -- 6. a full output queue ------------------------------------------------------------------

def test_full_queue_refuses_the_new_frame_and_leaves_queued_ones_unchanged() -> None:
    f = FirstStation(FirstConfig(suites=[1], out_queue=2), PAIRS[:3], Drbg(b"F"), 0)
    reqs = [wire.build_req(PAIRS[i].id_s, bytes([i]) * 12, 1) for i in range(3)]
    f.receive(reqs[0], 0)
    f.receive(reqs[1], 0)
    queued = [bytes(x) for x in f._out]  # copies of the queued frames
    f.receive(reqs[2], 0)  # version 1: queued anyway (the firmware overwrote the oldest)
    dropped = names(f.events())
    assert dropped == [("DROPPED", wire.SRK)]
    sid2 = next(sid for st, sid in f.session_states()[2:3])
    assert f.events() == [] and f.queued() == 2
    assert f.outputs() == queued
    f.receive(reqs[2], 1)  # the retransmission finds its SRK frame
    assert sid_of(f.outputs()[0]) == sid2


def test_dropped_data_uses_its_seq() -> None:
    net = Net(scfg=SecondConfig(out_queue=1))
    net.connect()
    s = net.s[0]
    s.send_data(b"one", 0)
    s.send_data(b"two", 0)
    assert [(e.name, e.sid, e.arg) for e in s.events()] == [("DROPPED", s.sid, wire.DATA)]
    s.send_data(b"three", 0)
    out = s.outputs()
    assert len(out) == 1 and out[0][4:8] == (0).to_bytes(4, "big")
    s.send_data(b"three", 0)
    net.f.receive(out[0], 0)
    net.f.receive(s.outputs()[0], 0)
    assert names(net.f.events()) == [("DATA", 0), ("DATA", 2)]


# -- 7. sizes ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("suite", "size"), [(1, 116), (2, 172)])
def test_handshake_sizes(suite: int, size: int) -> None:
    net = Net(FirstConfig(suites=[suite]), scfg=SecondConfig(offer=[suite]))
    net.connect()
    hs = [fr for _, fr in net.wire_log if ftype(fr) in (wire.REQ, wire.SRK, wire.PROOF, wire.KEY)]
    assert [ftype(x) for x in hs] == [1, 2, 3, 4]
    assert sum(len(x) for x in hs) == size  # version 1: 143 and 199
    net.s[0].send_data(b"", 0)
    assert len(net.s[0].outputs()[0]) == 16  # DATA overhead (version 1: 20)
