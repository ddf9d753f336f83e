"""Frames over BLE: the Nordic UART Service through micropython-lib's aioble.

The first station is the peripheral (advertises NUS, notifies on TX), the
second the central (scans, writes RX, subscribes to TX). The link stream of
docs/link.md is cut into counted chunks of MTU-3 bytes (ble_chunks); BLE
link-layer pairing is not used: the protocol provides the security.
"""

import asyncio
from asyncio import sleep_ms  # type: ignore[attr-defined]

import aioble
import bluetooth

from .ble_chunks import ChunkRx, ChunkTx
from .link import LinkRx, LinkTx

NUS = bluetooth.UUID("6E400001-B5A3-F393-E0A9-E50E24DCCA9E")
NUS_RX = bluetooth.UUID("6E400002-B5A3-F393-E0A9-E50E24DCCA9E")  # central writes
NUS_TX = bluetooth.UUID("6E400003-B5A3-F393-E0A9-E50E24DCCA9E")  # peripheral notifies
_MTU = 247


class BleLink:
    def __init__(self, role, cfg, max_frame):
        self.role = role
        self.name = cfg.get("name", "ephkey")
        self.peer_name = cfg.get("peer", self.name)
        # a client keeps one notification at a time: pace them
        self.gap_ms = cfg.get("chunk_gap_ms", 8)
        self.rx = LinkRx(max_frame)
        self.tx = LinkTx(max_frame)
        self.crx = ChunkRx(self.rx)
        self.ctx = ChunkTx()
        self.bytes_in = 0
        self.bytes_out = 0
        self._chunk = None
        self._i = 0
        self.conn = None

    async def connect(self, timeout_ms=30000):
        if self.role == "first":
            svc = aioble.Service(NUS)
            self._in_char = aioble.BufferedCharacteristic(
                svc, NUS_RX, write=True, write_no_response=True, capture=True, max_len=_MTU)
            self._out_char = aioble.Characteristic(svc, NUS_TX, notify=True)
            aioble.register_services(svc)
            self.conn = await aioble.advertise(250000, name=self.name, services=[NUS])
        else:
            device = None
            async with aioble.scan(timeout_ms, 30000, 30000, active=True) as scanner:
                async for result in scanner:
                    if result.name() == self.peer_name or NUS in result.services():
                        device = result.device
                        break
            if device is None:
                raise OSError("no ephkey peripheral named %s found" % self.peer_name)
            self.conn = await device.connect(timeout_ms=timeout_ms)
            try:
                await self.conn.exchange_mtu(_MTU)
            except Exception:  # not every stack negotiates: stay at 23
                pass
            svc = await self.conn.service(NUS)
            self._out_char = await svc.characteristic(NUS_RX)
            self._in_char = await svc.characteristic(NUS_TX)
            await self._in_char.subscribe(notify=True)
        self.ctx.set_mtu(getattr(self.conn, "mtu", None) or 23)
        self.ctx.reset()
        self.crx.reset()

    async def _next_chunk(self):
        if self.role == "first":
            _, data = await self._in_char.written()
        else:
            data = await self._in_char.notified()
        return data

    async def recv(self):
        while True:
            if self._chunk is not None:
                i = self.rx.feed(self._chunk, self._i)
                if i >= 0:
                    self._i = i
                    return self.rx.frame
                self._chunk = None
            data = await self._next_chunk()
            self.bytes_in += len(data)
            start = self.crx.accept(data)
            if start >= 0:
                self._chunk = data
                self._i = start

    async def send(self, frame, n):
        k = self.tx.encode(frame, n)
        i = 0
        while i < k:
            i = self.ctx.fill(self.tx.out, i, k)
            chunk = self.ctx.chunk
            if self.role == "first":
                self._out_char.notify(self.conn, chunk)
                await sleep_ms(self.gap_ms)
            else:
                await self._out_char.write(chunk, False)
            self.bytes_out += len(chunk)

    def close(self):
        if self.conn is not None:
            asyncio.create_task(self.conn.disconnect())
