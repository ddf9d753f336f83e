"""Two in-memory links joined back to back, as a wire between two nodes:
whole frames, in order, none lost unless a test says so (``drop``)."""

import asyncio


class MemLink:
    def __init__(self, rx, tx):
        self.rx = rx  # frames for us (a list the peer's link appends to)
        self.tx = tx
        self.sent = []
        self.drop = None  # frame -> True to lose it on the way
        self.closed = False
        self.delay_ms = 0  # time each frame takes on the wire (a slow line)

    async def recv(self):
        while not self.rx:
            if self.closed:
                raise OSError("link closed")
            await asyncio.sleep_ms(1)
        return self.rx.pop(0)

    async def send(self, frame, n):
        if self.delay_ms:
            await asyncio.sleep_ms(self.delay_ms)
        f = bytes(frame[:n])
        self.sent.append(f)
        if self.drop is None or not self.drop(f):
            self.tx.append(f)

    def close(self):
        self.closed = True


def pair_of_links():
    """(link of the first station, link of the second station)."""
    a: list = []
    b: list = []
    return MemLink(a, b), MemLink(b, a)
