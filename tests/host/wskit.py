"""The Wireshark dissector's output against the host's own decoder (not a test module).

:func:`tshark_json` runs tshark with ``tools/wireshark/ephkey.lua`` over a
pcapng file; :func:`check_link` compares one packet's link layer (verdict,
CRC, delivered frame) with ``ephkey_host.link``'s, :func:`check_frame` one
delivered frame's fields (name, offset, size, value) with ``ephkey_host.wire``'s
(``sniff.frame_fields`` for the layouts wire does not know);
:func:`dissect_line` does both for every packet of a capture of a healthy
line. Tests that need tshark mark themselves :data:`needs_tshark`: they skip,
saying why, without it. Used by tests/host/test_wireshark.py and
tests/host/test_demo.py.
"""

from __future__ import annotations

import binascii
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hostkit import REPO

from ephkey_host import link, wire
from ephkey_host.errors import Code, ProtocolError
from ephkey_host.pair_device import run_of
from ephkey_host.sniff import frame_fields

LUA = REPO / "tools" / "wireshark" / "ephkey.lua"
TSHARK = shutil.which("tshark")

needs_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not installed (Debian package tshark; .ci/run installs "
    "it): the dissector cannot be run")

# the host decoder's verdicts, as the dissector's ephkey_link.status values
DELIVERED, CRC_ERROR, COBS_ERROR, RUNT, TOO_LONG, INCOMPLETE = range(6)
EXPERT_OF_CODE = {Code.MALFORMED: "ephkey.malformed", Code.BAD_VERSION: "ephkey.bad_version",
                  Code.BAD_TYPE: "ephkey.bad_type", Code.BAD_SUITE: "ephkey.bad_suite"}
S_TYPES = {wire.REQ, wire.PROOF, wire.KEY_ACK, 9, 11}
F_TYPES = {wire.SRK, wire.KEY, wire.REKEY, 10, 12}


def host_link(wire_form: bytes) -> tuple[int, bytes | None, bytes | None]:
    """(verdict, decoded packet, delivered frame) by the host's link decoder."""
    dec = link.LinkDecoder()
    frames = dec.feed(wire_form)
    c = dec.counters.as_dict()
    try:
        packet: bytes | None = link.cobs_decode(wire_form.strip(b"\x00"))
    except ValueError:
        packet = None
    if frames:
        assert len(frames) == 1
        return DELIVERED, packet, frames[0]
    for verdict, counter in ((CRC_ERROR, "crc_errors"), (COBS_ERROR, "cobs_errors"),
                             (RUNT, "runts"), (TOO_LONG, "too_long")):
        if c[counter]:
            return verdict, packet, None
    assert wire_form[-1:] != b"\x00"
    return INCOMPLETE, packet, None


def tshark_json(path: Path) -> list[dict[str, Any]]:
    assert TSHARK is not None
    proc = subprocess.run([TSHARK, "-n", "-X", "lua_script:%s" % LUA, "-r", str(path), "-T", "json",
                           "-x", "--no-duplicate-keys"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Lua" not in proc.stderr and "rror" not in proc.stderr, proc.stderr
    assert "Lua Error" not in proc.stdout and "_ws.lua.error" not in proc.stdout
    return [p["_source"]["layers"] for p in json.loads(proc.stdout)]


def experts(layer: dict[str, Any]) -> set[str]:
    ex = layer.get("_ws.expert", [])
    items = ex if isinstance(ex, list) else [ex]
    return {k for item in items for k in item if not k.startswith("_ws.")}


def dissected_fields(layer: dict[str, Any], like: dict[str, tuple[int, int, int | bytes]]
                     ) -> dict[str, tuple[int, int, int | bytes]]:
    """name -> (offset, size, value) of every field with bytes behind it; a value is
    read as an int or as bytes as the host's field ``like[name]`` is (bytes fields
    are also checked against the raw bytes tshark says they cover)."""
    out: dict[str, tuple[int, int, int | bytes]] = {}
    for key, raw in layer.items():
        if not key.endswith("_raw") or key.startswith("_ws"):
            continue
        name = key[len("ephkey."):-len("_raw")]
        shown = layer[key[:-len("_raw")]]
        value: int | bytes
        if name in like and isinstance(like[name][2], bytes):
            value = bytes.fromhex(shown.replace(":", ""))
            assert value.hex() == raw[0], key
        else:
            value = int(shown, 0)
        out[name] = (raw[1], raw[2], value)
    return out


def expected_fields(frame: bytes) -> dict[str, tuple[int, int, int | bytes]] | None:
    fields = frame_fields(frame)
    if fields is None:
        return None
    out: dict[str, tuple[int, int, int | bytes]] = {
        f.name: (f.offset, f.size, f.value) for f in fields if f.size}
    if frame[0] == 0x29:  # PAIR_HELLO: the run, computed from n_s
        out["run"] = (9, 2, run_of(frame[9:21]))
    return out



LINK_EXPERTS = {CRC_ERROR: "ephkey_link.crc.bad", COBS_ERROR: "ephkey_link.cobs_error",
                RUNT: "ephkey_link.runt", TOO_LONG: "ephkey_link.too_long",
                INCOMPLETE: "ephkey_link.incomplete"}


def check_link(layers: dict[str, Any], wire_form: bytes, where: str) -> tuple[int, bytes | None]:
    """The dissector's link layer against the host's for one packet: (verdict, frame)."""
    lk = layers["ephkey_link"]
    verdict, packet, frame = host_link(wire_form)
    assert int(lk["ephkey_link.status"]) == verdict, where
    if verdict in (DELIVERED, CRC_ERROR):
        assert packet is not None
        assert int(lk["ephkey_link.crc"], 16) == int.from_bytes(packet[-4:], "little"), where
        assert int(lk["ephkey_link.crc.computed"], 16) == binascii.crc32(packet[:-4]), where
        assert int(lk["ephkey_link.crc.status"]) == (verdict == DELIVERED), where
        assert int(lk["ephkey_link.frame_len"]) == len(packet) - 4, where
    else:
        assert "ephkey_link.crc.status" not in lk, where
    want = {LINK_EXPERTS[verdict]} if verdict in LINK_EXPERTS else set()
    assert experts(lk) - {"ephkey_link.no_lead"} == want, where
    if verdict == DELIVERED:
        assert frame is not None
        shown = bytes.fromhex(layers["ephkey_raw"][0]) if frame else b""  # no bytes: no raw
        assert "ephkey" in layers and shown == frame, where
    else:
        assert "ephkey" not in layers, where  # a dropped segment is not dissected
    return verdict, frame


def check_frame(layer: dict[str, Any], frame: bytes, direction: str, where: str
                ) -> tuple[tuple[int, int] | None, str]:
    """The dissector's protocol fields against the host decoder's for one delivered
    frame: ((type, SRK/PROOF length), "") for a valid frame, (None, code name) for one
    the host rejects."""
    want = expected_fields(frame)
    assert ("_ws.malformed" in layer) == (want is None), where  # expert group Malformed
    if want is None:  # the host rejects it: the dissector says why, by the same code
        if frame and frame[0] in (0x29, 0x2A, 0x2B, 0x2C):
            code = Code.MALFORMED  # pair_device's check: a pairing frame's length
        else:
            with pytest.raises(ProtocolError) as err:
                wire.decode(frame, None, 300)
            code = err.value.code
        assert EXPERT_OF_CODE[code] in experts(layer), where
        return None, code.name
    assert dissected_fields(layer, want) == want, where
    t = frame[0] & 0x0F
    if t in S_TYPES | F_TYPES:
        assert layer["ephkey.roles"] == ("S->F" if t in S_TYPES else "F->S"), where
        assert (direction == "BA") == (t in S_TYPES), where  # S is on side B
    if t == wire.ERROR:
        assert "ephkey.error_frame" in experts(layer), where
    if t == wire.REQ:
        assert layer["ephkey.offer.suites"] == ",".join(
            str(s) for s in wire.offer_to_suites(frame[21])), where
    if t in wire.PROTECTED:
        assert int(layer["ephkey.ct_len"]) == len(frame) - wire.DATA_MIN_LEN, where
    if t == wire.REKEY:
        assert int(layer["ephkey.announces"]) == frame[3] + 1, where
    return (t, len(frame) if t in (wire.SRK, wire.PROOF) else 0), ""



def dissect_line(path: Path) -> tuple[dict[str, list[bytes]], set[tuple[int, int]]]:
    """Every packet of a capture of a healthy line, delivered and dissected as the host
    decodes it: the frames of each direction ("AB", "BA") in order, and the kinds seen
    ((type, SRK/PROOF length), as :func:`check_frame` gives them)."""
    kinds = set()
    frames: dict[str, list[bytes]] = {"AB": [], "BA": []}
    for n, layers in enumerate(tshark_json(path)):
        wire_form = bytes.fromhex(layers["frame_raw"][0])
        d = "AB" if layers["ephkey_link"]["ephkey_link.direction"] == "A->B" else "BA"
        verdict, frame = check_link(layers, wire_form, "packet %d" % (n + 1))
        assert verdict == DELIVERED and frame is not None, "packet %d" % (n + 1)
        kind, code = check_frame(layers["ephkey"], frame, d, "packet %d: %s" % (n + 1, frame.hex()))
        assert kind is not None, code
        kinds.add(kind)
        frames[d].append(frame)
    return frames, kinds
