"""Frame codec (protocol.md section 3).

:func:`decode` turns bytes into a :class:`Frame` (every field with name,
offset, size and value) or raises :class:`~.errors.ProtocolError` with the
code and field of the first rule broken, in the order of section 4.4 items
1-3 (the parts that need no station state). The ``build_*`` functions make
each frame type; they do no crypto, callers pass wrapped/sealed parts.

SRK and PROOF have one layout per suite (3.4, 3.5, 3.9): their length is the
one of the suite their header names, and a suite byte other than 1 or 2 there
is ``BAD_SUITE``, checked before the length (4.4 item 2). Every other type has
one layout for both suites.
"""

from collections.abc import Iterable
from typing import NamedTuple

from .errors import Code, ProtocolError

VERSION = 1

REQ = 1
SRK = 2
PROOF = 3
KEY = 4
DATA = 5
REKEY = 6
KEY_ACK = 7
CLOSE = 8
ERROR = 15

TYPE_NAMES = {
    REQ: "REQ", SRK: "SRK", PROOF: "PROOF", KEY: "KEY", DATA: "DATA",
    REKEY: "REKEY", KEY_ACK: "KEY_ACK", CLOSE: "CLOSE", ERROR: "ERROR",
}

HEADER_LEN = 7
PROT_HEAD_LEN = 12  # header, kidx, seq: the AAD of a protected frame
TAG_LEN = 8
DATA_MIN_LEN = PROT_HEAD_LEN + TAG_LEN
REKEY_PT_LEN = 25
LENGTHS = {REQ: 32, SRK: 49, PROOF: 31, KEY: 31, REKEY: 45, KEY_ACK: 20, CLOSE: 21, ERROR: 8}
LENGTHS_SUITE2 = {SRK: 73, PROOF: 63}  # types whose layout depends on the suite
PROTECTED = frozenset((DATA, REKEY, KEY_ACK, CLOSE))

# Types each role may receive (3.2); the others are UNEXPECTED there.
ACCEPTED_BY_F = frozenset((REQ, PROOF, DATA, KEY_ACK, CLOSE, ERROR))
ACCEPTED_BY_S = frozenset((SRK, KEY, DATA, REKEY, CLOSE, ERROR))

SID_LIMIT = 1 << 30
SEQ_LIMIT = 1 << 30
IMPLEMENTED_SUITES = (1, 2)
SUITED_TYPES = frozenset(LENGTHS_SUITE2)
LAYOUT_SUITES = (1, 2)  # suite bytes that name a layout of SRK and PROOF (4.4 item 2)
MAX_OFFER = 0x7F  # bits above bit 6 are MALFORMED

# (name, offset, size, is_int) of each type's body; protected frames are
# laid out by _protected_layout because their length varies.
_HEADER = (("ver", 0, 1, True), ("type", 1, 1, True), ("suite", 2, 1, True), ("sid", 3, 4, True))
_BODIES: dict[int, tuple[tuple[str, int, int, bool], ...]] = {
    REQ: (("id_s", 7, 8, False), ("n_s", 15, 16, False), ("offer", 31, 1, True)),
    SRK: (("n_f", 7, 16, False), ("interval", 23, 2, True), ("wrapped_srk", 25, 24, False)),
    PROOF: (("ct_tag", 7, 24, False),),
    KEY: (("wrapped_idrk", 7, 24, False),),
    ERROR: (("code", 7, 1, True),),
}
_BODIES_SUITE2: dict[int, tuple[tuple[str, int, int, bool], ...]] = {
    SRK: (("n_f", 7, 16, False), ("interval", 23, 2, True), ("srk_pub", 25, 32, False),
          ("auth", 57, 16, False)),
    PROOF: (("e_pub", 7, 32, False), ("ct_tag", 39, 24, False)),
}


class Field(NamedTuple):
    name: str
    offset: int
    size: int
    value: int | bytes


class Frame:
    """A decoded frame: ``raw`` bytes plus its fields in wire order."""

    __slots__ = ("raw", "fields", "_index")

    def __init__(self, raw: bytes, fields: tuple[Field, ...]):
        self.raw = raw
        self.fields = fields
        self._index = {f.name: f for f in fields}

    def field(self, name: str) -> Field:
        return self._index[name]

    def num(self, name: str) -> int:
        v = self._index[name].value
        assert isinstance(v, int)
        return v

    def data(self, name: str) -> bytes:
        v = self._index[name].value
        assert isinstance(v, bytes)
        return v

    def has(self, name: str) -> bool:
        return name in self._index

    @property
    def type(self) -> int:
        return self.raw[1]

    @property
    def suite(self) -> int:
        return self.raw[2]

    @property
    def sid(self) -> int:
        return int.from_bytes(self.raw[3:7], "big")

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, "type%d" % self.type)

    def describe(self) -> list[dict[str, object]]:
        """Fields as JSON-friendly dicts (bytes as hex)."""
        return [
            {"name": f.name, "offset": f.offset, "size": f.size,
             "value": f.value.hex() if isinstance(f.value, bytes) else f.value}
            for f in self.fields
        ]

    def __repr__(self) -> str:
        return "Frame(%s %s)" % (self.type_name, self.raw.hex())


def _protected_layout(length: int) -> tuple[tuple[str, int, int, bool], ...]:
    n = length - DATA_MIN_LEN
    return (("kidx", 7, 1, True), ("seq", 8, 4, True),
            ("ciphertext", 12, n, False), ("tag", 12 + n, TAG_LEN, False))


def _fields(raw: bytes, layout: Iterable[tuple[str, int, int, bool]]) -> tuple[Field, ...]:
    out = []
    for name, off, size, is_int in layout:
        chunk = raw[off:off + size]
        out.append(Field(name, off, size, int.from_bytes(chunk, "big") if is_int else bytes(chunk)))
    return tuple(out)


def length_ok(ftype: int, length: int, max_payload: int, suite: int = 1) -> bool:
    if ftype == DATA:
        return DATA_MIN_LEN <= length <= DATA_MIN_LEN + max_payload
    if suite == 2 and ftype in SUITED_TYPES:
        return length == LENGTHS_SUITE2[ftype]
    return length == LENGTHS[ftype]


def decode(raw: bytes, accepts: frozenset[int] | None = None, max_payload: int = 256) -> Frame:
    """Check and split one frame.

    Order (4.4 items 1-3): short frame, ``ver``, ``type`` known, type in
    ``accepts`` (UNEXPECTED), for SRK and PROOF a suite byte that names a
    layout (BAD_SUITE), length, then field rules that need no state:
    ``seq`` < 2**30 for protected frames, and REQ's zero suite and sid and
    valid offer.
    """
    raw = bytes(raw)
    if len(raw) < HEADER_LEN:
        raise ProtocolError(Code.MALFORMED, "header", 0)
    sid = int.from_bytes(raw[3:7], "big")
    if raw[0] != VERSION:
        raise ProtocolError(Code.BAD_VERSION, "ver", sid)
    ftype = raw[1]
    if ftype not in TYPE_NAMES:
        raise ProtocolError(Code.BAD_TYPE, "type", sid)
    if accepts is not None and ftype not in accepts:
        raise ProtocolError(Code.UNEXPECTED, "type", sid)
    suite = raw[2]
    if ftype in SUITED_TYPES and suite not in LAYOUT_SUITES:
        raise ProtocolError(Code.BAD_SUITE, "suite", sid)
    if not length_ok(ftype, len(raw), max_payload, suite):
        raise ProtocolError(Code.MALFORMED, "length", sid)
    if ftype in PROTECTED:
        body = _protected_layout(len(raw))
    elif suite == 2 and ftype in SUITED_TYPES:
        body = _BODIES_SUITE2[ftype]
    else:
        body = _BODIES[ftype]
    frame = Frame(raw, _fields(raw, _HEADER + body))
    if ftype in PROTECTED and frame.num("seq") >= SEQ_LIMIT:
        raise ProtocolError(Code.MALFORMED, "seq", sid)
    if ftype == REQ:
        if raw[2] != 0:
            raise ProtocolError(Code.MALFORMED, "suite", sid)
        if sid != 0:
            raise ProtocolError(Code.MALFORMED, "sid", sid)
        offer = raw[31]
        if offer == 0 or offer > MAX_OFFER:
            raise ProtocolError(Code.MALFORMED, "offer", sid)
    return frame


def suites_to_offer(suites: Iterable[int]) -> int:
    mask = 0
    for s in suites:
        mask |= 1 << (s - 1)
    return mask


def offer_to_suites(offer: int) -> list[int]:
    return [b + 1 for b in range(8) if offer >> b & 1]


def header(ftype: int, suite: int, sid: int) -> bytes:
    return bytes((VERSION, ftype, suite)) + sid.to_bytes(4, "big")


def build_req(id_s: bytes, n_s: bytes, offer: int) -> bytes:
    assert len(id_s) == 8 and len(n_s) == 16 and 0 < offer <= MAX_OFFER
    return header(REQ, 0, 0) + id_s + n_s + bytes((offer,))


def srk_head(suite: int, sid: int, n_f: bytes, interval: int) -> bytes:
    """``SRK_frame[0:25]``, the part bound into KEK2."""
    assert len(n_f) == 16
    return header(SRK, suite, sid) + n_f + (interval & 0xFFFF).to_bytes(2, "big")


def build_srk(suite: int, sid: int, n_f: bytes, interval: int, wrapped_srk: bytes) -> bytes:
    assert len(wrapped_srk) == 24
    return srk_head(suite, sid, n_f, interval) + wrapped_srk


def build_proof(suite: int, sid: int, ct_tag: bytes) -> bytes:
    assert len(ct_tag) == 24
    return header(PROOF, suite, sid) + ct_tag


def srk2_head(sid: int, n_f: bytes, interval: int, srk_pub: bytes) -> bytes:
    """Suite 2's ``SRK_frame[0:57]``, the part ``auth`` covers."""
    assert len(srk_pub) == 32
    return srk_head(2, sid, n_f, interval) + bytes(srk_pub)


def build_srk2(sid: int, n_f: bytes, interval: int, srk_pub: bytes, auth: bytes) -> bytes:
    assert len(auth) == 16
    return srk2_head(sid, n_f, interval, srk_pub) + bytes(auth)


def proof2_head(sid: int, e_pub: bytes) -> bytes:
    """Suite 2's ``PROOF_frame[0:39]``, the AAD of its ``ct_tag``."""
    assert len(e_pub) == 32
    return header(PROOF, 2, sid) + bytes(e_pub)


def build_proof2(sid: int, e_pub: bytes, ct_tag: bytes) -> bytes:
    assert len(ct_tag) == 24
    return proof2_head(sid, e_pub) + bytes(ct_tag)


def build_key(suite: int, sid: int, wrapped_idrk: bytes) -> bytes:
    assert len(wrapped_idrk) == 24
    return header(KEY, suite, sid) + wrapped_idrk


def protected_head(ftype: int, suite: int, sid: int, kidx: int, seq: int) -> bytes:
    assert ftype in PROTECTED and 0 <= seq < SEQ_LIMIT
    return header(ftype, suite, sid) + bytes((kidx,)) + seq.to_bytes(4, "big")


def build_error(offending: bytes, code: int) -> bytes:
    """ERROR answering ``offending``: its suite and sid bytes are copied as is."""
    return bytes((VERSION, ERROR)) + bytes(offending[2:7]) + bytes((code,))
