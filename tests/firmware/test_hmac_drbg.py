"""ephkey.hmac_drbg inside MicroPython: NIST CAVP vectors, the seeding budget and
reseed schedule, a failing raw source stopping key generation, the ESP32 radio.

Vectors: tests/vectors/hmac_drbg_sha256.json (NIST CAVP HMAC_DRBG [SHA-256]
cases, copied unchanged by tools/cavp_hmac_drbg.py).
"""

import gc
import json
import os
import sys

try:
    from os import urandom
except ImportError:  # the emulated board has no hardware RNG: its host-fed source
    from emu import urandom

from ephkey.hmac_drbg import (
    MIX_BYTES,
    RESEED_BYTES,
    RESEED_EVERY,
    SEED_ENTROPY,
    SEED_NONCE,
    Esp32Radio,
    HmacDrbg,
    SeededRng,
    station_rng,
)
from ephkey.rng_health import HealthyRng, RngFailure

VECTORS = "tests/vectors/hmac_drbg_sha256.json"
_doc = None


def doc():
    global _doc
    if _doc is None:
        with open(VECTORS) as f:
            _doc = json.load(f)
    return _doc


def h(s):
    return bytes.fromhex(s)


def run_case(c):
    d = HmacDrbg(h(c["entropy"]), h(c["nonce"]), h(c["personalization"]))
    if "entropy_reseed" in c:
        d.reseed(h(c["entropy_reseed"]), h(c["additional_reseed"]))
    n = len(c["returned"]) // 2
    d.generate(n, h(c["additional"][0]))
    return d.generate(n, h(c["additional"][1]))


def test_cavp_vectors():
    cases = doc()["cases"]
    kinds = set()
    combos = set()
    for c in cases:
        assert run_case(c).hex() == c["returned"], (c["file"], c["line"])
        kinds.add(c["file"].split("/")[0])
        combos.add((c["params"]["PersonalizationStringLen"], c["params"]["AdditionalInputLen"]))
    assert kinds == {"drbgvectors_pr_false", "drbgvectors_no_reseed"}
    assert combos == {("0", "0"), ("0", "256"), ("256", "0"), ("256", "256")}
    assert len(cases) == 10


def test_cavp_internal_states():
    c = doc()["cases"][doc()["states"]["case"]]
    steps = doc()["states"]["steps"]
    d = HmacDrbg(h(c["entropy"]), h(c["nonce"]), h(c["personalization"]))
    seen = [("INSTANTIATE", bytes(d.key), bytes(d.v))]
    d.reseed(h(c["entropy_reseed"]))
    seen.append(("RESEED", bytes(d.key), bytes(d.v)))
    d.generate(128)
    seen.append(("GENERATE (FIRST CALL)", bytes(d.key), bytes(d.v)))
    out = d.generate(128)
    seen.append(("GENERATE (SECOND CALL)", bytes(d.key), bytes(d.v)))
    for step, key, v in seen:
        assert key.hex() == steps[step]["Key"], step
        assert v.hex() == steps[step]["V"], step
    assert out.hex() == c["returned"]
    assert d.reseed_counter == 3


def test_a_wrong_drbg_fails_the_vectors():
    # the vectors can fail: one bit of the entropy changed changes the output
    c = dict(doc()["cases"][0])
    e = bytearray(h(c["entropy"]))
    e[0] ^= 1
    c["entropy"] = e.hex()
    assert run_case(c).hex() != doc()["cases"][0]["returned"]


def test_generate_lengths_and_limits():
    d = HmacDrbg(bytes(32), bytes(16))
    for n in (0, 1, 31, 32, 33, 100):
        assert len(d.generate(n)) == n
    for bad in (-1, 65537):
        try:
            d.generate(bad)
        except ValueError:
            pass
        else:
            raise AssertionError("request of %d bytes accepted" % bad)
    d.wipe()
    assert d.key == bytearray(32) and d.v == bytearray(32)


class Counting:
    """A raw source that logs the size of every read (good random bytes)."""

    def __init__(self):
        self.reads = []

    def __call__(self, n):
        self.reads.append(n)
        return urandom(n)


def test_seeding_budget():
    src = Counting()
    rng = SeededRng(HealthyRng(src))
    assert src.reads == [1024, SEED_ENTROPY + SEED_NONCE]  # start-up test, then instantiate
    assert SEED_ENTROPY * 4 == 256 and SEED_NONCE * 4 == 128  # 4 bits per raw byte claimed
    assert RESEED_BYTES * 4 == 256
    assert rng.raw_drawn == 96 and rng.seeds == 1
    out = rng(32)
    assert len(out) == 32 and src.reads[2:] == [MIX_BYTES]


class Recorded:
    """A raw source that keeps every byte it returned, in order."""

    def __init__(self):
        self.out = []

    def __call__(self, n):
        b = urandom(n)
        self.out.append(b)
        return b


def test_requests_follow_sp800_90a_with_the_mixes_pooled_into_the_reseed():
    # the schedule spelled out on a bare HmacDrbg: instantiate from the seed,
    # each request a generate with no additional_input, each reseed with the
    # SHA-256 of the requests' 16-byte health-tested raw draws as additional_input
    import hashlib

    src = Recorded()
    rng = SeededRng(HealthyRng(src), reseed_every=3)
    got = [rng(n) for n in (94, 32, 12, 50, 7)]
    raw = src.out[1:]  # after the start-up test's 1024 bytes
    seed = raw.pop(0)
    ref = HmacDrbg(seed[:SEED_ENTROPY], seed[SEED_ENTROPY:])
    pool = hashlib.sha256()
    want = []
    for i, n in enumerate((94, 32, 12, 50, 7)):
        if i and i % 3 == 0:
            ref.reseed(raw.pop(0), pool.digest())
            pool = hashlib.sha256()
        mix = raw.pop(0)
        assert len(mix) == MIX_BYTES
        pool.update(mix)
        want.append(ref.generate(n))
    assert got == want and not raw


def test_a_request_costs_2_plus_ceil_n_over_32_hmacs():
    # the draw of a suite-1 REQ at F (94 bytes) was 11 HMACs (22 SHA-256
    # digests) when each request passed its raw bytes as additional_input
    import ephkey.hmac_drbg as mod

    real = mod.hashlib
    digests = [0]

    class Sha:
        def __init__(self, data=b""):
            self.h = real.sha256(data)

        def update(self, data):
            self.h.update(data)

        def digest(self):
            digests[0] += 1
            return self.h.digest()

    class Counted:
        sha256 = Sha

    rng = SeededRng(HealthyRng(urandom))
    mod.hashlib = Counted
    try:
        for n, hmacs in ((94, 5), (32, 3), (12, 3), (64, 4)):
            digests[0] = 0
            assert len(rng(n)) == n
            assert digests[0] == 2 * hmacs, (n, digests[0])
    finally:
        mod.hashlib = real


def test_heap_stays_flat_over_draws_and_reseeds():
    # the stations' soak (test_soak) draws from tests' deterministic Drbg; this is
    # the DRBG's own part: its state is fixed, whatever the draws and reseeds
    rng = SeededRng(HealthyRng(urandom), reseed_every=8)
    free = []
    for _ in range(6):
        for n in (4, 16, 32, 16, 16, 16, 32, 16):  # one reseed period of station draws
            assert len(rng(n)) == n
        gc.collect()
        free.append(gc.mem_free())
    assert rng.seeds == 6 and rng.requests == 48
    assert max(free[1:]) - min(free[1:]) <= 64, free


def test_reseed_schedule_is_predictable():
    src = Counting()
    every = 5
    rng = SeededRng(HealthyRng(src), reseed_every=every)
    del src.reads[:2]
    requests = 23
    for _ in range(requests):
        rng(16)
    expected = []
    for i in range(requests):  # before request i+1: a reseed once `every` requests went by
        if i and i % every == 0:
            expected.append(RESEED_BYTES)
        expected.append(MIX_BYTES)
    assert src.reads == expected, src.reads
    assert rng.seeds == 1 + rng.reseeds_before(requests) == 1 + 4
    assert rng.raw_drawn == 96 + 16 * requests + 64 * 4
    assert RESEED_EVERY == 64  # the default the budget in the module text states


class Breakable:
    """Good random bytes until ``after`` more bytes were read, then a stuck source."""

    def __init__(self, after=-1):
        self.after = after
        self.read = 0

    def __call__(self, n):
        self.read += n
        if self.after >= 0 and self.read > self.after:
            return bytes(n)
        return urandom(n)


def test_raw_failure_stops_key_generation_at_the_next_draw():
    src = Breakable()
    rng = SeededRng(HealthyRng(src), reseed_every=1000)
    rng(16)
    src.after = src.read  # from now on the source is stuck: the DRBG state alone could go on
    failed = 0
    for _ in range(3):
        try:
            rng(16)
        except RngFailure as e:
            failed += 1
            assert "repetition" in str(e) or "repeated" in str(e), e
    assert failed == 3 and rng.failed  # latched: every later request refused


def test_raw_failure_at_reseed_stops_key_generation():
    # a source that fails only on a seed-sized read: caught at the scheduled reseed
    class BadSeeds:
        def __init__(self):
            self.seeding = False

        def __call__(self, n):
            return bytes(n) if n == RESEED_BYTES else urandom(n)
    rng = SeededRng(HealthyRng(BadSeeds()), reseed_every=3)
    for _ in range(3):
        rng(16)
    try:
        rng(16)
    except RngFailure:
        pass
    else:
        raise AssertionError("a stuck reseed was accepted")
    try:
        rng(1)
        raise AssertionError("failure did not latch")
    except RngFailure:
        pass


def test_start_up_failure_stops_everything():
    try:
        station_rng(lambda n: bytes(n))
    except RngFailure as e:
        assert "repetition" in str(e), e
    else:
        raise AssertionError("a stuck source passed the start-up test")


def test_output_is_not_the_raw_stream():
    # a deterministic raw source: the DRBG output is none of its bytes in order
    from drbg import Drbg
    raw = Drbg(b"raw")
    twin = Drbg(b"raw")
    rng = SeededRng(HealthyRng(raw))
    twin(1024 + 96 + 16)
    out = rng(32)
    assert out != twin(32)
    rng2 = SeededRng(HealthyRng(Drbg(b"raw")))
    assert rng2(32) == out  # same raw bytes, same DRBG output: deterministic given its seed


class FakeWlan:
    def __init__(self, net):
        self.net = net

    def active(self, *a):
        if a:
            self.net.log.append(bool(a[0]))
            self.net.on = bool(a[0])
        return self.net.on


class FakeNetwork:
    """A stand-in ``network`` module: WLAN(STA_IF).active([bool]) as on the esp32 port."""

    STA_IF = 0

    def __init__(self, on=False):
        self.on = on
        self.log = []

    def WLAN(self, which):  # noqa: N802 - the module's name
        assert which == self.STA_IF
        return FakeWlan(self)


class RadioChecked:
    """Raw source that records whether the radio was on for each read."""

    def __init__(self, net):
        self.net = net
        self.reads = []

    def __call__(self, n):
        self.reads.append((n, self.net.on))
        return urandom(n)


def test_esp32_radio_is_on_while_seeding():
    net = FakeNetwork()
    src = RadioChecked(net)
    rng = station_rng(src, "esp32", Esp32Radio(net))
    for _ in range(RESEED_EVERY + 1):
        rng(16)
    seeds = [on for n, on in src.reads if n != MIX_BYTES]
    mixes = [on for n, on in src.reads if n == MIX_BYTES]
    # start-up test, instantiate, one reseed: radio on; the 16-byte mixes: off
    assert [n for n, _ in src.reads if n != MIX_BYTES] == [1024, 96, 64]
    assert seeds == [True, True, True] and not any(mixes)
    assert net.on is False and net.log == [True, False] * 3


def test_esp32_radio_left_on_when_it_was_on():
    net = FakeNetwork(on=True)
    src = RadioChecked(net)
    rng = station_rng(src, "esp32", Esp32Radio(net))
    rng(16)
    assert all(on for _, on in src.reads) and net.log == [] and net.on


def test_esp32_port_imports_network():
    # without an explicit radio the esp32 port uses the real `network` module
    net = FakeNetwork()
    sys.modules["network"] = net
    try:
        src = RadioChecked(net)
        station_rng(src, "esp32")
        station_rng(urandom, "rp2")  # other ports: no radio
    finally:
        del sys.modules["network"]
    assert net.log == [True, False, True, False] and src.reads[0] == (1024, True)


def test_runtime_builds_stations_on_the_drbg():
    from ephkey import board as board_mod, pairing_store, runtime
    path = "/tmp/ephkey_test_drbg_pairing.json"
    pairing_store.save(b"FIRST-01", [(b"SECOND00", bytes(range(16)))], path)
    b = board_mod.Board({"name": "t", "port": "unix", "roles": ["first", "second"],
                         "transport": "tcp", "tcp": {"port": 1}})
    parts = runtime.build(b, rng_source=urandom, pairing_path=path)
    os.remove(path)
    rngs = [st.rng for _, st in parts]
    assert len(rngs) == 2 and rngs[0] is rngs[1] and isinstance(rngs[0], SeededRng)
    assert rngs[0].seeds == 1


def test_a_failing_raw_source_stops_key_generation_at_both_stations():
    from ephkey import errors
    from ephkey.config import FirstConfig, SecondConfig
    from ephkey.first import FirstStation
    from ephkey.second import SecondStation
    from pair import drain, outputs, pairing

    src_f, src_s = Breakable(), Breakable()
    f = FirstStation(FirstConfig(), [pairing(0)], station_rng(src_f), 0)
    s = SecondStation(SecondConfig(), pairing(0), station_rng(src_s), 0)
    s.connect(0)
    req = outputs(s)[0]
    src_f.after = src_f.read  # the DRBG is seeded and healthy; only the raw source breaks
    f.receive(req, len(req), 1)
    assert drain(f) == [("ERROR", 0, errors.RNG_FAILURE)]
    err = outputs(f)
    assert len(err) == 1 and err[0][-1] == errors.RNG_FAILURE
    assert f.table.count_state(1) == 0
    src_s.after = src_s.read
    s.connect(2)
    assert drain(s) == [("HANDSHAKE_FAILED", 0, errors.RNG_FAILURE)]
    assert outputs(s) == [] and s.state == 0


def test_cavp_vectors_without_viper():
    # the pure-Python pad XOR a port without viper uses (mac's fallback, _hs_py)
    # gives the same output
    from ephkey import _hs, _hs_py, mac
    mac.use(_hs_py)
    try:
        assert mac.xor is _hs_py.xor
        for c in doc()["cases"]:
            assert run_case(c).hex() == c["returned"], (c["file"], c["line"])
    finally:
        mac.use(_hs)


def test_esp32_without_network_refuses_to_seed():
    # no `network` module (the unix port has none): no radio, so no seeding from a PRNG
    assert "network" not in sys.modules
    try:
        station_rng(urandom, "esp32")
    except RngFailure as e:
        assert "network" in str(e), e
    else:
        raise AssertionError("seeded from esp_random() with the radio off")


if hasattr(os, "urandom"):  # the emulated board has no default source
    def test_default_rng_seeds_for_the_port_it_runs_on():
        # connect()/serve() without rng= take default_rng: it must name this
        # port, as run_board does, so that an ESP32 seeds with its radio on (above)
        import ephkey.hmac_drbg as hd

        seen = []
        real = hd.station_rng
        hd.station_rng = lambda src, port=None, radio=None: seen.append((src, port))
        try:
            hd.default_rng()
        finally:
            hd.station_rng = real
        assert seen == [(os.urandom, sys.platform)], seen
