"""Pairing material on the board's filesystem (spec section 8).

One JSON file, ``ephkey_pairing.json`` next to main.py, versioned by its
``format`` field so a later layout can be told apart:

    {"format": 1, "self": "<id hex>",
     "peers": [{"id": "<peer id hex>", "ps": "<pairing secret hex>"}]}

A first station may hold several peers; a second station uses the first one.
"""

import json
from binascii import unhexlify

from .config import Pairing

PATH = "ephkey_pairing.json"
FORMAT = 1


class NotPaired(Exception):
    """No usable pairing material: the station refuses to start."""


def load(role, path=PATH):
    """Pairings for ``role`` ("first" or "second"), or raise NotPaired."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError:
        raise NotPaired("no pairing file %s: pair this board first (host pair)" % path) from None
    except ValueError:
        raise NotPaired("pairing file %s is not valid JSON" % path) from None
    if doc.get("format") != FORMAT:
        raise NotPaired("pairing file format %r, this firmware reads %d"
                        % (doc.get("format"), FORMAT))
    try:
        me = unhexlify(doc["self"])
        out = []
        for p in doc["peers"]:
            peer = unhexlify(p["id"])
            ps = unhexlify(p["ps"])
            if role == "first":
                out.append(Pairing(me, peer, ps))
            else:
                out.append(Pairing(peer, me, ps))
    except (KeyError, ValueError, TypeError) as e:
        raise NotPaired("pairing file %s is damaged: %s" % (path, e)) from None
    if not out:
        raise NotPaired("pairing file %s lists no peer" % path)
    return out


def save(self_id, peers, path=PATH):
    """Write the file (peers: list of (id, ps) bytes pairs)."""
    from binascii import hexlify
    doc = {"format": FORMAT, "self": hexlify(self_id).decode(),
           "peers": [{"id": hexlify(i).decode(), "ps": hexlify(ps).decode()}
                     for i, ps in peers]}
    with open(path, "w") as f:
        json.dump(doc, f)
