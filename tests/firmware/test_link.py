"""ephkey.link inside MicroPython: vectors, noise, resync, zero allocation.

The CRC runs on two paths: the viper code of ephkey._crc (in use on the unix
port, as on every target board) and its pure-Python twins in ephkey._crc_py
(the fallback of a port without viper). Tests that concern the CRC run on both.

Run from the repository root:
MICROPYPATH=firmware:tests/firmware micropython tests/firmware/mpunit.py test_link
"""

import binascii
import random
import sys

import micropython

from ephkey import link
from ephkey.link import MAX_FRAME, LinkRx, LinkTx, encode_into, wire_size
from jsonstream import items, value

VECTORS = "tests/vectors/link.json"
COUNTERS = ("frames_ok", "crc_errors", "too_long", "cobs_errors", "runts", "discarded")
SMALL_INT_LIMIT_32BIT = 1 << 30  # small ints on a 32-bit board are below this

TWINS_AT_IMPORT = "ephkey._crc_py" in sys.modules

def h(s):
    return bytes.fromhex(s)


def counters(rx):
    return {name: getattr(rx, name) for name in COUNTERS}


def run_locked(fn, arg):
    """Call fn(arg) with the heap locked; return the exception it raised, or None."""
    micropython.heap_lock()
    try:
        fn(arg)
        err = None
    except Exception as e:  # MemoryError when anything allocated
        err = e
    micropython.heap_unlock()
    return err


def python_crc(fn, arg):
    """Call fn(arg) with link.py's pure-Python CRC in place of the viper one."""
    from ephkey import _crc_py

    saved = (link._crc_into, link._residue_ok)
    link._crc_into = _crc_py.crc_into
    link._residue_ok = _crc_py.residue_ok
    try:
        return fn(arg)
    finally:
        link._crc_into, link._residue_ok = saved


def both_crc_paths(fn, arg):
    """fn(arg) on the viper path, then on the pure-Python one: both results."""
    return fn(arg), python_crc(fn, arg)


def le32(v):
    return bytes([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24])


def ref_wire(frame):
    """The wire form of docs/link.md 2.3, written the obvious way (binascii.crc32)."""
    packet = bytes(frame) + le32(binascii.crc32(frame))
    out = bytearray(b"\x00")
    block = bytearray()
    full = False  # the last block written was a full one (code 0xFF)
    for b in packet:
        if b:
            block.append(b)
            full = False
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block = bytearray()
                full = True
        else:
            out.append(len(block) + 1)
            out += block
            block = bytearray()
            full = False
    if not full:  # canonical: nothing after a final full block
        out.append(len(block) + 1)
        out += block
    out.append(0)
    return bytes(out)


def random_frames(seed):
    """Frames of every length 0..300, one at a time: random bytes, and non-zero
    bytes only (full COBS blocks: the output runs closest to the CRC kept at out's
    end). All 602 at once would be 90 KB, most of a board's heap."""
    random.seed(seed)
    for n in range(301):
        yield bytes(random.getrandbits(8) for _ in range(n))
        yield bytes(random.randrange(1, 256) for _ in range(n))


def longest_frames(seed):
    """A random frame and a non-zero one of 300 bytes: their prefixes are frames of
    every length 0..300 (encode_into takes frame[0:n]) that need no allocation."""
    random.seed(seed)
    return [bytes(random.getrandbits(8) for _ in range(300)),
            bytes(random.randrange(1, 256) for _ in range(300))]


def feed_all(rx, data, start, end, frames):
    i = start
    while i >= 0:
        i = rx.feed(data, i, end)
        if i >= 0:
            frames.append(bytes(rx.frame))


def decode_pieces(stream, max_frame, resets, cuts):
    """Feed stream cut at `cuts` (sorted offsets), resetting at `resets`."""
    rx = LinkRx(max_frame)
    frames = []
    points = sorted(set(cuts) | set(resets) | {0, len(stream)})
    for k in range(len(points)):
        p = points[k]
        for _ in range(resets.count(p)):
            rx.reset()
        if k + 1 < len(points):
            feed_all(rx, stream, p, points[k + 1], frames)
    return frames, counters(rx)


def decode_bytewise(stream, max_frame, resets):
    rx = LinkRx(max_frame)
    frames = []
    for i in range(len(stream) + 1):
        for _ in range(resets.count(i)):
            rx.reset()
        if i < len(stream) and rx.feed_byte(stream[i]):
            frames.append(bytes(rx.frame))
    return frames, counters(rx)


# ---------------------------------------------------------------- CRC


def test_crc_constants():
    v = value(VECTORS, "crc")
    assert binascii.crc32(h(v["check_input"])) == v["check"] == 0xCBF43926
    assert v["residue"] == 0x2144DF1C
    # the one CRC value a good frame makes the receiver build is a small int on a board
    assert v["residue"] < SMALL_INT_LIMIT_32BIT
    for n in (0, 1, 7, 100, 276):
        frame = bytes((i * 37 + n) & 0xFF for i in range(n))
        crc = binascii.crc32(frame)
        packet = frame + bytes([crc & 0xFF, (crc >> 8) & 0xFF, (crc >> 16) & 0xFF, crc >> 24])
        assert binascii.crc32(packet) == v["residue"]


def test_viper_crc_is_in_use():
    # The unix port has the viper emitter: the fast path must be the default one.
    assert link.VIPER
    from ephkey import _crc

    assert link._crc_into is _crc.crc_into and link._residue_ok is _crc.residue_ok
    assert not TWINS_AT_IMPORT  # nor their tables built for nothing (python_crc loads them)


def crc_checks(seed):
    """Run link's CRC functions (whichever path is in place) over random_frames(seed)."""
    buf = bytearray(9)
    for frame in random_frames(seed):
        n = len(frame)
        want = le32(binascii.crc32(frame))
        buf[:] = b"\xee" * 9
        # the return value, if any, must not be an int a board would allocate
        assert link._crc_into(frame, n, buf, 3) is None
        assert bytes(buf) == b"\xee" * 3 + want + b"\xee" * 2, n
        # frame[0:n] of a longer buffer, through a memoryview at an offset
        padded = bytearray(b"\x55" + frame + b"\xaa\x00")
        link._crc_into(memoryview(padded)[1:], n, buf, 0)
        assert bytes(buf[0:4]) == want, n
        packet = bytearray(frame + want)
        assert link._residue_ok(packet, len(packet)) is True, n
        packet[random.randrange(len(packet))] ^= 1 << random.randrange(8)
        assert link._residue_ok(packet, len(packet)) is False, n
    return True


def test_both_crc_paths_match_binascii():
    assert both_crc_paths(crc_checks, 7) == (True, True)
    # CRC-32/ISO-HDLC check value, and the residue constant the viper code builds
    v = value(VECTORS, "crc")
    buf = bytearray(4)
    link._crc_into(h(v["check_input"]), 9, buf, 0)
    assert buf == le32(v["check"])
    assert link._residue_ok(h(v["check_input"]) + buf, 13) is True


def encode_frame(frame):
    out = bytearray(wire_size(300))
    # out of exactly wire_size(n): the CRC sits in out's last 4 bytes
    tight = bytearray(wire_size(len(frame)))
    length = encode_into(frame, len(frame), tight)
    assert encode_into(frame, len(frame), out) == length
    assert out[:length] == tight[:length]
    return bytes(tight[:length])


def test_both_crc_paths_encode_like_the_reference():
    for frame in random_frames(8):
        wires = both_crc_paths(encode_frame, frame)
        assert wires[0] == wires[1] == ref_wire(frame), len(frame)


# ---------------------------------------------------------------- transmitter


def test_encode_vectors():
    out = bytearray(wire_size(MAX_FRAME) + 10)
    tx = LinkTx()
    for v in items(VECTORS, "encode"):
        frame = h(v["frame"])
        wire = h(v["wire"])
        n = encode_into(frame, len(frame), out)
        assert bytes(out[:n]) == wire, v["name"]
        assert n <= wire_size(len(frame)), v["name"]
        assert tx.encode(frame) == n and bytes(tx.out[:n]) == wire, v["name"]
        # frame[0:n] of a longer buffer
        padded = bytearray(frame + b"\xaa\x00\x55")
        assert tx.encode(padded, len(frame)) == n and bytes(tx.out[:n]) == wire, v["name"]


def test_worked_example_of_the_spec():
    tx = LinkTx()
    n = tx.encode(h("010f000000000005"))
    assert bytes(tx.out[:n]) == h("0003010f010101010605915baa2f00")
    n = tx.encode(b"")
    assert bytes(tx.out[:n]) == h("00010101010100")


def test_wire_size_is_a_tight_bound():
    random.seed(3)
    out = bytearray(wire_size(600))
    for n in range(0, 600, 7):
        frame = bytes(random.randrange(1, 256) for _ in range(n))
        length = encode_into(frame, n, out)
        assert length <= wire_size(n)
        assert length >= wire_size(n) - 5  # only the CRC's zeros can shorten it
    assert wire_size(MAX_FRAME) == 284


def test_encode_rejects_bad_sizes():
    bad_calls = ((b"abc", 4, bytearray(20)), (b"abc", -1, bytearray(20)), (b"abc", 3, bytearray(9)))
    for args in bad_calls:
        try:
            encode_into(args[0], args[1], args[2])
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r" % (args,))
    # a read-only out is refused before the viper CRC could write into it
    ro = bytes(20)
    try:
        encode_into(b"abc", 3, ro)
    except TypeError:
        pass
    else:
        raise AssertionError("wrote into bytes")
    assert ro == bytes(20)
    tx = LinkTx(8)
    assert len(tx.out) == wire_size(8)
    tx.encode(bytes(8))
    try:
        tx.encode(bytes(9))
    except ValueError:
        pass
    else:
        raise AssertionError("frame above max_frame accepted")


# ---------------------------------------------------------------- receiver vectors


def test_decode_vectors_whole_buffer():
    for v in items(VECTORS, "decode"):
        got = decode_pieces(h(v["stream"]), v["max_frame"], v["resets"], [])
        assert got[0] == [h(f) for f in v["frames"]], v["name"]
        assert got[1] == v["counters"], (v["name"], got[1], v["counters"])


def test_decode_vectors_byte_at_a_time():
    for v in items(VECTORS, "decode"):
        got = decode_bytewise(h(v["stream"]), v["max_frame"], v["resets"])
        assert got[0] == [h(f) for f in v["frames"]], v["name"]
        assert got[1] == v["counters"], (v["name"], got[1], v["counters"])


def test_decode_vectors_random_pieces():
    random.seed(11)
    for v in items(VECTORS, "decode"):
        stream = h(v["stream"])
        for _ in range(3):
            cuts = [random.randrange(len(stream) + 1) for _ in range(random.randrange(1, 12))]
            got = decode_pieces(stream, v["max_frame"], v["resets"], cuts)
            assert got[0] == [h(f) for f in v["frames"]], v["name"]
            assert got[1] == v["counters"], v["name"]


def test_feed_returns_the_index_after_each_frame():
    tx = LinkTx()
    a = tx.encode(b"first")
    wa = bytes(tx.out[:a])
    b = tx.encode(b"second")
    wb = bytes(tx.out[:b])
    stream = wa + wb + b"\x07\x07"
    rx = LinkRx()
    assert rx.feed(stream) == a and bytes(rx.frame) == b"first" and len(rx.frame) == 5
    assert rx.feed(stream, a) == a + b and bytes(rx.frame) == b"second"
    assert rx.feed(stream, a + b) == -1
    assert rx.frames_ok == 2 and rx.discarded == 0


def test_frame_buffer_keeps_its_capacity():
    # frames of every length in a row: frame is emptied and refilled in place
    tx = LinkTx()
    rx = LinkRx()
    for n in list(range(0, MAX_FRAME + 1, 5)) + [MAX_FRAME, 0, MAX_FRAME]:
        frame = bytes((i + n) & 0xFF for i in range(n))
        length = tx.encode(frame)
        assert rx.feed(tx.out, 0, length) == length
        assert rx.frame == frame


# ---------------------------------------------------------------- noise


def make_frames(count, seed):
    random.seed(seed)
    frames = []
    for k in range(count):
        n = random.choice((2, 8, 20, 32, 49, random.randrange(2, MAX_FRAME + 1), MAX_FRAME))
        # the first two bytes number the frame: no two frames are equal
        body = bytes(random.getrandbits(8) for _ in range(n - 2))
        frames.append(bytes([k & 0xFF, k >> 8]) + body)
    return frames


def noise(n):
    return bytes(random.getrandbits(8) for _ in range(n))


def damage(wire):
    """One of: flipped bit, lost bytes, inserted bytes, truncation, lost delimiter."""
    w = bytearray(wire)
    kind = random.randrange(5)
    if kind == 0:
        w[random.randrange(len(w))] ^= 1 << random.randrange(8)
    elif kind == 1:
        cut = random.randrange(len(w))
        w[cut : cut + random.randrange(1, 6)] = b""
    elif kind == 2:
        at = random.randrange(1, len(w))
        w[at:at] = noise(random.randrange(1, 6))
    elif kind == 3:
        w = w[: random.randrange(1, len(w))]
    else:
        w = w[:-1]
    return bytes(w)


def test_noise_never_delivers_a_damaged_frame_and_resyncs():
    tx = LinkTx()
    for seed in range(6):
        frames = make_frames(40, seed)
        random.seed(1000 + seed)
        stream = bytearray()
        intact = []
        for f in frames:
            if random.randrange(3) == 0:
                stream += noise(random.randrange(1, 60))
            n = tx.encode(f)
            wire = bytes(tx.out[:n])
            ok = random.randrange(3) != 0
            stream += wire if ok else damage(wire)
            intact.append(ok)
        stream = bytes(stream)
        got = decode_pieces(stream, MAX_FRAME, [], [])
        delivered = got[0]
        # every delivered frame was sent (never a damaged one); in order; every
        # frame whose wire form arrived intact is among them
        k = 0
        for d in delivered:
            while k < len(frames) and frames[k] != d:
                assert not intact[k], (seed, k)
                k += 1
            assert k < len(frames), (seed, "delivered a frame that was never sent")
            k += 1
        for j in range(k, len(frames)):
            assert not intact[j], (seed, j)
        assert got[1]["frames_ok"] == len(delivered)
        # the same with bytes one at a time and with random pieces
        assert decode_bytewise(stream, MAX_FRAME, []) == got, seed
        cuts = [random.randrange(len(stream)) for _ in range(30)]
        assert decode_pieces(stream, MAX_FRAME, [], cuts) == got, seed


def test_noise_between_frames_is_counted_exactly():
    tx = LinkTx()
    random.seed(99)
    frames = make_frames(30, 5)
    stream = bytearray()
    nonzero = 0
    segments = 0
    for f in frames:
        junk = noise(random.randrange(0, 80))
        stream += junk
        nonzero += len(junk) - junk.count(b"\x00")
        segments += len([s for s in junk.split(b"\x00") if s])
        n = tx.encode(f)
        stream += tx.out[:n]
    frames_got, c = decode_pieces(bytes(stream), MAX_FRAME, [], [])
    assert frames_got == frames
    assert c["discarded"] == nonzero
    assert c["crc_errors"] + c["too_long"] + c["cobs_errors"] + c["runts"] == segments


def test_counters_wrap_at_2_to_the_30():
    rx = LinkRx()
    rx.discarded = SMALL_INT_LIMIT_32BIT - 3
    rx.feed(b"\x00\x05\x01\x02\x00")  # a COBS error: a segment of 3 bytes
    assert rx.cobs_errors == 1 and rx.discarded == 0
    rx.reset()
    rx.crc_errors = SMALL_INT_LIMIT_32BIT - 1
    rx.feed(b"\x00\x05\x01\x02\x03\x04\x00")  # 4 decoded bytes, wrong CRC
    assert rx.crc_errors == 0 and rx.discarded == 5


def test_too_long_is_counted_before_the_delimiter():
    rx = LinkRx(8)
    assert rx.feed(b"\x00" + b"\x11" * 30) == -1
    assert rx.too_long == 1 and rx.discarded == 30
    rx.feed(b"\x22" * 5)
    assert rx.discarded == 35 and rx.too_long == 1


# ---------------------------------------------------------------- allocation


def feed_whole(env):
    rx, streams = env[0], env[1]
    for s in streams:
        i = 0
        while i >= 0:
            i = rx.feed(s, i, len(s))


def feed_bytewise(env):
    rx, streams = env[0], env[1]
    for s in streams:
        for i in range(len(s)):
            rx.feed_byte(s[i])


def feed_noisy(env):
    rx = env[0]
    streams = env[1]
    garbage = env[3]
    bad = env[4]
    rx.feed(garbage, 0, len(garbage))
    rx.reset()
    rx.feed(bad, 0, len(bad))
    for s in streams:
        rx.feed(s, 0, len(s))


def encode_all(env):
    tx, frames = env[2], env[5]
    for f in frames:
        tx.encode(f)


def encode_long(env):
    out, frames = env[6], env[7]
    for f in frames:
        for n in range(len(f) + 1):
            encode_into(f, n, out)


def no_allocation(env):
    """Every feed and encode of env, warmed up and then with the heap locked."""
    rx, streams = env[0], env[1]
    for fn in (feed_whole, feed_bytewise, feed_noisy, encode_all, encode_long):
        fn(env)  # warm up
        before = rx.frames_ok
        err = run_locked(fn, env)
        assert err is None, (fn, err)
        if fn is feed_whole or fn is feed_bytewise or fn is feed_noisy:
            assert rx.frames_ok == before + len(streams), fn
    assert rx.too_long >= 1 and rx.crc_errors + rx.cobs_errors >= 1
    return True


def test_no_allocation_per_byte_or_frame():
    # Module-level functions, arguments in a list: calling a closure with more
    # than 5 cells and arguments allocates in MicroPython itself.
    tx = LinkTx()
    rx = LinkRx()
    frames = make_frames(12, 42)
    streams = []
    for f in frames:
        n = tx.encode(f)
        streams.append(bytes(tx.out[:n]))
    bad = bytearray(streams[3])
    bad[5] ^= 0x10
    garbage = noise(300) + b"\x00" + b"\x33" * 400  # noise, then an overflow
    env = [rx, streams, tx, garbage, bad, frames, bytearray(wire_size(300)), longest_frames(5)]
    assert both_crc_paths(no_allocation, env) == (True, True)


def crc32_32bit_env():
    """A stream of good and damaged frames, and a stand-in for binascii.crc32
    that fails (like an allocation with the heap locked) wherever a 32-bit
    board would return a big int; env[2][0] counts its calls, env[2][1] the
    failures."""
    real = binascii.crc32
    calls = [0, 0]

    def crc32_32bit(data):
        calls[0] += 1
        v = real(data)
        if v >= SMALL_INT_LIMIT_32BIT:
            calls[1] += 1
            raise MemoryError
        return v

    tx = LinkTx()
    frames = make_frames(30, 77)
    stream = bytearray()
    for f in frames:
        n = tx.encode(f)
        w = bytearray(tx.out[:n])
        stream += w
        w[len(w) // 2] ^= 0x01  # a damaged copy: a CRC error (or a COBS one)
        stream += w
    return [bytes(stream), frames, calls, crc32_32bit]


def decode_32bit(env):
    """Decode env's stream with the heap locked and _crc_py._crc32 emulating a board."""
    from ephkey import _crc_py

    stream, frames, calls, crc32_32bit = env[0], env[1], env[2], env[3]
    rx = LinkRx()
    real = _crc_py._crc32
    calls[0] = calls[1] = 0
    _crc_py._crc32 = crc32_32bit
    try:
        err = run_locked(feed_whole, [rx, [stream]])
        got = []
        feed_all(LinkRx(), stream, 0, len(stream), got)
    finally:
        _crc_py._crc32 = real
    assert err is None
    assert got == frames
    assert rx.frames_ok == len(frames)
    assert rx.crc_errors + rx.cobs_errors + rx.runts + rx.too_long == len(frames)
    assert rx.crc_errors > len(frames) // 2
    return rx.crc_errors


def test_32bit_board_crc_emulated_python_path():
    """The fallback receiver: good frames never hit a big int, bad ones are
    counted as CRC errors when the big int cannot be allocated."""
    env = crc32_32bit_env()
    python_crc(decode_32bit, env)
    assert env[2][1] > len(env[1]) // 4  # the MemoryError path did run


def test_32bit_board_crc_viper_path_never_makes_the_int():
    """The viper receiver never asks binascii for the CRC as an int at all."""
    env = crc32_32bit_env()
    errors = decode_32bit(env)
    assert env[2][0] == 0
    # the same CRC errors as the fallback, which does call it
    assert python_crc(decode_32bit, env) == errors and env[2][0] > 0
