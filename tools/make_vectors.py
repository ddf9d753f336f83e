#!/usr/bin/env python3
"""Write tests/vectors/session_*.json and negative.json (protocol version 2)
from the host roles.

Deterministic: fixed seeds (section 12 RNG), fixed ticks; running it twice
gives identical files. It never writes the other vector files (primitives,
x25519, link, cpace, ...).

    python tools/make_vectors.py [--out DIR]

Every scenario asserts the events it expects, every negative case is checked
against the host before it is written, and each vector's intermediates are
recomputed by the transcript validator from the recorded frames and
cross-checked with the stations' RNG draws.
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

from ephkey_host import cpace, crypto, keyschedule as ks, wire
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


def none(frames: list[bytes]) -> None:
    assert frames == [], frames


def sid_of(frame: bytes) -> int:
    return int.from_bytes(frame[1:3], "big")


def ftype(frame: bytes) -> int:
    return frame[0] & 0x0F


E = Code
EST = ("ESTABLISHED", 0)
ERR_FRAME = wire.build_error


def handshake(r: Recorder, st: str, t: int, dt: int = 10) -> tuple[int, list[bytes]]:
    """A clean handshake (either suite); returns (sid, [REQ, SRK, PROOF, KEY]).
    F's session is WAIT_CONFIRM at the end."""
    req = one(r.connect(st, t))
    srk = one(r.receive("F", req, t + dt))
    assert ftype(srk) == wire.SRK, srk.hex()
    if srk[3] == 2:
        none(r.receive(st, srk, t + 2 * dt))
        proof = one(r.work(st, t + 2 * dt))
        none(r.receive("F", proof, t + 3 * dt))
        key = one(r.work("F", t + 3 * dt))
    else:
        proof = one(r.receive(st, srk, t + 2 * dt))
        key = one(r.receive("F", proof, t + 3 * dt))
    expect(r, EST)
    r.receive(st, key, t + 4 * dt)
    expect(r, EST)
    return sid_of(srk), [req, srk, proof, key]


def ready_pair(r: Recorder, t: int) -> None:
    """``prepare`` creates the current interval's key-pair job; ``work`` ends it."""
    none(r.prepare(t))
    none(r.work("F", t))
    expect(r)


def exchange(r: Recorder, st: str, sid: int, t: int, up: bytes, down: bytes) -> None:
    """DATA S -> F (confirms an unconfirmed session) then F -> S."""
    r.receive("F", one(r.send(st, up, t)), t + 1)
    expect(r, ("DATA", 0))
    r.receive(st, one(r.send("F", down, t + 2, sid)), t + 3)
    expect(r, ("DATA", 0))


# -- suite 1 scenarios ------------------------------------------------------------------

def basic() -> Recorder:
    p = pairing(0, 16)
    r = Recorder(header(
        "basic", "Suite 1: handshake (116 bytes), DATA both ways (an empty and a "
        "max_payload one); S's first DATA confirms the session at F; idle polls; S closes.",
        cfg1(), [(scfg1(), p)], 0))
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
    assert sum(map(len, (req, srk, proof, key))) == wire.HANDSHAKE_BYTES[1] == 116
    sid = sid_of(srk)
    d = one(r.send("S", b"hello F", 100))
    r.mark("s_data")
    r.receive("F", d, 110)
    expect(r, ("DATA", 0))
    r.mark("f_got_data")
    assert r.h.first.session_states()[0] == ("OPEN", sid)
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
        "rotation", "Suite 1, rotate_frames=4, idrks=4; the intermediates' chain lists "
        "KEK_j and CK_{j+1} of each rotation. Key 0->1 after F sends the 4th DATA, finished "
        "by KEY_ACK; 1->2 after F accepts the 4th DATA, KEY_ACK lost, finished by a DATA "
        "under 2 (ROTATED then DATA); 2->3 by rotate_ms with a DATA crossing the REKEY, "
        "the REKEY lost once and sent again; key 3 used up: CLOSE(KEYS_EXHAUSTED); then a "
        "new handshake.", cfg, [(scfg1(), p)], 5000))
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
    # key 2: rotate_ms after the key was installed; the first REKEY(3) is lost
    t = 5200 + 12 + 30_000
    r.poll("F", t - 1)
    expect(r)
    one(r.poll("F", t))  # lost
    d = one(r.send("S", b"k2 s2 crossing", t + 1))
    r.receive("F", d, t + 2)
    expect(r, ("DATA", 0))
    rekey = one(r.poll("F", t + 1000))
    ack = one(r.receive("S", rekey, t + 1003))
    expect(r, ("ROTATED", 3))
    r.receive("F", ack, t + 1004)
    expect(r, ("ROTATED", 3))
    # key 3: the last one; the 4th DATA exhausts the set
    t += 1100
    r.receive("S", one(r.send("F", b"k3 f1", t, sid)), t + 1)
    r.receive("F", one(r.send("S", b"k3 s1", t + 2)), t + 3)
    r.receive("S", one(r.send("F", b"k3 f2", t + 4, sid)), t + 5)
    close = one(r.receive("F", one(r.send("S", b"k3 s2", t + 6)), t + 7))
    expect(r, ("DATA", 0), ("CLOSED", E.KEYS_EXHAUSTED))
    r.receive("S", close, t + 8)
    expect(r, ("CLOSED", E.KEYS_EXHAUSTED))
    t += 100
    handshake(r, "S", t)
    r.receive("F", one(r.send("S", b"new session", t + 50)), t + 51)
    expect(r, ("DATA", 0))
    return r


def shared_srk() -> Recorder:
    cfg = cfg1(idle_ms=100_000)
    pairs = [pairing(10 + i, n) for i, n in enumerate((16, 24, 32, 20))]
    r = Recorder(header(
        "shared_srk", "Suite 1. S0, S1, S2 ask in interval 0 and share its SRK (drawn in "
        "the RNG call of S0's REQ) with different IDRK sets; S2's PROOF is lost. S3 asks in "
        "interval 1 and gets a new SRK. Then time passes: S2 times out at both ends, the "
        "SRKs leave the ring after M x L, idle sessions close, S2's late PROOF finds "
        "nothing.", cfg, [(scfg1(), p) for p in pairs], 0))
    sid0, fr0 = handshake(r, "S0", 1000)
    sid1, fr1 = handshake(r, "S1", 2000)
    req = one(r.connect("S2", 3000))
    srk2 = one(r.receive("F", req, 3010))
    proof2 = one(r.receive("S2", srk2, 3020))  # lost
    sizes = [len(x) for _, _, x in r.f_draws]
    assert sizes == [16 + 2 + 12 + 64, 2 + 12 + 64, 2 + 12 + 64], sizes
    exchange(r, "S0", sid0, 4000, b"from S0", b"to S0")
    exchange(r, "S1", sid1, 4010, b"from S1", b"to S1")
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
    r.poll("F", 104_000)
    expect(r)
    r.poll("F", 104_001)
    expect(r, ("CLOSED", E.TIMEOUT))  # S0, idle since its DATA at 4001
    r.poll("F", 112_101)
    expect(r, ("CLOSED", E.TIMEOUT), ("CLOSED", E.TIMEOUT))  # S1 then S3, in slot order
    r.receive("F", proof2, 112_200)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    assert all(v is None for v in r.h.first.ring_view())
    assert all(st == "FREE" for st, _ in r.h.first.session_states())
    return r


def retransmit() -> Recorder:
    pairs = [pairing(2, 16), pairing(4, 32)]
    cfg = FirstConfig(rotate_frames=2, rekey_retry_ms=1000, rekey_tries=4)
    r = Recorder(header(
        "retransmit", "F accepts suites 2 and 1; S0 offers 1, S1 offers 2. S0 (suite 1): SRK "
        "lost: S0 repeats REQ, F resends the same SRK frame; KEY lost: S0 repeats PROOF, F "
        "resends the same KEY; a PROOF differing from the accepted one in a byte of c is "
        "UNEXPECTED; F's DATA in WAIT_CONFIRM counts but starts no rotation; S0's DATA "
        "confirms and starts it (rotate_frames=2); after confirmation the accepted PROOF "
        "itself is UNEXPECTED; REKEY lost: F resends it (new seq); a repeated REKEY gets a "
        "second KEY_ACK, which F accepts silently; then REKEY lost rekey_tries times: "
        "CLOSE(TIMEOUT). S1 (suite 2): KEY lost, S1's repeated PROOF gets the same KEY; a "
        "PROOF equal to the accepted one in c and t but not in e_pub is UNEXPECTED (whole "
        "frames are compared).", cfg, [(scfg1(), pairs[0]), (SecondConfig(offer=[2]), pairs[1])],
        0))
    req = one(r.connect("S0", 0))
    srk = one(r.receive("F", req, 10))  # lost
    r.poll("S0", 999)
    expect(r)
    assert one(r.poll("S0", 1000)) == req
    assert one(r.receive("F", req, 1010)) == srk
    r.mark("srk_resent")
    proof = one(r.receive("S0", srk, 1020))
    key = one(r.receive("F", proof, 1030))  # lost
    expect(r, EST)
    assert one(r.poll("S0", 2020)) == proof
    r.mark("proof_repeated")
    assert one(r.receive("F", proof, 2030)) == key
    expect(r)
    bad = bytearray(proof)
    bad[5] ^= 0x01
    assert one(r.receive("F", bytes(bad), 2035)) == ERR_FRAME(sid_of(proof), E.UNEXPECTED)
    expect(r, ("ERROR", E.UNEXPECTED))
    r.receive("S0", key, 2040)
    expect(r, EST)
    sid = sid_of(srk)
    t = 3000
    r.receive("S0", one(r.send("F", b"one", t, sid)), t + 1)  # counted, no rotation yet
    assert r.h.first.session_states()[0] == ("WAIT_CONFIRM", sid)
    rekey_a = one(r.receive("F", one(r.send("S0", b"two", t + 2)), t + 3))  # lost
    expect(r, ("DATA", 0))
    assert ftype(rekey_a) == wire.REKEY
    assert one(r.receive("F", proof, t + 4)) == ERR_FRAME(sid, E.UNEXPECTED)
    expect(r, ("ERROR", E.UNEXPECTED))
    r.poll("F", t + 1002)
    expect(r)
    rekey_b = one(r.poll("F", t + 1003))
    assert rekey_b != rekey_a
    ack_a = one(r.receive("S0", rekey_b, t + 1004))  # delayed
    expect(r, ("ROTATED", 1))
    rekey_c = one(r.poll("F", t + 2003))
    ack_b = one(r.receive("S0", rekey_c, t + 2004))
    expect(r)
    r.receive("F", ack_a, t + 2005)
    expect(r, ("ROTATED", 1))
    r.receive("F", ack_b, t + 2006)
    expect(r)
    # next rotation: every REKEY is lost
    t = 6000
    r.receive("S0", one(r.send("F", b"three", t, sid)), t + 1)
    r.receive("F", one(r.send("S0", b"four", t + 2)), t + 3)  # REKEY(2) lost
    for i in range(1, 4):
        one(r.poll("F", t + 3 + 1000 * i))
    close = one(r.poll("F", t + 3 + 4000))
    expect(r, ("CLOSED", E.TIMEOUT))
    r.receive("S0", close, t + 4004)
    expect(r, ("CLOSED", E.TIMEOUT))

    # S1, suite 2.
    t = 11_000
    ready_pair(r, t)
    req = one(r.connect("S1", t + 10))
    srk = one(r.receive("F", req, t + 20))
    none(r.receive("S1", srk, t + 30))
    proof = one(r.work("S1", t + 30))
    none(r.receive("F", proof, t + 40))
    key = one(r.work("F", t + 40))  # lost
    expect(r, EST)
    assert one(r.poll("S1", t + 1030)) == proof
    assert one(r.receive("F", proof, t + 1040)) == key
    expect(r)
    spliced = bytearray(proof)
    spliced[10] ^= 0x01  # e_pub changed, c and t as accepted
    assert spliced[35:] == proof[35:]
    assert one(r.receive("F", bytes(spliced), t + 1045)) == ERR_FRAME(sid_of(srk), E.UNEXPECTED)
    expect(r, ("ERROR", E.UNEXPECTED))
    r.receive("S1", key, t + 1050)
    expect(r, EST)
    r.receive("F", one(r.send("S1", b"suite 2 up", t + 1100)), t + 1101)
    expect(r, ("DATA", 0))
    return r


def expiry() -> Recorder:
    pairs = [pairing(3, 16), pairing(5, 16)]
    r = Recorder(header(
        "expiry", "Suite 1. F unreachable: S0 gives up after max_tries REQs (sid 0). A PROOF "
        "held on the wire reaches F after lifetime_ms: SRK_EXPIRED with an ERROR frame "
        "(not counted); F's poll frees the slot; the PROOF again: UNKNOWN_SESSION. S1 "
        "(retry_ms 30000) asks in interval 3; its SRK frame and first repeat are lost; its "
        "REQ repeated at 90000 reaches F after SRK 3 was removed (60000 after 30000) and with "
        "no poll since: F frees the old slot (HANDSHAKE_FAILED(TIMEOUT)) and answers with a "
        "fresh SRK frame (new SRK, sid, n_f); S1 completes and closes (its CLOSE under key "
        "0 confirms, then closes). A new session of S0 then idles out at F and S0's next "
        "DATA is UNKNOWN_SESSION.",
        cfg1(), [(scfg1(), pairs[0]), (scfg1(retry_ms=30_000, max_tries=3), pairs[1])], 0))
    one(r.connect("S0", 0))
    for t in (1000, 2000, 3000, 4000):
        one(r.poll("S0", t))
    r.poll("S0", 5000)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    req = one(r.connect("S0", 6000))
    srk = one(r.receive("F", req, 6000))
    proof = one(r.receive("S0", srk, 6010))  # held on the wire
    for t in (7010, 8010, 9010, 10_010):
        one(r.poll("S0", t))
    r.poll("S0", 11_010)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    r.poll("F", 25_999)
    expect(r)
    err = one(r.receive("F", proof, 26_000))
    expect(r, ("ERROR", E.SRK_EXPIRED))
    assert err == ERR_FRAME(sid_of(srk), E.SRK_EXPIRED)
    assert r.h.first.session_fails(sid_of(srk)) == 0
    r.receive("S0", err, 26_010)
    expect(r, ("PEER_ERROR", E.SRK_EXPIRED))
    r.poll("F", 26_020)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    one(r.receive("F", proof, 26_030))
    expect(r, ("ERROR", E.UNKNOWN_SESSION))

    req1 = one(r.connect("S1", 30_000))
    old_srk = one(r.receive("F", req1, 30_010))  # lost
    one(r.poll("S1", 60_000))  # lost
    assert one(r.poll("S1", 90_000)) == req1
    r.mark("req_after_removal")
    fresh = one(r.receive("F", req1, 90_010))
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    assert fresh != old_srk and sid_of(fresh) != sid_of(old_srk)
    assert fresh[4:16] != old_srk[4:16] and fresh[16:] != old_srk[16:]
    assert [x for x in r.h.first.ring_keys() if x] == [(9, True, False)]
    proof1 = one(r.receive("S1", fresh, 90_020))
    key1 = one(r.receive("F", proof1, 90_030))
    expect(r, EST)
    r.receive("S1", key1, 90_040)
    expect(r, EST)
    r.receive("F", one(r.close("S1", 90_050)), 90_060)
    expect(r, ("CLOSED", 0))

    handshake(r, "S0", 100_000)
    r.receive("F", one(r.send("S0", b"last words", 100_100)), 100_101)
    r.poll("F", 400_100)
    expect(r)
    r.poll("F", 400_101)
    expect(r, ("CLOSED", E.TIMEOUT))
    r.receive("F", one(r.send("S0", b"anyone?", 400_200)), 400_201)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    return r


def table() -> Recorder:
    cfg = cfg1(sessions=2)
    pairs = [pairing(20 + i, 16) for i in range(4)]
    r = Recorder(header(
        "table", "Suite 1, sessions=2, confirm_ms=10000: the slot choice of 4.2 step 3. S0 "
        "is OPEN in slot 0. S1's REQ takes the free slot 1 (b); S2's REQ takes S1's "
        "half-open slot, the oldest (d), silently; S1's PROOF is then UNKNOWN_SESSION. S2's "
        "session stays unconfirmed (S2 never speaks). S1's REQ 9999 ms after S2's KEY: "
        "BUSY (e); 10000 ms after: slot 1 is taken (c): CLOSE(TIMEOUT) to S2 and "
        "CLOSED(TIMEOUT) before the SRK frame. S1 gives up and asks again: its own half-open "
        "slot is reused (a) with a new sid. S3's REQ with both slots OPEN is BUSY; S0's "
        "first REQ replayed is REPLAY, answered with nothing.",
        cfg, [(scfg1(), p) for p in pairs], 0))
    sid0, fr0 = handshake(r, "S0", 0)
    r.receive("F", one(r.send("S0", b"S0 confirms", 50)), 51)
    expect(r, ("DATA", 0))
    req1 = one(r.connect("S1", 100))
    proof1 = one(r.receive("S1", one(r.receive("F", req1, 110)), 120))  # held
    sid2, _ = handshake(r, "S2", 200)
    key_at = 230
    assert r.h.first.session_states() == [("OPEN", sid0), ("WAIT_CONFIRM", sid2)]
    err = one(r.receive("F", proof1, 300))
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    r.receive("S1", err, 310)
    expect(r, ("PEER_ERROR", E.UNKNOWN_SESSION))
    for t in range(1120, 4121, 1000):
        one(r.poll("S1", t))
    r.poll("S1", 5120)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    req1 = one(r.connect("S1", key_at + 9_999))
    busy = one(r.receive("F", req1, key_at + 9_999))
    expect(r, ("ERROR", E.BUSY))
    assert busy == ERR_FRAME(0, E.BUSY)
    r.receive("S1", busy, key_at + 9_999)
    expect(r, ("PEER_ERROR", E.BUSY))
    out = r.receive("F", req1, key_at + 10_000)
    expect(r, ("CLOSED", E.TIMEOUT))
    close2, srk_a = out
    assert ftype(close2) == wire.CLOSE and sid_of(close2) == sid2 and ftype(srk_a) == wire.SRK
    r.receive("S2", close2, key_at + 10_010)
    expect(r, ("CLOSED", E.TIMEOUT))
    proof_a = one(r.receive("S1", srk_a, key_at + 10_020))  # lost, like its repeats
    for i in range(1, 5):
        one(r.poll("S1", key_at + 10_020 + 1000 * i))
    r.poll("S1", key_at + 15_020)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    sid_b, frames = handshake(r, "S1", 16_000)
    assert sid_b != sid_of(srk_a)
    r.receive("F", proof_a, 16_100)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    r.receive("F", one(r.send("S1", b"S1 confirms", 16_200)), 16_201)
    expect(r, ("DATA", 0))
    busy = one(r.receive("F", one(r.connect("S3", 16_300)), 16_310))
    expect(r, ("ERROR", E.BUSY))
    none(r.receive("F", fr0[0], 16_400))
    expect(r, ("ERROR", E.REPLAY))
    return r


# -- suite 2 (protocol.md 3.9, 4.7) -------------------------------------------------------

def srk_pub(frame: bytes) -> bytes:
    assert ftype(frame) == wire.SRK and frame[3] == 2
    return frame[16:48]


def e_pub(frame: bytes) -> bytes:
    assert ftype(frame) == wire.PROOF and len(frame) == 59
    return frame[3:35]


def suite2_basic() -> Recorder:
    p = pairing(30, 32)
    cfg = FirstConfig(rotate_frames=4)
    r = Recorder(header(
        "suite2_basic", "Suite 2 with the default settings (F accepts 2 and 1, S offers 2 and "
        "1). prepare creates the key-pair job of interval 0 and work ends it; S's PROOF and "
        "F's check run as jobs (172-byte handshake). F sends DATA while the session is "
        "unconfirmed; S, which says nothing, sends its confirmation KEY_ACK under key 0 "
        "retry_ms after ESTABLISHED (F accepts it silently: OPEN). DATA both ways; after 4 "
        "DATA frames key 0 -> 1 (REKEY, KEY_ACK), DATA under key 1, then S closes.",
        cfg, [(SecondConfig(), p)], 0, suite=2))
    none(r.prepare(0))
    r.mark("prepared")
    assert r.h.first.pair_state(0) == "pending"
    none(r.work("F", 0))
    assert r.h.first.pair_state(0) == "ready"
    req = one(r.connect("S", 5))
    r.mark("req")
    srk = one(r.receive("F", req, 10))
    r.mark("srk")
    assert srk[3] == 2 and len(srk) == 64
    none(r.receive("S", srk, 20))
    r.mark("s_proving")
    proof = one(r.work("S", 20))
    r.mark("proof")
    assert len(proof) == 59
    none(r.receive("F", proof, 30))
    r.mark("f_checking")
    key = one(r.work("F", 30))
    expect(r, EST)
    r.mark("key")
    assert sum(map(len, (req, srk, proof, key))) == wire.HANDSHAKE_BYTES[2] == 172
    r.receive("S", key, 40)
    expect(r, EST)
    r.mark("open")
    sid = sid_of(srk)
    d = one(r.send("F", b"hello S, unconfirmed", 50, sid))
    r.mark("f_data")
    r.receive("S", d, 60)
    expect(r, ("DATA", 0))
    r.mark("s_got_data")
    none(r.poll("S", 1039))
    ack = one(r.poll("S", 1040))
    assert ftype(ack) == wire.KEY_ACK and ack[3] == 0
    none(r.poll("S", 3000))  # once
    r.receive("F", ack, 1050)
    expect(r)
    r.mark("f_confirmed")
    assert r.h.first.session_states()[0] == ("OPEN", sid)
    d = one(r.send("S", b"hello F, suite 2", 1100))
    r.mark("s_data")
    r.receive("F", d, 1110)
    expect(r, ("DATA", 0))
    r.mark("f_got_data")
    r.receive("F", one(r.send("S", b"", 1200)), 1210)
    d, rekey = r.send("F", bytes(range(256)), 1300, sid)
    r.mark("rekey1_out")
    r.receive("S", d, 1310)
    r.mark("s_before_rekey1")
    ack = one(r.receive("S", rekey, 1320))
    expect(r, ("ROTATED", 1))
    r.mark("s_rotated1")
    r.receive("F", ack, 1330)
    expect(r, ("ROTATED", 1))
    r.mark("f_rotated1")
    exchange(r, "S", sid, 1400, b"under key 1", b"under key 1 too")
    c = one(r.close("S", 1500))
    r.mark("s_close")
    r.receive("F", c, 1510)
    expect(r, ("CLOSED", 0))
    r.mark("f_closed")
    assert r.h.seconds["S"].state == "IDLE"
    return r


def suite2_not_ready() -> Recorder:
    pairs = [pairing(70, 16), pairing(71, 24)]
    r = Recorder(header(
        "suite2_not_ready", "F accepts suite 2 only and nothing was prepared. S0's REQ finds "
        "no key pair: F draws srk_priv (one 32-byte call), queues the job and answers "
        "NOT_READY (sid 0); S1's REQ finds it pending: NOT_READY, nothing drawn. F's work "
        "ends the job (no frame, no event). S0's and S1's retransmitted REQs are served "
        "with the same srk_pub, each with its own RNG call (sid seed, n_f, IDRKs).",
        FirstConfig(suites=[2]), [(SecondConfig(), p) for p in pairs], 0, suite=2))
    req0 = one(r.connect("S0", 0))
    err = one(r.receive("F", req0, 10))
    expect(r, ("ERROR", E.NOT_READY))
    assert err == ERR_FRAME(0, E.NOT_READY)
    assert [len(x) for _, _, x in r.f_draws] == [32]
    r.receive("S0", err, 20)
    expect(r, ("PEER_ERROR", E.NOT_READY))
    req1 = one(r.connect("S1", 30))
    assert one(r.receive("F", req1, 40)) == err
    expect(r, ("ERROR", E.NOT_READY))
    assert len(r.f_draws) == 1
    assert r.h.first.pair_state(0) == "pending"
    none(r.work("F", 50))
    expect(r)
    assert r.h.first.pair_state(0) == "ready"
    assert one(r.poll("S0", 1000)) == req0
    srk0 = one(r.receive("F", req0, 1010))
    assert one(r.poll("S1", 1030)) == req1
    srk1 = one(r.receive("F", req1, 1040))
    assert srk_pub(srk0) == srk_pub(srk1)
    sids = []
    for name, srk, t in (("S0", srk0, 1100), ("S1", srk1, 1200)):
        none(r.receive(name, srk, t))
        proof = one(r.work(name, t))
        none(r.receive("F", proof, t + 10))
        key = one(r.work("F", t + 10))
        expect(r, EST)
        r.receive(name, key, t + 20)
        expect(r, EST)
        sids.append(sid_of(srk))
    for i, sid in enumerate(sids):
        exchange(r, "S%d" % i, sid, 1300 + 10 * i, b"up %d" % i, b"down %d" % i)
    return r


def suite2_shared() -> Recorder:
    cfg = FirstConfig(suites=[2])
    pairs = [pairing(31 + i, n) for i, n in enumerate((16, 24, 32, 20))]
    r = Recorder(header(
        "suite2_shared", "F accepts suite 2 only. prepare and work make interval 0's key "
        "pair; S0, S1, S2 ask in interval 0 and the three SRK frames carry the same srk_pub, "
        "each with its own sid, n_f, IDRK set and auth; each S draws its own e_priv. prepare "
        "at 5000 makes interval 1's pair ahead; S3 asks in interval 1 and gets it. DATA on "
        "every session. F polls past M x L: key pair 0 is erased at 60000, key pair 1 at "
        "70000 (no event); the open sessions go on (their keys are IDRKs), then all close.",
        cfg, [(SecondConfig(), p) for p in pairs], 0, suite=2))
    ready_pair(r, 0)
    sids = []
    frames = []
    for i, t in enumerate((1000, 2000, 3000, 12_000)):
        if i == 3:
            ready_pair(r, 5000)
        sid, fr = handshake(r, "S%d" % i, t)
        sids.append(sid)
        frames.append(fr)
    pubs = [srk_pub(fr[1]) for fr in frames]
    assert pubs[0] == pubs[1] == pubs[2] != pubs[3]
    assert len({e_pub(fr[2]) for fr in frames}) == 4
    assert [len(x) for _, _, x in r.f_draws] == [32, 78, 78, 78, 32, 78], "one call per REQ"
    for i, sid in enumerate(sids):
        exchange(r, "S%d" % i, sid, 13_000 + 100 * i, b"from S%d" % i, b"to S%d" % i)
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
        exchange(r, "S%d" % i, sid, 71_000 + 100 * i, b"after erasure S%d" % i,
                 b"after erasure to S%d" % i)
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
        "suite2_prepare", "Pre-generation (3.9, 4.7). F accepts suite 2 only. prepare at 1000 "
        "(interval 0) creates interval 0's job (32 bytes drawn); prepare at 1001, before any "
        "work, finds 0 pending and creates interval 1's; one work step at 1002 ends both "
        "(FIFO). prepare at 2000 creates nothing. S0's REQ at 3000 (interval 0) and S1's at "
        "10500 (interval 1) draw no key pair: one RNG call each (sid seed, n_f, IDRKs). "
        "prepare at 10700 creates interval 2's job, which no request uses; prepare at 19999 "
        "creates nothing. Removal is M x L after each interval's start: 60000, 70000, 80000 "
        "(no event); the sessions stay open.",
        cfg, [(SecondConfig(), p) for p in pairs], 0, suite=2))
    f = r.h.first
    r.prepare(1000)
    assert [len(x) for _, _, x in r.f_draws] == [32]
    r.prepare(1001)
    assert f.pair_state(0) == f.pair_state(1) == "pending"
    none(r.work("F", 1002))
    assert f.pair_state(0) == f.pair_state(1) == "ready"
    k1_pub = f.srk_pub_of(1)
    n = len(r.f_draws)
    r.prepare(2000)
    assert len(r.f_draws) == n, "prepare is a no-op once k and k+1 have their key pairs"
    sid0, fr0 = handshake(r, "S0", 3000)
    assert [len(x) for _, _, x in r.f_draws[-1:]] == [78]
    r.receive("F", one(r.send("S0", b"S0 in interval 0", 3100)), 3101)
    expect(r, ("DATA", 0))
    sid1, fr1 = handshake(r, "S1", 10_500)
    assert [len(x) for _, _, x in r.f_draws[-1:]] == [78], "no key pair drawn"
    assert srk_pub(fr1[1]) == k1_pub != srk_pub(fr0[1])
    r.receive("F", one(r.send("S1", b"S1 in interval 1", 10_600)), 10_601)
    expect(r, ("DATA", 0))
    r.prepare(10_700)
    assert [len(x) for _, _, x in r.f_draws[-1:]] == [32]
    none(r.work("F", 10_700))
    assert [x for x in f.ring_keys() if x] == [(0, False, True), (1, False, True),
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
        "negotiation", "F accepts suites 1 and 2; interval 0's key pair is prepared. S0 "
        "offers [1]: suite 1 (F draws interval 0's 16-byte SRK in the REQ's RNG call, into "
        "the ring slot of the key pair). S1 offers [1, 2] and S2 offers [2]: suite 2, the "
        "highest common, sharing the key pair. DATA on each session. Then S0 reconnects "
        "(its connect closes its session first) and a man in the middle delivers S0's REQ "
        "with the offer bits of reserved suites 3 and 4 added before the genuine one: F "
        "answers it (suite 1), S0 rejects that answer (TH1 binds the offer: AUTH_FAILED); "
        "the genuine REQ, same n_s but another offer, is a new request (4.2 step 1), "
        "answered in the same slot with a new sid, and S0 completes. The intermediates are "
        "S0's first suite-1 handshake.",
        cfg, [(SecondConfig(offer=o), p) for o, p in zip(offers, pairs, strict=True)], 0))
    ready_pair(r, 0)
    suites = []
    sids = []
    for i, t in enumerate((1000, 2000, 3000)):
        sid, fr = handshake(r, "S%d" % i, t)
        sids.append(sid)
        suites.append(fr[1][3])
    assert suites == [1, 2, 2]
    assert [len(x) for _, _, x in r.f_draws] == [32, 16 + 78, 78, 78]
    assert [x for x in r.h.first.ring_keys() if x] == [(0, True, True)]
    for i, sid in enumerate(sids):
        exchange(r, "S%d" % i, sid, 4000 + 100 * i, b"suite %d up" % suites[i],
                 b"suite %d down" % suites[i])
    close, req = r.connect("S0", 5000)
    r.receive("F", close, 5001)
    expect(r, ("CLOSED", 0))
    rewritten = setb(req, 21, req[21] | 0x0C)
    srk_x = one(r.receive("F", rewritten, 5010))
    assert srk_x[3] == 1
    r.receive("S0", srk_x, 5020)
    expect(r, ("ERROR", E.AUTH_FAILED))
    srk = one(r.receive("F", req, 5030))
    expect(r)
    assert sid_of(srk) != sid_of(srk_x)
    states = r.h.first.session_states()
    assert ("WAIT_PROOF", sid_of(srk)) in states and ("WAIT_PROOF", sid_of(srk_x)) not in states
    key = one(r.receive("F", one(r.receive("S0", srk, 5040)), 5050))
    expect(r, EST)
    r.receive("S0", key, 5060)
    expect(r, EST)
    return r


def negotiation_suite2_only() -> Recorder:
    cfg = FirstConfig(suites=[2])
    offers = ([1], [1, 2])
    pairs = [pairing(60 + i, 16) for i in range(2)]
    r = Recorder(header(
        "negotiation_suite2_only", "F accepts suite 2 only. S0 offers [1] only: F refuses its "
        "REQ with ERROR(BAD_SUITE) (an ERROR frame, nothing drawn), again for the repeated "
        "REQ; S0 reports PEER_ERROR, repeats until max_tries and gives up. S1 offers [1, 2] "
        "and gets suite 2 (key pair prepared).",
        cfg, [(SecondConfig(offer=o), p) for o, p in zip(offers, pairs, strict=True)], 0,
        suite=2))
    req = one(r.connect("S0", 0))
    err = one(r.receive("F", req, 10))
    expect(r, ("ERROR", E.BAD_SUITE))
    assert err == ERR_FRAME(0, E.BAD_SUITE) and not r.f_draws
    r.receive("S0", err, 20)
    expect(r, ("PEER_ERROR", E.BAD_SUITE))
    assert one(r.poll("S0", 1000)) == req
    assert one(r.receive("F", req, 1010)) == err
    expect(r, ("ERROR", E.BAD_SUITE))
    for t in (2000, 3000, 4000):
        one(r.poll("S0", t))
    r.poll("S0", 5000)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    ready_pair(r, 5500)
    sid, fr = handshake(r, "S1", 6000)
    assert fr[1][3] == 2
    r.receive("F", one(r.send("S1", b"suite 2 it is", 6100)), 6101)
    expect(r, ("DATA", 0))
    assert len(r.f_draws) == 2  # the key pair and S1's REQ
    return r


# -- version 2's new rules -------------------------------------------------------------

def forge_proof(rec: Recorder, station: str, srk: bytes, e_pub_: bytes, c: bytes | None,
                valid_t: bool) -> bytes:
    """A suite-2 PROOF for ``srk``'s session: ``t`` valid (with the pair's PS, as only a
    holder of PS can) or not; ``c`` given or zeros."""
    sid = sid_of(srk)
    body = wire.proof_head(sid, e_pub_) + (c if c is not None else bytes(16))
    if not valid_t:
        return body + bytes(8)
    kp = session_kp(rec, station, srk)
    return body + ks.proof_t(kp, body)


def session_kp(rec: Recorder, station: str, srk: bytes) -> bytes:
    """KP of the session ``srk`` opened for ``station`` (its REQ is in the record)."""
    p = rec.h.seconds[station].pairing
    assert p is not None
    req = next(bytes.fromhex(s["out"][0]) for s in reversed(rec.vec["steps"])
               if s["station"] == station and s["op"] == "connect")
    prk = ks.prk(req[9:21], srk[4:16], p.ps)
    return ks.kp(prk, srk[3], ks.th2(ks.th1(req), srk))


def forged_proof() -> Recorder:
    pairs = [pairing(80 + i, 16) for i in range(3)]
    r = Recorder(header(
        "forged_proof", "Suite 2, proof_tries=3 (4.5). S0: two PROOFs forged without PS "
        "(e_pub and c random, t wrong) are rejected at t with AUTH_FAILED and an ERROR frame; "
        "no job (work does nothing); S0's genuine PROOF is then checked and accepted. S1: "
        "three forged PROOFs: the third frees the slot (ERROR(AUTH_FAILED) then "
        "HANDSHAKE_FAILED(AUTH_FAILED)); a fourth and S1's genuine PROOF are "
        "UNKNOWN_SESSION. S2: a PROOF with a valid t (made with PS) and a wrong c is "
        "rejected after the job with BAD_PROOF, one with a valid t and a low-order e_pub "
        "with AUTH_FAILED after the job; both are counted (fails 2) and S2's genuine PROOF is "
        "still accepted.", FirstConfig(suites=[2]), [(SecondConfig(), p) for p in pairs], 0,
        suite=2))
    f = r.h.first
    ready_pair(r, 0)
    junk = hashlib.sha256(b"forged").digest()

    def srk_for(name: str, t: int) -> tuple[bytes, bytes]:
        srk = one(r.receive("F", one(r.connect(name, t)), t + 5))
        none(r.receive(name, srk, t + 10))
        return srk, one(r.work(name, t + 10))  # the genuine PROOF, held

    srk0, proof0 = srk_for("S0", 100)
    sid0 = sid_of(srk0)
    for i in range(2):
        forged = forge_proof(r, "S0", srk0, junk, junk[:16], valid_t=False)
        forged = forged[:-8] + bytes((i,)) * 8
        assert one(r.receive("F", forged, 200 + i)) == ERR_FRAME(sid0, E.AUTH_FAILED)
        expect(r, ("ERROR", E.AUTH_FAILED))
        none(r.work("F", 200 + i))
        expect(r)
    assert f.session_fails(sid0) == 2
    none(r.receive("F", proof0, 300))
    expect(r)
    key0 = one(r.work("F", 300))
    expect(r, EST)
    r.receive("S0", key0, 310)
    expect(r, EST)

    srk1, proof1 = srk_for("S1", 1000)
    sid1 = sid_of(srk1)
    for i in range(3):
        forged = forge_proof(r, "S1", srk1, junk, None, valid_t=False)
        assert one(r.receive("F", forged, 1100 + i)) == ERR_FRAME(sid1, E.AUTH_FAILED)
        if i < 2:
            expect(r, ("ERROR", E.AUTH_FAILED))
        else:
            expect(r, ("ERROR", E.AUTH_FAILED), ("HANDSHAKE_FAILED", E.AUTH_FAILED))
    assert one(r.receive("F", forged, 1200)) == ERR_FRAME(sid1, E.UNKNOWN_SESSION)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    assert one(r.receive("F", proof1, 1210)) == ERR_FRAME(sid1, E.UNKNOWN_SESSION)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))

    srk2, proof2 = srk_for("S2", 2000)
    sid2 = sid_of(srk2)
    bad_c = forge_proof(r, "S2", srk2, e_pub(proof2), junk[:16], valid_t=True)
    none(r.receive("F", bad_c, 2100))
    expect(r)
    assert one(r.work("F", 2100)) == ERR_FRAME(sid2, E.BAD_PROOF)
    expect(r, ("ERROR", E.BAD_PROOF))
    low = forge_proof(r, "S2", srk2, LOW_ORDER[2][1], proof2[35:51], valid_t=True)
    none(r.receive("F", low, 2200))
    assert one(r.work("F", 2200)) == ERR_FRAME(sid2, E.AUTH_FAILED)
    expect(r, ("ERROR", E.AUTH_FAILED))
    assert f.session_fails(sid2) == 2
    none(r.receive("F", proof2, 2300))
    key2 = one(r.work("F", 2300))
    expect(r, EST)
    r.receive("S2", key2, 2310)
    expect(r, EST)
    for i, sid in ((0, sid0), (2, sid2)):
        exchange(r, "S%d" % i, sid, 3000 + 10 * i, b"up", b"down")
    return r


def checking() -> Recorder:
    pairs = [pairing(90 + i, 16) for i in range(4)]
    r = Recorder(header(
        "checking", "Suite 2, jobs while frames arrive (4.7). S3 is established first. S0's "
        "and S1's PROOFs arrive before F works: two CHECKING slots, their jobs queued in "
        "that order. S0's PROOF repeated while CHECKING is ignored (no event, no frame); a "
        "PROOF for S0's CHECKING slot differing in one byte is UNEXPECTED. While the jobs "
        "wait, S2's REQ is served and S3's DATA delivered and echoed. One work step then ends "
        "both checks in FIFO order: KEY for S0 then KEY for S1, ESTABLISHED for each. "
        "close of a CHECKING slot: S2's PROOF is checked, F closes sid2 locally (no frame, "
        "no event), work has nothing to do.", FirstConfig(suites=[2]),
        [(SecondConfig(), p) for p in pairs], 0, suite=2))
    f = r.h.first
    ready_pair(r, 0)
    sid3, _ = handshake(r, "S3", 100)
    r.receive("F", one(r.send("S3", b"S3 confirms", 200)), 201)
    expect(r, ("DATA", 0))
    proofs = []
    srks = []
    for i, t in ((0, 300), (1, 400)):
        srk = one(r.receive("F", one(r.connect("S%d" % i, t)), t + 5))
        none(r.receive("S%d" % i, srk, t + 10))
        proofs.append(one(r.work("S%d" % i, t + 10)))
        srks.append(srk)
    none(r.receive("F", proofs[0], 500))
    expect(r)
    none(r.receive("F", proofs[1], 501))
    expect(r)
    sid0, sid1 = sid_of(srks[0]), sid_of(srks[1])
    assert ("CHECKING", sid0) in f.session_states() and ("CHECKING", sid1) in f.session_states()
    none(r.receive("F", proofs[0], 502))
    expect(r)
    other = bytearray(proofs[0])
    other[40] ^= 0x80
    assert one(r.receive("F", bytes(other), 503)) == ERR_FRAME(sid0, E.UNEXPECTED)
    expect(r, ("ERROR", E.UNEXPECTED))
    srk2 = one(r.receive("F", one(r.connect("S2", 510)), 511))
    assert ftype(srk2) == wire.SRK
    none(r.receive("F", one(r.send("S3", b"during the jobs", 520)), 521))
    expect(r, ("DATA", 0))
    assert f.busy()
    r.receive("S3", one(r.send("F", b"echo", 522, sid3)), 523)
    expect(r, ("DATA", 0))
    keys = r.work("F", 600)
    expect(r, EST, EST)
    assert [sid_of(k) for k in keys] == [sid0, sid1] and all(ftype(k) == wire.KEY for k in keys)
    for i, k in enumerate(keys):
        r.receive("S%d" % i, k, 610 + i)
        expect(r, EST)
    none(r.receive("S2", srk2, 700))
    proof2 = one(r.work("S2", 700))
    none(r.receive("F", proof2, 710))
    assert ("CHECKING", sid_of(srk2)) in f.session_states()
    none(r.close("F", 720, sid_of(srk2)))
    expect(r)
    assert not f.busy()
    none(r.work("F", 730))
    expect(r)
    assert one(r.receive("F", proof2, 740)) == ERR_FRAME(sid_of(srk2), E.UNKNOWN_SESSION)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    for i in (0, 1):
        exchange(r, "S%d" % i, sid_of(srks[i]), 800 + 10 * i, b"up", b"down")
    return r


def zombie() -> Recorder:
    pairs = [pairing(100 + i, 16) for i in range(3)]
    r = Recorder(header(
        "zombie", "Suite 1, sessions=2, confirm_ms=10000, peer_sessions=1 (4.6). A: S0's KEY "
        "and its repeats are lost; S0 gives up and reconnects; when F accepts the new PROOF "
        "it ends the unconfirmed session first: CLOSE(REPLACED) and CLOSED(REPLACED) before "
        "KEY and ESTABLISHED; S0 reports the CLOSE as UNKNOWN_SESSION. B (issue 12's "
        "zombies in small): S0 closes its sessions four times and every CLOSE is lost; each "
        "new handshake closes the confirmed session left behind with REPLACED "
        "(peer_sessions=1); never BUSY. C: S0's last session stays unconfirmed (S0 says "
        "nothing) in one slot, S2 is OPEN in the other; S1's REQ 9999 ms after S0's KEY is "
        "BUSY, at 10000 ms it takes S0's slot: CLOSE(TIMEOUT), CLOSED(TIMEOUT), then the SRK "
        "frame.",
        cfg1(sessions=2), [(scfg1(), p) for p in pairs], 0))
    f = r.h.first
    # A
    req = one(r.connect("S0", 0))
    proof = one(r.receive("S0", one(r.receive("F", req, 10)), 20))
    one(r.receive("F", proof, 30))  # KEY lost
    expect(r, EST)
    zombie_sid = sid_of(proof)
    for i in range(1, 5):
        one(r.poll("S0", 20 + 1000 * i))  # PROOF repeats, lost
    r.poll("S0", 5020)
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    req = one(r.connect("S0", 6000))
    proof = one(r.receive("S0", one(r.receive("F", req, 6010)), 6020))
    close, key = r.receive("F", proof, 6030)
    expect(r, ("CLOSED", E.REPLACED), EST)
    assert sid_of(close) == zombie_sid and ftype(close) == wire.CLOSE
    r.receive("S0", close, 6040)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    r.receive("S0", key, 6041)
    expect(r, EST)
    # B
    t = 7000
    for _ in range(4):
        r.receive("F", one(r.send("S0", b"confirm", t)), t + 1)
        expect(r, ("DATA", 0))
        one(r.close("S0", t + 10))  # CLOSE lost
        req = one(r.connect("S0", t + 20))
        srk = one(r.receive("F", req, t + 30))
        assert ftype(srk) == wire.SRK, "never BUSY"
        proof = one(r.receive("S0", srk, t + 40))
        close, key = r.receive("F", proof, t + 50)
        expect(r, ("CLOSED", E.REPLACED), EST)
        r.receive("S0", close, t + 60)
        expect(r, ("ERROR", E.UNKNOWN_SESSION))
        r.receive("S0", key, t + 61)
        expect(r, EST)
        t += 1000
    # C: S0's last session is unconfirmed at F (S0 never spoke under it)
    sid0 = sid_of(key)
    key_at = t - 1000 + 50
    sid2, _ = handshake(r, "S2", t)
    r.receive("F", one(r.send("S2", b"S2 confirms", t + 100)), t + 101)
    expect(r, ("DATA", 0))
    assert sorted(f.session_states()) == sorted([("WAIT_CONFIRM", sid0), ("OPEN", sid2)])
    req1 = one(r.connect("S1", key_at + 9_999))
    assert one(r.receive("F", req1, key_at + 9_999)) == ERR_FRAME(0, E.BUSY)
    expect(r, ("ERROR", E.BUSY))
    close, srk1 = r.receive("F", req1, key_at + 10_000)
    expect(r, ("CLOSED", E.TIMEOUT))
    assert sid_of(close) == sid0 and ftype(close) == wire.CLOSE and ftype(srk1) == wire.SRK
    r.receive("S0", close, key_at + 10_005)
    expect(r, ("CLOSED", E.TIMEOUT))
    proof1 = one(r.receive("S1", srk1, key_at + 10_010))
    key1 = one(r.receive("F", proof1, key_at + 10_020))
    expect(r, EST)
    r.receive("S1", key1, key_at + 10_030)
    expect(r, EST)
    exchange(r, "S1", sid_of(srk1), key_at + 10_100, b"S1 in", b"S1 served")
    return r


def ratchet() -> Recorder:
    p = pairing(110, 32)
    r = Recorder(header(
        "ratchet", "Suite 2, rotate_frames=2, idrks=4: rotations to key 3 with traffic under "
        "every key; the intermediates' chain gives, per REKEY(j), KEK_j from CK_j and "
        "CK_{j+1} (3.6: each chain key is erased once the next one is derived). Then M x L "
        "passes (the key pair leaves the ring), the session goes on under key 3, and F's "
        "second DATA under it uses the set up: CLOSE(KEYS_EXHAUSTED).",
        FirstConfig(suites=[2], rotate_frames=2, idrks=4),
        [(SecondConfig(offer=[2]), p)], 0, suite=2))
    ready_pair(r, 0)
    sid, _ = handshake(r, "S", 10)
    t = 100
    for j in range(3):
        r.receive("F", one(r.send("S", b"s under %d" % j, t)), t + 1)
        expect(r, ("DATA", 0))
        d, rekey = r.send("F", b"f under %d" % j, t + 2, sid)
        r.receive("S", d, t + 3)
        ack = one(r.receive("S", rekey, t + 4))
        expect(r, ("ROTATED", j + 1))
        r.receive("F", ack, t + 5)
        expect(r, ("ROTATED", j + 1))
        t += 100
    r.mark("at_key_3")
    r.receive("F", one(r.send("S", b"s under 3", t)), t + 1)
    expect(r, ("DATA", 0))
    r.poll("F", 60_000)
    expect(r)
    assert all(x is None for x in r.h.first.ring_keys())
    d, close = r.send("F", b"f under 3 after removal", 60_100, sid)
    expect(r, ("CLOSED", E.KEYS_EXHAUSTED))
    r.receive("S", d, 60_101)
    expect(r, ("DATA", 0))
    r.receive("S", close, 60_102)
    expect(r, ("CLOSED", E.KEYS_EXHAUSTED))
    return r


def queue_full() -> Recorder:
    pairs = [pairing(120 + i, 16) for i in range(2)]
    r = Recorder(header(
        "queue_full", "Suite 1, out_queue=1 at F and S (4.8), with steps that leave the queue "
        "undrained (\"drain\": false). S0's REQ stays queued; S0's retransmission finds the "
        "queue full: DROPPED(0, REQ), the send counted. F answers S0's REQ (queued) then "
        "S1's: S1's SRK frame is refused, DROPPED(sid1, SRK), and the queued one goes out "
        "unchanged at the next drain. S1's retransmitted REQ gets its SRK frame, byte for "
        "byte. Both handshakes finish. S0 sends two DATA frames without a drain: the second "
        "is DROPPED(sid0, DATA) but used its seq, so F's next DATA event counts one lost "
        "frame.", cfg1(out_queue=1), [(scfg1(out_queue=1), p) for p in pairs], 0))
    none(r.connect("S0", 0, drain=False))
    none(r.poll("S0", 1000, drain=False))
    expect(r, ("DROPPED", wire.REQ))
    req0 = one(r.poll("S0", 1001))
    expect(r)
    none(r.receive("F", req0, 1010, drain=False))
    req1 = one(r.connect("S1", 1020))
    none(r.receive("F", req1, 1030, drain=False))
    dropped = r.last_events()
    assert len(dropped) == 1 and dropped[0]["event"] == "DROPPED" and \
        dropped[0]["arg"] == wire.SRK
    srk0 = one(r.poll("F", 1040))
    assert sid_of(srk0) != dropped[0]["sid"]
    srk1 = one(r.receive("F", one(r.poll("S1", 2020)), 2030))
    assert sid_of(srk1) == dropped[0]["sid"]
    sids = []
    for name, srk, t in (("S0", srk0, 2100), ("S1", srk1, 2200)):
        proof = one(r.receive(name, srk, t))
        key = one(r.receive("F", proof, t + 10))
        expect(r, EST)
        r.receive(name, key, t + 20)
        expect(r, EST)
        sids.append(sid_of(srk))
    none(r.send("S0", b"first", 3000, drain=False))
    none(r.send("S0", b"second, refused", 3001, drain=False))
    expect(r, ("DROPPED", wire.DATA))
    d1 = one(r.poll("S0", 3002))
    r.receive("F", d1, 3010)
    expect(r, ("DATA", 0))
    d3 = one(r.send("S0", b"third", 3020))
    r.receive("F", d3, 3030)
    expect(r, ("DATA", 1))
    return r


# -- suite 3: the user's secret through CPace (15.10) ------------------------------------

SECRET = b"correct horse 2718"  # the user's secret of the suite-3 vectors (PRS)


def user_pairing(i: int, secret: bytes = SECRET) -> Pairing:
    return Pairing(ID_F, bytes.fromhex("4553%012x" % (i + 1)), user=secret)


def cfg3(**kw: Any) -> FirstConfig:
    """F of a suite-3 vector: accepts suites 3 and 2 (a user record allows only 3)."""
    return FirstConfig(suites=[3, 2], **kw)


def scfg3(**kw: Any) -> SecondConfig:
    return SecondConfig(offer=[3], **kw)


def handshake3(r: Recorder, st: str, t: int, secret: bytes = SECRET,
               dt: int = 10) -> tuple[int, list[bytes]]:
    """A suite-3 handshake up to S's ESTABLISHED; returns (sid, [REQ, SRK, PROOF, KEY])."""
    req = one(r.connect(st, t, secret=secret))
    none(r.receive("F", req, t + dt))
    expect(r)
    srk = one(r.work("F", t + dt))
    assert ftype(srk) == wire.SRK and srk[3] == 3 and len(srk) == 80
    none(r.receive(st, srk, t + 2 * dt))
    proof = one(r.work(st, t + 2 * dt))
    assert len(proof) == 91
    none(r.receive("F", proof, t + 3 * dt))
    key = one(r.work("F", t + 3 * dt))
    expect(r, EST)
    r.receive(st, key, t + 4 * dt)
    expect(r, EST)
    return sid_of(srk), [req, srk, proof, key]


def wrong3(r: Recorder, st: str, t: int, secret: bytes, *extra: tuple[str, int]) -> int:
    """One attempt with a wrong secret: F rejects the PROOF after its job with
    ERROR(WRONG_CODE) (then HANDSHAKE_FAILED, ``extra`` events); S ends its
    handshake on that ERROR. Returns the sid."""
    req = one(r.connect(st, t, secret=secret))
    none(r.receive("F", req, t + 1))
    srk = one(r.work("F", t + 1))
    sid = sid_of(srk)
    none(r.receive(st, srk, t + 2))
    proof = one(r.work(st, t + 2))
    none(r.receive("F", proof, t + 3))
    err = one(r.work("F", t + 3))
    assert err == ERR_FRAME(sid, E.WRONG_CODE)
    expect(r, ("ERROR", E.WRONG_CODE), ("HANDSHAKE_FAILED", E.WRONG_CODE), *extra)
    none(r.receive(st, err, t + 4))
    expect(r, ("PEER_ERROR", E.WRONG_CODE), ("HANDSHAKE_FAILED", E.WRONG_CODE), *extra)
    return sid


def suite3_basic() -> Recorder:
    p = user_pairing(130)
    r = Recorder(header(
        "suite3_basic", "Suite 3 (15.10): the user's secret enters only CPace. F accepts "
        "suites 3 and 2, its record for S holds the secret; S's record holds none and each "
        "connect step carries the secret the user typed. prepare and work make interval 0's "
        "key pair. S's REQ (offer: suite 3 only) gets no frame: the slot is SHARING and F's "
        "job computes the generator and Y_f; the REQ repeated while SHARING is ignored; the "
        "job's end sends the 80-byte SRK frame (n_f, srk_pub, Y_f; no auth). S draws y_s "
        "and e_priv in one call and its job computes Y_s, K, e_pub and DH: the 91-byte "
        "PROOF (Y_s, e_pub, c, t). F's job computes K, ISK, PRK, KP, SPV, PSU, checks t, "
        "then DH and c, and sends KEY (220-byte handshake). The PROOF repeated while "
        "CHECKING is ignored, and after KEY it is answered with the same KEY. DATA both "
        "ways; after 4 DATA frames key 0 -> 1; S closes.",
        cfg3(rotate_frames=4), [(scfg3(), p)], 0, suite=3))
    ready_pair(r, 0)
    r.mark("prepared")
    req = one(r.connect("S", 5, secret=SECRET))
    r.mark("req")
    none(r.receive("F", req, 10))
    expect(r)
    r.mark("f_sharing")
    assert r.h.first.session_states()[0][0] == "SHARING"
    none(r.receive("F", req, 12))  # a retransmission while SHARING: ignored
    expect(r)
    srk = one(r.work("F", 15))
    expect(r)
    r.mark("srk")
    assert srk[3] == 3 and len(srk) == 80
    assert one(r.receive("F", req, 16)) == srk  # now repeated byte for byte
    none(r.receive("S", srk, 20))
    expect(r)
    r.mark("s_proving")
    proof = one(r.work("S", 20))
    r.mark("proof")
    assert len(proof) == 91
    none(r.receive("F", proof, 30))
    r.mark("f_checking")
    none(r.receive("F", proof, 31))
    expect(r)
    key = one(r.work("F", 32))
    expect(r, EST)
    r.mark("key")
    assert sum(map(len, (req, srk, proof, key))) == wire.HANDSHAKE_BYTES[3] == 220
    assert one(r.receive("F", proof, 35)) == key
    expect(r)
    r.receive("S", key, 40)
    expect(r, EST)
    r.mark("open")
    sid = sid_of(srk)
    d = one(r.send("S", b"hello F, suite 3", 50))
    r.mark("s_data")
    r.receive("F", d, 60)
    expect(r, ("DATA", 0))
    r.mark("f_confirmed")
    d = one(r.send("F", b"hello user", 70, sid))
    r.mark("f_data")
    r.receive("S", d, 80)
    expect(r, ("DATA", 0))
    r.receive("F", one(r.send("S", b"", 100)), 110)
    d, rekey = r.send("F", bytes(range(64)), 120, sid)
    r.receive("S", d, 130)
    r.mark("s_before_rekey1")
    ack = one(r.receive("S", rekey, 140))
    expect(r, ("ROTATED", 1))
    r.receive("F", ack, 150)
    expect(r, ("ROTATED", 1))
    exchange(r, "S", sid, 200, b"under key 1", b"under key 1 too")
    c = one(r.close("S", 300))
    r.mark("s_close")
    r.receive("F", c, 310)
    expect(r, ("CLOSED", 0))
    assert r.h.first.failed_attempts(p.id_s) == 0
    return r


def suite3_backoff() -> Recorder:
    p = user_pairing(140)
    r = Recorder(header(
        "suite3_backoff", "Suite 3, ten wrong secrets (15.10, 15.6). Each attempt: REQ, "
        "SRK frame after F's job, PROOF after S's job; F's check job rejects it at t: "
        "ERROR(WRONG_CODE) event and frame, the slot freed (proof_tries is 1 in suite 3), "
        "HANDSHAKE_FAILED(WRONG_CODE); S ends its handshake on that ERROR (PEER_ERROR, "
        "HANDSHAKE_FAILED(WRONG_CODE)). The tenth failure starts a back-off of 30 000 ms at "
        "both: BACKOFF(sid, 30000) after HANDSHAKE_FAILED. S then refuses to connect "
        "(HANDSHAKE_FAILED(BACKOFF), nothing sent), F answers a suite-3 REQ of that id_s "
        "with ERROR(BACKOFF) (no slot, no draw, no job), until the delay has passed: then "
        "the right secret establishes a session and both counts are reset.",
        cfg3(), [(scfg3(), p)], 0, suite=3))
    ready_pair(r, 0)
    t = 100
    for i in range(10):
        extra = [("BACKOFF", 30_000)] if i == 9 else []
        wrong3(r, "S", t, b"wrong secret %d" % i, *extra)
        t += 100
    r.mark("backed_off")
    assert r.h.first.failed_attempts(p.id_s) == 10
    none(r.connect("S", t, secret=SECRET))
    expect(r, ("HANDSHAKE_FAILED", E.BACKOFF))
    forged = wire.build_req(p.id_s, bytes(range(12)), 0x04)
    assert one(r.receive("F", forged, t + 1)) == ERR_FRAME(0, E.BACKOFF)
    expect(r, ("ERROR", E.BACKOFF))
    # 30 s after the tenth failure (F's at t = 1003, S's at 1004) both accept again.
    t = 1004 + 30_000
    none(r.connect("S", t - 1, secret=SECRET))
    expect(r, ("HANDSHAKE_FAILED", E.BACKOFF))
    ready_pair(r, t)
    handshake3(r, "S", t)
    assert r.h.first.failed_attempts(p.id_s) == 0
    assert r.h.seconds["S"].failed_attempts == 0
    return r


def suite3_attempts() -> Recorder:
    pairs = [user_pairing(150), user_pairing(151), pairing(152, 32)]
    r = Recorder(header(
        "suite3_attempts", "Suite 3: what counts as a failed attempt at F (15.10). S0 fails "
        "eight times with a wrong secret; its ninth REQ's slot passes its deadline without "
        "a PROOF (poll: HANDSHAKE_FAILED(TIMEOUT), counted); its tenth REQ's slot is "
        "replaced by S0's next REQ (a new n_s, 4.2 step 3 (a)): that tenth failure starts "
        "the back-off, so F frees the old slot silently, reports BACKOFF(old sid, 30000) and "
        "refuses the new REQ with ERROR(BACKOFF). S1's attempts are counted apart: its "
        "right secret is accepted meanwhile, and a PROOF with a low-order Y_s is rejected "
        "after F's job with AUTH_FAILED (CPace's K is all zeros), counted, and its slot "
        "freed. S2, paired with a PS, offers suite 2 and is served by suite 2 as ever.",
        cfg3(), [(scfg3(), pairs[0]), (scfg3(), pairs[1]), (SecondConfig(offer=[2]), pairs[2])],
        0, suite=3))
    f = r.h.first
    ready_pair(r, 0)
    handshake3(r, "S1", 50)
    r.receive("F", one(r.close("S1", 95)), 96)
    expect(r, ("CLOSED", 0))
    t = 100
    for i in range(8):
        wrong3(r, "S0", t, b"guess number %d" % i)
        t += 100
    # Ninth: a REQ whose slot times out.
    req = one(r.connect("S0", t, secret=b"another guess"))
    none(r.receive("F", req, t + 1))
    srk = one(r.work("F", t + 1))
    sid = sid_of(srk)
    none(r.poll("F", t + 1 + 19_999))
    expect(r)
    none(r.poll("F", t + 1 + 20_000))
    expect(r, ("HANDSHAKE_FAILED", E.TIMEOUT))
    assert f.failed_attempts(pairs[0].id_s) == 9
    r.close("S0", t + 20_002)
    t = 25_000
    ready_pair(r, t)
    # Tenth: a slot replaced by the peer's next REQ.
    req = one(r.connect("S0", t, secret=b"yet another"))
    none(r.receive("F", req, t + 1))
    srk = one(r.work("F", t + 1))
    sid = sid_of(srk)
    req2 = one(r.connect("S0", t + 5, secret=b"and another"))
    assert one(r.receive("F", req2, t + 6)) == ERR_FRAME(0, E.BACKOFF)
    expect(r, ("BACKOFF", 30_000), ("ERROR", E.BACKOFF))
    assert r.last_events()[0]["sid"] == sid
    assert f.failed_attempts(pairs[0].id_s) == 10
    assert f.failed_attempts(pairs[1].id_s) == 0
    # S1: a low-order Y_s (its t cannot be right: F rejects at K).
    req = one(r.connect("S1", t + 100, secret=SECRET))
    none(r.receive("F", req, t + 101))
    srk = one(r.work("F", t + 101))
    sid = sid_of(srk)
    none(r.receive("S1", srk, t + 102))
    proof = one(r.work("S1", t + 102))
    low = proof[:3] + LOW_ORDER[1][1] + proof[35:]
    none(r.receive("F", low, t + 103))
    assert one(r.work("F", t + 103)) == ERR_FRAME(sid, E.AUTH_FAILED)
    expect(r, ("ERROR", E.AUTH_FAILED), ("HANDSHAKE_FAILED", E.AUTH_FAILED))
    assert f.failed_attempts(pairs[1].id_s) == 1
    assert one(r.receive("F", proof, t + 104)) == ERR_FRAME(sid, E.UNKNOWN_SESSION)
    expect(r, ("ERROR", E.UNKNOWN_SESSION))
    # S2: suite 2 with its PS, beside the suite-3 records.
    handshake(r, "S2", t + 200)
    return r


def suite3_low_order() -> Recorder:
    p = user_pairing(160)
    r = Recorder(header(
        "suite3_low_order", "Suite 3 at S: an SRK frame whose Y_f is of low order (a "
        "forgery: nothing is checked before the job) makes S's job end with K all zeros: "
        "event ERROR(sid, AUTH_FAILED), nothing sent, S back in WAIT_SRK with its REQ's "
        "timer; the genuine SRK frame is then served and the session established.",
        cfg3(), [(scfg3(), p)], 0, suite=3))
    ready_pair(r, 0)
    req = one(r.connect("S", 5, secret=SECRET))
    none(r.receive("F", req, 10))
    srk = one(r.work("F", 10))
    sid = sid_of(srk)
    forged = srk[:48] + LOW_ORDER[2][1]
    none(r.receive("S", forged, 20))
    none(r.work("S", 20))
    expect(r, ("ERROR", E.AUTH_FAILED))
    assert r.last_events()[0]["sid"] == sid
    assert r.h.seconds["S"].state == "WAIT_SRK"
    none(r.receive("S", srk, 30))
    proof = one(r.work("S", 30))
    none(r.receive("F", proof, 40))
    key = one(r.work("F", 40))
    expect(r, EST)
    r.receive("S", key, 50)
    expect(r, EST)
    return r


# -- intermediates ------------------------------------------------------------------------

def label_draws(r: Recorder) -> list[dict[str, Any]]:
    """Every RNG call of the record, in order, with what it holds (section 12)."""
    vec = r.vec
    k = vec["first"]["idrks"]
    f_outs = [(i, bytes.fromhex(h)) for i, st in enumerate(vec["steps"]) if st["station"] == "F"
              for h in st["out"]]
    draws: list[dict[str, Any]] = []
    for step_i, station, data in r.draws:
        entry: dict[str, Any] = {"step": step_i, "station": station, "size": len(data)}
        op = vec["steps"][step_i]["op"]
        if station != "F":
            if len(data) == 64:  # suite 3: y_s then e_priv, one call (15.10)
                assert op == "receive"
                entry["holds"] = [["y_s", data[:32].hex()], ["e_priv", data[32:].hex()]]
                draws.append(entry)
                continue
            name = "n_s" if op == "connect" else "e_priv"
            assert len(data) == (12 if name == "n_s" else 32)
            entry["holds"] = [[name, data.hex()]]
        elif len(data) == 32:
            entry["holds"] = [["srk_priv", data.hex()]]
            entry["interval"] = r.pair_intervals[data]
            entry["srk_pub"] = crypto.x25519_base(data).hex()
        else:
            extra = len(data) - 14 - 16 * k
            assert extra in (0, 16, 32), len(data)
            a = 16 if extra == 16 else 0  # suite 1's SRK first; suite 3's y_f last
            parts = [["srk", data[:a].hex()]] if a else []
            parts += [["sid_seed", data[a:a + 2].hex()], ["n_f", data[a + 2:a + 14].hex()]]
            parts += [["idrk_%d" % j, data[a + 14 + 16 * j:a + 30 + 16 * j].hex()]
                      for j in range(k)]
            if extra == 32:
                parts.append(["y_f", data[-32:].hex()])
            entry["holds"] = parts
            n_f = data[a + 2:a + 14]
            srk = next((fr for i, fr in f_outs if i >= step_i and ftype(fr) == wire.SRK
                        and fr[4:16] == n_f), None)
            entry["sid"] = sid_of(srk) if srk is not None else None
        draws.append(entry)
    return draws


def _holds(d: dict[str, Any], name: str) -> str | None:
    return next((h for n, h in d["holds"] if n == name), None)


SUITE1_KEYS = ("th1", "prk", "kek2", "srk")
SUITE2_KEYS = ("th1", "prk", "ka", "auth", "srk_priv", "srk_pub", "e_priv", "e_pub", "dh")
COMMON_KEYS = ("th2", "kp", "spv", "prk3", "pad", "c", "t", "th3", "ms", "kek_0", "ck_1")


SUITE3_KEYS = ("th1", "user", "srk_priv", "srk_pub", "y_f", "g", "Y_f", "y_s", "Y_s", "k",
               "isk", "prk", "psu", "e_priv", "e_pub", "dh")


def intermediates3(r: Recorder, draws: list[dict[str, Any]]) -> dict[str, Any]:
    """Suite 3 (15.10): the first handshake that reached KEY, recomputed from the
    recorded frames, the RNG draws and the user's secret, each value checked
    against the frames (t, c, KEY's unwrap) before it is written."""
    vec = r.vec
    k = vec["first"]["idrks"]
    found = [(name, p, {ftype(raw): raw for _, raw in session})  # the last of each type
             for name, _, p, _ in second_specs(vec)
             for session in split_sessions(transcript(vec, name))]
    found = [x for x in found if wire.KEY in x[2] and x[2][wire.SRK][3] == 3]
    assert found, "no complete suite-3 handshake in %s" % vec["name"]
    name, p, frames = found[0]
    req, srk, proof, key = (frames[x] for x in (wire.REQ, wire.SRK, wire.PROOF, wire.KEY))
    assert p.user
    sid = sid_of(srk)
    n_s, n_f = req[9:21], srk[4:16]
    f_draw = next(d for d in draws if _holds(d, "n_f") == n_f.hex())
    s_draw = next(d for d in draws if _holds(d, "e_priv")
                  and crypto.x25519_base(bytes.fromhex(_holds(d, "e_priv") or "")) == proof[35:67])
    srk_priv = next(bytes.fromhex(h) for d in draws for h in [_holds(d, "srk_priv")]
                    if h and crypto.x25519_base(bytes.fromhex(h)) == srk[16:48])
    y_f = bytes.fromhex(_holds(f_draw, "y_f") or "")
    y_s = bytes.fromhex(_holds(s_draw, "y_s") or "")
    e_priv = bytes.fromhex(_holds(s_draw, "e_priv") or "")
    g = cpace.calculate_generator(p.user, ks.ci3(p.id_s, p.id_f), n_s + n_f)
    assert cpace.scalar_mult(y_f, g) == srk[48:80] and cpace.scalar_mult(y_s, g) == proof[3:35]
    kk = cpace.scalar_mult_vfy(y_f, proof[3:35])
    assert kk == cpace.scalar_mult_vfy(y_s, srk[48:80])
    isk = ks.isk_s3(n_s, n_f, kk, proof[3:35], req, srk[48:80], srk)
    th1 = ks.th1(req)
    th2 = ks.th2(th1, srk)
    prk = ks.prk_s3(th2, isk)
    kp, spv, psu = ks.kp(prk, 3, th2), ks.spv(prk, 3, th2), ks.psu(prk, th2)
    dh = crypto.x25519(e_priv, srk[16:48])
    assert dh is not None and dh == crypto.x25519(srk_priv, proof[35:67])
    prk3 = ks.prk3(th2, dh, psu)
    pad = ks.pad(prk3, 3)
    assert ks.xor(spv, pad) == proof[67:83] and ks.proof_t(kp, proof[:83]) == proof[83:91]
    th3 = ks.th3(th2, proof)
    ms = ks.ms(prk3, 3, th3)
    kek0 = ks.kek(ms, 3, 0)
    idrks = [_holds(f_draw, "idrk_%d" % j) for j in range(k)]
    assert crypto.kw_unwrap(kek0, key[3:27]) == bytes.fromhex(idrks[0] or "")
    values = {"th1": th1, "user": p.user, "srk_priv": srk_priv, "srk_pub": srk[16:48],
              "y_f": y_f, "g": g, "Y_f": srk[48:80], "y_s": y_s, "Y_s": proof[3:35], "k": kk,
              "isk": isk, "prk": prk, "psu": psu, "e_priv": e_priv, "e_pub": proof[35:67],
              "dh": dh, "th2": th2, "kp": kp, "spv": spv, "prk3": prk3, "pad": pad,
              "c": proof[67:83], "t": proof[83:91], "th3": th3, "ms": ms, "kek_0": kek0,
              "ck_1": ks.chain(ms, 3, 1)}
    inter: dict[str, Any] = {x: values[x].hex() for x in SUITE3_KEYS + COMMON_KEYS}
    inter["sid"] = sid
    inter["idrks"] = idrks
    # The chain of every REKEY S accepted in this session (its ROTATED events).
    rotated = [e["arg"] for st in vec["steps"] if st["station"] == name
               for e in st["events"] if e["event"] == "ROTATED" and e["sid"] == sid]
    chain, ck = [], values["ck_1"]
    for j in range(1, max(rotated, default=0) + 1):
        nxt = ks.chain(ck, 3, j + 1)
        chain.append({"j": j, "ck_j": ck.hex(), "kek_j": ks.kek(ck, 3, j).hex(),
                      "ck_next": nxt.hex(), "idrk_j": idrks[j]})
        ck = nxt
    inter["chain"] = chain
    inter["draws"] = draws
    return inter


def intermediates(r: Recorder) -> dict[str, Any]:
    """The first complete handshake (second stations in order), recomputed by
    the transcript validator from the recorded frames; in suite 2 with the
    interval's ``srk_priv`` and again with S's ``e_priv`` (same values), and
    with PS alone (which must stop before MS). Suite 3: :func:`intermediates3`."""
    vec = r.vec
    draws = label_draws(r)
    if vec["suite"] == 3:
        return intermediates3(r, draws)
    mp = vec["first"]["max_payload"]
    privs = {crypto.x25519_base(bytes.fromhex(h)): bytes.fromhex(h)
             for d in draws for h in [_holds(d, "srk_priv") or _holds(d, "e_priv")] if h}
    for name, _, p, _ in second_specs(vec):
        for session in split_sessions(transcript(vec, name)):
            srk_frame = next((raw for _, raw in session if ftype(raw) == wire.SRK), None)
            proof = next((raw for _, raw in session if ftype(raw) == wire.PROOF), None)
            if srk_frame is None or proof is None:
                continue
            extra: dict[str, str] = {}
            if srk_frame[3] == 2:
                srk_priv = privs[srk_pub(srk_frame)]
                e_priv = privs[e_pub(proof)]
                rep = validate(session, p, max_payload=mp, srk_priv=srk_priv)
                other = validate(session, p, max_payload=mp, e_priv=e_priv)
                assert other.ok and other.intermediates == rep.intermediates
                bare = validate(session, p, max_payload=mp)
                assert bare.ok and bare.unverified and "ms" not in bare.intermediates
                extra = {"srk_priv": srk_priv.hex(), "e_priv": e_priv.hex()}
            else:
                rep = validate(session, p, max_payload=mp)
            assert rep.ok, rep.errors()
            if "kek_0" in rep.intermediates:
                break
        else:
            continue
        break
    else:
        raise AssertionError("no complete handshake in %s" % vec["name"])
    ri = dict(rep.intermediates, **extra)
    suite = srk_frame[3]
    assert suite == vec["suite"], "the vector's suite is the intermediates' suite"
    inter: dict[str, Any] = {x: ri[x] for x in (SUITE2_KEYS if suite == 2 else SUITE1_KEYS)
                             + COMMON_KEYS}
    mine = [d for d in draws if _holds(d, "idrk_0") == ri["idrk_0"]]
    assert len(mine) == 1
    inter["sid"] = mine[0]["sid"]
    assert inter["sid"] == sid_of(srk_frame)
    if suite == 1:
        srks = [_holds(d, "srk") for d in draws if _holds(d, "srk")
                and d["step"] <= mine[0]["step"]]
        assert srks[-1] == ri["srk"]
    inter["idrks"] = [h for n, h in mine[0]["holds"] if n.startswith("idrk_")]
    chain = []
    j = 1
    while "kek_%d" % j in ri:
        assert ri["idrk_%d" % j] == inter["idrks"][j]
        chain.append({"j": j, "ck_j": ri["ck_%d" % j], "kek_j": ri["kek_%d" % j],
                      "ck_next": ri["ck_%d" % (j + 1)], "idrk_j": ri["idrk_%d" % j]})
        j += 1
    inter["chain"] = chain
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
    return frame[:1] + sid.to_bytes(2, "big") + frame[3:]


def with_type(frame: bytes, t: int) -> bytes:
    return setb(frame, 0, (frame[0] & 0xF0) | t)


def with_ver(frame: bytes, v: int) -> bytes:
    return setb(frame, 0, (v << 4) | (frame[0] & 0x0F))


def out_of(vec: Vector, step: int, n: int = 0) -> bytes:
    return bytes.fromhex(vec["steps"][step]["out"][n])


class Cases:
    def __init__(self, bases: dict[str, Recorder]):
        self.bases = bases
        self.cases: list[dict[str, Any]] = []

    def add(self, name: str, base: str, after: str | int, station: str, frame: bytes,
            field: str, error: str, answer: bool = False) -> None:
        """``answer``: F answers with an ERROR frame (a REQ or PROOF, 4.4 item 5)."""
        rec = self.bases[base]
        step = rec.labels[after] if isinstance(after, str) else after
        out = [wire.build_error_for(frame, Code[error]).hex()] if answer else []
        self.cases.append({"name": name, "base": base, "after_step": step, "station": station,
                           "in": frame.hex(), "field": field, "error": error, "out": out})


def protected_variants(c: Cases, prefix: str, base: str, after: str, station: str,
                       frame: bytes) -> None:
    """The field tampers every protected frame gets."""
    sid = sid_of(frame)
    c.add(prefix + "_ver", base, after, station, with_ver(frame, 1), "ver", "BAD_VERSION")
    c.add(prefix + "_type_unknown", base, after, station, with_type(frame, 9), "type",
          "BAD_TYPE")
    c.add(prefix + "_sid", base, after, station, with_sid(frame, sid ^ 1), "sid",
          "UNKNOWN_SESSION")
    c.add(prefix + "_kidx", base, after, station, flip(frame, 3, 0x02), "kidx", "BAD_KEY_INDEX")
    c.add(prefix + "_seq", base, after, station, flip(frame, 7, 0x04), "seq", "AUTH_FAILED")
    c.add(prefix + "_seq_2p30", base, after, station, flip(frame, 4, 0x40), "seq", "MALFORMED")
    if len(frame) > wire.DATA_MIN_LEN:
        c.add(prefix + "_ciphertext", base, after, station, flip(frame, 8), "ciphertext",
              "AUTH_FAILED")
    c.add(prefix + "_tag", base, after, station, flip(frame, len(frame) - 1), "tag", "AUTH_FAILED")
    # A DATA frame one byte shorter or longer is still a DATA length: its tag fails.
    is_data = ftype(frame) == wire.DATA
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
    sid = sid_of(srk)
    inter = b["intermediates"]

    # Empty and version-1 frames: never answered (4.4 items 1, 2, 5).
    c.add("empty", "basic", "req", "F", b"", "length", "MALFORMED")
    c.add("empty_to_s", "basic", "srk", "S", b"", "length", "MALFORMED")
    v1_req = bytes((1, 1, 0, 0, 0, 0, 0)) + req[1:9] + bytes(16) + b"\x01"
    c.add("req_version_1", "basic", "req", "F", v1_req, "ver", "BAD_VERSION")
    c.add("srk_version_1_to_s", "basic", "srk", "S", bytes((1, 2, 1)) + srk[1:3] + srk,
          "ver", "BAD_VERSION")

    # REQ at F (nothing received yet).
    c.add("req_ver", "basic", "req", "F", with_ver(req, 3), "ver", "BAD_VERSION")
    c.add("req_type_unknown", "basic", "req", "F", with_type(req, 9), "type", "BAD_TYPE")
    c.add("req_type_0", "basic", "req", "F", with_type(req, 0), "type", "BAD_TYPE")
    c.add("req_type_srk", "basic", "req", "F", with_type(req, wire.SRK), "type", "UNEXPECTED")
    c.add("req_offer_zero", "basic", "req", "F", setb(req, 21, 0), "offer", "MALFORMED", True)
    c.add("req_offer_bit7", "basic", "req", "F", setb(req, 21, 0x81), "offer", "MALFORMED", True)
    c.add("req_offer_no_common", "basic", "req", "F", setb(req, 21, 0x02), "offer", "BAD_SUITE",
          True)
    c.add("req_offer_reserved_only", "basic", "req", "F", setb(req, 21, 0x0C), "offer",
          "BAD_SUITE", True)
    c.add("req_id_s", "basic", "req", "F", flip(req, 8), "id_s", "UNKNOWN_PEER", True)
    c.add("req_truncated", "basic", "req", "F", req[:-1], "length", "MALFORMED", True)
    c.add("req_extended", "basic", "req", "F", req + b"\x01", "length", "MALFORMED", True)
    c.add("req_one_byte", "basic", "req", "F", req[:1], "length", "MALFORMED", True)
    c.add("req_reflected_to_s", "basic", "req", "S", req, "type", "UNEXPECTED")
    # REQ with n_s changed on the way: F answers it, and S cannot unwrap that answer.
    h = Harness(b)
    assert not run_steps(h, b["steps"][:L["req"] + 1])
    forged_srk = one(h.feed("F", flip(req, 12), int(b["steps"][L["req"]]["t"]))[0])
    c.add("req_n_s_answer", "basic", "srk", "S", forged_srk, "n_s", "AUTH_FAILED")

    # SRK at S (waiting for it).
    c.add("srk_ver", "basic", "srk", "S", with_ver(srk, 0), "ver", "BAD_VERSION")
    c.add("srk_type_unknown", "basic", "srk", "S", with_type(srk, 0), "type", "BAD_TYPE")
    c.add("srk_type_req", "basic", "srk", "S", with_type(srk, wire.REQ), "type", "UNEXPECTED")
    c.add("srk_truncated", "basic", "srk", "S", srk[:-1], "length", "MALFORMED")
    c.add("srk_extended", "basic", "srk", "S", srk + b"\x00", "length", "MALFORMED")
    c.add("srk_three_bytes", "basic", "srk", "S", srk[:3], "length", "MALFORMED")
    # 4.4 item 2: an SRK frame has the length of the suite its byte names.
    c.add("srk_suite_2_length_1", "basic", "srk", "S", setb(srk, 3, 2), "length", "MALFORMED")
    c.add("srk_suite_0", "basic", "srk", "S", setb(srk, 3, 0), "suite", "BAD_SUITE")
    c.add("srk_suite_3", "basic", "srk", "S", setb(srk, 3, 3), "length", "MALFORMED")
    c.add("srk_suite_4", "basic", "srk", "S", setb(srk, 3, 4), "suite", "BAD_SUITE")
    c.add("srk_sid", "basic", "srk", "S", with_sid(srk, sid ^ 1), "sid", "AUTH_FAILED")
    c.add("srk_sid_zero", "basic", "srk", "S", with_sid(srk, 0), "sid", "MALFORMED")
    c.add("srk_n_f", "basic", "srk", "S", flip(srk, 4), "n_f", "AUTH_FAILED")
    c.add("srk_n_f_last", "basic", "srk", "S", flip(srk, 15), "n_f", "AUTH_FAILED")
    c.add("srk_wrapped_srk", "basic", "srk", "S", flip(srk, 30), "wrapped_srk", "AUTH_FAILED")
    c.add("srk_reflected_to_f", "basic", "srk", "F", srk, "type", "UNEXPECTED")
    c.add("srk_suite_2_not_offered", "basic", "srk", "S", setb(srk, 3, 2) + bytes(24), "suite",
          "BAD_SUITE")

    # PROOF at F (waiting for it): every rejection of a 0x23 frame is answered; t and c
    # failures count toward proof_tries (3 here), so one of them changes nothing else.
    c.add("proof_ver", "basic", "proof", "F", with_ver(proof, 1), "ver", "BAD_VERSION")
    c.add("proof_type_unknown", "basic", "proof", "F", with_type(proof, 14), "type", "BAD_TYPE")
    c.add("proof_type_key", "basic", "proof", "F", with_type(proof, wire.KEY), "type",
          "UNEXPECTED")
    c.add("proof_truncated", "basic", "proof", "F", proof[:-1], "length", "MALFORMED", True)
    c.add("proof_extended", "basic", "proof", "F", proof + b"\x00", "length", "MALFORMED", True)
    c.add("proof_two_bytes", "basic", "proof", "F", proof[:2], "length", "MALFORMED", True)
    c.add("proof_suite_2_length", "basic", "proof", "F", proof[:3] + bytes(32) + proof[3:],
          "length", "MALFORMED", True)
    c.add("proof_sid", "basic", "proof", "F", with_sid(proof, sid ^ 1), "sid", "UNKNOWN_SESSION",
          True)
    c.add("proof_c", "basic", "proof", "F", flip(proof, 3), "t", "AUTH_FAILED", True)
    c.add("proof_t", "basic", "proof", "F", flip(proof, 26), "t", "AUTH_FAILED", True)
    kp = bytes.fromhex(inter["kp"])
    body = proof[:3] + bytes(16)
    c.add("proof_bad_spv", "basic", "proof", "F", body + ks.proof_t(kp, body), "c", "BAD_PROOF",
          True)
    body = proof[:19]
    c.add("proof_t_wrong_key", "basic", "proof", "F",
          body + ks.proof_t(bytes.fromhex(inter["spv"]) * 2, body), "t", "AUTH_FAILED", True)
    c.add("proof_reflected_to_s", "basic", "proof", "S", proof, "type", "UNEXPECTED")
    early = wire.protected_head(wire.DATA, sid, 0, 0) + bytes(8)
    c.add("data_before_key", "basic", "proof", "F", early, "type", "UNEXPECTED")

    # KEY at S (waiting for it); F is WAIT_CONFIRM.
    c.add("key_ver", "basic", "key", "S", with_ver(key, 3), "ver", "BAD_VERSION")
    c.add("key_type_unknown", "basic", "key", "S", with_type(key, 9), "type", "BAD_TYPE")
    c.add("key_type_proof", "basic", "key", "S", with_type(key, wire.PROOF), "type",
          "UNEXPECTED")
    c.add("key_truncated", "basic", "key", "S", key[:-1], "length", "MALFORMED")
    c.add("key_sid", "basic", "key", "S", with_sid(key, sid ^ 1), "sid", "UNKNOWN_SESSION")
    c.add("key_wrapped_idrk", "basic", "key", "S", flip(key, 20), "wrapped_idrk", "AUTH_FAILED")
    c.add("srk_repeated_in_wait_key", "basic", "key", "S", srk, "type", "UNEXPECTED")
    c.add("srk_other_sid_in_wait_key", "basic", "key", "S", with_sid(srk, sid ^ 1), "sid",
          "UNKNOWN_SESSION")
    c.add("key_reflected_to_f", "basic", "key", "F", key, "type", "UNEXPECTED")
    c.add("proof_changed_in_wait_confirm", "basic", "key", "F", flip(proof, 10), "type",
          "UNEXPECTED", True)
    c.add("proof_t_changed_in_wait_confirm", "basic", "key", "F", flip(proof, 26), "type",
          "UNEXPECTED", True)
    idrk0 = bytes.fromhex(inter["idrks"][0])
    c.add("key_wrapped_under_ck_1", "basic", "key", "S",
          wire.build_key(sid, crypto.kw_wrap(ks.kek(bytes.fromhex(inter["ck_1"]), 1, 0), idrk0)),
          "wrapped_idrk", "AUTH_FAILED")

    # Replays of handshake frames once the session is open.
    c.add("key_replay_open", "basic", "open", "S", key, "type", "UNEXPECTED")
    c.add("srk_replay_open", "basic", "open", "S", srk, "type", "UNEXPECTED")
    c.add("req_replay_wait_confirm", "basic", "open", "F", req, "n_s", "REPLAY")
    c.add("req_replay_open", "basic", "f_got_data", "F", req, "n_s", "REPLAY")
    c.add("proof_replay_after_data", "basic", "f_got_data", "F", proof, "type", "UNEXPECTED",
          True)

    # DATA S -> F, F -> S.
    d_s = out_of(b, L["s_data"])
    d_f = out_of(b, L["f_data"])
    protected_variants(c, "data_s2f", "basic", "s_data", "F", d_s)
    protected_variants(c, "data_f2s", "basic", "f_data", "S", d_f)
    c.add("data_s2f_too_long", "basic", "s_data", "F",
          d_s[:8] + bytes(257) + d_s[-8:], "length", "MALFORMED")
    c.add("data_s2f_type_close", "basic", "s_data", "F", with_type(d_s, wire.CLOSE), "length",
          "MALFORMED")
    c.add("data_s2f_type_key_ack", "basic", "s_data", "F", with_type(d_s, wire.KEY_ACK),
          "length", "MALFORMED")
    c.add("data_s2f_replay", "basic", "f_got_data", "F", d_s, "seq", "REPLAY")
    c.add("data_f2s_replay", "basic", "s_got_data", "S", d_f, "seq", "REPLAY")
    c.add("data_f2s_reflected_to_f", "basic", "f_data", "F", d_f, "tag", "AUTH_FAILED")
    c.add("data_s2f_reflected_to_s", "basic", "s_data", "S", d_s, "tag", "AUTH_FAILED")
    c.add("data_s2f_other_direction_nonce", "basic", "s_data", "F",
          ks.seal_frame(idrk0, sid, ks.DIR_F2S, d_s[:8], b"hello F"), "tag", "AUTH_FAILED")

    # CLOSE.
    close = out_of(b, L["s_close"])
    protected_variants(c, "close_s2f", "basic", "s_close", "F", close)
    c.add("close_reflected_to_s", "basic", "s_close", "S", close, "sid", "UNKNOWN_SESSION")
    c.add("close_replay", "basic", "f_closed", "F", close, "sid", "UNKNOWN_SESSION")
    c.add("data_after_close", "basic", "f_closed", "F", d_s, "sid", "UNKNOWN_SESSION")
    c.add("error_truncated", "basic", "open", "S", wire.build_error(sid, 1)[:3], "length",
          "MALFORMED")
    c.add("error_extended", "basic", "open", "F", wire.build_error(sid, 1) + b"\x00", "length",
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
    rsid = sid_of(rekey)
    ridrk0 = bytes.fromhex(rinter["idrks"][0])
    ridrk1 = bytes.fromhex(rinter["idrks"][1])
    head = wire.protected_head(wire.REKEY, rsid, 0, 1000)

    def rekey_with(pt: bytes) -> bytes:
        return ks.seal_frame(ridrk0, rsid, ks.DIR_F2S, head, pt)

    c.add("rekey_announces_wrong_index", "rotation", "s_before_rekey1", "S",
          rekey_with(bytes((2,)) + bytes(24)), "ciphertext", "MALFORMED")
    c.add("rekey_bad_wrapped_idrk", "rotation", "s_before_rekey1", "S",
          rekey_with(bytes((1,)) + bytes(24)), "ciphertext", "AUTH_FAILED")
    # The ratchet: IDRK_1 wrapped under a KEK from MS (version 1's rule) or from CK_2
    # instead of CK_1 does not unwrap.
    rms = bytes.fromhex(rinter["ms"])
    c.add("rekey_kek_from_ms", "rotation", "s_before_rekey1", "S",
          rekey_with(bytes((1,)) + crypto.kw_wrap(ks.kek(rms, 1, 1), ridrk1)), "ciphertext",
          "AUTH_FAILED")
    ck2 = bytes.fromhex(rinter["chain"][0]["ck_next"])
    c.add("rekey_kek_from_next_chain_key", "rotation", "s_before_rekey1", "S",
          rekey_with(bytes((1,)) + crypto.kw_wrap(ks.kek(ck2, 1, 1), ridrk1)), "ciphertext",
          "AUTH_FAILED")
    suite2_negatives(c, bases)
    suite3_negatives(c, bases)
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
    rec = bases["suite2_basic"]
    b = rec.vec
    L = rec.labels
    inter = b["intermediates"]
    req = out_of(b, L["req"])
    srk = out_of(b, L["srk"])
    proof = out_of(b, L["proof"])
    key = out_of(b, L["key"])
    sid = sid_of(srk)
    kp = bytes.fromhex(inter["kp"])
    prk = bytes.fromhex(inter["prk"])
    th2 = bytes.fromhex(inter["th2"])

    # SRK frame at S (waiting for it): auth covers byte 0, sid, suite, n_f, srk_pub.
    c.add("s2_srk_auth", "suite2_basic", "srk", "S", flip(srk, 50), "auth", "AUTH_FAILED")
    c.add("s2_srk_auth_last", "suite2_basic", "srk", "S", flip(srk, 63, 0x80), "auth",
          "AUTH_FAILED")
    c.add("s2_srk_srk_pub", "suite2_basic", "srk", "S", flip(srk, 30), "srk_pub", "AUTH_FAILED")
    c.add("s2_srk_n_f", "suite2_basic", "srk", "S", flip(srk, 4), "n_f", "AUTH_FAILED")
    c.add("s2_srk_sid", "suite2_basic", "srk", "S", with_sid(srk, sid ^ 1), "sid", "AUTH_FAILED")
    c.add("s2_srk_suite_1", "suite2_basic", "srk", "S", setb(srk, 3, 1), "length", "MALFORMED")
    c.add("s2_srk_suite_3", "suite2_basic", "srk", "S", setb(srk, 3, 3), "length", "MALFORMED")
    c.add("s2_srk_suite_4", "suite2_basic", "srk", "S", setb(srk, 3, 4), "suite", "BAD_SUITE")
    c.add("s2_srk_truncated", "suite2_basic", "srk", "S", srk[:-1], "length", "MALFORMED")
    c.add("s2_srk_extended", "suite2_basic", "srk", "S", srk + b"\x00", "length", "MALFORMED")
    c.add("s2_srk_as_suite_1_length", "suite2_basic", "srk", "S", setb(srk, 3, 1)[:40], "suite",
          "AUTH_FAILED")  # a suite-1 frame (S offered 1 too): its unwrap fails
    ka1 = ks.expand(prk, ks.lbl(1, "auth") + bytes.fromhex(inter["th1"]), 32)
    c.add("s2_srk_auth_suite1_label", "suite2_basic", "srk", "S",
          srk[:48] + ks.auth(ka1, srk[:48]), "auth", "AUTH_FAILED")
    for label, u in LOW_ORDER[:1]:
        del label
        c.add("s2_srk_srk_pub_zero", "suite2_basic", "srk", "S", srk[:16] + u + srk[48:],
              "srk_pub", "AUTH_FAILED")
    # A man in the middle rewrites the REQ's offer. TH1 binds the offer, so S
    # rejects F's answer whichever suite F chose (3.9).
    for name, offer in (("s2_req_offer_downgraded_to_1", 0x01),
                        ("s2_req_offer_rewritten_to_2", 0x02)):
        h = Harness(b)
        assert not run_steps(h, b["steps"][:L["req"] + 1])
        answer = one(h.feed("F", setb(req, 21, offer), int(b["steps"][L["req"]]["t"]))[0])
        assert answer[3] == (1 if offer == 0x01 else 2)
        c.add(name, "suite2_basic", "srk", "S", answer, "offer", "AUTH_FAILED")

    # PROOF at F (waiting for it): rejected at t, before any job.
    c.add("s2_proof_e_pub", "suite2_basic", "proof", "F", flip(proof, 10), "t",
          "AUTH_FAILED", True)
    c.add("s2_proof_c", "suite2_basic", "proof", "F", flip(proof, 40), "t", "AUTH_FAILED", True)
    c.add("s2_proof_t", "suite2_basic", "proof", "F", flip(proof, 58), "t", "AUTH_FAILED", True)
    c.add("s2_proof_t_zero", "suite2_basic", "proof", "F", proof[:51] + bytes(8), "t",
          "AUTH_FAILED", True)
    c.add("s2_proof_suite_1_length", "suite2_basic", "proof", "F", proof[:3] + proof[35:],
          "length", "MALFORMED", True)
    c.add("s2_proof_truncated", "suite2_basic", "proof", "F", proof[:-1], "length",
          "MALFORMED", True)
    c.add("s2_proof_extended", "suite2_basic", "proof", "F", proof + b"\x00", "length",
          "MALFORMED", True)
    c.add("s2_proof_sid", "suite2_basic", "proof", "F", with_sid(proof, sid ^ 1), "sid",
          "UNKNOWN_SESSION", True)
    c.add("s2_proof_reflected_to_s", "suite2_basic", "proof", "S", proof, "type", "UNEXPECTED")
    # t under suite 1's KP label: labels matter.
    kp1 = ks.kp(prk, 1, th2)
    c.add("s2_proof_t_suite1_label", "suite2_basic", "proof", "F",
          proof[:51] + ks.proof_t(kp1, proof[:51]), "t", "AUTH_FAILED", True)
    # t over the frame without its e_pub (a suite-1 style MAC): fails.
    c.add("s2_proof_t_without_e_pub", "suite2_basic", "proof", "F",
          proof[:51] + ks.proof_t(kp, proof[:3] + proof[35:51]), "t", "AUTH_FAILED", True)
    # A PROOF while F checks one, and PROOFs after KEY.
    c.add("s2_proof_other_while_checking", "suite2_basic", "f_checking", "F", flip(proof, 40),
          "type", "UNEXPECTED", True)
    c.add("s2_proof_e_pub_changed_in_wait_confirm", "suite2_basic", "key", "F", flip(proof, 3),
          "type", "UNEXPECTED", True)
    c.add("s2_proof_after_confirmation", "suite2_basic", "f_confirmed", "F", proof, "type",
          "UNEXPECTED", True)
    # Frames S does not take while PROVING.
    c.add("s2_srk_repeated_while_proving", "suite2_basic", "s_proving", "S", srk, "type",
          "UNEXPECTED")
    c.add("s2_key_while_proving", "suite2_basic", "s_proving", "S", key, "type", "UNEXPECTED")
    c.add("s2_srk_other_sid_while_proving", "suite2_basic", "s_proving", "S",
          with_sid(srk, sid ^ 1), "sid", "UNKNOWN_SESSION")

    # KEY at S (waiting for it).
    c.add("s2_key_wrapped_idrk", "suite2_basic", "f_checking", "S", flip(key, 20), "wrapped_idrk",
          "AUTH_FAILED")
    c.add("s2_key_sid", "suite2_basic", "f_checking", "S", with_sid(key, sid ^ 1), "sid",
          "UNKNOWN_SESSION")
    ms = bytes.fromhex(inter["ms"])
    idrk0 = bytes.fromhex(inter["idrks"][0])
    c.add("s2_key_suite1_kek_label", "suite2_basic", "f_checking", "S",
          wire.build_key(sid, crypto.kw_wrap(ks.kek(ms, 1, 0), idrk0)), "wrapped_idrk",
          "AUTH_FAILED")

    # Protected frames of a suite-2 session.
    protected_variants(c, "s2_data_s2f", "suite2_basic", "s_data", "F", out_of(b, L["s_data"]))
    protected_variants(c, "s2_data_f2s", "suite2_basic", "f_data", "S", out_of(b, L["f_data"]))
    rekey = out_of(b, L["rekey1_out"], 1)
    protected_variants(c, "s2_rekey", "suite2_basic", "s_before_rekey1", "S", rekey)
    idrk1 = bytes.fromhex(inter["idrks"][1])
    ck1 = bytes.fromhex(inter["ck_1"])
    rhead = wire.protected_head(wire.REKEY, sid, 0, 1000)
    for name, kek in (("s2_rekey_suite1_kek_label", ks.kek(ck1, 1, 1)),
                      ("s2_rekey_kek_from_ms", ks.kek(ms, 2, 1))):
        pt = bytes((1,)) + crypto.kw_wrap(kek, idrk1)
        c.add(name, "suite2_basic", "s_before_rekey1", "S",
              ks.seal_frame(idrk0, sid, ks.DIR_F2S, rhead, pt), "ciphertext", "AUTH_FAILED")
    c.add("s2_close_replay", "suite2_basic", "f_closed", "F", out_of(b, L["s_close"]), "sid",
          "UNKNOWN_SESSION")

    # F accepting suite 2 only: an offer of suite 1 only is BAD_SUITE, answered.
    nb = bases["negotiation_suite2_only"].vec
    c.add("s2_only_req_offer_1", "negotiation_suite2_only", 0, "F", out_of(nb, 0), "offer",
          "BAD_SUITE", True)


def suite3_negatives(c: Cases, bases: dict[str, Recorder]) -> None:
    """Suite 3 (15.10): what each station rejects at ``receive``. A tampered
    PROOF is not here: nothing keyed by the secret can be checked before F's
    job (its ERROR(WRONG_CODE) comes from ``work``: session_suite3_backoff)."""
    base = "suite3_basic"
    rec = bases[base]
    b = rec.vec
    L = rec.labels
    inter = b["intermediates"]
    req = out_of(b, L["req"])
    srk = out_of(b, L["srk"])
    proof = out_of(b, L["proof"])
    key = out_of(b, L["key"])
    sid = sid_of(srk)

    # REQ at F: a user record takes suite 3 only; a ps record never takes it.
    c.add("s3_req_user_offers_2", base, "prepared", "F", setb(req, 21, 0x02), "offer",
          "BAD_SUITE", True)
    c.add("s3_req_user_offers_2_and_1", base, "prepared", "F", setb(req, 21, 0x03), "offer",
          "BAD_SUITE", True)
    c.add("s3_req_offer_bit_7", base, "prepared", "F", setb(req, 21, 0x84), "offer",
          "MALFORMED", True)
    c.add("s3_req_unknown_id", base, "prepared", "F", flip(req, 8), "id_s", "UNKNOWN_PEER",
          True)
    # SRK frame at S (waiting for it).
    c.add("s3_srk_suite_2", base, "srk", "S", setb(srk, 3, 2), "length", "MALFORMED")
    c.add("s3_srk_suite_4", base, "srk", "S", setb(srk, 3, 4), "suite", "BAD_SUITE")
    c.add("s3_srk_as_suite_2_length", base, "srk", "S", setb(srk, 3, 2)[:64], "suite",
          "BAD_SUITE")  # a well-formed suite-2 frame: S offered suite 3 only
    c.add("s3_srk_truncated", base, "srk", "S", srk[:-1], "length", "MALFORMED")
    c.add("s3_srk_extended", base, "srk", "S", srk + b"\x00", "length", "MALFORMED")
    c.add("s3_srk_sid_0", base, "srk", "S", with_sid(srk, 0), "sid", "MALFORMED")
    c.add("s3_srk_repeated_while_proving", base, "s_proving", "S", srk, "type", "UNEXPECTED")
    c.add("s3_srk_other_sid_while_proving", base, "s_proving", "S", with_sid(srk, sid ^ 1),
          "sid", "UNKNOWN_SESSION")
    # PROOF at F: the layout of the slot's suite, the slot, the state.
    c.add("s3_proof_suite_2_length", base, "proof", "F", proof[:3] + proof[35:], "length",
          "MALFORMED", True)
    c.add("s3_proof_truncated", base, "proof", "F", proof[:-1], "length", "MALFORMED", True)
    c.add("s3_proof_extended", base, "proof", "F", proof + b"\x00", "length", "MALFORMED",
          True)
    c.add("s3_proof_sid", base, "proof", "F", with_sid(proof, sid ^ 1), "sid",
          "UNKNOWN_SESSION", True)
    c.add("s3_proof_while_sharing", base, "f_sharing", "F", proof, "type",
          "UNEXPECTED", True)
    c.add("s3_proof_other_while_checking", base, "f_checking", "F", flip(proof, 70), "type",
          "UNEXPECTED", True)
    c.add("s3_proof_changed_in_wait_confirm", base, "key", "F", flip(proof, 4), "type",
          "UNEXPECTED", True)
    c.add("s3_proof_after_confirmation", base, "f_confirmed", "F", proof, "type", "UNEXPECTED",
          True)
    c.add("s3_proof_reflected_to_s", base, "proof", "S", proof, "type", "UNEXPECTED")
    # KEY at S (waiting for it).
    c.add("s3_key_wrapped_idrk", base, "f_checking", "S", flip(key, 20), "wrapped_idrk",
          "AUTH_FAILED")
    c.add("s3_key_sid", base, "f_checking", "S", with_sid(key, sid ^ 1), "sid",
          "UNKNOWN_SESSION")
    ms = bytes.fromhex(inter["ms"])
    idrk0 = bytes.fromhex(inter["idrks"][0])
    c.add("s3_key_suite2_kek_label", base, "f_checking", "S",
          wire.build_key(sid, crypto.kw_wrap(ks.kek(ms, 2, 0), idrk0)), "wrapped_idrk",
          "AUTH_FAILED")
    # Protected frames of a suite-3 session.
    protected_variants(c, "s3_data_s2f", base, "s_data", "F", out_of(b, L["s_data"]))
    protected_variants(c, "s3_data_f2s", base, "f_data", "S", out_of(b, L["f_data"]))


# -- main ---------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[], Recorder]] = {
    "basic": basic, "rotation": rotation, "shared_srk": shared_srk,
    "retransmit": retransmit, "expiry": expiry, "table": table,
    "suite2_basic": suite2_basic, "suite2_not_ready": suite2_not_ready,
    "suite2_shared": suite2_shared, "suite2_prepare": suite2_prepare,
    "negotiation": negotiation, "negotiation_suite2_only": negotiation_suite2_only,
    "forged_proof": forged_proof, "checking": checking, "zombie": zombie,
    "ratchet": ratchet, "queue_full": queue_full,
    "suite3_basic": suite3_basic, "suite3_backoff": suite3_backoff,
    "suite3_attempts": suite3_attempts, "suite3_low_order": suite3_low_order,
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
