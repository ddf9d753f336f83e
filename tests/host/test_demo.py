"""tools/demo.py (`make demo`): two virtual boards, paired and deployed with
mpremote, establish a session through the link simulator; every frame valid;
the demo's pcapng capture dissected by tshark as the host decodes it (one demo
run for both). Also: Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostkit import REPO, env, processes_in, summary_of
from wskit import dissect_line, needs_tshark

from ephkey_host import link
from ephkey_host.pairing import load_any
from ephkey_host.sniff import FrameRecord, Sniffer, feed_record, read_tap_lines

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


@dataclass
class DemoRun:
    proc: subprocess.CompletedProcess
    elapsed: float
    workdir: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, micropython_bin: str) -> DemoRun:
    """One run of the demo (about 25 s), shared by the tests that read its output."""
    work = tmp_path_factory.mktemp("demo")
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py"), "--workdir", str(work),
         "--messages", "60", "--rotate-frames", "24"],
        capture_output=True, text=True, timeout=110, env=dict(env(), MICROPYTHON=micropython_bin))
    return DemoRun(proc, time.monotonic() - t0, work)


def test_demo(demo: DemoRun) -> None:
    out = demo.proc.stdout
    assert demo.proc.returncode == 0, out + demo.proc.stderr
    assert demo.elapsed < 60, demo.elapsed
    wire = [ln for ln in out.splitlines() if "->" in ln and "(S->F)" in ln or "(F->S)" in ln]
    types = {t for ln in wire for t in ("REQ", "SRK", "PROOF", "KEY ", "REKEY", "KEY_ACK",
                                        "CLOSE", "DATA") if f" {t}" in ln}
    assert types == {"REQ", "SRK", "PROOF", "KEY ", "REKEY", "KEY_ACK", "CLOSE", "DATA"}
    # every frame valid; one that crossed a CLOSE (a legal race) is ok too
    assert all(re.search(r" ok( \(crossed CLOSE\))?$", ln.rstrip())
               for ln in wire if "DATA frames" not in ln), out
    assert "DATA frames, all valid" in out  # the middle of the exchange is summarised
    assert "sniffer: verdict: all frames valid, no link drops" in out
    assert "second station: EPHKEY {" in out and '"ok": true' in out
    assert "handshake:" in out and "ms on the wire (REQ -> KEY)" in out
    assert "demo: OK" in out
    assert (demo.workdir / "tap.jsonl").stat().st_size > 0
    assert not processes_in(demo.workdir)


def test_demo_byte_counts_agree(demo: DemoRun) -> None:
    """The sniffer's B->A bytes are the second station's bytes_out plus its CLOSE,
    which it sends after printing its summary (the 24-byte gap once seen)."""
    out = demo.proc.stdout
    assert demo.proc.returncode == 0, out + demo.proc.stderr
    summary = summary_of(out.replace("second station: EPHKEY ", "EPHKEY "))
    m = re.search(r"sniffer: wire bytes: A->B \d+, B->A (\d+)", out)
    assert m, out
    wire_ba = int(m.group(1))
    close = len(link.encode_frame(bytes(17)))  # a CLOSE's wire form: 17 + CRC, COBS, delimiters
    assert close == 24
    line = next(ln for ln in out.splitlines() if ln.startswith("bytes: B->A"))
    assert line == ("bytes: B->A %d on the wire = %d the second station counted (bytes_out, at "
                    "its summary) + %d of its CLOSE, sent after its summary (1 frame)"
                    % (wire_ba, summary["bytes_out"], close)), line
    assert wire_ba == summary["bytes_out"] + close


@needs_tshark
def test_demo_capture_dissected_by_tshark(demo: DemoRun) -> None:
    """build/demo/capture.pcapng (here in the run's workdir), opened by tshark with
    tools/wireshark/ephkey.lua: every packet delivered, every field as the host's
    decoder has it, and the same frames in the same order as the sniffer's on the
    recorded tap."""
    assert demo.proc.returncode == 0, demo.proc.stdout + demo.proc.stderr
    pcap = demo.workdir / "capture.pcapng"
    assert re.search(r"wireshark: \S*capture\.pcapng \(\d+ packets, one per link-layer "
                     r"segment\), open it with the dissector: wireshark -X "
                     r"lua_script:\S*tools/wireshark/ephkey\.lua \S*capture\.pcapng",
                     demo.proc.stdout), demo.proc.stdout[-2000:]
    sniffer = Sniffer(load_any(demo.workdir / "pairing.json"))
    with open(demo.workdir / "tap.jsonl", encoding="utf-8") as f:
        records = [r for rec in read_tap_lines(f) for r in feed_record(sniffer, rec)]
    records += sniffer.flush()
    sniffed = {d: [r.raw for r in records if isinstance(r, FrameRecord) and r.direction == d]
               for d in ("AB", "BA")}
    assert sniffer.totals.clean and sum(map(len, sniffed.values())) > 100
    dissected, kinds = dissect_line(pcap)
    assert dissected == sniffed
    assert kinds == {(1, 0), (2, 40), (3, 27), (4, 0), (5, 0), (6, 0), (7, 0), (8, 0)}
    m = re.search(r"\((\d+) packets, one per", demo.proc.stdout)
    assert m and int(m.group(1)) == sum(map(len, dissected.values()))
    assert json.loads((demo.workdir / "tap.jsonl").read_text().splitlines()[0])["type"] == "hello"


def test_demo_interrupted_cleans_up(tmp_path: Path, micropython_bin: str) -> None:
    demo = subprocess.Popen(
        [sys.executable, str(REPO / "tools" / "demo.py"), "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(env(), MICROPYTHON=micropython_bin))
    try:
        assert demo.stdout
        for line in demo.stdout:
            if "first: deploy:" in line:  # mpremote is copying files
                break
        assert processes_in(tmp_path), "the virtual boards should be running by now"
        t0 = time.monotonic()
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=30)
        assert time.monotonic() - t0 < 8  # it does not wait for the deploys to finish
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 130
    deadline = time.monotonic() + 10
    while processes_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)  # mpremote children notice their board is gone
    assert not processes_in(tmp_path)


@pytest.mark.parametrize("args, says", [
    (["--size", "0"], "--size must be 4..256"),
    (["--size", "300"], "--size must be 4..256"),
    (["--messages", "-1"], "--messages must be >= 0"),
    (["--rotate-frames", "0"], "rotate_frames"),
    (["--idrks", "0"], "idrks"),
    (["--suite", "3"], "invalid choice"),
])
def test_demo_usage_errors_stop_before_anything_starts(tmp_path: Path, args: list[str],
                                                        says: str) -> None:
    """A bad option exits 2 with the reason, before any link or board is started."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py"), "--workdir", str(tmp_path / "w"),
         *args], capture_output=True, text=True, timeout=30, env=env())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stderr, proc.stderr
    assert "link:" not in proc.stdout and not (tmp_path / "w").exists()
