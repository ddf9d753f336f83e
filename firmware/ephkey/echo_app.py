"""EchoApp: the first station's board application, a ``serve`` handler
written on the application API like any user's (README, "The firmware
API"): every payload goes back to its sender. It counts what a reliability
run needs and logs one ``EPHKEY`` line per notable event (apps.log) for
people and for tools/demo.py and tools/reliability.py.
"""

from . import events
from .apps import link_stats, log, valid
from .session import LINK_LOST, SessionError, error_name


class EchoApp:
    """Sends every payload back; counts what a reliability run needs.

    ``handler`` is the ``serve`` handler, ``on_event`` its observer,
    ``on_error`` its handler-error hook, ``on_node`` its node hook
    (statistics). ``checked``: payloads in ExchangeApp's format whose
    pattern was wrong are counted in ``bad`` (a forged or damaged payload
    that the protocol would have let through: must stay 0); ``gaps`` adds
    the frames-lost count of DATA events. With ``stats_ms`` > 0 a
    ``stats`` line is logged that often.
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
        self._bufs = {}  # Session -> its echo buffer

    async def handler(self, s):
        # one buffer per Session, kept: Sessions are reused, and a buffer made
        # and dropped per session would fragment a small heap
        buf = self._bufs.get(s)
        if buf is None:
            buf = self._bufs[s] = bytearray(s.max_payload)
        while True:
            # the try_ forms first: an await allocates its generator (session.py)
            n = s.try_recv_into(buf)
            if n < 0:
                n = await s.recv_into(buf)  # SessionError when the session ends
            if self.checked and not valid(buf, n):
                self.bad += 1
                log("bad_payload", role=self.role, sid=s.sid, n=n)
            try:
                if not s.try_send(buf, n):
                    await s.send(buf, n)
            except SessionError:
                # the very frame that was the last its keys allowed ended the
                # session (KEYS_EXHAUSTED): S sends the message again
                self.unsent += 1
                raise
            self.echoed += 1

    def on_error(self, session, e):
        # serve()'s on_error: an event line, not a traceback printed on the
        # console, which may carry the link
        log("handler_error", role=self.role, sid=session.sid, error=repr(e))

    def on_node(self, node):
        if self.stats_ms > 0 and self._stats_task is None:
            import asyncio
            self._stats_task = asyncio.create_task(self._stats(node))

    def on_event(self, code, sid, arg):
        if code == events.DATA:
            self.gaps += arg
        elif code == events.ERROR:
            name = error_name(arg)
            self.rejected[name] = self.rejected.get(name, 0) + 1
            if not self.quiet:
                log("rejected", role=self.role, sid=sid, code=name)
        elif code == events.CLOSED and arg == LINK_LOST:  # the BLE connection dropped
            self.links_lost += 1
            log("closed", role=self.role, sid=sid, reason="LINK_LOST")
        elif not self.quiet or code != events.PEER_ERROR:
            log(events.NAMES[code].lower(), role=self.role, sid=sid, arg=arg)

    async def _stats(self, node):
        from asyncio import sleep_ms  # type: ignore[attr-defined]
        while True:
            await sleep_ms(self.stats_ms)
            self.report(node)

    def report(self, node):
        link = link_stats(node.link)
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
