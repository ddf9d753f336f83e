"""`python -m ephkey_host peer` against a virtual board, through the link simulator.

The board's UART is side A of a LinkSim (its vboard.json names it); the host
connects to side B with pyserial's socket:// URL, as it would open a
USB-serial adapter wired to a real board's UART pins. Both roles: the host as
second station against a first-station board, and the host as first station
against a second-station board. Keys rotate every 16 DATA frames.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostkit import cli, env, free_port, processes_in, summary_of

import deploy
from ephkey_host.devices import Console, parse_event
from linksim import LinkSim
from vboard import VirtualBoard

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


@pytest.fixture
def sim() -> Iterator[LinkSim]:
    with LinkSim(baud=115200) as s:
        yield s


def board_events(board: VirtualBoard) -> list[dict[str, Any]]:
    out = []
    for line in board.output_tail().decode("utf-8", "replace").splitlines():
        ev = parse_event(line)
        if ev:
            out.append(ev)
    return out


def wait_event(board: VirtualBoard, kind: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in board_events(board):
            if ev.get("ev") == kind:
                return ev
        time.sleep(0.02)
    raise AssertionError(f"no {kind} event from {board.name}: {board.output_tail()[-2000:]!r}")


def test_host_second_station_vs_board_first_station(tmp_path: Path, sim: LinkSim,
                                                    micropython_bin: str) -> None:
    flash = tmp_path / "flash"
    board = VirtualBoard(flash, uart_port=sim.port_a, name="peer-first",
                         micropython=[micropython_bin]).start()
    try:
        assert board.wait_ready(15), board.output_tail()
        host_file = tmp_path / "host.json"
        # pair over the board's REPL with mpremote, as with a real board
        proc = cli("pair", "--port", board.url, "--host-as", "second", "--host-file",
                   str(host_file))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (flash / "ephkey_pairing.json").exists() and host_file.exists()
        ps = json.loads(host_file.read_text())["peers"][0]["ps"]
        assert ps not in proc.stdout + proc.stderr
        # the firmware files as deploy writes them (mpremote deploys are in test_cli_deploy)
        doc = deploy.board_file(deploy.load_board("unix"), "first",
                                overrides={"first": {"rotate_frames": 16, "idrks": 4}})
        deploy.install_to_folder(flash, doc, log=lambda _line: None)
        with Console(board.url) as con:
            con.soft_reset()
            wait_event(board, "up")
        # 40 echoes = 80 DATA frames: keys 0..3 carry 64, then F closes the session
        # with KEYS_EXHAUSTED and the host opens a new one for the rest.
        proc = cli("peer", "--role", "second", "--port", f"socket://127.0.0.1:{sim.port_b}",
                   "--pairing", str(host_file), "--messages", "40", "--size", "24",
                   "--timeout", "40", "--json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        s = summary_of(proc.stdout)
        assert s["ok"] is True and s["messages"] == 40 and s["corrupt"] == 0
        assert s["rotations"] >= 3 and s["keys_exhausted"] >= 1 and s["handshakes"] >= 2
        assert 0 <= s["handshake_ms"] < 2000
        assert s["link"]["crc_errors"] == 0 and s["bytes_in"] > 40 * 44
        events = [json.loads(ln[7:])["ev"] for ln in proc.stdout.splitlines()
                  if ln.startswith("EPHKEY ")]
        assert events[:2] == ["connect", "established"] and "rotated" in events
        board_evs = [e["ev"] for e in board_events(board)]
        assert "established" in board_evs and "rotated" in board_evs
        rejected = [e for e in board_events(board) if e["ev"] == "rejected"]
        # a frame of the host still in flight when F closed: UNKNOWN_SESSION, nothing else
        assert all(e["code"] == "UNKNOWN_SESSION" for e in rejected), rejected
    finally:
        board.stop()
    assert not processes_in(flash)


def test_host_first_station_vs_board_second_station(tmp_path: Path, sim: LinkSim,
                                                    micropython_bin: str) -> None:
    pairs = tmp_path / "pairs"
    assert cli("pair", "--out", str(pairs)).returncode == 0
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "ephkey_pairing.json").write_bytes(
        (pairs / "second" / "ephkey_pairing.json").read_bytes())
    doc = deploy.board_file(deploy.load_board("unix"), "second", messages=40)
    deploy.install_to_folder(flash, doc, log=lambda _line: None)
    host = subprocess.Popen(
        [sys.executable, "-m", "ephkey_host", "peer", "--role", "first",
         "--port", f"socket://127.0.0.1:{sim.port_b}",
         "--pairing", str(pairs / "first" / "ephkey_pairing.json"),
         "--set", "rotate_frames=16", "--set", "idrks=8", "--sessions", "1",
         "--timeout", "40", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    board = VirtualBoard(flash, uart_port=sim.port_a, name="peer-second",
                         micropython=[micropython_bin])
    try:
        time.sleep(0.5)  # the host station listens first; the board starts at boot
        board.start()  # main.py runs at boot: the second station connects at once
        out, err = host.communicate(timeout=60)
        assert host.returncode == 0, out + err
        s = summary_of(out)
        assert s["ok"] is True and s["closed_ok"] == 1 and s["echoed"] == 40
        assert s["rotations"] >= 4 and s["link"]["crc_errors"] == 0
        summary = wait_event(board, "summary")
        assert summary["ok"] is True and summary["messages"] == 40
        assert summary["rotations"] >= 4 and summary["corrupt"] == 0
    finally:
        if host.poll() is None:
            host.kill()
            host.communicate()
        board.stop()
    assert not processes_in(flash)


def test_peer_port_and_config_errors(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs"
    assert cli("pair", "--out", str(pairs)).returncode == 0
    host_file = str(pairs / "second" / "ephkey_pairing.json")
    closed = f"socket://127.0.0.1:{free_port()}"
    proc = cli("peer", "--role", "second", "--port", closed, "--pairing", host_file)
    assert proc.returncode == 3 and "cannot open" in proc.stderr
    proc = cli("peer", "--role", "second", "--port", "/dev/nonexistent-tty", "--pairing",
               host_file)
    assert proc.returncode == 3
    assert cli("peer", "--role", "second", "--port", closed, "--pairing",
               str(tmp_path / "none.json")).returncode == 2
    assert cli("peer", "--role", "first", "--ble", "ephkey-x", "--pairing",
               host_file).returncode == 2
    assert cli("peer", "--role", "second", "--port", closed, "--pairing", host_file,
               "--set", "max_tries=0").returncode == 2
    assert cli("peer", "--port", closed, "--pairing", host_file).returncode == 2


def test_peer_set_names_the_valid_keys(tmp_path: Path) -> None:
    """An unknown --set key is a usage error that lists the role's keys (no
    Python internals), and a key of the other role says so."""
    pairs = tmp_path / "pairs"
    assert cli("pair", "--out", str(pairs)).returncode == 0
    host_file = str(pairs / "second" / "ephkey_pairing.json")
    closed = f"socket://127.0.0.1:{free_port()}"
    proc = cli("peer", "--role", "second", "--port", closed, "--pairing", host_file,
               "--set", "rotate_frames=16")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "rotate_frames is a first station setting" in proc.stderr
    assert "valid keys: retry_ms" in proc.stderr
    proc = cli("peer", "--role", "second", "--port", closed, "--pairing", host_file,
               "--set", "bogus=1")
    assert proc.returncode == 2 and "valid keys:" in proc.stderr
    for text in ("TypeError", "unexpected keyword", "Traceback", "__init__"):
        assert text not in proc.stderr, proc.stderr
    board = tmp_path / "board.json"
    board.write_text(json.dumps({"second": {"bogus": 1}}))
    proc = cli("peer", "--role", "second", "--port", closed, "--pairing", host_file,
               "--board", str(board))
    assert proc.returncode == 2 and "second.bogus is not a second station setting" in proc.stderr


def test_peer_unknown_to_the_board_fails_fast_with_a_hint(tmp_path: Path, sim: LinkSim,
                                                          micropython_bin: str) -> None:
    """A host whose identity the board does not know stops after one handshake's
    retries (not at --timeout) and says to pair again."""
    board_pairs, host_pairs = tmp_path / "board", tmp_path / "host"
    assert cli("pair", "--out", str(board_pairs)).returncode == 0
    assert cli("pair", "--out", str(host_pairs)).returncode == 0  # another pair altogether
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "ephkey_pairing.json").write_bytes(
        (board_pairs / "first" / "ephkey_pairing.json").read_bytes())
    doc = deploy.board_file(deploy.load_board("unix"), "first")
    deploy.install_to_folder(flash, doc, log=lambda _line: None)
    board = VirtualBoard(flash, uart_port=sim.port_a, name="peer-unknown",
                         micropython=[micropython_bin]).start()
    try:
        wait_event(board, "up")
        t0 = time.monotonic()
        proc = cli("peer", "--role", "second", "--port", f"socket://127.0.0.1:{sim.port_b}",
                   "--pairing", str(host_pairs / "second" / "ephkey_pairing.json"),
                   "--set", "retry_ms=300", "--timeout", "60", "--json")
        elapsed = time.monotonic() - t0
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert elapsed < 15, elapsed  # 5 tries x 300 ms, not the 60 s timeout
        s = summary_of(proc.stdout)
        assert s["handshakes_started"] == 1 and "UNKNOWN_PEER" in s["hint"]
        assert "pair the two again" in proc.stderr
    finally:
        board.stop()
