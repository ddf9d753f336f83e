"""ExchangeApp: the second station's board application, written on the
application API like any user's (``ephkey.Client``; README, "The firmware
API"). It opens a session (``Client.open``), sends ``messages`` payloads
one at a time (apps.fill), checks each echo and, after the last one, closes
the session; it does that until ``handshakes`` exchanges are done (or
``attempts`` handshakes were started, if set) and logs a summary. Its counts
of protocol events (rotations, rejected frames, the first station's ERROR
frames, gaps) come from the API's ``on_event`` observer.

Application-level recovery, on top of the stations' own retransmission of
handshake frames and REKEYs:

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
* a failed handshake (SessionError from ``open``) or a session that ended
  (SessionError from ``send``/``recv``) before the exchange was done is
  restarted with a new handshake, at most ``reconnects`` times in a row
  without a finished exchange;
* a session the first station ended with KEYS_EXHAUSTED is not a failure:
  the Session handshakes again under the exchange (``rehandshakes``).
"""

from time import ticks_diff, ticks_ms  # type: ignore[attr-defined]

from . import errors, events
from .apps import HEAD, fill, link_stats, log, number_of, valid
from .session import LINK_LOST, SessionError, error_name


class _EchoLost(Exception):
    pass


_STEP_MS = 200  # how often an echo's wait looks for a new handshake under the Session


class ExchangeApp:
    """``run(client)``: the exchanges on an ephkey.Client, ``on_event`` its
    observer (give it to the Client). ``tick_ms`` is accepted for board files
    that set it and unused: the echo timer is ``recv_into``'s timeout."""

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
        self.echoed = 0  # echoes received, over the whole run
        self.exchanges = 0  # sessions whose exchange finished
        self.rotations = 0
        self.handshakes_started = 0
        self.established = 0
        self.rehandshakes = 0  # new handshakes under a Session after KEYS_EXHAUSTED
        self.hs_failed = 0
        # a handshake started (open, or one the Session started) and not yet
        # established or failed: every start ends in exactly one of the two
        self._hs_pending = False
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
        self._t_connect = 0
        self._t_start = 0
        self.handshake_ms = -1
        self.hs_ms_total = 0
        self.links_lost = 0
        self._msg = bytearray(self.size)
        self._rx = bytearray(self.size)
        self.client = None

    @classmethod
    def from_board(cls, app):
        """From a board file's ``app`` object (unknown keys are ignored)."""
        kw = {}
        for k in ("messages", "size", "reconnects", "handshakes", "echo_timeout_ms",
                  "resends", "tick_ms", "quiet", "attempts"):
            if k in app:
                kw[k] = app[k]
        return cls(**kw)

    # -- what the Client's station reports ----------------------------------

    def on_event(self, code, sid, arg):
        if code == events.DATA:
            self.lost += arg
        elif code == events.ESTABLISHED:
            self.established += 1
            self._hs_pending = False
            ms = ticks_diff(self.clock(), self._t_connect)
            self.hs_ms_total += ms
            if self.handshake_ms < 0:
                self.handshake_ms = ms
            if not self.quiet:
                log("established", role="second", sid=sid, handshake_ms=ms)
        elif code == events.ROTATED:
            self.rotations += 1
            if not self.quiet:
                log("rotated", role="second", sid=sid, key=arg)
        elif code == events.CLOSED or code == events.HANDSHAKE_FAILED:
            if code == events.CLOSED and arg == LINK_LOST:
                # the BLE connection dropped: the Session handshakes again on the
                # next one; not counted against ``reconnects`` (the link failed)
                self.links_lost += 1
                self.reasons["LINK_LOST"] = self.reasons.get("LINK_LOST", 0) + 1
                self._hs_start()
            if code == events.CLOSED and arg == errors.KEYS_EXHAUSTED:
                self.rehandshakes += 1  # the Session handshakes again at once
                self._hs_start()
            if not self.quiet:
                log(events.NAMES[code].lower(), role="second", sid=sid, reason=error_name(arg))
        elif code == events.ERROR:
            self.rejected += 1
            if not self.quiet:
                log("rejected", role="second", sid=sid, code=error_name(arg))
        elif code == events.PEER_ERROR:
            self.peer_errors += 1
            if arg < len(errors.NAMES):
                self._peer_error = arg
            if not self.quiet:
                log("peer_error", role="second", sid=sid, code=error_name(arg))

    # -- the run -------------------------------------------------------------

    async def run(self, client):
        """Exchanges until done; returns ``ok`` (the summary line is logged)."""
        self.client = client
        self._t_start = self.clock()
        while not self.done:
            if self.attempts and self.handshakes_started >= self.attempts:
                self._finish(self.corrupt == 0)  # as many handshakes as asked for
                break
            self._hs_start()
            self._peer_error = 0
            if not self.quiet:
                log("connect", role="second", n=self.handshakes_started)
            try:
                s = await client.open()
            except SessionError as e:
                self._hs_end()
                reason = e.name
                if self._peer_error:  # what F said, e.g. BUSY
                    reason += "/" + errors.NAMES[self._peer_error]
                self._failed("HANDSHAKE_" + reason)
                continue
            try:
                if self.messages > 0:
                    await self._exchange(s)
            except SessionError as e:
                # a handshake the Session started failed, or the session ended
                if not self._hs_end():
                    self.sessions_lost += 1
                self._failed("CLOSED_" + e.name)
                continue
            except _EchoLost:
                s.close()  # the echo never came back: give this session up
                self._hs_end()  # with it any handshake the Session had started
                self._failed("ECHO_LOST")
                continue
            if self.done:  # a wrong echo ended the run
                break
            self.exchanges += 1
            self.failures = 0
            s.close()
            self._hs_end()
            if self.exchanges >= self.handshakes:
                self._finish(True)
        return self.ok

    async def _exchange(self, s):
        import asyncio

        msg = self._msg
        rx = self._rx
        size = self.size
        timeout = self.echo_timeout_ms if self.echo_timeout_ms > 0 else -1
        # the wait for an echo, in steps: after each, a new handshake under
        # the Session (its old session's echo will never come) sends the
        # message again, and the echo timer runs out or not
        step = _STEP_MS if timeout < 0 else min(timeout, _STEP_MS)
        for _ in range(self.messages):
            fill(msg, size, self.number)
            await s.send(msg, size)
            gen = s.handshakes
            tries = 1
            waited = 0
            while True:
                try:
                    n = await s.recv_into(rx, step)
                except asyncio.TimeoutError:
                    if s.handshakes != gen:  # KEYS_EXHAUSTED or a new BLE connection
                        gen = s.handshakes
                        waited = 0
                        await s.send(msg, size)
                        continue
                    waited += step
                    if timeout < 0 or waited < timeout:
                        continue
                    if tries > self.resends:
                        raise _EchoLost() from None
                    self.resent += 1
                    tries += 1
                    waited = 0
                    await s.send(msg, size)
                    continue
                number = number_of(rx, n)
                if not valid(rx, n) or n != size or number > self.number:
                    self.corrupt += 1
                    log("mismatch", role="second", n=self.number, got=number)
                    s.close()
                    self._finish(False)
                    return
                if number < self.number:
                    self.duplicates += 1  # a late echo of a message sent again: flagged, ignored
                    if not self.quiet:
                        log("duplicate", role="second", n=number)
                    continue
                break
            self.echoed += 1
            self.number += 1

    def _hs_start(self):
        self.handshakes_started += 1
        self._hs_pending = True
        self._t_connect = self.clock()

    def _hs_end(self):
        """A started handshake ends unestablished (failed, or given up with its
        Session): counted as failed; False if none was pending."""
        if not self._hs_pending:
            return False
        self._hs_pending = False
        self.hs_failed += 1
        return True

    def _failed(self, reason):
        """A handshake failed or a session was lost before its exchange ended."""
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.failures += 1
        if self.failures > self.reconnects:
            self._finish(False)

    def summary(self):
        client = self.client
        node = client.node if client is not None else None
        link = link_stats(node.link) if node is not None else {}
        return dict(
            ok=self.ok, messages=self.echoed, exchanges=self.exchanges,
            handshake_ms=self.handshake_ms, handshakes=self.established,
            handshakes_started=self.handshakes_started, handshakes_failed=self.hs_failed,
            sessions_lost=self.sessions_lost, reasons=self.reasons,
            rehandshakes=self.rehandshakes,
            hs_ms_total=self.hs_ms_total, resent=self.resent, duplicates=self.duplicates,
            corrupt=self.corrupt, rotations=self.rotations, lost=self.lost,
            rejected=self.rejected, peer_errors=self.peer_errors, links_lost=self.links_lost,
            frames_out=node.frames_out if node is not None else 0,
            frames_in=node.frames_in if node is not None else 0,
            bytes_out=getattr(node.link, "bytes_out", 0) if node is not None else 0,
            bytes_in=getattr(node.link, "bytes_in", 0) if node is not None else 0,
            link=link, elapsed_ms=ticks_diff(self.clock(), self._t_start))

    def _finish(self, ok):
        self.done = True
        self.ok = ok
        log("summary", role="second", **self.summary())
