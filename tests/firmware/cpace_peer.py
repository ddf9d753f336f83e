"""Plays one CPace party (ephkey.cpace) inside MicroPython for the host's cross test.

``micropython tests/firmware/cpace_peer.py`` reads one JSON object a line on
stdin and answers one a line on stdout, until an empty line:

- ``{"op": "run", "mode": 0|1, "initiator": bool, "prs", "ci", "sid", "ad",
  "scalar", "peer_share", "peer_ad"}`` (hex): start with ``scalar`` as the
  rng's draw, then finish with the peer's message. Answer ``{"share", "isk",
  "sid_output"}``, or ``{"share", "abort": reason}`` when finish aborts.
- ``{"op": "map", "r"}``: ``{"x"}``, the Elligator 2 map of the 32 bytes r.

The host computes its own share before it sends the line, so one line per
run is enough: each side still sees only the other's share.
"""

import json
import sys
from binascii import hexlify, unhexlify

from ephkey.cpace import CPace, CPaceAbort
from ephkey.elligator2 import map_to_curve_into


def _hex(b):
    return hexlify(b).decode()


def answer(req):
    if req["op"] == "map":
        out = bytearray(32)
        map_to_curve_into(out, unhexlify(req["r"]))
        return {"x": _hex(out)}
    party = CPace(req["initiator"], req["mode"])
    scalar = unhexlify(req["scalar"])
    share = _hex(party.start(unhexlify(req["prs"]), unhexlify(req["ci"]), unhexlify(req["sid"]),
                             unhexlify(req["ad"]), lambda n: scalar))
    isk = bytearray(64)
    try:
        party.finish(isk, unhexlify(req["peer_share"]), unhexlify(req["peer_ad"]))
    except CPaceAbort as e:
        return {"share": share, "abort": str(e)}
    sido = bytearray(64)
    party.sid_output_into(sido)
    return {"share": share, "isk": _hex(isk), "sid_output": _hex(sido)}


def main():
    while True:
        line = sys.stdin.readline()
        if not line.strip():
            break
        print(json.dumps(answer(json.loads(line))))


main()
