"""Link simulator: two UART endpoints joined by a paced serial line, over TCP.

    python tools/linksim.py --port-a 7001 --port-b 7002 [--tap-port 7003]
                            [--baud 115200] [--frame 8N1] [--tap-file FILE]
                            [--pcapng FILE]
                            [--seed N --flip-rate P --drop-rate P --dup-rate P
                             --delay-rate P --delay-ms MS --break START:SECONDS[:AB]]

Side A and side B are TCP listeners on 127.0.0.1; whatever connects to A (a
virtual board's firmware, or a host tool through pyserial's `socket://` URL)
talks to whatever connects to B. Several clients may connect to one side:
they all receive what the other side sends (like two receivers on one wire)
and all they send shares that side's wire.

Pacing is that of a real line. Each direction is its own wire; a byte takes
`bits/baud` seconds (8N1 is 10 bits: 86.8 us at 115200, 11 520 bytes/s).
A byte that reaches the simulator at time t goes onto the wire at
max(t, wire free) and is delivered when its stop bit ends, one byte time
later; bytes queue behind each other. A sender that gets more than
`tx_buffer` bytes (default 4096) ahead of its wire stops being read until
half of that has drained, so TCP pushes back as a full UART TX buffer
would. Bytes delivered while nobody is connected on the receiving side are
lost (counted), as on a real line.

Tap: every delivered byte, with its time and direction, in delivery order.
 * TCP (`--tap-port`): newline-delimited JSON, UTF-8. The first line is
       {"type": "hello", "baud": 115200, "frame": "8N1", "bits_per_byte": 10,
        "byte_us": 86.806}
   then one record per run of back-to-back bytes:
       {"type": "data", "t_us": 1234.567, "dir": "AB", "hex": "48690a"}
   `t_us` is when the first byte's stop bit ended, in microseconds since the
   simulator started; byte i of the record ended at t_us + i * byte_us. A gap
   on the line always starts a new record. `t_us` never decreases from one
   record to the next, across both directions. `dir` is "AB" (sent by side
   A, delivered to side B) or "BA". Readers must skip unknown "type"s (fault
   events will be added).
 * In process: `LinkSim(tap=callback)`, called as callback(t_us, dir, data)
   on the simulator thread (keep it quick).
 * `--tap-file FILE` writes the same JSON lines to a file.
 * `--pcapng FILE` writes a pcapng capture for Wireshark instead (or as
   well): one packet per link-layer segment as on the wire, timestamped with
   the tap's times from the wall-clock time the simulator started, one
   interface per direction (`ephkey_host.pcapng`; dissector:
   `tools/wireshark/ephkey.lua`).

Faults: a `FaultModel` sees the bytes of each direction as they go onto the
wire and may change or delay them (the default does nothing). `RandomFaults`
is a seeded model: bit flips, dropped and duplicated bytes at given rates,
random hold-ups, and line breaks (bytes sent during a break are lost).

In process: `with LinkSim(baud=115200) as sim: ... sim.port_a, sim.port_b,
sim.stats()`; ports default to 0 (any free port).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import selectors
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from ephkey_host.pcapng import LineCapture

log = logging.getLogger("linksim")

TapCallback = Callable[[float, str, bytes], None]
DIRECTIONS = ("AB", "BA")
MAX_CLIENT_BACKLOG = 4 * 1024 * 1024


def frame_bits(frame: str) -> float:
    """Bits on the wire per byte for a format like 8N1, 7E1, 8N2 (start bit included)."""
    m = re.fullmatch(r"([5-8])([NEOMS])(1|1\.5|2)", frame.upper())
    if not m:
        raise ValueError(f"bad frame format {frame!r} (want e.g. 8N1)")
    bits = 1 + int(m.group(1)) + (m.group(2) != "N") + float(m.group(3))
    return int(bits) if bits.is_integer() else bits


class FaultModel:
    """No faults: the hook where fault models plug in.

    transmit() is called on the simulator thread for each chunk a side sends,
    when it goes onto the wire; it returns what the wire carries instead;
    delay() may hold the chunk back first.
    `t` is seconds since the simulator started. `rng` is seeded, so a run
    can be replayed.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def transmit(self, direction: str, data: bytes, t: float) -> bytes:
        return data

    def delay(self, direction: str, t: float) -> float:
        """Extra seconds before a chunk sent at t goes onto the wire (order is kept)."""
        return 0.0


@dataclass
class RandomFaults(FaultModel):
    """Seeded random faults.

    flip_rate: probability per byte of one flipped bit; drop_rate, dup_rate:
    per byte. delay_rate: probability per chunk of a delay_s hold-up.
    breaks: (start_s, duration_s, direction or None for both): the line is
    down then and bytes sent meanwhile are lost.
    """

    seed: int = 0
    flip_rate: float = 0.0
    drop_rate: float = 0.0
    dup_rate: float = 0.0
    delay_rate: float = 0.0
    delay_s: float = 0.0
    breaks: list[tuple[float, float, str | None]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.seed)

    def line_break(self, start: float, duration: float, direction: str | None = None) -> None:
        self.breaks.append((start, duration, direction))

    def transmit(self, direction: str, data: bytes, t: float) -> bytes:
        for start, duration, d in self.breaks:
            if start <= t < start + duration and d in (None, direction):
                self._count("break_lost", len(data))
                return b""
        if not (self.flip_rate or self.drop_rate or self.dup_rate):
            return data
        out = bytearray()
        rng = self.rng
        for b in data:
            if rng.random() < self.drop_rate:
                self._count("dropped")
                continue
            if rng.random() < self.flip_rate:
                b ^= 1 << rng.randrange(8)
                self._count("flipped")
            out.append(b)
            if rng.random() < self.dup_rate:
                out.append(b)
                self._count("duplicated")
        return bytes(out)

    def delay(self, direction: str, t: float) -> float:
        if self.delay_rate and self.rng.random() < self.delay_rate:
            self._count("delayed")
            return self.delay_s
        return 0.0

    def _count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n


class _Wire:
    """One direction of the line: segments of back-to-back bytes with delivery times."""

    def __init__(self, byte_time: float) -> None:
        self.byte_time = byte_time
        # [delivery time of the segment's first byte, bytes not yet delivered]
        self.segments: deque[list] = deque()
        self.free_at = 0.0  # when the last queued byte's stop bit ends
        self.queued = 0

    def push(self, data: bytes, at: float) -> None:
        """Queue data that is ready to go onto the wire at time `at`."""
        if not data:
            return
        if self.segments and at < self.free_at:
            self.segments[-1][1] += data  # wire still busy: queue right behind
        else:
            self.segments.append([at + self.byte_time, bytearray(data)])
            self.free_at = at
        self.free_at += len(data) * self.byte_time
        self.queued += len(data)

    def pop_due(self, now: float) -> list[tuple[float, bytes]]:
        runs = []
        while self.segments:
            seg = self.segments[0]
            t0, buf = seg
            if t0 > now:
                break
            n = min(len(buf), int((now - t0) / self.byte_time) + 1)
            runs.append((t0, bytes(buf[:n])))
            self.queued -= n
            if n == len(buf):
                self.segments.popleft()
            else:
                del buf[:n]
                seg[0] = t0 + n * self.byte_time
                break
        return runs

    def next_due(self) -> float | None:
        return self.segments[0][0] if self.segments else None


class _Conn:
    def __init__(self, sock: socket.socket, role: str) -> None:
        self.sock = sock
        self.role = role  # "A", "B" or "tap"
        self.out = bytearray()


class LinkSim:
    """The simulator; runs on one thread so tap timestamps are globally ordered."""

    def __init__(
        self,
        port_a: int = 0,
        port_b: int = 0,
        *,
        tap_port: int | None = None,
        host: str = "127.0.0.1",
        baud: int = 115200,
        frame: str = "8N1",
        faults: FaultModel | None = None,
        tap: TapCallback | None = None,
        tx_buffer: int = 4096,
    ) -> None:
        self.host = host
        self.port_a, self.port_b, self.tap_port = port_a, port_b, tap_port
        self.baud = baud
        self.frame = frame
        self.bits_per_byte = frame_bits(frame)
        self.byte_time = self.bits_per_byte / baud
        self.faults = faults or FaultModel()
        self.tap = tap
        self.tx_buffer = tx_buffer
        self._wires = {d: _Wire(self.byte_time) for d in DIRECTIONS}
        self._counts = {d: {"sent": 0, "on_wire": 0, "delivered": 0, "lost": 0} for d in DIRECTIONS}
        self._conns: dict[socket.socket, _Conn] = {}
        # connections accepted per role, read from other threads (a test
        # waits for its sniffer on the tap before it sends)
        self.accepted = {"A": 0, "B": 0, "tap": 0}
        self._listeners: dict[socket.socket, str] = {}
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()  # guards _counts for stats()
        self._t0 = 0.0
        self.t0_wall = 0.0

    # -- public API ---------------------------------------------------------

    def start(self) -> LinkSim:
        try:
            for role in ("A", "B", "tap"):
                port = {"A": self.port_a, "B": self.port_b, "tap": self.tap_port}[role]
                if port is None:
                    continue
                try:
                    lsock = socket.create_server((self.host, port))
                except OSError as e:
                    msg = f"linksim: cannot listen for {role} on {self.host}:{port}: {e.strerror}"
                    raise OSError(e.errno, msg) from e
                lsock.setblocking(False)
                self._listeners[lsock] = role
                self._sel.register(lsock, selectors.EVENT_READ, ("listen", role))
                bound = lsock.getsockname()[1]
                if role == "A":
                    self.port_a = bound
                elif role == "B":
                    self.port_b = bound
                else:
                    self.tap_port = bound
        except OSError:
            self._close_all()
            raise
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", ""))
        self._t0 = time.monotonic()
        self.t0_wall = time.time()  # the tap's time 0, for absolute capture times
        self._thread = threading.Thread(target=self._run, name="linksim", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread:
            self._thread.join(timeout)
        self._close_all()

    def stats(self) -> dict[str, dict[str, int]]:
        """Byte counters per direction: sent (read from the sender), on_wire
        (after faults), delivered (to at least one receiver), lost (nobody
        connected on the receiving side)."""
        with self._lock:
            return {d: dict(c) for d, c in self._counts.items()}

    def hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "baud": self.baud,
            "frame": self.frame,
            "bits_per_byte": self.bits_per_byte,
            "byte_us": round(self.byte_time * 1e6, 3),
        }

    def __enter__(self) -> LinkSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- loop ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._update_interest()
                events = self._sel.select(self._timeout())
                now = time.monotonic() - self._t0
                for key, mask in events:
                    kind, role = key.data
                    if kind == "listen":
                        self._accept(key.fileobj, role)  # type: ignore[arg-type]
                    elif kind == "conn":
                        conn = self._conns.get(key.fileobj)  # type: ignore[call-overload]
                        if conn and mask & selectors.EVENT_WRITE:
                            self._flush(conn)
                        if conn and mask & selectors.EVENT_READ and conn.sock in self._conns:
                            self._read(conn, now)
                    else:
                        self._wake_r.recv(64)
                self._deliver(time.monotonic() - self._t0)
        except Exception:
            log.exception("linksim failed")

    def _timeout(self) -> float:
        now = time.monotonic() - self._t0
        due = [t for w in self._wires.values() if (t := w.next_due()) is not None]
        # 1 ms floor: deliver in small bursts, as a UART FIFO would, not per byte.
        return max(0.001, min(due) - now) if due else 0.5

    def _update_interest(self) -> None:
        for sock, conn in self._conns.items():
            events = selectors.EVENT_WRITE if conn.out else 0
            # A sender is read again once its wire has drained to half of
            # tx_buffer (TCP pushes back meanwhile); a tap is read only to
            # notice it closing.
            if conn.role == "tap" or (
                self._wires[self._direction_from(conn.role)].queued <= self.tx_buffer // 2
            ):
                events |= selectors.EVENT_READ
            try:
                key = self._sel.get_key(sock)
            except KeyError:
                if events:
                    self._sel.register(sock, events, ("conn", conn.role))
                continue
            if not events:
                self._sel.unregister(sock)
            elif key.events != events:
                self._sel.modify(sock, events, key.data)

    def _queued(self, role: str) -> int:
        return self._wires[self._direction_from(role)].queued

    @staticmethod
    def _direction_from(role: str) -> str:
        return "AB" if role == "A" else "BA"

    def _accept(self, lsock: socket.socket, role: str) -> None:
        try:
            sock, addr = lsock.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock, role)
        self._conns[sock] = conn
        self.accepted[role] += 1
        log.info("linksim: %s connected from %s", role, addr)
        if role == "tap":
            conn.out += (json.dumps(self.hello()) + "\n").encode()
            self._flush(conn)

    def _read(self, conn: _Conn, now: float) -> None:
        room = 65536 if conn.role == "tap" else self.tx_buffer - self._queued(conn.role)
        try:
            data = conn.sock.recv(max(1, room))
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        if conn.role == "tap":
            return  # taps only listen
        direction = self._direction_from(conn.role)
        wire_data = self.faults.transmit(direction, data, now)
        with self._lock:
            self._counts[direction]["sent"] += len(data)
            self._counts[direction]["on_wire"] += len(wire_data)
        # Never earlier than now: keeps tap times non-decreasing.
        at = now + max(0.0, self.faults.delay(direction, now))
        self._wires[direction].push(wire_data, at)

    def _deliver(self, now: float) -> None:
        runs = [(t, d, data) for d in DIRECTIONS for t, data in self._wires[d].pop_due(now)]
        runs.sort(key=lambda r: r[0])
        for t, direction, data in runs:
            t_us = t * 1e6
            receivers = [c for c in self._conns.values() if c.role == direction[1]]
            with self._lock:
                key = "delivered" if receivers else "lost"
                self._counts[direction][key] += len(data)
            for conn in receivers:
                conn.out += data
                self._flush(conn)
            if self.tap:
                self.tap(t_us, direction, data)
            taps = [c for c in self._conns.values() if c.role == "tap"]
            if taps:
                line = (
                    json.dumps(
                        {
                            "type": "data",
                            "t_us": round(t_us, 3),
                            "dir": direction,
                            "hex": data.hex(),
                        }
                    )
                    + "\n"
                )
                for conn in taps:
                    conn.out += line.encode()
                    self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        if not conn.out:
            return
        try:
            n = conn.sock.send(conn.out)
        except BlockingIOError:
            n = 0
        except OSError:
            self._drop(conn)
            return
        del conn.out[:n]
        if len(conn.out) > MAX_CLIENT_BACKLOG:
            log.warning("linksim: %s client is not reading; disconnecting it", conn.role)
            self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        if self._conns.pop(conn.sock, None) is None:
            return
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        log.info("linksim: %s client gone", conn.role)

    def _close_all(self) -> None:
        for conn in list(self._conns.values()):
            self._drop(conn)
        for lsock in self._listeners:
            lsock.close()
        self._listeners.clear()
        for s in (self._wake_r, self._wake_w):
            s.close()
        self._sel.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serial line simulator between two TCP ports.")
    parser.add_argument("--port-a", type=int, required=True, help="side A TCP port (0: any)")
    parser.add_argument("--port-b", type=int, required=True, help="side B TCP port (0: any)")
    parser.add_argument("--tap-port", type=int, help="TCP port of the JSON-lines tap")
    parser.add_argument("--tap-file", help="also write the tap's JSON lines to this file")
    parser.add_argument("--pcapng", metavar="FILE",
                        help="also write a pcapng capture (tools/wireshark/ephkey.lua)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--frame", default="8N1", help="data bits, parity, stop bits")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault model")
    parser.add_argument("--flip-rate", type=float, default=0.0, help="per byte")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="per byte")
    parser.add_argument("--dup-rate", type=float, default=0.0, help="per byte")
    parser.add_argument("--delay-rate", type=float, default=0.0, help="per chunk sent")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="length of one hold-up")
    parser.add_argument(
        "--break",
        dest="breaks",
        action="append",
        default=[],
        metavar="START:SECONDS[:AB|BA]",
        help="line down for a while (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(message)s"
    )
    faults = RandomFaults(
        seed=args.seed,
        flip_rate=args.flip_rate,
        drop_rate=args.drop_rate,
        dup_rate=args.dup_rate,
        delay_rate=args.delay_rate,
        delay_s=args.delay_ms / 1000,
    )
    for spec in args.breaks:
        start, seconds, *direction = spec.split(":")
        faults.line_break(float(start), float(seconds), direction[0] if direction else None)
    try:
        tap_file = open(args.tap_file, "w", buffering=1) if args.tap_file else None  # closed below
        pcap_file = open(args.pcapng, "wb") if args.pcapng else None  # closed below
    except OSError as e:
        print(f"linksim: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    capture = _line_capture(pcap_file, frame_bits(args.frame) / args.baud * 1e6) \
        if pcap_file else None

    def write_tap(t_us: float, direction: str, data: bytes) -> None:
        if tap_file:
            rec = {"type": "data", "t_us": round(t_us, 3), "dir": direction, "hex": data.hex()}
            tap_file.write(json.dumps(rec) + "\n")
        if capture:
            capture.feed(t_us, direction, data)

    sim = LinkSim(
        args.port_a,
        args.port_b,
        tap_port=args.tap_port,
        host=args.host,
        baud=args.baud,
        frame=args.frame,
        faults=faults,
        tap=write_tap if tap_file or capture else None,
    )
    try:
        sim.start()
    except (OSError, ValueError) as e:
        print(e, file=sys.stderr)
        return 2
    if capture:
        capture.origin_us = round(sim.t0_wall * 1e6)
    if tap_file:
        tap_file.write(json.dumps(sim.hello()) + "\n")
    tap = f" tap={args.host}:{sim.tap_port}" if sim.tap_port is not None else ""
    print(
        f"linksim: A={args.host}:{sim.port_a} B={args.host}:{sim.port_b}{tap} "
        f"{args.baud} {args.frame}",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if tap_file:
            tap_file.close()
        if capture and pcap_file:
            capture.close()
            pcap_file.close()
        print(f"linksim: {json.dumps(sim.stats())} faults={json.dumps(faults.counts)}", flush=True)
    return 0


def _line_capture(out: BinaryIO, byte_us: float) -> LineCapture:
    try:
        from ephkey_host.pcapng import LineCapture, PcapngWriter
    except ImportError:  # without the venv's .pth: use the checkout
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))
        from ephkey_host.pcapng import LineCapture, PcapngWriter
    return LineCapture(PcapngWriter(out, application="ephkey linksim"), byte_us,
                       description="linksim line")


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
