"""The shared session vectors, replayed by the firmware inside MicroPython.

The vectors were recorded with the host implementation (tools/make_vectors.py);
the firmware must emit every frame and report every event exactly as recorded,
and a tampered frame must be rejected with its code and change nothing.
"""

import gc
import json
import os

from jsonstream import count, items
from step_driver import make_station, step

VECTORS = "tests/vectors/"


def _load(name):
    with open(VECTORS + name) as f:
        return json.load(f)


def session_names():
    return sorted(n for n in os.listdir(VECTORS) if n.startswith("session_")
                  and n.endswith(".json"))


def stations(v):
    """Build the stations a vector describes: F and S, or F and S0..Sn."""
    t0 = v.get("t0", 0)
    if "seconds" in v:
        pairings = v["pairings"]
        out = {"F": ("F", make_station("F", v["first"], pairings, v["rng_seed_f"], t0))}
        for i, sc in enumerate(v["seconds"]):
            cfg = {k: sc[k] for k in sc if k != "rng_seed"}
            out["S%d" % i] = ("S", make_station("S", cfg, pairings[i], sc["rng_seed"], t0))
        return out
    return {
        "F": ("F", make_station("F", v["first"], [v["pairing"]], v["rng_seed_f"], t0)),
        "S": ("S", make_station("S", v["second"], v["pairing"], v["rng_seed_s"], t0)),
    }


def _norm(evs):
    out = []
    for e in evs:
        d = {"event": e["event"], "sid": e["sid"], "arg": e["arg"]}
        if "payload" in e:
            d["payload"] = e["payload"]
        out.append(d)
    return out


def check_step(sts, i, s, where):
    role, st = sts[s["station"]]
    out, evs = step(st, role, s)
    assert out == s["out"], "%s step %d (%s %s): frames\n got %r\nwant %r" % (
        where, i, s["station"], s["op"], out, s["out"])
    assert _norm(evs) == _norm(s["events"]), "%s step %d (%s %s): events\n got %r\nwant %r" % (
        where, i, s["station"], s["op"], evs, s["events"])


# the session vectors docs/protocol.md section 12 asks for (version 2)
SECTION_12 = ("basic", "rotation", "shared_srk", "retransmit", "expiry", "table", "suite2_basic",
              "suite2_not_ready", "suite2_shared", "suite2_prepare", "negotiation",
              "negotiation_suite2_only", "forged_proof", "checking", "zombie", "ratchet",
              "queue_full", "suite3_basic", "suite3_backoff", "suite3_attempts",
              "suite3_low_order")  # the last four: 15.10


def _replay(name):
    # The stations first, into a heap the parsed vector has not cut up, then
    # the vector's steps one at a time (jsonstream): the emulated board's
    # 140 KiB heap has room for the stations and a whole 40 KB vector, but not
    # always in one piece.
    v = _load(name)
    v.pop("steps")
    v.pop("intermediates", None)
    gc.collect()
    sts = stations(v)
    v = None
    gc.collect()
    n = 0
    for s in items(VECTORS + name, "steps"):
        check_step(sts, n, s, name)
        n += 1
    assert n == count(VECTORS + name, "steps") > 0, name
    return n


def test_session_vectors_byte_for_byte():
    names = session_names()
    missing = [n for n in SECTION_12 if "session_%s.json" % n not in names]
    assert not missing, missing
    steps = 0
    for name in names:
        steps += _replay(name)
        gc.collect()  # one vector at a time: the emulated board's 140 KiB heap
    print("  %d session vectors, %d steps" % (len(names), steps))


def test_negative_vectors_rejected_with_their_code_and_change_nothing():
    from ephkey import errors
    cases = _load("negative.json")["cases"]
    assert len(cases) >= 20
    bases = {}
    wrong = []
    for c in cases:
        if c["base"] not in bases:
            bases[c["base"]] = _load("session_%s.json" % c["base"])
        v = bases[c["base"]]
        sts = stations(v)
        steps = v["steps"]
        for i in range(c["after_step"] + 1):
            check_step(sts, i, steps[i], c["name"])
        role, st = sts[c["station"]]
        t = steps[c["after_step"]]["t"]
        out, evs = step(st, role, {"op": "receive", "t": t, "in": c["in"]})
        code = errors.NAMES.index(c["error"])
        got = [(e["event"], errors.NAMES[e["arg"]]) for e in evs]
        if got != [("ERROR", c["error"])] or out != c["out"]:
            wrong.append("%s: want %s out %s, got %s out %s" % (
                c["name"], c["error"], c["out"], got, out))
            continue
        assert code >= 0
        for i in range(c["after_step"] + 1, len(steps)):
            check_step(sts, i, steps[i], c["name"] + " (after the tampered frame)")
    assert not wrong, "\n".join(wrong)
    print("  %d negative cases" % len(cases))
