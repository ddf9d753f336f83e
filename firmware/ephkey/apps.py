"""The applications main.py runs on top of a session.

EchoApp (first station) sends every payload back. ExchangeApp (second
station) opens a session, sends ``messages`` payloads one at a time, checks
each echo and, after the last one, closes the session; it does that until
``handshakes`` exchanges are done (or ``attempts`` handshakes were started,
if set) and reports a summary. Both log one JSON line per notable
event on the console, prefixed ``EPHKEY``, for people and for tools/demo.py
and tools/reliability.py.

Application-level recovery (ExchangeApp), on top of the stations' own
retransmission of handshake frames and REKEYs:

* every payload starts with a 4-byte message number (``u32``, counting from 0
  over the whole run) followed by a pattern derived from it (``fill``), so
  either side can tell a genuine payload from anything else (``valid``);
* with ``echo_timeout_ms`` > 0, a message whose echo has not come back in that
  time is sent again (a new DATA frame, same message number), at most
  ``resends`` times; then the session is given up (closed) and a new one
  started, which goes on with the message whose echo was missing;
* an echo of an earlier message (the late echo of a resent one) is recognised
  by its number, counted in ``duplicates``, logged as ``duplicate`` and
  ignored; an echo that is neither the awaited message nor an earlier one, or
  whose pattern is wrong, is counted in ``corrupt`` (must stay 0: the
  protocol never delivers a forged or damaged payload) and ends the run;
* a DATA event's gap (frames lost before it) is added to ``lost``;
* a failed handshake (HANDSHAKE_FAILED) or a session closed by the peer before
  the exchange was done is restarted with a new handshake, at most
  ``reconnects`` times in a row without a finished exchange.
"""

import json
from time import ticks_add, ticks_diff, ticks_ms  # type: ignore[attr-defined]

from . import errors, events

HEAD = 4  # message number, u32 big-endian

_OPEN = 3  # SecondStation.OPEN


# Where event lines go: None prints them on the console; a transport that
# carries the link on the console (ephkey.console) puts a function here.
sink = None


def log(kind, **fields):
    fields["ev"] = kind
    if sink is None:
        print("EPHKEY", json.dumps(fields))
    else:
        sink("EPHKEY " + json.dumps(fields))


def fill(buf, n, number):
    """Payload ``number`` of ``n`` bytes (n >= HEAD) into buf[:n]."""
    buf[0] = (number >> 24) & 0xFF
    buf[1] = (number >> 16) & 0xFF
    buf[2] = (number >> 8) & 0xFF
    buf[3] = number & 0xFF
    for i in range(HEAD, n):
        buf[i] = 0x61 + (number + i) % 26


def number_of(buf, n):
    """The message number of a payload, or -1 if it is too short."""
    if n < HEAD:
        return -1
    return (buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]


def valid(buf, n):
    """True if buf[:n] is a payload made by ``fill``."""
    number = number_of(buf, n)
    if number < 0:
        return False
    for i in range(HEAD, n):
        if buf[i] != 0x61 + (number + i) % 26:
            return False
    return True


class EchoApp:
    """Sends every payload back; counts what a reliability run needs.

    ``checked``: payloads in ExchangeApp's format whose pattern was wrong are
    counted in ``bad`` (a forged or damaged payload that the protocol would
    have let through: must stay 0); ``gaps`` adds the frames-lost count of
    DATA events. With ``stats_ms`` > 0 a ``stats`` line is logged that often.
    """

    def __init__(self, role="first", checked=False, stats_ms=0, quiet=False):
        self.role = role
        self.checked = checked
        self.stats_ms = stats_ms
        self.quiet = quiet
        self.echoed = 0
        self.gaps = 0
        self.bad = 0
        self.unsent = 0
        self.rejected = {}
        self.links_lost = 0
        self._stats_task = None

    async def start(self, node):
        if self.stats_ms > 0 and self._stats_task is None:  # once, not per (re)connection
            import asyncio
            self._stats_task = asyncio.create_task(self._stats(node))

    def on_link_lost(self, node, sids):
        """The BLE connection dropped: the node ended these sessions."""
        self.links_lost += 1
        for sid in sids:
            log("closed", role=self.role, sid=sid, reason="LINK_LOST")

    async def _stats(self, node):
        from asyncio import sleep_ms  # type: ignore[attr-defined]
        while True:
            await sleep_ms(self.stats_ms)
            self.report(node)

    def report(self, node):
        rx = getattr(node.link, "rx", None)
        link = {}
        if rx is not None:
            for k in ("frames_ok", "crc_errors", "too_long", "cobs_errors", "runts"):
                link[k] = getattr(rx, k, 0)
        st = node.st
        table = getattr(st, "table", None)
        ring = getattr(st, "ring", None)
        import gc
        gc.collect()  # so that mem is the heap in use, not what awaits collection
        mem = gc.mem_alloc()  # type: ignore[attr-defined]
        log("stats", role=self.role, mem=mem, echoed=self.echoed, gaps=self.gaps,
            bad=self.bad, unsent=self.unsent, rejected=self.rejected, frames_in=node.frames_in,
            frames_out=node.frames_out, link=link,
            open=table.count_state(2) if table is not None else -1,
            half_open=table.count_state(1) if table is not None else -1,
            srks=ring.live_count() if ring is not None else -1)

    async def on_event(self, node, code):
        st = node.st
        if code == events.DATA:
            self.gaps += st.ev_arg
            if self.checked and not valid(st.payload, st.ev_len):
                self.bad += 1
                log("bad_payload", role=self.role, sid=st.ev_sid, n=st.ev_len)
            try:
                st.send(st.ev_sid, st.payload, st.ev_len, ticks_ms())
            except errors.ProtocolError:
                # this very frame ended the session (it was the last one its
                # keys allowed: CLOSED(KEYS_EXHAUSTED) follows); S sends it again
                self.unsent += 1
                return
            self.echoed += 1
        elif code == events.ERROR:
            name = errors.NAMES[st.ev_arg] if st.ev_arg < len(errors.NAMES) else str(st.ev_arg)
            self.rejected[name] = self.rejected.get(name, 0) + 1
            if not self.quiet:
                log("rejected", role=self.role, sid=st.ev_sid, code=name)
        elif not self.quiet or code != events.PEER_ERROR:
            log(events.NAMES[code].lower(), role=self.role, sid=st.ev_sid, arg=st.ev_arg)


class ExchangeApp:
    def __init__(self, messages=100, size=32, reconnects=3, handshakes=1,
                 echo_timeout_ms=0, resends=3, tick_ms=20, quiet=False, clock=None,
                 attempts=0):
        self.messages = messages
        self.attempts = attempts
        self.size = max(size, HEAD)
        self.reconnects = reconnects
        self.handshakes = handshakes
        self.echo_timeout_ms = echo_timeout_ms
        self.resends = resends
        self.tick_ms = tick_ms
        self.quiet = quiet
        self.clock = clock or ticks_ms
        self.sent = 0  # messages of the current session sent (first sends)
        self.echoed = 0  # echoes received, over the whole run
        self.exchanges = 0  # sessions whose exchange finished
        self.rotations = 0
        self.handshakes_started = 0
        self.established = 0
        self.hs_failed = 0
        self.sessions_lost = 0
        self.failures = 0  # restarts in a row without a finished exchange
        self.reasons = {}
        self.resent = 0
        self.duplicates = 0
        self.corrupt = 0
        self.lost = 0
        self.peer_errors = 0
        self._peer_error = 0  # last ERROR frame F sent during this handshake
        self.rejected = 0
        self.done = False
        self.ok = False
        self.number = 0  # message number awaited
        self._session_msgs = 0  # echoes received in this session
        self._awaiting = False
        self._tries = 0
        self._deadline = 0
        self._t_connect = 0
        self._t_start = 0
        self.handshake_ms = -1
        self.hs_ms_total = 0
        self.links_lost = 0
        self._watching = False
        self._msg = bytearray(self.size)

    @classmethod
    def from_board(cls, app):
        """From a board file's ``app`` object (unknown keys are ignored)."""
        kw = {}
        for k in ("messages", "size", "reconnects", "handshakes", "echo_timeout_ms",
                  "resends", "tick_ms", "quiet", "attempts"):
            if k in app:
                kw[k] = app[k]
        return cls(**kw)

    async def start(self, node):
        """At start-up, and again on every new BLE connection: a new handshake."""
        if self.done:
            return
        if not self._t_start:
            self._t_start = self.clock()
        self._connect(node)
        if self.echo_timeout_ms > 0 and not self._watching:
            import asyncio
            self._watching = True
            asyncio.create_task(self._watch(node))
        await node.flush()

    def on_link_lost(self, node, sids):
        """The BLE connection dropped mid-run: the node ended the session; the
        exchange goes on with the next message once ``start`` runs again. Not
        counted against ``reconnects``: the link, not the protocol, failed."""
        self.links_lost += 1
        self._awaiting = False
        self.reasons["LINK_LOST"] = self.reasons.get("LINK_LOST", 0) + 1
        for sid in sids:
            log("closed", role="second", sid=sid, reason="LINK_LOST")

    async def _watch(self, node):
        from asyncio import sleep_ms  # type: ignore[attr-defined]
        while not self.done:
            await sleep_ms(self.tick_ms)
            if self.tick(node, self.clock()):
                await node.flush()

    def tick(self, node, now):
        """The echo timer; True if it queued something."""
        if self.done or not self._awaiting or ticks_diff(now, self._deadline) < 0:
            return False
        if self._tries <= self.resends:
            self.resent += 1
            self._send(node, now)
            return True
        # the echo never came back: give this session up, start another one
        self._awaiting = False
        if node.st.state == _OPEN:
            node.st.close(now)
        self._failed(node, "ECHO_LOST", 0)
        return True

    # -- sessions ------------------------------------------------------------

    def _connect(self, node):
        if self.attempts and self.handshakes_started >= self.attempts:
            self._finish(node, self.corrupt == 0)  # as many handshakes as asked for
            return
        self._t_connect = self.clock()
        self.handshakes_started += 1
        self.sent = 0
        self._session_msgs = 0
        self._awaiting = False
        self._peer_error = 0
        node.st.connect(self._t_connect)
        if not self.quiet:
            log("connect", role="second", n=self.handshakes_started)

    def _next(self, node):
        self.sent += 1
        self._tries = 0
        self._send(node, self.clock())

    def _send(self, node, now):
        if node.st.state != _OPEN:
            return
        fill(self._msg, self.size, self.number)
        node.st.send(self._msg, self.size, now)
        self._tries += 1
        self._awaiting = True
        self._deadline = ticks_add(now, self.echo_timeout_ms)

    def _failed(self, node, reason, sid):
        """A handshake failed or a session was lost before its exchange ended."""
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.failures += 1
        if self.failures > self.reconnects:
            self._finish(node, False)
            return
        self._connect(node)

    def _exchange_done(self, node):
        self.exchanges += 1
        self.failures = 0
        self._awaiting = False
        if node.st.state == _OPEN:
            node.st.close(self.clock())
        if self.exchanges >= self.handshakes:
            self._finish(node, True)
        else:
            self._connect(node)

    async def on_event(self, node, code):
        st = node.st
        if self.done:
            return
        if code == events.ESTABLISHED:
            self.established += 1
            ms = ticks_diff(self.clock(), self._t_connect)
            self.hs_ms_total += ms
            if self.handshake_ms < 0:
                self.handshake_ms = ms
            if not self.quiet:
                log("established", role="second", sid=st.ev_sid, handshake_ms=ms)
            if self.messages > 0:
                self._next(node)
            else:
                self._exchange_done(node)
        elif code == events.DATA:
            self.lost += st.ev_arg
            self._on_echo(node, st.payload, st.ev_len)
        elif code == events.ROTATED:
            self.rotations += 1
            if not self.quiet:
                log("rotated", role="second", sid=st.ev_sid, key=st.ev_arg)
        elif code == events.CLOSED or code == events.HANDSHAKE_FAILED:
            reason = errors.NAMES[st.ev_arg] if st.ev_arg < len(errors.NAMES) else str(st.ev_arg)
            if not self.quiet:
                log(events.NAMES[code].lower(), role="second", sid=st.ev_sid, reason=reason)
            if code == events.HANDSHAKE_FAILED:
                self.hs_failed += 1
                if self._peer_error:  # what F said, e.g. BUSY
                    reason += "/" + errors.NAMES[self._peer_error]
                self._failed(node, "HANDSHAKE_" + reason, st.ev_sid)
            else:
                self.sessions_lost += 1
                self._awaiting = False
                self._failed(node, "CLOSED_" + reason, st.ev_sid)
        elif code == events.ERROR:
            self.rejected += 1
            if not self.quiet:
                log("rejected", role="second", sid=st.ev_sid, code=errors.NAMES[st.ev_arg])
        elif code == events.PEER_ERROR:
            self.peer_errors += 1
            if st.ev_arg < len(errors.NAMES):
                self._peer_error = st.ev_arg
            if not self.quiet:
                log("peer_error", role="second", sid=st.ev_sid, code=errors.NAMES[st.ev_arg])

    def _on_echo(self, node, payload, n):
        number = number_of(payload, n)
        if not valid(payload, n) or n != self.size or number > self.number:
            self.corrupt += 1
            log("mismatch", role="second", n=self.number, got=number)
            self._finish(node, False)
            return
        if number < self.number or not self._awaiting:
            self.duplicates += 1  # a late echo of a message sent again: flagged, ignored
            if not self.quiet:
                log("duplicate", role="second", n=number)
            return
        self.echoed += 1
        self._session_msgs += 1
        self.number += 1
        self._awaiting = False
        if self._session_msgs < self.messages:
            self._next(node)
        else:
            self._exchange_done(node)

    def summary(self, node):
        link = {}
        rx = getattr(node.link, "rx", None)
        if rx is not None:
            for k in ("frames_ok", "crc_errors", "too_long", "cobs_errors", "runts"):
                link[k] = getattr(rx, k, 0)
        return dict(
            ok=self.ok, messages=self.echoed, exchanges=self.exchanges,
            handshake_ms=self.handshake_ms, handshakes=self.established,
            handshakes_started=self.handshakes_started, handshakes_failed=self.hs_failed,
            sessions_lost=self.sessions_lost, reasons=self.reasons,
            hs_ms_total=self.hs_ms_total, resent=self.resent, duplicates=self.duplicates,
            corrupt=self.corrupt, rotations=self.rotations, lost=self.lost,
            rejected=self.rejected, peer_errors=self.peer_errors, links_lost=self.links_lost,
            frames_out=node.frames_out, frames_in=node.frames_in,
            bytes_out=getattr(node.link, "bytes_out", 0),
            bytes_in=getattr(node.link, "bytes_in", 0), link=link,
            elapsed_ms=ticks_diff(self.clock(), self._t_start))

    def _finish(self, node, ok):
        self.done = True
        self.ok = ok
        self._awaiting = False
        if node.st.state == _OPEN:
            node.st.close(self.clock())
        log("summary", role="second", **self.summary(node))
