"""Suite 3 (docs/protocol.md 15.10) between the two implementations: the
firmware in MicroPython (tests/firmware/step_driver.py) against the host, in
both orders of roles, with live randomness: the right secret establishes a
session that carries DATA both ways; a wrong one ends at both stations with
WRONG_CODE. Neither side shares code with the other: agreeing is the check."""

from __future__ import annotations

import os

import pytest
from test_cross_implementation import MpStation

from ephkey_host.config import FirstConfig, Pairing, SecondConfig
from ephkey_host.errors import Code
from ephkey_host.first import FirstStation
from ephkey_host.second import SecondStation

pytestmark = pytest.mark.timeout(120)

ID_F, ID_S = b"FIRST-03", b"SECOND03"
SECRET = b"a user's secret, 2718"


def record(secret: bytes = SECRET) -> dict:
    return {"id_f": ID_F.hex(), "id_s": ID_S.hex(), "user": secret.hex()}


def host_events(st: FirstStation | SecondStation) -> list[tuple[str, int]]:
    return [(e.name, e.arg) for e in st.events()]


@pytest.mark.parametrize("typed", [SECRET, b"not the secret"])
def test_micropython_first_station_with_host_second_station(micropython_bin: str,
                                                            typed: bytes) -> None:
    mp = MpStation(micropython_bin, "F", {"suites": [3, 2]}, record())
    s = SecondStation(SecondConfig(offer=[3]), Pairing.from_json(record()).for_second(),
                      os.urandom, 0)
    try:
        mp.step(op="prepare", t=0)
        assert mp.step(op="work", t=0) == ([], [])
        s.connect(1, typed)
        (srk,), _ = mp.deliver(s.outputs()[0], 2)  # REQ: SHARING, then the SRK frame
        assert len(srk) == 80 and srk[3] == 3
        s.receive(srk, 3)
        s.run_jobs(3)
        (proof,) = s.outputs()
        (answer,), evs = mp.deliver(proof, 4)
        s.receive(answer, 5)
        if typed != SECRET:
            assert answer[0] == 0x2F and answer[3] == Code.WRONG_CODE
            assert [(e["event"], e["arg"]) for e in evs] == [
                ("ERROR", Code.WRONG_CODE), ("HANDSHAKE_FAILED", Code.WRONG_CODE)]
            assert host_events(s) == [("PEER_ERROR", Code.WRONG_CODE),
                                      ("HANDSHAKE_FAILED", Code.WRONG_CODE)]
            return
        assert [e["event"] for e in evs] == ["ESTABLISHED"]
        assert host_events(s) == [("ESTABLISHED", 0)] and s.suite == 3
        s.send_data(b"host->fw", 6)
        _, evs = mp.step(op="receive", t=6, **{"in": s.outputs()[0].hex()})
        assert [bytes.fromhex(e["payload"]) for e in evs if e["event"] == "DATA"] == [b"host->fw"]
        out, _ = mp.step(op="send", t=7, sid=s.sid, payload=b"fw->host".hex())
        s.receive(out[0], 7)
        assert [e.payload for e in s.events()] == [b"fw->host"]
    finally:
        mp.close()


@pytest.mark.parametrize("typed", [SECRET, b"not the secret"])
def test_host_first_station_with_micropython_second_station(micropython_bin: str,
                                                            typed: bytes) -> None:
    f = FirstStation(FirstConfig(suites=[3, 2]), [Pairing.from_json(record())], os.urandom, 0)
    mp = MpStation(micropython_bin, "S", {"offer": [3]},
                   {"id_f": ID_F.hex(), "id_s": ID_S.hex(), "user": True})
    try:
        f.prepare(0)
        f.run_jobs(0)
        (req,), _ = mp.step(op="connect", t=1, secret=typed.hex())
        f.receive(req, 2)
        f.run_jobs(2)
        (srk,) = f.outputs()
        (proof,), _ = mp.deliver(srk, 3)
        assert len(proof) == 91
        f.receive(proof, 4)
        f.run_jobs(4)
        (answer,) = f.outputs()
        out, evs = mp.deliver(answer, 5)
        if typed != SECRET:
            assert answer[0] == 0x2F and answer[3] == Code.WRONG_CODE
            assert host_events(f) == [("ERROR", Code.WRONG_CODE),
                                      ("HANDSHAKE_FAILED", Code.WRONG_CODE)]
            assert [(e["event"], e["arg"]) for e in evs] == [
                ("PEER_ERROR", Code.WRONG_CODE), ("HANDSHAKE_FAILED", Code.WRONG_CODE)]
            return
        assert [e["event"] for e in evs] == ["ESTABLISHED"]
        sid = evs[0]["sid"]
        assert host_events(f) == [("ESTABLISHED", 0)] and f.session_suite(sid) == 3
        out, _ = mp.step(op="send", t=6, payload=b"fw->host".hex())
        f.receive(out[0], 6)
        assert [e.payload for e in f.events()] == [b"fw->host"]
        f.send_data(sid, b"host->fw", 7)
        _, evs = mp.step(op="receive", t=7, **{"in": f.outputs()[0].hex()})
        assert [bytes.fromhex(e["payload"]) for e in evs if e["event"] == "DATA"] == [b"host->fw"]
    finally:
        mp.close()
