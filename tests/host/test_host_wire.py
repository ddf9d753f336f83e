"""ephkey_host.wire: every frame type's layout (version 2) and the order of decode
checks (4.4 items 1-3)."""

import pytest

from ephkey_host import wire
from ephkey_host.errors import Code, ProtocolError

SID = 0x4567
REQ = wire.build_req(b"I" * 8, b"N" * 12, 0x01)
SRK1 = wire.build_srk1(SID, b"F" * 12, b"W" * 24)
SRK2 = wire.build_srk2(SID, b"F" * 12, b"P" * 32, b"A" * 16)
PROOF1 = wire.proof_head(SID) + b"C" * 16 + b"T" * 8
PROOF2 = wire.proof_head(SID, b"E" * 32) + b"C" * 16 + b"T" * 8
KEY = wire.build_key(SID, b"K" * 24)
DATA = wire.protected_head(wire.DATA, SID, 2, 7) + b"hello" + b"T" * 8
REKEY = wire.protected_head(wire.REKEY, SID, 0, 3) + b"C" * 25 + b"T" * 8
KEY_ACK = wire.protected_head(wire.KEY_ACK, SID, 1, 0) + b"T" * 8
CLOSE = wire.protected_head(wire.CLOSE, SID, 0, 9) + b"\x00" + b"T" * 8
ERROR = wire.build_error(SID, Code.BAD_PROOF)


def layout(frame: wire.Frame) -> list[tuple[str, int, int]]:
    return [(f.name, f.offset, f.size) for f in frame.fields]


BYTE0 = [("ver", 0, 1), ("type", 0, 1)]
SIDF = [("sid", 1, 2)]


@pytest.mark.parametrize(("raw", "body"), [
    (REQ, [("id_s", 1, 8), ("n_s", 9, 12), ("offer", 21, 1)]),
    (SRK1, SIDF + [("suite", 3, 1), ("n_f", 4, 12), ("wrapped_srk", 16, 24)]),
    (SRK2, SIDF + [("suite", 3, 1), ("n_f", 4, 12), ("srk_pub", 16, 32), ("auth", 48, 16)]),
    (PROOF1, SIDF + [("c", 3, 16), ("t", 19, 8)]),
    (PROOF2, SIDF + [("e_pub", 3, 32), ("c", 35, 16), ("t", 51, 8)]),
    (KEY, SIDF + [("wrapped_idrk", 3, 24)]),
    (DATA, SIDF + [("kidx", 3, 1), ("seq", 4, 4), ("ciphertext", 8, 5), ("tag", 13, 8)]),
    (REKEY, SIDF + [("kidx", 3, 1), ("seq", 4, 4), ("ciphertext", 8, 25), ("tag", 33, 8)]),
    (KEY_ACK, SIDF + [("kidx", 3, 1), ("seq", 4, 4), ("ciphertext", 8, 0), ("tag", 8, 8)]),
    (CLOSE, SIDF + [("kidx", 3, 1), ("seq", 4, 4), ("ciphertext", 8, 1), ("tag", 9, 8)]),
    (ERROR, SIDF + [("code", 3, 1)]),
])
def test_layout_of_each_type(raw: bytes, body: list[tuple[str, int, int]]) -> None:
    fr = wire.decode(raw)
    assert layout(fr) == BYTE0 + body
    assert sum(f.size for f in fr.fields[1:]) == len(raw)  # fields tile the frame


def test_first_byte_and_field_values() -> None:
    assert [x[0] for x in (REQ, SRK1, PROOF1, KEY, DATA, REKEY, KEY_ACK, CLOSE, ERROR)] == \
        [0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x2F]
    srk = wire.decode(SRK2)
    assert (srk.num("ver"), srk.type, srk.suite, srk.sid) == (2, wire.SRK, 2, SID)
    assert srk.data("n_f") == b"F" * 12
    assert wire.decode(PROOF2).suite == 2 and wire.decode(PROOF1).suite == 1
    data = wire.decode(DATA)
    assert (data.num("kidx"), data.num("seq"), data.data("ciphertext")) == (2, 7, b"hello")
    err = wire.decode(ERROR)
    assert err.num("code") == Code.BAD_PROOF and err.sid == SID
    assert wire.decode(REQ).sid == 0
    assert wire.decode(REQ).describe()[2] == {"name": "id_s", "offset": 1, "size": 8,
                                              "value": (b"I" * 8).hex()}


def test_lengths_match_the_table_and_the_handshake_sizes() -> None:
    assert [len(x) for x in (REQ, SRK1, SRK2, PROOF1, PROOF2, KEY, REKEY, KEY_ACK, CLOSE,
                             ERROR)] == [22, 40, 64, 27, 59, 27, 41, 16, 17, 4]
    assert len(REQ) + len(SRK1) + len(PROOF1) + len(KEY) == 116 == wire.HANDSHAKE_BYTES[1]
    assert len(REQ) + len(SRK2) + len(PROOF2) + len(KEY) == 172 == wire.HANDSHAKE_BYTES[2]
    assert len(DATA) - 5 == 16  # DATA overhead


def reject(raw: bytes, accepts: frozenset[int] | None = None, max_payload: int = 256) -> tuple:
    with pytest.raises(ProtocolError) as info:
        wire.decode(raw, accepts, max_payload)
    return info.value.code, info.value.field, info.value.sid


F = wire.ACCEPTED_BY_F
S = wire.ACCEPTED_BY_S


# One table for the order of checks: each row breaks several rules, the first wins.
@pytest.mark.parametrize(("raw", "accepts", "want"), [
    (b"", F, (Code.MALFORMED, "length", 0)),
    (b"\x25", F, (Code.MALFORMED, "length", 0)),  # too short to hold a sid
    (b"\x25\x45", F, (Code.MALFORMED, "length", 0)),
    (b"\x19" + SRK1[1:], F, (Code.BAD_VERSION, "ver", 0)),  # bad ver and bad type
    (b"\x01\x01" + bytes(30), F, (Code.BAD_VERSION, "ver", 0)),  # a version-1 REQ
    (b"\x29" + SRK1[1:-1], F, (Code.BAD_TYPE, "type", 0)),  # bad type and length
    (b"\x20" + SRK1[1:], S, (Code.BAD_TYPE, "type", 0)),
    (SRK1[:-1], F, (Code.UNEXPECTED, "type", SID)),  # F never accepts SRK, even malformed
    (REQ[:-1], S, (Code.UNEXPECTED, "type", 0)),  # REQ has no sid
    (PROOF1[:2], S, (Code.UNEXPECTED, "type", 0)),
    (SRK1[:3], S, (Code.MALFORMED, "length", SID)),
    (SRK1[:3] + b"\x04" + SRK1[4:-1], S, (Code.BAD_SUITE, "suite", SID)),  # suite before length
    (SRK1[:3] + b"\x03" + SRK1[4:], S, (Code.MALFORMED, "length", SID)),  # suite 3's is 80
    (SRK1[:3] + b"\x00", S, (Code.BAD_SUITE, "suite", SID)),
    (SRK1[:3] + b"\x02" + SRK1[4:], S, (Code.MALFORMED, "length", SID)),  # suite 2's length
    (PROOF1 + b"x", F, (Code.MALFORMED, "length", SID)),
    (PROOF2[:-1], F, (Code.MALFORMED, "length", SID)),
    (KEY_ACK + b"x", F, (Code.MALFORMED, "length", SID)),
    (DATA[:15], F, (Code.MALFORMED, "length", SID)),
    (DATA[:8] + bytes(11) + DATA[-8:], F, (Code.MALFORMED, "length", SID)),  # max_payload 10
    (DATA[:4] + b"\x40" + DATA[5:], F, (Code.MALFORMED, "seq", SID)),
    (REQ[:21] + b"\x00", F, (Code.MALFORMED, "offer", 0)),
    (REQ[:21] + b"\x80", F, (Code.MALFORMED, "offer", 0)),
    (ERROR + b"\x00", S, (Code.MALFORMED, "length", SID)),
])
def test_order_of_checks(raw: bytes, accepts: frozenset[int], want: tuple) -> None:
    max_payload = 10 if len(raw) == 27 and raw[0] == 0x25 else 256
    assert reject(raw, accepts, max_payload) == want


def test_roles_accept_what_the_table_says() -> None:
    assert F == {wire.REQ, wire.PROOF, wire.DATA, wire.KEY_ACK, wire.CLOSE, wire.ERROR}
    assert S == {wire.SRK, wire.KEY, wire.DATA, wire.REKEY, wire.CLOSE, wire.ERROR}
    for raw in (REQ, PROOF1, PROOF2, DATA, KEY_ACK, CLOSE, ERROR):
        wire.decode(raw, F)
    for raw in (SRK1, SRK2, KEY, DATA, REKEY, CLOSE, ERROR):
        wire.decode(raw, S)


def test_reserved_types_are_bad_type() -> None:
    for t in [0] + list(range(9, 15)):
        assert reject(bytes((0x20 | t,)) + bytes(20), F)[0] == Code.BAD_TYPE


def test_offer_bits() -> None:
    assert wire.suites_to_offer([1]) == 0x01
    assert wire.suites_to_offer([1, 2]) == 0x03
    assert wire.offer_to_suites(0x45) == [1, 3, 7]
    wire.decode(REQ[:21] + b"\x7f")  # all of bits 0..6 is fine


def test_data_payload_bounds() -> None:
    empty = wire.protected_head(wire.DATA, SID, 0, 0) + bytes(8)
    assert wire.decode(empty).data("ciphertext") == b""
    full = wire.protected_head(wire.DATA, SID, 0, 0) + bytes(256 + 8)
    assert len(full) == 272
    wire.decode(full, F, 256)
    assert reject(full, F, 255)[0] == Code.MALFORMED


def test_error_frame_sid_rule() -> None:
    """3.8: the rejected frame's bytes 1-2, 0 for a REQ or a frame too short."""
    assert wire.build_error_for(PROOF2, 8) == bytes((0x2F,)) + SID.to_bytes(2, "big") + b"\x08"
    assert wire.build_error_for(REQ, 7) == b"\x2f\x00\x00\x07"
    assert wire.build_error_for(PROOF1[:2], 1) == b"\x2f\x00\x00\x01"
