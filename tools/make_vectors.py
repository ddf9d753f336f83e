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


def header(name: str, description: str, first: FirstConfig,
           seconds: list[tuple[SecondConfig, Pairing]], t0: int) -> Vector:
    vec: Vector = {"name": name, "description": description, "suite": 1}
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
        "then S closes.", FirstConfig(), [(SecondConfig(), p)], 0))
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
    cfg = FirstConfig(rotate_frames=4, idrks=4, rotate_ms=30_000)
    r = Recorder(header(
        "rotation", "rotate_frames=4, idrks=4. Key 0->1 after F sends the 4th DATA, finished "
        "by KEY_ACK; 1->2 after F accepts the 4th DATA, KEY_ACK lost, finished by a DATA "
        "under 2 (ROTATED then DATA); 2->3 by rotate_ms with a DATA crossing the REKEY; "
        "key 3 used up: CLOSE(KEYS_EXHAUSTED); then a new handshake.", cfg,
        [(SecondConfig(), p)], 5000))
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
    cfg = FirstConfig(idle_ms=100_000)
    pairs = [pairing(10 + i, n) for i, n in enumerate((16, 24, 32, 20))]
    r = Recorder(header(
        "shared_srk", "S0, S1, S2 ask in interval 0 and share its SRK with different IDRK "
        "sets; S2's PROOF is lost. S3 asks in interval 1 and gets a new SRK. Then time "
        "passes: S2 times out at both ends, the SRKs leave the ring after M x L, idle "
        "sessions close, S2's late PROOF finds nothing.", cfg,
        [(SecondConfig(), p) for p in pairs], 0))
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
    cfg = FirstConfig(rotate_frames=2, rekey_retry_ms=1000, rekey_tries=4)
    r = Recorder(header(
        "retransmit", "SRK lost: S repeats REQ, F resends the same SRK; KEY lost: S repeats "
        "PROOF, F resends the same KEY; REKEY lost: F resends it (new seq); a repeated "
        "REKEY gets a second KEY_ACK, which F accepts silently; then REKEY lost rekey_tries "
        "times: CLOSE(TIMEOUT).", cfg, [(SecondConfig(), p)], 0))
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
        FirstConfig(), [(SecondConfig(), p)], 0))
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
    cfg = FirstConfig(sessions=2)
    pairs = [pairing(20 + i, 16) for i in range(3)]
    r = Recorder(header(
        "table", "sessions=2. S1's half-open handshake is evicted by S2 (4.2 step 4), its "
        "PROOF is then UNKNOWN_SESSION; with both slots OPEN a REQ gets ERROR BUSY; after "
        "S0 closes, S1 gets a slot, gives up, asks again and reuses its own half-open slot "
        "(step 2) with a new sid; its old REQ replayed in OPEN is REPLAY, nothing sent.",
        cfg, [(SecondConfig(), p) for p in pairs], 0))
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


# -- intermediates ------------------------------------------------------------------------

def parse_draws(log: list[bytes], idrks: int) -> dict[str, Any]:
    """Label F's draws for one REQ: [SRK], sid (maybe redrawn), n_f, IDRKs (4.2)."""
    i = 0
    srk = None
    if len(log[0]) == 16 and len(log[1]) == 4:
        srk = log[0]
        i = 1
    sid_draws = []
    while len(log[i]) == 4:
        sid_draws.append(log[i])
        i += 1
    n_f = log[i]
    keys = log[i + 1:]
    assert len(keys) == idrks and all(len(k) == 16 for k in keys)
    return {"srk": srk.hex() if srk else None,
            "sid": int.from_bytes(sid_draws[-1], "big") & SID_MASK,
            "sid_draws": len(sid_draws), "n_f": n_f.hex(), "idrks": [k.hex() for k in keys]}


def intermediates(r: Recorder) -> dict[str, Any]:
    vec = r.vec
    specs = second_specs(vec)
    k = vec["first"]["idrks"]
    draws = []
    for step_i, log in r.f_draws:
        d = parse_draws(log, k)
        srk_frame = bytes.fromhex(vec["steps"][step_i]["out"][0])
        assert srk_frame[1] == wire.SRK and srk_frame[7:23].hex() == d["n_f"]
        assert int.from_bytes(srk_frame[3:7], "big") == d["sid"]
        d = {"step": step_i, "interval": int.from_bytes(srk_frame[23:25], "big"), **d}
        draws.append(d)
    # The first complete handshake, recomputed from its second station's view.
    rep = None
    for name, _, p, _ in specs:
        for session in split_sessions(transcript(vec, name)):
            rep = validate(session, p, max_payload=vec["first"]["max_payload"])
            assert rep.ok, rep.errors()
            if "kek_0" in rep.intermediates:
                break
        else:
            continue
        break
    assert rep is not None and "kek_0" in rep.intermediates
    ri = rep.intermediates
    inter: dict[str, Any] = {x: ri[x]
                             for x in ("th1", "kek2", "th2", "k3", "spv", "th3", "ms", "kek_0")}
    mine = [d for d in draws if d["idrks"][0] == ri["idrk_0"]]
    assert len(mine) == 1
    sid = mine[0]["sid"]
    srks = [d["srk"] for d in draws if d["interval"] == mine[0]["interval"]
            and d["step"] <= mine[0]["step"] and d["srk"]]
    assert srks[-1] == ri["srk"]
    inter["sid"] = sid
    inter["srk"] = ri["srk"]
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
    c.add(prefix + "_suite", base, after, station, setb(frame, 2, 2), "suite", "BAD_SUITE")
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
    c.add("srk_suite_2", "basic", "srk", "S", setb(srk, 2, 2), "suite", "BAD_SUITE")
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
    c.add("proof_suite", "basic", "proof", "F", setb(proof, 2, 2), "suite", "BAD_SUITE", True)
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
    return c.cases


# -- main ---------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[], Recorder]] = {
    "basic": basic, "rotation": rotation, "shared_srk": shared_srk,
    "retransmit": retransmit, "expiry": expiry, "table": table,
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
