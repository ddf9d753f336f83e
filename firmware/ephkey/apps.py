"""What the board applications share (echo_app.EchoApp, exchange_app.ExchangeApp):
the ``EPHKEY`` event lines they, the runtime and the console log, and the
numbered payloads they exchange.

Every payload starts with a 4-byte message number (``u32``, counting from 0
over the whole run) followed by a pattern derived from it (``fill``), so
either side can tell a genuine payload from anything else (``valid``).
"""

import json

HEAD = 4  # message number, u32 big-endian


# Where event lines go: None prints them on the console; a transport that
# carries the link on the console (ephkey.console) puts a function here.
sink = None


def log(kind, **fields):
    fields["ev"] = kind
    if sink is None:
        print("EPHKEY", json.dumps(fields))
    else:
        sink("EPHKEY " + json.dumps(fields))


def fill(buf, n, number):
    """Payload ``number`` of ``n`` bytes (n >= HEAD) into buf[:n]."""
    buf[0] = (number >> 24) & 0xFF
    buf[1] = (number >> 16) & 0xFF
    buf[2] = (number >> 8) & 0xFF
    buf[3] = number & 0xFF
    for i in range(HEAD, n):
        buf[i] = 0x61 + (number + i) % 26


def number_of(buf, n):
    """The message number of a payload, or -1 if it is too short."""
    if n < HEAD:
        return -1
    return (buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]


def valid(buf, n):
    """True if buf[:n] is a payload made by ``fill``."""
    number = number_of(buf, n)
    if number < 0:
        return False
    for i in range(HEAD, n):
        if buf[i] != 0x61 + (number + i) % 26:
            return False
    return True


def link_stats(link):
    """The link decoder's counters, for a stats or summary line."""
    rx = getattr(link, "rx", None)
    out = {}
    if rx is not None:
        for k in ("frames_ok", "crc_errors", "too_long", "cobs_errors", "runts"):
            out[k] = getattr(rx, k, 0)
    return out
