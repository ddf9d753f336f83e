"""Fuzzing the firmware's frame decoder and state machines inside MicroPython
with frames mutated and made up on the host: over step_driver (both roles,
and differentially against the host implementation) and over the serial
endpoint of a virtual board through the link simulator (suites 1-3: DATA,
REQ and PROOF mutations). Zero crashes, zero hangs, every rejection an ERROR
event with a code of section 6, and the good sessions alive afterwards."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import hostile as H
import hostile_handshakes as HS
from rel_boards import serial_fuzz

pytestmark = pytest.mark.timeout(180)

CFG: dict[str, dict[str, Any]] = {"F": {"suites": [1], "rotate_frames": 4, "idrks": 64},
                                  "S": {"offer": [1]}}


@pytest.mark.parametrize("role", ["F", "S"])
def test_firmware_station_fuzz(micropython_bin: str, role: str) -> None:
    def fw(r: str, c: dict, p: list, s: bytes | None) -> H.Target:
        return H.MpTarget(micropython_bin, r, c, p, s)
    res = H.fuzz_station(fw, role, CFG[role], 1500, seed=b"pytest " + role.encode())
    d = res.as_dict()
    assert res.inputs == 1500 and res.crashes == 0 and res.hangs == 0, d
    assert res.wrong_accepts == 0 and res.bad_codes == 0 and res.survived, d
    assert res.good_exchanges >= 15, d
    assert sum(res.codes.values()) >= 1400, d  # nearly every input rejected with its code


@pytest.mark.parametrize("role", ["F", "S"])
def test_firmware_and_host_agree_on_every_input(micropython_bin: str, role: str) -> None:
    """Same seeded session, same inputs: same events, same frames out."""
    def fw(r: str, c: dict, p: list, s: bytes | None) -> H.Target:
        return H.MpTarget(micropython_bin, r, c, p, s)

    def host(r: str, c: dict, p: list, s: bytes | None) -> H.Target:
        return H.HostTarget(r, c, p, s)
    res = H.differential_fuzz(fw, host, role, CFG[role], 1500)
    assert res.survived and res.inputs == 1500, res.as_dict()
    assert res.wrong_accepts == 0, res.notes[:3]


def test_firmware_and_host_agree_on_issue_12_item_5(micropython_bin: str) -> None:
    """The differential corpus's two edge cases (protocol.md 12): a PROOF equal
    to the accepted one in c || t only, and a REQ repeated after its SRK left
    the ring before a poll."""
    def fw(r: str, c: dict, p: list, s: bytes | None) -> H.Target:
        return H.MpTarget(micropython_bin, r, c, p, s)

    def host(r: str, c: dict, p: list, s: bytes | None) -> H.Target:
        return H.HostTarget(r, c, p, s)
    res = H.differential_edge_cases(fw, host)
    assert res.wrong_accepts == 0 and res.inputs >= 9, res.as_dict()


# Suites 2 and 3 (protocol.md 3.9, 15.10): F accepts the suite (suite 3 with
# suite 2 beside it), paired with the legitimate S (PS, or the user's secret)
# and with a PS record without a user secret (a suite-3 REQ naming it: BAD_SUITE).
SUITE_CFG: dict[int, dict[str, dict[str, Any]]] = {
    s: {"F": {"suites": [s] if s == 2 else [3, 2], "rotate_frames": 4, "idrks": 64},
        "S": {"offer": [s]}} for s in (2, 3)}


def suite_pairings(suite: int, role: str) -> list | None:
    return [H.suite_pairing(suite, 0), H.pairing(1)] if role == "F" else None


def fw_target(micropython_bin: str) -> H.TargetFactory:
    def fw(r: str, c: dict, p: list, s: bytes | None) -> H.Target:
        return H.MpTarget(micropython_bin, r, c, p, s)
    return fw


def host_target(r: str, c: dict, p: list, s: bytes | None) -> H.Target:
    return H.HostTarget(r, c, p, s)


@pytest.mark.parametrize("suite", [2, 3])
@pytest.mark.parametrize("role", ["F", "S"])
def test_firmware_station_fuzz_suites_2_and_3(micropython_bin: str, role: str,
                                               suite: int) -> None:
    """The open-session fuzz of suite 1 with a suite-2/3 session; half the
    inputs are REQ/SRK/PROOF frames with one field changed (hostile points,
    flipped bits in c, t, auth, a cut or grown frame, another suite, offer or
    id_s, a fresh nonce), F's jobs run after each."""
    res = H.fuzz_station(fw_target(micropython_bin), role, SUITE_CFG[suite][role], 1500,
                         seed=b"pytest s%d %s" % (suite, role.encode()), suite=suite,
                         pairings=suite_pairings(suite, role))
    d = res.as_dict()
    assert res.inputs == 1500 and res.crashes == 0 and res.hangs == 0, d
    assert res.wrong_accepts == 0 and res.bad_codes == 0 and res.survived, d
    assert res.good_exchanges >= 15, d
    assert sum(res.codes.values()) >= 1400, d
    fields = sum(v for k, v in res.by_mutation.items() if k not in H.MUTATIONS)
    assert fields >= 250, d  # the suite-specific field mutations ran
    if role == "F":
        assert res.answers["SRK"] > 0 and res.codes["UNKNOWN_PEER"] > 0, d  # REQs reached F
    if role == "F" and suite == 3:  # fresh REQs of the legitimate id_s: its back-off
        assert res.events["BACKOFF"] >= 1 and res.codes["BACKOFF"] > 0, d
        assert res.codes["BAD_SUITE"] > 0, d  # suite 3 for a PS record, or no common suite


@pytest.mark.parametrize("suite", [2, 3])
@pytest.mark.parametrize("role", ["F", "S"])
def test_firmware_and_host_agree_on_every_input_suites_2_and_3(micropython_bin: str,
                                                               role: str, suite: int) -> None:
    res = H.differential_fuzz(fw_target(micropython_bin), host_target, role,
                              SUITE_CFG[suite][role], 1500, seed=b"diff s%d" % suite,
                              suite=suite, pairings=suite_pairings(suite, role))
    assert res.survived and res.inputs == 1500, res.as_dict()
    assert res.wrong_accepts == 0, res.notes[:3]
    assert sum(res.codes.values()) >= 1400, res.as_dict()


ROUNDS = 400


@pytest.mark.parametrize("suite", [2, 3])
@pytest.mark.parametrize("role", ["F", "S"])
def test_firmware_handshake_states_fuzz(micropython_bin: str, role: str, suite: int) -> None:
    """Mutated PROOFs while F waits for one (WAIT_PROOF), REQ floods, wrong
    secrets; mutated SRK and KEY frames while S waits for them: every verdict
    the one the spec's order of checks gives, no acceptance, and the genuine
    handshakes between them complete."""
    fuzz = HS.fuzz_first if role == "F" else HS.fuzz_second
    res = fuzz(fw_target(micropython_bin), suite, ROUNDS)
    d = res.as_dict()
    assert res.crashes == 0 and res.hangs == 0 and res.survived, d
    assert res.wrong_accepts == 0 and res.bad_codes == 0, d
    assert res.inputs >= ROUNDS // 2 and res.good_exchanges >= ROUNDS // 10, d
    if role == "F":
        hostile_points = sum(v for k, v in res.by_mutation.items() if k.startswith("point:"))
        assert hostile_points >= 10 and res.by_mutation["REQ fresh_n_s"] >= 20, d
        assert res.codes["MALFORMED"] > 0 and res.codes["UNKNOWN_SESSION"] > 0, d
        assert res.codes["WRONG_CODE" if suite == 3 else "AUTH_FAILED"] >= 20, d
    else:
        assert res.codes["AUTH_FAILED"] > 0 and res.codes["BAD_SUITE"] > 0, d
    if suite == 3:  # the back-off reached, refused and waited out, at F and at S
        assert res.events["BACKOFF"] >= 1, d
        if role == "F":
            assert res.by_mutation["REQ while backing off"] >= 1 and res.codes["BACKOFF"] >= 1, d
            assert res.codes["AUTH_FAILED"] >= 1, d  # a low-order Y_s: K all zeros
        else:
            assert res.events["HANDSHAKE_FAILED:BACKOFF"] >= 1, d
            assert res.events["HANDSHAKE_FAILED:WRONG_CODE"] >= 10, d


@pytest.mark.parametrize("suite", [2, 3])
@pytest.mark.parametrize("role", ["F", "S"])
def test_firmware_and_host_agree_in_the_handshake_states(micropython_bin: str, role: str,
                                                         suite: int) -> None:
    """The same rounds against both implementations in lockstep, seeded alike:
    the same frames and events at every step."""
    fuzz = HS.fuzz_first if role == "F" else HS.fuzz_second
    res = fuzz(HS.lockstep(fw_target(micropython_bin), host_target), suite, ROUNDS,
               seed=b"lockstep %d" % suite)
    assert res.crashes == 0 and res.hangs == 0 and res.survived, res.as_dict()
    assert res.wrong_accepts == 0, res.notes[:3]
    assert res.inputs >= ROUNDS // 2, res.as_dict()


# Fewer inputs for suites 2 and 3: their handshakes cost F X25519 jobs in the VM
SERIAL_INPUTS = {1: 300, 2: 200, 3: 200}


@pytest.mark.parametrize("suite", [1, 2, 3])
def test_fuzz_over_the_serial_endpoint(micropython_bin: str, tmp_path: Path, suite: int) -> None:
    """The board's runtime (first station, EchoApp) over LinkSim with a
    legitimate session of ``suite``: mutated DATA frames and garbage, mutated
    REQs, and PROOFs with a field changed for a live half-open slot, each PROOF
    answered with the code of the spec's order of checks; no traceback, no
    reboot, no session the board established beyond the genuine handshakes."""
    n = SERIAL_INPUTS[suite]
    r = serial_fuzz(tmp_path, n, suite=suite, micropython=micropython_bin)
    assert r["inputs"] == n and r["tracebacks"] == 0 and r["boots"] == 1, r
    assert r["echo_failures"] == 0 and r["session_alive_after"] and r["new_session_after"], r
    assert r["mismatches"] == 0 and r["wrong_keys"] == 0 and r["wrong_accepts"] == 0, r
    codes = {name for name in H.Code.__members__}
    assert set(r["rejected"]) <= codes, r
    assert sum(r["rejected"].values()) > n // 2, r
    # every class of input was sent: DATA mutations, REQs, PROOFs
    c = r["by_class"]
    assert c["DATA"] >= n // 2 and c["REQ"] >= n // 5 and c["PROOF"] >= n // 10, r
    assert r["probe_rounds"] >= n // 12 and r["probe_keys"] >= 5, r  # genuine PROOFs held
    proofs = r["by_mutation"]
    assert sum(v for k, v in proofs.items() if k.startswith("PROOF flip_field:")) >= 10, r
    a, pa = Counter(r["answers"]), Counter(r["proof_answers"])
    assert a["ERROR UNKNOWN_PEER"] > 0 and a["ERROR BAD_SUITE"] > 0 and a["SRK"] > 0, r
    assert pa["MALFORMED"] > 0, r
    if suite in (1, 2):  # t checked before anything else: AUTH_FAILED (4.5 step 5)
        assert pa["AUTH_FAILED"] >= 10, r
        assert r["board_events"].get("backoff", 0) == 0, r
    if suite == 2:
        assert sum(v for k, v in proofs.items() if k.startswith("PROOF point:")) >= 3, r
    if suite == 3:  # K then t: WRONG_CODE; the siege record's back-off (15.10)
        assert pa["WRONG_CODE"] >= 5, r
        ev = Counter(r["board_events"])
        assert ev["handshake_failed:WRONG_CODE"] >= 5, r
        assert ev["backoff"] >= 1 and a["ERROR BACKOFF"] >= 1, r
