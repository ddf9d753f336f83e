"""Pairing material on the board's filesystem (spec sections 8 and 15.7).

One JSON file, ``ephkey_pairing.json`` next to main.py, versioned by its
``format`` field so a later layout can be told apart:

    {"format": 1, "self": "<id hex>",
     "peers": [{"id": "<peer id hex>", "ps": "<pairing secret hex>"}]}

A first station may hold several peers (at most ``MAX_PEERS``); a second
station uses the first one. A suite-3 record (docs/protocol.md 15.10) has
``"user"`` instead of ``"ps"``: at the first station the user's secret (hex,
8 to 64 bytes), at the second ``true`` (S stores no secret: the user gives it
at ``connect``). In the peer lists below such a record's secret is a
``User``; ``record_user`` writes one.

Written atomically (15.7): the new document goes to ``<path>.tmp``, which is
flushed and synced, then renamed over ``<path>``. littlefs and POSIX replace
the target in one step; MicroPython's FAT driver removes it and then renames
(two steps), so a power cut between them leaves only the ``.tmp`` file.
Reading therefore takes ``<path>`` if it is valid (removing a stale
``.tmp``), else a valid ``.tmp`` (renamed into place), else nothing: a cut
anywhere leaves the old pairing or the new one, never a damaged file.
tests/firmware/test_pairing_store.py cuts the power at every step.

``fs`` (tests) replaces the filesystem: ``open(path, mode)``,
``rename(a, b)``, ``remove(path)``, ``sync()``.
"""

import json
import os
from binascii import hexlify, unhexlify

from .config import USER_MAX, USER_MIN, Pairing

PATH = "ephkey_pairing.json"
FORMAT = 1
MAX_PEERS = 32


class User:
    """A suite-3 record's value: the user's secret (F) or None (S: ``true``)."""

    def __init__(self, secret=None):
        self.secret = None if secret is None else bytes(secret)

    def __eq__(self, other):
        return isinstance(other, User) and other.secret == self.secret

    def json(self):
        return True if self.secret is None else hexlify(self.secret).decode()


class NotPaired(Exception):
    """No usable pairing material: the station refuses to start."""


class _Os:
    """The board's own filesystem."""

    def open(self, path, mode):
        return open(path, mode)

    def rename(self, a, b):
        os.rename(a, b)

    def remove(self, path):
        os.remove(path)

    def sync(self):
        sync = getattr(os, "sync", None)  # not on every port
        if sync is not None:
            sync()


_OS = _Os()


def _parse(text):
    """(self id, [(peer id, ps), ...]) of a valid document; ValueError otherwise."""
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise ValueError("format %r, this firmware reads %d" % (doc.get("format"), FORMAT))
        me = unhexlify(doc["self"])
        peers: list = []
        for p in doc["peers"]:
            if "user" in p:
                u = p["user"]
                peers.append((unhexlify(p["id"]), User(None if u is True else unhexlify(u))))
            else:
                peers.append((unhexlify(p["id"]), unhexlify(p["ps"])))
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError("missing or wrong field: %r" % (e,)) from None
    if len(me) != 8:
        raise ValueError("self: 8 bytes")
    if not peers:
        raise ValueError("no peer")
    for peer, ps in peers:
        if isinstance(ps, User):
            if ps.secret is not None and not USER_MIN <= len(ps.secret) <= USER_MAX:
                raise ValueError("a user record's secret is %d to %d bytes" % (USER_MIN, USER_MAX))
        elif not 16 <= len(ps) <= 32:
            raise ValueError("a peer record has a wrong id or ps length")
        if len(peer) != 8:
            raise ValueError("a peer record has a wrong id or ps length")
    return me, peers


def _read_text(fs, path):
    try:
        with fs.open(path, "r") as f:
            return f.read()
    except OSError:
        return None


def read(path=PATH, fs=None):
    """(self id, peers) of the valid pairing, finishing an interrupted write;
    None if there is none. Raises NotPaired if only a damaged file is there."""
    fs = fs or _OS
    tmp = path + ".tmp"
    text = _read_text(fs, path)
    problem = None
    if text is not None:
        try:
            out = _parse(text)
        except ValueError as e:
            problem = str(e)
        else:
            if _read_text(fs, tmp) is not None:
                _try(fs.remove, tmp)  # a write cut before its rename: the old file stands
            return out
    text = _read_text(fs, tmp)
    if text is not None:
        try:
            out = _parse(text)
        except ValueError:
            out = None
        if out is not None:  # a FAT rename cut between its remove and its rename
            fs.rename(tmp, path)
            fs.sync()
            return out
    if problem is not None:
        raise NotPaired("pairing file %s is damaged: %s" % (path, problem))
    return None


def _try(fn, *args):
    try:
        fn(*args)
    except OSError:
        pass


def load(role, path=PATH, fs=None):
    """Pairings for ``role`` ("first" or "second"), or raise NotPaired."""
    try:
        got = read(path, fs)
    except OSError as e:
        raise NotPaired("pairing file %s: %s" % (path, e)) from None
    if got is None:
        raise NotPaired("no pairing file %s: pair this board first "
                        "(ephkey.runtime.pair() at its REPL, or host pair)" % path)
    me, peers = got
    out = []
    for peer, ps in peers:
        if isinstance(ps, User):  # suite 3 (15.10)
            if (ps.secret is None) != (role == "second"):
                raise NotPaired("pairing file %s: a user record holds the secret at the first "
                                "station and true at the second" % path)
            if role == "first":
                out.append(Pairing(me, peer, user=ps.secret))
            else:
                out.append(Pairing(peer, me, user=True))
        else:
            out.append(Pairing(me, peer, ps) if role == "first" else Pairing(peer, me, ps))
    return out


def own_id(path=PATH, fs=None):
    """This station's identity from its pairing file, or None (damaged: None too)."""
    try:
        got = read(path, fs)
    except NotPaired:
        return None
    return got[0] if got else None


def peer_count(path=PATH, fs=None):
    try:
        got = read(path, fs)
    except NotPaired:
        return 0
    return len(got[1]) if got else 0


def save(self_id, peers, path=PATH, fs=None):
    """Write the file atomically (peers: list of (id, ps) bytes pairs)."""
    fs = fs or _OS
    doc = {"format": FORMAT, "self": hexlify(self_id).decode(),
           "peers": [{"id": hexlify(i).decode(), "user": ps.json()} if isinstance(ps, User)
                     else {"id": hexlify(i).decode(), "ps": hexlify(ps).decode()}
                     for i, ps in peers]}
    text = json.dumps(doc)
    _parse(text)  # never write what read() would refuse
    tmp = path + ".tmp"
    f = fs.open(tmp, "w")
    try:
        f.write(text)
        f.flush()
    finally:
        f.close()
    fs.sync()
    fs.rename(tmp, path)
    fs.sync()


def record(role, self_id, peer_id, ps, path=PATH, fs=None):
    """Store a new pairing (15.7): a first station adds or replaces the peer's
    entry and keeps the others; a second station keeps only this one."""
    peers = []
    if role == "first":
        try:
            got = read(path, fs)
        except NotPaired:
            got = None  # a damaged file is replaced
        if got is not None:
            peers = [(i, p) for i, p in got[1] if i != bytes(peer_id)]
        if len(peers) >= MAX_PEERS:
            raise ValueError("pairing file full: %d peers" % MAX_PEERS)
    peers.append((bytes(peer_id), ps if isinstance(ps, User) else bytes(ps)))
    save(self_id, peers, path, fs)


def record_user(role, peer_id, secret=None, self_id=None, path=PATH, fs=None):
    """Write a suite-3 record (15.10) over a trusted path (this board's console):
    at the first station the user's secret for the second station ``peer_id``
    (``"user": hex``), at the second station ``"user": true`` for its first
    station (no secret). ``self_id`` defaults to the identity already in the
    file. Atomic, as ``record``; other records are kept as ``record`` keeps them."""
    if self_id is None:
        self_id = own_id(path, fs)
        if self_id is None:
            raise ValueError("no identity in %s: give self_id (8 bytes)" % path)
    if role == "first":
        if secret is None:
            raise ValueError("the first station's record holds the user's secret")
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if not USER_MIN <= len(raw) <= USER_MAX:
            raise ValueError("a user secret is %d to %d bytes" % (USER_MIN, USER_MAX))
        value = User(raw)
    else:
        if secret is not None:
            raise ValueError("the second station stores no secret: the user gives it at connect")
        value = User()
    if len(self_id) != 8 or len(peer_id) != 8:
        raise ValueError("identities are 8 bytes")
    record(role, self_id, peer_id, value, path, fs)
