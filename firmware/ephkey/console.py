"""The link on the console: ``"transport": "usb"``.

A board's console stream (``sys.stdin.buffer`` / ``sys.stdout.buffer``)
carries the protocol's link (docs/link.md): the USB CDC port of a Pico, so the
host is its peer over the USB cable with no USB-serial adapter, or the one
UART of the emulated board (tools/emuboard.py). ``kbd_intr(-1)``
makes 0x03 data, not Ctrl-C.

While the link runs the console has no REPL and no event lines:

* event lines (``apps.log``) are kept, the last ``KEEP`` of them, and printed
  when the console is given back; on the emulated board they also go out
  live on its debug output (``emu.debug``, QEMU's standard output);
* the console is given back, and with it the REPL, when ``ESCAPE`` arrives:
  bytes that no link transmitter sends (below). The link stops, the kept
  event lines are printed, ``main.py`` returns and the REPL prompt follows;
  ``python tools/repl_escape.py PORT`` sends it, then mpremote works.

ESCAPE is ``00 FF "EPHKEY-REPL" 00``: a segment whose COBS code byte is 0xFF
must carry 254 data bytes before the next 0x00 (docs/link.md 2.2); this one
ends after 11, so a transmitter that follows docs/link.md never produces it,
whatever it sends. A receiver that saw it would drop it as a COBS error.
"""

import sys

from micropython import kbd_intr  # type: ignore[attr-defined]

from . import apps
from .stream_link import StreamLink

ESCAPE = b"\x00\xffEPHKEY-REPL\x00"
KEEP = 8  # event lines kept while the console carries the link


class Escape(Exception):
    """The host asked for the console back."""


class _Reader:
    """Non-blocking reads from the console for StreamLink, watching for ESCAPE.

    A console's ``readinto(buf)`` blocks until ``len(buf)`` bytes came, so the
    first byte is awaited through asyncio (one byte), and the rest is taken
    one byte at a time while the console has one ready (``ipoll``, which
    allocates nothing).
    """

    def __init__(self, stream):
        import asyncio
        import select

        self._s = stream
        self._wait = asyncio.StreamReader(stream)
        self._poll = select.poll()
        self._poll.register(stream, select.POLLIN)
        self._one = bytearray(1)
        self._esc = 0  # bytes of ESCAPE matched so far
        self.escaped = False

    def _ready(self):
        for _ in self._poll.ipoll(0):  # type: ignore[attr-defined]
            return True
        return False

    def _watch(self, b):
        """Match ESCAPE one byte at a time; True when b completed it."""
        e = self._esc
        if b == ESCAPE[e]:
            e += 1
            if e == len(ESCAPE):
                e = 0
                self.escaped = True
        elif b == 0:
            e = 1  # a 0x00 that is not the end of ESCAPE may be its start
        else:
            e = 0
        self._esc = e
        return self.escaped

    async def readinto(self, buf):
        """Up to len(buf) bytes, at least one; the bytes up to an ESCAPE are
        returned first (frames before it are delivered), then Escape is raised."""
        if self.escaped:
            raise Escape()
        one = self._one
        if not await self._wait.readinto(one):  # type: ignore[attr-defined]
            return 0  # end of stream (a test's file; a console never ends)
        buf[0] = one[0]
        n = 1
        if self._watch(one[0]):
            return n
        while n < len(buf) and self._ready():
            if not self._s.readinto(one):
                break
            buf[n] = one[0]
            n += 1
            if self._watch(one[0]):
                break
        return n


class ConsoleLink(StreamLink):
    """StreamLink over the console; ``recv`` raises Escape when asked to stop."""

    def __init__(self, max_frame, stdin=None, stdout=None, read_size=128):
        super().__init__(stdout or sys.stdout.buffer, max_frame, read_size)
        self.reader = _Reader(stdin or sys.stdin.buffer)  # type: ignore[assignment]

    def close(self):
        pass  # the console stays open: it becomes the REPL's again


def usb_link(board=None, max_frame=None):
    """``ephkey.usb_link``: the console (USB CDC on a Pico, the emulated
    board's UART) as the link. Run the application with ``serve(coro)`` below,
    which hands the console to the link and back."""
    if max_frame is None:
        max_frame = board.max_frame() if board is not None else 276
    return ConsoleLink(max_frame)


class _Kept:
    """The last KEEP event lines, and the emulated board's live debug output."""

    def __init__(self):
        self.lines = []
        try:
            from emu import debug
        except ImportError:
            debug = None
        self._debug = debug

    def __call__(self, line):
        if len(self.lines) >= KEEP:
            self.lines.pop(0)
        self.lines.append(line)
        if self._debug is not None:
            self._debug(line + "\n")


def serve(coro):
    """Run ``coro`` (the nodes) with the console carrying the link, until the
    host sends ESCAPE; then give the console back and print the kept events."""
    import asyncio

    kept = _Kept()
    apps.sink = kept  # type: ignore[assignment]
    kbd_intr(-1)
    reason = "console escape"
    try:
        asyncio.run(coro)
        reason = "done"
    except Escape:
        pass
    finally:
        kbd_intr(3)
        apps.sink = None
    print()
    for line in kept.lines:
        print(line)
    apps.log("stopped", reason=reason)
