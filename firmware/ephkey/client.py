"""``ephkey.connect`` and ``ephkey.Client``: a second station (the client) on a link.

    link = ephkey.uart_link(board)
    async with ephkey.connect(link, pairing) as s:
        await s.send(b"temp=21.5")
        reply = await s.recv(timeout_ms=2000)

``async with`` starts a node (node.py) on the link in a task of its own,
runs the handshake and gives the Session once it is established, or raises
SessionError (e.g. UNKNOWN_PEER at the first ERROR frame that says so,
TIMEOUT when the first station never answered). Leaving the block closes
the session (CLOSE(OK) is flushed) and stops the node.

A client that opens one session after another keeps its station, node and
link (a BLE connection stays up) with ``Client``:

    async with ephkey.Client(link, pairing) as c:
        while True:
            s = await c.open()          # a handshake; SessionError if it fails
            ...
            s.close()

Under the Session (session.py): when the first station ends the session with
KEYS_EXHAUSTED the client starts a new handshake at once; ``send`` and
``recv`` wait for it and go on, ``rehandshakes`` counts them. On a link that
reconnects (BLE) a dropped connection does the same. What the application
can notice: DATA frames in flight when the old session ended are lost, as on
a lossy link (the protocol never resends DATA; the first station ends a
session on the frame that used its last key, so a request may arrive and
its answer not), and ``session.handshakes`` counts the handshakes under the
Session: a request-response application resends an unanswered request when
it changes (exchange_app.ExchangeApp does). Every other end raises SessionError.
"""

import asyncio

from . import errors, events
from .config import user_secret
from .session import ENDED, HANDSHAKING, LINK_LOST, OPEN, Session, SessionError

_RECONNECT = (errors.KEYS_EXHAUSTED,)


class _ClientApp:
    """The node's application: routes a second station's events to the Session
    (and each of them to ``observer(code, sid, arg)`` first, if given)."""

    def __init__(self, session=None, observer=None, secret=None):
        self.s = session
        self.observer = observer
        # suite 3: the user's secret, for every handshake this client starts
        self.secret = None if secret is None else bytearray(user_secret(secret))
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
        if self.secret is None:
            node.st.connect(node.clock())
        else:
            node.st.connect(node.clock(), self.secret)
        node.kick()

    def on_link_lost(self, node, sids):
        """The connection dropped (a link that reconnects): the node ended the
        station's session; start() handshakes again on the next connection."""
        self.links_lost += 1
        obs = self.observer
        if obs is not None:
            for sid in sids:
                obs(events.CLOSED, sid, LINK_LOST)
        s = self.s
        if s is not None and s.state == OPEN:
            s.state = HANDSHAKING

    async def on_event(self, node, code):
        self.event(node, code)

    def event(self, node, code):
        """One event of the station (allocation-free for DATA and ROTATED)."""
        st = node.st
        obs = self.observer
        if obs is not None:
            obs(code, st.ev_sid, st.ev_arg)
        s = self.s
        if s is None or s.state == ENDED:
            return
        if code == events.DATA:
            s._push(st.payload, st.ev_len, st.ev_arg)
        elif code == events.ESTABLISHED:
            s.sid = st.ev_sid
            s.state = OPEN
            s.handshakes += 1
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


class Client:
    """A second station on ``link``, its node run in a task; ``open()`` gives
    one Session after another (the same Session object, reset).

    ``pairing``: a config.Pairing (pairing_store.load("second")[0] reads the
    board's). ``config``: a SecondConfig (defaults of section 11). ``rng``:
    ``n -> n random bytes``, by default the board's hardware RNG through the
    health tests and HMAC_DRBG (hmac_drbg.station_rng). ``clock``: the
    stations' ``now_ms`` (ticks_ms). ``rx_slots``: payloads buffered for
    ``recv``. ``on_event(code, sid, arg)``: every event of the station
    (events.py), for statistics and logs; called inside the node, keep it
    short. ``station``: a SecondStation made beforehand (runtime.py), instead
    of ``pairing``, ``config`` and ``rng``. ``secret``: the user's secret
    (8 to 64 bytes) for a pairing record with ``user`` (suite 3, spec 15.10);
    the Client keeps a copy for the new handshakes it starts under the Session
    (KEYS_EXHAUSTED, a dropped BLE connection) and overwrites it at ``stop``.
    """

    def __init__(self, link, pairing, config=None, rng=None, clock=None, rx_slots=4,
                 poll_ms=20, on_event=None, station=None, secret=None):
        from time import ticks_ms  # type: ignore[attr-defined]

        from .node import Node

        clock = clock or ticks_ms
        st = station
        if st is None:
            from .config import SecondConfig
            from .second import SecondStation

            if rng is None:
                from .hmac_drbg import default_rng

                rng = default_rng()
            st = SecondStation(config or SecondConfig(), pairing, rng, clock())
        cfg = st.cfg
        self.link = link
        self.app = _ClientApp(None, on_event, secret)
        self.node = Node(st, link, self.app, poll_ms, clock)
        s = Session(self.node, cfg.max_payload, rx_slots)
        s.state = ENDED
        s.error = SessionError(errors.OK, "not opened")
        self.app.s = s
        self.session = s
        self._task = None

    def start(self):
        """Run the node on the link (open() does it when needed)."""
        if self._task is None:
            serve = getattr(self.link, "serve", None)  # a link that reconnects (BLE)
            node = self.node
            self._task = asyncio.create_task(serve(node) if serve else self._run(node))

    async def _run(self, node):
        try:
            await node.run()
        except OSError as e:
            s = self.session
            s._end(LINK_LOST, "link failed: %s" % e)
            self.app.established.set()

    async def wait(self):
        """Until the node stops (the link failed, or stop())."""
        task = self._task
        if task is not None:
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def open(self):
        """A handshake: the Session once established; SessionError if it fails
        (the Session stays ended). Closes the Session first if it is open."""
        s = self.session
        app = self.app
        if s.state != ENDED:
            s.close()
        if self._task is not None and self._task.done():
            raise s.error if s.error is not None else SessionError(LINK_LOST, "link failed")
        s._reset(0)
        s.state = HANDSHAKING
        app.established.clear()
        self.start()
        if self.node.running:  # else start() handshakes when the node starts
            app._handshake(self.node)
        await app.established.wait()
        if s.error is not None:
            raise s.error
        return s

    async def stop(self):
        """Close the Session (CLOSE(OK) is flushed) and stop the node."""
        node = self.node
        self.session.close()
        try:
            await node.flush()
        except OSError:
            pass
        secret = self.app.secret
        if secret is not None:
            for i in range(len(secret)):
                secret[i] = 0
            self.app.secret = None
        node._scrub()
        task = self._task
        self._task = None
        if task is not None:
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: BLE001 -- CancelledError, or what stopped it
                pass
        teardown = getattr(self.link, "teardown", None)  # BLE: disconnect
        if teardown is not None:
            await teardown()

    async def __aenter__(self):
        self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()
        return False


class connect:  # noqa: N801 -- used as a function: ``async with ephkey.connect(...)``
    """``async with connect(link, pairing, **kw) as session``: a Client(link,
    pairing, **kw) for one session (the module's docstring)."""

    def __init__(self, link, pairing, **kw):
        self.client = Client(link, pairing, **kw)

    async def __aenter__(self):
        try:
            return await self.client.open()
        except BaseException:
            await self.client.stop()
            raise

    async def __aexit__(self, *exc):
        await self.client.stop()
        return False
