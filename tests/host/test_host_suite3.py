"""Suite 3 in the host stations (docs/protocol.md 15.10): the user's secret
through CPace, as an online attacker meets it.

Each suite-3 attempt tests one guess of the secret; ten wrong ones make F back
off with the event BACKOFF and answer that id_s's REQs with ERROR(BACKOFF);
the attempts F admits per hour and per day are the figures of section 9.4.
Also the record rules (suite 3 only from a ``user`` record), what S refuses,
and the failures that count.
"""

from __future__ import annotations

import pytest

from ephkey_host import wire
from ephkey_host.config import FirstConfig, Pairing, SecondConfig
from ephkey_host.drbg import Drbg
from ephkey_host.errors import Code, UsageError
from ephkey_host.events import Event
from ephkey_host.first import FirstStation
from ephkey_host.second import SecondStation

ID_F = bytes.fromhex("f3f3f3f3f3f3f301")
ID_S = bytes.fromhex("5353535353535301")
SECRET = b"31827465"
RECORD = Pairing(ID_F, ID_S, user=SECRET)


def first(record: Pairing = RECORD, **kw: int) -> FirstStation:
    return FirstStation(FirstConfig(suites=[3, 2, 1], **kw), [record], Drbg(b"f3"), 0)


def names(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.name, e.arg) for e in events]


class Attempt:
    """One suite-3 attempt of a fresh S (an attacker ignores its own back-off)
    against ``f`` at tick ``t``; ``refused``: F answered the REQ with an ERROR."""

    def __init__(self, f: FirstStation, guess: bytes, t: int, seed: bytes = b"s3") -> None:
        if f.prepare(t):
            f.run_jobs(t)
        s = SecondStation(SecondConfig(offer=[3]), RECORD.for_second(), Drbg(seed + b"%d" % t), t)
        s.connect(t, guess)
        (req,) = s.outputs()
        f.receive(req, t)
        f.run_jobs(t)
        out = f.outputs()
        self.f_events = names(f.events())
        self.refused = bool(out) and out[0][0] == 0x2F
        self.established = False
        if self.refused:
            self.answer = out[0]
            return
        (srk,) = out
        s.receive(srk, t)
        s.run_jobs(t)
        (proof,) = s.outputs()
        f.receive(proof, t)
        f.run_jobs(t)
        (self.answer,) = f.outputs()
        self.f_events += names(f.events())
        s.receive(self.answer, t)
        self.s_events = names(s.events())
        self.established = s.state == "OPEN"


def test_each_attempt_tests_one_guess_and_ten_wrong_ones_start_the_backoff() -> None:
    f = first()
    guesses = [b"%08d" % n for n in range(10_000_000, 10_000_012)] + [SECRET]
    results = []
    for i, guess in enumerate(guesses[:10]):
        a = Attempt(f, guess, 1000 + 10 * i)
        assert not a.refused and not a.established
        assert a.answer == wire.build_error(int.from_bytes(a.answer[1:3], "big"),
                                            Code.WRONG_CODE)
        results.append(a.f_events)
    assert results[0] == [("ERROR", Code.WRONG_CODE), ("HANDSHAKE_FAILED", Code.WRONG_CODE)]
    assert results[:9] == [results[0]] * 9  # one guess per attempt, no back-off yet
    assert results[9] == results[0] + [("BACKOFF", 30_000)]
    assert f.failed_attempts(ID_S) == 10
    # The right secret now waits for the back-off: F refuses the REQ, spends nothing.
    a = Attempt(f, SECRET, 1100)
    assert a.refused and a.answer == wire.build_error(0, Code.BACKOFF)
    assert a.f_events == [("ERROR", Code.BACKOFF)]
    assert f.failed_attempts(ID_S) == 10  # a refused REQ is not an attempt
    a = Attempt(f, SECRET, 1090 + 30_000)  # the tenth failure was at t = 1090
    assert a.established and a.f_events == [("ESTABLISHED", 0)]
    assert f.failed_attempts(ID_S) == 0


def admitted(window_ms: int) -> list[int]:
    """Ticks at which F admits an attacker that tries again as soon as F's
    back-off ends (every guess wrong), within ``window_ms``."""
    f = first()
    t, times = 0, []
    while t < window_ms:
        a = Attempt(f, b"wrong guess", t)
        assert not a.refused
        times.append(t)
        t += max(f.backoff_left(ID_S, t), 1)
    return times


def test_the_figures_of_section_9_4() -> None:
    hour = admitted(3_600_000)
    assert len(hour) == 16
    assert [x // 1000 for x in hour[10:]] == [30, 90, 210, 450, 930, 1890]
    day = admitted(86_400_000)
    assert len(day) == 39
    assert all(b - a == 3_600_000 for a, b in zip(day[17:], day[18:], strict=False))


def test_suite_3_only_from_a_user_record_and_never_from_a_ps_record() -> None:
    ps_record = Pairing(ID_F, ID_S, bytes(range(32)))
    for record, offer, want in ((RECORD, 0x03, Code.BAD_SUITE), (RECORD, 0x07, None),
                                (ps_record, 0x04, Code.BAD_SUITE), (ps_record, 0x07, None)):
        f = first(record)
        f.prepare(0)
        f.run_jobs(0)
        f.receive(wire.build_req(ID_S, bytes(12), offer), 1)
        f.run_jobs(1)
        out = f.outputs()
        if want is None:
            assert len(out) == 1 and out[0][0] == 0x22
            assert out[0][3] == (3 if record is RECORD else 2)
        else:
            assert out == [wire.build_error(0, want)]


def test_what_s_refuses_locally() -> None:
    with pytest.raises(ValueError):
        SecondStation(SecondConfig(offer=[3]), Pairing(ID_F, ID_S, bytes(16)), Drbg(b"s"), 0)
    with pytest.raises(ValueError):
        SecondStation(SecondConfig(offer=[2, 1]), RECORD.for_second(), Drbg(b"s"), 0)
    with pytest.raises(ValueError):
        SecondConfig(offer=[3, 2])
    s = SecondStation(SecondConfig(offer=[3]), RECORD.for_second(), Drbg(b"s"), 0)
    with pytest.raises(UsageError):
        s.connect(0)  # the user's secret is needed
    with pytest.raises(UsageError):
        s.connect(0, b"1234567")  # 7 bytes: too short (8 to 64)
    with pytest.raises(UsageError):
        s.connect(0, b"x" * 65)
    assert s.outputs() == []
    s.connect(0, "ünïcode secret")  # a str is UTF-8
    assert len(s.outputs()) == 1
    assert RECORD.for_second().user == b"" and RECORD.for_second().to_json()["user"] is True


def test_a_wrong_secret_frees_the_slot_at_once_whatever_proof_tries_says() -> None:
    f = first(proof_tries=3)
    a = Attempt(f, b"not the secret", 10)
    assert a.f_events == [("ERROR", Code.WRONG_CODE), ("HANDSHAKE_FAILED", Code.WRONG_CODE)]
    assert all(state == "FREE" for state, _ in f.session_states())
    assert a.s_events == [("PEER_ERROR", Code.WRONG_CODE), ("HANDSHAKE_FAILED", Code.WRONG_CODE)]


def test_slots_that_end_without_a_proof_count_too() -> None:
    """A deadline, a replacement by the peer's next REQ and a local close each
    count one failed attempt (15.10); a REQ refused with NOT_READY does not."""
    f = first()
    s = SecondStation(SecondConfig(offer=[3]), RECORD.for_second(), Drbg(b"s"), 0)
    s.connect(0, SECRET)
    f.receive(s.outputs()[0], 1)  # no key pair yet: NOT_READY
    assert names(f.events()) == [("ERROR", Code.NOT_READY)]
    assert f.failed_attempts(ID_S) == 0
    f.run_jobs(1)
    f.outputs()
    for i, end in enumerate(("deadline", "replaced", "close")):
        s.connect(100_000 * i, SECRET)
        t = 100_000 * i
        if f.prepare(t):
            f.run_jobs(t)
        f.receive(s.outputs()[-1], t)
        f.run_jobs(t)
        (srk,) = f.outputs()
        sid = int.from_bytes(srk[1:3], "big")
        if end == "deadline":
            f.poll(t + f.config.lifetime_ms)
            assert names(f.events()) == [("HANDSHAKE_FAILED", Code.TIMEOUT)]
        elif end == "replaced":
            s.connect(t + 5, SECRET)
            f.receive(s.outputs()[-1], t + 5)
            assert names(f.events()) == []  # silent, as 4.2 step 3 (a) is
            f.run_jobs(t + 6)
            (srk,) = f.outputs()
            sid = int.from_bytes(srk[1:3], "big")
            f.close(sid, t + 7)  # and this one ends by a local close
        else:
            f.close(sid, t + 1)
        assert f.failed_attempts(ID_S) == [1, 3, 4][i]


def test_the_peer_log_names_the_backoff_delay() -> None:
    from ephkey_host.peer import event_record

    assert event_record(Event("BACKOFF", 7, 30_000)) == {"ev": "backoff", "sid": 7, "ms": 30_000}
    assert event_record(Event("HANDSHAKE_FAILED", 7, Code.WRONG_CODE))["code"] == "WRONG_CODE"
