"""Helpers of the CLI, demo and deploy tests (not a test module).

* :func:`cli` runs ``python -m ephkey_host`` in a subprocess;
* :func:`record_session` makes a linksim-style tap of one session between the
  host's two stations (in memory, paced like 115200 8N1);
* :func:`free_port` gives a TCP port nothing listens on;
* :func:`processes_in` lists processes whose working directory is inside a
  folder (a virtual board runs with its flash folder as working directory),
  to check that nothing was left running.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ephkey_host import link
from ephkey_host.config import FirstConfig, Pairing, SecondConfig
from ephkey_host.drbg import Drbg
from ephkey_host.first import FirstStation
from ephkey_host.second import SecondStation

REPO = Path(__file__).resolve().parents[2]
BYTE_US = 86.806
PAIRING = Pairing(bytes.fromhex("f1f1f1f1f1f1f1f1"), bytes.fromhex("5e5e5e5e5e5e5e5e"),
                  bytes(range(32)))


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO / "host"), e.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return e


def cli(*args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ephkey_host", *args], capture_output=True,
                          text=True, timeout=timeout, env=env(), cwd=cwd or REPO)


def summary_of(stdout: str) -> dict[str, Any]:
    """The summary of ``peer --json``."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("EPHKEY ") and '"summary"' in line:
            obj: dict[str, Any] = json.loads(line[len("EPHKEY "):])
            return obj
    raise AssertionError("no summary line in:\n" + stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def processes_in(folder: Path) -> list[int]:
    folder = folder.resolve()
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(p / "cwd"))
        except OSError:
            continue
        if cwd == folder or folder in cwd.parents:
            out.append(int(p.name))
    return out


def record_session(messages: int = 12, size: int = 16, rotate_frames: int = 8, idrks: int = 4,
                   pairing: Pairing = PAIRING) -> list[dict[str, Any]]:
    """Tap records (hello first) of one suite-1 session: F on side A, S on side B.

    S connects, sends ``messages`` payloads that F echoes (keys rotate every
    ``rotate_frames`` DATA frames) and closes. Each frame is one data record.
    """
    f = FirstStation(FirstConfig(rotate_frames=rotate_frames, idrks=idrks, suites=[1]),
                     [pairing], Drbg(b"sniff-F"), 0)
    s = SecondStation(SecondConfig(offer=[1]), pairing, Drbg(b"sniff-S"), 0)
    records: list[dict[str, Any]] = [
        {"type": "hello", "baud": 115200, "frame": "8N1", "bits_per_byte": 10,
         "byte_us": BYTE_US}]
    t_us = 1000.0
    now = 0

    def carry(frames: list[bytes], direction: str, to: FirstStation | SecondStation) -> None:
        nonlocal t_us
        for fr in frames:
            wire = link.encode_frame(fr)
            records.append({"type": "data", "t_us": round(t_us, 3), "dir": direction,
                            "hex": wire.hex()})
            t_us += len(wire) * BYTE_US + 500
            to.receive(fr, now)

    s.connect(now)
    sent = 0
    while s.state != "IDLE" or sent == 0:
        now += 1
        carry(s.outputs(), "BA", f)
        carry(f.outputs(), "AB", s)
        for e in f.events():
            if e.name == "DATA":
                f.send_data(e.sid, e.payload or b"", now)
        for e in s.events():
            if e.name not in ("ESTABLISHED", "DATA"):
                continue
            if sent < messages:
                s.send_data(bytes([sent % 256]) * size, now)
                sent += 1
            else:
                s.close(now)
        if now > 10_000:
            raise AssertionError("the in-memory session did not finish")
    carry(s.outputs(), "BA", f)
    return records


def write_tap(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def wait_for_tap(sim: Any, timeout: float = 20) -> None:
    """Until a sniffer started beside a LinkSim has connected to its tap (a
    loaded machine starts Python slowly): frames sent before would not reach it."""
    deadline = time.monotonic() + timeout
    while sim.accepted["tap"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.accepted["tap"] == 1, "the sniffer never connected to the tap"
