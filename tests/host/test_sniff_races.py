"""Frames that cross a CLOSE on a full-duplex line: the sniffer's verdict.

Each station sends while the other's CLOSE is still on its way: an F REKEY
crossing S's CLOSE(OK), an S DATA crossing F's CLOSE(KEYS_EXHAUSTED). Both are
legal (the receiver, which freed the session, drops the frame as
UNKNOWN_SESSION and answers nothing, protocol.md 4.4 items 4-5, 5.4); the
sniffer reports them as "crossed CLOSE", counted apart, not as failures. A
frame its own sender sends after its CLOSE, or once both sides closed, and a
forged, replayed or mis-indexed frame that crosses a CLOSE still fail.

The races are made deterministic with the host's two stations in memory on a
line paced like 115200 8N1 (:class:`Duplex`): both queues go on the wire at
once, then each station receives what the other sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hostkit import BYTE_US, PAIRING, cli, write_tap

from ephkey_host import keyschedule as ks, link, transcript, wire
from ephkey_host.config import FirstConfig, SecondConfig
from ephkey_host.drbg import Drbg
from ephkey_host.errors import Code
from ephkey_host.first import FirstStation
from ephkey_host.second import SecondStation
from ephkey_host.sniff import FrameRecord, Sniffer, feed_record, format_totals

pytestmark = pytest.mark.timeout(60)

CROSSED = "ok (crossed CLOSE)"


class Duplex:
    """F on side A, S on side B; :meth:`step` puts both stations' queued frames
    on the wire (each direction back to back, F's starting ``f_after_us`` after
    S's, or before it if negative),
    then delivers them: neither station has seen the other's frames of the same
    step when it sent its own."""

    def __init__(self, fcfg: FirstConfig, scfg: SecondConfig | None = None) -> None:
        self.f = FirstStation(fcfg, [PAIRING], Drbg(b"race-F"), 0)
        self.s = SecondStation(scfg or SecondConfig(offer=[1]), PAIRING, Drbg(b"race-S"), 0)
        self.records: list[dict[str, Any]] = [
            {"type": "hello", "baud": 115200, "frame": "8N1", "bits_per_byte": 10,
             "byte_us": BYTE_US}]
        self.t_us = 1000.0
        self.now = 0
        self.fev: list[tuple[str, int]] = []
        self.sev: list[tuple[str, int]] = []

    def step(self, f_after_us: float = 0.0) -> None:
        self.now += 1
        ends = [self.t_us]
        out: dict[str, list[bytes]] = {"AB": self.f.outputs(), "BA": self.s.outputs()}
        starts = {"BA": self.t_us + max(0.0, -f_after_us), "AB": self.t_us + max(0.0, f_after_us)}
        for d, start in starts.items():
            t = start
            for fr in out[d]:
                w = link.encode_frame(fr)
                self.records.append({"type": "data", "t_us": round(t, 3), "dir": d,
                                     "hex": w.hex()})
                t += len(w) * BYTE_US
            ends.append(t)
        for fr in out["AB"]:
            self.s.receive(fr, self.now)
        for fr in out["BA"]:
            self.f.receive(fr, self.now)
        self.fev += [(e.name, e.arg) for e in self.f.events()]
        self.sev += [(e.name, e.arg) for e in self.s.events()]
        self.t_us = max(ends) + 500

    def open(self) -> int:
        self.s.connect(self.now)
        while self.s.state != "OPEN":
            self.step()
        return self.s.sid

    def tap(self) -> list[dict[str, Any]]:
        # tap records never start earlier than the previous one
        return self.records[:1] + sorted(self.records[1:], key=lambda r: r["t_us"])


def sniff(records: list[dict[str, Any]], pairing: bool = True) -> tuple[Sniffer, list[FrameRecord]]:
    sn = Sniffer([PAIRING] if pairing else None)
    recs = [r for rec in records for r in feed_record(sn, rec)] + sn.flush()
    return sn, [r for r in recs if isinstance(r, FrameRecord)]


def frames(records: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    """(direction, frame) in tap order, as the sniffer checks them."""
    return [(ks.DIR_F2S if r["dir"] == "AB" else ks.DIR_S2F,
             link.cobs_decode(bytes.fromhex(r["hex"])[1:-1])[:-4])
            for r in records if r["type"] == "data"]


def rekey_crossing_close() -> Duplex:
    """F's 4th counted DATA frame (S's) starts a rotation; S closes before the REKEY arrives."""
    net = Duplex(FirstConfig(rotate_frames=4, idrks=4, suites=[1]))
    net.open()
    for i in range(4):
        net.s.send_data(b"reading %d" % i, net.now)
        net.step()
    net.s.close(net.now)  # S's CLOSE and F's REKEY are queued at once
    net.step(f_after_us=10 * BYTE_US)  # F's REKEY starts while S's CLOSE is on the wire
    return net


def data_crossing_exhausted() -> Duplex:
    """F has no IDRK left at its 2nd counted DATA: CLOSE(KEYS_EXHAUSTED), while S's
    next DATA is already on its way; then S opens a new session."""
    net = Duplex(FirstConfig(rotate_frames=2, idrks=1, suites=[1]))
    net.open()
    net.s.send_data(b"one", net.now)
    net.step()
    net.s.send_data(b"two", net.now)
    net.step()  # F accepts it: count 2, no IDRK left -> CLOSE(KEYS_EXHAUSTED) queued
    net.s.send_data(b"three", net.now)  # S has not seen that CLOSE yet
    net.step(f_after_us=-10 * BYTE_US)  # F's CLOSE first, S's DATA behind it on the other line
    assert net.s.state == "IDLE"
    net.open()
    net.s.send_data(b"again", net.now)
    net.step()
    net.s.close(net.now)
    net.step()
    return net


def test_rekey_crossing_s_close_is_legal() -> None:
    net = rekey_crossing_close()
    # What the stations made of it: F took the CLOSE, S dropped the REKEY.
    assert ("CLOSED", Code.OK) in net.fev
    assert net.sev[-1] == ("ERROR", Code.UNKNOWN_SESSION)
    tap = net.tap()
    order = [(d, wire.TYPE_NAMES[wire.frame_type(f)]) for d, f in frames(tap)]
    assert order[-2:] == [(ks.DIR_S2F, "CLOSE"), (ks.DIR_F2S, "REKEY")]

    sn, recs = sniff(tap)
    assert sn.totals.bad == 0 and sn.totals.clean, [r.verdict for r in recs]
    assert [(r.type_name, r.verdict) for r in recs[-2:]] == [("CLOSE", "ok"), ("REKEY", CROSSED)]
    assert sn.totals.crossed == 1
    assert sum(r.crossed for r in recs) == 1
    totals = format_totals(sn.totals)
    assert any("crossed a CLOSE" in ln and ": 1 frame" in ln for ln in totals), totals
    assert totals[-1] == "verdict: all frames valid, no link drops"

    rep = transcript.validate(frames(tap), PAIRING)
    assert rep.ok
    assert [c.index for c in rep.crossed()] == [len(rep.checks) - 1]
    assert "idrk_1" in rep.intermediates  # the crossing REKEY was checked to the unwrap


def test_data_crossing_keys_exhausted_close_is_legal() -> None:
    net = data_crossing_exhausted()
    assert ("CLOSED", Code.KEYS_EXHAUSTED) in net.sev and ("CLOSED", Code.KEYS_EXHAUSTED) in net.fev
    assert ("ERROR", Code.UNKNOWN_SESSION) in net.fev  # F dropped S's third DATA
    sn, recs = sniff(net.tap())
    assert sn.totals.clean, [(r.type_name, r.verdict) for r in recs]
    crossed = [r for r in recs if r.crossed]
    assert [(r.type_name, r.roles, r.verdict, r.session) for r in crossed] == [
        ("DATA", "S->F", CROSSED, 1)]
    assert len(sn.totals.sessions) == 2 and sn.totals.sessions[0].crossed == 1
    assert sn.totals.sessions[0].closed == "KEYS_EXHAUSTED"
    # Without the pairing the same verdicts, for structure.
    sn, recs = sniff(net.tap(), pairing=False)
    assert sn.totals.bad == 0 and [r.verdict for r in recs if r.crossed] == [
        "ok (structure; crossed CLOSE)"]


def test_sniff_command_exits_0_on_a_race(tmp_path: Path) -> None:
    pair = tmp_path / "pair.json"
    pair.write_text(json.dumps(PAIRING.to_json()))
    tap = write_tap(tmp_path / "tap.jsonl", rekey_crossing_close().tap())
    proc = cli("sniff", "--tap-file", str(tap), "--pairing", str(pair))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(CROSSED) == 1
    assert "crossed a CLOSE" in proc.stdout and "verdict: all frames valid" in proc.stdout


def seal(rep: transcript.Report, kidx: int, direction: int, ftype: int, seq: int,
         pt: bytes, sid: int) -> bytes:
    """A genuine protected frame, sealed with a key the validator learnt."""
    key = bytes.fromhex(rep.intermediates["idrk_%d" % kidx])
    return ks.seal_frame(key, sid, direction, wire.protected_head(ftype, sid, kidx, seq), pt)


def verdict(frame_list: list[tuple[int, bytes]], pairing: bool = True
            ) -> tuple[bool, bool, Code | None, str]:
    last = transcript.validate(frame_list, PAIRING if pairing else None).checks[-1]
    return last.ok, last.crossed, last.code, last.field


def test_what_still_fails_after_a_close() -> None:
    base = frames(rekey_crossing_close().tap())  # ..., S: CLOSE under key 0, F: REKEY (crossed)
    rep = transcript.validate(base, PAIRING)
    sid = int.from_bytes(base[-1][1][1:3], "big")
    close_s, rekey = base[-2][1], base[-1][1]
    s_seq = int.from_bytes(close_s[4:8], "big")
    f_seq = int.from_bytes(rekey[4:8], "big")

    # S, which closed, sends again: a genuine frame under its key, next seq.
    after = seal(rep, 0, ks.DIR_S2F, wire.DATA, s_seq + 1, b"late", sid)
    assert verdict(base + [(ks.DIR_S2F, after)]) == (
        False, False, Code.UNKNOWN_SESSION, "sid")
    assert verdict(base + [(ks.DIR_S2F, after)], pairing=False)[:3] == (
        False, False, Code.UNKNOWN_SESSION)
    # F goes on after the crossing REKEY: fine while it has not seen the CLOSE...
    more = seal(rep, 0, ks.DIR_F2S, wire.DATA, f_seq + 1, b"still", sid)
    assert verdict(base + [(ks.DIR_F2S, more)]) == (True, True, None, "")
    # ... but a forged, replayed or mis-indexed crossing frame fails as it would anyway.
    forged = more[:-1] + bytes([more[-1] ^ 1])
    assert verdict(base + [(ks.DIR_F2S, forged)]) == (False, False, Code.AUTH_FAILED, "tag")
    assert verdict(base + [(ks.DIR_F2S, rekey)]) == (False, False, Code.REPLAY, "seq")
    wrong_key = more[:3] + b"\x02" + more[4:]
    assert verdict(base + [(ks.DIR_F2S, wrong_key)], pairing=False) == (
        False, False, Code.BAD_KEY_INDEX, "kidx")
    # S's CLOSE sent back to S is not F's frame: its tag does not open in F's direction.
    assert verdict(base + [(ks.DIR_F2S, close_s)]) == (False, False, Code.AUTH_FAILED, "tag")
    # F's own CLOSE crosses S's: legal; after that neither side may send.
    close_f = seal(rep, 0, ks.DIR_F2S, wire.CLOSE, f_seq + 1, b"\x00", sid)
    both = base + [(ks.DIR_F2S, close_f)]
    assert verdict(both) == (True, True, None, "")
    again = seal(rep, 0, ks.DIR_F2S, wire.DATA, f_seq + 2, b"x", sid)
    assert verdict(both + [(ks.DIR_F2S, again)]) == (False, False, Code.UNKNOWN_SESSION, "sid")
    assert verdict(both + [(ks.DIR_S2F, after)]) == (False, False, Code.UNKNOWN_SESSION, "sid")
