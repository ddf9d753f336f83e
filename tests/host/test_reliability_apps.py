"""Application-level recovery (firmware/ephkey/apps.py), run inside MicroPython
with a virtual clock: echo timeouts and resends, late duplicates flagged and
ignored, sessions given up and restarted, handshake failures retried, and
nothing wrong ever accepted. Plus a spec-level reliability gap: dead sessions
left by lost CLOSE frames."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import hostile as H
from ephkey_host.config import SecondConfig
from ephkey_host.second import SecondStation

pytestmark = pytest.mark.timeout(120)

SCRIPT = r'''
from ephkey import apps, events
from pair import first, second, outputs, deliver, drain

class Clock:
    t = 0
    def __call__(self):
        return self.t

class Link:
    bytes_in = 0
    bytes_out = 0

class Node:
    def __init__(self, st):
        self.st = st
        self.link = Link()
        self.frames_in = 0
        self.frames_out = 0

def run(coro):
    try:
        coro.send(None)
    except StopIteration:
        pass

def events_to_app(app, node):
    code = node.st.next_event()
    while code:
        run(app.on_event(node, code))
        code = node.st.next_event()

def setup(rotate_frames=4, rekey_retry_ms=1000, **kw):
    clock = Clock()
    f = first(suites=(1,), rotate_frames=rotate_frames, idrks=8, rekey_retry_ms=rekey_retry_ms)
    s = second(offer=(1,), retry_ms=100, max_tries=3)
    app = apps.ExchangeApp(clock=clock, quiet=True, **kw)
    node = Node(s)
    app._connect(node)
    return clock, f, s, app, node

def pump(f, s, app, node, clock, drop_to_s=None, drop_to_f=None, tick=0):
    """Carry frames until quiet; drop_to_x(frame) -> True drops it; with
    tick, the clock moves on and F's timers run at every round."""
    # events are handed over after each frame, as Node does (the payload
    # buffer holds the last frame's plaintext only)
    for _ in range(50):
        moved = False
        for fr in outputs(s):
            if not (drop_to_f and drop_to_f(fr)):
                f.receive(fr, len(fr), clock.t)
                for code, sid, arg, *p in drain(f):
                    if code == "DATA":
                        f.send(sid, p[0], len(p[0]), clock.t)  # the echo
            moved = True
        for fr in outputs(f):
            if not (drop_to_s and drop_to_s(fr)):
                s.receive(fr, len(fr), clock.t)
                events_to_app(app, node)
            moved = True
        events_to_app(app, node)
        if tick:
            clock.t += tick
            f.poll(clock.t)
            moved = moved or len(f.outq) > 0
        if not moved:
            return

def test_payload_format():
    b = bytearray(24)
    apps.fill(b, 24, 70000)
    assert apps.number_of(b, 24) == 70000 and apps.valid(b, 24)
    b[10] ^= 1
    assert not apps.valid(b, 24)
    assert apps.number_of(b, 3) == -1 and not apps.valid(b, 3)

def test_clean_run():
    clock, f, s, app, node = setup(messages=5, handshakes=3, echo_timeout_ms=100, resends=2)
    for _ in range(20):
        pump(f, s, app, node, clock)
        if app.done:
            break
    assert app.done and app.ok, app.summary(node)
    assert app.exchanges == 3 and app.echoed == 15 and app.resent == 0
    assert app.rotations >= 3 and app.corrupt == 0 and app.duplicates == 0

def test_lost_echo_is_resent_and_the_late_one_flagged():
    # no REKEY in between: any later frame from F would make the late echo a
    # protocol-level REPLAY (5.2) before the application could see it
    clock, f, s, app, node = setup(rotate_frames=64, messages=3, handshakes=1,
                                   echo_timeout_ms=100, resends=3)
    held = []
    def hold(fr):
        if fr[0] == 0x25 and len(held) < 2:   # F's first two DATA frames: late
            held.append(fr)
            return True
        return False
    pump(f, s, app, node, clock, drop_to_s=hold)
    assert len(held) == 1 and app.echoed == 0
    clock.t += 100
    assert app.tick(node, clock.t)     # the echo timer: message 0 sent again
    pump(f, s, app, node, clock, drop_to_s=hold)
    assert len(held) == 2 and app.resent == 1
    for fr in held:                    # both echoes of message 0 arrive, in order
        s.receive(fr, len(fr), clock.t)
        events_to_app(app, node)
    assert app.echoed == 1 and app.duplicates == 1 and app.corrupt == 0, app.summary(node)
    pump(f, s, app, node, clock)
    assert app.done and app.ok and app.echoed == 3, app.summary(node)

def test_echo_never_back_gives_the_session_up_and_goes_on():
    clock, f, s, app, node = setup(messages=2, handshakes=1, echo_timeout_ms=100, resends=2,
                                   reconnects=3)
    drop = [True]
    def lose_echoes(fr):
        return drop[0] and fr[0] == 0x25
    pump(f, s, app, node, clock, drop_to_s=lose_echoes)
    for _ in range(3):                  # first send + 2 resends, all echoes lost
        clock.t += 100
        app.tick(node, clock.t)
        pump(f, s, app, node, clock, drop_to_s=lose_echoes)
    assert app.reasons == {"ECHO_LOST": 1} and app.handshakes_started == 2, app.summary(node)
    drop[0] = False
    for _ in range(10):
        clock.t += 100
        app.tick(node, clock.t)
        pump(f, s, app, node, clock)
        if app.done:
            break
    assert app.done and app.ok and app.echoed == 2, app.summary(node)
    assert app.number == 2              # message 0 resent in the new session, not skipped

def test_rotation_survives_a_lost_rekey_and_a_lost_key_ack():
    # F's REKEY timer (200 ms) runs while the messages go back and forth
    clock, f, s, app, node = setup(rekey_retry_ms=200, messages=12, handshakes=1,
                                   echo_timeout_ms=5000)
    lost = {6: 1, 7: 1}                 # the first REKEY and the first KEY_ACK
    def lose(fr):
        if lost.get(fr[0] & 15, 0):
            lost[fr[0] & 15] -= 1
            return True
        return False
    pump(f, s, app, node, clock, drop_to_s=lose, drop_to_f=lose, tick=50)
    assert lost == {6: 0, 7: 0}
    assert app.done and app.ok and app.echoed == 12, app.summary(node)
    assert app.rotations >= 3 and app.duplicates == 0 and app.corrupt == 0, app.summary(node)
    assert app.sessions_lost == 0 and app.reasons == {}, app.summary(node)

def test_rotation_that_never_completes_closes_and_the_app_goes_on():
    clock, f, s, app, node = setup(rekey_retry_ms=200, messages=20, handshakes=1,
                                   echo_timeout_ms=5000, reconnects=2)
    def lose_rekeys(fr):
        return fr[0] == 0x26 and not app.reasons
    pump(f, s, app, node, clock, drop_to_s=lose_rekeys, tick=50)
    # 4 REKEYs lost (rekey_tries): F closes with TIMEOUT; the app starts a new
    # session and resends the message whose echo was missing
    assert app.reasons == {"CLOSED_TIMEOUT": 1}, app.summary(node)
    assert app.done and app.ok and app.exchanges == 1 and app.corrupt == 0, app.summary(node)
    assert app.echoed > 20 and app.duplicates == 0, app.summary(node)  # nothing skipped

def test_failed_handshakes_are_retried_then_reported():
    clock, f, s, app, node = setup(messages=1, handshakes=1, reconnects=2)
    for _ in range(40):                 # F never answers
        clock.t += 100
        s.poll(clock.t)
        while s.next_output():
            pass
        events_to_app(app, node)
        if app.done:
            break
    assert app.done and not app.ok
    assert app.hs_failed == 3 and app.reasons == {"HANDSHAKE_TIMEOUT": 3}, app.summary(node)
    assert app.handshakes_started == 3 and app.established == 0

def test_attempts_cap():
    clock, f, s, app, node = setup(messages=1, handshakes=100, attempts=4)
    for _ in range(20):
        pump(f, s, app, node, clock)
        if app.done:
            break
    assert app.done and app.ok and app.handshakes_started == 4 and app.exchanges == 4

def test_a_wrong_payload_is_counted_and_stops_the_run():
    clock, f, s, app, node = setup(messages=3, handshakes=1, echo_timeout_ms=100)
    pump(f, s, app, node, clock, drop_to_s=lambda fr: fr[0] == 0x25)
    bad = bytearray(app.size)
    apps.fill(bad, app.size, app.number)
    bad[7] ^= 0x20
    app._on_echo(node, bad, len(bad))
    assert app.corrupt == 1 and app.done and not app.ok

def test_echo_app_counts_and_survives_the_last_frame_of_a_key_set():
    f = first(suites=(1,), rotate_frames=1, idrks=1)   # the 1st DATA exhausts the keys
    s = second(offer=(1,))
    from pair import handshake
    sid = handshake(f, s)
    echo = apps.EchoApp(checked=True, quiet=True)
    node = Node(f)
    b = bytearray(24)
    for i in range(1):
        apps.fill(b, 24, i)
        s.send(b, 24, i)
        deliver(outputs(s), f, i)
        code = f.next_event()
        while code:
            run(echo.on_event(node, code))
            code = f.next_event()
    # 4.4 item 8: F closes (KEYS_EXHAUSTED) right after accepting the frame,
    # before its application sees it: the echo cannot go, and nothing breaks
    assert echo.echoed == 0 and echo.unsent == 1 and echo.bad == 0
    assert f.table.find_sid(sid) < 0
'''


def run_script(micropython_bin: str, repo_root: Path, tmp_path: Path) -> str:
    (tmp_path / "apps_recovery.py").write_text(SCRIPT)
    env = dict(os.environ, MICROPYPATH="%s:firmware:tests/firmware:.frozen" % tmp_path)
    p = subprocess.run([micropython_bin, "tests/firmware/mpunit.py", "apps_recovery"],
                       cwd=repo_root, env=env, capture_output=True, text=True, timeout=100)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_exchange_app_recovery_under_micropython(micropython_bin: str, repo_root: Path,
                                                 tmp_path: Path) -> None:
    out = run_script(micropython_bin, repo_root, tmp_path)
    assert "mpunit: 10 passed, 0 failed" in out, out


def test_lost_closes_do_not_lock_the_peer_out(micropython_bin: str) -> None:
    """Spec 4.6 (version 2): each new handshake of a peer closes its dead
    sessions with CLOSE(REPLACED), so lost CLOSEs never fill the table (in
    version 1 this test failed: BUSY after the table filled)."""
    p = H.pairing(0)
    target = H.MpTarget(micropython_bin, "F", {"suites": [1], "sessions": 4}, [p])
    try:
        for i in range(6):
            s = SecondStation(SecondConfig(offer=[1]), p, os.urandom, 0)
            duo = H.Duo(target, s, t=1000 * i)
            s.connect(duo.t)
            duo.pump()
            assert s.state == "OPEN", ("handshake %d" % i, duo.target_events, s.events())
            s.close(duo.t)
            s.outputs()  # the CLOSE is lost on the line
    finally:
        target.close_target()



def test_lost_closes_do_not_lock_the_peer_out_host() -> None:
    """The scenario above against the host's first station (version 2, 4.6):
    each new handshake of the peer closes its previous, dead session with
    CLOSE(REPLACED), so the peer is never refused (version 1: BUSY from the
    fifth handshake on)."""
    p = H.pairing(0)
    target = H.HostTarget("F", {"suites": [1], "sessions": 4}, [p])
    for i in range(6):
        s = SecondStation(SecondConfig(offer=[1]), p, os.urandom, 0)
        duo = H.Duo(target, s, t=1000 * i)
        s.connect(duo.t)
        duo.pump()
        assert s.state == "OPEN", ("handshake %d" % i, duo.target_events, s.events())
        duo.exchange(s.sid, 1)  # confirmed
        s.close(duo.t)
        s.outputs()  # the CLOSE is lost on the line
    states = [st for st, _ in target.st.session_states()]  # type: ignore[union-attr]
    assert states.count("OPEN") == 1 and "WAIT_CONFIRM" not in states
