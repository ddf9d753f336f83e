"""The application API of the host: sessions over a link, in asyncio.

The host as second station (a client)::

    link = await ephkey_host.serial_link("/dev/ttyUSB0", 115200)  # tcp_link, ble_link
    async with ephkey_host.connect(link, pairing) as s:
        await s.send(b"hello")
        print(await s.recv(timeout=2.0))

The host as first station (a server)::

    async def handler(session):
        async for payload in session:      # ends when the peer closes normally
            await session.send(payload)

    await ephkey_host.serve(link, pairings, handler)

The same shapes and names as the firmware's API (``ephkey.connect``,
``serve``, ``Session``, ``SessionError``, ``load_pairings``, ``LINK_LOST``);
the host's own: ``recv(timeout=2.0)`` in seconds (asyncio's unit), an
unbounded receive queue, no allocation-free ``try_`` forms, and a first
station's handler that keeps its session across a re-handshake.

What the application does not see: handshake retransmissions, key rotation
(REKEY / KEY_ACK), and the new handshake after a session ended with
``KEYS_EXHAUSTED``: the second station opens a new session at once, and on
the first station the handler's :class:`Session` carries on with the new
session of the same peer (if it comes within ``resume_s``). ``send`` waits
while that runs.

What it does see: :class:`~.errors.SessionError`, one exception type with
the spec's code (``code``, ``name``, ``hint``), raised by ``connect`` when
the handshake fails (``UNKNOWN_PEER`` fails at the first answer that says
so, with a hint to pair again) and by ``send`` / ``recv`` once the session
ended: ``code == Code.OK`` for a normal close by either side, the CLOSE's
reason otherwise, ``LINK_LOST`` when the link went away. ``async for``
over a session stops at a normal close and raises for the others.

``recv`` returns ``bytes``: the payload of one DATA frame, a copy the
application owns (never a view of a buffer that is reused). Payloads
wait in the session, in order, until read; data that arrived before a
close is handed out before the close raises.

``send`` applies back-pressure: it returns once the station has protected
the payload and queued its frame, and it waits first while the handshake (or
a re-handshake) runs, while the station's output queue still holds frames,
and, through that queue, while the link does not take more (a full socket
buffer, a full BLE window, a full memory link). No payload is dropped for
lack of room (the station's DROPPED event is counted in ``stats`` and does
not occur this way). The protocol does not acknowledge DATA frames: a frame
in flight when the peer ends the session is lost with it, as on the board.
That includes the end at ``KEYS_EXHAUSTED``: the new session is invisible,
but a payload the second station sent while the first station's
CLOSE(KEYS_EXHAUSTED) was on its way is rejected there (UNKNOWN_SESSION);
a request/response application resends on a timeout (``ephkey peer`` does,
tests/host/test_host_api.py shows it against a board). A host first station
does better for its own replies: its handler's ``send`` waits for the peer's
next session and the reply goes out there.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from . import events as ev
from .config import FirstConfig, Pairing, SecondConfig
from .errors import LINK_LOST, Code, SessionError, UsageError, code_name
from .events import Event
from .first import FirstStation
from .links import Link
from .second import SecondStation
from .station import Rng

_log = logging.getLogger(__name__)
TICK_S = 0.02  # how often the stations' timers run (poll)
UNKNOWN_PEER_HINT = ("the first station does not know this identity: pair the two again "
                     "(ephkey pair ...)")


def _lost(e: BaseException) -> SessionError:
    """LINK_LOST for a session whose node stopped on ``e`` (kept as the cause)."""
    err = SessionError(LINK_LOST, str(e))
    err.__cause__ = e
    return err


class Session:
    """One session as the application sees it (both roles)."""

    def __init__(self, node: _Node, sid: int, peer: bytes) -> None:
        self._node = node
        self.sid = sid  # the protocol session's sid (changes after a re-handshake)
        self.peer = peer  # the other station's identity
        self._inbox: deque[bytes] = deque()
        self._changed = asyncio.Event()
        self._open = False
        self.error: SessionError | None = None  # how it ended; None while it runs
        self.rotations = 0
        self.rehandshakes = 0  # new sessions after KEYS_EXHAUSTED, unseen by the caller
        self.lost = 0  # DATA frames the link lost (gaps in the peer's sequence numbers)
        self.waits = 0  # times send waited for room (back-pressure)

    # -- the application's calls ----------------------------------------------
    async def send(self, payload: bytes) -> None:
        """Protect and queue one payload (at most ``max_payload`` bytes)."""
        payload = bytes(payload)
        if len(payload) > self._node.max_payload:
            raise ValueError("payload of %d bytes, max_payload is %d"
                             % (len(payload), self._node.max_payload))
        while True:
            if not self.open or self._node.busy_out():
                self.waits += 1
            await self._until_open()
            await self._node.room()
            if self._open and self.error is None and self._node.send_data(self, payload):
                return

    async def recv(self, timeout: float | None = None) -> bytes:
        """The next payload (a ``bytes`` copy); ``TimeoutError`` after
        ``timeout`` seconds without one; :class:`SessionError` once ended."""
        if timeout is None:
            return await self._next()
        try:
            return await asyncio.wait_for(self._next(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError("no payload in %.3g s" % timeout) from None

    def close(self) -> None:
        """End the session normally: CLOSE(OK) goes out after what is queued;
        later calls of ``send`` / ``recv`` raise SessionError(OK). Twice is harmless."""
        if self.error is None:
            self._node.close_session(self)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            try:
                yield await self._next()
            except SessionError as e:
                if e.code == Code.OK:
                    return
                raise

    @property
    def open(self) -> bool:
        """True while established (False during a re-handshake and once ended)."""
        return self._open and self.error is None

    def stats(self) -> dict[str, int]:
        return dict(rotations=self.rotations, rehandshakes=self.rehandshakes, lost=self.lost,
                    waits=self.waits, **self._node.counts)

    # -- the node's calls -----------------------------------------------------
    async def _changes(self) -> None:
        """Until the session next changes; its error if it has ended."""
        if self.error is not None:
            raise self.error
        self._changed.clear()
        await self._changed.wait()

    async def _until_open(self) -> None:
        while not self._open:
            await self._changes()
        if self.error is not None:
            raise self.error

    async def _next(self) -> bytes:
        while not self._inbox:
            await self._changes()
        return self._inbox.popleft()

    def _deliver(self, payload: bytes) -> None:
        self._inbox.append(payload)
        self._changed.set()

    def _set_open(self, is_open: bool, sid: int = 0) -> None:
        self._open = is_open
        if sid:
            self.sid = sid
        self._changed.set()

    def _finish(self, err: SessionError) -> None:
        if self.error is None:
            self.error = err
            self._open = False
            self._changed.set()


class _Node:
    """A station, its link and its timers: the host's ``node.py`` for the API.

    Three tasks: the reader hands frames to the station, the timer runs
    ``poll`` every TICK_S, the writer hands the station's frames to the link
    one at a time (so a link that waits makes the station's queue wait,
    and ``room`` makes ``send`` wait). After each input the node drains the
    station's events and runs its jobs (4.7), as ``peer.py`` does.
    """

    def __init__(self, station: FirstStation | SecondStation, link: Link,
                 on_event: Callable[[Event], None]) -> None:
        self.station = station
        self.link = link
        self.max_payload = station.config.max_payload
        self._on_event = on_event
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._queued = asyncio.Event()
        self._drained = asyncio.Event()
        self._writing = False
        self.failure: BaseException | None = None
        self.counts = {"dropped": 0, "rejected": 0, "peer_errors": 0}
        self._tasks: list[asyncio.Task[None]] = []

    def now(self) -> int:
        return int((self._loop.time() - self._t0) * 1000)

    def start(self) -> None:
        for coro in (self._reader(), self._timer(), self._writer()):
            self._tasks.append(self._loop.create_task(self._guard(coro)))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _guard(self, coro: Awaitable[None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # the link went away, or a bug: end everything
            if self.failure is None:
                self.failure = e
                self._drained.set()
                self._on_link_lost(e)

    def _on_link_lost(self, e: BaseException) -> None:
        raise NotImplementedError

    # -- driving the station ----------------------------------------------------
    def pump(self) -> None:
        """Events to the application, then the jobs (prepare, work while busy)."""
        st = self.station
        self._events()
        if isinstance(st, FirstStation):
            st.prepare(self.now())
        while st.busy():
            st.work(self.now())
            self._events()
        if st.queued():
            self._queued.set()

    def _events(self) -> None:
        while True:
            e = self.station.next_event()
            if e is None:
                return
            if e.name == ev.DROPPED:
                self.counts["dropped"] += 1
            elif e.name == ev.ERROR:
                self.counts["rejected"] += 1
            elif e.name == ev.PEER_ERROR:
                self.counts["peer_errors"] += 1
            self._on_event(e)

    async def _reader(self) -> None:
        while True:
            frame = await self.link.recv()
            self.station.receive(frame, self.now())
            self.pump()

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.station.poll(self.now())
            self.pump()

    async def _writer(self) -> None:
        st = self.station
        while True:
            frame = st.next_output()
            if frame is None:
                self._drained.set()
                self._queued.clear()
                await self._queued.wait()
                continue
            self._writing = True
            try:
                await self.link.send(frame)
            finally:
                self._writing = False

    def busy_out(self) -> bool:
        return bool(self.station.queued() or self._writing)

    async def room(self) -> None:
        """Wait until the station's queue is empty and the link took its last frame."""
        while (self.station.queued() or self._writing) and self.failure is None:
            self._drained.clear()
            await self._drained.wait()

    # -- the sessions' calls ----------------------------------------------------
    def send_data(self, session: Session, payload: bytes) -> bool:
        raise NotImplementedError

    def close_session(self, session: Session) -> None:
        raise NotImplementedError


# -- the second station: connect ---------------------------------------------------

class _SecondNode(_Node):
    station: SecondStation

    def __init__(self, link: Link, pairing: Pairing, config: SecondConfig, rng: Rng) -> None:
        self.session: Session | None = None
        super().__init__(SecondStation(config, pairing, rng, 0), link, self._event)
        self.session = Session(self, 0, pairing.id_f)
        self._closing = False
        self._close_when_open = False
        self.close_out = asyncio.Event()  # set once no CLOSE of ours remains to be queued
        self._peer_error = 0

    def connect(self) -> None:
        self._peer_error = 0
        self.station.connect(self.now())
        self.pump()

    def _event(self, e: Event) -> None:
        s = self.session
        assert s is not None
        if e.name == ev.ESTABLISHED:
            if self._close_when_open:  # closed during a re-handshake: end it properly
                self.station.close(self.now())
                self.close_out.set()
                return
            s._set_open(True, e.sid)
        elif e.name == ev.DATA:
            s.lost += e.arg
            s._deliver(e.payload or b"")
        elif e.name == ev.ROTATED:
            s.rotations += 1
        elif e.name == ev.CLOSED:
            s._set_open(False)
            if e.arg == Code.KEYS_EXHAUSTED and not self._closing:
                s.rehandshakes += 1  # the session's keys are used up: a new one
                self.connect()
            else:
                s._finish(SessionError(e.arg, "session %d closed" % e.sid))
        elif e.name == ev.HANDSHAKE_FAILED:
            self.close_out.set()
            said = " (the first station answered %s)" % code_name(self._peer_error) \
                if self._peer_error else ""
            s._finish(SessionError(e.arg, "handshake failed" + said))
        elif e.name == ev.PEER_ERROR:
            self._peer_error = e.arg
            if e.arg == Code.UNKNOWN_PEER and self.station.state == "WAIT_SRK":
                # retrying cannot help, pairing can: fail now
                self.station.close(self.now())
                s._finish(SessionError(Code.UNKNOWN_PEER, "the first station refused "
                                       "identity %s" % self._id_s(), UNKNOWN_PEER_HINT))

    def _id_s(self) -> str:
        pairing = self.station.pairing
        return pairing.id_s.hex() if pairing is not None else "?"

    def _on_link_lost(self, e: BaseException) -> None:
        self.close_out.set()
        if self.session is not None:
            self.session._finish(_lost(e))

    def send_data(self, session: Session, payload: bytes) -> bool:
        st = self.station
        if st.state != "OPEN":
            return False
        st.send_data(payload, self.now())
        sent = st.state == "OPEN"  # else: the seq limit closed it instead (3.7)
        self.pump()
        return sent

    def close_session(self, session: Session) -> None:
        self._closing = True
        session._finish(SessionError(Code.OK, "closed by this station"))
        if session.rehandshakes and self.station.state != "OPEN" and self.station.state != "IDLE":
            # A re-handshake runs: the first station's handler waits for this
            # new session, so it is finished and then closed (CLOSE needs keys).
            self._close_when_open = True
        else:
            self.station.close(self.now())  # CLOSE(OK) if OPEN; no event
            self.close_out.set()
        self.pump()

    async def flush_close(self) -> None:
        """Until our CLOSE (if one is due) was handed to the link."""
        if self._closing:
            await self.close_out.wait()
        await self.room()


class connect:  # noqa: N801 - used as a function: ``async with connect(...) as s``
    """The host as second station: ``async with connect(link, pairing) as s``.

    Opens a session (one handshake with the station's retransmissions:
    ``retry_ms`` x ``max_tries`` of ``config``) and returns its
    :class:`Session`; raises :class:`SessionError` if that fails. Leaving the
    block closes the session normally (CLOSE(OK) is sent before it returns);
    the link stays open for the caller. ``rng`` defaults to ``os.urandom``;
    ``close_s`` bounds the wait for the link to take the CLOSE.
    """

    def __init__(self, link: Link, pairing: Pairing, config: SecondConfig | None = None,
                 *, rng: Rng = os.urandom, close_s: float = 2.0) -> None:
        self._args = (link, pairing, config or SecondConfig(), rng)
        self._close_s = close_s
        self._node: _SecondNode | None = None

    async def __aenter__(self) -> Session:
        node = _SecondNode(*self._args)
        self._node = node
        node.start()
        node.connect()
        s = node.session
        assert s is not None
        try:
            await s._until_open()
        except BaseException:
            await node.stop()
            raise
        return s

    async def __aexit__(self, *exc: object) -> None:
        node = self._node
        assert node is not None and node.session is not None
        try:
            if node.failure is None:
                node.session.close()
                # CLOSE(OK) goes out unless the link stays full (a peer that stopped
                # reading) or a re-handshake does not finish in close_s
                await asyncio.wait_for(node.flush_close(), self._close_s)
        except asyncio.TimeoutError:
            pass
        finally:
            await node.stop()


# -- the first station: serve ------------------------------------------------------

Handler = Callable[[Session], Awaitable[None]]


class _FirstNode(_Node):
    station: FirstStation

    def __init__(self, link: Link, pairings: list[Pairing], config: FirstConfig, rng: Rng,
                 handler: Handler, resume_s: float) -> None:
        super().__init__(FirstStation(config, pairings, rng, 0), link, self._event)
        self._handler = handler
        self._resume_s = resume_s
        self._by_sid: dict[int, Session] = {}
        self._resuming: dict[bytes, tuple[Session, asyncio.TimerHandle]] = {}
        self.handlers: set[asyncio.Task[None]] = set()
        self.finished = 0
        self.handler_failures = 0
        self.done = asyncio.Event()

    def _event(self, e: Event) -> None:
        if e.name == ev.ESTABLISHED:
            peer = self.station.session_peer(e.sid) or b""
            waiting = self._resuming.pop(peer, None)
            if waiting is not None:  # the same peer again after KEYS_EXHAUSTED
                old, timer = waiting
                timer.cancel()
                old.rehandshakes += 1
                self._by_sid[e.sid] = old
                old._set_open(True, e.sid)
                return
            new = Session(self, e.sid, peer)
            self._by_sid[e.sid] = new
            new._set_open(True)
            task = self._loop.create_task(self._run(new))
            self.handlers.add(task)
            return
        s = self._by_sid.get(e.sid)
        if s is None:
            return
        if e.name == ev.DATA:
            s.lost += e.arg
            s._deliver(e.payload or b"")
        elif e.name == ev.ROTATED:
            s.rotations += 1
        elif e.name == ev.CLOSED:
            del self._by_sid[e.sid]
            s._set_open(False)
            if e.arg == Code.KEYS_EXHAUSTED and s.error is None:
                # the peer opens a new session; the handler waits for it
                err = SessionError(e.arg, "session %d closed, no new one came" % e.sid)
                timer = self._loop.call_later(self._resume_s, self._give_up, s, err)
                self._resuming[s.peer] = (s, timer)
            else:
                s._finish(SessionError(e.arg, "session %d closed" % e.sid))

    def _give_up(self, s: Session, err: SessionError) -> None:
        if self._resuming.get(s.peer, (None,))[0] is s:
            del self._resuming[s.peer]
        s._finish(err)

    async def _run(self, s: Session) -> None:
        try:
            await self._handler(s)
        except SessionError:
            pass  # the session ended under the handler: nothing to do
        except Exception:  # one handler's bug must not stop the server (as on the board)
            _log.exception("handler of session %d (peer %s) failed; session closed",
                           s.sid, s.peer.hex())
            self.handler_failures += 1
        finally:
            if s.error is None:
                self.close_session(s)
            self.handlers.discard(asyncio.current_task())
            self.finished += 1
            self.done.set()

    def _on_link_lost(self, e: BaseException) -> None:
        for s in list(self._by_sid.values()) + [s for s, _t in self._resuming.values()]:
            s._finish(_lost(e))
        self.done.set()

    def send_data(self, session: Session, payload: bytes) -> bool:
        try:
            self.station.send_data(session.sid, payload, self.now())
        except UsageError:
            return False  # the session is gone this very moment: the caller re-checks
        self.pump()
        return True

    def close_session(self, session: Session) -> None:
        session._finish(SessionError(Code.OK, "closed by this station"))
        for peer, (s, timer) in list(self._resuming.items()):
            if s is session:
                timer.cancel()
                del self._resuming[peer]
        if self._by_sid.get(session.sid) is session:
            del self._by_sid[session.sid]
            self.station.close(session.sid, self.now())
            self.pump()


async def serve(link: Link, pairings: Iterable[Pairing], handler: Handler,
                config: FirstConfig | None = None, *, rng: Rng = os.urandom,
                sessions: int = 0, resume_s: float = 10.0) -> None:
    """The host as first station: ``await handler(session)`` for every session.

    Runs until cancelled, until the link is lost (:class:`~.links.LinkError`),
    or, with ``sessions`` > 0, until that many handlers returned. A handler
    returning closes its session normally; a :class:`SessionError` out of a
    handler is the session's end and is not raised further; any other
    exception of a handler is logged (logger ``ephkey_host.api``, with its
    traceback) and closes its session, and serve goes on, as the firmware's
    does. After
    ``KEYS_EXHAUSTED`` the handler's session waits ``resume_s`` seconds for the
    same peer's next session and carries on with it.
    """
    node = _FirstNode(link, list(pairings), config or FirstConfig(), rng, handler, resume_s)
    node.start()
    node.pump()  # the first key pairs (suite 2)
    try:
        while True:
            node.done.clear()
            if node.failure is not None:
                raise node.failure
            if sessions and node.finished >= sessions:
                await node.room()  # the last CLOSE goes out before serve returns
                return
            await node.done.wait()
    finally:
        for t in list(node.handlers):
            t.cancel()
        await asyncio.gather(*node.handlers, return_exceptions=True)
        await node.stop()


def load_pairings(role: str, path: str = "ephkey_host_pairing.json") -> list[Pairing]:
    """The pairings the host holds as ``role`` ("first" or "second") in a
    station file (``ephkey pair --host-file``'s default name by default); the
    arguments in the firmware's order (``ephkey.load_pairings(role)``).
    Raises ``pairing.PairingFileError`` (a ValueError) naming the problem."""
    from .pairing import load_station_file

    return load_station_file(path, role)


__all__ = ["Handler", "Session", "SessionError", "connect", "load_pairings", "serve"]
