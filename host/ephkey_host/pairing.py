"""Pairing material (docs/protocol.md section 8) and its files.

A pair is ``(id_f, id_s, PS)``: two 8-byte identities and a pairing secret.
:func:`new_pair` draws PS (32 bytes) from ``os.urandom`` and random
identities unless they are given. Each station keeps its side in
``ephkey_pairing.json``, in the format of ``firmware/ephkey/pairing_store.py``::

    {"format": 1, "self": "<own id hex>",
     "peers": [{"id": "<peer id hex>", "ps": "<pairing secret hex>"}]}

The host reads the same format (:func:`load_station_file`). Files are written
with mode 0600; the secret is never printed.

Suite 3 (docs/protocol.md 15.10): a record may carry ``"user"`` instead of
``"ps"``: at the first station the user's secret (hex), at the second
``true`` (S stores no secret; the user gives it at ``connect``).
:func:`user_pair_docs` makes the two documents; they are written over the
same trusted paths as PS files (a local file, mpremote onto a board).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Pairing

FILENAME = "ephkey_pairing.json"
FORMAT = 1
ID_LEN = 8
PS_LEN = 32
ROLES = ("first", "second")


class PairingFileError(ValueError):
    """A pairing file that is missing, damaged or not for this role."""


@dataclass(frozen=True)
class Pair:
    id_f: bytes
    id_s: bytes
    ps: bytes

    def pairing(self) -> Pairing:
        return Pairing(self.id_f, self.id_s, self.ps)

    def station_doc(self, role: str) -> dict[str, Any]:
        """The ``ephkey_pairing.json`` document of one station of the pair."""
        if role not in ROLES:
            raise ValueError(f"role {role!r}: first or second")
        me, peer = (self.id_f, self.id_s) if role == "first" else (self.id_s, self.id_f)
        return {"format": FORMAT, "self": me.hex(),
                "peers": [{"id": peer.hex(), "ps": self.ps.hex()}]}


def parse_id(text: str, what: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not hex") from None
    if len(value) != ID_LEN:
        raise ValueError(f"{what} must be {ID_LEN} bytes ({2 * ID_LEN} hex digits), "
                         f"not {len(value)}")
    return value


def new_pair(id_f: bytes | None = None, id_s: bytes | None = None) -> Pair:
    """Fresh pairing material: PS from os.urandom, identities given or random."""
    id_f = id_f if id_f is not None else os.urandom(ID_LEN)
    id_s = id_s if id_s is not None else os.urandom(ID_LEN)
    while id_s == id_f:
        id_s = os.urandom(ID_LEN)
    pair = Pair(id_f, id_s, os.urandom(PS_LEN))
    pair.pairing()  # checks the lengths
    return pair


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1) + "\n"


def write_private(path: str | Path, text: str) -> Path:
    """Write a file readable by its owner only (mode 0600), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pairing-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it the file (15.7)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_doc(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise PairingFileError(f"cannot read pairing file {path}: {e.strerror}") from None
    except ValueError:
        raise PairingFileError(f"pairing file {path} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise PairingFileError(f"pairing file {path}: not a JSON object")
    return doc


def user_pair_docs(id_f: bytes, id_s: bytes, secret: bytes) -> dict[str, dict[str, Any]]:
    """Suite 3's two ``ephkey_pairing.json`` documents (15.10): F's record holds
    the user's secret, S's only says ``"user": true``."""
    Pairing(id_f, id_s, user=secret)  # checks the lengths (8 to 64 bytes)
    return {"first": {"format": FORMAT, "self": id_f.hex(),
                      "peers": [{"id": id_s.hex(), "user": secret.hex()}]},
            "second": {"format": FORMAT, "self": id_s.hex(),
                       "peers": [{"id": id_f.hex(), "user": True}]}}


Secret = tuple[str, bytes]  # ("ps" | "user", bytes; b"" for S's "user": true)


def _secret(p: dict[str, Any]) -> Secret:
    if "user" in p:
        user = p["user"]
        return "user", b"" if user is True else bytes.fromhex(user)
    return "ps", bytes.fromhex(p["ps"])


def _pairing(id_f: bytes, id_s: bytes, secret: Secret) -> Pairing:
    kind, value = secret
    return Pairing(id_f, id_s, user=value) if kind == "user" else Pairing(id_f, id_s, value)


def _records(doc: dict[str, Any], path: str | Path) -> tuple[bytes, list[tuple[bytes, Secret]]]:
    if doc.get("format") != FORMAT:
        raise PairingFileError(f"pairing file {path}: format {doc.get('format')!r}, "
                               f"expected {FORMAT}")
    try:
        me = parse_id(doc["self"], "self")
        peers = [(parse_id(p["id"], "peer id"), _secret(p)) for p in doc["peers"]]
    except (KeyError, TypeError, ValueError) as e:
        raise PairingFileError(f"pairing file {path} is damaged: {e}") from None
    if not peers:
        raise PairingFileError(f"pairing file {path} lists no peer")
    return me, peers


def load_station_file(path: str | Path, role: str) -> list[Pairing]:
    """The pairings a station of ``role`` holds in an ``ephkey_pairing.json`` file."""
    me, peers = _records(read_doc(path), path)
    try:
        if role == "first":
            return [_pairing(me, peer, sec) for peer, sec in peers]
        return [_pairing(peer, me, sec).for_second() for peer, sec in peers]
    except ValueError as e:
        raise PairingFileError(f"pairing file {path}: {e}") from None


def load_any(path: str | Path) -> list[Pairing]:
    """Candidate pairings for an observer (the sniffer).

    Either station's ``ephkey_pairing.json`` (the file does not say which
    station wrote it, so each record is returned both ways round: the REQ's
    ``id_s`` picks the right one), or a pair object
    ``{"id_f": hex, "id_s": hex, "ps": hex}``, or a list of those.
    """
    doc: Any
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise PairingFileError(f"cannot read pairing file {path}: {e.strerror}") from None
    except ValueError:
        raise PairingFileError(f"pairing file {path} is not valid JSON") from None
    try:
        if isinstance(doc, list):
            return [Pairing.from_json(d) for d in doc]
        if isinstance(doc, dict) and "id_f" in doc:
            return [Pairing.from_json(doc)]
    except (KeyError, TypeError, ValueError) as e:
        raise PairingFileError(f"pairing file {path} is damaged: {e}") from None
    if not isinstance(doc, dict):
        raise PairingFileError(f"pairing file {path}: not a pairing file")
    me, peers = _records(doc, path)
    out = []
    try:
        for peer, sec in peers:
            out.append(_pairing(me, peer, sec))
            out.append(_pairing(peer, me, sec))
    except ValueError as e:
        raise PairingFileError(f"pairing file {path}: {e}") from None
    return out


def install_on_board(port: str, doc: dict[str, Any]) -> None:
    """Copy a station's pairing file onto a board with mpremote (``:ephkey_pairing.json``)."""
    from .devices import mpremote

    with tempfile.TemporaryDirectory(prefix="ephkey-pair-") as tmp:
        local = write_private(Path(tmp) / FILENAME, dumps(doc))
        mpremote(port, "fs", "cp", str(local), ":" + FILENAME, timeout=120)
