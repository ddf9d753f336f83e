"""The host as one station of a pair, talking to a board over a real link.

A :class:`Peer` joins a sans-IO station (``first.FirstStation`` or
``second.SecondStation``) to a transport and an application:

* transports: :class:`SerialTransport` (pyserial: a device such as
  ``/dev/ttyUSB0`` or a URL such as ``socket://127.0.0.1:7001``; the byte
  stream of docs/link.md through ``link.encode_frame`` / ``LinkDecoder``) and
  :class:`BleTransport` (bleak, the host as BLE central of a first-station
  board's Nordic UART Service; the stream is cut into the counted and
  acknowledged chunks of docs/link.md section 5 by ``ble_chunks``, at most
  ``WINDOW`` of them unacknowledged);
* applications, twins of the firmware's (``firmware/ephkey/echo_app.py``, ``exchange_app.py``):
  :class:`EchoApp` (first station: every payload goes back) and
  :class:`ExchangeApp` (second station: opens a session, sends ``messages``
  payloads numbered like the firmware's, checks each echo, closes, and reports
  a summary with the firmware summary's fields). ``messages`` counts over the
  whole run: when F ends a session with ``KEYS_EXHAUSTED`` (its IDRKs used
  up) the app opens a new one and goes on with the next message; that is a
  planned end, not a failure. A failed handshake or a session lost otherwise
  is retried ``reconnects`` times in a row without an echo in between.

The loop is single-threaded and follows protocol.md 4.7: read what the link
delivered (at most ``tick_s``), hand frames to the station with the current
millisecond tick, run its timers, hand events to the application and send
what it queued; then ``prepare`` (first station) and, while the station is
``busy()``, ``work(now)`` followed by the same flush (the host's X25519 is
native code, so a job takes a few calls).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from . import events as ev, wire
from .ble_chunks import ChunkReceiver, FlowSender, ack_field
from .config import FirstConfig, Pairing, SecondConfig
from .errors import Code, UsageError, code_name
from .events import Event
from .first import FirstStation
from .link import LinkDecoder, encode_frame
from .second import SecondStation

HEAD = 4  # message number, u32 big-endian, as in the firmware's ExchangeApp
NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # the central writes here
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # the peripheral notifies here
LINK_COUNTERS = ("frames_ok", "crc_errors", "too_long", "cobs_errors", "runts")

Log = Callable[[dict[str, Any]], None]


class LinkError(Exception):
    """The transport could not be opened or was lost (the CLI's exit code 3)."""


def max_frame_for(max_payload: int) -> int:
    # as the firmware's runtime: a DATA frame, or the longest handshake frame
    return max(max_payload + wire.DATA_MIN_LEN, wire.LONGEST_HANDSHAKE_FRAME)


def fill(n: int, number: int) -> bytes:
    """Payload ``number`` of ``n`` bytes, the firmware ExchangeApp's pattern."""
    out = bytearray(number.to_bytes(4, "big"))
    out += bytes(0x61 + (number + i) % 26 for i in range(HEAD, n))
    return bytes(out)


def number_of(payload: bytes) -> int:
    return int.from_bytes(payload[:HEAD], "big") if len(payload) >= HEAD else -1


def valid(payload: bytes) -> bool:
    return len(payload) >= HEAD and payload == fill(len(payload), number_of(payload))


# -- transports -----------------------------------------------------------------

class Transport(Protocol):
    bytes_in: int
    bytes_out: int

    def send(self, frame: bytes) -> None: ...

    def receive(self, timeout: float) -> list[bytes]: ...

    def counters(self) -> dict[str, int]: ...

    def close(self) -> None: ...


class SerialTransport:
    """Frames over a pyserial port (device path or URL)."""

    def __init__(self, port: str, baud: int = 115200, max_frame: int = 276) -> None:
        import serial

        self.port = port
        self.max_frame = max_frame
        try:
            self.ser = serial.serial_for_url(port, baudrate=baud, timeout=0)
        except (serial.SerialException, OSError, ValueError) as e:
            raise LinkError("cannot open %s: %s" % (port, e)) from None
        self._serial_exc = serial.SerialException
        self.decoder = LinkDecoder(max_frame)
        self.bytes_in = 0
        self.bytes_out = 0

    def send(self, frame: bytes) -> None:
        data = encode_frame(frame, self.max_frame)
        try:
            self.ser.write(data)
        except (self._serial_exc, OSError) as e:
            raise LinkError("%s: write failed: %s" % (self.port, e)) from None
        self.bytes_out += len(data)

    def receive(self, timeout: float) -> list[bytes]:
        try:
            self.ser.timeout = timeout
            data = self.ser.read(1)
            if data:
                self.ser.timeout = 0
                waiting = self.ser.in_waiting
                if waiting:
                    data += self.ser.read(waiting)
        except (self._serial_exc, OSError) as e:
            raise LinkError("%s: read failed: %s" % (self.port, e)) from None
        self.bytes_in += len(data)
        return self.decoder.feed(data) if data else []

    def counters(self) -> dict[str, int]:
        c = self.decoder.counters.as_dict()
        return {k: c.get(k, 0) for k in LINK_COUNTERS}

    def close(self) -> None:
        self.ser.close()


class BleTransport:
    """Frames over BLE: the host is the central of a first-station board's NUS.

    bleak runs its asyncio loop in a background thread; notifications are
    queued as chunks and decoded in the caller's thread. The host cannot be
    the peripheral (a second-station board scans for a first station that
    advertises): that role is out of scope here.
    """

    def __init__(self, name: str, max_frame: int = 276, scan_s: float = 20.0) -> None:
        try:
            import bleak  # noqa: F401
        except ImportError:
            raise LinkError("BLE needs the bleak package (requirements.txt)") from None
        self.name = name
        self.max_frame = max_frame
        self.decoder = LinkDecoder(max_frame)
        self.chunks_in = ChunkReceiver(self.decoder)
        self.flow = FlowSender()  # holds chunks back while the board has WINDOW unacknowledged
        self._ack_sent = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self._q: queue.Queue[bytes | None] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client: Any = None
        try:
            self._call(self._connect(scan_s), scan_s + 30)
        except LinkError:
            self.close()
            raise
        except Exception as e:  # bleak raises its own errors (no adapter, ...)
            self.close()
            raise LinkError("BLE %s: %s" % (name, e)) from None

    def _call(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self, scan_s: float) -> None:
        from bleak import BleakClient, BleakScanner

        device = await BleakScanner.find_device_by_name(self.name, timeout=scan_s)
        if device is None:
            raise LinkError("no BLE device named %r advertising (scanned %.0f s)"
                            % (self.name, scan_s))
        client = BleakClient(device, disconnected_callback=lambda _c: self._q.put(None))
        await client.connect()
        self._client = client
        mtu = getattr(client, "mtu_size", 23) or 23
        self.flow.sender.mtu = max(23, min(int(mtu), 247))
        await client.start_notify(NUS_TX, self._notified)

    def _notified(self, _char: Any, data: bytearray) -> None:
        self._q.put(bytes(data))

    def _write(self, chunk: bytes) -> None:
        if self._client is None:
            raise LinkError("BLE %s: not connected" % self.name)
        try:
            self._call(self._client.write_gatt_char(NUS_RX, chunk, response=False), 10)
        except Exception as e:
            raise LinkError("BLE %s: write failed: %s" % (self.name, e)) from None
        self.bytes_out += len(chunk)

    def _pump(self) -> None:
        """Write what the window lets out; acknowledge alone if nothing went."""
        ack = self.chunks_in.ack
        for chunk in self.flow.take(ack):
            self._write(chunk)
            self._ack_sent = ack
        if self._ack_sent != ack:
            self._write(self.flow.sender.ack_only(ack))
            self._ack_sent = ack

    def send(self, frame: bytes) -> None:
        self.flow.queue(encode_frame(frame, self.max_frame))
        self._pump()

    def receive(self, timeout: float) -> list[bytes]:
        frames: list[bytes] = []
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            self._pump()
            return frames
        while True:
            if item is None:
                raise LinkError("BLE %s: disconnected" % self.name)
            self.bytes_in += len(item)
            self.flow.on_ack(ack_field(item))
            frames += self.chunks_in.feed(item)
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                self._pump()  # chunks the acknowledgements let out, and our own ack
                return frames

    def counters(self) -> dict[str, int]:
        c = self.decoder.counters.as_dict()
        out = {k: c.get(k, 0) for k in LINK_COUNTERS}
        out.update({"ble_" + k: v for k, v in self.chunks_in.counters.as_dict().items()})
        return out

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                self._call(client.disconnect(), 10)
            except Exception:  # closing anyway
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


# -- applications ---------------------------------------------------------------

class EchoApp:
    """First station: sends every payload back (the firmware's EchoApp)."""

    def __init__(self, sessions: int = 0) -> None:
        # stop after this many sessions closed normally by the peer (0: never)
        self.sessions_wanted = sessions
        self.established = 0
        self.ended = 0
        self.closed_ok = 0
        self.echoed = 0
        self.unsent = 0
        self.rotations = 0
        self.lost = 0
        self.rejected: dict[str, int] = {}
        self.reasons: dict[str, int] = {}
        self.done = False
        self.ok = False

    def start(self, peer: Peer) -> None:
        pass

    def tick(self, peer: Peer) -> None:
        pass

    def on_event(self, peer: Peer, e: Event) -> None:
        st = peer.station
        assert isinstance(st, FirstStation)
        if e.name == ev.DATA:
            self.lost += e.arg
            try:
                st.send_data(e.sid, e.payload or b"", peer.now())
                self.echoed += 1
            except UsageError:
                self.unsent += 1  # the session ended with that very frame
        elif e.name == ev.ESTABLISHED:
            self.established += 1
        elif e.name == ev.ROTATED:
            self.rotations += 1
        elif e.name in (ev.CLOSED, ev.HANDSHAKE_FAILED):
            key = e.name + "_" + code_name(e.arg)
            self.reasons[key] = self.reasons.get(key, 0) + 1
            if e.name == ev.CLOSED:
                self.ended += 1
                self.closed_ok += e.arg == Code.OK
            if self.sessions_wanted and self.closed_ok >= self.sessions_wanted:
                self.done = True
                self.ok = True
        elif e.name == ev.ERROR:
            name = code_name(e.arg)
            self.rejected[name] = self.rejected.get(name, 0) + 1

    def summary(self, peer: Peer) -> dict[str, Any]:
        return dict(
            ok=self.ok, role="first", sessions=self.ended, closed_ok=self.closed_ok,
            established=self.established,
            echoed=self.echoed, unsent=self.unsent, rotations=self.rotations, lost=self.lost,
            rejected=self.rejected, reasons=self.reasons, **peer.io_summary())


class ExchangeApp:
    """Second station: ``messages`` echoed payloads in one session (the firmware's app)."""

    def __init__(self, messages: int = 100, size: int = 32, reconnects: int = 3,
                 echo_timeout_ms: int = 0, resends: int = 3,
                 secret: bytes | None = None) -> None:
        self.messages = messages
        self.secret = secret  # suite 3 (15.10): the user's secret, given at each connect
        self.size = max(size, HEAD)
        self.reconnects = reconnects
        self.echo_timeout_ms = echo_timeout_ms
        self.resends = resends
        self.number = 0  # message number awaited
        self.echoed = 0
        self.exchanges = 0
        self.rotations = 0
        self.handshakes_started = 0
        self.established = 0
        self.hs_failed = 0
        self.sessions_lost = 0
        self.rekeyed_sessions = 0  # sessions F ended with KEYS_EXHAUSTED
        self.failures = 0
        self.reasons: dict[str, int] = {}
        self.resent = 0
        self.duplicates = 0
        self.corrupt = 0
        self.lost = 0
        self.rejected = 0
        self.peer_errors = 0
        self.handshake_ms = -1
        self.hs_ms_total = 0
        self.hint = ""
        self.done = False
        self.ok = False
        self._peer_error = 0  # the last ERROR code F sent during this handshake
        self._session_msgs = 0
        self._awaiting = False
        self._tries = 0
        self._deadline = 0
        self._t_connect = 0

    def start(self, peer: Peer) -> None:
        self._connect(peer)

    def _connect(self, peer: Peer) -> None:
        st = peer.station
        assert isinstance(st, SecondStation)
        self._t_connect = peer.now()
        self.handshakes_started += 1
        self._session_msgs = 0
        self._awaiting = False
        self._peer_error = 0
        st.connect(self._t_connect, self.secret)
        peer.log({"ev": "connect", "n": self.handshakes_started})

    def _send(self, peer: Peer) -> None:
        st = peer.station
        assert isinstance(st, SecondStation)
        if st.state != "OPEN":
            return
        now = peer.now()
        st.send_data(fill(self.size, self.number), now)
        self._tries += 1
        self._awaiting = True
        self._deadline = now + self.echo_timeout_ms

    def _failed(self, peer: Peer, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.failures += 1
        if self.failures > self.reconnects:
            self._finish(peer, False)
        else:
            self._connect(peer)

    def _finish(self, peer: Peer, ok: bool) -> None:
        self.done = True
        self.ok = ok
        self._awaiting = False
        st = peer.station
        assert isinstance(st, SecondStation)
        if st.state == "OPEN":
            st.close(peer.now())

    def tick(self, peer: Peer) -> None:
        if self.done or not self._awaiting or self.echo_timeout_ms <= 0:
            return
        if peer.now() < self._deadline:
            return
        if self._tries <= self.resends:
            self.resent += 1
            self._send(peer)
            return
        self._awaiting = False
        st = peer.station
        assert isinstance(st, SecondStation)
        if st.state == "OPEN":
            st.close(peer.now())
        self._failed(peer, "ECHO_LOST")

    def on_event(self, peer: Peer, e: Event) -> None:
        if self.done:
            return
        if e.name == ev.ESTABLISHED:
            self.established += 1
            ms = peer.now() - self._t_connect
            self.hs_ms_total += ms
            if self.handshake_ms < 0:
                self.handshake_ms = ms
            if self.messages > 0:
                self._tries = 0
                self._send(peer)
            else:
                self._exchange_done(peer)
        elif e.name == ev.DATA:
            self.lost += e.arg
            self._on_echo(peer, e.payload or b"")
        elif e.name == ev.ROTATED:
            self.rotations += 1
        elif e.name == ev.CLOSED:
            self._awaiting = False
            if e.arg == Code.KEYS_EXHAUSTED:
                self.rekeyed_sessions += 1  # F used up the session's IDRKs: a new session
                self._connect(peer)
            else:
                self.sessions_lost += 1
                self._failed(peer, "CLOSED_" + code_name(e.arg))
        elif e.name == ev.HANDSHAKE_FAILED:
            self.hs_failed += 1
            reason = "HANDSHAKE_" + code_name(e.arg)
            if self._peer_error == Code.UNKNOWN_PEER:
                # F does not know our identity: retrying cannot help, pairing can
                self.reasons[reason + "/UNKNOWN_PEER"] = 1
                self.hint = ("the first station does not know this host's identity "
                             "(ERROR UNKNOWN_PEER): pair the two again, e.g. "
                             "`ephkey pair --port BOARD --host-as second`")
                self._finish(peer, False)
                return
            if e.arg in (Code.WRONG_CODE, Code.BACKOFF):
                # suite 3: another try with the same secret only feeds the back-off
                self.reasons[reason] = self.reasons.get(reason, 0) + 1
                self.hint = ("the first station's record holds another secret (WRONG_CODE): "
                             "check the secret and try again" if e.arg == Code.WRONG_CODE else
                             "too many wrong secrets: this station backs off (BACKOFF); "
                             "wait and try again")
                self._finish(peer, False)
                return
            self._failed(peer, reason)
        elif e.name == ev.ERROR:
            self.rejected += 1
        elif e.name == ev.PEER_ERROR:
            self.peer_errors += 1
            self._peer_error = e.arg

    def _on_echo(self, peer: Peer, payload: bytes) -> None:
        number = number_of(payload)
        if not valid(payload) or len(payload) != self.size or number > self.number:
            self.corrupt += 1
            peer.log({"ev": "mismatch", "n": self.number, "got": number})
            self._finish(peer, False)
            return
        if number < self.number or not self._awaiting:
            self.duplicates += 1
            return
        self.echoed += 1
        self._session_msgs += 1
        self.number += 1
        self.failures = 0
        self._awaiting = False
        if self.echoed < self.messages:
            self._tries = 0
            self._send(peer)
        else:
            self._exchange_done(peer)

    def _exchange_done(self, peer: Peer) -> None:
        self.exchanges += 1
        self.failures = 0
        self._finish(peer, self.corrupt == 0)

    def summary(self, peer: Peer) -> dict[str, Any]:
        return dict(
            ok=self.ok, role="second", messages=self.echoed, exchanges=self.exchanges,
            handshake_ms=self.handshake_ms, handshakes=self.established,
            handshakes_started=self.handshakes_started, handshakes_failed=self.hs_failed,
            sessions_lost=self.sessions_lost, keys_exhausted=self.rekeyed_sessions,
            reasons=self.reasons, hs_ms_total=self.hs_ms_total,
            resent=self.resent, duplicates=self.duplicates, corrupt=self.corrupt,
            rotations=self.rotations, lost=self.lost, rejected=self.rejected,
            peer_errors=self.peer_errors, **({"hint": self.hint} if self.hint else {}),
            **peer.io_summary())


App = EchoApp | ExchangeApp


# -- the loop -------------------------------------------------------------------

class Peer:
    def __init__(self, station: FirstStation | SecondStation, transport: Transport, app: App,
                 log: Log | None = None, tick_s: float = 0.01) -> None:
        self.station = station
        self.transport = transport
        self.app = app
        self.log: Log = log or (lambda _rec: None)
        self.tick_s = tick_s
        self.frames_in = 0
        self.frames_out = 0
        self._t0 = time.monotonic()

    def now(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def io_summary(self) -> dict[str, Any]:
        return dict(frames_out=self.frames_out, frames_in=self.frames_in,
                    bytes_out=self.transport.bytes_out, bytes_in=self.transport.bytes_in,
                    link=self.transport.counters(), elapsed_ms=self.now())

    def _flush(self) -> None:
        st = self.station
        while True:
            progressed = False
            for e in st.events():
                progressed = True
                self.log(event_record(e))
                self.app.on_event(self, e)
            for frame in st.outputs():
                progressed = True
                self.transport.send(frame)
                self.frames_out += 1
            if not progressed:
                return

    def _jobs(self) -> None:
        """4.7: ``prepare`` (first station), then ``work`` while busy, each flushed."""
        st = self.station
        if isinstance(st, FirstStation):
            st.prepare(self.now())
        while st.busy():
            st.work(self.now())
            self._flush()

    def run(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Run until the application is done or ``timeout_s``; returns its summary."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        st = self.station
        self.app.start(self)
        self._flush()
        self._jobs()
        timed_out = False
        while not self.app.done:
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                break
            for frame in self.transport.receive(self.tick_s):
                self.frames_in += 1
                st.receive(frame, self.now())
                self._flush()
                self._jobs()
            st.poll(self.now())
            self.app.tick(self)
            self._flush()
            self._jobs()
        summary = self.app.summary(self)
        if timed_out:
            summary["ok"] = False
            summary["timeout"] = True
        return summary


def event_record(e: Event) -> dict[str, Any]:
    rec: dict[str, Any] = {"ev": e.name.lower(), "sid": e.sid}
    if e.name == ev.DATA:
        rec["n"] = len(e.payload or b"")
        if e.arg:
            rec["lost"] = e.arg
    elif e.name == ev.ROTATED:
        rec["key"] = e.arg
    elif e.name == ev.BACKOFF:
        rec["ms"] = e.arg  # suite 3: the delay a failed attempt started (15.10)
    elif e.name != ev.ESTABLISHED:
        rec["code"] = code_name(e.arg)
    return rec


def make_station(role: str, settings: dict[str, Any], pairings: list[Pairing],
                 now_ms: int = 0) -> FirstStation | SecondStation:
    """A station from board-file style settings (ValueError on a bad value).
    Suite 3 (15.10): with a ``user`` record S offers suite 3 and F accepts it,
    unless the settings say otherwise."""
    settings = dict(settings)
    if role == "first":
        if any(p.is_user for p in pairings) and "suites" not in settings:
            settings["suites"] = [3] + FirstConfig().suites
        return FirstStation(FirstConfig(**settings), pairings, os.urandom, now_ms)
    if pairings[0].is_user and "offer" not in settings:
        settings["offer"] = [3]
    return SecondStation(SecondConfig(**settings), pairings[0], os.urandom, now_ms)
