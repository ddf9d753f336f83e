"""The applications main.py runs on top of a session.

EchoApp (first station) sends every payload back. ExchangeApp (second
station) opens a session, sends ``messages`` payloads one at a time, checks
each echo and reports a summary. Both log one JSON line per notable event
on the console, prefixed ``EPHKEY``, for people and for tools/demo.py.
"""

import json
from time import ticks_diff, ticks_ms  # type: ignore[attr-defined]

from . import errors, events


def log(kind, **fields):
    fields["ev"] = kind
    print("EPHKEY", json.dumps(fields))


class EchoApp:
    def __init__(self, role="first"):
        self.role = role
        self.echoed = 0

    async def on_event(self, node, code):
        st = node.st
        if code == events.DATA:
            st.send(st.ev_sid, st.payload, st.ev_len, ticks_ms())
            self.echoed += 1
        elif code == events.ERROR:
            log("rejected", role=self.role, sid=st.ev_sid, code=errors.NAMES[st.ev_arg])
        else:
            log(events.NAMES[code].lower(), role=self.role, sid=st.ev_sid, arg=st.ev_arg)


class ExchangeApp:
    def __init__(self, messages=100, size=32, reconnects=3):
        self.messages = messages
        self.size = size
        self.reconnects = reconnects
        self.sent = 0
        self.echoed = 0
        self.rotations = 0
        self.handshakes = 0
        self.failures = 0
        self.lost = 0
        self.done = False
        self.ok = False
        self._t_connect = 0
        self._t_start = 0
        self.handshake_ms = -1
        self._msg = bytearray(size)

    async def start(self, node):
        self._t_start = ticks_ms()
        self._connect(node)
        await node.flush()

    def _connect(self, node):
        self._t_connect = ticks_ms()
        node.st.connect(self._t_connect)
        log("connect", role="second")

    def _next(self, node):
        msg = self._msg
        for i in range(len(msg)):
            msg[i] = 0x61 + (self.sent + i) % 26
        node.st.send(msg, len(msg), ticks_ms())
        self.sent += 1

    async def on_event(self, node, code):
        st = node.st
        if code == events.ESTABLISHED:
            self.handshakes += 1
            ms = ticks_diff(ticks_ms(), self._t_connect)
            if self.handshake_ms < 0:
                self.handshake_ms = ms
            log("established", role="second", sid=st.ev_sid, handshake_ms=ms)
            if self.sent < self.messages:
                self._next(node)
        elif code == events.DATA:
            self.lost += st.ev_arg
            if st.payload[:st.ev_len] != self._msg:
                log("mismatch", role="second", n=self.sent)
                self._finish(node, False)
                return
            self.echoed += 1
            if self.echoed < self.messages:
                self._next(node)
            else:
                self._finish(node, True)
        elif code == events.ROTATED:
            self.rotations += 1
            log("rotated", role="second", sid=st.ev_sid, key=st.ev_arg)
        elif code == events.CLOSED or code == events.HANDSHAKE_FAILED:
            log(events.NAMES[code].lower(), role="second", sid=st.ev_sid,
                reason=errors.NAMES[st.ev_arg])
            if self.done:
                return
            self.failures += 1
            if self.failures > self.reconnects:
                self._finish(node, False)
                return
            # a session that ran out of IDRKs or a lost handshake: start again,
            # resending the message whose echo did not come back
            if self.sent > self.echoed:
                self.sent = self.echoed
            self._connect(node)
        elif code == events.ERROR:
            log("rejected", role="second", sid=st.ev_sid, code=errors.NAMES[st.ev_arg])
        elif code == events.PEER_ERROR:
            log("peer_error", role="second", sid=st.ev_sid, code=errors.NAMES[st.ev_arg])

    def _finish(self, node, ok):
        self.done = True
        self.ok = ok
        if node.st.state == 3:  # OPEN
            node.st.close(ticks_ms())
        log("summary", role="second", ok=ok, messages=self.echoed,
            handshake_ms=self.handshake_ms, handshakes=self.handshakes,
            rotations=self.rotations, lost=self.lost,
            frames_out=node.frames_out, frames_in=node.frames_in,
            bytes_out=node.link.bytes_out, bytes_in=node.link.bytes_in,
            elapsed_ms=ticks_diff(ticks_ms(), self._t_start))
