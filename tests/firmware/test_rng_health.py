"""The RNG health tests catch bad generators and pass a good one."""

try:
    from os import urandom
except ImportError:  # the emulated board has no hardware RNG: its host-fed source
    from emu import urandom

from ephkey.rng_health import HealthyRng, RngFailure


def _fails(source, draws=64):
    try:
        rng = HealthyRng(source)
        for _ in range(draws):
            rng(16)
    except RngFailure as e:
        return str(e)
    return None


def test_good_source_passes_a_long_run():
    rng = HealthyRng(urandom)
    for _ in range(2000):
        rng(32)
    assert rng.failed is None and rng.drawn == 1024 + 64000


def test_constant_source_fails_at_start_up():
    why = _fails(lambda n: bytes(n))
    assert why and "repetition" in why, why


def test_stuck_bit_fails():
    why = _fails(lambda n: bytes(b | 0x80 for b in urandom(n)))
    assert why and "stuck" in why, why


def test_biased_source_fails_adaptive_proportion():
    # every fourth byte is 0x55: no runs, no stuck bit, but 0x55 is 64 times
    # too common (128 in a window of 512 where a good source has 2)
    def src(n):
        r = urandom(n)
        return bytes(0x55 if i % 4 == 0 else r[i] for i in range(n))
    why = _fails(src)
    assert why and "adaptive" in why, why


def test_repeated_output_fails_and_failure_latches():
    state = {"calls": 0}

    def src(n):
        state["calls"] += 1
        if state["calls"] > 2:  # healthy at start-up, then stuck on one block
            return b"0123456789abcdef0123456789abcdef"[:n]
        return urandom(n)
    rng = HealthyRng(src)
    rng(16)  # random
    rng(16)  # the stuck block, once
    try:
        rng(16)
        raise AssertionError("repeated output not caught")
    except RngFailure as e:
        assert "repeated" in str(e), e
    try:
        rng(16)
        raise AssertionError("failure did not latch")
    except RngFailure:
        pass


def test_short_read_fails():
    calls = [0]

    def src(n):
        calls[0] += 1
        return urandom(n if calls[0] == 1 else n - 1)
    why = _fails(src)
    assert why and "short" in why, why


class _Breakable:
    """urandom until told to fail, then a stuck generator."""

    def __init__(self):
        self.broken = False

    def __call__(self, n):
        return bytes(n) if self.broken else urandom(n)


def test_a_failing_rng_stops_key_generation_at_both_stations():
    from ephkey import errors
    from ephkey.config import FirstConfig, SecondConfig
    from ephkey.first import FirstStation
    from ephkey.second import SecondStation
    from pair import drain, outputs, pairing

    src_f, src_s = _Breakable(), _Breakable()
    f = FirstStation(FirstConfig(), [pairing(0)], HealthyRng(src_f), 0)
    s = SecondStation(SecondConfig(), pairing(0), HealthyRng(src_s), 0)
    s.connect(0)
    req = outputs(s)[0]
    src_f.broken = True
    f.receive(req, len(req), 1)
    assert drain(f) == [("ERROR", 0, errors.RNG_FAILURE)]
    err = outputs(f)
    assert len(err) == 1 and err[0][0] == 0x2F and err[0][-1] == errors.RNG_FAILURE
    assert f.table.count_state(1) == 0 and f.ring.live_count() == 0  # nothing kept
    src_s.broken = True
    s.connect(2)
    assert drain(s) == [("HANDSHAKE_FAILED", 0, errors.RNG_FAILURE)]
    assert outputs(s) == [] and s.state == 0


def test_runtime_stops_when_the_rng_fails_its_start_up_test():
    from ephkey import runtime

    try:
        runtime.build(None, rng_source=lambda n: bytes(n))
    except RngFailure as e:
        assert "repetition" in str(e)
    else:
        raise AssertionError("a stuck RNG passed the start-up test")
