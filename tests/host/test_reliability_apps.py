"""Application-level recovery (firmware/ephkey/exchange_app.py, echo_app.py), run inside MicroPython
on the application API (ephkey.serve, ephkey.Client) over in-memory links:
echo timeouts and resends, late duplicates flagged and ignored, sessions
given up and restarted, KEYS_EXHAUSTED handled under the Session, handshake
failures retried, and nothing wrong ever accepted. Plus a spec-level reliability gap: dead sessions
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

SCRIPT = r"""
import asyncio
from ephkey import apps
from ephkey.echo_app import EchoApp
from ephkey.exchange_app import ExchangeApp
from ephkey.client import Client
from ephkey.server import serve
from memlink import pair_of_links
from pair import first, second

def run(app, f_kw=None, handler=None, to_s=None, to_f=None, limit_ms=20000, echo=None,
        links=None, delay_ms=0):
    # ExchangeApp on a Client and EchoApp (or ``handler``) on serve, as main.py
    # runs them, over two in-memory links; to_s(frame) / to_f(frame) -> True
    # loses a frame F / S sends; ``links`` gets the two links; ``delay_ms``: each
    # frame's time on the line (so that F's timers run during the exchange)
    lf, ls = pair_of_links()
    lf.delay_ms = ls.delay_ms = delay_ms
    if links is not None:
        links.extend((lf, ls))
    lf.drop = to_s
    ls.drop = to_f
    kw = {"suites": (1,), "rotate_frames": 4, "idrks": 8, "rekey_retry_ms": 1000}
    kw.update(f_kw or {})
    echo = echo or EchoApp(quiet=True)
    client = Client(ls, None, station=second(offer=(1,), retry_ms=100, max_tries=3),
                    on_event=app.on_event)
    async def main():
        tf = asyncio.create_task(serve(lf, None, handler or echo.handler,
                                       station=first(**kw), on_event=echo.on_event))
        client.start()
        try:
            await asyncio.wait_for_ms(app.run(client), limit_ms)
        finally:
            tf.cancel()
            await client.stop()
            lf.close()
    asyncio.run(main())
    return lf, ls

def exchange(**kw):
    return ExchangeApp(quiet=True, **kw)

def test_payload_format():
    b = bytearray(24)
    apps.fill(b, 24, 70000)
    assert apps.number_of(b, 24) == 70000 and apps.valid(b, 24)
    b[10] ^= 1
    assert not apps.valid(b, 24)
    assert apps.number_of(b, 3) == -1 and not apps.valid(b, 3)

def test_clean_run():
    app = exchange(messages=5, handshakes=3, echo_timeout_ms=100, resends=2)
    run(app)
    assert app.done and app.ok, app.summary()
    assert app.exchanges == 3 and app.echoed == 15 and app.resent == 0
    assert app.rotations >= 3 and app.corrupt == 0 and app.duplicates == 0

def test_lost_echo_is_resent_and_the_late_one_flagged():
    # F's first two DATA frames are held back, then both delivered in order,
    # before any later frame of F (which would make the late one a REPLAY)
    app = exchange(messages=3, handshakes=1, echo_timeout_ms=100, resends=3)
    held = []
    links = []
    def hold(fr):
        if fr[0] == 0x25 and len(held) < 2:
            held.append(fr)
            if len(held) == 2:
                links[0].tx.extend(held)  # late, in order
            return True
        return False
    run(app, f_kw={"rotate_frames": 64}, to_s=hold, links=links)
    assert len(held) == 2 and app.resent == 1, app.summary()
    assert app.echoed == 3 and app.duplicates == 1 and app.corrupt == 0, app.summary()
    assert app.done and app.ok, app.summary()

def test_echo_never_back_gives_the_session_up_and_goes_on():
    app = exchange(messages=2, handshakes=1, echo_timeout_ms=100, resends=2, reconnects=3)
    run(app, to_s=lambda fr: fr[0] == 0x25 and not app.reasons)
    assert app.reasons == {"ECHO_LOST": 1} and app.handshakes_started == 2, app.summary()
    assert app.resent == 2, app.summary()
    assert app.done and app.ok and app.echoed == 2, app.summary()
    assert app.number == 2              # message 0 resent in the new session, not skipped

def test_rotation_survives_a_lost_rekey_and_a_lost_key_ack():
    # F's REKEY timer (200 ms) runs while the messages go back and forth
    app = exchange(messages=12, handshakes=1, echo_timeout_ms=5000)
    lost = {6: 1, 7: 1}                 # the first REKEY and the first KEY_ACK
    def lose(fr):
        if lost.get(fr[0] & 15, 0):
            lost[fr[0] & 15] -= 1
            return True
        return False
    run(app, f_kw={"rekey_retry_ms": 200}, to_s=lose, to_f=lose, delay_ms=40)
    assert lost == {6: 0, 7: 0}
    assert app.done and app.ok and app.echoed == 12, app.summary()
    assert app.rotations >= 3 and app.duplicates == 0 and app.corrupt == 0, app.summary()
    assert app.sessions_lost == 0 and app.reasons == {}, app.summary()

def test_rotation_that_never_completes_closes_and_the_app_goes_on():
    app = exchange(messages=20, handshakes=1, echo_timeout_ms=5000, reconnects=2)
    run(app, f_kw={"rekey_retry_ms": 200}, to_s=lambda fr: fr[0] == 0x26 and not app.reasons,
        delay_ms=40)
    # 4 REKEYs lost (rekey_tries): F closes with TIMEOUT; the app starts a new
    # session and resends the message whose echo was missing
    assert app.reasons == {"CLOSED_TIMEOUT": 1}, app.summary()
    assert app.done and app.ok and app.exchanges == 1 and app.corrupt == 0, app.summary()
    assert app.echoed > 20 and app.duplicates == 0, app.summary()  # nothing skipped

def test_keys_exhausted_is_a_new_handshake_under_the_session():
    # 2 IDRKs rotated every 4 frames: F ends each session with KEYS_EXHAUSTED
    # after some 8 frames; the exchange of 20 goes on, a request whose echo
    # the end cut off sent again under the new handshake
    app = exchange(messages=20, handshakes=1)
    run(app, f_kw={"idrks": 2})
    assert app.done and app.ok and app.echoed == 20 and app.exchanges == 1, app.summary()
    assert app.rehandshakes >= 2 and app.reasons == {} and app.corrupt == 0, app.summary()
    assert app.handshakes_started == 1 + app.rehandshakes, app.summary()

def test_failed_handshakes_are_retried_then_reported():
    app = exchange(messages=1, handshakes=1, reconnects=2)
    run(app, to_f=lambda fr: True)      # F never hears S
    assert app.done and not app.ok
    assert app.hs_failed == 3 and app.reasons == {"HANDSHAKE_TIMEOUT": 3}, app.summary()
    assert app.handshakes_started == 3 and app.established == 0

def test_attempts_cap():
    app = exchange(messages=1, handshakes=100, attempts=4)
    run(app)
    assert app.done and app.ok and app.handshakes_started == 4 and app.exchanges == 4

def test_a_wrong_payload_is_counted_and_stops_the_run():
    # a first station whose application answers with a wrong pattern (the
    # frames are genuine: only the application can tell)
    async def bad_echo(s):
        buf = bytearray(64)
        while True:
            n = await s.recv_into(buf)
            buf[7] ^= 0x20
            await s.send(buf, n)
    app = exchange(messages=3, handshakes=1, echo_timeout_ms=100)
    run(app, handler=bad_echo)
    assert app.corrupt == 1 and app.done and not app.ok, app.summary()
    assert app.echoed == 0

def test_echo_app_counts_and_survives_the_last_frame_of_a_key_set():
    # rotate_frames=1, idrks=1: the first DATA frame exhausts the keys. 4.4
    # item 8: F closes (KEYS_EXHAUSTED) right after accepting the frame; its
    # handler reads the payload but the echo cannot go, and nothing breaks
    echo = EchoApp(checked=True, quiet=True)
    lf, ls = pair_of_links()
    client = Client(ls, None, station=second(offer=(1,)))
    async def main():
        tf = asyncio.create_task(serve(lf, None, echo.handler, on_event=echo.on_event,
                                       station=first(suites=(1,), rotate_frames=1, idrks=1)))
        s = await client.open()
        msg = bytearray(24)
        apps.fill(msg, 24, 0)
        await s.send(msg)
        await asyncio.sleep_ms(300)
        r = s.rehandshakes
        tf.cancel()
        await client.stop()
        return r
    rehandshakes = asyncio.run(main())
    assert echo.echoed == 0 and echo.unsent == 1 and echo.bad == 0, (echo.echoed, echo.unsent)
    assert rehandshakes == 1  # the client's Session handshook again at once
"""

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
    assert "mpunit: 11 passed, 0 failed" in out, out


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
