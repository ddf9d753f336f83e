#!/usr/bin/env python3
"""The CPU of a suite-3 handshake (docs/protocol.md 15.10) at each station,
next to a suite-2 handshake: tools/bench_mp/s3_cost.py in the MicroPython unix
VM (microseconds) or, with --emu, on the emulated Cortex-M3 (make emu) under
QEMU -icount (instructions; the native X25519 module on its flash when
``make natmod`` builds it, with --native).

    .venv/bin/python tools/bench_s3.py [--emu [--native]] [--rounds N]

Per station: the total of its receive() and work() calls in one handshake
(the interval's key pair excluded: prepare makes it once per interval), and
its longest work() call.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import Runner, compose, find_tool, parse_bench  # noqa: E402


def run(rounds: int, emu: bool, native: bool, gc_each: bool = False) -> list[dict[str, Any]]:
    params = {"task": "s3", "rounds": rounds, "emu": emu, "gc_each": gc_each}
    if not emu:
        with tempfile.TemporaryDirectory(prefix="ephkey-bench-s3-") as d:
            r = Runner(find_tool("micropython", "MICROPYTHON"), Path(d))
            return [x for x in r.run("s3_cost.py", params, timeout=600) if x.get("kind") == "s3"]
    import bench_emu

    elf = bench_emu._image(lambda line: None)
    with tempfile.TemporaryDirectory(prefix="ephkey-bench-s3-emu-") as d:
        tree = Path(d)
        (tree / "main.py").write_text(compose("s3_cost.py", params))
        if native:
            mod = bench_emu._native_x25519()
            if mod is None:
                raise SystemExit("no native X25519 module for armv6m (make natmod)")
            shutil.copy(mod, tree / mod.name)
        return [x for x in parse_bench(bench_emu._boot(tree, elf)) if x.get("kind") == "s3"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emu", action="store_true")
    ap.add_argument("--native", action="store_true")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--gc-each", action="store_true",
                    help="collect the heap before each work() call (a unit's own cost)")
    a = ap.parse_args()
    unit = 1000 if a.emu else 1
    name = "instructions" if a.emu else "us"
    recs = run(a.rounds, a.emu, a.native, a.gc_each)
    if len(recs) != 2:
        raise SystemExit("no result")
    for rec in recs:
        last = rec["runs"][-1]  # after the first: imports and first allocations done
        for who in ("F", "S"):
            x = last[who]
            print("suite %d  %s: %12d %s in the handshake, longest work() %10d (job step %d), "
                  "%d work calls" % (rec["suite"], who, x["total"] * unit, name,
                                     x["max_work"] * unit, x["max_phase"], x["work_calls"]))
            print("          the longest three (%s, job step): %s" % (
                name, [(d * unit, ph) for d, ph in x["units"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
