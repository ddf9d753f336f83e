"""The emulated Cortex-M3 section of `make bench` (tools/bench.py): counts in
instructions, on the image `make emu` builds (tools/emubuild.py).

QEMU runs the board with ``-icount shift=0``: one guest instruction is 1 ns
of virtual time, so ``time.ticks_us()`` inside the board counts instructions
/ 1000, whatever else the host does. The bench scripts run as the board's
main.py (no console input at all) on the frozen ``ephkey`` of the image
(armv6m code), with deterministic RNGs and inputs, so two boots give the same
counts; :func:`run` boots twice and says whether they matched.

* :func:`counts`: per handshake, each role's own work, each suite; per DATA
  frame seal and open at 16, 64, 256 and 1024 bytes, with the raw cryptolib
  CBC and ECB work over the same bytes (the floor); one X25519 (tools/bench_mp/icount.py).
* :func:`peak_heap`: the heap a first station needs to serve 8 sessions on
  this 32-bit VM, in the image's own 140 KiB heap: a ballast bytearray takes
  part of the free heap and the run replays the 8 handshakes' input frames
  (tools/bench_mp/heapfit.py, recorded by the unix VM as the memory step does);
  the largest ballast that still works, searched in 1 KiB steps, gives the
  smallest free heap that serves them, less the same search for the imports only.

RP2040 estimates: the counts are Cortex-M3 (Thumb-2) instructions of the
MicroPython VM compiled for the M3, with ephkey's viper code compiled for
armv6m. An RP2040 (Cortex-M0+, 125 MHz on a Pico W) runs the same Python in
about ``k`` cycles per counted instruction, k = 1.6 to 2.8, central 2.1:
Thumb-1 code for the VM is some 15-35 % more instructions than Thumb-2, the
M0+ takes 2 cycles for loads, stores and taken branches (1.4-1.6 cycles per
instruction for interpreter code), and code run from the QSPI flash through
the 16 KB XIP cache stalls on misses (up to 30 % more). So
``t_RP2040 = count x k / 125 MHz``: an estimate from the two cores' published
timings, not a measurement on an RP2040; its range is the uncertainty.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_run import MP_DIR, BenchError, Runner, compose, find_mpy_cross, parse_bench

RP2040_HZ = 125_000_000
K_LOW, K_MID, K_HIGH = 1.6, 2.1, 2.8
DEFAULT_CFG = {"ring_slots": 8, "sessions": 8, "idrks": 4}

PROFILES: dict[str, dict[str, Any]] = {
    "full": {"suites": [1, 2], "stations": 4, "warm": 4, "n": 8, "sizes": [16, 64, 256, 1024],
             "iters": 200, "heap_step": 1024},
    "quick": {"suites": [1, 2], "stations": 2, "warm": 2, "n": 2, "sizes": [16, 64, 256, 1024],
              "iters": 20, "heap_step": 8192},
}


def rp2040_ms(count: float) -> dict[str, float]:
    """Estimated RP2040 time of `count` emulated Cortex-M3 instructions (ms)."""
    return {k: count * f / RP2040_HZ * 1000 for k, f in
            (("mid", K_MID), ("low", K_LOW), ("high", K_HIGH))}


def unavailable() -> str | None:
    """Why the section cannot run here, or None."""
    import emubuild

    missing = emubuild.missing_packages()
    if missing:
        return emubuild.packages_line(missing)
    try:
        emubuild.resolve_source(os.environ.get("MICROPYTHON_SRC", "").strip() or None)
    except emubuild.BuildError as e:
        return str(e)
    return None


def _image(log: Callable[[str], None]) -> Path:
    import emubuild

    try:
        return emubuild.build(os.environ.get("MICROPYTHON_SRC", "").strip() or None,
                              log=log) / "firmware.elf"
    except emubuild.BuildError as e:
        raise BenchError(str(e)) from None


def _boot(tree: Path, elf: Path, timeout: float = 600) -> str:
    import emuboard

    r = emuboard.run(tree, timeout=timeout, icount=True, elf=elf)
    if r.status is None:
        raise BenchError(f"emulated board: no result after {timeout:.0f} s:\n{r.output[-2000:]}")
    return r.output


def _native_x25519() -> Path | None:
    """The armv6m native X25519 module (make natmod), if it builds here."""
    import natmod

    return natmod.for_board("armv6m", log=lambda _line: None)


def counts(elf: Path, work: Path, params: dict[str, Any]) -> dict[str, Any]:
    """One boot of the instruction-count script; its BENCH records by kind."""
    tree = work / "counts"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    (tree / "main.py").write_text(compose("icount.py", params))
    native = _native_x25519()
    if native is not None:  # on the flash: the frozen ephkey.x25519 loads it
        shutil.copyfile(native, tree / native.name)
    out = _boot(tree, elf)
    recs = parse_bench(out)
    if not any(r.get("kind") == "end" for r in recs):
        raise BenchError("icount run failed:\n" + "\n".join(out.splitlines()[-25:]))
    res: dict[str, Any] = {"vm": recs[0].get("vm"), "handshake": {}, "datapath": {}}
    for r in recs:
        if r["kind"] == "handshake":
            res["handshake"][f"s{r['suite']}"] = {
                k: r[k] for k in ("first", "second", "gc", "first_floor", "second_floor",
                                  "first_x25519", "second_x25519", "first_calls",
                                  "second_calls")}
        elif r["kind"] == "datapath":
            res["datapath"][str(r["size"])] = {k: r[k] for k in
                                               ("seal", "open", "cbc", "ecb", "iters",
                                                "mac_blocks", "ctr_blocks")}
        elif r["kind"] == "x25519":
            res["x25519"] = {"x25519": r["x25519"], "x25519_base": r["x25519_base"],
                             "native": native is not None}
            if "x25519_viper" in r:
                res["x25519"]["x25519_viper"] = r["x25519_viper"]
    return res


_HEAPFIT_MAIN = """\
import gc, sys
import emu
gc.collect()
free0 = gc.mem_free()
ballast = bytearray(%d) if %d else None
sys.argv[:] = ["bench_heapfit"] + %r
ok = False
try:
    import bench_heapfit
    ok = True
except MemoryError:
    pass
except SystemExit:
    pass
print("HEAPFIT-RESULT %%d %%d" %% (free0, ok))
emu.exit(0)
"""


def _fits(elf: Path, tree: Path, ballast: int, args: list[str]) -> tuple[bool, int]:
    (tree / "main.py").write_text(_HEAPFIT_MAIN % (ballast, ballast, args))
    out = _boot(tree, elf)
    m = re.search(r"HEAPFIT-RESULT (\d+) (\d)", out)
    if m is None:
        raise BenchError("heapfit run printed no result:\n" + out[-1500:])
    return m.group(2) == "1" and "HEAPFIT OK" in out, int(m.group(1))


def _largest_ballast(elf: Path, tree: Path, args: list[str], step: int) -> tuple[int, int]:
    """(largest ballast in bytes, multiple of step, with which the run works; free heap)."""
    ok, free0 = _fits(elf, tree, 0, args)
    if not ok:
        raise BenchError(f"heapfit {args}: fails even without ballast")
    lo, hi = 0, free0 // step + 1  # lo steps work, hi steps do not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _fits(elf, tree, mid * step, args)[0]:
            lo = mid
        else:
            hi = mid
    return lo * step, free0


def peak_heap(elf: Path, work: Path, runner: Runner, suites: list[int],
              step: int) -> dict[str, Any]:
    """The smallest free heap with which a first station serves 8 sessions (per suite)."""
    tree = work / "heapfit"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    mpy_cross = find_mpy_cross()
    proc = subprocess.run([mpy_cross, "-march=armv6m", "-o", str(tree / "bench_heapfit.mpy"),
                           str(MP_DIR / "heapfit.py")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"mpy-cross heapfit.py: {proc.stderr}")
    c = DEFAULT_CFG
    cfg_args = [str(c["ring_slots"]), str(c["sessions"]), str(c["idrks"])]
    base, free0 = _largest_ballast(elf, tree, ["-", "1", *cfg_args], step)
    res: dict[str, Any] = {"free_at_boot": free0, "step": step, "config": c,
                           "import_only_need": free0 - base}
    logs = work / "logs"
    for suite in suites:
        d = logs / f"s{suite}"
        d.mkdir(parents=True, exist_ok=True)
        runner.task({"task": "memory", "suite": suite, "configs": [c], "log_dir": str(d)},
                    timeout=400)
        name = "log_%d_%d_%d.bin" % (c["ring_slots"], c["sessions"], c["idrks"])
        shutil.copyfile(d / name, tree / f"log{suite}.bin")
        ballast, _ = _largest_ballast(elf, tree, [f"log{suite}.bin", str(suite), *cfg_args],
                                      step)
        need = free0 - ballast
        res[f"s{suite}"] = {"need": need, "station": need - res["import_only_need"]}
    return res


def run(work: Path, runner: Runner, profile: str, log: Callable[[str], None]) -> dict[str, Any]:
    """The whole section: counts twice (two boots) and the peak heap."""
    p = PROFILES[profile]
    elf = _image(log)
    info = json.loads((elf.parent / "image.json").read_text())
    params = {k: p[k] for k in ("suites", "stations", "warm", "n", "sizes", "iters")}
    log("bench: emulated Cortex-M3: instruction counts, run 1 ...")
    run1 = counts(elf, work, params)
    log("bench: emulated Cortex-M3: instruction counts, run 2 ...")
    run2 = counts(elf, work, params)
    log("bench: emulated Cortex-M3: peak heap of a first station serving 8 sessions ...")
    heap = peak_heap(elf, work, runner, p["suites"], p["heap_step"])
    return {"image": {k: info.get(k) for k in ("key", "source", "board", "frozen_arch")},
            "params": params, "run1": run1, "run2": run2, "identical": run1 == run2,
            "heap": heap, "rp2040": {"hz": RP2040_HZ, "k": [K_LOW, K_MID, K_HIGH]}}


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n & 1 else (s[n // 2 - 1] + s[n // 2]) / 2


def figures(raw: dict[str, Any],
            state_floor: Callable[[dict[str, int], int], int]) -> list[dict[str, Any]]:
    """The section's figures: name, what, instructions of run 1 and run 2 (None for
    heap figures), value, unit, baseline and its label. ``state_floor``: bench.py's
    bytes of state the spec requires, the heap figures' baseline."""
    r1, r2 = raw["run1"], raw["run2"]
    out: list[dict[str, Any]] = []
    x = r1["x25519"]
    native = bool(x.get("native"))
    for s in sorted(r1["handshake"]):
        for role in ("first", "second"):
            h = r1["handshake"][s]
            a = median(h[role])
            b = median(r2["handshake"][s][role])
            nx = h[role + "_x25519"]
            floor = h[role + "_floor"] + (nx * x["x25519"] if native else 0)
            xs = (f" + {nx} native X25519 of the same boot" if native and nx else
                  (f"; its {nx} X25519 runs are not in it (no native module)" if nx else ""))
            out.append({"name": f"emu.handshake.{s}.{role}", "what":
                        f"suite {s[1]} handshake, {role} station's own work (median of "
                        f"{len(h[role])})", "run1": a, "run2": b,
                        "unit": "instructions", "baseline": floor,
                        "baseline_label": f"its hashlib/cryptolib calls replayed alone{xs}"})
    for size in sorted(r1["datapath"], key=int):
        d1, d2 = r1["datapath"][size], r2["datapath"][size]
        floor1 = d1["cbc"] + d1["ecb"]
        for op in ("seal", "open"):
            out.append({"name": f"emu.data.{size}B.{op}", "what":
                        f"DATA frame, {size}-byte payload, {op}", "run1": d1[op],
                        "run2": d2[op], "unit": "instructions", "baseline": floor1,
                        "baseline_label": "raw cryptolib CBC + ECB over the same bytes"})
        for op, label in (("cbc", f"{d1['mac_blocks']} blocks"),
                          ("ecb", f"{d1['ctr_blocks']} blocks")):
            out.append({"name": f"emu.data.{size}B.floor_{op}", "what":
                        f"raw cryptolib {op.upper()}, {label} (one CCM pass at {size} B)",
                        "run1": d1[op], "run2": d2[op], "unit": "instructions",
                        "baseline": d1[op], "baseline_label": "itself"})
    impl = "native module" if native else "viper"
    target = ("issue 14's target, 11M instructions (not a measurement)", 11e6)
    for k, label in (("x25519", f"X25519 (scalar x point), {impl}"),
                     ("x25519_base", f"X25519 with the base point (a key pair), {impl}")):
        out.append({"name": f"emu.{k}", "what": label, "run1": x[k],
                    "run2": r2["x25519"][k], "unit": "instructions", "baseline": target[1],
                    "baseline_label": target[0]})
    if "x25519_viper" in x:
        out.append({"name": "emu.x25519_viper", "what": "X25519 (scalar x point), viper",
                    "run1": x["x25519_viper"], "run2": r2["x25519"]["x25519_viper"],
                    "unit": "instructions", "baseline": x["x25519"],
                    "baseline_label": "the native X25519 module, same boot (the floor)"})
    heap = raw["heap"]
    for s in ("s1", "s2"):
        if s in heap:
            out.append({"name": f"emu.heap_peak.{s}.r8_s8_k4", "what":
                        f"heap a first station needs to serve 8 sessions, suite {s[1]}",
                        "run1": None, "run2": None, "value": heap[s]["station"], "unit": "B",
                        "baseline": state_floor(heap["config"], int(s[1])),
                        "baseline_label": "keys, nonces and hashes the spec requires"})
    for f in out:
        f.setdefault("value", f["run1"])
    return out
