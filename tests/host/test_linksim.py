"""tools/linksim.py: pacing, integrity, tap, a MicroPython client, faults, CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest

from linksim import LinkSim, RandomFaults, frame_bits

TOOLS = Path(__file__).resolve().parents[2] / "tools"
pytestmark = pytest.mark.timeout(60)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(5)
    return sock


def recv_exactly(sock: socket.socket, n: int, arrivals: list[float] | None = None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        if arrivals is not None:
            arrivals.append(time.monotonic())
        buf += chunk
    return bytes(buf)


def read_tap_lines(sock: socket.socket, n_bytes: int) -> list[dict]:
    """Tap records until n_bytes of data were seen (hello line first)."""
    buf, seen = b"", 0
    records: list[dict] = []
    while seen < n_bytes or not records:
        chunk = sock.recv(1 << 20)
        assert chunk, "tap closed early"
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            rec = json.loads(line)
            records.append(rec)
            if rec["type"] == "data":
                seen += len(bytes.fromhex(rec["hex"]))
    return records


def test_frame_bits() -> None:
    assert frame_bits("8N1") == 10
    assert frame_bits("8E1") == 11
    assert frame_bits("7E2") == 11
    with pytest.raises(ValueError):
        frame_bits("9N1")


def test_full_duplex_rate_order_and_tap() -> None:
    size = 20_000
    ab = bytes((i * 7 + 3) % 256 for i in range(size))
    ba = bytes((i * 13 + 1) % 256 for i in range(size))
    taps: list[tuple[float, str, bytes]] = []
    with LinkSim(tap_port=0, tap=lambda t, d, b: taps.append((t, d, b))) as sim:
        with connect(sim.port_a) as a, connect(sim.port_b) as b, connect(sim.tap_port) as tap:
            time.sleep(0.05)  # let the simulator accept all three
            results: dict[str, tuple[bytes, list[float]]] = {}

            def receive(name: str, sock: socket.socket) -> None:
                arrivals: list[float] = []
                results[name] = (recv_exactly(sock, size, arrivals), arrivals)

            readers = [
                threading.Thread(target=receive, args=("AB", b)),
                threading.Thread(target=receive, args=("BA", a)),
            ]
            for r in readers:
                r.start()
            a.sendall(ab)
            b.sendall(ba)
            for r in readers:
                r.join(15)
            tap_records = read_tap_lines(tap, 2 * size)
        stats = sim.stats()

    byte_time = 10 / 115200
    for name, sent in (("AB", ab), ("BA", ba)):
        got, arrivals = results[name]
        assert got == sent, f"{name}: content or order changed"
        # From the first to the last delivery, size-1 byte times elapse.
        rate = (size - 1) / (arrivals[-1] - arrivals[0])
        assert rate == pytest.approx(11520, rel=0.03), f"{name}: {rate:.0f} B/s"
        assert stats[name] == {"sent": size, "on_wire": size, "delivered": size, "lost": 0}

    # In-process tap: every byte, per direction in order, time never decreasing.
    assert [t for t, _, _ in taps] == sorted(t for t, _, _ in taps)
    for name, sent in (("AB", ab), ("BA", ba)):
        runs = [(t, data) for t, d, data in taps if d == name]
        assert b"".join(data for _, data in runs) == sent
        # Runs never overlap on the wire: a run starts after the previous ended.
        for (t0, d0), (t1, _) in pairwise(runs):
            assert t1 >= t0 + (len(d0) - 1) * byte_time * 1e6 + byte_time * 1e6 * 0.999

    # TCP tap: hello, then the same records.
    assert tap_records[0]["type"] == "hello"
    assert tap_records[0]["byte_us"] == pytest.approx(86.806, abs=0.001)
    data = [r for r in tap_records if r["type"] == "data"]
    assert [r["t_us"] for r in data] == sorted(r["t_us"] for r in data)
    for name, sent in (("AB", ab), ("BA", ba)):
        assert b"".join(bytes.fromhex(r["hex"]) for r in data if r["dir"] == name) == sent


def test_slow_baud_and_frame() -> None:
    # 9600 8E1: 11 bits per byte, 872.7 bytes/s: 436 bytes take 0.5 s.
    n = 436
    with LinkSim(baud=9600, frame="8E1") as sim, connect(sim.port_a) as a, connect(sim.port_b) as b:
        time.sleep(0.05)
        t0 = time.monotonic()
        a.sendall(b"x" * n)
        assert recv_exactly(b, n) == b"x" * n
        elapsed = time.monotonic() - t0
    assert elapsed == pytest.approx(n * 11 / 9600, rel=0.05)


def test_lost_without_receiver_and_port_in_use() -> None:
    with LinkSim() as sim:
        with connect(sim.port_a) as a:
            a.sendall(b"nobody hears this")
            deadline = time.monotonic() + 5
            while sim.stats()["AB"]["lost"] < 17 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert sim.stats()["AB"]["lost"] == 17
        with pytest.raises(OSError, match="cannot listen"):
            LinkSim(port_a=sim.port_a).start()


def test_micropython_client(micropython_bin: str) -> None:
    code = (
        "import socket, sys\n"
        "s = socket.socket()\n"
        "s.connect(socket.getaddrinfo('127.0.0.1', int(sys.argv[1]))[0][-1])\n"
        "s.send(b'ping from micropython\\n')\n"
        "buf = b''\n"
        "while not buf.endswith(b'\\n'):\n"
        "    buf += s.recv(64)\n"
        "print(buf.decode().strip())\n"
        "s.close()\n"
    )
    with LinkSim() as sim, connect(sim.port_b) as host_side:
        proc = subprocess.Popen(
            [micropython_bin, "-c", code, str(sim.port_a)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert recv_exactly(host_side, 22) == b"ping from micropython\n"
            host_side.sendall(b"pong from cpython\n")
            out, _ = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, out
        assert out.strip() == "pong from cpython"


def _run_with_faults(seed: int, payload: bytes) -> tuple[bytes, dict[str, int]]:
    faults = RandomFaults(seed=seed, flip_rate=0.05)
    with (
        LinkSim(baud=2_000_000, faults=faults) as sim,
        connect(sim.port_a) as a,
        connect(sim.port_b) as b,
    ):
        time.sleep(0.05)
        a.sendall(payload)
        got = recv_exactly(b, len(payload))
    return got, faults.counts


def test_seeded_faults_replay() -> None:
    payload = bytes(range(256)) * 8
    got1, counts1 = _run_with_faults(7, payload)
    got2, counts2 = _run_with_faults(7, payload)
    assert got1 == got2 != payload
    assert counts1 == counts2 and counts1["flipped"] > 0
    assert sum(x != y for x, y in zip(got1, payload, strict=True)) == counts1["flipped"]


def test_drop_and_dup_counts() -> None:
    payload = bytes(range(256)) * 4
    faults = RandomFaults(seed=3, drop_rate=0.05, dup_rate=0.05)
    with (
        LinkSim(baud=1_000_000, faults=faults) as sim,
        connect(sim.port_a) as a,
        connect(sim.port_b) as b,
    ):
        time.sleep(0.05)
        a.sendall(payload)
        deadline = time.monotonic() + 5
        while sim.stats()["AB"]["sent"] < len(payload) and time.monotonic() < deadline:
            time.sleep(0.01)
        expected = len(payload) - faults.counts["dropped"] + faults.counts["duplicated"]
        got = recv_exactly(b, expected)
        assert sim.stats()["AB"]["on_wire"] == expected
    assert len(got) == expected and got != payload
    assert faults.counts["dropped"] > 0 and faults.counts["duplicated"] > 0


def test_line_break() -> None:
    faults = RandomFaults()
    faults.line_break(0.0, 0.3, "AB")  # A -> B is down for the first 0.3 s
    with LinkSim(faults=faults) as sim, connect(sim.port_a) as a, connect(sim.port_b) as b:
        a.sendall(b"lost in the break")
        b.sendall(b"BA is up")
        assert recv_exactly(a, 8) == b"BA is up"
        time.sleep(0.35)
        a.sendall(b"after")
        assert recv_exactly(b, 5) == b"after"
        assert sim.stats()["AB"] == {"sent": 22, "on_wire": 5, "delivered": 5, "lost": 0}
    assert faults.counts == {"break_lost": 17}


def test_cli_runs_and_stops() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(TOOLS / "linksim.py"),
            "--port-a",
            "0",
            "--port-b",
            "0",
            "--tap-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout
        line = proc.stdout.readline()  # linksim: A=127.0.0.1:P B=127.0.0.1:Q tap=... 115200 8N1
        ports = {
            k: int(v.rsplit(":", 1)[1]) for k, v in (f.split("=") for f in line.split() if "=" in f)
        }
        with connect(ports["A"]) as a, connect(ports["B"]) as b:
            a.sendall(b"hello")
            assert recv_exactly(b, 5) == b"hello"
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert '"delivered": 5' in out
