"""examples/host_logger.py against a virtual board, so the example cannot rot.

The board (the MicroPython unix VM running the firmware, tools/vboard.py) is
a second station whose exchange app sends numbered payloads; its UART is side
A of the link simulator and the example opens side B with pyserial's
socket:// URL, as it would open a USB-serial adapter. The logged lines must
be exactly the board's payloads, in order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostkit import REPO, cli, env, free_port, processes_in

import deploy
from ephkey_host.devices import parse_event
from ephkey_host.pairing import read_doc
from ephkey_host.peer import fill
from linksim import LinkSim
from vboard import VirtualBoard

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

MESSAGES = 12
SIZE = 32  # the exchange app's default payload size


def test_host_logger_logs_the_boards_payloads(tmp_path: Path, micropython_bin: str) -> None:
    pairs = tmp_path / "pairs"
    assert cli("pair", "--out", str(pairs)).returncode == 0
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "ephkey_pairing.json").write_bytes(
        (pairs / "second" / "ephkey_pairing.json").read_bytes())
    doc = deploy.board_file(deploy.load_board("unix"), "second", messages=MESSAGES)
    assert doc["app"].get("size", SIZE) == SIZE
    deploy.install_to_folder(flash, doc, log=lambda _line: None)
    board_id = read_doc(pairs / "second" / "ephkey_pairing.json")["self"]
    with LinkSim(baud=115200) as sim:
        logger = subprocess.Popen(
            [sys.executable, str(REPO / "examples" / "host_logger.py"),
             "--port", f"socket://127.0.0.1:{sim.port_b}",
             "--pairing", str(pairs / "first" / "ephkey_pairing.json"), "--sessions", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
        board = VirtualBoard(flash, uart_port=sim.port_a, name="logger-board",
                             micropython=[micropython_bin])
        try:
            time.sleep(0.5)  # the logger listens first; the board connects at boot
            board.start()
            out, err = logger.communicate(timeout=60)
            assert logger.returncode == 0, out + err
            summary = None
            deadline = time.monotonic() + 10
            while summary is None and time.monotonic() < deadline:
                for line in board.output_tail().decode("utf-8", "replace").splitlines():
                    ev = parse_event(line)
                    if ev and ev.get("ev") == "summary":
                        summary = ev
                time.sleep(0.05)
        finally:
            if logger.poll() is None:
                logger.kill()
                logger.communicate()
            board.stop()
    logged = [line.split() for line in out.splitlines()]
    assert [row[0] for row in logged] == [board_id] * MESSAGES
    assert [int(row[1]) for row in logged] == [SIZE] * MESSAGES
    assert [bytes.fromhex(row[2]) for row in logged] == [fill(SIZE, n) for n in range(MESSAGES)]
    assert summary is not None and summary["ok"] is True and summary["messages"] == MESSAGES
    assert not processes_in(flash)


RECIPE_HEADING = "## The host as a virtual board's peer"
RECIPE_PORTS = ("7200", "7201", "7202")


def readme_recipe() -> str:
    """The first ```sh block under the recipe's heading in README.md."""
    text = (REPO / "README.md").read_text()
    assert RECIPE_HEADING in text, "the README lost its recipe"
    section = text.split(RECIPE_HEADING, 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    assert "\n## " not in section.split("```sh\n", 1)[0], "the recipe's block is missing"
    return block


def test_readme_recipe_host_as_a_virtual_boards_peer(tmp_path: Path) -> None:
    script = readme_recipe()
    for port in RECIPE_PORTS:
        assert port in script
        script = script.replace(port, str(free_port()))
    assert script.count("build/recipe") >= 4
    script = script.replace("build/recipe", str(tmp_path / "recipe"))
    e = env()
    e["PATH"] = str(Path(sys.executable).parent) + os.pathsep + e.get("PATH", "")
    proc = subprocess.Popen(["bash", "-c", script], cwd=REPO, env=e, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=80)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the script's own process group
            proc.communicate()
    assert proc.returncode == 0, out
    lines = [ln for ln in out.splitlines() if ln.startswith("summary: ")]
    assert len(lines) == 1, out
    summary = json.loads(lines[0][len("summary: "):])
    assert summary["ok"] is True and summary["role"] == "first", out
    assert summary["echoed"] == 20 and summary["closed_ok"] == 1, out
    assert not processes_in(tmp_path / "recipe" / "flash")
