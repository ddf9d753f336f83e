"""pcapng captures (ephkey_host.pcapng): the file parsed back by a reader written
here from the format (not from the writer), the line's segmentation into packets,
and the two producers: `ephkey sniff --pcapng` and `tools/linksim.py --pcapng`."""

from __future__ import annotations

import io
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hostkit import BYTE_US, REPO, cli, env, record_session, wait_for_tap, write_tap

from ephkey_host import link
from ephkey_host.pcapng import LINKTYPE_USER0, MAX_PACKET, LineCapture, PcapngWriter
from linksim import LinkSim

pytestmark = pytest.mark.timeout(60)


@dataclass
class Interface:
    linktype: int
    snaplen: int
    options: dict[int, list[bytes]]


@dataclass
class Packet:
    interface: int
    t_us: int
    data: bytes
    orig_len: int
    options: dict[int, list[bytes]] = field(default_factory=dict)


@dataclass
class Capture:
    shb_options: dict[int, list[bytes]]
    interfaces: list[Interface]
    packets: list[Packet]


def _options(body: bytes) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    i = 0
    while i + 4 <= len(body):
        code, n = struct.unpack_from("<HH", body, i)
        if code == 0:
            assert n == 0 and i + 4 == len(body), "opt_endofopt must end the options"
            return out
        out.setdefault(code, []).append(body[i + 4:i + 4 + n])
        i += 4 + n + (-n % 4)
    assert i == len(body), "options must fill the block exactly"
    return out


def parse_pcapng(raw: bytes) -> Capture:
    """A little-endian pcapng reader for SHB, IDB and EPB; any other block fails."""
    assert len(raw) % 4 == 0
    cap = Capture({}, [], [])
    i = 0
    while i < len(raw):
        btype, total = struct.unpack_from("<II", raw, i)
        assert total % 4 == 0 and total >= 12 and i + total <= len(raw)
        assert struct.unpack_from("<I", raw, i + total - 4)[0] == total, "trailing length"
        body = raw[i + 8:i + total - 4]
        if btype == 0x0A0D0D0A:
            assert i == 0, "the SHB comes first"
            magic, major, minor, section_len = struct.unpack_from("<IHHq", body)
            assert (magic, major, minor, section_len) == (0x1A2B3C4D, 1, 0, -1)
            cap.shb_options = _options(body[16:])
        elif btype == 1:
            linktype, reserved, snaplen = struct.unpack_from("<HHI", body)
            assert reserved == 0
            cap.interfaces.append(Interface(linktype, snaplen, _options(body[8:])))
        elif btype == 6:
            iface, hi, lo, caplen, origlen = struct.unpack_from("<IIIII", body)
            assert iface < len(cap.interfaces)
            data = body[20:20 + caplen]
            opts = _options(body[20 + caplen + (-caplen % 4):])
            cap.packets.append(Packet(iface, hi << 32 | lo, data, origlen, opts))
        else:
            raise AssertionError("unexpected block type %#x" % btype)
        i += total
    return cap


def test_writer_blocks_parse_back() -> None:
    buf = io.BytesIO()
    w = PcapngWriter(buf, application="test app", comment="a comment")
    a = w.add_interface("A->B", "first")
    b = w.add_interface("B->A")
    payloads = [b"", b"\x00", b"abc", b"abcd", b"x" * 301]
    for n, p in enumerate(payloads):
        w.packet(n % 2, (1 << 32) * n + 12345 + n, p, comment="c%d" % n if n == 2 else None)
    cap = parse_pcapng(buf.getvalue())
    assert cap.shb_options == {4: [b"test app"], 1: [b"a comment"]}
    assert (a, b) == (0, 1)
    assert [i.linktype for i in cap.interfaces] == [LINKTYPE_USER0, LINKTYPE_USER0] == [147, 147]
    assert cap.interfaces[0].options == {2: [b"A->B"], 3: [b"first"], 9: [b"\x06"]}
    assert cap.interfaces[1].options == {2: [b"B->A"], 9: [b"\x06"]}
    assert [p.data for p in cap.packets] == payloads
    assert [p.orig_len for p in cap.packets] == [len(p) for p in payloads]
    assert [p.interface for p in cap.packets] == [0, 1, 0, 1, 0]
    assert [p.t_us for p in cap.packets] == [(1 << 32) * n + 12345 + n for n in range(5)]
    assert cap.packets[2].options == {1: [b"c2"]}
    assert cap.packets[0].options == {}
    with pytest.raises(ValueError):
        w.packet(2, 0, b"x")  # no such interface
    with pytest.raises(ValueError):
        w.packet(0, -1, b"x")


def capture_of(runs: list[tuple[float, str, bytes]], byte_us: float = 10.0,
               origin_us: int = 0) -> Capture:
    buf = io.BytesIO()
    cap = LineCapture(PcapngWriter(buf), byte_us, origin_us)
    for t, d, data in runs:
        cap.feed(t, d, data)
    cap.close()
    assert cap.packets == len(parse_pcapng(buf.getvalue()).packets)
    return parse_pcapng(buf.getvalue())


def test_one_packet_per_segment_as_on_the_wire() -> None:
    f1, f2, f3 = (link.encode_frame(bytes([0x2F, 0, i, 7])) for i in (1, 2, 3))
    # f1 and f2 back to back in one run (00 X 00 00 Y 00), then f3 cut in three
    # runs on the other direction, then idle delimiters.
    runs = [(100.0, "AB", f1 + f2), (500.0, "BA", f3[:1]), (520.0, "BA", f3[1:5]),
            (700.0, "BA", f3[5:] + b"\x00\x00\x00")]
    cap = capture_of(runs)
    assert [i.options[2] for i in cap.interfaces] == [[b"A->B"], [b"B->A"]]
    assert [(p.interface, p.data) for p in cap.packets] == [(0, f1), (0, f2), (1, f3)]
    # a packet is stamped when its trailing delimiter ended
    assert [p.t_us for p in cap.packets] == [
        round(100 + (len(f1) - 1) * 10), round(100 + (len(f1) + len(f2) - 1) * 10),
        round(700 + (len(f3) - 5 - 1) * 10)]


def test_lost_delimiters_noise_and_an_unfinished_segment() -> None:
    f1, f2 = (link.encode_frame(bytes([0x2F, 0, i, 7])) for i in (1, 2))
    # noise before f1 (no delimiter before it), f2's leading delimiter lost,
    # then a segment the capture ends inside
    runs = [(0.0, "AB", b"\x41\x42" + f1 + f2[1:] + b"\x03\x2f\x01")]
    cap = capture_of(runs, origin_us=1_700_000_000_000_000)
    assert [p.data for p in cap.packets] == [b"\x41\x42\x00", f1[1:], f2[1:], b"\x03\x2f\x01"]
    ends = [2, 2 + len(f1) - 1, 2 + len(f1) - 1 + len(f2) - 1, 2 + len(f1) + len(f2) - 1 + 2]
    assert [p.t_us - 1_700_000_000_000_000 for p in cap.packets] == [10 * e for e in ends]


def test_a_line_without_delimiters_is_cut() -> None:
    noise = bytes(range(1, 256)) * 40  # 10 200 bytes, no 0x00
    f = link.encode_frame(bytes([0x2F, 0, 1, 7]))
    cap = capture_of([(0.0, "AB", noise[:5000]), (60_000.0, "AB", noise[5000:] + f)])
    assert [len(p.data) for p in cap.packets] == [MAX_PACKET, MAX_PACKET,
                                                  len(noise) - 2 * MAX_PACKET + 1, len(f) - 1]
    assert b"".join(p.data for p in cap.packets) == noise + f
    assert [p.t_us for p in cap.packets] == [
        10 * (MAX_PACKET - 1), 60_000 + 10 * (2 * MAX_PACKET - 5000 - 1),
        60_000 + 10 * (len(noise) - 5000), 60_000 + 10 * (len(noise) - 5000 + len(f) - 1)]


def test_corrupted_bytes_are_kept() -> None:
    f = bytearray(link.encode_frame(b"\x25\x12\x34" + bytes(range(1, 30))))
    f[10] ^= 0x80
    cap = capture_of([(0.0, "BA", bytes(f))])
    assert [p.data for p in cap.packets] == [bytes(f)]
    assert link.LinkDecoder().feed(bytes(f)) == []  # the receiver drops it; the capture keeps it


def test_direction_is_checked() -> None:
    cap = LineCapture(PcapngWriter(io.BytesIO()), 10.0)
    with pytest.raises(ValueError):
        cap.feed(0.0, "AC", b"\x00")


def test_sniff_writes_the_tap_as_pcapng(tmp_path: Path) -> None:
    records = record_session(messages=6, rotate_frames=4)
    tap = write_tap(tmp_path / "tap.jsonl", records)
    out = tmp_path / "cap.pcapng"
    proc = cli("sniff", "--tap-file", str(tap), "--pcapng", str(out), "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = [r for r in records if r["type"] == "data"]
    assert "sniff: %d packets written to %s" % (len(data), out) in proc.stderr
    cap = parse_pcapng(out.read_bytes())
    assert cap.shb_options[1] == [("ephkey sniff of %s" % tap).encode()]
    assert [p.data.hex() for p in cap.packets] == [r["hex"] for r in data]
    assert [cap.interfaces[p.interface].options[2][0].decode() for p in cap.packets] == [
        {"AB": "A->B", "BA": "B->A"}[r["dir"]] for r in data]
    # the tap's times, with the hello record's byte time
    assert [p.t_us for p in cap.packets] == [
        round(r["t_us"] + (len(r["hex"]) // 2 - 1) * BYTE_US) for r in data]


def test_sniff_pcapng_usage_errors(tmp_path: Path) -> None:
    tap = write_tap(tmp_path / "tap.jsonl", record_session(messages=1))
    proc = cli("sniff", "--tap-file", str(tap), "--pcapng", str(tmp_path / "no" / "x.pcapng"))
    assert proc.returncode == 2
    assert "sniff: --pcapng" in proc.stderr and "Traceback" not in proc.stderr
    # a tap file that is not there: said before any capture file is made
    out = tmp_path / "x.pcapng"
    proc = cli("sniff", "--tap-file", str(tmp_path / "nothere.jsonl"), "--pcapng", str(out))
    assert proc.returncode == 2 and "--tap-file" in proc.stderr, proc.stderr
    assert not out.exists()


def test_linksim_writes_pcapng(tmp_path: Path) -> None:
    out = tmp_path / "line.pcapng"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tools" / "linksim.py"), "--port-a", "0", "--port-b", "0",
         "--baud", "115200", "--pcapng", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    try:
        assert proc.stdout is not None
        m = re.search(r"A=127\.0\.0\.1:(\d+) B=127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert m, "linksim did not start"
        frames_a = [link.encode_frame(bytes([0x2F, 0, i, 7])) for i in range(3)]
        frames_b = [link.encode_frame(bytes([0x25, 0, 9, 0, 0, 0, i]) + bytes(9))
                    for i in range(2)]
        t0 = time.time()
        with socket.create_connection(("127.0.0.1", int(m[1]))) as sa, \
                socket.create_connection(("127.0.0.1", int(m[2]))) as sb:
            time.sleep(0.1)
            sa.sendall(b"".join(frames_a))
            sb.sendall(b"".join(frames_b))
            time.sleep(0.3)  # a few ms of line time
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    cap = parse_pcapng(out.read_bytes())
    assert cap.shb_options[4] == [b"ephkey linksim"]
    by_dir = {name: [p for p in cap.packets if cap.interfaces[p.interface].options[2] == [name]]
              for name in (b"A->B", b"B->A")}
    assert [p.data for p in by_dir[b"A->B"]] == frames_a
    assert [p.data for p in by_dir[b"B->A"]] == frames_b
    # absolute times (the simulator's start on the wall clock), paced by the line:
    # back-to-back frames end len(frame) byte times apart (86.8 us at 115200 8N1)
    times = [p.t_us for p in by_dir[b"A->B"]]
    assert abs(times[0] / 1e6 - t0) < 5
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [
        pytest.approx(len(f) * 86.806, abs=2) for f in frames_a[1:]]
    # written in time order across the two directions
    assert [p.t_us for p in cap.packets] == sorted(p.t_us for p in cap.packets)


def test_packets_in_time_order_across_directions() -> None:
    f = [link.encode_frame(bytes([0x2F, 0, i, 7])) for i in range(4)]
    # A->B: three frames in one run from t=0; B->A: one frame starting after the
    # first A->B one but ending before the last
    cap = capture_of([(0.0, "AB", f[0] + f[1] + f[2]), (5.0, "BA", f[3])], byte_us=1.0)
    assert [p.data for p in cap.packets] == [f[0], f[3], f[1], f[2]]
    assert [p.t_us for p in cap.packets] == sorted(p.t_us for p in cap.packets)


def test_live_sniff_writes_packets_while_the_line_is_idle(tmp_path: Path) -> None:
    """`ephkey sniff --tap HOST:PORT --pcapng FILE`: once the line is quiet, what it
    held back for time order is in the file, before the tap closes."""
    out = tmp_path / "live.pcapng"
    frames = [link.encode_frame(bytes([0x2F, 0, i, 7])) for i in range(4)]
    with LinkSim(tap_port=0) as sim:
        sniff = subprocess.Popen(
            [sys.executable, "-m", "ephkey_host", "sniff", "--tap", "127.0.0.1:%d" % sim.tap_port,
             "--pcapng", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
        try:
            with socket.create_connection(("127.0.0.1", sim.port_a), timeout=5) as a, \
                    socket.create_connection(("127.0.0.1", sim.port_b), timeout=5) as b:
                wait_for_tap(sim)
                a.sendall(frames[0] + frames[1])
                b.sendall(frames[2] + frames[3])
                deadline = time.monotonic() + 10
                packets: list[Packet] = []
                while time.monotonic() < deadline and len(packets) < 4:
                    time.sleep(0.1)
                    try:
                        packets = parse_pcapng(out.read_bytes()).packets
                    except (AssertionError, struct.error):
                        packets = []  # a block being written
                assert sniff.poll() is None  # still running: written on idle, not at the end
                assert sorted(p.data for p in packets) == sorted(frames)
        finally:
            sim.stop()
            _, err = sniff.communicate(timeout=20)
    assert sniff.returncode == 0, err
    assert "sniff: 4 packets written to %s" % out in err
