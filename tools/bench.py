"""`make bench`: what a handshake and a session cost, as ratios to baselines
measured in the same run.

    python tools/bench.py [--quick] [--out DIR] [--port PORT]

Runs on the MicroPython unix VM (MICROPYTHON=..., default: the `micropython`
next to this Python), and with PORT= (or --port) also the in-process benches
on a board that has the firmware installed (make deploy), through mpremote.
Writes DIR/results.json (one record per figure: name, value, unit, baseline,
ratio, spread), DIR/report.md and DIR/*.png (DIR defaults to bench/), and
prints a short table. --quick uses tiny counts (the smoke test); its figures
are not worth quoting.

Figures (the issue's numbering):
 1. handshake bytes on the wire (payload and link framing), messages, round
    trips; EDHOC and WireGuard (published) and TLS / TLS-PSK (measured here,
    MicroPython's mbedTLS `tls` module between two VMs over the same link)
 2. handshake time over LinkSim at 115200 8N1 between two MicroPython
    processes, ours and TLS; the wire-time floor (bytes x 10 / baud)
 3. first-station capacity (handshakes/s, one core) against its own crypto
    calls replayed alone; suite 2: key pair shared per interval vs. fresh
 4. AES-CCM protect + unprotect throughput against the raw cryptolib work
    and against the host's `cryptography` AESCCM
 5. heap in use and peak per configuration, bytes allocated per DATA frame,
    smallest -X heapsize that serves the full session table
 6. .mpy size per architecture against lakers and uoscore-uedhoc (published)
 7. scaling with ring size, session-table size and IDRKs per session
And an emulated Cortex-M3 section (tools/bench_emu.py, needs `make emu`): the
same work counted in instructions under QEMU -icount, two boots with identical
counts, an estimated RP2040 time beside each count, the peak heap of a first
station serving 8 sessions on that 32-bit VM.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_edhoc  # noqa: E402
import bench_emu  # noqa: E402
import bench_hs  # noqa: E402
import bench_report  # noqa: E402
from bench_run import (  # noqa: E402
    BAUD,
    MP_DIR,
    REPO,
    BenchError,
    LinkResult,
    Runner,
    build_mpy,
    find_mpy_cross,
    find_tool,
    run_ours_link,
    run_tls_link,
    smallest_heap,
)

ARCHS = ["armv6m", "armv7emsp", "armv7emdp", "xtensawin", "rv32imc", "x64"]
ARCH_BOARDS = {
    "armv6m": "RP2040 (Pico W)", "armv7emsp": "Cortex-M4F/M33 (RP2350, nRF52840 class)",
    "armv7emdp": "STM32F767 (PYBD-SF6)", "xtensawin": "ESP32", "rv32imc": "ESP32-C3/C6",
    "x64": "unix port",
}
BITS_PER_BYTE = 10  # 8N1

# Published figures (not measured here)
EDHOC_BYTES = 101  # RFC 9529 (EDHOC traces), method 3 (static DH keys), 3 messages
EDHOC_MESSAGES = 3
WIREGUARD_BYTES = 148 + 92  # handshake initiation + response
WIREGUARD_MESSAGES = 2
LAKERS_FLASH = 31_000  # lakers on nRF52840, crypto included ("31 kB")
UOSCORE_FLASH = 41_000  # uoscore-uedhoc on nRF52840, crypto included ("41 kB")

DEFAULT_CFG = {"ring_slots": 8, "sessions": 8, "idrks": 4}
# The capacity floor: the native calls the first station made, replayed alone
# (tools/bench_mp/common.py Natives). Its RNG is os.urandom here, not in it;
# suite 2's X25519 is viper code on the unix VM, so it is not in it either.
FLOOR_LABEL = ("its hashlib/cryptolib calls replayed alone (floor; os.urandom and, "
               "suite 2, X25519 not in it)")

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "link_blocks": 3, "link_n": 45, "link_warm": 2, "tls_n": 15, "tls_warm": 1,
        "cap": {"stations": 8, "warm": 5, "rounds": 11, "per_round": 60, "breakdown_reps": 100},
        "cap2": {"stations": 8, "warm": 2, "rounds": 9, "per_round": 25, "breakdown_reps": 5},
        "datapath": {"sizes": [16, 64, 256, 1024], "rounds": 11, "min_iters": 500,
                     "bytes_per_round": 131072},
        "host_ccm": {"rounds": 11, "iters": 5000},
        "alloc": {"sizes": [16, 256], "frames": 500},
        "x25519": {"reps": 21}, "host_x25519": {"rounds": 11, "iters": 300},
        "scaling": {"warm": 3, "rounds": 9, "per_round": 30,
                    "ring_slots": [3, 8, 16, 32, 64, 128, 255],
                    "sessions": [1, 2, 4, 8, 16, 32, 64],
                    "idrks": [1, 2, 4, 8, 16, 64, 255]},
        "heapfit_all": True,
        "board": {"x25519": 3, "cap_rounds": 5, "cap_per_round": 5, "cap2_per_round": 2,
                  "dp_rounds": 5, "dp_bytes": 8192, "dp_min_iters": 20, "alloc_frames": 50},
    },
    "quick": {
        "link_blocks": 1, "link_n": 2, "link_warm": 1, "tls_n": 1, "tls_warm": 0,
        "cap": {"stations": 2, "warm": 1, "rounds": 3, "per_round": 3, "breakdown_reps": 2},
        "cap2": {"stations": 2, "warm": 1, "rounds": 3, "per_round": 1, "breakdown_reps": 1},
        "datapath": {"sizes": [16, 64, 256, 1024], "rounds": 3, "min_iters": 5,
                     "bytes_per_round": 4096},
        "host_ccm": {"rounds": 3, "iters": 50},
        "alloc": {"sizes": [16], "frames": 20},
        "x25519": {"reps": 3}, "host_x25519": {"rounds": 3, "iters": 5},
        "scaling": {"warm": 1, "rounds": 3, "per_round": 2,
                    "ring_slots": [3, 8], "sessions": [1, 8], "idrks": [1, 4]},
        "heapfit_all": False,
        "board": {"x25519": 1, "cap_rounds": 3, "cap_per_round": 2, "cap2_per_round": 1,
                  "dp_rounds": 3, "dp_bytes": 1024, "dp_min_iters": 5, "alloc_frames": 10},
    },
}


def cfg_key(c: dict[str, int]) -> str:
    return "r%d_s%d_k%d" % (c["ring_slots"], c["sessions"], c["idrks"])


def state_floor(c: dict[str, int], suite: int) -> int:
    """Bytes of keys, nonces and hashes the spec has the first station hold
    (section 4): per ring slot the SRK (suite 2: the key pair), per session
    n_s, n_f, the transcript hash, MS, the accepted PROOF and K IDRKs, per
    peer the identities and PS. The baseline of the heap figures."""
    ring = c["ring_slots"] * (64 if suite == 2 else 16)
    sessions = c["sessions"] * (16 + 16 + 32 + 32 + 24 + 16 * c["idrks"])
    peers = c["sessions"] * (8 + 8 + 16)
    return ring + sessions + peers


def spread_of(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def core_modules(roots: tuple[str, ...] = ("first", "second", "link", "config")
                 ) -> set[str]:
    """The firmware modules the two stations and the link layer import,
    transitively (relative imports in firmware/ephkey/): the protocol without
    the runtime, transports, board files and apps."""
    pkg = REPO / "firmware" / "ephkey"
    names = {p.stem for p in pkg.glob("*.py")}
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        mod = todo.pop()
        if mod in seen or mod not in names:
            continue
        seen.add(mod)
        for line in (pkg / f"{mod}.py").read_text().splitlines():
            m = re.match(r"\s*from \.(\w*) import (.+)", line)
            if not m:
                continue
            if m.group(1):
                todo.append(m.group(1))
            else:
                todo += [x.split(" as ")[0].strip(" ()") for x in m.group(2).split(",")]
    return seen


def merge_links(runs: list[LinkResult]) -> LinkResult:
    """One result from several blocks of the same kind of run."""
    first = runs[0]
    total = sum(r.handshakes for r in runs)

    def avg(attr: str) -> float:
        return sum(getattr(r, attr) * r.handshakes for r in runs) / total

    extra: dict[str, Any] = {"blocks": len(runs)}
    for k, v in first.extra.items():
        if isinstance(v, list):
            extra[k] = [x for r in runs for x in r.extra[k]]
        else:
            extra[k] = v
    per_type: dict[str, Any] = {}
    for r in runs:
        for t, e in r.per_type.items():
            acc = per_type.setdefault(t, {"frames": 0, "wire": 0, "payload": 0})
            for f in acc:
                acc[f] += e[f]
    return LinkResult(label=first.label, times_us=[x for r in runs for x in r.times_us],
                      handshakes=total, wire_bytes=avg("wire_bytes"),
                      payload_bytes=avg("payload_bytes"), framing_bytes=avg("framing_bytes"),
                      messages=avg("messages"), flights=avg("flights"), per_type=per_type,
                      extra=extra)


def machine_info(micropython: str) -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import cryptography

        crypto_version = cryptography.__version__
    except ImportError:
        crypto_version = "?"
    code = ("import sys; i = sys.implementation; v = i.version; print('%s v%d.%d.%d%s; %s; "
            "%s variant' % (i.name, v[0], v[1], v[2], ('-' + v[3]) if len(v) > 3 and v[3] "
            "else '', sys.version, getattr(i, '_build', '?')))")
    try:
        mp = subprocess.run([micropython, "-c", code], capture_output=True, text=True,
                            timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        mp = f"? ({e})"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "uname_m": platform.machine(), "system": f"{platform.system()} {platform.release()}",
        "cpu": cpu, "cores": os.cpu_count(), "micropython": mp,
        "python": platform.python_version(), "cryptography": crypto_version,
        "loadavg_start": list(os.getloadavg()),
    }


class Bench:
    def __init__(self, profile: str, out: Path, port: str, log: Callable[[str], None]) -> None:
        self.P = PROFILES[profile]
        self.profile = profile
        self.out = out
        self.port = port
        self.log = log
        self.tmp = Path(tempfile.mkdtemp(prefix="ephkey-bench-"))
        self.micropython = find_tool("micropython", "MICROPYTHON")
        self.runner = Runner(self.micropython, self.tmp, log=log)
        self.raw: dict[str, Any] = {}
        self.records: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.errors: list[str] = []
        self.steps: dict[str, float] = {}
        self.suite2 = False

    # ---------------------------------------------------------------- helpers

    def step(self, name: str, fn: Callable[[], None]) -> None:
        t0 = time.monotonic()
        self.log(f"bench: {name} ...")
        try:
            fn()
        except (BenchError, OSError, ValueError, KeyError, IndexError, RuntimeError,
                subprocess.SubprocessError) as e:
            self.errors.append(f"{name}: {e}")
            self.log(f"bench: {name} FAILED: {e}")
        self.steps[name] = time.monotonic() - t0

    def rec(self, name: str, figure: str, value: float, unit: str, baseline: float,
            baseline_label: str, *, spread: dict[str, float] | None = None,
            note: str = "", baseline_spread: dict[str, float] | None = None,
            published: bool = False, paired: dict[str, float] | None = None) -> None:
        """One figure. `paired`: the spread of ratios of value and baseline measured
        in alternating rounds; its median is then the record's ratio."""
        r: dict[str, Any] = {
            "name": name, "figure": figure, "value": value, "unit": unit,
            "baseline": baseline, "baseline_label": baseline_label,
            "ratio": value / baseline if baseline else (0.0 if value == 0 else math.inf),
            "baseline_published": published,
        }
        if paired:
            r.update(ratio=paired["median"], ratio_min=paired["min"], ratio_max=paired["max"],
                     ratio_paired=True)
        if spread:
            r.update(min=spread["min"], max=spread["max"], n=spread["n"])
        if baseline_spread:
            r.update(baseline_min=baseline_spread["min"], baseline_max=baseline_spread["max"],
                     baseline_n=baseline_spread["n"])
        if note:
            r["note"] = note
        self.records.append(r)

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append({"name": name, "reason": reason})

    def suites(self) -> list[int]:
        return [1, 2] if self.suite2 else [1]

    # ---------------------------------------------------------------- steps

    def probe(self) -> None:
        recs = self.runner.task({"task": "probe"})
        probe = recs[0]
        self.raw["probe"] = probe
        if not probe["suite1"]["ok"]:
            raise BenchError("suite 1 handshake fails in-process: " + probe["suite1"]["reason"])
        self.suite2 = bool(probe["suite2"]["ok"])
        if not self.suite2:
            reason = ("suite 2 is not in the firmware yet: a FirstStation(suites=(2,)) / "
                      "SecondStation(offer=(2,)) handshake fails with "
                      + probe["suite2"].get("reason", "?"))
            for name in ("wire.s2", "time.s2", "capacity.s2", "memory.s2"):
                self.skip(name, reason)

    def link(self) -> None:
        """Ours and TLS in alternating blocks, so a busy spell of the machine
        hits them alike; each block runs fresh processes."""
        P = self.P
        cert, key = self._tls_cert()
        psk = os.urandom(16)
        runs: dict[str, list[LinkResult]] = {}
        blocks = P["link_blocks"]
        for _ in range(blocks):
            for suite in self.suites():
                runs.setdefault(f"s{suite}", []).append(run_ours_link(
                    self.runner, suite, P["link_n"] // blocks, P["link_warm"]))
            runs.setdefault("tls_cert", []).append(run_tls_link(
                self.runner, P["tls_n"] // blocks, P["tls_warm"], cert, key))
            runs.setdefault("tls_psk", []).append(run_tls_link(
                self.runner, P["tls_n"] // blocks, P["tls_warm"], None, None, psk=psk))
        self.raw["link"] = {k: merge_links(v).__dict__ for k, v in runs.items()}

    def _tls_cert(self) -> tuple[Path, Path]:
        """A self-signed P-256 certificate and key, DER, made for this run."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ephkey-bench")])
        start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("ephkey-bench")]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        cpath, kpath = self.tmp / "cert.der", self.tmp / "key.der"
        cder = cert.public_bytes(serialization.Encoding.DER)
        cpath.write_bytes(cder)
        kpath.write_bytes(key.private_bytes(serialization.Encoding.DER,
                                            serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption()))
        self.raw["tls_cert_der_bytes"] = len(cder)
        return cpath, kpath

    def capacity(self) -> None:
        self.raw["capacity"] = {}
        for suite in self.suites():
            p = dict(self.P["cap" if suite == 1 else "cap2"], task="capacity", suite=suite,
                     modes=["shared", "fresh"])
            for r in self.runner.task(p, timeout=400):
                if r["kind"] == "capacity_pair":
                    self.raw["capacity"][f"s{suite}_pair"] = r
                else:
                    self.raw["capacity"][f"s{suite}_{r['mode']}"] = r

    def x25519(self) -> None:
        r = self.runner.task({"task": "x25519", "reps": self.P["x25519"]["reps"]})[0]
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        a = X25519PrivateKey.generate()
        b = X25519PrivateKey.generate().public_key()
        host = []
        hp = self.P["host_x25519"]
        for _ in range(hp["rounds"]):
            t0 = time.perf_counter()
            for _ in range(hp["iters"]):
                a.exchange(b)
            host.append((time.perf_counter() - t0) / hp["iters"] * 1e6)
        r["host_us"] = spread_of(host)
        self.raw["x25519"] = r

    def datapath(self) -> None:
        p = dict(self.P["datapath"], task="datapath")
        self.raw["datapath"] = {str(r["size"]): r for r in self.runner.task(p)}
        from cryptography.hazmat.primitives.ciphers.aead import AESCCM

        hp = self.P["host_ccm"]
        ccm = AESCCM(os.urandom(16), tag_length=8)
        nonce, aad = os.urandom(13), os.urandom(12)
        for size in p["sizes"]:
            pt = os.urandom(size)
            ts = []
            for _ in range(hp["rounds"]):
                t0 = time.perf_counter()
                for _ in range(hp["iters"]):
                    ccm.decrypt(nonce, ccm.encrypt(nonce, pt, aad), aad)
                ts.append((time.perf_counter() - t0) / hp["iters"] * 1e6)
            self.raw["datapath"][str(size)]["host_us"] = spread_of(ts)

    def alloc(self) -> None:
        p = dict(self.P["alloc"], task="alloc")
        self.raw["alloc"] = self.runner.task(p)[0]["sizes"]

    def _memory_configs(self) -> list[dict[str, int]]:
        sc = self.P["scaling"]
        configs = [dict(DEFAULT_CFG)]
        for param in ("ring_slots", "sessions", "idrks"):
            for v in sc[param]:
                c = dict(DEFAULT_CFG)
                c[param] = v
                if c not in configs:
                    configs.append(c)
        return configs

    def memory(self) -> None:
        self.raw["memory"] = {}
        logs = self.tmp / "logs"
        logs.mkdir(exist_ok=True)
        for suite in self.suites():
            configs = self._memory_configs() if suite == 1 else [dict(DEFAULT_CFG)]
            p = {"task": "memory", "suite": suite, "configs": configs,
                 "log_dir": str(logs / f"s{suite}"), "peak_bound": suite == 1}
            (logs / f"s{suite}").mkdir(exist_ok=True)
            for r in self.runner.task(p, timeout=400):
                self.raw["memory"][f"s{suite}_{cfg_key(r['config'])}"] = r

    def sizes(self) -> None:
        mpy_cross = find_mpy_cross()
        self.raw["sizes"] = {}
        core = core_modules()
        self.raw["core_modules"] = sorted(core)
        for arch in ARCHS:
            extra = ((MP_DIR / "heapfit.py", "bench_heapfit.py"),) if arch == "x64" else ()
            files = build_mpy(mpy_cross, arch, self.tmp / "mpy" / arch, extra)
            self.raw["sizes"][arch] = {
                "total": sum(files.values()), "files": files,
                "core": sum(v for k, v in files.items() if Path(k).stem in core)}
        src = sorted((REPO / "firmware" / "ephkey").glob("*.py"))
        self.raw["source_bytes"] = sum(p.stat().st_size for p in src)
        self.raw["source_files"] = len(src)

    def heapfit(self) -> None:
        mpy = self.tmp / "mpy" / "x64"
        if not (mpy / "bench_heapfit.mpy").exists():
            raise BenchError("no x64 .mpy tree (the size step failed)")
        res: dict[str, Any] = {"import_only_kib": smallest_heap(
            self.micropython, mpy, ["-", "1", "8", "8", "4"])}
        logs = self.tmp / "logs"
        for key, m in self.raw.get("memory", {}).items():
            suite = m["suite"]
            c = m["config"]
            if not self.P["heapfit_all"] and c != DEFAULT_CFG:
                continue
            log = logs / f"s{suite}" / ("log_%d_%d_%d.bin" % (c["ring_slots"], c["sessions"],
                                                              c["idrks"]))
            args = [str(log), str(suite), str(c["ring_slots"]), str(c["sessions"]),
                    str(c["idrks"])]
            res[key] = smallest_heap(self.micropython, mpy, args)
        self.raw["heapfit"] = res

    def scaling(self) -> None:
        sc = self.P["scaling"]
        self.raw["scaling"] = {}
        for param in ("ring_slots", "sessions", "idrks"):
            p = {"task": "scaling", "suite": 1, "param": param, "values": sc[param],
                 "warm": sc["warm"], "rounds": sc["rounds"], "per_round": sc["per_round"]}
            # every value's station alive at once (up to 64 sessions, 255 ring slots
            # or IDRKs each), the firmware compiled from source into the heap: more
            # than the unix port's default heap, which ran out (MemoryError). This
            # figure is CPU time; the heap is measured apart (figure 5).
            self.raw["scaling"][param] = {str(r["value"]): r
                                          for r in self.runner.task(p, heapsize="16M")}

    def board(self) -> None:
        if not self.port:
            self.skip("board", "no board given: run make bench PORT=/dev/ttyACM0 (a board with "
                      "the firmware installed by make deploy) to add board figures")
            return
        b = self.P["board"]
        runner = Runner(self.micropython, self.tmp, port=self.port,
                        mpremote=find_tool("mpremote", "MPREMOTE"), log=self.log)
        raw: dict[str, Any] = {}
        probe = runner.task({"task": "probe"}, timeout=600)[0]
        raw["probe"] = probe
        raw["x25519"] = runner.task({"task": "x25519", "reps": b["x25519"]}, timeout=600)[0]
        raw["capacity"] = {}
        suites = [1, 2] if probe["suite2"]["ok"] else [1]
        for suite in suites:
            p = {"task": "capacity", "suite": suite, "modes": ["shared", "fresh"],
                 "stations": 2, "warm": 1, "rounds": b["cap_rounds"],
                 "per_round": b["cap_per_round"] if suite == 1 else b["cap2_per_round"],
                 "breakdown_reps": 3}
            for r in runner.task(p, timeout=900):
                if r["kind"] == "capacity":
                    raw["capacity"][f"s{suite}_{r['mode']}"] = r
        p = {"task": "datapath", "sizes": [16, 64, 256, 1024], "rounds": b["dp_rounds"],
             "min_iters": b["dp_min_iters"], "bytes_per_round": b["dp_bytes"]}
        raw["datapath"] = {str(r["size"]): r for r in runner.task(p, timeout=600)}
        raw["alloc"] = runner.task({"task": "alloc", "sizes": [16, 256],
                                    "frames": b["alloc_frames"]}, timeout=600)[0]["sizes"]
        raw["memory"] = runner.task({"task": "memory", "suite": 1, "configs": [DEFAULT_CFG]},
                                    timeout=600)[0]
        self.raw["board"] = raw

    def headline(self) -> None:
        """Issue 14's figures against honest floors (tools/bench_hs.py: the
        suite-1 handshake over its native calls, the forged PROOF, X25519
        slices, the suite-2 REQ flood, the DRBG draw, X25519 allocation), on
        the unix VM and, in the full profile, on the emulated Cortex-M3 with
        viper and with the native X25519; lakers-python's EDHOC beside our
        host suites (tools/bench_edhoc.py); .mpy bytes per role on armv6m."""
        quick = self.profile == "quick"
        h: dict[str, Any] = {"unix": bench_hs.run(quick, self.micropython)}
        self.raw["headline"] = h
        h["edhoc"] = bench_edhoc.run(quick)
        if not h["edhoc"]["installed"]:
            self.skip("edhoc", h["edhoc"]["lakers"])
        import deploy

        sizes = deploy.size_table("armv6m", "rp2", log=lambda _line: None)  # the Pico W
        h["sizes_armv6m"] = {f"{r}.{t}.{'pair' if p else 'nopair'}": v
                             for (r, t, p), v in sizes.items()}
        if quick:
            return
        why = bench_emu.unavailable()
        if why:
            self.skip("headline.emu", why)
            return
        h["emu_viper"] = bench_hs.run_emu(False)
        try:
            h["emu_native"] = bench_hs.run_emu(True)
        except BenchError as e:
            self.skip("headline.emu_native", str(e))

    def emu(self) -> None:
        if self.profile == "quick":
            self.skip("emu", "--quick: the emulated Cortex-M3 section runs in the full bench "
                      "(tests/host/test_emu_bench.py runs it with small counts)")
            return
        why = bench_emu.unavailable()
        if why:
            self.skip("emu", why)
            return
        self.raw["emu"] = bench_emu.run(self.tmp / "emu", self.runner, self.profile, self.log)
        if not self.raw["emu"]["identical"]:
            raise BenchError("emulated Cortex-M3: two boots gave different instruction counts")

    # ---------------------------------------------------------------- records

    def build_records(self) -> None:
        raw = self.raw
        link = raw.get("link", {})
        tls = LinkResult(**link["tls_cert"]) if "tls_cert" in link else None
        psk = LinkResult(**link["tls_psk"]) if "tls_psk" in link else None
        floor_ms = BITS_PER_BYTE / BAUD * 1000  # per byte
        for suite in self.suites():
            if f"s{suite}" not in link or not tls or not psk:
                continue
            ours = LinkResult(**link[f"s{suite}"])
            s = f"s{suite}"
            fig1 = "1. handshake on the wire"
            self.rec(f"wire.{s}.bytes_total", fig1, ours.wire_bytes, "B/handshake",
                     tls.wire_bytes, "TLS 1.2, P-256 certificate (mbedTLS, measured)")
            self.rec(f"wire.{s}.bytes_total_vs_tls_psk", fig1, ours.wire_bytes, "B/handshake",
                     psk.wire_bytes, "TLS 1.2 PSK (mbedTLS, measured)")
            self.rec(f"wire.{s}.payload_bytes", fig1, ours.payload_bytes, "B/handshake",
                     EDHOC_BYTES, "EDHOC, RFC 9529 method 3 (published)", published=True)
            self.rec(f"wire.{s}.payload_vs_wireguard", fig1, ours.payload_bytes, "B/handshake",
                     WIREGUARD_BYTES, "WireGuard 148 + 92 (published)", published=True)
            tls_headers = 5 * tls.messages
            self.rec(f"wire.{s}.framing_bytes", fig1, ours.framing_bytes, "B/handshake",
                     tls_headers, "TLS record headers, 5 B x records (measured)",
                     note="COBS + CRC-32 + two 0x00 delimiters per frame (docs/link.md)")
            self.rec(f"wire.{s}.messages", fig1, ours.messages, "messages/handshake",
                     EDHOC_MESSAGES, "EDHOC messages (published)", published=True)
            self.rec(f"wire.{s}.round_trips", fig1, ours.flights / 2, "round trips",
                     tls.flights / 2, "TLS 1.2 round trips (measured)")
            fig2 = "2. handshake time, 115200 baud"
            t = spread_of([x / 1000 for x in ours.times_us])
            tt = spread_of([x / 1000 for x in tls.times_us])
            tp = spread_of([x / 1000 for x in psk.times_us])
            self.rec(f"time.{s}.handshake_ms", fig2, t["median"], "ms", tt["median"],
                     "TLS 1.2, P-256 certificate (measured)", spread=t, baseline_spread=tt)
            self.rec(f"time.{s}.handshake_vs_tls_psk", fig2, t["median"], "ms", tp["median"],
                     "TLS 1.2 PSK (measured)", spread=t, baseline_spread=tp)
            self.rec(f"time.{s}.vs_wire_floor", fig2, t["median"], "ms",
                     ours.wire_bytes * floor_ms, "wire-time floor, bytes x 10 / 115200",
                     spread=t)
        if tls and psk:
            fig2 = "2. handshake time, 115200 baud"
            for lab, res in (("tls_cert", tls), ("tls_psk", psk)):
                t = spread_of([x / 1000 for x in res.times_us])
                self.rec(f"time.{lab}.vs_wire_floor", fig2, t["median"], "ms",
                         res.wire_bytes * floor_ms, "wire-time floor, bytes x 10 / 115200",
                         spread=t, note=f"{res.label}: a baseline, shown against its own floor")
        cap = raw.get("capacity", {})
        fig3 = "3. first-station capacity"
        for suite in self.suites():
            sh, fr = cap.get(f"s{suite}_shared"), cap.get(f"s{suite}_fresh")
            if not sh or not fr:
                continue
            s = f"s{suite}"
            self.rec(f"capacity.{s}.hs_per_s", fig3, sh["hs_per_s"]["median"], "handshakes/s",
                     sh["floor_hs_per_s"]["median"],
                     FLOOR_LABEL, spread=sh["hs_per_s"],
                     baseline_spread=sh["floor_hs_per_s"], paired=sh.get("ratio"),
                     note="SRK shared per interval (section 11 defaults)")
            self.rec(f"capacity.{s}.fresh_hs_per_s", fig3, fr["hs_per_s"]["median"],
                     "handshakes/s", fr["floor_hs_per_s"]["median"],
                     FLOOR_LABEL, spread=fr["hs_per_s"],
                     baseline_spread=fr["floor_hs_per_s"], paired=fr.get("ratio"),
                     note="a new SRK per request (100 ms intervals, clock +100 ms per request)")
            pair = cap.get(f"s{suite}_pair")
            self.rec(f"capacity.{s}.shared_vs_fresh", fig3, sh["hs_per_s"]["median"],
                     "handshakes/s", fr["hs_per_s"]["median"],
                     "same code, a new " + ("SRK" if suite == 1 else "X25519 key pair")
                     + " per request", spread=sh["hs_per_s"], baseline_spread=fr["hs_per_s"],
                     paired=pair["ratio"] if pair else None)
        if "x25519" in raw:
            x = raw["x25519"]
            xs = {k: x["us"][k] / 1000 if k != "n" else x["us"][k] for k in x["us"] if k != "all"}
            hs = {k: x["host_us"][k] / 1000 if k != "n" else x["host_us"][k]
                  for k in x["host_us"]}
            self.rec("x25519.ms", "3. first-station capacity", xs["median"], "ms", hs["median"],
                     "host OpenSSL X25519 through cryptography (measured)", spread=xs,
                     baseline_spread=hs)
        fig4 = "4. data path"
        for size, d in sorted(raw.get("datapath", {}).items(), key=lambda kv: int(kv[0])):
            n = int(size)

            def mbps(sp: dict[str, Any], n: int = n) -> dict[str, float]:
                # MB/s of payload through protect + unprotect; min and max swap
                return {"median": n / sp["median"], "min": n / sp["max"],
                        "max": n / sp["min"], "n": sp["n"]}

            mine, floor = mbps(d["us"]), mbps(d["floor_us"])
            self.rec(f"datapath.ccm_{n}B.MBps", fig4, mine["median"], "MB/s", floor["median"],
                     "raw cryptolib CBC + ECB calls over the same blocks (floor)", spread=mine,
                     baseline_spread=floor, paired=d.get("ratio"),
                     note="protect + unprotect of one DATA frame (ephkey.channel, CcmEngine)")
            if "host_us" in d:
                host = mbps(d["host_us"])
                self.rec(f"datapath.ccm_{n}B.vs_host", fig4, mine["median"], "MB/s",
                         host["median"], "host cryptography AESCCM (reference)", spread=mine,
                         baseline_spread=host)
        fig5 = "5. memory"
        if "alloc" in raw:
            worst = max(raw["alloc"].values(), key=lambda a: a["gc_bytes"] / a["frames"])
            func = max(a["functional_bytes"] / a["functional_frames"]
                       for a in raw["alloc"].values())
            self.rec("memory.alloc_per_frame", fig5, worst["gc_bytes"] / worst["frames"],
                     "B/frame", func, "a new bytes object of the frame (what an API that "
                     "returns frames allocates at the least), per frame",
                     note="gc.mem_alloc delta, GC off, both stations and the link layer; "
                          "heap_lock run: " + ("passed" if all(
                              a["heap_locked_ok"] is not False for a in raw["alloc"].values())
                              else "FAILED"))
        hf = raw.get("heapfit", {})
        for key, m in raw.get("memory", {}).items():
            c = m["config"]
            suite = m["suite"]
            k = f"s{suite}.{cfg_key(c)}"
            self.rec(f"memory.heap_in_use.{k}", fig5, m["full"], "B", state_floor(c, suite),
                     "keys, nonces and hashes the spec requires (state floor)",
                     note="after establishing `sessions` concurrent sessions")
            if key in hf:
                peak = (hf[key] - hf["import_only_kib"]) * 1024
                self.rec(f"memory.heap_peak.{k}", fig5, peak, "B", m["full"], "heap in use",
                         note="smallest -X heapsize minus the import-only one (fragmentation "
                              "and the replay script's few objects included)")
                self.rec(f"memory.min_heapsize.{k}", fig5, hf[key], "KiB",
                         hf["import_only_kib"], "smallest heap that imports the .mpy modules",
                         note="micropython -X heapsize, 1 KiB steps, x64 .mpy on MICROPYPATH")
        fig6 = "6. size"
        for arch, sz in raw.get("sizes", {}).items():
            self.rec(f"size.{arch}", fig6, sz["total"], "B", LAKERS_FLASH,
                     "lakers, nRF52840 flash incl. crypto (published)", published=True,
                     note=f"{len(sz['files'])} .mpy files, {ARCH_BOARDS[arch]}")
        for arch, sz in raw.get("sizes", {}).items():
            if "core" in sz:
                self.rec(f"size.{arch}.core", fig6, sz["core"], "B", LAKERS_FLASH,
                         "lakers, nRF52840 flash incl. crypto (published)", published=True,
                         note="stations + link layer and what they import: "
                              + ", ".join(raw.get("core_modules", [])))
        if "armv7emsp" in raw.get("sizes", {}):
            self.rec("size.armv7emsp.vs_uoscore", fig6, raw["sizes"]["armv7emsp"]["total"], "B",
                     UOSCORE_FLASH, "uoscore-uedhoc, nRF52840 flash incl. crypto (published)",
                     published=True)
        fig7 = "7. scaling"
        for param, pts in raw.get("scaling", {}).items():
            vals = sorted(pts, key=int)
            if not vals:
                continue
            b0 = pts[vals[0]]["hs_us"]
            for v in vals:
                sp = pts[v]["hs_us"]
                self.rec(f"scaling.{param}.{v}.hs_us", fig7, sp["median"], "us/handshake",
                         b0["median"], f"{param} = {vals[0]}", spread=sp,
                         paired=pts[v].get("ratio"))
            mems = {}
            for m in raw.get("memory", {}).values():
                c = m["config"]
                others = {p: c[p] for p in c if p != param}
                if m["suite"] == 1 and others == {p: DEFAULT_CFG[p] for p in others}:
                    mems[c[param]] = m
            mv = sorted(mems)
            for v in mv:
                self.rec(f"scaling.{param}.{v}.heap", fig7, mems[v]["full"], "B",
                         mems[mv[0]]["full"], f"{param} = {mv[0]}")
        brd = raw.get("board")
        if brd:
            self._board_records(brd)
        if "emu" in raw:
            self._emu_records(raw["emu"])

    def _emu_records(self, emu: dict[str, Any]) -> None:
        same = "identical in both boots" if emu["identical"] else "DIFFERENT in the two boots"
        for f in bench_emu.figures(emu, state_floor):
            if f["unit"] == "instructions":
                note = (f"{f['what']}; run 2: {f['run2']:.0f} ({same}); est. RP2040 "
                        f"{bench_report.rp2040_text(f['value'])}")
            else:
                note = f"{f['what']}; in the image's own heap, {emu['heap']['step']} B steps"
            self.rec(f["name"], "emulated Cortex-M3", f["value"], f["unit"], f["baseline"],
                     f["baseline_label"], note=note)

    def _board_records(self, brd: dict[str, Any]) -> None:
        fig = "board"
        x = brd["x25519"]["us"]
        xs = {k: (x[k] / 1000 if k != "n" else x[k]) for k in ("median", "min", "max", "n")}
        hx = self.raw.get("x25519", {}).get("us")
        if hx:
            self.rec("board.x25519.ms", fig, xs["median"], "ms", hx["median"] / 1000,
                     "the unix VM, same run", spread=xs)
        for key, c in brd["capacity"].items():
            self.rec(f"board.capacity.{key}.hs_per_s", fig, c["hs_per_s"]["median"],
                     "handshakes/s", c["floor_hs_per_s"]["median"], FLOOR_LABEL,
                     spread=c["hs_per_s"], paired=c.get("ratio"))
        for size, d in brd["datapath"].items():
            n = int(size)
            self.rec(f"board.datapath.ccm_{n}B.MBps", fig, n / d["us"]["median"], "MB/s",
                     n / d["floor_us"]["median"], "raw cryptolib CBC + ECB (floor)",
                     paired=d.get("ratio"))
        worst = max(brd["alloc"].values(), key=lambda a: a["gc_bytes"] / a["frames"])
        self.rec("board.memory.alloc_per_frame", fig, worst["gc_bytes"] / worst["frames"],
                 "B/frame", max(a["functional_bytes"] / a["functional_frames"]
                                for a in brd["alloc"].values()), "a new bytes object per frame")
        m = brd["memory"]
        self.rec(f"board.memory.heap_in_use.s1.{cfg_key(m['config'])}", fig, m["full"], "B",
                 state_floor(m["config"], 1), "state floor")

    # ---------------------------------------------------------------- run

    def run(self) -> int:
        t0 = time.monotonic()
        self.info = machine_info(self.micropython)
        self.step("probe", self.probe)
        self.step("link handshakes (ours, TLS, TLS-PSK)", self.link)
        self.step("capacity", self.capacity)
        self.step("x25519", self.x25519)
        self.step("data path", self.datapath)
        self.step("allocation per frame", self.alloc)
        self.step("memory", self.memory)
        self.step("sizes (mpy-cross)", self.sizes)
        self.step("smallest heap", self.heapfit)
        self.step("scaling", self.scaling)
        self.step("board", self.board)
        self.step("emulated Cortex-M3", self.emu)
        self.step("headline (issue 14 targets)", self.headline)
        self.build_records()
        self.info["loadavg_end"] = list(os.getloadavg())
        self.info["duration_s"] = round(time.monotonic() - t0, 1)
        self.write()
        return 1 if self.errors else 0

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        doc = {
            "schema": "ephkey-bench/1",
            "profile": self.profile,
            "machine": self.info,
            "records": self.records,
            "skipped": self.skipped,
            "errors": self.errors,
            "steps_s": {k: round(v, 2) for k, v in self.steps.items()},
            "raw": self.raw,
        }
        pngs = bench_report.plots(doc, self.out)
        doc["plots"] = pngs
        (self.out / "results.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
        (self.out / "report.md").write_text(bench_report.report(doc))
        print(bench_report.headline_text(doc))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny counts (smoke test)")
    ap.add_argument("--out", type=Path, default=REPO / "bench", help="output folder")
    ap.add_argument("--port", default=os.environ.get("PORT", "").strip(),
                    help="a board's serial port (default: $PORT); empty: unix VM only")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        bench = Bench("quick" if args.quick else "full", args.out, args.port,
                      lambda s: print(s, flush=True))
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    try:
        rc = bench.run()
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    print(f"bench: wrote {args.out / 'results.json'}, {args.out / 'report.md'} and "
          f"{len(list(args.out.glob('*.png')))} plots in {time.monotonic() - t0:.0f} s"
          + (f"; {len(bench.errors)} step(s) FAILED" if bench.errors else ""))
    return rc


if __name__ == "__main__":
    sys.exit(main())
