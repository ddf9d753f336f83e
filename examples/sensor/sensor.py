"""A sensor node: a second station that sends its readings to its gateway.

On a board: copy this file as ``main.py`` next to the ephkey package, with
the board file (ephkey_board.json, role "second", transport "uart" or "ble":
over BLE the sensor is the central that finds its gateway by name) and the
pairing file that ``pair`` wrote (README, "Pairing").
"""

import asyncio

import ephkey


def reading(i):
    """The i-th reading (a real sensor would read its ADC here)."""
    return b"n=%d temp=%d.%d" % (i, 20 + i % 5, i % 10)


async def sensor(link, pairing, count, period_ms=0, **kw):
    """Send ``count`` readings, one every ``period_ms``, then close.

    ``send`` waits when the line is busy (back-pressure): no reading is
    dropped by the sensor; key rotation and a new handshake after
    KEYS_EXHAUSTED happen under the Session. Anything else that ends the
    session raises ephkey.SessionError (e.g. UNKNOWN_PEER: pair again)."""
    async with ephkey.connect(link, pairing, **kw) as s:
        for i in range(count):
            await s.send(reading(i))
            if period_ms:
                await asyncio.sleep_ms(period_ms)  # type: ignore[attr-defined]
        # the last reading's answer proves the gateway has them all
        await s.send(b"done")
        return await s.recv(timeout_ms=5000)


def main():
    board = ephkey.load_board()
    pairing = ephkey.load_pairings("second")[0]
    # the board file's transport: a board's UART or BLE; a virtual board
    # (unix port) has a TCP "UART" instead
    link = ephkey.board_link(board)
    print(asyncio.run(sensor(link, pairing, 1000, period_ms=1000, config=board.second)))


if __name__ == "__main__":
    main()
