"""ephkey.sha512 inside MicroPython against tests/vectors/sha512.json.

NIST's published examples and seeded random messages (digests from CPython's
hashlib, tools/make_sha512_vectors.py), through the viper compression and
through its pure-Python twin, one-shot and in pieces.
"""

import gc
import hashlib
import time

import micropython

from ephkey import sha512
from ephkey.sha512 import SHA512
from jsonstream import count, items, value
from mpunit import raises

VECTORS = "tests/vectors/sha512.json"
NIST = value(VECTORS, "nist")  # 5 cases; the 269 random ones (130 KB) are read one at a time

h = bytes.fromhex


def _nist_msg(case):
    return h(case["msg"]) * case["repeat"]


def test_viper_is_in_use_on_this_port():
    assert sha512.VIPER


def test_new_gives_hashlib_sha512_where_the_port_has_it_else_ours():
    native = getattr(hashlib, "sha512", None)
    print("  hashlib.sha512 on this port:", native is not None)
    assert (sha512._native is native) and isinstance(sha512.new(), SHA512) == (native is None)
    assert sha512.new(b"abc").digest().hex() == NIST[0]["digest"]


def test_nist_examples():
    for case in NIST:
        if case["repeat"] == 1:
            assert SHA512(_nist_msg(case)).hexdigest() == case["digest"], case["name"]


def test_one_million_a_in_1000_byte_pieces():
    case = [c for c in NIST if c["repeat"] == 1000000][0]
    piece = h(case["msg"]) * 1000
    s = SHA512()
    t0 = time.ticks_ms()
    for _ in range(1000):
        s.update(piece)
    assert s.hexdigest() == case["digest"]
    print("  1e6 bytes: %d ms" % time.ticks_diff(time.ticks_ms(), t0))


def test_random_messages_one_shot():
    for i, case in enumerate(items(VECTORS, "random")):
        assert SHA512(h(case["msg"])).hexdigest() == case["digest"], "random case %d" % i


def test_random_messages_in_pieces():
    # Piece sizes that cross block boundaries in every way, including empty updates.
    sizes = (1, 7, 0, 127, 128, 129, 3, 255, 256)
    for i, case in enumerate(items(VECTORS, "random")):
        msg = h(case["msg"])
        s = SHA512()
        off = 0
        k = i
        while off < len(msg):
            n = sizes[k % len(sizes)]
            s.update(memoryview(msg)[off:off + n])
            off += n
            k += 1
        assert s.hexdigest() == case["digest"], "random case %d in pieces" % i


def test_python_twin_gives_the_same_digests():
    sha512.use_python_twin(True)
    try:
        for case in NIST:
            if case["repeat"] == 1:
                assert SHA512(_nist_msg(case)).hexdigest() == case["digest"], case["name"]
        last = count(VECTORS, "random") - 2
        for case in list(items(VECTORS, "random", 100, 140)) + list(items(VECTORS, "random", last)):
            assert SHA512(h(case["msg"])).hexdigest() == case["digest"]
    finally:
        sha512.use_python_twin(False)


def test_digest_into_truncates_and_the_object_is_then_finished():
    case = NIST[0]
    s = SHA512(b"abc")
    out = bytearray(40)
    s.digest_into(out, 32)
    assert bytes(out[:32]).hex() == case["digest"][:64]
    assert out[32:] == bytearray(8)
    raises(ValueError, s.update, b"x")
    raises(ValueError, s.digest_into, out, 32)
    s.reset()
    s.update(b"abc")
    assert s.hexdigest() == case["digest"]
    raises(ValueError, SHA512().digest_into, bytearray(10), 32)
    raises(ValueError, SHA512().digest_into, bytearray(70), 65)


def test_wipe_zeroes_message_data_and_schedule():
    s = SHA512()
    s.update(b"secret" * 30)  # one compressed block, 52 bytes waiting
    assert any(s._buf) and any(s._w)
    s.wipe()
    assert not any(s._buf) and not any(s._w)
    assert s._st == SHA512()._st  # back to the initial value
    s.update(b"abc")
    assert s.hexdigest() == NIST[0]["digest"]


def test_update_and_digest_into_allocate_nothing():
    s = SHA512()
    msg = bytes(range(200)) * 3
    out = bytearray(64)
    want = SHA512(msg).digest()
    gc.collect()
    micropython.heap_lock()
    try:
        s.update(msg)
        s.digest_into(out)
        s.reset()
    finally:
        micropython.heap_unlock()
    assert bytes(out) == want


def test_cost_per_block():
    s = SHA512()
    data = bytes(128 * 64)
    t0 = time.ticks_us()
    for _ in range(10):
        s.update(data)
    us = time.ticks_diff(time.ticks_us(), t0) / 640
    sha512.use_python_twin(True)
    try:
        t0 = time.ticks_us()
        s.update(data[:128 * 8])
        us_py = time.ticks_diff(time.ticks_us(), t0) / 8
    finally:
        sha512.use_python_twin(False)
    print("  SHA-512 per 128-byte block: viper %.1f us, Python twin %.1f us" % (us, us_py))
    assert us < us_py
