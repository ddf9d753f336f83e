"""Suite 2 (protocol.md 3.9) on the host: X25519 SRKs shared per interval, forward secrecy.

Both roles against each other with rotations; the suite-2 layouts and the order
of checks; the shared key pair, pre-generation and the ring; erasure and the
forward-secrecy property (PS and a recording open a suite-1 session, not a
suite-2 one); the downgrade MITM; the suite-2 vectors regenerate identically
and replay from the spec text; hypothesis fuzz of suite-2 frames.
"""

import hashlib
import hmac
import sys
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from hypothesis import HealthCheck, given, settings, strategies as st

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
    crypto,
    keyschedule as ks,
    wire,
)
from ephkey_host.errors import ProtocolError
from ephkey_host.events import ERROR, NAMES, PEER_ERROR
from ephkey_host.transcript import validate
from ephkey_host.vectors import dumps, load

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
PAIRS = [Pairing(b"F-ident2", b"S-ident%d" % i, bytes([0x40 + i]) * 16) for i in range(8)]
LOW_ORDER = [bytes(32), (1).to_bytes(32, "little"),
             bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
             bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")]


def names(events: Iterable[Event]) -> list[tuple[str, int]]:
    return [(e.name, e.arg) for e in events]


class LogRng:
    """A DRBG that keeps every draw (to find srk_priv and e_priv afterwards)."""

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
    """F and some S stations on a lossless in-memory wire, with an optional MITM."""

    def __init__(self, fcfg: FirstConfig | None = None, n: int = 1,
                 scfg: SecondConfig | None = None,
                 mitm: Callable[[str, bytes], bytes] | None = None, t0: int = 0):
        self.t = t0
        self.f_rng = LogRng(b"F2")
        self.s_rngs = [LogRng(b"S2-%d" % i) for i in range(n)]
        self.f = FirstStation(fcfg or FirstConfig(), PAIRS[:n], self.f_rng, t0)
        self.s = [SecondStation(scfg or SecondConfig(), PAIRS[i], self.s_rngs[i], t0)
                  for i in range(n)]
        self.mitm = mitm or (lambda who, fr: fr)
        self.fev: list[Event] = []
        self.sev: list[list[Event]] = [[] for _ in range(n)]
        self.log: list[tuple[str, bytes]] = []  # what crossed the wire (after the MITM)

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for i, s in enumerate(self.s):
                for fr in s.outputs():
                    fr = self.mitm("S%d" % i, fr)
                    self.log.append(("S%d" % i, fr))
                    self.f.receive(fr, self.t)
                    moved = True
            for fr in self.f.outputs():
                fr = self.mitm("F", fr)
                self.log.append(("F", fr))
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
        assert self.s[i].state == "OPEN", (names(self.fev), names(self.sev[i]))
        return self.s[i].sid


# -- both roles ------------------------------------------------------------------------------

def test_defaults_negotiate_suite_2_and_100_exchanges_with_rotations() -> None:
    net = Net(FirstConfig(rotate_frames=32, idrks=8))
    sid = net.connect()
    assert net.s[0].suite == 2 and net.f.session_suite(sid) == 2
    req, srk, proof, key = (fr for _, fr in net.log[:4])
    assert [len(x) for x in (req, srk, proof, key)] == [32, 73, 63, 31]
    assert req[31] == 0x03 and srk[2] == proof[2] == key[2] == 2
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
    assert all(fr[2] == 2 for _, fr in net.log[1:])  # the REQ says 0
    s_draws = [len(x) for x in net.s_rngs[0].log]
    assert s_draws == [16, 32]  # n_s, then e_priv: nothing else (3.9)
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
    net.s[0].connect(0)
    req = net.s[0].outputs()[0]
    net.f.receive(req, 0)
    out = net.f.outputs()
    if want is None:
        assert out == [wire.build_error(req, Code.BAD_SUITE)]
        assert names(net.f.events()) == [("ERROR", Code.BAD_SUITE)]
        assert net.f_rng.log == []  # refused before any draw
        return
    assert out[0][1] == wire.SRK and out[0][2] == want
    net.s[0].receive(out[0], 0)
    net.f.receive(net.s[0].outputs()[0], 0)
    net.s[0].receive(net.f.outputs()[0], 0)
    assert net.s[0].state == "OPEN" and net.s[0].suite == want


def test_both_suites_in_one_interval_share_a_ring_slot() -> None:
    f_rng = LogRng(b"F")
    f = FirstStation(FirstConfig(), PAIRS[:3], f_rng, 0)
    f.receive(wire.build_req(PAIRS[0].id_s, b"a" * 16, 0x01), 100)  # suite 1: 16-byte SRK
    f.receive(wire.build_req(PAIRS[1].id_s, b"b" * 16, 0x03), 200)  # suite 2: key pair
    f.receive(wire.build_req(PAIRS[2].id_s, b"c" * 16, 0x02), 300)  # suite 2: shared
    a, b, c = f.outputs()
    assert (a[2], b[2], c[2]) == (1, 2, 2) and b[25:57] == c[25:57]
    assert [len(x) for x in f_rng.log] == [16, 4, 16] + [16] * 4 + [32, 4, 16] + [16] * 4 + \
        [4, 16] + [16] * 4
    assert [x for x in f.ring_keys() if x] == [(0, True, True)] and f.ring_head == 1


# -- the codec ---------------------------------------------------------------------------------

SID = 0x0123_4567
SRK2 = wire.build_srk2(SID, b"F" * 16, 3, b"P" * 32, b"A" * 16)
PROOF2 = wire.build_proof2(SID, b"E" * 32, b"T" * 24)


def test_suite2_layouts() -> None:
    srk = wire.decode(SRK2, wire.ACCEPTED_BY_S)
    assert [(f.name, f.offset, f.size) for f in srk.fields][4:] == [
        ("n_f", 7, 16), ("interval", 23, 2), ("srk_pub", 25, 32), ("auth", 57, 16)]
    proof = wire.decode(PROOF2, wire.ACCEPTED_BY_F)
    assert [(f.name, f.offset, f.size) for f in proof.fields][4:] == [
        ("e_pub", 7, 32), ("ct_tag", 39, 24)]
    assert len(SRK2) == 73 and len(PROOF2) == 63


def reject(raw: bytes, accepts: frozenset[int]) -> tuple[Code, str]:
    with pytest.raises(ProtocolError) as info:
        wire.decode(raw, accepts)
    return info.value.code, info.value.field


@pytest.mark.parametrize(("raw", "accepts", "want"), [
    (SRK2[:2] + b"\x01" + SRK2[3:], wire.ACCEPTED_BY_S, (Code.MALFORMED, "length")),
    (SRK2[:2] + b"\x03" + SRK2[3:], wire.ACCEPTED_BY_S, (Code.BAD_SUITE, "suite")),
    (SRK2[:2] + b"\x00" + SRK2[3:-1], wire.ACCEPTED_BY_S, (Code.BAD_SUITE, "suite")),
    (SRK2[:2] + b"\xff" + SRK2[3:], wire.ACCEPTED_BY_S, (Code.BAD_SUITE, "suite")),
    (SRK2[:-1], wire.ACCEPTED_BY_S, (Code.MALFORMED, "length")),
    (SRK2, wire.ACCEPTED_BY_F, (Code.UNEXPECTED, "type")),  # role before suite
    (SRK2[:2] + b"\x09" + SRK2[3:], wire.ACCEPTED_BY_F, (Code.UNEXPECTED, "type")),
    (PROOF2[:2] + b"\x01" + PROOF2[3:], wire.ACCEPTED_BY_F, (Code.MALFORMED, "length")),
    (PROOF2[:2] + b"\x07" + PROOF2[3:-5], wire.ACCEPTED_BY_F, (Code.BAD_SUITE, "suite")),
    (PROOF2 + b"\x00", wire.ACCEPTED_BY_F, (Code.MALFORMED, "length")),
    (b"\x02" + PROOF2[1:2] + b"\x07" + PROOF2[3:], wire.ACCEPTED_BY_F, (Code.BAD_VERSION, "ver")),
])
def test_order_of_checks_for_suited_frames(raw: bytes, accepts: frozenset[int],
                                           want: tuple[Code, str]) -> None:
    assert reject(raw, accepts) == want


def test_other_types_have_one_layout() -> None:
    key2 = wire.build_key(2, SID, b"K" * 24)
    assert len(key2) == 31 and wire.decode(key2).suite == 2
    assert reject(wire.build_key(7, SID, b"K" * 24) + b"x", wire.ACCEPTED_BY_S)[0] == \
        Code.MALFORMED


# -- the spec text, independently of ephkey_host ----------------------------------------------

def h(x: bytes) -> bytes:
    return hashlib.sha256(x).digest()


def mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def hkdf(salt: bytes, ikm: bytes, info: bytes, n: int = 16) -> bytes:
    return mac(mac(salt, ikm), info + b"\x01")[:n]  # n <= 32: one block


def x25519(k: bytes, u: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(k).exchange(X25519PublicKey.from_public_bytes(u))


def test_suite2_basic_vector_handshake_from_the_spec() -> None:
    vec = load(VECTORS / "session_suite2_basic.json")
    ps = bytes.fromhex(vec["pairing"]["ps"])
    inter = vec["intermediates"]
    steps = vec["steps"]
    req, srk_f, proof, key = (bytes.fromhex(steps[i]["out"][0]) for i in range(4))
    n_s, n_f, sid = req[15:31], srk_f[7:23], int.from_bytes(srk_f[3:7], "big")
    srk_priv, e_priv = bytes.fromhex(inter["srk_priv"]), bytes.fromhex(inter["e_priv"])
    basepoint = (9).to_bytes(32, "little")

    th1 = h(req)
    ka2 = hkdf(n_s + n_f, ps, b"ephkey2 srk" + th1, 32)
    assert srk_f[:7] == b"\x01\x02\x02" + sid.to_bytes(4, "big")
    assert srk_f[25:57] == x25519(srk_priv, basepoint)
    assert srk_f[57:] == mac(ka2, srk_f[:57])[:16]
    th2 = h(th1 + srk_f)
    assert proof[7:39] == x25519(e_priv, basepoint)
    dh = x25519(e_priv, srk_f[25:57])
    assert dh == x25519(srk_priv, proof[7:39])
    k3 = hkdf(n_s + n_f, dh + ps, b"ephkey2 proof" + th2)
    spv = mac(ps, b"ephkey2 sp" + th2)[:16]
    nonce0 = sid.to_bytes(4, "big") + b"\x02\x00\x00\x00\x00" + bytes(4)
    assert proof[39:] == AESCCM(k3, tag_length=8).encrypt(nonce0, spv, proof[:39])
    th3 = h(th2 + proof)
    ms = mac(th3, ps + dh)
    kek0 = mac(ms, b"ephkey2 idrk\x00\x01")[:16]
    idrk0 = aes_key_unwrap(kek0, key[7:])
    got = {"th1": th1, "ka2": ka2, "srk_pub": srk_f[25:57], "th2": th2, "e_pub": proof[7:39],
           "dh": dh, "k3": k3, "spv": spv, "th3": th3, "ms": ms, "kek_0": kek0}
    assert {k: v.hex() for k, v in got.items()} == {k: inter[k] for k in got}
    assert inter["idrks"][0] == idrk0.hex()
    # F's draws (4.2, 3.9): srk_priv, sid, n_f, IDRKs; S's: n_s, then e_priv.
    f_stream = Drbg(bytes.fromhex(vec["rng_seed_f"]))
    assert f_stream(32) == srk_priv
    assert int.from_bytes(f_stream(4), "big") & (wire.SID_LIMIT - 1) == sid
    assert f_stream(16) == n_f
    s_stream = Drbg(bytes.fromhex(vec["rng_seed_s"]))
    assert s_stream(16) == n_s and s_stream(32) == e_priv


def test_new_vectors_regenerate_identically() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import make_vectors  # type: ignore[import-not-found]

    files = make_vectors.build()
    for name in ("session_suite2_basic.json", "session_suite2_shared.json",
                 "session_suite2_prepare.json", "session_negotiation.json",
                 "session_negotiation_suite2_only.json", "negative.json"):
        assert files[name] == (VECTORS / name).read_text(encoding="utf-8"), name
    cases = load(VECTORS / "negative.json")["cases"]
    s2 = {c["name"] for c in cases if c["name"].startswith("s2_")}
    for want in ("s2_srk_auth", "s2_srk_srk_pub", "s2_proof_e_pub", "s2_proof_ct",
                 "s2_srk_suite_1", "s2_proof_suite_1", "s2_data_s2f_suite",
                 "s2_proof_low_order_e_pub_0", "s2_proof_low_order_e_pub_1",
                 "s2_req_offer_downgraded_to_1"):
        assert want in s2
    assert dumps(load(VECTORS / "session_suite2_basic.json")) == \
        (VECTORS / "session_suite2_basic.json").read_text(encoding="utf-8")


# -- shared key pair, pre-generation and the ring ---------------------------------------------

def test_one_key_pair_per_interval_with_its_own_idrks_and_e_pub_per_session() -> None:
    net = Net(FirstConfig(suites=[2]), n=4)
    sids = [net.at(1000 * (i + 1)).connect(i) for i in range(3)]
    net.at(10_000).connect(3)  # interval 1
    srks = [fr for who, fr in net.log if who == "F" and fr[1] == wire.SRK]
    proofs = [fr for who, fr in net.log if fr[1] == wire.PROOF]
    assert srks[0][25:57] == srks[1][25:57] == srks[2][25:57] != srks[3][25:57]
    assert len({p[7:39] for p in proofs}) == 4
    assert len(set(sids)) == 3
    assert len(net.f_rng.of_size(32)) == 2  # one key pair per interval


def test_prepare_rule() -> None:
    f_rng = LogRng(b"F")
    f = FirstStation(FirstConfig(), PAIRS[:2], f_rng, 0)
    assert f.prepare(0) is True  # due from the first tick of interval 0: draws k = 1
    assert [len(x) for x in f_rng.log] == [32]
    assert f.ring_keys()[0] == (1, False, True) and f.ring_view()[0] == (1, 10_000)
    assert f.prepare(9_999) is False and len(f_rng.log) == 1
    f.receive(wire.build_req(PAIRS[0].id_s, b"a" * 16, 0x02), 9_999)
    assert [len(x) for x in f_rng.log][1] == 32  # interval 0's own key pair, on the spot
    pre = f.srk_pub_of(1)
    f.receive(wire.build_req(PAIRS[1].id_s, b"b" * 16, 0x02), 10_000)
    a, b = f.outputs()
    assert b[25:57] == pre and a[25:57] != pre
    assert [len(x) for x in f_rng.log][2 + 6:] == [4, 16] + [16] * 4  # no key pair drawn
    assert f.prepare(10_000) is True and f.srk_pub_of(2) is not None  # k = 1: draws 2
    assert f.prepare(25_000) is True and f.srk_pub_of(3) is not None  # k = 2: draws 3


def test_prepare_is_due_for_k_plus_1_after_the_clock_advance() -> None:
    f = FirstStation(FirstConfig(), PAIRS[:1], LogRng(b"F"), 0)
    assert f.prepare(5_000) is True and f.srk_pub_of(1) is not None
    assert f.prepare(15_000) is True and f.srk_pub_of(2) is not None  # k = 1 now
    assert f.prepare(19_999) is False
    assert f.prepare(45_000) is True  # k = 4: draws 5 only, never 2..4
    assert [x[0] for x in f.ring_keys() if x] == [1, 2, 5]
    # A suite-1-only F has nothing to pre-generate.
    one = FirstStation(FirstConfig(suites=[1]), PAIRS[:1], LogRng(b"F"), 0)
    assert one.prepare(0) is False and all(x is None for x in one.ring_keys())


def test_prepare_rng_failure_changes_nothing() -> None:
    def bad(n: int) -> bytes:
        raise RngError("stuck")
    f = FirstStation(FirstConfig(), PAIRS[:1], bad, 0)
    with pytest.raises(UsageError) as info:
        f.prepare(0)
    assert info.value.code == Code.RNG_FAILURE and all(x is None for x in f.ring_keys())


def test_pre_generated_key_pair_removed_m_lifetimes_after_its_interval_starts() -> None:
    cfg = FirstConfig()
    f = FirstStation(cfg, PAIRS[:1], LogRng(b"F"), 0)
    f.prepare(1000)  # interval 1 starts at 10000
    slot = f._ring[0]
    priv, pub = slot.srk_priv, slot.srk_pub
    assert any(priv) and any(pub)
    f.poll(10_000 + cfg.m * cfg.lifetime_ms - 1)
    assert f.ring_keys()[0] == (1, False, True)
    f.poll(10_000 + cfg.m * cfg.lifetime_ms)
    assert f.ring_keys()[0] is None and priv == bytes(32) and pub == bytes(32)


def test_prepare_out_of_order_never_drops_a_live_key() -> None:
    """prepare can make interval k+1's slot before interval k's: with a ring of
    the minimum size the slot at head may then be live, and the first free slot
    is taken instead (first.py docstring)."""
    cfg = FirstConfig()  # I = 10 s, L = 20 s, M = 3: ceil(60/10) + 1 = 7 slots
    assert cfg.ring_slots == 8
    cfg = FirstConfig(ring_slots=cfg.min_ring_slots())
    f = FirstStation(cfg, PAIRS[:1], LogRng(b"F"), 0)
    pubs: dict[int, bytes] = {}
    for k in range(20):
        t = k * cfg.interval_ms
        f.prepare(t)  # k+1 before k
        f.receive(wire.build_req(PAIRS[0].id_s, k.to_bytes(16, "big"), 0x02), t + 9_999)
        pubs[k] = f.outputs()[0][25:57]
        for now in (t, t + 9_999):
            f.poll(now)
            for kk, pub in pubs.items():  # each key lives until t_kk + M x L, not less
                assert (f.srk_pub_of(kk) == pub) == (now - kk * 10_000 < 60_000), (now, kk)
    # And the handshakes themselves: a PROOF at the last tick of its lifetime.
    net = Net(FirstConfig(ring_slots=7, suites=[2]))
    for k in range(12):
        t = k * 10_000
        net.f.prepare(t)
        net.at(t + 9_999)
        net.s[0].connect(net.t)
        req = net.s[0].outputs()[0]
        net.f.receive(req, net.t)
        net.s[0].receive(net.f.outputs()[0], net.t)
        proof = net.s[0].outputs()[0]
        net.f.receive(proof, net.t + 19_999)  # the last tick before request + L
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
                              st.sampled_from(["prepare", "req1", "req2"])), max_size=40))
def test_ring_keeps_every_key_until_m_lifetimes(cfg: FirstConfig,
                                                ops: list[tuple[int, str]]) -> None:
    """Whatever the mix of prepare and requests of both suites, every key stays
    in the ring, unchanged, until exactly M x L after its interval started
    (4.1): the ring never has to drop a live key."""
    f = FirstStation(cfg, PAIRS[:1], LogRng(b"F"), 0)
    limit = cfg.m * cfg.lifetime_ms
    t = 0
    made: dict[tuple[int, int], tuple[int, bytes]] = {}  # (k, suite) -> (t_k, key)

    def note() -> None:
        for r in f._ring:
            if r.live and r.has_srk:
                made.setdefault((r.k, 1), (r.t_k, bytes(r.srk)))
            if r.live and r.has_pair:
                made.setdefault((r.k, 2), (r.t_k, bytes(r.srk_priv)))

    for i, (dt, op) in enumerate(ops):
        t += dt
        if op == "prepare":
            f.prepare(t)
        else:
            f.receive(wire.build_req(PAIRS[0].id_s, i.to_bytes(16, "big"),
                                     1 if op == "req1" else 2), t)
            assert f.outputs()[0][1] == wire.SRK
        note()
        f.poll(t)
        for (k, suite), (t_k, key) in made.items():
            slot = [r for r in f._ring if r.live and r.k == k]
            if t - t_k < limit:
                assert len(slot) == 1, (k, t)
                assert (bytes(slot[0].srk) if suite == 1 else bytes(slot[0].srk_priv)) == key
            else:
                assert not slot or not (slot[0].has_srk if suite == 1 else slot[0].has_pair)


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
    srk_priv = net.f_rng.of_size(32)[0]
    e_priv = net.s_rngs[0].of_size(32)[0]
    return net, sid, srk_priv, e_priv, x25519(srk_priv, crypto.x25519_base(e_priv))


def test_erasure_of_e_priv_dh_and_srk_priv() -> None:
    net, sid, srk_priv, e_priv, dh = recorded_suite2()
    for st_ in (net.s[0], net.f):
        assert not holds(st_, e_priv) and not holds(st_, dh)  # gone since PROOF / MS
    assert net.s[0]._e_priv == bytes(32) and net.s[0]._dh == bytes(32)
    assert not holds(net.s[0], srk_priv)
    assert holds(net.f, srk_priv)  # in its ring slot, and only there, until M x L
    slot = next(r for r in net.f._ring if r.live)
    assert bytes(slot.srk_priv) == srk_priv
    net.f.poll(60_000 - 1)
    assert holds(net.f, srk_priv)
    net.f.poll(60_000)  # interval 0 started at 0: removed M x L later
    assert not holds(net.f, srk_priv) and slot.srk_priv == bytes(32) and not slot.has_pair
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
    return net.log, PAIRS[0].ps


def attacker_open_suite1(log: list[tuple[str, bytes]], ps: bytes) -> bytes:
    """With PS and a recording only: the suite-1 key schedule, then the first DATA."""
    req, srk_f, proof, key = (fr for _, fr in log[:4])
    n_s, n_f, sid = req[15:31], srk_f[7:23], int.from_bytes(srk_f[3:7], "big")
    th1 = h(req)
    srk = aes_key_unwrap(hkdf(n_s + n_f, ps, b"ephkey1 srk" + th1 + srk_f[:25]), srk_f[25:])
    th3 = h(h(th1 + srk_f) + proof)
    idrk0 = aes_key_unwrap(mac(mac(th3, ps + srk), b"ephkey1 idrk\x00\x01")[:16], key[7:])
    data = next(fr for who, fr in log if who == "S0" and fr[1] == wire.DATA)
    nonce = sid.to_bytes(4, "big") + b"\x02" + bytes(4) + data[8:12]
    return AESCCM(idrk0, tag_length=8).decrypt(nonce, data[12:], data[:12])


def attacker_suite2_idrk0(log: list[tuple[str, bytes]], ps: bytes, dh: bytes) -> bytes | None:
    """Suite 2's key schedule from a recording, PS and a candidate DH."""
    req, srk_f, proof, key = (fr for _, fr in log[:4])
    th3 = h(h(h(req) + srk_f) + proof)
    try:
        return aes_key_unwrap(mac(mac(th3, ps + dh), b"ephkey2 idrk\x00\x01")[:16], key[7:])
    except InvalidUnwrap:
        return None


def test_forward_secrecy_ps_and_a_recording_are_not_enough() -> None:
    log1, ps1 = recorded_suite1()
    assert attacker_open_suite1(log1, ps1) == b"secret up"  # suite 1: PS opens the record

    net, sid, srk_priv, e_priv, dh = recorded_suite2()
    net.f.poll(60_000)  # srk_priv erased; e_priv erased long ago
    ps = PAIRS[0].ps
    log = net.log
    req, srk_f, proof, key = (fr for _, fr in log[:4])
    # The same attacker, with what it has: PS, the frames, public values.
    candidates = [bytes(32), srk_f[25:57], proof[7:39], ps + bytes(32 - len(ps)),
                  x25519(hkdf(b"", ps, b"guess", 32), srk_f[25:57])]
    assert all(attacker_suite2_idrk0(log, ps, c) is None for c in candidates)
    with pytest.raises(InvalidUnwrap):  # the suite-1 attack fails outright
        aes_key_unwrap(hkdf(req[15:31] + srk_f[7:23], ps, b"ephkey1 srk" + h(req)), srk_f[25:49])
    # The validator with PS: auth checks out, the rest is unverifiable.
    frames = [(ks.DIR_S2F if who.startswith("S") else ks.DIR_F2S, fr) for who, fr in log]
    rep = validate(frames, PAIRS[0])
    assert rep.ok and "ka2" in rep.intermediates and "ms" not in rep.intermediates
    assert any("DH" in u for u in rep.unverified)
    # The attacker's procedure is right: only DH was missing.
    idrk0 = attacker_suite2_idrk0(log, ps, dh)
    assert idrk0 is not None
    for full in (validate(frames, PAIRS[0], e_priv=e_priv),
                 validate(frames, PAIRS[0], srk_priv=srk_priv)):
        assert full.ok and full.unverified == []
        assert full.intermediates["idrk_0"] == idrk0.hex() and full.intermediates["dh"] == dh.hex()


def test_validator_suite2_checks_and_limits() -> None:
    net, _, srk_priv, e_priv, _ = recorded_suite2()
    frames = [(ks.DIR_S2F if who.startswith("S") else ks.DIR_F2S, fr) for who, fr in net.log]
    bare = validate(frames)
    assert bare.ok and bare.unverified  # structure only
    # With PS: a tampered SRK auth, srk_pub, n_f or offer (0x03 -> 0x02) is caught...
    for i, off in ((1, 60), (1, 30), (1, 7), (0, 31)):
        bad = list(frames)
        raw = bytearray(bad[i][1])
        raw[off] ^= 1
        bad[i] = (bad[i][0], bytes(raw))
        assert validate(bad).ok  # (not without PS)
        errs = validate(bad, PAIRS[0]).errors()
        assert (errs[0].index, errs[0].code, errs[0].field) == (1, Code.AUTH_FAILED, "auth")
    # ... a tampered PROOF is not, without DH; with a private key it is.
    bad = list(frames)
    raw = bytearray(bad[2][1])
    raw[45] ^= 1
    bad[2] = (bad[2][0], bytes(raw))
    assert validate(bad, PAIRS[0]).ok
    errs = validate(bad, PAIRS[0], srk_priv=srk_priv).errors()
    assert [(e.index, e.code, e.field) for e in errs][0] == (2, Code.AUTH_FAILED, "ct_tag")
    # A low-order e_pub needs no secret at all.
    low = list(frames)
    low[2] = (low[2][0], wire.proof2_head(net.s[0].sid, bytes(32)) + low[2][1][39:])
    errs = validate(low).errors()
    assert (errs[0].index, errs[0].code, errs[0].field) == (2, Code.AUTH_FAILED, "e_pub")
    # A private key of another handshake is reported, not used.
    rep = validate(frames, PAIRS[0], e_priv=bytes(range(32)))
    assert rep.ok and any("e_priv" in u for u in rep.unverified)


# -- downgrade and forged frames ---------------------------------------------------------------

@pytest.mark.parametrize("offer", [0x01, 0x02])
def test_mitm_rewriting_the_offer_is_detected(offer: int) -> None:
    def mitm(who: str, fr: bytes) -> bytes:
        if fr[1] == wire.REQ:
            return fr[:31] + bytes((offer,))
        return fr
    net = Net(mitm=mitm)
    net.s[0].connect(0)
    net.pump()
    srk = [fr for who, fr in net.log if who == "F"][0]
    assert srk[2] == (1 if offer == 0x01 else 2)  # F answered what it saw
    assert names(net.sev[0]) == [("ERROR", Code.AUTH_FAILED)]
    assert net.s[0].state == "WAIT_SRK" and net.s[0].sid == 0
    assert [len(x) for x in net.s_rngs[0].log] == [16]  # no e_priv drawn for a forgery


def forged_srk2(s: SecondStation, f_srk: bytes, srk_pub: bytes, ps: bytes) -> bytes:
    """An SRK frame with the given srk_pub and a valid auth (needs PS)."""
    th1 = bytes(s._th)
    head = f_srk[:25] + srk_pub
    return head + ks.srk_auth(ks.ka2(s._n_s, f_srk[7:23], ps, th1), head)


@pytest.mark.parametrize("u", LOW_ORDER)
def test_low_order_srk_pub_is_auth_failed_at_s(u: bytes) -> None:
    net = Net()
    s = net.s[0]
    s.connect(0)
    net.f.receive(s.outputs()[0], 0)
    srk = net.f.outputs()[0]
    s.receive(forged_srk2(s, srk, u, PAIRS[0].ps), 0)
    assert names(s.events()) == [("ERROR", Code.AUTH_FAILED)] and s.outputs() == []
    assert s.state == "WAIT_SRK" and s._e_priv == bytes(32) and s._dh == bytes(32)
    s.receive(srk, 1)  # the real one still works (with the next e_priv draw)
    assert s.state == "WAIT_KEY"


@pytest.mark.parametrize("u", LOW_ORDER)
def test_low_order_e_pub_is_auth_failed_at_f(u: bytes) -> None:
    net = Net()
    s, f = net.s[0], net.f
    s.connect(0)
    f.receive(s.outputs()[0], 0)
    s.receive(f.outputs()[0], 0)
    proof = s.outputs()[0]
    forged = wire.proof2_head(s.sid, u) + proof[39:]
    f.receive(forged, 0)
    assert f.outputs() == [wire.build_error(forged, Code.AUTH_FAILED)]
    assert names(f.events()) == [("ERROR", Code.AUTH_FAILED)]
    f.receive(proof, 0)
    assert names(f.events()) == [("ESTABLISHED", 0)]


def test_rng_failure_at_s_rejects_the_srk_frame_and_changes_nothing() -> None:
    draws: list[int] = []

    def rng(n: int) -> bytes:
        draws.append(n)
        if len(draws) == 2:
            raise RngError("health test failed")
        return bytes([len(draws)]) * n
    f = FirstStation(FirstConfig(), PAIRS[:1], Drbg(b"F"), 0)
    s = SecondStation(SecondConfig(), PAIRS[0], rng, 0)
    s.connect(0)
    f.receive(s.outputs()[0], 0)
    srk = f.outputs()[0]
    s.receive(srk, 0)
    assert names(s.events()) == [("ERROR", Code.RNG_FAILURE)] and s.outputs() == []
    assert s.state == "WAIT_SRK"
    s.receive(srk, 1)
    assert s.state == "WAIT_KEY"


def test_late_suite2_proof_is_srk_expired_then_unknown() -> None:
    net = Net()
    s, f = net.s[0], net.f
    s.connect(0)
    f.receive(s.outputs()[0], 100)
    s.receive(f.outputs()[0], 100)
    proof = s.outputs()[0]
    f.receive(proof, 100 + f.config.lifetime_ms)
    assert names(f.events()) == [("ERROR", Code.SRK_EXPIRED)]
    assert f.outputs() == [wire.build_error(proof, Code.SRK_EXPIRED)]
    f.poll(60_000)  # the half-open session is freed, the key pair erased
    assert names(f.events()) == [("HANDSHAKE_FAILED", Code.TIMEOUT)]
    f.receive(proof, 60_000)
    assert names(f.events()) == [("ERROR", Code.UNKNOWN_SESSION)]


# -- fuzz ----------------------------------------------------------------------------------------

P = PAIRS[0]
FCFG = FirstConfig(rotate_frames=3, idrks=3, sessions=2, suites=[2])
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=1)
def recorded() -> tuple[list[bytes], list[tuple[str, bytes, int]]]:
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
    f = FirstStation(FCFG, [P], Drbg(b"F"), 0)
    s = SecondStation(SecondConfig(), P, Drbg(b"S"), 0)
    s.connect(0)
    s.outputs()
    t = 0
    for to, fr, t in recorded()[1][:n]:
        (f if to == "F" else s).receive(fr, t)
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
        assert len(out) >= 7
        if junk:
            assert isinstance(station, FirstStation) and out[1] == wire.ERROR


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
    elif how == "suite":
        b[2] = data.draw(st.integers(0, 255))
    elif b[1] == wire.PROOF:
        b[7:39] = data.draw(st.sampled_from(LOW_ORDER))
    frame = bytes(b)
    f.receive(frame, t)
    s.receive(frame, t)
    junk = frame not in frames and frame[1:2] != bytes((wire.REQ,))
    check(f, junk)
    check(s, junk)


@SETTINGS
@given(st.data(), st.binary(min_size=16, max_size=16), st.binary(min_size=32, max_size=32),
       st.binary(min_size=16, max_size=16), st.integers(0, 0xFFFF))
def test_fuzz_random_suite2_srk_frames_at_s(data: st.DataObject, n_f: bytes, pub: bytes,
                                             auth: bytes, interval: int) -> None:
    s = SecondStation(SecondConfig(), P, Drbg(b"S"), 0)
    s.connect(0)
    s.outputs()
    sid = data.draw(st.integers(0, (1 << 32) - 1))
    raw = wire.header(wire.SRK, 2, sid) + n_f + interval.to_bytes(2, "big") + pub + auth
    s.receive(raw, 0)
    assert names(s.events())[0][0] == ERROR and s.outputs() == [] and s.state == "WAIT_SRK"


@SETTINGS
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=24, max_size=24),
       st.booleans())
def test_fuzz_random_suite2_proofs_at_f(e_pub: bytes, ct_tag: bytes, low: bool) -> None:
    f, s, t = at_step(2)  # F waits for the PROOF
    sid = next(sid for st_, sid in f.session_states() if st_ == "WAIT_PROOF")
    raw = wire.build_proof2(sid, LOW_ORDER[0] if low else e_pub, ct_tag)
    f.receive(raw, t)
    assert names(f.events()) == [("ERROR", Code.AUTH_FAILED)]
    assert f.outputs() == [wire.build_error(raw, Code.AUTH_FAILED)]
    assert [st_ for st_, _ in f.session_states()].count("WAIT_PROOF") == 1


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["F", "S"]), st.binary(max_size=80),
                          st.integers(0, 1 << 31)), max_size=30))
def test_fuzz_random_streams_with_polls_and_prepare(feed: list[tuple[str, bytes, int]]) -> None:
    f = FirstStation(FCFG, [P], Drbg(b"F"), 0)
    s = SecondStation(SecondConfig(), P, Drbg(b"S"), 0)
    for to, raw, t in feed:
        station: FirstStation | SecondStation = f if to == "F" else s
        if raw[:3] == b"\x01\x02\x02" or raw[:3] == b"\x01\x03\x02":  # steer into suite 2
            raw = raw + bytes(max(0, 73 - len(raw)))
        station.receive(raw, t)
        station.poll(t)
        if to == "F":
            f.prepare(t)
        check(station, junk=True)
