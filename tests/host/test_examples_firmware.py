"""The firmware example (examples/sensor) runs over UART and BLE, so it cannot rot.

UART: the gateway and the sensor are two MicroPython processes (the unix
port, as virtual boards are), each on its side of tools/linksim.py's paced
115200-baud line, with the examples' own functions and a deterministic
pairing. BLE: both in one MicroPython process over the aioble stand-in of
the firmware BLE tests (tests/firmware/aioble_standin.py). Each test checks
what the gateway received: every reading, decrypted right, in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

from linksim import LinkSim  # noqa: E402

COUNT = 25
PAIRING = ("Pairing(b'GATEWAY1', b'SENSOR01', bytes(range(16)))")

GATEWAY_UART = f"""
import asyncio, sys
from ephkey.config import FirstConfig, Pairing
from ephkey.stream_link import StreamLink
from ephkey.tcp import open_tcp
import gateway
link = StreamLink(open_tcp('127.0.0.1', int(sys.argv[1])), 276)
def on_reading(sid, r):
    print('READING', r.decode())
asyncio.run(gateway.gateway(link, [{PAIRING}], on_reading, config=FirstConfig(sessions=2)))
"""

SENSOR_UART = f"""
import asyncio, sys
from ephkey.config import Pairing
from ephkey.stream_link import StreamLink
from ephkey.tcp import open_tcp
import sensor
link = StreamLink(open_tcp('127.0.0.1', int(sys.argv[1])), 276)
print('RESULT', asyncio.run(sensor.sensor(link, {PAIRING}, {COUNT})).decode())
"""

BLE = f"""
import asyncio, json
from aioble_standin import Air, Device
from ephkey.ble_link import BleLink
from ephkey.config import FirstConfig, Pairing
import gateway, sensor
air = Air()
link_f = BleLink('first', {{'name': 'gw-test'}}, 276, ble=Device(air), log=lambda *a, **k: None)
link_s = BleLink('second', {{'name': 'gw-test'}}, 276, ble=Device(air), log=lambda *a, **k: None)
got = []
async def main():
    gw = asyncio.create_task(gateway.gateway(link_f, [{PAIRING}], lambda sid, r: got.append(r),
                                             config=FirstConfig(sessions=2)))
    result = await asyncio.wait_for_ms(sensor.sensor(link_s, {PAIRING}, {COUNT}), 60000)
    gw.cancel()
    await link_f.teardown()
    await link_s.teardown()
    return result
result = asyncio.run(main())
print('RESULT', result.decode())
for r in got:
    print('READING', r.decode())
"""


def expected(count: int) -> list[str]:
    # examples/sensor/sensor.py's reading(i)
    return ["n=%d temp=%d.%d" % (i, 20 + i % 5, i % 10) for i in range(count)]


def _env(example: str, extra: str = "") -> dict[str, str]:
    path = f"firmware:examples/{example}:{extra}.frozen"
    return dict(os.environ, MICROPYPATH=path)


def _lines(out: str, tag: str) -> list[str]:
    return [ln[len(tag) + 1:] for ln in out.splitlines() if ln.startswith(tag + " ")]


def test_sensor_uart_through_the_link_simulator(micropython_bin: str) -> None:
    with LinkSim() as sim:
        gw = subprocess.Popen([micropython_bin, "-c", GATEWAY_UART, str(sim.port_a)],
                              cwd=REPO, env=_env("sensor"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        try:
            sensor = subprocess.run([micropython_bin, "-c", SENSOR_UART, str(sim.port_b)],
                                    cwd=REPO, env=_env("sensor"), capture_output=True,
                                    text=True, timeout=120)
        finally:
            gw.kill()
            gw_out, _ = gw.communicate(timeout=10)
    assert sensor.returncode == 0, sensor.stdout + sensor.stderr
    assert _lines(sensor.stdout, "RESULT") == [f"got {COUNT}"], sensor.stdout
    assert _lines(gw_out, "READING") == expected(COUNT), gw_out
    assert json.dumps(sim.stats())  # the line carried it: both directions counted
    assert all(v["delivered"] > 0 for v in sim.stats().values()), sim.stats()


def test_sensor_ble_over_the_aioble_standin(micropython_bin: str) -> None:
    proc = subprocess.run([micropython_bin, "-c", BLE], cwd=REPO,
                          env=_env("sensor", "tests/firmware:"), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _lines(proc.stdout, "RESULT") == [f"got {COUNT}"], proc.stdout
    assert _lines(proc.stdout, "READING") == expected(COUNT), proc.stdout


@pytest.mark.parametrize("name", ["connect", "serve", "SessionError", "uart_link"])
def test_import_ephkey_loads_only_what_is_used(micropython_bin: str, name: str) -> None:
    # `import ephkey` alone loads no station; a name loads its own modules only
    code = ("import sys, ephkey\n"
            "a = sorted(k for k in sys.modules if k.startswith('ephkey'))\n"
            f"getattr(ephkey, {name!r})\n"
            "b = sorted(k for k in sys.modules if k.startswith('ephkey'))\n"
            "print(a); print(b)\n")
    proc = subprocess.run([micropython_bin, "-c", code], cwd=REPO,
                          env=dict(os.environ, MICROPYPATH="firmware:.frozen"),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    before, after = proc.stdout.splitlines()
    assert before == "['ephkey']", before
    for station in ("ephkey.first", "ephkey.second"):
        assert station not in after, after
