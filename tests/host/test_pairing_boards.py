"""Device pairing on virtual boards (tools/vboard.py) over tools/linksim.py (spec 15).

The boards start with no pairing file (main.py stops and leaves the REPL),
are armed at their REPL with ``ephkey.runtime.pair(...)`` as a user would,
and pair over their simulated UART:

* two boards: the first station shows a code, the second station's user
  types a wrong one (both report WRONG_CODE), then the right one; both
  pairing files then hold the same pair, the recorded frames give the
  offline attacker nothing, and after a reset the two boards establish a
  session with the stations of this checkout;
* the host (``ephkey pair --code``) with a board, then a session between
  them (``ephkey peer``);
* ten wrong codes against a board start its back-off (BACKOFF in its events,
  ERROR(BACKOFF) on the wire), and its window then ends (DISARMED(TIMEOUT),
  ``pair()`` returns False, no pairing file).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hostkit import cli, summary_of

import deploy
from ephkey_host import pair_device as pd
from ephkey_host.devices import Console, parse_event
from ephkey_host.link import LinkDecoder
from ephkey_host.pairing import load_station_file
from ephkey_host.peer import SerialTransport
from linksim import LinkSim
from offline_attack import attack_pairing
from vboard import VirtualBoard

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


class Tap:
    """The frames on the simulated line, per direction (AB: side A sent)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.dec = {"AB": LinkDecoder(276), "BA": LinkDecoder(276)}
        self.frames: list[tuple[str, bytes]] = []

    def __call__(self, t_us: float, direction: str, data: bytes) -> None:
        with self.lock:
            for f in self.dec[direction].feed(data):
                self.frames.append((direction, f))


class Board:
    def __init__(self, root: Path, name: str, role: str, uart_port: int, micropython: str,
                 **overrides: Any) -> None:
        base = deploy.load_board("unix")
        doc = deploy.board_file(base, role, messages=5 if role == "second" else None,
                                overrides=overrides or None)
        self.flash = root / name
        deploy.install_to_folder(self.flash, doc, source=True, log=lambda _line: None)
        self.vb = VirtualBoard(self.flash, uart_port=uart_port, name=name,
                               micropython=[micropython]).start()
        assert self.vb.wait_ready(20), self.vb.output_tail()
        self.con = Console(self.vb.url)
        self.events: list[dict[str, Any]] = []
        self.con.soft_reset()  # boot again with the console attached: main.py's output

    def close(self) -> None:
        self.con.close()
        self.vb.stop()

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        """The first event (seen before or from now on) that ``pred`` accepts."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if pred(ev):
                    return ev
            if time.monotonic() >= deadline:
                break
            for line in self.con.poll():
                ev = parse_event(line)
                if ev is not None:
                    self.events.append(ev)
        raise AssertionError("no such event within %.0f s; console:\n%s"
                             % (timeout, "\n".join(self.con.lines_seen[-25:])))

    def repl(self, code: str) -> None:
        """Type a line at the friendly REPL (where main.py left the board)."""
        self.con.write(code.encode() + b"\r")

    def pairing_file(self) -> Path:
        return self.flash / "ephkey_pairing.json"


def ev_is(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda ev: ev.get("ev") == kind and all(ev.get(k) == v for k, v in fields.items())


@pytest.fixture
def line() -> Iterator[tuple[LinkSim, Tap]]:
    tap = Tap()
    sim = LinkSim(baud=115200, tap=tap).start()
    try:
        yield sim, tap
    finally:
        sim.stop()


@pytest.fixture
def boards() -> Iterator[list[Board]]:
    made: list[Board] = []
    try:
        yield made
    finally:
        for b in made:
            b.close()


def test_two_boards_pair_then_establish_a_session(tmp_path: Path, micropython_bin: str,
                                                  line: tuple[LinkSim, Tap],
                                                  boards: list[Board]) -> None:
    sim, tap = line
    f = Board(tmp_path, "pair-f", "first", sim.port_a, micropython_bin)
    boards.append(f)
    s = Board(tmp_path, "pair-s", "second", sim.port_b, micropython_bin)
    boards.append(s)
    for b in (f, s):  # no pairing file: the stations do not start
        assert "no pairing file" in b.wait(ev_is("stopped"))["reason"]
        assert not b.pairing_file().exists()

    f.repl("import ephkey.runtime as r; r.pair()")  # shows a code
    code = f.wait(ev_is("pair_code"))["code"]
    assert re.fullmatch(r"\d{6}", code)
    f.wait(ev_is("pair_armed", role="first"))
    wrong = "%06d" % ((int(code) + 1) % 1_000_000)
    s.repl("import ephkey.runtime as r; print('returned', r.pair(%r))" % wrong)
    assert "codes differ" in s.wait(ev_is("pair_failed", role="second"))["hint"]
    assert s.wait(ev_is("disarmed", role="second"))["reason"] == "WRONG_CODE"
    assert f.wait(ev_is("pair_failed", role="first"))["reason"] == "WRONG_CODE"
    assert not s.pairing_file().exists() and not f.pairing_file().exists()

    s.repl("print('returned', r.pair(%r))" % code)  # typed again, right this time
    ps = s.wait(ev_is("paired", role="second"))
    pf = f.wait(ev_is("paired", role="first"))
    assert ps["peer"] == pf["id"] and pf["peer"] == ps["id"]
    f.wait(ev_is("disarmed", role="first", reason="OK"), timeout=10)
    (p_f,) = load_station_file(f.pairing_file(), "first")
    (p_s,) = load_station_file(s.pairing_file(), "second")
    assert p_f == p_s and len(p_f.ps) == 32
    assert not (f.flash / "ephkey_pairing.json.tmp").exists()
    assert p_f.ps.hex() not in "\n".join(f.con.lines_seen + s.con.lines_seen)

    # the wire: two attempts, 4 + 4 frames, and nothing an offline attacker can use
    with tap.lock:
        frames = [fr for _, fr in tap.frames]
    assert {fr[0] for fr in frames} == {0x29, 0x2A, 0x2B, 0x2C, 0x2F}
    paired_run = [fr for fr in frames if fr[0] in (0x29, 0x2A, 0x2B, 0x2C)][-4:]
    words = [code] + ["%06d" % ((int(code) + 7919 * i) % 1_000_000) for i in range(1, 1000)]
    assert len(set(words)) == 1000
    assert attack_pairing(paired_run, words) == []

    # after a reset the boards run their stations with the new pairing
    f.con.soft_reset()
    f.wait(ev_is("up", role="first"))
    s.con.soft_reset()
    summary = s.wait(ev_is("summary"), timeout=60)
    assert summary["ok"] is True, summary


def test_host_pairs_with_a_board_then_runs_a_session(tmp_path: Path, micropython_bin: str,
                                                     line: tuple[LinkSim, Tap],
                                                     boards: list[Board]) -> None:
    sim, _ = line
    f = Board(tmp_path, "pair-hf", "first", sim.port_a, micropython_bin)
    boards.append(f)
    f.wait(ev_is("stopped"))
    f.repl("import ephkey.runtime as r; r.pair('246810')")
    f.wait(ev_is("pair_armed"))
    host_file = tmp_path / "host.json"
    url = f"socket://127.0.0.1:{sim.port_b}"
    proc = cli("pair", "--code", "246810", "--port", url, "--host-as", "second",
               "--host-file", str(host_file), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pf = f.wait(ev_is("paired", role="first"))
    (p_h,) = load_station_file(host_file, "second")
    (p_f,) = load_station_file(f.pairing_file(), "first")
    assert p_h == p_f and pf["peer"] == p_h.id_s.hex()

    f.con.soft_reset()
    f.wait(ev_is("up", role="first"))
    proc = cli("peer", "--role", "second", "--port", url, "--pairing", str(host_file),
               "--messages", "5", "--json", "--timeout", "60", timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary_of(proc.stdout)["ok"] is True


def _attempt(url: str, code: str, backoff: pd.Backoff, seed: int,
             until: Callable[[list[tuple[str, int]]], bool] = lambda seen: False,
             ) -> list[tuple[str, int]]:
    """One attempt of the host as second station (at most 8 s); its events."""
    t0 = time.monotonic()

    def now() -> int:
        return int((time.monotonic() - t0) * 1000)

    m = pd.PairingMachine(True, b"HOST-S%02d" % seed, code, os.urandom, now(), 10_000, 200,
                          backoff)
    seen: list[tuple[str, int]] = []
    transport = SerialTransport(url, 115200, 64)
    try:
        while m.armed and not until(seen) and time.monotonic() - t0 < 8:
            for fr in m.outputs():
                transport.send(fr)
            for fr in transport.receive(0.01):
                m.receive(fr, now())
            m.poll(now())
            seen += [(e.name, e.arg) for e in m.events()]
    finally:
        transport.close()
    return seen


def test_ten_wrong_codes_start_a_boards_backoff_and_its_window_ends(
        tmp_path: Path, micropython_bin: str, line: tuple[LinkSim, Tap],
        boards: list[Board]) -> None:
    sim, _ = line
    f = Board(tmp_path, "pair-bo", "first", sim.port_a, micropython_bin)
    boards.append(f)
    f.wait(ev_is("stopped"))
    f.repl("import ephkey.runtime as r; print('returned', r.pair('135790', window_s=12))")
    armed = f.wait(ev_is("pair_armed"))
    assert armed["window_s"] == 12
    url = f"socket://127.0.0.1:{sim.port_b}"
    t_armed = time.monotonic()
    host_backoff = pd.Backoff()
    for i in range(10):
        seen = _attempt(url, "%06d" % (500000 + i), host_backoff, i)
        assert ("PAIR_FAILED", pd.WRONG_CODE) in seen, seen
    assert time.monotonic() - t_armed < 10, "the attempts took too long for the window"
    assert f.wait(ev_is("backoff"))["wait_s"] == 30
    fails = [ev for ev in f.events if ev.get("ev") == "pair_failed"]
    assert len(fails) == 10 and {ev["reason"] for ev in fails} == {"WRONG_CODE"}
    assert "codes differ" in fails[0]["hint"]
    # the 11th attempt, with the right code, is refused without a CPace run
    seen = _attempt(url, "135790", pd.Backoff(), 11,
                    until=lambda seen: any(name == pd.PEER_ERROR for name, _ in seen))
    assert ("PEER_ERROR", pd.BACKOFF) in seen and ("PAIRED", 0) not in seen
    f.wait(ev_is("error", code="BACKOFF"))
    # the window ends: the board disarms, pair() returns False, no pairing file
    assert f.wait(ev_is("disarmed"), timeout=15)["reason"] == "TIMEOUT"
    assert 10 <= time.monotonic() - t_armed <= 16
    deadline = time.monotonic() + 5
    while not any("returned False" in ln for ln in f.con.lines_seen):
        assert time.monotonic() < deadline, f.con.lines_seen[-5:]
        f.con.poll()
    assert not f.pairing_file().exists()
