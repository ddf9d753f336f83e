"""tools/frame_faults.py: frame-aware faults for the link simulator, seeded
and independent of how TCP cuts the stream."""

from __future__ import annotations

import random
import socket
import time

import pytest

from ephkey_host.link import LinkDecoder, encode_frame
from frame_faults import FrameFaults
from linksim import LinkSim

pytestmark = pytest.mark.timeout(60)


def stream(n: int, seed: int = 0) -> tuple[list[bytes], bytes]:
    rnd = random.Random(seed)
    frames = [bytes([i & 0xFF]) + rnd.randbytes(rnd.randrange(8, 120)) for i in range(n)]
    return frames, b"".join(encode_frame(f) for f in frames)


def run(model: FrameFaults, data: bytes, piece: int, direction: str = "AB") -> bytes:
    out = bytearray()
    for i in range(0, len(data), piece):
        out += model.transmit(direction, data[i:i + piece], 0.0)
    return bytes(out + model.flush(direction))


def test_same_seed_same_faults_whatever_the_chunking() -> None:
    _, data = stream(300)
    kw: dict[str, float] = {"flip_rate": 0.01, "frame_drop_rate": 0.05, "frame_dup_rate": 0.05,
          "frame_reorder_rate": 0.05, "drop_rate": 0.002, "dup_rate": 0.002}
    def model(seed: int) -> FrameFaults:
        return FrameFaults(seed=seed, flip_rate=kw["flip_rate"],
                           frame_drop_rate=kw["frame_drop_rate"],
                           frame_dup_rate=kw["frame_dup_rate"],
                           frame_reorder_rate=kw["frame_reorder_rate"],
                           drop_rate=kw["drop_rate"], dup_rate=kw["dup_rate"])
    outs = {run(model(7), data, piece) for piece in (1, 3, 64, 1000, len(data))}
    assert len(outs) == 1
    assert run(model(8), data, 64) not in outs


def test_whole_frames_dropped_duplicated_reordered() -> None:
    frames, data = stream(2000)
    m = FrameFaults(seed=3, frame_drop_rate=0.05, frame_dup_rate=0.05, frame_reorder_rate=0.05)
    got = LinkDecoder().feed(run(m, data, 97))
    c = m.counts
    assert c["frames"] == 2000
    # every delivered frame is intact (only whole frames are touched)
    assert set(got) <= set(frames)
    assert len(got) == 2000 - c["frames_dropped"] + c["frames_duplicated"]
    assert 60 < c["frames_dropped"] < 140 and 60 < c["frames_duplicated"] < 140
    assert 60 < c["frames_reordered"] < 140
    order = [frames.index(f) for f in got]
    swaps = sum(1 for a, b in zip(order, order[1:], strict=False) if b < a)
    assert swaps >= c["frames_reordered"] - 5
    assert [e for e in m.log if e[3] == "drop"][:1], m.log[:5]


def test_bit_flips_are_caught_by_the_link_crc() -> None:
    frames, data = stream(2000)
    m = FrameFaults(seed=5, flip_rate=0.01)
    dec = LinkDecoder()
    got = dec.feed(run(m, data, 50))
    assert m.counts["flipped"] > 1000
    assert set(got) <= set(frames)  # nothing corrupted gets through
    lost = 2000 - len(got)
    assert lost > 300 and dec.counters.crc_errors + dec.counters.cobs_errors > 300


def test_line_break_loses_what_is_sent_meanwhile() -> None:
    m = FrameFaults(seed=1)
    m.line_break(1.0, 2.0)
    _, data = stream(3)
    assert m.transmit("AB", data, 0.5) == data
    assert m.transmit("AB", data, 1.5) == b""
    assert m.transmit("BA", data, 2.9) == b""
    assert m.transmit("AB", data, 3.0) == data
    assert m.counts["break_lost"] == 2 * len(data)


def test_noise_without_delimiters_is_passed_on() -> None:
    m = FrameFaults(seed=1, max_hold=100)
    assert m.transmit("AB", b"\x01" * 50, 0) == b""
    assert m.transmit("AB", b"\x01" * 60, 0) == b"\x01" * 110
    assert m.counts["noise_bytes"] == 110


def test_frame_faults_in_a_running_linksim() -> None:
    frames, data = stream(200)
    model = FrameFaults(seed=11, frame_drop_rate=0.1)
    with LinkSim(baud=2_000_000, faults=model) as sim:
        a = socket.create_connection(("127.0.0.1", sim.port_a), timeout=5)
        b = socket.create_connection(("127.0.0.1", sim.port_b), timeout=5)
        time.sleep(0.05)
        a.sendall(data)
        b.settimeout(0.5)
        got = b""
        try:
            while True:
                chunk = b.recv(65536)
                if not chunk:
                    break
                got += chunk
        except TimeoutError:
            pass
        a.close()
        b.close()
    delivered = LinkDecoder().feed(got)
    assert len(delivered) == 200 - model.counts["frames_dropped"]
    assert set(delivered) <= set(frames)
