"""The application API (ephkey.connect / serve / Session) under MicroPython.

A server and a client on two in-memory links (memlink.py), run by asyncio
with the real stations and nodes; deterministic RNGs (drbg.py). The
allocation tests drive the same Sessions and node applications by hand,
frame by frame, so that what runs under ``micropython.heap_lock()`` is the
API's own data path and nothing of asyncio's.
"""

import asyncio
import gc
import time

import micropython

import ephkey
from drbg import Drbg
from ephkey import errors, events
from ephkey.client import _ClientApp
from ephkey.config import FirstConfig, SecondConfig
from ephkey.first import FirstStation
from ephkey.node import Node
from ephkey.second import SecondStation
from ephkey.server import _ServerApp
from ephkey.session import OPEN, Session
from memlink import pair_of_links
from pair import deliver, outputs, pairing, work


def fcfg(**kw):
    kw.setdefault("sessions", 2)
    kw.setdefault("max_payload", 64)
    return FirstConfig(**kw)


def scfg(**kw):
    kw.setdefault("max_payload", 64)
    kw.setdefault("retry_ms", 300)
    return SecondConfig(**kw)


async def echo(s):
    buf = bytearray(64)
    while True:
        n = await s.recv_into(buf)
        await s.send(buf, n)


def scenario(body, handler=echo, f_kw=None, s_kw=None, pairings=None, client=0,
             setup=None):
    """Run ``body(session)`` on a client connected to a server running
    ``handler``; (body's result, client link, server link)."""
    lf, ls = pair_of_links()
    if setup:
        setup(lf, ls)

    async def main():
        server = asyncio.create_task(ephkey.serve(
            lf, pairings or [pairing(0)], handler, config=fcfg(**(f_kw or {})),
            rng=Drbg(b"F")))
        try:
            async with ephkey.connect(ls, pairing(client), config=scfg(**(s_kw or {})),
                                      rng=Drbg(b"S")) as s:
                return await body(s)
        finally:
            lf.close()
            server.cancel()

    return asyncio.run(main()), ls, lf


def msg(i, n=24):
    b = bytearray(n)
    for k in range(n):
        b[k] = (i * 7 + k) & 0xFF
    b[0] = i & 0xFF
    return b


def test_echo_in_order():
    async def body(s):
        got = []
        for i in range(20):
            await s.send(msg(i))
            got.append(await s.recv(timeout_ms=2000))
        return got

    got, ls, lf = scenario(body)
    assert got == [bytes(msg(i)) for i in range(20)]


def test_recv_times_out_and_the_session_stays_open():
    async def body(s):
        try:
            await s.recv(timeout_ms=50)
        except asyncio.TimeoutError:
            pass
        else:
            raise AssertionError("no timeout")
        await s.send(b"still here")
        return await s.recv(timeout_ms=2000)

    got, _, _ = scenario(body)
    assert got == b"still here"


def test_rotation_and_keys_exhausted_are_invisible():
    # 2 IDRKs rotated every 3 frames: the first station ends each session
    # with KEYS_EXHAUSTED after a few exchanges; the client handshakes again
    # and the exchange goes on. A request whose answer the end cut off is
    # sent again after a timeout, as over any lossy link.
    async def body(s):
        got = []
        i = 0
        while i < 30:
            await s.send(msg(i))
            try:
                r = await s.recv(timeout_ms=600)
            except asyncio.TimeoutError:
                continue  # the request's session ended first: send it again
            if r[0] != i & 0xFF:
                continue  # a late answer to an earlier request
            got.append(r)
            i += 1
        return got, s.rehandshakes, s.rotations, s.state

    (got, rehs, rots, state), ls, lf = scenario(body, f_kw={"rotate_frames": 3, "idrks": 2})
    assert got == [bytes(msg(i)) for i in range(30)]
    assert rehs >= 3, rehs  # 30 exchanges, 60 frames, at most ~6 per session
    assert rots >= 3, rots
    assert state == OPEN


def test_peer_close_raises_one_exception_with_the_code():
    async def once(s):
        buf = bytearray(64)
        n = await s.recv_into(buf)
        await s.send(buf, n)
        # returning closes the session: CLOSE(OK)

    async def body(s):
        await s.send(b"hi")
        assert await s.recv(timeout_ms=2000) == b"hi"
        try:
            await s.recv(timeout_ms=2000)
        except ephkey.SessionError as e:
            err = e
        else:
            raise AssertionError("no SessionError")
        try:
            await s.send(b"after")  # the same error again, not a hang
        except ephkey.SessionError as e2:
            assert e2.code == err.code
        return err

    err, _, _ = scenario(body, handler=once)
    assert isinstance(err, ephkey.SessionError)
    assert err.code == errors.OK and err.name == "OK", (err.code, err.name)


def test_idle_timeout_ends_with_timeout_code():
    async def body(s):
        try:
            await s.recv(timeout_ms=3000)
        except ephkey.SessionError as e:
            return e
        return None

    err, _, _ = scenario(body, f_kw={"idle_ms": 300, "confirm_ms": 100})
    assert err is not None and err.code == errors.TIMEOUT and err.name == "TIMEOUT", err


def test_unknown_peer_fails_fast():
    # the first station knows pairing 1 only; the client holds pairing 0.
    # Five tries a second apart would take 5 s: the first ERROR(UNKNOWN_PEER)
    # ends it.
    t0 = time.ticks_ms()
    try:
        scenario(lambda s: None, pairings=[pairing(1)], s_kw={"retry_ms": 1000, "max_tries": 5})
    except ephkey.SessionError as e:
        err = e
    else:
        raise AssertionError("connected with an unknown pairing")
    ms = time.ticks_diff(time.ticks_ms(), t0)
    assert err.code == errors.UNKNOWN_PEER and err.name == "UNKNOWN_PEER", err
    assert "pair again" in str(err), str(err)
    assert ms < 900, ms


def test_handshake_timeout_raises_session_error():
    def setup(lf, ls):
        ls.drop = lambda f: True  # nothing the client sends arrives

    try:
        scenario(lambda s: None, s_kw={"retry_ms": 50, "max_tries": 3}, setup=setup)
    except ephkey.SessionError as e:
        assert e.code == errors.TIMEOUT, e
    else:
        raise AssertionError("connected over a dead link")


def test_send_applies_back_pressure_and_drops_nothing():
    received = []

    async def sink(s):
        buf = bytearray(64)
        while True:
            n = await s.recv_into(buf)
            received.append(bytes(buf[:n]))

    async def body(s):
        for i in range(40):
            await s.send(msg(i, 32))  # faster than the slow line carries them
        while len(received) < 40:
            await asyncio.sleep_ms(10)
        return s.waits, s._node.app.dropped, s._st.outq.dropped

    def setup(lf, ls):
        ls.delay_ms = 5

    (waits, dropped_ev, dropped_q), _, _ = scenario(body, handler=sink, setup=setup,
                                                   s_kw={"out_queue": 2})
    assert received == [bytes(msg(i, 32)) for i in range(40)]
    assert waits > 0, "send never had to wait: the test did not fill the queue"
    assert dropped_ev == 0 and dropped_q == 0


def test_a_client_opens_session_after_session_with_one_station():
    seen = []
    lf, ls = pair_of_links()

    async def main():
        server = asyncio.create_task(ephkey.serve(lf, [pairing(0)], echo, config=fcfg(),
                                                  rng=Drbg(b"F")))
        sids = []
        try:
            async with ephkey.Client(ls, pairing(0), config=scfg(), rng=Drbg(b"S"),
                                     on_event=lambda c, sid, a: seen.append((c, sid))) as c:
                node = c.node
                for i in range(3):
                    s = await c.open()
                    await s.send(msg(i))
                    assert await s.recv(timeout_ms=2000) == bytes(msg(i))
                    sids.append(s.sid)
                    s.close()
                    try:
                        s.try_send(b"x")
                    except ephkey.SessionError as e:
                        assert e.code == errors.OK
                    else:
                        raise AssertionError("sent on a closed session")
                assert c.node is node  # one station and node for all three
        finally:
            lf.close()
            server.cancel()
        return sids

    sids = asyncio.run(main())
    assert len(set(sids)) == 3, sids
    assert [sid for c, sid in seen if c == events.ESTABLISHED] == sids, seen


def test_a_handler_that_fails_closes_its_session_and_the_server_goes_on():
    calls = []

    async def fragile(s):
        calls.append(s.sid)
        data = await s.recv()
        if data == b"boom":
            raise ValueError("a bug in the handler")
        await s.send(data)

    lf, ls = pair_of_links()

    async def main():
        server = asyncio.create_task(ephkey.serve(lf, [pairing(0)], fragile, config=fcfg(),
                                                  rng=Drbg(b"F")))
        out = []
        try:
            async with ephkey.Client(ls, pairing(0), config=scfg(), rng=Drbg(b"S")) as c:
                s = await c.open()
                await s.send(b"boom")
                try:
                    await s.recv(timeout_ms=2000)
                except ephkey.SessionError as e:
                    out.append(e.name)
                s = await c.open()
                await s.send(b"fine")
                out.append(await s.recv(timeout_ms=2000))
        finally:
            lf.close()
            server.cancel()
        return out

    out = asyncio.run(main())
    assert out == ["OK", b"fine"], out  # the failed handler's session was closed (CLOSE OK)
    assert len(calls) == 2 and calls[0] != calls[1], calls


# -- by hand: the data path under heap_lock, and what an await costs ---------

class _NoLink:
    pass


def _pump(nf, ns, now, rounds=30):
    """Frames across and events to the applications until both are quiet;
    the first Session the server application started, if any."""
    started = None
    for _ in range(rounds):
        nf.st.prepare(now)
        work(nf.st, now)
        work(ns.st, now)
        moved = outputs(ns.st)
        deliver(moved, nf.st, now)
        back = outputs(nf.st)
        deliver(back, ns.st, now)
        for node in (nf, ns):
            code = node.st.next_event()
            while code != events.NONE:
                s = node.app.event(node, code)
                if s is not None:
                    started = s
                code = node.st.next_event()
        if not moved and not back and not nf.st.busy() and not ns.st.busy():
            ns.st.poll(now)  # S's retransmission (a REQ refused NOT_READY)
            now += 400
            if not len(ns.st.outq):
                break
    return started


def _pair_by_hand(max_payload=200):
    fst = FirstStation(fcfg(max_payload=max_payload), [pairing(0)], Drbg(b"F"), 0)
    sst = SecondStation(scfg(max_payload=max_payload), pairing(0), Drbg(b"S"), 0)
    fapp = _ServerApp(None)
    capp = _ClientApp()
    nf = Node(fst, _NoLink(), fapp, clock=lambda: 1)
    ns = Node(sst, _NoLink(), capp, clock=lambda: 1)
    fapp.cap = fst.cfg.sessions
    cs = Session(ns, max_payload)
    capp.s = cs
    capp._handshake(ns)
    ss = _pump(nf, ns, 1)
    assert ss is not None and ss.state == OPEN and cs.state == OPEN
    assert ss.sid == cs.sid
    return nf, ns, ss, cs


def _round_trip(nf, ns, ss, cs, payload, n, rbuf):
    assert cs.try_send(payload, n)
    k = ns.st.next_output()
    nf.st.receive(ns.st.out, k, 2)
    nf.app.event(nf, nf.st.next_event())
    m = ss.try_recv_into(rbuf)
    assert ss.try_send(rbuf, m)
    k = nf.st.next_output()
    ns.st.receive(nf.st.out, k, 2)
    ns.app.event(ns, ns.st.next_event())
    return cs.try_recv_into(rbuf)


def test_api_data_path_allocates_nothing():
    nf, ns, ss, cs = _pair_by_hand()
    payload = bytearray(b"y" * 200)
    rbuf = bytearray(200)
    for n in (16, 64, 200):
        assert _round_trip(nf, ns, ss, cs, payload, n, rbuf) == n  # warm up
        micropython.heap_lock()
        try:
            got = _round_trip(nf, ns, ss, cs, payload, n, rbuf)
            got2 = cs.try_recv_into(rbuf)  # nothing more: -1, no allocation
        finally:
            micropython.heap_unlock()
        assert got == n and got2 == -1, (got, got2)
        assert bytes(rbuf[:n]) == bytes(payload[:n])


def test_try_send_without_room_is_false_and_queues_nothing():
    nf, ns, ss, cs = _pair_by_hand()
    sent = 0
    p = b"x" * 10
    while cs.try_send(p):
        sent += 1
    assert sent == ns.st.cfg.out_queue - 1, sent  # one slot kept for a CLOSE
    micropython.heap_lock()
    try:
        refused = cs.try_send(p)
    finally:
        micropython.heap_unlock()
    assert refused is False
    assert ns.st.outq.dropped == 0


def test_cost_of_an_await():
    # what the awaiting forms cost, for the docstring and the README: the
    # generator of one `async def` call, when no wait is needed
    nf, ns, ss, cs = _pair_by_hand()
    payload = bytearray(16)
    rbuf = bytearray(200)
    rounds = 20

    async def measure():
        gc.collect()
        gc.disable()
        try:
            a = gc.mem_alloc()  # type: ignore[attr-defined]
            for _ in range(rounds):
                await cs.send(payload, 16)
                ns.st.next_output()
            b = gc.mem_alloc()  # type: ignore[attr-defined]
            for _ in range(rounds):
                cs._push(payload, 16, 0)
                await cs.recv_into(rbuf)
            c = gc.mem_alloc()  # type: ignore[attr-defined]
        finally:
            gc.enable()
        return (b - a) // rounds, (c - b) // rounds

    send_cost, recv_cost = asyncio.run(measure())
    print("per await: send %d bytes, recv_into %d bytes" % (send_cost, recv_cost))
    assert 0 < send_cost <= 256, send_cost
    assert 0 < recv_cost <= 256, recv_cost


def test_a_user_secret_client_runs_suite_3_and_its_copy_is_overwritten():
    from ephkey.config import Pairing
    from pair import ID_F

    secret = b"correct horse 42"
    at_f = Pairing(ID_F, b"SECOND00", user=secret)
    at_s = Pairing(ID_F, b"SECOND00", user=True)
    lf, ls = pair_of_links()
    seen = {}

    async def main():
        server = asyncio.create_task(ephkey.serve(
            lf, [at_f], echo, config=fcfg(suites=(3,), rotate_frames=4),
            rng=Drbg(b"F3")))
        try:
            c = ephkey.Client(ls, at_s, config=scfg(offer=(3,)), rng=Drbg(b"S3"),
                              secret=secret.decode())
            seen["copy"] = c.app.secret
            async with c:
                s = await c.open()
                got = []
                for i in range(12):  # rotations and, at the set's end, a new handshake
                    await s.send(msg(i))
                    got.append(await s.recv(timeout_ms=3000))
                seen["suite"] = c.node.st.suite
                seen["handshakes"] = s.handshakes
                return got
        finally:
            lf.close()
            server.cancel()

    got = asyncio.run(main())
    assert got == [bytes(msg(i)) for i in range(12)]
    # KEYS_EXHAUSTED came: a new suite-3 handshake under the Session
    assert seen["suite"] == 3 and seen["handshakes"] >= 2, seen
    assert not any(seen["copy"]), "the client's copy of the secret outlived stop()"


def test_a_user_secret_of_the_wrong_size_is_refused_at_once():
    from ephkey.config import Pairing
    from pair import ID_F

    lf, ls = pair_of_links()
    try:
        ephkey.Client(ls, Pairing(ID_F, b"SECOND00", user=True), config=scfg(offer=(3,)),
                      rng=Drbg(b"S3"), secret=b"short")
    except ValueError as e:
        assert "8 to 64" in str(e), e
    else:
        raise AssertionError("a 5-byte secret was taken")
