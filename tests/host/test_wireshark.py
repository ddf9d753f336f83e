"""The Wireshark dissector (tools/wireshark/ephkey.lua) against the host's own decoder.

A capture is made as `ephkey sniff --pcapng` makes it (ephkey_host.pcapng's
LineCapture fed tap runs): the host's two stations over an in-memory line
(tests/host/hostnet.py), F on side A and S on side B, in suite 1 and suite 2
(handshake, DATA both ways, REKEY/KEY_ACK rotations, CLOSE), ERROR frames F
sends, a device pairing between the host's two pairing machines (frames 9-12,
and ERROR(WRONG_CODE) with a wrong code), suite 3's SRK and PROOF layouts and
frames that break a rule, built from the spec (the host stations do not speak
suite 3 yet), and segments the link layer drops (bad CRC, COBS error, runt,
too long, and one the capture ends inside).

tshark runs the dissector over it (-T json -x). For every packet: the link
verdict equals the host link decoder's (ephkey_host.link), the CRC fields
its CRC, the frame the decoder delivered; every protocol field (name, offset,
size, value) equals ephkey_host.wire.decode's (sniff.frame_fields for the
pairing and suite-3 layouts), and a frame the host rejects carries the expert
info of the host's error code.

Then the demo's line with the host as both stations: `ephkey peer` first and
second over the link simulator, its tap written to pcapng in process as
`linksim --pcapng` does: every packet dissected as the host decodes it, the
same frames as the sniffer saw on the same tap. The tshark tests skip, saying
why, without tshark.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hostkit import BYTE_US, cli, env
from hostnet import Net
from wskit import (
    COBS_ERROR,
    CRC_ERROR,
    DELIVERED,
    INCOMPLETE,
    LUA,
    RUNT,
    TOO_LONG,
    TSHARK,
    check_frame,
    check_link,
    dissect_line,
    needs_tshark,
    tshark_json,
)

from ephkey_host import Drbg, FirstConfig, SecondConfig, link, wire
from ephkey_host.errors import Code
from ephkey_host.pair_device import PairingMachine
from ephkey_host.pairing import load_any
from ephkey_host.pcapng import LineCapture, PcapngWriter
from ephkey_host.sniff import (
    FrameRecord,
    Record,
    Sniffer,
    describe,
    format_record,
    format_totals,
    frame_fields,
)
from linksim import LinkSim

pytestmark = pytest.mark.timeout(120)


def session(suite: int, messages: int = 6) -> list[tuple[str, bytes]]:
    """One session of the host stations: F is side A, S side B."""
    net = Net(FirstConfig(suites=[suite], rotate_frames=4, idrks=4),
              scfg=SecondConfig(offer=[suite]), seed=b"ws%d" % suite)
    sid = net.connect()
    for i in range(messages):
        net.s[0].send_data(b"reading %d" % i, net.t)
        net.pump()
        net.f.send_data(sid, b"echo %d" % i, net.t)
        net.pump()
    net.s[0].send_data(bytes(range(1, 201)), net.t)  # a long DATA frame
    net.pump()
    net.s[0].close(net.t)
    net.pump()
    out = [("AB" if who == "F" else "BA", fr) for who, fr in net.wire_log]
    # F's ERRORs: a REQ from an unknown peer, a PROOF for no session
    for frame in (wire.build_req(b"stranger", bytes(range(12)), 3),
                  wire.proof_head(0x4242) + bytes(24)):
        out.append(("BA", frame))
        net.f.receive(frame, net.t)
        out += [("AB", fr) for fr in net.f.outputs()]
    return out


def pairing(code_s: str, code_f: str) -> list[tuple[str, bytes]]:
    """The host's two pairing machines (15.5): S (initiator) on side B."""
    s = PairingMachine(True, b"S-ident0", code_s, Drbg(b"pair-S" + code_s.encode()), 0)
    f = PairingMachine(False, b"F-ident1", code_f, Drbg(b"pair-F"), 0)
    out: list[tuple[str, bytes]] = []
    moved = True
    while moved:
        moved = False
        for fr in s.outputs():
            out.append(("BA", fr))
            f.receive(fr, 0)
            moved = True
        for fr in f.outputs():
            out.append(("AB", fr))
            s.receive(fr, 0)
            moved = True
    return out


def spec_frames() -> list[tuple[str, bytes]]:
    """Suite 3's layouts (15.10) and frames that break a rule, built from the spec."""
    rnd = Drbg(b"spec frames")
    return [
        ("BA", wire.build_req(b"S-ident0", rnd(12), 0x04)),  # offers suite 3
        ("AB", wire.header(wire.SRK, 0x0A0B) + b"\x03" + rnd(12 + 32 + 32)),  # 80 bytes
        ("BA", wire.header(wire.PROOF, 0x0A0B) + rnd(32 + 32 + 16 + 8)),  # 91 bytes
        ("BA", bytes.fromhex("010f00000000" + "0005")),  # a version-1 ERROR: BAD_VERSION
        ("BA", bytes([0x2D, 0x12, 0x34]) + rnd(8)),  # type 13: BAD_TYPE
        ("AB", wire.header(wire.KEY, 7) + rnd(23)),  # 26 bytes: MALFORMED
        ("AB", wire.header(wire.SRK, 7) + b"\x05" + rnd(60)),  # suite 5: BAD_SUITE
        ("BA", bytes([0x21]) + rnd(20) + b"\x00"),  # offer 0: MALFORMED
        ("BA", wire.header(wire.DATA, 7) + b"\x00\x40\x00\x00\x00" + rnd(8)),  # seq 2^30
        ("BA", bytes([0x2B, 0, 7]) + rnd(10)),  # a PAIR_SHARE of 13 bytes: MALFORMED
        # a full-size DATA frame whose COBS form has a 254-byte block (code 0xFF)
        ("BA", wire.protected_head(wire.DATA, 0x1234, 0, 5) + b"\x11" * 256 + b"\x22" * 8),
        ("AB", b""),  # the empty frame: 4 CRC bytes
    ]


def link_faults() -> list[tuple[str, bytes]]:
    """Wire forms the receiver drops (docs/link.md 3.3), as raw segments."""
    good = bytearray(link.encode_frame(wire.protected_head(wire.DATA, 9, 0, 1) + bytes(range(1, 21))
                                       + bytes(8)))
    good[12] ^= 0x80  # a data byte, not a code byte: only the CRC can tell
    return [
        ("BA", bytes(good)),
        ("AB", b"\x00\x05\x01\x02\x00"),  # a code byte pointing past the delimiter
        ("AB", b"\x00\x02\x01\x00"),  # one decoded byte
        ("BA", b"\x00\xff" + b"\x01" * 254 + b"\x2f" + b"\x01" * 46 + b"\x00"),  # 300 bytes
        # at the limit: max_frame + 4 = 280 decoded bytes is a frame, 281 too long
        ("AB", link.encode_frame(wire.protected_head(wire.DATA, 9, 0, 2) + b"\x33" * 268)),
        ("AB", b"\x00\xff" + b"\x01" * 254 + b"\x1c" + b"\x01" * 27 + b"\x00"),
    ]


def all_frames() -> list[tuple[str, bytes, bool]]:
    """(direction, bytes, is_wire): frames to encode, or wire bytes sent as they are."""
    out = [(d, fr, False) for d, fr in session(1) + session(2)]
    out += [(d, fr, False) for d, fr in pairing("042917", "042917") + pairing("111111", "042917")]
    out += [(d, fr, False) for d, fr in spec_frames()]
    out += [(d, w, True) for d, w in link_faults()]
    return out


def make_capture() -> tuple[bytes, list[dict[str, Any]]]:
    """The pcapng bytes and what each packet should be."""
    buf = io.BytesIO()
    cap = LineCapture(PcapngWriter(buf), BYTE_US)
    t_us = 1000.0
    expected = []
    for d, data, is_wire in all_frames():
        w = data if is_wire else link.encode_frame(data, max_frame=300)
        cap.feed(t_us, d, w)
        expected.append({"dir": d, "wire": w, "t_us": round(t_us + (len(w) - 1) * BYTE_US)})
        t_us += len(w) * BYTE_US + 400
    # the capture stops inside a segment on each direction
    unfinished = link.encode_frame(bytes([0x2F, 0, 1, 8]))[:-1]
    cap.feed(t_us, "AB", unfinished)
    expected.append({"dir": "AB", "wire": unfinished,
                     "t_us": round(t_us + (len(unfinished) - 1) * BYTE_US)})
    cut = link.encode_frame(wire.build_error(0x0101, 9))[:5]  # ends inside a COBS block
    cap.feed(t_us + 1000, "BA", cut)
    expected.append({"dir": "BA", "wire": cut, "t_us": round(t_us + 1000 + 4 * BYTE_US)})
    cap.close()
    return buf.getvalue(), expected



@pytest.fixture(scope="module")
def dissected(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]],
                                                                 list[dict[str, Any]]]:
    raw, expected = make_capture()
    path = tmp_path_factory.mktemp("ws") / "capture.pcapng"
    path.write_bytes(raw)
    return tshark_json(path), expected



@needs_tshark
def test_every_packet_link_verdict(dissected: tuple[list[dict[str, Any]],
                                                    list[dict[str, Any]]]) -> None:
    packets, expected = dissected
    assert len(packets) == len(expected)
    seen = set()
    for n, (layers, exp) in enumerate(zip(packets, expected, strict=True)):
        where = "packet %d (%s)" % (n + 1, exp["wire"].hex())
        assert layers["frame"]["frame.time_epoch"] == "%d.%06d000" % divmod(
            exp["t_us"], 1_000_000), where
        assert layers["ephkey_link"]["ephkey_link.direction"] == {
            "AB": "A->B", "BA": "B->A"}[exp["dir"]], where
        assert bytes.fromhex(layers["frame_raw"][0]) == exp["wire"], where
        seen.add(check_link(layers, exp["wire"], where)[0])
    assert seen == {DELIVERED, CRC_ERROR, COBS_ERROR, RUNT, TOO_LONG, INCOMPLETE}


@needs_tshark
def test_every_field_of_every_frame(dissected: tuple[list[dict[str, Any]],
                                                     list[dict[str, Any]]]) -> None:
    packets, expected = dissected
    kinds: set[tuple[int, int]] = set()
    rejected: set[str] = set()
    codes: set[int] = set()
    for n, (layers, exp) in enumerate(zip(packets, expected, strict=True)):
        verdict, frame = check_link(layers, exp["wire"], "packet %d" % (n + 1))
        if verdict != DELIVERED:
            continue
        assert frame is not None
        kind, code = check_frame(layers["ephkey"], frame, exp["dir"],
                                 "packet %d: %s" % (n + 1, frame.hex()))
        if kind is None:
            rejected.add(code)
            continue
        kinds.add(kind)
        if kind[0] == wire.ERROR:
            codes.add(frame[3])
    # every frame type, both suites' and suite 3's SRK and PROOF layouts
    assert kinds == {(1, 0), (2, 40), (2, 64), (2, 80), (3, 27), (3, 59), (3, 91), (4, 0),
                     (5, 0), (6, 0), (7, 0), (8, 0), (9, 0), (10, 0), (11, 0), (12, 0), (15, 0)}
    assert codes >= {Code.UNKNOWN_PEER, Code.UNKNOWN_SESSION, 21}, codes  # 21: WRONG_CODE
    assert rejected == {"MALFORMED", "BAD_VERSION", "BAD_TYPE", "BAD_SUITE"}


@needs_tshark
def test_host_peers_over_linksim(tmp_path: Path) -> None:
    """The demo's line with the host as both stations: `ephkey peer --role first` on
    side A and `--role second` on side B of the link simulator (115200 8N1), its
    in-process tap written as `linksim --pcapng` writes it, and read by the sniffer
    too: every packet dissected as the host decodes it, the same frames in the same
    order as the sniffer's, all valid."""
    pairs = tmp_path / "pairs"
    assert cli("pair", "--out", str(pairs)).returncode == 0
    buf = io.BytesIO()
    runs: list[tuple[float, str, bytes]] = []
    with LinkSim(baud=115200) as sim:
        capture = LineCapture(PcapngWriter(buf), sim.byte_time * 1e6)

        def tap(t_us: float, direction: str, data: bytes) -> None:
            runs.append((t_us, direction, data))
            capture.feed(t_us, direction, data)

        sim.tap = tap
        first = subprocess.Popen(
            [sys.executable, "-m", "ephkey_host", "peer", "--role", "first",
             "--port", "socket://127.0.0.1:%d" % sim.port_a,
             "--pairing", str(pairs / "first" / "ephkey_pairing.json"),
             "--set", "rotate_frames=12", "--set", "idrks=8", "--sessions", "1",
             "--timeout", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
        try:
            # 17 echoes: 34 DATA frames, keys rotating every 12 (a REKEY that crosses
            # S's CLOSE is ok: tests/host/test_sniff_races.py)
            second = cli("peer", "--role", "second", "--port", "socket://127.0.0.1:%d" % sim.port_b,
                         "--pairing", str(pairs / "second" / "ephkey_pairing.json"),
                         "--messages", "17", "--size", "20", "--timeout", "60", timeout=90)
            assert second.returncode == 0, second.stdout + second.stderr
            out, err = first.communicate(timeout=30)
            assert first.returncode == 0, out + err
        finally:
            if first.poll() is None:
                first.kill()
                first.communicate()
        time.sleep(0.2)  # the last bytes reach the far end
    capture.close()
    path = tmp_path / "line.pcapng"
    path.write_bytes(buf.getvalue())

    sniffer = Sniffer(load_any(pairs / "first" / "ephkey_pairing.json"))
    records = [r for t, d, data in runs for r in sniffer.feed(t, d, data)] + sniffer.flush()
    assert sniffer.totals.clean and sniffer.totals.bad == 0, [
        format_record(r) for r in records] + format_totals(sniffer.totals)
    sniffed = {d: [r.raw for r in records if isinstance(r, FrameRecord) and r.direction == d]
               for d in ("AB", "BA")}

    dissected, kinds = dissect_line(path)
    assert dissected == sniffed
    assert {(1, 0), (2, 64), (3, 59), (4, 0), (5, 0), (6, 0), (7, 0), (8, 0)} <= kinds


@needs_tshark
def test_error_codes_by_name(tmp_path: Path) -> None:
    """ERROR frames show their code by the name of section 6 or 15.6."""
    names = {c.value: c.name for c in Code} | {21: "WRONG_CODE", 22: "NOT_ARMED", 23: "BACKOFF"}
    buf = io.BytesIO()
    cap = LineCapture(PcapngWriter(buf), BYTE_US)
    for code in range(0, 26):
        cap.feed(1000.0 * code, "AB", link.encode_frame(wire.build_error(0x0100 + code, code)))
    cap.close()
    path = tmp_path / "errors.pcapng"
    path.write_bytes(buf.getvalue())
    assert TSHARK is not None
    proc = subprocess.run([TSHARK, "-n", "-X", "lua_script:%s" % LUA, "-r", str(path), "-V"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    shown = re.findall(r"Error code: (\w+) \((\d+)\)", proc.stdout)
    assert [int(v) for _, v in shown] == list(range(26))
    for name, value in shown:
        assert name == names.get(int(value), "Unknown")  # Wireshark's word for a value with no name


def test_sniff_names_pairing_and_suite3_frames() -> None:
    """The host's sniffer names what wire.decode does not know, from the same layouts."""
    frames = pairing("042917", "042917")
    assert [describe(fr, 256)[0] for _, fr in frames] == [
        "PAIR_HELLO", "PAIR_REPLY", "PAIR_SHARE", "PAIR_CONFIRM"]
    hello = frames[0][1]
    assert describe(hello, 256)[1] == "id_s=%s n_s=%s.." % (b"S-ident0".hex(), hello[9:13].hex())
    srk3, proof3 = spec_frames()[1][1], spec_frames()[2][1]
    for frame, name in ((srk3, "SRK"), (proof3, "PROOF")):
        assert describe(frame, 256)[0] == name
        assert describe(frame, 256)[1].startswith("sid=0a0b ") and "suite=3" in describe(
            frame, 256)[1]
    assert [f.name for f in frame_fields(proof3) or ()] == [
        "ver", "type", "sid", "Y_s", "e_pub", "c", "t"]  # as 15.10 names them
    assert frame_fields(srk3[:79]) is None and frame_fields(b"\x2b" + bytes(50)) is not None
    assert frame_fields(b"\x2b" + bytes(49)) is None and frame_fields(b"\x1b" + bytes(50)) is None


@needs_tshark
@pytest.mark.parametrize("hide", ["bit32", "bit32, bit"])
def test_same_without_bit_libraries(tmp_path: Path, hide: str) -> None:
    """Wireshark builds with Lua 5.3/5.4 may lack bit32 (and LuaBitOp's bit): the
    dissector then computes CRCs with bit or with arithmetic, and must show the same.
    (A script's own assignments land in its sandbox: the wrapper clears _G's.)"""
    raw, _ = make_capture()
    path = tmp_path / "capture.pcapng"
    path.write_bytes(raw)
    wrapper = tmp_path / "wrapper.lua"
    wrapper.write_text("".join("_G.%s = nil\n" % name for name in hide.split(", "))
                       + "dofile(%s)\n" % json.dumps(str(LUA)))
    assert TSHARK is not None

    def verbose(script: Path) -> str:
        proc = subprocess.run([TSHARK, "-n", "-X", "lua_script:%s" % script, "-r", str(path), "-V"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "Lua" not in proc.stderr, proc.stderr
        return proc.stdout

    plain, hidden = verbose(LUA), verbose(wrapper)
    assert plain.count("CRC status: Good") > 50 and plain.count("CRC status: Bad") == 1
    assert hidden == plain


def test_sniff_checks_pairing_frames_for_structure() -> None:
    """ephkey sniff over a device pairing: pairing frames are checked for direction
    and length (a session station's BAD_TYPE is not the sniffer's verdict)."""
    sn = Sniffer()
    t = 0.0
    recs: list[Record] = []
    frames = pairing("042917", "042917") + pairing("111111", "042917")
    frames.append(("AB", frames[0][1]))  # a PAIR_HELLO from the first station's side
    frames.append(("BA", frames[0][1][:20]))  # a PAIR_HELLO one byte short
    for d, fr in frames:
        recs += sn.feed(t, d, link.encode_frame(fr))
        t += 10_000
    recs += sn.flush()
    got = [(r.type_name, r.roles, r.verdict) for r in recs if isinstance(r, FrameRecord)]
    ok = "ok (pairing frame: structure)"
    assert got[:4] == [("PAIR_HELLO", "S->F", ok), ("PAIR_REPLY", "F->S", ok),
                       ("PAIR_SHARE", "S->F", ok), ("PAIR_CONFIRM", "F->S", ok)]
    assert got[4:7] == [("PAIR_HELLO", "S->F", ok), ("PAIR_REPLY", "F->S", ok),
                        ("PAIR_SHARE", "S->F", ok)]
    assert got[7][:2] == ("ERROR", "F->S") and got[7][2].startswith("ok")  # WRONG_CODE
    assert got[8] == ("PAIR_HELLO", "F->S",
                      "UNEXPECTED (type): pairing frame in the wrong direction")
    assert got[9] == ("PAIR_HELLO", "S->F", "MALFORMED (length): pairing frame rule")
    assert (sn.totals.ok, sn.totals.bad) == (8, 2)
