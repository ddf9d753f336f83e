"""Frames over BLE: the Nordic UART Service through micropython-lib's aioble.

The first station is the peripheral (advertises NUS under its name, notifies
on TX), the second the central (scans for the peer's name, writes RX,
subscribes to TX). The link stream of docs/link.md is cut into chunks with a
sequence number and an acknowledgement (ble_chunks, docs/link.md section 5);
BLE link-layer pairing is not used: the protocol provides the security.

What aioble does, and what this module does about it (aioble as in
micropython-lib, the version MicroPython v1.28.0 pins):

- A client keeps notifications in ``deque((), 1)``: a new one replaces the
  one not yet taken, and several arrive in one connection event. The server
  keeps written values in one capture queue of 10 that drops the oldest. So
  a sender may have at most ``WINDOW`` (4) data chunks unacknowledged; with
  as many ack-only chunks in flight the peripheral's queue never holds more
  than 8, and the central's notification queue is replaced by one of 9,
  which the link drains itself (``notified()`` only waits on an empty one).
- The MTU exchange completes after the connection: the peripheral's
  ``conn.mtu`` is None at first. The chunk size is taken from ``conn.mtu``
  for every frame, so it grows once the exchange is done.
- ``write(data, False)`` returns at once: bursts are bounded by the window,
  the writer yields between chunks, and a stack that is out of buffers
  (OSError) is retried after a pause.
- ``written()`` is not woken by a disconnect and ``notify()`` on a dropped
  connection raises TypeError: every wait here has a timeout (``POLL_MS``)
  after which the connection is checked, and nothing is sent on a
  connection that is gone. A disconnect ends the session (``LinkDown``);
  ``serve`` then advertises or scans again, with back-off, for as long as
  the board runs.
- The scan accepts only a device advertising the peer's name (``ble.peer``,
  else ``ble.name``), not any NUS device.

L2CAP connection-oriented channels (``aioble.l2cap``, credit-based flow
control) would make the window unnecessary, but MicroPython enables them
only with NimBLE: the Pico W and Pico 2 W run BTstack, and the host's bleak
has no L2CAP API. See docs/link.md section 5.

Memory: the link's buffers (frames queued for sending, chunk and link
receivers) are allocated once per link. The data path is not allocation-free
as the UART one is: aioble copies every value out of the stack into a new
object, and each wait with a timeout and each write is a new coroutine.
"""

import asyncio
from asyncio import sleep_ms, wait_for_ms  # type: ignore[attr-defined]
from collections import deque
from time import ticks_diff, ticks_ms  # type: ignore[attr-defined]

from .ble_chunks import HEADER, MTU_MIN, WINDOW, ChunkRx, ChunkTx, ack_of
from .link import LinkRx, encode_into, wire_size

NUS = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"  # central writes
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"  # peripheral notifies
MTU = 247  # asked for in the exchange; ble_chunks.MTU_MAX
POLL_MS = 1000  # longest wait before the connection is checked again
STALL_MS = 5000  # window full and nothing acknowledged for this long: the link is broken
SETUP_MS = 10000  # connect + MTU exchange + discovery + subscribe, at most
ADVERTISE_MS = 30000  # one advertising round (then again)
SCAN_MS = 5000  # one scan round
BACKOFF_MS = (1000, 2000, 4000, 8000, 16000, 30000)  # between scan rounds
TX_FRAMES = 4  # frames queued for sending; send() waits for room beyond that
RETRY_MS = 20  # pause after the stack refused a chunk (out of buffers)
RETRIES = 50


class LinkDown(OSError):
    """The BLE connection is gone (or unusable): the session over it ends."""


def _log(kind, **fields):
    from .apps import log
    log(kind, **fields)


class BleLink:
    """One role's BLE link; ``serve(node)`` runs it for as long as the board runs."""

    reconnects = True

    def __init__(self, role, cfg, max_frame, ble=None, log=_log):
        if ble is None:
            import aioble

            ble = aioble
        self._ble = ble
        self._log = log
        self.role = role
        self.name = cfg.get("name", "ephkey")
        self.peer_name = cfg.get("peer", self.name)
        self.window = cfg.get("window", WINDOW)  # docs/link.md fixes 4; other values: tests
        self.rx = LinkRx(max_frame)
        self.crx = ChunkRx(self.rx)
        self.ctx = ChunkTx(window=self.window)
        self._txbufs = [bytearray(wire_size(max_frame)) for _ in range(TX_FRAMES)]
        self._txlen = [0] * TX_FRAMES
        self._txhead = 0
        self._txn = 0
        self._txpos = 0
        self._rxq: deque = deque((), 2 * self.window + 1)
        self._wake_tx = asyncio.Event()
        self._wake_rx = asyncio.Event()
        self._chunk = None
        self._i = 0
        self._ack_sent = 0
        self._acked_at = 0
        self._tasks = []
        self._registered = False
        self.conn = None
        self.down: str | None = "not connected"
        # counters (stats, tests)
        self.bytes_in = 0
        self.bytes_out = 0
        self.chunks_out = 0
        self.tx_dropped = 0  # (no longer: send waits for room; kept for the stats)
        self.tx_waits = 0
        self.rx_overruns = 0
        self.stack_busy = 0
        self.connections = 0
        self.scans = 0

    # -- connection ---------------------------------------------------------

    async def connect(self):
        """Advertise (first) or scan for the peer (second) until connected."""
        backoff = 0
        while True:
            try:
                if self.role == "first":
                    conn = await self._advertise()
                else:
                    conn = await self._find_and_connect()
            except asyncio.TimeoutError:
                conn = None  # nobody connected (first) or the set-up took too long (second)
                if self.role == "second":
                    self._log("link_retry", role=self.role, reason="timeout")
            except Exception as e:  # not found, refused, dropped during set-up
                conn = None
                self._log("link_retry", role=self.role, reason=_why(e))
            if conn is not None:
                self._start(conn)
                return
            if self.role == "second":
                await sleep_ms(BACKOFF_MS[backoff])
                backoff = min(backoff + 1, len(BACKOFF_MS) - 1)

    async def _advertise(self):
        ble = self._ble
        if not self._registered:
            svc = ble.Service(_uuid(ble, NUS))
            self._in_char = ble.BufferedCharacteristic(
                svc, _uuid(ble, NUS_RX), write=True, write_no_response=True, capture=True,
                max_len=MTU)
            self._out_char = ble.Characteristic(svc, _uuid(ble, NUS_TX), notify=True)
            ble.register_services(svc)
            self._registered = True
        return await ble.advertise(250000, name=self.name, services=[_uuid(ble, NUS)],
                                   timeout_ms=ADVERTISE_MS)

    async def _find_and_connect(self):
        ble = self._ble
        device = None
        self.scans += 1
        async with ble.scan(SCAN_MS, 30000, 30000, active=True) as scanner:
            async for result in scanner:
                # the name only: any other NUS device (a phone, a dev board) is not the peer
                if result.name() == self.peer_name:
                    device = result.device
                    break
        if device is None:
            raise OSError("no device named %s advertising" % self.peer_name)
        conn = await device.connect(timeout_ms=SETUP_MS)
        try:
            await wait_for_ms(self._client_setup(conn), SETUP_MS)
        except BaseException:
            await _disconnect(conn)
            raise
        return conn

    async def _client_setup(self, conn):
        ble = self._ble
        try:
            await conn.exchange_mtu(MTU)
        except (OSError, ValueError, asyncio.TimeoutError):
            pass  # not every stack negotiates: stay at 23 until conn.mtu changes
        svc = await conn.service(_uuid(ble, NUS))
        if svc is None:
            raise OSError("%s has no Nordic UART Service" % self.peer_name)
        self._out_char = await svc.characteristic(_uuid(ble, NUS_RX))
        self._in_char = await svc.characteristic(_uuid(ble, NUS_TX))
        if self._out_char is None or self._in_char is None:
            raise OSError("%s: NUS characteristics missing" % self.peer_name)
        # aioble's client keeps one notification (deque((), 1)): room for the
        # window's data chunks and as many acknowledgements
        self._in_char._notify_queue = deque((), 2 * self.window + 1)
        await self._in_char.subscribe(notify=True)

    def _start(self, conn):
        self.conn = conn
        self.connections += 1
        self.down = None
        self.ctx.reset()
        self.crx.reset()
        self._rxq = deque((), 2 * self.window + 1)
        self._txn = 0
        self._txpos = 0
        self._chunk = None
        self._ack_sent = 0
        self._acked_at = ticks_ms()
        self._wake_tx.clear()
        self._wake_rx.clear()
        self._tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._writer())]

    def _lost(self, why):
        if self.down is None:
            self.down = why
        self._wake_rx.set()
        self._wake_tx.set()

    async def teardown(self):
        """Stop the connection's tasks and drop the connection (if still up)."""
        self._lost("closed")
        for t in self._tasks:
            t.cancel()
        self._tasks = []
        conn = self.conn
        self.conn = None
        if conn is not None:
            await _disconnect(conn)

    def connected(self):
        conn = self.conn
        return conn is not None and conn.is_connected() and self.down is None

    # -- the two tasks of a connection -----------------------------------

    async def _next_chunk(self):
        if self.role == "first":
            conn, data = await self._in_char.written(timeout_ms=POLL_MS)
            if conn is not self.conn:
                return None  # a write of an earlier connection, still in the capture queue
            return data
        # aioble's notified() is written for a queue of one: it waits when the queue
        # holds one item, and its event is set only when the queue was empty, so with
        # a longer queue a wake-up taken by one item leaves the next one waiting for
        # a newer one. Take what is queued directly; wait only on an empty queue.
        queue = self._in_char._notify_queue
        if len(queue):
            return queue.popleft()
        try:
            return await self._in_char.notified(timeout_ms=POLL_MS)
        except IndexError:
            return None  # a wake-up left over from an item taken directly: now cleared

    async def _reader(self):
        ble = self._ble
        while self.down is None:
            try:
                data = await self._next_chunk()
            except asyncio.TimeoutError:
                if not self.connected():
                    self._lost("disconnected")
                continue
            except asyncio.CancelledError:
                raise
            except (ble.DeviceDisconnectedError, OSError, TypeError):
                self._lost("disconnected")
                continue
            if data is None:
                continue
            self.bytes_in += len(data)
            if self.ctx.on_ack(ack_of(data)):
                self._acked_at = ticks_ms()
                self._wake_tx.set()
            if len(data) <= HEADER:
                self.crx.accept(data)  # counted (acks, empty); nothing to take in
            else:
                if len(self._rxq) == self._rxq_cap():
                    self.rx_overruns += 1  # the peer broke the window: the gap shows at accept
                else:
                    self._rxq.append(data)
                    self._wake_rx.set()

    def _rxq_cap(self):
        return 2 * self.window + 1

    async def _writer(self):
        ctx = self.ctx
        crx = self.crx
        while self.down is None:
            if self._txn and ctx.can_send():
                buf = self._txbufs[self._txhead]
                n = self._txlen[self._txhead]
                if self._txpos == 0:
                    # the MTU exchange may have completed since the last frame
                    ctx.set_mtu(max(getattr(self.conn, "mtu", None) or MTU_MIN, MTU_MIN))
                self._txpos = ctx.fill(buf, self._txpos, n, crx.ack)
                if ctx.in_flight() == 1:
                    self._acked_at = ticks_ms()  # the stall clock starts with the first chunk out
                self._ack_sent = crx.ack
                await self._put(ctx.chunk)
                if self._txpos >= n:
                    self._txhead = (self._txhead + 1) % TX_FRAMES
                    self._txn -= 1
                    self._txpos = 0
                await sleep_ms(0)  # no bursts: let the stack and the reader run
            elif self._ack_sent != crx.ack:
                ctx.ack_only(crx.ack)
                self._ack_sent = crx.ack
                await self._put(ctx.chunk)
            else:
                if ctx.in_flight() and ticks_diff(ticks_ms(), self._acked_at) > STALL_MS:
                    self._lost("no acknowledgement for %d ms" % STALL_MS)
                    break
                self._wake_tx.clear()
                try:
                    await wait_for_ms(self._wake_tx.wait(), POLL_MS)
                except asyncio.TimeoutError:
                    if not self.connected():
                        self._lost("disconnected")

    async def _put(self, chunk):
        """One ATT write (central) or notification (peripheral), never on a dead link."""
        for _ in range(RETRIES):
            conn = self.conn
            if conn is None or not conn.is_connected():
                self._lost("disconnected")
                return
            try:
                if self.role == "first":
                    self._out_char.notify(conn, chunk)
                else:
                    await self._out_char.write(chunk, False)
            except (OSError, ValueError, TypeError):
                if not conn.is_connected():
                    self._lost("disconnected")
                    return
                self.stack_busy += 1  # out of buffers: NimBLE says ENOMEM
                await sleep_ms(RETRY_MS)
                continue
            self.bytes_out += len(chunk)
            self.chunks_out += 1
            return
        self._lost("the stack refused %d chunks in a row" % RETRIES)

    # -- the node's side ------------------------------------------------

    async def recv(self):
        """The next good frame (in ``self.rx.frame``); LinkDown once the link is gone."""
        while True:
            if self._chunk is not None:
                i = self.rx.feed(self._chunk, self._i)
                if i >= 0:
                    self._i = i
                    return self.rx.frame
                self._chunk = None
            if self.down is not None:
                raise LinkDown(self.down)
            if len(self._rxq):
                data = self._rxq.popleft()
                start = self.crx.accept(data)
                self._wake_tx.set()  # an acknowledgement is due
                if start >= 0:
                    self._chunk = data
                    self._i = start
                continue
            self._wake_rx.clear()
            try:
                await wait_for_ms(self._wake_rx.wait(), POLL_MS)
            except asyncio.TimeoutError:
                pass

    async def send(self, frame, n):
        """Queue one frame, waiting while TX_FRAMES frames already wait (the
        writer drains them): back-pressure up to the node and the Session's
        send, never a dropped DATA frame. LinkDown once the link is gone."""
        while True:
            if self.down is not None:
                raise LinkDown(self.down)
            if self._txn < TX_FRAMES:
                break
            self.tx_waits += 1
            await asyncio.sleep_ms(2)  # type: ignore[attr-defined]
        i = (self._txhead + self._txn) % TX_FRAMES
        self._txlen[i] = encode_into(frame, n, self._txbufs[i])
        self._txn += 1
        self._wake_tx.set()

    def close(self):
        asyncio.create_task(self.teardown())

    # -- for as long as the board runs ---------------------------------

    async def serve(self, node):
        """Connect, run the node, and when the connection drops end its
        sessions (node.link_lost) and connect again."""
        while True:
            await self.connect()
            self._log("link_up", role=self.role, peer=self.peer_name if self.role == "second"
                      else None, n=self.connections)
            try:
                await node.run()
                why = "node stopped"
            except LinkDown as e:
                why = str(e)
            await self.teardown()
            self._log("link_down", role=self.role, reason=why)
            node.link_lost()


def ble_nus_link(board, role=None, max_frame=None):
    """``ephkey.ble_nus_link``: BLE (Nordic UART Service, docs/link.md) with the
    board file's settings (``board.ble``), peripheral for a first station and
    central for a second (``role``: the board's first role by default). The
    link reconnects after a drop; connect()/serve() run it through its
    ``serve``. (Not ``ble_link``: that name is this module's.)"""
    role = role or board.roles[0]
    return BleLink(role, board.ble, max_frame or board.max_frame(role))


def _uuid(ble, s):
    uuid = getattr(ble, "UUID", None)
    if uuid is None:
        import bluetooth
        uuid = bluetooth.UUID
    return uuid(s)


def _why(e):
    return str(e) or e.__class__.__name__


async def _disconnect(conn):
    try:
        if conn.is_connected():
            await conn.disconnect(timeout_ms=2000)
    except (OSError, asyncio.TimeoutError):
        pass
