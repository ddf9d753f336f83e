"""Frame codec of protocol version 2 (protocol.md section 3).

:func:`decode` turns bytes into a :class:`Frame` (every field with name,
offset, size and value) or raises :class:`~.errors.ProtocolError` with the
code, field and sid of the first rule broken, in the order of section 4.4
items 1-3 (the parts that need no station state). The ``build_*`` functions
make each frame type; they do no crypto, callers pass wrapped/sealed parts.

The first byte holds ``ver`` (high nibble, 2) and ``type`` (low nibble); every
type but REQ then has a u16 ``sid``. The suite is on the wire only in REQ's
``offer`` and the SRK frame's ``suite`` byte: an SRK frame's length is the one
of the suite its byte names (40, 64 or 80), a PROOF's layout is told by its
length (27: suite 1, 59: suite 2, 91: suite 3, 15.10).
"""

from collections.abc import Iterable
from typing import NamedTuple

from .errors import Code, ProtocolError

VERSION = 2

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

HEADER_LEN = 3  # byte0, sid: every type but REQ
PROT_HEAD_LEN = 8  # byte0, sid, kidx, seq: the AAD of a protected frame
TAG_LEN = 8
DATA_MIN_LEN = PROT_HEAD_LEN + TAG_LEN
REKEY_PT_LEN = 25
NONCE_LEN = 12  # n_s, n_f
ID_LEN = 8
LENGTHS = {REQ: 22, KEY: 27, REKEY: 41, KEY_ACK: 16, CLOSE: 17, ERROR: 4}
SRK_LENGTHS = {1: 40, 2: 64, 3: 80}
PROOF_LENGTHS = {1: 27, 2: 59, 3: 91}
PROOF_SUITE_OF_LENGTH = {n: s for s, n in PROOF_LENGTHS.items()}
PROTECTED = frozenset((DATA, REKEY, KEY_ACK, CLOSE))
HANDSHAKE_BYTES = {1: 22 + 40 + 27 + 27, 2: 22 + 64 + 59 + 27,  # 116, 172 (3.10)
                   3: 22 + 80 + 91 + 27}  # 220 (15.10)

# Types each role may receive (3.2); the others are UNEXPECTED there.
ACCEPTED_BY_F = frozenset((REQ, PROOF, DATA, KEY_ACK, CLOSE, ERROR))
ACCEPTED_BY_S = frozenset((SRK, KEY, DATA, REKEY, CLOSE, ERROR))

SID_LIMIT = 1 << 16
SEQ_LIMIT = 1 << 30
IMPLEMENTED_SUITES = (1, 2, 3)
MAX_OFFER = 0x7F  # bit 7 set is MALFORMED

SRK2_AUTH_OFFSET = 48  # SRK_frame[0:48] is what suite 2's auth covers
KEK2_HEAD_LEN = 4  # SRK_frame[0:4] (byte0, sid, suite) is bound into KEK2

Layout = tuple[tuple[str, int, int, bool], ...]

# (name, offset, size, is_int) of each type's fields after byte 0.
_SID = (("sid", 1, 2, True),)
_LAYOUTS: dict[int, Layout] = {
    REQ: (("id_s", 1, 8, False), ("n_s", 9, 12, False), ("offer", 21, 1, True)),
    KEY: _SID + (("wrapped_idrk", 3, 24, False),),
    ERROR: _SID + (("code", 3, 1, True),),
}
_SRK_LAYOUTS: dict[int, Layout] = {
    1: _SID + (("suite", 3, 1, True), ("n_f", 4, 12, False), ("wrapped_srk", 16, 24, False)),
    2: _SID + (("suite", 3, 1, True), ("n_f", 4, 12, False), ("srk_pub", 16, 32, False),
               ("auth", 48, 16, False)),
    3: _SID + (("suite", 3, 1, True), ("n_f", 4, 12, False), ("srk_pub", 16, 32, False),
               ("Y_f", 48, 32, False)),
}
_PROOF_LAYOUTS: dict[int, Layout] = {
    1: _SID + (("c", 3, 16, False), ("t", 19, 8, False)),
    2: _SID + (("e_pub", 3, 32, False), ("c", 35, 16, False), ("t", 51, 8, False)),
    3: _SID + (("Y_s", 3, 32, False), ("e_pub", 35, 32, False), ("c", 67, 16, False),
               ("t", 83, 8, False)),
}
LONGEST_HANDSHAKE_FRAME = max(*SRK_LENGTHS.values(), *PROOF_LENGTHS.values())  # 91: suite 3


class Field(NamedTuple):
    name: str
    offset: int
    size: int
    value: int | bytes


def frame_type(raw: bytes) -> int:
    """The low nibble of byte 0 (-1 for an empty frame)."""
    return raw[0] & 0x0F if raw else -1


def error_sid(raw: bytes) -> int:
    """The sid an ERROR event or frame carries for ``raw`` (4.4 item 2, 3.8):
    bytes 1-2 when the type has a sid and the frame holds them, else 0."""
    if len(raw) < 3 or raw[0] >> 4 != VERSION or frame_type(raw) not in TYPE_NAMES \
            or frame_type(raw) == REQ:
        return 0
    return int.from_bytes(raw[1:3], "big")


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
        return self.raw[0] & 0x0F

    @property
    def sid(self) -> int:
        return self.num("sid") if "sid" in self._index else 0

    @property
    def suite(self) -> int:
        """SRK: its suite byte; PROOF: the suite of its layout; else 0."""
        if self.type == SRK:
            return self.raw[3]
        if self.type == PROOF:
            return PROOF_SUITE_OF_LENGTH[len(self.raw)]
        return 0

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


def _protected_layout(length: int) -> Layout:
    n = length - DATA_MIN_LEN
    return _SID + (("kidx", 3, 1, True), ("seq", 4, 4, True),
                   ("ciphertext", 8, n, False), ("tag", 8 + n, TAG_LEN, False))


def _fields(raw: bytes, layout: Iterable[tuple[str, int, int, bool]]) -> tuple[Field, ...]:
    out = [Field("ver", 0, 1, raw[0] >> 4), Field("type", 0, 1, raw[0] & 0x0F)]
    for name, off, size, is_int in layout:
        chunk = raw[off:off + size]
        out.append(Field(name, off, size, int.from_bytes(chunk, "big") if is_int else bytes(chunk)))
    return tuple(out)


def length_ok(ftype: int, length: int, max_payload: int, suite: int = 0) -> bool:
    """``suite`` matters for SRK only (its suite byte)."""
    if ftype == DATA:
        return DATA_MIN_LEN <= length <= DATA_MIN_LEN + max_payload
    if ftype == SRK:
        return length == SRK_LENGTHS.get(suite)
    if ftype == PROOF:
        return length in PROOF_SUITE_OF_LENGTH
    return length == LENGTHS[ftype]


def decode(raw: bytes, accepts: frozenset[int] | None = None, max_payload: int = 256) -> Frame:
    """Check and split one frame.

    Order (4.4 items 1-3): empty frame, ``ver``, ``type`` known, type in
    ``accepts`` (UNEXPECTED), for SRK at least 4 bytes and a suite byte of 1
    to 3 (BAD_SUITE), the length, ``seq`` < 2**30 for protected frames, and
    REQ's ``offer`` (not 0, bit 7 clear).
    """
    raw = bytes(raw)
    if not raw:
        raise ProtocolError(Code.MALFORMED, "length", 0)
    if raw[0] >> 4 != VERSION:
        raise ProtocolError(Code.BAD_VERSION, "ver", 0)
    ftype = raw[0] & 0x0F
    if ftype not in TYPE_NAMES:
        raise ProtocolError(Code.BAD_TYPE, "type", 0)
    sid = error_sid(raw)
    if accepts is not None and ftype not in accepts:
        raise ProtocolError(Code.UNEXPECTED, "type", sid)
    suite = 0
    if ftype == SRK:
        if len(raw) < 4:
            raise ProtocolError(Code.MALFORMED, "length", sid)
        suite = raw[3]
        if suite not in SRK_LENGTHS:
            raise ProtocolError(Code.BAD_SUITE, "suite", sid)
    if not length_ok(ftype, len(raw), max_payload, suite):
        raise ProtocolError(Code.MALFORMED, "length", sid)
    if ftype in PROTECTED:
        layout = _protected_layout(len(raw))
    elif ftype == SRK:
        layout = _SRK_LAYOUTS[suite]
    elif ftype == PROOF:
        layout = _PROOF_LAYOUTS[PROOF_SUITE_OF_LENGTH[len(raw)]]
    else:
        layout = _LAYOUTS[ftype]
    frame = Frame(raw, _fields(raw, layout))
    if ftype in PROTECTED and frame.num("seq") >= SEQ_LIMIT:
        raise ProtocolError(Code.MALFORMED, "seq", sid)
    if ftype == REQ:
        offer = raw[21]
        if offer == 0 or offer > MAX_OFFER:
            raise ProtocolError(Code.MALFORMED, "offer", 0)
    return frame


def suites_to_offer(suites: Iterable[int]) -> int:
    mask = 0
    for s in suites:
        mask |= 1 << (s - 1)
    return mask


def offer_to_suites(offer: int) -> list[int]:
    return [b + 1 for b in range(8) if offer >> b & 1]


def byte0(ftype: int) -> int:
    return VERSION << 4 | ftype


def header(ftype: int, sid: int) -> bytes:
    """``byte0 || u16(sid)``: the 3-byte header of every type but REQ."""
    assert 0 <= sid < SID_LIMIT
    return bytes((byte0(ftype),)) + sid.to_bytes(2, "big")


def build_req(id_s: bytes, n_s: bytes, offer: int) -> bytes:
    assert len(id_s) == ID_LEN and len(n_s) == NONCE_LEN and 0 < offer <= MAX_OFFER
    return bytes((byte0(REQ),)) + bytes(id_s) + bytes(n_s) + bytes((offer,))


def srk_head(suite: int, sid: int, n_f: bytes) -> bytes:
    """``SRK_frame[0:16]``: header, suite, ``n_f`` (its first 4 bytes go into KEK2)."""
    assert len(n_f) == NONCE_LEN and suite in SRK_LENGTHS
    return header(SRK, sid) + bytes((suite,)) + bytes(n_f)


def build_srk1(sid: int, n_f: bytes, wrapped_srk: bytes) -> bytes:
    assert len(wrapped_srk) == 24
    return srk_head(1, sid, n_f) + bytes(wrapped_srk)


def srk2_head(sid: int, n_f: bytes, srk_pub: bytes) -> bytes:
    """Suite 2's ``SRK_frame[0:48]``, what ``auth`` covers."""
    assert len(srk_pub) == 32
    return srk_head(2, sid, n_f) + bytes(srk_pub)


def build_srk2(sid: int, n_f: bytes, srk_pub: bytes, auth: bytes) -> bytes:
    assert len(auth) == 16
    return srk2_head(sid, n_f, srk_pub) + bytes(auth)


def build_srk3(sid: int, n_f: bytes, srk_pub: bytes, y_f: bytes) -> bytes:
    """Suite 3's SRK frame (15.10): no ``auth``, F's CPace share ``Y_f`` instead."""
    assert len(srk_pub) == 32 and len(y_f) == 32
    return srk_head(3, sid, n_f) + bytes(srk_pub) + bytes(y_f)


def proof_head(sid: int, e_pub: bytes | None = None, y_s: bytes | None = None) -> bytes:
    """PROOF's bytes before ``c``: the header, ``Y_s`` in suite 3, ``e_pub`` in
    suites 2 and 3."""
    head = header(PROOF, sid)
    if y_s is not None:
        assert len(y_s) == 32
        head += bytes(y_s)
    if e_pub is not None:
        assert len(e_pub) == 32
        head += bytes(e_pub)
    return head


def build_key(sid: int, wrapped_idrk: bytes) -> bytes:
    assert len(wrapped_idrk) == 24
    return header(KEY, sid) + bytes(wrapped_idrk)


def protected_head(ftype: int, sid: int, kidx: int, seq: int) -> bytes:
    assert ftype in PROTECTED and 0 <= seq < SEQ_LIMIT and 0 <= kidx < 256
    return header(ftype, sid) + bytes((kidx,)) + seq.to_bytes(4, "big")


def build_error(sid: int, code: int) -> bytes:
    return header(ERROR, sid) + bytes((code,))


def build_error_for(offending: bytes, code: int) -> bytes:
    """The ERROR frame answering ``offending`` (3.8: its sid, or 0)."""
    return build_error(error_sid(offending), code)
