"""A stand-in for micropython-lib's aioble and the radio under it, for BleLink tests.

No board, no radio: ``Air`` joins devices in one MicroPython process, and
each ``Device`` offers the part of aioble's API that ephkey.ble_link uses,
with aioble's behaviour as its source shows it (micropython-lib, the commit
MicroPython v1.28.0 pins; file names below are under
micropython/bluetooth/aioble/aioble/):

- client.py: a client characteristic keeps notifications in
  ``deque((), 1)``: ``_on_notify_indicate`` appends (a full deque of one
  drops the old item) and sets the event only when the queue was empty;
  ``_notified_indicated`` waits on the event when the queue holds one or
  none, then pops the oldest. ``notified()`` and ``write(response=True)`` wait
  under ``connection.timeout()``: a disconnect raises DeviceDisconnectedError.
- server.py: writes to a capture characteristic go into one shared
  ``deque((), 10)`` (the oldest is pushed out); a task hands them one at a
  time to ``written()``, which waits under ``DeviceTimeout(None, ...)``: a
  disconnect does not wake it. ``notify()`` calls ``gatts_notify`` with the
  connection handle, and the C binding raises TypeError for the None of a
  dropped connection.
- device.py: ``conn.mtu`` is None until the MTU exchange completes, which
  happens some time after the connection (``_IRQ_MTU_EXCHANGED``), on both
  sides. Discovery has no timeout (aioble's TODO): it waits forever if the
  peer goes away.
- The ports here deliver BLE events synchronously (sync events on rp2, esp32,
  stm32), so everything that arrives in one connection event is handed to
  aioble before any application task runs: ``Air`` delivers up to
  ``per_event`` packets per direction every ``interval_ms``.
- A stack has a limited number of transmit buffers: past ``tx_slots``
  packets waiting, a notify or a write without response raises
  OSError(ENOMEM), as NimBLE does.
"""

import asyncio
from collections import deque

from micropython import const

_ENOMEM = const(12)


class DeviceDisconnectedError(Exception):
    pass


class GattError(Exception):
    pass


def UUID(s):  # noqa: N802 - bluetooth.UUID
    return s.upper()


class DeviceTimeout:
    """aioble's device.DeviceTimeout: cancel the waiting task on timeout (TimeoutError)
    or, when bound to a connection, on disconnect (DeviceDisconnectedError)."""

    def __init__(self, connection, timeout_ms):
        self._connection = connection
        self._timeout_ms = timeout_ms
        self._timeout_task = None
        self._task = asyncio.current_task()
        if connection is not None:
            connection._timeouts.append(self)

    async def _timeout_sleep(self):
        try:
            await asyncio.sleep_ms(self._timeout_ms)
        except asyncio.CancelledError:
            return
        self._timeout_task = None
        self._task.cancel()

    def __enter__(self):
        if self._timeout_ms:
            self._timeout_task = asyncio.create_task(self._timeout_sleep())

    def __exit__(self, exc_type, exc_val, tb):
        if self._connection is not None:
            self._connection._timeouts.remove(self)
        try:
            if exc_type == asyncio.CancelledError:
                if self._timeout_ms and self._timeout_task is None:
                    raise asyncio.TimeoutError
                if self._connection is not None and self._connection._conn_handle is None:
                    raise DeviceDisconnectedError
                return
        finally:
            if self._timeout_task:
                self._timeout_task.cancel()


class Connection:
    """aioble's DeviceConnection, one per side of a link."""

    def __init__(self, device, peer_device, handle):
        self.device = device
        self.peer_device = peer_device
        self._conn_handle = handle
        self.mtu = None
        self._timeouts = []
        self._characteristics = {}
        self.link = None  # the Air link
        self.side = None  # "central" or "peripheral"

    def is_connected(self):
        return self._conn_handle is not None

    def timeout(self, timeout_ms):
        return DeviceTimeout(self, timeout_ms)

    async def disconnect(self, timeout_ms=2000):
        if self.link is not None:
            self.link.drop(radio=False)

    async def disconnected(self, timeout_ms=None, disconnect=False):
        if disconnect:
            await self.disconnect()
        with DeviceTimeout(None, timeout_ms):
            while self.is_connected():
                await asyncio.sleep_ms(10)

    async def exchange_mtu(self, mtu=None, timeout_ms=1000):
        if not self.is_connected():
            raise ValueError("Not connected")
        link = self.link
        with self.timeout(timeout_ms):
            await asyncio.sleep_ms(link.air.mtu_delay_ms)
            agreed = min(mtu or 23, link.air.peer_mtu)
            link.central.mtu = agreed
            link.peripheral.mtu = agreed  # both sides get _IRQ_MTU_EXCHANGED
        return agreed

    async def service(self, uuid, timeout_ms=2000):
        # discovery has no timeout in aioble: it waits as long as the peer answers
        while self.link.air.discovery_hangs:
            await asyncio.sleep_ms(1000)
        await asyncio.sleep_ms(self.link.air.interval_ms)
        server = self.link.peripheral.device
        if uuid not in server.services:
            return None
        return ClientService(self, uuid)


class ClientService:
    def __init__(self, connection, uuid):
        self.connection = connection
        self.uuid = uuid

    async def characteristic(self, uuid, timeout_ms=2000):
        await asyncio.sleep_ms(self.connection.link.air.interval_ms)
        server = self.connection.link.peripheral.device
        char = server.characteristics.get(uuid)
        if char is None:
            return None
        return ClientCharacteristic(self, char)


class ClientCharacteristic:
    def __init__(self, service, server_char):
        self.service = service
        self.uuid = server_char.uuid
        self._server_char = server_char
        self._notify_event = asyncio.ThreadSafeFlag()
        self._notify_queue = deque((), 1)  # client.py: "a deque with max-length==1"
        self.received = 0

    def _connection(self):
        return self.service.connection

    async def subscribe(self, notify=True, indicate=False):
        conn = self._connection()
        conn._characteristics[self.uuid] = self
        with conn.timeout(1000):  # the CCCD write, with response
            await asyncio.sleep_ms(2 * conn.link.air.interval_ms)
        conn.link.subscribed = notify

    async def write(self, data, response=None, timeout_ms=1000):
        conn = self._connection()
        conn.link.send(conn, "write", bytes(data))  # gattc_write: TypeError/ENOMEM as the C code
        if response:
            with conn.timeout(timeout_ms):
                await asyncio.sleep_ms(2 * conn.link.air.interval_ms)

    async def _notified_indicated(self, queue, event, timeout_ms):
        if len(queue) <= 1:
            with self._connection().timeout(timeout_ms):
                await event.wait()
        return queue.popleft()

    async def notified(self, timeout_ms=None):
        data = await self._notified_indicated(self._notify_queue, self._notify_event, timeout_ms)
        busy = self.service.connection.device.busy_ms
        if busy:  # the application is busy before it comes back for the next one
            await asyncio.sleep_ms(busy)
        return data

    def _on_notify(self, data):
        self.received += 1
        wake = len(self._notify_queue) == 0
        self._notify_queue.append(data)
        if wake:
            self._notify_event.set()


class Service:
    def __init__(self, uuid):
        self.uuid = uuid
        self.characteristics = []


class Characteristic:
    def __init__(self, service, uuid, read=False, write=False, write_no_response=False,
                 notify=False, indicate=False, initial=None, capture=False, max_len=20):
        service.characteristics.append(self)
        self.uuid = uuid
        self.capture = capture
        self.max_len = max_len
        self.device = None
        self._write_event = asyncio.ThreadSafeFlag()
        self._write_data = None

    async def written(self, timeout_ms=None):
        with DeviceTimeout(None, timeout_ms):  # server.py: not bound to the connection
            await self._write_event.wait()
        if self.device.busy_ms:  # the application is busy before it takes the value
            await asyncio.sleep_ms(self.device.busy_ms)
        data = self._write_data
        self._write_data = None
        if self.capture:
            self.device._capture_consumed.set()
        return data

    def notify(self, connection, data=None):
        if connection._conn_handle is None:
            # gatts_notify(None, ...): mp_obj_get_int(None) in the C binding
            raise TypeError("can't convert NoneType to int")
        connection.link.send(connection, "notify", bytes(data))


class BufferedCharacteristic(Characteristic):
    def __init__(self, *args, max_len=20, append=False, **kwargs):
        super().__init__(*args, max_len=max_len, **kwargs)


class ScanResult:
    def __init__(self, air, target, active):
        self.device = ScanDevice(air, target)
        self._name = target.adv_name if active else None  # the name is in the scan response
        self._services = target.adv_services

    def name(self):
        return self._name

    def services(self):
        yield from self._services


class ScanDevice:
    def __init__(self, air, target):
        self.air = air
        self.target = target

    async def connect(self, timeout_ms=10000, **kw):
        air = self.air
        with DeviceTimeout(None, timeout_ms):
            await asyncio.sleep_ms(air.interval_ms)
            while not self.target.advertising:
                await asyncio.sleep_ms(air.interval_ms)
        return air.connect(air.scanner_device, self.target)


class scan:  # noqa: N801 - aioble.scan
    def __init__(self, device, duration_ms, interval_us=None, window_us=None, active=False):
        self._device = device
        self._duration_ms = duration_ms
        self._active = active
        self._seen = []

    async def __aenter__(self):
        self._device.scans += 1
        self._device.scan_times.append(__import__("time").ticks_ms())
        return self

    async def __aexit__(self, *a):
        pass

    def __aiter__(self):
        self._t = 0
        return self

    async def __anext__(self):
        air = self._device.air
        while self._t < self._duration_ms:
            for d in air.devices:
                if d is not self._device and d.advertising and d not in self._seen:
                    self._seen.append(d)
                    air.scanner_device = self._device
                    return ScanResult(air, d, self._active)
            await asyncio.sleep_ms(air.interval_ms)
            self._t += air.interval_ms
        raise StopAsyncIteration


class Device:
    """One board's aioble module (pass it to BleLink as ``ble``)."""

    DeviceDisconnectedError = DeviceDisconnectedError
    GattError = GattError
    Service = Service
    Characteristic = Characteristic
    BufferedCharacteristic = BufferedCharacteristic

    def __init__(self, air, adv_name=None):
        self.air = air
        self.adv_name = adv_name
        self.adv_services = []
        self.advertising = False
        self.services = {}
        self.characteristics = {}
        self._capture_queue = deque((), 10)  # server.py: _WRITE_CAPTURE_QUEUE_LIMIT
        self._capture_write = asyncio.ThreadSafeFlag()
        self._capture_consumed = asyncio.ThreadSafeFlag()
        self._capture_task = None
        self._incoming = None
        self._connect_flag = asyncio.ThreadSafeFlag()
        self.scans = 0
        self.scan_times = []
        self.busy_ms = 0
        self.captured = 0
        self.capture_dropped = 0
        air.devices.append(self)

    @staticmethod
    def UUID(s):  # noqa: N802
        return UUID(s)

    def register_services(self, *services):
        for s in services:
            self.services[s.uuid] = s
            for c in s.characteristics:
                c.device = self
                self.characteristics[c.uuid] = c
                if c.capture and self._capture_task is None:
                    self._capture_task = asyncio.create_task(self._run_capture_task())

    async def _run_capture_task(self):
        q = self._capture_queue
        while True:
            if len(q):
                conn, data, char = q.popleft()
                char._write_data = (conn, data)
                char._write_event.set()
                await self._capture_consumed.wait()
            if not len(q):
                await self._capture_write.wait()

    def _remote_write(self, conn, data):
        char = self.characteristics.get(UUID("6E400002-B5A3-F393-E0A9-E50E24DCCA9E"))
        data = data[:char.max_len]  # the value buffer (gatts_set_buffer) holds max_len
        if len(self._capture_queue) == 10:
            self.capture_dropped += 1
        self._capture_queue.append((conn, data, char))
        self.captured += 1
        self._capture_write.set()

    async def advertise(self, interval_us, name=None, services=None, timeout_ms=None, **kw):
        self.adv_name = name
        self.adv_services = list(services or [])
        self.advertising = True
        try:
            with DeviceTimeout(None, timeout_ms):
                await self._connect_flag.wait()
        finally:
            self.advertising = False
        conn = self._incoming
        self._incoming = None
        return conn

    def scan(self, duration_ms, interval_us=None, window_us=None, active=False):
        return scan(self, duration_ms, interval_us, window_us, active)


class Link:
    """One connection: the central's and the peripheral's Connection, the air between."""

    def __init__(self, air, central, peripheral):
        self.air = air
        self.central = central
        self.peripheral = peripheral
        self.subscribed = False
        self.c2p = deque((), 64)
        self.p2c = deque((), 64)
        self.delivered = 0
        self.up = True
        self._task = asyncio.create_task(self._events())

    def send(self, conn, kind, data):
        if conn._conn_handle is None:
            raise TypeError("can't convert NoneType to int")
        q = self.c2p if conn is self.central else self.p2c
        if len(q) >= self.air.tx_slots:
            raise OSError(_ENOMEM)
        q.append(data)
        self.air.sent += 1

    async def _events(self):
        air = self.air
        while self.up:
            await asyncio.sleep_ms(air.interval_ms)
            # one connection event: everything is handed to aioble before any task runs
            for _ in range(air.per_event):
                if self.c2p:
                    self.peripheral.device._remote_write(self.peripheral, self.c2p.popleft())
                    self.delivered += 1
                if self.p2c:
                    data = self.p2c.popleft()
                    char = self.central._characteristics.get(
                        UUID("6E400003-B5A3-F393-E0A9-E50E24DCCA9E"))
                    if char is not None and self.subscribed:
                        char._on_notify(data)
                    self.delivered += 1
            if air.drop_after and air.sent >= air.drop_after:
                air.drop_after = 0
                self.drop()

    def drop(self, radio=True):
        """The connection ends: lost on the radio, or closed by one side."""
        if not self.up:
            return
        self.up = False
        if radio:
            self.air.drops += 1
        for conn in (self.central, self.peripheral):
            conn._conn_handle = None
            for t in list(conn._timeouts):
                t._task.cancel()
        self.c2p = deque((), 1)
        self.p2c = deque((), 1)


class Air:
    """The radio between the devices of one test."""

    def __init__(self, interval_ms=8, per_event=6, tx_slots=10, mtu_delay_ms=60, peer_mtu=247):
        self.interval_ms = interval_ms
        self.per_event = per_event
        self.tx_slots = tx_slots
        self.mtu_delay_ms = mtu_delay_ms
        self.peer_mtu = peer_mtu
        self.devices = []
        self.links = []
        self.scanner_device = None
        self.discovery_hangs = False
        self.drop_after = 0  # drop the link once this many packets were sent
        self.sent = 0
        self.drops = 0
        self._handles = 0

    def connect(self, central_dev, peripheral_dev):
        self._handles += 1
        c = Connection(central_dev, peripheral_dev, self._handles)
        p = Connection(peripheral_dev, central_dev, self._handles)
        link = Link(self, c, p)
        c.link = p.link = link
        c.side = "central"
        p.side = "peripheral"
        self.links.append(link)
        peripheral_dev._incoming = p
        peripheral_dev.advertising = False
        peripheral_dev._connect_flag.set()
        return c

    def drop_all(self):
        for link in self.links:
            link.drop()
