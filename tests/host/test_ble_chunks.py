"""ephkey_host.ble_chunks: docs/link.md section 5, vectors and properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from ephkey_host.ble_chunks import (
    ATT_MTU_MAX,
    HEADER_LEN,
    WINDOW,
    ChunkReceiver,
    ChunkSender,
    FlowSender,
    ack_field,
)
from ephkey_host.link import MAX_FRAME, LinkDecoder, encode_frame

_DOC = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "link.json").read_text())
VECTORS: list[dict[str, Any]] = _DOC["chunks"]
FLOWS: list[dict[str, Any]] = _DOC["flow"]


def sent_chunks(v: dict[str, Any]) -> list[bytes]:
    sender = ChunkSender(v["mtu"])
    chunks: list[bytes] = []
    acks = v.get("acks") or [0] * len(v["sends"])
    for group, ack in zip(v["sends"], acks, strict=True):
        stream = b"".join(encode_frame(bytes.fromhex(f), v["max_frame"]) for f in group)
        chunks += sender.split(stream, ack)
    return chunks


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_sender_vectors(v: dict[str, Any]) -> None:
    chunks = sent_chunks(v)
    assert [c.hex() for c in chunks] == v["chunks"]
    assert all(len(c) <= v["mtu"] - 3 for c in chunks)


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_receiver_vectors(v: dict[str, Any]) -> None:
    chunks = [bytes.fromhex(c) for c in v["chunks"]]
    receiver = ChunkReceiver(LinkDecoder(v["max_frame"]))
    frames: list[bytes] = []
    for item in v["receive"]:
        frames += receiver.feed(chunks[item] if isinstance(item, int) else bytes.fromhex(item))
    assert [f.hex() for f in frames] == v["frames"]
    assert receiver.counters.as_dict() == v["rx"]
    assert receiver.decoder.counters.as_dict() == v["link"]


def test_vectors_cover_the_three_mtus_loss_and_duplication() -> None:
    assert {v["mtu"] for v in VECTORS} == {23, 185, 247}
    for mtu in (23, 185, 247):
        mine = [v for v in VECTORS if v["mtu"] == mtu]
        assert any(v["rx"]["gaps"] for v in mine)
        assert any(v["rx"]["duplicates"] for v in mine)
        assert any(len(v["sends"][0]) > 1 for v in mine)  # several frames per send
    assert any(len(v["chunks"]) > 256 for v in VECTORS)  # the counter wraps
    assert any(v["rx"]["acks"] for v in VECTORS)  # acknowledgements alone
    assert any(any(v.get("acks", [])) for v in VECTORS)  # acks carried by data chunks


@pytest.mark.parametrize("v", FLOWS, ids=lambda v: v["name"])
def test_flow_vectors(v: dict[str, Any]) -> None:
    fs = FlowSender(v["mtu"], window=v["window"])
    stamp = 0
    outs = []
    for op in v["ops"]:
        if op[0] == "send":
            fs.queue(encode_frame(bytes.fromhex(op[1])))
        elif op[0] == "ack":
            fs.on_ack(op[1])
        else:
            stamp = op[1]
        outs.append([c.hex() for c in fs.take(stamp)])
        assert fs.in_flight <= v["window"]
    assert outs == v["out"]
    assert (fs.in_flight, fs.acked, fs.bad_acks) == (v["in_flight"], v["acked"], v["bad_acks"])


def test_window_and_acks() -> None:
    fs = FlowSender(23)
    fs.queue(encode_frame(bytes(range(1, 120))))
    first = fs.take(5)
    assert len(first) == WINDOW and all(c[1] == 5 for c in first)
    assert fs.take(5) == [] and fs.pending
    assert not fs.on_ack(WINDOW + 1) and fs.bad_acks == 1
    assert fs.on_ack(WINDOW) and fs.in_flight == 0
    assert [c[0] for c in fs.take(0)] == [4, 5, 6]  # 126 wire bytes: 7 chunks
    assert fs.sender.ack_only(9) == bytes([7, 9]) and fs.sender.seq == 7
    assert ack_field(b"\x01") is None and ack_field(b"\x01\x02") == 2


@pytest.mark.parametrize(
    ("mtu", "data", "count"), [(23, 18, 16), (185, 180, 2), (247, 242, 2), (517, 242, 2)]
)
def test_chunk_sizes(mtu: int, data: int, count: int) -> None:
    wire = encode_frame(bytes(range(1, 256)) + bytes(21))
    assert len(wire) == 284
    sender = ChunkSender(mtu)
    chunks = sender.split(wire)
    assert len(chunks) == count
    assert all(len(c) == data + HEADER_LEN for c in chunks[:-1])
    assert [c[0] for c in chunks] == list(range(count))
    assert b"".join(c[HEADER_LEN:] for c in chunks) == wire


def test_mtu_limits() -> None:
    sender = ChunkSender(mtu=185, max_mtu=100)
    assert sender.mtu == 100
    sender.mtu = 517
    assert sender.mtu == 100
    with pytest.raises(ValueError):
        sender.mtu = 22
    with pytest.raises(ValueError):
        ChunkSender(max_mtu=20)
    assert ChunkSender(mtu=1000).mtu == ATT_MTU_MAX == 247


def test_reset_for_a_new_connection() -> None:
    sender = ChunkSender()
    receiver = ChunkReceiver(LinkDecoder())
    first = sender.split(encode_frame(bytes(100)))
    assert receiver.feed(first[0]) == []  # then the connection drops mid-frame
    sender.reset()
    receiver.reset()
    again = sender.split(encode_frame(b"after"))
    assert again[0][0] == 0
    assert [f for c in again for f in receiver.feed(c)] == [b"after"]
    assert receiver.counters.gaps == 0
    assert receiver.decoder.counters.discarded == len(first[0]) - 3


def test_empty_and_header_only_chunks() -> None:
    receiver = ChunkReceiver(LinkDecoder())
    assert receiver.feed(b"") == [] and receiver.counters.empty == 1
    assert receiver.feed(b"\x00") == [] and receiver.counters.empty == 2
    assert receiver.feed(b"\x00\x03") == [] and receiver.counters.acks == 1
    assert receiver.feed(b"\x00\x00\x01") == [] and receiver.counters.chunks == 1
    assert receiver.feed(b"\x00\x00\x01") == [] and receiver.counters.duplicates == 1
    assert receiver.feed(b"\x05\x00\x01") == [] and receiver.counters.gaps == 1
    assert receiver.counters.lost == 4 and receiver.ack == 6


@settings(max_examples=200)
@given(
    st.lists(st.binary(max_size=MAX_FRAME - 2), min_size=1, max_size=8),
    st.sampled_from([23, 24, 100, 185, 247]),
    st.data(),
)
def test_loss_and_duplication(bodies: list[bytes], mtu: int, data: st.DataObject) -> None:
    """Each frame is sent on its own; a frame is delivered exactly when all of
    its chunks arrived, whatever happened to the chunks around it."""
    frames = [k.to_bytes(2, "big") + b for k, b in enumerate(bodies)]
    sender = ChunkSender(mtu)
    per_frame = [sender.split(encode_frame(f)) for f in frames]
    assert sum(map(len, per_frame)) < 256  # no invisible wrap-around in this test
    receiver = ChunkReceiver(LinkDecoder())
    got: list[bytes] = []
    complete = []
    twice = 0
    arrived_total = 0
    for chunks in per_frame:
        arrived = 0
        for c in chunks:
            fate = data.draw(st.sampled_from(["ok", "ok", "ok", "lost", "twice"]))
            if fate == "lost":
                continue
            arrived += 1
            got += receiver.feed(c)
            if fate == "twice":
                twice += 1
                got += receiver.feed(c)
        complete.append(arrived == len(chunks))
        arrived_total += arrived
    assert got == [f for f, ok in zip(frames, complete, strict=True) if ok]
    assert receiver.counters.duplicates == twice
    assert receiver.counters.chunks == arrived_total
    # a loss shows as a gap when a later chunk arrives; trailing losses do not
    assert receiver.counters.lost <= sum(map(len, per_frame)) - arrived_total


@settings(max_examples=100)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=30), st.sampled_from([23, 185, 247]))
def test_many_frames_per_chunk(frames: list[bytes], mtu: int) -> None:
    stream = b"".join(encode_frame(f) for f in frames)
    receiver = ChunkReceiver(LinkDecoder())
    chunks = ChunkSender(mtu).split(stream)
    assert all(len(c) <= mtu - 3 for c in chunks)
    assert [f for c in chunks for f in receiver.feed(c)] == frames
    assert receiver.counters.chunks == len(chunks)
