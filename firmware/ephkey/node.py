"""One station on one link, run by asyncio: the only place with a clock.

The station stays sans-IO; the node feeds it frames from the link and
``ticks_ms()``, polls its timers, writes what it queued and hands its
events to the application (``app.on_event(node, code)``).

After each receive or poll and the flush that follows (docs/protocol.md
4.7), a first station's ``prepare`` creates the next suite-2 key pair's job
when one is due; then, while the station is ``busy()``, ``work`` runs one
slice of an X25519 (or a job's completion) at a time, each followed by a
flush and a yield to the scheduler, so UART bytes and BLE events keep being
served between slices. When a call erased a session secret the station sets
``scrub_due``: the node scrubs the free heap (scrub.py, spec 9.3) after that
call's flush, from the top of its loops, before the next frame.

The application (ephkey.session) queues DATA frames between the node's
calls and ``kick``s the node, whose job task flushes them; ``drained`` is
set after each flush emptied the output queue, for senders waiting for room.

``beat`` is the tick of the timers' last round: the watchdog's feeder
(watchdog.py) feeds ``machine.WDT`` only while the timers of every node in
``RUNNING`` (the nodes whose ``run`` is under way, once ``watch()`` was
called) go round. A link that can
reconnect (BLE) runs ``run`` once per connection and calls ``link_lost`` when
a connection drops.
"""

import asyncio
from asyncio import sleep_ms  # type: ignore[attr-defined]
from time import ticks_ms  # type: ignore[attr-defined]

from . import events
from .scrub import scrub

# The nodes whose run() is under way, whoever made them, for the watchdog's
# feeder: kept once watch() was called (a board's runtime), not elsewhere,
# where a node left running by a finished event loop would stay referenced.
RUNNING: "list | None" = None


def watch():
    """The list of running nodes, kept from now on."""
    global RUNNING
    if RUNNING is None:
        RUNNING = []
    return RUNNING



class Node:
    def __init__(self, station, link, app, poll_ms=20, clock=ticks_ms):
        self.st = station
        self.clock = clock  # the stations' now_ms (tests give a virtual one)
        self.link = link
        self.app = app
        self.poll_ms = poll_ms
        self.frames_in = 0
        self.frames_out = 0
        self._task = None
        self.beat = ticks_ms()
        self.running = False
        self._prepare = getattr(station, "prepare", None)  # first stations only
        self._busy = getattr(station, "busy", None)
        self._wake = asyncio.Event()
        # set after each flush has emptied the output queue: senders waiting
        # for room (ephkey.session's back-pressure) try again
        self.drained = asyncio.Event()
        # three tasks flush (receiving, timers, jobs): one frame on the link at a time
        self._tx = asyncio.Lock()
        self._worker = None
        self.scrubs = 0

    async def run(self):
        """Receive until the link fails; timers run alongside."""
        self.beat = ticks_ms()
        self.running = True
        watched = RUNNING
        if watched is not None:
            watched.append(self)
        self._task = asyncio.create_task(self._timers())
        self._worker = asyncio.create_task(self._work())
        try:
            if hasattr(self.app, "start"):
                await self.app.start(self)
            while True:
                frame = await self.link.recv()
                self.frames_in += 1
                self.st.receive(frame, len(frame), self.clock())
                await self.flush()
                self._scrub()
                self._wake.set()
        finally:
            self.running = False
            if watched is not None:
                watched.remove(self)
            self._task.cancel()
            self._worker.cancel()

    async def _timers(self):
        while True:
            await sleep_ms(self.poll_ms)
            self.beat = ticks_ms()
            self.st.poll(self.clock())
            await self.flush()
            self._scrub()
            self._wake.set()

    async def _work(self):
        """After each receive or poll: prepare (first station), then the jobs
        one unit at a time, a flush and a yield after each (4.7). A task of
        its own, so that receiving and the timers never wait for a job."""
        st = self.st
        busy = self._busy
        while True:
            await self._wake.wait()
            self._wake.clear()
            if len(st.outq):  # frames the application queued (kick)
                await self.flush()
            if self._prepare is not None:
                self._prepare(self.clock())
            while busy is not None and busy():
                st.work(self.clock())  # one X25519 slice, or a job's completion
                await self.flush()
                self._scrub()
                await sleep_ms(0)

    def kick(self):
        """The application queued frames outside the node's calls: flush them
        soon (from the job task). Allocates nothing."""
        self._wake.set()

    def _scrub(self):
        if getattr(self.st, "scrub_due", False):
            self.st.scrub_due = False
            scrub()
            self.scrubs += 1

    async def flush(self):
        """Send what the station queued, then deliver its events."""
        st = self.st
        async with self._tx:
            n = st.next_output()
            while n:
                await self.link.send(st.out, n)
                self.frames_out += 1
                n = st.next_output()
            self.drained.set()
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
        now = self.clock()
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
