"""host/ephkey_host/cpace.py against tests/vectors/cpace.json (draft-irtf-cfrg-cpace-21
appendices A and B.1, RFC 9380 J.7), and the aborts and mismatches a caller relies on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ephkey_host import cpace
from ephkey_host.cpace import IR, OC, CPace, CPaceAbort

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "cpace.json").read_text()
)
X = VECTORS["x25519_sha512"]
h = bytes.fromhex


def fixed(b: bytes):
    return lambda n: b


def run(mode: int, prs_a: bytes | None = None, prs_b: bytes | None = None,
        ada: bytes = b"ADa", adb: bytes = b"ADb", ada_seen_by_b: bytes | None = None,
        ) -> tuple[bytes, bytes, CPace, CPace]:
    prs, ci, sid = h(X["PRS"]), h(X["CI"]), h(X["sid"])
    a, b = CPace(True, mode), CPace(False, mode)
    ya = a.start(prs if prs_a is None else prs_a, ci, sid, ada, fixed(h(X["ya"])))
    yb = b.start(prs if prs_b is None else prs_b, ci, sid, adb, fixed(h(X["yb"])))
    return a.finish(yb, adb), b.finish(ya, ada if ada_seen_by_b is None else ada_seen_by_b), a, b


def test_vectors_file_names_the_draft() -> None:
    assert VECTORS["draft"] == "draft-irtf-cfrg-cpace-21"
    assert VECTORS["suite"] == "CPACE-X25519-SHA512"


def test_string_utilities() -> None:
    u = VECTORS["string_utils"]
    for c in u["prepend_len"]:
        assert cpace.prepend_len(h(c["in"])).hex() == c["out"]
    for c in u["lv_cat"]:
        assert cpace.lv_cat(*(h(x) for x in c["in"])).hex() == c["out"]
    for c in u["o_cat"]:
        assert cpace.o_cat(h(c["a"]), h(c["b"])).hex() == c["out"]
    for name, fn in (
        ("transcript_ir", cpace.transcript_ir),
        ("transcript_oc", cpace.transcript_oc),
    ):
        for c in u[name]:
            assert fn(h(c["Ya"]), h(c["ADa"]), h(c["Yb"]), h(c["ADb"])).hex() == c["out"]


def test_lexiographical_order_of_the_draft() -> None:
    # draft A.3.3
    assert not cpace.lexiographically_larger(b"\0", b"\0\0")
    assert cpace.lexiographically_larger(b"\1", b"\0\0")
    assert cpace.lexiographically_larger(b"\0\0", b"\0")
    assert not cpace.lexiographically_larger(b"\0\0", b"\1")
    assert not cpace.lexiographically_larger(b"\0\1", b"\1")
    assert not cpace.lexiographically_larger(b"ABCD", b"BCD")


def test_generator_and_its_intermediate_values() -> None:
    prs, ci, sid = h(X["PRS"]), h(X["CI"]), h(X["sid"])
    gen_str = cpace.generator_string(cpace.DSI, prs, ci, sid, cpace.S_IN_BYTES)
    assert gen_str.hex() == X["generator_string"]
    assert cpace.DSI.hex() == X["DSI"]
    assert gen_str[1 + 8 + 1 + 8 + 1:][: X["zpad_len"]] == bytes(X["zpad_len"])
    gh = cpace.h_hash(gen_str, 32)
    assert gh.hex() == X["generator_hash"]
    assert cpace.decode_u_coordinate(gh) == int.from_bytes(h(X["u"]), "little")
    assert cpace.calculate_generator(prs, ci, sid).hex() == X["g"]


@pytest.mark.parametrize("mode,isk_key,sido_key", [(IR, "ISK_IR", "sid_output_ir"),
                                                   (OC, "ISK_OC", "sid_output_oc")])
def test_full_run_matches_the_draft(mode: int, isk_key: str, sido_key: str) -> None:
    isk_a, isk_b, a, b = run(mode)
    assert a.share.hex() == X["Ya"] and b.share.hex() == X["Yb"]
    assert isk_a.hex() == X[isk_key] and isk_b.hex() == X[isk_key]
    assert a.sid_output().hex() == X[sido_key] == b.sid_output().hex()


def test_k_transcripts_and_isk_inputs() -> None:
    k = cpace.scalar_mult_vfy(h(X["ya"]), h(X["Yb"]))
    assert k.hex() == X["K"] == cpace.scalar_mult_vfy(h(X["yb"]), h(X["Ya"])).hex()
    args = (h(X["Ya"]), h(X["ADa"]), h(X["Yb"]), h(X["ADb"]))
    assert cpace.transcript_ir(*args).hex() == X["transcript_ir"]
    assert cpace.transcript_oc(*args).hex() == X["transcript_oc"]
    for mode, tag in ((IR, "ir"), (OC, "oc")):
        data = cpace.lv_cat(cpace.DSI + b"_ISK", h(X["sid"]), k) + cpace.transcript(mode, *args)
        assert data.hex() == X["isk_input_" + tag]
        assert cpace.isk(h(X["sid"]), k, mode, *args).hex() == X["ISK_" + tag.upper()]


def test_scalar_mult_vfy_table() -> None:
    s = h(VECTORS["scalar_mult_vfy"]["s"])
    for c in VECTORS["scalar_mult_vfy"]["cases"]:
        q = cpace.scalar_mult_vfy(s, h(c["u"]))
        assert q.hex() == c["q"], c["name"]
        assert (q == cpace.IDENTITY) == c["abort"], c["name"]


@pytest.mark.parametrize("initiator", [True, False])
def test_invalid_shares_abort(initiator: bool) -> None:
    prs, ci, sid = h(X["PRS"]), h(X["CI"]), h(X["sid"])
    for c in VECTORS["scalar_mult_vfy"]["cases"]:
        p = CPace(initiator)
        p.start(prs, ci, sid, b"AD", fixed(h(X["ya"])))
        if c["abort"]:
            with pytest.raises(CPaceAbort):
                p.finish(h(c["u"]), b"peer")
        else:
            assert len(p.finish(h(c["u"]), b"peer")) == 64
    for bad in (b"", h(X["Yb"])[:31], h(X["Yb"]) + b"\0"):
        p = CPace(initiator)
        p.start(prs, ci, sid, b"AD", fixed(h(X["ya"])))
        with pytest.raises(CPaceAbort):
            p.finish(bad, b"peer")


def test_cryptography_refuses_the_all_zero_output_and_we_turn_that_into_identity() -> None:
    # The behaviour scalar_mult_vfy is written for: OpenSSL raises, never returns zeros.
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )

    key = X25519PrivateKey.from_private_bytes(h(X["ya"]))
    with pytest.raises(ValueError):
        key.exchange(X25519PublicKey.from_public_bytes(bytes(32)))
    assert cpace.scalar_mult_vfy(h(X["ya"]), bytes(32)) == cpace.IDENTITY


def test_elligator2_rfc9380_vectors() -> None:
    for c in VECTORS["elligator2_rfc9380"]:
        assert cpace.elligator2(int.from_bytes(h(c["u"]), "little")).hex() == c["x"], c


def test_elligator2_outputs_are_on_the_curve_or_its_twist_never_of_low_order() -> None:
    # Every output of the map is the u of a curve point: u^3 + A u^2 + u is a square.
    p, a = cpace.P, cpace.A
    for _ in range(200):
        r = int.from_bytes(os.urandom(32), "little")
        u = int.from_bytes(cpace.elligator2(r), "little")
        assert u < p
        assert pow((u**3 + a * u * u + u) % p, (p - 1) // 2, p) in (0, 1)
        assert cpace.scalar_mult_vfy(os.urandom(32), cpace.encode_u_coordinate(u)) != cpace.IDENTITY


def test_mismatches() -> None:
    base_a, base_b, _, _ = run(IR)
    assert base_a == base_b
    wrong_a, wrong_b, _, _ = run(IR, prs_b=b"Passwore")
    assert wrong_a != wrong_b
    for mode in (IR, OC):
        a, b, _, _ = run(mode, ada_seen_by_b=b"ADA")
        assert a != b, mode
    oc_a, oc_b, _, _ = run(OC)
    assert oc_a == oc_b != base_a


def test_misuse() -> None:
    p = CPace(True)
    with pytest.raises(ValueError):
        p.finish(h(X["Yb"]), b"")
    p.start(b"pw", b"", b"", b"", fixed(h(X["ya"])))
    p.finish(h(X["Yb"]), b"")
    with pytest.raises(ValueError):
        p.finish(h(X["Yb"]), b"")  # the scalar served one run
    with pytest.raises(ValueError):
        p.start(b"pw", b"", b"", b"", fixed(b"short"))
    with pytest.raises(ValueError):
        CPace(True, mode=7)
    with pytest.raises(ValueError):
        CPace(True).sid_output()
