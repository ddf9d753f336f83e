"""The application's view of a session: Session and SessionError, made by
``ephkey.connect`` / ``ephkey.Client`` (client.py) and ``ephkey.serve``
(server.py).

A Session is one end-to-end channel between the application and its peer.
What the stations do under it stays under it: handshake retransmission,
REKEY / KEY_ACK (key rotation), and, for a client, a new handshake after the
first station ended the session with KEYS_EXHAUSTED (its IDRK set used up):
``send``/``recv`` wait while that runs and go on on the new session.

Sending. ``try_send(buf, n)`` seals and queues one DATA frame and returns
True, or returns False without doing anything when there is no room: the
station's output queue has no room for it (DATA leaves one slot to a
client's own frames, two to a first station's: the REKEY a DATA frame may
trigger, a CLOSE), or the session is between handshakes.
``await send(buf, n)`` retries ``try_send`` each time the node has drained
its queue: back-pressure, never a dropped or refused DATA frame.

Receiving. DATA payloads are copied, as they arrive, into a ring of
``rx_slots`` buffers of ``max_payload`` bytes, allocated once with the
Session and reused for its later sessions.
``try_recv_into(buf)`` copies the oldest one into ``buf`` and returns its
length, or -1 if there is none; ``await recv_into(buf)`` waits for one;
``await recv()`` returns a new ``bytes`` (a copy: the application keeps it as
long as it likes, at the price of one allocation). When the ring is full a
new payload is dropped and counted in ``overruns`` (DATA is a datagram: the
protocol never resends it; ``lost`` counts frames the link lost, as the
stations see from the sequence numbers).

Ending. Every way a session ends raises ``SessionError`` (its ``code`` is
the error code of docs/protocol.md section 6, ``name`` its name) from
``send``, ``recv`` and their ``try_`` forms: the peer's CLOSE (OK included),
the idle timeout, a failed handshake (UNKNOWN_PEER at once: a pairing the
first station does not know fails on its first ERROR frame, not after every
retry; an ERROR frame is not authenticated, so anyone on the link can end a
handshake this way, as anyone there can by dropping its frames), a dropped
link (LINK_LOST, a local code above the spec's), or a local ``close()`` (OK).

Allocation. ``try_send``, ``try_recv_into`` and the event routing of the
node applications allocate nothing (tests/firmware/test_api.py runs them
under ``micropython.heap_lock()``). Each ``await`` of an ``async def`` makes
a generator on the heap: ``send`` and ``recv_into`` cost 64 and 80 bytes of
garbage per call on the emulated Cortex-M3 (32-bit, ephkey frozen for
armv6m), 128 and 160 on the 64-bit unix port, when they need not wait
(test_api.test_cost_of_an_await measures it), more when they wait; the GC
collects it as any garbage. A data path that must not allocate calls the
``try_`` forms from a loop of its own.
"""

from micropython import const

from . import errors, wire
from .mac import copy

LINK_LOST = const(255)  # not on the wire: the transport's connection dropped

# Session.state
HANDSHAKING = const(0)  # not (yet, or again) established
OPEN = const(1)
ENDED = const(2)


def error_name(code):
    if code == LINK_LOST:
        return "LINK_LOST"
    return errors.NAMES[code] if 0 <= code < len(errors.NAMES) else str(code)


class SessionError(Exception):
    """The session ended. ``code``: the protocol's error code (0, OK, for a
    normal close); ``name``: its name, e.g. "KEYS_EXHAUSTED"."""

    def __init__(self, code, msg=""):
        self.code = code
        self.name = error_name(code)
        super().__init__(self.name if not msg else self.name + ": " + msg)


class Session:
    """One session as the application sees it; made by connect() or serve()."""

    def __init__(self, node, max_payload, rx_slots=4, sid=0):
        import asyncio

        self._node = node
        self._st = node.st
        self._client = not hasattr(node.st, "table")
        self.max_payload = max_payload
        # DATA may fill the output queue up to _room frames: the rest stays for
        # the station's own frames (a client's KEY_ACK or CLOSE; a first
        # station's REKEY, which a DATA frame may trigger, and CLOSE)
        cap = node.st.cfg.out_queue
        self._room = max(1, cap - (1 if self._client else 2))
        self._slots = rx_slots
        self._rx = [bytearray(max_payload) for _ in range(rx_slots)]
        self._rx_len = [0] * rx_slots
        self._rx_head = 0
        self._rx_n = 0
        self._rx_ev = asyncio.Event()
        self.sid = sid
        self.state = HANDSHAKING
        self.error = None  # the SessionError once the session ended
        self.lost = 0  # DATA frames the link lost (gaps in sequence numbers)
        self.overruns = 0  # payloads dropped because the receive ring was full
        self.rehandshakes = 0  # new handshakes after KEYS_EXHAUSTED (client)
        # handshakes that established this session: 1, and one more for each
        # new handshake under it (KEYS_EXHAUSTED, a BLE reconnection). A
        # request-response application resends an unanswered request when it
        # changes: the old session's answer will not come.
        self.handshakes = 0
        self.rotations = 0
        self.waits = 0  # times send() waited for room (back-pressure)
        self._busy = False  # a server's handler holds it

    def _reset(self, sid):
        """Reused for a new session: open, its ring empty, its counters 0."""
        self.sid = sid
        self.state = OPEN
        self.error = None
        self._rx_head = 0
        self._rx_n = 0
        self._rx_ev.clear()
        self.lost = self.overruns = self.rehandshakes = self.rotations = self.waits = 0
        self.handshakes = 0

    # -- sending -------------------------------------------------------------

    def try_send(self, buf, n=-1):
        """Queue ``buf[:n]`` (all of it by default) as one DATA frame: True,
        or False if there is no room yet. Raises SessionError once ended,
        ValueError for a payload over max_payload. Allocates nothing."""
        if self.state != OPEN:
            if self.error is not None:
                raise self.error
            return False
        if n < 0:
            n = len(buf)
        if n > self.max_payload:
            raise ValueError("payload over max_payload")
        st = self._st
        if len(st.outq) >= self._room:
            return False
        node = self._node
        if self._client:
            if st.send_seq >= wire.SEQ_LAST:
                return False  # the next frame must be CLOSE: a new handshake first
            st.send(buf, n, node.clock())
        else:
            st.send(self.sid, buf, n, node.clock())
        node.kick()
        return True

    async def send(self, buf, n=-1):
        """``try_send``, waiting for room (back-pressure) until it is taken."""
        node = self._node
        drained = node.drained
        while True:
            drained.clear()
            if self.try_send(buf, n):
                return
            self.waits += 1
            await drained.wait()

    # -- receiving -----------------------------------------------------------

    def _push(self, payload, n, gap):
        self.lost += gap
        rx = self._rx
        if self._rx_n == self._slots:
            self.overruns += 1
            return
        i = (self._rx_head + self._rx_n) % self._slots
        copy(rx[i], 0, payload, 0, n)
        self._rx_len[i] = n
        self._rx_n += 1
        self._rx_ev.set()

    def try_recv_into(self, buf):
        """Copy the oldest payload into ``buf``: its length, or -1 if none has
        come. Raises SessionError once ended and nothing is left to read,
        ValueError if buf is too small. Allocates nothing."""
        if not self._rx_n:
            if self.state == ENDED and self.error is not None:
                raise self.error
            return -1
        i = self._rx_head
        n = self._rx_len[i]
        if len(buf) < n:
            raise ValueError("buffer smaller than the payload")
        copy(buf, 0, self._rx[i], 0, n)
        self._rx_head = (i + 1) % self._slots
        self._rx_n -= 1
        return n

    async def recv_into(self, buf, timeout_ms=-1):
        """Wait for a payload and copy it into ``buf``; its length. With
        ``timeout_ms`` >= 0, raises asyncio.TimeoutError after that long (the
        session stays open)."""
        ev = self._rx_ev
        while True:
            ev.clear()
            n = self.try_recv_into(buf)
            if n >= 0:
                return n
            if timeout_ms < 0:
                await ev.wait()
            else:
                import asyncio
                await asyncio.wait_for_ms(ev.wait(), timeout_ms)  # type: ignore[attr-defined]

    async def recv(self, timeout_ms=-1):
        """Wait for a payload; a copy of it as ``bytes`` (kept as long as the
        application likes). Timeout as recv_into."""
        ev = self._rx_ev
        while True:
            ev.clear()
            if self._rx_n:
                i = self._rx_head
                out = bytes(self._rx[i][:self._rx_len[i]])
                self._rx_head = (i + 1) % self._slots
                self._rx_n -= 1
                return out
            if self.state == ENDED and self.error is not None:
                raise self.error
            if timeout_ms < 0:
                await ev.wait()
            else:
                import asyncio
                await asyncio.wait_for_ms(ev.wait(), timeout_ms)  # type: ignore[attr-defined]

    # -- ending --------------------------------------------------------------

    def _end(self, code, msg=""):
        """The session ended (no frame sent here); wake every waiter."""
        if self.state == ENDED:
            return
        self.state = ENDED
        self.error = SessionError(code, msg)
        self._rx_ev.set()
        self._node.drained.set()

    def close(self):
        """End the session: CLOSE(OK) to the peer if it is established (sent by
        the node's next flush), its keys erased. Later calls raise
        SessionError(OK). Closing twice is harmless."""
        if self.state == ENDED:
            return
        st = self._st
        now = self._node.clock()
        if self._client:
            st.close(now)
        elif self.state == OPEN:
            try:
                st.close(self.sid, now)
            except errors.ProtocolError:
                pass  # the station ended it already
        self._end(errors.OK, "closed here")
        self._node.kick()

    @property
    def open(self):
        return self.state == OPEN
