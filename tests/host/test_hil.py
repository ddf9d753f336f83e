"""Hardware in the loop: `make test PORT=... [PORT2=...] [PEER_PORT=... | PEER_BLE=...]`.

* the host as peer of the board at PORT, in the role its board file gives
  it: the firmware is deployed with tools/deploy.py, the host and the board
  are paired with `pair --port PORT --host-as ...`, the board is reset from
  its console (PORT) and the host talks to it over PEER_PORT, a USB-serial
  adapter wired to the board's UART pins (TX to RX, RX to TX, GND to GND), or
  over BLE (PEER_BLE=<the board's BLE name>; the board is then deployed with
  transport "ble" and must be a first station, and needs aioble);
* two boards, PORT as first station and PORT2 as second, paired with
  `pair --port PORT --port2 PORT2`, talking over their UARTs (wired to each
  other): the second station's summary must be ok with at least 2 rotations.

A board whose board file says "transport": "usb" (its console carries the
link, e.g. the emulated board: `python tools/emuboard.py --flash DIR
--repl-port 7101`, then `make test PORT=socket://127.0.0.1:7101`) needs no
PEER_PORT: the host is its peer on PORT itself, and reads the board's events
after taking the console back (tools/repl_escape.py).

The board's name in boards/ is asked from the board (sys.implementation._machine)
unless BOARD= / BOARD2= name it. Without PORT (PORT2) the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hostkit import REPO, cli, env, summary_of

import deploy
from ephkey_host.devices import Console, parse_event

pytestmark = [pytest.mark.hil, pytest.mark.timeout(900)]

NO_PEER = ("no link from the host to the board: set PEER_PORT=/dev/ttyUSB0 (a USB-serial "
           "adapter wired to the board's UART pins) or PEER_BLE=<the board's BLE name>")


def board_name(port: str, var: str) -> str:
    return os.environ.get(var, "").strip() or deploy.detect_board(port)


def run_deploy(*args: str) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "deploy.py"), *args],
                          capture_output=True, text=True, timeout=600, env=env())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def wait_event(con: Console, kind: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in con.events(min(5.0, max(0.1, deadline - time.monotonic()))):
            if ev.get("ev") == "stopped":
                raise AssertionError(f"the board stopped: {ev.get('reason')}")
            if ev.get("ev") == kind:
                return ev
    raise AssertionError(f"no {kind} event on {con.port}; it printed:\n"
                         + "\n".join(con.lines_seen[-30:]))


def test_host_as_peer_of_the_board(hil_port: str, tmp_path: Path) -> None:
    peer_port = os.environ.get("PEER_PORT", "").strip()
    peer_ble = os.environ.get("PEER_BLE", "").strip()
    name = board_name(hil_port, "BOARD")
    if deploy.load_board(name).get("transport") == "usb":
        return _host_as_peer_on_the_console(hil_port, name, tmp_path)
    if not peer_port and not peer_ble:
        pytest.skip(NO_PEER)
    role = deploy.load_board(name).get("roles", ["first"])[0]
    if peer_ble and not peer_port and role != "first":
        pytest.skip("over BLE the host is the central, so the board must be a first station "
                    f"(boards/{name}/board.json says {role})")
    host_role = "second" if role == "first" else "first"
    sets = ["--set", "first.rotate_frames=32", "--set", "first.idrks=8"]
    if peer_ble and not peer_port:
        sets += ["--set", "transport=ble", "--set", f"ble.name={peer_ble}"]
    run_deploy("--board", name, "--port", hil_port, "--no-reset", "--messages", "100", *sets)
    host_file = tmp_path / "host.json"
    proc = cli("pair", "--port", hil_port, "--host-as", host_role, "--host-file", str(host_file),
               timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    link = ["--port", peer_port] if peer_port else ["--ble", peer_ble]
    with Console(hil_port) as con:
        if host_role == "second":
            con.soft_reset()
            if peer_port:
                wait_event(con, "up", 30)  # over BLE "up" comes once the host connected
            proc = cli("peer", "--role", "second", *link, "--pairing", str(host_file),
                       "--messages", "100", "--timeout", "300", "--json", timeout=400)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            s = summary_of(proc.stdout)
            assert s["ok"] and s["messages"] == 100 and s["rotations"] >= 2, s
        else:
            host = subprocess.Popen(
                [sys.executable, "-m", "ephkey_host", "peer", "--role", "first", *link,
                 "--pairing", str(host_file), "--set", "rotate_frames=32", "--set", "idrks=8",
                 "--sessions", "1", "--timeout", "300", "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
            try:
                time.sleep(1)
                con.soft_reset()
                board = wait_event(con, "summary", 300)
                out, err = host.communicate(timeout=60)
            finally:
                if host.poll() is None:
                    host.kill()
                    host.communicate()
            assert host.returncode == 0, out + err
            assert summary_of(out)["closed_ok"] == 1
            assert board["ok"] and board["messages"] == 100 and board["rotations"] >= 2, board


def _host_as_peer_on_the_console(port: str, name: str, tmp_path: Path) -> None:
    """The board's console carries the link: the host is its peer on PORT."""
    from repl_escape import release

    role = deploy.load_board(name).get("roles", ["first"])[0]
    host_role = "second" if role == "first" else "first"
    run_deploy("--board", name, "--port", port, "--no-reset", "--messages", "100",
               "--set", "first.rotate_frames=32", "--set", "first.idrks=8")
    host_file = tmp_path / "host.json"
    proc = cli("pair", "--port", port, "--host-as", host_role, "--host-file", str(host_file),
               timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Console(port) as con:
        con.soft_reset()  # main.py starts; from here on the console is the link
    if host_role == "second":
        proc = cli("peer", "--role", "second", "--port", port, "--pairing", str(host_file),
                   "--messages", "100", "--timeout", "300", "--json", timeout=400)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        s = summary_of(proc.stdout)
        assert s["ok"] and s["messages"] == 100 and s["rotations"] >= 2, s
    else:
        proc = cli("peer", "--role", "first", "--port", port, "--pairing", str(host_file),
                   "--set", "rotate_frames=32", "--set", "idrks=8", "--sessions", "1",
                   "--timeout", "300", "--json", timeout=400)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert summary_of(proc.stdout)["closed_ok"] == 1
    kept = [ev for line in release(port).splitlines() if (ev := parse_event(line))]
    assert kept and kept[-1].get("reason") == "console escape", kept
    if host_role == "first":
        board = [ev for ev in kept if ev.get("ev") == "summary"]
        assert board and board[-1]["ok"] and board[-1]["rotations"] >= 2, kept


def test_two_boards_over_their_uarts(hil_port: str, hil_port2: str, tmp_path: Path) -> None:
    first, second = board_name(hil_port, "BOARD"), board_name(hil_port2, "BOARD2")
    for port, name in ((hil_port, first), (hil_port2, second)):
        if deploy.load_board(name).get("transport") == "usb":
            pytest.skip(f"{port} ({name}) carries the link on its console, not on a UART: "
                        "two such boards meet through tools/linksim.py (tools/demo.py --emu)")
    run_deploy("--board", first, "--port", hil_port, "--role", "first", "--no-reset",
               "--set", "first.rotate_frames=48", "--set", "first.idrks=8")
    run_deploy("--board", second, "--port", hil_port2, "--role", "second", "--no-reset",
               "--messages", "100")
    proc = cli("pair", "--port", hil_port, "--port2", hil_port2, "--out", str(tmp_path),
               timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ps = json.loads((tmp_path / "first" / "ephkey_pairing.json").read_text())["peers"][0]["ps"]
    assert ps not in proc.stdout
    with Console(hil_port) as con_f, Console(hil_port2) as con_s:
        con_f.soft_reset()
        wait_event(con_f, "up", 30)
        con_s.soft_reset()
        s = wait_event(con_s, "summary", 300)
        assert s["ok"] and s["messages"] == 100 and s["rotations"] >= 2, s
        assert s["corrupt"] == 0 and s["link"].get("crc_errors", 0) == 0, s
        established = [ln for ln in con_f.poll() + con_f.lines_seen if "established" in ln]
        assert established, "the first station reported no session"
