"""``ephkey.connect``: a second station (the client) on a link, as one Session.

    link = ephkey.uart_link(board)
    async with ephkey.connect(link, pairing) as s:
        await s.send(b"temp=21.5")
        reply = await s.recv(timeout_ms=2000)

``async with`` starts a node (node.py) on the link in a task of its own,
runs the handshake and gives the Session once it is established, or raises
SessionError (e.g. UNKNOWN_PEER at the first ERROR frame that says so,
TIMEOUT when the first station never answered). Leaving the block closes
the session (CLOSE(OK) is flushed) and stops the node.

Under the Session (session.py): when the first station ends the session with
KEYS_EXHAUSTED the client starts a new handshake at once; ``send`` and
``recv`` wait for it and go on, ``rehandshakes`` counts them. On a link that
reconnects (BLE) a dropped connection does the same (``links_lost``). What
the application can notice: DATA frames in flight when the old session ended
are lost, as on a lossy link, and nothing it queued is ever sent under the
wrong session. Every other end raises SessionError.
"""

import asyncio

from . import errors, events
from .session import ENDED, HANDSHAKING, LINK_LOST, OPEN, Session

_RECONNECT = (errors.KEYS_EXHAUSTED,)


class _ClientApp:
    """The node's application: routes a second station's events to the Session."""

    def __init__(self, session=None):
        self.s = session
        self.established = asyncio.Event()
        self.peer_error = 0
        self.rejected = 0
        self.dropped = 0
        self.links_lost = 0

    async def start(self, node):
        """Each time the node starts on the link (again after a BLE drop)."""
        s = self.s
        if s is None or s.state == ENDED:
            return
        self._handshake(node)
        await node.flush()

    def _handshake(self, node):
        self.peer_error = 0
        node.st.connect(node.clock())
        node.kick()

    def on_link_lost(self, node, sids):
        self.links_lost += 1
        s = self.s
        if s is not None and s.state == OPEN:
            s.state = HANDSHAKING  # the node ended it; start() handshakes again

    async def on_event(self, node, code):
        self.event(node, code)

    def event(self, node, code):
        """One event of the station (allocation-free for DATA and ROTATED)."""
        s = self.s
        st = node.st
        if s is None or s.state == ENDED:
            return
        if code == events.DATA:
            s._push(st.payload, st.ev_len, st.ev_arg)
        elif code == events.ESTABLISHED:
            s.sid = st.ev_sid
            s.state = OPEN
            self.established.set()
            node.drained.set()  # senders waiting for the new session
        elif code == events.ROTATED:
            s.rotations += 1
        elif code == events.CLOSED:
            if st.ev_arg in _RECONNECT:
                s.state = HANDSHAKING
                s.rehandshakes += 1
                self._handshake(node)
            else:
                s._end(st.ev_arg, "closed by the peer" if st.ev_arg != errors.TIMEOUT
                       else "idle timeout")
                self.established.set()
        elif code == events.HANDSHAKE_FAILED:
            msg = "handshake failed"
            if self.peer_error:
                msg += " (first station said %s)" % errors.NAMES[self.peer_error]
            s._end(st.ev_arg, msg)
            self.established.set()
        elif code == events.PEER_ERROR:
            arg = st.ev_arg
            if arg < len(errors.NAMES):
                self.peer_error = arg
            if arg == errors.UNKNOWN_PEER and s.state == HANDSHAKING:
                # this pairing is not one the first station holds: retrying
                # cannot help, say so now (pair the boards again)
                st.close(node.clock())
                s._end(errors.UNKNOWN_PEER, "the first station does not know this "
                       "pairing: pair again")
                self.established.set()
        elif code == events.ERROR:
            self.rejected += 1
        elif code == events.DROPPED:
            self.dropped += 1


class connect:  # noqa: N801 -- used as a function: ``async with ephkey.connect(...)``
    """``async with connect(link, pairing) as session``: see the module.

    ``pairing``: a config.Pairing (pairing_store.load("second")[0] reads the
    board's). ``config``: a SecondConfig (defaults of section 11). ``rng``:
    ``n -> n random bytes``, by default the board's hardware RNG through the
    health tests and HMAC_DRBG (hmac_drbg.station_rng). ``clock``: the
    stations' ``now_ms`` (ticks_ms). ``rx_slots``: payloads buffered for
    ``recv``.
    """

    def __init__(self, link, pairing, config=None, rng=None, clock=None, rx_slots=4,
                 poll_ms=20):
        self.link = link
        self.pairing = pairing
        self.config = config
        self.rng = rng
        self.clock = clock
        self.rx_slots = rx_slots
        self.poll_ms = poll_ms
        self.node = None
        self.session = None
        self._task = None

    async def __aenter__(self):
        from time import ticks_ms  # type: ignore[attr-defined]

        from .config import SecondConfig
        from .node import Node
        from .second import SecondStation

        cfg = self.config or SecondConfig()
        rng = self.rng
        if rng is None:
            import os

            from .hmac_drbg import station_rng
            rng = station_rng(os.urandom)
        clock = self.clock or ticks_ms
        st = SecondStation(cfg, self.pairing, rng, clock())
        app = _ClientApp()
        node = Node(st, self.link, app, self.poll_ms, clock)
        s = Session(node, cfg.max_payload, self.rx_slots)
        app.s = s
        self.node = node
        self.session = s
        serve = getattr(self.link, "serve", None)  # a link that reconnects (BLE)
        self._task = asyncio.create_task(serve(node) if serve else self._run(node))
        await app.established.wait()
        if s.error is not None:
            await self._stop()
            raise s.error
        return s

    async def _run(self, node):
        try:
            await node.run()
        except (OSError, asyncio.CancelledError) as e:
            if self.session is not None:
                self.session._end(LINK_LOST, "link failed: %s" % e)
                node.app.established.set()
            if not isinstance(e, OSError):
                raise

    async def __aexit__(self, *exc):
        s = self.session
        if s is not None:
            s.close()
        await self._stop()
        return False

    async def _stop(self):
        node = self.node
        if node is None:
            return
        try:
            await node.flush()  # CLOSE(OK) out before the node stops
        except OSError:
            pass
        node._scrub()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except BaseException:  # noqa: BLE001 -- CancelledError, or what stopped it
                pass
            self._task = None
