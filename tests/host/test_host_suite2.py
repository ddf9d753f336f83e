"""Suite 2 (protocol.md 3.9, 4.7) on the host: X25519 SRKs shared per interval, jobs,
forward secrecy.

Both roles against each other with rotations; negotiation; the shared key pair,
prepare and the ring; erasure and the forward-secrecy property (PS and a
recording open a suite-1 session, not a suite-2 one); the downgrade MITM;
low-order points; the suite-2 vector replayed from the spec text; hypothesis
fuzz of suite-2 frames (no junk frame ever starts a job).
"""

import hashlib
import hmac
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import hostnet
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from hostnet import LogRng, names
from hypothesis import HealthCheck, given, settings, strategies as st

from ephkey_host import (
    Code,
    Drbg,
    FirstConfig,
    FirstStation,
    Pairing,
    RngError,
    SecondConfig,
    SecondStation,
    crypto,
    keyschedule as ks,
    wire,
)
from ephkey_host.events import ERROR, NAMES, PEER_ERROR
from ephkey_host.transcript import validate
from ephkey_host.vectors import load

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
PAIRS = [Pairing(b"F-ident2", b"S-ident%d" % i, bytes([0x40 + i]) * 16) for i in range(8)]
LOW_ORDER = [bytes(32), (1).to_bytes(32, "little"),
             bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
             bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")]


class Net(hostnet.Net):
    def __init__(self, fcfg: FirstConfig | None = None, n: int = 1,
                 scfg: SecondConfig | None = None,
                 mitm: Callable[[str, bytes], bytes | None] | None = None, t0: int = 0):
        super().__init__(fcfg, n, scfg, t0=t0, mitm=mitm, pairs=PAIRS, seed=b"F2")


def frames_of(log: list[tuple[str, bytes]]) -> list[tuple[int, bytes]]:
    return [(ks.DIR_S2F if who.startswith("S") else ks.DIR_F2S, fr) for who, fr in log]


# -- both roles ------------------------------------------------------------------------------

def test_defaults_negotiate_suite_2_and_100_exchanges_with_rotations() -> None:
    net = Net(FirstConfig(rotate_frames=32, idrks=8))
    sid = net.connect()
    assert net.s[0].suite == 2 and net.f.session_suite(sid) == 2
    req, srk, proof, key = (fr for _, fr in net.wire_log[:4])
    assert [len(x) for x in (req, srk, proof, key)] == [22, 64, 59, 27]
    assert req[21] == 0x03 and srk[3] == 2
    for i in range(100):
        net.at(1000 + 10 * i)
        net.s[0].send_data(b"up %d" % i, net.t)
        net.pump()
        net.f.send_data(sid, b"down %d" % i, net.t)
        net.pump()
    assert [e.payload for e in net.fev if e.name == "DATA"] == [b"up %d" % i for i in range(100)]
    assert [e.payload for e in net.sev[0] if e.name == "DATA"] == \
        [b"down %d" % i for i in range(100)]
    rot_f = [e.arg for e in net.fev if e.name == "ROTATED"]
    rot_s = [e.arg for e in net.sev[0] if e.name == "ROTATED"]
    assert rot_f == rot_s == [1, 2, 3, 4, 5, 6]
    assert not [e for e in net.fev + net.sev[0] if e.name in (ERROR, PEER_ERROR)]
    s_draws = [len(x) for x in net.s_rngs[0].log]
    assert s_draws == [12, 32]  # n_s, then e_priv: nothing else (section 12)
    net.s[0].close(net.t)
    net.pump()
    assert names(net.fev)[-1] == ("CLOSED", 0)


@pytest.mark.parametrize(("suites", "offer", "want"), [
    ([1, 2], [1], 1), ([1, 2], [1, 2], 2), ([1, 2], [2], 2), ([2, 1], [2, 1], 2),
    ([1], [1, 2], 1), ([2], [1, 2], 2), ([2], [1], None), ([1], [2], None),
])
def test_negotiation_picks_the_highest_common_suite(suites: list[int], offer: list[int],
                                                     want: int | None) -> None:
    net = Net(FirstConfig(suites=suites), scfg=SecondConfig(offer=offer))
    net.prepare()
    drawn = len(net.f_rng.log)
    net.s[0].connect(0)
    req = net.s[0].outputs()[0]
    net.f.receive(req, 0)
    out = net.f.outputs()
    if want is None:
        assert out == [wire.build_error(0, Code.BAD_SUITE)]
        assert names(net.f.events()) == [("ERROR", Code.BAD_SUITE)]
        assert len(net.f_rng.log) == drawn  # refused before any draw
        return
    assert out[0][0] == 0x22 and out[0][3] == want
    net.s[0].receive(out[0], 0)
    net.pump()
    assert net.s[0].state == "OPEN" and net.s[0].suite == want


def test_both_suites_in_one_interval_share_a_ring_slot() -> None:
    f_rng = LogRng(b"F")
    f = FirstStation(FirstConfig(), PAIRS[:3], f_rng, 0)
    assert f.prepare(0) and not f.outputs()
    f.run_jobs(0)
    f.receive(wire.build_req(PAIRS[0].id_s, b"a" * 12, 0x01), 100)  # suite 1: 16-byte SRK
    f.receive(wire.build_req(PAIRS[1].id_s, b"b" * 12, 0x03), 200)  # suite 2: the key pair
    f.receive(wire.build_req(PAIRS[2].id_s, b"c" * 12, 0x02), 300)  # suite 2: shared
    a, b, c = f.outputs()
    assert (a[3], b[3], c[3]) == (1, 2, 2) and b[16:48] == c[16:48]
    assert [len(x) for x in f_rng.log] == [32, 16 + 78, 78, 78]  # one call per REQ
    assert [x for x in f.ring_keys() if x] == [(0, True, True)] and f.ring_head == 1


# -- the spec text, independently of ephkey_host ----------------------------------------------

def h(x: bytes) -> bytes:
    return hashlib.sha256(x).digest()


def mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def expand(prk: bytes, info: bytes, n: int) -> bytes:
    return mac(prk, info + b"\x01")[:n]


def lbl(s: int, name: str) -> bytes:
    return ("ephkey v2 s%d %s" % (s, name)).encode()


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def x25519(k: bytes, u: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(k).exchange(X25519PublicKey.from_public_bytes(u))


def test_suite2_basic_vector_handshake_from_the_spec() -> None:
    vec = load(VECTORS / "session_suite2_basic.json")
    ps = bytes.fromhex(vec["pairing"]["ps"])
    inter = vec["intermediates"]
    outs = [bytes.fromhex(o) for st_ in vec["steps"] for o in st_["out"]]
    req, srk_f, proof, key = (next(x for x in outs if x[0] == b) for b in (0x21, 0x22, 0x23, 0x24))
    n_s, n_f, sid = req[9:21], srk_f[4:16], int.from_bytes(srk_f[1:3], "big")
    srk_priv, e_priv = bytes.fromhex(inter["srk_priv"]), bytes.fromhex(inter["e_priv"])
    basepoint = (9).to_bytes(32, "little")

    th1 = h(req)
    prk = mac(n_s + n_f, ps)
    ka = expand(prk, lbl(2, "auth") + th1, 32)
    assert srk_f[:4] == b"\x22" + sid.to_bytes(2, "big") + b"\x02"
    assert srk_f[16:48] == x25519(srk_priv, basepoint)
    assert srk_f[48:] == mac(ka, srk_f[:48])[:16]
    th2 = h(th1 + srk_f)
    kp = expand(prk, lbl(2, "pmac") + th2, 32)
    spv = expand(prk, lbl(2, "sp") + th2, 16)
    assert proof[3:35] == x25519(e_priv, basepoint)
    dh = x25519(e_priv, srk_f[16:48])
    assert dh == x25519(srk_priv, proof[3:35])
    prk3 = mac(th2, dh + ps)
    pad = expand(prk3, lbl(2, "pad"), 16)
    assert proof[35:51] == xor(spv, pad) and proof[51:] == mac(kp, proof[:51])[:8]
    th3 = h(th2 + proof)
    ms = expand(prk3, lbl(2, "ms") + th3, 32)
    kek0 = expand(ms, lbl(2, "kek") + b"\x00", 16)
    idrk0 = aes_key_unwrap(kek0, key[3:])
    got = {"th1": th1, "prk": prk, "ka": ka, "auth": srk_f[48:], "srk_pub": srk_f[16:48],
           "th2": th2, "kp": kp, "spv": spv, "e_pub": proof[3:35], "dh": dh, "prk3": prk3,
           "pad": pad, "c": proof[35:51], "t": proof[51:], "th3": th3, "ms": ms, "kek_0": kek0,
           "ck_1": expand(ms, lbl(2, "chain") + b"\x01", 32)}
    assert {k: v.hex() for k, v in got.items()} == {k: inter[k] for k in got}
    assert inter["idrks"][0] == idrk0.hex()
    # Section 12: F's calls: srk_priv (prepare), then one per REQ: sid seed, n_f, IDRKs;
    # S's: n_s, then e_priv.
    f_stream = Drbg(bytes.fromhex(vec["rng_seed_f"]))
    assert f_stream(32) == srk_priv
    assert int.from_bytes(f_stream(2), "big") == sid  # no collision to step over
    assert f_stream(12) == n_f
    assert f_stream(16) == idrk0
    s_stream = Drbg(bytes.fromhex(vec["rng_seed_s"]))
    assert s_stream(12) == n_s and s_stream(32) == e_priv


def test_negative_cases_cover_suite_2() -> None:
    cases = load(VECTORS / "negative.json")["cases"]
    s2 = {c["name"] for c in cases if c["name"].startswith("s2_")}
    for want in ("s2_srk_auth", "s2_srk_srk_pub", "s2_proof_e_pub", "s2_proof_c", "s2_proof_t",
                 "s2_srk_suite_1", "s2_proof_suite_1_length", "s2_data_s2f_kidx",
                 "s2_proof_t_suite1_label", "s2_req_offer_downgraded_to_1",
                 "s2_proof_other_while_checking", "s2_srk_repeated_while_proving",
                 "s2_rekey_kek_from_ms"):
        assert want in s2, want


# -- shared key pair, prepare and the ring ----------------------------------------------------

def test_one_key_pair_per_interval_with_its_own_idrks_and_e_pub_per_session() -> None:
    net = Net(FirstConfig(suites=[2]), n=4)
    sids = [net.at(1000 * (i + 1)).connect(i) for i in range(3)]
    net.at(10_000).connect(3)  # interval 1
    srks = [fr for who, fr in net.wire_log if who == "F" and fr[0] == 0x22]
    proofs = [fr for who, fr in net.wire_log if fr[0] == 0x23]
    assert srks[0][16:48] == srks[1][16:48] == srks[2][16:48] != srks[3][16:48]
    assert len({p[3:35] for p in proofs}) == 4
    assert len(set(sids)) == 3
    assert [len(x) for x in net.f_rng.log if len(x) != 32] == [78] * 4  # no pair at a REQ


def test_prepare_rule() -> None:
    f_rng = LogRng(b"F")
    f = FirstStation(FirstConfig(), PAIRS[:2], f_rng, 0)
    assert f.prepare(0) is True  # interval 0 first
    assert f.pair_state(0) == "pending" and f.busy() and f.ring_view()[0] == (0, 0)
    assert f.prepare(0) is True  # then k + 1
    assert f.pair_state(1) == "pending" and f.ring_view()[1] == (1, 10_000)
    assert f.prepare(9_999) is False and [len(x) for x in f_rng.log] == [32, 32]
    req = wire.build_req(PAIRS[0].id_s, b"a" * 12, 0x02)
    f.receive(req, 9_999)  # pending: NOT_READY, nothing drawn
    assert f.outputs() == [wire.build_error(0, Code.NOT_READY)] and len(f_rng.log) == 2
    assert names(f.events()) == [("ERROR", Code.NOT_READY)]
    f.work(9_999)  # interval 0's X25519
    assert f.busy() and f.pair_state(0) == "pending"
    f.work(9_999)  # its completion
    assert f.pair_state(0) == "ready" and f.outputs() == [] and f.events() == []
    f.run_jobs(9_999)
    assert not f.busy() and f.pair_state(1) == "ready"
    pre = f.srk_pub_of(1)
    f.receive(req, 9_999)
    f.receive(wire.build_req(PAIRS[1].id_s, b"b" * 12, 0x02), 10_000)
    a, b = f.outputs()
    assert b[16:48] == pre and a[16:48] != pre
    assert [len(x) for x in f_rng.log][2:] == [78, 78]  # no key pair drawn at a REQ
    assert f.prepare(10_000) is True and f.pair_state(2) == "pending"  # k = 1: makes 2
    assert f.prepare(25_000) is True and f.pair_state(3) == "pending"  # k = 2: makes 3
    assert f.prepare(25_000) is False
    one = FirstStation(FirstConfig(suites=[1]), PAIRS[:1], LogRng(b"F"), 0)
    assert one.prepare(0) is False and all(x is None for x in one.ring_keys())


def test_prepare_never_makes_k_plus_2() -> None:
    f = FirstStation(FirstConfig(), PAIRS[:1], LogRng(b"F"), 0)
    assert f.prepare(45_000) and f.prepare(45_000)  # k = 4: 4 then 5, never 2..3
    assert not f.prepare(45_000)
    assert [x[0] for x in f.ring_view() if x] == [4, 5]


def test_req_without_key_pair_draws_it_and_is_not_ready() -> None:
    f_rng = LogRng(b"F")
    f = FirstStation(FirstConfig(suites=[2]), PAIRS[:1], f_rng, 0)
    req = wire.build_req(PAIRS[0].id_s, b"a" * 12, 0x02)
    f.receive(req, 0)
    assert f.outputs() == [wire.build_error(0, Code.NOT_READY)]
    assert [len(x) for x in f_rng.log] == [32] and f.pair_state(0) == "pending"
    assert f.session_states()[0] == ("FREE", 0)
    f.run_jobs(1)
    f.receive(req, 2)
    assert f.outputs()[0][0] == 0x22


def test_prepare_rng_failure_changes_nothing() -> None:
    def bad(n: int) -> bytes:
        raise RngError("stuck")
    f = FirstStation(FirstConfig(), PAIRS[:1], bad, 0)
    assert f.prepare(0) is False
    assert all(x is None for x in f.ring_keys()) and not f.busy()
    assert f.outputs() == [] and f.events() == []


def test_pre_generated_key_pair_removed_m_lifetimes_after_its_interval_starts() -> None:
    cfg = FirstConfig()
    f = FirstStation(cfg, PAIRS[:1], LogRng(b"F"), 0)
    f.prepare(1000)
    f.prepare(1000)  # interval 1 starts at 10000
    f.run_jobs(1000)
    slot = f._ring[1]
    priv, pub = slot.srk_priv, slot.srk_pub
    assert any(priv) and any(pub) and slot.k == 1
    f.poll(10_000 + cfg.m * cfg.lifetime_ms - 1)
    assert f.ring_keys()[1] == (1, False, True)
    f.poll(10_000 + cfg.m * cfg.lifetime_ms)
    assert f.ring_keys()[1] is None and priv == bytes(32) and pub == bytes(32)


def test_a_pending_job_whose_slot_is_removed_leaves_no_trace() -> None:
    cfg = FirstConfig()
    f = FirstStation(cfg, PAIRS[:1], LogRng(b"F"), 0)
    f.prepare(0)
    assert f.busy()
    f.poll(cfg.m * cfg.lifetime_ms)  # removed before any work
    assert not f.busy() and all(x is None for x in f.ring_view())
    f.work(cfg.m * cfg.lifetime_ms)
    assert f.outputs() == [] and f.events() == []


def test_prepare_out_of_order_never_drops_a_live_key() -> None:
    """prepare can make interval k+1's slot before interval k's: with a ring of
    the minimum size the slot at head may then be live, and the first free slot
    is taken instead (4.1)."""
    cfg = FirstConfig(ring_slots=FirstConfig().min_ring_slots())
    assert cfg.ring_slots == 7
    f = FirstStation(cfg, PAIRS[:1], LogRng(b"F"), 0)
    pubs: dict[int, bytes] = {}
    for k in range(20):
        t = k * cfg.interval_ms
        while f.prepare(t):
            pass
        f.run_jobs(t)
        f.receive(wire.build_req(PAIRS[0].id_s, k.to_bytes(12, "big"), 0x02), t + 9_999)
        pubs[k] = f.outputs()[0][16:48]
        for now in (t, t + 9_999):
            f.poll(now)
            for kk, pub in pubs.items():  # each key lives until t_kk + M x L, not less
                assert (f.srk_pub_of(kk) == pub) == (now - kk * 10_000 < 60_000), (now, kk)
    # And the handshakes themselves: a PROOF at the last tick of its lifetime.
    net = Net(FirstConfig(ring_slots=7, suites=[2]))
    for k in range(12):
        t = k * 10_000
        net.at(t).prepare()
        net.at(t + 9_999)
        net.s[0].connect(net.t)
        req = net.s[0].outputs()[-1]
        net.f.receive(req, net.t)
        net.s[0].receive(net.f.outputs()[0], net.t)
        net.s[0].run_jobs(net.t)
        proof = net.s[0].outputs()[0]
        net.f.receive(proof, net.t + 19_999)  # the last tick before request + L
        net.f.run_jobs(net.t + 19_999)
        assert names(net.f.events()) == [("ESTABLISHED", 0)], k
        net.f.close(net.s[0].sid, net.t + 19_999)
        net.f.outputs()
        net.s[0].close(net.t + 19_999)  # abandons its WAIT_KEY handshake
        net.s[0].outputs()


@pytest.mark.parametrize("cfg", [
    FirstConfig(ring_slots=7),  # the default timers with the smallest ring
    FirstConfig(interval_ms=20_000, lifetime_ms=20_000, m=2, ring_slots=3, idle_ms=30_000,
                rotate_ms=30_000),  # M x L = I + L: keys are needed until they are removed
])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.integers(0, 25_000),
                              st.sampled_from(["prepare", "work", "req1", "req2"])),
                    max_size=40))
def test_ring_keeps_every_key_until_m_lifetimes(cfg: FirstConfig,
                                                ops: list[tuple[int, str]]) -> None:
    """Whatever the mix of prepare, work and requests of both suites, every key
    stays in the ring, unchanged, until exactly M x L after its interval
    started (4.1): the ring never has to drop a live key."""
    f = FirstStation(cfg, PAIRS[:1], LogRng(b"F"), 0)
    limit = cfg.m * cfg.lifetime_ms
    t = 0
    made: dict[tuple[int, int], tuple[int, bytes]] = {}  # (k, suite) -> (t_k, key)

    def note() -> None:
        for r in f._ring:
            if r.live and r.has_srk:
                made.setdefault((r.k, 1), (r.t_k, bytes(r.srk)))
            if r.live and r.pair:
                made.setdefault((r.k, 2), (r.t_k, bytes(r.srk_priv)))

    for i, (dt, op) in enumerate(ops):
        t += dt
        if op == "prepare":
            f.prepare(t)
        elif op == "work":
            f.run_jobs(t)
        else:
            f.receive(wire.build_req(PAIRS[0].id_s, i.to_bytes(12, "big"),
                                     1 if op == "req1" else 2), t)
            out = f.outputs()[0]
            assert out[0] == 0x22 or out == wire.build_error(0, Code.NOT_READY)
        note()
        f.poll(t)
        for (k, suite), (t_k, key) in made.items():
            slot = [r for r in f._ring if r.live and r.k == k]
            if t - t_k < limit:
                assert len(slot) == 1, (k, t)
                assert (bytes(slot[0].srk) if suite == 1 else bytes(slot[0].srk_priv)) == key
            else:
                assert not slot or not (slot[0].has_srk if suite == 1 else slot[0].pair)


# -- erasure and forward secrecy ---------------------------------------------------------------

def holds(obj: Any, secret: bytes, seen: set[int] | None = None) -> bool:
    """Does anything reachable from ``obj`` (its attributes, containers) contain ``secret``?"""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return False
    seen.add(id(obj))
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return secret in bytes(obj)
    if isinstance(obj, (int, float, str, bool, type(None))):
        return False
    if isinstance(obj, dict):
        return any(holds(k, secret, seen) or holds(v, secret, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
        return any(holds(v, secret, seen) for v in obj)
    fields = dict(getattr(obj, "__dict__", {}))
    for k in getattr(type(obj), "__slots__", ()):
        if hasattr(obj, k):
            fields[k] = getattr(obj, k)
    return any(holds(v, secret, seen) for k, v in fields.items() if k not in ("_rng",))


def recorded_suite2() -> tuple[Net, int, bytes, bytes, bytes]:
    """A suite-2 session with DATA both ways; returns (net, sid, srk_priv, e_priv, DH)."""
    net = Net(FirstConfig(suites=[2]))
    sid = net.at(1000).connect()
    net.at(2000)
    net.s[0].send_data(b"secret up", net.t)
    net.f.send_data(sid, b"secret down", net.t)
    net.pump()
    srk_priv = net.f_rng.of_size(32)[0]  # interval 0's
    e_priv = net.s_rngs[0].of_size(32)[0]
    return net, sid, srk_priv, e_priv, x25519(srk_priv, crypto.x25519_base(e_priv))


def test_erasure_of_e_priv_dh_and_srk_priv() -> None:
    net, sid, srk_priv, e_priv, dh = recorded_suite2()
    for st_ in (net.s[0], net.f):
        assert not holds(st_, e_priv) and not holds(st_, dh)  # gone since PROOF / MS
    assert net.s[0]._e_priv == bytes(32) and net.s[0]._dh == bytes(32)
    assert not holds(net.s[0], srk_priv)
    assert holds(net.f, srk_priv)  # in its ring slot, and only there, until M x L
    slot = next(r for r in net.f._ring if r.live and r.k == 0)
    assert bytes(slot.srk_priv) == srk_priv
    net.f.poll(60_000 - 1)
    assert holds(net.f, srk_priv)
    net.f.poll(60_000)  # interval 0 started at 0: removed M x L later
    assert not holds(net.f, srk_priv) and slot.srk_priv == bytes(32) and not slot.pair
    # The session goes on: its keys are IDRKs, not the key pair.
    net.at(61_000)
    net.s[0].send_data(b"still here", net.t)
    net.pump()
    assert net.fev[-1].payload == b"still here"


def recorded_suite1() -> tuple[list[tuple[str, bytes]], bytes]:
    net = Net(FirstConfig(suites=[1]), scfg=SecondConfig(offer=[1]))
    net.at(1000).connect()
    net.at(2000)
    net.s[0].send_data(b"secret up", net.t)
    net.pump()
    return net.wire_log, PAIRS[0].ps


def attacker_open_suite1(log: list[tuple[str, bytes]], ps: bytes) -> bytes:
    """With PS and a recording only: the suite-1 key schedule, then the first DATA."""
    req, srk_f, proof, key = (fr for _, fr in log[:4])
    n_s, n_f, sid = req[9:21], srk_f[4:16], int.from_bytes(srk_f[1:3], "big")
    th1 = h(req)
    prk = mac(n_s + n_f, ps)
    srk = aes_key_unwrap(expand(prk, lbl(1, "srk") + th1 + srk_f[:4], 16), srk_f[16:])
    th2 = h(th1 + srk_f)
    ms = expand(mac(th2, srk + ps), lbl(1, "ms") + h(th2 + proof), 32)
    idrk0 = aes_key_unwrap(expand(ms, lbl(1, "kek") + b"\x00", 16), key[3:])
    data = next(fr for who, fr in log if who == "S0" and fr[0] == 0x25)
    nonce = sid.to_bytes(4, "big") + b"\x02" + bytes(4) + data[4:8]
    return AESCCM(idrk0, tag_length=8).decrypt(nonce, data[8:], data[:8])


def attacker_suite2_idrk0(log: list[tuple[str, bytes]], ps: bytes, dh: bytes) -> bytes | None:
    """Suite 2's key schedule from a recording, PS and a candidate DH."""
    req, srk_f, proof, key = (fr for _, fr in log[:4])
    th2 = h(h(req) + srk_f)
    ms = expand(mac(th2, dh + ps), lbl(2, "ms") + h(th2 + proof), 32)
    try:
        return aes_key_unwrap(expand(ms, lbl(2, "kek") + b"\x00", 16), key[3:])
    except InvalidUnwrap:
        return None


def test_forward_secrecy_ps_and_a_recording_are_not_enough() -> None:
    log1, ps1 = recorded_suite1()
    assert attacker_open_suite1(log1, ps1) == b"secret up"  # suite 1: PS opens the record

    net, sid, srk_priv, e_priv, dh = recorded_suite2()
    net.f.poll(60_000)  # srk_priv erased; e_priv erased long ago
    ps = PAIRS[0].ps
    log = net.wire_log
    req, srk_f, proof, key = (fr for _, fr in log[:4])
    # The same attacker, with what it has: PS, the frames, public values.
    candidates = [bytes(32), srk_f[16:48], proof[3:35], ps + bytes(32 - len(ps)),
                  x25519(mac(b"", ps), srk_f[16:48])]
    assert all(attacker_suite2_idrk0(log, ps, c) is None for c in candidates)
    # The validator with PS: auth and t check out, the rest is unverifiable.
    frames = frames_of(log)
    rep = validate(frames, PAIRS[0])
    assert rep.ok and "ka" in rep.intermediates and "kp" in rep.intermediates
    assert "ms" not in rep.intermediates and any("DH" in u for u in rep.unverified)
    # The attacker's procedure is right: only DH was missing.
    idrk0 = attacker_suite2_idrk0(log, ps, dh)
    assert idrk0 is not None
    for full in (validate(frames, PAIRS[0], e_priv=e_priv),
                 validate(frames, PAIRS[0], srk_priv=srk_priv)):
        assert full.ok and full.unverified == []
        assert full.intermediates["idrk_0"] == idrk0.hex() and full.intermediates["dh"] == dh.hex()


def proof_t_valid(log: list[tuple[str, bytes]], ps: bytes, proof: bytes) -> bytes:
    """Re-MAC a (tampered) suite-2 PROOF with KP, as only a holder of PS can."""
    req, srk_f = log[0][1], log[1][1]
    prk = ks.prk(req[9:21], srk_f[4:16], ps)
    kp = ks.kp(prk, 2, ks.th2(ks.th1(req), srk_f))
    return proof[:51] + ks.proof_t(kp, proof[:51])


def test_validator_suite2_checks_and_limits() -> None:
    net, _, srk_priv, e_priv, _ = recorded_suite2()
    frames = frames_of(net.wire_log)
    bare = validate(frames)
    assert bare.ok and bare.unverified  # structure only
    # With PS: a tampered SRK auth, srk_pub, n_f or offer (0x03 -> 0x02) is caught...
    for i, off in ((1, 50), (1, 30), (1, 4), (0, 21)):
        bad = list(frames)
        raw = bytearray(bad[i][1])
        raw[off] ^= 1
        bad[i] = (bad[i][0], bytes(raw))
        assert validate(bad).ok  # (not without PS)
        errs = validate(bad, PAIRS[0]).errors()
        assert (errs[0].index, errs[0].code, errs[0].field) == (1, Code.AUTH_FAILED, "auth")
    # ... a tampered PROOF too, by t, with PS alone...
    bad = list(frames)
    raw = bytearray(bad[2][1])
    raw[45] ^= 1
    bad[2] = (bad[2][0], bytes(raw))
    errs = validate(bad, PAIRS[0]).errors()
    assert [(e.index, e.code, e.field) for e in errs][0] == (2, Code.AUTH_FAILED, "t")
    # ... but one re-MACed with KP (a holder of PS) only with DH.
    bad[2] = (bad[2][0], proof_t_valid(net.wire_log, PAIRS[0].ps, bytes(raw)))
    assert validate(bad, PAIRS[0]).ok
    errs = validate(bad, PAIRS[0], srk_priv=srk_priv).errors()
    assert [(e.index, e.code, e.field) for e in errs][0] == (2, Code.BAD_PROOF, "c")
    # A low-order e_pub needs no secret at all.
    low = list(frames)
    low[2] = (low[2][0], wire.proof_head(net.s[0].sid, bytes(32)) + low[2][1][35:])
    errs = validate(low).errors()
    assert (errs[0].index, errs[0].code, errs[0].field) == (2, Code.AUTH_FAILED, "e_pub")
    # A private key of another handshake is reported, not used.
    rep = validate(frames, PAIRS[0], e_priv=bytes(range(32)))
    assert rep.ok and any("e_priv" in u for u in rep.unverified)


# -- downgrade and forged frames ---------------------------------------------------------------

@pytest.mark.parametrize("offer", [0x01, 0x02])
def test_mitm_rewriting_the_offer_is_detected(offer: int) -> None:
    def mitm(who: str, fr: bytes) -> bytes:
        if fr[0] == 0x21:
            return fr[:21] + bytes((offer,))
        return fr
    net = Net(mitm=mitm)
    net.prepare()
    net.s[0].connect(0)
    net.pump()
    srk = [fr for who, fr in net.wire_log if who == "F"][0]
    assert srk[3] == (1 if offer == 0x01 else 2)  # F answered what it saw
    assert names(net.sev[0]) == [("ERROR", Code.AUTH_FAILED)]
    assert net.s[0].state == "WAIT_SRK" and net.s[0].sid == 0
    assert [len(x) for x in net.s_rngs[0].log] == [12]  # no e_priv drawn for a forgery


def forged_srk2(s: SecondStation, f_srk: bytes, srk_pub: bytes, ps: bytes) -> bytes:
    """An SRK frame with the given srk_pub and a valid auth (needs PS)."""
    head = f_srk[:16] + srk_pub
    prk = ks.prk(s._n_s, f_srk[4:16], ps)
    return head + ks.auth(ks.ka(prk, bytes(s._th)), head)


@pytest.mark.parametrize("u", LOW_ORDER)
def test_low_order_srk_pub_is_auth_failed_at_s(u: bytes) -> None:
    net = Net()
    net.prepare()
    s = net.s[0]
    s.connect(0)
    net.f.receive(s.outputs()[0], 0)
    srk = net.f.outputs()[0]
    s.receive(forged_srk2(s, srk, u, PAIRS[0].ps), 0)
    assert s.events() == [] and s.state == "PROVING"  # auth verified: e_priv drawn
    s.run_jobs(0)
    assert names(s.events()) == [("ERROR", Code.AUTH_FAILED)] and s.outputs() == []
    assert s.state == "WAIT_SRK" and s.sid == 0
    assert s._e_priv == bytes(32) and s._dh == bytes(32)
    s.poll(1000)
    assert s.outputs()[0][0] == 0x21  # the REQ timer runs on as before
    s.receive(srk, 1001)  # the real one still works (with the next e_priv draw)
    s.run_jobs(1001)
    assert s.state == "WAIT_KEY"


@pytest.mark.parametrize("u", LOW_ORDER)
def test_low_order_e_pub_is_auth_failed_at_f_after_the_job(u: bytes) -> None:
    net = Net()
    s, f = net.s[0], net.f
    net.prepare()
    s.connect(0)
    req = s.outputs()[0]
    f.receive(req, 0)
    srk = f.outputs()[0]
    s.receive(srk, 0)
    s.run_jobs(0)
    proof = s.outputs()[0]
    forged = proof_t_valid([("S0", req), ("F", srk)], PAIRS[0].ps,
                           wire.proof_head(s.sid, u) + proof[35:])
    f.receive(forged, 0)
    assert f.events() == [] and f.outputs() == [] and f.busy()  # t valid: the DH job
    f.run_jobs(0)
    assert f.outputs() == [wire.build_error(s.sid, Code.AUTH_FAILED)]
    assert names(f.events()) == [("ERROR", Code.AUTH_FAILED)]
    assert f.session_fails(s.sid) == 1
    f.receive(proof, 0)
    f.run_jobs(0)
    assert names(f.events()) == [("ESTABLISHED", 0)]


def test_rng_failure_at_s_rejects_the_srk_frame_and_changes_nothing() -> None:
    draws: list[int] = []

    def rng(n: int) -> bytes:
        draws.append(n)
        if len(draws) == 2:
            raise RngError("health test failed")
        return bytes([len(draws)]) * n
    f = FirstStation(FirstConfig(), PAIRS[:1], Drbg(b"F"), 0)
    f.prepare(0)
    f.run_jobs(0)
    s = SecondStation(SecondConfig(), PAIRS[0], rng, 0)
    s.connect(0)
    f.receive(s.outputs()[0], 0)
    srk = f.outputs()[0]
    s.receive(srk, 0)
    assert names(s.events()) == [("ERROR", Code.RNG_FAILURE)] and s.outputs() == []
    assert s.state == "WAIT_SRK" and not s.busy()
    s.receive(srk, 1)
    s.run_jobs(1)
    assert s.state == "WAIT_KEY"


def test_late_suite2_proof_is_srk_expired_then_unknown() -> None:
    net = Net()
    net.prepare()
    s, f = net.s[0], net.f
    s.connect(0)
    f.receive(s.outputs()[0], 100)
    s.receive(f.outputs()[0], 100)
    s.run_jobs(100)
    proof = s.outputs()[0]
    f.receive(proof, 100 + f.config.lifetime_ms)
    assert names(f.events()) == [("ERROR", Code.SRK_EXPIRED)] and not f.busy()
    assert f.outputs() == [wire.build_error(s.sid, Code.SRK_EXPIRED)]
    f.poll(60_000)  # the half-open session is freed, the key pair erased
    assert names(f.events()) == [("HANDSHAKE_FAILED", Code.TIMEOUT)]
    f.receive(proof, 60_000)
    assert names(f.events()) == [("ERROR", Code.UNKNOWN_SESSION)]


# -- fuzz ----------------------------------------------------------------------------------------

P = PAIRS[0]
FCFG = FirstConfig(rotate_frames=3, idrks=3, sessions=2, suites=[2])
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def fresh() -> tuple[FirstStation, SecondStation]:
    f = FirstStation(FCFG, [P], Drbg(b"F"), 0)
    f.prepare(0)
    f.run_jobs(0)
    return f, SecondStation(SecondConfig(), P, Drbg(b"S"), 0)


@lru_cache(maxsize=1)
def recorded() -> tuple[list[bytes], list[tuple[str, bytes, int]]]:
    f, s = fresh()
    log: list[tuple[str, bytes, int]] = []
    t = 0

    def pump() -> None:
        moved = True
        while moved:
            moved = False
            s.run_jobs(t)
            for fr in s.outputs():
                log.append(("F", fr, t))
                f.receive(fr, t)
                moved = True
            f.run_jobs(t)
            for fr in f.outputs():
                log.append(("S", fr, t))
                s.receive(fr, t)
                moved = True

    s.connect(t)
    pump()
    assert s.suite == 2
    for i in range(8):
        if s.state != "OPEN":
            break
        t += 7
        s.send_data(b"up %d" % i, t)
        pump()
        if s.state == "OPEN":
            f.send_data(s.sid, b"down %d" % i, t)
            pump()
    return [fr for _, fr, _ in log], log


def at_step(n: int) -> tuple[FirstStation, SecondStation, int]:
    f, s = fresh()
    s.connect(0)
    s.outputs()
    t = 0
    for to, fr, t in recorded()[1][:n]:
        st_ = f if to == "F" else s
        st_.receive(fr, t)
        st_.run_jobs(t)
        f.outputs()
        s.outputs()
    f.events()
    s.events()
    return f, s, t


def check(station: FirstStation | SecondStation, junk: bool) -> None:
    for e in station.events():
        assert e.name in NAMES
        if junk:
            assert e.name in (ERROR, PEER_ERROR), e
    for out in station.outputs():
        assert len(out) >= 4
        if junk:
            assert isinstance(station, FirstStation) and out[0] == 0x2F
    if junk:
        assert not station.busy()  # no junk frame starts a job (no DH for a forgery)


@SETTINGS
@given(st.data())
def test_fuzz_mutated_suite2_frames_in_any_state(data: st.DataObject) -> None:
    frames, log = recorded()
    f, s, t = at_step(data.draw(st.integers(0, len(log))))
    b = bytearray(data.draw(st.sampled_from(frames)))
    how = data.draw(st.sampled_from(["flip", "truncate", "extend", "suite", "e_pub_low"]))
    if how == "flip":
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        del b[data.draw(st.integers(0, len(b))):]
    elif how == "extend":
        b += data.draw(st.binary(min_size=1, max_size=40))
    elif how == "suite" and len(b) > 3:
        b[3] = data.draw(st.integers(0, 255))
    elif len(b) == 59 and b[0] == 0x23:
        b[3:35] = data.draw(st.sampled_from(LOW_ORDER))
    frame = bytes(b)
    f.receive(frame, t)
    s.receive(frame, t)
    junk = frame not in frames and frame[:1] != b"\x21"
    check(f, junk)
    check(s, junk)


@SETTINGS
@given(st.integers(0, 0xFFFF), st.binary(min_size=12, max_size=12),
       st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=16))
def test_fuzz_random_suite2_srk_frames_at_s(sid: int, n_f: bytes, pub: bytes,
                                             auth: bytes) -> None:
    s = SecondStation(SecondConfig(), P, Drbg(b"S"), 0)
    s.connect(0)
    s.outputs()
    s.receive(wire.build_srk2(sid, n_f, pub, auth), 0)
    assert names(s.events())[0][0] == ERROR and s.outputs() == [] and s.state == "WAIT_SRK"
    assert not s.busy()


@SETTINGS
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=24, max_size=24),
       st.booleans())
def test_fuzz_random_suite2_proofs_at_f(e_pub: bytes, c_t: bytes, low: bool) -> None:
    f, s, t = at_step(2)  # F waits for the PROOF
    sid = next(sid for st_, sid in f.session_states() if st_ == "WAIT_PROOF")
    raw = wire.proof_head(sid, LOW_ORDER[0] if low else e_pub) + c_t
    f.receive(raw, t)
    assert names(f.events()) == [("ERROR", Code.AUTH_FAILED)] and not f.busy()
    assert f.outputs() == [wire.build_error(sid, Code.AUTH_FAILED)]
    assert [st_ for st_, _ in f.session_states()].count("WAIT_PROOF") == 1


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["F", "S"]), st.binary(max_size=80),
                          st.integers(0, 1 << 31)), max_size=30))
def test_fuzz_random_streams_with_polls_and_prepare(feed: list[tuple[str, bytes, int]]) -> None:
    f, s = fresh()
    for to, raw, t in feed:
        station: FirstStation | SecondStation = f if to == "F" else s
        if raw[:1] == b"\x22" and raw[3:4] == b"\x02":  # steer into suite 2's SRK layout
            raw = raw[:64] + bytes(max(0, 64 - len(raw)))
        station.receive(raw, t)
        check(station, junk=True)
        station.poll(t)
        if to == "F":
            f.prepare(t)
            f.run_jobs(t)
        station.events()
        station.outputs()
