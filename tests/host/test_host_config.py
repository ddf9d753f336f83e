"""Configuration rules of 4.1 / 11 and pairing material (8): refused with ValueError."""

import os

import pytest

from ephkey_host import Code, FirstConfig, FirstStation, Pairing, SecondConfig, SecondStation
from ephkey_host.errors import UsageError

P = Pairing(b"F" * 8, b"S" * 8, b"k" * 16)


def test_defaults_are_valid() -> None:
    cfg = FirstConfig()
    assert cfg.min_ring_slots() == 7 and cfg.ring_slots == 8
    SecondConfig()


def test_both_suites_by_default_suite_2_preferred() -> None:
    assert sorted(FirstConfig().suites) == [1, 2] and sorted(SecondConfig().offer) == [1, 2]
    FirstConfig(suites=[1])
    FirstConfig(suites=[2])
    SecondConfig(offer=[2])


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"m": 11}, "m"),
    ({"m": 0}, "m"),
    ({"lifetime_ms": 90_000, "ring_slots": 30}, "lifetime_ms"),
    ({"lifetime_ms": 0}, "lifetime_ms"),
    ({"interval_ms": 0}, "interval_ms"),
    ({"m": 1}, "interval_ms"),  # interval + L > M x L
    ({"interval_ms": 40_001, "ring_slots": 8}, "interval_ms"),
    ({"ring_slots": 6}, "ring_slots"),  # ceil(60000 / 10000) + 1 = 7
    ({"interval_ms": 7_000, "ring_slots": 9}, "ring_slots"),  # ceil(60000/7000) + 1 = 10
    ({"sessions": 0}, "sessions"),
    ({"idrks": 0}, "idrks"),
    ({"idrks": 256}, "idrks"),
    ({"rotate_frames": 0}, "rotate_frames"),
    ({"rekey_tries": 0}, "rekey_tries"),
    ({"idle_ms": 0}, "idle_ms"),
    ({"sessions": 256}, "sessions"),
    ({"confirm_ms": 0}, "confirm_ms"),
    ({"confirm_ms": 300_000}, "confirm_ms"),  # 1 .. idle_ms - 1
    ({"idle_ms": 5_000}, "confirm_ms"),  # the default confirm_ms is not below it
    ({"peer_sessions": 0}, "peer_sessions"),
    ({"peer_sessions": 9}, "peer_sessions"),  # 1 .. sessions
    ({"proof_tries": 0}, "proof_tries"),
    ({"proof_tries": 256}, "proof_tries"),
    ({"out_queue": -1}, "out_queue"),
    ({"max_payload": -1}, "max_payload"),
    ({"max_payload": 65536}, "max_payload"),
    ({"suites": []}, "suites"),
    ({"suites": [4]}, "suites"),  # not a suite of this protocol version
    ({"suites": [1, 4]}, "suites"),
])
def test_first_config_refused(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        FirstConfig(**kwargs)  # type: ignore[arg-type]


def test_edges_accepted() -> None:
    FirstConfig(lifetime_ms=89_999, ring_slots=28)  # ceil(269997 / 10000) + 1
    FirstConfig(m=10, lifetime_ms=1000, interval_ms=9000, ring_slots=3)
    FirstConfig(idrks=255, max_payload=0)
    FirstConfig(confirm_ms=299_999, peer_sessions=8, proof_tries=255, out_queue=1)
    assert FirstConfig().out_queue == 12 and FirstConfig(sessions=2).out_queue == 6
    assert (FirstConfig().confirm_ms, FirstConfig().peer_sessions, FirstConfig().proof_tries) \
        == (10_000, 1, 3)
    assert SecondConfig().out_queue == 4


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"retry_ms": 0}, "retry_ms"),
    ({"max_tries": 0}, "max_tries"),
    ({"out_queue": 0}, "out_queue"),
    ({"offer": []}, "offer"),
    ({"offer": [1, 3]}, "offer"),
    ({"max_payload": 70000}, "max_payload"),
])
def test_second_config_refused(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        SecondConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("id_f", "id_s", "ps"), [
    (b"F" * 7, b"S" * 8, b"k" * 16),
    (b"F" * 8, b"S" * 9, b"k" * 16),
    (b"F" * 8, b"S" * 8, b"k" * 15),
    (b"F" * 8, b"S" * 8, b"k" * 33),
])
def test_pairing_refused(id_f: bytes, id_s: bytes, ps: bytes) -> None:
    with pytest.raises(ValueError):
        Pairing(id_f, id_s, ps)


def test_not_paired() -> None:
    with pytest.raises(UsageError) as info:
        FirstStation(FirstConfig(), [], os.urandom, 0)
    assert info.value.code == Code.NOT_PAIRED
    s = SecondStation(SecondConfig(), None, os.urandom, 0)
    with pytest.raises(UsageError) as info:
        s.connect(0)
    assert info.value.code == Code.NOT_PAIRED


def test_duplicate_pairing_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        FirstStation(FirstConfig(), [P, P], os.urandom, 0)


def test_tick_period_must_cover_the_timers() -> None:
    with pytest.raises(ValueError, match="tick_period"):
        FirstStation(FirstConfig(), [P], os.urandom, 0, tick_period=1 << 20)  # idle 300 s
    FirstStation(FirstConfig(idle_ms=100_000, rotate_ms=100_000), [P], os.urandom, 0,
                 tick_period=1 << 20)
    with pytest.raises(ValueError, match="tick_period"):
        SecondStation(SecondConfig(retry_ms=1 << 19), P, os.urandom, 0, tick_period=1 << 20)
