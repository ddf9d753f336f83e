"""The shared session and negative vectors, run against the host roles.

Also: tools/make_vectors.py regenerates the committed files byte for byte, and
every negative case leaves the station's whole state as it was.
"""

import json
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from ephkey_host import wire
from ephkey_host.errors import Code
from ephkey_host.events import NAMES
from ephkey_host.first import FirstStation
from ephkey_host.vectors import Harness, Vector, load, run_negative, run_session, run_steps

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
SESSIONS = sorted(p.name for p in VECTORS.glob("session_*.json"))
BASES = {p.name[len("session_"):-len(".json")]: load(p) for p in VECTORS.glob("session_*.json")}
CASES: list[dict[str, Any]] = load(VECTORS / "negative.json")["cases"]


def test_regenerates_identically(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_vectors.py"), "--out",
                    str(tmp_path)], check=True, capture_output=True, timeout=120)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert "primitives.json" not in made
    assert made == sorted(SESSIONS + ["negative.json"])
    for name in made:
        assert (tmp_path / name).read_bytes() == (VECTORS / name).read_bytes(), name


def test_the_scenarios_section_12_asks_for_exist() -> None:
    for name in ("basic", "rotation", "shared_srk", "retransmit", "expiry", "table",
                 "suite2_basic", "suite2_not_ready", "suite2_shared", "suite2_prepare",
                 "negotiation", "negotiation_suite2_only", "forged_proof", "checking", "zombie",
                 "ratchet", "queue_full", "suite3_basic", "suite3_backoff", "suite3_attempts",
                 "suite3_low_order"):
        assert name in BASES, name


@pytest.mark.parametrize("name", SESSIONS)
def test_session_vector(name: str) -> None:
    vec = load(VECTORS / name)
    assert run_session(vec) == []


COMMON = ("th1", "prk", "th2", "kp", "spv", "prk3", "pad", "c", "t", "th3", "ms", "kek_0",
          "ck_1", "sid", "idrks", "chain", "draws")


@pytest.mark.parametrize("name", SESSIONS)
def test_session_vector_shape(name: str) -> None:
    vec = load(VECTORS / name)
    for key in ("name", "description", "suite", "first", "rng_seed_f", "t0", "steps",
                "intermediates"):
        assert key in vec
    assert ("pairing" in vec and "second" in vec and "rng_seed_s" in vec) or \
        ("pairings" in vec and "seconds" in vec)
    for key in ("confirm_ms", "peer_sessions", "proof_tries", "out_queue"):
        assert isinstance(vec["first"][key], int) and vec["first"][key] > 0
    for second in [vec["second"]] if "second" in vec else vec["seconds"]:
        assert isinstance(second["out_queue"], int)
    inter = vec["intermediates"]
    if vec["suite"] == 1:
        keys: tuple[str, ...] = ("kek2", "srk")
    elif vec["suite"] == 2:
        keys = ("ka", "auth", "srk_priv", "srk_pub", "e_priv", "e_pub", "dh")
    else:  # 15.10's intermediates
        keys = ("y_f", "Y_f", "y_s", "Y_s", "isk", "prk", "psu", "srk_priv", "srk_pub",
                "e_priv", "e_pub", "dh")
    for key in keys + COMMON:
        assert key in inter, key
    assert len(inter["idrks"]) == vec["first"]["idrks"]
    for link in inter["chain"]:
        assert set(link) == {"j", "ck_j", "kek_j", "ck_next", "idrk_j"}
    for d in inter["draws"]:
        assert sum(len(h) for _, h in d["holds"]) == 2 * d["size"]
    for step in vec["steps"]:
        assert step["op"] in ("connect", "receive", "send", "close", "poll", "prepare", "work")
        if step["op"] == "prepare":
            assert step["station"] == "F" and step["out"] == [] and step["events"] == []
        if step.get("drain", True) is False:
            assert step["out"] == []
        assert all(e["event"] in NAMES for e in step["events"])
        assert all(("payload" in e) == (e["event"] == "DATA") for e in step["events"])
        assert step["t"] < 1 << 30  # no wrap: the unix port's ticks period is larger


def test_each_rng_call_is_what_section_12_says() -> None:
    """F: one call per REQ (a + 2 + 12 + 16 K bytes, suite 3: + 32 for y_f) and 32 per
    key pair; S: n_s, e_priv, suite 3: y_s and e_priv in one call."""
    for vec in BASES.values():
        k = vec["first"]["idrks"]
        for d in vec["intermediates"]["draws"]:
            names = [n for n, _ in d["holds"]]
            if d["station"] != "F":
                assert names in (["n_s"], ["e_priv"], ["y_s", "e_priv"])
            elif names == ["srk_priv"]:
                assert d["size"] == 32
            else:
                idrk = ["idrk_%d" % j for j in range(k)]
                assert names in (["sid_seed", "n_f"] + idrk, ["srk", "sid_seed", "n_f"] + idrk,
                                 ["sid_seed", "n_f"] + idrk + ["y_f"])
                steps = vec["steps"][d["step"]]
                assert steps["op"] == "receive" and steps["in"][:2] == "21"


def test_shared_srk_shows_one_srk_per_interval_and_distinct_idrks() -> None:
    draws = [d for d in BASES["shared_srk"]["intermediates"]["draws"] if d["station"] == "F"]
    assert [d["holds"][0][0] == "srk" for d in draws] == [True, False, False, True]
    idrks = [h for d in draws for n, h in d["holds"] if n.startswith("idrk_")]
    assert len(set(idrks)) == len(idrks)


def test_suite_2_vectors_show_what_they_say() -> None:
    def srk_frames(vec: Vector) -> list[bytes]:
        return [bytes.fromhex(o) for st in vec["steps"] if st["station"] == "F"
                for o in st["out"] if o[:2] == "22"]

    # shared: one srk_pub for the three requests of interval 0, a new one after.
    shared = BASES["suite2_shared"]
    pubs = [f[16:48] for f in srk_frames(shared)]
    assert len(pubs) == 4 and pubs[0] == pubs[1] == pubs[2] != pubs[3]
    pairs = [d for d in shared["intermediates"]["draws"] if d["holds"][0][0] == "srk_priv"]
    assert [d["interval"] for d in pairs] == [0, 1]
    assert [d["srk_pub"] for d in pairs] == [pubs[0].hex(), pubs[3].hex()]
    # prepare: key pairs for intervals 0, 1 (two prepare calls before one work), then 2.
    prep = BASES["suite2_prepare"]
    pairs = [d for d in prep["intermediates"]["draws"] if d["holds"][0][0] == "srk_priv"]
    assert [(prep["steps"][d["step"]]["op"], d["interval"]) for d in pairs] == \
        [("prepare", 0), ("prepare", 1), ("prepare", 2)]
    assert [f[16:48].hex() for f in srk_frames(prep)] == [pairs[0]["srk_pub"], pairs[1]["srk_pub"]]
    # not ready: the first REQ draws the key pair and gets ERROR(NOT_READY), sid 0.
    nr = BASES["suite2_not_ready"]["steps"]
    assert nr[1]["events"] == [{"event": "ERROR", "sid": 0, "arg": 20}]
    assert nr[1]["out"] == ["2f000014"]
    # negotiation: suites 1, 2, 2; F accepting only 2 answers an offer of [1] with ERROR.
    assert [f[3] for f in srk_frames(BASES["negotiation"])][:3] == [1, 2, 2]
    only2 = BASES["negotiation_suite2_only"]["steps"]
    assert only2[1]["events"] == [{"event": "ERROR", "sid": 0, "arg": 3}]
    assert only2[1]["out"] == ["2f000003"]


def test_vectors_show_the_handshake_sizes() -> None:
    for name, size in (("basic", 116), ("suite2_basic", 172), ("suite3_basic", 220)):
        outs = [bytes.fromhex(o) for st in BASES[name]["steps"] for o in st["out"]]
        first = {b: next(o for o in outs if o[0] == b) for b in (0x21, 0x22, 0x23, 0x24)}
        assert sum(len(x) for x in first.values()) == size


def snapshot(obj: Any, depth: int = 0) -> Any:
    """Everything a station holds, as plain data (the RNG and queues aside)."""
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj)
    if isinstance(obj, (int, str, bool, type(None))):
        return obj
    if isinstance(obj, dict):
        return {k: snapshot(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, deque)):
        return [snapshot(v, depth + 1) for v in obj]
    fields = getattr(obj, "__dict__", None)
    if fields is None:
        fields = {k: getattr(obj, k) for k in getattr(obj, "__slots__", ())}
    return {k: snapshot(v, depth + 1) for k, v in fields.items()
            if k not in SKIP}


# Not state: the RNG and queues, settings; a job's session (a cycle); the failed-PROOF
# count, compared on its own.
SKIP = ("_rng", "_out", "_events", "config", "pairing", "_pairings", "fails", "session")


def fails_of(station: Any) -> int:
    return sum(s.fails for s in getattr(station, "_slots", []))


def counted(case: dict[str, Any]) -> bool:
    """A PROOF rejected at t or c counts toward proof_tries (4.5)."""
    return case["station"] == "F" and case["in"][:2] == "23" and \
        case["error"] in ("AUTH_FAILED", "BAD_PROOF") and case["field"] in ("t", "c")


def replay_to(case: dict[str, Any]) -> tuple[Harness, int]:
    base = BASES[case["base"]]
    h = Harness(base)
    assert run_steps(h, base["steps"][:case["after_step"] + 1]) == []
    return h, int(base["steps"][case["after_step"]]["t"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_negative_case(case: dict[str, Any]) -> None:
    assert run_negative(case, BASES) == []
    h, t = replay_to(case)
    station = h.stations[case["station"]]
    rng_state = snapshot(station._rng)
    before = snapshot(station)
    fails = fails_of(station)
    busy = station.busy()
    outs, events = h.feed(case["station"], bytes.fromhex(case["in"]), t)
    assert snapshot(station) == before
    assert fails_of(station) == fails + counted(case)  # nothing else changes
    assert snapshot(station._rng) == rng_state  # no draw either
    assert station.busy() == busy  # and no job
    for out in outs:  # only F answers, and only with ERROR frames
        assert isinstance(station, FirstStation) and out[0] == 0x2F


def test_negative_cases_cover_every_message_type_and_field() -> None:
    covered = set()
    for c in CASES:
        raw = bytes.fromhex(c["in"])
        kind = wire.TYPE_NAMES.get(raw[0] & 0x0F) if raw else None
        covered.add((kind, c["field"]))
    base_kind = {c["name"].split("_")[0] for c in CASES}
    assert {"req", "srk", "proof", "key", "data", "rekey", "close", "error"} <= base_kind
    want = {
        ("REQ", "id_s"), ("REQ", "offer"), ("REQ", "n_s"), ("REQ", "length"), ("REQ", "ver"),
        ("REQ", "type"), ("SRK", "suite"), ("SRK", "sid"), ("SRK", "n_f"), ("SRK", "wrapped_srk"),
        ("SRK", "srk_pub"), ("SRK", "auth"), ("SRK", "offer"), ("SRK", "length"),
        ("PROOF", "c"), ("PROOF", "t"), ("PROOF", "sid"), ("PROOF", "length"),
        ("PROOF", "type"), ("KEY", "wrapped_idrk"), ("KEY", "sid"), ("DATA", "kidx"),
        ("DATA", "seq"), ("DATA", "ciphertext"), ("DATA", "tag"), ("DATA", "length"),
        ("REKEY", "kidx"), ("REKEY", "ciphertext"), ("REKEY", "tag"), ("KEY_ACK", "tag"),
        ("KEY_ACK", "seq"), ("CLOSE", "ciphertext"), ("CLOSE", "tag"), ("ERROR", "length"),
    }
    assert want <= covered, want - covered
    kinds = {c["name"] for c in CASES}
    assert any("replay" in k for k in kinds) and any("reflected" in k for k in kinds)
    for c in CASES:  # ERROR frames answer only a version-2 REQ or PROOF (4.4 item 5)
        raw = bytes.fromhex(c["in"])
        if c["out"]:
            assert c["station"] == "F" and raw[0] in (0x21, 0x23)
            assert c["out"] == [wire.build_error_for(raw, Code[c["error"]]).hex()]
        elif c["station"] == "F" and raw[:1] in (b"\x21", b"\x23"):
            assert c["error"] == "REPLAY"


def test_vector_files_are_plain_json() -> None:
    for p in VECTORS.glob("session_*.json"):
        vec: Vector = json.loads(p.read_text(encoding="utf-8"))
        assert vec["name"] == p.name[len("session_"):-len(".json")]


def test_suite_3_vectors_show_what_15_10_says() -> None:
    """Suite 3: the secret is only in F's record and the connect steps; a REQ is
    answered by the SRK frame from a work step; ten wrong secrets give BACKOFF."""
    basic = BASES["suite3_basic"]
    assert "user" in basic["pairing"] and "ps" not in basic["pairing"]
    connects = [st for st in basic["steps"] if st["op"] == "connect"]
    assert connects and all(bytes.fromhex(st["secret"]) == bytes.fromhex(basic["pairing"]["user"])
                            for st in connects)
    steps = basic["steps"]
    req_step = next(i for i, st in enumerate(steps) if st["station"] == "F" and
                    st["op"] == "receive" and st["in"][:2] == "21")
    assert steps[req_step]["out"] == [] and steps[req_step + 2]["op"] == "work"
    srk = bytes.fromhex(steps[req_step + 2]["out"][0])
    assert srk[3] == 3 and srk[48:80].hex() == basic["intermediates"]["Y_f"]
    backoff = BASES["suite3_backoff"]["steps"]
    wrong = [st for st in backoff if st["station"] == "F" and st["op"] == "work" and
             any(e["arg"] == Code.WRONG_CODE for e in st["events"])]
    assert len(wrong) == 10
    assert all(len(st["out"]) == 1 and st["out"][0][-2:] == "15" for st in wrong)  # ERROR(21)
    assert [e["event"] for e in wrong[-1]["events"]] == ["ERROR", "HANDSHAKE_FAILED", "BACKOFF"]
    assert wrong[-1]["events"][-1]["arg"] == 30_000
    assert all("BACKOFF" not in [e["event"] for e in st["events"]] for st in wrong[:-1])
    refused = [st for st in backoff if st["station"] == "F" and st["out"] == ["2f000017"]]
    assert len(refused) == 1  # ERROR(BACKOFF) for a REQ, sid 0
