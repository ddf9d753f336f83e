"""`python -m ephkey_host sniff`: recorded and live taps, drops, forged frames."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hostkit import PAIRING, cli, env, record_session, wait_for_tap, write_tap

from ephkey_host import link, transcript, wire
from ephkey_host.sniff import FrameRecord, Sniffer, feed_record
from linksim import LinkSim

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def session() -> list[dict[str, Any]]:
    return record_session(messages=12, rotate_frames=8)


@pytest.fixture
def pairing_file(tmp_path: Path) -> Path:
    p = tmp_path / "pair.json"
    p.write_text(json.dumps(PAIRING.to_json()))
    return p


def frame_lines(stdout: str) -> list[str]:
    """The per-frame lines (they start with a time in ms)."""
    return [ln for ln in stdout.splitlines()
            if re.match(r"\s*\d+\.\d{3}  ", ln) and "link dropped" not in ln]


def bad_lines(stdout: str) -> list[str]:
    return [ln for ln in frame_lines(stdout) if not re.search(r" ok( \(structure\))?$", ln)]


def frames_of(records: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    """(index, frame) of each data record (one wire form per record)."""
    return [(i, link.cobs_decode(bytes.fromhex(r["hex"])[1:-1])[:-4])
            for i, r in enumerate(records) if r["type"] == "data"]


def with_frame(records: list[dict[str, Any]], index: int, frame: bytes) -> list[dict[str, Any]]:
    out = [dict(r) for r in records]
    out[index]["hex"] = link.encode_frame(frame).hex()  # a valid CRC: only the protocol sees it
    return out


def nth_data(records: list[dict[str, Any]], direction: str, n: int = 3) -> tuple[int, bytes]:
    found = [(i, f) for i, f in frames_of(records)
             if f[0] == wire.byte0(wire.DATA) and records[i]["dir"] == direction]
    return found[n]


def test_valid_session_all_ok(tmp_path: Path, session: list[dict[str, Any]],
                              pairing_file: Path) -> None:
    tap = write_tap(tmp_path / "tap.jsonl", session)
    proc = cli("sniff", "--tap-file", str(tap), "--pairing", str(pairing_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = frame_lines(proc.stdout)
    assert len(lines) == len(session) - 1  # one line per frame (the hello is not a frame)
    assert all(ln.rstrip().endswith(" ok") for ln in lines), proc.stdout
    assert "B->A (S->F)  REQ" in lines[0] and "id_s=5e5e5e5e5e5e5e5e" in lines[0]
    assert "A->B (F->S)  SRK" in lines[1]
    assert sum(" REKEY " in ln for ln in lines) == 3
    assert "CLOSE" in lines[-1] and "reason=OK" in lines[-1]
    out = proc.stdout
    assert "link drops: none" in out
    assert "3 rotations, closed OK" in out
    assert "verdict: all frames valid, no link drops" in out
    # Without the pairing: structure only, still a valid session.
    proc = cli("sniff", "--tap-file", str(tap))
    assert proc.returncode == 0
    assert all(ln.rstrip().endswith("ok (structure)") for ln in frame_lines(proc.stdout))
    assert "structure only: no pairing given" in proc.stdout


def test_flipped_byte_is_a_counted_crc_drop(tmp_path: Path, session: list[dict[str, Any]],
                                            pairing_file: Path) -> None:
    i, _ = nth_data(session, "BA")
    records = [dict(r) for r in session]
    wire_form = bytearray(bytes.fromhex(records[i]["hex"]))
    k = next(j for j in range(20, len(wire_form)) if wire_form[j] > 1)
    wire_form[k] ^= 0x01  # one bit, never a new delimiter
    records[i]["hex"] = wire_form.hex()
    proc = cli("sniff", "--tap-file", str(write_tap(tmp_path / "t.jsonl", records)),
               "--pairing", str(pairing_file))
    assert proc.returncode == 1
    out = proc.stdout
    assert "link dropped a segment: crc_errors" in out
    assert "link drops: B->A crc_errors 1" in out
    # The frame is gone; every frame that arrived is still valid (a gap in seq is allowed).
    lines = frame_lines(out)
    assert len(lines) == len(session) - 2
    assert all(ln.rstrip().endswith(" ok") for ln in lines)


def test_forged_frame_with_good_crc_names_the_field(tmp_path: Path, session: list[dict[str, Any]],
                                                    pairing_file: Path) -> None:
    i, frame = nth_data(session, "AB")
    forged = bytearray(frame)
    forged[14] ^= 0x80  # a ciphertext byte
    tap = write_tap(tmp_path / "t.jsonl", with_frame(session, i, bytes(forged)))
    proc = cli("sniff", "--tap-file", str(tap), "--pairing", str(pairing_file))
    assert proc.returncode == 1
    bad = bad_lines(proc.stdout)
    assert len(bad) == 1 and "DATA" in bad[0] and "AUTH_FAILED (tag)" in bad[0], proc.stdout
    assert "1 invalid frame(s), 0 link drop(s)" in proc.stdout
    # Without the pairing the tag cannot be checked, but a key index out of
    # order can: the verdict names kidx.
    forged = bytearray(frame)
    forged[3] = 2
    tap = write_tap(tmp_path / "t2.jsonl", with_frame(session, i, bytes(forged)))
    proc = cli("sniff", "--tap-file", str(tap))
    assert proc.returncode == 1
    bad = bad_lines(proc.stdout)
    assert len(bad) == 1 and "BAD_KEY_INDEX (kidx)" in bad[0], proc.stdout


def test_replayed_frame_and_reflected_frame(tmp_path: Path, session: list[dict[str, Any]],
                                            pairing_file: Path) -> None:
    i, frame = nth_data(session, "BA", 4)
    records = [dict(r) for r in session]
    dup = dict(records[i])
    records.insert(i + 1, dup)  # the same DATA frame again: a replay
    refl = dict(records[i])
    refl["dir"] = "AB"  # S's frame sent back to S
    records.insert(i + 2, refl)
    proc = cli("sniff", "--tap-file", str(write_tap(tmp_path / "t.jsonl", records)),
               "--pairing", str(pairing_file))
    assert proc.returncode == 1
    bad = bad_lines(proc.stdout)
    assert len(bad) == 2, proc.stdout
    assert "REPLAY (seq)" in bad[0]
    assert "AUTH_FAILED (tag)" in bad[1]  # F's key and direction do not open it


def test_incremental_checks_match_transcript_validate(session: list[dict[str, Any]]) -> None:
    i, frame = nth_data(session, "AB", 2)
    forged = bytearray(frame)
    forged[-1] ^= 1
    records = with_frame(session, i, bytes(forged))
    for pairings in ([PAIRING], None):
        got = []
        for incremental in (True, False):
            sn = Sniffer(pairings, incremental=incremental)
            recs = [r for rec in records for r in feed_record(sn, rec)] + sn.flush()
            got.append([(r.ok, r.code, r.field) for r in recs if isinstance(r, FrameRecord)])
        frames = [(1 if records[j]["dir"] == "AB" else 2, f) for j, f in frames_of(records)]
        report = transcript.validate(frames, pairings[0] if pairings else None)
        want = [(c.ok, c.code.name if c.code else "", c.field) for c in report.checks]
        assert got[0] == got[1] == want


def test_frames_come_out_in_time_order() -> None:
    """A long frame on one direction ends after a short one on the other that
    started later: records are returned by the time of their last byte."""
    sn = Sniffer()
    long_frame = link.encode_frame(bytes.fromhex("251a2b0000000000") + bytes(100))
    short = link.encode_frame(bytes.fromhex("2f000005"))
    byte_us = sn.byte_us
    out = sn.feed(0.0, "AB", long_frame)  # ends at (len - 1) * byte_us
    out += sn.feed(10 * byte_us, "BA", short)  # started later, ends earlier
    out += sn.flush()
    assert [r.direction for r in out] == ["BA", "AB"]
    assert out[0].t_ms < out[1].t_ms


def test_bad_input(tmp_path: Path) -> None:
    assert cli("sniff", "--tap-file", str(tmp_path / "none.jsonl")).returncode == 2
    (tmp_path / "bad.jsonl").write_text("not json\n")
    assert cli("sniff", "--tap-file", str(tmp_path / "bad.jsonl")).returncode == 2
    assert cli("sniff").returncode == 2
    assert cli("sniff", "--tap", "nowhere").returncode == 2


def test_live_tap_over_tcp(session: list[dict[str, Any]], pairing_file: Path) -> None:
    """Frames pushed through a running link simulator, sniffed from its TCP tap."""
    with LinkSim(tap_port=0) as sim:
        sniff = subprocess.Popen(
            [sys.executable, "-m", "ephkey_host", "sniff", "--tap", f"127.0.0.1:{sim.tap_port}",
             "--pairing", str(pairing_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
        try:
            a = socket.create_connection(("127.0.0.1", sim.port_a), timeout=5)
            b = socket.create_connection(("127.0.0.1", sim.port_b), timeout=5)
            wait_for_tap(sim)
            with a, b:
                sent = {"AB": 0, "BA": 0}
                for rec in session[1:]:
                    # as a station would: the next frame only once the last one arrived
                    d = rec["dir"]
                    (a if d == "AB" else b).sendall(bytes.fromhex(rec["hex"]))
                    sent[d] += len(rec["hex"]) // 2
                    deadline = time.monotonic() + 5
                    while sim.stats()[d]["delivered"] < sent[d] and time.monotonic() < deadline:
                        time.sleep(0.001)
                time.sleep(0.2)
        finally:
            sim.stop()  # closes the tap: the sniffer prints its totals and ends
            out, err = sniff.communicate(timeout=20)
    assert sniff.returncode == 0, out + err
    lines = frame_lines(out)
    assert len(lines) == len(session) - 1
    assert all(ln.rstrip().endswith(" ok") for ln in lines)
    assert "verdict: all frames valid" in out
