"""The hostile peer (tools/hostile.py) against both implementations, version 2.

Each attack, with the outcome the spec gives it, against the firmware (inside
MicroPython, tests/firmware/step_driver.py) and the host stations: every
injected frame rejected with the code of the spec (4.4, 4.5, 5.1, 5.2), ERROR
frames only where 3.8 / 4.4 item 5 allow them, 0 wrong accepts, and the
legitimate sessions still working afterwards. Version 2's own: forged PROOFs
(no job, the slot freed after proof_tries), zombie sessions, and frames in the
new states (CHECKING, WAIT_CONFIRM, PROVING).
"""

from __future__ import annotations

from typing import Any

import pytest

import hostile as H
from ephkey_host import wire
from ephkey_host.config import Pairing

pytestmark = pytest.mark.timeout(120)

CFG_F = {"suites": [1], "rotate_frames": 4, "idrks": 8}
CFG_S = {"offer": [1]}


@pytest.fixture(params=["firmware", "host"])
def factory(request: pytest.FixtureRequest, micropython_bin: str) -> H.TargetFactory:
    if request.param == "host":
        return lambda role, cfg, pairs, seed: H.HostTarget(role, cfg, pairs, seed)
    return lambda role, cfg, pairs, seed: H.MpTarget(micropython_bin, role, cfg, pairs, seed)


def clean(out: H.Outcome) -> None:
    assert out.tried > 0
    assert out.unexpected == [], out.as_dict()
    assert out.wrong_accepts == 0, out.as_dict()
    assert out.survived, out.as_dict()


ROLES = pytest.mark.parametrize("role", ["F", "S"])


def cfg(role: str) -> dict[str, Any]:
    return CFG_F if role == "F" else CFG_S


@ROLES
def test_replay_into_the_existing_session(factory: H.TargetFactory, role: str) -> None:
    """REQ: REPLAY, unanswered (4.2 step 1); PROOF once confirmed: UNEXPECTED,
    answered; protected frames: REPLAY or BAD_KEY_INDEX (5.2); SRK/KEY at S:
    UNEXPECTED (5.1)."""
    out = H.attack_replay_existing(factory, role, cfg(role))
    clean(out)
    if role == "F":
        assert out.codes["REPLAY"] >= 1 and out.answers == {"UNEXPECTED": 1}, out.as_dict()


@ROLES
def test_replay_into_a_new_session(factory: H.TargetFactory, role: str) -> None:
    """A finished session's frames: UNKNOWN_SESSION as recorded; sid rewritten
    to the new session: AUTH_FAILED / BAD_KEY_INDEX / UNEXPECTED; a replayed
    REQ is a fresh request (new SRK frame, new sid), nothing more."""
    out = H.attack_replay_new(factory, role, cfg(role))
    clean(out)
    assert out.codes["UNKNOWN_SESSION"] >= 5, out.as_dict()


@ROLES
def test_replay_into_a_waiting_handshake(factory: H.TargetFactory, role: str) -> None:
    """An old PROOF (F: its t fails under the new KP) / old SRK and KEY (S) into a
    handshake waiting for exactly that frame: AUTH_FAILED (fresh nonces); the
    handshake completes."""
    clean(H.attack_replay_into_handshake(factory, role, cfg(role)))


@ROLES
def test_reflected_frames(factory: H.TargetFactory, role: str) -> None:
    """A station's own frames back to it: UNEXPECTED by type (3.2), and the
    protected ones fail on the direction byte of the nonce; never answered."""
    out = H.attack_reflect(factory, role, cfg(role))
    clean(out)
    assert not out.answers


@ROLES
def test_frames_spliced_between_two_sessions(factory: H.TargetFactory, role: str) -> None:
    clean(H.attack_splice(factory, role, cfg(role)))


@ROLES
def test_every_single_bit_flip(factory: H.TargetFactory, role: str) -> None:
    """Every bit of REQ/PROOF (F) or SRK/KEY (S), and of a DATA frame, flipped:
    the exact code of 4.4's order of checks (hostile.expected_code)."""
    out = H.attack_flipped_bits(factory, role, cfg(role))
    clean(out)
    assert out.tried > 500


def test_every_single_bit_flip_of_suite_2_frames_at_s(factory: H.TargetFactory) -> None:
    """Suite 2's SRK frame (auth, srk_pub) and KEY, flipped bit by bit at S."""
    out = H.attack_flipped_bits(factory, "S", {"offer": [2]}, peer_cfg=H.HOST_F2)
    clean(out)
    assert out.tried > 700 and out.codes["AUTH_FAILED"] > 400, out.as_dict()


def test_proof_under_a_stale_srk(factory: H.TargetFactory) -> None:
    """After its interval but within L: accepted (4.1). At request + L:
    SRK_EXPIRED, then the timer frees the slot (HANDSHAKE_FAILED(TIMEOUT)) and
    the proof is UNKNOWN_SESSION. After M x L: SRK_EXPIRED. Under an earlier
    interval's SRK (made with PS: t passes): BAD_PROOF, and the real proof
    still succeeds."""
    outs = H.attack_stale_srk(factory, CFG_F)
    assert len(outs) == 4
    for out in outs:
        assert out.unexpected == [] and out.wrong_accepts == 0 and out.survived, out.as_dict()
    assert outs[1].answers == {"SRK_EXPIRED": 1, "UNKNOWN_SESSION": 1}
    assert outs[2].codes == {"SRK_EXPIRED": 1}


def test_guessing_the_shared_parameter(factory: H.TargetFactory) -> None:
    """Random PROOFs: AUTH_FAILED at t; with the SRK compromised, PROOFs made
    with guessed PS: AUTH_FAILED at t too; the real PROOF is accepted afterwards
    (proof_tries 255); KEY stays closed. With the default proof_tries, three
    guesses and the half-open slot is gone; the peer's next handshake works."""
    no_srk, with_srk, limited = H.attack_guess_parameter(factory, CFG_F, tries=100)
    clean(no_srk)
    clean(with_srk)
    clean(limited)
    assert no_srk.codes == {"AUTH_FAILED": 100} and no_srk.answers == {"AUTH_FAILED": 100}
    assert with_srk.codes == {"AUTH_FAILED": 100}
    assert limited.codes == {"AUTH_FAILED": 3, "UNKNOWN_SESSION": 4}


@ROLES
def test_version_and_suite_downgrade(factory: H.TargetFactory, role: str) -> None:
    """ver != 2 (version 1's frames too): BAD_VERSION, never answered; another
    suite byte in an SRK frame: BAD_SUITE or MALFORMED; a PROOF of the other
    suite's length: MALFORMED; offers with no common suite: BAD_SUITE, invalid
    bits: MALFORMED."""
    out = H.attack_downgrade(factory, role, cfg(role))
    clean(out)
    assert "BAD_VERSION" not in out.answers


def test_offer_rewrite_cannot_pick_the_suite_host() -> None:
    """Host F and S: a rewritten offer fails S's check (AUTH_FAILED); S's
    genuine REQ is then a new request and the session uses the best suite."""
    def host(role: str, c: dict[str, Any], p: list[Pairing], s: bytes | None) -> H.Target:
        return H.HostTarget(role, c, p, s)
    suites = [s for s in wire.IMPLEMENTED_SUITES if s != 3]  # 3: a user record's, alone
    out = H.attack_offer_rewrite(host, host, suites, 0x03 if suites == [1] else 0x01)
    assert out.unexpected == [] and out.wrong_accepts == 0, out.as_dict()


def test_offer_rewrite_cannot_downgrade_suite_2_firmware(micropython_bin: str) -> None:
    def fw(role: str, c: dict[str, Any], p: list[Pairing], s: bytes | None) -> H.Target:
        return H.MpTarget(micropython_bin, role, c, p, s)
    out = H.attack_offer_rewrite(fw, fw, [2, 1], 0x01)
    assert out.unexpected == [] and out.wrong_accepts == 0, out.as_dict()


def test_flood_from_unknown_identities(factory: H.TargetFactory) -> None:
    """Thousands of REQs in one interval from claimed identities: one 4-byte
    ERROR(UNKNOWN_PEER) each and no state; an established session keeps
    working and a handshake started mid-flood completes (section 9)."""
    out = H.attack_flood(factory, CFG_F, n=2000)
    clean(out)
    assert out.codes == {"UNKNOWN_PEER": 2000} and out.answers == {"UNKNOWN_PEER": 2000}


def test_flood_with_paired_identities(factory: H.TargetFactory) -> None:
    """Paired identities in the flood hold at most one half-open slot each
    (4.2 step 3 (a)): with fewer of them than free slots the legitimate
    handshake still completes and no confirmed session is evicted."""
    out = H.attack_flood(factory, CFG_F, n=2000, paired_flooders=5)
    clean(out)


def test_forged_proofs_cost_no_job_and_free_the_slot(factory: H.TargetFactory) -> None:
    """Issue 12 item 1: forged suite-2 PROOFs for a half-open sid: AUTH_FAILED at
    t, answered, no job; the third frees the slot; later ones UNKNOWN_SESSION."""
    out = H.attack_forged_proofs(factory, {})
    clean(out)
    assert out.codes == {"AUTH_FAILED": 3, "UNKNOWN_SESSION": 6}, out.as_dict()
    assert out.answers == out.codes
    assert "jobs started by forged PROOFs: 0" in out.notes[0]


def test_zombie_sessions_lock_nobody_out(factory: H.TargetFactory) -> None:
    """Issue 12 item 2: 8 lost KEYs and 8 lost CLOSEs of one peer in a 4-slot
    table: never BUSY, each replaced (CLOSE(REPLACED)), another peer served."""
    out = H.attack_zombies(factory, CFG_F)
    clean(out)
    assert out.codes["REPLACED"] == 15, out.as_dict()


@ROLES
def test_frames_in_the_new_states(factory: H.TargetFactory, role: str) -> None:
    """Reflected, replayed and spliced frames in CHECKING and WAIT_CONFIRM (F)
    and PROVING (S): each with its code, the handshake then completes."""
    out = H.attack_new_states(factory, role)
    clean(out)
    assert out.tried >= (12 if role == "F" else 5)


def test_edge_cases_of_issue_12_item_5_on_the_host() -> None:
    """The differential harness's edge cases, host against host: the checks
    inside it (UNEXPECTED, the same KEY, a fresh SRK frame) hold."""
    def host(role: str, c: dict[str, Any], p: list[Pairing], s: bytes | None) -> H.Target:
        return H.HostTarget(role, c, p, s)
    res = H.differential_edge_cases(host, host)
    assert res.wrong_accepts == 0 and res.codes["UNEXPECTED"] == 1, res.as_dict()
    assert res.codes["HANDSHAKE_FAILED"] == 1 and res.codes["ESTABLISHED"] == 1


def test_flipped_bit_oracle_matches_the_spec_examples() -> None:
    """The oracle itself, on hand-made cases from 4.4."""
    srk = bytes((0x22,)) + (5).to_bytes(2, "big") + b"\x01" + bytes(36)
    key = bytes((0x24,)) + (5).to_bytes(2, "big") + bytes(24)
    assert H.expected_code(b"", "S", "WAIT_SRK", 0, 1) == 1
    assert H.expected_code(bytes((0x12,)) + srk[1:], "S", "WAIT_SRK", 0, 1) == 2  # version
    assert H.expected_code(bytes((0x2a,)) + srk[1:], "S", "WAIT_SRK", 0, 1) == 4  # type 10
    assert H.expected_code(bytes((0x23,)) + srk[1:], "S", "WAIT_SRK", 0, 1) == 5  # PROOF at S
    assert H.expected_code(bytes((0x26,)) + srk[1:], "S", "WAIT_SRK", 0, 1) == 1  # REKEY length
    assert H.expected_code(srk[:3] + b"\x00" + srk[4:], "S", "WAIT_SRK", 0, 1) == 3
    assert H.expected_code(srk[:3] + b"\x02" + srk[4:], "S", "WAIT_SRK", 0, 1) == 1
    assert H.expected_code(srk[:3], "S", "WAIT_SRK", 0, 1) == 1
    assert H.expected_code(srk[:1] + bytes(2) + srk[3:], "S", "WAIT_SRK", 0, 1) == 1  # sid 0
    assert H.expected_code(srk, "S", "WAIT_SRK", 0, 1) == 8
    assert H.expected_code(srk, "S", "WAIT_KEY", 5, 1) == 5
    assert H.expected_code(key, "S", "WAIT_KEY", 5, 1) == 8
    assert H.expected_code(key, "S", "WAIT_KEY", 6, 1) == 6
    assert H.expected_code(key, "S", "PROVING", 5, 1) == 5
    proof = bytes((0x23,)) + (5).to_bytes(2, "big") + bytes(24)
    assert H.expected_code(proof, "F", "WAIT_PROOF", 5, 1) == 8
    assert H.expected_code(proof, "F", "WAIT_PROOF", 5, 2) == 1  # the slot's suite
    assert H.expected_code(proof, "F", "CHECKING", 5, 1, checked=proof) == H.IGNORED
    assert H.expected_code(proof, "F", "WAIT_CONFIRM", 5, 1) == 5
    data = bytes((0x25,)) + (5).to_bytes(2, "big") + bytes(5) + bytes(8)
    assert H.expected_code(data, "F", "CHECKING", 5, 2) == 5
    assert H.expected_code(data, "F", "WAIT_CONFIRM", 5, 2) == 8
    assert H.expected_code(data[:4] + b"\x40" + data[5:], "F", "OPEN", 5, 2) == 1  # seq
