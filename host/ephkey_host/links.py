"""Links for the application API (``api.py``): whole frames over asyncio.

A link carries frames between the host's station and its peer. Every link
has the same three calls::

    await link.send(frame)   # returns once the link took the frame (back-pressure)
    frame = await link.recv()   # the next whole frame whose CRC checked
    link.close()

and ``counters()`` (docs/link.md 3.5). ``recv`` raises :class:`LinkError`
once the link is gone. The byte-stream links put each frame in the COBS +
CRC-32 framing of docs/link.md (``link.encode_frame`` / ``LinkDecoder``).

* :func:`tcp_link` (asyncio streams: a virtual board's link simulator, a
  board on TCP): ``send`` waits in ``drain()`` while the socket's buffer is
  above its high-water mark.
* :func:`serial_link` (pyserial: a device such as ``/dev/ttyUSB0`` or a
  pyserial URL such as ``socket://127.0.0.1:7002``): a reader thread, and
  writes in a worker thread, so ``send`` waits as long as the port does.
* :func:`ble_link` (bleak, the host as the BLE central of a first-station
  board's Nordic UART Service): chunks of docs/link.md section 5, ``send``
  waits while ``WINDOW`` chunks are unacknowledged.
* :func:`memory_pair` (two ends of an in-process wire, for tests and for
  running both stations in one program): each direction holds at most
  ``capacity`` frames, and ``send`` waits while it is full.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .ble_chunks import ChunkReceiver, FlowSender, ack_field
from .link import MAX_FRAME, LinkDecoder, encode_frame

LINK_COUNTERS = ("frames_ok", "crc_errors", "too_long", "cobs_errors", "runts")
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # the central writes here
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # the peripheral notifies here


class LinkError(Exception):
    """The link could not be opened, or it was lost."""


class Link:
    """What the API needs of a link; subclasses implement the three calls."""

    max_frame = MAX_FRAME

    async def send(self, frame: bytes) -> None:
        raise NotImplementedError

    async def recv(self) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def counters(self) -> dict[str, int]:
        return {}


class _Frames:
    """Frames decoded from a byte stream, handed to one waiting ``recv``."""

    def __init__(self, max_frame: int) -> None:
        self.decoder = LinkDecoder(max_frame)
        self.frames: deque[bytes] = deque()
        self.ready = asyncio.Event()
        self.lost: str | None = None

    def feed(self, data: bytes) -> None:
        self.frames.extend(self.decoder.feed(data))
        if self.frames:
            self.ready.set()

    def end(self, why: str) -> None:
        self.lost = why
        self.ready.set()

    async def next(self) -> bytes:
        while not self.frames:
            if self.lost is not None:
                raise LinkError(self.lost)
            self.ready.clear()
            await self.ready.wait()
        return self.frames.popleft()

    def counters(self) -> dict[str, int]:
        c = self.decoder.counters.as_dict()
        return {k: c.get(k, 0) for k in LINK_COUNTERS}


class StreamLink(Link):
    """Frames over an asyncio stream pair (TCP)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._writer = writer
        self._in = _Frames(max_frame)
        self._task = asyncio.get_running_loop().create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    self._in.end("the peer closed the connection")
                    return
                self._in.feed(data)
        except OSError as e:
            self._in.end("read failed: %s" % e)

    async def send(self, frame: bytes) -> None:
        if self._in.lost is not None:
            raise LinkError(self._in.lost)
        try:
            self._writer.write(encode_frame(frame, self.max_frame))
            await self._writer.drain()
        except OSError as e:
            raise LinkError("write failed: %s" % e) from None

    async def recv(self) -> bytes:
        return await self._in.next()

    def close(self) -> None:
        self._task.cancel()
        self._writer.close()

    def counters(self) -> dict[str, int]:
        return self._in.counters()


async def tcp_link(host: str, port: int, max_frame: int = MAX_FRAME) -> StreamLink:
    """A TCP connection to ``host:port`` carrying framed frames."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as e:
        raise LinkError("cannot connect to %s:%d: %s" % (host, port, e)) from None
    return StreamLink(reader, writer, max_frame)


class SerialLink(Link):
    """Frames over a pyserial port; blocking I/O runs in threads of its own."""

    def __init__(self, ser: Any, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._ser = ser
        self._loop = asyncio.get_running_loop()
        self._in = _Frames(max_frame)
        self._writes = ThreadPoolExecutor(1, thread_name_prefix="ephkey-serial-write")
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    data = self._ser.read(max(1, self._ser.in_waiting))
                except Exception as e:  # pyserial raises SerialException, OSError, TypeError
                    if not self._stop.is_set():
                        self._loop.call_soon_threadsafe(self._in.end, "read failed: %s" % e)
                    return
                if data:
                    self._loop.call_soon_threadsafe(self._in.feed, data)
        except RuntimeError:  # the event loop closed without closing the link first
            return

    async def send(self, frame: bytes) -> None:
        if self._in.lost is not None:
            raise LinkError(self._in.lost)
        data = encode_frame(frame, self.max_frame)
        try:
            await self._loop.run_in_executor(self._writes, self._ser.write, data)
        except Exception as e:
            raise LinkError("write failed: %s" % e) from None

    async def recv(self) -> bytes:
        return await self._in.next()

    def close(self) -> None:
        self._stop.set()
        self._writes.shutdown(wait=False)
        self._ser.close()

    def counters(self) -> dict[str, int]:
        return self._in.counters()


async def serial_link(port: str, baud: int = 115200, max_frame: int = MAX_FRAME) -> SerialLink:
    """A serial device or pyserial URL (``socket://HOST:PORT``) carrying framed frames."""
    import serial

    try:
        ser = serial.serial_for_url(port, baudrate=baud, timeout=0.05)
    except (serial.SerialException, OSError, ValueError) as e:
        raise LinkError("cannot open %s: %s" % (port, e)) from None
    return SerialLink(ser, max_frame)


class BleLink(Link):
    """Frames over BLE chunks (docs/link.md section 5), the host as central."""

    def __init__(self, client: Any, mtu: int, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._client = client
        self._in = _Frames(max_frame)
        self._chunks = ChunkReceiver(self._in.decoder)
        self._flow = FlowSender()
        self._flow.sender.mtu = max(23, min(mtu, 247))
        self._acked = asyncio.Event()
        self._ack_sent = 0
        self._lock = asyncio.Lock()

    def notified(self, _char: Any, data: bytearray) -> None:
        chunk = bytes(data)
        if self._flow.on_ack(ack_field(chunk)):
            self._acked.set()
        self._in.frames.extend(self._chunks.feed(chunk))
        if self._in.frames:
            self._in.ready.set()
        if self._ack_sent != self._chunks.ack:  # acknowledge what came, soon
            asyncio.get_running_loop().create_task(self._pump())

    def disconnected(self) -> None:
        self._in.end("BLE disconnected")
        self._acked.set()

    async def _write(self, chunk: bytes) -> None:
        try:
            await self._client.write_gatt_char(NUS_RX, chunk, response=False)
        except Exception as e:  # bleak's own errors
            raise LinkError("BLE write failed: %s" % e) from None

    async def _pump(self) -> None:
        async with self._lock:
            ack = self._chunks.ack
            for chunk in self._flow.take(ack):
                await self._write(chunk)
                self._ack_sent = ack
            if self._ack_sent != ack:
                await self._write(self._flow.sender.ack_only(ack))
                self._ack_sent = ack

    async def send(self, frame: bytes) -> None:
        self._flow.queue(encode_frame(frame, self.max_frame))
        while True:
            if self._in.lost is not None:
                raise LinkError(self._in.lost)
            self._acked.clear()
            await self._pump()
            if not self._flow.pending:
                return
            await self._acked.wait()  # the window is full: wait for the board's ack

    async def recv(self) -> bytes:
        return await self._in.next()

    def close(self) -> None:
        asyncio.get_running_loop().create_task(self._client.disconnect())

    def counters(self) -> dict[str, int]:
        out = self._in.counters()
        out.update({"ble_" + k: v for k, v in self._chunks.counters.as_dict().items()})
        return out


async def ble_link(name: str, scan_s: float = 20.0, max_frame: int = MAX_FRAME) -> BleLink:
    """Connect to the first-station board advertising the Nordic UART Service as ``name``."""
    try:
        from bleak import BleakClient, BleakScanner
    except ImportError:
        raise LinkError("BLE needs the bleak package (pip install ephkey[ble])") from None
    try:
        device = await BleakScanner.find_device_by_name(name, timeout=scan_s)
        if device is None:
            raise LinkError("no BLE device named %r advertising (scanned %.0f s)" % (name, scan_s))
        link: list[BleLink] = []
        client = BleakClient(device, disconnected_callback=lambda _c: link[0].disconnected())
        await client.connect()
        link.append(BleLink(client, int(getattr(client, "mtu_size", 23) or 23), max_frame))
        await client.start_notify(NUS_TX, link[0].notified)
    except LinkError:
        raise
    except Exception as e:  # bleak raises its own errors (no adapter, ...)
        raise LinkError("BLE %s: %s" % (name, e)) from None
    return link[0]


class MemoryLink(Link):
    """One end of :func:`memory_pair`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.peer: MemoryLink | None = None
        self._frames: deque[bytes] = deque()
        self._changed = asyncio.Event()
        self.closed = False
        self.sent = 0

    def _wake(self) -> None:
        self._changed.set()

    async def send(self, frame: bytes) -> None:
        peer = self.peer
        assert peer is not None
        while len(peer._frames) >= peer.capacity:  # full: the peer has not read yet
            if self.closed or peer.closed:
                raise LinkError("link closed")
            peer._changed.clear()
            await peer._changed.wait()
        if self.closed or peer.closed:
            raise LinkError("link closed")
        peer._frames.append(bytes(frame))
        self.sent += 1
        peer._wake()

    async def recv(self) -> bytes:
        while not self._frames:
            if self.closed or (self.peer is not None and self.peer.closed):
                raise LinkError("link closed")
            self._changed.clear()
            await self._changed.wait()
        frame = self._frames.popleft()
        self._wake()  # a sender waiting for room
        return frame

    def pending(self) -> int:
        """Frames waiting to be read at this end."""
        return len(self._frames)

    def close(self) -> None:
        self.closed = True
        self._wake()
        if self.peer is not None:
            self.peer._wake()


def memory_pair(capacity: int = 8) -> tuple[MemoryLink, MemoryLink]:
    """Two linked ends; each holds at most ``capacity`` unread frames."""
    a, b = MemoryLink(capacity), MemoryLink(capacity)
    a.peer, b.peer = b, a
    return a, b
