"""The transcript validator: accepts every session of every vector, pinpoints each negative case."""

from pathlib import Path
from typing import Any

import pytest

from ephkey_host import keyschedule as ks
from ephkey_host.config import Pairing
from ephkey_host.errors import Code
from ephkey_host.transcript import split_sessions, validate
from ephkey_host.vectors import load, second_specs, transcript

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
BASES = {p.name[len("session_"):-len(".json")]: load(p) for p in VECTORS.glob("session_*.json")}
CASES: list[dict[str, Any]] = load(VECTORS / "negative.json")["cases"]

# Where a station's verdict depends on its state, not on the wire: the validator
# accepts a handshake frame repeated byte for byte (a legal retransmission on the
# wire) and cannot know S freed its session before a reflected CLOSE arrived.
STATE_ONLY = {
    "srk_repeated_in_wait_key": None,
    "s2_srk_repeated_while_proving": None,
    "key_replay_open": None,
    "close_reflected_to_s": Code.AUTH_FAILED,
}
# The tampered field, when it is not the one the rule names (none at present:
# each case names the field its rule reports).
FIELD_AT_FAULT: dict[str, str] = {}
# Integrity failures are reported on the field that carries the check.
AUTH_FIELDS = {"wrapped_srk", "t", "c", "wrapped_idrk", "tag", "ciphertext", "auth", "e_pub",
               "srk_pub"}


def secrets(vec: dict[str, Any]) -> dict[str, bytes]:
    """For a suite-2 base, the interval's srk_priv: without DH the validator
    cannot check a PROOF, a KEY or a protected frame."""
    if vec["suite"] != 2:
        return {}
    return {"srk_priv": bytes.fromhex(vec["intermediates"]["srk_priv"])}


def sessions() -> list[tuple[str, str, Pairing, int]]:
    out = []
    for name, vec in sorted(BASES.items()):
        for st, _, pairing, _ in second_specs(vec):
            for i, _ in enumerate(split_sessions(transcript(vec, st))):
                out.append((name, st, pairing, i))
    return out


@pytest.mark.parametrize(("base", "station", "pairing", "index"), sessions(),
                         ids=["%s-%s-%d" % (b, s, i) for b, s, _, i in sessions()])
def test_accepts_every_delivered_session(base: str, station: str, pairing: Pairing,
                                         index: int) -> None:
    vec = BASES[base]
    frames = split_sessions(transcript(vec, station))[index]
    for ps in (pairing, None):
        rep = validate(frames, ps, max_payload=vec["first"]["max_payload"])
        assert rep.ok, [(e.index, e.code, e.field, e.detail) for e in rep.errors()]
        assert all(c.fields for c in rep.checks)


def test_intermediates_match_the_vector() -> None:
    vec = BASES["rotation"]
    _, _, pairing, _ = second_specs(vec)[0]
    rep = validate(split_sessions(transcript(vec, "S"))[0], pairing)
    inter = vec["intermediates"]
    for key in ("th1", "prk", "kek2", "srk", "th2", "kp", "spv", "prk3", "pad", "c", "t", "th3",
                "ms", "kek_0", "ck_1"):
        assert rep.intermediates[key] == inter[key]
    for j in range(4):  # three rotations reveal IDRK_1..3
        assert rep.intermediates["idrk_%d" % j] == inter["idrks"][j]
    for link in inter["chain"]:  # and walk the chain
        j = link["j"]
        assert rep.intermediates["kek_%d" % j] == link["kek_j"]
        assert rep.intermediates["ck_%d" % j] == link["ck_j"]
        assert rep.intermediates["ck_%d" % (j + 1)] == link["ck_next"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_pinpoints_negative_case(case: dict[str, Any]) -> None:
    vec = BASES[case["base"]]
    specs = second_specs(vec)
    station = case["station"] if case["station"] != "F" else specs[0][0]
    pairing = next(p for name, _, p, _ in specs if name == station)
    frames = transcript(vec, station, upto=case["after_step"])
    direction = ks.DIR_S2F if case["station"] == "F" else ks.DIR_F2S
    frames.append((direction, bytes.fromhex(case["in"])))
    rep = validate(frames, pairing, max_payload=vec["first"]["max_payload"],
                   suites=vec["first"]["suites"], **secrets(vec))
    assert all(c.ok for c in rep.checks[:-1])
    last = rep.checks[-1]
    want = STATE_ONLY.get(case["name"], Code[case["error"]])
    if want is None:
        assert last.ok
        return
    assert (last.index, last.ok, last.code) == (len(frames) - 1, False, want), last
    if want == Code.AUTH_FAILED:
        assert last.field in AUTH_FIELDS
    elif case["name"] not in STATE_ONLY:
        assert last.field == FIELD_AT_FAULT.get(case["name"], case["field"])


def test_without_ps_only_structure_is_checked() -> None:
    vec = BASES["basic"]
    frames = split_sessions(transcript(vec, "S"))[0][:-1]  # all but the CLOSE
    pairing = second_specs(vec)[0][2]
    data = [i for i, (_, raw) in enumerate(frames) if raw[0] == 0x25][0]
    bad_tag = list(frames)
    raw = bad_tag[data][1]
    bad_tag[data] = (bad_tag[data][0], raw[:-1] + bytes([raw[-1] ^ 1]))
    assert validate(bad_tag).ok
    err = validate(bad_tag, pairing).errors()
    assert [(e.index, e.code, e.field) for e in err] == [(data, Code.AUTH_FAILED, "tag")]
    replayed = list(frames) + [frames[data]]
    err = validate(replayed).errors()
    assert [(e.index, e.code, e.field) for e in err] == [(len(frames), Code.REPLAY, "seq")]
    swapped = [(ks.DIR_F2S if d == ks.DIR_S2F else ks.DIR_S2F, r) for d, r in frames]
    assert validate(swapped).errors()[0].code == Code.UNEXPECTED  # REQ cannot go F -> S


def test_direction_names_and_bad_direction() -> None:
    frames = split_sessions(transcript(BASES["basic"], "S"))[0]
    named = [("S2F" if d == ks.DIR_S2F else "F2S", r) for d, r in frames]
    assert validate(named).ok
    with pytest.raises(ValueError):
        validate([("up", frames[0][1])])


def test_split_sessions() -> None:
    vec = BASES["rotation"]
    groups = split_sessions(transcript(vec, "S"))
    assert len(groups) == 2  # the exhausted session and the new one
    assert [g[0][1][0] for g in groups] == [0x21, 0x21]  # each starts with its REQ
