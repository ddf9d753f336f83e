"""tools/demo.py (`make demo`): two virtual boards, paired and deployed with
mpremote, establish a session through the link simulator; every frame valid.
Also: Ctrl-C leaves no process behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostkit import REPO, env, processes_in

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def test_demo(tmp_path: Path, micropython_bin: str) -> None:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py"), "--workdir", str(tmp_path),
         "--messages", "60", "--rotate-frames", "24"],
        capture_output=True, text=True, timeout=110, env=dict(env(), MICROPYTHON=micropython_bin))
    elapsed = time.monotonic() - t0
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert elapsed < 60, elapsed
    wire = [ln for ln in out.splitlines() if "->" in ln and "(S->F)" in ln or "(F->S)" in ln]
    types = {t for ln in wire for t in ("REQ", "SRK", "PROOF", "KEY ", "REKEY", "KEY_ACK",
                                        "CLOSE", "DATA") if f" {t}" in ln}
    assert types == {"REQ", "SRK", "PROOF", "KEY ", "REKEY", "KEY_ACK", "CLOSE", "DATA"}
    assert all(ln.rstrip().endswith(" ok") for ln in wire if "DATA frames" not in ln), out
    assert "DATA frames, all valid" in out  # the middle of the exchange is summarised
    assert "sniffer: verdict: all frames valid, no link drops" in out
    assert "second station: EPHKEY {" in out and '"ok": true' in out
    assert "handshake:" in out and "ms on the wire (REQ -> KEY)" in out
    assert "demo: OK" in out
    assert (tmp_path / "tap.jsonl").stat().st_size > 0
    assert not processes_in(tmp_path)


def test_demo_interrupted_cleans_up(tmp_path: Path, micropython_bin: str) -> None:
    demo = subprocess.Popen(
        [sys.executable, str(REPO / "tools" / "demo.py"), "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(env(), MICROPYTHON=micropython_bin))
    try:
        assert demo.stdout
        for line in demo.stdout:
            if "first: deploy:" in line:  # mpremote is copying files
                break
        assert processes_in(tmp_path), "the virtual boards should be running by now"
        t0 = time.monotonic()
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=30)
        assert time.monotonic() - t0 < 8  # it does not wait for the deploys to finish
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 130
    deadline = time.monotonic() + 10
    while processes_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)  # mpremote children notice their board is gone
    assert not processes_in(tmp_path)


@pytest.mark.parametrize("args, says", [
    (["--size", "0"], "--size must be 4..256"),
    (["--size", "300"], "--size must be 4..256"),
    (["--messages", "-1"], "--messages must be >= 0"),
    (["--rotate-frames", "0"], "rotate_frames"),
    (["--idrks", "0"], "idrks"),
    (["--suite", "3"], "invalid choice"),
])
def test_demo_usage_errors_stop_before_anything_starts(tmp_path: Path, args: list[str],
                                                        says: str) -> None:
    """A bad option exits 2 with the reason, before any link or board is started."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py"), "--workdir", str(tmp_path / "w"),
         *args], capture_output=True, text=True, timeout=30, env=env())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stderr, proc.stderr
    assert "link:" not in proc.stdout and not (tmp_path / "w").exists()
