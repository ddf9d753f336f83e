"""The host as peer of the emulated board over its console ("transport": "usb").

The board (tools/emuboard.py) runs the firmware as a Pico W would run it from
tools/deploy.py: armv6m .mpy on its flash, main.py, the board file of
boards/qemu_mps2_an385 (its one UART is the console, which carries the link,
and its RNG is the emulator's). The host runs `python -m ephkey_host peer` on
the console's TCP port, in the other role, for each suite: 100 echoed
messages, keys rotating every 32 DATA frames (at least 2 rotations). Then the
console escape gives the REPL back, with the board's kept event lines, and
mpremote works on it. And two emulated boards talk through tools/linksim.py
at 115200 baud (tools/demo.py --emu).

Skipped, saying why, without the Debian packages or MicroPython's sources.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from emukit import board_doc, flash_tree
from hostkit import REPO, cli, env, processes_in, summary_of

import emuboard
from ephkey_host import pairing as pairing_mod
from ephkey_host.devices import mpremote, parse_event
from repl_escape import release

pytestmark = pytest.mark.timeout(400)

ROTATE = 32


def _board_events(text: str) -> list[dict[str, Any]]:
    return [ev for ln in text.splitlines() if (ev := parse_event(ln)) is not None]


@pytest.mark.parametrize("suite", [1, 2])
@pytest.mark.parametrize("board_role", ["first", "second"])
def test_host_is_the_peer_of_the_emulated_board(board_role: str, suite: int, emu_image: Path,
                                                 tmp_path: Path) -> None:
    host_role = "second" if board_role == "first" else "first"
    pair = pairing_mod.new_pair()
    tree = flash_tree(tmp_path / "tree", board_doc(board_role, suite, rotate_frames=ROTATE),
                      pair.station_doc(board_role))
    host_file = tmp_path / "host.json"
    host_file.write_text(json.dumps(pair.station_doc(host_role)))
    # a second-station board opens its session at boot: it waits for the host
    board = emuboard.EmuBoard(tmp_path / "board", name=f"emu-{board_role}",
                              wait=board_role == "second", elf=emu_image)
    board.load(tree)
    board.start()
    try:
        if board_role == "first":
            up = board.wait_event("up", 30)
            assert up["transport"] == "usb" and up["board"] == "qemu_mps2_an385", up
            proc = cli("peer", "--role", "second", "--port", board.url, "--pairing",
                       str(host_file), "--messages", "100", "--timeout", "240", "--json",
                       timeout=300)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            s = summary_of(proc.stdout)
            assert s["ok"] and s["messages"] == 100 and s["rotations"] >= 2, s
        else:
            host = subprocess.Popen(
                [sys.executable, "-m", "ephkey_host", "peer", "--role", "first", "--port",
                 board.url, "--pairing", str(host_file), "--set", f"rotate_frames={ROTATE}",
                 "--set", "idrks=8", "--set", f"suites=[{suite}]", "--sessions", "1",
                 "--timeout", "240", "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
            try:
                s = board.wait_event("summary", 280)
                out, err = host.communicate(timeout=60)
            finally:
                if host.poll() is None:
                    host.kill()
                    host.communicate()
            assert host.returncode == 0, out + err
            assert summary_of(out)["closed_ok"] == 1, out
            assert s["ok"] and s["messages"] == 100 and s["rotations"] >= 2, s
        # the console carried nothing but frames: no line noise at the host
        assert s["link"].get("crc_errors", 0) == 0 and s["link"].get("cobs_errors", 0) == 0, s
        # the REPL comes back on the escape, with the events the board kept
        said = release(board.url)
        kept = _board_events(said)
        assert kept and kept[-1] == {"ev": "stopped", "reason": "console escape"}, said
        if board_role == "second":
            assert any(ev.get("ev") == "summary" and ev["ok"] for ev in kept), said
        out = mpremote(board.url, "exec", "import sys; print(sys.platform, 'at the REPL')",
                       timeout=60)
        assert "qemu at the REPL" in out
    finally:
        board.stop()


def test_two_emulated_boards_through_the_link_simulator(emu_image: Path, tmp_path: Path) -> None:
    """tools/demo.py --emu: two emulated boards, each console wired to one side of
    tools/linksim.py at 115200 8N1; the sniffer validates every frame with the pairing."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py"), "--emu", "--workdir", str(tmp_path),
         "--messages", "100", "--rotate-frames", "32", "--timeout", "120"],
        capture_output=True, text=True, timeout=300, env=env())
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "two emulated Cortex-M3 boards" in out
    assert "at 115200 baud 8N1" in out
    assert "sniffer: verdict: all frames valid, no link drops" in out
    second = json.loads(out.split("second station: EPHKEY ", 1)[1].splitlines()[0])
    assert second["ok"] and second["messages"] == 100 and second["rotations"] >= 2, second
    assert second["link"]["crc_errors"] == 0 and second["link"]["cobs_errors"] == 0, second
    assert "demo: OK" in out
    assert not processes_in(tmp_path)
