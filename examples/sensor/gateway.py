"""A gateway: a first station that collects readings from its sensors.

On a board: copy this file as ``main.py`` next to the ephkey package, with
the board file (role "first"; transport "uart", or "ble": the gateway then
advertises as the board file's ``ble.name``) and the pairing file.
"""

import asyncio

import ephkey


async def gateway(link, pairings, on_reading, **kw):
    """Serve sensors on ``link``; ``on_reading(sid, payload)`` for each
    reading. A sensor's ``done`` is answered with the number of readings
    that session brought. Runs until the link fails."""

    async def handler(s):
        buf = bytearray(s.max_payload)
        count = 0
        while True:
            n = await s.recv_into(buf)  # ephkey.SessionError when the session ends
            if bytes(buf[:n]) == b"done":
                await s.send(b"got %d" % count)
                count = 0
            else:
                count += 1
                on_reading(s.sid, bytes(buf[:n]))

    await ephkey.serve(link, pairings, handler, **kw)


def main():
    board = ephkey.load_board()
    pairings = ephkey.load_pairings("first")
    link = ephkey.board_link(board)  # the board file's transport; BLE reconnects after a drop
    asyncio.run(gateway(link, pairings, lambda sid, r: print(sid, r.decode()),
                        config=board.first))


if __name__ == "__main__":
    main()
