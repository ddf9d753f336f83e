"""ephkey_host.link: docs/link.md sections 2 to 4, vectors and properties."""

from __future__ import annotations

import binascii
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from ephkey_host.link import (
    COUNTER_MODULUS,
    MAX_FRAME,
    RESIDUE,
    LinkDecoder,
    cobs_decode,
    cobs_encode,
    crc_bytes,
    encode_frame,
    wire_size,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "link.json").read_text()
)


def decode(
    stream: bytes,
    max_frame: int = MAX_FRAME,
    resets: list[int] | None = None,
    cuts: list[int] | None = None,
) -> tuple[list[bytes], dict[str, int]]:
    """Feed stream in pieces cut at `cuts`, resetting before each offset in `resets`."""
    resets = resets or []
    dec = LinkDecoder(max_frame)
    frames: list[bytes] = []
    points = sorted(set(cuts or []) | set(resets) | {0, len(stream)})
    for k, p in enumerate(points):
        for _ in range(resets.count(p)):
            dec.reset()
        if k + 1 < len(points):
            frames += dec.feed(stream[p : points[k + 1]])
    return frames, dec.counters.as_dict()


def decode_bytewise(
    stream: bytes, max_frame: int = MAX_FRAME
) -> tuple[list[bytes], dict[str, int]]:
    dec = LinkDecoder(max_frame)
    frames: list[bytes] = []
    for b in stream:
        frames += dec.feed(bytes([b]))
    return frames, dec.counters.as_dict()


# ---------------------------------------------------------------- CRC and COBS


def test_crc_constants() -> None:
    crc = VECTORS["crc"]
    assert binascii.crc32(bytes.fromhex(crc["check_input"])) == crc["check"] == 0xCBF43926
    assert crc["residue"] == RESIDUE
    assert RESIDUE < 2**30  # a small int on a 32-bit MicroPython (docs/link.md 7.1)


@given(st.binary(max_size=400))
def test_crc_residue(frame: bytes) -> None:
    assert binascii.crc32(frame + crc_bytes(frame)) == RESIDUE


@given(st.binary(max_size=1200))
def test_cobs_round_trip(data: bytes) -> None:
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + 1 + max(len(data) - 1, 0) // 254
    assert cobs_decode(enc) == data


def test_cobs_block_boundaries() -> None:
    run = bytes(range(1, 255))  # 254 non-zero bytes
    assert cobs_encode(b"") == b"\x01"
    assert cobs_encode(b"\x00") == b"\x01\x01"
    assert cobs_encode(run) == b"\xff" + run  # canonical: nothing after a final 0xff block
    assert cobs_encode(run + b"\x00") == b"\xff" + run + b"\x01\x01"
    assert cobs_encode(run + b"\x07") == b"\xff" + run + b"\x02\x07"
    assert cobs_decode(b"\xff" + run + b"\x01") == run  # the non-canonical form is accepted


@pytest.mark.parametrize("bad", [b"\x02\x00", b"\x03\x01", b"\x05\x01\x02", b"\x00"])
def test_cobs_decode_rejects(bad: bytes) -> None:
    with pytest.raises(ValueError):
        cobs_decode(bad)


# ---------------------------------------------------------------- transmitter


@pytest.mark.parametrize("v", VECTORS["encode"], ids=lambda v: v["name"])
def test_encode_vectors(v: dict[str, str]) -> None:
    frame = bytes.fromhex(v["frame"])
    assert crc_bytes(frame).hex() == v["crc"]
    wire = encode_frame(frame)
    assert wire.hex() == v["wire"]
    assert len(wire) <= wire_size(len(frame))


def test_worked_example_of_the_spec() -> None:
    assert encode_frame(bytes.fromhex("010f000000000005")) == bytes.fromhex(
        "0003010f010101010605915baa2f00"
    )
    assert encode_frame(b"") == bytes.fromhex("00010101010100")
    assert wire_size(MAX_FRAME) == 284


def test_encode_refuses_long_frames() -> None:
    encode_frame(bytes(MAX_FRAME))
    with pytest.raises(ValueError):
        encode_frame(bytes(MAX_FRAME + 1))
    with pytest.raises(ValueError):
        encode_frame(bytes(9), max_frame=8)


@given(st.binary(max_size=MAX_FRAME))
def test_wire_form_shape(frame: bytes) -> None:
    wire = encode_frame(frame)
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    assert len(wire) <= wire_size(len(frame))


# ---------------------------------------------------------------- receiver vectors


@pytest.mark.parametrize("v", VECTORS["decode"], ids=lambda v: v["name"])
def test_decode_vectors(v: dict[str, Any]) -> None:
    stream = bytes.fromhex(v["stream"])
    want = ([bytes.fromhex(f) for f in v["frames"]], v["counters"])
    assert decode(stream, v["max_frame"], v["resets"]) == want
    # byte at a time
    assert decode(stream, v["max_frame"], v["resets"], cuts=list(range(len(stream)))) == want
    # a few fixed cut patterns
    for step in (2, 7, 33):
        cuts = list(range(0, len(stream), step))
        assert decode(stream, v["max_frame"], v["resets"], cuts=cuts) == want


def test_vectors_cover_every_counter() -> None:
    seen = {name for v in VECTORS["decode"] for name, n in v["counters"].items() if n}
    assert seen == {"frames_ok", "crc_errors", "too_long", "cobs_errors", "runts", "discarded"}
    assert any(v["resets"] for v in VECTORS["decode"])


# ---------------------------------------------------------------- properties

frames_st = st.lists(st.binary(max_size=MAX_FRAME), max_size=8)


@given(frames_st, st.data())
def test_round_trip_in_any_pieces(frames: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(f) for f in frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    got, counters = decode(stream, cuts=cuts)
    assert got == frames
    assert counters == {**counters, "frames_ok": len(frames), "discarded": 0}
    assert decode_bytewise(stream) == (got, counters)


def segment_oracle(stream: bytes, max_frame: int) -> tuple[list[bytes], int, int]:
    """Frames, discarded bytes and rejected segments of a stream that ends with
    0x00 and has no resets: every segment stands alone (docs/link.md 3.3)."""
    frames, discarded, rejected = [], 0, 0
    for seg in stream.split(b"\x00")[:-1]:
        if not seg:
            continue
        try:
            packet = cobs_decode(seg)
        except ValueError:
            packet = None
        if (
            packet is not None
            and 4 <= len(packet) <= max_frame + 4
            and binascii.crc32(packet) == RESIDUE
        ):
            frames.append(packet[:-4])
        else:
            discarded += len(seg)
            rejected += 1
    return frames, discarded, rejected


@settings(max_examples=300)
@given(st.binary(max_size=1500), st.sampled_from([0, 8, 100, MAX_FRAME]), st.data())
def test_random_bytes_never_break_the_decoder(
    noise: bytes, max_frame: int, data: st.DataObject
) -> None:
    stream = noise + b"\x00"
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    frames, counters = decode(stream, max_frame, cuts=cuts)
    want_frames, discarded, rejected = segment_oracle(stream, max_frame)
    assert frames == want_frames
    assert counters["discarded"] == discarded
    errors = sum(counters[k] for k in ("crc_errors", "too_long", "cobs_errors", "runts"))
    assert errors == rejected
    assert decode_bytewise(stream, max_frame) == (frames, counters)


@settings(max_examples=200)
@given(frames_st, st.lists(st.binary(max_size=60), min_size=9, max_size=9))
def test_noise_between_frames(frames: list[bytes], noises: list[bytes]) -> None:
    """Every frame is delivered whatever noise comes before it (its leading
    0x00 ends the noise); noise is counted byte for byte."""
    used = noises[: len(frames)] + noises[-1:]
    stream = b"".join(n + encode_frame(f) for n, f in zip(used[:-1], frames, strict=True))
    stream += used[-1] + b"\x00"
    got, counters = decode(stream)
    want, discarded, rejected = segment_oracle(stream, MAX_FRAME)
    assert got == want
    # the oracle's frames are the sent ones plus any that the noise itself
    # happens to encode (a valid empty frame is only 5 bytes long)
    it = iter(want)
    assert all(any(f == g for g in it) for f in frames)
    assert counters["discarded"] == discarded == sum(len(n) - n.count(0) for n in used)
    errors = sum(counters[k] for k in ("crc_errors", "too_long", "cobs_errors", "runts"))
    assert errors == rejected


damage_st = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 6)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=6)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
)


def apply_damage(wire: bytes, how: tuple[str, int, Any]) -> bytes:
    kind, pos, arg = how
    w = bytearray(wire)
    pos %= len(w)
    if kind == "flip":
        w[pos] ^= 1 << arg
    elif kind == "delete":
        del w[pos : pos + arg]
    elif kind == "insert":
        w[pos + 1 : pos + 1] = arg
    else:
        del w[max(pos, 1) :]
    return bytes(w)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.binary(max_size=MAX_FRAME - 2), st.one_of(st.none(), damage_st)),
        min_size=1,
        max_size=10,
    ),
    st.data(),
)
def test_damaged_frames_are_dropped_and_the_next_clean_one_delivered(
    plan: list[tuple[bytes, Any]], data: st.DataObject
) -> None:
    # the first 2 bytes number each frame: no two frames are equal
    frames = [k.to_bytes(2, "big") + body for k, (body, _) in enumerate(plan)]
    stream = b""
    intact = []
    for f, (_, how) in zip(frames, plan, strict=True):
        wire = encode_frame(f)
        damaged = apply_damage(wire, how) if how is not None else wire
        intact.append(damaged == wire)
        stream += damaged
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    got, counters = decode(stream, cuts=cuts)
    assert counters["frames_ok"] == len(got)
    # delivered frames were sent, in order; every intact one is delivered
    k = 0
    for g in got:
        while k < len(frames) and frames[k] != g:
            assert not intact[k], f"intact frame {k} not delivered"
            k += 1
        assert k < len(frames), "delivered a frame that was never sent"
        k += 1
    assert not any(intact[k:]), "intact frame after the last delivered one lost"
    assert decode_bytewise(stream) == (got, counters)


@given(st.binary(max_size=800), st.lists(st.integers(0, 800), max_size=5), st.data())
def test_resets_anywhere(noise: bytes, resets: list[int], data: st.DataObject) -> None:
    """After resets and noise, a frame with both delimiters intact is delivered."""
    frame = data.draw(st.binary(max_size=MAX_FRAME))
    resets = [r % (len(noise) + 1) for r in resets]
    stream = noise + encode_frame(frame)
    got, counters = decode(stream, resets=resets)
    assert got and got[-1] == frame
    assert counters["frames_ok"] == len(got)
    assert decode(stream, resets=resets, cuts=list(range(len(stream)))) == (got, counters)


def test_too_long_counted_before_the_delimiter() -> None:
    dec = LinkDecoder(8)
    assert dec.feed(b"\x00" + b"\x11" * 30) == []
    assert dec.counters.too_long == 1 and dec.counters.discarded == 30
    dec.feed(b"\x22" * 5)
    assert dec.counters.discarded == 35 and dec.counters.too_long == 1
    assert dec.feed(encode_frame(b"ok")) == [b"ok"]


def test_counters_wrap_at_2_to_the_30() -> None:
    dec = LinkDecoder()
    dec.counters.discarded = COUNTER_MODULUS - 3
    dec.feed(b"\x00\x05\x01\x02\x00")  # a COBS error: a segment of 3 bytes
    assert dec.counters.cobs_errors == 1 and dec.counters.discarded == 0


def test_huge_garbage_is_not_buffered() -> None:
    dec = LinkDecoder()
    dec.feed(b"\x00" + b"\x41" * 1_000_000)
    assert dec.counters.too_long == 1 and dec.counters.discarded == 1_000_000
    assert dec.in_segment == 0
    assert dec.feed(encode_frame(b"after")) == [b"after"]
