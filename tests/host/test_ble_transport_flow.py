"""The host's BleTransport keeps to the window and acknowledges (docs/link.md 5).

No adapter here: the transport is built without connecting, its bleak client
replaced by a recorder of writes, and notifications are put on its queue as
bleak's callback would.
"""

from __future__ import annotations

import queue
from typing import Any

from ephkey_host.ble_chunks import HEADER_LEN, WINDOW, ChunkReceiver, ChunkSender, FlowSender
from ephkey_host.link import LinkDecoder, encode_frame
from ephkey_host.peer import BleTransport


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []


def transport() -> tuple[BleTransport, Recorder]:
    t: Any = object.__new__(BleTransport)
    rec = Recorder()
    t.name = "board"
    t.max_frame = 276
    t.decoder = LinkDecoder(276)
    t.chunks_in = ChunkReceiver(t.decoder)
    t.flow = FlowSender()
    t._ack_sent = 0
    t.bytes_in = t.bytes_out = 0
    t._q = queue.Queue()
    t._client = object()
    t._write = lambda chunk: rec.writes.append(bytes(chunk))
    return t, rec


def test_a_big_frame_waits_for_the_board():
    t, rec = transport()
    frame = bytes(range(1, 200))
    t.send(frame)
    assert len(rec.writes) == WINDOW  # 12 chunks at MTU 23, 4 let out
    assert t.receive(0.01) == []  # nothing acknowledged: nothing more
    assert len(rec.writes) == WINDOW
    # the board acknowledges 4 (an ack-only chunk, as the firmware sends)
    t._q.put(bytes([0, 4]))
    t.receive(0.01)
    assert [w[0] for w in rec.writes] == list(range(8))
    t._q.put(bytes([0, 12]))  # an ack of chunks never sent: ignored
    t.receive(0.01)
    assert len(rec.writes) == 8 and t.flow.bad_acks == 1
    t._q.put(bytes([0, 8]))
    t.receive(0.01)
    chunks = rec.writes
    assert [w[0] for w in chunks] == list(range(12))
    # the board's receiver gets the frame back whole
    rx = ChunkReceiver(LinkDecoder())
    assert [f for c in chunks for f in rx.feed(c)] == [frame]


def test_what_arrives_is_acknowledged():
    t, rec = transport()
    board = ChunkSender(23)
    chunks = board.split(encode_frame(b"x" * 60))
    for c in chunks:
        t._q.put(c)
    frames = t.receive(0.01)
    assert frames == [b"x" * 60]
    # nothing to send: one chunk that only acknowledges all of them
    assert rec.writes == [bytes([0, len(chunks)])]
    assert len(rec.writes[0]) == HEADER_LEN
    # a reply carries the acknowledgement instead
    t.send(b"reply")
    assert rec.writes[1][1] == len(chunks) and len(rec.writes) == 2
