"""tools/bench.py --quick: the bench machinery end to end with tiny counts.

Runs the whole bench (MicroPython VMs, LinkSim, TLS, mpy-cross, heap
bisection) into a temporary folder and checks results.json: its schema, that
every figure of the issue is there and finite, and that the report and the
plots were written. The figures themselves are not checked (tiny counts).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ARCHS = ["armv6m", "armv7emsp", "armv7emdp", "xtensawin", "rv32imc", "x64"]
RECORD_KEYS = {"name", "figure", "value", "unit", "baseline", "baseline_label", "ratio"}
SUITE_FIGURES = [
    "wire.{s}.bytes_total", "wire.{s}.bytes_total_vs_tls_psk", "wire.{s}.payload_bytes",
    "wire.{s}.payload_vs_wireguard", "wire.{s}.framing_bytes", "wire.{s}.messages",
    "wire.{s}.round_trips", "time.{s}.handshake_ms", "time.{s}.handshake_vs_tls_psk",
    "time.{s}.vs_wire_floor", "capacity.{s}.hs_per_s", "capacity.{s}.fresh_hs_per_s",
    "capacity.{s}.shared_vs_fresh",
]
FIGURES = [
    *[f.format(s="s1") for f in SUITE_FIGURES],
    "time.tls_cert.vs_wire_floor", "time.tls_psk.vs_wire_floor",
    "x25519.ms",
    *[f"datapath.ccm_{n}B.MBps" for n in (16, 64, 256, 1024)],
    *[f"datapath.ccm_{n}B.vs_host" for n in (16, 64, 256, 1024)],
    "memory.alloc_per_frame", "memory.heap_in_use.s1.r8_s8_k4",
    "memory.heap_peak.s1.r8_s8_k4", "memory.min_heapsize.s1.r8_s8_k4",
    *[f"size.{a}" for a in ARCHS], *[f"size.{a}.core" for a in ARCHS],
    "size.armv7emsp.vs_uoscore",
]
PLOTS = ["wire_bytes.png", "handshake_time.png", "capacity.png", "datapath.png", "memory.png",
         "size.png", "scaling_ring_slots.png", "scaling_sessions.png", "scaling_idrks.png"]


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory: pytest.TempPathFactory, micropython_bin: str) -> Path:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, MICROPYTHON=micropython_bin, PORT="")
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "bench.py"), "--quick",
                           "--out", str(out), "--port", ""], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, f"bench failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def results(bench_out: Path) -> dict:
    doc: dict = json.loads((bench_out / "results.json").read_text())
    return doc


def test_schema(results: dict) -> None:
    assert results["schema"] == "ephkey-bench/1"
    assert results["errors"] == []
    for key in ("date", "uname_m", "cpu", "micropython"):
        assert results["machine"][key], key
    assert results["machine"]["micropython"].startswith("micropython v")
    names = [r["name"] for r in results["records"]]
    assert len(names) == len(set(names)), "record names repeat"
    for r in results["records"]:
        assert RECORD_KEYS <= set(r), r
        assert isinstance(r["name"], str) and isinstance(r["unit"], str) and r["unit"]
        for k in ("value", "baseline", "ratio"):
            assert isinstance(r[k], (int, float)) and math.isfinite(r[k]), (r["name"], k)
        assert r["baseline"] > 0, r["name"]
    for s in results["skipped"]:
        assert s["name"] and s["reason"]


def test_every_figure_present(results: dict) -> None:
    names = {r["name"] for r in results["records"]}
    missing = [f for f in FIGURES if f not in names]
    assert not missing, f"missing figures: {missing}"
    for param in ("ring_slots", "sessions", "idrks"):
        assert any(n.startswith(f"scaling.{param}.") and n.endswith(".hs_us") for n in names)
        assert any(n.startswith(f"scaling.{param}.") and n.endswith(".heap") for n in names)
    # suite 2: measured, or skipped with a reason
    skipped = {s["name"] for s in results["skipped"]}
    if "wire.s2" in skipped:
        assert {"time.s2", "capacity.s2"} <= skipped
    else:
        missing = [f.format(s="s2") for f in SUITE_FIGURES if f.format(s="s2") not in names]
        assert not missing, f"suite 2 ran but these are missing: {missing}"


def test_zero_allocation_per_frame(results: dict) -> None:
    rec = {r["name"]: r for r in results["records"]}["memory.alloc_per_frame"]
    assert rec["value"] == 0


def test_report_and_plots(bench_out: Path, results: dict) -> None:
    report = (bench_out / "report.md").read_text()
    assert results["machine"]["micropython"] in report
    assert results["machine"]["cpu"] in report
    for png in PLOTS:
        data = (bench_out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", png
        assert len(data) > 10_000, png
        assert f"]({png})" in report, png
