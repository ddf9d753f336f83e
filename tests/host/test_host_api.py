"""The host's application API (ephkey_host.api, .links) against the host's own other station.

Both roles of the API talk to each other over a memory link, over TCP and
over pyserial's socket:// URL; the exception carries the spec's code for an
unknown identity, a normal close, a REPLACED close, a handshake that times
out and a lost link; ``send`` waits on a full link and drops nothing; keys
rotate and sessions end with KEYS_EXHAUSTED and start again without the
application seeing it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hostkit import PAIRING

import ephkey_host as eh
from ephkey_host import Code, FirstConfig, Pairing, SecondConfig, Session, SessionError
from ephkey_host.ble_chunks import WINDOW
from ephkey_host.devices import parse_event
from ephkey_host.links import BleLink, MemoryLink, StreamLink

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
STRANGER = Pairing(PAIRING.id_f, bytes.fromhex("0badbadbadbadbad"), bytes(32))


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


async def echo(session: Session) -> None:
    async for payload in session:
        await session.send(payload)


def start_server(link: eh.Link, handler: Callable[[Session], Awaitable[None]] = echo,
                 config: FirstConfig | None = None, **kw: Any) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(
        eh.serve(link, [PAIRING], handler, config, **kw))


async def lockstep(s: Session, n: int, size: int = 24) -> None:
    for i in range(n):
        payload = i.to_bytes(4, "big") + bytes([i % 251]) * (size - 4)
        await s.send(payload)
        try:
            got = await s.recv(timeout=5)
        except TimeoutError:
            raise AssertionError("no echo of payload %d: %r" % (i, s.stats())) from None
        assert type(got) is bytes and got == payload, (i, got)


# -- both roles, three links -------------------------------------------------------

def test_echo_over_a_memory_link() -> None:
    async def main() -> dict[str, int]:
        a, b = eh.memory_pair()
        server = start_server(b, sessions=1)
        async with eh.connect(a, PAIRING) as s:
            assert s.peer == PAIRING.id_f and s.sid != 0
            await lockstep(s, 20)
            stats = s.stats()
        await server  # returns after its one handler ended: the client's CLOSE arrived
        return stats

    stats = run(main())
    assert stats["dropped"] == 0 and stats["rejected"] == 0 and stats["rehandshakes"] == 0


def test_echo_over_tcp_and_over_a_pyserial_url() -> None:
    async def main() -> None:
        served: list[asyncio.Task[None]] = []

        async def accepted(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            served.append(start_server(StreamLink(r, w), sessions=1))

        server = await asyncio.start_server(accepted, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for opener in (lambda: eh.tcp_link("127.0.0.1", port),
                       lambda: eh.serial_link("socket://127.0.0.1:%d" % port)):
            link = await opener()
            async with eh.connect(link, PAIRING) as s:
                await lockstep(s, 10, size=200)
                assert s.error is None
            assert s.error is not None and s.error.code == Code.OK
            await asyncio.wait_for(served[-1], 5)
            assert link.counters()["frames_ok"] >= 10 + 2
            link.close()
        assert len(served) == 2
        server.close()

    run(main())


# -- how sessions end -------------------------------------------------------------

def test_unknown_identity_fails_at_once_with_the_code_and_a_hint() -> None:
    async def main() -> float:
        a, b = eh.memory_pair()
        server = start_server(b)
        t0 = time.monotonic()
        with pytest.raises(SessionError) as info:
            async with eh.connect(a, STRANGER):
                raise AssertionError("a session with an unknown identity opened")
        took = time.monotonic() - t0
        server.cancel()
        e = info.value
        assert e.code == Code.UNKNOWN_PEER and e.name == "UNKNOWN_PEER"
        assert "pair" in e.hint and "0badbadbadbadbad" in str(e)
        return took

    # the first ERROR(UNKNOWN_PEER) ends it, not retry_ms x max_tries (5 s)
    assert run(main()) < 1.0


def test_a_peer_close_ends_recv_with_code_ok_and_async_for_quietly() -> None:
    async def one_reply(session: Session) -> None:
        await session.send(b"only " + await session.recv())  # then return: CLOSE(OK)

    async def main() -> None:
        a, b = eh.memory_pair()
        server = start_server(b, one_reply, sessions=2)
        async with eh.connect(a, PAIRING) as s:
            await s.send(b"ping")
            assert await s.recv(timeout=5) == b"only ping"
            with pytest.raises(SessionError) as info:
                await s.recv(timeout=5)
            assert info.value.code == Code.OK and s.error is info.value
            with pytest.raises(SessionError):
                await s.send(b"after the end")
        async with eh.connect(a, PAIRING) as s:
            await s.send(b"pong")
            assert [p async for p in s] == [b"only pong"]  # the close ends the loop
        await server

    run(main())


def test_replaced_session_raises_its_code_in_recv_and_async_for() -> None:
    async def main() -> None:
        a, b = eh.memory_pair()
        a2, b2 = eh.memory_pair()
        # one first station, its two links merged: the same identity connects twice
        merged = _Merged(b, b2)
        server = start_server(merged)
        async with eh.connect(a, PAIRING) as first:
            await lockstep(first, 2)
            async with eh.connect(a2, PAIRING) as second:
                await lockstep(second, 2)
                with pytest.raises(SessionError) as info:
                    async for _p in first:
                        pass
                assert info.value.code == Code.REPLACED
        server.cancel()

    run(main())


def test_handshake_timeout_and_a_lost_link() -> None:
    async def main() -> None:
        a, _b = eh.memory_pair(capacity=64)  # nobody answers
        t0 = time.monotonic()
        with pytest.raises(SessionError) as info:
            async with eh.connect(a, PAIRING, SecondConfig(retry_ms=50, max_tries=3)):
                pass
        assert info.value.code == Code.TIMEOUT and 0.1 < time.monotonic() - t0 < 2

        a, b = eh.memory_pair()
        server = start_server(b)
        async with eh.connect(a, PAIRING) as s:
            await lockstep(s, 1)
            with pytest.raises(TimeoutError):
                await s.recv(timeout=0.05)
            b.close()
            with pytest.raises(SessionError) as info:
                await s.recv(timeout=5)
            assert info.value.code == eh.LINK_LOST and info.value.name == "LINK_LOST"
        with pytest.raises(eh.LinkError):
            await asyncio.wait_for(server, 5)

    run(main())


def test_payload_limit_and_handler_bugs(caplog: pytest.LogCaptureFixture) -> None:
    async def buggy(session: Session) -> None:
        if await session.recv() == b"crash":
            raise KeyError("a bug in the handler")
        await echo(session)

    async def main() -> None:
        a, b = eh.memory_pair()
        server = start_server(b, buggy, sessions=2)
        async with eh.connect(a, PAIRING) as s:
            with pytest.raises(ValueError, match="max_payload"):
                await s.send(bytes(257))
            await s.send(b"crash")
            with pytest.raises(SessionError) as info:  # the server closed the session
                await s.recv(timeout=5)
            assert info.value.code == Code.OK
        async with eh.connect(a, PAIRING) as s:  # and went on serving
            await s.send(b"fine")
            await lockstep(s, 3, size=256)
        await asyncio.wait_for(server, 5)

    with caplog.at_level("ERROR", logger="ephkey_host.api"):
        run(main())
    assert "failed; session closed" in caplog.text and "a bug in the handler" in caplog.text


# -- back-pressure ----------------------------------------------------------------

class _Gated(MemoryLink):
    """A memory link end whose reader can be held: the peer's sends fill it."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.gate = asyncio.Event()
        self.gate.set()

    async def recv(self) -> bytes:
        while not (self.gate.is_set() and (self.pending() or self.closed)):
            await asyncio.sleep(0.005)
        return await super().recv()


class _Merged(eh.Link):
    """Two memory ends read as one; frames go out on both (one F, two S)."""

    def __init__(self, *ends: MemoryLink) -> None:
        self.ends = ends
        self.q: asyncio.Queue[bytes] = asyncio.Queue()
        self.tasks = [asyncio.get_running_loop().create_task(self._pull(e)) for e in ends]

    async def _pull(self, end: MemoryLink) -> None:
        while True:
            await self.q.put(await end.recv())

    async def send(self, frame: bytes) -> None:
        for e in self.ends:
            await e.send(frame)

    async def recv(self) -> bytes:
        return await self.q.get()

    def close(self) -> None:
        for t in self.tasks:
            t.cancel()


def test_send_waits_on_a_full_link_and_drops_nothing() -> None:
    async def main() -> None:
        a, b = MemoryLink(2), _Gated(2)
        a.peer, b.peer = b, a
        got: list[bytes] = []

        async def collect(session: Session) -> None:
            async for p in session:
                got.append(p)

        server = start_server(b, collect, sessions=1)
        async with eh.connect(a, PAIRING) as s:
            await lockstep_one_way(s, got)  # the session is confirmed, F keeps up
            b.gate.clear()  # F stops reading
            payloads = [b"bp%03d" % i for i in range(30)]

            async def send_all() -> None:
                for p in payloads:
                    await s.send(p)

            sender = asyncio.get_running_loop().create_task(send_all())
            await asyncio.sleep(0.3)
            assert not sender.done()  # send waits: the link holds 2 frames, no more
            assert b.pending() == 2 and len(got) == 1
            b.gate.set()
            await asyncio.wait_for(sender, 5)
            while len(got) < 31:
                await asyncio.sleep(0.01)
            assert got[1:] == payloads
            assert s.stats()["dropped"] == 0 and s.waits >= 20 and s.lost == 0
        await server

    run(main())


async def lockstep_one_way(s: Session, got: list[bytes]) -> None:
    await s.send(b"first")
    while not got:
        await asyncio.sleep(0.01)


# -- rotation and re-handshakes the application does not see -----------------------

def test_rekey_and_keys_exhausted_are_invisible_over_many_frames() -> None:
    handlers: list[Session] = []

    async def echo_or_push(session: Session) -> None:
        handlers.append(session)
        async for payload in session:
            await session.send(payload)
            if payload == b"send me 100":
                for i in range(100):
                    await session.send(b"%d" % i)

    async def main() -> tuple[dict[str, int], dict[str, int]]:
        a, b = eh.memory_pair()
        # 8 frames per key, 4 keys: a session carries 32 frames, then KEYS_EXHAUSTED
        config = FirstConfig(rotate_frames=8, idrks=4)
        server = start_server(b, echo_or_push, config, sessions=1)
        async with eh.connect(a, PAIRING) as s:
            first_sid = s.sid
            await lockstep(s, 150)
            # and the other way: the first station sends 100 frames unasked
            await s.send(b"send me 100")
            got = [await s.recv(timeout=5) for _ in range(101)]
            assert got[0] == b"send me 100" and got[1:] == [b"%d" % i for i in range(100)]
            assert s.sid != first_sid
            client = s.stats()
        await server
        return client, handlers[0].stats()

    client, server = run(main())
    assert len(handlers) == 1  # one handler saw every session of the peer
    assert client["rotations"] >= 20 and client["rehandshakes"] >= 5
    assert server["rehandshakes"] == client["rehandshakes"]
    assert client["dropped"] == 0 and client["rejected"] == 0 and server["dropped"] == 0


def test_closing_during_a_re_handshake_ends_the_servers_session_at_once() -> None:
    """Keys used up by the last echo: the client is re-handshaking when it
    closes; it finishes that session and closes it, so the server's handler
    ends with OK at once, not after resume_s of waiting for the peer."""
    handlers: list[Session] = []

    async def remember(session: Session) -> None:
        handlers.append(session)
        await echo(session)

    async def main() -> float:
        a, b = eh.memory_pair()
        config = FirstConfig(rotate_frames=2, idrks=1)  # KEYS_EXHAUSTED after 2 frames
        server = start_server(b, remember, config, sessions=1, resume_s=20)
        async with eh.connect(a, PAIRING) as s:
            await lockstep(s, 1)  # DATA + echo: F's 2 frames under key 0 are used
            while not s.rehandshakes:
                await asyncio.sleep(0)  # one loop turn: far less than a handshake's round trips
            assert not s.open  # the block ends while the new handshake runs
        t0 = time.monotonic()
        await asyncio.wait_for(server, 5)
        return time.monotonic() - t0

    assert run(main()) < 1.0
    err = handlers[0].error
    assert err is not None and err.code == Code.OK and handlers[0].rehandshakes == 1


# -- the BLE link without an adapter -------------------------------------------------

class _Air:
    """bleak's client as BleLink uses it: writes reach the other end's
    notification callback one loop turn later, as radio events would."""

    def __init__(self) -> None:
        self.other: BleLink | None = None
        self.writes: list[bytes] = []
        self.deliver = True

    async def write_gatt_char(self, _uuid: str, chunk: bytes, response: bool = False) -> None:
        self.writes.append(bytes(chunk))
        if self.deliver and self.other is not None:
            asyncio.get_running_loop().call_soon(self.other.notified, None, bytearray(chunk))

    async def disconnect(self) -> None:
        pass


def ble_pair(mtu: int = 23) -> tuple[BleLink, BleLink, _Air, _Air]:
    air_a, air_b = _Air(), _Air()
    a, b = BleLink(air_a, mtu), BleLink(air_b, mtu)
    air_a.other, air_b.other = b, a
    return a, b, air_a, air_b


def test_ble_link_keeps_to_the_window_and_carries_sessions() -> None:
    async def main() -> None:
        a, b, air_a, _air_b = ble_pair()
        air_a.deliver = False  # the board takes nothing in: no acknowledgement comes
        sending = asyncio.get_running_loop().create_task(a.send(bytes(range(1, 200))))
        await asyncio.sleep(0.05)
        assert not sending.done() and len(air_a.writes) == WINDOW  # 12 chunks, 4 let out
        for c in air_a.writes:  # now the board reads them and acknowledges
            b.notified(None, bytearray(c))
        air_a.deliver = True
        await asyncio.wait_for(sending, 2)
        assert await b.recv() == bytes(range(1, 200))
        assert b.counters()["ble_gaps"] == 0

        # and a whole session over it: rotation, re-handshake, 2x256-byte payloads
        a, b, _air_a, _air_b = ble_pair(mtu=64)
        server = start_server(b, echo, FirstConfig(rotate_frames=4, idrks=2), sessions=1)
        async with eh.connect(a, PAIRING) as s:
            await lockstep(s, 12, size=256)
            assert s.rotations >= 3 and s.rehandshakes >= 1
        await server

    run(main())


# -- against the firmware: a virtual board as first station ---------------------------

async def exchange_with_resend(s: Session, n: int, size: int) -> list[int]:
    """Request/response as an application on a protocol without DATA
    acknowledgements does it: a request whose reply does not come in time is
    sent again, a stale reply skipped. Returns the requests resent."""
    resent = []
    for i in range(n):
        payload = i.to_bytes(4, "big") + bytes([i % 251]) * (size - 4)
        await s.send(payload)
        while True:
            try:
                got = await s.recv(timeout=1.0)
            except TimeoutError:
                resent.append(i)
                assert len(resent) <= n // 4, "too many requests lost: %r" % resent
                await s.send(payload)
                continue
            if got[:4] < payload[:4]:
                continue  # the reply to an earlier copy
            assert got == payload, (i, got)
            break
    return resent


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_connect_to_a_first_station_board(tmp_path: Path, micropython_bin: str) -> None:
    """The API as second station against the firmware's first station (the
    unix VM, its echo app): keys rotate every 8 frames and a session carries
    2 keys, so 40 echoes take several sessions, whose handshakes the caller
    does not see; an identity the board does not know fails at once.

    What the protocol cannot hide (docs/protocol.md 5.3): a request sent while
    the board's CLOSE(KEYS_EXHAUSTED) is on its way is rejected by the board
    (UNKNOWN_SESSION), or the board's answer to the request that used its last
    key is lost behind that CLOSE; either way the application resends it, and
    such a loss happens only at a session's end (at most one per session end;
    which of the two it was depends on timing, so the test does not count
    them apart)."""
    import deploy
    from ephkey_host.pairing import new_pair
    from linksim import LinkSim
    from vboard import VirtualBoard

    pair = new_pair()
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "ephkey_pairing.json").write_text(json.dumps(pair.station_doc("first")))
    doc = deploy.board_file(deploy.load_board("unix"), "first",
                            overrides={"first": {"rotate_frames": 8, "idrks": 2}})
    deploy.install_to_folder(flash, doc, log=lambda _line: None)

    async def main(port: int) -> tuple[dict[str, int], list[int], float]:
        link = await eh.serial_link("socket://127.0.0.1:%d" % port)
        try:
            async with eh.connect(link, pair.pairing()) as s:
                resent = await exchange_with_resend(s, 40, size=48)
                stats = s.stats()
            t0 = time.monotonic()
            with pytest.raises(SessionError) as info:
                async with eh.connect(link, Pairing(pair.id_f, b"stranger", pair.ps)):
                    pass
            assert info.value.code == Code.UNKNOWN_PEER and "pair" in info.value.hint
            return stats, resent, time.monotonic() - t0
        finally:
            link.close()

    with LinkSim(baud=115200) as sim:
        board = VirtualBoard(flash, uart_port=sim.port_a, name="api-first",
                             micropython=[micropython_bin]).start()
        try:
            deadline = time.monotonic() + 15
            while b'"up"' not in board.output_tail() and time.monotonic() < deadline:
                time.sleep(0.05)
            stats, resent, refused_in = asyncio.run(asyncio.wait_for(main(sim.port_b), 70))
        finally:
            board.stop()
        events = [e for e in (parse_event(ln) for ln in
                              board.output_tail().decode("utf-8", "replace").splitlines()) if e]
    assert stats["rotations"] >= 4 and stats["rehandshakes"] >= 4, stats
    assert stats["dropped"] == 0 and stats["rejected"] == 0, stats
    assert len(resent) <= stats["rehandshakes"], (resent, stats)  # at most one per session end
    rejected = [e["code"] for e in events if e.get("ev") == "rejected"]
    # NOT_READY: a REQ before the board's first key pair was ready (the host repeats it)
    assert set(rejected) <= {"UNKNOWN_SESSION", "UNKNOWN_PEER", "NOT_READY"}, rejected
    closes = [e.get("arg") for e in events if e.get("ev") == "closed"]
    assert closes.count(Code.KEYS_EXHAUSTED) == stats["rehandshakes"], closes
    assert refused_in < 2.0  # not retry_ms x max_tries (5 s), let alone 120 s
