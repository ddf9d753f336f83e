"""One station on one link, run by asyncio: the only place with a clock.

The station stays sans-IO; the node feeds it frames from the link and
``ticks_ms()``, polls its timers, writes what it queued and hands its
events to the application (``app.on_event(node, code)``).
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
        while True:
            await sleep_ms(self.poll_ms)
            self.st.poll(ticks_ms())
            await self.flush()

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
