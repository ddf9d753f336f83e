"""The firmware (in MicroPython) against the host (in CPython), over a pipe.

Each side only sees the other's frames: the MicroPython station runs in
tests/firmware/step_driver.py, one JSON step per line. Both orders of roles,
a suite-2 handshake (the defaults) with its jobs run by ``work`` steps, 100
exchanges each way and at least two key rotations.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ephkey_host.config import FirstConfig, Pairing, SecondConfig
from ephkey_host.first import FirstStation
from ephkey_host.second import SecondStation

REPO = Path(__file__).resolve().parents[2]
ID_F, ID_S = b"FIRST-01", b"SECOND01"
FIRST = {"rotate_frames": 32, "idrks": 8}


class MpStation:
    """A firmware station in a MicroPython subprocess."""

    def __init__(self, micropython: str, role: str, config: dict, pairing: dict):
        env = dict(os.environ, MICROPYPATH="firmware:tests/firmware:.frozen")
        self.p = subprocess.Popen(
            [micropython, "tests/firmware/step_driver.py"], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        key = "pairings" if role == "F" else "pairing"
        self._line({"role": role, "config": config,
                    key: [pairing] if role == "F" else pairing, "rng_seed": None, "t0": 0})

    def _line(self, obj: dict) -> dict:
        assert self.p.stdin and self.p.stdout
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()
        reply = json.loads(self.p.stdout.readline())
        assert "exception" not in reply, reply
        return reply

    def step(self, **step) -> tuple[list[bytes], list[dict]]:
        r = self._line(step)
        return [bytes.fromhex(f) for f in r["out"]], r["events"]

    def deliver(self, frame: bytes, t: int) -> tuple[list[bytes], list[dict]]:
        """receive, then work (an event loop runs the job a frame may have started)."""
        out, evs = self.step(op="receive", t=t, **{"in": frame.hex()})
        more, evs2 = self.step(op="work", t=t)
        return out + more, evs + evs2

    def close(self) -> None:
        assert self.p.stdin
        self.p.stdin.close()
        self.p.wait(timeout=10)


def _pairing() -> dict:
    ps = os.urandom(16)
    return {"id_f": ID_F.hex(), "id_s": ID_S.hex(), "ps": ps.hex()}


def _host_events(st) -> list[tuple[str, int]]:
    return [(e.name, e.arg) for e in st.events()]


@pytest.fixture
def pairing() -> dict:
    return _pairing()


def _hp(p: dict) -> Pairing:
    return Pairing(bytes.fromhex(p["id_f"]), bytes.fromhex(p["id_s"]), bytes.fromhex(p["ps"]))


def test_micropython_first_station_with_host_second_station(micropython_bin, pairing):
    mp = MpStation(micropython_bin, "F", FIRST, pairing)
    s = SecondStation(SecondConfig(), _hp(pairing), os.urandom, 0)
    try:
        t = 0
        for _ in range(2):
            mp.step(op="prepare", t=t)  # intervals 0 and 1
        assert mp.step(op="work", t=t) == ([], [])
        s.connect(t)
        for _ in range(2):  # REQ -> SRK, PROOF -> KEY
            out, _ = mp.deliver(s.outputs()[0], t)
            s.receive(out[0], t)
            s.run_jobs(t)
        assert ("ESTABLISHED", 0) in _host_events(s) and s.suite == 2
        sid = s.sid
        rotations_f = rotations_s = 0
        for i in range(100):
            t += 10
            msg = b"host->fw %03d" % i
            s.send_data(msg, t)
            for frame in s.outputs():
                out, evs = mp.step(op="receive", t=t, **{"in": frame.hex()})
                rotations_f += sum(e["event"] == "ROTATED" for e in evs)
                for f in out:  # a REKEY from F after its count
                    s.receive(f, t)
                data = [e for e in evs if e["event"] == "DATA"]
                assert [bytes.fromhex(e["payload"]) for e in data] == [msg]
            reply = b"fw->host %03d" % i
            out, _ = mp.step(op="send", t=t, sid=sid, payload=reply.hex())
            for f in out:
                s.receive(f, t)
            evs = s.events()
            rotations_s += sum(e.name == "ROTATED" for e in evs)
            assert [e.payload for e in evs if e.name == "DATA"] == [reply]
            for frame in s.outputs():  # KEY_ACKs
                out, evs = mp.step(op="receive", t=t, **{"in": frame.hex()})
                rotations_f += sum(e["event"] == "ROTATED" for e in evs)
                for f in out:
                    s.receive(f, t)
        assert rotations_f >= 2 and rotations_s == rotations_f, (rotations_f, rotations_s)
    finally:
        mp.close()


def test_host_first_station_with_micropython_second_station(micropython_bin, pairing):
    f = FirstStation(FirstConfig(**FIRST), [_hp(pairing)], os.urandom, 0)
    mp = MpStation(micropython_bin, "S", {}, pairing)
    try:
        t = 0
        f.prepare(t)
        f.run_jobs(t)
        out, _ = mp.step(op="connect", t=t)
        for _ in range(2):  # REQ -> SRK, PROOF -> KEY
            f.receive(out[0], t)
            f.run_jobs(t)
            out, evs = mp.deliver(f.outputs()[0], t)
        assert [e["event"] for e in evs] == ["ESTABLISHED"]
        assert f.session_suite(evs[0]["sid"]) == 2
        sid = evs[0]["sid"]
        assert ("ESTABLISHED", 0) in _host_events(f)
        rotations_f = rotations_s = 0

        def to_mp(frames: list[bytes]) -> list[dict]:
            nonlocal rotations_s
            got = []
            for frame in frames:
                back, evs = mp.step(op="receive", t=t, **{"in": frame.hex()})
                rotations_s += sum(e["event"] == "ROTATED" for e in evs)
                got += evs
                for b in back:  # KEY_ACKs
                    f.receive(b, t)
            return got

        for i in range(100):
            t += 10
            msg = b"fw->host %03d" % i
            out, _ = mp.step(op="send", t=t, payload=msg.hex())
            for frame in out:
                f.receive(frame, t)
            evs = f.events()
            rotations_f += sum(e.name == "ROTATED" for e in evs)
            assert [e.payload for e in evs if e.name == "DATA"] == [msg]
            to_mp(f.outputs())  # a REKEY after F's count
            rotations_f += sum(e.name == "ROTATED" for e in f.events())
            reply = b"host->fw %03d" % i
            f.send_data(sid, reply, t)
            got = to_mp(f.outputs())
            rotations_f += sum(e.name == "ROTATED" for e in f.events())
            assert [bytes.fromhex(e["payload"]) for e in got if e["event"] == "DATA"] == [reply]
        assert rotations_f >= 2 and rotations_s == rotations_f, (rotations_f, rotations_s)
    finally:
        mp.close()
