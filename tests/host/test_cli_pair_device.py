"""`ephkey pair --code/--show-code`: device pairing over a link (spec section 15).

Two host processes through tools/linksim.py (a 115200 8N1 line): one shows
a code as first station, the other types it as second station; both write
pairing files that describe the same pair, and nothing prints the secret. A
wrong code ends the second station with exit 1 and WRONG_CODE on both; the
first station stays armed for the code typed again.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostkit import REPO, cli, env

from ephkey_host.pairing import load_station_file, read_doc
from linksim import LinkSim

pytestmark = pytest.mark.timeout(90)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ephkey_host", "pair", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(), cwd=REPO)


def shown_code(proc: subprocess.Popen[str], timeout: float = 20) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"code (\d{6}):", line)
        if m:
            return m.group(1)
    raise AssertionError("no code shown")


def test_host_pairs_with_host_over_the_link(tmp_path: Path) -> None:
    with LinkSim(baud=115200) as sim:
        f = start("--show-code", "--port", f"socket://127.0.0.1:{sim.port_a}", "--host-as",
                  "first", "--host-file", str(tmp_path / "f.json"), "--window", "30")
        try:
            code = shown_code(f)
            s = cli("pair", "--code", code, "--port", f"socket://127.0.0.1:{sim.port_b}",
                    "--host-as", "second", "--host-file", str(tmp_path / "s.json"),
                    "--window", "30", timeout=60)
            out_f, err_f = f.communicate(timeout=30)
        finally:
            if f.poll() is None:
                f.kill()
                f.communicate()
    assert s.returncode == 0, s.stdout + s.stderr
    assert f.returncode == 0, out_f + err_f
    assert "PAIRED" in s.stdout and "pair: OK" in s.stdout and "PAIRED" in out_f
    (pf,) = load_station_file(tmp_path / "f.json", "first")
    (ps,) = load_station_file(tmp_path / "s.json", "second")
    assert pf == ps and len(pf.ps) == 32
    secret = pf.ps.hex()
    assert secret not in s.stdout + s.stderr + out_f + err_f
    # pairing again keeps the first station's identity and adds the new peer
    with LinkSim(baud=115200) as sim:
        f = start("--code", "123456", "--port", f"socket://127.0.0.1:{sim.port_a}",
                  "--host-as", "first", "--host-file", str(tmp_path / "f.json"),
                  "--window", "30")
        try:
            s2 = cli("pair", "--code", "123456", "--port", f"socket://127.0.0.1:{sim.port_b}",
                     "--host-as", "second", "--host-file", str(tmp_path / "s2.json"),
                     timeout=60)
            # F wrote its file at PAIRED; it would linger 5 s for repeats: stop it
            f.terminate()
            f.communicate(timeout=30)
        finally:
            if f.poll() is None:
                f.kill()
                f.communicate()
    assert s2.returncode == 0, s2.stdout + s2.stderr
    doc = read_doc(tmp_path / "f.json")
    assert doc["self"] == pf.id_f.hex() and len(doc["peers"]) == 2


def test_wrong_code_fails_on_both_hosts(tmp_path: Path) -> None:
    with LinkSim(baud=115200) as sim:
        f = start("--code", "111111", "--port", f"socket://127.0.0.1:{sim.port_a}",
                  "--host-as", "first", "--host-file", str(tmp_path / "f.json"),
                  "--window", "10", "--json")
        try:
            time.sleep(0.5)
            s = cli("pair", "--code", "111112", "--port", f"socket://127.0.0.1:{sim.port_b}",
                    "--host-as", "second", "--host-file", str(tmp_path / "s.json"),
                    timeout=60)
            time.sleep(0.3)
            assert f.poll() is None  # F stays armed after a wrong code (until its window ends)
            f.terminate()
            out_f, _ = f.communicate(timeout=30)
        finally:
            if f.poll() is None:
                f.kill()
                f.communicate()
    assert s.returncode == 1, s.stdout + s.stderr
    assert "failed, WRONG_CODE: the codes differ" in s.stdout and "pair: FAILED" in s.stdout
    assert '"ev": "pair_failed"' in out_f and '"code": "WRONG_CODE"' in out_f
    assert not (tmp_path / "f.json").exists() and not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("args, says", [
    (["--code", "12345", "--port", "x", "--host-as", "second"], "6 digits"),
    (["--code", "123456", "--show-code", "--port", "x", "--host-as", "second"], "not both"),
    (["--code", "123456", "--host-as", "second"], "--port"),
    (["--code", "123456", "--port", "x"], "--host-as"),
    (["--code", "123456", "--port", "x", "--host-as", "first", "--out", "d"], "file modes"),
    (["--code", "123456", "--port", "x", "--host-as", "first", "--window", "5"], "10..600"),
])
def test_device_pairing_usage_errors(tmp_path: Path, args: list[str], says: str) -> None:
    proc = cli("pair", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stderr


def test_damaged_host_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "h.json").write_text("{not json")
    proc = cli("pair", "--code", "123456", "--port", "socket://127.0.0.1:1", "--host-as",
               "first", "--host-file", str(tmp_path / "h.json"))
    assert proc.returncode == 2 and "not a usable pairing file" in proc.stderr
    assert (tmp_path / "h.json").read_text() == "{not json"


def test_unreachable_link_is_exit_3(tmp_path: Path) -> None:
    proc = cli("pair", "--code", "123456", "--port", "socket://127.0.0.1:1", "--host-as",
               "second", "--host-file", str(tmp_path / "h.json"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert not (tmp_path / "h.json").exists()
