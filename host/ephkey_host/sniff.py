"""Protocol analyser for a serial line: bytes in, decoded and checked frames out.

:class:`Sniffer` takes what ``tools/linksim.py``'s tap delivers, ``(t_us,
direction, data)`` with direction ``"AB"`` or ``"BA"``, and for each direction
reassembles the byte stream, deframes it with the host link decoder
(``ephkey_host.link``) and decodes every frame (``ephkey_host.wire``). It
returns one :class:`FrameRecord` per frame and one :class:`DropRecord` per
segment the link layer dropped (CRC error, COBS error, runt, too long).

Verdicts. Structure is always checked. Frames are grouped into sessions (a new
session starts at each REQ that differs from the current one, as
``transcript.split_sessions`` does) and each session is checked by the host's
transcript validator (``transcript.validate``): handshake order, one sid and
suite, key-index progression, ``seq`` per key and direction, and, with the
pairing, every tag, unwrap, PROOF's ``t`` and ``c``, following the key chain
(CK_j, KEK_j) through every REKEY. A verdict is ``ok`` or the error code and
the field at fault.

Races. The line is full duplex, so a frame can cross a CLOSE: sent by one
station while the other's CLOSE was on its way (an F REKEY or DATA crossing
S's CLOSE, an S DATA crossing F's CLOSE(KEYS_EXHAUSTED), two CLOSEs). That is
legal: the closer drops the frame (UNKNOWN_SESSION, nothing answered). Such a
frame, checked like any other (key index, tag, ``seq``, unwrap), is ``ok
(crossed CLOSE)``, counted in ``Totals.crossed`` and not a failure. A frame
sent after its own sender's CLOSE, or after both CLOSEs, is still
``UNKNOWN_SESSION``; the sniffer cannot see when a station received a CLOSE,
so any number of the other side's frames may cross it (a CLOSE lost on the
line is crossed by everything until the session times out).

Device-pairing frames (protocol.md 15.3, types 9-12) are named with their
fields (:func:`frame_fields`) and checked for direction and length only: their
tags need the pairing code. Suite 3's SRK and PROOF layouts (15.10) are named
too; the session checks do not know suite 3 yet.

Roles: the direction that carries REQ/PROOF/KEY_ACK (or PAIR_HELLO/PAIR_SHARE)
is the second station's, the one that carries SRK/KEY/REKEY (or
PAIR_REPLY/PAIR_CONFIRM) the first station's; until one of those is seen a
direction is only ``A->B`` or ``B->A``.

:func:`read_tap_lines` parses the tap's JSON lines (a file or a TCP stream):
a ``hello`` record (sets the byte time) then ``data`` records; other record
types are skipped, as linksim's documentation asks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import keyschedule as ks, transcript, wire
from .config import Pairing
from .errors import ProtocolError, code_name
from .link import LinkDecoder

if TYPE_CHECKING:
    from .pcapng import LineCapture

DIRS = ("AB", "BA")
ARROW = {"AB": "A->B", "BA": "B->A"}
DROP_COUNTERS = ("crc_errors", "cobs_errors", "runts", "too_long")
DEFAULT_BYTE_US = 1e6 * 10 / 115200  # 8N1 at 115200 baud
F_TYPES = (wire.SRK, wire.KEY, wire.REKEY, 10, 12)  # 10, 12: PAIR_REPLY, PAIR_CONFIRM
S_TYPES = (wire.REQ, wire.PROOF, wire.KEY_ACK, 9, 11)  # 9, 11: PAIR_HELLO, PAIR_SHARE


# Layouts wire.decode does not know (yet): the pairing frames of protocol.md
# 15.3 and suite 3's SRK and PROOF frames of 15.10, from the spec text. They
# name what the capture shows (describe, frame_fields); wire.decode still
# rejects them, as a session station does.
PAIR_TYPE_NAMES = {9: "PAIR_HELLO", 10: "PAIR_REPLY", 11: "PAIR_SHARE", 12: "PAIR_CONFIRM"}
_SID = (("sid", 1, 2, True),)
_RUN = (("run", 1, 2, True),)
SPEC_LAYOUTS: dict[tuple[int, int], wire.Layout] = {  # (type, length) -> fields after byte 0
    (9, 21): (("id_s", 1, 8, False), ("n_s", 9, 12, False)),
    (10, 55): _RUN + (("id_f", 3, 8, False), ("n_f", 11, 12, False), ("Y_f", 23, 32, False)),
    (11, 51): _RUN + (("Y_s", 3, 32, False), ("tag_s", 35, 16, False)),
    (12, 19): _RUN + (("tag_f", 3, 16, False),),
    (wire.SRK, 80): _SID + (("suite", 3, 1, True), ("n_f", 4, 12, False),
                            ("srk_pub", 16, 32, False), ("Y_f", 48, 32, False)),
    (wire.PROOF, 91): _SID + (("Y_s", 3, 32, False), ("e_pub", 35, 32, False),
                              ("c", 67, 16, False), ("t", 83, 8, False)),
}


def type_name(raw: bytes) -> str:
    t = wire.frame_type(raw)
    return wire.TYPE_NAMES.get(t) or PAIR_TYPE_NAMES.get(t) or "type%d" % t


def frame_fields(raw: bytes) -> tuple[wire.Field, ...] | None:
    """Every field of a version-2 frame, by name, offset and size; None if it has no layout.

    What ``wire.decode`` accepts (any DATA length) comes from it; the pairing
    frames and suite 3's SRK and PROOF from :data:`SPEC_LAYOUTS`. ``ver`` and
    ``type`` come first (both at offset 0, the high and low nibble).
    """
    raw = bytes(raw)
    try:
        return wire.decode(raw, None, max(0, len(raw) - wire.DATA_MIN_LEN)).fields
    except ProtocolError:
        pass
    if not raw or raw[0] >> 4 != wire.VERSION:
        return None
    layout = SPEC_LAYOUTS.get((wire.frame_type(raw), len(raw)))
    if layout is None or (wire.frame_type(raw) == wire.SRK and raw[3] != 3):
        return None
    out = [wire.Field("ver", 0, 1, raw[0] >> 4), wire.Field("type", 0, 1, raw[0] & 0x0F)]
    for name, off, size, is_int in layout:
        part = raw[off:off + size]
        out.append(wire.Field(name, off, size, int.from_bytes(part, "big") if is_int else part))
    return tuple(out)


def _pairing_verdict(raw: bytes, roles: str) -> tuple[bool, str, str, str]:
    """(ok, code, field, verdict) of a device-pairing frame (15.3): its direction
    and length; its tags need the code, which a sniffer does not have."""
    t = wire.frame_type(raw)
    if roles and (roles == "S->F") != (t in S_TYPES):
        return (False, "UNEXPECTED", "type",
                "UNEXPECTED (type): pairing frame in the wrong direction")
    if frame_fields(raw) is None:
        return False, "MALFORMED", "length", "MALFORMED (length): pairing frame rule"
    return True, "", "", "ok (pairing frame: structure)"


def max_frame_for(max_payload: int) -> int:
    """The link's max_frame for a payload limit (a DATA frame, or the longest handshake frame)."""
    return max(max_payload + wire.DATA_MIN_LEN, wire.LONGEST_HANDSHAKE_FRAME)


@dataclass
class FrameRecord:
    t_ms: float
    direction: str  # "AB" or "BA"
    roles: str  # "S->F", "F->S" or "" while unknown
    raw: bytes
    type_name: str
    summary: str  # key fields, ready to print
    ok: bool
    verdict: str  # "ok", or "CODE (field): detail"
    session: int  # 1, 2, ... (0: before any REQ was seen)
    code: str = ""
    field: str = ""
    crossed: bool = False  # valid, and crossed the other station's CLOSE (a race)

    @property
    def type(self) -> int:
        return wire.frame_type(self.raw)


@dataclass
class DropRecord:
    t_ms: float
    direction: str
    roles: str
    kind: str  # a link counter: crc_errors, cobs_errors, runts, too_long
    count: int
    discarded: int  # wire bytes thrown away with it


Record = FrameRecord | DropRecord


@dataclass
class SessionStats:
    index: int
    sid: int = 0
    suite: int = 0
    t_req_ms: float | None = None
    t_key_ms: float | None = None
    frames: int = 0
    bad: int = 0
    max_kidx: int = 0
    closed: str = ""
    crossed: int = 0  # frames that crossed a CLOSE
    pairing_used: bool = False
    unverified: list[str] = field(default_factory=list)

    @property
    def handshake_ms(self) -> float | None:
        if self.t_req_ms is None or self.t_key_ms is None:
            return None
        return self.t_key_ms - self.t_req_ms


@dataclass
class Totals:
    frames: int = 0
    ok: int = 0
    bad: int = 0
    structure_only: int = 0  # valid frames whose keyed checks could not be done
    crossed: int = 0  # valid frames that crossed a CLOSE on the wire (races, not failures)
    by_type: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=lambda: {d: 0 for d in DIRS})
    drops: dict[str, dict[str, int]] = field(default_factory=lambda: {d: {} for d in DIRS})
    discarded: dict[str, int] = field(default_factory=lambda: {d: 0 for d in DIRS})
    sessions: list[SessionStats] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return sum(sum(c.values()) for c in self.drops.values())

    @property
    def rotations(self) -> int:
        return sum(s.max_kidx for s in self.sessions)

    @property
    def clean(self) -> bool:
        """Every frame valid (crossing a CLOSE is valid), nothing dropped by the link layer."""
        return self.bad == 0 and self.dropped == 0


class _SessionCheck:
    """Checks one session's frames one at a time, as transcript.validate would.

    Feeding the validator incrementally uses its checker object directly;
    should that internal interface change, this falls back to re-validating
    the session so far with the public ``transcript.validate`` for each new
    frame (same verdicts, quadratic cost). tests/host/test_cli_sniff.py
    checks that both give the verdicts ``validate`` gives.
    """

    def __init__(self, pairing: Pairing | None, max_payload: int, incremental: bool = True):
        self.pairing = pairing
        self.max_payload = max_payload
        self.frames: list[tuple[int, bytes]] = []
        self._chk: Any = None
        self._report: transcript.Report | None = None
        if incremental and hasattr(transcript, "_Checker"):
            try:
                self._chk = transcript._Checker(pairing, max_payload)
            except TypeError:
                self._chk = None

    def check(self, direction: int, raw: bytes) -> transcript.FrameCheck:
        index = len(self.frames)
        self.frames.append((direction, raw))
        if self._chk is not None:
            check: transcript.FrameCheck = self._chk.frame_check(index, direction, raw)
            return check
        self._report = transcript.validate(self.frames, self.pairing,
                                           max_payload=self.max_payload)
        return self._report.checks[-1]

    def unverified(self) -> list[str]:
        """What the validator could not check for want of a secret (PS, or suite 2's DH)."""
        if self._chk is not None:
            return list(getattr(self._chk, "unverified", []))
        if self._report is not None:
            return list(getattr(self._report, "unverified", []))
        return []

    def key(self, kidx: int) -> bytes | None:
        """IDRK_kidx if the pairing let the validator learn it."""
        if self._chk is not None:
            k = getattr(self._chk, "keys", {}).get(kidx)
            return bytes(k) if k is not None else None
        if self._report is not None:
            h = self._report.intermediates.get("idrk_%d" % kidx)
            return bytes.fromhex(h) if h else None
        return None


def _hex(b: bytes, n: int = 8) -> str:
    return b.hex() if len(b) <= n else b[:n].hex() + ".."


def _brief(f: wire.Field) -> str:
    if isinstance(f.value, int):
        return "%s=%04x" % (f.name, f.value) if f.name in ("sid", "run") else "%s=%d" % (
            f.name, f.value)
    return "%s=%s" % (f.name, _hex(f.value, 4) if f.name not in ("id_s", "id_f") else f.value.hex())


def describe(raw: bytes, max_payload: int) -> tuple[str, str]:
    """(type name, key fields) of a frame, whatever its validity."""
    if not raw:
        return "?", "len=0"
    t = wire.frame_type(raw)
    name = type_name(raw)
    try:
        fr = wire.decode(raw, None, max_payload)
    except ProtocolError:
        spec = frame_fields(raw) if t in PAIR_TYPE_NAMES or len(raw) in (80, 91) else None
        if spec is not None:
            return name, " ".join(_brief(f) for f in spec[2:] if f.name != "suite" or t != 2) + (
                " suite=3" if t in (wire.SRK, wire.PROOF) else "")
        sid = "sid=%04x " % int.from_bytes(raw[1:3], "big") if len(raw) >= 3 else ""
        return name, "ver=%d %slen=%d" % (raw[0] >> 4, sid, len(raw))
    if t == wire.REQ:
        suites = ",".join(str(s) for s in wire.offer_to_suites(fr.num("offer")))
        return name, "id_s=%s offer=%s" % (fr.data("id_s").hex(), suites)
    head = "sid=%04x" % fr.sid
    if t in (wire.SRK, wire.PROOF):
        return name, "%s suite=%d len=%d" % (head, fr.suite, len(raw))
    if t == wire.KEY:
        return name, "%s len=%d" % (head, len(raw))
    if t == wire.ERROR:
        return name, "%s code=%s" % (head, code_name(fr.num("code")))
    prot = "%s kidx=%d seq=%d" % (head, fr.num("kidx"), fr.num("seq"))
    if t == wire.DATA:
        return name, "%s payload=%d" % (prot, len(raw) - wire.DATA_MIN_LEN)
    if t == wire.REKEY:
        return name, "%s (announces key %d)" % (prot, fr.num("kidx") + 1)
    return name, prot


class Sniffer:
    """Feed it tap records; it returns what it decoded (see the module docstring)."""

    def __init__(
        self,
        pairings: Iterable[Pairing] | None = None,
        max_payload: int = 256,
        byte_us: float = DEFAULT_BYTE_US,
        incremental: bool = True,
    ) -> None:
        self.pairings = list(pairings or [])
        self.max_payload = max_payload
        self.byte_us = byte_us
        self.incremental = incremental
        mf = max_frame_for(max_payload)
        self.decoders = {d: LinkDecoder(mf) for d in DIRS}
        self._seen = {d: {k: 0 for k in DROP_COUNTERS} for d in DIRS}
        self._seen_discarded = {d: 0 for d in DIRS}
        self.s_dir: str | None = None  # direction the second station sends in
        self.totals = Totals()
        self._check: _SessionCheck | None = None
        self._req: bytes | None = None
        self._stats: SessionStats | None = None
        self._pending: list[Record] = []
        self.last_t_ms = 0.0

    # -- input ------------------------------------------------------------------
    def hello(self, record: dict[str, Any]) -> None:
        if "byte_us" in record:
            self.byte_us = float(record["byte_us"])

    def feed(self, t_us: float, direction: str, data: bytes) -> list[Record]:
        """Bytes delivered on one direction; byte i ended at t_us + i * byte_us.

        Frames are checked in the order their bytes are fed (the tap's order),
        and returned in the order of their times (the time of their last
        byte): a long frame on one direction can end after a short one on the
        other that started later. A record is returned once no later tap
        record can hold an earlier frame (tap records never start earlier than
        the previous one); :meth:`flush` returns the rest (at the end, or when
        the line has been idle).
        """
        self._pending.extend(self._feed(t_us, direction, data))
        return self._release(t_us / 1000.0)

    def flush(self) -> list[Record]:
        """Every record still held back, in time order."""
        return self._release(float("inf"))

    def _release(self, upto_ms: float) -> list[Record]:
        self._pending.sort(key=lambda r: r.t_ms)  # stable: feed order for equal times
        n = 0
        while n < len(self._pending) and self._pending[n].t_ms <= upto_ms:
            n += 1
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def _feed(self, t_us: float, direction: str, data: bytes) -> list[Record]:
        if direction not in DIRS:
            raise ValueError("direction must be AB or BA, not %r" % (direction,))
        self.totals.bytes[direction] += len(data)
        out: list[Record] = []
        dec = self.decoders[direction]
        start = 0
        while start < len(data):
            end = data.find(0, start)
            stop = len(data) if end < 0 else end + 1
            t_ms = (t_us + (stop - 1) * self.byte_us) / 1000.0
            for frame in dec.feed(data[start:stop]):
                out.append(self._frame(t_ms, direction, frame))
            out.extend(self._drops(t_ms, direction))
            start = stop
        if data:
            self.last_t_ms = (t_us + (len(data) - 1) * self.byte_us) / 1000.0
        return out

    # -- frames -----------------------------------------------------------------
    def roles(self, direction: str) -> str:
        if self.s_dir is None:
            return ""
        return "S->F" if direction == self.s_dir else "F->S"

    def _learn_roles(self, direction: str, raw: bytes) -> None:
        if self.s_dir is not None or not raw or raw[0] >> 4 != wire.VERSION:
            return
        other = "BA" if direction == "AB" else "AB"
        if wire.frame_type(raw) in S_TYPES:
            self.s_dir = direction
        elif wire.frame_type(raw) in F_TYPES:
            self.s_dir = other

    def _pick_pairing(self, raw: bytes) -> Pairing | None:
        if not self.pairings:
            return None
        id_s = raw[1:9]
        for p in self.pairings:
            if p.id_s == id_s:
                return p
        return self.pairings[0]  # the validator then says UNKNOWN_PEER (id_s)

    def _frame(self, t_ms: float, direction: str, raw: bytes) -> FrameRecord:
        self._learn_roles(direction, raw)
        roles = self.roles(direction)
        name, summary = describe(raw, self.max_payload)
        tot = self.totals
        is_req = transcript.is_req(raw)
        if is_req and roles == "S->F" and raw != self._req:
            pairing = self._pick_pairing(raw)
            self._check = _SessionCheck(pairing, self.max_payload, self.incremental)
            self._req = raw
            self._stats = SessionStats(len(tot.sessions) + 1, pairing_used=pairing is not None)
            self._stats.t_req_ms = t_ms
            tot.sessions.append(self._stats)
        code = fld = ""
        crossed = False
        if wire.frame_type(raw) in PAIR_TYPE_NAMES and raw[0] >> 4 == wire.VERSION:
            ok, code, fld, verdict = _pairing_verdict(raw, roles)
        elif self._check is not None and roles:
            d = ks.DIR_S2F if roles == "S->F" else ks.DIR_F2S
            chk = self._check.check(d, raw)
            ok = chk.ok
            if not ok:
                code = chk.code.name if chk.code is not None else "?"
                fld = chk.field
                verdict = "%s (%s): %s" % (code, fld or "-", chk.detail)
            else:
                crossed = chk.crossed
                keyed = self._keyed_checked(raw)
                verdict = ("ok" if keyed else "ok (structure)") if not crossed else (
                    "ok (crossed CLOSE)" if keyed else "ok (structure; crossed CLOSE)")
                self._note(t_ms, d, raw, summary)
                if wire.frame_type(raw) == wire.CLOSE:
                    summary += self._close_reason(d, raw)
        else:
            accepts = None
            if roles:
                accepts = wire.ACCEPTED_BY_F if roles == "S->F" else wire.ACCEPTED_BY_S
            try:
                wire.decode(raw, accepts, self.max_payload)
                ok, verdict = True, "ok (structure only: no handshake seen)"
            except ProtocolError as e:
                ok, code, fld = False, e.code.name, e.field
                verdict = "%s (%s): frame rule" % (code, fld or "-")
        stats = self._stats if self._check is not None else None
        if stats is not None:
            stats.frames += 1
            stats.bad += not ok
            stats.crossed += crossed
        tot.frames += 1
        tot.ok += ok
        tot.crossed += crossed
        tot.structure_only += verdict.startswith(("ok (structure", "ok (pairing"))
        tot.bad += not ok
        tot.by_type[name] = tot.by_type.get(name, 0) + 1
        return FrameRecord(t_ms, direction, roles, raw, name, summary, ok, verdict,
                           stats.index if stats else 0, code, fld, crossed)

    def _keyed_checked(self, raw: bytes) -> bool:
        """Were this frame's cryptographic checks done (pairing given, and DH known in suite 2)?"""
        st, chk = self._stats, self._check
        if st is None or chk is None:
            return False
        st.unverified = chk.unverified()
        if chk.pairing is None:
            return False
        if wire.frame_type(raw) in (wire.REQ, wire.SRK, wire.ERROR):
            return True  # id_s; the SRK unwrap (suite 1) or auth (suite 2) need PS only
        return st.suite != 2 or not st.unverified

    def _note(self, t_ms: float, d: int, raw: bytes, summary: str) -> None:
        st = self._stats
        if st is None:
            return
        t = wire.frame_type(raw)
        if t == wire.SRK and not st.sid:
            st.sid = int.from_bytes(raw[1:3], "big")
            st.suite = raw[3]
        elif t == wire.KEY and st.t_key_ms is None:
            st.t_key_ms = t_ms
        elif t in wire.PROTECTED and len(raw) > 3:
            st.max_kidx = max(st.max_kidx, raw[3])

    def _close_reason(self, d: int, raw: bytes) -> str:
        st = self._stats
        if self._check is None or st is None:
            return ""
        key = self._check.key(raw[3])
        if key is None:
            return ""
        try:
            pt = ks.open_frame(key, int.from_bytes(raw[1:3], "big"), d, raw)
        except Exception:  # a display nicety only
            return ""
        if not pt:
            return ""
        st.closed = code_name(pt[0])
        return " reason=%s" % st.closed

    def _drops(self, t_ms: float, direction: str) -> list[DropRecord]:
        c = self.decoders[direction].counters.as_dict()
        seen = self._seen[direction]
        out = []
        discarded = c.get("discarded", 0) - self._seen_discarded[direction]
        for k in DROP_COUNTERS:
            n = c.get(k, 0) - seen[k]
            if n > 0:
                seen[k] = c[k]
                drops = self.totals.drops[direction]
                drops[k] = drops.get(k, 0) + n
                out.append(DropRecord(t_ms, direction, self.roles(direction), k, n, discarded))
        if discarded:
            self._seen_discarded[direction] = c.get("discarded", 0)
            self.totals.discarded[direction] += discarded
        return out


# -- presentation --------------------------------------------------------------

def arrow(direction: str, roles: str) -> str:
    return "%s %s" % (ARROW[direction], ("(%s)" % roles) if roles else "      ")


def format_record(rec: Record) -> str:
    if isinstance(rec, DropRecord):
        return "%10.3f  %s  %-7s  link dropped a segment: %s (%d wire bytes discarded)" % (
            rec.t_ms, arrow(rec.direction, rec.roles), "-", rec.kind, rec.discarded)
    return "%10.3f  %s  %-7s  %-52s  %s" % (
        rec.t_ms, arrow(rec.direction, rec.roles), rec.type_name, rec.summary, rec.verdict)


HEADER = "%10s  %-13s  %-7s  %-52s  %s" % ("t (ms)", "direction", "type", "fields", "verdict")


def format_totals(tot: Totals) -> list[str]:
    lines = []
    types = ", ".join("%s %d" % (k, v) for k, v in sorted(tot.by_type.items()))
    lines.append("frames: %d (%d ok, %d failed)%s" % (tot.frames, tot.ok, tot.bad,
                                                     (": " + types) if types else ""))
    if tot.crossed:
        lines.append("crossed a CLOSE on the wire (sent before the other station's CLOSE "
                     "reached its sender: a legal race, dropped by the closer): %d frame%s"
                     % (tot.crossed, "" if tot.crossed == 1 else "s"))
    if tot.structure_only:
        lines.append("checked for structure only (no secret for their keyed checks): %d frames"
                     % tot.structure_only)
    lines.append("wire bytes: A->B %d, B->A %d" % (tot.bytes["AB"], tot.bytes["BA"]))
    drops = []
    for d in DIRS:
        for k, v in sorted(tot.drops[d].items()):
            drops.append("%s %s %d" % (ARROW[d], k, v))
    lines.append("link drops: %s" % (", ".join(drops) if drops else "none"))
    for s in tot.sessions:
        hs = "%.1f ms" % s.handshake_ms if s.handshake_ms is not None else "not completed"
        lines.append(
            "session %d: sid=%04x suite=%d handshake %s, %d frames (%d failed), %d rotation%s%s%s%s"
            % (s.index, s.sid, s.suite, hs, s.frames, s.bad, s.max_kidx,
               "" if s.max_kidx == 1 else "s",
               (", closed " + s.closed) if s.closed else "",
               (", %d crossed the CLOSE" % s.crossed) if s.crossed else "",
               "" if s.pairing_used else " (structure only: no pairing given)"))
        if s.pairing_used and s.unverified:
            lines.append("session %d: not checkable without more secrets: %s"
                         % (s.index, "; ".join(s.unverified)))
    lines.append("verdict: %s" % ("all frames valid, no link drops" if tot.clean else
                                  "%d invalid frame(s), %d link drop(s)" % (tot.bad, tot.dropped)))
    return lines


def read_tap_lines(lines: Iterable[str | bytes]) -> Iterator[dict[str, Any]]:
    """Tap records from JSON lines; blank lines skipped, bad lines raise ValueError."""
    for line in lines:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        text = text.strip()
        if not text:
            continue
        try:
            rec = json.loads(text)
        except ValueError:
            raise ValueError("not JSON: %r" % text[:80]) from None
        if isinstance(rec, dict):
            yield rec


def feed_record(sniffer: Sniffer, rec: dict[str, Any],
                capture: LineCapture | None = None) -> list[Record]:
    """Apply one tap record (hello, data, or a type to skip); also to ``capture``
    (a pcapng :class:`~.pcapng.LineCapture`) if given, with the tap's times."""
    kind = rec.get("type")
    if kind == "hello":
        sniffer.hello(rec)
        if capture is not None:
            capture.byte_us = sniffer.byte_us
        return []
    if kind != "data":
        return []
    t_us, direction, data = float(rec["t_us"]), str(rec["dir"]), bytes.fromhex(rec["hex"])
    records = sniffer.feed(t_us, direction, data)
    if capture is not None:
        capture.feed(t_us, direction, data)
    return records
