"""ephkey.watchdog under MicroPython, against a stand-in machine.WDT.

The stand-in records when it was fed; ``worst_gap`` is the longest time it
went unfed, which on a board longer than the timeout means a reset. The
unix port has no machine.WDT, so the runtime's loop is driven here as on a
board: nodes with their timers, the feeder, and a loop that blocks or a node
whose timers die.
"""

import asyncio
import os
import sys
import time

from ephkey import watchdog
from ephkey.board import Board, BoardError
from ephkey.node import Node


class FakeWDT:
    def __init__(self, timeout=5000, id=0):  # noqa: A002 - machine.WDT's keyword
        self.timeout = timeout
        self.fed = [time.ticks_ms()]

    def feed(self):
        self.fed.append(time.ticks_ms())

    def worst_gap(self):
        ticks = self.fed + [time.ticks_ms()]
        return max(time.ticks_diff(b, a) for a, b in zip(ticks, ticks[1:]))


class FakeTimer:
    PERIODIC = 1
    made = []

    def __init__(self, tid):
        if tid not in self.allowed:
            raise ValueError("Timer(%d) doesn't exist" % tid)
        self.tid = tid
        self.kw = None
        FakeTimer.made.append(self)

    def init(self, **kw):
        self.kw = kw


class FakeMachine:
    """machine with WDT and Timer; ``timer_ids`` as the port allows them."""

    def __init__(self, timer_ids=(-1,)):
        self.wdts = []
        self.Timer = type("Timer", (FakeTimer,), {"allowed": timer_ids})

    def WDT(self, timeout=5000, id=0):  # noqa: N802,A002
        w = FakeWDT(timeout)
        self.wdts.append(w)
        return w


class IdleStation:
    def __init__(self, poll_raises_after=-1):
        self.outq = ()
        self.polls = 0
        self.after = poll_raises_after

    def poll(self, now):
        self.polls += 1
        if self.polls == self.after:
            raise RuntimeError("a bug in the station's timers")

    def next_output(self):
        return 0

    def next_event(self):
        return 0


class QuietLink:
    async def recv(self):
        while True:
            await asyncio.sleep_ms(1000)


class NoApp:
    async def on_event(self, node, code):
        pass


def drive(timeout_ms, ms, station=None, blocker_ms=0, running=True):
    """Feeder + one node for ``ms``; returns the stand-in WDT."""
    m = FakeMachine()
    wdt = watchdog.Watchdog(timeout_ms, m)
    node = Node(station or IdleStation(), QuietLink(), NoApp(), poll_ms=20)

    async def main():
        tasks = [asyncio.create_task(watchdog.feed_loop(wdt, [node]))]
        if running:
            tasks.append(asyncio.create_task(node.run()))
        await asyncio.sleep_ms(ms // 2)
        if blocker_ms:
            time.sleep_ms(blocker_ms)  # the whole loop stops, as in a long native call
        await asyncio.sleep_ms(ms // 2)
        for t in tasks:
            t.cancel()
        await asyncio.sleep_ms(0)

    asyncio.run(main())
    return m.wdts[0]


def test_a_running_loop_keeps_it_fed():
    w = drive(200, 1000)
    assert w.timeout == 200
    assert w.worst_gap() < 200, w.worst_gap()
    assert len(w.fed) >= 1000 // 50 - 2


def test_a_blocked_loop_lets_it_bite():
    w = drive(200, 600, blocker_ms=400)
    assert w.worst_gap() >= 400, w.worst_gap()


def test_dead_node_timers_stop_the_feeding():
    # poll raises: the timers task dies while the node still receives
    w = drive(200, 1200, station=IdleStation(poll_raises_after=5))
    assert w.worst_gap() > 400, w.worst_gap()


def test_no_running_node_still_feeds():
    # between two BLE connections no node runs: the loop itself is what is watched
    w = drive(200, 800, running=False)
    assert w.worst_gap() < 200, w.worst_gap()


def test_hold_feeds_from_a_timer():
    for ids, expect in (((-1,), -1), ((0, 1, 2, 3), 0)):  # rp2/stm32, then esp32
        FakeTimer.made[:] = []
        m = FakeMachine(timer_ids=ids)
        wdt = watchdog.Watchdog(8000, m)
        wdt.hold()
        wdt.hold()  # once
        assert len(FakeTimer.made) == 1 and FakeTimer.made[0].tid == expect
        kw = FakeTimer.made[0].kw
        assert kw["period"] == 2000 and kw["mode"] == FakeTimer.PERIODIC
        n = len(m.wdts[0].fed)
        kw["callback"](None)
        assert len(m.wdts[0].fed) == n + 1


def board(port, wdt_ms, **kw):
    d = {"name": "t", "port": port, "roles": ["first"], "transport": "ble", "wdt_ms": wdt_ms}
    if port == "unix":
        d["transport"] = "tcp"
        d["tcp"] = {"port": 1}
    d.update(kw)
    return d


def refused(d):
    try:
        Board(d)
    except BoardError as e:
        return str(e)
    return None


def test_board_file_timeouts_per_port():
    assert refused(board("rp2", 8388)) is None
    assert "8388" in refused(board("rp2", 8389))
    assert refused(board("stm32", 32767)) is None
    assert refused(board("stm32", 32768))
    assert refused(board("esp32", 600000)) is None
    assert refused(board("esp32", 1073741824))
    assert "no machine.WDT" in refused(board("unix", 1000))
    assert refused(board("unix", 0)) is None
    for bad in (-1, 50, "8000", 1.5):
        assert refused(board("rp2", bad)), bad
    assert Board(board("rp2", 0)).wdt_ms == 0
    assert watchdog.start(Board(board("rp2", 0))) is None


def test_shipped_boards_have_a_timeout():
    import json
    want = {"rpi_pico_w": 8000, "rpi_pico2_w": 8000, "esp32": 10000, "pybd_sf6": 10000,
            "unix": 0}
    for name, ms in want.items():
        with open("boards/%s/board.json" % name) as f:
            b = Board(json.load(f))
        assert b.wdt_ms == ms, name
        assert ms == 0 or ms <= watchdog.MAX_MS[b.port]


def with_board_rng(runtime, fn):
    """fn() with the rp2 board file's hardware RNG there: the emulated board has
    none, which runtime rightly refuses to an rp2 board file, so its emulator
    source stands in for the Pico's."""
    if hasattr(os, "urandom"):
        return fn()
    from emu import urandom
    saved = runtime.raw_rng
    runtime.raw_rng = lambda b: urandom
    try:
        return fn()
    finally:
        runtime.raw_rng = saved


def test_runtime_starts_it_and_holds_it_on_ctrl_c():
    from ephkey import board as board_mod, pairing_store, runtime
    m = FakeMachine()
    sys.modules["machine"] = m
    bpath = "/tmp/ephkey_test_wdt_board.json"
    ppath = "/tmp/ephkey_test_wdt_pairing.json"
    import json
    with open(bpath, "w") as f:
        json.dump(board("rp2", 4000, transport="ble", mcu="RP2040"), f)
    pairing_store.save(b"FIRST-01", [(b"SECOND00", bytes(range(16)))], ppath)
    saved = runtime.run
    seen = []

    async def interrupted(b, parts, program, wdt=None):
        seen.append(wdt)
        raise KeyboardInterrupt

    async def program(board, role, link, station):
        raise AssertionError("the program ran")

    runtime.run = interrupted
    FakeTimer.made[:] = []
    try:
        with_board_rng(runtime, lambda: runtime.run_board(program, bpath, ppath))
        raise AssertionError("KeyboardInterrupt swallowed")
    except KeyboardInterrupt:
        pass
    finally:
        runtime.run = saved
        del sys.modules["machine"]
    assert len(m.wdts) == 1 and m.wdts[0].timeout == 4000
    assert seen[0].timeout_ms == 4000
    assert len(FakeTimer.made) == 1 and FakeTimer.made[0].kw["period"] == 1000
    # a board that stops on its configuration never starts the watchdog
    m2 = FakeMachine()
    sys.modules["machine"] = m2
    try:
        assert with_board_rng(runtime, lambda: runtime.run_board(
            program, bpath, "/tmp/no-such-pairing.json")) is False
    finally:
        del sys.modules["machine"]
    assert m2.wdts == []
    assert board_mod.load(bpath).wdt_ms == 4000


def test_a_running_node_is_in_running_and_leaves_it():
    """The feeder watches node.watch()'s list: nodes that a program made
    (serve, Client) are there while their run() is under way, and only then;
    before watch() no node is kept (an event loop that ends with a node still
    running would otherwise leave it referenced)."""
    from ephkey import node as node_mod

    def one_run():
        node = Node(IdleStation(), QuietLink(), NoApp(), poll_ms=20)
        seen = []

        async def main():
            task = asyncio.create_task(node.run())
            await asyncio.sleep_ms(50)
            seen.append(node_mod.RUNNING is not None and node in node_mod.RUNNING)
            task.cancel()
            await asyncio.sleep_ms(0)

        asyncio.run(main())
        return node, seen

    saved = node_mod.RUNNING
    node_mod.RUNNING = None
    try:
        node, seen = one_run()
        assert seen == [False] and node_mod.RUNNING is None
        watched = node_mod.watch()
        assert node_mod.watch() is watched
        node, seen = one_run()
        assert seen == [True] and node not in watched
    finally:
        node_mod.RUNNING = saved
