"""Both stations of a suite-2 (or suite-3) session in one MicroPython process,
under the event loop's scrub (docs/protocol.md 9.3), stopping at checkpoints
so that tests/host/test_memscan.py can read this process's memory.

Run: ``micropython tests/firmware/memscan_driver.py [scrub|noscrub] [2|3]``
with MICROPYPATH=firmware:tests/firmware. Suite 3 (15.10): F's record holds
the user's secret, S's none; S gets it at ``connect``. The stations run in real ``Node``s
(firmware/ephkey/node.py) joined by an in-memory link, on a virtual clock,
with the deterministic RNG of section 12 (seeds below). At each checkpoint
the driver prints one line ``CHECKPOINT {json}``: its name, every frame that
crossed the link (public) and the size of every RNG call (no value), then
blocks reading a line from stdin while the test scans; it holds no secret
of its own. Checkpoints: ``key3`` (rotations to key 3 done at both
stations, 9.2) and ``closed`` (both sides closed, the interval's key pair
removed from the ring).
"""

import asyncio
import json
import sys
from binascii import hexlify

import ephkey.node as node_mod
from drbg import Drbg
from ephkey.config import FirstConfig, Pairing, SecondConfig
from ephkey.first import FirstStation
from ephkey.node import Node
from ephkey.second import SecondStation

SEED_F = b"memscan F"
SEED_S = b"memscan S"
ID_F = b"MEMSCANF"
ID_S = b"MEMSCANS"
PS = bytes(range(100, 132))  # 32 bytes: PRK3's message DH || PS takes two SHA-256 blocks
SECRET = b"memscan user secret 0427"  # suite 3: the user's secret
L = 10000  # lifetime_ms and interval_ms
M = 2
ROTATE_MS = 6000  # rotations at 6, 12, 18 s; interval 0's key pair removed at 20 s
IDRKS = 5


class Clock:
    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


class Draws:
    """The RNG of section 12, logging only the size of each call."""

    def __init__(self, seed, log):
        self.rng = Drbg(seed)
        self.log = log

    def __call__(self, n):
        self.log.append(n)
        return self.rng(n)


class MemLink:
    """One end of an in-memory link; every frame is recorded (in hex)."""

    def __init__(self, name, rec):
        self.name = name
        self.rec = rec
        self.q = []
        self.ev = asyncio.Event()
        self.peer = None

    async def recv(self):
        while not self.q:
            self.ev.clear()
            await self.ev.wait()
        return self.q.pop(0)

    async def send(self, frame, n):
        b = bytes(frame[:n])
        self.rec.append([self.name, hexlify(b).decode()])
        self.peer.q.append(b)
        self.peer.ev.set()


class App:
    """Records the events; the driver decides what is sent."""

    def __init__(self):
        self.events = []

    async def on_event(self, node, code):
        self.events.append((code, node.st.ev_sid, node.st.ev_arg))


async def settle(clock, *nodes):
    """Let the nodes run (real time) until nothing moves and nothing is due."""
    for _ in range(400):
        await asyncio.sleep_ms(2)
        quiet = True
        for n in nodes:
            if n.st.busy() or len(n.st.outq) or n.link.q or n.st.scrub_due:
                quiet = False
        if quiet:
            await asyncio.sleep_ms(10)  # a timer round more: its prepare and scrub
            return
    raise RuntimeError("the stations never settled")


def checkpoint(name, rec, draws_f, draws_s, fn, sn):
    # the seeds and PS are the demonstrator's (the test derives every value
    # from them and the frames); printing them leaves no derived secret behind
    print("CHECKPOINT " + json.dumps({
        "name": name, "frames": rec, "draws_f": draws_f, "draws_s": draws_s,
        "scrubs": [fn.scrubs, sn.scrubs], "seed_f": hexlify(SEED_F).decode(),
        "seed_s": hexlify(SEED_S).decode(), "ps": hexlify(PS).decode(),
        "secret": hexlify(SECRET).decode(), "id_f": hexlify(ID_F).decode(),
        "id_s": hexlify(ID_S).decode(), "idrks": IDRKS}))
    sys.stdout.flush() if hasattr(sys.stdout, "flush") else None
    sys.stdin.readline()  # the loop stands still while the test reads our memory


async def main(scrub_on, suite):
    if not scrub_on:
        node_mod.scrub = lambda: 0  # the control run: the same session, no scrub
    clock = Clock()
    rec = []
    draws_f = []
    draws_s = []
    cfg_f = FirstConfig(interval_ms=L, lifetime_ms=L, m=M, ring_slots=3, sessions=2, idrks=IDRKS,
                        rotate_frames=1000, rotate_ms=ROTATE_MS, max_payload=32,
                        suites=(suite,))
    if suite == 3:
        rec_f = Pairing(ID_F, ID_S, user=SECRET)
        rec_s = Pairing(ID_F, ID_S, user=True)
    else:
        rec_f = rec_s = Pairing(ID_F, ID_S, PS)
    f = FirstStation(cfg_f, [rec_f], Draws(SEED_F, draws_f), 0)
    s = SecondStation(SecondConfig(offer=(suite,), max_payload=32), rec_s,
                      Draws(SEED_S, draws_s), 0)
    lf = MemLink("F", rec)
    ls = MemLink("S", rec)
    lf.peer = ls
    ls.peer = lf
    fn = Node(f, lf, App(), poll_ms=5, clock=clock)
    sn = Node(s, ls, App(), poll_ms=5, clock=clock)
    tasks = [asyncio.create_task(fn.run()), asyncio.create_task(sn.run())]
    await settle(clock, fn, sn)  # F's timers: prepare makes interval 0's key pair
    if suite == 3:
        s.connect(clock(), bytearray(SECRET))  # the user types it
    else:
        s.connect(clock())
    await settle(clock, fn, sn)
    if s.state != 3:  # the REQ met a pending key pair (NOT_READY): S's retry
        clock.t = 1000
        await settle(clock, fn, sn)
    assert s.state == 3, s.state
    sid = s.sid
    for j in range(4):  # traffic under key j both ways, then F rotates to j+1
        clock.t += 1
        s.send(b"s%d" % j, 2, clock())
        await settle(clock, fn, sn)
        f.send(sid, b"f%d" % j, 2, clock())
        await settle(clock, fn, sn)
        if j < 3:
            clock.t = ROTATE_MS * (j + 1)  # the key is rotate_ms old: REKEY(j+1)
            await settle(clock, fn, sn)
    assert s.send_idx == 3 and s.recv_idx == 3, (s.send_idx, s.recv_idx)
    checkpoint("key3", rec, draws_f, draws_s, fn, sn)
    clock.t = M * L + 1  # interval 0's key pair leaves the ring
    await settle(clock, fn, sn)
    s.close(clock())  # S closes: CLOSE(0); F reports CLOSED
    await settle(clock, fn, sn)
    assert f.table.count_state(0) == f.table.n and s.state == 0
    checkpoint("closed", rec, draws_f, draws_s, fn, sn)
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main(len(sys.argv) < 2 or sys.argv[1] != "noscrub",
                     int(sys.argv[2]) if len(sys.argv) > 2 else 2))
    print("DONE")
