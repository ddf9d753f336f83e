"""Frames over a byte stream (UART, USB serial, TCP socket): docs/link.md.

A thin adapter: bytes from the stream go through LinkRx, frames to send go
through LinkTx. ``raw`` is any MicroPython stream with ``readinto`` and
``write(buf, off, n)`` that asyncio can poll (machine.UART, a socket).
"""

import asyncio
from asyncio import sleep_ms  # type: ignore[attr-defined]

from .link import LinkRx, LinkTx


class StreamLink:
    def __init__(self, raw, max_frame, read_size=128):
        self.raw = raw
        self.reader = asyncio.StreamReader(raw)
        self.rx = LinkRx(max_frame)
        self.tx = LinkTx(max_frame)
        self._buf = bytearray(read_size)
        self._n = 0
        self._i = 0
        self.bytes_in = 0
        self.bytes_out = 0

    async def recv(self):
        """Wait for the next good frame; it is in ``self.rx.frame``."""
        while True:
            if self._i < self._n:
                i = self.rx.feed(self._buf, self._i, self._n)
                if i >= 0:
                    self._i = i
                    return self.rx.frame
                self._i = self._n
            n = await self.reader.readinto(self._buf)  # type: ignore[attr-defined]
            if n is None:  # a UART read that timed out: nothing yet
                continue
            if n == 0:
                raise OSError("link closed")
            self.bytes_in += n
            self._n = n
            self._i = 0

    async def send(self, frame, n):
        k = self.tx.encode(frame, n)
        out = self.tx.out
        off = 0
        while off < k:
            w = self.raw.write(out, off, k - off)
            if w:
                off += w
            else:  # the stream's buffer is full: let the line drain
                await sleep_ms(1)
        self.bytes_out += k

    def close(self):
        self.raw.close()
