"""ephkey.x25519 inside MicroPython against tests/vectors/x25519.json.

The vectors come from RFC 7748 and from `cryptography` (tools/make_x25519_vectors.py).
Run from the repository root:
MICROPYPATH=firmware:tests/firmware micropython tests/firmware/mpunit.py test_x25519
"""

import json
import time

from ephkey.x25519 import X25519Job, keypair, x25519, x25519_base, x25519_base_into, x25519_into

with open("tests/vectors/x25519.json") as _f:
    V = json.load(_f)

h = bytes.fromhex


def _raises_value_error(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return
    raise AssertionError("no ValueError")


def test_rfc7748_section_5_2_vectors():
    for case in V["rfc7748"]:
        got = x25519(h(case["scalar"]), h(case["u"]))
        assert got.hex() == case["out"], case["source"]


def test_rfc7748_iterated_1_and_1000():
    it = V["iterated"]
    k, u = h(it["k"]), h(it["u"])
    t0 = time.ticks_ms()
    for i in range(1, 1001):
        k, u = x25519(k, u), k
        if str(i) in it["after"]:
            assert k.hex() == it["after"][str(i)], "after %d iterations" % i
    ms = time.ticks_diff(time.ticks_ms(), t0)
    print("  1000 iterations: %d ms (%.2f ms per x25519)" % (ms, ms / 1000))


def test_rfc7748_section_6_1_diffie_hellman():
    dh = V["dh"]
    a, b = h(dh["alice_private"]), h(dh["bob_private"])
    assert x25519_base(a).hex() == dh["alice_public"]
    assert x25519_base(b).hex() == dh["bob_public"]
    assert x25519(a, h(dh["bob_public"])).hex() == dh["shared"]
    assert x25519(b, h(dh["alice_public"])).hex() == dh["shared"]


def test_random_vectors_from_cryptography():
    cases = V["random"]["cases"]
    assert len(cases) == 50
    for i, case in enumerate(cases):
        got = x25519(h(case["scalar"]), h(case["u"]))
        assert got.hex() == case["out"], "random case %d" % i


def test_low_order_points_are_refused():
    scalars = (bytes(32), b"\xff" * 32, h(V["dh"]["alice_private"]))
    for u in V["low_order"]:
        for k in scalars:
            _raises_value_error(x25519, k, h(u))


def test_wrong_lengths_are_refused():
    k = h(V["dh"]["alice_private"])
    _raises_value_error(x25519, k[:31], h(V["dh"]["bob_public"]))
    _raises_value_error(x25519, k, h(V["dh"]["bob_public"]) + b"\x00")
    _raises_value_error(x25519_base, k + b"\x00")


def test_bytearray_and_memoryview_inputs():
    case = V["rfc7748"][0]
    k, u = bytearray(h(case["scalar"])), memoryview(h(case["u"]))
    assert x25519(k, u).hex() == case["out"]
    assert k == h(case["scalar"])  # the caller's scalar is left unclamped


def test_keypair_with_deterministic_rng():
    dh = V["dh"]
    asked = []

    def rng(n):
        asked.append(n)
        return h(dh["alice_private"])[:n]

    private, public = keypair(rng)
    assert asked == [32]
    assert private.hex() == dh["alice_private"]
    assert public.hex() == dh["alice_public"]
    _raises_value_error(keypair, lambda n: bytes(n - 1))


def test_time_per_x25519():
    case = V["random"]["cases"][0]
    k, u = h(case["scalar"]), h(case["u"])
    n = 50
    t0 = time.ticks_us()
    for _ in range(n):
        x25519(k, u)
    us = time.ticks_diff(time.ticks_us(), t0)
    print("  x25519: %.2f ms per call (mean of %d)" % (us / n / 1000, n))


def test_into_and_job_match_the_vectors():
    """The buffer-writing API and the sliced job give the RFC 7748 results."""
    out = bytearray(32)
    job = X25519Job()
    for case in V["rfc7748"]:
        x25519_into(out, h(case["scalar"]), h(case["u"]))
        assert out.hex() == case["out"], case["source"]
        out[:] = bytes(32)
        job.start(out, h(case["scalar"]), h(case["u"]))
        steps = 0
        while not job.step(16):
            steps += 1
            assert steps < 1000, "the job never finishes"
        assert job.ok and out.hex() == case["out"], case["source"]
    k = h(V["rfc7748"][0]["scalar"])
    x25519_base_into(out, k)
    assert out == x25519_base(k)


def test_into_and_job_refuse_low_order_points():
    out = bytearray(b"\xff" * 32)
    _raises_value_error(x25519_into, out, bytes(range(32)), bytes(32))
    assert out == bytearray(32), "a refused result leaves no partial copy"
    job = X25519Job()
    out[:] = b"\xff" * 32
    job.start(out, bytes(range(32)), bytes(32))
    while not job.step(64):
        pass
    assert not job.ok and out == bytearray(32)
