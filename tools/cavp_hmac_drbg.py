"""Pick the HMAC_DRBG SHA-256 cases the firmware tests use out of NIST's CAVP files.

NIST's DRBG test vectors (CAVP archive ``drbgtestvectors.zip``, CAVS 14.3,
generated 2013-04-02) hold ``drbgvectors_pr_false/HMAC_DRBG.rsp``,
``drbgvectors_no_reseed/HMAC_DRBG.rsp`` and, for the first, ``HMAC_DRBG.txt``
with the internal state (Key, V) after each step. This script reads those
files (any copy of the archive) and writes the chosen cases, unchanged, into
``tests/vectors/hmac_drbg_sha256.json``; only that JSON is kept in the
repository:

    python tools/cavp_hmac_drbg.py --pr-false DIR/drbgvectors_pr_false/HMAC_DRBG.rsp \\
        --no-reseed DIR/drbgvectors_no_reseed/HMAC_DRBG.rsp \\
        --txt DIR/drbgvectors_pr_false/HMAC_DRBG.txt

Chosen: from pr_false, COUNT 0 and 1 of the first section of each
(PersonalizationStringLen, AdditionalInputLen) pair in {0, 256}^2 under
[SHA-256]; from no_reseed, COUNT 0 of the first section with (0, 0) and with
(256, 256); the internal states of pr_false (0, 0) COUNT 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "hmac_drbg_sha256.json"


def sections(path: Path) -> list[dict]:
    """Every [SHA-256] section: its parameters and cases (fields as in the file)."""
    out: list[dict] = []
    section: dict | None = None
    case: dict | None = None
    hash_name = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        m = re.fullmatch(r"\[(SHA-[0-9/]+)\]", line)
        if m:
            hash_name = m.group(1)
            section = None
            continue
        m = re.fullmatch(r"\[(\w+) = (\w+)\]", line)
        if m and hash_name == "SHA-256":
            if section is None or section["cases"]:
                section = {"params": {}, "cases": []}
                out.append(section)
            section["params"][m.group(1)] = m.group(2)
            continue
        if section is None or hash_name != "SHA-256" or "=" not in line:
            continue
        key, _, value = (p.strip() for p in line.partition("="))
        if key == "COUNT":
            case = {"COUNT": int(value), "line": number, "fields": []}
            section["cases"].append(case)
        elif case is not None:
            case["fields"].append([key, value])
    return out


def pick(secs: list[dict], ps: int, ai: int) -> dict:
    for s in secs:
        p = s["params"]
        if int(p["PersonalizationStringLen"]) == ps and int(p["AdditionalInputLen"]) == ai:
            return s
    raise SystemExit("no [SHA-256] section with PersonalizationStringLen = %d, "
                     "AdditionalInputLen = %d" % (ps, ai))


def as_case(kind: str, path: Path, sec: dict, case: dict) -> dict:
    f = case["fields"]
    names = [k for k, _ in f]
    if kind == "pr_false":
        want = ["EntropyInput", "Nonce", "PersonalizationString", "EntropyInputReseed",
                "AdditionalInputReseed", "AdditionalInput", "AdditionalInput", "ReturnedBits"]
    else:
        want = ["EntropyInput", "Nonce", "PersonalizationString", "AdditionalInput",
                "AdditionalInput", "ReturnedBits"]
    if names != want:
        raise SystemExit("unexpected fields in %s line %d: %s" % (path, case["line"], names))
    d = dict(f[:5] if kind == "pr_false" else f[:3])
    adds = [v for k, v in f if k == "AdditionalInput"]
    out = {
        "file": "drbgvectors_%s/HMAC_DRBG.rsp" % kind,
        "line": case["line"],
        "params": sec["params"],
        "COUNT": case["COUNT"],
        "entropy": d["EntropyInput"],
        "nonce": d["Nonce"],
        "personalization": d["PersonalizationString"],
        "additional": adds,
        "returned": f[-1][1],
    }
    if kind == "pr_false":
        out["entropy_reseed"] = d["EntropyInputReseed"]
        out["additional_reseed"] = d["AdditionalInputReseed"]
    return out


def states(txt: Path, entropy: str) -> dict:
    """Key and V after each step of the case whose EntropyInput is ``entropy``."""
    lines = txt.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "EntropyInput = " + entropy)
    steps: dict[str, dict[str, str]] = {}
    step = None
    for ln in lines[start:]:
        s = ln.strip()
        if s.startswith("** "):
            step = s[3:].rstrip(":").strip()
            if step in steps:
                break
            steps[step] = {}
        elif step and (s.startswith("V ") or s.startswith("Key ")):
            k, _, v = (p.strip() for p in s.partition("="))
            steps[step][k] = v
        elif s.startswith("COUNT"):
            break
    return steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pr-false", type=Path, required=True)
    ap.add_argument("--no-reseed", type=Path, required=True)
    ap.add_argument("--txt", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    cases = []
    prf = sections(a.pr_false)
    for ps in (0, 256):
        for ai in (0, 256):
            sec = pick(prf, ps, ai)
            cases += [as_case("pr_false", a.pr_false, sec, c) for c in sec["cases"][:2]]
    nrs = sections(a.no_reseed)
    for ps, ai in ((0, 0), (256, 256)):
        sec = pick(nrs, ps, ai)
        cases.append(as_case("no_reseed", a.no_reseed, sec, sec["cases"][0]))
    doc = {
        "source": "NIST CAVP DRBG test vectors (drbgtestvectors.zip, CAVS 14.3, generated "
                  "2013-04-02), HMAC_DRBG [SHA-256], copied unchanged by tools/cavp_hmac_drbg.py",
        "sha256": {p.parent.name + "/" + p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in (a.pr_false, a.no_reseed, a.txt)},
        "procedure": {
            "pr_false": "instantiate(entropy, nonce, personalization); reseed(entropy_reseed, "
                        "additional_reseed); generate(len(returned), additional[0]) discarded; "
                        "generate(len(returned), additional[1]) == returned",
            "no_reseed": "instantiate(entropy, nonce, personalization); generate(len(returned), "
                         "additional[0]) discarded; generate(len(returned), additional[1]) == "
                         "returned",
        },
        "cases": cases,
        "states": {"case": 0, "from": "drbgvectors_pr_false/HMAC_DRBG.txt",
                   "steps": states(a.txt, cases[0]["entropy"])},
    }
    a.out.write_text(json.dumps(doc, indent=1) + "\n")
    print("%s: %d cases" % (a.out, len(cases)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
