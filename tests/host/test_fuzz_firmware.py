"""Fuzzing the firmware's frame decoder and state machines inside MicroPython
with frames mutated and made up on the host: over step_driver (both roles,
and differentially against the host implementation) and over the serial
endpoint of a virtual board through the link simulator. Zero crashes, zero
hangs, every rejection an ERROR event with a code of section 6, and the good
sessions alive afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hostile as H
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


def test_fuzz_over_the_serial_endpoint(micropython_bin: str, tmp_path: Path) -> None:
    r = serial_fuzz(tmp_path, 300, micropython=micropython_bin)
    assert r["inputs"] == 300 and r["tracebacks"] == 0 and r["boots"] == 1, r
    assert r["echo_failures"] == 0 and r["session_alive_after"] and r["new_session_after"], r
    assert sum(r["rejected"].values()) > 150, r
    assert set(r["rejected"]) <= {name for name in H.Code.__members__}, r
