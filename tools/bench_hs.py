#!/usr/bin/env python3
"""The first station's handshake CPU against honest floors (issues 12 and 14).

Runs tools/bench_mp/hs_cost.py in the MicroPython unix VM and prints:

- suite-1 handshake: the first station's CPU per handshake over the native
  primitives it needs (its hashlib and cryptolib calls, replayed alone in
  the same run); target at most 2x;
- forged suite-2 PROOF (a wrong t, for a live half-open slot) over an early
  reject (a PROOF for an unknown sid), both with their ERROR answer; the
  spec's bound (docs/protocol.md 4.5): at most 2x.

    .venv/bin/python tools/bench_hs.py [--quick] [--emu] [--json FILE]

Medians over rounds, with min and max; the ratios are per round, so a busy
machine hits both sides of each alike. It also reports the longest work()
call of a suite-2 handshake at either station (one X25519 slice, or a job's
completion: what the event loop waits for between frames, 4.7).

With --emu the same scripts run on the emulated Cortex-M3 (make emu) under
QEMU -icount, counted in instructions (deterministic), with an estimated
RP2040 time (tools/bench_emu.py's factor, 1.6-2.8 cycles per instruction at
125 MHz).
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
        "forged": {"rounds": 9, "per_round": 200},
        "slices": {"rounds": 3},
        "flood": {"peers": 4, "sessions": 8, "warm": 4, "rounds": 7, "per_round": 10},
        "drbg": {"rounds": 9, "per_round": 100},
        "x25519": {"reps": 9}}
QUICK = {"floor": {"stations": 2, "warm": 2, "rounds": 3, "per_round": 10},
         "forged": {"rounds": 3, "per_round": 20},
         "slices": {"rounds": 1},
         "flood": {"peers": 2, "sessions": 4, "warm": 2, "rounds": 2, "per_round": 2},
         "drbg": {"rounds": 3, "per_round": 10},
         "x25519": {"reps": 2}}
EMU = {"floor": {"stations": 2, "warm": 3, "rounds": 3, "per_round": 4},
       "forged": {"rounds": 3, "per_round": 10},
       "slices": {"rounds": 1},
       "flood": {"peers": 2, "sessions": 4, "warm": 2, "rounds": 3, "per_round": 6},
       "drbg": {"rounds": 2, "per_round": 4},
       "x25519": {"reps": 1}}
TARGET = 2.0
TASKS = ("floor", "forged", "slices", "flood", "drbg", "x25519")


def run(quick: bool = False, micropython: str | None = None) -> dict[str, Any]:
    prof = QUICK if quick else FULL
    mp = micropython or find_tool("micropython", "MICROPYTHON")
    with tempfile.TemporaryDirectory(prefix="ephkey-bench-hs-") as d:
        r = Runner(mp, Path(d))
        out: dict[str, Any] = {"unit": "us"}
        for task in TASKS:
            recs = r.run("hs_cost.py", dict(prof[task], task=task), timeout=600)
            out[task] = [x for x in recs if x.get("kind") == task][0]
            out["vm"] = [x for x in recs if x.get("kind") == "start"][0]["vm"]
    return out


NATIVE_TASKS = ("slices", "flood", "x25519")  # where the X25519 implementation matters


def run_emu(native: bool = False) -> dict[str, Any]:
    """The same tasks on the emulated board, in instructions (ticks x 1000).

    native: with the armv6m native X25519 module (make natmod) on the board's
    flash, so the frozen ephkey.x25519 loads it; only NATIVE_TASKS then. Raises
    BenchError when there is no native module to load."""
    import bench_emu
    from bench_run import BenchError, compose, parse_bench

    elf = bench_emu._image(lambda line: None)
    mod = bench_emu._native_x25519() if native else None
    if native and mod is None:
        raise BenchError("no armv6m native X25519 module (make natmod needs arm-none-eabi-gcc)")
    out: dict[str, Any] = {"unit": "instructions", "x25519": "native" if native else "viper"}
    with tempfile.TemporaryDirectory(prefix="ephkey-bench-hs-emu-") as d:
        for task in (NATIVE_TASKS if native else TASKS):
            tree = Path(d) / task
            tree.mkdir()
            if mod is not None:
                (tree / mod.name).write_bytes(mod.read_bytes())
            (tree / "main.py").write_text(compose("hs_cost.py", dict(EMU[task], task=task,
                                                                     emu=True)))
            recs = parse_bench(bench_emu._boot(tree, elf))
            got = [x for x in recs if x.get("kind") == task]
            if not got:
                raise BenchError("emulated board, %s: no result" % task)
            out[task] = _scaled(got[0], 1000)
            out["vm"] = [x for x in recs if x.get("kind") == "start"][0]["vm"]
    return out


def _scaled(rec: Any, k: int) -> Any:
    """Every time of a record times k (ticks_us to instructions); ratios unchanged."""
    if isinstance(rec, dict):
        return {key: (v if key in ("ratio", "calls", "n", "early_codes", "jobs_created",
                                   "slot_fails", "max_kind", "bytes", "raw_draws",
                                   "reseed_every", "alloc_bytes", "impl", "pairs_shared",
                                   "pairs_fresh", "suite") else _scaled(v, k))
                for key, v in rec.items()}
    if isinstance(rec, list):
        return [_scaled(v, k) for v in rec]
    if isinstance(rec, (int, float)) and not isinstance(rec, bool):
        return rec * k
    return rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny counts (a smoke run)")
    ap.add_argument("--emu", action="store_true",
                    help="on the emulated Cortex-M3 (make emu), in instructions")
    ap.add_argument("--json", help="write the results to this file")
    a = ap.parse_args()
    res = run_emu() if a.emu else run(a.quick)
    u = "us" if res["unit"] == "us" else "instr"
    fmt = "%.1f " + u if u == "us" else "%.0f " + u
    fl = res["floor"]
    fo = res["forged"]
    rows = [
        ("suite-1 handshake, first station CPU", fmt % fl["hs_us"]["median"],
         "native floor " + fmt % fl["native_us"]["median"], fl["ratio"]),
        ("forged suite-2 PROOF (wrong t)", fmt % fo["forged_us"]["median"],
         "early reject " + fmt % fo["early_us"]["median"], fo["ratio"]),
    ]
    print("MicroPython %s (%s)" % (res["vm"]["version"], res["vm"]["machine"]))
    for name, ours, base, ratio in rows:
        ok = "meets" if ratio["median"] <= TARGET else "MISSES"
        print("%-40s %14s  %-30s ratio %.2f (min %.2f, max %.2f): %s the %.0fx target" % (
            name, ours, base, ratio["median"], ratio["min"], ratio["max"], ok, TARGET))
    print("native calls per handshake: %s" % fl["calls"])
    print("forged PROOFs that created a job: %d" % fo["jobs_created"])
    for who, st in sorted(res["slices"]["stations"].items()):
        line = "longest work() call at %s: %s (%s), median %s, %d calls" % (
            who, fmt % st["max"], st["max_kind"], fmt % st["median"], st["n"])
        if u != "us":
            import bench_emu
            est = bench_emu.rp2040_ms(st["max"])
            line += "; est. RP2040 %.1f ms (%.1f-%.1f)" % (est["mid"], est["low"], est["high"])
        print(line)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
