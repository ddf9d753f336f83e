"""Log what a board sends: the host is the first station, the board the second.

    python examples/host_logger.py --port /dev/ttyUSB0 --pairing host.json [--sessions 1]

``--port`` is a serial device (a USB-serial adapter on the board's UART) or
a pyserial URL (``socket://127.0.0.1:7002``: a virtual board through
tools/linksim.py); ``--pairing`` is the host's ``ephkey_pairing.json`` as
first station (``ephkey pair --out DIR`` writes ``DIR/first/...``). Each
payload is printed as one line, ``<board id> <length> <payload hex>``, and
echoed: a second-station board's exchange app waits for the echo before it
sends its next reading. With ``--sessions N`` the logger stops after the
board has ended N sessions, else it runs until Ctrl-C.
"""

import argparse
import asyncio

import ephkey_host


async def log_and_echo(session: ephkey_host.Session) -> None:
    async for payload in session:  # ends when the board closes the session
        print(session.peer.hex(), len(payload), payload.hex(), flush=True)
        await session.send(payload)


async def main(port: str, pairing: str, sessions: int) -> None:
    link = await ephkey_host.serial_link(port, 115200)
    pairings = ephkey_host.load_pairings("first", pairing)
    await ephkey_host.serve(link, pairings, log_and_echo, sessions=sessions)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True, help="serial device or pyserial URL")
    parser.add_argument("--pairing", required=True, help="the host's pairing file (first)")
    parser.add_argument("--sessions", type=int, default=0, help="stop after N sessions")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.port, args.pairing, args.sessions))
    except KeyboardInterrupt:
        pass
