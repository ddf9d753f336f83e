"""ephkey.ble_link under MicroPython, two boards over a stand-in of aioble.

tests/firmware/aioble_standin.py behaves as aioble's source says (a client's
notification queue of one, the server's capture queue of ten, an MTU that
changes after the connection, written() that a disconnect does not wake,
notify() that raises on a dropped connection). Both roles run real stations,
nodes and applications, as main.py would.
"""

import asyncio
import time

from aioble_standin import Air, Device
from ephkey.ble_link import POLL_MS, BleLink, LinkDown
from ephkey.client import Client
from ephkey.echo_app import EchoApp
from ephkey.exchange_app import ExchangeApp
from ephkey.server import serve
from pair import first, second

NAME = "ephkey-test"


class Log:
    def __init__(self):
        self.lines = []

    def __call__(self, kind, **fields):
        fields["ev"] = kind
        self.lines.append(fields)

    def kinds(self, role=None):
        return [x["ev"] for x in self.lines if role is None or x.get("role") == role]


def pair_of_links(air, window=None, name=NAME, peer=None):
    log = Log()
    cfg_f = {"name": name}
    cfg_s = {"name": peer or name}
    if window:
        cfg_f["window"] = cfg_s["window"] = window
    dev_f = Device(air)
    dev_s = Device(air)
    link_f = BleLink("first", cfg_f, 276, ble=dev_f, log=log)
    link_s = BleLink("second", cfg_s, 276, ble=dev_s, log=log)
    return log, dev_f, dev_s, link_f, link_s


async def _until(cond, ms):
    t0 = time.ticks_ms()
    while not cond():
        if time.ticks_diff(time.ticks_ms(), t0) > ms:
            return False
        await asyncio.sleep_ms(20)
    return True


def run_exchange(air, messages=12, size=200, window=None, limit_ms=30000, setup=None):
    """F (peripheral, EchoApp on ephkey.serve) and S (central, ExchangeApp on an
    ephkey.Client) over BLE until S is done, as main.py runs them."""
    log, dev_f, dev_s, link_f, link_s = pair_of_links(air, window)
    app_f = EchoApp(quiet=True)
    app_s = ExchangeApp(messages, size, quiet=True)
    client = Client(link_s, None, station=second(max_payload=256), on_event=app_s.on_event)
    nodes = []
    if setup:
        setup(dev_f, dev_s, link_f, link_s)

    async def main():
        tf = asyncio.create_task(serve(link_f, None, app_f.handler, station=first(max_payload=256),
                                       on_event=app_f.on_event, on_node=nodes.append))
        client.start()
        ts = asyncio.create_task(app_s.run(client))
        done = await _until(lambda: app_s.done, limit_ms)
        tf.cancel()
        ts.cancel()
        await client.stop()
        await link_f.teardown()
        return done

    done = asyncio.run(main())
    return done, log, (dev_f, dev_s), (link_f, link_s), (nodes[0], client.node), app_s


def test_aioble_client_queue_of_one_loses_a_burst():
    # what the link has to live with: six notifications in one connection event,
    # a client that takes one: five are gone
    air = Air(per_event=6)
    dev_f = Device(air)
    dev_s = Device(air)

    async def main():
        from aioble_standin import BufferedCharacteristic, Characteristic, Service
        svc = Service(dev_f.UUID("6E400001-B5A3-F393-E0A9-E50E24DCCA9E"))
        BufferedCharacteristic(svc, dev_f.UUID("6E400002-B5A3-F393-E0A9-E50E24DCCA9E"),
                               write=True, capture=True, max_len=247)
        tx = Characteristic(svc, dev_f.UUID("6E400003-B5A3-F393-E0A9-E50E24DCCA9E"),
                            notify=True)
        dev_f.register_services(svc)
        adv = asyncio.create_task(dev_f.advertise(100000, name=NAME))
        async with dev_s.scan(1000, active=True) as scanner:
            async for r in scanner:
                conn = await r.device.connect()
                break
        pconn = await adv
        svc_c = await conn.service(dev_s.UUID("6E400001-B5A3-F393-E0A9-E50E24DCCA9E"))
        ch = await svc_c.characteristic(dev_s.UUID("6E400003-B5A3-F393-E0A9-E50E24DCCA9E"))
        await ch.subscribe()
        for k in range(6):
            tx.notify(pconn, bytes([k]))
        got = [await ch.notified(timeout_ms=500)]
        try:
            got.append(await ch.notified(timeout_ms=100))
        except asyncio.TimeoutError:
            pass
        return got, ch.received

    got, received = asyncio.run(main())
    assert received == 6 and got == [b"\x05"], (got, received)


def test_exchange_at_mtu_23_with_busy_receivers():
    # no MTU exchange (peer_mtu 23): a 200-byte payload is 12 chunks a frame, and
    # both applications are slow to come back for the next chunk
    air = Air(peer_mtu=23, per_event=6)

    def busy(dev_f, dev_s, link_f, link_s):
        dev_f.busy_ms = 15
        dev_s.busy_ms = 15
    done, log, devs, links, nodes, app = run_exchange(air, messages=10, setup=busy)
    link_f, link_s = links
    assert done and app.ok and app.echoed == 10 and app.corrupt == 0, app.summary()
    assert link_f.ctx.mtu == 23 and link_s.ctx.mtu == 23
    for link in links:
        assert link.crx.gaps == 0 and link.crx.duplicates == 0, link.role
        assert link.rx.crc_errors == 0 and link.rx_overruns == 0, link.role
        assert link.ctx.bad_acks == 0 and link.tx_dropped == 0, link.role
        assert link.crx.chunks > 100 and link.crx.acks > 0, (link.role, link.crx.acks)
    assert devs[0].capture_dropped == 0
    assert app.resent == 0 and app.lost == 0 and air.drops == 0


def test_without_the_window_chunks_are_lost():
    # the same run with a window of 64: the server's capture queue of ten overflows
    # while the peripheral's application is busy (what aioble did to the old link)
    air = Air(peer_mtu=23, per_event=6)

    def busy(dev_f, dev_s, link_f, link_s):
        dev_f.busy_ms = 15
    done, log, devs, links, nodes, app = run_exchange(air, messages=3, window=64,
                                                      limit_ms=6000, setup=busy)
    assert devs[0].capture_dropped > 0
    assert links[0].crx.gaps > 0 or not done


def test_late_mtu_exchange_grows_the_chunks():
    air = Air(mtu_delay_ms=150)
    seen = []

    def watch(dev_f, dev_s, link_f, link_s):
        async def probe():
            while True:
                if link_f.conn is not None:
                    seen.append((link_f.conn.mtu, link_f.ctx.mtu))
                await asyncio.sleep_ms(10)
        asyncio.create_task(probe())
    done, log, devs, links, nodes, app = run_exchange(air, messages=12, setup=watch)
    link_f, link_s = links
    assert done and app.ok and app.echoed == 12
    assert seen and seen[0][0] is None  # the peripheral's conn.mtu before the exchange
    assert link_f.ctx.mtu == 247 and link_s.ctx.mtu == 247  # taken up once exchanged
    # 200-byte payloads: 228-byte frames, one chunk each at 247, twelve at 23
    assert link_f.crx.chunks < 12 * 12 and link_s.crx.chunks < 12 * 12


def test_disconnect_mid_frame_both_roles_recover():
    air = Air(peer_mtu=23)
    air.drop_after = 150  # packets: well into the exchange, in the middle of a frame
    done, log, devs, links, nodes, app = run_exchange(air, messages=12, limit_ms=60000)
    link_f, link_s = links
    assert air.drops == 1
    # the exchange after the drop ran in full (messages count per session, as on KEYS_EXHAUSTED)
    assert done and app.ok and app.exchanges == 1 and app.corrupt == 0, app.summary()
    assert app.echoed >= 12 and app.resent == 0
    assert app.links_lost == 1 and nodes[0].app.links_lost == 1
    for role in ("first", "second"):
        kinds = log.kinds(role)
        assert kinds.count("link_up") == 2 and kinds.count("link_down") == 1, (role, log.lines)
        down = [x for x in log.lines if x["ev"] == "link_down" and x["role"] == role][0]
        assert down["reason"] == "disconnected", down
    assert link_f.connections == 2 and link_s.connections == 2
    # the second station scanned again and the first advertised again
    assert devs[1].scans >= 2
    # the session of the dropped connection was ended: a new handshake followed
    assert app.handshakes_started >= 2 and app.established >= 2


def test_the_scan_takes_the_named_peer_only():
    air = Air()
    decoy = Device(air)  # another NUS device, advertising under another name, seen first

    def setup(dev_f, dev_s, link_f, link_s):
        decoy.adv_name = "not-ephkey"
        decoy.adv_services = ["6E400001-B5A3-F393-E0A9-E50E24DCCA9E"]
        decoy.advertising = True
    done, log, devs, links, nodes, app = run_exchange(air, messages=2, setup=setup)
    assert done and app.ok
    assert air.links[0].peripheral.device is devs[0]  # not the decoy
    assert decoy.advertising  # nobody connected to it


def test_no_peer_means_scanning_again_with_back_off():
    air = Air()
    log = Log()
    dev_s = Device(air)
    link = BleLink("second", {"name": NAME}, 276, ble=dev_s, log=log)

    async def main():
        t = asyncio.create_task(link.connect())
        await asyncio.sleep_ms(2400)
        t.cancel()

    import ephkey.ble_link as bl
    saved = bl.SCAN_MS, bl.BACKOFF_MS
    bl.SCAN_MS = 100  # the board's 5 s rounds and 1, 2, 4 ... 30 s pauses, scaled down
    bl.BACKOFF_MS = (250, 500, 1000, 2000)
    try:
        asyncio.run(main())
    finally:
        bl.SCAN_MS, bl.BACKOFF_MS = saved
    # rounds start at 0, 0.1+0.25, 0.45+0.5, 1.05+1 s: each pause twice the one before
    assert dev_s.scans == 4, (dev_s.scans, log.lines)
    gaps = [time.ticks_diff(b, a) for a, b in zip(dev_s.scan_times, dev_s.scan_times[1:])]
    for gap, pause in zip(gaps, (250, 500, 1000)):
        assert pause + 100 <= gap < pause + 100 + 150, gaps
    assert log.kinds() == ["link_retry"] * 4, log.lines


def test_after_a_drop_nothing_is_sent_and_send_raises():
    air = Air()
    log, dev_f, dev_s, link_f, link_s = pair_of_links(air)
    errors = []

    async def main():
        tf = asyncio.create_task(link_f.connect())
        await link_s.connect()
        await tf
        await link_f.send(b"hello", 5)
        assert await asyncio.wait_for_ms(link_s.recv(), 2000) == b"hello"
        air.drop_all()
        # the peripheral's written() is not woken by the drop: the poll notices it
        t0 = time.ticks_ms()
        for link in (link_f, link_s):
            try:
                await asyncio.wait_for_ms(link.recv(), POLL_MS + 1000)
            except LinkDown as e:
                errors.append((link.role, str(e), time.ticks_diff(time.ticks_ms(), t0)))
        for link in (link_f, link_s):
            try:
                await link.send(b"late", 4)
            except LinkDown:
                errors.append((link.role, "send"))
        sent = air.sent
        await asyncio.sleep_ms(100)
        assert air.sent == sent  # nothing went onto a dead connection
        await link_f.teardown()
        await link_s.teardown()

    asyncio.run(main())
    assert [e[0] for e in errors] == ["first", "second", "first", "second"], errors
    assert errors[0][1] == "disconnected" and errors[0][2] <= POLL_MS + 200, errors


def test_a_peer_that_stops_answering_during_set_up_is_given_up():
    # aioble's discovery has no timeout: the link bounds the whole set-up, drops
    # the connection and scans again; the peripheral sees the drop and advertises again
    import ephkey.ble_link as bl
    air = Air()
    air.discovery_hangs = True

    def unhang(dev_f, dev_s, link_f, link_s):
        async def later():
            await asyncio.sleep_ms(700)
            air.discovery_hangs = False
        asyncio.create_task(later())
    saved = bl.SETUP_MS, bl.BACKOFF_MS
    bl.SETUP_MS = 300
    bl.BACKOFF_MS = (100,)
    try:
        done, log, devs, links, nodes, app = run_exchange(air, messages=2, setup=unhang)
    finally:
        bl.SETUP_MS, bl.BACKOFF_MS = saved
    retries = [x for x in log.lines if x["ev"] == "link_retry"]
    assert retries and retries[0]["role"] == "second" and retries[0]["reason"] == "timeout"
    assert done and app.ok and app.echoed == 2
    assert links[1].connections == 1 and links[0].connections >= 2
