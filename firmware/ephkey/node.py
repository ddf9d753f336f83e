"""One station on one link, run by asyncio: the only place with a clock.

The station stays sans-IO; the node feeds it frames from the link and
``ticks_ms()``, polls its timers, writes what it queued and hands its
events to the application (``app.on_event(node, code)``). After each poll, a
first station's ``prepare`` makes the next interval's suite-2 key pair
(docs/protocol.md 3.9) so that no request waits for it.
"""

import asyncio
from asyncio import sleep_ms  # type: ignore[attr-defined]
from time import ticks_ms  # type: ignore[attr-defined]

from . import events


class Node:
    def __init__(self, station, link, app, poll_ms=20):
        self.st = station
        self.link = link
        self.app = app
        self.poll_ms = poll_ms
        self.frames_in = 0
        self.frames_out = 0
        self._task = None

    async def run(self):
        """Receive until the link fails; timers run alongside."""
        self._task = asyncio.create_task(self._timers())
        try:
            if hasattr(self.app, "start"):
                await self.app.start(self)
            while True:
                frame = await self.link.recv()
                self.frames_in += 1
                self.st.receive(frame, len(frame), ticks_ms())
                await self.flush()
        finally:
            self._task.cancel()

    async def _timers(self):
        # a first station makes the next interval's suite-2 key pair when idle
        prepare = getattr(self.st, "prepare", None)
        while True:
            await sleep_ms(self.poll_ms)
            self.st.poll(ticks_ms())
            await self.flush()
            if prepare is not None:
                prepare(ticks_ms())  # one X25519 per interval, else a ring scan

    async def flush(self):
        """Send what the station queued, then deliver its events."""
        st = self.st
        n = st.next_output()
        while n:
            await self.link.send(st.out, n)
            self.frames_out += 1
            n = st.next_output()
        code = st.next_event()
        while code != events.NONE:
            await self.app.on_event(self, code)
            code = st.next_event()
        # the application may have queued frames while handling events
        if len(st.outq):
            await self.flush()
