"""ephkey_host.wire: every frame type's layout and the order of decode checks (4.4 items 1-3)."""

import pytest

from ephkey_host import wire
from ephkey_host.errors import Code, ProtocolError

SID = 0x0123_4567
REQ = wire.build_req(b"I" * 8, b"N" * 16, 0x01)
SRK = wire.build_srk(1, SID, b"F" * 16, 0x1_0002, b"W" * 24)
PROOF = wire.build_proof(1, SID, b"P" * 24)
KEY = wire.build_key(1, SID, b"K" * 24)
DATA = wire.protected_head(wire.DATA, 1, SID, 2, 7) + b"hello" + b"T" * 8
REKEY = wire.protected_head(wire.REKEY, 1, SID, 0, 3) + b"C" * 25 + b"T" * 8
KEY_ACK = wire.protected_head(wire.KEY_ACK, 1, SID, 1, 0) + b"T" * 8
CLOSE = wire.protected_head(wire.CLOSE, 1, SID, 0, 9) + b"\x00" + b"T" * 8
ERROR = wire.build_error(PROOF, Code.BAD_PROOF)


def layout(frame: wire.Frame) -> list[tuple[str, int, int]]:
    return [(f.name, f.offset, f.size) for f in frame.fields]


HEADER = [("ver", 0, 1), ("type", 1, 1), ("suite", 2, 1), ("sid", 3, 4)]


@pytest.mark.parametrize(("raw", "body"), [
    (REQ, [("id_s", 7, 8), ("n_s", 15, 16), ("offer", 31, 1)]),
    (SRK, [("n_f", 7, 16), ("interval", 23, 2), ("wrapped_srk", 25, 24)]),
    (PROOF, [("ct_tag", 7, 24)]),
    (KEY, [("wrapped_idrk", 7, 24)]),
    (DATA, [("kidx", 7, 1), ("seq", 8, 4), ("ciphertext", 12, 5), ("tag", 17, 8)]),
    (REKEY, [("kidx", 7, 1), ("seq", 8, 4), ("ciphertext", 12, 25), ("tag", 37, 8)]),
    (KEY_ACK, [("kidx", 7, 1), ("seq", 8, 4), ("ciphertext", 12, 0), ("tag", 12, 8)]),
    (CLOSE, [("kidx", 7, 1), ("seq", 8, 4), ("ciphertext", 12, 1), ("tag", 13, 8)]),
    (ERROR, [("code", 7, 1)]),
])
def test_layout_of_each_type(raw: bytes, body: list[tuple[str, int, int]]) -> None:
    fr = wire.decode(raw)
    assert layout(fr) == HEADER + body
    assert sum(f.size for f in fr.fields) == len(raw)  # fields tile the frame


def test_field_values() -> None:
    srk = wire.decode(SRK)
    assert (srk.num("ver"), srk.type, srk.suite, srk.sid) == (1, wire.SRK, 1, SID)
    assert srk.num("interval") == 2  # k mod 65536
    assert srk.data("n_f") == b"F" * 16
    data = wire.decode(DATA)
    assert (data.num("kidx"), data.num("seq"), data.data("ciphertext")) == (2, 7, b"hello")
    err = wire.decode(ERROR)
    assert err.num("code") == Code.BAD_PROOF and err.raw[2:7] == PROOF[2:7]
    assert wire.decode(REQ).describe()[4] == {"name": "id_s", "offset": 7, "size": 8,
                                              "value": (b"I" * 8).hex()}


def test_lengths_match_the_table() -> None:
    assert [len(x) for x in (REQ, SRK, PROOF, KEY, REKEY, KEY_ACK, CLOSE, ERROR)] == \
        [32, 49, 31, 31, 45, 20, 21, 8]


def reject(raw: bytes, accepts: frozenset[int] | None = None, max_payload: int = 256) -> tuple:
    with pytest.raises(ProtocolError) as info:
        wire.decode(raw, accepts, max_payload)
    return info.value.code, info.value.field, info.value.sid


F = wire.ACCEPTED_BY_F
S = wire.ACCEPTED_BY_S


# One table for the order of checks: each row breaks several rules, the first wins.
@pytest.mark.parametrize(("raw", "accepts", "want"), [
    (b"", F, (Code.MALFORMED, "header", 0)),
    (DATA[:6], F, (Code.MALFORMED, "header", 0)),
    (b"\x02\x63" + SRK[2:], F, (Code.BAD_VERSION, "ver", SID)),  # bad ver and bad type
    (b"\x01\x63" + SRK[2:-1], F, (Code.BAD_TYPE, "type", SID)),  # bad type and length
    (SRK[:-1], F, (Code.UNEXPECTED, "type", SID)),  # F never accepts SRK, even malformed
    (REQ[:-1], S, (Code.UNEXPECTED, "type", 0)),
    (KEY_ACK + b"x", F, (Code.MALFORMED, "length", SID)),
    (DATA[:19], F, (Code.MALFORMED, "length", SID)),
    (DATA[:12] + bytes(11) + DATA[-8:], F, (Code.MALFORMED, "length", SID)),  # max_payload 10
    (DATA[:8] + b"\x40" + DATA[9:], F, (Code.MALFORMED, "seq", SID)),
    (REQ[:2] + b"\x01" + REQ[3:], F, (Code.MALFORMED, "suite", 0)),
    (REQ[:3] + b"\x00\x00\x00\x05" + REQ[7:], F, (Code.MALFORMED, "sid", 5)),
    (REQ[:31] + b"\x00", F, (Code.MALFORMED, "offer", 0)),
    (REQ[:31] + b"\x80", F, (Code.MALFORMED, "offer", 0)),
    (ERROR + b"\x00", S, (Code.MALFORMED, "length", SID)),
])
def test_order_of_checks(raw: bytes, accepts: frozenset[int], want: tuple) -> None:
    max_payload = 10 if len(raw) == 31 and raw[1] == wire.DATA else 256
    assert reject(raw, accepts, max_payload) == want


def test_roles_accept_what_the_table_says() -> None:
    assert F == {wire.REQ, wire.PROOF, wire.DATA, wire.KEY_ACK, wire.CLOSE, wire.ERROR}
    assert S == {wire.SRK, wire.KEY, wire.DATA, wire.REKEY, wire.CLOSE, wire.ERROR}
    for raw in (REQ, PROOF, DATA, KEY_ACK, CLOSE, ERROR):
        wire.decode(raw, F)
    for raw in (SRK, KEY, DATA, REKEY, CLOSE, ERROR):
        wire.decode(raw, S)


def test_offer_bits() -> None:
    assert wire.suites_to_offer([1]) == 0x01
    assert wire.suites_to_offer([1, 2]) == 0x03
    assert wire.offer_to_suites(0x45) == [1, 3, 7]
    wire.decode(REQ[:31] + b"\x7f")  # all of bits 0..6 is fine


def test_data_payload_bounds() -> None:
    empty = wire.protected_head(wire.DATA, 1, SID, 0, 0) + bytes(8)
    assert wire.decode(empty).data("ciphertext") == b""
    full = wire.protected_head(wire.DATA, 1, SID, 0, 0) + bytes(256 + 8)
    wire.decode(full, F, 256)
    assert reject(full, F, 255)[0] == Code.MALFORMED
