#!/usr/bin/env python3
"""Write tests/vectors/session_*.json and negative.json from the host roles.

Deterministic: fixed seeds (section 12 RNG), fixed ticks; running it twice
gives identical files. It never writes primitives.json (someone else owns it).

    python tools/make_vectors.py [--out DIR]

Every scenario asserts the events it expects, every negative case is checked
against the host before it is written, and each vector's intermediates are
recomputed by the transcript validator and cross-checked with F's RNG draws.
"""
# ruff: noqa: E402  (imports follow the sys.path line that finds host/)

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from ephkey_host import (
    crypto,
    keyschedule as ks,
    wire,
)
from ephkey_host.config import FirstConfig, Pairing, SecondConfig
from ephkey_host.errors import Code
from ephkey_host.transcript import split_sessions, validate
from ephkey_host.vectors import (
    Harness,
    Recorder,
    Vector,
    dumps,
    run_negative,
    run_session,
    run_steps,
    second_specs,
    transcript,
)

ID_F = bytes.fromhex("4546000000000001")
SID_MASK = wire.SID_LIMIT - 1


def pairing(i: int, ps_len: int) -> Pairing:
    ps = hashlib.sha256(b"ephkey vector ps %d" % i).digest()[:ps_len]
    return Pairing(ID_F, bytes.fromhex("4553%012x" % (i + 1)), ps)


def seed(label: str) -> bytes:
    return label.encode("ascii")


def cfg1(**kw: Any) -> FirstConfig:
    """F of a suite-1 vector: accepts suite 1 only (the default accepts 1 and 2)."""
    return FirstConfig(suites=[1], **kw)


def scfg1(**kw: Any) -> SecondConfig:
    """S of a suite-1 vector: offers suite 1 only."""
    return SecondConfig(offer=[1], **kw)


def header(name: str, description: str, first: FirstConfig,
           seconds: list[tuple[SecondConfig, Pairing]], t0: int, suite: int = 1) -> Vector:
    """``suite`` is the suite of the handshake the intermediates describe."""
    vec: Vector = {"name": name, "description": description, "suite": suite}
    if len(seconds) == 1:
        cfg, p = seconds[0]
        vec["pairing"] = p.to_json()
        vec["first"] = first.to_json()
        vec["second"] = cfg.to_json()
        vec["rng_seed_f"] = seed("f-" + name).hex()
        vec["rng_seed_s"] = seed("s-" + name).hex()
    else:
        vec["pairings"] = [p.to_json() for _, p in seconds]
        vec["first"] = first.to_json()
        vec["seconds"] = [dict(cfg.to_json(), rng_seed=seed("s%d-%s" % (i, name)).hex())
                          for i, (cfg, _) in enumerate(seconds)]
        vec["rng_seed_f"] = seed("f-" + name).hex()
    vec["t0"] = t0
    return vec


def events(r: Recorder) -> list[tuple[str, int]]:
    return [(e["event"], e["arg"]) for e in r.last_events()]


def expect(r: Recorder, *want: tuple[str, int]) -> None:
    got = events(r)
    assert got == list(want), "step %d: %s != %s" % (len(r.vec["steps"]) - 1, got, list(want))


def one(frames: list[bytes]) -> bytes:
    assert len(frames) == 1, frames
    return frames[0]


E = Code
EST = ("ESTABLISHED", 0)


def handshake(r: Recorder, st: str, t: int, dt: int = 10) -> tuple[int, list[bytes]]:
    """Run a clean handshake; returns (sid, [REQ, SRK, PROOF, KEY])."""
    req = one(r.connect(st, t))
    srk = one(r.receive("F", req, t + dt))
    proof = one(r.receive(st, srk, t + 2 * dt))
    key = one(r.receive("F", proof, t + 3 * dt))
    expect(r, EST)
    r.receive(st, key, t + 4 * dt)
    expect(r, EST)
    return int.from_bytes(srk[3:7], "big"), [req, srk, proof, key]


# -- scenarios ----------------------------------------------------------------------------

def basic() -> Recorder:
    p = pairing(0, 16)
    r = Recorder(header(
        "basic", "Handshake, DATA both ways (an empty and a max_payload one), idle polls, "
        "then S closes.", cfg1(), [(scfg1(), p)], 0))
    req = one(r.connect("S", 0))
    r.mark("req")
    srk = one(r.receive("F", req, 10))
    r.mark("srk")
    proof = one(r.receive("S", srk, 20))
    r.mark("proof")
    key = one(r.receive("F", proof, 30))
    r.mark("key")
    r.receive("S", key, 40)
    r.mark("open")
    sid = int.from_bytes(srk[3:7], "big")
    d = one(r.send("S", b"hello F", 100))
    r.mark("s_data")
    r.receive("F", d, 110)
    expect(r, ("DATA", 0))
    r.mark("f_got_data")
    d = one(r.send("F", b"hello S", 120, sid))
    r.mark("f_data")
    r.receive("S", d, 130)
    expect(r, ("DATA", 0))
    r.mark("s_got_data")
    d = one(r.send("S", b"", 200))
    r.receive("F", d, 210)
    d = one(r.send("F", bytes(range(256)), 300, sid))
    r.receive("S", d, 310)
    r.poll("F", 400)
    r.poll("S", 400)
    expect(r)
    c = one(r.close("S", 500))
    r.mark("s_close")
    r.receive("F", c, 510)
    expect(r, ("CLOSED", 0))
    r.mark("f_closed")
    return r


def rotation() -> Recorder:
    p = pairing(1, 32)
    cfg = cfg1(rotate_frames=4, idrks=4, rotate_ms=30_000)
    r = Recorder(header(
        "rotation", "rotate_frames=4, idrks=4. Key 0->1 after F sends the 4th DATA, finished "
        "by KEY_ACK; 1->2 after F accepts the 4th DATA, KEY_ACK lost, finished by a DATA "
        "under 2 (ROTATED then DATA); 2->3 by rotate_ms with a DATA crossing the REKEY; "
        "key 3 used up: CLOSE(KEYS_EXHAUSTED); then a new handshake.", cfg,
        [(scfg1(), p)], 5000))
    t = 5000
    sid, _ = handshake(r, "S", t)
    t = 5100
    # key 0: S, F, S, F -> F's 4th counted DATA is followed by REKEY(1)
    r.receive("F", one(r.send("S", b"k0 s1", t)), t + 1)
    r.receive("S", one(r.send("F", b"k0 f1", t + 2, sid)), t + 3)
    d = one(r.send("S", b"k0 s2", t + 4))
    r.mark("s_k0_data")
    r.receive("F", d, t + 5)
    d, rekey = r.send("F", b"k0 f2", t + 6, sid)
    r.mark("rekey1_out")
    r.receive("S", d, t + 7)
    r.mark("s_before_rekey1")
    ack = one(r.receive("S", rekey, t + 8))
    expect(r, ("ROTATED", 1))
    r.mark("s_rotated1")
    r.receive("F", ack, t + 9)
    expect(r, ("ROTATED", 1))
    r.mark("f_rotated1")
    # key 1: F, S, S, S -> F accepts the 4th: REKEY(2) follows the DATA event
    t = 5200
    r.receive("S", one(r.send("F", b"k1 f1", t, sid)), t + 1)
    r.mark("s_first_under1")
    r.receive("F", one(r.send("S", b"k1 s1", t + 2)), t + 3)
    r.receive("F", one(r.send("S", b"k1 s2", t + 4)), t + 5)
    rekey = one(r.receive("F", one(r.send("S", b"k1 s3", t + 6)), t + 7))
    expect(r, ("DATA", 0))
    r.receive("S", rekey, t + 8)  # KEY_ACK(2) lost
    expect(r, ("ROTATED", 2))
    r.mark("s_rotated2")
    r.receive("S", one(r.send("F", b"k1 f2 while pending", t + 9, sid)), t + 10)
    expect(r, ("DATA", 0))
    d = one(r.send("S", b"k2 s1", t + 11))
    r.mark("s_data_under2")
    r.receive("F", d, t + 12)
    expect(r, ("ROTATED", 2), ("DATA", 1))  # the lost KEY_ACK used seq 0
    r.mark("f_rotated2")
    # key 2: rotate_ms after the key was installed
    t = 5200 + 12 + 30_000
    r.poll("F", t - 1)
    expect(r)
    rekey = one(r.poll("F", t))
    d = one(r.send("S", b"k2 s2 crossing", t + 1))
    r.receive("F", d, t + 2)
    expect(r, ("DATA", 0))
    ack = one(r.receive("S", rekey, t + 3))
    expect(r, ("ROTATED", 3))
    r.receive("F", ack, t + 4)
    expect(r, ("ROTATED", 3))
    # key 3: the last one; the 4th DATA exhausts the set
    t += 100
    r.receive("S", one(r.send("F", b"k3 f1", t, sid)), t + 1)
    r.receive("F", one(r.send("S", b"k3 s1", t + 2)), t + 3)
    r.receive("S", one(r.send("F", b"k3 f2", t + 4, sid)), t + 5)
    close = one(r.receive("F", one(r.send("S", b"k3 s2", t + 6)), t + 7))
    expect(r, ("DATA", 0), ("CLOSED", E.KEYS_EXHAUSTED))
    r.receive("S", close, t + 8)
    expect(r, ("CLOSED", E.KEYS_EXHAUSTED))
    t += 100
    sid2, _ = handshake(r, "S", t)
    r.receive("F", one(r.send("S", b"new session", t + 50)), t + 51)
    expect(r, ("DATA", 0))
    return r


def shared_srk() -> Recorder:
    cfg = cfg1(idle_ms=100_000)
    pairs = [pairing(10 + i, n) for i, n in enumerate((16, 24, 32, 20))]
    r = Recorder(header(
        "shared_srk", "S0, S1, S2 ask in interval 0 and share its SRK with different IDRK "
        "sets; S2's PROOF is lost. S3 asks in interval 1 and gets a new SRK. Then time "
        "passes: S2 times out at both ends, the SRKs leave the ring after M x L, idle "
        "sessions close, S2's late PROOF finds nothing.", cfg,
        [(scfg1(), p) for p in pairs], 0))
    sid0, _ = handshake(r, "S0", 1000)
    sid1, _ = handshake(r, "S1", 2000)
    req = one(r.connect("S2", 3000))
    srk2 = one(r.receive("F", req, 3010))
    proof2 = one(r.receive("S2", srk2, 3020))  # lost
    r.receive("F", one(r.send("S0", b"from S0", 4000)), 4001)
    r.receive("F", one(r.send("S1", b"from S1", 4002)), 4003)
    r.receive("S0", one(r.send("F", b"to S0", 4004, sid0)), 4005)
    r.receive("S1", one(r.send("F", b"to S1", 4006, sid1)), 4007)
    for t in range(4020, 7021, 1000):  # S2 repeats PROOF, all lost, then gives up
        one(r.poll("S2", t))
    r.poll("S2", 8020)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    sid3, _ = handshake(r, "S3", 12_000)
    r.receive("F", one(r.send("S3", b"from S3", 12_100)), 12_101)
    r.poll("F", 23_009)
    expect(r)
    r.poll("F", 23_010)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    r.poll("F", 59_999)
    r.poll("F", 60_000)  # SRK 0 erased (no event)
    r.poll("F", 70_000)  # SRK 1 erased
    r.poll("F", 104_002)
    expect(r, ("CLOSED", E.TIMEOUT))  # S0, idle since its DATA at 4001
    r.poll("F", 112_101)
    expect(r, ("CLOSED", E.TIMEOUT), ("CLOSED", E.TIMEOUT))  # S1 then S3, in slot order
    r.receive("F", proof2, 112_200)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    assert all(v is None for v in r.h.first.ring_view())
    assert all(st == "FREE" for st, _ in r.h.first.session_states())
    return r


def retransmit() -> Recorder:
    p = pairing(2, 16)
    cfg = cfg1(rotate_frames=2, rekey_retry_ms=1000, rekey_tries=4)
    r = Recorder(header(
        "retransmit", "SRK lost: S repeats REQ, F resends the same SRK; KEY lost: S repeats "
        "PROOF, F resends the same KEY; REKEY lost: F resends it (new seq); a repeated "
        "REKEY gets a second KEY_ACK, which F accepts silently; then REKEY lost rekey_tries "
        "times: CLOSE(TIMEOUT).", cfg, [(scfg1(), p)], 0))
    req = one(r.connect("S", 0))
    srk = one(r.receive("F", req, 10))  # lost
    r.poll("S", 999)
    expect(r)
    assert one(r.poll("S", 1000)) == req
    assert one(r.receive("F", req, 1010)) == srk
    r.mark("srk_resent")
    proof = one(r.receive("S", srk, 1020))
    key = one(r.receive("F", proof, 1030))  # lost
    expect(r, EST)
    assert one(r.poll("S", 2020)) == proof
    r.mark("proof_repeated")
    assert one(r.receive("F", proof, 2030)) == key
    expect(r)
    r.receive("S", key, 2040)
    expect(r, EST)
    sid = int.from_bytes(srk[3:7], "big")
    t = 3000
    r.receive("S", one(r.send("F", b"one", t, sid)), t + 1)
    rekey_a = one(r.receive("F", one(r.send("S", b"two", t + 2)), t + 3))  # lost
    r.poll("F", t + 1002)
    expect(r)
    rekey_b = one(r.poll("F", t + 1003))
    assert rekey_b != rekey_a
    ack_a = one(r.receive("S", rekey_b, t + 1004))  # delayed
    expect(r, ("ROTATED", 1))
    rekey_c = one(r.poll("F", t + 2003))
    ack_b = one(r.receive("S", rekey_c, t + 2004))
    expect(r)
    r.receive("F", ack_a, t + 2005)
    expect(r, ("ROTATED", 1))
    r.receive("F", ack_b, t + 2006)
    expect(r)
    # next rotation: every REKEY is lost
    t = 6000
    r.receive("S", one(r.send("F", b"three", t, sid)), t + 1)
    r.receive("F", one(r.send("S", b"four", t + 2)), t + 3)  # REKEY(2) lost
    for i in range(1, 4):
        one(r.poll("F", t + 3 + 1000 * i))
    close = one(r.poll("F", t + 3 + 4000))
    expect(r, ("CLOSED", E.TIMEOUT))
    r.receive("S", close, t + 4004)
    expect(r, ("CLOSED", E.TIMEOUT))
    return r


def expiry() -> Recorder:
    p = pairing(3, 16)
    r = Recorder(header(
        "expiry", "F unreachable: S gives up after max_tries REQs (sid 0). Then a PROOF held "
        "on the wire reaches F after lifetime_ms: SRK_EXPIRED with an ERROR frame; S gave "
        "up already; F's poll frees the slot; the PROOF again: UNKNOWN_SESSION. A new "
        "session then idles out at F and S's next DATA is UNKNOWN_SESSION.",
        cfg1(), [(scfg1(), p)], 0))
    one(r.connect("S", 0))
    for t in (1000, 2000, 3000, 4000):
        one(r.poll("S", t))
    r.poll("S", 5000)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    req = one(r.connect("S", 6000))
    srk = one(r.receive("F", req, 6000))
    proof = one(r.receive("S", srk, 6010))  # held on the wire
    for t in (7010, 8010, 9010, 10_010):
        one(r.poll("S", t))
    r.poll("S", 11_010)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    r.poll("F", 25_999)
    expect(r)
    err = one(r.receive("F", proof, 25_999 + 1))
    expect(r, ("ERROR", E.SRK_EXPIRED))
    r.receive("S", err, 26_010)
    expect(r, ("PEER_ERROR", E.SRK_EXPIRED))
    r.poll("F", 26_020)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    one(r.receive("F", proof, 26_030))
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    sid, _ = handshake(r, "S", 27_000)
    r.receive("F", one(r.send("S", b"last words", 27_100)), 27_101)
    r.poll("F", 327_100)
    expect(r)
    r.poll("F", 327_101)
    expect(r, ("CLOSED", E.TIMEOUT))
    r.receive("F", one(r.send("S", b"anyone?", 327_200)), 327_201)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    return r


def table() -> Recorder:
    cfg = cfg1(sessions=2)
    pairs = [pairing(20 + i, 16) for i in range(3)]
    r = Recorder(header(
        "table", "sessions=2. S1's half-open handshake is evicted by S2 (4.2 step 4), its "
        "PROOF is then UNKNOWN_SESSION; with both slots OPEN a REQ gets ERROR BUSY; after "
        "S0 closes, S1 gets a slot, gives up, asks again and reuses its own half-open slot "
        "(step 2) with a new sid; its old REQ replayed in OPEN is REPLAY, nothing sent.",
        cfg, [(scfg1(), p) for p in pairs], 0))
    handshake(r, "S0", 0)
    req1 = one(r.connect("S1", 100))
    proof1 = one(r.receive("S1", one(r.receive("F", req1, 110)), 120))  # held
    handshake(r, "S2", 200)
    err = one(r.receive("F", proof1, 300))
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    r.receive("S1", err, 310)
    expect(r, ("PEER_ERROR", E.UNKNOWN_SESSION))
    for t in range(1120, 4121, 1000):
        one(r.poll("S1", t))
    r.poll("S1", 5120)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    req1 = one(r.connect("S1", 6000))
    busy = one(r.receive("F", req1, 6010))
    expect(r, ("ERROR", E.BUSY))
    r.receive("S1", busy, 6020)
    expect(r, ("PEER_ERROR", E.BUSY))
    r.receive("F", one(r.close("S0", 6100)), 6110)
    expect(r, ("CLOSED", 0))
    srk_a = one(r.receive("F", one(r.poll("S1", 7000)), 7010))
    proof_a = one(r.receive("S1", srk_a, 7020))  # lost, like its repeats
    for t in range(8020, 11_021, 1000):
        one(r.poll("S1", t))
    r.poll("S1", 12_020)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    sid_b, frames = handshake(r, "S1", 13_000)
    assert sid_b != int.from_bytes(srk_a[3:7], "big")
    r.receive("F", proof_a, 13_100)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    assert r.receive("F", frames[0], 13_200) == []
    expect(r, ("ERROR", E.REPLAY))
    return r


# -- suite 2 (protocol.md 3.9) --------------------------------------------------------------

def srk_pub(frame: bytes) -> bytes:
    assert frame[1] == wire.SRK and frame[2] == 2
    return frame[25:57]


def e_pub(frame: bytes) -> bytes:
    assert frame[1] == wire.PROOF and frame[2] == 2
    return frame[7:39]


def suite2_basic() -> Recorder:
    p = pairing(30, 32)
    cfg = FirstConfig(rotate_frames=4)
    r = Recorder(header(
        "suite2_basic", "Suite 2 with the default settings (F accepts 2 and 1, S offers 2 and "
        "1: suite 2 is chosen). F draws the interval's X25519 key pair at the REQ; S draws "
        "e_priv at the SRK frame. DATA both ways; after 4 DATA frames key 0 -> 1 (REKEY, "
        "KEY_ACK), DATA under key 1, then S closes.", cfg, [(SecondConfig(), p)], 0, suite=2))
    req = one(r.connect("S", 0))
    r.mark("req")
    srk = one(r.receive("F", req, 10))
    r.mark("srk")
    assert srk[2] == 2 and len(srk) == 73
    proof = one(r.receive("S", srk, 20))
    r.mark("proof")
    assert len(proof) == 63
    key = one(r.receive("F", proof, 30))
    expect(r, EST)
    r.mark("key")
    r.receive("S", key, 40)
    expect(r, EST)
    r.mark("open")
    sid = int.from_bytes(srk[3:7], "big")
    d = one(r.send("S", b"hello F, suite 2", 100))
    r.mark("s_data")
    r.receive("F", d, 110)
    expect(r, ("DATA", 0))
    r.mark("f_got_data")
    d = one(r.send("F", b"hello S, suite 2", 120, sid))
    r.mark("f_data")
    r.receive("S", d, 130)
    expect(r, ("DATA", 0))
    r.mark("s_got_data")
    r.receive("F", one(r.send("S", b"", 200)), 210)
    d, rekey = r.send("F", bytes(range(256)), 300, sid)
    r.mark("rekey1_out")
    r.receive("S", d, 310)
    r.mark("s_before_rekey1")
    ack = one(r.receive("S", rekey, 320))
    expect(r, ("ROTATED", 1))
    r.mark("s_rotated1")
    r.receive("F", ack, 330)
    expect(r, ("ROTATED", 1))
    r.mark("f_rotated1")
    r.receive("F", one(r.send("S", b"under key 1", 400)), 410)
    expect(r, ("DATA", 0))
    r.receive("S", one(r.send("F", b"under key 1 too", 420, sid)), 430)
    expect(r, ("DATA", 0))
    c = one(r.close("S", 500))
    r.mark("s_close")
    r.receive("F", c, 510)
    expect(r, ("CLOSED", 0))
    r.mark("f_closed")
    assert r.h.seconds["S"].state == "IDLE"
    return r


def suite2_shared() -> Recorder:
    cfg = FirstConfig(suites=[2])
    pairs = [pairing(31 + i, n) for i, n in enumerate((16, 24, 32, 20))]
    r = Recorder(header(
        "suite2_shared", "F accepts suite 2 only. S0, S1, S2 ask in interval 0: one key pair "
        "is drawn (at S0's REQ) and the three SRK frames carry the same srk_pub, each with its "
        "own sid, n_f, IDRK set and auth; each S draws its own e_priv. S3 asks in interval 1 "
        "and gets a new key pair. DATA on every session. F polls past M x L: key pair 0 is "
        "erased at 60000, key pair 1 at 70000 (no event); the open sessions go on (their keys "
        "are IDRKs), then all close.", cfg, [(SecondConfig(), p) for p in pairs], 0, suite=2))
    sids = []
    frames = []
    for i, t in enumerate((1000, 2000, 3000, 12_000)):
        sid, fr = handshake(r, "S%d" % i, t)
        sids.append(sid)
        frames.append(fr)
    pubs = [srk_pub(fr[1]) for fr in frames]
    assert pubs[0] == pubs[1] == pubs[2] != pubs[3]
    assert len({e_pub(fr[2]) for fr in frames}) == 4
    draws = [len(log[0]) for _, log in r.f_draws]
    assert [len(log) for _, log in r.f_draws] == [1 + 1 + 1 + 4, 6, 6, 7], "one key pair each"
    assert draws == [32, 4, 4, 32]
    for i, sid in enumerate(sids):
        t = 13_000 + 100 * i
        r.receive("F", one(r.send("S%d" % i, b"from S%d" % i, t)), t + 1)
        expect(r, ("DATA", 0))
        r.receive("S%d" % i, one(r.send("F", b"to S%d" % i, t + 2, sid)), t + 3)
        expect(r, ("DATA", 0))
    assert [x for x in r.h.first.ring_keys() if x] == [(0, False, True), (1, False, True)]
    r.poll("F", 59_999)
    expect(r)
    r.poll("F", 60_000)  # key pair 0 erased
    expect(r)
    assert [x for x in r.h.first.ring_keys() if x] == [(1, False, True)]
    r.poll("F", 70_000)  # key pair 1 erased
    expect(r)
    assert all(x is None for x in r.h.first.ring_keys())
    for i, sid in enumerate(sids):
        t = 71_000 + 100 * i
        r.receive("F", one(r.send("S%d" % i, b"after erasure S%d" % i, t)), t + 1)
        expect(r, ("DATA", 0))
        r.receive("S%d" % i, one(r.send("F", b"after erasure to S%d" % i, t + 2, sid)), t + 3)
        expect(r, ("DATA", 0))
    for i, sid in enumerate(sids):
        t = 72_000 + 100 * i
        if i % 2:
            r.receive("F", one(r.close("S%d" % i, t)), t + 1)
        else:
            r.receive("S%d" % i, one(r.close("F", t, sid)), t + 1)
        expect(r, ("CLOSED", 0))
    assert all(st == "FREE" for st, _ in r.h.first.session_states())
    return r


def suite2_prepare() -> Recorder:
    cfg = FirstConfig(suites=[2])
    pairs = [pairing(40 + i, 16) for i in range(2)]
    r = Recorder(header(
        "suite2_prepare", "Pre-generation (3.9). F accepts suite 2 only. prepare at 1000 "
        "(interval 0) draws the key pair of interval 1 (32 bytes, nothing else); prepare again "
        "at 2000 draws nothing. S0's REQ at 3000 (interval 0) draws interval 0's key pair on "
        "the spot (prepare never makes the current interval's). S1's REQ at 10500 (interval 1) "
        "draws no key pair: sid, n_f, IDRKs only; its SRK frame carries the pre-generated "
        "srk_pub. prepare at 10700 draws interval 2's key pair, which no request uses; "
        "prepare at 19999 draws nothing. Removal is M x L after each interval's start: "
        "60000, 70000, 80000 (no event); the sessions stay open.",
        cfg, [(SecondConfig(), p) for p in pairs], 0, suite=2))
    f = r.h.first
    r.prepare(1000)
    assert [len(x) for x in r.f_draws[-1][1]] == [32]
    k1_pub = f.srk_pub_of(1)
    assert k1_pub is not None and f.srk_pub_of(0) is None
    n = len(r.f_draws)
    r.prepare(2000)
    assert len(r.f_draws) == n, "prepare is a no-op once interval k+1 has its key pair"
    sid0, fr0 = handshake(r, "S0", 3000)
    assert [len(x) for x in r.f_draws[-1][1]][0] == 32  # interval 0's key pair, on the spot
    r.receive("F", one(r.send("S0", b"S0 in interval 0", 3100)), 3101)
    expect(r, ("DATA", 0))
    sid1, fr1 = handshake(r, "S1", 10_500)
    assert [len(x) for x in r.f_draws[-1][1]] == [4, 16, 16, 16, 16, 16], "no key pair drawn"
    assert srk_pub(fr1[1]) == k1_pub != srk_pub(fr0[1])
    assert fr1[1][23:25] == b"\x00\x01"
    r.receive("F", one(r.send("S1", b"S1 in interval 1", 10_600)), 10_601)
    expect(r, ("DATA", 0))
    r.prepare(10_700)
    assert [len(x) for x in r.f_draws[-1][1]] == [32]
    assert [x for x in f.ring_keys() if x] == [(1, False, True), (0, False, True),
                                                (2, False, True)]
    r.prepare(19_999)  # still interval 1: nothing to do
    assert len(r.f_draws) == n + 3
    for t, left in ((59_999, 3), (60_000, 2), (69_999, 2), (70_000, 1), (79_999, 1),
                    (80_000, 0)):
        r.poll("F", t)
        expect(r)
        assert len([x for x in f.ring_keys() if x]) == left, t
    r.receive("S0", one(r.send("F", b"S0 still open", 80_100, sid0)), 80_101)
    expect(r, ("DATA", 0))
    r.receive("S1", one(r.send("F", b"S1 still open", 80_102, sid1)), 80_103)
    expect(r, ("DATA", 0))
    return r


def negotiation() -> Recorder:
    cfg = FirstConfig(suites=[1, 2])
    offers = ([1], [1, 2], [2])
    pairs = [pairing(50 + i, 16) for i in range(3)]
    r = Recorder(header(
        "negotiation", "F accepts suites 1 and 2. S0 offers [1]: suite 1 (F draws interval "
        "0's 16-byte SRK). S1 offers [1, 2] and S2 offers [2]: suite 2, the highest common "
        "(F draws interval 0's key pair at S1's REQ, into the same ring slot, and S2 shares "
        "it). DATA on each session; a suite-1 DATA frame relabelled suite 2 is BAD_SUITE. The "
        "intermediates are S0's suite-1 handshake.",
        cfg, [(SecondConfig(offer=o), p) for o, p in zip(offers, pairs, strict=True)], 0))
    suites = []
    sids = []
    for i, t in enumerate((1000, 2000, 3000)):
        sid, fr = handshake(r, "S%d" % i, t)
        sids.append(sid)
        suites.append(fr[1][2])
        assert all(x[2] == fr[1][2] for x in fr[1:])
    assert suites == [1, 2, 2]
    assert [x for x in r.h.first.ring_keys() if x] == [(0, True, True)]
    for i, sid in enumerate(sids):
        t = 4000 + 100 * i
        r.receive("F", one(r.send("S%d" % i, b"suite %d up" % suites[i], t)), t + 1)
        expect(r, ("DATA", 0))
        r.receive("S%d" % i, one(r.send("F", b"suite %d down" % suites[i], t + 2, sid)), t + 3)
        expect(r, ("DATA", 0))
    d = one(r.send("S0", b"relabelled", 5000))
    r.receive("F", setb(d, 2, 2), 5001)
    expect(r, ("ERROR", E.BAD_SUITE))
    r.receive("F", d, 5002)
    expect(r, ("DATA", 0))
    return r


def negotiation_suite2_only() -> Recorder:
    cfg = FirstConfig(suites=[2])
    offers = ([1], [1, 2])
    pairs = [pairing(60 + i, 16) for i in range(2)]
    r = Recorder(header(
        "negotiation_suite2_only", "F accepts suite 2 only. S0 offers [1] only: F refuses its "
        "REQ with ERROR(BAD_SUITE) (an ERROR frame, nothing drawn), again for the repeated "
        "REQ; S0 reports PEER_ERROR, repeats until max_tries and gives up. S1 offers [1, 2] "
        "and gets suite 2.",
        cfg, [(SecondConfig(offer=o), p) for o, p in zip(offers, pairs, strict=True)], 0,
        suite=2))
    req = one(r.connect("S0", 0))
    err = one(r.receive("F", req, 10))
    expect(r, ("ERROR", E.BAD_SUITE))
    assert err == wire.build_error(req, E.BAD_SUITE) and not r.f_draws
    r.receive("S0", err, 20)
    expect(r, ("PEER_ERROR", E.BAD_SUITE))
    assert one(r.poll("S0", 1000)) == req
    assert one(r.receive("F", req, 1010)) == err
    expect(r, ("ERROR", E.BAD_SUITE))
    for t in (2000, 3000, 4000):
        one(r.poll("S0", t))
    r.poll("S0", 5000)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    sid, fr = handshake(r, "S1", 6000)
    assert fr[1][2] == 2
    r.receive("F", one(r.send("S1", b"suite 2 it is", 6100)), 6101)
    expect(r, ("DATA", 0))
    assert len(r.f_draws) == 1  # only S1's REQ made F draw
    return r


# -- intermediates ------------------------------------------------------------------------

def parse_draws(log: list[bytes], idrks: int, suite: int) -> dict[str, Any]:
    """Label F's draws for one REQ (4.2, 3.9): [SRK or srk_priv], sid (maybe
    redrawn), n_f, IDRKs. Suite-1 entries keep their original keys."""
    i = 0
    key = None
    if suite == 2 and len(log[0]) == 32:
        key = log[0]
        i = 1
    elif suite == 1 and len(log[0]) == 16 and len(log[1]) == 4:
        key = log[0]
        i = 1
    sid_draws = []
    while len(log[i]) == 4:
        sid_draws.append(log[i])
        i += 1
    n_f = log[i]
    keys = log[i + 1:]
    assert len(keys) == idrks and all(len(k) == 16 for k in keys)
    rest = {"sid": int.from_bytes(sid_draws[-1], "big") & SID_MASK,
            "sid_draws": len(sid_draws), "n_f": n_f.hex(), "idrks": [k.hex() for k in keys]}
    if suite == 1:
        return {"srk": key.hex() if key else None, **rest}
    return {"suite": 2, "srk_priv": key.hex() if key else None,
            "srk_pub": crypto.x25519_base(key).hex() if key else None, **rest}


def label_draws(r: Recorder) -> list[dict[str, Any]]:
    """F's draws, step by step: one entry per REQ answered and per ``prepare``."""
    vec = r.vec
    k = vec["first"]["idrks"]
    draws = []
    for step_i, log in r.f_draws:
        step = vec["steps"][step_i]
        if step["op"] == "prepare":
            assert len(log) == 1 and len(log[0]) == 32
            interval = (step["t"] - vec["t0"]) // vec["first"]["interval_ms"] + 1
            draws.append({"step": step_i, "interval": interval, "prepare": True, "suite": 2,
                          "srk_priv": log[0].hex(), "srk_pub": crypto.x25519_base(log[0]).hex()})
            continue
        srk_frame = bytes.fromhex(step["out"][0])
        assert srk_frame[1] == wire.SRK
        d = parse_draws(log, k, srk_frame[2])
        assert srk_frame[7:23].hex() == d["n_f"]
        assert int.from_bytes(srk_frame[3:7], "big") == d["sid"]
        draws.append({"step": step_i, "interval": int.from_bytes(srk_frame[23:25], "big"), **d})
    return draws


def key_pair_of(draws: list[dict[str, Any]], interval: int, step: int) -> bytes:
    """srk_priv of ``interval`` as drawn at or before ``step`` (by a REQ or prepare)."""
    privs = [d["srk_priv"] for d in draws if d.get("srk_priv") and d["interval"] == interval
             and d["step"] <= step]
    return bytes.fromhex(privs[-1])


def e_priv_of(r: Recorder, station: str, srk_frame: bytes) -> bytes:
    """The e_priv ``station`` drew when it accepted ``srk_frame``."""
    for step_i, name, log in r.s_draws:
        step = r.vec["steps"][step_i]
        if name == station and step["op"] == "receive" and step["in"] == srk_frame.hex():
            assert [len(x) for x in log] == [32]
            return log[0]
    raise AssertionError("no e_priv drawn for this SRK frame")


SUITE1_KEYS = ("th1", "kek2", "th2", "k3", "spv", "th3", "ms", "kek_0")
SUITE2_KEYS = ("th1", "ka2", "srk_pub", "th2", "e_pub", "dh", "k3", "spv", "th3", "ms", "kek_0")


def intermediates(r: Recorder) -> dict[str, Any]:
    vec = r.vec
    specs = second_specs(vec)
    draws = label_draws(r)
    mp = vec["first"]["max_payload"]
    # The first complete handshake (first station first), recomputed from its
    # second station's view; in suite 2 with the interval's srk_priv, then
    # again with S's e_priv, which must give the same values.
    rep = None
    e_priv = srk_priv = b""
    for name, _, p, _ in specs:
        for session in split_sessions(transcript(vec, name)):
            srk_frame = next((raw for d, raw in session if raw[1] == wire.SRK), None)
            if srk_frame is not None and srk_frame[2] == 2:
                step = next(i for i, st in enumerate(vec["steps"])
                            if st["station"] == "F" and srk_frame.hex() in st["out"])
                srk_priv = key_pair_of(draws, int.from_bytes(srk_frame[23:25], "big"), step)
                e_priv = e_priv_of(r, name, srk_frame)
                rep = validate(session, p, max_payload=mp, srk_priv=srk_priv)
                other = validate(session, p, max_payload=mp, e_priv=e_priv)
                assert other.ok and other.intermediates == rep.intermediates
                bare = validate(session, p, max_payload=mp)
                assert bare.ok and bare.unverified and "ms" not in bare.intermediates
            else:
                rep = validate(session, p, max_payload=mp)
            assert rep.ok, rep.errors()
            if "kek_0" in rep.intermediates:
                break
        else:
            continue
        break
    assert rep is not None and "kek_0" in rep.intermediates
    ri = rep.intermediates
    suite = 2 if "ka2" in ri else 1
    assert suite == vec["suite"], "the vector's suite is the intermediates' suite"
    inter: dict[str, Any] = {x: ri[x] for x in (SUITE2_KEYS if suite == 2 else SUITE1_KEYS)}
    mine = [d for d in draws if d.get("idrks") and d["idrks"][0] == ri["idrk_0"]]
    assert len(mine) == 1
    inter["sid"] = mine[0]["sid"]
    if suite == 1:
        srks = [d["srk"] for d in draws if d["interval"] == mine[0]["interval"]
                and d["step"] <= mine[0]["step"] and d.get("srk")]
        assert srks[-1] == ri["srk"]
        inter["srk"] = ri["srk"]
    else:
        assert crypto.x25519_base(srk_priv).hex() == ri["srk_pub"]
        assert crypto.x25519_base(e_priv).hex() == ri["e_pub"]
        inter["srk_priv"] = srk_priv.hex()
        inter["e_priv"] = e_priv.hex()
    inter["idrks"] = mine[0]["idrks"]
    inter["draws"] = draws
    return inter


# -- negative cases -----------------------------------------------------------------------

def setb(frame: bytes, off: int, val: int) -> bytes:
    b = bytearray(frame)
    b[off] = val
    return bytes(b)


def flip(frame: bytes, off: int, mask: int = 0x01) -> bytes:
    return setb(frame, off, frame[off] ^ mask)


def with_sid(frame: bytes, sid: int) -> bytes:
    return frame[:3] + sid.to_bytes(4, "big") + frame[7:]


def out_of(vec: Vector, step: int, n: int = 0) -> bytes:
    return bytes.fromhex(vec["steps"][step]["out"][n])


def in_of(vec: Vector, step: int) -> bytes:
    return bytes.fromhex(vec["steps"][step]["in"])


class Cases:
    def __init__(self, bases: dict[str, Recorder]):
        self.bases = bases
        self.cases: list[dict[str, Any]] = []

    def add(self, name: str, base: str, after: str | int, station: str, frame: bytes,
            field: str, error: str, answer: bool = False) -> None:
        rec = self.bases[base]
        step = rec.labels[after] if isinstance(after, str) else after
        out = [wire.build_error(frame, Code[error]).hex()] if answer else []
        self.cases.append({"name": name, "base": base, "after_step": step, "station": station,
                           "in": frame.hex(), "field": field, "error": error, "out": out})


def protected_variants(c: Cases, prefix: str, base: str, after: str, station: str,
                       frame: bytes) -> None:
    """The field tampers every protected frame gets."""
    sid = int.from_bytes(frame[3:7], "big")
    c.add(prefix + "_ver", base, after, station, setb(frame, 0, 2), "ver", "BAD_VERSION")
    c.add(prefix + "_type_unknown", base, after, station, setb(frame, 1, 9), "type", "BAD_TYPE")
    c.add(prefix + "_suite", base, after, station, setb(frame, 2, 3 - frame[2]), "suite",
          "BAD_SUITE")
    c.add(prefix + "_sid", base, after, station, with_sid(frame, sid ^ 1), "sid", "UNKNOWN_SESSION")
    c.add(prefix + "_kidx", base, after, station, flip(frame, 7, 0x02), "kidx", "BAD_KEY_INDEX")
    c.add(prefix + "_seq", base, after, station, flip(frame, 11, 0x04), "seq", "AUTH_FAILED")
    c.add(prefix + "_seq_2p30", base, after, station, flip(frame, 8, 0x40), "seq", "MALFORMED")
    if len(frame) > wire.DATA_MIN_LEN:
        c.add(prefix + "_ciphertext", base, after, station, flip(frame, 12), "ciphertext",
              "AUTH_FAILED")
    c.add(prefix + "_tag", base, after, station, flip(frame, len(frame) - 1), "tag", "AUTH_FAILED")
    # A DATA frame one byte shorter or longer is still a DATA length: its tag fails.
    is_data = frame[1] == wire.DATA
    c.add(prefix + "_truncated", base, after, station, frame[:-1], "length",
          "AUTH_FAILED" if is_data and len(frame) > wire.DATA_MIN_LEN else "MALFORMED")
    c.add(prefix + "_extended", base, after, station, frame + b"\x00", "length",
          "AUTH_FAILED" if is_data else "MALFORMED")
    c.add(prefix + "_short", base, after, station, frame[:wire.DATA_MIN_LEN - 1], "length",
          "MALFORMED")


def negatives(bases: dict[str, Recorder]) -> list[dict[str, Any]]:
    c = Cases(bases)
    b = bases["basic"].vec
    L = bases["basic"].labels
    req = out_of(b, L["req"])
    srk = out_of(b, L["srk"])
    proof = out_of(b, L["proof"])
    key = out_of(b, L["key"])
    sid = int.from_bytes(srk[3:7], "big")

    # Too short for a header: no sid, never answered.
    c.add("short_6", "basic", "req", "F", req[:6], "header", "MALFORMED")
    c.add("short_empty", "basic", "req", "F", b"", "header", "MALFORMED")
    c.add("short_6_to_s", "basic", "srk", "S", srk[:6], "header", "MALFORMED")

    # REQ at F (nothing received yet). Rejected REQs are answered with ERROR,
    # except when the frame is not a version-1 REQ at all.
    c.add("req_ver", "basic", "req", "F", setb(req, 0, 2), "ver", "BAD_VERSION")
    c.add("req_type_unknown", "basic", "req", "F", setb(req, 1, 9), "type", "BAD_TYPE")
    c.add("req_type_srk", "basic", "req", "F", setb(req, 1, wire.SRK), "type", "UNEXPECTED")
    c.add("req_suite", "basic", "req", "F", setb(req, 2, 1), "suite", "MALFORMED", True)
    c.add("req_sid", "basic", "req", "F", with_sid(req, 5), "sid", "MALFORMED", True)
    c.add("req_offer_zero", "basic", "req", "F", setb(req, 31, 0), "offer", "MALFORMED", True)
    c.add("req_offer_bit7", "basic", "req", "F", setb(req, 31, 0x81), "offer", "MALFORMED", True)
    c.add("req_offer_no_common", "basic", "req", "F", setb(req, 31, 0x02), "offer", "BAD_SUITE",
          True)
    c.add("req_id_s", "basic", "req", "F", flip(req, 14), "id_s", "UNKNOWN_PEER", True)
    c.add("req_truncated", "basic", "req", "F", req[:-1], "length", "MALFORMED", True)
    c.add("req_extended", "basic", "req", "F", req + b"\x01", "length", "MALFORMED", True)
    c.add("req_reflected_to_s", "basic", "req", "S", req, "type", "UNEXPECTED")
    # REQ with n_s changed on the way: F answers it, and S cannot unwrap that answer.
    h = Harness(b)
    assert not run_steps(h, b["steps"][:L["req"] + 1])
    forged_srk = one(h.feed("F", flip(req, 20), int(b["steps"][L["req"]]["t"]))[0])
    c.add("req_n_s_answer", "basic", "srk", "S", forged_srk, "n_s", "AUTH_FAILED")

    # SRK at S (waiting for it).
    c.add("srk_ver", "basic", "srk", "S", setb(srk, 0, 0), "ver", "BAD_VERSION")
    c.add("srk_type_unknown", "basic", "srk", "S", setb(srk, 1, 0), "type", "BAD_TYPE")
    c.add("srk_type_req", "basic", "srk", "S", setb(srk, 1, wire.REQ), "type", "UNEXPECTED")
    c.add("srk_truncated", "basic", "srk", "S", srk[:-1], "length", "MALFORMED")
    c.add("srk_extended", "basic", "srk", "S", srk + b"\x00", "length", "MALFORMED")
    # 4.4 item 2: an SRK frame has the length of the suite its header names, so a
    # 49-byte frame saying suite 2 is MALFORMED before any suite check.
    c.add("srk_suite_2", "basic", "srk", "S", setb(srk, 2, 2), "suite", "MALFORMED")
    c.add("srk_suite_0", "basic", "srk", "S", setb(srk, 2, 0), "suite", "BAD_SUITE")
    c.add("srk_sid", "basic", "srk", "S", with_sid(srk, sid ^ 1), "sid", "AUTH_FAILED")
    c.add("srk_sid_zero", "basic", "srk", "S", with_sid(srk, 0), "sid", "MALFORMED")
    c.add("srk_n_f", "basic", "srk", "S", flip(srk, 7), "n_f", "AUTH_FAILED")
    c.add("srk_interval", "basic", "srk", "S", flip(srk, 24), "interval", "AUTH_FAILED")
    c.add("srk_wrapped_srk", "basic", "srk", "S", flip(srk, 30), "wrapped_srk", "AUTH_FAILED")
    c.add("srk_reflected_to_f", "basic", "srk", "F", srk, "type", "UNEXPECTED")

    # PROOF at F (waiting for it): every rejection is answered.
    c.add("proof_ver", "basic", "proof", "F", setb(proof, 0, 2), "ver", "BAD_VERSION")
    c.add("proof_type_unknown", "basic", "proof", "F", setb(proof, 1, 14), "type", "BAD_TYPE")
    c.add("proof_type_key", "basic", "proof", "F", setb(proof, 1, wire.KEY), "type", "UNEXPECTED")
    c.add("proof_truncated", "basic", "proof", "F", proof[:-1], "length", "MALFORMED", True)
    c.add("proof_extended", "basic", "proof", "F", proof + b"\x00", "length", "MALFORMED", True)
    c.add("proof_suite", "basic", "proof", "F", setb(proof, 2, 2), "suite", "MALFORMED", True)
    c.add("proof_sid", "basic", "proof", "F", with_sid(proof, sid ^ 1), "sid", "UNKNOWN_SESSION",
          True)
    c.add("proof_ct", "basic", "proof", "F", flip(proof, 7), "ct_tag", "AUTH_FAILED", True)
    c.add("proof_tag", "basic", "proof", "F", flip(proof, 30), "ct_tag", "AUTH_FAILED", True)
    inter = bases["basic"].vec["intermediates"]
    bad_spv = bytes(16)
    k3 = bytes.fromhex(inter["k3"])
    forged = wire.build_proof(1, sid, ks.seal_proof(k3, sid, proof[:7], bad_spv))
    c.add("proof_bad_spv", "basic", "proof", "F", forged, "ct_tag", "BAD_PROOF", True)
    c.add("proof_reflected_to_s", "basic", "proof", "S", proof, "type", "UNEXPECTED")
    early = wire.protected_head(wire.DATA, 1, sid, 0, 0) + bytes(8)
    c.add("data_before_open", "basic", "proof", "F", early, "type", "UNEXPECTED")

    # KEY at S (waiting for it).
    c.add("key_ver", "basic", "key", "S", setb(key, 0, 2), "ver", "BAD_VERSION")
    c.add("key_type_unknown", "basic", "key", "S", setb(key, 1, 9), "type", "BAD_TYPE")
    c.add("key_type_proof", "basic", "key", "S", setb(key, 1, wire.PROOF), "type", "UNEXPECTED")
    c.add("key_truncated", "basic", "key", "S", key[:-1], "length", "MALFORMED")
    c.add("key_suite", "basic", "key", "S", setb(key, 2, 2), "suite", "BAD_SUITE")
    c.add("key_sid", "basic", "key", "S", with_sid(key, sid ^ 1), "sid", "UNKNOWN_SESSION")
    c.add("key_wrapped_idrk", "basic", "key", "S", flip(key, 20), "wrapped_idrk", "AUTH_FAILED")
    c.add("srk_repeated_in_wait_key", "basic", "key", "S", srk, "type", "UNEXPECTED")
    c.add("srk_other_sid_in_wait_key", "basic", "key", "S", with_sid(srk, sid ^ 1), "sid",
          "UNKNOWN_SESSION")
    c.add("key_reflected_to_f", "basic", "key", "F", key, "type", "UNEXPECTED")

    # Replays of handshake frames once the session is open.
    c.add("key_replay_open", "basic", "open", "S", key, "type", "UNEXPECTED")
    c.add("srk_replay_open", "basic", "open", "S", srk, "type", "UNEXPECTED")
    c.add("req_replay_open", "basic", "open", "F", req, "n_s", "REPLAY")
    c.add("proof_replay_after_data", "basic", "f_got_data", "F", proof, "type", "UNEXPECTED", True)

    # DATA S -> F, F -> S.
    d_s = out_of(b, L["s_data"])
    d_f = out_of(b, L["f_data"])
    protected_variants(c, "data_s2f", "basic", "s_data", "F", d_s)
    protected_variants(c, "data_f2s", "basic", "f_data", "S", d_f)
    c.add("data_s2f_too_long", "basic", "s_data", "F",
          d_s[:12] + bytes(257) + d_s[-8:], "length", "MALFORMED")
    c.add("data_s2f_type_close", "basic", "s_data", "F", setb(d_s, 1, wire.CLOSE), "type",
          "MALFORMED")
    c.add("data_s2f_replay", "basic", "f_got_data", "F", d_s, "seq", "REPLAY")
    c.add("data_f2s_replay", "basic", "s_got_data", "S", d_f, "seq", "REPLAY")
    c.add("data_f2s_reflected_to_f", "basic", "f_data", "F", d_f, "tag", "AUTH_FAILED")
    c.add("data_s2f_reflected_to_s", "basic", "s_data", "S", d_s, "tag", "AUTH_FAILED")

    # CLOSE.
    close = out_of(b, L["s_close"])
    protected_variants(c, "close_s2f", "basic", "s_close", "F", close)
    c.add("close_reflected_to_s", "basic", "s_close", "S", close, "sid", "UNKNOWN_SESSION")
    c.add("close_replay", "basic", "f_closed", "F", close, "sid", "UNKNOWN_SESSION")
    c.add("data_after_close", "basic", "f_closed", "F", d_s, "sid", "UNKNOWN_SESSION")
    c.add("error_truncated", "basic", "open", "S", wire.build_error(proof, 1)[:7], "length",
          "MALFORMED")
    c.add("error_extended", "basic", "open", "F", wire.build_error(proof, 1) + b"\x00", "length",
          "MALFORMED")

    # Rotation: REKEY at S, KEY_ACK at F, old keys after the switch.
    rv = bases["rotation"].vec
    RL = bases["rotation"].labels
    rekey = out_of(rv, RL["rekey1_out"], 1)
    ack = out_of(rv, RL["s_rotated1"])
    protected_variants(c, "rekey", "rotation", "s_before_rekey1", "S", rekey)
    c.add("rekey_reflected_to_f", "rotation", "s_before_rekey1", "F", rekey, "type", "UNEXPECTED")
    c.add("rekey_replay", "rotation", "s_rotated1", "S", rekey, "seq", "REPLAY")
    protected_variants(c, "key_ack", "rotation", "s_rotated1", "F", ack)
    c.add("key_ack_reflected_to_s", "rotation", "s_rotated1", "S", ack, "type", "UNEXPECTED")
    c.add("key_ack_replay", "rotation", "f_rotated1", "F", ack, "seq", "REPLAY")
    old = out_of(rv, RL["rekey1_out"], 0)  # F's DATA under key 0
    c.add("old_key_after_rotation", "rotation", "s_first_under1", "S", old, "kidx",
          "BAD_KEY_INDEX")
    c.add("key0_data_after_rotation", "rotation", "f_rotated1", "F",
          out_of(rv, RL["s_k0_data"]), "kidx", "BAD_KEY_INDEX")
    # Validly tagged REKEYs with bad contents (forged with the vector's keys).
    rinter = rv["intermediates"]
    rsid = int.from_bytes(rekey[3:7], "big")
    idrk0 = bytes.fromhex(rinter["idrks"][0])
    head = wire.protected_head(wire.REKEY, 1, rsid, 0, 1000)
    wrap1 = ks.seal_frame(idrk0, rsid, ks.DIR_F2S, head, bytes((2,)) + bytes(24))[12:]
    c.add("rekey_announces_wrong_index", "rotation", "s_before_rekey1", "S", head + wrap1,
          "ciphertext", "MALFORMED")
    wrap2 = ks.seal_frame(idrk0, rsid, ks.DIR_F2S, head, bytes((1,)) + bytes(24))[12:]
    c.add("rekey_bad_wrapped_idrk", "rotation", "s_before_rekey1", "S", head + wrap2,
          "ciphertext", "AUTH_FAILED")
    suite2_negatives(c, bases)
    return c.cases


LOW_ORDER = (  # u of low order (tests/vectors/x25519.json): DH would be all zeros
    ("0", bytes(32)),
    ("1", (1).to_bytes(32, "little")),
    ("order8", bytes.fromhex(
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")),
    ("p_minus_1", bytes.fromhex(
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")),
)


def suite2_negatives(c: Cases, bases: dict[str, Recorder]) -> None:
    # Suite-1 sessions meeting suite 2's layouts (4.4 item 2: a suite byte other
    # than 1 or 2 is BAD_SUITE before the length; suite 2's length, then the
    # suite checks of item 4).
    b1 = bases["basic"].vec
    srk1 = out_of(b1, bases["basic"].labels["srk"])
    proof1 = out_of(b1, bases["basic"].labels["proof"])
    c.add("srk_suite_2_not_offered", "basic", "srk", "S", setb(srk1, 2, 2) + bytes(24), "suite",
          "BAD_SUITE")  # suite 2's length, but S offered suite 1 only
    c.add("proof_suite_0", "basic", "proof", "F", setb(proof1, 2, 0), "suite", "BAD_SUITE", True)
    c.add("proof_suite_2_layout", "basic", "proof", "F", setb(proof1, 2, 2) + bytes(32), "suite",
          "BAD_SUITE", True)  # a well-formed suite-2 PROOF in a suite-1 session

    rec = bases["suite2_basic"]
    b = rec.vec
    L = rec.labels
    inter = b["intermediates"]
    ps = bytes.fromhex(b["pairing"]["ps"])
    req = out_of(b, L["req"])
    srk = out_of(b, L["srk"])
    proof = out_of(b, L["proof"])
    key = out_of(b, L["key"])
    sid = int.from_bytes(srk[3:7], "big")
    n_s, n_f = req[15:31], srk[7:23]
    th2 = bytes.fromhex(inter["th2"])

    # SRK frame at S (waiting for it): auth covers header, n_f, interval, srk_pub.
    c.add("s2_srk_auth", "suite2_basic", "srk", "S", flip(srk, 60), "auth", "AUTH_FAILED")
    c.add("s2_srk_auth_last", "suite2_basic", "srk", "S", flip(srk, 72, 0x80), "auth",
          "AUTH_FAILED")
    c.add("s2_srk_srk_pub", "suite2_basic", "srk", "S", flip(srk, 30), "srk_pub", "AUTH_FAILED")
    c.add("s2_srk_n_f", "suite2_basic", "srk", "S", flip(srk, 7), "n_f", "AUTH_FAILED")
    c.add("s2_srk_interval", "suite2_basic", "srk", "S", flip(srk, 24), "interval",
          "AUTH_FAILED")
    c.add("s2_srk_sid", "suite2_basic", "srk", "S", with_sid(srk, sid ^ 1), "sid", "AUTH_FAILED")
    c.add("s2_srk_suite_1", "suite2_basic", "srk", "S", setb(srk, 2, 1), "suite", "MALFORMED")
    c.add("s2_srk_suite_3", "suite2_basic", "srk", "S", setb(srk, 2, 3), "suite", "BAD_SUITE")
    c.add("s2_srk_truncated", "suite2_basic", "srk", "S", srk[:-1], "length", "MALFORMED")
    c.add("s2_srk_extended", "suite2_basic", "srk", "S", srk + b"\x00", "length", "MALFORMED")
    c.add("s2_srk_as_suite_1_length", "suite2_basic", "srk", "S", setb(srk, 2, 1)[:49], "suite",
          "AUTH_FAILED")  # a suite-1 frame (S offered 1 too): its unwrap fails
    # A man in the middle rewrites the REQ's offer. TH1 binds the offer, so S
    # rejects F's answer whichever suite F chose (3.9).
    for name, offer in (("s2_req_offer_downgraded_to_1", 0x01),
                        ("s2_req_offer_rewritten_to_2", 0x02)):
        h = Harness(b)
        assert not run_steps(h, b["steps"][:L["req"] + 1])
        answer = one(h.feed("F", setb(req, 31, offer), int(b["steps"][L["req"]]["t"]))[0])
        assert answer[2] == (1 if offer == 0x01 else 2)
        c.add(name, "suite2_basic", "srk", "S", answer, "offer", "AUTH_FAILED")

    # PROOF at F (waiting for it): every rejection is answered.
    c.add("s2_proof_e_pub", "suite2_basic", "proof", "F", flip(proof, 10), "e_pub",
          "AUTH_FAILED", True)
    c.add("s2_proof_ct", "suite2_basic", "proof", "F", flip(proof, 39), "ct_tag", "AUTH_FAILED",
          True)
    c.add("s2_proof_tag", "suite2_basic", "proof", "F", flip(proof, 62), "ct_tag",
          "AUTH_FAILED", True)
    c.add("s2_proof_suite_1", "suite2_basic", "proof", "F", setb(proof, 2, 1), "suite",
          "MALFORMED", True)
    c.add("s2_proof_suite_3", "suite2_basic", "proof", "F", setb(proof, 2, 3), "suite",
          "BAD_SUITE", True)
    c.add("s2_proof_suite_1_layout", "suite2_basic", "proof", "F", setb(proof, 2, 1)[:31],
          "suite", "BAD_SUITE", True)  # a well-formed suite-1 PROOF in a suite-2 session
    c.add("s2_proof_truncated", "suite2_basic", "proof", "F", proof[:-1], "length",
          "MALFORMED", True)
    c.add("s2_proof_extended", "suite2_basic", "proof", "F", proof + b"\x00", "length",
          "MALFORMED", True)
    c.add("s2_proof_sid", "suite2_basic", "proof", "F", with_sid(proof, sid ^ 1), "sid",
          "UNKNOWN_SESSION", True)
    c.add("s2_proof_reflected_to_s", "suite2_basic", "proof", "S", proof, "type", "UNEXPECTED")
    # SPV wrong under the right K3 (forged with the vector's K3).
    k3 = bytes.fromhex(inter["k3"])
    head = proof[:ks.PROOF2_AAD_LEN]
    c.add("s2_proof_bad_spv", "suite2_basic", "proof", "F",
          head + ks.seal_proof(k3, sid, head, bytes(16)), "ct_tag", "BAD_PROOF", True)
    # SPV with suite 1's label under the right K3: labels matter.
    c.add("s2_proof_suite1_spv_label", "suite2_basic", "proof", "F",
          head + ks.seal_proof(k3, sid, head, ks.spv(ps, th2, 1)), "ct_tag", "BAD_PROOF", True)
    # Low-order e_pub. The PROOF is forged with PS as if DH were all zeros (what
    # an implementation without the check would compute), so only the all-zero
    # check stops it.
    for label, u in LOW_ORDER:
        assert crypto.x25519_low_order(u)
        head = wire.proof2_head(sid, u)
        k3z = ks.k3_dh(n_s, n_f, bytes(32), ps, th2)
        forged = head + ks.seal_proof(k3z, sid, head, ks.spv(ps, th2, 2))
        c.add("s2_proof_low_order_e_pub_" + label, "suite2_basic", "proof", "F", forged,
              "e_pub", "AUTH_FAILED", True)

    # KEY at S (waiting for it).
    c.add("s2_key_wrapped_idrk", "suite2_basic", "key", "S", flip(key, 20), "wrapped_idrk",
          "AUTH_FAILED")
    c.add("s2_key_suite_1", "suite2_basic", "key", "S", setb(key, 2, 1), "suite", "BAD_SUITE")
    c.add("s2_key_sid", "suite2_basic", "key", "S", with_sid(key, sid ^ 1), "sid",
          "UNKNOWN_SESSION")
    ms = bytes.fromhex(inter["ms"])
    idrk0 = bytes.fromhex(inter["idrks"][0])
    c.add("s2_key_suite1_kek_label", "suite2_basic", "key", "S",
          wire.build_key(2, sid, crypto.kw_wrap(ks.kek(ms, 0, 1), idrk0)), "wrapped_idrk",
          "AUTH_FAILED")

    # Protected frames of a suite-2 session.
    protected_variants(c, "s2_data_s2f", "suite2_basic", "s_data", "F", out_of(b, L["s_data"]))
    protected_variants(c, "s2_data_f2s", "suite2_basic", "f_data", "S", out_of(b, L["f_data"]))
    rekey = out_of(b, L["rekey1_out"], 1)
    protected_variants(c, "s2_rekey", "suite2_basic", "s_before_rekey1", "S", rekey)
    # A REKEY tagged right whose IDRK_1 is wrapped under suite 1's KEK_1.
    idrk1 = bytes.fromhex(inter["idrks"][1])
    rhead = wire.protected_head(wire.REKEY, 2, sid, 0, 1000)
    pt = bytes((1,)) + crypto.kw_wrap(ks.kek(ms, 1, 1), idrk1)
    c.add("s2_rekey_suite1_kek_label", "suite2_basic", "s_before_rekey1", "S",
          ks.seal_frame(idrk0, sid, ks.DIR_F2S, rhead, pt), "ciphertext", "AUTH_FAILED")
    c.add("s2_close_replay", "suite2_basic", "f_closed", "F", out_of(b, L["s_close"]), "sid",
          "UNKNOWN_SESSION")

    # F accepting suite 2 only: an offer of suite 1 only is BAD_SUITE, answered.
    nb = bases["negotiation_suite2_only"].vec
    c.add("s2_only_req_offer_1", "negotiation_suite2_only", 0, "F", out_of(nb, 0), "offer",
          "BAD_SUITE", True)


# -- main ---------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[], Recorder]] = {
    "basic": basic, "rotation": rotation, "shared_srk": shared_srk,
    "retransmit": retransmit, "expiry": expiry, "table": table,
    "suite2_basic": suite2_basic, "suite2_shared": suite2_shared,
    "suite2_prepare": suite2_prepare, "negotiation": negotiation,
    "negotiation_suite2_only": negotiation_suite2_only,
}


def build() -> dict[str, str]:
    """File name -> text of every vector file this tool owns."""
    recs: dict[str, Recorder] = {}
    files: dict[str, str] = {}
    for name, make in SCENARIOS.items():
        rec = make()
        rec.vec["intermediates"] = intermediates(rec)
        problems = run_session(rec.vec)
        assert not problems, problems
        recs[name] = rec
        files["session_%s.json" % name] = dumps(rec.vec)
    cases = negatives(recs)
    names = [x["name"] for x in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    bases = {name: rec.vec for name, rec in recs.items()}
    for case in cases:
        problems = run_negative(case, bases)
        assert not problems, problems
    files["negative.json"] = dumps({"cases": cases})
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "vectors",
                    help="directory to write to (default: tests/vectors)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for fname, text in build().items():
        (args.out / fname).write_text(text, encoding="utf-8", newline="\n")
        print("wrote", args.out / fname)
    return 0


if __name__ == "__main__":
    sys.exit(main())
