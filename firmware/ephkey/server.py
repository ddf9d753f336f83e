"""``ephkey.serve``: a first station (the server) on a link, one handler per session.

    async def handler(session):
        while True:
            data = await session.recv()      # SessionError when it ends
            await session.send(data)

    await ephkey.serve(link, pairings, handler)

Every established session runs ``handler(session)`` in a task of its own.
A Session ends with the handler (returning closes it: CLOSE(OK)), or when
the station ends it: the peer's CLOSE, the idle timeout, KEYS_EXHAUSTED
(its IDRK set used up: the client starts a new handshake, which arrives here
as a new session and a new handler call), a dropped link. Then the
handler's next ``send``/``recv`` raises SessionError, which serve() catches:
a handler need not. Any other exception of a handler goes to ``on_error``
(printed by default) and its session is closed; the server goes on.

The Sessions are made as sessions need them, at most ``config.sessions``
(one per session slot of the station), each with its receive buffers, and
reused for later sessions: a board that serves one peer at a time holds one. Rotation and
REKEY retransmission stay inside the station. ``serve`` returns only when
the link fails (the exception is raised) or, on a link that reconnects
(BLE), never.
"""

import asyncio

from . import events
from .session import ENDED, LINK_LOST, OPEN, Session


class _ServerApp:
    """The node's application: routes a first station's events to Sessions."""

    def __init__(self, handler, observer=None, on_error=None):
        self.handler = handler
        self.on_error = on_error
        self.observer = observer  # on_event(code, sid, arg) of serve()
        self.pool = []  # Sessions, made as sessions need them, then reused
        self.cap = 0  # at most one per session slot of the station
        self.rx_slots = 4
        self.rejected = 0
        self.dropped = 0
        self.handshakes_failed = 0
        self.links_lost = 0

    def find(self, sid):
        for s in self.pool:
            if s.state == OPEN and s.sid == sid:
                return s
        return None

    async def on_event(self, node, code):
        s = self.event(node, code)
        if s is not None:  # a new session: its handler
            asyncio.create_task(self._run(s))

    def event(self, node, code):
        """One event of the station; the Session to start a handler for, or
        None (allocation-free for DATA and ROTATED)."""
        st = node.st
        obs = self.observer
        if obs is not None:
            obs(code, st.ev_sid, st.ev_arg)
        if code == events.DATA:
            s = self.find(st.ev_sid)
            if s is not None:
                s._push(st.payload, st.ev_len, st.ev_arg)
        elif code == events.ESTABLISHED:
            for s in self.pool:
                if s.state == ENDED and not s._busy:
                    return self._take(s, st.ev_sid)
            if len(self.pool) < self.cap:  # one more Session, kept for later sessions
                s = _new(node, st.cfg, self.rx_slots)
                self.pool.append(s)
                return self._take(s, st.ev_sid)
            # every Session is held by a handler that has not returned yet
            st.close(st.ev_sid, node.clock())
        elif code == events.ROTATED:
            s = self.find(st.ev_sid)
            if s is not None:
                s.rotations += 1
        elif code == events.CLOSED:
            s = self.find(st.ev_sid)
            if s is not None:
                s._end(st.ev_arg, "closed")
        elif code == events.HANDSHAKE_FAILED:
            self.handshakes_failed += 1
        elif code == events.ERROR:
            self.rejected += 1
        elif code == events.DROPPED:
            self.dropped += 1
        return None

    @staticmethod
    def _take(s, sid):
        s._reset(sid)
        s.handshakes = 1
        s._busy = True
        return s

    def on_link_lost(self, node, sids):
        self.links_lost += 1
        obs = self.observer
        if obs is not None:
            for sid in sids:
                obs(events.CLOSED, sid, LINK_LOST)
        self.end_all()

    def end_all(self):
        for s in self.pool:
            if s.state == OPEN:
                s._end(LINK_LOST, "link lost")

    async def _run(self, s):
        from .session import SessionError

        try:
            await self.handler(s)
        except SessionError:
            pass
        except Exception as e:  # noqa: BLE001 -- one handler's bug must not stop the server
            if self.on_error is not None:
                self.on_error(s, e)
            else:
                import sys
                sys.print_exception(e)  # type: ignore[attr-defined]
        finally:
            s.close()
            s._busy = False


def _new(node, cfg, rx_slots):
    s = Session(node, cfg.max_payload, rx_slots)
    s.state = ENDED
    return s


async def serve(link, pairings, handler, config=None, rng=None, clock=None, rx_slots=4,
                poll_ms=20, on_event=None, on_node=None, station=None, on_error=None):
    """Answer sessions on ``link`` with ``handler``: see the module.

    ``pairings``: the config.Pairing list of the second stations this one
    knows (pairing_store.load("first")). ``config``: a FirstConfig
    (section 11's defaults). ``rng``, ``clock``: as for connect().
    ``on_event(code, sid, arg)``: every event of the station (events.py;
    CLOSED with LINK_LOST for the sessions a dropped connection ended), for
    statistics and logs; called inside the node, keep it short.
    ``on_node(node)``: called with the node before it starts (statistics,
    the watchdog). ``station``: a FirstStation made beforehand (runtime.py
    checks everything before anything starts), instead of ``pairings``,
    ``config`` and ``rng``.
    """
    from time import ticks_ms  # type: ignore[attr-defined]

    from .node import Node

    clock = clock or ticks_ms
    st = station
    if st is None:
        from .config import FirstConfig
        from .first import FirstStation

        if rng is None:
            from .hmac_drbg import default_rng

            rng = default_rng()
        st = FirstStation(config or FirstConfig(), pairings, rng, clock())
    cfg = st.cfg
    app = _ServerApp(handler, on_event, on_error)
    node = Node(st, link, app, poll_ms, clock)
    app.cap = cfg.sessions
    app.rx_slots = rx_slots
    if on_node is not None:
        on_node(node)
    run = getattr(link, "serve", None)  # a link that reconnects (BLE)
    try:
        await (run(node) if run else node.run())
    finally:
        app.end_all()  # the link failed, or serve() was cancelled
