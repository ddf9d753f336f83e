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
    "s3_srk_repeated_while_proving": None,
    # at F's SHARING step no SRK frame has named the session on the wire yet
    "s3_proof_while_sharing": Code.UNKNOWN_SESSION,
}
# The tampered field, when it is not the one the rule names (none at present:
# each case names the field its rule reports).
FIELD_AT_FAULT: dict[str, str] = {}
# Integrity failures are reported on the field that carries the check.
AUTH_FIELDS = {"wrapped_srk", "t", "c", "wrapped_idrk", "tag", "ciphertext", "auth", "e_pub",
               "srk_pub", "Y_s", "Y_f"}


def secrets(vec: dict[str, Any]) -> dict[str, bytes]:
    """For a suite-2 base, the interval's srk_priv: without DH the validator
    cannot check a PROOF, a KEY or a protected frame. Suite 3 also needs
    CPace's K: S's scalar y_s (used only where it makes the recorded share)."""
    inter = vec["intermediates"]
    if vec["suite"] == 1:
        return {}
    out = {"srk_priv": bytes.fromhex(inter["srk_priv"])}
    if vec["suite"] == 3:
        out["y_s"] = bytes.fromhex(inter["y_s"])
    return out


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


def test_suite_3_with_a_cpace_scalar_checks_everything() -> None:
    """Suite 3 (15.10): with the user's secret (F's record), S's scalar y_s and
    the interval's srk_priv the validator recomputes every key of the vector's
    handshake; F's scalar y_f does as well as y_s; without a scalar it checks
    structure only; with y_s but the wrong secret it uses nothing."""
    vec = BASES["suite3_basic"]
    _, _, pairing, _ = second_specs(vec)[0]
    inter = vec["intermediates"]
    frames = split_sessions(transcript(vec, "S"))[0]
    srk_priv = bytes.fromhex(inter["srk_priv"])
    for scalar in ({"y_s": bytes.fromhex(inter["y_s"])}, {"y_f": bytes.fromhex(inter["y_f"])}):
        rep = validate(frames, pairing, srk_priv=srk_priv, **scalar)
        assert rep.ok and rep.unverified == [], rep.unverified
        for key in ("th1", "srk_pub", "g", "Y_f", "Y_s", "k", "isk", "prk", "kp", "spv", "psu",
                    "e_pub", "dh", "th2", "prk3", "pad", "c", "t", "th3", "ms", "kek_0", "ck_1"):
            assert rep.intermediates[key] == inter[key], key
        assert rep.intermediates["idrk_1"] == inter["idrks"][1]  # the rotation was opened
    bare = validate(frames, pairing)
    assert bare.ok and bare.unverified and "ms" not in bare.intermediates
    wrong = Pairing(pairing.id_f, pairing.id_s, user=b"another secret")
    rep = validate(frames, wrong, srk_priv=srk_priv, y_s=bytes.fromhex(inter["y_s"]))
    assert rep.ok and "ms" not in rep.intermediates
    assert any("not used" in u for u in rep.unverified)


def test_suite_3_wrong_secret_is_wrong_code_at_t() -> None:
    """A PROOF made with another secret fails t for whoever holds F's scalar."""
    vec = BASES["suite3_backoff"]
    _, _, pairing, _ = second_specs(vec)[0]
    draws = vec["intermediates"]["draws"]
    first_srk = next(bytes.fromhex(o) for st in vec["steps"] if st["station"] == "F"
                     for o in st["out"] if o[:2] == "22")
    y_f = next(bytes.fromhex(h) for d in draws for n, h in d["holds"]
               if n == "y_f" and d["sid"] == int.from_bytes(first_srk[1:3], "big"))
    steps = vec["steps"]
    proof = next(bytes.fromhex(o) for st in steps if st["station"] == "S" for o in st["out"]
                 if o[:2] == "23")
    req = next(bytes.fromhex(o) for st in steps if st["station"] == "S" for o in st["out"])
    rep = validate([("S2F", req), ("F2S", first_srk), ("S2F", proof)], pairing, y_f=y_f)
    assert [(c.code, c.field) for c in rep.errors()] == [(Code.WRONG_CODE, "t")]
