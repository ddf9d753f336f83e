"""The link on the console (ephkey.console, "transport": "usb"): frames in and
out over two streams, and the escape that gives the console back.

The console is stood in by a Python stream (pollable, as sys.stdin.buffer is):
the board's input is a buffer of wire bytes, its output is collected.
"""

import asyncio
import io
import random

from ephkey import apps, console
from ephkey.console import ESCAPE, ConsoleLink, Escape
from ephkey.link import LinkRx, LinkTx

_POLLIN = 1


class FakeConsole(io.IOBase):
    """Input from ``data`` (then end of stream), output collected in ``out``."""

    def __init__(self, data=b""):
        self.data = data
        self.pos = 0
        self.out = bytearray()

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n

    def write(self, buf, off=0, n=-1):
        if n < 0:
            n = len(buf) - off
        self.out += memoryview(buf)[off:off + n]
        return n

    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL: always readable (the end reads as 0 bytes)
            return arg & _POLLIN
        return 0


def _wire(frames, max_frame=276):
    tx = LinkTx(max_frame)
    out = bytearray()
    for f in frames:
        k = tx.encode(f, len(f))
        out += tx.out[:k]
    return bytes(out)


def _tricky_frames():
    """Frames that come closest to ESCAPE: its text, 0xFF runs of every length
    around a COBS block, the text after 254 and 253 non-zero bytes."""
    text = b"EPHKEY-REPL"
    frames = [text, b"\xff" + text, b"\x00\xff" + text + b"\x00", ESCAPE, ESCAPE * 3]
    for n in (1, 2, 11, 12, 13, 252, 253, 254, 255, 256):
        frames.append(b"\xff" * n)
        frames.append(b"\xff" * n + text)
        frames.append(bytes([0xFF] * (n - 1) + [0]) + text)
    random.seed(9)
    for n in range(0, 277, 7):
        frames.append(bytes(random.getrandbits(8) for _ in range(n)))
    return frames


def _run(coro):
    return asyncio.run(coro)


def _with_input(data, fn):
    """fn(stdin, stdout) with data as the input; returns (its result, the output)."""
    con = FakeConsole(data)
    result = fn(con, con)
    return result, bytes(con.out)


def _receive_all(data, max_frame=276):
    """Frames a ConsoleLink gets from data, and how it ended."""
    got = []

    async def loop(link):
        while True:
            frame = await link.recv()
            got.append(bytes(frame))

    def go(stdin, stdout):
        link = ConsoleLink(max_frame, stdin, stdout)
        try:
            _run(loop(link))
        except Escape:
            return got, "escape", link
        except OSError:
            return got, "closed", link
        return got, "returned", link

    return _with_input(data, go)[0]


def test_no_link_transmitter_output_contains_the_escape():
    frames = _tricky_frames()
    wire = _wire(frames)
    assert wire.find(ESCAPE) < 0
    got, how, _ = _receive_all(wire)
    assert how == "closed", how  # end of input, never an escape
    assert got == frames


def test_escape_stops_the_link_after_the_frames_before_it():
    frames = [b"one", b"\x03\x03two", bytes(range(256))[:200]]
    wire = _wire(frames)
    got, how, link = _receive_all(wire + ESCAPE + _wire([b"never read"]))
    assert how == "escape", how
    assert got == frames
    assert link.rx.frames_ok == 3


def test_escape_ends_a_frame_cut_short_and_after_line_noise():
    wire = _wire([b"whole"])
    cut = _wire([b"cut short by the escape"])[:9]
    got, how, _ = _receive_all(b"\x00\x00noise\xff\xff" + wire + cut + ESCAPE)
    assert how == "escape" and got == [b"whole"], (how, got)
    # an escape that starts right after other 0x00 bytes, or repeats its start
    got, how, _ = _receive_all(b"\x00\x00\x00\xff\x00" + ESCAPE)
    assert how == "escape", how


def test_almost_the_escape_is_only_line_noise():
    near = [ESCAPE[:-1] + b"X", ESCAPE[:5] + b"\x00", b"\xffEPHKEY-REPL\x00",
            ESCAPE[:1] + b"\xfe" + ESCAPE[2:]]
    for n in near:
        got, how, link = _receive_all(n + _wire([b"after"]))
        assert how == "closed" and got == [b"after"], (n, how, got)


def test_frames_sent_go_out_as_the_wire_form():
    frames = [b"a", b"\x00\x03\xff" * 10]

    def go(stdin, stdout):
        link = ConsoleLink(64, stdin, stdout)
        for f in frames:
            buf = bytearray(f)
            _run(link.send(buf, len(buf)))
        return link.bytes_out

    n, out = _with_input(b"", go)
    assert len(out) == n and out == _wire(frames, 64)
    rx = LinkRx(64)
    got = []
    i = 0
    while i >= 0:
        i = rx.feed(out, i)
        if i >= 0:
            got.append(bytes(rx.frame))
    assert got == frames


def test_serve_keeps_event_lines_and_gives_the_console_back():
    seen = []

    async def nodes(link):
        apps.log("up", role="first")
        seen.append(apps.sink)
        for i in range(console.KEEP + 3):
            apps.log("tick", n=i)
        await link.recv()

    def go(stdin, stdout):
        link = ConsoleLink(64, stdin, stdout)
        console.serve(nodes(link))

    _with_input(ESCAPE, go)
    kept = seen[0]
    assert kept is not None and callable(kept)
    assert len(kept.lines) == console.KEEP  # the oldest dropped
    assert kept.lines[-1].startswith("EPHKEY ") and '"n": 10' in kept.lines[-1], kept.lines
    assert '"n": 3' in kept.lines[0], kept.lines[0]  # "up" and ticks 0..2 dropped
    assert apps.sink is None  # event lines go to the console again
