#!/usr/bin/env python3
"""The first station's handshake CPU against honest floors (issues 12 and 14).

Runs tools/bench_mp/hs_cost.py in the MicroPython unix VM and prints:

- suite-1 handshake: the first station's CPU per handshake over the native
  primitives it needs (its hashlib and cryptolib calls, replayed alone in
  the same run); target at most 2x;
- forged suite-2 PROOF (a wrong t, for a live half-open slot) over an early
  reject (a PROOF for an unknown sid), both with their ERROR answer; the
  spec's bound (docs/protocol.md 4.5): at most 2x.

    .venv/bin/python tools/bench_hs.py [--quick] [--json FILE]

Medians over rounds, with min and max; the ratios are per round, so a busy
machine hits both sides of each alike.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import Runner, find_tool  # noqa: E402

FULL = {"floor": {"stations": 4, "warm": 20, "rounds": 9, "per_round": 100},
        "forged": {"rounds": 9, "per_round": 200}}
QUICK = {"floor": {"stations": 2, "warm": 2, "rounds": 3, "per_round": 10},
         "forged": {"rounds": 3, "per_round": 20}}
TARGET = 2.0


def run(quick: bool = False, micropython: str | None = None) -> dict[str, Any]:
    prof = QUICK if quick else FULL
    mp = micropython or find_tool("micropython", "MICROPYTHON")
    with tempfile.TemporaryDirectory(prefix="ephkey-bench-hs-") as d:
        r = Runner(mp, Path(d))
        out: dict[str, Any] = {}
        for task in ("floor", "forged"):
            recs = [x for x in r.run("hs_cost.py", dict(prof[task], task=task), timeout=600)
                    if x.get("kind") == task]
            out[task] = recs[0]
        out["vm"] = [x for x in r.run("hs_cost.py", dict(prof["forged"], task="forged",
                                                         rounds=1, per_round=1))
                     if x.get("kind") == "start"][0]["vm"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny counts (a smoke run)")
    ap.add_argument("--json", help="write the results to this file")
    a = ap.parse_args()
    res = run(a.quick)
    fl = res["floor"]
    fo = res["forged"]
    rows = [
        ("suite-1 handshake, first station CPU", "%.1f us" % fl["hs_us"]["median"],
         "native floor %.1f us" % fl["native_us"]["median"], fl["ratio"]),
        ("forged suite-2 PROOF (wrong t)", "%.1f us" % fo["forged_us"]["median"],
         "early reject %.1f us" % fo["early_us"]["median"], fo["ratio"]),
    ]
    print("MicroPython %s (%s)" % (res["vm"]["version"], res["vm"]["machine"]))
    for name, ours, base, ratio in rows:
        ok = "meets" if ratio["median"] <= TARGET else "MISSES"
        print("%-40s %12s  %-26s ratio %.2f (min %.2f, max %.2f): %s the %.0fx target" % (
            name, ours, base, ratio["median"], ratio["min"], ratio["max"], ok, TARGET))
    print("native calls per handshake: %s" % fl["calls"])
    print("forged PROOFs that created a job: %d" % fo["jobs_created"])
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
