"""Pairing mode on a board (docs/protocol.md 15.2): one armed ``pairing.Pairing``
on the board's link, run by asyncio until it disarms.

``ephkey.runtime.pair(code)`` calls ``arm_and_run``: it takes the board's
identity from its pairing file (or draws one), the code (or draws one and
prints it), arms the machine for the window, feeds it the link's frames and
``ticks_ms()``, prints its events as ``EPHKEY`` lines with a hint for the
user, and on PAIRED writes the pairing file (pairing_store.record, atomic).

The back-off state (15.6) is kept in this module while the board runs, so a
new arming continues the count of failed attempts; a reset clears it.
"""

import asyncio
from asyncio import sleep_ms  # type: ignore[attr-defined]
from binascii import hexlify
from time import ticks_diff, ticks_ms  # type: ignore[attr-defined]

from . import pairing, pairing_store
from .apps import log

MAX_FRAME = 64  # the longest pairing frame is 55 bytes
_backoff = pairing.Backoff()

_HINTS = {
    pairing.WRONG_CODE: "the codes differ: arm again and type the code shown on the other station",
    pairing.NOT_ARMED: "the other station is not armed (or its window ended): arm it",
    pairing.BACKOFF: "too many failed attempts: wait, then arm again",
    pairing.TIMEOUT: "no answer within the window: arm both stations, check their link",
    pairing.REPLACED: "a newer attempt took this one's place",
    pairing.AUTH_FAILED: "the other side sent an invalid share",
}


def _hex(b):
    return hexlify(b).decode()


class PairNode:
    def __init__(self, machine, link, role, pairing_path, poll_ms=20):
        self.m = machine
        self.link = link
        self.role = role
        self.path = pairing_path
        self.poll_ms = poll_ms
        self.beat = ticks_ms()
        self.running = False
        self.stored = False
        self.link_failed = None

    async def run(self):
        """Until the machine disarms (or the link fails)."""
        self.running = True
        rx = asyncio.create_task(self._rx())
        try:
            while self.m.armed and self.link_failed is None:
                await sleep_ms(self.poll_ms)
                self.beat = ticks_ms()
                self.m.poll(ticks_ms())
                await self.flush()
        finally:
            self.running = False
            rx.cancel()

    async def _rx(self):
        try:
            while True:
                frame = await self.link.recv()
                self.m.receive(frame, len(frame), ticks_ms())
                await self.flush()
        except OSError as e:  # the link closed (LinkDown is an OSError)
            self.link_failed = str(e) or "link closed"

    def link_lost(self):
        pass  # nothing to end: the attempt goes on when the link comes back

    async def flush(self):
        m = self.m
        n = m.next_output()
        while n:
            await self.link.send(m.out, n)
            n = m.next_output()
        code = m.next_event()
        while code:
            self._event(code, m.ev_sid, m.ev_arg)
            code = m.next_event()

    def _event(self, code, sid, arg):
        m = self.m
        name = pairing.EVENT_NAMES[code].lower()
        if code == pairing.EV_PAIRED:
            try:
                pairing_store.record(self.role, m.self_id, m.peer_id, m.ps, self.path)
            except (OSError, ValueError) as e:
                log("pair_failed", role=self.role, run=sid,
                    reason="cannot write the pairing file: %s" % e)
                return
            finally:
                for i in range(len(m.ps)):
                    m.ps[i] = 0
            self.stored = True
            log("paired", role=self.role, run=sid, id=_hex(m.self_id), peer=_hex(m.peer_id),
                file=self.path)
        elif code == pairing.EV_BACKOFF:
            log("backoff", role=self.role, run=sid, wait_s=(arg + 999) // 1000,
                hint=_HINTS[pairing.BACKOFF])
        elif code in (pairing.EV_ERROR, pairing.EV_PEER_ERROR):
            log(name, role=self.role, run=sid, code=pairing.code_name(arg))
        else:  # PAIR_FAILED, DISARMED
            fields = {"role": self.role, "reason": pairing.code_name(arg)}
            if code == pairing.EV_PAIR_FAILED:
                fields["run"] = sid
            hint = _HINTS.get(arg)
            if hint and (code == pairing.EV_PAIR_FAILED or arg != pairing.WRONG_CODE):
                fields["hint"] = hint
            log(name, **fields)


async def _run_on(node, link, window_ms, armed_at):
    if hasattr(link, "serve"):  # BLE: connect (again after a drop) while armed
        while node.m.armed:
            left = window_ms - ticks_diff(ticks_ms(), armed_at)
            try:
                await asyncio.wait_for_ms(link.connect(), max(left, 1))  # type: ignore[attr-defined]
            except asyncio.TimeoutError:
                node.m.poll(ticks_ms())
                await node.flush()
                break
            node.link_failed = None
            await node.run()
            await link.teardown()
    else:
        await node.run()
        link.close()


def arm_and_run(board, code, window_s, pairing_path, rng, open_link):
    """Arm the board's first role for pairing and run it; True once paired and stored."""
    cfg = board.pairing
    role = board.roles[0]
    if not cfg["enabled"]:
        log("pair_failed", role=role, reason="pairing is disabled in the board file")
        return False
    if role == "first" and pairing_store.peer_count(pairing_path) >= pairing_store.MAX_PEERS:
        log("pair_failed", role=role, reason="the pairing file already lists %d peers"
            % pairing_store.MAX_PEERS)
        return False
    if code is not None:
        pairing.check_code(code)  # ValueError at the REPL, before anything else
    me = pairing_store.own_id(pairing_path) or bytes(rng(8))
    if code is None:
        code = pairing.draw_code(rng)
        log("pair_code", role=role, code=code, hint="type this code on the other station")
    window_ms = (window_s if window_s is not None else cfg["window_s"]) * 1000
    now = ticks_ms()
    m = pairing.Pairing(role == "second", me, code, rng, now, window_ms, cfg["retry_ms"],
                        _backoff)
    log("pair_armed", role=role, id=_hex(me), window_s=window_ms // 1000)

    async def main():
        link = await open_link(board, role, MAX_FRAME)
        node = PairNode(m, link, role, pairing_path)
        await node.flush()  # what arming queued (S: PAIR_HELLO; or BACKOFF, DISARMED)
        if m.armed:
            await _run_on(node, link, window_ms, now)
        if node.link_failed is not None and m.armed:
            log("pair_failed", role=role, reason="link: %s" % node.link_failed)
        return node.stored

    try:
        return asyncio.run(main())
    finally:
        m.wipe()
