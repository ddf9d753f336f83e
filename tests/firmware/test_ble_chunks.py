"""ephkey.ble_chunks inside MicroPython: vectors at MTU 23/185/247, loss,
duplication, acknowledgements and the window, zero allocation per chunk.

Run from the repository root:
MICROPYPATH=firmware:tests/firmware micropython tests/firmware/mpunit.py test_ble_chunks
"""

import micropython

import jsonstream
from ephkey.ble_chunks import HEADER, MTU_MAX, MTU_MIN, WINDOW, ChunkRx, ChunkTx, ack_of
from ephkey.link import MAX_FRAME, LinkRx, LinkTx

VECTORS = "tests/vectors/link.json"
LINK_COUNTERS = ("frames_ok", "crc_errors", "too_long", "cobs_errors", "runts", "discarded")
RX_COUNTERS = ("chunks", "acks", "duplicates", "gaps", "lost", "empty")

def each_case(key, check):
    """check(case) for every case of link.json's array key, parsed one at a time.
    A chunk case takes up to 50 KB of the board's heap parsed; two at once do not
    fit, so a case lives only in check's frame (a loop variable would still hold
    it while the next one is parsed)."""
    for i in range(jsonstream.count(VECTORS, key)):
        check(next(jsonstream.items(VECTORS, key, i, i + 1)))


def h(s):
    return bytes.fromhex(s)


def counters(obj, names):
    return {name: getattr(obj, name) for name in names}


def run_locked(fn, arg):
    micropython.heap_lock()
    try:
        fn(arg)
        err = None
    except Exception as e:
        err = e
    micropython.heap_unlock()
    return err


def send_chunks(ctx, tx, frames, ack=0):
    """The chunks of one send: the wire forms of frames, concatenated."""
    stream = bytearray()
    for f in frames:
        n = tx.encode(f)
        stream += tx.out[:n]
    chunks = []
    i = 0
    while i < len(stream):
        i = ctx.fill(stream, i, len(stream), ack)
        assert len(ctx.chunk) <= ctx.mtu - 3
        chunks.append(bytes(ctx.chunk))
    return chunks


def receive(crx, rx, chunk, frames):
    i = crx.accept(chunk)
    while i >= 0:
        i = rx.feed(chunk, i)
        if i >= 0:
            frames.append(bytes(rx.frame))


def check_sender(v):
    tx = LinkTx(v["max_frame"])
    ctx = ChunkTx(v["mtu"])
    chunks = []
    acks = v.get("acks") or [0] * len(v["sends"])
    for group, ack in zip(v["sends"], acks):
        chunks += send_chunks(ctx, tx, [h(f) for f in group], ack)
    assert chunks == [h(c) for c in v["chunks"]], v["name"]


def test_sender_matches_vectors():
    each_case("chunks", check_sender)


def check_receiver(v, mtus):
    mtus.add(v["mtu"])
    rx = LinkRx(v["max_frame"])
    crx = ChunkRx(rx)
    chunks = [h(c) for c in v["chunks"]]
    frames = []
    for item in v["receive"]:
        chunk = chunks[item] if isinstance(item, int) else h(item)
        receive(crx, rx, chunk, frames)
    assert frames == [h(f) for f in v["frames"]], v["name"]
    assert counters(crx, RX_COUNTERS) == v["rx"], (v["name"], counters(crx, RX_COUNTERS))
    assert counters(rx, LINK_COUNTERS) == v["link"], (v["name"], counters(rx, LINK_COUNTERS))


def test_receiver_matches_vectors():
    mtus = set()
    each_case("chunks", lambda v: check_receiver(v, mtus))
    assert mtus == {23, 185, 247}


def test_chunk_sizes_follow_the_mtu():
    tx = LinkTx()
    frame = bytes(range(1, 256)) + bytes(21)
    for mtu, per_chunk, count in ((23, 18, 16), (185, 180, 2), (247, 242, 2), (517, 242, 2)):
        ctx = ChunkTx(mtu)
        n = tx.encode(frame)
        assert n == 284
        chunks = send_chunks(ctx, tx, [frame])
        assert len(chunks) == count, mtu
        assert all(len(c) - HEADER == per_chunk for c in chunks[:-1]), mtu
        assert [c[0] for c in chunks] == list(range(count))
    ctx = ChunkTx(MTU_MIN, max_mtu=100)
    ctx.set_mtu(185)
    assert ctx.mtu == 100
    for bad in (0, 22):
        try:
            ctx.set_mtu(bad)
        except ValueError:
            pass
        else:
            raise AssertionError("mtu %d accepted" % bad)
    assert MTU_MAX == 247


def test_lost_chunk_discards_only_its_frame():
    tx = LinkTx()
    ctx = ChunkTx(23)
    frames = [bytes([k]) * (30 + 40 * k) for k in range(1, 6)]
    sends = [send_chunks(ctx, tx, [f]) for f in frames]
    for lost_frame in range(len(frames)):
        for lost_chunk in range(len(sends[lost_frame])):
            rx = LinkRx()
            crx = ChunkRx(rx)
            got = []
            for k in range(len(sends)):
                for j in range(len(sends[k])):
                    if (k, j) != (lost_frame, lost_chunk):
                        receive(crx, rx, sends[k][j], got)
            assert got == frames[:lost_frame] + frames[lost_frame + 1 :], (lost_frame, lost_chunk)
            very_last = lost_frame == len(frames) - 1 and lost_chunk == len(sends[-1]) - 1
            if very_last:  # no chunk after it: nothing shows the gap
                assert crx.gaps == 0 and rx.frames_ok == len(frames) - 1
            else:
                assert crx.gaps == 1 and crx.lost == 1


def test_duplicated_chunks_change_nothing():
    tx = LinkTx()
    ctx = ChunkTx(23)
    frames = [b"\x00" * 50, bytes(range(256))[:200], b"x"]
    chunks = []
    for f in frames:
        chunks += send_chunks(ctx, tx, [f])
    rx = LinkRx()
    crx = ChunkRx(rx)
    got = []
    for c in chunks:
        receive(crx, rx, c, got)
        receive(crx, rx, c, got)
    assert got == frames
    assert crx.duplicates == len(chunks) and crx.gaps == 0 and rx.discarded == 0


def test_reset_for_a_new_connection():
    tx = LinkTx()
    ctx = ChunkTx(23)
    first = send_chunks(ctx, tx, [bytes(100)])
    rx = LinkRx()
    crx = ChunkRx(rx)
    got = []
    receive(crx, rx, first[0], got)  # then the connection drops mid-frame
    ctx.reset()
    crx.reset()
    again = send_chunks(ctx, tx, [b"after"])
    assert again[0][0] == 0
    for c in again:
        receive(crx, rx, c, got)
    assert got == [b"after"] and crx.gaps == 0 and rx.discarded == len(first[0]) - 3


def pump(env):
    """Send every wire form in chunks, receive them, a duplicate every 5th chunk."""
    # one assignment each: unpacking more than 3 values builds a tuple
    wires = env[0]
    ctx = env[1]
    crx = env[2]
    rx = env[3]
    state = env[4]
    chunk = ctx.chunk
    for w in wires:
        i = 0
        while i < len(w):
            i = ctx.fill(w, i, len(w))
            state[1] += 1
            j = crx.accept(chunk)
            while j >= 0:
                j = rx.feed(chunk, j)
                if j >= 0:
                    state[0] += 1
            if state[1] % 5 == 0:
                crx.accept(chunk)


def test_no_allocation_per_chunk():
    # Module-level function, arguments in a list: calling a closure with more
    # than 5 cells and arguments allocates in MicroPython itself.
    tx = LinkTx()
    frames = [bytes((k * 13 + i) & 0xFF for i in range(n)) for k, n in enumerate((7, 276, 49, 0))]
    wires = []
    for f in frames:
        n = tx.encode(f)
        wires.append(bytes(tx.out[:n]))
    for mtu in (23, 185, 247):
        rx = LinkRx(MAX_FRAME)
        env = [wires, ChunkTx(mtu), ChunkRx(rx), rx, [0, 0]]
        pump(env)  # warm up
        env[4][0] = 0
        err = run_locked(pump, env)
        assert err is None, (mtu, err)
        assert env[4][0] == len(frames), mtu
        assert env[2].gaps == 0 and env[2].duplicates > 0


def test_empty_and_short_chunks():
    rx = LinkRx()
    crx = ChunkRx(rx)
    assert crx.accept(b"") == -1 and crx.empty == 1
    assert crx.accept(b"\x00") == -1 and crx.empty == 2  # shorter than the header
    assert crx.accept(b"\x00\x07") == -1 and crx.acks == 1 and crx.chunks == 0  # ack alone
    assert ack_of(b"\x00\x07") == 7 and ack_of(b"\x00") == -1
    assert crx.accept(b"\x00\x00\x00") == HEADER and crx.chunks == 1 and crx.ack == 1
    assert crx.accept(b"\x00\x00\x00") == -1 and crx.duplicates == 1
    assert crx.accept(b"\x05\x00\x00\x00", 3) == HEADER and crx.gaps == 1 and crx.lost == 4
    try:
        ChunkTx().fill(b"abc", 3)
    except ValueError:
        pass
    else:
        raise AssertionError("empty chunk made")


def run_flow(v):
    """The sender of docs/link.md 5.2 with the window, op by op (as ble_link's writer)."""
    ctx = ChunkTx(v["mtu"], window=v["window"])
    tx = LinkTx()
    queue = []  # wire forms waiting, and how far each was sent
    stamp = 0
    outs = []
    for op in v["ops"]:
        if op[0] == "send":
            n = tx.encode(h(op[1]))
            queue.append([bytes(tx.out[:n]), 0])
        elif op[0] == "ack":
            ctx.on_ack(op[1])
        else:
            stamp = op[1]
        out = []
        while queue and ctx.can_send():
            w = queue[0]
            w[1] = ctx.fill(w[0], w[1], len(w[0]), stamp)
            out.append(ctx.chunk.hex())
            if w[1] >= len(w[0]):
                queue.pop(0)
        outs.append(out)
    return ctx, outs


def check_flow(v, bad_acks):
    ctx, outs = run_flow(v)
    assert outs == v["out"], v["name"]
    assert (ctx.in_flight(), ctx.acked, ctx.bad_acks) == (
        v["in_flight"], v["acked"], v["bad_acks"]), v["name"]
    bad_acks.append(v["bad_acks"])


def test_flow_vectors():
    bad_acks = []
    each_case("flow", lambda v: check_flow(v, bad_acks))
    assert WINDOW == 4 and len(bad_acks) == jsonstream.count(VECTORS, "flow") and any(bad_acks)


def test_window_counts_and_ack_only():
    ctx = ChunkTx(23)
    data = bytes(range(1, 100))
    i = 0
    sent = 0
    while ctx.can_send():
        i = ctx.fill(data, i, len(data), 9)
        assert ctx.chunk[1] == 9
        sent += 1
    assert sent == WINDOW and ctx.in_flight() == WINDOW
    ctx.ack_only(3)
    assert bytes(ctx.chunk) == bytes((WINDOW, 3)) and ctx.seq == WINDOW  # no seq used
    assert not ctx.on_ack(0)  # nothing new
    assert ctx.on_ack(2) and ctx.in_flight() == 2 and ctx.can_send()
    assert not ctx.on_ack(5) and ctx.bad_acks == 1  # acknowledges chunk 4, never sent
    assert not ctx.on_ack(1) and ctx.bad_acks == 2  # older than what was acknowledged
    ctx.reset()
    assert ctx.seq == 0 and ctx.acked == 0 and ctx.in_flight() == 0
