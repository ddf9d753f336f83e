"""Write tests/vectors/cpace.json from the published CPace and RFC 9380 vectors.

    python tools/make_cpace_vectors.py DRAFT_MD H2C_VECTORS_DIR [--check]

DRAFT_MD is draft-irtf-cfrg-cpace.md at the draft-irtf-cfrg-cpace-21 tag of
the draft's repository (github.com/cfrg/draft-irtf-cfrg-cpace);
H2C_VECTORS_DIR is poc/vectors/ of the hash-to-curve draft's repository
(github.com/cfrg/draft-irtf-cfrg-hash-to-curve), whose curve25519 files hold
the vectors printed in RFC 9380 appendix J.7.

Nothing is computed here: every value is copied from those sources. From the
draft: the BASE64 JSON blocks of appendices A.1-A.3 (string utilities) and
B.1 (CPACE-X25519-SHA512: generator, messages, K, ISK in both transcript
modes, sid_output, the invalid shares), cross-checked against the hex dumps
of the same section, plus the text-only intermediate values of B.1.5/B.1.6
(transcripts, ISK hash inputs) and the scalar_mult_vfy table of B.1.10.
From RFC 9380 J.7.1/J.7.2: each map_to_curve input u and its output's
x-coordinate (Q0/Q1 for _RO_, Q for _NU_), turned from the RFC's big-endian
integers into 32-byte little-endian strings, as X25519 and CPace encode them.
--check compares with the file instead of writing it.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "cpace.json"
DRAFT = "draft-irtf-cfrg-cpace-21"


def sections(md: str) -> list[tuple[str, str]]:
    """(heading, body) for every markdown heading, in order."""
    parts = re.split(r"^(#{1,6}\s.*)$", md, flags=re.M)
    return [(parts[i].strip("# ").strip(), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def base64_json(body: str) -> dict:
    lines = [ln.strip()[1:] for ln in body.splitlines() if ln.strip().startswith("#")]
    return json.loads(base64.b64decode("".join(lines)))


def hex_dumps(body: str) -> dict[str, str]:
    """Labelled hex dumps: 'label: (length: n bytes)' (or the label on the line
    before the length) followed by lines of lowercase hex."""
    out: dict[str, str] = {}
    label = None
    pending = ""
    for raw in body.splitlines():
        line = raw.strip()
        if label is not None and re.fullmatch(r"[0-9a-f]+", line):
            out[label] = out.get(label, "") + line
            continue
        m = re.match(r"^(.*?)\s*\(length: \d+ bytes\)$", line)
        if m:
            label = (m.group(1) or pending).rstrip(":").strip()
            pending = ""
        else:
            pending, label = line, None
    return out


def low(d: dict) -> dict:
    """Keys and hex values in lowercase."""
    return {k.lower(): v.lower() if isinstance(v, str) else v for k, v in d.items()}


def draft_vectors(md: str) -> dict:
    secs = sections(md)
    by_title: dict[str, list[str]] = {}
    json_after: dict[str, dict] = {}
    last_title = ""
    for title, body in secs:
        by_title.setdefault(title, []).append(body)
        if "Testvectors as JSON" in title:
            json_after.setdefault(last_title, base64_json(body))
        else:
            last_title = title

    def one(title: str) -> str:
        return by_title[title][0]  # the X25519 section comes first in appendix B

    utils: dict[str, list[dict[str, Any]]] = {
        "prepend_len": [],
        "lv_cat": [],
        "o_cat": [],
        "transcript_ir": [],
        "transcript_oc": [],
    }
    pl = json_after["prepend\\_len test vectors"]
    for arg, data in (("b''", ""), ("b'1234'", "31323334"),
                      ("bytes(range(127))", bytes(range(127)).hex()),
                      ("bytes(range(128))", bytes(range(128)).hex())):
        utils["prepend_len"].append({"in": data, "out": pl[f"prepend_len({arg})"].lower()})
    lv = json_after["Testvector for lv\\_cat()"]
    utils["lv_cat"].append({"in": ["31323334", "35", "", "363738"],
                            "out": lv["lv_cat(b'1234',b'5',b'',b'678')"].lower()})
    oc = json_after["Test vectors ordered concatenation"]
    utils["o_cat"].append({"a": "41424344", "b": "424344",
                           "out": oc["o_cat(b'ABCD',b'BCD')"].lower()})
    utils["o_cat"].append({"a": "424344", "b": "4142434445",
                           "out": oc["o_cat(b'BCD',b'ABCDE')"].lower()})
    for name, title in (("transcript_ir", "Test vectors transcript\\_ir function"),
                        ("transcript_oc", "Test vectors for transcript\\_oc function")):
        tv = json_after[title]
        for ya, yb in (("123", "234"), ("3456", "2345")):
            key = f"{name}(b'{ya}',b'PartyA',b'{yb}',b'PartyB')"
            utils[name].append({"Ya": ya.encode().hex(), "ADa": b"PartyA".hex(),
                                "Yb": yb.encode().hex(), "ADb": b"PartyB".hex(),
                                "out": tv[key].lower()})

    gen = low(json_after["Test vectors for calculate\\_generator with group X25519"])
    # B.1.9's JSON follows B.1.8; its keys differ only in case (ya / Ya).
    run = json_after["Corresponding C programming language initializers"]
    gen_hex = hex_dumps(one("Test vectors for calculate\\_generator with group X25519"))
    ir_hex = hex_dumps(one("Test vector for ISK calculation initiator/responder"))
    oc_hex = hex_dumps(one("Test vector for ISK calculation parallel execution"))
    a_hex = hex_dumps(one("Test vector for message from A"))
    b_hex = hex_dumps(one("Test vector for message from B"))
    k_hex = hex_dumps(one("Test vector for secret points K"))
    sido_hex = hex_dumps(one("Test vector for optional output of session id"))

    x = {
        "PRS": gen["prs"], "CI": gen["ci"], "sid": gen["sid"], "DSI": gen["dsi"],
        "zpad_len": gen["zpad length"],
        "generator_string": gen["generator_string(g.dsi,prs,ci,sid,h.s_in_bytes)"],
        "generator_hash": gen["hash generator string"],
        "u": gen["decoded field element of 255 bits"],
        "g": gen["generator g"],
    }
    for k in ("ya", "ADa", "Ya", "yb", "ADb", "Yb", "K", "ISK_IR", "ISK_SY",
              "sid_output_ir", "sid_output_oc"):
        x[k] = run[k].lower()
    assert run["g"].lower() == x["g"] and run["sid"].lower() == x["sid"]
    x["transcript_ir"] = ir_hex["transcript_ir(Ya,ADa,Yb,ADb)"]
    x["isk_input_ir"] = ir_hex["lv_cat(DSI,sid,K)||transcript_ir(Ya,ADa,Yb,ADb)"]
    x["transcript_oc"] = oc_hex["transcript_oc(Ya,ADa,Yb,ADb)"]
    x["isk_input_oc"] = oc_hex["lv_cat(DSI,sid,K)||transcript_oc(Ya,ADa,Yb,ADb)"]
    x["ISK_OC"] = x.pop("ISK_SY")
    # The text dumps say the same as the JSON.
    assert gen_hex["generator g"] == x["g"]
    assert gen_hex["hash generator string"] == x["generator_hash"]
    assert a_hex["Ya"] == x["Ya"] and b_hex["Yb"] == x["Yb"]
    assert k_hex["scalar_mult_vfy(ya,Yb)"] == x["K"] == k_hex["scalar_mult_vfy(yb,Ya)"]
    assert ir_hex["ISK result"] == x["ISK_IR"] and oc_hex["ISK result"] == x["ISK_OC"]
    assert sido_hex['H.hash(b"CPaceSidOutput" + transcript_ir(Ya,ADa, Yb,ADb))'] == x[
        "sid_output_ir"]

    lo_body = one("Test vectors for G\\_X25519.scalar\\_mult\\_vfy: low order points")
    us = dict(re.findall(r"^u([0-9a-f]): ([0-9a-f]{64})$", lo_body, flags=re.M))
    qs = dict(re.findall(r"^q([0-9a-f]): ([0-9a-f]{64})$", lo_body, flags=re.M))
    s = re.search(r"^s = ([0-9a-f]{64})$", lo_body, flags=re.M)
    must = re.search(r"Additionally, (.*?) MUST trigger", lo_body, flags=re.S)
    assert s and must and len(us) == len(qs) == 12
    abort_names = set(re.findall(r"u[0-9a-f]", must.group(1)))
    invalid = json_after["Test vectors for G\\_X25519.scalar\\_mult\\_vfy: low order points"]
    cases = []
    for n in "0123456789ab":
        assert invalid[f"Invalid Y{int(n, 16)}"].lower() == us[n]
        cases.append({"name": "u" + n, "u": us[n], "q": qs[n],
                      "abort": ("u" + n) in abort_names})
    assert all(c["abort"] == (c["q"] == "00" * 32) for c in cases)
    return {"string_utils": utils, "x25519_sha512": x,
            "scalar_mult_vfy": {"s": s.group(1), "cases": cases}}


def le32(big_endian_int: str) -> str:
    return int(big_endian_int, 16).to_bytes(32, "little").hex()


def rfc9380_vectors(h2c_dir: Path) -> list[dict]:
    out = []
    for suite in ("curve25519_XMD:SHA-512_ELL2_NU_", "curve25519_XMD:SHA-512_ELL2_RO_"):
        data = json.loads((h2c_dir / f"{suite}.json").read_text())
        assert data["Z"] == "0x2" and data["map"]["name"] == "ELL2"
        for v in data["vectors"]:
            qs = [v["Q"]] if "Q" in v else [v["Q0"], v["Q1"]]
            for i, (u, q) in enumerate(zip(v["u"], qs, strict=True)):
                out.append({"suite": suite, "msg": v["msg"][:24], "index": i,
                            "u": le32(u), "x": le32(q["x"])})
    return out


def build(draft_md: Path, h2c_dir: Path) -> dict:
    doc: dict[str, Any] = {
        "description": (
            "CPace (" + DRAFT + ") vectors for CPACE-X25519-SHA512, copied by "
            "tools/make_cpace_vectors.py from the draft's appendices A and B.1, and "
            "Elligator 2 map_to_curve vectors from RFC 9380 appendix J.7. Hex strings; "
            "field elements and u-coordinates are 32-byte little-endian. "
            "scalar_mult_vfy: q = X25519(s, u), all zeros (G.I) where abort is true. "
            "elligator2_rfc9380: x = u-coordinate of map_to_curve_elligator2(u) "
            "(before cofactor clearing); msg is cut to 24 characters."
        ),
        "draft": DRAFT,
        "suite": "CPACE-X25519-SHA512",
    }
    doc.update(draft_vectors(draft_md.read_text()))
    doc["elligator2_rfc9380"] = rfc9380_vectors(h2c_dir)
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("draft_md", type=Path)
    ap.add_argument("h2c_vectors_dir", type=Path)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = json.dumps(build(args.draft_md, args.h2c_vectors_dir), indent=1) + "\n"
    if args.check:
        same = OUT.read_text() == text
        print(f"{OUT.name}: {'up to date' if same else 'DIFFERS'}")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
