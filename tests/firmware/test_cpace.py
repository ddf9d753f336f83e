"""ephkey.cpace and ephkey.elligator2 inside MicroPython against tests/vectors/cpace.json.

The draft-irtf-cfrg-cpace-21 vectors for CPACE-X25519-SHA512 (string
utilities, generator, shares, K, ISK in both transcript modes, sid_output,
the scalar_mult_vfy table and its abort cases) and RFC 9380's Elligator 2
map_to_curve vectors; then what a caller relies on: aborts, wiping, and
that any differing input gives a differing ISK.
"""

import gc
import json
import time

from ephkey import cpace, elligator2, sha512
from ephkey.cpace import IR, OC, CPace, CPaceAbort
from mpunit import raises

with open("tests/vectors/cpace.json") as _f:
    V = json.load(_f)
X = V["x25519_sha512"]

h = bytes.fromhex
P = (1 << 255) - 19


class Recorder:
    """A hashlib-like object that keeps what it is fed (stands in for a native
    hashlib.sha512, so the adapter's other branch runs too)."""

    def __init__(self):
        self.data = b""

    def update(self, b):
        self.data += bytes(b)

    def digest(self):
        return sha512.SHA512(self.data).digest()


def _fixed(b):
    return lambda n: b


def _run(mode, prs_a=None, prs_b=None, ci=None, sid=None, ada=None, adb=None):
    """A full run with the draft's scalars; returns (isk_a, isk_b, a, b)."""
    prs = h(X["PRS"])
    ci = h(X["CI"]) if ci is None else ci
    sid = h(X["sid"]) if sid is None else sid
    ada = h(X["ADa"]) if ada is None else ada
    adb = h(X["ADb"]) if adb is None else adb
    a = CPace(True, mode)
    b = CPace(False, mode)
    ya = bytes(a.start(prs if prs_a is None else prs_a, ci, sid, ada, _fixed(h(X["ya"]))))
    yb = bytes(b.start(prs if prs_b is None else prs_b, ci, sid, adb, _fixed(h(X["yb"]))))
    isk_a = bytearray(64)
    isk_b = bytearray(64)
    a.finish(isk_a, yb, adb)
    b.finish(isk_b, ya, ada)
    return isk_a, isk_b, a, b


# ---------------------------------------------------------------- draft vectors


def test_prepend_len_and_lv_cat():
    for case in V["string_utils"]["prepend_len"]:
        r = Recorder()
        cpace.lv_feed(r, h(case["in"]))
        assert r.data.hex() == case["out"]
    for case in V["string_utils"]["lv_cat"]:
        r = Recorder()
        for part in case["in"]:
            cpace.lv_feed(r, h(part))
        assert r.data.hex() == case["out"]
    assert cpace.leb128(300) == b"\xac\x02" and cpace.leb128(16384) == b"\x80\x80\x01"


def test_transcripts_ir_and_oc():
    for mode, name in ((IR, "transcript_ir"), (OC, "transcript_oc")):
        for case in V["string_utils"][name]:
            r = Recorder()
            cpace.transcript_feed(r, mode, h(case["Ya"]), h(case["ADa"]), h(case["Yb"]),
                                  h(case["ADb"]))
            assert r.data.hex() == case["out"], name
    raises(ValueError, cpace.transcript_feed, Recorder(), 2, b"", b"", b"", b"")


def test_oc_order_matches_plain_byte_comparison():
    # Shares equal (a reflected message), ADs that are prefixes of each other,
    # differing lengths: the lv-encoded strings must compare as bytes do.
    cases = (
        (b"Y", b"A", b"Y", b"AB"), (b"Y", b"AB", b"Y", b"A"), (b"Y", b"", b"Y", b"\x00"),
        (b"Y" * 2, b"", b"Y", b"\xff" * 3), (b"\x01", b"x", b"\x00", b"y"),
        (b"same", b"ad", b"same", b"ad"), (b"a" * 130, b"", b"a" * 129, b"zz"),
    )
    for ya, ada, yb, adb in cases:
        la = cpace.leb128(len(ya)) + ya + cpace.leb128(len(ada)) + ada
        lb = cpace.leb128(len(yb)) + yb + cpace.leb128(len(adb)) + adb
        assert cpace._lv_larger(ya, ada, yb, adb) == (la > lb), (ya, ada, yb, adb)
        r = Recorder()
        cpace.transcript_feed(r, OC, ya, ada, yb, adb)
        assert r.data == b"oc" + (la + lb if la > lb else lb + la)


def test_generator_string_hash_and_decoded_field_element():
    r = Recorder()
    cpace.generator_string_feed(r, h(X["PRS"]), h(X["CI"]), h(X["sid"]))
    assert r.data.hex() == X["generator_string"]
    assert r.data[10 + 1 + 8:10 + 1 + 8 + X["zpad_len"]] == bytes(X["zpad_len"])
    assert sha512.SHA512(r.data).digest()[:32].hex() == X["generator_hash"]
    assert elligator2.fe_from_bytes(h(X["generator_hash"])) == int.from_bytes(h(X["u"]), "little")


def test_generator():
    g = bytearray(32)
    cpace.calculate_generator_into(g, h(X["PRS"]), h(X["CI"]), h(X["sid"]))
    assert g.hex() == X["g"]
    # The same through the native-hashlib branch of the adapter.
    g2 = bytearray(32)
    cpace.calculate_generator_into(g2, h(X["PRS"]), h(X["CI"]), h(X["sid"]), cpace.Hash(Recorder))
    assert g2 == g


def test_shares_k_isk_and_sid_output_in_both_modes():
    for mode, isk_key, sido_key in (
        (IR, "ISK_IR", "sid_output_ir"),
        (OC, "ISK_OC", "sid_output_oc"),
    ):
        isk_a, isk_b, a, b = _run(mode)
        assert a.share.hex() == X["Ya"] and b.share.hex() == X["Yb"]
        assert a.peer.hex() == X["Yb"] and b.peer.hex() == X["Ya"]
        assert isk_a.hex() == X[isk_key] and isk_b.hex() == X[isk_key], isk_key
        for party in (a, b):
            out = bytearray(64)
            party.sid_output_into(out)
            assert out.hex() == X[sido_key], sido_key


def test_k_and_the_isk_hash_input():
    k = bytearray(32)
    assert cpace.scalar_mult_vfy_into(k, h(X["ya"]), h(X["Yb"]))
    assert k.hex() == X["K"]
    assert cpace.scalar_mult_vfy_into(k, h(X["yb"]), h(X["Ya"])) and k.hex() == X["K"]
    for mode, key in ((IR, "isk_input_ir"), (OC, "isk_input_oc")):
        rec = Recorder()
        out = bytearray(64)
        cpace.isk_into(out, k, h(X["sid"]), mode, h(X["Ya"]), h(X["ADa"]), h(X["Yb"]),
                       h(X["ADb"]), cpace.Hash(lambda rec=rec: rec))
        assert rec.data.hex() == X[key], key
        assert out.hex() == X["ISK_IR" if mode == IR else "ISK_OC"]


def test_scalar_mult_vfy_table():
    s = h(V["scalar_mult_vfy"]["s"])
    out = bytearray(32)
    for case in V["scalar_mult_vfy"]["cases"]:
        ok = cpace.scalar_mult_vfy_into(out, s, h(case["u"]))
        assert out.hex() == case["q"], case["name"]
        assert ok == (not case["abort"]), case["name"]


def test_invalid_shares_abort_either_party_and_wipe_it():
    prs, ci, sid = h(X["PRS"]), h(X["CI"]), h(X["sid"])
    for case in V["scalar_mult_vfy"]["cases"]:
        for initiator in (True, False):
            p = CPace(initiator)
            p.start(prs, ci, sid, b"AD", _fixed(h(X["ya"])))
            isk = bytearray(64)
            try:
                p.finish(isk, h(case["u"]), b"ADpeer")
                aborted = False
            except CPaceAbort:
                aborted = True
            assert aborted == case["abort"], (case["name"], initiator)
            assert not any(p._y) and not any(p._k) and not any(p._g)
            if aborted:
                assert isk == bytearray(64)


def test_malformed_shares_and_misuse():
    prs, ci, sid = h(X["PRS"]), h(X["CI"]), h(X["sid"])
    p = CPace(True)
    raises(ValueError, p.finish, bytearray(64), h(X["Yb"]), b"")  # before start
    for bad in (b"", h(X["Yb"])[:31], h(X["Yb"]) + b"\x00"):
        p.start(prs, ci, sid, b"", _fixed(h(X["ya"])))
        raises(CPaceAbort, p.finish, bytearray(64), bad, b"")
        assert not any(p._y)
    p.start(prs, ci, sid, b"", _fixed(h(X["ya"])))
    raises(ValueError, p.finish, bytearray(63), h(X["Yb"]), b"")
    p.start(prs, ci, sid, b"", _fixed(h(X["ya"])))
    p.finish(bytearray(64), h(X["Yb"]), b"")
    raises(ValueError, p.finish, bytearray(64), h(X["Yb"]), b"")  # the scalar is spent
    raises(ValueError, p.start, prs, ci, sid, b"", _fixed(b"short"))
    raises(ValueError, CPace, True, 5)


# ---------------------------------------------------------------- elligator2


def test_elligator2_rfc9380_map_to_curve_vectors():
    out = bytearray(32)
    for case in V["elligator2_rfc9380"]:
        elligator2.map_to_curve_into(out, h(case["u"]))
        assert out.hex() == case["x"], (case["suite"], case["msg"], case["index"])


def test_elligator2_input_decoding():
    out1 = bytearray(32)
    out2 = bytearray(32)
    u = h(V["elligator2_rfc9380"][0]["u"])
    elligator2.map_to_curve_into(out1, u)
    top = bytearray(u)
    top[31] |= 0x80  # bit 255 is not part of the field element
    elligator2.map_to_curve_into(out2, top)
    assert out1 == out2
    for k in (0, 1, 5, 18):  # p + k (non-canonical, < 2**255) is k
        elligator2.map_to_curve_into(out1, (P + k).to_bytes(32, "little"))
        elligator2.map_to_curve_into(out2, k.to_bytes(32, "little"))
        assert out1 == out2, k
        assert int.from_bytes(out1, "little") < P
    raises(ValueError, elligator2.map_to_curve_into, out1, bytes(31))
    raises(ValueError, elligator2.map_to_curve_into, bytearray(31), bytes(32))


def test_field_helpers():
    for bit in (0, 1):
        for a, b in ((0, P - 1), (P - 1, 0), (12345, 12345), (1 << 254, 3)):
            assert elligator2.fe_select(a, b, bit) == (b if bit else a)
    assert elligator2._is_zero(0) == 1 and elligator2._is_zero(1) == 0
    assert elligator2._is_zero(P - 1) == 0
    assert elligator2.fe_is_square(0) == 1 and elligator2.fe_is_square(4) == 1
    assert elligator2.fe_is_square(2) == 0  # Z = 2 is the non-square of RFC 9380
    assert elligator2.fe_is_square(P - 1) == 1  # p = 1 mod 4
    for x in (2, 3, 486662, P - 2, 1 << 200):
        assert elligator2.fe_mul(x, elligator2.fe_inv(x)) == 1
        assert elligator2.fe_is_square(elligator2.fe_sqr(x)) == 1
    assert elligator2.fe_inv(0) == 0


# ---------------------------------------------------------------- what callers rely on


def test_any_differing_input_gives_a_differing_isk():
    base_a, base_b, _, _ = _run(IR)
    assert base_a == base_b
    variants = (
        dict(prs_b=b"Passwore"),
        dict(prs_a=b"password"),
        dict(ci=b"\x0bB_initiator\x0bA_responder"),
        dict(sid=bytes(16)),
        dict(ada=b"ADx"),
        dict(adb=b""),
    )
    for kw in variants:
        isk_a, isk_b, _, _ = _run(IR, **kw)
        if "ada" in kw or "adb" in kw:
            # both see the same ADs here (each party passes the peer's as sent)
            assert isk_a == isk_b and isk_a != base_a, kw
        elif "prs_a" in kw or "prs_b" in kw:
            assert isk_a != isk_b, kw  # a wrong code: no common key
        else:
            assert isk_a == isk_b and isk_a != base_a, kw
    # An AD changed in transit: each side hashes a different transcript.
    prs, ci, sid = h(X["PRS"]), h(X["CI"]), h(X["sid"])
    for mode in (IR, OC):
        a = CPace(True, mode)
        b = CPace(False, mode)
        ya = bytes(a.start(prs, ci, sid, b"ADa", _fixed(h(X["ya"]))))
        yb = bytes(b.start(prs, ci, sid, b"ADb", _fixed(h(X["yb"]))))
        isk_a = bytearray(64)
        isk_b = bytearray(64)
        a.finish(isk_a, yb, b"ADb")
        b.finish(isk_b, ya, b"ADA")
        assert isk_a != isk_b, mode
    # The two transcript modes give different keys from the same messages.
    oc_a, _, _, _ = _run(OC)
    assert oc_a != base_a


def test_long_prs_ci_and_sid_use_multi_byte_lengths():
    prs = bytes(range(200))  # no zero padding, 2-byte length prefix
    r = Recorder()
    cpace.generator_string_feed(r, prs, b"c" * 300, b"s" * 128)
    assert r.data[:10] == b"\x08CPace255\xc8\x01"[:10]
    assert r.data[1 + 8 + 2 + 200:1 + 8 + 2 + 200 + 1] == b"\x00"  # empty zero padding
    isk_a, isk_b, _, _ = _run(OC, prs_a=prs, prs_b=prs, ci=b"c" * 300, sid=b"s" * 128)
    assert isk_a == isk_b


def test_secrets_are_zeroed_after_use():
    prs, ci, sid = h(X["PRS"]), h(X["CI"]), h(X["sid"])
    a = CPace(True)
    drawn = bytearray(h(X["ya"]))
    a.start(prs, ci, sid, b"A", lambda n: drawn)
    assert drawn == bytearray(32)  # the rng's bytearray is zeroed once copied
    assert any(a._y) and not any(a._g)  # g is gone once the share is made
    own = a._hash._own
    assert not any(own._buf) and not any(own._w)
    a.finish(bytearray(64), h(X["Yb"]), b"B")
    assert not any(a._y) and not any(a._k) and not any(a._g)
    assert not any(own._buf) and not any(own._w)
    a.start(prs, ci, sid, b"A", _fixed(h(X["ya"])))
    a.wipe()
    assert not any(a._y)
    raises(ValueError, a.finish, bytearray(64), h(X["Yb"]), b"B")


def test_cost_on_this_vm():
    prs, ci, sid = h(X["PRS"]), h(X["CI"]), h(X["sid"])
    out = bytearray(32)
    t0 = time.ticks_us()
    for _ in range(10):
        elligator2.map_to_curve_into(out, h(X["generator_hash"]))
    t_map = time.ticks_diff(time.ticks_us(), t0) / 10
    t0 = time.ticks_us()
    for _ in range(10):
        cpace.calculate_generator_into(out, prs, ci, sid)
    t_gen = time.ticks_diff(time.ticks_us(), t0) / 10
    a = CPace(True)
    isk = bytearray(64)
    gc.collect()
    t0 = time.ticks_us()
    a.start(prs, ci, sid, b"ADa", _fixed(h(X["ya"])))
    t1 = time.ticks_us()
    a.finish(isk, h(X["Yb"]), b"ADb")
    t2 = time.ticks_us()
    print("  elligator2 map %d us; generator %d us; start %d us; finish %d us; one side %d us"
          % (t_map, t_gen, time.ticks_diff(t1, t0), time.ticks_diff(t2, t1),
             time.ticks_diff(t2, t0)))
    assert isk.hex() == X["ISK_IR"]
