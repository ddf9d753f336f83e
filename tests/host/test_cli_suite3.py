"""Suite 3 from the command line (docs/protocol.md 15.10): `pair
--user-secret-stdin` writes the user records, `peer --secret-stdin` plays the
second station with the user's secret against a host first station, over
tools/linksim.py. The secret is never printed, and one on the command line
comes with a warning."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostkit import cli, env, summary_of

from ephkey_host.pairing import load_station_file
from linksim import LinkSim

pytestmark = pytest.mark.timeout(90)

SECRET = "correct horse 2718"
IDS = ("f3f3f3f3f3f3f3f3", "5353535353535353")


@pytest.fixture
def sim() -> Iterator[LinkSim]:
    with LinkSim(baud=115200) as s:
        yield s


def run(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ephkey_host", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, env=env())


def user_files(tmp_path: Path, secret: str = SECRET) -> tuple[Path, Path]:
    proc = run("pair", "--out", str(tmp_path), "--ids", *IDS, "--user-secret-stdin",
               stdin=secret + "\n")
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    assert secret.encode().hex() not in proc.stdout + proc.stderr
    return tmp_path / "first" / "ephkey_pairing.json", tmp_path / "second" / "ephkey_pairing.json"


def test_pair_user_secret_stdin_writes_the_user_records(tmp_path: Path) -> None:
    first, second = user_files(tmp_path)
    f_doc, s_doc = json.loads(first.read_text()), json.loads(second.read_text())
    assert f_doc["peers"] == [{"id": IDS[1], "user": SECRET.encode().hex()}]
    assert s_doc["peers"] == [{"id": IDS[0], "user": True}]  # S stores no secret
    (f_rec,) = load_station_file(first, "first")
    (s_rec,) = load_station_file(second, "second")
    assert f_rec.user == SECRET.encode() and f_rec.ps == b""
    assert s_rec.user == b"" and s_rec.is_user
    for bad in ("short", "x" * 65):  # 8 to 64 bytes
        proc = run("pair", "--out", str(tmp_path / bad[:5]), "--user-secret-stdin",
                   stdin=bad + "\n")
        assert proc.returncode == 2 and "8 to 64 bytes" in proc.stderr
    proc = run("pair", "--code", "042917", "--port", "socket://127.0.0.1:1", "--host-as",
               "second", "--user-secret-stdin", stdin=SECRET + "\n")
    assert proc.returncode == 2


def host_first(sim: LinkSim, first: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ephkey_host", "peer", "--role", "first",
         "--port", f"socket://127.0.0.1:{sim.port_a}", "--pairing", str(first),
         "--sessions", "1", "--timeout", "30", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())


def test_peer_plays_the_user_at_s_against_a_host_first_station(tmp_path: Path,
                                                              sim: LinkSim) -> None:
    first, second = user_files(tmp_path)
    f = host_first(sim, first)
    try:
        proc = run("peer", "--role", "second", "--port", f"socket://127.0.0.1:{sim.port_b}",
                   "--pairing", str(second), "--secret-stdin", "--messages", "6",
                   "--timeout", "30", "--json", stdin=SECRET + "\n")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        s = summary_of(proc.stdout)
        assert s["ok"] is True and s["messages"] == 6 and s["handshakes"] == 1
        out, err = f.communicate(timeout=40)
        assert f.returncode == 0, out + err
        assert summary_of(out)["ok"] is True
        assert SECRET not in proc.stdout + proc.stderr + out + err
    finally:
        if f.poll() is None:
            f.kill()
            f.communicate()


def test_a_wrong_secret_ends_with_wrong_code_and_a_hint(tmp_path: Path, sim: LinkSim) -> None:
    first, second = user_files(tmp_path)
    f = host_first(sim, first)
    try:
        proc = run("peer", "--role", "second", "--port", f"socket://127.0.0.1:{sim.port_b}",
                   "--pairing", str(second), "--user-secret", "not the secret",
                   "--messages", "2", "--timeout", "20", "--json")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "--user-secret puts the secret where other users can read it" in proc.stderr
        s = summary_of(proc.stdout)
        assert s["ok"] is False and s["reasons"] == {"HANDSHAKE_WRONG_CODE": 1}
        assert "WRONG_CODE" in s["hint"] and s["handshakes_started"] == 1
    finally:
        f.kill()
        out, _ = f.communicate()
    events = [json.loads(ln[7:]) for ln in out.splitlines() if ln.startswith("EPHKEY ")]
    assert {"role": "first", "ev": "error", "sid": events[-1]["sid"],
            "code": "WRONG_CODE"} in events


def test_peer_usage_errors_for_the_user_secret(tmp_path: Path) -> None:
    first, second = user_files(tmp_path)
    port = "socket://127.0.0.1:1"
    proc = cli("peer", "--role", "second", "--port", port, "--pairing", str(second))
    assert proc.returncode == 2 and "--secret-stdin" in proc.stderr
    proc = run("peer", "--role", "first", "--port", port, "--pairing", str(first),
               "--secret-stdin", stdin=SECRET + "\n")
    assert proc.returncode == 2 and "first station's record holds it" in proc.stderr
    ps_files = tmp_path / "ps"
    assert cli("pair", "--out", str(ps_files)).returncode == 0
    proc = run("peer", "--role", "second", "--port", port, "--pairing",
               str(ps_files / "second" / "ephkey_pairing.json"), "--secret-stdin",
               stdin=SECRET + "\n")
    assert proc.returncode == 2 and "holds a pairing secret" in proc.stderr
