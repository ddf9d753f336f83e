"""ephkey.x25519, its implementations and the viper field arithmetic
(ephkey._fe25519) inside MicroPython.

The vectors come from RFC 7748 and from `cryptography` (tools/make_x25519_vectors.py);
they run through every implementation this VM has: the viper code always,
the native module _ephkey_x25519 when it is on the path (make natmod; the
host test tests/host/test_x25519_native.py puts it there), and through the
module's API, which uses the native module when there is one. The field
operations are checked against MicroPython's big ints, with limbs at the
extremes the operations allow. Run from the repository root:
MICROPYPATH=firmware:tests/firmware micropython tests/firmware/mpunit.py test_x25519
(add build/natmod/x64 to the path for the native module).
"""

import json
import time

import micropython

from drbg import Drbg
from ephkey import _fe25519 as fe, _x25519_viper
from ephkey.x25519 import (
    NATIVE,
    SLICE,
    UNITS,
    X25519Job,
    keypair,
    x25519,
    x25519_base,
    x25519_base_into,
    x25519_into,
)
from mpunit import raises

try:
    import _ephkey_x25519
except ImportError:
    _ephkey_x25519 = None

# (name, implementation): every one this VM can run
IMPLS = [("viper", _x25519_viper)] + ([("native", _ephkey_x25519)] if _ephkey_x25519 else [])

with open("tests/vectors/x25519.json") as _f:
    V = json.loads(_f.read())  # one read: json.load reads a mounted file byte by byte

P = (1 << 255) - 19

h = bytes.fromhex


_JOBS = {}


def _with(impl, scalar, u):
    """X25519 through one implementation: the hex result, or None when refused."""
    job = _JOBS.get(impl)
    if job is None:
        job = _JOBS[impl] = X25519Job(impl)
    out = bytearray(32)
    job.start(out, scalar, u)
    assert job.step(impl.UNITS)
    return out.hex() if job.ok else None


def test_the_module_uses_the_native_implementation_when_there_is_one():
    print("  x25519: %s (implementations here: %s), %d units, slice %d" % (
        "native" if NATIVE else "viper", ", ".join(n for n, _ in IMPLS), UNITS, SLICE))
    assert NATIVE == (_ephkey_x25519 is not None)
    assert UNITS == (_ephkey_x25519 or _x25519_viper).UNITS
    assert not NATIVE or _ephkey_x25519.ABI == 1


def test_rfc7748_section_5_2_vectors():
    for case in V["rfc7748"]:
        got = x25519(h(case["scalar"]), h(case["u"]))
        assert got.hex() == case["out"], case["source"]
        for name, impl in IMPLS:
            assert _with(impl, h(case["scalar"]), h(case["u"])) == case["out"], name


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
    for name, impl in IMPLS:
        assert _with(impl, a, b"\x09" + bytes(31)) == dh["alice_public"], name
        assert _with(impl, b, h(dh["alice_public"])) == dh["shared"], name


def test_random_vectors_from_cryptography():
    cases = V["random"]["cases"]
    assert len(cases) == 50
    for i, case in enumerate(cases):
        got = x25519(h(case["scalar"]), h(case["u"]))
        assert got.hex() == case["out"], "random case %d" % i
        for name, impl in IMPLS:
            assert _with(impl, h(case["scalar"]), h(case["u"])) == case["out"], (name, i)


def test_low_order_points_are_refused():
    scalars = (bytes(32), b"\xff" * 32, h(V["dh"]["alice_private"]))
    for u in V["low_order"]:
        for k in scalars:
            raises(ValueError, x25519, k, h(u))
            for name, impl in IMPLS:
                assert _with(impl, k, h(u)) is None, (name, u)


def test_wrong_lengths_are_refused():
    k = h(V["dh"]["alice_private"])
    raises(ValueError, x25519, k[:31], h(V["dh"]["bob_public"]))
    raises(ValueError, x25519, k, h(V["dh"]["bob_public"]) + b"\x00")
    raises(ValueError, x25519_base, k + b"\x00")


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
    raises(ValueError, keypair, lambda n: bytes(n - 1))


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
    raises(ValueError, x25519_into, out, bytes(range(32)), bytes(32))
    assert out == bytearray(32), "a refused result leaves no partial copy"
    job = X25519Job()
    out[:] = b"\xff" * 32
    job.start(out, bytes(range(32)), bytes(32))
    while not job.step(64):
        pass
    assert not job.ok and out == bytearray(32)


# ------------------------------------------------------------ field operations

def _put(st, slot, limbs):
    for i, v in enumerate(limbs):
        o = 4 * (20 * slot + i)
        st[o:o + 4] = v.to_bytes(4, "little")


def _get(st, slot):
    return [int.from_bytes(st[4 * (20 * slot + i):4 * (20 * slot + i) + 4], "little")
            for i in range(20)]


def _value(limbs):
    return sum(v << (13 * i) for i, v in enumerate(limbs))


def _limbs(v):
    return [(v >> (13 * i)) & 8191 for i in range(20)]


def _prog(*ops):
    b = bytearray([len(ops)])
    for op in ops:
        b.extend(bytes(op))
    return bytes(b)


def _limb_sets():
    """Extremes first (every limb at LIMB_MAX, at 0, alternating), then random."""
    top = fe.LIMB_MAX
    yield [top] * 20, [top] * 20
    yield [top] * 20, [0] * 20
    yield [0] * 20, [top] * 20
    yield [top, 0] * 10, [0, top] * 10
    yield [8191] * 20, [top] * 20
    rng = Drbg(b"fe25519 limbs")
    for _ in range(60):
        r = rng(80)
        yield ([(r[2 * i] | r[2 * i + 1] << 8) % (top + 1) for i in range(20)],
               [(r[40 + 2 * i] | r[41 + 2 * i] << 8) % (top + 1) for i in range(20)])


def test_field_operations_match_big_ints_at_the_limb_extremes():
    st = bytearray(fe.STATE_BYTES)
    for la, lb in _limb_sets():
        a, b = _value(la), _value(lb)
        for op, want in ((fe.MUL, a * b), (fe.ADD, a + b), (fe.SUB, a - b),
                         (fe.A24, a + 121665 * b)):
            _put(st, fe.A, la)
            _put(st, fe.B, lb)
            fe.run(0, 0, st, _prog((op, fe.C, fe.A, fe.B)))
            got = _get(st, fe.C)
            assert _value(got) % P == want % P, (op, la, lb)
            assert max(got) <= fe.LIMB_MAX, (op, got)
        for n in (1, 2, 5):
            _put(st, fe.A, la)
            fe.run(0, 0, st, _prog((fe.SQR, fe.C, fe.A, n)))
            got = _get(st, fe.C)
            want = a
            for _ in range(n):
                want = want * want % P
            assert _value(got) % P == want and max(got) <= fe.LIMB_MAX, (n, la)


def test_field_operations_may_write_over_their_inputs():
    st = bytearray(fe.STATE_BYTES)
    la, lb = _limbs(P - 5), _limbs(123456789 << 200)
    a, b = _value(la), _value(lb)
    for op, want in ((fe.MUL, a * b), (fe.ADD, a + b), (fe.SUB, a - b), (fe.A24, a + 121665 * b)):
        for dst in (fe.A, fe.B):
            _put(st, fe.A, la)
            _put(st, fe.B, lb)
            fe.run(0, 0, st, _prog((op, dst, fe.A, fe.B)))
            assert _value(_get(st, dst)) % P == want % P, (op, dst)
    _put(st, fe.A, la)
    fe.run(0, 0, st, _prog((fe.MUL, fe.A, fe.A, fe.A), (fe.SQR, fe.A, fe.A, 3)))
    assert _value(_get(st, fe.A)) % P == pow(a, 16, P)


def test_freeze_gives_the_canonical_value():
    st = bytearray(fe.STATE_BYTES)
    out = bytearray(32)
    cases = [0, 1, 18, 19, P - 1, P, P + 1, 2 * P, 2 * P + 7, (1 << 255) - 1, 1 << 255,
             (1 << 255) + 18, (1 << 260) - 1, 64 * P]
    for v in cases:
        limbs = _limbs(v) if v < 1 << 260 else [fe.LIMB_MAX] * 20
        _put(st, fe.A, limbs)
        v = _value(limbs)
        nonzero = fe.freeze(out, st, fe.A, fe.B)
        assert int.from_bytes(out, "little") == v % P, v
        assert (nonzero != 0) == (v % P != 0), v
    _put(st, fe.A, [fe.LIMB_MAX] * 20)
    fe.freeze(out, st, fe.A, fe.B)
    assert int.from_bytes(out, "little") == _value([fe.LIMB_MAX] * 20) % P


def test_load_masks_bit_255():
    st = bytearray(fe.STATE_BYTES)
    for u in (bytes(range(32)), b"\xff" * 32, bytes(31) + b"\x80"):
        fe.load(st, fe.A, u)
        got = _get(st, fe.A)
        assert _value(got) == int.from_bytes(u, "little") & ((1 << 255) - 1)
        assert max(got) < 8192


# ------------------------------------------------------------ X25519 semantics

def test_top_bit_of_u_is_masked_and_non_canonical_u_is_taken_mod_p():
    k = h(V["dh"]["alice_private"])
    u = bytearray(h(V["dh"]["bob_public"]))
    want = x25519(k, u)
    u[31] |= 0x80
    assert x25519(k, u) == want
    for small in (2, 5, 9, 18):
        assert x25519(k, (P + small).to_bytes(32, "little")) == x25519(
            k, small.to_bytes(32, "little")), small
    # 2**255 - 1 is p + 18, and with bit 255 set it is still p + 18
    assert x25519(k, b"\xff" * 32) == x25519(k, (18).to_bytes(32, "little"))


def test_scalar_is_clamped_on_use_and_left_as_given():
    k = bytearray(h(V["dh"]["alice_private"]))
    want = x25519_base(k)
    k2 = bytearray(k)
    k2[0] |= 7  # cleared by clamping
    k2[31] = (k2[31] & 0x7F) ^ 0x80  # bit 255 cleared, bit 254 set by clamping
    saved = bytes(k2)
    assert x25519_base(k2) == want
    assert k2 == saved


def test_job_budget_counts_units_and_each_slice_is_bounded():
    case = V["rfc7748"][1]
    out = bytearray(32)
    for name, impl in IMPLS:
        units = impl.UNITS
        out[:] = bytes(32)
        job = X25519Job(impl)
        job.start(out, h(case["scalar"]), h(case["u"]))
        calls = 0
        while not job.step(1):
            calls += 1
            assert out == bytearray(32), "no result before the last unit"
        assert calls + 1 == units, name
        assert job.ok and out.hex() == case["out"], name
        assert job.step(1) and job.step(100), "a finished job stays finished"
        for budget in (7, 32, 255, units - 1, units):
            out[:] = bytes(32)
            job.start(out, h(case["scalar"]), h(case["u"]))
            calls = 1
            while not job.step(budget):
                calls += 1
            assert calls == (units + budget - 1) // budget, (name, budget)
            assert out.hex() == case["out"], (name, budget)


def test_job_state_is_zeroed_after_use_and_by_wipe():
    out = bytearray(32)
    want = x25519(b"\x5a" * 32, h(V["dh"]["bob_public"]))
    for name, impl in IMPLS:
        job = X25519Job(impl)
        job.start(out, b"\x5a" * 32, h(V["dh"]["bob_public"]))
        job.step(10)
        st = job._st
        assert any(st), "the run has state"
        job.wipe()
        assert not any(st) and job.done and not job.ok, name
        assert job.step(5), "a wiped job is finished"
        job.start(out, b"\x5a" * 32, h(V["dh"]["bob_public"]))
        job.step(impl.UNITS)
        assert job.ok and not any(st), "the scalar copy and the ladder are zeroed at the end"
        assert out == want, name


def test_an_unfinished_result_and_a_wrong_state_are_refused():
    for _name, impl in IMPLS:
        st = bytearray(impl.STATE_BYTES)
        impl.start(st, bytes(32), b"\x09" + bytes(31))
        impl.run(st, 10)
        raises(ValueError, impl.finish, bytearray(32), st)
    if _ephkey_x25519 is None:
        return
    n = _ephkey_x25519  # the C code checks what it is given: lengths, the state's size
    for st in (bytearray(n.STATE_BYTES - 4), bytearray(n.STATE_BYTES + 4), b"\x00" * n.STATE_BYTES):
        try:
            n.start(st, bytes(32), bytes(32))
        except (ValueError, TypeError):
            continue
        raise AssertionError("a wrong state was taken: %d bytes, %s" % (len(st), type(st)))
    st = bytearray(n.STATE_BYTES)
    raises(ValueError, n.start, st, bytes(31), bytes(32))
    raises(ValueError, n.start, st, bytes(32), bytes(33))
    n.start(st, bytes(32), b"\x09" + bytes(31))
    n.run(st, n.UNITS)
    raises(ValueError, n.finish, bytearray(31), st)


def test_two_jobs_interleave():
    cases = V["random"]["cases"][:2]
    outs = [bytearray(32), bytearray(32)]
    jobs = [X25519Job(), X25519Job()]
    for j, c in enumerate(cases):
        jobs[j].start(outs[j], h(c["scalar"]), h(c["u"]))
    done = [False, False]
    while not all(done):
        for j in (0, 1):
            done[j] = jobs[j].step(3)
    for j, c in enumerate(cases):
        assert outs[j].hex() == c["out"]


def test_x25519_into_and_job_allocate_nothing():
    case = V["random"]["cases"][3]
    k, u = h(case["scalar"]), h(case["u"])
    out = bytearray(32)
    jobs = [X25519Job(impl) for _, impl in IMPLS]
    micropython.heap_lock()
    try:
        x25519_into(out, k, u)
        x25519_base_into(out, k)
        for job in jobs:
            job.start(out, k, u)
            while not job.step(16):
                pass
    finally:
        micropython.heap_unlock()
    for job in jobs:
        assert job.ok
    assert out.hex() == case["out"]
    x25519_into(out, k, u)
    assert out.hex() == case["out"]
