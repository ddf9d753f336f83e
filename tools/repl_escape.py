"""Give the REPL back on a board whose console carries the link ("transport": "usb").

    python tools/repl_escape.py PORT [--timeout S]

PORT is the board's console: a Pico's USB serial device (/dev/ttyACM0) or a
pyserial URL (socket://127.0.0.1:7101 for an emulated board). While the link
runs there, the console has no REPL, and Ctrl-C is data. This sends the
console escape, ``00 FF "EPHKEY-REPL" 00`` (bytes no link transmitter ever
sends: README, "The usb transport"), until the board answers with its REPL
prompt, then prints what the board printed meanwhile: the last event lines it
kept, and why it stopped. mpremote works from then on, until the next reset
runs main.py again (`mpremote connect PORT fs rm :main.py` keeps it at the REPL).

tools/deploy.py does the same by itself when mpremote finds no REPL.
Exit codes: 0 the REPL is back, 3 no answer.
"""

from __future__ import annotations

import argparse
import sys
import time

ESCAPE = b"\x00\xffEPHKEY-REPL\x00"
PROMPT = b">>> "


class NoRepl(Exception):
    pass


def release(port: str, timeout: float = 10.0, baud: int = 115200) -> str:
    """Send the escape until the REPL prompt comes; returns what the board printed."""
    import serial

    try:
        ser = serial.serial_for_url(port, baudrate=baud, timeout=0.05)
    except (serial.SerialException, OSError, ValueError) as e:
        raise NoRepl(f"cannot open {port}: {e}") from None
    seen = bytearray()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ser.write(ESCAPE)
            ser.flush()
            quiet_until = time.monotonic() + 2.0
            while time.monotonic() < min(quiet_until, deadline):
                chunk = ser.read(4096)
                if chunk:
                    seen += chunk
                    quiet_until = time.monotonic() + 2.0
                if seen.rstrip(b" ").endswith(PROMPT.rstrip()):
                    ser.write(b"\x03")  # clear whatever a repeated escape typed
                    ser.flush()
                    time.sleep(0.1)
                    ser.read(4096)
                    return seen.decode("utf-8", "replace")
    finally:
        ser.close()
    raise NoRepl(f"no REPL prompt from {port} in {timeout:.0f} s; it printed: "
                 f"{bytes(seen[-300:])!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/repl_escape.py",
        description="Give the REPL back on a board whose console carries the ephkey link.")
    parser.add_argument("port", help="the board's console: /dev/ttyACM0, socket://HOST:PORT")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--baud", type=int, default=115200)
    args = parser.parse_args(argv)
    try:
        out = release(args.port, args.timeout, args.baud)
    except NoRepl as e:
        print(f"repl_escape: {e}", file=sys.stderr)
        return 3
    sys.stdout.write(out.replace("\r\n", "\n"))
    print(f"\nrepl_escape: the REPL is back on {args.port}: mpremote connect {args.port} ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
