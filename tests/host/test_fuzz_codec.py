"""Fuzzing the host codecs with hypothesis: the frame codec (wire.decode),
the link layer (LinkDecoder) and the transcript validator never raise
anything but the documented ProtocolError, whatever bytes they get, and what
they accept is exactly what the spec allows."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from ephkey_host import link, transcript, wire
from ephkey_host.errors import Code, ProtocolError

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

TYPES = sorted(wire.TYPE_NAMES)


def frames() -> st.SearchStrategy[bytes]:
    """Frames that get past the first checks often: byte 0 with version 2
    (mostly) and a type, a sid, an SRK suite byte, then any body."""
    head = st.tuples(st.sampled_from([2, 2, 2, 1, 0, 15]), st.sampled_from(TYPES + [0, 9, 14]),
                     st.integers(0, 2**16 - 1), st.integers(0, 4))
    return st.one_of(
        st.binary(max_size=300),
        st.builds(lambda h, body: bytes([h[0] << 4 | h[1]]) + h[2].to_bytes(2, "big")
                  + bytes([h[3]]) + body, head, st.binary(max_size=290)),
    )


@SETTINGS
@given(frames(), st.sampled_from(["F", "S", None]), st.integers(0, 300))
def test_decode_accepts_or_rejects_with_a_code(raw: bytes, role: str | None,
                                               max_payload: int) -> None:
    accepts = {"F": wire.ACCEPTED_BY_F, "S": wire.ACCEPTED_BY_S, None: None}[role]
    try:
        fr = wire.decode(raw, accepts, max_payload)
    except ProtocolError as e:
        assert isinstance(e.code, Code)
        return
    # accepted: version 2, a known type, for this role, of its length, every byte a field
    assert raw[0] >> 4 == wire.VERSION and fr.type in wire.TYPE_NAMES
    assert accepts is None or fr.type in accepts
    if fr.type == wire.SRK:
        assert len(raw) == wire.SRK_LENGTHS[raw[3]]
    elif fr.type == wire.PROOF:
        assert len(raw) in wire.PROOF_SUITE_OF_LENGTH
    else:
        assert wire.length_ok(fr.type, len(raw), max_payload)
    ver, typ, *rest = fr.fields  # the two nibbles of byte 0, then whole bytes
    assert (ver.name, typ.name) == ("ver", "type") and ver.offset == typ.offset == 0
    covered = bytes([fr.num("ver") << 4 | fr.num("type")]) + b"".join(
        f.value if isinstance(f.value, bytes) else f.value.to_bytes(f.size, "big") for f in rest)
    assert covered == raw
    if fr.type in wire.PROTECTED:
        assert fr.num("seq") < wire.SEQ_LIMIT
    if fr.type == wire.REQ:
        assert 0 < raw[21] <= wire.MAX_OFFER


@SETTINGS
@given(st.lists(st.binary(min_size=0, max_size=276), max_size=6),
       st.lists(st.tuples(st.integers(0, 400), st.binary(max_size=20)), max_size=6),
       st.integers(1, 64))
def test_link_decoder_delivers_exactly_the_intact_frames(frames_in: list[bytes],
                                                         noise: list[tuple[int, bytes]],
                                                         piece: int) -> None:
    stream = bytearray()
    for f in frames_in:
        stream += link.encode_frame(f)
    clean = bytes(stream)
    for at, junk in noise:  # noise between frames, never inside one
        cuts = [i for i in range(len(stream) + 1) if i == 0 or i == len(stream)
                or stream[i - 1] == 0 and (i == len(stream) or stream[i] == 0)]
        i = cuts[at % len(cuts)]
        stream[i:i] = b"\x00" + junk.replace(b"\x00", b"\x01") + b"\x00"
    d = link.LinkDecoder()
    got: list[bytes] = []
    for k in range(0, len(stream), piece):
        got += d.feed(bytes(stream[k:k + piece]))
    # every frame arrives; junk segments only arrive if their CRC happens to match
    intact = [f for f in got if f in frames_in]
    assert intact == frames_in or len(got) >= len(frames_in)
    if not noise:
        assert got == frames_in and link.LinkDecoder().feed(clean) == frames_in


@SETTINGS
@given(st.binary(max_size=2000), st.integers(1, 300))
def test_link_decoder_never_raises_and_bounds_its_buffer(data: bytes, piece: int) -> None:
    d = link.LinkDecoder()
    for k in range(0, len(data), piece):
        for f in d.feed(data[k:k + piece]):
            assert len(f) <= link.MAX_FRAME
    c = d.counters.as_dict()
    assert all(v >= 0 for v in c.values())


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["F2S", "S2F"]), frames()), max_size=12))
def test_transcript_validator_reports_and_never_raises(frames_in: list[tuple[str, bytes]]) -> None:
    rep = transcript.validate(frames_in)
    assert len(rep.checks) == len(frames_in)
    for c in rep.checks:
        assert c.ok or c.code is not None
