"""The shared session and negative vectors, run against the host roles.

Also: tools/make_vectors.py regenerates the committed files byte for byte, and
every negative case leaves the station's whole state as it was.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ephkey_host import wire
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


def test_the_scenarios_the_brief_asks_for_exist() -> None:
    for name in ("basic", "rotation", "shared_srk", "retransmit", "expiry"):
        assert name in BASES


@pytest.mark.parametrize("name", SESSIONS)
def test_session_vector(name: str) -> None:
    vec = load(VECTORS / name)
    assert run_session(vec) == []


@pytest.mark.parametrize("name", SESSIONS)
def test_session_vector_shape(name: str) -> None:
    vec = load(VECTORS / name)
    for key in ("name", "description", "suite", "first", "rng_seed_f", "t0", "steps",
                "intermediates"):
        assert key in vec
    assert ("pairing" in vec and "second" in vec and "rng_seed_s" in vec) or \
        ("pairings" in vec and "seconds" in vec)
    inter = vec["intermediates"]
    for key in ("th1", "kek2", "th2", "k3", "spv", "th3", "ms", "kek_0", "srk", "idrks"):
        assert key in inter
    assert len(inter["idrks"]) == vec["first"]["idrks"]
    for step in vec["steps"]:
        assert step["op"] in ("connect", "receive", "send", "close", "poll")
        assert all(e["event"] in NAMES for e in step["events"])
        assert all(("payload" in e) == (e["event"] == "DATA") for e in step["events"])
        assert step["t"] < 1 << 30  # no wrap: the unix port's ticks period is larger


def test_shared_srk_shows_one_srk_per_interval_and_distinct_idrks() -> None:
    draws = BASES["shared_srk"]["intermediates"]["draws"]
    assert [d["interval"] for d in draws] == [0, 0, 0, 1]
    assert [d["srk"] is not None for d in draws] == [True, False, False, True]
    idrks = [k for d in draws for k in d["idrks"]]
    assert len(set(idrks)) == len(idrks)


def snapshot(obj: Any, depth: int = 0) -> Any:
    """Everything a station holds, as plain data (the RNG and queues aside)."""
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj)
    if isinstance(obj, (int, str, bool, type(None))):
        return obj
    if isinstance(obj, dict):
        return {k: snapshot(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [snapshot(v, depth + 1) for v in obj]
    fields = getattr(obj, "__dict__", None)
    if fields is None:
        fields = {k: getattr(obj, k) for k in getattr(obj, "__slots__", ())}
    return {k: snapshot(v, depth + 1) for k, v in fields.items()
            if k not in ("_rng", "_out", "_events", "config", "pairing", "_pairings")}


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
    outs, events = h.feed(case["station"], bytes.fromhex(case["in"]), t)
    assert snapshot(station) == before
    assert snapshot(station._rng) == rng_state  # no draw either
    for out in outs:  # only F answers, and only with ERROR frames
        assert isinstance(station, FirstStation) and out[1] == wire.ERROR


def test_negative_cases_cover_every_message_type_and_field() -> None:
    covered = set()
    for c in CASES:
        raw = bytes.fromhex(c["in"])
        kind = wire.TYPE_NAMES.get(raw[1]) if len(raw) > 1 else None
        covered.add((kind, c["field"]))
    base_kind = {c["name"].split("_")[0] for c in CASES}
    assert {"req", "srk", "proof", "key", "data", "rekey", "close", "error"} <= base_kind
    want = {
        ("REQ", "id_s"), ("REQ", "offer"), ("REQ", "suite"), ("REQ", "sid"), ("REQ", "length"),
        ("SRK", "suite"), ("SRK", "sid"), ("SRK", "n_s"), ("SRK", "n_f"), ("SRK", "interval"),
        ("SRK", "wrapped_srk"), ("SRK", "length"), ("PROOF", "ct_tag"), ("PROOF", "suite"),
        ("PROOF", "sid"), ("PROOF", "length"), ("KEY", "wrapped_idrk"), ("KEY", "sid"),
        ("KEY", "suite"), ("DATA", "kidx"), ("DATA", "seq"), ("DATA", "ciphertext"),
        ("DATA", "tag"), ("DATA", "length"), ("REKEY", "kidx"), ("REKEY", "ciphertext"),
        ("REKEY", "tag"), ("KEY_ACK", "tag"), ("KEY_ACK", "seq"), ("CLOSE", "ciphertext"),
        ("CLOSE", "tag"),
    }
    assert want <= covered, want - covered
    kinds = {c["name"] for c in CASES}
    assert any("replay" in k for k in kinds) and any("reflected" in k for k in kinds)
    for c in CASES:  # ERROR frames only answer a version-1 REQ or PROOF
        raw = bytes.fromhex(c["in"])
        if c["out"]:
            assert c["station"] == "F" and raw[0] == 1 and raw[1] in (wire.REQ, wire.PROOF)


def test_vector_files_are_plain_json() -> None:
    for p in VECTORS.glob("session_*.json"):
        vec: Vector = json.loads(p.read_text(encoding="utf-8"))
        assert vec["name"] == p.name[len("session_"):-len(".json")]
