"""One station on one link, run by asyncio: the only place with a clock.

The station stays sans-IO; the node feeds it frames from the link and
``ticks_ms()``, polls its timers, writes what it queued and hands its
events to the application (``app.on_event(node, code)``). After each poll, a
first station's ``prepare`` makes the next interval's suite-2 key pair
(docs/protocol.md 3.9) so that no request waits for it.

``beat`` is the tick of the timers' last round: the watchdog's feeder
(watchdog.py) feeds ``machine.WDT`` only while every running node's timers
go round. A link that can reconnect (BLE) runs ``run`` once per connection
and calls ``link_lost`` when a connection drops.
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
        self.beat = ticks_ms()
        self.running = False

    async def run(self):
        """Receive until the link fails; timers run alongside."""
        self.beat = ticks_ms()
        self.running = True
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
            self.running = False
            self._task.cancel()

    async def _timers(self):
        # a first station makes the next interval's suite-2 key pair when idle
        prepare = getattr(self.st, "prepare", None)
        while True:
            await sleep_ms(self.poll_ms)
            self.beat = ticks_ms()
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

    def link_lost(self):
        """The connection under the link dropped: end every session (its keys
        are erased), drop the frames queued for it, tell the application."""
        st = self.st
        now = ticks_ms()
        ended = []
        table = getattr(st, "table", None)
        if table is not None:  # first station: every session it holds
            for slot in range(table.n):
                if table.state[slot]:
                    ended.append(table.sid[slot])
                    st.close(table.sid[slot], now)
        elif st.state:  # second station: its one session or handshake
            ended.append(st.sid)
            st.close(now)
        while st.next_output():
            pass
        on_lost = getattr(self.app, "on_link_lost", None)
        if on_lost is not None:
            on_lost(self, ended)
