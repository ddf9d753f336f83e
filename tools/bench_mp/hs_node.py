# ruff: noqa: F821 - run appended to common.py, which defines the helpers used here
# One station of the handshake-over-the-link bench (tools/bench.py, figure 2).
#
# The firmware's own runtime pieces: ephkey.tcp.open_tcp (the TCP "UART" of a
# virtual board), ephkey.stream_link.StreamLink (COBS + CRC-32 framing of
# docs/link.md) and ephkey.node.Node (the asyncio loop boards run), with a
# bench application instead of ephkey.apps. The other end of the TCP
# connection is a LinkSim side paced like a 115200-baud UART.
#
# P: role ("first" or "second"), port, suite, n (handshakes), warm, gap_ms.
# The second station times each handshake from connect() to its ESTABLISHED
# event (ticks_us), closes the session, waits gap_ms so the line goes quiet,
# and starts the next one.

import asyncio
from time import sleep_ms, ticks_ms  # type: ignore[attr-defined]

from ephkey.node import Node
from ephkey.stream_link import StreamLink
from ephkey.tcp import open_tcp


class FirstApp:
    def __init__(self):
        self.established = 0

    async def on_event(self, node, code):
        if code == events.ESTABLISHED:
            self.established += 1


class SecondApp:
    def __init__(self, n, warm, gap_ms):
        self.n = n
        self.warm = warm
        self.gap_ms = gap_ms
        self.ev = asyncio.Event()
        self.code = 0
        self.t_est = 0

    async def start(self, node):
        asyncio.create_task(self.loop(node))

    async def on_event(self, node, code):
        if code == events.ESTABLISHED or code == events.HANDSHAKE_FAILED:
            self.t_est = ticks_us()
            self.code = code
            self.ev.set()

    async def loop(self, node):
        st = node.st
        times = []
        for i in range(self.warm + self.n):
            await asyncio.sleep_ms(self.gap_ms)
            self.ev.clear()
            t0 = ticks_us()
            st.connect(ticks_ms())
            await node.flush()
            await self.ev.wait()
            if self.code != events.ESTABLISHED:
                emit("error", what="handshake %d failed" % i)
                break
            dt = ticks_diff(self.t_est, t0)
            if i >= self.warm:
                times.append(dt)
            emit("hs", i=i, us=dt, warm=i < self.warm)
            st.close(ticks_ms())
            await node.flush()
        await asyncio.sleep_ms(self.gap_ms)
        emit("done", us=times)
        node.link.close()


def main():
    role = P["role"]
    suite = P["suite"]
    now = ticks_ms()
    if role == "first":
        st = first(suite, 1, now=now, sessions=P.get("sessions", 8))
        app = FirstApp()
    else:
        st = second(suite, 0, now=now)
        app = SecondApp(P["n"], P["warm"], P["gap_ms"])
    raw = open_tcp("127.0.0.1", P["port"])
    try:
        raw.setsockopt(6, 1, 1)  # TCP_NODELAY: no Nagle delay on the hop to LinkSim
    except OSError:
        pass
    link = StreamLink(raw, 276)
    emit("ready", role=role)
    if role == "second":
        sleep_ms(P.get("start_delay_ms", 50))
    try:
        asyncio.run(Node(st, link, app).run())
    except OSError:
        pass  # the link closed: the run is over
    emit("exit", role=role)


main()
