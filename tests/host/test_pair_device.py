"""ephkey_host.pair_device: the host's device-pairing machine (spec section 15).

The vectors (tests/vectors/pairing.json) fix every frame and event; these
tests state the behaviour the issue asks for in plain assertions: the same
code pairs and both sides store the same PS; a wrong code fails on both
sides with a clear event; 10 failed attempts start the back-off; a window
that ends disarms.
"""

from __future__ import annotations

import os

import pytest

from ephkey_host import pair_device as pd
from ephkey_host.drbg import Drbg

ID_S, ID_F = b"SECOND01", b"FIRST-01"


def exchange(s: pd.PairingMachine, f: pd.PairingMachine, t: int, rounds: int = 4) -> None:
    for _ in range(rounds):
        for fr in s.outputs():
            f.receive(fr, t)
        for fr in f.outputs():
            s.receive(fr, t)


def names(m: pd.PairingMachine) -> list[tuple[str, int]]:
    return [(e.name, e.arg) for e in m.events()]


def test_same_code_pairs_with_a_fresh_shared_ps() -> None:
    results = set()
    for seed in (b"1", b"2"):
        s = pd.PairingMachine(True, ID_S, "042917", Drbg(b"s" + seed), 0)
        f = pd.PairingMachine(False, ID_F, "042917", Drbg(b"f" + seed), 0)
        exchange(s, f, 10)
        assert names(s) == [("PAIRED", 0), ("DISARMED", pd.OK)]
        assert names(f) == [("PAIRED", 0)]
        assert s.peer_id == ID_F and f.peer_id == ID_S
        assert s.ps is not None and s.ps == f.ps and len(s.ps) == 32
        assert b"042917" not in s.ps
        results.add(s.ps)
        f.poll(10 + pd.LINGER_MS)
        assert names(f) == [("DISARMED", pd.OK)] and not f.armed
    assert len(results) == 2  # fresh randomness, fresh PS


def test_wrong_code_fails_on_both_sides_with_a_clear_event() -> None:
    s = pd.PairingMachine(True, ID_S, "042917", Drbg(b"s"), 0)
    f = pd.PairingMachine(False, ID_F, "042918", Drbg(b"f"), 0)
    exchange(s, f, 10)
    assert names(f) == [("PAIR_FAILED", pd.WRONG_CODE)]
    assert names(s) == [("PEER_ERROR", pd.WRONG_CODE), ("PAIR_FAILED", pd.WRONG_CODE),
                        ("DISARMED", pd.WRONG_CODE)]
    assert f.armed and not s.armed  # F waits for the code typed again
    assert s.ps is None and f.ps is None
    # typed again on S, right this time: F (still armed) pairs
    s2 = pd.PairingMachine(True, ID_S, "042918", Drbg(b"s2"), 20, backoff=s.backoff)
    exchange(s2, f, 20)
    assert ("PAIRED", 0) in names(s2) and names(f) == [("PAIRED", 0)]
    assert s.backoff.fails == 0 and f.backoff.fails == 0  # PAIRED resets the count


def test_ten_failed_attempts_start_the_backoff() -> None:
    f = pd.PairingMachine(False, ID_F, "111111", Drbg(b"f"), 0, window_ms=600_000)
    s_backoff = pd.Backoff()
    t = 0
    for i in range(10):
        s = pd.PairingMachine(True, ID_S, "%06d" % (200000 + i), Drbg(b"s%d" % i), t,
                              backoff=s_backoff)
        exchange(s, f, t)
        evs_f, evs_s = names(f), names(s)
        assert evs_f[0] == ("PAIR_FAILED", pd.WRONG_CODE)
        assert ("PAIR_FAILED", pd.WRONG_CODE) in evs_s
        if i < 9:
            assert len(evs_f) == 1 and ("BACKOFF", 30_000) not in evs_s
        else:  # the tenth
            assert evs_f[1] == ("BACKOFF", 30_000) and ("BACKOFF", 30_000) in evs_s
        t += 100
    assert f.backoff.fails == 10 and s_backoff.fails == 10
    # during the back-off: F answers ERROR(BACKOFF) without any CPace, S refuses to arm
    s = pd.PairingMachine(True, b"SECOND99", "111111", Drbg(b"other"), t)
    hello = s.outputs()[0]
    f.receive(hello, t)
    assert f.outputs() == [pd.error_frame(pd.frame_sid(hello), pd.BACKOFF)]
    assert names(f) == [("ERROR", pd.BACKOFF)]
    s = pd.PairingMachine(True, ID_S, "111111", Drbg(b"late"), t, backoff=s_backoff)
    assert s.outputs() == [] and not s.armed
    assert names(s)[-1] == ("DISARMED", pd.BACKOFF)
    # once it has passed, the right code pairs
    t = 900 + 30_000
    s = pd.PairingMachine(True, ID_S, "111111", Drbg(b"ok"), t, backoff=s_backoff)
    exchange(s, f, t)
    assert ("PAIRED", 0) in names(s) and names(f) == [("PAIRED", 0)]


def test_backoff_grows_to_one_hour() -> None:
    b = pd.Backoff()
    delays = [b.failed(0) for _ in range(20)]  # the delay each failure starts
    assert delays[:9] == [0] * 9
    assert delays[9:17] == [30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000,
                            3_600_000]
    assert set(delays[17:]) == {3_600_000}


def test_window_end_disarms_both() -> None:
    s = pd.PairingMachine(True, ID_S, "042917", Drbg(b"s"), 1000, window_ms=10_000)
    f = pd.PairingMachine(False, ID_F, "042917", Drbg(b"f"), 0, window_ms=10_000)
    hello = s.outputs()
    f.poll(9_999)
    assert f.armed
    f.poll(10_000)
    assert names(f) == [("DISARMED", pd.TIMEOUT)] and not f.armed
    f.receive(hello[0], 10_001)  # too late: NOT_ARMED
    assert f.outputs() == [pd.error_frame(pd.frame_sid(hello[0]), pd.NOT_ARMED)]
    for t in range(2000, 11_000, 1000):
        s.poll(t)
    assert len(s.outputs()) == 9  # PAIR_HELLO sent again every retry_ms
    s.poll(11_000)
    assert names(s) == [("DISARMED", pd.TIMEOUT)] and not s.armed
    s.poll(12_000)
    assert s.outputs() == []


def test_code_checks_and_shown_code() -> None:
    for bad in ("12345", "1234567", "12a456", "", "１２３４５６"):
        with pytest.raises(ValueError):
            pd.check_code(bad)
    codes = {pd.draw_code(os.urandom) for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes) and len(codes) > 190
    # the rejection step: a draw at or above 4294 x 10^6 is drawn again
    draws = iter([b"\xff\xff\xff\xff", (4_293_999_999).to_bytes(4, "big")])
    assert pd.draw_code(lambda n: next(draws)) == "999999"


def test_record_keeps_other_peers_at_first_and_one_at_second() -> None:
    doc = pd.record(None, False, ID_F, b"SECOND01", b"\x01" * 32)
    doc = pd.record(doc, False, ID_F, b"SECOND02", b"\x02" * 32)
    doc = pd.record(doc, False, ID_F, b"SECOND01", b"\x03" * 32)
    assert doc["self"] == ID_F.hex()
    assert doc["peers"] == [{"id": b"SECOND02".hex(), "ps": "02" * 32},
                            {"id": b"SECOND01".hex(), "ps": "03" * 32}]
    doc = pd.record(doc, True, ID_S, ID_F, b"\x04" * 32)
    assert doc["peers"] == [{"id": ID_F.hex(), "ps": "04" * 32}]
    full = {"peers": [{"id": "%016x" % i, "ps": "00" * 32} for i in range(pd.MAX_PEERS)]}
    with pytest.raises(ValueError):
        pd.record(full, False, ID_F, b"NEWPEER1", b"\x05" * 32)


class Loopback:
    """A transport whose other end is a pairing machine (peer.SerialTransport's interface)."""

    def __init__(self, peer: pd.PairingMachine, now: object) -> None:
        self.peer = peer
        self.now = now
        self.pending: list[bytes] = []
        self.sent: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)
        self.peer.receive(frame, self.now())  # type: ignore[operator]
        self.pending += self.peer.outputs()

    def receive(self, timeout: float) -> list[bytes]:
        out, self.pending = self.pending, []
        return out


def test_run_loop_until_disarmed() -> None:
    clock = [0]

    def now() -> int:
        clock[0] += 7
        return clock[0]

    f = pd.PairingMachine(False, ID_F, "042917", Drbg(b"f"), 0)
    s = pd.PairingMachine(True, ID_S, "042917", Drbg(b"s"), 0)
    wire = Loopback(f, now)
    seen: list[str] = []
    pd.run(s, wire, lambda e: seen.append(e.name), now)
    assert seen == ["PAIRED", "DISARMED"] and not s.armed
    assert [fr[0] for fr in wire.sent] == [0x29, 0x2B]
    assert s.ps == f.ps is not None


def test_vectors_file_is_what_the_generator_writes() -> None:
    """tests/vectors/pairing.json is current: the generator (host code) rewrites it
    byte for byte, and the host replays it (``ephkey vectors`` does the same)."""
    import json

    import make_pairing_vectors
    from ephkey_host import pair_vectors

    doc = make_pairing_vectors.build()
    text = json.dumps(doc, indent=1) + "\n"
    assert make_pairing_vectors.VECTORS.read_text() == text
    n, bad = pair_vectors.check(doc)
    assert n == 13 and bad == []
